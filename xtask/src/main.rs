//! Project automation: `cargo xtask test | demo | bench | packages` (and the asset commands).
//!
//! Everything here works on a fresh Debian machine with only Rust installed: the Debian packages
//! a command needs are installed first (as root), or the exact `apt-get` line is printed.

mod assets;
mod demo;
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
    ///
    /// A UEFI VM with a blank disk network-boots from `kickstand serve` (its own DHCP, TFTP,
    /// HTTP and registry) in a private network namespace, installs the tiny test image with
    /// its progress shown live, and reboots into the installed system. Needs root.
    Demo(demo::DemoArgs),
    /// Install the Debian packages the tests and the demo need (apt-get, as root).
    Packages,
    /// Run the benchmarks (criterion benches of every crate; peers run in the same bench).
    Bench {
        /// Arguments for `cargo bench` after `--` (e.g. a benchmark name filter).
        #[arg(trailing_var_arg = true)]
        args: Vec<String>,
    },
    /// Fetch the test assets (the Debian kernel) into the cache and print where they are.
    Assets,
    /// Only the differential test against pykickstart (needs `target/release/kickstand`).
    Differential,
    /// Write a test OS image (built from Debian packages) as an OCI image layout.
    TestImage(assets::TestImageArgs),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Test(args) => test::run(&args),
        Command::Demo(args) => demo::run(&args),
        Command::Packages => packages::ensure(packages::ALL),
        Command::Bench { args } => packages::ensure(packages::ALL).and_then(|()| {
            run::status(
                run::cargo()
                    .args(["bench", "--workspace", "--"])
                    .args(&args),
                "cargo bench",
            )
        }),
        Command::Assets => assets::run(),
        Command::Differential => differential::run(),
        Command::TestImage(args) => assets::test_image(&args),
    };
    if let Err(err) = result {
        eprintln!("xtask: error: {err:#}");
        std::process::exit(1);
    }
}
