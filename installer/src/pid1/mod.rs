//! `kickstand-installer` as PID 1 of the installer initramfs.
//!
//! PID 1 does the early mounts and the console, then forks: the child runs the boot flow
//! ([`flow`]: drivers, network, kickstart, install, power action) as an ordinary process that
//! waits for its own children, and PID 1 only reaps orphans and watches it. Whatever the child
//! does, PID 1 never exits (the kernel would panic) and never reboots into a new install: when
//! the child ends without powering the machine off or rebooting it, PID 1 says so on the
//! console and keeps the machine where it is (or starts a shell with `inst.debug`).
//!
//! Modules: [`early`] (mounts, console), [`log`] (console + log file), [`kmod`] (module
//! loading and coldplug), [`net`] (interfaces, netlink, the DHCP socket), [`fetch`]
//! (kickstart transports and `%include`), [`medium`] (the install medium at
//! `/run/install/repo`), [`finish`] (power actions and the failure path).

pub mod early;
pub mod fetch;
pub mod finish;
pub mod flow;
pub mod kmod;
pub mod log;
pub mod medium;
pub mod net;

use nix::sys::signal::{SigHandler, Signal, signal};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork};

/// Whether this process is PID 1 (the initramfs's `/init`).
pub fn is_pid1() -> bool {
    nix::unistd::getpid() == Pid::from_raw(1)
}

/// PID 1: early setup, then the boot flow in a child; never returns.
pub fn main() -> ! {
    let problems = early::mount_all();
    early::console();
    for p in &problems {
        eprintln!("kickstand-installer: warning: {p}");
    }
    // The kernel does not deliver unhandled signals to PID 1; ignore the terminal ones
    // explicitly so a stray SIGTERM/SIGHUP/SIGINT cannot reach the default action either.
    for sig in [
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGINT,
        Signal::SIGPIPE,
    ] {
        // SAFETY: SigIgn installs no handler code.
        let _ = unsafe { signal(sig, SigHandler::SigIgn) };
    }
    // SAFETY: no threads exist yet (nothing before this point starts one).
    match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            for sig in [
                Signal::SIGTERM,
                Signal::SIGHUP,
                Signal::SIGINT,
                Signal::SIGPIPE,
            ] {
                // SAFETY: restoring the default disposition.
                let _ = unsafe { signal(sig, SigHandler::SigDfl) };
            }
            let code = flow::main();
            std::process::exit(code);
        }
        Ok(ForkResult::Parent { child }) => supervise(child),
        Err(e) => {
            eprintln!("kickstand-installer: cannot fork the installer ({e}); running it as PID 1");
            flow::main();
            stay()
        }
    }
}

/// Reaps every child; when the installer ends, reports it and stays.
fn supervise(installer: Pid) -> ! {
    loop {
        match waitpid(None, None) {
            Ok(WaitStatus::Exited(pid, code)) if pid == installer => {
                if code != 0 {
                    eprintln!(
                        "\nkickstand-installer: the installer stopped (exit status {code}); \
                         this machine stays here and installs nothing else."
                    );
                }
                break;
            }
            Ok(WaitStatus::Signaled(pid, sig, _)) if pid == installer => {
                eprintln!(
                    "\nkickstand-installer: the installer was killed by {sig:?}; this machine \
                     stays here and installs nothing else. The log is in {}.",
                    log::LOG_PATH
                );
                if flow::debug_requested() {
                    finish::debug_shell();
                }
                break;
            }
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => {}
            Err(nix::errno::Errno::ECHILD) => break,
            Err(e) => {
                eprintln!("kickstand-installer: waitpid: {e}");
                break;
            }
        }
    }
    stay()
}

/// Keeps PID 1 alive, reaping whatever is left, without touching the machine.
fn stay() -> ! {
    loop {
        match waitpid(None, None) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(_) => std::thread::sleep(std::time::Duration::from_secs(3600)),
        }
    }
}
