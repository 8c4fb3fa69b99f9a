//! The one error type of the deploy modules.

use std::path::PathBuf;

/// Result of a deploy operation.
pub type Result<T, E = DeployError> = std::result::Result<T, E>;

/// What went wrong while configuring the target or installing its boot loader.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// A file or directory in the target (or on the disk) could not be read or written.
    #[error("{action} {}", path.display())]
    Io {
        /// What we were doing ("reading", "writing", ...).
        action: &'static str,
        /// The path on the host (inside the target root, or the disk image).
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A file in the image does not have the format we expect.
    #[error("{path}:{line}: {message}")]
    Format {
        /// Path inside the target (`/etc/passwd`).
        path: String,
        /// 1-based line number, 0 for the whole file.
        line: usize,
        /// What was expected and what was found.
        message: String,
    },
    /// The image lacks a file the deploy needs.
    #[error("the image has no {path}: {why}")]
    MissingInImage {
        /// Path inside the target.
        path: String,
        /// Why it is needed.
        why: String,
    },
    /// A kickstart setting cannot be applied to this image.
    #[error("{0}")]
    Invalid(String),
    /// A path in the target escapes the target root.
    #[error("{path} escapes the target root {}", root.display())]
    Escape {
        /// Path inside the target.
        path: String,
        /// The target root.
        root: PathBuf,
    },
    /// An external program failed.
    #[error("{description}: `{command}` {status}{}", if output.is_empty() { String::new() } else { format!(":\n{output}") })]
    Command {
        /// What the command was for.
        description: String,
        /// The command line.
        command: String,
        /// How it ended.
        status: String,
        /// Its combined output.
        output: String,
    },
}

impl DeployError {
    /// An I/O error with the path it happened on.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DeployError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
