//! Kernel modules without udev or kmod: [`Modules`] loads a module after its dependencies
//! (`modules.dep`) and `pre:` softdeps with `finit_module(2)`, and [`coldplug`] loads the
//! drivers for every device in `/sys/devices` (their `modalias` matched against
//! `modules.alias`), round after round until no new device appears, then waits for the block
//! devices and network interfaces to settle.
//!
//! A module that fails to load is logged and skipped: one odd device must not stop an install
//! on the disks and NICs that work.

use crate::boot::modalias::AliasIndex;
use kickstand_initramfs::modules::{ModulesDir, normalize_name};
use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The modules of the running kernel and what was loaded so far.
#[derive(Debug)]
pub struct Modules {
    dir: ModulesDir,
    aliases: AliasIndex,
    loaded: HashSet<String>,
    failed: HashSet<String>,
}

/// `/usr/lib/modules/$(uname -r)`.
pub fn modules_dir() -> PathBuf {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let release = release.trim();
    Path::new("/usr/lib/modules").join(release)
}

impl Modules {
    /// Reads the module indexes of the running kernel.
    pub fn open(dir: &Path) -> anyhow::Result<Self> {
        use anyhow::Context;
        let modules = ModulesDir::open(dir)
            .with_context(|| format!("reading the kernel modules in {}", dir.display()))?;
        let alias_text =
            std::fs::read_to_string(modules.root.join("modules.alias")).unwrap_or_default();
        Ok(Self {
            aliases: AliasIndex::parse(&alias_text),
            dir: modules,
            loaded: HashSet::new(),
            failed: HashSet::new(),
        })
    }

    /// Whether the kernel has `name` already (loaded, or built in).
    fn present(&self, name: &str) -> bool {
        self.loaded.contains(name)
            || self.dir.builtin.contains(name)
            || Path::new("/sys/module")
                .join(name)
                .join("initstate")
                .exists()
    }

    /// Loads `name` (a module name or an alias) after its dependencies. Returns whether it is
    /// in the kernel afterwards.
    pub fn load(&mut self, name: &str) -> bool {
        let name = normalize_name(name);
        if !self.dir.modules.contains_key(&name) {
            // An alias (`fs-vfat`, `crc32c`): every module providing it.
            let providers: Vec<String> = self
                .dir
                .aliases
                .iter()
                .filter(|(p, _)| *p == name)
                .map(|(_, m)| m.clone())
                .collect();
            if providers.is_empty() {
                return self.dir.builtin.contains(&name);
            }
            let mut any = false;
            for p in providers {
                any |= self.load(&p);
            }
            return any;
        }
        self.load_module(&name, &mut BTreeSet::new())
    }

    fn load_module(&mut self, name: &str, visiting: &mut BTreeSet<String>) -> bool {
        if self.present(name) {
            return true;
        }
        if self.failed.contains(name) || !visiting.insert(name.to_string()) {
            return false;
        }
        let Some(module) = self.dir.modules.get(name).cloned() else {
            return false;
        };
        for soft in self.dir.softdeps.get(name).cloned().unwrap_or_default() {
            let providers = if self.dir.modules.contains_key(&soft) {
                vec![soft]
            } else {
                self.dir
                    .aliases
                    .iter()
                    .filter(|(p, _)| *p == soft)
                    .map(|(_, m)| m.clone())
                    .collect()
            };
            for p in providers {
                self.load_module(&p, visiting);
            }
        }
        // modules.dep lists dependencies deepest last; load them in reverse.
        for dep in module.deps.iter().rev() {
            if !self.load_module(dep, visiting) {
                tracing::warn!("module {name}: its dependency {dep} did not load; skipping it");
                self.failed.insert(name.to_string());
                return false;
            }
        }
        let path = self.dir.root.join(&module.path);
        let result = std::fs::File::open(&path)
            .map_err(|e| e.to_string())
            .and_then(|f| {
                nix::kmod::finit_module(&f, c"", nix::kmod::ModuleInitFlags::empty())
                    .map_err(|e| e.to_string())
            });
        match result {
            Ok(()) => {
                tracing::debug!("loaded module {name}");
                self.loaded.insert(name.to_string());
                true
            }
            Err(e) if e.contains("EEXIST") => {
                self.loaded.insert(name.to_string());
                true
            }
            Err(e) => {
                tracing::warn!("module {name} ({}) did not load: {e}", path.display());
                self.failed.insert(name.to_string());
                false
            }
        }
    }

    /// Names of the modules this process loaded.
    pub fn loaded(&self) -> Vec<String> {
        let mut v: Vec<String> = self.loaded.iter().cloned().collect();
        v.sort();
        v
    }
}

/// Every `modalias` under `/sys/devices` (symlinks not followed).
fn modaliases(sys_devices: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![sys_devices.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(kind) = e.file_type() else { continue };
            if kind.is_dir() {
                stack.push(e.path());
            } else if kind.is_file()
                && e.file_name() == "modalias"
                && let Ok(text) = std::fs::read_to_string(e.path())
            {
                let alias = text.trim();
                if !alias.is_empty() {
                    out.insert(alias.to_string());
                }
            }
        }
    }
    out
}

/// Entries of a sysfs class directory (`/sys/class/block`).
fn class_entries(class: &str) -> BTreeSet<String> {
    std::fs::read_dir(Path::new("/sys/class").join(class))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// What coldplug did.
#[derive(Debug, Clone, Default)]
pub struct Coldplug {
    pub rounds: usize,
    pub devices: usize,
    pub block: Vec<String>,
    pub net: Vec<String>,
}

/// How long the device set must stay unchanged to count as settled. Disk controllers (AHCI,
/// NVMe) scan their ports asynchronously after the driver loaded.
const SETTLE: Duration = Duration::from_millis(1500);
const POLL: Duration = Duration::from_millis(100);

/// Loads drivers for all devices until nothing new appears for [`SETTLE`] (at most
/// `timeout`).
pub fn coldplug(modules: &mut Modules, timeout: Duration) -> Coldplug {
    let start = Instant::now();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut result = Coldplug::default();
    let mut last_change = Instant::now();
    let mut last_state = (BTreeSet::new(), BTreeSet::new());
    loop {
        let now = modaliases(Path::new("/sys/devices"));
        let new: Vec<String> = now.difference(&seen).cloned().collect();
        if !new.is_empty() {
            result.rounds += 1;
            let wanted = modules.aliases.modules_for(new.iter().map(String::as_str));
            for m in wanted {
                modules.load(&m);
            }
            seen.extend(new);
            last_change = Instant::now();
        }
        let state = (class_entries("block"), class_entries("net"));
        if state != last_state {
            last_state = state;
            last_change = Instant::now();
        }
        if last_change.elapsed() >= SETTLE {
            break;
        }
        if start.elapsed() >= timeout {
            tracing::warn!("devices were still appearing after {timeout:?}; going on");
            break;
        }
        std::thread::sleep(POLL);
    }
    result.devices = seen.len();
    result.block = last_state.0.into_iter().collect();
    result.net = last_state.1.into_iter().filter(|n| n != "lo").collect();
    result
}
