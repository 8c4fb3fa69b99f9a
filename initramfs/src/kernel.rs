//! The kernel side of a build: the release string of a bzImage, and a distribution kernel
//! package (`.deb`) unpacked into a matched kernel + modules pair.

use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    #[error("reading {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not an x86 bzImage: {why}")]
    NotBzImage { path: PathBuf, why: &'static str },
    #[error(
        "the kernel {kernel} is version {kernel_version} but the modules in {modules} are for {modules_version}; give the modules of the same kernel"
    )]
    Mismatch {
        kernel: PathBuf,
        kernel_version: String,
        modules: PathBuf,
        modules_version: String,
    },
    #[error("unpacking {deb} with dpkg-deb")]
    Dpkg {
        deb: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("dpkg-deb -x {deb} failed: {stderr}")]
    DpkgFailed { deb: PathBuf, stderr: String },
    #[error(
        "{deb} contains no {what}; is it a meta package (linux-image-amd64)? Give the versioned \
         package it depends on (linux-image-6.1.0-NN-amd64)"
    )]
    NotAKernelPackage { deb: PathBuf, what: &'static str },
}

/// The release string (`uname -r`) of an x86 bzImage, from its boot protocol header: the
/// `kernel_version` field at 0x20e points (from 0x200) at "6.1.0-27-amd64 (builder) #1 SMP ...".
pub fn bzimage_version(path: &Path) -> Result<String, KernelError> {
    let bytes = {
        use std::io::Read;
        let mut buf = Vec::with_capacity(64 * 1024);
        std::fs::File::open(path)
            .and_then(|f| f.take(64 * 1024).read_to_end(&mut buf))
            .map_err(|source| KernelError::Read {
                path: path.to_path_buf(),
                source,
            })?;
        buf
    };
    let bad = |why| KernelError::NotBzImage {
        path: path.to_path_buf(),
        why,
    };
    if bytes.len() < 0x210 || &bytes[0x202..0x206] != b"HdrS" {
        return Err(bad("no \"HdrS\" boot protocol signature at 0x202"));
    }
    let ptr = u16::from_le_bytes([bytes[0x20e], bytes[0x20f]]) as usize;
    if ptr == 0 {
        return Err(bad("its header has no kernel_version pointer"));
    }
    let start = 0x200 + ptr;
    let text = bytes
        .get(start..)
        .ok_or(bad("kernel_version points past the file"))?;
    let end = text
        .iter()
        .position(|b| *b == 0 || *b == b' ')
        .ok_or(bad("unterminated kernel_version"))?;
    let version =
        std::str::from_utf8(&text[..end]).map_err(|_| bad("kernel_version is not text"))?;
    if version.is_empty() {
        return Err(bad("empty kernel_version"));
    }
    Ok(version.to_string())
}

/// Refuses a kernel whose release differs from the modules directory's.
pub fn check_match(
    kernel: &Path,
    modules_dir: &Path,
    modules_version: &str,
) -> Result<String, KernelError> {
    let kernel_version = bzimage_version(kernel)?;
    if kernel_version != modules_version {
        return Err(KernelError::Mismatch {
            kernel: kernel.to_path_buf(),
            kernel_version,
            modules: modules_dir.to_path_buf(),
            modules_version: modules_version.to_string(),
        });
    }
    Ok(kernel_version)
}

/// A kernel package unpacked in a temporary directory (removed on drop).
#[derive(Debug)]
pub struct KernelPackage {
    pub dir: tempfile::TempDir,
    pub vmlinuz: PathBuf,
    pub modules: PathBuf,
}

/// Unpacks a kernel `.deb` (`dpkg-deb -x`) and finds its `boot/vmlinuz-*` and
/// `lib/modules/*/`.
pub fn unpack_deb(deb: &Path) -> Result<KernelPackage, KernelError> {
    let dir = tempfile::Builder::new()
        .prefix("kickstand-kernel-")
        .tempdir()
        .map_err(|source| KernelError::Dpkg {
            deb: deb.to_path_buf(),
            source,
        })?;
    let out = Command::new("dpkg-deb")
        .arg("-x")
        .arg(deb)
        .arg(dir.path())
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|source| KernelError::Dpkg {
            deb: deb.to_path_buf(),
            source,
        })?;
    if !out.status.success() {
        return Err(KernelError::DpkgFailed {
            deb: deb.to_path_buf(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    let vmlinuz = std::fs::read_dir(dir.path().join("boot"))
        .ok()
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-"))
        })
        .ok_or(KernelError::NotAKernelPackage {
            deb: deb.to_path_buf(),
            what: "boot/vmlinuz-*",
        })?;
    let modules = crate::modules::find_modules_dir(dir.path()).map_err(|_| {
        KernelError::NotAKernelPackage {
            deb: deb.to_path_buf(),
            what: "lib/modules/*/modules.dep",
        }
    })?;
    Ok(KernelPackage {
        dir,
        vmlinuz,
        modules,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A minimal file with a bzImage header whose version string says `version`.
    pub(crate) fn fake_bzimage(path: &Path, version: &str) {
        let mut img = vec![0u8; 0x1000];
        img[0x202..0x206].copy_from_slice(b"HdrS");
        let at = 0x800usize;
        img[0x20e..0x210].copy_from_slice(&((at - 0x200) as u16).to_le_bytes());
        let text = format!("{version} (debian-kernel@lists.debian.org) #1 SMP PREEMPT_DYNAMIC\0");
        img[at..at + text.len()].copy_from_slice(text.as_bytes());
        std::fs::write(path, img).unwrap();
    }

    #[test]
    fn reads_the_release_from_the_boot_header() {
        let dir = tempfile::tempdir().unwrap();
        let k = dir.path().join("vmlinuz");
        fake_bzimage(&k, "6.1.0-27-amd64");
        assert_eq!(bzimage_version(&k).unwrap(), "6.1.0-27-amd64");
    }

    #[test]
    fn a_mismatch_names_both_versions() {
        let dir = tempfile::tempdir().unwrap();
        let k = dir.path().join("vmlinuz");
        fake_bzimage(&k, "6.1.0-27-amd64");
        let err = check_match(
            &k,
            Path::new("/lib/modules/6.1.0-28-amd64"),
            "6.1.0-28-amd64",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("6.1.0-27-amd64") && err.contains("6.1.0-28-amd64"),
            "{err}"
        );
        assert_eq!(
            check_match(&k, Path::new("/m"), "6.1.0-27-amd64").unwrap(),
            "6.1.0-27-amd64"
        );
    }

    #[test]
    fn a_non_kernel_is_refused_clearly() {
        let err = bzimage_version(Path::new("/bin/busybox"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("not an x86 bzImage"), "{err}");
    }

    /// Builds `NAME.deb` from the tree at `root` (a `DEBIAN/control` is written for it).
    pub(crate) fn build_deb(root: &Path, name: &str) -> PathBuf {
        std::fs::create_dir_all(root.join("DEBIAN")).unwrap();
        let control = format!(
            "Package: {name}\nVersion: 1\nArchitecture: amd64\nMaintainer: t <t@example.invalid>\nDescription: test\n"
        );
        std::fs::write(root.join("DEBIAN/control"), control).unwrap();
        let deb = root.with_file_name(format!("{name}.deb"));
        let out = Command::new("dpkg-deb")
            .args(["--build", "-Zgzip"])
            .arg(root)
            .arg(&deb)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        deb
    }

    #[test]
    fn a_deb_without_a_kernel_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("pkg");
        std::fs::create_dir_all(root.join("usr/share/doc/linux-image-amd64")).unwrap();
        let deb = build_deb(&root, "linux-image-amd64");
        let err = unpack_deb(&deb).unwrap_err().to_string();
        assert!(err.contains("meta package"), "{err}");
    }
}
