//! `cargo xtask test-image --kind tiny --output DIR`: writes a test OS image as an OCI image
//! layout. The image is built into the cache (outside the clone, keyed by its inputs) and
//! copied from there, so a second run takes no time.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

#[derive(Debug, clap::Args)]
pub struct TestImageArgs {
    /// Which test image.
    #[arg(long, value_enum, default_value_t = Kind::Tiny)]
    kind: Kind,
    /// Directory for the OCI image layout (created; must be empty if it exists).
    #[arg(long)]
    output: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Kind {
    /// busybox, the Debian kernel and initramfs, systemd-boot and BIOS GRUB, two layers.
    Tiny,
}

pub fn run(args: &TestImageArgs) -> Result<()> {
    let Kind::Tiny = args.kind;
    crate::packages::ensure(&[
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
    ])?;
    if args.output.exists()
        && std::fs::read_dir(&args.output)
            .with_context(|| format!("reading {}", args.output.display()))?
            .next()
            .is_some()
    {
        bail!(
            "{} is not empty; give a new or empty directory for the layout",
            args.output.display()
        );
    }
    let image = qemu_harness::images::tiny::tiny().context("building the tiny test image")?;
    copy_layout(&image.layout, &args.output)?;
    println!(
        "tiny test image (kernel {}) written to {}\n  use it as oci:{}:{}",
        image.kernel_version,
        args.output.display(),
        args.output.display(),
        qemu_harness::images::tiny::TAG
    );
    Ok(())
}

/// Copies the layout's files (`oci-layout`, `index.json`, `blobs/sha256/*`).
fn copy_layout(from: &Path, to: &Path) -> Result<()> {
    let blobs = to.join("blobs").join("sha256");
    std::fs::create_dir_all(&blobs).with_context(|| format!("creating {}", blobs.display()))?;
    let mut files = vec![PathBuf::from("oci-layout"), PathBuf::from("index.json")];
    let cached = from.join("blobs").join("sha256");
    for entry in
        std::fs::read_dir(&cached).with_context(|| format!("reading {}", cached.display()))?
    {
        files.push(Path::new("blobs/sha256").join(entry?.file_name()));
    }
    for file in files {
        std::fs::copy(from.join(&file), to.join(&file)).with_context(|| {
            format!("copying {} to {}", from.join(&file).display(), to.display())
        })?;
    }
    Ok(())
}
