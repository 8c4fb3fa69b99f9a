//! A background helper process (dnsmasq, an HTTP server, the provisioner) in its own process
//! group, with its output in a log file; killed, group and all, when dropped.

use crate::error::{Error, Result};
use crate::vm::TAIL_LINES;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A running helper process; killed on drop, its log printed if that happens during a panic.
#[derive(Debug)]
pub struct Process {
    name: String,
    child: Child,
    exit: Option<ExitStatus>,
    log: PathBuf,
}

impl Process {
    /// Starts `cmd` in a new process group with stdin from /dev/null and stdout and stderr
    /// appended to `log`.
    pub fn spawn(name: &str, mut cmd: Command, log: &Path) -> Result<Process> {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .map_err(Error::io("creating process log", log))?;
        let err = out
            .try_clone()
            .map_err(Error::io("creating process log", log))?;
        cmd.stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0);
        let line = crate::cmd::display(&cmd);
        eprintln!("qemu-harness: starting {name}: {line}");
        let child = cmd.spawn().map_err(|source| Error::Spawn {
            what: format!("starting {name}"),
            command: line,
            source,
        })?;
        Ok(Process {
            name: name.to_string(),
            child,
            exit: None,
            log: log.to_path_buf(),
        })
    }

    /// The process id (also its process group id).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Where its output goes.
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// Its output so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Whether it is still running.
    pub fn is_running(&mut self) -> bool {
        if self.exit.is_none() {
            self.exit = self.child.try_wait().ok().flatten();
        }
        self.exit.is_none()
    }

    /// Waits until its output contains `needle`; fails if it exits or `timeout` passes first.
    pub fn wait_for_output(&mut self, needle: &str, timeout: Duration) -> Result<()> {
        let start = Instant::now();
        loop {
            if self.output().contains(needle) {
                return Ok(());
            }
            let why = if !self.is_running() {
                format!("it exited ({:?})", self.exit)
            } else if start.elapsed() >= timeout {
                format!("not within {timeout:?}")
            } else {
                std::thread::sleep(Duration::from_millis(50));
                continue;
            };
            return Err(Error::Vm {
                vm: self.name.clone(),
                message: format!(
                    "did not print {needle:?}: {why}\n--- {} ---\n{}",
                    self.log.display(),
                    crate::vm::tail_of(&self.log, TAIL_LINES)
                ),
            });
        }
    }

    /// Kills the process group now (also done on drop).
    pub fn kill(&mut self) {
        // The group may hold children of an exited leader; ESRCH when it is empty is fine.
        let _ = killpg(Pid::from_raw(self.child.id() as i32), Signal::SIGKILL);
        if self.exit.is_none() {
            self.exit = self.child.wait().ok();
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!(
                "qemu-harness: output of {} ({}):\n{}--- end of {} ---",
                self.name,
                self.log.display(),
                crate::vm::tail_of(&self.log, 200),
                self.name
            );
        }
    }
}
