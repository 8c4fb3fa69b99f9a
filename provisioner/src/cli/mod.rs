//! The `kickstand` command line: one module per subcommand.

pub mod flatten;
pub mod initramfs;
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
}

/// Runs a parsed command line; returns the process exit status.
pub fn run(cli: Cli) -> i32 {
    match cli.command {
        Command::Validate(args) => validate::run(&args),
        Command::Flatten(args) => flatten::run(&args),
        Command::Initramfs(cmd) => report(initramfs::run(cmd)),
    }
}

/// Exit status: no errors.
pub const EXIT_OK: i32 = 0;
/// Exit status: the kickstart has errors.
pub const EXIT_INVALID: i32 = 1;
/// Exit status: a file could not be read.
pub const EXIT_UNREADABLE: i32 = 2;

/// Exit status of a command that returns an error chain: printed once, whole.
fn report(result: anyhow::Result<()>) -> i32 {
    match result {
        Ok(()) => EXIT_OK,
        Err(e) => {
            eprintln!("kickstand: error: {e:#}");
            EXIT_INVALID
        }
    }
}
