//! LUKS containers with the real `cryptsetup`: format, open, close. The passphrase goes to
//! cryptsetup's stdin (`--key-file=-`), never onto a command line, into a file or a log.
//! Opened devices are named `luks-UUID`, as Anaconda and dracut's `rd.luks.uuid=` name them.

use crate::cmd::Cmd;
use crate::storage::Luks;
use crate::tools;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// An opened LUKS container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// The container's UUID (`cryptsetup luksUUID`).
    pub uuid: String,
    /// Device-mapper name, `luks-UUID`.
    pub name: String,
    /// `/dev/mapper/luks-UUID`.
    pub path: PathBuf,
}

/// Makes a LUKS container on `node` and opens it.
pub fn format_and_open(luks: &Luks, node: &Path) -> Result<Opened> {
    let what = format!("encrypting {} ({})", node.display(), luks.version);
    let mut cmd = Cmd::new(tools::CRYPTSETUP, what.clone())
        .args(["luksFormat", "--batch-mode", "--key-file=-", "--type"])
        .arg(&luks.version);
    if let Some(c) = &luks.cipher {
        cmd = cmd.arg(format!("--cipher={c}"));
    }
    if let Some(p) = &luks.pbkdf {
        cmd = cmd.arg(format!("--pbkdf={p}"));
    }
    if let Some(m) = luks.pbkdf_memory {
        cmd = cmd.arg(format!("--pbkdf-memory={m}"));
    }
    if let Some(t) = luks.pbkdf_time {
        cmd = cmd.arg(format!("--iter-time={t}"));
    }
    if let Some(i) = luks.pbkdf_iterations {
        cmd = cmd.arg(format!("--pbkdf-force-iterations={i}"));
    }
    cmd.arg(node).stdin_secret(&luks.passphrase).run()?;
    let uuid = Cmd::new(
        tools::CRYPTSETUP,
        format!("reading the LUKS UUID of {}", node.display()),
    )
    .arg("luksUUID")
    .arg(node)
    .run()?
    .trim()
    .to_string();
    if uuid.is_empty() {
        anyhow::bail!("{what}: cryptsetup luksUUID printed nothing");
    }
    let name = format!("luks-{uuid}");
    Cmd::new(
        tools::CRYPTSETUP,
        format!("opening the LUKS container on {}", node.display()),
    )
    .args(["open", "--type", "luks", "--key-file=-"])
    .arg(node)
    .arg(&name)
    .stdin_secret(&luks.passphrase)
    .run()?;
    let path = Path::new("/dev/mapper").join(&name);
    crate::disk::lvm::wait_for(&path).with_context(|| format!("opening {name}"))?;
    Ok(Opened { uuid, name, path })
}

/// Closes `name` (errors are logged: closing is cleanup).
pub fn close(name: &str) {
    let r = Cmd::new(tools::CRYPTSETUP, format!("closing the LUKS device {name}"))
        .args(["close", name])
        .run();
    if let Err(e) = r {
        tracing::warn!("{e:#}");
    }
}
