//! Unpacking an image layout into a directory, for tests that assemble disks by hand (the
//! installer has its own, confined and streaming unpacker; this one only unpacks images built
//! here). OCI whiteouts and opaque directories are applied layer by layer; device nodes,
//! FIFOs, hard links, ownership and modes are kept (ownership and device nodes need root).

use super::{Error, Result, oci_error};
use kickstand_oci::Layout;
use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};

/// Unpacks the image `tag` of the layout in `layout_dir` into `root` (created if missing).
pub fn unpack_layout(layout_dir: &Path, tag: Option<&str>, root: &Path) -> Result<()> {
    let layout = Layout::open(layout_dir).map_err(oci_error("opening the test image"))?;
    let image = layout
        .resolve(tag)
        .map_err(oci_error("resolving the test image"))?;
    std::fs::create_dir_all(root).map_err(Error::io("creating", root))?;
    for (i, desc) in image.layers().iter().enumerate() {
        let what = format!(
            "unpacking layer {} ({} of {})",
            desc.digest(),
            i + 1,
            image.layers().len()
        );
        let stream = layout.open_layer(desc).map_err(oci_error(&what))?;
        unpack_layer(stream, root).map_err(|e| Error::Asset(format!("{what}: {e}")))?;
    }
    Ok(())
}

fn unpack_layer(stream: impl std::io::Read, root: &Path) -> std::io::Result<()> {
    let mut archive = tar::Archive::new(stream);
    archive.set_preserve_permissions(true);
    archive.set_preserve_ownerships(true);
    archive.set_preserve_mtime(true);
    archive.set_overwrite(true);
    let mut this_layer: HashSet<PathBuf> = HashSet::new();
    for entry in archive.entries()? {
        let mut entry = entry?;
        let rel = relative(&entry.path()?)?;
        let name = rel.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let parent = rel.parent().unwrap_or(Path::new(""));
        if name == ".wh..wh..opq" {
            let dir = root.join(parent);
            if let Ok(children) = std::fs::read_dir(&dir) {
                for child in children.flatten() {
                    if !this_layer.contains(&parent.join(child.file_name())) {
                        remove(&child.path())?;
                    }
                }
            }
            continue;
        }
        if let Some(hidden) = name.strip_prefix(".wh.") {
            remove(&root.join(parent).join(hidden))?;
            continue;
        }
        this_layer.insert(rel.clone());
        let dest = root.join(&rel);
        let kind = entry.header().entry_type();
        if !kind.is_dir() {
            if let Ok(md) = dest.symlink_metadata() {
                if md.is_dir() {
                    std::fs::remove_dir_all(&dest)?;
                } else {
                    std::fs::remove_file(&dest)?;
                }
            }
        }
        if kind.is_character_special() || kind.is_block_special() || kind.is_fifo() {
            make_node(&entry, &dest)?;
        } else {
            entry.unpack_in(root)?;
        }
    }
    Ok(())
}

fn make_node<R: std::io::Read>(entry: &tar::Entry<'_, R>, dest: &Path) -> std::io::Result<()> {
    use nix::sys::stat::{Mode, SFlag, makedev, mknod};
    let h = entry.header();
    let kind = h.entry_type();
    let sflag = if kind.is_character_special() {
        SFlag::S_IFCHR
    } else if kind.is_block_special() {
        SFlag::S_IFBLK
    } else {
        SFlag::S_IFIFO
    };
    let major = u64::from(h.device_major()?.unwrap_or(0));
    let minor = u64::from(h.device_minor()?.unwrap_or(0));
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mode = h.mode()? & 0o7777;
    mknod(
        dest,
        sflag,
        Mode::from_bits_truncate(mode),
        makedev(major, minor),
    )?;
    std::os::unix::fs::lchown(dest, Some(h.uid()? as u32), Some(h.gid()? as u32))?;
    super::set_mode(dest, mode).map_err(std::io::Error::other)
}

/// The entry path relative to the root, refusing anything that could leave it.
fn relative(path: &Path) -> std::io::Result<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir | Component::RootDir => {}
            Component::ParentDir | Component::Prefix(_) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("layer entry {} leaves the root", path.display()),
                ));
            }
        }
    }
    Ok(out)
}

fn remove(path: &Path) -> std::io::Result<()> {
    match path.symlink_metadata() {
        Ok(md) if md.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}
