//! `kickstand-test-assets`: builds the test assets into the cache (outside the clone) and says
//! where they are. `cargo xtask assets` and `cargo xtask test-image` run it from the release
//! build the test suite uses, so xtask itself stays a small program.

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};

#[derive(Debug, Parser)]
#[command(
    name = "kickstand-test-assets",
    about = "Build Kickstand's test assets"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Fetch the Debian kernel and build the tiny image into the cache; print where they are.
    Assets,
    /// Write a test OS image (built from Debian packages) as an OCI image layout.
    TestImage {
        /// Which test image.
        #[arg(long, value_enum, default_value_t = Kind::Tiny)]
        kind: Kind,
        /// Directory for the OCI image layout (created; must be empty if it exists).
        #[arg(long)]
        output: PathBuf,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Kind {
    /// busybox, the Debian kernel and initramfs, systemd-boot and BIOS GRUB, two layers.
    Tiny,
    /// Debian bookworm (debootstrap minbase, systemd, openssh-server, the kernel with an
    /// initramfs-tools initramfs, systemd-boot and BIOS GRUB); needs root, takes minutes cold.
    Debian,
}

fn main() {
    let result = match Cli::parse().command {
        Command::Assets => assets(),
        Command::TestImage { kind, output } => test_image(kind, &output),
    };
    if let Err(err) = result {
        eprintln!("kickstand-test-assets: error: {err:#}");
        std::process::exit(1);
    }
}

fn assets() -> Result<()> {
    let cache = qemu_harness::cache::dir().context("finding the cache directory")?;
    println!("cache: {}", cache.display());
    let kernel = qemu_harness::debian_kernel().context("fetching the Debian kernel")?;
    println!(
        "kernel: {} (package {} {})",
        kernel.version, kernel.package, kernel.package_version
    );
    println!("  vmlinuz: {}", kernel.vmlinuz.display());
    println!("  modules: {}", kernel.modules_dir.display());
    let tiny = qemu_harness::images::tiny::tiny().context("building the tiny test image")?;
    println!(
        "tiny image: {} (kernel {})",
        tiny.layout.display(),
        tiny.kernel_version
    );
    Ok(())
}

fn test_image(kind: Kind, output: &Path) -> Result<()> {
    if output.exists()
        && std::fs::read_dir(output)
            .with_context(|| format!("reading {}", output.display()))?
            .next()
            .is_some()
    {
        bail!(
            "{} is not empty; give a new or empty directory for the layout",
            output.display()
        );
    }
    let (name, layout, kernel, tag) = match kind {
        Kind::Tiny => {
            let image =
                qemu_harness::images::tiny::tiny().context("building the tiny test image")?;
            (
                "tiny",
                image.layout,
                image.kernel_version,
                qemu_harness::images::tiny::TAG,
            )
        }
        Kind::Debian => {
            let image =
                qemu_harness::images::debian::debian().context("building the debian test image")?;
            println!(
                "debian test image: {:.1} MiB, {} packages",
                image.size as f64 / (1024.0 * 1024.0),
                image.packages.lines().count()
            );
            (
                "debian",
                image.layout,
                image.kernel_version,
                qemu_harness::images::debian::TAG,
            )
        }
    };
    copy_layout(&layout, output)?;
    println!(
        "{name} test image (kernel {kernel}) written to {}\n  use it as oci:{}:{tag}",
        output.display(),
        output.display(),
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
