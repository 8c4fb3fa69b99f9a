//! Shared-library closure of an ELF program, found by reading its `PT_INTERP` and `DT_NEEDED`
//! entries the way ld.so searches for them — never by running `ldd` (which executes the
//! program's interpreter, and cannot work for a foreign architecture).
//!
//! Search order per object, as ld.so: `DT_RPATH` (only when there is no `DT_RUNPATH`), then
//! `DT_RUNPATH`, then the system directories. `$ORIGIN` is expanded. A candidate of another
//! ELF class or machine (an i386 library in a multilib directory) is skipped, as ld.so does.
//!
//! goblin is used rather than object: it hands out exactly these dynamic-section facts
//! (`interpreter`, `libraries`, `rpaths`, `runpaths`) from one parse, where object needs the
//! dynamic table walked by hand.

use std::collections::{BTreeSet, VecDeque};
use std::path::{Path, PathBuf};

/// Where ld.so looks after RPATH/RUNPATH on Debian x86-64 (multiarch first).
pub const DEFAULT_LIBRARY_DIRS: &[&str] = &[
    "/lib/x86_64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu",
    "/lib64",
    "/usr/lib64",
    "/lib",
    "/usr/lib",
];

#[derive(Debug, thiserror::Error)]
pub enum ElfError {
    #[error("reading {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a valid ELF file")]
    Parse {
        path: PathBuf,
        #[source]
        source: goblin::error::Error,
    },
    #[error("{needed_by} needs {library}, which is in none of: {searched}")]
    NotFound {
        library: String,
        needed_by: PathBuf,
        searched: String,
    },
}

/// The files a program needs at run time besides itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dependencies {
    /// The dynamic loader (`PT_INTERP`), as the program names it (e.g. `/lib64/ld-linux-x86-64.so.2`).
    pub interpreter: Option<PathBuf>,
    /// Every library in the closure, as the path where it was found (may be a symlink).
    pub libraries: Vec<PathBuf>,
}

impl Dependencies {
    /// Statically linked: no loader and no libraries.
    pub fn is_static(&self) -> bool {
        self.interpreter.is_none() && self.libraries.is_empty()
    }
}

/// Resolves `DT_NEEDED` closures against a list of system library directories.
#[derive(Debug, Clone)]
pub struct Resolver {
    pub system_dirs: Vec<PathBuf>,
}

impl Default for Resolver {
    fn default() -> Self {
        Self {
            system_dirs: DEFAULT_LIBRARY_DIRS.iter().map(PathBuf::from).collect(),
        }
    }
}

struct Parsed {
    interpreter: Option<String>,
    needed: Vec<String>,
    search: Vec<PathBuf>,
    class64: bool,
    machine: u16,
}

fn parse(path: &Path) -> Result<Parsed, ElfError> {
    let bytes = std::fs::read(path).map_err(|source| ElfError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let elf = goblin::elf::Elf::parse(&bytes).map_err(|source| ElfError::Parse {
        path: path.to_path_buf(),
        source,
    })?;
    let origin = path
        .parent()
        .unwrap_or(Path::new("/"))
        .to_string_lossy()
        .into_owned();
    // DT_RPATH is ignored when DT_RUNPATH is present.
    let paths = if elf.runpaths.is_empty() {
        &elf.rpaths
    } else {
        &elf.runpaths
    };
    let search = paths
        .iter()
        .flat_map(|p| p.split(':'))
        .filter(|p| !p.is_empty())
        .map(|p| PathBuf::from(p.replace("${ORIGIN}", &origin).replace("$ORIGIN", &origin)))
        .collect();
    Ok(Parsed {
        interpreter: elf.interpreter.map(str::to_string),
        needed: elf.libraries.iter().map(|s| s.to_string()).collect(),
        search,
        class64: elf.is_64,
        machine: elf.header.e_machine,
    })
}

/// Whether `path` is an ELF object of the given class and machine.
fn compatible(path: &Path, class64: bool, machine: u16) -> bool {
    let Ok(bytes) = std::fs::read(path) else {
        return false;
    };
    match goblin::elf::Elf::parse_header(&bytes) {
        Ok(h) => {
            (h.e_ident[goblin::elf::header::EI_CLASS] == goblin::elf::header::ELFCLASS64) == class64
                && h.e_machine == machine
        }
        Err(_) => false,
    }
}

impl Resolver {
    /// The loader and library closure of `program`, in the order first needed.
    pub fn resolve(&self, program: &Path) -> Result<Dependencies, ElfError> {
        let root = parse(program)?;
        let (class64, machine) = (root.class64, root.machine);
        let mut deps = Dependencies {
            interpreter: root.interpreter.as_ref().map(PathBuf::from),
            ..Default::default()
        };
        let mut seen_names: BTreeSet<String> = BTreeSet::new();
        let mut seen_paths: BTreeSet<PathBuf> = BTreeSet::new();
        let mut queue: VecDeque<(PathBuf, Parsed)> =
            VecDeque::from([(program.to_path_buf(), root)]);
        while let Some((path, parsed)) = queue.pop_front() {
            for name in &parsed.needed {
                if !seen_names.insert(name.clone()) {
                    continue;
                }
                let found = if name.contains('/') {
                    Some(PathBuf::from(name)).filter(|p| p.is_file())
                } else {
                    parsed
                        .search
                        .iter()
                        .chain(&self.system_dirs)
                        .map(|dir| dir.join(name))
                        .find(|c| c.is_file() && compatible(c, class64, machine))
                };
                let Some(found) = found else {
                    let searched: Vec<String> = parsed
                        .search
                        .iter()
                        .chain(&self.system_dirs)
                        .map(|d| d.display().to_string())
                        .collect();
                    return Err(ElfError::NotFound {
                        library: name.clone(),
                        needed_by: path,
                        searched: searched.join(", "),
                    });
                };
                // The loader is already there as the interpreter; libc names it in DT_NEEDED too.
                if deps
                    .interpreter
                    .as_ref()
                    .is_some_and(|i| i.file_name() == found.file_name())
                {
                    continue;
                }
                if seen_paths.insert(found.clone()) {
                    let parsed = parse(&found)?;
                    deps.libraries.push(found.clone());
                    queue.push_back((found, parsed));
                }
            }
        }
        Ok(deps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(deps: &Dependencies) -> Vec<String> {
        deps.libraries
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn mkfs_ext4_needs_libext2fs_and_libc_through_the_real_loader() {
        let deps = Resolver::default()
            .resolve(Path::new("/usr/sbin/mkfs.ext4"))
            .unwrap();
        assert_eq!(
            deps.interpreter.as_deref(),
            Some(Path::new("/lib64/ld-linux-x86-64.so.2"))
        );
        let names = names(&deps);
        for lib in [
            "libext2fs.so.2",
            "libcom_err.so.2",
            "libblkid.so.1",
            "libuuid.so.1",
            "libe2p.so.2",
            "libc.so.6",
        ] {
            assert!(
                names.iter().any(|n| n == lib),
                "{lib} missing from {names:?}"
            );
        }
        assert!(
            !names.iter().any(|n| n.starts_with("ld-linux")),
            "loader listed as a library: {names:?}"
        );
        for lib in &deps.libraries {
            assert!(
                lib.starts_with("/lib/x86_64-linux-gnu")
                    || lib.starts_with("/usr/lib/x86_64-linux-gnu"),
                "{lib:?}"
            );
        }
    }

    /// ldd (glibc's loader in trace mode) as the oracle, for programs with indirect libraries.
    #[test]
    fn the_closure_is_what_the_real_loader_loads() {
        for program in [
            "/usr/sbin/sfdisk",
            "/usr/sbin/mkfs.xfs",
            "/usr/sbin/mkfs.ext4",
            "/usr/sbin/cryptsetup",
            "/usr/sbin/lvm",
        ] {
            if !Path::new(program).exists() {
                eprintln!("{program} not installed; skipped");
                continue;
            }
            let out = std::process::Command::new("ldd")
                .arg(program)
                .output()
                .unwrap();
            let mut expected: Vec<String> = String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter_map(|l| {
                    l.split_once(" => ")
                        .map(|(name, _)| name.trim().to_string())
                })
                .collect();
            expected.sort();
            let deps = Resolver::default().resolve(Path::new(program)).unwrap();
            let mut ours = names(&deps);
            ours.sort();
            assert_eq!(ours, expected, "{program}");
        }
        let direct = parse(Path::new("/usr/sbin/sfdisk")).unwrap().needed.len();
        let closure = Resolver::default()
            .resolve(Path::new("/usr/sbin/sfdisk"))
            .unwrap()
            .libraries
            .len();
        assert!(
            closure > direct,
            "sfdisk's closure ({closure}) should exceed its DT_NEEDED ({direct})"
        );
    }

    #[test]
    fn static_busybox_has_no_dependencies() {
        let deps = Resolver::default()
            .resolve(Path::new("/bin/busybox"))
            .unwrap();
        assert!(deps.is_static(), "{deps:?}");
    }

    #[test]
    fn a_missing_library_names_the_library_the_needer_and_the_search_path() {
        let resolver = Resolver {
            system_dirs: vec![PathBuf::from("/nonexistent")],
        };
        let err = resolver
            .resolve(Path::new("/usr/sbin/mkfs.ext4"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("/usr/sbin/mkfs.ext4 needs lib"), "{err}");
        assert!(err.contains("/nonexistent"), "{err}");
    }

    #[test]
    fn runpath_with_origin_is_searched_first() {
        // Copy a real program and its libc next to it, then give it no system dirs: only a
        // RUNPATH of $ORIGIN/lib could find them. Patching ELF is heavy; instead check the
        // parser's expansion on a program built with such a RUNPATH if a compiler is present.
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("p.c");
        std::fs::write(&src, "int main(void){return 0;}\n").unwrap();
        let exe = dir.path().join("p");
        let built = std::process::Command::new("cc")
            .arg(&src)
            .arg("-o")
            .arg(&exe)
            .arg("-Wl,--enable-new-dtags,-rpath,$ORIGIN/lib")
            .status();
        if !built.is_ok_and(|s| s.success()) {
            eprintln!("SKIPPED runpath_with_origin_is_searched_first: no C compiler");
            return;
        }
        let lib = dir.path().join("lib");
        std::fs::create_dir(&lib).unwrap();
        std::fs::copy("/lib/x86_64-linux-gnu/libc.so.6", lib.join("libc.so.6")).unwrap();
        let deps = Resolver::default().resolve(&exe).unwrap();
        assert_eq!(deps.libraries, vec![lib.join("libc.so.6")]);
    }

    #[test]
    fn a_non_elf_file_is_a_parse_error() {
        let err = Resolver::default()
            .resolve(Path::new("/etc/passwd"))
            .unwrap_err();
        assert!(matches!(err, ElfError::Parse { .. }), "{err:?}");
    }
}
