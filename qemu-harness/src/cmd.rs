//! Running external programs: the full command line logged, stdin from /dev/null, output
//! captured and shown only when the program fails.

use crate::error::{Error, Result};
use std::process::{Command, Output, Stdio};

/// Runs `cmd` to completion; returns its stdout when it exits successfully, otherwise an error
/// naming `what` with the command line, exit status, stdout and stderr.
pub fn run(what: &str, cmd: &mut Command) -> Result<String> {
    let output = output(what, cmd)?;
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Like [`run`], returning the whole [`Output`].
pub fn output(what: &str, cmd: &mut Command) -> Result<Output> {
    let line = display(cmd);
    tracing::debug!(command = %line, "{what}");
    let output = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .map_err(|source| Error::Spawn {
            what: what.to_string(),
            command: line.clone(),
            source,
        })?;
    if !output.status.success() {
        return Err(Error::Command {
            what: what.to_string(),
            command: line,
            status: output.status.to_string(),
            output: format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ),
        });
    }
    Ok(output)
}

/// The command line as a shell would show it, arguments quoted where needed.
pub fn display(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| quote(&a.to_string_lossy()))
        .collect::<Vec<_>>()
        .join(" ")
}

fn quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c));
    if plain {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_only_what_needs_it() {
        let mut cmd = Command::new("qemu");
        cmd.args(["-append", "console=ttyS0 quiet", "it's", "a=b,c"]);
        assert_eq!(
            display(&cmd),
            r"qemu -append 'console=ttyS0 quiet' 'it'\''s' a=b,c"
        );
    }

    #[test]
    fn failure_carries_status_and_output() {
        let err = run(
            "listing",
            Command::new("sh").args(["-c", "echo oops >&2; exit 3"]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("listing"), "{err}");
        assert!(err.contains("exit status: 3"), "{err}");
        assert!(err.contains("oops"), "{err}");
    }
}
