//! File access inside the target root, with every path resolved inside it.
//!
//! The image's symlinks are followed as the installed system will see them: an absolute link
//! target is taken relative to the target root and `..` never climbs above it, so a link such
//! as `/etc/localtime -> /usr/share/zoneinfo/UTC` or `/home -> var/home` can never make us
//! touch the host. Writes replace files atomically (temporary file + rename in the same
//! directory) and keep the replaced file's mode and owner; a half-done write leaves the old file
//! and at most a `.kickstand-tmp` file next to it.

use std::ffi::OsStr;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use super::error::{DeployError, Result};

/// How many symlinks one path may traverse (the kernel's limit).
const MAX_SYMLINKS: usize = 40;

/// The root directory of the system being installed.
#[derive(Debug, Clone)]
pub struct TargetRoot {
    root: PathBuf,
}

impl TargetRoot {
    /// The target mounted (or unpacked) at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        TargetRoot { root: root.into() }
    }

    /// The target root on the host.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// The host path of `path` (absolute inside the target), following every symlink inside
    /// the target, including one in the last component.
    pub fn resolve(&self, path: &str) -> Result<PathBuf> {
        self.walk(path, true)
    }

    /// The host path of `path` with its parent directories resolved but its last component
    /// left as it is (a symlink there is not followed): for replacing or removing it.
    pub fn resolve_parent(&self, path: &str) -> Result<PathBuf> {
        self.walk(path, false)
    }

    fn walk(&self, path: &str, follow_last: bool) -> Result<PathBuf> {
        // Components still to walk, last first.
        let mut todo: Vec<String> = components(path).rev().collect();
        let mut done: Vec<String> = Vec::new();
        let mut links = 0;
        while let Some(name) = todo.pop() {
            if name == ".." {
                done.pop();
                continue;
            }
            let last = todo.is_empty();
            let mut host = self.root.clone();
            host.extend(&done);
            host.push(&name);
            let is_link = fs::symlink_metadata(&host).is_ok_and(|m| m.file_type().is_symlink());
            if !is_link || (last && !follow_last) {
                done.push(name);
                continue;
            }
            links += 1;
            if links > MAX_SYMLINKS {
                return Err(DeployError::Invalid(format!(
                    "too many symlinks while resolving {path} in the target {}",
                    self.root.display()
                )));
            }
            let target = fs::read_link(&host).map_err(|e| DeployError::io("reading", &host, e))?;
            let target = target.to_string_lossy().into_owned();
            if target.starts_with('/') {
                done.clear();
            }
            todo.extend(components(&target).rev());
        }
        let mut host = self.root.clone();
        host.extend(&done);
        Ok(host)
    }

    /// Whether `path` exists in the target (following symlinks inside it).
    pub fn exists(&self, path: &str) -> bool {
        self.resolve(path).is_ok_and(|p| p.exists())
    }

    /// The contents of `path`, or `None` when it does not exist.
    pub fn read_optional(&self, path: &str) -> Result<Option<String>> {
        let host = self.resolve(path)?;
        match fs::read_to_string(&host) {
            Ok(s) => Ok(Some(s)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(DeployError::io("reading", host, e)),
        }
    }

    /// Creates `path` and its parents (mode 0755 for the ones created).
    pub fn create_dir_all(&self, path: &str) -> Result<PathBuf> {
        let mut sofar = String::new();
        for name in components(path) {
            sofar.push('/');
            sofar.push_str(&name);
            let host = self.resolve(&sofar)?;
            match fs::symlink_metadata(&host) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    return Err(DeployError::Invalid(format!(
                        "{sofar} in the target is not a directory"
                    )));
                }
                Err(_) => {
                    fs::create_dir(&host).map_err(|e| DeployError::io("creating", &host, e))?;
                    fs::set_permissions(&host, fs::Permissions::from_mode(0o755))
                        .map_err(|e| DeployError::io("setting the mode of", &host, e))?;
                }
            }
        }
        self.resolve(path)
    }

    /// Writes `contents` to `path`, replacing it atomically. An existing file keeps its mode
    /// and owner; a new one gets `mode` and root ownership. Parent directories are created.
    pub fn write(&self, path: &str, contents: &[u8], mode: u32) -> Result<PathBuf> {
        let parent = parent_of(path);
        self.create_dir_all(parent)?;
        let host = self.resolve_parent(path)?;
        let (mode, owner) = match fs::symlink_metadata(&host) {
            Ok(m) if m.file_type().is_file() => (m.mode() & 0o7777, Some((m.uid(), m.gid()))),
            _ => (mode, None),
        };
        let mut tmp_name = host
            .file_name()
            .unwrap_or(OsStr::new("file"))
            .to_os_string();
        tmp_name.push(".kickstand-tmp");
        let tmp = host.with_file_name(tmp_name);
        let result = (|| {
            let mut f = fs::File::create(&tmp)?;
            f.write_all(contents)?;
            f.set_permissions(fs::Permissions::from_mode(mode))?;
            if let Some((uid, gid)) = owner {
                std::os::unix::fs::fchown(&f, Some(uid), Some(gid))?;
            }
            f.sync_all()?;
            fs::rename(&tmp, &host)
        })();
        if let Err(e) = result {
            let _ = fs::remove_file(&tmp);
            return Err(DeployError::io("writing", host, e));
        }
        Ok(host)
    }

    /// Removes `path` (a file or symlink, not followed) if it exists.
    pub fn remove_file(&self, path: &str) -> Result<()> {
        let host = self.resolve_parent(path)?;
        match fs::remove_file(&host) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(DeployError::io("removing", host, e)),
        }
    }

    /// Makes `path` a symlink to `target` (replacing what was there).
    pub fn symlink(&self, target: &str, path: &str) -> Result<()> {
        self.create_dir_all(parent_of(path))?;
        self.remove_file(path)?;
        let host = self.resolve_parent(path)?;
        std::os::unix::fs::symlink(target, &host)
            .map_err(|e| DeployError::io("creating the symlink", host, e))
    }
}

/// The normal components of `path` ("." and empty ones dropped; ".." kept for the walker).
fn components(path: &str) -> impl DoubleEndedIterator<Item = String> + '_ {
    Path::new(path).components().filter_map(|c| match c {
        Component::Normal(n) => Some(n.to_string_lossy().into_owned()),
        Component::ParentDir => Some("..".to_string()),
        _ => None,
    })
}

/// The parent directory of an absolute target path (`/` for `/x`).
pub(crate) fn parent_of(path: &str) -> &str {
    match path.trim_end_matches('/').rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_and_dotdot_links_stay_inside_the_target() {
        let dir = tempfile::tempdir().unwrap();
        let root = TargetRoot::new(dir.path());
        fs::create_dir_all(dir.path().join("var/home")).unwrap();
        fs::create_dir_all(dir.path().join("etc")).unwrap();
        std::os::unix::fs::symlink("/var/home", dir.path().join("home")).unwrap();
        std::os::unix::fs::symlink("../../../../etc", dir.path().join("var/evil")).unwrap();
        std::os::unix::fs::symlink("/etc/shadow", dir.path().join("etc/link")).unwrap();
        assert_eq!(
            root.resolve("/home/alice").unwrap(),
            dir.path().join("var/home/alice")
        );
        assert_eq!(
            root.resolve("/var/evil/passwd").unwrap(),
            dir.path().join("etc/passwd")
        );
        assert_eq!(
            root.resolve("/etc/link").unwrap(),
            dir.path().join("etc/shadow")
        );
        assert_eq!(
            root.resolve_parent("/etc/link").unwrap(),
            dir.path().join("etc/link")
        );
        assert_eq!(root.resolve("/../../x").unwrap(), dir.path().join("x"));
    }

    #[test]
    fn write_replaces_a_symlink_and_keeps_an_existing_mode() {
        let dir = tempfile::tempdir().unwrap();
        let root = TargetRoot::new(dir.path());
        root.write("/etc/shadow", b"a\n", 0o640).unwrap();
        root.write("/etc/shadow", b"b\n", 0o644).unwrap();
        let meta = fs::metadata(dir.path().join("etc/shadow")).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o640);
        std::os::unix::fs::symlink("/etc/shadow", dir.path().join("etc/x")).unwrap();
        root.write("/etc/x", b"c\n", 0o600).unwrap();
        assert!(
            !fs::symlink_metadata(dir.path().join("etc/x"))
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(
            fs::read_to_string(dir.path().join("etc/shadow")).unwrap(),
            "b\n"
        );
    }
}
