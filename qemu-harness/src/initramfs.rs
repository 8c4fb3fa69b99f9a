//! A tiny busybox initramfs for smoke tests: busybox-static and an `/init` script, packed as a
//! newc cpio archive by Debian's `cpio` (until Kickstand's own cpio writer exists).

use crate::error::{Error, Result};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Debian's busybox-static.
pub const BUSYBOX: &str = "/bin/busybox";

/// An `/init` that mounts /proc, /sys and /dev, runs `body` (shell, busybox applets on PATH) and
/// powers the machine off. The kernel panics (`panic=-1` reboots) if `/init` exits instead.
pub fn init_script(body: &str) -> String {
    // SeaBIOS ends "Booting from ROM.." without a newline and `quiet` keeps the kernel silent:
    // the empty `echo` starts the body's output on a line of its own.
    format!(
        "#!/bin/busybox sh\n\
         /bin/busybox --install -s /bin\n\
         export PATH=/bin\n\
         mount -t proc proc /proc\n\
         mount -t sysfs sysfs /sys\n\
         mount -t devtmpfs devtmpfs /dev\n\
         echo\n\
         {body}\n\
         poweroff -f\n"
    )
}

/// Writes a gzip-free newc cpio archive to `out` holding busybox, `/init` = `init`, and `extra`
/// files (`(path inside, source on the host)`).
///
/// A failure leaves a partial `out` behind; the caller's temp dir removes it.
pub fn build(out: &Path, init: &str, extra: &[(&str, &Path)]) -> Result<()> {
    let root =
        tempfile::tempdir().map_err(Error::io("creating a temp dir", std::env::temp_dir()))?;
    let r = root.path();
    for d in ["bin", "dev", "proc", "sys", "etc", "tmp"] {
        let p = r.join(d);
        std::fs::create_dir_all(&p).map_err(Error::io("creating", &p))?;
    }
    copy(Path::new(BUSYBOX), &r.join("bin/busybox"))?;
    let init_path = r.join("init");
    std::fs::write(&init_path, init).map_err(Error::io("writing", &init_path))?;
    std::fs::set_permissions(&init_path, std::fs::Permissions::from_mode(0o755))
        .map_err(Error::io("chmod", &init_path))?;
    for (inside, src) in extra {
        let dest = r.join(inside.trim_start_matches('/'));
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(Error::io("creating", parent))?;
        }
        copy(src, &dest)?;
    }
    let mut list = Vec::new();
    collect(r, Path::new("."), &mut list)?;
    let file = std::fs::File::create(out).map_err(Error::io("creating", out))?;
    let mut child = Command::new("cpio")
        .args(["--create", "--format=newc", "--quiet", "--owner=0:0"])
        .current_dir(r)
        .stdin(Stdio::piped())
        .stdout(file)
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| Error::Spawn {
            what: "packing the initramfs".into(),
            command: "cpio --create --format=newc".into(),
            source,
        })?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    for p in &list {
        writeln!(stdin, "{}", p.display()).map_err(Error::io("feeding cpio", out))?;
    }
    drop(stdin);
    let output = child
        .wait_with_output()
        .map_err(Error::io("running cpio", out))?;
    if !output.status.success() {
        return Err(Error::Command {
            what: "packing the initramfs".into(),
            command: "cpio --create --format=newc --owner=0:0".into(),
            status: output.status.to_string(),
            output: String::from_utf8_lossy(&output.stderr).into_owned(),
        });
    }
    Ok(())
}

fn copy(src: &Path, dest: &Path) -> Result<()> {
    std::fs::copy(src, dest).map_err(Error::io("copying", src))?;
    Ok(())
}

/// Every path under `dir`, relative, parents before children.
fn collect(base: &Path, rel: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let dir = base.join(rel);
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .map_err(Error::io("listing", &dir))?
        .flatten()
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let p = rel.join(e.file_name());
        out.push(p.clone());
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            collect(base, &p, out)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_holds_init_and_busybox() {
        if !Path::new(BUSYBOX).exists() || crate::gate::which("cpio").is_none() {
            eprintln!("SKIPPED: needs busybox-static and cpio");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("initrd");
        let extra = dir.path().join("hello");
        std::fs::write(&extra, "hi").unwrap();
        build(&out, &init_script("echo MARK"), &[("etc/hello", &extra)]).unwrap();
        let listing = crate::cmd::run(
            "listing",
            Command::new("cpio").args(["-t", "--quiet", "-F"]).arg(&out),
        )
        .unwrap();
        let names: Vec<&str> = listing.lines().collect();
        for want in ["init", "bin/busybox", "etc/hello", "proc"] {
            assert!(names.contains(&want), "{want} missing from {names:?}");
        }
    }
}
