//! Command line of `kickstand-installer`. `main.rs` only calls [`main`].

mod host_disks;
mod install;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "kickstand-installer",
    version,
    about = "Installs a bootable container image onto disks, driven by a kickstart",
    after_help = "As PID 1 of the installer initramfs (`kickstand initramfs build`) it takes no \
arguments: it reads inst.ks=, ip=, BOOTIF=, inst.repo=/inst.stage2=, kickstand.server=, \
kickstand.insecure_registry=, kickstand.authfile=, kickstand.staging_ram_limit=, console= and \
inst.debug from the kernel command line, installs onto the machine's disks and reboots or powers \
off as the kickstart says."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Install onto disks or disk image files (host mode).
    Install(install::InstallArgs),
}

/// Parses the command line, runs it, prints the error chain and sets the exit status.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let reporter = match &cli.command {
        Command::Install(args) => install::reporter(args),
    };
    tracing_subscriber::fmt()
        .with_writer(reporter.tracing_writer())
        .with_ansi(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KICKSTAND_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let result = match cli.command {
        Command::Install(args) => install::run(&args, reporter),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("kickstand-installer: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
