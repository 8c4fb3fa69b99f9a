//! The `kickstand` command line: one clap enum, one file per subcommand.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod initramfs;

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
    /// Build the installer initramfs.
    #[command(subcommand)]
    Initramfs(initramfs::InitramfsCommand),
}

/// Parses the command line and runs the subcommand; prints the error chain on failure.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Initramfs(cmd) => initramfs::run(cmd),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kickstand: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
