//! `kickstand`: the operator CLI. Parses arguments and hands over to the library.

fn main() -> std::process::ExitCode {
    kickstand_provisioner::cli::main()
}
