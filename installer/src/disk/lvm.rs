//! LVM with the real `lvm` binary: physical volumes, a volume group, thin pools and logical
//! volumes in whole extents, as the plan sized them. Every call carries a configuration that
//! works without udev (the installer initramfs runs none): libdevmapper makes the
//! `/dev/mapper` nodes itself, no device list from udev, no devices file, no dmeventd.

use crate::cmd::Cmd;
use crate::storage::VolumeGroup;
use crate::tools;
use anyhow::{Result, bail};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// `--config` for every call.
pub const CONFIG: &str = "devices { obtain_device_list_from_udev=0 use_devicesfile=0 } \
     activation { udev_sync=0 udev_rules=0 monitoring=0 } global { use_lvmpolld=0 }";

fn lvm(what: String) -> Cmd {
    Cmd::new(tools::LVM, what)
}

/// Makes `pvs` physical volumes, the volume group `vg` on them, its thin pool and its logical
/// volumes (wiping any signature LVM finds at their start). Returns each volume's node,
/// in the plan's order.
pub fn create(vg: &VolumeGroup, pvs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    for pv in pvs {
        lvm(format!(
            "making {} an LVM physical volume for {}",
            pv.display(),
            vg.name
        ))
        .args(["pvcreate", "--config", CONFIG, "--yes", "-ff"])
        .arg(pv)
        .run()?;
    }
    lvm(format!("creating the volume group {}", vg.name))
        .args([
            "vgcreate",
            "--config",
            CONFIG,
            "--yes",
            "--physicalextentsize",
        ])
        .arg(kib(vg.extent_size))
        .arg(&vg.name)
        .args(pvs)
        .run()?;
    let extents = |bytes: u64| (bytes / vg.extent_size).to_string();
    for pool in &vg.thin_pools {
        let mut cmd = lvm(format!("creating the thin pool {}/{}", vg.name, pool.name))
            .args([
                "lvcreate",
                "--config",
                CONFIG,
                "--yes",
                "--type",
                "thin-pool",
            ])
            .args(["--extents", &extents(pool.size)])
            .arg("--poolmetadatasize")
            .arg(kib(pool.metadata_size));
        if let Some(chunk) = pool.chunk_size {
            cmd = cmd.arg("--chunksize").arg(kib(chunk));
        }
        cmd.args(["--name", &pool.name]).arg(&vg.name).run()?;
    }
    let mut nodes = Vec::new();
    for lv in &vg.volumes {
        let what = format!("creating the logical volume {}/{}", vg.name, lv.name);
        let cmd = lvm(what).args(["lvcreate", "--config", CONFIG, "--yes", "-Wy"]);
        let cmd = match &lv.thin_pool {
            Some(pool) => cmd
                .arg("--virtualsize")
                .arg(kib(lv.size))
                .arg("--thinpool")
                .arg(format!("{}/{}", vg.name, pool)),
            None => cmd
                .args(["-Zy", "--extents", &extents(lv.size)])
                .arg(&vg.name),
        };
        cmd.args(["--name", &lv.name]).run()?;
        let node = Path::new("/dev/mapper").join(vg.mapper_name(&lv.name));
        wait_for(&node)?;
        nodes.push(node);
    }
    Ok(nodes)
}

/// A size for LVM's command line, in KiB (`4096k`): extents may be smaller than 1 MiB.
fn kib(bytes: u64) -> String {
    format!("{}k", bytes / 1024)
}

/// Deactivates every volume of `vg` (errors are logged: this is cleanup).
pub fn deactivate(vg: &str) {
    let r = lvm(format!("deactivating the volume group {vg}"))
        .args(["vgchange", "--config", CONFIG, "--activate", "n", vg])
        .run();
    if let Err(e) = r {
        tracing::warn!("{e:#}");
    }
}

/// Waits (up to 10 s) for the block device `node` to appear.
pub fn wait_for(node: &Path) -> Result<()> {
    let start = Instant::now();
    while !node.exists() {
        if start.elapsed() > Duration::from_secs(10) {
            bail!("{} did not appear within 10 s", node.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}
