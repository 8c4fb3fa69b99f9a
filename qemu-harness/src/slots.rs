//! A limit on how many VMs run at once on this machine, across test threads and processes.
//!
//! Each VM holds one of `KICKSTAND_VM_SLOTS` slots (default: one per two CPUs, at least one) for
//! its lifetime: an exclusive `flock` on `<cache>/vm-slots/N.lock`. The kernel drops the lock
//! when the holder dies, so a crashed test never blocks the others. A thread that already holds
//! a slot shares it with its further VMs, so a test booting two VMs at once cannot deadlock.

use crate::cache::{self, Lock};
use crate::error::Result;
use std::cell::RefCell;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

thread_local! {
    static HELD: RefCell<Option<Weak<Lock>>> = const { RefCell::new(None) };
}

/// A held VM slot; released when the last VM sharing it is dropped.
#[derive(Debug, Clone)]
pub struct Slot {
    _lock: Arc<Lock>,
}

/// How many VMs may run at once.
pub fn count() -> usize {
    std::env::var("KICKSTAND_VM_SLOTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| {
            let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
            (cpus / 2).max(1)
        })
}

/// Waits for a free slot (or shares the one this thread holds).
pub fn acquire(vm: &str) -> Result<Slot> {
    if let Some(lock) = HELD.with(|h| h.borrow().as_ref().and_then(Weak::upgrade)) {
        return Ok(Slot { _lock: lock });
    }
    let dir = cache::dir()?.join("vm-slots");
    std::fs::create_dir_all(&dir).map_err(crate::Error::io("creating", &dir))?;
    let n = count();
    let start = Instant::now();
    let mut next_note = Duration::from_secs(30);
    loop {
        for i in 0..n {
            if let Some(lock) = cache::try_lock(&dir.join(format!("{i}.lock")))? {
                if start.elapsed() > Duration::from_secs(1) {
                    eprintln!(
                        "qemu-harness: {vm}: got VM slot {i} after {:.0?}",
                        start.elapsed()
                    );
                }
                let lock = Arc::new(lock);
                HELD.with(|h| *h.borrow_mut() = Some(Arc::downgrade(&lock)));
                return Ok(Slot { _lock: lock });
            }
        }
        if start.elapsed() > next_note {
            eprintln!(
                "qemu-harness: {vm}: waiting for one of {n} VM slots (KICKSTAND_VM_SLOTS) \
                 for {:.0?}",
                start.elapsed()
            );
            next_note += Duration::from_secs(30);
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}
