//! OCI whiteouts: `.wh.NAME` deletes NAME from the layers below, `.wh..wh..opq` hides every
//! lower entry of its directory. Both only ever remove inside a directory that was resolved
//! inside the target root; symlinks found there are removed, never followed.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::io;
use std::os::fd::BorrowedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::root;

/// The prefix of a whiteout file name.
pub const PREFIX: &str = ".wh.";
/// The name of an opaque-directory marker.
pub const OPAQUE: &str = ".wh..wh..opq";

/// What a tar entry's file name means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Whiteout<'a> {
    /// A normal entry.
    None,
    /// Remove the named sibling from the lower layers.
    Remove(&'a OsStr),
    /// Hide every lower entry of this directory.
    Opaque,
}

/// Classifies an entry's final file name.
pub fn classify(name: &OsStr) -> Whiteout<'_> {
    let bytes = name.as_bytes();
    if bytes == OPAQUE.as_bytes() {
        Whiteout::Opaque
    } else if let Some(rest) = bytes.strip_prefix(PREFIX.as_bytes()) {
        Whiteout::Remove(OsStr::from_bytes(rest))
    } else {
        Whiteout::None
    }
}

/// Entries the current layer created; whiteouts never remove them (the OCI spec lets a layer
/// put its own entries before or after its whiteouts).
#[derive(Debug, Default)]
pub struct LayerEntries {
    created: HashSet<PathBuf>,
}

impl LayerEntries {
    pub fn record(&mut self, path: &Path) {
        self.created.insert(path.to_path_buf());
    }

    pub fn contains(&self, path: &Path) -> bool {
        self.created.contains(path)
    }
}

/// Applies `.wh.NAME` found in directory `dir` (at `dir_path` in the root): removes NAME and
/// everything below it, unless this layer created it.
pub fn remove(
    dir: BorrowedFd<'_>,
    dir_path: &Path,
    name: &OsStr,
    layer: &LayerEntries,
) -> io::Result<()> {
    if layer.contains(&dir_path.join(name)) {
        return Ok(());
    }
    root::remove_all(dir, name)
}

/// Applies an opaque marker in directory `dir` (at `dir_path`): removes every child this layer
/// did not create.
pub fn opaque(dir: BorrowedFd<'_>, dir_path: &Path, layer: &LayerEntries) -> io::Result<()> {
    for child in root::list(dir)? {
        if !layer.contains(&dir_path.join(&child)) {
            root::remove_all(dir, &child)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_names() {
        assert_eq!(classify(OsStr::new("passwd")), Whiteout::None);
        assert_eq!(
            classify(OsStr::new(".wh.passwd")),
            Whiteout::Remove(OsStr::new("passwd"))
        );
        assert_eq!(classify(OsStr::new(".wh..wh..opq")), Whiteout::Opaque);
        assert_eq!(classify(OsStr::new(".whatever")), Whiteout::None);
    }
}
