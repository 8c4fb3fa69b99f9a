//! `kickstand-installer`: everything lives in the library; this only hands over to it.

fn main() -> std::process::ExitCode {
    kickstand_installer::cli::main()
}
