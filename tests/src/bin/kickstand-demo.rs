//! `kickstand-demo [--keep]`, run by `cargo xtask demo`: a UEFI VM with a blank disk
//! PXE-boots from `kickstand serve` in a private network namespace, installs the tiny image
//! (its progress shown live from the VM's console), reboots into the installed system and
//! reports it. This is end-to-end test `uefi_pxe_installs_and_boots_the_installed_disk`'s
//! code path ([`kickstand_tests::netinstall`]) with the live view added.
//!
//! Needs root (network namespaces, a tap device), QEMU and OVMF, the Debian kernel and the
//! tiny image (`cargo xtask demo` sees to all of them) and the release binaries
//! (`KICKSTAND_BIN_DIR`).

use kickstand_tests::netinstall::{self, Boot, Dhcp, Os, Outcome, Scenario};
use std::io::BufRead;
use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    let mut keep = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--keep" => keep = true,
            "-h" | "--help" => {
                println!(
                    "Usage: kickstand-demo [--keep]\n\n\
                     PXE-boots a UEFI VM from kickstand serve in a private network, installs the \
                     tiny test image onto its blank disk and boots the installed system.\n\n\
                     --keep  keep the machine and the server running (with a shell on the \
                     machine's console) until Enter is pressed"
                );
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("kickstand-demo: unknown argument {other:?} (expected --keep or --help)");
                return ExitCode::from(2);
            }
        }
    }
    if !qemu_harness::gate::vm_test("kickstand-demo", true) {
        eprintln!(
            "kickstand-demo: this machine cannot run the demo VM (see above); \
             `cargo xtask demo` installs what it needs"
        );
        return ExitCode::FAILURE;
    }
    let started = Instant::now();
    let run = match netinstall::run(&Scenario {
        name: "demo".into(),
        boot: Boot::UefiPxe,
        outcome: Outcome::Installs,
        dhcp: Dhcp::Full,
        os: Os::Tiny,
        live: true,
        keep,
    }) {
        Ok(run) => run,
        Err(e) => {
            eprintln!("\nkickstand-demo: the demo failed: {e}");
            return ExitCode::FAILURE;
        }
    };
    let report = run.report.as_ref().expect("an install reports its boot");
    println!(
        "\nKickstand demo: {} ({}) network-booted, installed and booted its disk in {:.0}s.",
        report.get("hostname").unwrap_or("?"),
        netinstall::MAC,
        started.elapsed().as_secs_f64()
    );
    println!("{}", run.phases.line("demo"));
    println!(
        "The installed system reports: {}",
        report
            .fields
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!("\n$ kickstand machines list\n{}", run.machines.trim_end());
    if !keep {
        println!(
            "\nEverything is cleaned up. `cargo xtask demo --keep` keeps the machine running \
             with a shell on its console."
        );
        return ExitCode::SUCCESS;
    }
    let kickstand = kickstand_tests::bin("kickstand");
    println!("\nThe machine and kickstand serve keep running; reach them with:");
    if let Some(sock) = run.vm.console_socket() {
        println!(
            "  the machine's console:  socat STDIO,rawer,escape=0x1d UNIX-CONNECT:{}   (Ctrl-] leaves)",
            sock.display()
        );
    }
    println!(
        "  the fleet:              ip netns exec {} {} machines list",
        run.server.netns(),
        kickstand.display()
    );
    println!(
        "  kickstand's log:        {}",
        run.kickstand.process.log().display()
    );
    println!("  the files:              {}", run.dir.path().display());
    println!("Press Enter to stop everything and clean up.");
    let _ = std::io::stdin().lock().lines().next();
    ExitCode::SUCCESS
}
