//! Debian packages the tests and the demo need, installed when missing.

use anyhow::{Context, Result, bail};
use std::process::Command;

/// Every Debian package the test suite uses, with the program or file that shows it is there.
pub const ALL: &[(&str, &str)] = &[
    ("qemu-system-x86", "/usr/bin/qemu-system-x86_64"),
    ("qemu-utils", "/usr/bin/qemu-img"),
    ("ovmf", "/usr/share/OVMF/OVMF_CODE_4M.fd"),
    ("ipxe-qemu", "/usr/lib/ipxe/qemu/pxe-virtio.rom"),
    ("ipxe", "/usr/lib/ipxe/undionly.kpxe"),
    ("busybox-static", "/bin/busybox"),
    ("cpio", "/usr/bin/cpio"),
    ("dosfstools", "/usr/sbin/mkfs.vfat"),
    ("e2fsprogs", "/usr/sbin/mkfs.ext4"),
    ("xfsprogs", "/usr/sbin/mkfs.xfs"),
    ("btrfs-progs", "/usr/sbin/mkfs.btrfs"),
    ("mtools", "/usr/bin/mcopy"),
    ("gdisk", "/usr/sbin/sgdisk"),
    ("fdisk", "/usr/sbin/sfdisk"),
    ("xorriso", "/usr/bin/xorriso"),
    ("grub-efi-amd64-bin", "/usr/lib/grub/x86_64-efi"),
    ("grub-pc-bin", "/usr/lib/grub/i386-pc"),
    (
        "systemd-boot-efi",
        "/usr/lib/systemd/boot/efi/systemd-bootx64.efi",
    ),
    ("dnsmasq", "/usr/sbin/dnsmasq"),
    ("tftpd-hpa", "/usr/sbin/in.tftpd"),
    ("atftp", "/usr/bin/atftp"),
    ("nginx", "/usr/sbin/nginx"),
    ("docker-registry", "/usr/bin/docker-registry"),
    ("skopeo", "/usr/bin/skopeo"),
    ("debootstrap", "/usr/sbin/debootstrap"),
    ("curl", "/usr/bin/curl"),
    ("iproute2", "/usr/sbin/ip"),
    ("zstd", "/usr/bin/zstd"),
    ("xz-utils", "/usr/bin/xz"),
    ("python3-venv", "/usr/share/doc/python3-venv/copyright"),
    ("openssh-client", "/usr/bin/ssh"),
    ("socat", "/usr/bin/socat"),
    ("util-linux", "/usr/sbin/losetup"),
    ("kmod", "/usr/sbin/depmod"),
    ("ca-certificates", "/etc/ssl/certs/ca-certificates.crt"),
    ("lvm2", "/usr/sbin/lvm"),
    ("cryptsetup-bin", "/usr/sbin/cryptsetup"),
    ("mdadm", "/usr/sbin/mdadm"),
    ("thin-provisioning-tools", "/usr/sbin/thin_check"),
];

/// Installs the packages of `wanted` whose marker file is missing.
///
/// As root this runs `apt-get update` once and `apt-get install`, with a `policy-rc.d` that keeps
/// daemons (dnsmasq, nginx, tftpd-hpa) from starting: tests start their own copies. Not as root,
/// it fails and prints the exact command to run.
pub fn ensure(wanted: &[(&str, &str)]) -> Result<()> {
    let mut missing: Vec<String> = wanted
        .iter()
        .filter(|(_, marker)| !std::path::Path::new(marker).exists())
        .map(|(package, _)| package.to_string())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    if missing.iter().any(|p| p == "qemu-system-x86") {
        // Debian 12 machines may carry qemu-utils from backports, which Breaks the stable
        // qemu-system-common: take qemu-utils from the release's own suite (a downgrade there).
        missing.retain(|p| p != "qemu-utils");
        missing.push(format!("qemu-utils/{}", codename()));
    }
    let line = format!(
        "apt-get install -y --no-install-recommends --allow-downgrades {}",
        missing.join(" ")
    );
    if !is_root() {
        bail!("missing Debian packages; as root run:\n    apt-get update && {line}");
    }
    eprintln!("xtask: installing Debian packages: {}", missing.join(" "));
    let policy = std::path::Path::new("/usr/sbin/policy-rc.d");
    let created_policy = if policy.exists() {
        false
    } else {
        std::fs::write(
            policy,
            "#!/bin/sh\n# kickstand xtask: no daemons while installing\nexit 101\n",
        )
        .context("writing /usr/sbin/policy-rc.d")?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(policy, std::fs::Permissions::from_mode(0o755))?;
        true
    };
    let result = (|| {
        crate::run::status(
            Command::new("apt-get").args(["update", "-qq"]),
            "apt-get update",
        )?;
        crate::run::status(
            Command::new("apt-get")
                .args([
                    "install",
                    "-y",
                    "-qq",
                    "--no-install-recommends",
                    "--allow-downgrades",
                ])
                .args(&missing)
                .env("DEBIAN_FRONTEND", "noninteractive"),
            "apt-get install",
        )
    })();
    if created_policy {
        let _ = std::fs::remove_file(policy);
    }
    result.with_context(|| format!("installing packages (the command was: {line})"))
}

/// Whether xtask runs as root (effective uid 0).
pub fn is_root() -> bool {
    // The effective uid is the second field of `Uid:`.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// The Debian release's codename (`bookworm`), from `/etc/os-release`.
fn codename() -> String {
    std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VERSION_CODENAME=").map(str::to_owned))
        })
        .unwrap_or_else(|| "bookworm".to_owned())
}
