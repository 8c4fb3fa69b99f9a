//! `/api/v1/…`: the fleet as JSON, the installer's event intake and the operator's re-arm.
//!
//! - `GET  /api/v1/machines` — every machine of the inventory and every one seen
//! - `GET  /api/v1/machines/<mac>` — one machine with its recent events
//! - `GET  /api/v1/machines/<mac>/log` — its install log (text)
//! - `POST /api/v1/machines/<mac>/events` — JSON lines of [`kickstand_events::Event`], from
//!   the machine itself while it installs (see [`super::auth`])
//! - `POST /api/v1/machines/<mac>/reinstall` — its next network boot installs again (the
//!   operator: bearer token, or loopback when no token is configured)

use super::App;
use super::http::text;
use super::metrics::Metrics;
use crate::mac::MacAddr;
use crate::state::{EventRecord, MachineRecord};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, State};
use axum::http::{Extensions, HeaderMap, Response, StatusCode, header};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::sync::Arc;

/// The largest events post taken (a few thousand log lines).
pub const EVENTS_BODY_LIMIT: usize = 1024 * 1024;

/// One row of the fleet: the inventory's view joined with the database's.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FleetMachine {
    pub hostname: Option<String>,
    /// `None` for a machine that is not in the inventory and gets nothing.
    pub profile: Option<String>,
    pub in_inventory: bool,
    #[serde(flatten)]
    pub state: MachineRecord,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MachineDetail {
    #[serde(flatten)]
    pub machine: FleetMachine,
    pub events: Vec<EventRecord>,
}

pub fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/api/v1/machines", get(list))
        .route("/api/v1/machines/{mac}", get(show))
        .route("/api/v1/machines/{mac}/log", get(log))
        .route(
            "/api/v1/machines/{mac}/events",
            post(events).layer(DefaultBodyLimit::max(EVENTS_BODY_LIMIT)),
        )
        .route("/api/v1/machines/{mac}/reinstall", post(reinstall))
}

fn json<T: Serialize>(code: StatusCode, value: &T) -> Response<Body> {
    let body = serde_json::to_string_pretty(value).expect("API types serialize");
    Response::builder()
        .status(code)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .expect("valid response")
}

fn api_error(code: StatusCode, message: String) -> Response<Body> {
    json(code, &serde_json::json!({ "error": message }))
}

fn refused(r: super::auth::Refused) -> Response<Body> {
    let code = StatusCode::from_u16(r.status).unwrap_or(StatusCode::FORBIDDEN);
    let mut resp = api_error(code, r.message);
    if code == StatusCode::UNAUTHORIZED {
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer realm=\"kickstand\""),
        );
    }
    resp
}

fn peer(ext: &Extensions) -> Option<SocketAddr> {
    ext.get::<ConnectInfo<SocketAddr>>().map(|c| c.0)
}

fn internal(e: crate::state::StateError) -> Response<Body> {
    let e = anyhow::Error::from(e);
    tracing::error!("{e:#}");
    api_error(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}"))
}

fn parse_mac(s: &str) -> Result<MacAddr, Box<Response<Body>>> {
    s.parse().map_err(|e: crate::mac::MacParseError| {
        Box::new(api_error(StatusCode::BAD_REQUEST, e.to_string()))
    })
}

fn fleet_row(app: &App, record: MachineRecord) -> FleetMachine {
    let config = app.config();
    let mac: Option<MacAddr> = record.mac.parse().ok();
    let machine = mac.and_then(|m| config.machines.get(&m));
    FleetMachine {
        hostname: machine.and_then(|m| m.hostname.clone()),
        profile: mac
            .and_then(|m| config.profile_for(&m))
            .map(|p| p.name.clone()),
        in_inventory: machine.is_some(),
        state: record,
    }
}

fn never_seen(mac: MacAddr) -> MachineRecord {
    MachineRecord {
        mac: mac.to_string(),
        status: "new".into(),
        progress: None,
        last_event: None,
        error: None,
        first_seen: 0,
        updated_at: 0,
        booted_at: None,
        installed_at: None,
    }
}

async fn list(State(app): State<Arc<App>>) -> Response<Body> {
    let records = match app.store.list() {
        Ok(r) => r,
        Err(e) => return internal(e),
    };
    let config = app.config();
    let mut rows: Vec<FleetMachine> = Vec::new();
    for mac in config.machines.keys() {
        if !records.iter().any(|r| r.mac == mac.to_string()) {
            rows.push(fleet_row(&app, never_seen(*mac)));
        }
    }
    rows.extend(records.into_iter().map(|r| fleet_row(&app, r)));
    rows.sort_by(|a, b| a.state.mac.cmp(&b.state.mac));
    json(StatusCode::OK, &rows)
}

async fn show(State(app): State<Arc<App>>, Path(mac): Path<String>) -> Response<Body> {
    let mac = match parse_mac(&mac) {
        Ok(m) => m,
        Err(r) => return *r,
    };
    let record = match app.store.get(mac) {
        Ok(Some(r)) => r,
        Ok(None) if app.config().machines.contains_key(&mac) => never_seen(mac),
        Ok(None) => {
            return api_error(
                StatusCode::NOT_FOUND,
                format!("{mac} is not in the inventory and was never seen"),
            );
        }
        Err(e) => return internal(e),
    };
    let events = match app.store.events(mac, 50) {
        Ok(e) => e,
        Err(e) => return internal(e),
    };
    json(
        StatusCode::OK,
        &MachineDetail {
            machine: fleet_row(&app, record),
            events,
        },
    )
}

async fn log(State(app): State<Arc<App>>, Path(mac): Path<String>) -> Response<Body> {
    let mac = match parse_mac(&mac) {
        Ok(m) => m,
        Err(r) => return *r,
    };
    match app.store.log(mac) {
        Ok(Some(l)) => text(StatusCode::OK, l),
        Ok(None) => api_error(StatusCode::NOT_FOUND, format!("no install log for {mac}")),
        Err(e) => internal(e),
    }
}

/// The installer's events. Only machines we would boot may post, each its own (see
/// [`super::auth::events`]).
async fn events(
    State(app): State<Arc<App>>,
    Path(mac): Path<String>,
    ext: Extensions,
    body: Bytes,
) -> Response<Body> {
    let mac = match parse_mac(&mac) {
        Ok(m) => m,
        Err(r) => return *r,
    };
    if app.config().profile_for(&mac).is_none() {
        tracing::warn!(%mac, "events from a machine that is not ours: refused");
        return api_error(
            StatusCode::NOT_FOUND,
            format!("{mac} is not a machine this server installs"),
        );
    }
    let Ok(text) = std::str::from_utf8(&body) else {
        return api_error(StatusCode::BAD_REQUEST, "the body is not UTF-8".into());
    };
    let events = match kickstand_events::from_json_lines(text) {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(%mac, "malformed events: {e}");
            return api_error(StatusCode::BAD_REQUEST, format!("malformed events: {e}"));
        }
    };
    let status = match app.store.state(mac) {
        Ok(s) => s.status,
        Err(e) => return internal(e),
    };
    let client = peer(&ext);
    if let Err(r) = super::auth::events(mac, status, client, &events, super::auth::neighbour_mac) {
        Metrics::inc(&app.metrics.events_refused);
        tracing::warn!(%mac, client = ?client, "events refused: {}", r.message);
        return refused(r);
    }
    for e in &events {
        Metrics::inc(&app.metrics.events_received);
        match e {
            kickstand_events::Event::Log { line } => tracing::debug!(%mac, "installer: {line}"),
            kickstand_events::Event::Failed { error } => {
                tracing::error!(%mac, "install failed: {error}")
            }
            other => tracing::info!(%mac, event = other.kind(), "{}", other.summary()),
        }
    }
    match app.store.record(mac, &events) {
        Ok(status) => json(
            StatusCode::OK,
            &serde_json::json!({ "status": status.as_str(), "accepted": events.len() }),
        ),
        Err(e) => internal(e),
    }
}

async fn reinstall(
    State(app): State<Arc<App>>,
    Path(mac): Path<String>,
    headers: HeaderMap,
    ext: Extensions,
) -> Response<Body> {
    let mac = match parse_mac(&mac) {
        Ok(m) => m,
        Err(r) => return *r,
    };
    if let Err(r) = super::auth::operator(&app.config(), &headers, peer(&ext)) {
        tracing::warn!(%mac, client = ?peer(&ext), "reinstall refused: {}", r.message);
        return refused(r);
    }
    if app.config().profile_for(&mac).is_none() {
        return api_error(
            StatusCode::NOT_FOUND,
            format!(
                "{mac} is not in the inventory and there is no [unknown] profile: it would get nothing"
            ),
        );
    }
    if let Err(e) = app.store.reinstall(mac) {
        return internal(e);
    }
    tracing::info!(%mac, "re-armed: the next network boot installs again");
    json(
        StatusCode::OK,
        &serde_json::json!({ "mac": mac.to_string(), "status": "new" }),
    )
}
