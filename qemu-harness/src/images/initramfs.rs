//! The tiny test OS's initramfs: busybox, the storage and filesystem modules of the Debian
//! kernel in load order, the device-mapper and md tools (lvm, cryptsetup, mdadm, thin_check)
//! with their libraries, and an `/init` that opens what `rd.luks.uuid=`, `rd.md.uuid=` and
//! `rd.lvm.lv=` name (as dracut does), mounts `root=` and switches to it.
//!
//! The cpio archive is written by Debian's `cpio` (`--reproducible`) until Kickstand's own cpio
//! writer exists, then compressed with zstd (the Debian kernel unpacks zstd initrds).

use super::{Error, Result, fixed_mtimes, sorted_tree};
use crate::assets::Kernel;
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// Modules the initramfs loads, in this order, each after the modules it depends on:
/// virtio (virtio_pci before virtio_blk, which `modules.dep` does not say), SCSI disks and AHCI,
/// NVMe, crc32c_generic (crc32c-intel fails under TCG's default CPU) before ext4 and xfs, and
/// vfat with its code pages for an ESP listed in fstab.
pub const MODULES: &[&str] = &[
    "virtio_pci",
    "virtio_blk",
    "virtio_scsi",
    "sd_mod",
    "ahci",
    "nvme",
    "crc32c_generic",
    "ext4",
    "xfs",
    "vfat",
    "nls_cp437",
    "nls_ascii",
    // Device-mapper (LVM, thin pools, LUKS) and md (software RAID).
    "dm_mod",
    "dm_thin_pool",
    "dm_crypt",
    "md_mod",
    "raid0",
    "raid1",
    "raid10",
    // LUKS2 with generic crypto (no AES-NI under TCG): aes_generic and sha256 are built in.
    "ecb",
    "xts",
    "af_alg",
    "algif_skcipher",
    "algif_hash",
];

/// Storage tools the `/init` runs, copied from the host with their libraries into `/bin`.
pub const TOOLS: &[&str] = &[
    "/usr/sbin/lvm",
    "/usr/sbin/cryptsetup",
    "/usr/sbin/mdadm",
    "/usr/sbin/thin_check",
];

/// LVM's configuration in the initramfs: no udev (libdevmapper makes the `/dev/mapper` nodes),
/// no devices file, no monitoring daemon.
const LVM_CONF: &str = "devices {\n    obtain_device_list_from_udev = 0\n    use_devicesfile = 0\n}\n\
activation {\n    udev_sync = 0\n    udev_rules = 0\n    monitoring = 0\n}\n\
global {\n    use_lvmpolld = 0\n    thin_check_executable = \"/bin/thin_check\"\n}\n";

/// The `/init` script.
pub const INIT: &str = include_str!("tiny/initramfs-init.sh");

/// Paths (relative to the modules directory) of `wanted` and their dependencies from
/// `modules.dep`, dependencies first, each once. Modules built into the kernel
/// (`modules.builtin`) are skipped; a module that is neither is an error.
pub fn load_order(modules_dir: &Path, wanted: &[&str]) -> Result<Vec<String>> {
    let dep_path = modules_dir.join("modules.dep");
    let deps = std::fs::read_to_string(&dep_path).map_err(Error::io("reading", &dep_path))?;
    let builtin = std::fs::read_to_string(modules_dir.join("modules.builtin")).unwrap_or_default();
    let builtin: HashSet<String> = builtin.lines().map(module_name).collect();
    let mut table: HashMap<String, (String, Vec<String>)> = HashMap::new();
    for line in deps.lines() {
        let Some((path, rest)) = line.split_once(':') else {
            continue;
        };
        let needs = rest.split_whitespace().map(str::to_owned).collect();
        table.insert(module_name(path), (path.to_owned(), needs));
    }
    let by_path: HashMap<&str, &str> = table
        .iter()
        .map(|(name, (path, _))| (path.as_str(), name.as_str()))
        .collect();

    let mut order = Vec::new();
    let mut seen = HashSet::new();
    for name in wanted {
        let name = module_name(name);
        let Some((path, needs)) = table.get(&name) else {
            if builtin.contains(&name) {
                continue;
            }
            return Err(Error::Asset(format!(
                "module {name} is neither in {} nor built in",
                dep_path.display()
            )));
        };
        // modules.dep lists every dependency, the ones loaded last first.
        for dep in needs.iter().rev() {
            if seen.insert(dep.clone()) {
                order.push(dep.clone());
            }
            debug_assert!(by_path.contains_key(dep.as_str()), "{dep}");
        }
        if seen.insert(path.clone()) {
            order.push(path.clone());
        }
    }
    Ok(order)
}

/// `kernel/fs/nls/nls_cp437.ko` → `nls_cp437`; `-` and `_` are the same in module names.
fn module_name(path: &str) -> String {
    let file = path.rsplit('/').next().unwrap_or(path);
    let stem = file.split(".ko").next().unwrap_or(file);
    stem.replace('-', "_")
}

/// Writes the initramfs for `kernel` to `out` (zstd-compressed newc cpio), staging it in
/// `work` (an empty directory that is left filled).
pub fn build(kernel: &Kernel, work: &Path, out: &Path, mtime: u64) -> Result<()> {
    let modules = load_order(&kernel.modules_dir, MODULES)?;
    for dir in ["bin", "dev", "proc", "sys", "etc", "sysroot", "run", "tmp"] {
        let d = work.join(dir);
        std::fs::create_dir_all(&d).map_err(Error::io("creating", &d))?;
    }
    super::copy_file(Path::new(super::BUSYBOX), &work.join("bin/busybox"), 0o755)?;
    let sh = work.join("bin/sh");
    std::os::unix::fs::symlink("busybox", &sh).map_err(Error::io("creating", &sh))?;
    super::write_file(&work.join("init"), INIT.as_bytes(), 0o755)?;
    for tool in TOOLS {
        let host = Path::new(tool);
        let name = host.file_name().expect("a tool path has a file name");
        let real = std::fs::canonicalize(host).map_err(Error::io("resolving", host))?;
        super::copy_file(&real, &work.join("bin").join(name), 0o755)?;
        super::tiny::copy_libraries(host, work)?;
    }
    std::os::unix::fs::symlink("usr/lib64", work.join("lib64"))
        .map_err(Error::io("creating", work.join("lib64")))?;
    super::write_file(&work.join("etc/lvm/lvm.conf"), LVM_CONF.as_bytes(), 0o644)?;
    let lib = work.join("lib/modules").join(&kernel.version);
    for module in &modules {
        super::copy_file(&kernel.modules_dir.join(module), &lib.join(module), 0o644)?;
    }
    super::write_file(
        &work.join("etc/modules.order"),
        format!("{}\n", modules.join("\n")).as_bytes(),
        0o644,
    )?;
    fixed_mtimes(work, mtime)?;

    let list: Vec<u8> = sorted_tree(work)?
        .iter()
        .flat_map(|p| format!("{}\0", p.display()).into_bytes())
        .collect();
    let cpio_path = work.with_extension("cpio");
    let cpio_file = std::fs::File::create(&cpio_path).map_err(Error::io("creating", &cpio_path))?;
    let mut child = Command::new("cpio")
        .args([
            "--create",
            "--null",
            "--format=newc",
            "--reproducible",
            "--owner=0:0",
            "--quiet",
        ])
        .current_dir(work)
        .stdin(Stdio::piped())
        .stdout(cpio_file)
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| Error::Spawn {
            what: "building the initramfs".into(),
            command: "cpio --create".into(),
            source,
        })?;
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(&list)
        .map_err(Error::io("feeding the file list to cpio in", work))?;
    let output = child
        .wait_with_output()
        .map_err(Error::io("waiting for cpio in", work))?;
    if !output.status.success() {
        return Err(Error::Command {
            what: "building the initramfs".into(),
            command: "cpio --create --null --format=newc --reproducible --owner=0:0".into(),
            status: output.status.to_string(),
            output: String::from_utf8_lossy(&output.stderr).into_owned(),
        });
    }
    let input = std::fs::File::open(&cpio_path).map_err(Error::io("reading", &cpio_path))?;
    let output = std::fs::File::create(out).map_err(Error::io("creating", out))?;
    zstd::stream::copy_encode(input, output, 9).map_err(Error::io("compressing", out))?;
    std::fs::remove_file(&cpio_path).map_err(Error::io("removing", &cpio_path))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dependencies_come_first_and_once() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("modules.dep"),
            "kernel/fs/ext4/ext4.ko: kernel/fs/jbd2/jbd2.ko kernel/fs/mbcache.ko kernel/lib/crc16.ko\n\
             kernel/fs/jbd2/jbd2.ko:\n\
             kernel/fs/mbcache.ko:\n\
             kernel/lib/crc16.ko:\n\
             kernel/drivers/nvme/host/nvme-core.ko:\n\
             kernel/drivers/nvme/host/nvme.ko: kernel/drivers/nvme/host/nvme-core.ko\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("modules.builtin"), "kernel/fs/vfat.ko\n").unwrap();
        let order = load_order(dir.path(), &["nvme", "crc16", "ext4", "vfat"]).unwrap();
        assert_eq!(
            order,
            [
                "kernel/drivers/nvme/host/nvme-core.ko",
                "kernel/drivers/nvme/host/nvme.ko",
                "kernel/lib/crc16.ko",
                "kernel/fs/mbcache.ko",
                "kernel/fs/jbd2/jbd2.ko",
                "kernel/fs/ext4/ext4.ko",
            ]
        );
        let err = load_order(dir.path(), &["btrfs"]).unwrap_err().to_string();
        assert!(err.contains("module btrfs is neither"), "{err}");
    }
}
