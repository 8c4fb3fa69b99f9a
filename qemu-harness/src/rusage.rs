//! Peak memory of a child process, for the benchmarks: `wait4` reports the child's
//! `ru_maxrss`, which Linux computes as the largest resident set of the child and of the
//! descendants it waited for (the tools an installer runs count too).

use std::process::{Child, ExitStatus};

/// How a waited-for child ended and its peak resident set.
#[derive(Debug, Clone, Copy)]
pub struct Finished {
    pub status: ExitStatus,
    /// Peak RSS in KiB (`ru_maxrss`).
    pub max_rss_kib: u64,
}

impl Finished {
    /// Peak RSS in MiB.
    pub fn max_rss_mib(&self) -> f64 {
        self.max_rss_kib as f64 / 1024.0
    }
}

/// Waits for `child` with `wait4`, which also returns its resource usage. `child` must not
/// have been waited for already.
pub fn wait(child: Child) -> std::io::Result<Finished> {
    use std::os::unix::process::ExitStatusExt;
    let pid = child.id() as libc::pid_t;
    // The child is reaped here, not by `Child::wait`, so dropping `child` leaves no zombie.
    drop(child);
    let mut status = 0;
    // SAFETY: plain data, filled by wait4.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `pid` is our unreaped child; both pointers are valid for the call.
        let ret = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if ret == pid {
            break;
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
    Ok(Finished {
        status: ExitStatus::from_raw(status),
        max_rss_kib: usage.ru_maxrss.max(0) as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_the_exit_status_and_a_peak_rss() {
        let child = std::process::Command::new("sh")
            .args(["-c", "exit 3"])
            .spawn()
            .unwrap();
        let done = wait(child).unwrap();
        assert_eq!(done.status.code(), Some(3));
        assert!(done.max_rss_kib > 0);
    }
}
