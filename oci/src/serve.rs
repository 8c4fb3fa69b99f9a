//! The embedded read-only registry: the OCI distribution API (`/v2/…`) over OCI image layout
//! directories, enough for skopeo, podman and oci-client to pull. Manifests by tag (the
//! layout's `org.opencontainers.image.ref.name` annotations) and by digest, blobs with Range
//! and HEAD, `Docker-Content-Digest`, the media types the layout records, tag lists and the
//! catalog. Every write method is refused.

pub mod file;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};
use axum::routing::get;
use oci_spec::image::{ANNOTATION_REF_NAME, ImageIndex};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where the served repositories are. Implemented by the provisioner over its (reloadable)
/// configuration.
pub trait Layouts: Send + Sync + 'static {
    /// The layout directory of repository `name`, if served.
    fn layout(&self, name: &str) -> Option<PathBuf>;
    /// Every served repository name.
    fn names(&self) -> Vec<String>;
}

/// A fixed set of layouts.
impl Layouts for std::collections::BTreeMap<String, PathBuf> {
    fn layout(&self, name: &str) -> Option<PathBuf> {
        self.get(name).cloned()
    }
    fn names(&self) -> Vec<String> {
        self.keys().cloned().collect()
    }
}

/// The `/v2/` routes.
pub fn router<L: Layouts>(layouts: Arc<L>) -> Router {
    Router::new()
        .route("/v2", get(base))
        .route("/v2/", get(base))
        .route("/v2/_catalog", get(catalog::<L>))
        .route("/v2/{*rest}", get(dispatch::<L>).fallback(unsupported))
        .with_state(layouts)
}

async fn base() -> Response<Body> {
    json(StatusCode::OK, "{}".to_string())
}

async fn unsupported() -> Response<Body> {
    error(
        StatusCode::METHOD_NOT_ALLOWED,
        "UNSUPPORTED",
        "this registry is read-only",
    )
}

async fn catalog<L: Layouts>(State(layouts): State<Arc<L>>) -> Response<Body> {
    let body = serde_json::json!({ "repositories": layouts.names() });
    json(StatusCode::OK, body.to_string())
}

fn json(code: StatusCode, body: String) -> Response<Body> {
    Response::builder()
        .status(code)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_LENGTH, body.len().to_string())
        .header("Docker-Distribution-API-Version", "registry/2.0")
        .body(Body::from(body))
        .expect("valid response")
}

fn error(code: StatusCode, kind: &str, message: &str) -> Response<Body> {
    let body = serde_json::json!({ "errors": [{ "code": kind, "message": message }] });
    json(code, body.to_string())
}

/// `<name>/manifests/<ref>`, `<name>/blobs/<digest>`, `<name>/tags/list`; names may contain `/`.
async fn dispatch<L: Layouts>(
    State(layouts): State<Arc<L>>,
    method: Method,
    headers: HeaderMap,
    UrlPath(rest): UrlPath<String>,
) -> Response<Body> {
    let (name, what, arg) = if let Some(name) = rest.strip_suffix("/tags/list") {
        (name, "tags", "")
    } else if let Some((name, r)) = rest.rsplit_once("/manifests/") {
        (name, "manifests", r)
    } else if let Some((name, d)) = rest.rsplit_once("/blobs/") {
        (name, "blobs", d)
    } else {
        return error(
            StatusCode::NOT_FOUND,
            "UNSUPPORTED",
            "unknown registry endpoint",
        );
    };
    let Some(dir) = layouts.layout(name) else {
        return error(
            StatusCode::NOT_FOUND,
            "NAME_UNKNOWN",
            &format!("repository {name} is not served here"),
        );
    };
    match what {
        "tags" => tags(&dir, name),
        "manifests" => manifest(&method, &headers, &dir, arg).await,
        _ => blob(&method, &headers, &dir, arg).await,
    }
}

/// The layout's index, or an error response naming the problem.
fn index(dir: &Path) -> Result<ImageIndex, Box<Response<Body>>> {
    ImageIndex::from_file(dir.join("index.json")).map_err(|e| {
        tracing::error!(layout = %dir.display(), "cannot read the OCI layout's index.json: {e}");
        Box::new(error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "UNKNOWN",
            "the image layout cannot be read",
        ))
    })
}

fn tags(dir: &Path, name: &str) -> Response<Body> {
    let index = match index(dir) {
        Ok(i) => i,
        Err(r) => return *r,
    };
    let mut tags: Vec<String> = index
        .manifests()
        .iter()
        .filter_map(|d| d.annotations().as_ref()?.get(ANNOTATION_REF_NAME).cloned())
        .collect();
    tags.sort();
    tags.dedup();
    json(
        StatusCode::OK,
        serde_json::json!({ "name": name, "tags": tags }).to_string(),
    )
}

/// `sha256:<64 hex>` or `sha512:<128 hex>` split into (algorithm, hex); `None` if malformed.
pub fn split_digest(digest: &str) -> Option<(&str, &str)> {
    let (alg, hex) = digest.split_once(':')?;
    let want = match alg {
        "sha256" => 64,
        "sha512" => 128,
        _ => return None,
    };
    (hex.len() == want
        && hex
            .bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)))
    .then_some((alg, hex))
}

fn blob_path(dir: &Path, digest: &str) -> Option<PathBuf> {
    let (alg, hex) = split_digest(digest)?;
    Some(dir.join("blobs").join(alg).join(hex))
}

async fn manifest(
    method: &Method,
    headers: &HeaderMap,
    dir: &Path,
    reference: &str,
) -> Response<Body> {
    let index = match index(dir) {
        Ok(i) => i,
        Err(r) => return *r,
    };
    let by_digest = reference.contains(':');
    let descriptor = index.manifests().iter().find(|d| {
        if by_digest {
            d.digest().to_string() == reference
        } else {
            d.annotations()
                .as_ref()
                .and_then(|a| a.get(ANNOTATION_REF_NAME))
                .is_some_and(|t| t == reference)
        }
    });
    let (digest, media_type) = match (descriptor, by_digest) {
        (Some(d), _) => (d.digest().to_string(), Some(d.media_type().to_string())),
        // A digest not in the index may still be a manifest inside it (a platform manifest of
        // a multi-arch index): its media type is in the JSON itself.
        (None, true) => (reference.to_string(), None),
        (None, false) => {
            return error(
                StatusCode::NOT_FOUND,
                "MANIFEST_UNKNOWN",
                &format!("no tag {reference}"),
            );
        }
    };
    let Some(path) = blob_path(dir, &digest) else {
        return error(
            StatusCode::BAD_REQUEST,
            "DIGEST_INVALID",
            &format!("{reference} is not a valid digest"),
        );
    };
    let media_type = match media_type {
        Some(m) => m,
        None => match sniff_media_type(&path).await {
            Some(m) => m,
            None => {
                return error(
                    StatusCode::NOT_FOUND,
                    "MANIFEST_UNKNOWN",
                    &format!("no manifest {reference}"),
                );
            }
        },
    };
    let meta = file::FileMeta {
        content_type: Some(media_type),
        etag: Some(format!("\"{digest}\"")),
        extra: vec![(
            header::HeaderName::from_static("docker-content-digest"),
            HeaderValue::from_str(&digest).expect("digest is ASCII"),
        )],
    };
    // Manifests are small: no Range for them, as registries do.
    let mut headers = headers.clone();
    headers.remove(header::RANGE);
    with_errors(
        file::respond(method, &headers, &path, meta).await,
        "MANIFEST_UNKNOWN",
    )
}

/// The `mediaType` a manifest or index declares, if the blob is one.
async fn sniff_media_type(path: &Path) -> Option<String> {
    let md = tokio::fs::metadata(path).await.ok()?;
    if md.len() > 4 << 20 {
        return None;
    }
    let text = tokio::fs::read(path).await.ok()?;
    let value: serde_json::Value = serde_json::from_slice(&text).ok()?;
    if let Some(m) = value.get("mediaType").and_then(|m| m.as_str()) {
        return Some(m.to_string());
    }
    if value.get("manifests").is_some() {
        Some("application/vnd.oci.image.index.v1+json".into())
    } else if value.get("config").is_some() {
        Some("application/vnd.oci.image.manifest.v1+json".into())
    } else {
        None
    }
}

async fn blob(method: &Method, headers: &HeaderMap, dir: &Path, digest: &str) -> Response<Body> {
    let Some(path) = blob_path(dir, digest) else {
        return error(
            StatusCode::BAD_REQUEST,
            "DIGEST_INVALID",
            &format!("{digest} is not a valid digest"),
        );
    };
    let meta = file::FileMeta {
        content_type: Some("application/octet-stream".into()),
        etag: Some(format!("\"{digest}\"")),
        extra: vec![(
            header::HeaderName::from_static("docker-content-digest"),
            HeaderValue::from_str(digest).expect("digest is ASCII"),
        )],
    };
    with_errors(
        file::respond(method, headers, &path, meta).await,
        "BLOB_UNKNOWN",
    )
}

/// Turns a bare 404 into the registry's JSON error.
fn with_errors(resp: Response<Body>, code: &str) -> Response<Body> {
    if resp.status() == StatusCode::NOT_FOUND {
        error(StatusCode::NOT_FOUND, code, "not found in this repository")
    } else {
        resp
    }
}
