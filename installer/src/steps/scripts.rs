//! Kickstart scripts: `%pre` (before storage), `%pre-install` (storage mounted, before the
//! image), `%post` (chrooted into the target with `/dev /proc /sys /run` and, where the kernel
//! has vfat, the ESP at `/boot/efi`; or `--nochroot`, the target at `/mnt/sysroot`), and
//! `%onerror` (after a failure, not chrooted).
//!
//! Every script runs in a private mount namespace of its own (`unshare(CLONE_NEWNS)` in the
//! child): the binds it needs vanish with it, whatever it does. In host mode that namespace's
//! `/dev` is a fresh tmpfs holding only the target disks, their partitions and the harmless
//! character devices, so a kickstart written for a real machine (`dd of=/dev/sda`) cannot reach
//! the host's disks.
//!
//! Output (stdout and stderr, interleaved) goes to the install log and to `--log` when given
//! (inside the target for a chrooted `%post`). A failing script is a warning, or with
//! `--erroronfail` stops the install with its output. A script leaves behind whatever it did.

use std::ffi::CString;
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use kickstand_grammar::{Kickstart, Script, ScriptKind};
use nix::mount::{MsFlags, mount};
use nix::sys::stat::{Mode as FileMode, SFlag, mknod};

use crate::deploy::TargetRoot;
use crate::progress::Reporter;

/// Where `%post --nochroot` finds the target (Anaconda's path).
pub const SYSROOT: &str = "/mnt/sysroot";

/// Where the scripts run.
#[derive(Debug, Clone)]
pub struct Env {
    /// Host mode: `/dev` holds only `disks` in the scripts' namespace.
    pub restrict_dev: bool,
    /// The target disks' nodes (`/dev/loop3`); their partitions are found beside them.
    pub disks: Vec<PathBuf>,
    /// The mounted target root, once storage ran.
    pub target: Option<PathBuf>,
    /// The ESP's partition node, mounted at `/boot/efi` for a chrooted `%post` when the
    /// kernel can mount vfat.
    pub esp: Option<PathBuf>,
    /// Extra bind mounts for a chroot, after the standard ones: a host directory and the
    /// path inside the chroot it appears at (a bootc deployment's `/var` and `/sysroot`, the
    /// target for bootc itself).
    pub binds: Vec<(PathBuf, String)>,
}

fn kind_name(kind: ScriptKind) -> &'static str {
    match kind {
        ScriptKind::Pre => "%pre",
        ScriptKind::PreInstall => "%pre-install",
        ScriptKind::Post => "%post",
        ScriptKind::Onerror => "%onerror",
    }
}

/// Runs the kickstart's scripts of `kind`, in file order.
pub fn run_all(ks: &Kickstart, kind: ScriptKind, env: &Env, reporter: &Reporter) -> Result<()> {
    let scripts: Vec<&Script> = ks.scripts.iter().filter(|s| s.kind == kind).collect();
    for (i, s) in scripts.iter().enumerate() {
        let what = format!("{} script {} of {}", kind_name(kind), i + 1, scripts.len());
        run_one(s, &what, env, reporter)?;
    }
    Ok(())
}

fn run_one(script: &Script, what: &str, env: &Env, reporter: &Reporter) -> Result<()> {
    let chroot = script.kind == ScriptKind::Post && !script.nochroot;
    let interpreter = script.interpreter.as_deref().unwrap_or("/bin/sh");
    let target = env.target.as_deref();
    if chroot && target.is_none() {
        bail!("{what}: no target to chroot into");
    }
    // The script file: inside the target for a chroot, in the installer's /tmp otherwise.
    let name = format!("ks-script-{}-{}", std::process::id(), unique());
    let (host_file, run_path) = match (chroot, target) {
        (true, Some(t)) => {
            let root = TargetRoot::new(t);
            let p = root
                .write(&format!("/tmp/{name}"), script.body.as_bytes(), 0o700)
                .with_context(|| format!("{what}: writing the script into the target"))?;
            (p, PathBuf::from(format!("/tmp/{name}")))
        }
        _ => {
            let p = std::env::temp_dir().join(&name);
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o700)
                .open(&p)
                .and_then(|mut f| f.write_all(script.body.as_bytes()))
                .with_context(|| format!("{what}: writing {}", p.display()))?;
            (p.clone(), p)
        }
    };
    let plan = NsPlan::new(env, script.kind, chroot)?;
    reporter.info(&format!(
        "running {what} ({interpreter}{})",
        if chroot {
            ", chrooted into the target"
        } else {
            ""
        }
    ));
    let mut cmd = Command::new(interpreter);
    cmd.arg(&run_path).env(
        "ANA_INSTALL_PATH",
        if plan.chroot.is_some() { "/" } else { SYSROOT },
    );
    let result = spawn(cmd, plan);
    let _ = std::fs::remove_file(&host_file);
    let (status, output) =
        result.with_context(|| format!("{what}: could not run {interpreter}"))?;
    for line in output.lines() {
        reporter.info(&format!("  | {line}"));
    }
    if let Some(log) = &script.log {
        let path = match (chroot, target) {
            (true, Some(t)) => TargetRoot::new(t).resolve_parent(log)?,
            _ => PathBuf::from(log),
        };
        std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&path)
            .and_then(|mut f| f.write_all(output.as_bytes()))
            .with_context(|| format!("{what}: writing its --log {log}"))?;
    }
    if !status.success() {
        if script.erroronfail {
            bail!(
                "{what} failed ({status}) and has --erroronfail; its output:\n{}",
                output.trim_end()
            );
        }
        reporter.warn(&format!(
            "{what} failed ({status}); going on (add --erroronfail to stop the install)"
        ));
    }
    Ok(())
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// Runs `program args` chrooted into `env.target` as a chrooted `%post` would be (`/dev
/// /proc /sys /run` and `env.binds`, in a namespace of its own); returns its status and merged
/// output.
pub fn run_chrooted(
    env: &Env,
    program: &str,
    args: &[String],
) -> Result<(std::process::ExitStatus, String)> {
    let plan = NsPlan::new(env, ScriptKind::Post, true)?;
    let mut cmd = Command::new(program);
    cmd.args(args);
    spawn(cmd, plan).with_context(|| format!("running {program}"))
}

/// Runs `cmd` in the namespace `plan` describes; returns the status and the merged output.
fn spawn(mut cmd: Command, plan: NsPlan) -> Result<(std::process::ExitStatus, String)> {
    let (reader, writer) = nix::unistd::pipe().context("creating a pipe")?;
    let writer2 = writer.try_clone().context("duplicating a pipe")?;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::from(writer))
        .stderr(Stdio::from(writer2))
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        );
    // SAFETY: the closure only makes system calls on data prepared before the fork (no
    // allocation, no locks).
    unsafe {
        cmd.pre_exec(move || plan.enter());
    }
    let mut child = cmd.spawn()?;
    // The parent's copies of the write ends go with `cmd`.
    drop(cmd);
    let mut out = Vec::new();
    std::fs::File::from(reader).read_to_end(&mut out)?;
    let status = child.wait()?;
    Ok((status, String::from_utf8_lossy(&out).into_owned()))
}

/// A device node to create in the restricted `/dev`.
struct Node {
    path: CString,
    kind: SFlag,
    rdev: u64,
}

struct Chroot {
    root: CString,
    dev: CString,
    proc_: CString,
    sys: CString,
    run: CString,
    /// A fresh tmpfs on `/run` (host mode) instead of the installer's `/run`.
    fresh_run: bool,
    esp: Option<(CString, CString)>,
    /// Host directory and mount point (in the host's view of the chroot), bound last.
    binds: Vec<(CString, CString)>,
}

/// Everything the child does between fork and exec, prepared beforehand.
struct NsPlan {
    restrict_dev: Option<Vec<Node>>,
    sysroot_bind: Option<(CString, CString)>,
    chroot: Option<Chroot>,
}

fn cstr(p: &Path) -> Result<CString> {
    CString::new(p.as_os_str().as_bytes()).with_context(|| format!("{} has a NUL", p.display()))
}

/// Harmless character devices a script may use.
const CHAR_DEVICES: &[(&str, u64, u64)] = &[
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

/// The target disks' nodes and their partitions' (`loop3`, `loop3p1`; `sda`, `sda1`).
fn disk_nodes(disks: &[PathBuf]) -> Result<Vec<Node>> {
    let mut out = Vec::new();
    for disk in disks {
        let name = disk
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let dir = disk.parent().unwrap_or(Path::new("/dev"));
        let entries =
            std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))?;
        for e in entries.flatten() {
            let file = e.file_name().to_string_lossy().into_owned();
            let Some(rest) = file.strip_prefix(&name) else {
                continue;
            };
            let digits = if name.ends_with(|c: char| c.is_ascii_digit()) {
                rest.strip_prefix('p')
            } else {
                Some(rest)
            };
            let is_part =
                digits.is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()));
            if !rest.is_empty() && !is_part {
                continue;
            }
            let md = std::fs::metadata(e.path())?;
            if md.file_type().is_block_device() {
                out.push(Node {
                    path: cstr(&Path::new("/dev").join(&file))?,
                    kind: SFlag::S_IFBLK,
                    rdev: md.rdev(),
                });
            }
        }
    }
    Ok(out)
}

impl NsPlan {
    fn new(env: &Env, kind: ScriptKind, chroot: bool) -> Result<Self> {
        let restrict_dev = if env.restrict_dev {
            let mut nodes: Vec<Node> = CHAR_DEVICES
                .iter()
                .map(|(n, maj, min)| {
                    Ok(Node {
                        path: cstr(&Path::new("/dev").join(n))?,
                        kind: SFlag::S_IFCHR,
                        rdev: nix::sys::stat::makedev(*maj, *min),
                    })
                })
                .collect::<Result<_>>()?;
            nodes.extend(disk_nodes(&env.disks)?);
            Some(nodes)
        } else {
            None
        };
        let mut sysroot_bind = None;
        let mut chroot_plan = None;
        if let Some(t) = &env.target {
            if chroot {
                let root = TargetRoot::new(t);
                for d in ["/dev", "/proc", "/sys", "/run", "/tmp"] {
                    root.create_dir_all(d)?;
                }
                let esp = match &env.esp {
                    Some(node) if kernel_has_vfat() => {
                        Some((cstr(node)?, cstr(&root.create_dir_all("/boot/efi")?)?))
                    }
                    _ => None,
                };
                let mut binds = Vec::new();
                for (from, inside) in &env.binds {
                    binds.push((cstr(from)?, cstr(&root.create_dir_all(inside)?)?));
                }
                chroot_plan = Some(Chroot {
                    root: cstr(t)?,
                    dev: cstr(&root.resolve("/dev")?)?,
                    proc_: cstr(&root.resolve("/proc")?)?,
                    sys: cstr(&root.resolve("/sys")?)?,
                    run: cstr(&root.resolve("/run")?)?,
                    fresh_run: env.restrict_dev,
                    esp,
                    binds,
                });
            } else if kind != ScriptKind::Pre && t != Path::new(SYSROOT) {
                std::fs::create_dir_all(SYSROOT)
                    .with_context(|| format!("creating {SYSROOT} for %post --nochroot"))?;
                sysroot_bind = Some((cstr(t)?, cstr(Path::new(SYSROOT))?));
            }
        }
        Ok(NsPlan {
            restrict_dev,
            sysroot_bind,
            chroot: chroot_plan,
        })
    }

    /// In the child: a private mount namespace, then the restricted `/dev`, the target binds
    /// and the chroot.
    fn enter(&self) -> std::io::Result<()> {
        let none: Option<&std::ffi::CStr> = None;
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)?;
        mount(
            none,
            c"/",
            none,
            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            none,
        )?;
        if let Some(nodes) = &self.restrict_dev {
            mount(
                Some(c"kickstand-dev"),
                c"/dev",
                Some(c"tmpfs"),
                MsFlags::MS_NOSUID,
                Some(c"mode=0755,size=64k"),
            )?;
            for n in nodes {
                mknod(
                    n.path.as_c_str(),
                    n.kind,
                    FileMode::from_bits_truncate(0o660),
                    n.rdev,
                )?;
            }
            for (link, to) in [
                (c"/dev/fd", c"/proc/self/fd"),
                (c"/dev/stdin", c"/proc/self/fd/0"),
                (c"/dev/stdout", c"/proc/self/fd/1"),
                (c"/dev/stderr", c"/proc/self/fd/2"),
            ] {
                // SAFETY: two valid NUL-terminated strings.
                if unsafe { libc::symlink(to.as_ptr(), link.as_ptr()) } != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
        }
        if let Some((from, to)) = &self.sysroot_bind {
            mount(
                Some(from.as_c_str()),
                to.as_c_str(),
                none,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                none,
            )?;
        }
        if let Some(c) = &self.chroot {
            let bind = MsFlags::MS_BIND | MsFlags::MS_REC;
            mount(Some(c"/dev"), c.dev.as_c_str(), none, bind, none)?;
            mount(
                Some(c"proc"),
                c.proc_.as_c_str(),
                Some(c"proc"),
                MsFlags::empty(),
                none,
            )?;
            mount(Some(c"/sys"), c.sys.as_c_str(), none, bind, none)?;
            if c.fresh_run {
                mount(
                    Some(c"run"),
                    c.run.as_c_str(),
                    Some(c"tmpfs"),
                    MsFlags::MS_NOSUID,
                    Some(c"mode=0755"),
                )?;
            } else {
                mount(Some(c"/run"), c.run.as_c_str(), none, bind, none)?;
            }
            if let Some((node, dir)) = &c.esp {
                // Best effort: without vfat the ESP is simply not there for the script.
                let _ = mount(
                    Some(node.as_c_str()),
                    dir.as_c_str(),
                    Some(c"vfat"),
                    MsFlags::empty(),
                    none,
                );
            }
            for (from, to) in &c.binds {
                mount(Some(from.as_c_str()), to.as_c_str(), none, bind, none)?;
            }
            nix::unistd::chroot(c.root.as_c_str())?;
            nix::unistd::chdir(c"/")?;
        }
        Ok(())
    }
}

/// Whether this kernel mounts vfat (`/proc/filesystems`; a module may need loading first).
pub fn kernel_has_vfat() -> bool {
    std::fs::read_to_string("/proc/filesystems").is_ok_and(|t| {
        t.lines()
            .any(|l| l.split_whitespace().last() == Some("vfat"))
    })
}
