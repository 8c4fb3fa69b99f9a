//! The image's kernel (`/usr/lib/modules/$KVER/{vmlinuz,initramfs.img}`) and the kernel
//! command line of the installed system.

use std::fs;

use serde::Deserialize;

use super::error::{DeployError, Result};
use super::target::TargetRoot;

/// Where bootable images keep their kernels.
pub const MODULES_DIR: &str = "/usr/lib/modules";
/// Where bootc images keep extra kernel arguments.
pub const KARGS_DIR: &str = "/usr/lib/bootc/kargs.d";

/// The image's kernel, as paths inside the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kernel {
    /// `$KVER`.
    pub version: String,
    /// `/usr/lib/modules/$KVER/vmlinuz`.
    pub vmlinuz: String,
    /// `/usr/lib/modules/$KVER/initramfs.img`.
    pub initramfs: String,
}

/// Finds the image's one kernel: exactly one `/usr/lib/modules/$KVER` with a `vmlinuz`, and
/// its `initramfs.img`. Directories without `vmlinuz` (extra module trees) are ignored.
pub fn find(root: &TargetRoot) -> Result<Kernel> {
    let dir = root.resolve(MODULES_DIR)?;
    let mut versions = Vec::new();
    if let Ok(entries) = fs::read_dir(&dir) {
        for entry in entries {
            let entry = entry.map_err(|e| DeployError::io("reading", &dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if root
                .resolve(&format!("{MODULES_DIR}/{name}/vmlinuz"))?
                .is_file()
            {
                versions.push(name);
            }
        }
    }
    versions.sort();
    let version = match versions.as_slice() {
        [] => {
            return Err(DeployError::MissingInImage {
                path: format!("{MODULES_DIR}/<KVER>/vmlinuz"),
                why: "a bootable container image carries its kernel there; this one has no kernel"
                    .into(),
            });
        }
        [one] => one.clone(),
        many => {
            return Err(DeployError::Invalid(format!(
                "the image has {} kernels ({}) in {MODULES_DIR}; a bootable container image has exactly one",
                many.len(),
                many.join(", ")
            )));
        }
    };
    let kernel = Kernel {
        vmlinuz: format!("{MODULES_DIR}/{version}/vmlinuz"),
        initramfs: format!("{MODULES_DIR}/{version}/initramfs.img"),
        version,
    };
    if !root.resolve(&kernel.initramfs)?.is_file() {
        return Err(DeployError::MissingInImage {
            path: kernel.initramfs.clone(),
            why: format!(
                "a bootable container image ships the initramfs of its kernel {} next to it",
                kernel.version
            ),
        });
    }
    Ok(kernel)
}

/// One `kargs.d` file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KargsFile {
    kargs: Vec<String>,
    #[serde(rename = "match-architectures")]
    match_architectures: Option<Vec<String>>,
}

/// The installed system's kernel command line: `root=ROOT_SPEC rw` (`UUID=…`, or
/// `/dev/mapper/VG-LV` for a logical volume), then the arguments of the
/// image's `kargs.d/*.toml` files (in file-name order, those whose `match-architectures`
/// include `arch`, a Rust `std::env::consts::ARCH` name as bootc uses), then `append` (the
/// `bootloader --append` words).
pub fn command_line(
    root: &TargetRoot,
    root_spec: &str,
    append: &[String],
    arch: &str,
) -> Result<Vec<String>> {
    let mut args = vec![format!("root={root_spec}"), "rw".to_string()];
    let dir = root.resolve(KARGS_DIR)?;
    let mut files = Vec::new();
    if let Ok(entries) = fs::read_dir(&dir) {
        for entry in entries {
            let entry = entry.map_err(|e| DeployError::io("reading", &dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".toml") {
                files.push(name);
            }
        }
    }
    files.sort();
    for name in files {
        let path = format!("{KARGS_DIR}/{name}");
        let text = root.read_optional(&path)?.unwrap_or_default();
        let file: KargsFile = toml::from_str(&text).map_err(|e| DeployError::Format {
            path: path.clone(),
            line: 0,
            message: format!(
                "expected `kargs = [\"...\"]` and optional `match-architectures = [\"x86_64\"]`: {}",
                e.message()
            ),
        })?;
        if file
            .match_architectures
            .is_some_and(|archs| !archs.iter().any(|a| a == arch))
        {
            continue;
        }
        for karg in file.kargs {
            check_karg(&path, &karg)?;
            args.push(karg);
        }
    }
    for word in append {
        check_karg("bootloader --append", word)?;
        args.push(word.clone());
    }
    Ok(args)
}

fn check_karg(source: &str, karg: &str) -> Result<()> {
    if karg.is_empty() || karg.contains(['\n', '\r']) {
        return Err(DeployError::Invalid(format!(
            "{source}: kernel argument {karg:?} is empty or has a line break"
        )));
    }
    Ok(())
}

/// Splits `bootloader --append` into kernel arguments (whitespace-separated; double quotes
/// keep spaces inside a value, as the kernel's own parser does).
pub fn split_append(append: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in append.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

/// The serial console (`console=ttyS<unit>[,<speed>]`) the command line asks for, if any, as
/// (unit, speed) for the boot loader's own serial terminal.
pub fn serial_console(args: &[String]) -> Option<(u8, u32)> {
    args.iter().rev().find_map(|a| {
        let rest = a.strip_prefix("console=ttyS")?;
        let (unit, opts) = rest.split_once(',').unwrap_or((rest, ""));
        let speed: String = opts.chars().take_while(char::is_ascii_digit).collect();
        Some((unit.parse().ok()?, speed.parse().unwrap_or(115_200)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root_with(files: &[(&str, &str)]) -> (tempfile::TempDir, TargetRoot) {
        let dir = tempfile::tempdir().unwrap();
        let root = TargetRoot::new(dir.path());
        for (path, text) in files {
            root.write(path, text.as_bytes(), 0o644).unwrap();
        }
        (dir, root)
    }

    #[test]
    fn one_kernel_with_initramfs() {
        let (_d, root) = root_with(&[
            ("/usr/lib/modules/6.1.0-40-amd64/vmlinuz", "k"),
            ("/usr/lib/modules/6.1.0-40-amd64/initramfs.img", "i"),
            ("/usr/lib/modules/extra/foo.ko", "m"),
        ]);
        let k = find(&root).unwrap();
        assert_eq!(k.version, "6.1.0-40-amd64");
        assert_eq!(k.initramfs, "/usr/lib/modules/6.1.0-40-amd64/initramfs.img");
    }

    #[test]
    fn missing_kernel_or_initramfs_is_named() {
        let (_d, root) = root_with(&[("/etc/os-release", "ID=x\n")]);
        assert_eq!(
            find(&root).unwrap_err().to_string(),
            "the image has no /usr/lib/modules/<KVER>/vmlinuz: a bootable container image \
             carries its kernel there; this one has no kernel"
        );
        let (_d, root) = root_with(&[("/usr/lib/modules/6.1/vmlinuz", "k")]);
        assert!(
            find(&root)
                .unwrap_err()
                .to_string()
                .starts_with("the image has no /usr/lib/modules/6.1/initramfs.img:")
        );
        let (_d, root) = root_with(&[
            ("/usr/lib/modules/6.1/vmlinuz", "k"),
            ("/usr/lib/modules/6.2/vmlinuz", "k"),
        ]);
        assert!(
            find(&root)
                .unwrap_err()
                .to_string()
                .contains("2 kernels (6.1, 6.2)")
        );
    }

    #[test]
    fn kargs_in_order_with_architectures() {
        let (_d, root) = root_with(&[
            (
                "/usr/lib/bootc/kargs.d/10-console.toml",
                "kargs = [\"console=tty0\", \"console=ttyS0,115200n8\"]\n",
            ),
            (
                "/usr/lib/bootc/kargs.d/20-arm.toml",
                "kargs = [\"arm=1\"]\nmatch-architectures = [\"aarch64\"]\n",
            ),
            (
                "/usr/lib/bootc/kargs.d/30-x86.toml",
                "kargs = [\"x86=1\"]\nmatch-architectures = [\"x86_64\", \"aarch64\"]\n",
            ),
            ("/usr/lib/bootc/kargs.d/README", "not toml"),
        ]);
        let args = command_line(
            &root,
            "UUID=abcd",
            &split_append("quiet foo=\"a b\""),
            "x86_64",
        )
        .unwrap();
        assert_eq!(
            args,
            [
                "root=UUID=abcd",
                "rw",
                "console=tty0",
                "console=ttyS0,115200n8",
                "x86=1",
                "quiet",
                "foo=\"a b\""
            ]
        );
        assert_eq!(serial_console(&args), Some((0, 115_200)));
        let (_d, root) = root_with(&[("/usr/lib/bootc/kargs.d/1.toml", "kargs = \"nope\"\n")]);
        let err = command_line(&root, "UUID=u", &[], "x86_64")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("/usr/lib/bootc/kargs.d/1.toml:0: expected `kargs"),
            "{err}"
        );
    }
}
