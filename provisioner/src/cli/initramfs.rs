//! `kickstand initramfs build`: the installer initramfs from a kernel's modules, the installer
//! binary and the host's tools.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use kickstand_initramfs::{Compression, Spec, kernel, modules::DEFAULT_MODULES};

/// External programs packed beside the installer: the installer's own single list
/// (`kickstand_installer::tools::ALL`, without host-only tools) plus the storage tools the later
/// LVM/LUKS work needs. `--tools` edits this list.
pub fn default_tools() -> Vec<&'static str> {
    let mut tools: Vec<&'static str> = kickstand_installer::tools::ALL
        .iter()
        .filter(|t| !t.host_only)
        .map(|t| t.program)
        .collect();
    for extra in ["sfdisk", "wipefs", "lvm", "cryptsetup"] {
        if !tools.contains(&extra) {
            tools.push(extra);
        }
    }
    tools
}

#[derive(Debug, Subcommand)]
pub enum InitramfsCommand {
    /// Build an initramfs whose /init is kickstand-installer.
    Build(BuildArgs),
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Where to write the initramfs.
    #[arg(long, short)]
    pub output: PathBuf,
    /// The kernel's modules: /lib/modules/KVER, or a root holding exactly one lib/modules/KVER.
    #[arg(
        long,
        required_unless_present = "kernel_package",
        conflicts_with = "kernel_package"
    )]
    pub kernel_modules: Option<PathBuf>,
    /// The kernel (bzImage) the initramfs is for; its version must match the modules'.
    #[arg(long, conflicts_with = "kernel_package")]
    pub kernel: Option<PathBuf>,
    /// A distribution kernel package (.deb) giving both the kernel and its modules.
    #[arg(long, value_name = "FILE.deb")]
    pub kernel_package: Option<PathBuf>,
    /// With --kernel-package: where to write its kernel [default: vmlinuz-KVER beside --output].
    #[arg(long, requires = "kernel_package")]
    pub kernel_output: Option<PathBuf>,
    /// The installer binary [default: kickstand-installer beside this kickstand].
    #[arg(long)]
    pub installer: Option<PathBuf>,
    /// Modules, comma-separated: plain names replace the default list, +NAME adds to it,
    /// -NAME removes from it.
    #[arg(
        long,
        value_delimiter = ',',
        allow_hyphen_values = true,
        value_name = "LIST"
    )]
    pub modules: Vec<String>,
    /// Firmware directory (e.g. /lib/firmware); files the included modules declare are copied.
    #[arg(long)]
    pub firmware: Option<PathBuf>,
    /// A kickstart to embed as /ks.cfg (boot with inst.ks=file:/ks.cfg).
    #[arg(long)]
    pub kickstart: Option<PathBuf>,
    #[arg(long, default_value = "zstd", value_parser = clap::builder::PossibleValuesParser::new(Compression::NAMES))]
    pub compress: String,
    /// External tools to include, comma-separated: plain names replace the default list,
    /// +NAME adds to it.
    #[arg(
        long,
        value_delimiter = ',',
        allow_hyphen_values = true,
        value_name = "LIST"
    )]
    pub tools: Vec<String>,
    /// Also list every file included, with its size.
    #[arg(long)]
    pub list: bool,
}

/// Applies `+NAME`/`-NAME`/`NAME` edits to a default list.
pub fn edit_list(defaults: &[&str], edits: &[String]) -> Result<Vec<String>> {
    let plain: Vec<&String> = edits
        .iter()
        .filter(|e| !e.starts_with(['+', '-']))
        .collect();
    let mut list: Vec<String> = if plain.is_empty() {
        defaults.iter().map(|s| s.to_string()).collect()
    } else {
        plain.iter().map(|s| s.to_string()).collect()
    };
    for edit in edits {
        if let Some(add) = edit.strip_prefix('+') {
            if add.is_empty() {
                bail!("empty name after '+' in {edits:?}");
            }
            if !list.iter().any(|m| m == add) {
                list.push(add.to_string());
            }
        } else if let Some(remove) = edit.strip_prefix('-') {
            if !list.iter().any(|m| m == remove) {
                bail!(
                    "cannot remove {remove}: it is not in the list ({})",
                    list.join(",")
                );
            }
            list.retain(|m| m != remove);
        }
    }
    list.retain(|m| !m.is_empty());
    Ok(list)
}

fn default_installer() -> Result<PathBuf> {
    let me = std::env::current_exe().context("finding the running kickstand binary")?;
    let beside = me.with_file_name("kickstand-installer");
    if !beside.is_file() {
        bail!(
            "no kickstand-installer beside {} (build it with `cargo build --release -p kickstand-installer`, \
             or give --installer PATH)",
            me.display()
        );
    }
    Ok(beside)
}

pub fn run(cmd: InitramfsCommand) -> Result<()> {
    match cmd {
        InitramfsCommand::Build(args) => build(args).map(|_| ()),
    }
}

/// Builds the initramfs `args` describe and prints what it holds; returns the kernel it is
/// for, when one was given or taken from `--kernel-package` (copied to `--kernel-output`).
pub fn build(args: BuildArgs) -> Result<Option<PathBuf>> {
    let compression: Compression = args.compress.parse().map_err(anyhow::Error::msg)?;
    let installer = match args.installer {
        Some(p) => p,
        None => default_installer()?,
    };
    let modules = edit_list(DEFAULT_MODULES, &args.modules).context("--modules")?;
    let tools = edit_list(&default_tools(), &args.tools).context("--tools")?;

    // Keeps the unpacked package alive until the build is done.
    let package = match &args.kernel_package {
        Some(deb) => Some(
            kernel::unpack_deb(deb)
                .with_context(|| format!("reading the kernel package {}", deb.display()))?,
        ),
        None => None,
    };
    let (modules_dir, kernel) = match &package {
        Some(p) => (p.modules.clone(), Some(p.vmlinuz.clone())),
        None => (
            args.kernel_modules
                .clone()
                .expect("clap requires --kernel-modules"),
            args.kernel.clone(),
        ),
    };

    let tool_refs: Vec<&str> = tools.iter().map(String::as_str).collect();
    let mut spec = Spec::new(installer, modules_dir, &tool_refs);
    spec.kernel = kernel;
    spec.modules = modules;
    spec.firmware_dir = args.firmware;
    spec.kickstart = args.kickstart;

    let (archive, mut contents) =
        kickstand_initramfs::assemble(&spec).context("collecting the initramfs contents")?;
    let written = kickstand_initramfs::write_image(
        &archive,
        compression,
        kickstand_initramfs::source_date_epoch(),
        &args.output,
    )
    .context("writing the initramfs")?;
    contents.uncompressed_size = written.uncompressed;
    contents.compressed_size = written.compressed;

    let mut kernel_out = spec.kernel.clone();
    if let (Some(p), Some(vmlinuz)) = (&package, &spec.kernel) {
        let dest = args.kernel_output.unwrap_or_else(|| {
            let dir = args.output.parent().unwrap_or(Path::new("."));
            dir.join(format!("vmlinuz-{}", contents.kernel_version))
        });
        std::fs::copy(vmlinuz, &dest).with_context(|| {
            format!(
                "copying the kernel from {} to {}",
                p.dir.path().display(),
                dest.display()
            )
        })?;
        println!("kernel: {}", dest.display());
        kernel_out = Some(dest);
    }
    if args.list {
        print!("{}", contents.listing());
    }
    print!("{contents}");
    println!("wrote {} ({compression})", args.output.display());
    Ok(kernel_out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn list_edits_replace_add_and_remove() {
        assert_eq!(edit_list(&["a", "b"], &[]).unwrap(), ["a", "b"]);
        assert_eq!(
            edit_list(&["a", "b"], &s(&["+c", "-a"])).unwrap(),
            ["b", "c"]
        );
        assert_eq!(
            edit_list(&["a", "b"], &s(&["x", "y", "+z"])).unwrap(),
            ["x", "y", "z"]
        );
        let err = edit_list(&["a"], &s(&["-nope"])).unwrap_err().to_string();
        assert!(err.contains("cannot remove nope"), "{err}");
    }

    #[test]
    fn the_command_line_parses() {
        use clap::Parser;
        let cli = super::super::Cli::try_parse_from([
            "kickstand",
            "initramfs",
            "build",
            "--output",
            "/tmp/i.img",
            "--kernel-modules",
            "/lib/modules/6.1.0-27-amd64",
            "--modules",
            "+mpt3sas,-tg3",
            "--compress",
            "xz",
        ])
        .unwrap();
        let super::super::Command::Initramfs(InitramfsCommand::Build(b)) = cli.command else {
            panic!("parsed as another command: {:?}", cli.command);
        };
        assert_eq!(b.modules, ["+mpt3sas", "-tg3"]);
        assert_eq!(b.compress, "xz");
        let err =
            super::super::Cli::try_parse_from(["kickstand", "initramfs", "build", "--output", "x"])
                .unwrap_err();
        assert!(err.to_string().contains("--kernel-modules"), "{err}");
        assert!(
            super::super::Cli::try_parse_from([
                "kickstand",
                "initramfs",
                "build",
                "-o",
                "x",
                "--kernel-modules",
                "m",
                "--compress",
                "lz4"
            ])
            .is_err()
        );
    }
}
