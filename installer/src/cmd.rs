//! The one way the installer runs external programs.
//!
//! Every command carries a human description ("making the xfs filesystem for /"), its full
//! command line is logged at debug level, stdin is `/dev/null`, and its output is captured and
//! shown only when it fails, together with the exit status.

use crate::tools::Tool;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::process::{Command, Stdio};

/// A failed external command: what it was for, how it was run, and what it said.
#[derive(Debug, thiserror::Error)]
pub enum CmdError {
    /// The program could not be started.
    #[error("{description}: could not run `{command_line}`")]
    Spawn {
        description: String,
        command_line: String,
        #[source]
        source: std::io::Error,
    },
    /// The program ran and failed.
    #[error("{description}: `{command_line}` failed ({status}){}", output_tail(.output))]
    Failed {
        description: String,
        command_line: String,
        status: String,
        output: String,
    },
}

fn output_tail(output: &str) -> String {
    let trimmed = output.trim();
    if trimmed.is_empty() {
        String::new()
    } else {
        format!(":\n{trimmed}")
    }
}

/// An external command with a description, built like [`std::process::Command`].
#[derive(Debug)]
pub struct Cmd {
    description: String,
    program: &'static str,
    args: Vec<OsString>,
    /// Fed to stdin (a passphrase: never logged, never in the command line).
    stdin: Option<crate::storage::Secret>,
}

impl Cmd {
    /// A command that runs `tool` for the reason `description`.
    pub fn new(tool: Tool, description: impl Into<String>) -> Self {
        Cmd {
            description: description.into(),
            program: tool.program,
            args: Vec::new(),
            stdin: None,
        }
    }

    /// Feeds `secret` to the program's stdin (then closes it) instead of `/dev/null`: how
    /// passphrases reach cryptsetup (`--key-file=-`) without a file or an argument.
    pub fn stdin_secret(mut self, secret: &crate::storage::Secret) -> Self {
        self.stdin = Some(secret.clone());
        self
    }

    /// Adds one argument.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// Adds several arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// The command line as a shell would need it typed.
    pub fn command_line(&self) -> String {
        std::iter::once(self.program.to_string())
            .chain(self.args.iter().map(|a| {
                let s = a.to_string_lossy();
                shlex::try_quote(&s)
                    .map(|q| q.into_owned())
                    .unwrap_or_else(|_| s.into_owned())
            }))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Runs the command; its stdout on success.
    pub fn run(&self) -> Result<String, CmdError> {
        let command_line = self.command_line();
        tracing::debug!(description = %self.description, command = %command_line, "running");
        let program = crate::tools::find(self.program)
            .map(OsString::from)
            .unwrap_or_else(|| self.program.into());
        let spawn_error = |source| CmdError::Spawn {
            description: self.description.clone(),
            command_line: command_line.clone(),
            source,
        };
        let out = match &self.stdin {
            None => Command::new(program)
                .args(&self.args)
                .stdin(Stdio::null())
                .output()
                .map_err(spawn_error)?,
            Some(secret) => {
                use std::io::Write;
                let mut child = Command::new(program)
                    .args(&self.args)
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .map_err(spawn_error)?;
                let mut stdin = child.stdin.take().expect("stdin is piped");
                // A program that exits early closes the pipe: its exit status says why.
                let _ = stdin.write_all(secret.expose().as_bytes());
                drop(stdin);
                child.wait_with_output().map_err(spawn_error)?
            }
        };
        if out.status.success() {
            return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
        }
        let mut output = String::from_utf8_lossy(&out.stdout).into_owned();
        output.push_str(&String::from_utf8_lossy(&out.stderr));
        Err(CmdError::Failed {
            description: self.description.clone(),
            command_line,
            status: out.status.to_string(),
            output,
        })
    }
}

impl fmt::Display for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.command_line())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SH: Tool = Tool {
        program: "sh",
        package: "dash",
        why: "tests",
        host_only: true,
    };

    #[test]
    fn failure_shows_description_command_and_output() {
        let err = Cmd::new(SH, "checking the failure path")
            .args(["-c", "echo out; echo err >&2; exit 3"])
            .run()
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("checking the failure path: `sh -c"),
            "{err}"
        );
        assert!(err.contains("exit status: 3"), "{err}");
        assert!(err.contains("out\nerr"), "{err}");
    }

    #[test]
    fn a_secret_goes_to_stdin_and_nowhere_else() {
        let secret = crate::storage::Secret::new("pa ss");
        let cmd = Cmd::new(SH, "reading a secret")
            .args(["-c", "read -r x; echo \"<$x>\""])
            .stdin_secret(&secret);
        assert!(!cmd.command_line().contains("pa ss"));
        assert!(!format!("{cmd:?}").contains("pa ss"));
        assert_eq!(cmd.run().unwrap(), "<pa ss>\n");
    }

    #[test]
    fn success_returns_stdout() {
        let out = Cmd::new(SH, "echo")
            .args(["-c", "echo 'a b'"])
            .run()
            .unwrap();
        assert_eq!(out, "a b\n");
    }
}
