//! `kickstand`: the provisioner daemon and the operator's CLI. Parses arguments and hands over
//! to `kickstand_provisioner::cli`.

use clap::Parser;

fn main() {
    let cli = kickstand_provisioner::cli::Cli::parse();
    std::process::exit(kickstand_provisioner::cli::run(cli));
}
