//! The harness's error type: what failed, with the command, its status and output when an
//! external program was involved.

use std::path::PathBuf;

/// Result with the harness's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything the harness can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file system or process operation failed.
    #[error("{what}: {path}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// An external program could not be started.
    #[error("{what}: cannot start `{command}`")]
    Spawn {
        what: String,
        command: String,
        #[source]
        source: std::io::Error,
    },
    /// An external program exited unsuccessfully.
    #[error("{what}: `{command}` failed ({status})\n{output}")]
    Command {
        what: String,
        command: String,
        status: String,
        output: String,
    },
    /// A test asset (kernel, firmware) is missing or not what was expected.
    #[error("{0}")]
    Asset(String),
    /// A VM did not print the awaited line, or did not exit, in time; `message` says what was
    /// awaited and carries the end of its console.
    #[error("VM {vm}: {message}")]
    Timeout { vm: String, message: String },
    /// A VM could not be started or stopped.
    #[error("VM {vm}: {message}")]
    Vm { vm: String, message: String },
    /// A network lab could not be set up as asked.
    #[error("network lab {lab}: {message}")]
    NetLab { lab: String, message: String },
}

impl Error {
    /// An [`Error::Io`] for `path`.
    pub fn io(what: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Error::Io { what, path, source }
    }
}
