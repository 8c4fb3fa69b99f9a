//! Software RAID with the real `mdadm`: create the arrays the plan sized, read their UUIDs
//! for `rd.md.uuid=` and `mdadm.conf`, stop them at the end.
//!
//! No udev runs in the installer initramfs: mdadm sees that (no `/run/udev/control`) and
//! makes the array's node itself; devtmpfs adds `/dev/mdN` as the kernel registers the array.
//! Arrays are created with `--homehost=any`, so the installed system assembles them under
//! their own name (`/dev/md/NAME`) rather than as a foreign host's `/dev/md127`.

use crate::cmd::Cmd;
use crate::storage::MdArray;
use crate::storage::request::RaidLevel;
use crate::tools;
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

/// An array the storage step created and started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    /// `raid --device=` name.
    pub name: String,
    /// The node the filesystem goes onto (`/dev/mdN`, the kernel's name).
    pub node: PathBuf,
    /// The array UUID in mdadm's form (`xxxxxxxx:xxxxxxxx:xxxxxxxx:xxxxxxxx`), as
    /// `rd.md.uuid=` and `mdadm.conf` name it.
    pub uuid: String,
}

/// Creates and starts `array` on the member partitions `members` (in the array's order).
///
/// RAID1 and RAID10 get `--assume-clean`: every block a filesystem reads it wrote first, and
/// md writes each block to every mirror, so the initial resync would only copy the
/// partitions' old contents between mirrors while the install runs (a `check` scrub later
/// counts those never-written blocks as mismatches, which is harmless). Parity levels
/// resync, since their parity must be right before a member can be rebuilt from it.
pub fn create(array: &MdArray, members: &[PathBuf]) -> Result<Started> {
    let requested = array.node();
    let active = members.len() as u64 - array.spares;
    let mut cmd = Cmd::new(
        tools::MDADM,
        format!(
            "creating the {} array {} on {}",
            array.level.name(),
            array.name,
            list(members)
        ),
    )
    .args(["--create"])
    .arg(&requested)
    .arg("--run")
    .arg(format!("--metadata={}", array.metadata))
    .arg(format!("--level={}", array.level.mdadm()))
    .arg(format!("--raid-devices={active}"))
    .arg("--homehost=any")
    .arg(format!("--name={}", array.name));
    if array.spares > 0 {
        cmd = cmd.arg(format!("--spare-devices={}", array.spares));
    }
    if let Some(c) = array.chunk_kib.filter(|_| array.level != RaidLevel::Raid1) {
        cmd = cmd.arg(format!("--chunk={c}"));
    }
    if matches!(array.level, RaidLevel::Raid1 | RaidLevel::Raid10) {
        cmd = cmd.arg("--assume-clean");
    }
    cmd.args(members).run()?;
    let node = kernel_node(&requested)?;
    crate::disk::lvm::wait_for(&node)?;
    let uuid = detail_uuid(&node)?;
    Ok(Started {
        name: array.name.clone(),
        node,
        uuid,
    })
}

/// The kernel's `/dev/mdN` for the node mdadm was given (`/dev/md/NAME` is a symlink mdadm
/// makes to it when no udev does).
fn kernel_node(requested: &Path) -> Result<PathBuf> {
    crate::disk::lvm::wait_for(requested)?;
    let real = std::fs::canonicalize(requested)
        .with_context(|| format!("resolving {}", requested.display()))?;
    Ok(real)
}

/// The array UUID of `node` (`mdadm --detail --export`: `MD_UUID=…`).
fn detail_uuid(node: &Path) -> Result<String> {
    let out = Cmd::new(
        tools::MDADM,
        format!("reading the array UUID of {}", node.display()),
    )
    .args(["--detail", "--export"])
    .arg(node)
    .run()?;
    match out.lines().find_map(|l| l.strip_prefix("MD_UUID=")) {
        Some(u) if !u.trim().is_empty() => Ok(u.trim().to_string()),
        _ => bail!(
            "mdadm --detail --export {} printed no MD_UUID:\n{out}",
            node.display()
        ),
    }
}

/// The `ARRAY` line of `mdadm.conf` for a started array.
pub fn conf_line(array: &MdArray, started: &Started) -> String {
    format!(
        "ARRAY {} metadata={} UUID={}\n",
        Path::new("/dev/md").join(&array.name).display(),
        array.metadata,
        started.uuid
    )
}

/// Stops the array on `node` (errors are logged: stopping is cleanup). Nothing is written to
/// the members: the array assembles again from their superblocks.
pub fn stop(node: &Path) {
    let r = Cmd::new(
        tools::MDADM,
        format!("stopping the array {}", node.display()),
    )
    .arg("--stop")
    .arg(node)
    .run();
    if let Err(e) = r {
        tracing::warn!("{e:#}");
    }
}

fn list(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
