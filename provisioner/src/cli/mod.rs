//! The `kickstand` command line: one module per subcommand.

pub mod flatten;
pub mod initramfs;
pub mod iso;
pub mod machines;
pub mod serve;
pub mod validate;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "kickstand",
    version,
    about = "Install bootable container images onto machines, driven by Kickstart files"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once at start-up: the size difference between subcommands costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check kickstart files like pykickstart's ksvalidator (RHEL 10 syntax).
    ///
    /// Exit status: 0 without errors (warnings allowed), 1 with errors, 2 when a file cannot
    /// be read.
    Validate(validate::ValidateArgs),
    /// Print a kickstart with every %include resolved (like ksflatten).
    Flatten(flatten::FlattenArgs),
    /// Build the installer initramfs.
    #[command(subcommand)]
    Initramfs(initramfs::InitramfsCommand),
    /// Build, inspect and customize installer ISOs (BIOS and UEFI, CD-ROM or USB stick).
    #[command(subcommand)]
    Iso(iso::IsoCommand),
    /// Run the provisioner: TFTP, HTTP boot, kickstarts, the embedded registry and the API.
    Serve(serve::Args),
    /// The fleet, from a running server's API.
    #[command(subcommand)]
    Machines(machines::Command),
}

/// Runs a parsed command line; returns the process exit status. Errors of `serve` and
/// `machines` are printed with their whole chain.
pub fn run(cli: Cli) -> i32 {
    let result = match cli.command {
        Command::Validate(args) => return validate::run(&args),
        Command::Flatten(args) => return flatten::run(&args),
        Command::Serve(args) => serve::run(args),
        Command::Machines(cmd) => machines::run(cmd),
        Command::Initramfs(cmd) => initramfs::run(cmd),
        Command::Iso(cmd) => iso::run(cmd),
    };
    match result {
        Ok(()) => EXIT_OK,
        Err(e) => {
            eprintln!("error: {e:#}");
            EXIT_INVALID
        }
    }
}

/// Exit status: no errors.
pub const EXIT_OK: i32 = 0;
/// Exit status: the kickstart has errors.
pub const EXIT_INVALID: i32 = 1;
/// Exit status: a file could not be read.
pub const EXIT_UNREADABLE: i32 = 2;

/// A current-thread runtime for CLI commands; `serve` builds its own multi-threaded one.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}
