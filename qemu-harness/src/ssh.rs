//! Logging into test VMs over SSH: batch mode (never a prompt), no host key checks and no
//! known-hosts file (every VM is new and its host keys too), only the test's own key.

use std::ffi::OsString;
use std::path::Path;

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
