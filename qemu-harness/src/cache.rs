//! The asset cache: a directory outside the clone (`KICKSTAND_CACHE`, else
//! `~/.cache/kickstand`), with one subdirectory per asset keyed by its inputs.
//!
//! An entry is built in a temporary sibling directory and renamed into place, under an
//! exclusive lock file, so concurrent test processes build it once and never see half an entry.
//! A crash while building leaves only a `.tmp-*` directory, removed by the next builder.

use crate::error::{Error, Result};
use nix::fcntl::{Flock, FlockArg};
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

/// The cache root, created if missing.
pub fn dir() -> Result<PathBuf> {
    let dir = match std::env::var_os("KICKSTAND_CACHE") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => {
            let home = std::env::var_os("HOME").ok_or_else(|| {
                Error::Asset("neither KICKSTAND_CACHE nor HOME is set: no cache directory".into())
            })?;
            PathBuf::from(home).join(".cache").join("kickstand")
        }
    };
    std::fs::create_dir_all(&dir).map_err(Error::io("creating the cache directory", &dir))?;
    Ok(dir)
}

/// An exclusive `flock` on a file, released on drop.
#[derive(Debug)]
pub struct Lock {
    _lock: Flock<File>,
}

/// Waits for the exclusive lock on `path` (created if missing).
pub fn lock(path: &Path) -> Result<Lock> {
    let file = open_lock_file(path)?;
    let lock = Flock::lock(file, FlockArg::LockExclusive)
        .map_err(|(_, errno)| Error::io("locking", path)(errno.into()))?;
    Ok(Lock { _lock: lock })
}

/// Takes the exclusive lock on `path` if nobody holds it.
pub fn try_lock(path: &Path) -> Result<Option<Lock>> {
    let file = open_lock_file(path)?;
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => Ok(Some(Lock { _lock: lock })),
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => Ok(None),
        Err((_, errno)) => Err(Error::io("locking", path)(errno.into())),
    }
}

fn open_lock_file(path: &Path) -> Result<File> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(Error::io("opening lock file", path))
}

/// Returns `<cache>/<kind>/<key>`, building it with `build` first if it does not exist yet.
///
/// `build` receives an empty directory to fill; when it succeeds the directory is renamed to its
/// final name, when it fails the directory is removed and the error returned.
pub fn entry(kind: &str, key: &str, build: impl FnOnce(&Path) -> Result<()>) -> Result<PathBuf> {
    entry_in(&dir()?, kind, key, build)
}

/// [`entry`] under an explicit cache root.
pub fn entry_in(
    root: &Path,
    kind: &str,
    key: &str,
    build: impl FnOnce(&Path) -> Result<()>,
) -> Result<PathBuf> {
    let parent = root.join(kind);
    std::fs::create_dir_all(&parent).map_err(Error::io("creating cache directory", &parent))?;
    let path = parent.join(key);
    if path.is_dir() {
        return Ok(path);
    }
    let _lock = lock(&parent.join(".lock"))?;
    if path.is_dir() {
        // Another process built it while we waited.
        return Ok(path);
    }
    remove_stale_tmp(&parent);
    let tmp = parent.join(format!(".tmp-{key}-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).map_err(Error::io("creating cache directory", &tmp))?;
    if let Err(e) = build(&tmp) {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, &path).map_err(Error::io("publishing cache entry", &path))?;
    Ok(path)
}

/// Removes half-built entries of earlier, crashed builders (we hold the lock, so none is live).
fn remove_stale_tmp(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(".tmp-") {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_is_built_once_and_failures_leave_nothing() {
        let root = tempfile::tempdir().unwrap();
        let err = entry_in(root.path(), "thing", "k1", |_| {
            Err(Error::Asset("no".into()))
        });
        assert!(err.is_err());
        assert!(!root.path().join("thing/k1").exists());
        let mut builds = 0;
        for _ in 0..2 {
            let p = entry_in(root.path(), "thing", "k1", |d| {
                builds += 1;
                std::fs::write(d.join("f"), "x").map_err(Error::io("write", d))
            })
            .unwrap();
            assert_eq!(std::fs::read_to_string(p.join("f")).unwrap(), "x");
        }
        assert_eq!(builds, 1);
        let names: Vec<_> = std::fs::read_dir(root.path().join("thing"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(names.iter().all(|n| !n.starts_with(".tmp-")), "{names:?}");
    }
}
