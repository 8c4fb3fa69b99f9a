//! `cargo xtask assets` and `cargo xtask test-image`: the test assets (Debian kernel, tiny OS
//! image), built into the cache outside the clone and keyed by their inputs. The work is done by
//! qemu-harness's `kickstand-test-assets`, run from the release build the suite uses; tests
//! build the same assets on first use.

use anyhow::Result;
use std::path::PathBuf;

/// Debian packages the assets are made from.
const PACKAGES: &[(&str, &str)] = &[
    ("apt", "/usr/bin/apt-get"),
    ("dpkg", "/usr/bin/dpkg-deb"),
    ("kmod", "/usr/sbin/depmod"),
    ("busybox-static", "/bin/busybox"),
    ("cpio", "/usr/bin/cpio"),
    (
        "systemd-boot-efi",
        "/usr/lib/systemd/boot/efi/systemd-bootx64.efi",
    ),
    ("grub-pc-bin", "/usr/lib/grub/i386-pc"),
    ("debootstrap", "/usr/sbin/debootstrap"),
    ("util-linux", "/usr/bin/unshare"),
];

#[derive(Debug, clap::Args)]
pub struct TestImageArgs {
    /// Which test image (`tiny`: busybox, the Debian kernel and initramfs, systemd-boot and
    /// BIOS GRUB, two layers; `debian`: Debian bookworm with systemd and sshd, built with
    /// debootstrap as root in minutes, cached).
    #[arg(long, default_value = "tiny")]
    kind: String,
    /// Directory for the OCI image layout (created; must be empty if it exists).
    #[arg(long)]
    output: PathBuf,
}

/// Fetches the kernel and builds the tiny image into the cache; prints where they are.
pub fn run() -> Result<()> {
    crate::packages::ensure(PACKAGES)?;
    harness_tool(&["assets"])
}

/// Writes a test image as an OCI layout.
pub fn test_image(args: &TestImageArgs) -> Result<()> {
    crate::packages::ensure(PACKAGES)?;
    let output = args.output.to_string_lossy();
    harness_tool(&["test-image", "--kind", &args.kind, "--output", &output])
}

fn harness_tool(args: &[&str]) -> Result<()> {
    crate::run::status(
        crate::run::cargo()
            .args([
                "run",
                "--quiet",
                "--release",
                "--package",
                "qemu-harness",
                "--bin",
                "kickstand-test-assets",
                "--",
            ])
            .args(args),
        "kickstand-test-assets",
    )
}
