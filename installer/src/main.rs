//! `kickstand-installer`: everything lives in the library; this only hands over to it. As PID 1
//! (the initramfs's `/init`) it boots the machine and installs it; otherwise it is the
//! host-mode command line.

fn main() -> std::process::ExitCode {
    if kickstand_installer::pid1::is_pid1() {
        kickstand_installer::pid1::main();
    }
    kickstand_installer::cli::main()
}
