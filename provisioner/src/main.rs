//! `kickstand`: the provisioner daemon and the operator's CLI.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = kickstand_provisioner::cli::Cli::parse();
    kickstand_provisioner::cli::run(cli)
}
