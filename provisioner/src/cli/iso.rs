//! `kickstand iso build | show | customize`: installer ISOs (see [`crate::iso`] for what is on
//! one and what the installer expects).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};

use crate::iso::{
    self, CONTAINER_DIR, ELTORITO_PATH, GRUB_CFG_PATH, INITRAMFS_PATH, KERNEL_PATH, KICKSTART_PATH,
    METADATA_PATH, Metadata, embed, grub, menu, xorriso,
};

#[derive(Debug, Subcommand)]
pub enum IsoCommand {
    /// Build a hybrid installer ISO (BIOS and UEFI; CD-ROM, or `dd` onto a USB stick).
    Build(Box<BuildArgs>),
    /// Print what an ISO carries: kickstart, image digest, kernel arguments.
    Show(ShowArgs),
    /// Replace the kickstart and kernel arguments of an ISO, keeping everything else.
    Customize(CustomizeArgs),
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Where to write the ISO.
    #[arg(long, short)]
    pub output: PathBuf,
    /// A kickstart to put on the ISO as /ks.cfg; the boot menu then installs with it.
    #[arg(long)]
    pub kickstart: Option<PathBuf>,
    /// An image to put on the ISO as an OCI layout at /container: oci:DIR[:TAG], or a registry
    /// reference (REGISTRY/NAME:TAG, docker://…, …@sha256:…) pulled now, linux/amd64 picked
    /// from an index, every blob digest-checked. Install it with
    /// `ostreecontainer --url=/run/install/repo/container --transport=oci`.
    #[arg(long, value_name = "REF|oci:DIR[:TAG]")]
    pub embed_image: Option<String>,
    /// With a registry --embed-image: a containers auth.json with registry credentials.
    #[arg(long, value_name = "FILE", env = "REGISTRY_AUTH_FILE")]
    pub authfile: Option<PathBuf>,
    /// With a registry --embed-image: a registry reached over plain HTTP instead of TLS.
    /// Repeatable.
    #[arg(long, value_name = "HOST:PORT")]
    pub insecure_registry: Vec<String>,
    /// With a registry --embed-image: a PEM file of CA certificates trusted besides the system's.
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// The kernel (bzImage); with --initramfs, both are used as they are.
    #[arg(long)]
    pub kernel: Option<PathBuf>,
    /// A ready installer initramfs (`kickstand initramfs build`).
    #[arg(
        long,
        requires = "kernel",
        conflicts_with_all = ["kernel_package", "kernel_modules"]
    )]
    pub initramfs: Option<PathBuf>,
    /// Build the initramfs from a distribution kernel package (.deb), which also gives the kernel.
    #[arg(long, value_name = "FILE.deb", conflicts_with_all = ["kernel", "kernel_modules"])]
    pub kernel_package: Option<PathBuf>,
    /// Build the initramfs from these modules (/lib/modules/KVER), for --kernel.
    #[arg(long, requires = "kernel")]
    pub kernel_modules: Option<PathBuf>,
    /// When building the initramfs: the installer binary [default: beside this kickstand].
    #[arg(long, conflicts_with = "initramfs")]
    pub installer: Option<PathBuf>,
    /// The ISO 9660 volume label (the installer finds the ISO by it).
    #[arg(long, default_value = iso::DEFAULT_LABEL)]
    pub volume_label: String,
    /// Kernel arguments added to every boot entry (shell-quoted; repeatable).
    #[arg(long, value_name = "ARGS", allow_hyphen_values = true)]
    pub append: Vec<String>,
    /// Seconds the boot menu waits before starting its default entry.
    #[arg(long, default_value_t = 10)]
    pub timeout: u32,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The ISO.
    pub iso: PathBuf,
    /// Also print the El Torito boot catalog and the MBR/GPT (xorriso's report).
    #[arg(long)]
    pub boot_records: bool,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("change").multiple(true).required(true)
    .args(["kickstart", "remove_kickstart", "append", "timeout"])))]
pub struct CustomizeArgs {
    /// The ISO to start from (left unchanged).
    pub input: PathBuf,
    /// Where to write the customized ISO.
    #[arg(long, short)]
    pub output: PathBuf,
    /// The new kickstart (/ks.cfg).
    #[arg(long, conflicts_with = "remove_kickstart")]
    pub kickstart: Option<PathBuf>,
    /// Take the kickstart off the ISO (its boot menu then erases nothing by default).
    #[arg(long)]
    pub remove_kickstart: bool,
    /// Kernel arguments replacing the ones added at build time with --append (repeatable;
    /// `--append ''` removes them).
    #[arg(long, value_name = "ARGS", allow_hyphen_values = true)]
    pub append: Vec<String>,
    /// Seconds the boot menu waits before starting its default entry.
    #[arg(long)]
    pub timeout: Option<u32>,
}

pub fn run(cmd: IsoCommand) -> Result<()> {
    match cmd {
        IsoCommand::Build(args) => build(*args),
        IsoCommand::Show(args) => show(args),
        IsoCommand::Customize(args) => customize(args),
    }
}

/// Splits `--append` values like a shell and checks each argument fits a GRUB `linux` line.
fn parse_append(values: &[String]) -> Result<Vec<String>> {
    let mut args = Vec::new();
    for v in values {
        let words =
            shlex::split(v).with_context(|| format!("--append {v:?}: unbalanced quotes"))?;
        for w in words {
            menu::grub_word(&w).map_err(|e| anyhow::anyhow!("--append: {e}"))?;
            args.push(w);
        }
    }
    Ok(args)
}

/// Reads and checks a kickstart; prints its warnings.
fn read_kickstart(path: &Path, embeds_image: bool) -> Result<String> {
    let bytes = kickstand_grammar::read_limited(path)
        .with_context(|| format!("reading the kickstart {}", path.display()))?;
    let text = String::from_utf8(bytes)
        .with_context(|| format!("the kickstart {} is not UTF-8", path.display()))?;
    let name = path.display().to_string();
    match iso::kickstart::check(&name, &text, embeds_image) {
        Ok(warnings) => {
            for w in warnings {
                eprintln!("{w}");
            }
            Ok(text)
        }
        Err(errors) => bail!(
            "the kickstart {name} cannot go on the ISO:\n{}",
            errors.join("\n")
        ),
    }
}

fn need_file(path: &Path, what: &str) -> Result<()> {
    let meta = std::fs::metadata(path).with_context(|| format!("{what} {}", path.display()))?;
    if !meta.is_file() {
        bail!("{what} {} is not a regular file", path.display());
    }
    Ok(())
}

/// Checks the output path: its directory exists and it is not a directory itself.
fn check_output(output: &Path, input: Option<&Path>) -> Result<PathBuf> {
    if output.is_dir() {
        bail!(
            "--output {} is a directory; give a file name",
            output.display()
        );
    }
    let dir = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.is_dir() {
        bail!(
            "the directory of --output {} does not exist",
            output.display()
        );
    }
    if let Some(input) = input
        && let (Ok(a), Ok(b)) = (input.canonicalize(), output.canonicalize())
        && a == b
    {
        bail!(
            "--output must differ from the input ISO {}",
            input.display()
        );
    }
    Ok(dir)
}

/// Where the kernel and initramfs come from.
#[derive(Debug)]
enum BootFiles {
    Given { kernel: PathBuf, initramfs: PathBuf },
    Build(Box<super::initramfs::BuildArgs>),
}

fn boot_files(args: &BuildArgs) -> Result<BootFiles> {
    if let Some(initramfs) = &args.initramfs {
        let kernel = args.kernel.clone().expect("clap requires --kernel");
        need_file(&kernel, "--kernel")?;
        need_file(initramfs, "--initramfs")?;
        return Ok(BootFiles::Given {
            kernel,
            initramfs: initramfs.clone(),
        });
    }
    if args.kernel_package.is_none() && args.kernel_modules.is_none() {
        bail!(
            "give the installer's kernel and initramfs (--kernel VMLINUZ --initramfs IMG), or \
             what to build them from (--kernel-package FILE.deb, or --kernel VMLINUZ --kernel-modules DIR)"
        );
    }
    if let Some(deb) = &args.kernel_package {
        need_file(deb, "--kernel-package")?;
    }
    if let Some(k) = &args.kernel {
        need_file(k, "--kernel")?;
    }
    Ok(BootFiles::Build(Box::new(super::initramfs::BuildArgs {
        output: PathBuf::new(),
        kernel_modules: args.kernel_modules.clone(),
        kernel: args.kernel.clone(),
        kernel_package: args.kernel_package.clone(),
        kernel_output: None,
        installer: args.installer.clone(),
        modules: Vec::new(),
        firmware: None,
        kickstart: None,
        compress: "zstd".into(),
        tools: Vec::new(),
        list: false,
    })))
}

fn build(args: BuildArgs) -> Result<()> {
    let started = Instant::now();
    // Everything is checked before anything is written.
    let out_dir = check_output(&args.output, None)?;
    iso::check_label(&args.volume_label).map_err(anyhow::Error::msg)?;
    let append = parse_append(&args.append)?;
    let boot = boot_files(&args)?;
    let image_source = args
        .embed_image
        .as_deref()
        .map(embed::Source::parse)
        .transpose()?;
    let registry = embed::RegistryOptions {
        authfile: args.authfile.clone(),
        insecure_registries: args.insecure_registry.clone(),
        ca_file: args.ca_file.clone(),
    };
    let resolved = image_source
        .as_ref()
        .map(|source| embed::check(source, &registry))
        .transpose()?;
    let kickstart = args
        .kickstart
        .as_deref()
        .map(|p| read_kickstart(p, image_source.is_some()))
        .transpose()?;
    grub::check_installed()?;

    let stage = tempfile::Builder::new()
        .prefix(".kickstand-iso-")
        .tempdir_in(&out_dir)
        .with_context(|| format!("creating a work directory in {}", out_dir.display()))?;
    let tree = stage.path().join("tree");
    for dir in ["images", "boot/grub/i386-pc", "kickstand"] {
        std::fs::create_dir_all(tree.join(dir)).context("creating the ISO tree")?;
    }
    let (kernel_dest, initramfs_dest) = (tree.join(KERNEL_PATH), tree.join(INITRAMFS_PATH));
    match boot {
        BootFiles::Given { kernel, initramfs } => {
            copy(&kernel, &kernel_dest)?;
            copy(&initramfs, &initramfs_dest)?;
        }
        BootFiles::Build(mut initramfs_args) => {
            initramfs_args.output = initramfs_dest.clone();
            initramfs_args.kernel_output = Some(kernel_dest.clone());
            let kernel = super::initramfs::build(*initramfs_args)
                .context("building the installer initramfs")?
                .context("building the installer initramfs: no kernel was given")?;
            if kernel != kernel_dest {
                copy(&kernel, &kernel_dest)?;
            }
        }
    }
    let kernel_version = kickstand_initramfs::kernel::bzimage_version(&kernel_dest).ok();

    let image = match &resolved {
        Some(source) => Some(
            embed::copy(source, &tree.join(CONTAINER_DIR))
                .context("copying the image onto the ISO")?,
        ),
        None => None,
    };
    if let Some(text) = &kickstart {
        std::fs::write(tree.join(KICKSTART_PATH), text).context("writing /ks.cfg")?;
    }
    let meta = Metadata {
        format: Metadata::FORMAT,
        label: args.volume_label.clone(),
        kickstart: kickstart.is_some(),
        append,
        timeout: args.timeout,
        image,
        kernel_version,
        written_by: written_by(),
    };
    write_menu(&meta, &tree)?;

    let early = stage.path().join("early.cfg");
    std::fs::write(&early, menu::early_cfg(&meta.label)).context("writing GRUB's early config")?;
    grub::bios_image(&early, &tree.join(ELTORITO_PATH))?;
    let efi = stage.path().join("efi.img");
    grub::efi_image(&early, stage.path(), &efi)?;

    let partial = stage.path().join("out.iso");
    xorriso::write(&tree, &efi, &meta.label, &partial)?;
    std::fs::rename(&partial, &args.output)
        .with_context(|| format!("moving the ISO to {}", args.output.display()))?;

    let payload = file_size(&kernel_dest)
        + file_size(&initramfs_dest)
        + meta
            .image
            .as_ref()
            .map_or(0, |_| dir_size(&tree.join(CONTAINER_DIR)));
    let total = file_size(&args.output);
    println!("{}", menu::default_action(&meta));
    println!("kernel arguments: {}", meta.kernel_args().join(" "));
    if let Some(img) = &meta.image {
        println!("image: {} ({})", img.digest, img.source);
    }
    println!(
        "wrote {} ({}; kernel + initramfs + image {}, boot loaders and file system {}) in {:.1} s",
        args.output.display(),
        human(total),
        human(payload),
        human(total.saturating_sub(payload)),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn written_by() -> String {
    format!("kickstand {}", env!("CARGO_PKG_VERSION"))
}

/// Writes `/boot/grub/grub.cfg` and `/kickstand/iso.json` for `meta` under `tree`.
fn write_menu(meta: &Metadata, tree: &Path) -> Result<()> {
    let cfg = menu::grub_cfg(meta).map_err(anyhow::Error::msg)?;
    std::fs::write(tree.join(GRUB_CFG_PATH), cfg).context("writing the boot menu")?;
    let json = serde_json::to_string_pretty(meta)?;
    std::fs::write(tree.join(METADATA_PATH), json + "\n").context("writing the ISO metadata")?;
    Ok(())
}

fn show(args: ShowArgs) -> Result<()> {
    let contents = iso::read::read(&args.iso)?;
    print!("{contents}");
    if args.boot_records {
        print!("{}", xorriso::boot_report(&args.iso)?);
    }
    Ok(())
}

fn customize(args: CustomizeArgs) -> Result<()> {
    let started = Instant::now();
    let out_dir = check_output(&args.output, Some(&args.input))?;
    let stage = tempfile::Builder::new()
        .prefix(".kickstand-iso-")
        .tempdir_in(&out_dir)
        .with_context(|| format!("creating a work directory in {}", out_dir.display()))?;
    let old = iso::read::read(&args.input)
        .with_context(|| format!("reading {}", args.input.display()))?;
    let mut meta = old.metadata.clone();
    if !args.append.is_empty() {
        meta.append = parse_append(&args.append)?;
    }
    if let Some(t) = args.timeout {
        meta.timeout = t;
    }
    let kickstart = match (&args.kickstart, args.remove_kickstart) {
        (Some(p), _) => Some(read_kickstart(p, meta.image.is_some())?),
        (None, true) => None,
        (None, false) => {
            // Kept; checked again so a kickstart that no longer fits the arguments is named.
            old.kickstart.clone()
        }
    };
    meta.kickstart = kickstart.is_some();
    meta.written_by = written_by();

    let tree = stage.path().join("tree");
    std::fs::create_dir_all(tree.join("boot/grub")).context("creating the work tree")?;
    std::fs::create_dir_all(tree.join("kickstand")).context("creating the work tree")?;
    write_menu(&meta, &tree)?;
    let grub_cfg = tree.join(GRUB_CFG_PATH);
    let metadata = tree.join(METADATA_PATH);
    let ks = tree.join(KICKSTART_PATH);
    let mut put: Vec<(&Path, &str)> = vec![
        (grub_cfg.as_path(), GRUB_CFG_PATH),
        (metadata.as_path(), METADATA_PATH),
    ];
    let mut remove = Vec::new();
    match &kickstart {
        Some(text) => {
            std::fs::write(&ks, text).context("writing the new kickstart")?;
            put.push((ks.as_path(), KICKSTART_PATH));
        }
        None if old.kickstart.is_some() => remove.push(KICKSTART_PATH),
        None => {}
    }
    let partial = stage.path().join("out.iso");
    xorriso::rewrite(&args.input, &partial, &put, &remove)?;
    std::fs::rename(&partial, &args.output)
        .with_context(|| format!("moving the ISO to {}", args.output.display()))?;
    println!("{}", menu::default_action(&meta));
    println!("kernel arguments: {}", meta.kernel_args().join(" "));
    println!(
        "wrote {} ({}) in {:.1} s",
        args.output.display(),
        human(file_size(&args.output)),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn copy(from: &Path, to: &Path) -> Result<()> {
    std::fs::copy(from, to)
        .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    Ok(())
}

fn file_size(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| match e.file_type() {
                    Ok(t) if t.is_dir() => dir_size(&e.path()),
                    _ => e.metadata().map(|m| m.len()).unwrap_or(0),
                })
                .sum()
        })
        .unwrap_or(0)
}

fn human(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn parse(args: &[&str]) -> Result<super::super::Cli, clap::Error> {
        super::super::Cli::try_parse_from(std::iter::once("kickstand").chain(args.iter().copied()))
    }

    #[test]
    fn the_command_lines_parse() {
        let cli = parse(&[
            "iso",
            "build",
            "-o",
            "x.iso",
            "--kernel",
            "k",
            "--initramfs",
            "i",
            "--append",
            "console=ttyS0 ip=dhcp",
            "--append",
            "-x",
        ])
        .unwrap();
        let super::super::Command::Iso(IsoCommand::Build(b)) = cli.command else {
            panic!("{:?}", cli.command);
        };
        assert_eq!(
            parse_append(&b.append).unwrap(),
            ["console=ttyS0", "ip=dhcp", "-x"]
        );
        assert_eq!(b.volume_label, "KICKSTAND");
        assert!(parse(&["iso", "build", "-o", "x", "--initramfs", "i"]).is_err());
        assert!(
            parse(&[
                "iso",
                "build",
                "-o",
                "x",
                "--kernel-package",
                "p",
                "--kernel",
                "k"
            ])
            .is_err()
        );
        let err = parse(&["iso", "customize", "in.iso", "-o", "out.iso"]).unwrap_err();
        assert!(err.to_string().contains("required"), "{err}");
        assert!(
            parse(&[
                "iso",
                "customize",
                "in.iso",
                "-o",
                "o",
                "--remove-kickstart"
            ])
            .is_ok()
        );
    }

    #[test]
    fn bad_append_arguments_are_named() {
        let e = parse_append(&["a 'b".into()]).unwrap_err().to_string();
        assert!(e.contains("unbalanced quotes"), "{e}");
        let e = parse_append(&["'a b'".into()]).unwrap_err().to_string();
        assert!(e.contains("whitespace"), "{e}");
    }

    #[test]
    fn missing_boot_files_are_named_before_anything_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("x.iso");
        let cli = parse(&[
            "iso",
            "build",
            "-o",
            out.to_str().unwrap(),
            "--kernel",
            "/nonexistent/vmlinuz",
            "--initramfs",
            "/nonexistent/initramfs.img",
        ])
        .unwrap();
        let super::super::Command::Iso(cmd) = cli.command else {
            panic!()
        };
        let e = format!("{:#}", run(cmd).unwrap_err());
        assert!(e.contains("--kernel /nonexistent/vmlinuz"), "{e}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
