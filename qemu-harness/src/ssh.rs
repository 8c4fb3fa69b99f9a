//! Logging into test VMs over SSH: batch mode (never a prompt), no host key checks and no
//! known-hosts file (every VM is new and its host keys too), only the test's own key.

use crate::error::{Error, Result};
use std::ffi::OsString;
use std::path::Path;
use std::process::Command;

/// The `ssh` arguments that go before the destination: the options above and `-i KEY`.
pub fn options(key: &Path) -> Vec<OsString> {
    let mut args: Vec<OsString> = [
        "-F",
        "/dev/null",
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "ConnectTimeout=10",
        "-o",
        "LogLevel=ERROR",
        "-i",
    ]
    .into_iter()
    .map(OsString::from)
    .collect();
    args.push(key.into());
    args
}

/// Makes a new ed25519 key pair without a passphrase at `path` (and `path.pub`); returns its
/// SHA256 fingerprint (`SHA256:…`, as `ssh-keygen -l` and the boot reports print it).
pub fn keygen(path: &Path) -> Result<String> {
    crate::cmd::run(
        "making a test SSH key (ssh-keygen, openssh-client)",
        Command::new("ssh-keygen")
            .args([
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-C",
                "kickstand-test",
                "-f",
            ])
            .arg(path),
    )?;
    let listed = crate::cmd::run(
        "reading the test SSH key's fingerprint",
        Command::new("ssh-keygen")
            .arg("-lf")
            .arg(path.with_extension("pub")),
    )?;
    listed
        .split_whitespace()
        .nth(1)
        .map(str::to_owned)
        .ok_or_else(|| Error::Command {
            what: "reading the test SSH key's fingerprint: expected `BITS SHA256:… COMMENT`".into(),
            command: format!("ssh-keygen -lf {}.pub", path.display()),
            status: "exit status: 0".into(),
            output: listed.clone(),
        })
}
