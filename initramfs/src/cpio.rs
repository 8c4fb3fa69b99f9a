//! A deterministic cpio "newc" (SVR4, no CRC) writer, the format the kernel unpacks into its
//! initial rootfs.
//!
//! Entries are collected first and written sorted by path, with every parent directory emitted
//! before its children, uid/gid 0, one fixed mtime (SOURCE_DATE_EPOCH) and inode numbers given
//! in path order, so the same inputs always give the same bytes. File contents are streamed
//! from disk at write time, never held in memory.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// Errors while collecting entries.
#[derive(Debug, thiserror::Error)]
pub enum CpioError {
    #[error("archive path {0:?} is not a normal relative path (no `..`, no empty components)")]
    BadPath(String),
    #[error(
        "cannot add {path:?}: its parent {parent:?} is already in the archive as a non-directory"
    )]
    ParentNotDir { path: String, parent: String },
    #[error("{path:?} is already in the archive with different contents ({existing})")]
    Conflict {
        path: String,
        existing: &'static str,
    },
    #[error("hard link {path:?} points at {target:?}, which is not a regular file in the archive")]
    BadLinkTarget { path: String, target: String },
    #[error("reading {path}")]
    Source {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Where a regular file's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Bytes(Vec<u8>),
    /// A host file, read (following symlinks) when the archive is written.
    File(PathBuf),
}

/// What an entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Dir,
    File {
        source: Source,
        size: u64,
    },
    Symlink(String),
    CharDev {
        major: u32,
        minor: u32,
    },
    BlockDev {
        major: u32,
        minor: u32,
    },
    /// Another name for the regular file at the given archive path.
    HardLink(String),
}

impl Node {
    fn kind(&self) -> &'static str {
        match self {
            Node::Dir => "a directory",
            Node::File { .. } => "a regular file",
            Node::Symlink(_) => "a symlink",
            Node::CharDev { .. } => "a character device",
            Node::BlockDev { .. } => "a block device",
            Node::HardLink(_) => "a hard link",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    perm: u32,
    node: Node,
}

/// The set of entries of an archive, kept sorted by path.
#[derive(Debug, Default)]
pub struct Archive {
    entries: BTreeMap<String, Entry>,
}

const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;
const S_IFCHR: u32 = 0o020000;
const S_IFBLK: u32 = 0o060000;

/// Normalises an archive path: no leading `/`, no `.`/`..`/empty components.
pub fn normalize(path: &str) -> Result<String, CpioError> {
    let trimmed = path.trim_start_matches('/');
    let parts: Vec<&str> = trimmed.split('/').filter(|p| !p.is_empty()).collect();
    if parts.is_empty() || parts.iter().any(|p| *p == "." || *p == "..") || path.contains('\0') {
        return Err(CpioError::BadPath(path.to_string()));
    }
    Ok(parts.join("/"))
}

impl Archive {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a directory (and its parents). Adding an existing directory again is a no-op.
    pub fn add_dir(&mut self, path: &str, perm: u32) -> Result<(), CpioError> {
        self.insert(path, perm, Node::Dir)
    }

    /// Adds a regular file with in-memory contents.
    pub fn add_bytes(&mut self, path: &str, perm: u32, bytes: Vec<u8>) -> Result<(), CpioError> {
        let size = bytes.len() as u64;
        self.insert(
            path,
            perm,
            Node::File {
                source: Source::Bytes(bytes),
                size,
            },
        )
    }

    /// Adds a regular file whose contents are read from `host` when the archive is written.
    /// Returns the file's size.
    pub fn add_file(&mut self, path: &str, perm: u32, host: &Path) -> Result<u64, CpioError> {
        let meta = std::fs::metadata(host).map_err(|source| CpioError::Source {
            path: host.to_path_buf(),
            source,
        })?;
        if !meta.is_file() {
            return Err(CpioError::Source {
                path: host.to_path_buf(),
                source: io::Error::other("not a regular file"),
            });
        }
        let size = meta.len();
        let node = Node::File {
            source: Source::File(host.to_path_buf()),
            size,
        };
        self.insert(path, perm, node)?;
        Ok(size)
    }

    pub fn add_symlink(&mut self, path: &str, target: &str) -> Result<(), CpioError> {
        self.insert(path, 0o777, Node::Symlink(target.to_string()))
    }

    pub fn add_char_dev(
        &mut self,
        path: &str,
        perm: u32,
        major: u32,
        minor: u32,
    ) -> Result<(), CpioError> {
        self.insert(path, perm, Node::CharDev { major, minor })
    }

    pub fn add_block_dev(
        &mut self,
        path: &str,
        perm: u32,
        major: u32,
        minor: u32,
    ) -> Result<(), CpioError> {
        self.insert(path, perm, Node::BlockDev { major, minor })
    }

    /// Adds `path` as a hard link to the regular file already added at `target`.
    pub fn add_hard_link(&mut self, path: &str, target: &str) -> Result<(), CpioError> {
        let target = normalize(target)?;
        match self.entries.get(&target) {
            Some(Entry {
                node: Node::File { .. },
                perm,
            }) => {
                let perm = *perm;
                self.insert(path, perm, Node::HardLink(target))
            }
            _ => Err(CpioError::BadLinkTarget {
                path: path.to_string(),
                target,
            }),
        }
    }

    /// Whether `path` is in the archive.
    pub fn contains(&self, path: &str) -> bool {
        normalize(path).is_ok_and(|p| self.entries.contains_key(&p))
    }

    /// Number of entries (directories included).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Total size of the regular files' contents.
    pub fn content_size(&self) -> u64 {
        self.entries
            .values()
            .map(|e| match e.node {
                Node::File { size, .. } => size,
                _ => 0,
            })
            .sum()
    }

    fn insert(&mut self, path: &str, perm: u32, node: Node) -> Result<(), CpioError> {
        let path = normalize(path)?;
        // Parents first: each must be a directory (created 0755 when missing).
        let mut end = 0;
        while let Some(i) = path[end..].find('/') {
            let parent = &path[..end + i];
            match self.entries.get(parent) {
                None => {
                    self.entries.insert(
                        parent.to_string(),
                        Entry {
                            perm: 0o755,
                            node: Node::Dir,
                        },
                    );
                }
                Some(Entry {
                    node: Node::Dir, ..
                }) => {}
                Some(_) => {
                    return Err(CpioError::ParentNotDir {
                        path: path.clone(),
                        parent: parent.to_string(),
                    });
                }
            }
            end += i + 1;
        }
        let entry = Entry {
            perm: perm & 0o7777,
            node,
        };
        match self.entries.get(&path) {
            None => {
                self.entries.insert(path, entry);
                Ok(())
            }
            // Same entry again (a library two tools need, a directory): fine.
            Some(existing) if *existing == entry => Ok(()),
            Some(Entry {
                node: Node::Dir, ..
            }) if entry.node == Node::Dir => Ok(()),
            Some(existing) => Err(CpioError::Conflict {
                path,
                existing: existing.node.kind(),
            }),
        }
    }

    /// Writes the archive (entries sorted, then the trailer) to `out`, every entry with
    /// `mtime`. Returns the number of bytes written. A failure leaves a truncated archive in
    /// `out`; callers write to a temporary file and rename it on success.
    pub fn write_to<W: Write>(&self, out: W, mtime: u64) -> io::Result<u64> {
        let mut w = CountingWriter {
            inner: out,
            count: 0,
        };
        // Inode numbers in path order; a hard link shares its target's inode.
        let mut inodes: BTreeMap<&str, u32> = BTreeMap::new();
        let mut next_ino = 1u32;
        for (path, e) in &self.entries {
            if !matches!(e.node, Node::HardLink(_)) {
                inodes.insert(path, next_ino);
                next_ino += 1;
            }
        }
        // Hard link groups: target path -> every name (target included), in path order. The
        // data goes with the last name written (what GNU cpio does; the kernel accepts it).
        let mut groups: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (path, e) in &self.entries {
            if let Node::HardLink(target) = &e.node {
                groups
                    .entry(target.as_str())
                    .or_insert_with(|| vec![target.as_str()])
                    .push(path);
            }
        }
        for names in groups.values_mut() {
            names.sort_unstable();
        }
        for (path, e) in &self.entries {
            let (group_target, ino) = match &e.node {
                Node::HardLink(t) => (Some(t.as_str()), inodes[t.as_str()]),
                _ if groups.contains_key(path.as_str()) => {
                    (Some(path.as_str()), inodes[path.as_str()])
                }
                _ => (None, inodes[path.as_str()]),
            };
            let group = group_target.map(|t| &groups[t]);
            let nlink = match (&e.node, group) {
                (_, Some(g)) => g.len() as u32,
                (Node::Dir, None) => 2,
                _ => 1,
            };
            let carries_data = group.is_none_or(|g| g.last() == Some(&path.as_str()));
            let (mode, rdev, body): (u32, (u32, u32), Body) = match &e.node {
                Node::Dir => (S_IFDIR | e.perm, (0, 0), Body::None),
                Node::File { source, size } => (
                    S_IFREG | e.perm,
                    (0, 0),
                    if carries_data {
                        Body::Source(source, *size)
                    } else {
                        Body::None
                    },
                ),
                Node::HardLink(t) => {
                    let Entry {
                        node: Node::File { source, size },
                        ..
                    } = &self.entries[t]
                    else {
                        unreachable!("add_hard_link only links regular files")
                    };
                    (
                        S_IFREG | e.perm,
                        (0, 0),
                        if carries_data {
                            Body::Source(source, *size)
                        } else {
                            Body::None
                        },
                    )
                }
                Node::Symlink(target) => (S_IFLNK | 0o777, (0, 0), Body::Bytes(target.as_bytes())),
                Node::CharDev { major, minor } => (S_IFCHR | e.perm, (*major, *minor), Body::None),
                Node::BlockDev { major, minor } => (S_IFBLK | e.perm, (*major, *minor), Body::None),
            };
            let size = match body {
                Body::None => 0,
                Body::Bytes(b) => b.len() as u64,
                Body::Source(_, size) => size,
            };
            let header = Header {
                ino,
                mode,
                nlink,
                mtime,
                size,
                rdev,
                name: path,
            };
            header.write(&mut w)?;
            match body {
                Body::None => {}
                Body::Bytes(b) => w.write_all(b)?,
                Body::Source(Source::Bytes(b), _) => w.write_all(b)?,
                Body::Source(Source::File(host), size) => copy_exact(host, size, &mut w)?,
            }
            pad4(&mut w)?;
        }
        Header {
            ino: 0,
            mode: 0,
            nlink: 1,
            mtime: 0,
            size: 0,
            rdev: (0, 0),
            name: "TRAILER!!!",
        }
        .write(&mut w)?;
        w.flush()?;
        Ok(w.count)
    }
}

enum Body<'a> {
    None,
    Bytes(&'a [u8]),
    Source(&'a Source, u64),
}

struct Header<'a> {
    ino: u32,
    mode: u32,
    nlink: u32,
    mtime: u64,
    size: u64,
    rdev: (u32, u32),
    name: &'a str,
}

impl Header<'_> {
    fn write<W: Write>(&self, w: &mut CountingWriter<W>) -> io::Result<()> {
        let too_big = |what: &str| {
            io::Error::other(format!(
                "{}: {what} does not fit cpio newc's 32 bits",
                self.name
            ))
        };
        let size = u32::try_from(self.size).map_err(|_| too_big("file size"))?;
        let mtime = u32::try_from(self.mtime).map_err(|_| too_big("mtime"))?;
        let namesize = self.name.len() as u32 + 1;
        let header = format!(
            "070701{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}",
            self.ino,
            self.mode,
            0,
            0,
            self.nlink,
            mtime,
            size,
            0,
            0,
            self.rdev.0,
            self.rdev.1,
            namesize,
            0
        );
        w.write_all(header.as_bytes())?;
        w.write_all(self.name.as_bytes())?;
        w.write_all(&[0])?;
        pad4(w)
    }
}

fn pad4<W: Write>(w: &mut CountingWriter<W>) -> io::Result<()> {
    let pad = (4 - (w.count % 4) as usize) % 4;
    w.write_all(&[0u8; 3][..pad])
}

/// Streams exactly `size` bytes of `host` into `w`; a file that changed size since it was added
/// is an error (the header already promised `size` bytes).
fn copy_exact<W: Write>(host: &Path, size: u64, w: &mut W) -> io::Result<()> {
    let with_path = |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", host.display()));
    let file = File::open(host).map_err(with_path)?;
    let copied = io::copy(&mut file.take(size), w).map_err(with_path)?;
    if copied != size {
        return Err(io::Error::other(format!(
            "{} shrank from {size} to {copied} bytes while the archive was written",
            host.display()
        )));
    }
    Ok(())
}

/// Counts the bytes written through it.
#[derive(Debug)]
pub struct CountingWriter<W> {
    pub inner: W,
    pub count: u64,
}

impl<W: Write> Write for CountingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests;
