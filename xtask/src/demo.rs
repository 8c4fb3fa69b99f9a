//! `cargo xtask demo [--keep]`: the README's first command. Installs the Debian packages, makes
//! the one release build the tests also use, fetches the kernel and builds the tiny image
//! (cached outside the clone), then runs `kickstand-demo`: a UEFI VM PXE-boots from `kickstand
//! serve` in a private network namespace, installs, and boots the installed OS — the code path
//! of the end-to-end test `uefi_pxe_installs_and_boots_the_installed_disk`.

use crate::run::{cargo, status, workspace_root};
use anyhow::{Result, bail};
use std::process::Command;
use std::time::Instant;

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Keep the installed machine and the server running (a shell on the machine's console)
    /// until Enter is pressed.
    #[arg(long)]
    keep: bool,
}

pub fn run(args: &DemoArgs) -> Result<()> {
    if !crate::packages::is_root() {
        bail!(
            "the demo creates network namespaces and a tap device: run it as root \
             (sudo -E cargo xtask demo)"
        );
    }
    let start = Instant::now();
    crate::packages::ensure(crate::packages::ALL)?;
    eprintln!("xtask: building Kickstand (release; the first build takes a while)");
    status(
        cargo().args(crate::test::RELEASE_BUILD),
        "cargo build --release",
    )?;
    let bin_dir = workspace_root().join("target").join("release");
    // The kernel and the tiny image, from the build just made (not `cargo run -p`, whose
    // different feature set would mean a second build).
    status(
        Command::new(bin_dir.join("kickstand-test-assets")).arg("assets"),
        "fetching the kernel and building the tiny image",
    )?;
    let mut demo = Command::new(bin_dir.join("kickstand-demo"));
    demo.env("KICKSTAND_BIN_DIR", &bin_dir);
    if args.keep {
        demo.arg("--keep");
    }
    let result = status(&mut demo, "the demo");
    eprintln!("xtask: demo took {:.0?} in all", start.elapsed());
    result
}
