//! Kernel modules: reading a `/lib/modules/$KVER` tree (`modules.dep`, `modules.softdep`,
//! `modules.alias`, `modules.builtin`) and taking the closure of a wanted list.
//!
//! Module names compare with `-` and `_` as the same character (as modprobe does:
//! `usb-storage` is `usb_storage.ko`). A wanted name may also be an alias (`crc32c`,
//! `fs-vfat`). Softdeps (`pre:` and `post:`) are followed like hard dependencies, since
//! modprobe loads them too; a softdep on an alias pulls in every module providing it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ModulesError {
    #[error("reading {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: expected `MODULE.ko: DEP.ko ...`, found {text:?}")]
    BadDepLine {
        path: PathBuf,
        line: usize,
        text: String,
    },
    #[error(
        "{0} is not a kernel modules directory: no modules.dep in it or in lib/modules/*/ or \
         usr/lib/modules/*/ below it (run depmod, or give /lib/modules/$KVER)"
    )]
    NotAModulesDir(PathBuf),
    #[error("{dir} holds modules for several kernels ({versions}); give one of them")]
    Ambiguous { dir: PathBuf, versions: String },
}

/// `usb-storage` → `usb_storage`.
pub fn normalize_name(name: &str) -> String {
    name.replace('-', "_")
}

/// The module name of a module file path: `kernel/fs/ext4/ext4.ko.zst` → `ext4`.
pub fn module_name(path: &str) -> String {
    let file = path.rsplit('/').next().unwrap_or(path);
    let stem = [".ko.zst", ".ko.xz", ".ko.gz", ".ko"]
        .iter()
        .find_map(|ext| file.strip_suffix(ext))
        .unwrap_or(file);
    normalize_name(stem)
}

/// One module from `modules.dep`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    /// Path relative to the modules directory, as in `modules.dep`.
    pub path: String,
    /// Names of its hard dependencies.
    pub deps: Vec<String>,
}

/// A parsed `/lib/modules/$KVER` directory.
#[derive(Debug, Clone)]
pub struct ModulesDir {
    pub root: PathBuf,
    /// The kernel release the directory is named for.
    pub version: String,
    pub modules: BTreeMap<String, Module>,
    /// Module name → softdep module names (pre and post).
    pub softdeps: BTreeMap<String, Vec<String>>,
    /// `(pattern, module name)` from `modules.alias`, in file order.
    pub aliases: Vec<(String, String)>,
    pub builtin: BTreeSet<String>,
}

/// What a closure found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Closure {
    /// Names of the modules to include, sorted.
    pub modules: Vec<String>,
    /// Wanted names that are built into the kernel (nothing to include).
    pub builtin: Vec<String>,
    /// Wanted names found neither as modules, aliases nor built-ins.
    pub missing: Vec<String>,
}

fn read(path: &Path) -> Result<String, ModulesError> {
    std::fs::read_to_string(path).map_err(|source| ModulesError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn read_optional(path: &Path) -> Result<String, ModulesError> {
    match std::fs::read_to_string(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        other => other.map_err(|source| ModulesError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Finds the `$KVER` directory: `dir` itself when it has `modules.dep`, else the single
/// `lib/modules/*` or `usr/lib/modules/*` (or `*`) below it that has one.
pub fn find_modules_dir(dir: &Path) -> Result<PathBuf, ModulesError> {
    if dir.join("modules.dep").is_file() {
        return Ok(dir.to_path_buf());
    }
    let mut found = BTreeSet::new();
    for base in [
        dir.to_path_buf(),
        dir.join("lib/modules"),
        dir.join("usr/lib/modules"),
    ] {
        let Ok(entries) = std::fs::read_dir(&base) else {
            continue;
        };
        for entry in entries.flatten() {
            let p = entry.path();
            if p.join("modules.dep").is_file() {
                // /lib is often a symlink to /usr/lib: the same tree seen twice.
                found.insert(p.canonicalize().unwrap_or(p));
            }
        }
    }
    match found.len() {
        0 => Err(ModulesError::NotAModulesDir(dir.to_path_buf())),
        1 => Ok(found.pop_first().expect("one element")),
        _ => Err(ModulesError::Ambiguous {
            dir: dir.to_path_buf(),
            versions: found
                .iter()
                .filter_map(|p| p.file_name())
                .map(|n| n.to_string_lossy())
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

impl ModulesDir {
    /// Reads the index files of a modules directory (see [`find_modules_dir`]).
    pub fn open(dir: &Path) -> Result<Self, ModulesError> {
        let root = find_modules_dir(dir)?;
        let version = root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let dep_path = root.join("modules.dep");
        let mut modules = BTreeMap::new();
        for (i, line) in read(&dep_path)?.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let Some((path, deps)) = line.split_once(':') else {
                return Err(ModulesError::BadDepLine {
                    path: dep_path,
                    line: i + 1,
                    text: line.to_string(),
                });
            };
            let deps = deps.split_whitespace().map(module_name).collect();
            modules.insert(
                module_name(path.trim()),
                Module {
                    path: path.trim().to_string(),
                    deps,
                },
            );
        }
        let mut softdeps: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for line in read_optional(&root.join("modules.softdep"))?.lines() {
            let mut words = line.split('#').next().unwrap_or("").split_whitespace();
            if words.next() != Some("softdep") {
                continue;
            }
            let Some(module) = words.next() else { continue };
            let targets = words
                .filter(|w| *w != "pre:" && *w != "post:")
                .map(normalize_name);
            softdeps
                .entry(normalize_name(module))
                .or_default()
                .extend(targets);
        }
        let mut aliases = Vec::new();
        for line in read_optional(&root.join("modules.alias"))?.lines() {
            let mut words = line.split_whitespace();
            if let (Some("alias"), Some(pattern), Some(module)) =
                (words.next(), words.next(), words.next())
            {
                aliases.push((pattern.to_string(), normalize_name(module)));
            }
        }
        let builtin = read_optional(&root.join("modules.builtin"))?
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(module_name)
            .collect();
        Ok(Self {
            root,
            version,
            modules,
            softdeps,
            aliases,
            builtin,
        })
    }

    /// Modules a name stands for: the module itself, else every module with that literal alias.
    fn lookup(&self, name: &str) -> Vec<String> {
        let norm = normalize_name(name);
        if self.modules.contains_key(&norm) {
            return vec![norm];
        }
        let mut found: Vec<String> = self
            .aliases
            .iter()
            .filter(|(pattern, module)| {
                (pattern == name || *pattern == norm) && self.modules.contains_key(module)
            })
            .map(|(_, module)| module.clone())
            .collect();
        found.sort();
        found.dedup();
        found
    }

    fn is_builtin(&self, name: &str) -> bool {
        let norm = normalize_name(name);
        self.builtin.contains(&norm)
            || self
                .aliases
                .iter()
                .any(|(p, m)| (p == name || *p == norm) && self.builtin.contains(m))
    }

    /// The wanted modules with their hard and soft dependencies, transitively.
    pub fn closure<S: AsRef<str>>(&self, wanted: &[S]) -> Closure {
        let mut out = Closure::default();
        let mut included: BTreeSet<String> = BTreeSet::new();
        let mut stack: Vec<String> = Vec::new();
        for name in wanted {
            let name = name.as_ref();
            let found = self.lookup(name);
            if found.is_empty() {
                if self.is_builtin(name) {
                    out.builtin.push(name.to_string());
                } else {
                    out.missing.push(name.to_string());
                }
            }
            stack.extend(found);
        }
        while let Some(name) = stack.pop() {
            if !included.insert(name.clone()) {
                continue;
            }
            let module = &self.modules[&name];
            stack.extend(
                module
                    .deps
                    .iter()
                    .filter(|d| self.modules.contains_key(*d))
                    .cloned(),
            );
            // A softdep on something absent or built in is not an error: modprobe skips it too.
            for soft in self.softdeps.get(&name).into_iter().flatten() {
                stack.extend(self.lookup(soft));
            }
        }
        out.modules = included.into_iter().collect();
        out
    }

    /// `modules.dep` restricted to `included`, so that every module the installer is told
    /// about is in the initramfs.
    pub fn filtered_dep(&self, included: &BTreeSet<String>) -> String {
        let mut out = String::new();
        for name in included {
            let Some(m) = self.modules.get(name) else {
                continue;
            };
            let deps: Vec<&str> = m
                .deps
                .iter()
                .filter_map(|d| self.modules.get(d))
                .map(|d| d.path.as_str())
                .collect();
            out.push_str(&m.path);
            out.push(':');
            for d in deps {
                out.push(' ');
                out.push_str(d);
            }
            out.push('\n');
        }
        out
    }

    /// `modules.alias` restricted to `included`, in the original order.
    pub fn filtered_alias(&self, included: &BTreeSet<String>) -> String {
        let mut out = String::from(
            "# Aliases for the modules in this initramfs (kickstand initramfs build).\n",
        );
        for (pattern, module) in &self.aliases {
            if included.contains(module) {
                out.push_str(&format!("alias {pattern} {module}\n"));
            }
        }
        out
    }

    /// Firmware files a module declares (`firmware=` in its `.modinfo` section).
    pub fn firmware_of(&self, name: &str) -> Result<Vec<String>, ModulesError> {
        let Some(m) = self.modules.get(name) else {
            return Ok(Vec::new());
        };
        let path = self.root.join(&m.path);
        let bytes = std::fs::read(&path).map_err(|source| ModulesError::Read {
            path: path.clone(),
            source,
        })?;
        Ok(modinfo(&bytes, "firmware"))
    }
}

/// Values of `key=` in an (uncompressed) module's `.modinfo` section; empty when the file is
/// compressed or not ELF.
pub fn modinfo(module: &[u8], key: &str) -> Vec<String> {
    let Ok(elf) = goblin::elf::Elf::parse(module) else {
        return Vec::new();
    };
    let Some(section) = elf
        .section_headers
        .iter()
        .find(|s| elf.shdr_strtab.get_at(s.sh_name) == Some(".modinfo"))
    else {
        return Vec::new();
    };
    let start = section.sh_offset as usize;
    let Some(data) = module.get(start..start + section.sh_size as usize) else {
        return Vec::new();
    };
    let prefix = format!("{key}=");
    data.split(|b| *b == 0)
        .filter_map(|entry| std::str::from_utf8(entry).ok())
        .filter_map(|entry| entry.strip_prefix(&prefix))
        .map(str::to_string)
        .collect()
}

/// The kernel's default set for common servers and VMs: storage, network, filesystems,
/// device-mapper (LVM, LUKS) and software RAID. Missing ones are warnings, not errors: a
/// kernel may build some in or leave some out.
pub const DEFAULT_MODULES: &[&str] = &[
    // Storage: VMs.
    "virtio_pci",
    "virtio_blk",
    "virtio_scsi",
    "virtio_console",
    // Storage: bare metal.
    "nvme",
    "ahci",
    "ata_piix",
    "sd_mod",
    "sr_mod",
    "usb-storage",
    "uas",
    "xhci_pci",
    "ehci_pci",
    "mpt3sas",
    "megaraid_sas",
    "hpsa",
    "smartpqi",
    "aacraid",
    // Network.
    "virtio_net",
    "e1000",
    "e1000e",
    "igb",
    "ixgbe",
    "i40e",
    "ice",
    "mlx5_core",
    "bnxt_en",
    "tg3",
    "vmxnet3",
    "r8169",
    // Filesystems.
    "ext4",
    "xfs",
    "btrfs",
    "vfat",
    "nls_cp437",
    "nls_ascii",
    "nls_utf8",
    "isofs",
    "efivarfs",
    "loop",
    "squashfs",
    "overlay",
    // Device mapper: LVM, LUKS; software RAID.
    "dm_mod",
    "dm_crypt",
    "dm_snapshot",
    "dm_mirror",
    "dm_thin_pool",
    "md_mod",
    "raid0",
    "raid1",
    "raid456",
    "raid10",
    // Crypto LUKS needs; crc32c for ext4/xfs/btrfs metadata (the generic one works under TCG).
    "xts",
    "ecb",
    "aes_generic",
    "sha256_generic",
    "af_alg",
    "algif_skcipher",
    "algif_hash",
    "crc32c_generic",
];

#[cfg(test)]
pub(crate) mod tests;
