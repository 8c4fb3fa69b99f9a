//! Entering named network namespaces (`/run/netns/NAME`, as made by `ip netns add`): for a child
//! process before it runs, or for a closure on a thread of its own.

use crate::error::{Error, Result};
use nix::sched::{CloneFlags, setns};
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;

/// The bind mount `ip netns` makes for namespace `name`.
pub fn path(name: &str) -> PathBuf {
    PathBuf::from("/run/netns").join(name)
}

fn open(name: &str) -> Result<OwnedFd> {
    let p = path(name);
    let f = std::fs::File::open(&p).map_err(Error::io("opening network namespace", &p))?;
    Ok(f.into())
}

/// Makes `cmd` run inside network namespace `name` (it changes nothing else: mounts, hostname
/// and the file system stay the caller's).
pub fn enter_in_child(cmd: &mut Command, name: &str) -> Result<()> {
    let fd = open(name)?;
    // SAFETY: the closure only calls setns(2), which is async-signal-safe, on an fd opened
    // before the fork (close-on-exec, so the program does not inherit it).
    unsafe {
        cmd.pre_exec(move || setns(&fd, CloneFlags::CLONE_NEWNET).map_err(std::io::Error::from));
    }
    Ok(())
}

/// Runs `f` on a new thread inside network namespace `name` and returns its result. Sockets
/// `f` creates stay in that namespace wherever they are used afterwards.
pub fn run_in<R: Send>(name: &str, f: impl FnOnce() -> R + Send) -> Result<R> {
    let fd = open(name)?;
    std::thread::scope(|s| {
        s.spawn(move || {
            setns(&fd, CloneFlags::CLONE_NEWNET).map_err(|e| Error::Io {
                what: "entering network namespace",
                path: path(name),
                source: e.into(),
            })?;
            Ok(f())
        })
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}
