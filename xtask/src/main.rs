//! Project automation: `cargo xtask test | demo | bench | assets`.
//!
//! Everything here works on a fresh Debian machine with only Rust installed: the Debian packages
//! a command needs are installed first (as root), or the exact `apt-get` line is printed.

mod assets;
mod packages;
mod run;
mod test;
mod test_image;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "cargo xtask", about = "Kickstand project automation")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the whole test suite: fmt, clippy, unit and integration tests, VM tests.
    ///
    /// Nothing is skipped: a missing QEMU, OVMF or root is a failure.
    Test(test::TestArgs),
    /// PXE-boot a QEMU machine from the provisioner, install it and boot the installed OS.
    Demo,
    /// Install the Debian packages the tests and the demo need (apt-get, as root).
    Packages,
    /// Fetch the test assets (the Debian kernel) into the cache and print where they are.
    Assets,
    /// Write a test OS image (built from Debian packages) as an OCI image layout.
    TestImage(test_image::TestImageArgs),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Test(args) => test::run(&args),
        Command::Demo => Err(anyhow::anyhow!(
            "the demo is not built yet: it needs the provisioner's DHCP and the installer \
             initramfs (issues 6-8); `cargo xtask test` runs what exists today"
        )),
        Command::Packages => packages::ensure(packages::ALL),
        Command::Assets => assets::run(),
        Command::TestImage(args) => test_image::run(&args),
    };
    if let Err(err) = result {
        eprintln!("xtask: error: {err:#}");
        std::process::exit(1);
    }
}
