//! Writing files into a FAT filesystem (the ESP) inside a disk, with mtools: the host kernel
//! may have no vfat, so the installer never mounts the ESP on the host.
//!
//! The filesystem is addressed as `DISK@@OFFSET` (bytes); `DISK` may be an image file or a
//! block device. Each call is one mtools run; a failure leaves the files written before it.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::command::run;
use super::error::{DeployError, Result};

/// A FAT filesystem at a byte offset of a disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fat {
    /// The disk (image file or block device).
    pub disk: PathBuf,
    /// Byte offset of the filesystem (the partition's start).
    pub offset: u64,
}

impl Fat {
    /// The filesystem at `offset` bytes into `disk`.
    pub fn new(disk: impl Into<PathBuf>, offset: u64) -> Self {
        Fat {
            disk: disk.into(),
            offset,
        }
    }

    fn mtool(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        // No host mtools configuration, and no refusal of images whose geometry mtools
        // finds unusual.
        cmd.env("MTOOLSRC", "/dev/null")
            .env("MTOOLS_SKIP_CHECK", "1")
            .arg("-i")
            .arg(format!("{}@@{}", self.disk.display(), self.offset));
        cmd
    }

    /// Whether `path` (absolute inside the filesystem) exists.
    pub fn exists(&self, path: &str) -> bool {
        self.mtool("mdir")
            .args(["-b", &format!("::{path}")])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .stdin(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Creates the directory `path` and its parents.
    pub fn create_dir_all(&self, path: &str) -> Result<()> {
        let mut sofar = String::new();
        for name in path.split('/').filter(|n| !n.is_empty()) {
            sofar.push('/');
            sofar.push_str(name);
            if !self.exists(&sofar) {
                run(
                    &format!("creating {sofar} on the ESP"),
                    self.mtool("mmd").arg(format!("::{sofar}")),
                )?;
            }
        }
        Ok(())
    }

    /// Copies the host file `from` to `to` (absolute inside the filesystem), replacing it.
    pub fn copy_in(&self, from: &Path, to: &str) -> Result<()> {
        self.create_dir_all(super::target::parent_of(to))?;
        run(
            &format!("copying {} to {to} on the ESP", from.display()),
            self.mtool("mcopy")
                .args(["-o", "-Q"])
                .arg(from)
                .arg(format!("::{to}")),
        )?;
        Ok(())
    }

    /// Writes `contents` to `to`, replacing it.
    pub fn write(&self, to: &str, contents: &[u8]) -> Result<()> {
        let mut tmp = tempfile::NamedTempFile::new().map_err(|e| {
            DeployError::io("creating a temporary file in", std::env::temp_dir(), e)
        })?;
        std::io::Write::write_all(&mut tmp, contents)
            .map_err(|e| DeployError::io("writing", tmp.path(), e))?;
        self.copy_in(tmp.path(), to)
    }

    /// The contents of `path`.
    pub fn read(&self, path: &str) -> Result<Vec<u8>> {
        run(
            &format!("reading {path} from the ESP"),
            self.mtool("mcopy").arg(format!("::{path}")).arg("-"),
        )
    }
}
