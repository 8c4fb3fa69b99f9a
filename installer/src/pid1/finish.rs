//! How the installer ends: the kickstart's power action after a successful install, or the
//! failure report. A failed install never reboots (the machine would PXE-boot into the same
//! install again): the error chain and the last log lines go to the console, the log stays in
//! [`super::log::LOG_PATH`], and `inst.debug` opens a shell.

use super::log;
use kickstand_grammar::FinishKind;
use nix::sys::reboot::{RebootMode, reboot};
use std::os::unix::process::CommandExt;
use std::process::Command;

/// How many log lines the failure report shows.
const TAIL: usize = 30;

/// Syncs the disks and reboots, powers off or halts. Returns only when the kernel refused.
pub fn power(kind: FinishKind) -> anyhow::Error {
    let (mode, what) = match kind {
        FinishKind::Reboot => (RebootMode::RB_AUTOBOOT, "rebooting"),
        FinishKind::Poweroff => (RebootMode::RB_POWER_OFF, "powering off"),
        FinishKind::Halt => (RebootMode::RB_HALT_SYSTEM, "halting"),
    };
    tracing::info!("the install is complete; {what} as the kickstart asks");
    nix::unistd::sync();
    match reboot(mode) {
        Err(e) => anyhow::anyhow!("{what}: reboot(2) failed: {e}"),
        Ok(never) => match never {},
    }
}

/// Prints the failure report on the console.
pub fn report(error: &anyhow::Error) {
    let tail = log::tail(TAIL);
    let mut out = String::new();
    out.push_str("\n========================================================================\n");
    out.push_str("KICKSTAND-INSTALL-FAILED\n");
    out.push_str(&format!("kickstand-installer: error: {error:#}\n"));
    if !tail.is_empty() {
        out.push_str(&format!("\nThe last {} lines of the log:\n", tail.len()));
        for l in &tail {
            out.push_str("  ");
            out.push_str(l);
            out.push('\n');
        }
    }
    out.push_str(&format!(
        "\nThe whole log is in {} on this machine{}.\n\
         Nothing was rebooted; boot with inst.debug for a shell.\n",
        log::LOG_PATH,
        " (and was sent to kickstand.server when one is set)"
    ));
    out.push_str("========================================================================\n");
    eprint!("{out}");
}

/// Replaces this process with an interactive busybox shell on the console (`inst.debug`).
/// Returns only when no shell could be started.
pub fn debug_shell() {
    eprintln!(
        "kickstand-installer: inst.debug: starting a shell; the log is {}",
        log::LOG_PATH
    );
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-i")
        .env("PATH", "/usr/sbin:/usr/bin")
        .env("PS1", "kickstand# ");
    // SAFETY: setsid and TIOCSCTTY are async-signal-safe; they give the shell the console as
    // its controlling terminal, so job control and Ctrl-C work.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            libc::ioctl(0, libc::TIOCSCTTY, 1);
            Ok(())
        });
    }
    let e = cmd.exec();
    eprintln!("kickstand-installer: cannot start /bin/sh: {e}");
}
