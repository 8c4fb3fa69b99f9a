//! A running QEMU VM: started from a [`VmBuilder`], watched through its serial console, killed
//! (its whole process group) when dropped.
//!
//! Files (console, firmware debug log, QEMU's own output, the OVMF variable store) go to the
//! builder's work directory, normally the test's temp dir. When the VM is dropped during a
//! panic, the console and QEMU's messages are printed, so a failing test shows them and a
//! passing one stays quiet.

mod builder;
mod console;

pub(crate) use console::tail_of;

pub use builder::{
    Disk, DiskBus, DiskFormat, Firmware, NetBackend, Nic, NicModel, OptionRom, VmBuilder,
};

use crate::accel;
use crate::error::{Error, Result};
use crate::slots::{self, Slot};
use builder::VmFiles;
use console::Console;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use regex::Regex;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How many console lines an error message carries.
pub const TAIL_LINES: usize = 50;

/// A running (or exited) QEMU VM.
#[derive(Debug)]
pub struct Vm {
    name: String,
    child: Child,
    exit: Option<ExitStatus>,
    console: Console,
    files: VmFiles,
    command_line: String,
    echo: Option<String>,
    _own_dir: Option<tempfile::TempDir>,
    _slot: Slot,
}

impl Vm {
    fn start(b: VmBuilder) -> Result<Vm> {
        let netns = b.netns()?;
        let (own_dir, dir) = match &b.workdir {
            Some(d) => (None, d.clone()),
            None => {
                let t = tempfile::Builder::new()
                    .prefix(&format!("vm-{}-", b.name))
                    .tempdir()
                    .map_err(Error::io("creating a VM directory", std::env::temp_dir()))?;
                let p = t.path().to_path_buf();
                (Some(t), p)
            }
        };
        std::fs::create_dir_all(&dir).map_err(Error::io("creating the VM directory", &dir))?;
        let files = VmFiles::new(&dir, &b.name, b.firmware == Firmware::Uefi);
        if let Some(vars) = &files.ovmf_vars {
            std::fs::copy(crate::gate::OVMF_VARS, vars)
                .map_err(Error::io("copying the OVMF variable store", vars))?;
        }
        // A VM started again with the same name and directory (a power cycle) must not have
        // its console reader see the previous run's log before QEMU truncates it.
        for old in [&files.console, &files.firmware_log] {
            match std::fs::remove_file(old) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(Error::io("removing the previous console log", old)(e));
                }
                _ => {}
            }
        }
        let slot = slots::acquire(&b.name)?;
        let accel = accel::get();
        let mut cmd = Command::new("qemu-system-x86_64");
        cmd.args(b.args(&files, accel));
        let command_line = crate::cmd::display(&cmd);
        let log = std::fs::File::create(&files.qemu_log)
            .map_err(Error::io("creating QEMU's log", &files.qemu_log))?;
        let log2 = log
            .try_clone()
            .map_err(Error::io("creating QEMU's log", &files.qemu_log))?;
        cmd.stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .process_group(0);
        if let Some(ns) = &netns {
            crate::netns::enter_in_child(&mut cmd, ns)?;
        }
        eprintln!(
            "qemu-harness: starting VM {}{}: {command_line}",
            b.name,
            netns
                .as_ref()
                .map(|n| format!(" in netns {n}"))
                .unwrap_or_default()
        );
        tracing::info!(vm = %b.name, command = %command_line, "starting VM");
        let child = cmd.spawn().map_err(|source| Error::Spawn {
            what: format!("starting VM {}", b.name),
            command: command_line.clone(),
            source,
        })?;
        Ok(Vm {
            name: b.name,
            child,
            exit: None,
            console: Console::new(files.console.clone()),
            files,
            command_line,
            echo: None,
            _own_dir: own_dir,
            _slot: slot,
        })
    }

    /// The VM's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The full QEMU command line.
    pub fn command_line(&self) -> &str {
        &self.command_line
    }

    /// The serial console log.
    pub fn console_log(&self) -> &Path {
        self.console.path()
    }

    /// The serial console's Unix socket, when the builder asked for one
    /// ([`VmBuilder::console_socket`]).
    pub fn console_socket(&self) -> Option<&Path> {
        self.files
            .console_socket
            .exists()
            .then_some(self.files.console_socket.as_path())
    }

    /// The whole console so far, cleaned of escape sequences.
    pub fn console_text(&self) -> String {
        self.console.tail(usize::MAX)
    }

    /// QEMU's process id (also its process group).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Prints every console line the waits read to stdout from now on, after `prefix` (a live
    /// view of the machine, as `cargo xtask demo` shows it); `None` stops it.
    pub fn echo(&mut self, prefix: Option<&str>) {
        self.echo = prefix.map(str::to_owned);
    }

    /// Waits until a console line written after the previous match matches `pattern`, and
    /// returns it. Fails when `timeout` passes or QEMU exits first, with the last
    /// [`TAIL_LINES`] console lines in the error.
    pub fn wait_for_line(&mut self, pattern: &str, timeout: Duration) -> Result<String> {
        let re = Regex::new(pattern).map_err(|e| Error::Vm {
            vm: self.name.clone(),
            message: format!("invalid console pattern /{pattern}/: {e}"),
        })?;
        let start = Instant::now();
        loop {
            let exited = self.poll_exit();
            while let Some(line) = self.console.next_line(exited.is_some()) {
                if let Some(prefix) = &self.echo {
                    println!("{prefix}{line}");
                }
                if re.is_match(&line) {
                    tracing::info!(vm = %self.name, %line, elapsed = ?start.elapsed(), "console matched");
                    return Ok(line);
                }
            }
            let reason = match exited {
                Some(status) => format!("QEMU exited ({status}) after {:.1?}", start.elapsed()),
                None if start.elapsed() >= timeout => "timed out".to_string(),
                None => {
                    std::thread::sleep(Duration::from_millis(100));
                    continue;
                }
            };
            return Err(Error::Timeout {
                vm: self.name.clone(),
                message: format!(
                    "no console line matching /{pattern}/ within {timeout:?}: {reason}{}",
                    self.report()
                ),
            });
        }
    }

    /// Waits for QEMU to exit (the guest powered off, or rebooted with `no_reboot`).
    pub fn wait_for_exit(&mut self, timeout: Duration) -> Result<ExitStatus> {
        let start = Instant::now();
        loop {
            if let Some(status) = self.poll_exit() {
                return Ok(status);
            }
            if start.elapsed() >= timeout {
                return Err(Error::Timeout {
                    vm: self.name.clone(),
                    message: format!("still running after {timeout:?}{}", self.report()),
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Kills the VM now (also done on drop).
    pub fn kill(&mut self) {
        if self.exit.is_none() {
            // The group id is QEMU's pid (process_group(0)); it may already be gone.
            let _ = killpg(Pid::from_raw(self.child.id() as i32), Signal::SIGKILL);
            self.exit = self.child.wait().ok();
        }
    }

    fn poll_exit(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none() {
            self.exit = self.child.try_wait().ok().flatten();
        }
        self.exit
    }

    /// The console tail and QEMU's own messages, for error messages.
    fn report(&self) -> String {
        let qemu = console::tail_of(&self.files.qemu_log, 10);
        format!(
            "\n--- last {TAIL_LINES} lines of console {} ---\n{}--- end of console ---{}",
            self.console.path().display(),
            self.console.tail(TAIL_LINES),
            if qemu.is_empty() {
                String::new()
            } else {
                format!("\n--- QEMU said ---\n{qemu}--- end of QEMU output ---")
            }
        )
    }

    /// Paths of the VM's files, for messages.
    pub fn workdir(&self) -> PathBuf {
        self.console
            .path()
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default()
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!(
                "qemu-harness: VM {} failed; command line: {}\n--- console {} ---\n{}\
                 --- firmware log (tail) ---\n{}--- QEMU output ---\n{}--- end of VM {} ---",
                self.name,
                self.command_line,
                self.console.path().display(),
                self.console.tail(2000),
                console::tail_of(&self.files.firmware_log, 20),
                console::tail_of(&self.files.qemu_log, 20),
                self.name,
            );
            if let Some(dir) = self._own_dir.take() {
                eprintln!("qemu-harness: VM files kept in {}", dir.keep().display());
            }
        }
    }
}

/// A path as a QEMU option value (commas doubled).
pub(crate) fn escape(path: &Path) -> String {
    path.to_string_lossy().replace(',', ",,")
}
