//! Registry credentials from a containers `auth.json` (the format of podman, skopeo and
//! `REGISTRY_AUTH_FILE`; Docker's `config.json` `auths` section is the same).
//!
//! Keys are matched as containers/image does: the most specific of `registry/ns/repo`,
//! `registry/ns`, `registry` wins; legacy keys with a scheme (`https://index.docker.io/v1/`)
//! are reduced to their host, and Docker Hub's aliases count as `docker.io`.

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine;
use oci_client::Reference;
use oci_client::secrets::RegistryAuth;
use serde::Deserialize;

/// Credentials parsed from an auth file.
#[derive(Debug, Clone, Default)]
pub struct AuthFile {
    entries: BTreeMap<String, RegistryAuth>,
}

/// Why an auth file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("reading auth file {0}")]
    Read(String, #[source] std::io::Error),
    #[error(
        "auth file {0} is not a containers auth.json (expected {{\"auths\": {{\"REGISTRY\": {{\"auth\": \"BASE64\"}}}}}})"
    )]
    Json(String, #[source] serde_json::Error),
    #[error("auth file {origin}: the entry for {key:?} {problem}")]
    Entry {
        origin: String,
        key: String,
        problem: &'static str,
    },
}

#[derive(Deserialize)]
struct Wire {
    #[serde(default)]
    auths: BTreeMap<String, WireEntry>,
}

#[derive(Deserialize)]
struct WireEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    registrytoken: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

impl AuthFile {
    /// Reads and parses `path`.
    pub fn load(path: &Path) -> Result<AuthFile, AuthError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| AuthError::Read(origin.clone(), e))?;
        Self::parse(&text, &origin)
    }

    /// Parses auth.json text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<AuthFile, AuthError> {
        let wire: Wire =
            serde_json::from_str(text).map_err(|e| AuthError::Json(origin.to_string(), e))?;
        let mut entries = BTreeMap::new();
        for (key, e) in wire.auths {
            let err = |problem| AuthError::Entry {
                origin: origin.to_string(),
                key: key.clone(),
                problem,
            };
            let auth = if let Some(token) = e.registrytoken.filter(|t| !t.is_empty()) {
                RegistryAuth::Bearer(token)
            } else if let Some(encoded) = e.auth.filter(|a| !a.is_empty()) {
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(encoded.trim())
                    .map_err(|_| err("has an \"auth\" value that is not base64"))?;
                let decoded = String::from_utf8(decoded)
                    .map_err(|_| err("has an \"auth\" value that is not UTF-8"))?;
                let (user, pass) = decoded.split_once(':').ok_or_else(|| {
                    err("has an \"auth\" value that is not base64 of USER:PASSWORD")
                })?;
                RegistryAuth::Basic(user.to_string(), pass.to_string())
            } else if let (Some(u), Some(p)) = (e.username, e.password) {
                RegistryAuth::Basic(u, p)
            } else if e.identitytoken.is_some() {
                return Err(err(
                    "only has an \"identitytoken\" (OAuth refresh token), which Kickstand cannot use; log in with a password or token instead",
                ));
            } else {
                continue;
            };
            entries.insert(normalize_key(&key), auth);
        }
        Ok(AuthFile { entries })
    }

    /// The credentials for `reference`, anonymous when no entry matches.
    pub fn lookup(&self, reference: &Reference) -> RegistryAuth {
        let registry = normalize_registry(reference.registry());
        let mut key = format!("{registry}/{}", reference.repository());
        loop {
            if let Some(auth) = self.entries.get(&key) {
                return auth.clone();
            }
            match key.rfind('/') {
                Some(i) if i >= registry.len() => key.truncate(i),
                _ => return RegistryAuth::Anonymous,
            }
        }
    }

    /// Whether any credentials were found.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

fn normalize_key(key: &str) -> String {
    let key = key.trim_end_matches('/');
    if let Some(rest) = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
    {
        let host = rest.split('/').next().unwrap_or(rest);
        return normalize_registry(host).to_string();
    }
    match key.split_once('/') {
        Some((host, path)) => format!("{}/{path}", normalize_registry(host)),
        None => normalize_registry(key).to_string(),
    }
}

fn normalize_registry(host: &str) -> &str {
    match host {
        "index.docker.io" | "registry-1.docker.io" => "docker.io",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    fn file() -> AuthFile {
        let text = format!(
            r#"{{"auths": {{
                "quay.io": {{"auth": "{}"}},
                "quay.io/team": {{"auth": "{}"}},
                "quay.io/team/special": {{"username": "s", "password": "p"}},
                "https://index.docker.io/v1/": {{"auth": "{}"}},
                "127.0.0.1:5000": {{"registrytoken": "tok"}},
                "empty.example": {{"auth": ""}}
            }}}}"#,
            b64("q:1"),
            b64("team:2"),
            b64("hub:3")
        );
        AuthFile::parse(&text, "auth.json").unwrap()
    }

    fn look(r: &str) -> RegistryAuth {
        file().lookup(&r.parse().unwrap())
    }

    fn basic(u: &str, p: &str) -> RegistryAuth {
        RegistryAuth::Basic(u.into(), p.into())
    }

    #[test]
    fn most_specific_key_wins() {
        assert_eq!(look("quay.io/other/img:1"), basic("q", "1"));
        assert_eq!(look("quay.io/team/img:1"), basic("team", "2"));
        assert_eq!(look("quay.io/team/special:1"), basic("s", "p"));
        assert_eq!(look("alpine:3"), basic("hub", "3"));
        assert_eq!(look("docker.io/library/alpine"), basic("hub", "3"));
        assert_eq!(
            look("127.0.0.1:5000/x:1"),
            RegistryAuth::Bearer("tok".into())
        );
        assert_eq!(look("empty.example/x"), RegistryAuth::Anonymous);
        assert_eq!(look("example.com/quay.io/x"), RegistryAuth::Anonymous);
    }

    #[test]
    fn bad_files_say_what_is_wrong() {
        let e = AuthFile::parse(r#"{"auths": 5}"#, "a.json")
            .unwrap_err()
            .to_string();
        assert!(e.contains("a.json") && e.contains("auths"), "{e}");
        let e = AuthFile::parse(r#"{"auths":{"r":{"auth":"!!"}}}"#, "a.json")
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"r\"") && e.contains("base64"), "{e}");
        let nocolon = format!(r#"{{"auths":{{"r":{{"auth":"{}"}}}}}}"#, b64("nocolon"));
        assert!(AuthFile::parse(&nocolon, "a").is_err());
    }
}
