//! Writing image layers: a tar stream built entry by entry (or from a directory tree),
//! compressed, and hashed twice on the way out — the uncompressed `diff_id` the config lists and
//! the compressed digest the manifest lists — without ever holding the layer in memory.

use crate::compression::{Compression, Encoder};
use crate::digest::HashingWriter;
use oci_spec::image::Digest;
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

/// Owner, permissions and modification time of one layer entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    /// Permission bits, including setuid/setgid/sticky (`0o4755`).
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    /// Seconds since the epoch.
    pub mtime: u64,
}

impl Meta {
    /// Owned by root with `mode` and `mtime`.
    pub fn root(mode: u32, mtime: u64) -> Self {
        Meta {
            mode,
            uid: 0,
            gid: 0,
            mtime,
        }
    }

    /// The same owner and time with other permission bits.
    pub fn with_mode(self, mode: u32) -> Self {
        Meta { mode, ..self }
    }
}

/// How [`LayerWriter::append_tree`] maps files on disk to entries.
#[derive(Debug, Clone, Copy, Default)]
pub struct TreeOptions {
    /// Replace every file's owner with this `(uid, gid)` (e.g. root for a tree staged by a
    /// normal user); `None` keeps the owners on disk.
    pub owner: Option<(u64, u64)>,
    /// Replace every modification time with this one, for reproducible layers.
    pub mtime: Option<u64>,
}

/// Digests of a finished layer's uncompressed tar stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TarDigest {
    /// The `diff_id`: SHA-256 of the uncompressed tar stream.
    pub diff_id: Digest,
    /// Size of the uncompressed tar stream.
    pub size: u64,
}

/// Builds one layer into `W`. Entries are written in the order they are added; paths are
/// relative to the image root (a leading `/` or `./` is dropped, `..` is refused). A writer
/// dropped before [`LayerWriter::finish`] leaves a truncated stream in `W`.
pub struct LayerWriter<W: Write> {
    tar: tar::Builder<HashingWriter<Encoder<W>>>,
    compression: Compression,
}

impl<W: Write> std::fmt::Debug for LayerWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LayerWriter")
            .field("compression", &self.compression)
            .finish_non_exhaustive()
    }
}

impl<W: Write> LayerWriter<W> {
    pub fn new(inner: W, compression: Compression) -> io::Result<Self> {
        let mut tar = tar::Builder::new(HashingWriter::new(Encoder::new(inner, compression)?));
        tar.mode(tar::HeaderMode::Complete);
        tar.follow_symlinks(false);
        Ok(Self { tar, compression })
    }

    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// Adds a directory.
    pub fn dir(&mut self, path: &str, meta: Meta) -> io::Result<()> {
        let mut h = header(tar::EntryType::Directory, meta);
        let path = format!("{}/", clean(path)?);
        self.tar.append_data(&mut h, path, io::empty())
    }

    /// Adds a regular file of `size` bytes read from `content`.
    pub fn file(
        &mut self,
        path: &str,
        meta: Meta,
        size: u64,
        content: impl Read,
    ) -> io::Result<()> {
        let mut h = header(tar::EntryType::Regular, meta);
        h.set_size(size);
        let content = Exact {
            inner: content.take(size),
            remaining: size,
            path,
        };
        self.tar.append_data(&mut h, clean(path)?, content)
    }

    /// Adds a regular file holding `content`.
    pub fn file_bytes(&mut self, path: &str, meta: Meta, content: &[u8]) -> io::Result<()> {
        self.file(path, meta, content.len() as u64, content)
    }

    /// Adds a symbolic link `path` → `target` (kept verbatim, absolute or relative).
    pub fn symlink(&mut self, path: &str, target: &str, meta: Meta) -> io::Result<()> {
        let mut h = header(tar::EntryType::Symlink, meta.with_mode(0o777));
        self.tar.append_link(&mut h, clean(path)?, target)
    }

    /// Adds a hard link `path` to `target`, an earlier entry of this layer.
    pub fn hard_link(&mut self, path: &str, target: &str, meta: Meta) -> io::Result<()> {
        let mut h = header(tar::EntryType::Link, meta);
        self.tar.append_link(&mut h, clean(path)?, clean(target)?)
    }

    /// Adds a character device node.
    pub fn char_device(
        &mut self,
        path: &str,
        major: u32,
        minor: u32,
        meta: Meta,
    ) -> io::Result<()> {
        self.device(tar::EntryType::Char, path, major, minor, meta)
    }

    /// Adds a block device node.
    pub fn block_device(
        &mut self,
        path: &str,
        major: u32,
        minor: u32,
        meta: Meta,
    ) -> io::Result<()> {
        self.device(tar::EntryType::Block, path, major, minor, meta)
    }

    /// Adds a named pipe.
    pub fn fifo(&mut self, path: &str, meta: Meta) -> io::Result<()> {
        let mut h = header(tar::EntryType::Fifo, meta);
        self.tar.append_data(&mut h, clean(path)?, io::empty())
    }

    fn device(
        &mut self,
        kind: tar::EntryType,
        path: &str,
        major: u32,
        minor: u32,
        meta: Meta,
    ) -> io::Result<()> {
        let mut h = header(kind, meta);
        h.set_device_major(major)?;
        h.set_device_minor(minor)?;
        self.tar.append_data(&mut h, clean(path)?, io::empty())
    }

    /// Deletes `path` (a file or a whole directory) of the layers below: an OCI whiteout
    /// `DIR/.wh.NAME`.
    pub fn whiteout(&mut self, path: &str, mtime: u64) -> io::Result<()> {
        let path = clean(path)?;
        let (dir, name) = match path.rsplit_once('/') {
            Some((dir, name)) => (format!("{dir}/"), name),
            None => (String::new(), path.as_str()),
        };
        self.file_bytes(&format!("{dir}.wh.{name}"), Meta::root(0o644, mtime), b"")
    }

    /// Hides everything the layers below hold in directory `dir` (an opaque whiteout
    /// `DIR/.wh..wh..opq`); entries this layer adds to `dir` stay.
    pub fn opaque_dir(&mut self, dir: &str, mtime: u64) -> io::Result<()> {
        let dir = clean(dir)?;
        self.file_bytes(
            &format!("{dir}/.wh..wh..opq"),
            Meta::root(0o644, mtime),
            b"",
        )
    }

    /// Adds the tree under `src` (not `src` itself) below `dest` in the image (`""` for the
    /// root), in sorted name order so the same tree gives the same layer. Regular files with
    /// several links become hard links, device nodes and FIFOs are kept, symlinks are not
    /// followed.
    pub fn append_tree(&mut self, src: &Path, dest: &str, options: TreeOptions) -> io::Result<()> {
        let dest = if dest.trim_matches('/').is_empty() {
            String::new()
        } else {
            clean(dest)?
        };
        let mut links = HashMap::new();
        self.append_children(src, &dest, options, &mut links)
    }

    fn append_children(
        &mut self,
        dir: &Path,
        dest: &str,
        options: TreeOptions,
        links: &mut HashMap<(u64, u64), String>,
    ) -> io::Result<()> {
        let mut entries = std::fs::read_dir(dir)
            .map_err(|e| with_path(e, dir))?
            .collect::<io::Result<Vec<_>>>()
            .map_err(|e| with_path(e, dir))?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let src = entry.path();
            let name = entry.file_name();
            let name = name.to_str().ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: file name is not UTF-8", src.display()),
                )
            })?;
            let path = if dest.is_empty() {
                name.to_owned()
            } else {
                format!("{dest}/{name}")
            };
            let md = std::fs::symlink_metadata(&src).map_err(|e| with_path(e, &src))?;
            let (uid, gid) = options
                .owner
                .unwrap_or((u64::from(md.uid()), u64::from(md.gid())));
            let meta = Meta {
                mode: md.mode() & 0o7777,
                uid,
                gid,
                mtime: options.mtime.unwrap_or(md.mtime().max(0) as u64),
            };
            let ft = md.file_type();
            if ft.is_dir() {
                self.dir(&path, meta)?;
                self.append_children(&src, &path, options, links)?;
            } else if ft.is_symlink() {
                let target = std::fs::read_link(&src).map_err(|e| with_path(e, &src))?;
                let target = target.to_str().ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("{}: link target is not UTF-8", src.display()),
                    )
                })?;
                self.symlink(&path, target, meta)?;
            } else if ft.is_file() {
                if md.nlink() > 1 {
                    if let Some(first) = links.get(&(md.dev(), md.ino())) {
                        let first = first.clone();
                        self.hard_link(&path, &first, meta)?;
                        continue;
                    }
                    links.insert((md.dev(), md.ino()), path.clone());
                }
                let file = std::fs::File::open(&src).map_err(|e| with_path(e, &src))?;
                self.file(&path, meta, md.len(), file)?;
            } else if ft.is_char_device() || ft.is_block_device() {
                let (major, minor) = split_dev(md.rdev());
                if ft.is_char_device() {
                    self.char_device(&path, major, minor, meta)?;
                } else {
                    self.block_device(&path, major, minor, meta)?;
                }
            } else if ft.is_fifo() {
                self.fifo(&path, meta)?;
            } else {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: sockets cannot go into a layer", src.display()),
                ));
            }
        }
        Ok(())
    }

    /// Ends the tar stream and the compression; returns the inner writer and the digests of
    /// the uncompressed stream.
    pub fn finish(self) -> io::Result<(W, TarDigest)> {
        let hashing = self.tar.into_inner()?;
        let (encoder, diff_id, size) = hashing.finish();
        Ok((encoder.finish()?, TarDigest { diff_id, size }))
    }
}

/// Reads exactly `remaining` bytes: a source that ends early (a file truncated while it was
/// read) is an error instead of a corrupt archive.
struct Exact<'a, R> {
    inner: R,
    remaining: u64,
    path: &'a str,
}

impl<R: Read> Read for Exact<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && self.remaining > 0 && !buf.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "{}: {} bytes fewer than announced",
                    self.path, self.remaining
                ),
            ));
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}

fn header(kind: tar::EntryType, meta: Meta) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(meta.mode & 0o7777);
    h.set_uid(meta.uid);
    h.set_gid(meta.gid);
    h.set_mtime(meta.mtime);
    h.set_size(0);
    h
}

/// `path` relative to the image root: no leading `/` or `./`, no `..`, no empty components.
fn clean(path: &str) -> io::Result<String> {
    let mut parts = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("layer path {path:?} must not contain `..`"),
                ));
            }
            p => parts.push(p),
        }
    }
    if parts.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("layer path {path:?} names no file"),
        ));
    }
    Ok(parts.join("/"))
}

fn split_dev(dev: u64) -> (u32, u32) {
    // glibc's gnu_dev_major/gnu_dev_minor.
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    (major as u32, minor as u32)
}

fn with_path(e: io::Error, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(layer: &[u8], c: Compression) -> Vec<(String, tar::EntryType, String, u32)> {
        let mut out = Vec::new();
        let mut archive = tar::Archive::new(c.decoder(layer).unwrap());
        for e in archive.entries().unwrap() {
            let mut e = e.unwrap();
            let path = e.path().unwrap().to_string_lossy().into_owned();
            let kind = e.header().entry_type();
            let link = e
                .link_name()
                .unwrap()
                .map(|l| l.to_string_lossy().into_owned())
                .unwrap_or_default();
            let mode = e.header().mode().unwrap();
            let mut body = String::new();
            e.read_to_string(&mut body).unwrap();
            out.push((path, kind, if link.is_empty() { body } else { link }, mode));
        }
        out
    }

    #[test]
    fn entries_of_every_kind_round_trip() {
        for c in [Compression::None, Compression::Gzip, Compression::Zstd] {
            let mut w = LayerWriter::new(Vec::new(), c).unwrap();
            let m = Meta::root(0o755, 1_700_000_000);
            w.dir("/etc", m).unwrap();
            w.file_bytes("./etc/hostname", m.with_mode(0o644), b"tiny\n")
                .unwrap();
            w.hard_link("etc/hostname.link", "/etc/hostname", m)
                .unwrap();
            w.symlink("var/run", "/run", m).unwrap();
            w.char_device("dev/null", 1, 3, m.with_mode(0o666)).unwrap();
            w.fifo("run/fifo", m.with_mode(0o600)).unwrap();
            w.whiteout("etc/old", 1).unwrap();
            w.opaque_dir("/opt/", 1).unwrap();
            let long = format!("usr/{}/file", "x".repeat(150));
            w.file_bytes(&long, m.with_mode(0o4755), b"suid").unwrap();
            let (bytes, digest) = w.finish().unwrap();

            let mut plain = Vec::new();
            c.decoder(&bytes[..])
                .unwrap()
                .read_to_end(&mut plain)
                .unwrap();
            assert_eq!(digest.size, plain.len() as u64);
            assert_eq!(digest.diff_id, crate::digest::sha256_of(&plain));

            use tar::EntryType as T;
            let got = entries(&bytes, c);
            let expect = [
                ("etc/", T::Directory, "", 0o755),
                ("etc/hostname", T::Regular, "tiny\n", 0o644),
                ("etc/hostname.link", T::Link, "etc/hostname", 0o755),
                ("var/run", T::Symlink, "/run", 0o777),
                ("dev/null", T::Char, "", 0o666),
                ("run/fifo", T::Fifo, "", 0o600),
                ("etc/.wh.old", T::Regular, "", 0o644),
                ("opt/.wh..wh..opq", T::Regular, "", 0o644),
                (long.as_str(), T::Regular, "suid", 0o4755),
            ];
            assert_eq!(got.len(), expect.len(), "{got:?}");
            for (g, e) in got.iter().zip(expect) {
                assert_eq!((g.0.as_str(), g.1, g.2.as_str(), g.3), e, "{c:?}");
            }
        }
    }

    #[test]
    fn a_short_file_is_an_error_not_a_corrupt_layer() {
        let mut w = LayerWriter::new(Vec::new(), Compression::None).unwrap();
        let err = w
            .file("etc/short", Meta::root(0o644, 0), 10, &b"abc"[..])
            .unwrap_err();
        assert!(err.to_string().contains("7 bytes fewer"), "{err}");
    }

    #[test]
    fn parent_paths_are_refused() {
        let mut w = LayerWriter::new(Vec::new(), Compression::None).unwrap();
        let err = w
            .file_bytes("etc/../../x", Meta::root(0o644, 0), b"")
            .unwrap_err();
        assert!(err.to_string().contains("`..`"), "{err}");
        assert!(w.symlink("a", "/b", Meta::root(0, 0)).is_ok());
        assert!(w.dir("/", Meta::root(0o755, 0)).is_err());
    }

    #[test]
    fn a_tree_becomes_sorted_entries_with_hard_links_and_is_reproducible() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("b/sub")).unwrap();
        std::fs::write(root.join("b/sub/data"), b"data").unwrap();
        std::fs::hard_link(root.join("b/sub/data"), root.join("a-link")).unwrap();
        std::os::unix::fs::symlink("b/sub", root.join("c")).unwrap();
        let build = || {
            let mut w = LayerWriter::new(Vec::new(), Compression::Gzip).unwrap();
            let options = TreeOptions {
                owner: Some((0, 0)),
                mtime: Some(42),
            };
            w.append_tree(root, "/", options).unwrap();
            w.finish().unwrap()
        };
        let (bytes, digest) = build();
        assert_eq!(build(), (bytes.clone(), digest), "same tree, same layer");
        use tar::EntryType as T;
        let got: Vec<_> = entries(&bytes, Compression::Gzip)
            .into_iter()
            .map(|(p, k, body, _)| (p, k, body))
            .collect();
        let expect = [
            ("a-link", T::Regular, "data"),
            ("b/", T::Directory, ""),
            ("b/sub/", T::Directory, ""),
            ("b/sub/data", T::Link, "a-link"),
            ("c", T::Symlink, "b/sub"),
        ];
        let got: Vec<_> = got
            .iter()
            .map(|(p, k, b)| (p.as_str(), *k, b.as_str()))
            .collect();
        assert_eq!(got, expect);
    }
}
