//! Reading `%include` targets: the [`Loader`] trait the caller supplies, and the file loader.

use crate::MAX_INPUT_BYTES;
use crate::diagnostic::{Diagnostic, Severity};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Why an include could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{0} does not exist")]
    NotFound(String),
    #[error("cannot read {path}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is larger than the {limit} byte limit")]
    TooLarge { path: String, limit: usize },
    #[error("{0}")]
    Refused(String),
}

/// One loaded include: the name diagnostics use for it, and its raw bytes.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// Resolves and reads `%include` (and `%ksappend`) targets.
pub trait Loader {
    /// Reads `target` as written after `%include`, included from the file named `from`.
    fn load(&self, target: &str, from: &str) -> Result<Loaded, LoadError>;
}

/// Reads included files from the local file system; relative paths are relative to the
/// directory of the including file. Files over [`MAX_INPUT_BYTES`] are refused.
#[derive(Debug, Clone, Copy, Default)]
pub struct FileLoader;

impl Loader for FileLoader {
    fn load(&self, target: &str, from: &str) -> Result<Loaded, LoadError> {
        let target = target.strip_prefix("file://").unwrap_or(target);
        let path = resolve(target, from);
        let name = path.display().to_string();
        let bytes = read_limited(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => LoadError::NotFound(name.clone()),
            std::io::ErrorKind::FileTooLarge => LoadError::TooLarge {
                path: name.clone(),
                limit: MAX_INPUT_BYTES,
            },
            _ => LoadError::Io {
                path: name.clone(),
                source: e,
            },
        })?;
        Ok(Loaded { name, bytes })
    }
}

/// `target` relative to the directory holding `from`.
fn resolve(target: &str, from: &str) -> PathBuf {
    let target = Path::new(target);
    if target.is_absolute() {
        return target.to_path_buf();
    }
    match Path::new(from).parent() {
        Some(dir) => dir.join(target),
        None => target.to_path_buf(),
    }
}

/// Reads a file, refusing more than [`MAX_INPUT_BYTES`] (memory stays bounded).
pub fn read_limited(path: &Path) -> std::io::Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    if file.metadata()?.is_dir() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::IsADirectory,
            "is a directory",
        ));
    }
    let mut bytes = Vec::new();
    file.take(MAX_INPUT_BYTES as u64 + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() > MAX_INPUT_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::FileTooLarge,
            format!("larger than {MAX_INPUT_BYTES} bytes"),
        ));
    }
    Ok(bytes)
}

/// Refuses every include (for callers that parse a single self-contained text).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoIncludes;

impl Loader for NoIncludes {
    fn load(&self, target: &str, _from: &str) -> Result<Loaded, LoadError> {
        Err(LoadError::Refused(format!(
            "%include {target}: includes are not available here"
        )))
    }
}

/// Checks that `bytes` are kickstart text: UTF-8, no NUL bytes, not over the size limit.
pub(crate) fn decode(name: &str, bytes: &[u8]) -> Result<String, Box<Diagnostic>> {
    let error = |line: usize, column: usize, source: &str, message: String| {
        Box::new(Diagnostic::new(
            Severity::Error,
            name,
            line,
            column,
            1,
            message,
            source,
        ))
    };
    if bytes.len() > MAX_INPUT_BYTES {
        return Err(error(
            0,
            1,
            "",
            format!(
                "the file is {} bytes; kickstart files over {MAX_INPUT_BYTES} bytes are refused",
                bytes.len()
            ),
        ));
    }
    let (valid, bad) = match std::str::from_utf8(bytes) {
        Ok(s) => (s, None),
        Err(e) => (
            // SAFETY-free: valid_up_to is a char boundary by definition.
            std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or_default(),
            Some(bytes[e.valid_up_to()]),
        ),
    };
    let nul = valid.find('\0');
    let (prefix, message) = match (nul, bad) {
        (Some(at), _) => (
            &valid[..at],
            "the file contains a NUL byte: this is binary data, not a kickstart file".to_string(),
        ),
        (None, Some(byte)) => (
            valid,
            format!("invalid UTF-8 (byte 0x{byte:02x}): kickstart files must be UTF-8 text"),
        ),
        (None, None) => return Ok(valid.to_string()),
    };
    let line = prefix.matches('\n').count() + 1;
    let line_start = prefix.rfind('\n').map_or(0, |i| i + 1);
    let column = prefix[line_start..].chars().count() + 1;
    Err(error(line, column, &prefix[line_start..], message))
}
