//! The HTTP side: boot files, iPXE binaries, per-machine scripts, rendered kickstarts,
//! registry credentials, the embedded registry, metrics and the API. Never redirects.

use super::App;
use super::metrics::Metrics;
use crate::boot::{Arch, Client, Request, Response as Boot};
use crate::mac::MacAddr;
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Query, Request as HttpRequest, State};
use axum::http::{HeaderMap, Method, Response, StatusCode, header};
use axum::middleware::{self, Next};
use axum::routing::get;
use base64::Engine;
use kickstand_oci::serve::file::{self, FileMeta};
use std::net::SocketAddr;
use std::sync::Arc;

type Shared = State<Arc<App>>;

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/boot/{profile}/{file}", get(boot_file))
        .route("/ipxe-bin/{file}", get(ipxe_binary))
        .route("/boot.ipxe", get(boot_ipxe))
        .route("/ipxe/{mac}", get(ipxe_script))
        .route("/grub/{name}", get(grub_config))
        .route("/ks/{mac}", get(kickstart))
        .route("/auth/{mac}", get(auth))
        .route("/metrics", get(metrics))
        .merge(super::api::router())
        .with_state(app.clone())
        .merge(kickstand_oci::serve::router(app.clone()))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(app, count))
}

async fn count(State(app): Shared, req: HttpRequest, next: Next) -> Response<Body> {
    Metrics::inc(&app.metrics.http_requests);
    let (method, uri) = (req.method().clone(), req.uri().path().to_string());
    let client = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.to_string())
        .unwrap_or_default();
    let resp = next.run(req).await;
    if resp.status().is_server_error() {
        Metrics::inc(&app.metrics.http_errors);
    }
    tracing::debug!(%client, %method, path = %uri, status = resp.status().as_u16(), "http");
    resp
}

async fn not_found() -> Response<Body> {
    text(StatusCode::NOT_FOUND, "not found\n".into())
}

pub(crate) fn text(code: StatusCode, body: String) -> Response<Body> {
    Response::builder()
        .status(code)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .header(header::CONTENT_LENGTH, body.len().to_string())
        .header(header::CACHE_CONTROL, "no-store")
        .body(Body::from(body))
        .expect("valid response")
}

/// `/boot/<profile>/<file name>`: only the files the profile names, nothing else on disk.
async fn boot_file(
    State(app): Shared,
    method: Method,
    headers: HeaderMap,
    Path((profile, name)): Path<(String, String)>,
) -> Response<Body> {
    let config = app.config();
    let Some(f) = config.profiles.get(&profile).and_then(|p| p.file(&name)) else {
        tracing::info!(%profile, file = %name, "no such boot file");
        return not_found().await;
    };
    file::respond(&method, &headers, &f.path, FileMeta::default()).await
}

/// `/ipxe-bin/<name>`: the configured iPXE binaries (UEFI HTTP Boot loads them from here).
async fn ipxe_binary(
    State(app): Shared,
    method: Method,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Response<Body> {
    let config = app.config();
    let Some(f) = config.ipxe.file(&name) else {
        return not_found().await;
    };
    file::respond(&method, &headers, &f.path, FileMeta::default()).await
}

/// A script any iPXE can be pointed at: it chains to its own machine's script.
pub fn generic_ipxe(base: &str) -> String {
    format!("#!ipxe\nchain {base}/ipxe/${{netX/mac}} || exit\n")
}

async fn boot_ipxe(State(app): Shared) -> Response<Body> {
    text(
        StatusCode::OK,
        generic_ipxe(&app.config().server.public_url.base()),
    )
}

#[derive(serde::Deserialize)]
struct ArchQuery {
    /// iPXE's `${buildarch}` or `${platform}`: `i386`, `x86_64`, `arm64`, `pcbios`, `efi`.
    arch: Option<String>,
}

fn arch_of(q: &ArchQuery) -> Arch {
    match q.arch.as_deref() {
        Some("arm64") => Arch::EfiArm64,
        Some("efi" | "x86_64") => Arch::EfiX64,
        _ => Arch::Bios,
    }
}

fn bad_mac(s: &str) -> Response<Body> {
    text(
        StatusCode::NOT_FOUND,
        format!("`{s}` is not a MAC address\n"),
    )
}

/// What an HTTP client gets for a script request.
fn script(app: &App, mac: MacAddr, arch: Arch, client: Client) -> Response<Body> {
    let config = app.config();
    let req = Request {
        mac,
        arch,
        client,
        http: true,
    };
    match app.decide(&config, &req) {
        Boot::IpxeScript(s) | Boot::GrubConfig(s) => {
            Metrics::inc(&app.metrics.boot_scripts);
            tracing::info!(%mac, ?client, local = !s.contains("inst.ks="), "boot script served");
            text(StatusCode::OK, s)
        }
        Boot::Ignore | Boot::Chainload { .. } => {
            Metrics::inc(&app.metrics.unknown_machines);
            tracing::info!(%mac, "unknown machine and no [unknown] profile: nothing served");
            text(
                StatusCode::NOT_FOUND,
                format!("no boot configuration for {mac}\n"),
            )
        }
    }
}

async fn ipxe_script(
    State(app): Shared,
    Path(mac): Path<String>,
    Query(q): Query<ArchQuery>,
) -> Response<Body> {
    match super::mac_of(&mac) {
        Some(m) => script(&app, m, arch_of(&q), Client::Ipxe),
        None => bad_mac(&mac),
    }
}

/// `/grub/<mac>` or `/grub/grub.cfg-01-<mac>` (GRUB's own per-MAC name).
async fn grub_config(
    State(app): Shared,
    Path(name): Path<String>,
    Query(q): Query<ArchQuery>,
) -> Response<Body> {
    let mac = name.strip_prefix("grub.cfg-").unwrap_or(&name);
    match super::mac_of(mac) {
        Some(m) => script(
            &app,
            m,
            if q.arch.is_some() {
                arch_of(&q)
            } else {
                Arch::EfiX64
            },
            Client::Grub,
        ),
        None => bad_mac(&name),
    }
}

/// `/ks/<mac>`: the machine's rendered kickstart, validated before it is served.
async fn kickstart(State(app): Shared, Path(mac): Path<String>) -> Response<Body> {
    let Some(mac) = super::mac_of(&mac) else {
        return bad_mac(&mac);
    };
    let config = app.config();
    let Some(profile) = config.profile_for(&mac) else {
        Metrics::inc(&app.metrics.unknown_machines);
        tracing::info!(%mac, "kickstart requested by an unknown machine: refused");
        return text(StatusCode::NOT_FOUND, format!("no kickstart for {mac}\n"));
    };
    let rendered = match crate::render::kickstart(&config, profile, mac) {
        Ok(r) => r,
        Err(e) => {
            Metrics::inc(&app.metrics.kickstarts_refused);
            tracing::error!(%mac, profile = %profile.name, "kickstart template failed to render: {}", crate::render::describe(&e));
            return text(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("the kickstart for {mac} failed to render; see the server log\n"),
            );
        }
    };
    let name = format!("{} (rendered for {mac})", profile.kickstart.display());
    match crate::kickstart::check(&name, &rendered) {
        Ok(warnings) => {
            for w in warnings {
                tracing::warn!(%mac, "kickstart: {w}");
            }
        }
        Err(errors) => {
            Metrics::inc(&app.metrics.kickstarts_refused);
            for e in &errors {
                tracing::error!(%mac, "kickstart: {e}");
            }
            return text(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!(
                    "the kickstart for {mac} has {} error(s); see the server log\n",
                    errors.len()
                ),
            );
        }
    }
    Metrics::inc(&app.metrics.kickstarts_served);
    tracing::info!(%mac, profile = %profile.name, "kickstart served");
    text(StatusCode::OK, rendered)
}

/// `/auth/<mac>`: a containers auth.json with the configured registry credentials, for
/// machines that are being installed (not to installed or unknown ones).
async fn auth(State(app): Shared, Path(mac): Path<String>) -> Response<Body> {
    let Some(mac) = super::mac_of(&mac) else {
        return bad_mac(&mac);
    };
    let config = app.config();
    let status = app
        .store
        .state(mac)
        .map(|s| s.status)
        .unwrap_or(crate::boot::Status::Installed);
    if config.credentials.is_empty()
        || config.profile_for(&mac).is_none()
        || matches!(
            status,
            crate::boot::Status::Installed | crate::boot::Status::Failed
        )
    {
        tracing::info!(%mac, status = status.as_str(), "registry credentials refused");
        return text(StatusCode::NOT_FOUND, "no credentials\n".into());
    }
    let mut auths = serde_json::Map::new();
    for (host, c) in &config.credentials {
        let token = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", c.username, c.password));
        auths.insert(host.clone(), serde_json::json!({ "auth": token }));
    }
    tracing::info!(%mac, registries = config.credentials.len(), "registry credentials served");
    let body = serde_json::json!({ "auths": auths }).to_string();
    Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "no-store")
        .body(Body::from(body))
        .expect("valid response")
}

async fn metrics(State(app): Shared) -> Response<Body> {
    let counts = app.store.counts().unwrap_or_default();
    Response::builder()
        .header(header::CONTENT_TYPE, "text/plain; version=0.0.4")
        .body(Body::from(app.metrics.render(&counts)))
        .expect("valid response")
}
