//! Project automation: `cargo xtask test | demo | bench | assets`.
//!
//! Everything here works on a fresh Debian machine with only Rust installed: the Debian packages
//! a command needs are installed first (as root), or the exact `apt-get` line is printed.

mod differential;
mod packages;
mod run;
mod test;

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
    /// Only the differential test against pykickstart (needs `target/release/kickstand`).
    Differential,
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
        Command::Differential => differential::run(),
    };
    if let Err(err) = result {
        eprintln!("xtask: error: {err:#}");
        std::process::exit(1);
    }
}
