//! Where an image comes from: the `ostreecontainer --url … --transport …` and
//! `bootc --source-imgref TRANSPORT:REF` forms, parsed into one [`ImageSource`].

use std::fmt;
use std::path::PathBuf;

use oci_client::Reference;

/// An image source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageSource {
    /// A registry reference (`quay.io/fedora/fedora-bootc:42`, `127.0.0.1:5000/img@sha256:…`).
    Registry(Reference),
    /// An OCI image layout directory, with the `org.opencontainers.image.ref.name` to pick.
    OciLayout { dir: PathBuf, tag: Option<String> },
    /// An OCI image layout in a tar archive.
    OciArchive { file: PathBuf, tag: Option<String> },
}

/// A reference that could not be parsed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReferenceError {
    #[error(
        "unknown image transport {0:?}: expected registry, oci or oci-archive (bootc also accepts docker://REF)"
    )]
    Transport(String),
    #[error(
        "image reference {0:?} has no transport: expected TRANSPORT:REF, for example registry:quay.io/org/image:tag, docker://quay.io/org/image:tag, oci:/path/to/layout or oci-archive:/path/to/image.tar"
    )]
    NoTransport(String),
    #[error("invalid registry reference {reference:?}: {reason}")]
    Registry { reference: String, reason: String },
    #[error("{transport} reference {0:?} has an empty path", transport = .1)]
    EmptyPath(String, &'static str),
    #[error(
        "image transport {0:?} is not supported by Kickstand yet (use registry, oci or oci-archive)"
    )]
    Unsupported(String),
}

impl ImageSource {
    /// Parses `ostreecontainer --url URL [--transport T]`; the transport defaults to `registry`.
    pub fn from_ostreecontainer(
        url: &str,
        transport: Option<&str>,
    ) -> Result<Self, ReferenceError> {
        match transport.unwrap_or("registry") {
            "registry" => registry(url.strip_prefix("docker://").unwrap_or(url)),
            "oci" => layout(url, "oci").map(|(dir, tag)| ImageSource::OciLayout { dir, tag }),
            "oci-archive" => {
                layout(url, "oci-archive").map(|(file, tag)| ImageSource::OciArchive { file, tag })
            }
            other => Err(ReferenceError::Transport(other.to_string())),
        }
    }

    /// Parses a containers-style `TRANSPORT:REF` (`bootc --source-imgref`).
    pub fn from_imgref(imgref: &str) -> Result<Self, ReferenceError> {
        if let Some(rest) = imgref.strip_prefix("docker://") {
            return registry(rest);
        }
        let Some((transport, rest)) = imgref.split_once(':') else {
            return Err(ReferenceError::NoTransport(imgref.to_string()));
        };
        match transport {
            "registry" | "ostree-unverified-registry" => registry(rest),
            "ostree-unverified-image" => Self::from_imgref(rest),
            "oci" | "oci-archive" => Self::from_ostreecontainer(rest, Some(transport)),
            "containers-storage"
            | "docker-daemon"
            | "docker-archive"
            | "dir"
            | "ostree-remote-image"
            | "ostree-remote-registry"
            | "ostree-image-signed" => Err(ReferenceError::Unsupported(transport.to_string())),
            // `quay.io:443/x` or `localhost:5000/x` without a transport.
            _ if rest.chars().next().is_some_and(|c| c.is_ascii_digit()) => {
                Err(ReferenceError::NoTransport(imgref.to_string()))
            }
            other => Err(ReferenceError::Transport(other.to_string())),
        }
    }
}

fn registry(reference: &str) -> Result<ImageSource, ReferenceError> {
    reference
        .parse::<Reference>()
        .map(ImageSource::Registry)
        .map_err(|e| ReferenceError::Registry {
            reference: reference.to_string(),
            reason: e.to_string(),
        })
}

/// `PATH[:TAG]`, split at the first `:` as containers/image does (paths cannot hold `:`).
fn layout(s: &str, transport: &'static str) -> Result<(PathBuf, Option<String>), ReferenceError> {
    let (path, tag) = match s.split_once(':') {
        Some((p, t)) => (p, (!t.is_empty()).then(|| t.to_string())),
        None => (s, None),
    };
    if path.is_empty() {
        return Err(ReferenceError::EmptyPath(s.to_string(), transport));
    }
    Ok((PathBuf::from(path), tag))
}

impl fmt::Display for ImageSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let with_tag = |f: &mut fmt::Formatter<'_>, t: &str, p: &PathBuf, tag: &Option<String>| {
            write!(f, "{t}:{}", p.display())?;
            match tag {
                Some(tag) => write!(f, ":{tag}"),
                None => Ok(()),
            }
        };
        match self {
            ImageSource::Registry(r) => write!(f, "docker://{}", r.whole()),
            ImageSource::OciLayout { dir, tag } => with_tag(f, "oci", dir, tag),
            ImageSource::OciArchive { file, tag } => with_tag(f, "oci-archive", file, tag),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg(s: &str) -> Reference {
        s.parse().unwrap()
    }

    #[test]
    fn ostreecontainer_forms() {
        let check = |url, t, want: ImageSource| {
            assert_eq!(ImageSource::from_ostreecontainer(url, t).unwrap(), want);
        };
        check(
            "quay.io/fedora/fedora-bootc:42",
            None,
            ImageSource::Registry(reg("quay.io/fedora/fedora-bootc:42")),
        );
        check(
            "docker://127.0.0.1:5000/tiny:1",
            Some("registry"),
            ImageSource::Registry(reg("127.0.0.1:5000/tiny:1")),
        );
        check(
            "/srv/images/tiny:v1",
            Some("oci"),
            ImageSource::OciLayout {
                dir: "/srv/images/tiny".into(),
                tag: Some("v1".into()),
            },
        );
        check(
            "/srv/tiny.tar",
            Some("oci-archive"),
            ImageSource::OciArchive {
                file: "/srv/tiny.tar".into(),
                tag: None,
            },
        );
        assert_eq!(
            ImageSource::from_ostreecontainer("x", Some("ftp")),
            Err(ReferenceError::Transport("ftp".into()))
        );
        assert!(matches!(
            ImageSource::from_ostreecontainer(":tag", Some("oci")),
            Err(ReferenceError::EmptyPath(..))
        ));
        assert!(matches!(
            ImageSource::from_ostreecontainer("UPPER/Case", None),
            Err(ReferenceError::Registry { .. })
        ));
    }

    #[test]
    fn imgref_forms() {
        let ok = |s| ImageSource::from_imgref(s).unwrap();
        assert_eq!(
            ok("registry:quay.io/a/b:1"),
            ImageSource::Registry(reg("quay.io/a/b:1"))
        );
        assert_eq!(
            ok("docker://quay.io/a/b:1"),
            ImageSource::Registry(reg("quay.io/a/b:1"))
        );
        assert_eq!(
            ok("ostree-unverified-image:oci:/l:t"),
            ImageSource::OciLayout {
                dir: "/l".into(),
                tag: Some("t".into())
            }
        );
        assert_eq!(
            ImageSource::from_imgref("containers-storage:foo"),
            Err(ReferenceError::Unsupported("containers-storage".into()))
        );
        assert!(matches!(
            ImageSource::from_imgref("quay.io/a/b"),
            Err(ReferenceError::NoTransport(_))
        ));
        assert!(matches!(
            ImageSource::from_imgref("localhost:5000/a"),
            Err(ReferenceError::NoTransport(_))
        ));
    }

    #[test]
    fn displays_as_imgref() {
        assert_eq!(ok_display("oci:/a:b"), "oci:/a:b");
        assert_eq!(
            ok_display("registry:quay.io/a/b:1"),
            "docker://quay.io/a/b:1"
        );
    }

    fn ok_display(s: &str) -> String {
        ImageSource::from_imgref(s).unwrap().to_string()
    }
}
