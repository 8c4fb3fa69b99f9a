//! From a [`Spec`] (installer, modules tree, tools, kickstart) to an [`Archive`] and its
//! [`Contents`], and from there to the compressed file.
//!
//! Layout (merged /usr, as Debian and Fedora): `bin`, `sbin`, `lib`, `lib64` are symlinks into
//! `usr/`; host paths under those map to their `usr/` twin. The installer is `/init` (and
//! `/usr/bin/kickstand-installer`, a hard link); modules go to `/usr/lib/modules/$KVER`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::Compression;
use crate::contents::{Category, Contents};
use crate::cpio::{Archive, CountingWriter, CpioError};
use crate::elf::{ElfError, Resolver};
use crate::modules::{ModulesDir, ModulesError};

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Cpio(#[from] CpioError),
    #[error(transparent)]
    Modules(#[from] ModulesError),
    #[error(transparent)]
    Kernel(#[from] crate::kernel::KernelError),
    #[error("finding the shared libraries of {program}")]
    Elf {
        program: PathBuf,
        #[source]
        source: ElfError,
    },
    #[error("the installer {0} does not exist (build it, or give --installer)")]
    NoInstaller(PathBuf),
    #[error("the kickstart {0} does not exist")]
    NoKickstart(PathBuf),
    #[error("the firmware directory {0} is not a directory")]
    NoFirmware(PathBuf),
    #[error("writing {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What to put into the initramfs.
#[derive(Debug, Clone)]
pub struct Spec {
    /// `kickstand-installer`, which becomes `/init`.
    pub installer: PathBuf,
    /// `/lib/modules/$KVER` (or a directory holding exactly one such tree).
    pub modules_dir: PathBuf,
    /// The kernel the initramfs is for; its release must be the modules'.
    pub kernel: Option<PathBuf>,
    /// Wanted modules (names or aliases); see [`crate::modules::DEFAULT_MODULES`].
    pub modules: Vec<String>,
    /// Where firmware the included modules declare is looked up (`/lib/firmware`).
    pub firmware_dir: Option<PathBuf>,
    /// Embedded as `/ks.cfg`.
    pub kickstart: Option<PathBuf>,
    /// External programs the installer runs (its single list); `busybox` also gets its applet
    /// symlinks. Missing ones are warnings.
    pub tools: Vec<String>,
    /// Where tools are looked up, in order.
    pub tool_dirs: Vec<PathBuf>,
    /// The CA bundle for TLS (`/etc/ssl/certs/ca-certificates.crt`), if any.
    pub ca_bundle: Option<PathBuf>,
    pub resolver: Resolver,
}

/// Where host tools are looked for.
pub const DEFAULT_TOOL_DIRS: &[&str] = &["/usr/sbin", "/usr/bin", "/sbin", "/bin"];
pub const DEFAULT_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Data files some tools read, included along with them when present on the host.
const TOOL_DATA: &[(&str, &[&str])] = &[
    ("mkfs.ext4", &["/etc/mke2fs.conf"]),
    ("mke2fs", &["/etc/mke2fs.conf"]),
    // mtools converts FAT names through iconv (codepage 850): glibc dlopens these.
    ("mmd", MTOOLS_GCONV),
    ("mcopy", MTOOLS_GCONV),
    ("mdir", MTOOLS_GCONV),
];

const MTOOLS_GCONV: &[&str] = &[
    "/usr/lib/x86_64-linux-gnu/gconv/gconv-modules.cache",
    "/usr/lib/x86_64-linux-gnu/gconv/gconv-modules",
    "/usr/lib/x86_64-linux-gnu/gconv/gconv-modules.d/gconv-modules-extra.conf",
    "/usr/lib/x86_64-linux-gnu/gconv/IBM850.so",
    "/usr/lib/x86_64-linux-gnu/gconv/IBM437.so",
];

impl Spec {
    /// A spec with the default modules, tool directories and CA bundle.
    pub fn new(installer: PathBuf, modules_dir: PathBuf, tools: &[&str]) -> Self {
        Self {
            installer,
            modules_dir,
            kernel: None,
            modules: crate::modules::DEFAULT_MODULES
                .iter()
                .map(|s| s.to_string())
                .collect(),
            firmware_dir: None,
            kickstart: None,
            tools: tools.iter().map(|s| s.to_string()).collect(),
            tool_dirs: DEFAULT_TOOL_DIRS.iter().map(PathBuf::from).collect(),
            ca_bundle: Some(PathBuf::from(DEFAULT_CA_BUNDLE)).filter(|p| p.is_file()),
            resolver: Resolver::default(),
        }
    }
}

/// Host path → archive path, folding `/bin`, `/sbin`, `/lib`, `/lib64` into `usr/`.
pub fn usr_path(host: &Path) -> String {
    let s = host.to_string_lossy();
    let rel = s.trim_start_matches('/');
    for top in ["bin", "sbin", "lib", "lib64"] {
        if rel == top || rel.starts_with(&format!("{top}/")) {
            return format!("usr/{rel}");
        }
    }
    rel.to_string()
}

/// Collects regular files, turning a second name for the same host file into a hard link.
struct Builder {
    archive: Archive,
    contents: Contents,
    /// Canonical host path → archive path of its first copy.
    copies: BTreeMap<PathBuf, String>,
}

impl Builder {
    fn file(
        &mut self,
        category: Category,
        path: &str,
        perm: u32,
        host: &Path,
    ) -> Result<(), BuildError> {
        if self.archive.contains(path) {
            return Ok(());
        }
        let canonical = host.canonicalize().unwrap_or_else(|_| host.to_path_buf());
        if let Some(first) = self.copies.get(&canonical) {
            let first = first.clone();
            self.archive.add_hard_link(path, &first)?;
            return Ok(());
        }
        let size = self.archive.add_file(path, perm, host)?;
        self.copies.insert(canonical, path.to_string());
        self.contents.add(category, path, size);
        Ok(())
    }

    /// A program and its loader and libraries.
    fn program(
        &mut self,
        category: Category,
        path: &str,
        host: &Path,
        resolver: &Resolver,
    ) -> Result<bool, BuildError> {
        let deps = resolver.resolve(host).map_err(|source| BuildError::Elf {
            program: host.to_path_buf(),
            source,
        })?;
        self.file(category, path, 0o755, host)?;
        if let Some(interp) = &deps.interpreter {
            self.file(Category::Library, &usr_path(interp), 0o755, interp)?;
        }
        for lib in &deps.libraries {
            self.file(Category::Library, &usr_path(lib), 0o644, lib)?;
        }
        Ok(deps.is_static())
    }
}

fn skeleton(archive: &mut Archive) -> Result<(), CpioError> {
    for dir in [
        "usr/bin",
        "usr/sbin",
        "usr/lib",
        "usr/lib64",
        "etc",
        "proc",
        "sys",
        "dev",
        "run",
        "mnt/sysroot",
        "var/log",
        "root",
    ] {
        archive.add_dir(dir, if dir == "root" { 0o700 } else { 0o755 })?;
    }
    archive.add_dir("tmp", 0o1777)?;
    for top in ["bin", "sbin", "lib", "lib64"] {
        archive.add_symlink(top, &format!("usr/{top}"))?;
    }
    // The kernel opens /dev/console for /init's stdio before anything can mount devtmpfs.
    archive.add_char_dev("dev/console", 0o600, 5, 1)?;
    archive.add_char_dev("dev/null", 0o666, 1, 3)?;
    archive.add_symlink("etc/mtab", "/proc/self/mounts")?;
    archive.add_bytes(
        "etc/passwd",
        0o644,
        b"root:x:0:0:root:/root:/bin/sh\n".to_vec(),
    )?;
    archive.add_bytes("etc/group", 0o644, b"root:x:0:\n".to_vec())?;
    Ok(())
}

fn find_tool(name: &str, dirs: &[PathBuf]) -> Option<PathBuf> {
    dirs.iter().map(|d| d.join(name)).find(|p| p.is_file())
}

/// Busybox's applets as `(dir, name)`, from `busybox --list-full`.
fn busybox_applets(busybox: &Path) -> Vec<String> {
    let out = std::process::Command::new(busybox)
        .arg("--list-full")
        .stdin(std::process::Stdio::null())
        .output();
    match out {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect(),
        // A busybox that cannot run here (another architecture): the shells at least.
        _ => vec!["bin/sh".into(), "bin/ash".into()],
    }
}

/// Builds the archive and its report. Validates every input before reading any file.
pub fn assemble(spec: &Spec) -> Result<(Archive, Contents), BuildError> {
    if !spec.installer.is_file() {
        return Err(BuildError::NoInstaller(spec.installer.clone()));
    }
    if let Some(ks) = &spec.kickstart
        && !ks.is_file()
    {
        return Err(BuildError::NoKickstart(ks.clone()));
    }
    if let Some(fw) = &spec.firmware_dir
        && !fw.is_dir()
    {
        return Err(BuildError::NoFirmware(fw.clone()));
    }
    let modules = ModulesDir::open(&spec.modules_dir)?;
    if let Some(kernel) = &spec.kernel {
        crate::kernel::check_match(kernel, &modules.root, &modules.version)?;
    }
    let mut b = Builder {
        archive: Archive::new(),
        contents: Contents::default(),
        copies: BTreeMap::new(),
    };
    b.contents.kernel_version = modules.version.clone();
    skeleton(&mut b.archive)?;

    // The installer as /init.
    let is_static = b.program(Category::Installer, "init", &spec.installer, &spec.resolver)?;
    if !is_static {
        b.contents.warn(format!(
            "the installer {} is dynamically linked; its libraries were added, but a static build \
             (RUSTFLAGS='-C target-feature=+crt-static') is what a release ships",
            spec.installer.display()
        ));
    }
    b.archive
        .add_hard_link("usr/bin/kickstand-installer", "init")?;
    if let Some(ks) = &spec.kickstart {
        b.file(Category::Kickstart, "ks.cfg", 0o600, ks)?;
    }

    // Tools, then busybox applets where no real tool has the name.
    let mut busybox = None;
    for tool in &spec.tools {
        let Some(host) = find_tool(tool, &spec.tool_dirs) else {
            let dirs: Vec<String> = spec
                .tool_dirs
                .iter()
                .map(|d| d.display().to_string())
                .collect();
            b.contents.warn(format!(
                "tool {tool} not found in {}; the installer cannot use it",
                dirs.join(":")
            ));
            continue;
        };
        let path = usr_path(&host.parent().unwrap_or(Path::new("/usr/bin")).join(tool));
        b.program(Category::Tool, &path, &host, &spec.resolver)?;
        if tool == "busybox" {
            busybox = Some((host.clone(), path.clone()));
        }
        for (name, files) in TOOL_DATA {
            if name == tool {
                for data in files.iter().map(Path::new).filter(|p| p.is_file()) {
                    b.file(Category::Config, &usr_path(data), 0o644, data)?;
                }
            }
        }
    }
    if let Some((host, path)) = busybox {
        for applet in busybox_applets(&host) {
            let link = usr_path(Path::new(&applet));
            if !b.archive.contains(&link) && crate::cpio::normalize(&link).is_ok() {
                b.archive.add_symlink(&link, &format!("/{path}"))?;
                b.contents.applets += 1;
            }
        }
    }

    if let Some(ca) = &spec.ca_bundle {
        b.file(
            Category::Certificates,
            "etc/ssl/certs/ca-certificates.crt",
            0o644,
            ca,
        )?;
    }

    // Kernel modules, their indexes and firmware.
    let closure = modules.closure(&spec.modules);
    for name in &closure.missing {
        b.contents.warn(format!(
            "module {name} is not in {} (nor built in); skipped",
            modules.root.display()
        ));
    }
    let base = format!("usr/lib/modules/{}", modules.version);
    let included: BTreeSet<String> = closure.modules.iter().cloned().collect();
    for name in &closure.modules {
        let m = &modules.modules[name];
        b.file(
            Category::Module,
            &format!("{base}/{}", m.path),
            0o644,
            &modules.root.join(&m.path),
        )?;
    }
    let indexes = [
        ("modules.dep", Some(modules.filtered_dep(&included))),
        ("modules.alias", Some(modules.filtered_alias(&included))),
        ("modules.softdep", None),
        ("modules.builtin", None),
        ("modules.builtin.modinfo", None),
    ];
    for (file, filtered) in indexes {
        let path = format!("{base}/{file}");
        match filtered {
            Some(text) => {
                let size = text.len() as u64;
                b.archive.add_bytes(&path, 0o644, text.into_bytes())?;
                b.contents.add(Category::ModuleIndex, &path, size);
            }
            None if modules.root.join(file).is_file() => {
                b.file(
                    Category::ModuleIndex,
                    &path,
                    0o644,
                    &modules.root.join(file),
                )?;
            }
            None => {}
        }
    }
    if let Some(fw_dir) = &spec.firmware_dir {
        let mut absent = 0usize;
        for name in &closure.modules {
            for fw in modules.firmware_of(name)? {
                let found = ["", ".zst", ".xz"]
                    .iter()
                    .map(|ext| (format!("{fw}{ext}"), fw_dir.join(format!("{fw}{ext}"))))
                    .find(|(_, p)| p.is_file());
                match found {
                    Some((rel, host)) if crate::cpio::normalize(&rel).is_ok() => {
                        b.file(
                            Category::Firmware,
                            &format!("usr/lib/firmware/{rel}"),
                            0o644,
                            &host,
                        )?;
                    }
                    _ => absent += 1,
                }
            }
        }
        if absent > 0 {
            b.contents.warn(format!(
                "{absent} firmware files the included modules can use are not in {} (most are for other hardware revisions)",
                fw_dir.display()
            ));
        }
    }
    Ok((b.archive, b.contents))
}

/// The mtime every entry gets: `SOURCE_DATE_EPOCH` when set, else 0, so builds are
/// reproducible by default.
pub fn source_date_epoch() -> u64 {
    std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// Sizes of a written initramfs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    pub uncompressed: u64,
    pub compressed: u64,
}

/// Streams the archive through the compressor into `output`. The file appears only when
/// complete: it is written under a temporary name in the same directory and renamed; on error
/// the temporary file is removed and an existing `output` is left as it was.
pub fn write_image(
    archive: &Archive,
    compression: Compression,
    mtime: u64,
    output: &Path,
) -> Result<Written, BuildError> {
    let err = |source| BuildError::Write {
        path: output.to_path_buf(),
        source,
    };
    let dir = output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = tempfile::Builder::new()
        .prefix(".initramfs-")
        .tempfile_in(dir)
        .map_err(err)?;
    let counted = CountingWriter {
        inner: BufWriter::new(tmp.as_file()),
        count: 0,
    };
    let mut encoder = compression.encoder(counted).map_err(err)?;
    let uncompressed = archive.write_to(&mut encoder, mtime).map_err(err)?;
    let mut counted = encoder.finish().map_err(err)?;
    counted.flush().map_err(err)?;
    let compressed = counted.count;
    drop(counted);
    use std::os::unix::fs::PermissionsExt;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o644))
        .map_err(err)?;
    tmp.as_file().sync_all().map_err(err)?;
    tmp.persist(output).map_err(|e| err(e.error))?;
    Ok(Written {
        uncompressed,
        compressed,
    })
}

#[cfg(test)]
mod tests;
