//! Unpacks one layer's tar stream into a target root, as it arrives.
//!
//! Every path is resolved inside the root ([`Root`]): an entry whose name contains `..` is
//! refused, symlinks (absolute or relative) in the path are followed the way the installed
//! system will follow them, inside the root, and hard-link targets are resolved the same way.
//! Nothing outside the root is written or removed.
//!
//! A layer that fails half-way leaves the entries written so far in the target (the caller
//! wipes or reformats the target before trying again); no entry outside the target exists.

use std::ffi::OsStr;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use tar::EntryType;

use crate::root::{self, Kind, Root};
use crate::whiteout::{self, LayerEntries, Whiteout};

/// How entries are applied.
#[derive(Debug, Clone)]
pub struct UnpackOptions {
    /// Apply the entries' owners (needs root). When false, files belong to the caller.
    pub same_owner: bool,
}

impl Default for UnpackOptions {
    fn default() -> Self {
        UnpackOptions {
            // SAFETY: geteuid has no preconditions.
            same_owner: unsafe { libc::geteuid() } == 0,
        }
    }
}

/// Totals across the layers unpacked so far.
#[derive(Debug, Clone, Copy, Default)]
pub struct UnpackStats {
    pub entries: u64,
    /// Bytes of regular-file contents written.
    pub bytes: u64,
}

/// Why a layer could not be unpacked.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("layer entry {entry:?} {reason}; refusing to write outside the target root")]
    Escape { entry: String, reason: &'static str },
    #[error(
        "the target filesystem at {root} is full ({}) after {} of file contents, while writing {entry}",
        space_text(*.space), human(*.unpacked)
    )]
    NoSpace {
        root: PathBuf,
        entry: String,
        unpacked: u64,
        space: Option<(u64, u64)>,
    },
    #[error("{op} {entry}")]
    Io {
        op: &'static str,
        entry: String,
        #[source]
        source: io::Error,
    },
    #[error("reading the layer's tar stream")]
    Stream(#[source] io::Error),
    #[error("layer entry {entry:?} has unsupported type {kind:?}")]
    Unsupported { entry: String, kind: EntryType },
}

fn space_text(space: Option<(u64, u64)>) -> String {
    match space {
        Some((free, total)) => format!("{} total, {} free", human(total), human(free)),
        None => "size unknown".into(),
    }
}

/// Bytes as a short human-readable size.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// Normalises an entry name: leading `/` and `.` components dropped; `..` refused.
pub fn normalize(path: &Path) -> Result<PathBuf, &'static str> {
    let mut out = PathBuf::new();
    for comp in path.components() {
        match comp {
            Component::Normal(c) => out.push(c),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir => return Err("contains a `..` component"),
            Component::Prefix(_) => return Err("has a path prefix"),
        }
    }
    Ok(out)
}

/// Unpacks layers one after another into one root, keeping the state a layer needs.
#[derive(Debug)]
pub struct Unpacker<'r> {
    root: &'r Root,
    opts: UnpackOptions,
    stats: UnpackStats,
    buf: Vec<u8>,
}

/// Directories whose mode and times are set once their contents are written.
struct DirFixup {
    path: PathBuf,
    mode: u32,
    mtime: (i64, i64),
}

/// The parent directory last resolved; dropped whenever anything is removed.
struct ParentCache {
    path: PathBuf,
    fd: Option<OwnedFd>,
}

impl<'r> Unpacker<'r> {
    pub fn new(root: &'r Root, opts: UnpackOptions) -> Self {
        Unpacker {
            root,
            opts,
            stats: UnpackStats::default(),
            buf: vec![0; 256 * 1024],
        }
    }

    pub fn stats(&self) -> UnpackStats {
        self.stats
    }

    /// Unpacks one uncompressed tar stream (one layer), whiteouts applied against what the
    /// earlier layers wrote. Reads the stream only up to the end of the archive.
    pub fn unpack_layer<R: Read>(&mut self, tar_stream: R) -> Result<(), UnpackError> {
        let mut archive = tar::Archive::new(tar_stream);
        let mut layer = LayerEntries::default();
        let mut dirs = Vec::new();
        let mut cache = ParentCache {
            path: PathBuf::new(),
            fd: None,
        };
        for entry in archive.entries().map_err(UnpackError::Stream)? {
            let entry = entry.map_err(UnpackError::Stream)?;
            self.entry(entry, &mut layer, &mut dirs, &mut cache)?;
            self.stats.entries += 1;
        }
        for d in dirs.iter().rev() {
            let entry = d.path.display().to_string();
            let fd = match self.root.open_dir(&d.path) {
                Ok(fd) => fd,
                // Replaced or whited out later in the same layer.
                Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR)) => {
                    continue;
                }
                Err(e) => return Err(io_err("opening", &entry, e)),
            };
            root::fchmod(fd.as_fd(), d.mode)
                .map_err(|e| io_err("setting the mode of", &entry, e))?;
            root::set_times(fd.as_fd(), d.mtime)
                .map_err(|e| io_err("setting times of", &entry, e))?;
        }
        Ok(())
    }

    fn parent(
        &self,
        cache: &mut ParentCache,
        path: &Path,
        entry: &str,
    ) -> Result<OwnedFd, UnpackError> {
        if cache.path == path {
            if let Some(fd) = &cache.fd {
                return root::dup(fd.as_fd()).map_err(|e| io_err("opening", entry, e));
            }
        }
        let fd = self
            .root
            .create_dir_all(path)
            .map_err(|e| io_err("creating the parent directory of", entry, e))?;
        cache.path = path.to_path_buf();
        cache.fd = Some(root::dup(fd.as_fd()).map_err(|e| io_err("opening", entry, e))?);
        Ok(fd)
    }

    fn entry<R: Read>(
        &mut self,
        mut entry: tar::Entry<'_, R>,
        layer: &mut LayerEntries,
        dirs: &mut Vec<DirFixup>,
        cache: &mut ParentCache,
    ) -> Result<(), UnpackError> {
        let raw = entry.path().map_err(UnpackError::Stream)?.into_owned();
        let shown = raw.display().to_string();
        let path = normalize(&raw).map_err(|reason| UnpackError::Escape {
            entry: shown.clone(),
            reason,
        })?;
        let kind = entry.header().entry_type();
        if matches!(kind, EntryType::XGlobalHeader | EntryType::XHeader) {
            return Ok(());
        }
        let Some(name) = path.file_name().map(OsStr::to_os_string) else {
            // The root itself (`./`): its mode and owner belong to the target, keep them.
            return Ok(());
        };
        let parent_path = path.parent().unwrap_or(Path::new("")).to_path_buf();

        match whiteout::classify(&name) {
            Whiteout::Opaque => {
                let dir = match self.root.open_dir(&parent_path) {
                    Ok(d) => d,
                    // Nothing below to hide.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
                    Err(e) => return Err(io_err("opening the directory of whiteout", &shown, e)),
                };
                cache.fd = None;
                return whiteout::opaque(dir.as_fd(), &parent_path, layer)
                    .map_err(|e| io_err("applying the opaque whiteout", &shown, e));
            }
            Whiteout::Remove(target) => {
                let dir = match self.root.open_dir(&parent_path) {
                    Ok(d) => d,
                    // Nothing below to hide.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
                    Err(e) => return Err(io_err("opening the directory of whiteout", &shown, e)),
                };
                cache.fd = None;
                return whiteout::remove(dir.as_fd(), &parent_path, target, layer)
                    .map_err(|e| io_err("applying the whiteout", &shown, e));
            }
            Whiteout::None => {}
        }

        let header = entry.header();
        let mode = header.mode().map_err(UnpackError::Stream)? & 0o7777;
        let old = header.as_old();
        let uid = empty_is_zero(header.uid(), &old.uid)? as u32;
        let gid = empty_is_zero(header.gid(), &old.gid)? as u32;
        let mut mtime = (empty_is_zero(header.mtime(), &old.mtime)? as i64, 0);
        let (major, minor) = (
            header.device_major().ok().flatten().unwrap_or(0),
            header.device_minor().ok().flatten().unwrap_or(0),
        );
        let link = entry
            .link_name()
            .map_err(UnpackError::Stream)?
            .map(|l| l.into_owned());

        let mut xattrs = Vec::new();
        if let Some(exts) = entry.pax_extensions().map_err(UnpackError::Stream)? {
            for ext in exts {
                let ext = ext.map_err(UnpackError::Stream)?;
                let Ok(key) = ext.key() else { continue };
                if let Some(x) = key.strip_prefix("SCHILY.xattr.") {
                    xattrs.push((x.to_string(), ext.value_bytes().to_vec()));
                } else if key == "mtime" {
                    if let Some(t) = ext.value().ok().and_then(parse_pax_time) {
                        mtime = t;
                    }
                }
            }
        }

        let dir = self.parent(cache, &parent_path, &shown)?;
        let dir = dir.as_fd();
        let existing = root::kind(dir, &name).map_err(|e| io_err("inspecting", &shown, e))?;
        let is_dir = kind == EntryType::Directory;
        if existing != Kind::Missing && !(is_dir && existing == Kind::Dir) {
            cache.fd = None;
            root::remove_all(dir, &name).map_err(|e| io_err("replacing", &shown, e))?;
        }
        layer.record(&path);

        match kind {
            EntryType::Directory => {
                if existing != Kind::Dir {
                    root::mkdirat(dir, &name, 0o700)
                        .map_err(|e| io_err("creating directory", &shown, e))?;
                }
                let fd = root::open_subdir(dir, &name).map_err(|e| io_err("opening", &shown, e))?;
                self.owner_fd(&fd, uid, gid, &shown)?;
                self.xattrs_fd(&fd, &xattrs, &shown, false)?;
                dirs.push(DirFixup { path, mode, mtime });
            }
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                let mut file =
                    root::create_file(dir, &name).map_err(|e| io_err("creating", &shown, e))?;
                self.copy(&mut entry, &mut file, &shown)?;
                let fd = OwnedFd::from(file);
                self.owner_fd(&fd, uid, gid, &shown)?;
                root::fchmod(fd.as_fd(), mode)
                    .map_err(|e| io_err("setting the mode of", &shown, e))?;
                // After chown: the kernel drops security.capability on an owner change.
                self.xattrs_fd(&fd, &xattrs, &shown, false)?;
                root::set_times(fd.as_fd(), mtime)
                    .map_err(|e| io_err("setting times of", &shown, e))?;
            }
            EntryType::Symlink => {
                let target = link.ok_or_else(|| missing_link(&shown))?;
                root::symlinkat(target.as_os_str(), dir, &name)
                    .map_err(|e| io_err("creating symlink", &shown, e))?;
                if self.opts.same_owner {
                    root::chown_at(dir, &name, uid, gid)
                        .map_err(|e| io_err("changing the owner of", &shown, e))?;
                }
                self.xattrs_path(dir, &name, &xattrs, &shown)?;
                root::set_times_at(dir, &name, mtime)
                    .map_err(|e| io_err("setting times of", &shown, e))?;
            }
            EntryType::Link => {
                let target = link.ok_or_else(|| missing_link(&shown))?;
                self.hard_link(&target, dir, &name, &shown)?;
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                let ftype = match kind {
                    EntryType::Char => libc::S_IFCHR,
                    EntryType::Block => libc::S_IFBLK,
                    _ => libc::S_IFIFO,
                };
                root::mknodat(dir, &name, ftype | (mode & 0o777), major, minor)
                    .map_err(|e| io_err("creating device node or FIFO", &shown, e))?;
                if self.opts.same_owner {
                    root::chown_at(dir, &name, uid, gid)
                        .map_err(|e| io_err("changing the owner of", &shown, e))?;
                }
                root::chmod_at(dir, &name, mode)
                    .map_err(|e| io_err("setting the mode of", &shown, e))?;
                self.xattrs_path(dir, &name, &xattrs, &shown)?;
                root::set_times_at(dir, &name, mtime)
                    .map_err(|e| io_err("setting times of", &shown, e))?;
            }
            other => {
                return Err(UnpackError::Unsupported {
                    entry: shown,
                    kind: other,
                });
            }
        }
        Ok(())
    }

    fn hard_link(
        &mut self,
        target: &Path,
        dir: std::os::fd::BorrowedFd<'_>,
        name: &OsStr,
        shown: &str,
    ) -> Result<(), UnpackError> {
        let target = normalize(target).map_err(|reason| UnpackError::Escape {
            entry: shown.to_string(),
            reason: if reason.contains("..") {
                "is a hard link whose target contains a `..` component"
            } else {
                reason
            },
        })?;
        let Some(src_name) = target.file_name() else {
            return Err(UnpackError::Escape {
                entry: shown.to_string(),
                reason: "is a hard link to the root directory",
            });
        };
        let src_dir = self
            .root
            .open_dir(target.parent().unwrap_or(Path::new("")))
            .map_err(|e| io_err("resolving the hard-link target of", shown, e))?;
        root::linkat(src_dir.as_fd(), src_name, dir, name).map_err(|e| {
            io_err(
                "creating hard link",
                &format!("{shown} -> {}", target.display()),
                e,
            )
        })
    }

    fn copy(
        &mut self,
        from: &mut impl Read,
        to: &mut std::fs::File,
        shown: &str,
    ) -> Result<(), UnpackError> {
        loop {
            let n = match from.read(&mut self.buf) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(UnpackError::Stream(e)),
            };
            if let Err(e) = to.write_all(&self.buf[..n]) {
                return Err(self.write_error(e, shown));
            }
            self.stats.bytes += n as u64;
        }
    }

    fn write_error(&self, e: io::Error, shown: &str) -> UnpackError {
        if matches!(e.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT)) {
            UnpackError::NoSpace {
                root: self.root.path().to_path_buf(),
                entry: shown.to_string(),
                unpacked: self.stats.bytes,
                space: self.root.space(),
            }
        } else {
            io_err("writing", shown, e)
        }
    }

    fn owner_fd(&self, fd: &OwnedFd, uid: u32, gid: u32, shown: &str) -> Result<(), UnpackError> {
        if self.opts.same_owner {
            root::fchown(fd.as_fd(), uid, gid)
                .map_err(|e| io_err("changing the owner of", shown, e))?;
        }
        Ok(())
    }

    fn xattrs_fd(
        &self,
        fd: &OwnedFd,
        xattrs: &[(String, Vec<u8>)],
        shown: &str,
        via_path: bool,
    ) -> Result<(), UnpackError> {
        for (key, value) in xattrs {
            let res = if via_path {
                root::setxattr_path_fd(fd.as_fd(), key, value)
            } else {
                root::fsetxattr(fd.as_fd(), key, value)
            };
            if let Err(e) = res {
                xattr_error(e, key, shown)?;
            }
        }
        Ok(())
    }

    fn xattrs_path(
        &self,
        dir: std::os::fd::BorrowedFd<'_>,
        name: &OsStr,
        xattrs: &[(String, Vec<u8>)],
        shown: &str,
    ) -> Result<(), UnpackError> {
        if xattrs.is_empty() {
            return Ok(());
        }
        let fd = root::open_path(dir, name).map_err(|e| io_err("opening", shown, e))?;
        self.xattrs_fd(&fd, xattrs, shown, true)
    }
}

/// A `user.*` attribute the target filesystem cannot store is dropped with a warning; losing
/// `security.*` (capabilities, SELinux labels) would break the installed system, so it fails.
fn xattr_error(e: io::Error, key: &str, shown: &str) -> Result<(), UnpackError> {
    let unsupported = matches!(e.raw_os_error(), Some(libc::EOPNOTSUPP) | Some(libc::EPERM));
    if unsupported && key.starts_with("user.") {
        tracing::warn!(
            entry = shown,
            key,
            "target filesystem does not store this xattr; dropped"
        );
        return Ok(());
    }
    Err(UnpackError::Io {
        op: "setting extended attribute",
        entry: format!("{key} on {shown}"),
        source: e,
    })
}

fn missing_link(shown: &str) -> UnpackError {
    UnpackError::Io {
        op: "reading the link target of",
        entry: shown.to_string(),
        source: io::Error::new(io::ErrorKind::InvalidData, "link entry without a target"),
    }
}

fn io_err(op: &'static str, entry: &str, source: io::Error) -> UnpackError {
    UnpackError::Io {
        op,
        entry: entry.to_string(),
        source,
    }
}

/// A numeric header field left empty (some writers do) reads as 0, as GNU tar reads it.
fn empty_is_zero(value: io::Result<u64>, raw: &[u8]) -> Result<u64, UnpackError> {
    match value {
        Ok(v) => Ok(v),
        Err(_) if raw.iter().all(|&b| b == 0 || b == b' ') => Ok(0),
        Err(e) => Err(UnpackError::Stream(e)),
    }
}

/// Parses a pax time (`1700000000.123456789`, possibly negative) into seconds and nanoseconds.
fn parse_pax_time(v: &str) -> Option<(i64, i64)> {
    let (secs, frac) = v.split_once('.').unwrap_or((v, ""));
    let secs: i64 = secs.parse().ok()?;
    let digits: String = frac.chars().take(9).collect();
    if !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let nanos = if digits.is_empty() {
        0
    } else {
        format!("{digits:0<9}").parse().ok()?
    };
    Some((secs, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_entry_names() {
        assert_eq!(
            normalize(Path::new("./usr/bin/")).unwrap(),
            Path::new("usr/bin")
        );
        assert_eq!(
            normalize(Path::new("/etc/passwd")).unwrap(),
            Path::new("etc/passwd")
        );
        assert!(normalize(Path::new("../../etc/passwd")).is_err());
        assert!(normalize(Path::new("usr/../../x")).is_err());
    }

    #[test]
    fn parses_pax_times() {
        assert_eq!(
            parse_pax_time("1700000000.5"),
            Some((1_700_000_000, 500_000_000))
        );
        assert_eq!(parse_pax_time("12"), Some((12, 0)));
        assert_eq!(parse_pax_time("x"), None);
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human(512), "512 B");
        assert_eq!(human(3 * 1024 * 1024 * 1024), "3.0 GiB");
    }
}
