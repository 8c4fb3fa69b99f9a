//! Bootable test OS images built here from Debian packages (no public registry is reachable):
//! [`tiny`] is the small image the installer tests install and boot, [`debian`] a real Debian
//! for the tests that need a full system (systemd, sshd).
//!
//! Images are written as OCI image layouts by `kickstand-oci` and cached outside the clone
//! ([`crate::cache`]), keyed by everything that goes into them.

pub mod bulk;
pub mod debian;
pub mod disk;
pub mod initramfs;
pub mod tiny;
pub mod unpack;

pub use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

pub use crate::initramfs::BUSYBOX;

/// An [`Error`] for a layout that could not be written.
pub(crate) fn oci_error(what: &str) -> impl FnOnce(kickstand_oci::Error) -> Error + '_ {
    move |e| Error::Asset(format!("{what}: {}", error_chain(&e)))
}

/// `e` and its sources, `: `-separated.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// Copies `from` to `to` (parents created) with `mode`.
pub(crate) fn copy_file(from: &Path, to: &Path, mode: u32) -> Result<()> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent).map_err(Error::io("creating", parent))?;
    }
    std::fs::copy(from, to).map_err(Error::io("copying", from))?;
    set_mode(to, mode)
}

/// Writes `content` to `to` (parents created) with `mode`.
pub(crate) fn write_file(to: &Path, content: &[u8], mode: u32) -> Result<()> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent).map_err(Error::io("creating", parent))?;
    }
    std::fs::write(to, content).map_err(Error::io("writing", to))?;
    set_mode(to, mode)
}

/// Creates a symlink `at` → `target` (parents created).
pub(crate) fn symlink(target: &str, at: &Path) -> Result<()> {
    if let Some(parent) = at.parent() {
        std::fs::create_dir_all(parent).map_err(Error::io("creating", parent))?;
    }
    std::os::unix::fs::symlink(target, at).map_err(Error::io("creating symlink", at))
}

pub(crate) fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(Error::io("setting the mode of", path))
}

/// Every path under `root` (relative, `.`-prefixed as cpio wants them), sorted, `root` first.
pub(crate) fn sorted_tree(root: &Path) -> Result<Vec<PathBuf>> {
    let mut out = vec![PathBuf::from(".")];
    fn walk(root: &Path, rel: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
        let dir = root.join(rel);
        let mut names: Vec<_> = std::fs::read_dir(&dir)
            .map_err(Error::io("listing", &dir))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<std::io::Result<_>>()
            .map_err(Error::io("listing", &dir))?;
        names.sort();
        for name in names {
            let path = rel.join(name);
            out.push(path.clone());
            if root
                .join(&path)
                .symlink_metadata()
                .is_ok_and(|m| m.is_dir())
            {
                walk(root, &path, out)?;
            }
        }
        Ok(())
    }
    walk(root, Path::new("."), &mut out)?;
    Ok(out)
}

/// Sets the modification time of everything under `root` (symlinks themselves included) to
/// `mtime`, so archives of the tree are reproducible.
pub(crate) fn fixed_mtimes(root: &Path, mtime: u64) -> Result<()> {
    use nix::sys::stat::{UtimensatFlags, utimensat};
    use nix::sys::time::TimeSpec;
    let t = TimeSpec::new(mtime as i64, 0);
    for rel in sorted_tree(root)? {
        let path = root.join(&rel);
        utimensat(
            nix::fcntl::AT_FDCWD,
            &path,
            &t,
            &t,
            UtimensatFlags::NoFollowSymlink,
        )
        .map_err(|e| Error::io("setting the time of", &path)(e.into()))?;
    }
    Ok(())
}

/// The labels and settings of a test image's config.
pub(crate) struct ImageInfo<'a> {
    /// `org.opencontainers.image.title`.
    pub title: &'a str,
    /// `org.opencontainers.image.description`.
    pub description: &'a str,
    /// The kernel release inside (`org.kickstand.kernel`).
    pub kernel: &'a str,
    /// The `PATH` of the config's environment.
    pub path: &'a str,
    pub tag: &'a str,
    pub created: &'a str,
}

/// Writes the config, the manifest (tagged `info.tag`) and `index.json` of an image made of
/// `layers`, finishing `layout`.
pub(crate) fn finish_image(
    mut layout: kickstand_oci::LayoutWriter,
    layers: &[kickstand_oci::Layer],
    info: ImageInfo<'_>,
) -> Result<()> {
    use kickstand_oci::oci_spec::image::ConfigBuilder;
    use std::collections::HashMap;
    let config = ConfigBuilder::default()
        .cmd(vec!["/sbin/init".to_owned()])
        .env(vec![format!("PATH={}", info.path)])
        .labels(HashMap::from([
            (
                "org.opencontainers.image.title".to_owned(),
                info.title.to_owned(),
            ),
            (
                "org.opencontainers.image.description".to_owned(),
                info.description.to_owned(),
            ),
            ("org.kickstand.kernel".to_owned(), info.kernel.to_owned()),
        ]))
        .build()
        .map_err(|e| Error::Asset(format!("building the image config: {e}")))?;
    layout
        .write_image(
            layers,
            kickstand_oci::ImageSpec {
                tag: info.tag.to_owned(),
                config,
                created: info.created.to_owned(),
                annotations: HashMap::new(),
            },
        )
        .map_err(oci_error("writing the manifest"))?;
    layout.finish().map_err(oci_error("writing index.json"))?;
    Ok(())
}

/// Layer 2 of the test images: the boot report (`tiny/boot-report.sh`) at
/// `/usr/lib/kickstand/boot-report` with a hard link to it at `hard_link`, a whiteout deleting
/// layer 1's `/etc/kickstand/removed-by-whiteout` and an opaque `/usr/share/kickstand/opaque`
/// holding only `new` — what the report's unpack checks look for.
pub(crate) fn report_layer(
    layout: &kickstand_oci::LayoutWriter,
    compression: kickstand_oci::Compression,
    hard_link: &str,
    mtime: u64,
    history: &str,
) -> Result<kickstand_oci::Layer> {
    use kickstand_oci::Meta;
    let layer_error = |e: std::io::Error| Error::Asset(format!("writing {history}: {e}"));
    let root = |mode| Meta::root(mode, mtime);
    let mut w = layout
        .layer(compression)
        .map_err(oci_error("starting layer 2"))?;
    w.whiteout("etc/kickstand/removed-by-whiteout", mtime)
        .map_err(layer_error)?;
    w.opaque_dir("usr/share/kickstand/opaque", mtime)
        .map_err(layer_error)?;
    w.file_bytes(
        "usr/share/kickstand/opaque/new",
        root(0o644),
        b"from layer 2\n",
    )
    .map_err(layer_error)?;
    w.dir("usr/lib/kickstand", root(0o755))
        .map_err(layer_error)?;
    w.file_bytes(
        "usr/lib/kickstand/boot-report",
        root(0o755),
        tiny::BOOT_REPORT.as_bytes(),
    )
    .map_err(layer_error)?;
    w.hard_link(hard_link, "usr/lib/kickstand/boot-report", root(0o755))
        .map_err(layer_error)?;
    layout
        .commit_layer(w, history)
        .map_err(oci_error("writing layer 2"))
}
