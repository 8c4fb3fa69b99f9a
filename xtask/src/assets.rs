//! `cargo xtask assets`: fetch the test assets into the cache (outside the clone) and say what
//! and where they are. Tests fetch the same assets on first use; this does it ahead of a run.

use anyhow::{Context, Result};

pub fn run() -> Result<()> {
    crate::packages::ensure(&[
        ("apt", "/usr/bin/apt-get"),
        ("dpkg", "/usr/bin/dpkg-deb"),
        ("kmod", "/usr/sbin/depmod"),
    ])?;
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
    println!("tiny image: {} (kernel {})", tiny.layout.display(), tiny.kernel_version);
    Ok(())
}
