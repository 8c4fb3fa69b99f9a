//! The `kickstand` command line: one file per subcommand.

pub mod machines;
pub mod serve;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "kickstand",
    version,
    about = "Install bootable container images over the network, driven by kickstarts"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the provisioner: TFTP, HTTP boot, kickstarts, the embedded registry and the API.
    Serve(serve::Args),
    /// The fleet, from a running server's API.
    #[command(subcommand)]
    Machines(machines::Command),
}

/// Runs a parsed command line; errors are printed with their whole chain.
pub fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Machines(cmd) => machines::run(cmd),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// A current-thread runtime for CLI commands; `serve` builds its own multi-threaded one.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}
