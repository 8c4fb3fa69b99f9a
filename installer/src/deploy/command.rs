//! Running the external programs of the boot loader step (mtools, grub-mkimage, chroot);
//! they are listed with every other program in [`crate::tools::ALL`].
//!
//! Each run has a human description, logs its command line at debug level, gets `/dev/null`
//! as stdin, and shows its output only when it fails.

use std::process::{Command, Stdio};

use super::error::{DeployError, Result};

/// Runs `cmd`, returning its stdout; fails with the description, command line, status and
/// output when it cannot start or exits non-zero.
pub fn run(description: &str, cmd: &mut Command) -> Result<Vec<u8>> {
    let line = command_line(cmd);
    tracing::debug!(command = %line, "{description}");
    let out = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| DeployError::Command {
            description: description.to_string(),
            command: line.clone(),
            status: format!("could not start: {e}"),
            output: String::new(),
        })?;
    if out.status.success() {
        return Ok(out.stdout);
    }
    let mut output = String::from_utf8_lossy(&out.stdout).into_owned();
    output.push_str(&String::from_utf8_lossy(&out.stderr));
    Err(DeployError::Command {
        description: description.to_string(),
        command: line,
        status: out.status.to_string(),
        output: output.trim_end().to_string(),
    })
}

/// The command line as a shell would need it typed (arguments with spaces quoted).
fn command_line(cmd: &Command) -> String {
    let mut words = vec![cmd.get_program().to_string_lossy().into_owned()];
    for arg in cmd.get_args() {
        let arg = arg.to_string_lossy();
        if arg.is_empty() || arg.contains(|c: char| c.is_whitespace() || "'\"\\$;&|".contains(c)) {
            words.push(format!("'{}'", arg.replace('\'', r"'\''")));
        } else {
            words.push(arg.into_owned());
        }
    }
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_command_reports_its_output() {
        let err = run(
            "testing a failure",
            Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("testing a failure: `sh -c 'echo out; echo err >&2; exit 3'`"));
        assert!(err.contains("exit status: 3"), "{err}");
        assert!(err.contains("out\nerr"), "{err}");
    }
}
