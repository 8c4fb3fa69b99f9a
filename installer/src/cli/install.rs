//! `kickstand-installer install`: host mode, onto named disks or disk image files.
//!
//! Attaches image files to loop devices, discovers only the named disks, and hands over to
//! [`crate::install::install`] (which parses, runs `%pre`, resolves the image, plans, and only
//! then writes). `--dry-run` stops after printing the plan.

use super::host_disks::{self, DiskArg};
use crate::hardware::{self, Firmware, Roots};
use crate::install::{self, Disks, InstallOptions, KickstartSource, Mode, RegistryOptions};
use crate::progress::{Reporter, Server};
use crate::steps::Step;
use anyhow::{Context, Result, bail};
use clap::Args;
use std::path::PathBuf;

/// What `--help` says about the bootc way.
const BOOTC_HELP: &str = "bootc images (labelled containers.bootc=1 or ostree.bootable=1, or named \
by the bootc command) are staged in RAM, else on the plan's swap area or a temporary partition \
(or in --staging-dir), and installed by the image's own `bootc install \
to-filesystem`; users, keys and %post then go into the deployment. This path is verified \
against a stand-in for bootc (a test script), not against bootc itself.";

/// Arguments of `install`.
#[derive(Debug, Args)]
#[command(after_help = BOOTC_HELP)]
pub struct InstallArgs {
    /// The kickstart file.
    #[arg(long, value_name = "KS")]
    pub kickstart: PathBuf,
    /// A disk to install to: a block device or a disk image file (attached to a loop device
    /// for the install). `PATH:NAME` gives it the name the kickstart uses (`disk.raw:vda`).
    /// Repeatable; only these disks are ever touched, and %pre/%post scripts see only these
    /// in /dev.
    #[arg(long, value_name = "PATH[:NAME]", required = true)]
    pub disk: Vec<DiskArg>,
    /// Print the plan (partitions per disk, disks erased) and stop.
    #[arg(long)]
    pub dry_run: bool,
    /// Firmware the installed system boots with (default: this machine's, from
    /// /sys/firmware/efi): UEFI gets an ESP and systemd-boot, BIOS a BIOS boot partition and
    /// GRUB.
    #[arg(long, value_enum)]
    pub firmware: Option<FirmwareArg>,
    /// Where the new filesystems are mounted (default: a temporary directory).
    #[arg(long, value_name = "DIR")]
    pub target: Option<PathBuf>,
    /// Stop, successfully, after this step. Steps in order: storage, image, configure,
    /// bootloader, post; the whole install also saves its log in the target.
    #[arg(long, value_enum, value_name = "STEP")]
    pub stop_after: Option<Step>,
    /// A containers auth.json with registry credentials.
    #[arg(long, value_name = "FILE", env = "REGISTRY_AUTH_FILE")]
    pub authfile: Option<PathBuf>,
    /// A registry reached over plain HTTP instead of TLS. Repeatable.
    #[arg(long, value_name = "HOST:PORT")]
    pub insecure_registry: Vec<String>,
    /// A PEM file of CA certificates trusted for registries besides the system's.
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// Stage bootc images in a directory on this filesystem instead of RAM (for images larger
    /// than the RAM available: staging needs about 4× the compressed layers). It must not be
    /// on a disk being installed; the staging is removed afterwards.
    #[arg(long, value_name = "DIR")]
    pub staging_dir: Option<PathBuf>,
    /// Count at most SIZE of RAM (bytes, or with a K, M, G or T suffix: binary units) when
    /// deciding where a bootc image is staged, for tests and for hosts that must keep their
    /// memory: past it the image goes to the plan's swap area, else to a temporary partition
    /// in space the layout leaves free (removed afterwards), as on a machine with little RAM.
    #[arg(long, value_name = "SIZE", value_parser = crate::units::parse_size, env = "KICKSTAND_STAGING_RAM_LIMIT")]
    pub staging_ram_limit: Option<u64>,
    /// A Kickstand server to post progress events to (with --mac).
    #[arg(long, value_name = "URL", requires = "mac")]
    pub server: Option<String>,
    /// The MAC address the server knows this install by (with --server).
    #[arg(long, value_name = "MAC", requires = "server")]
    pub mac: Option<String>,
}

/// `--firmware`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum FirmwareArg {
    /// Legacy BIOS: BIOS boot partition, GRUB.
    Bios,
    /// UEFI: EFI System Partition, systemd-boot.
    Uefi,
}

/// The reporter `main` sets up before logging starts.
pub fn reporter(args: &InstallArgs) -> Reporter {
    let server = match (&args.server, &args.mac) {
        (Some(url), Some(mac)) => Some(Server {
            url: url.clone(),
            mac: mac.clone(),
        }),
        _ => None,
    };
    Reporter::new(server)
}

/// Runs `install`.
pub fn run(args: &InstallArgs, reporter: Reporter) -> Result<()> {
    let kickstart = KickstartSource::file(&args.kickstart)?;
    let host = host_disks::resolve(&args.disk)?;
    let names: Vec<String> = host.disks.iter().map(|(n, _)| n.clone()).collect();
    let found =
        hardware::discover_only(&Roots::system(), &names).context("discovering the disks")?;
    let mut disks = Vec::new();
    for (name, alias) in &host.disks {
        let mut disk = found
            .iter()
            .find(|d| d.name == *name)
            .cloned()
            .with_context(|| format!("disk {name} was not found in /sys/block"))?;
        disk.aliases.extend(alias.clone());
        // Named on the command line: the operator chose it, removable or not.
        disk.removable = false;
        if let Some(why) = &disk.in_use {
            bail!(
                "disk {} ({}) is in use: {why}; nothing was written",
                name,
                disk.path.display()
            );
        }
        disks.push(disk);
    }
    let firmware = args.firmware.map(|f| match f {
        FirmwareArg::Bios => Firmware::Bios,
        FirmwareArg::Uefi => Firmware::Uefi,
    });
    let temp;
    let target = match &args.target {
        Some(t) => t.clone(),
        None => {
            temp = tempfile::Builder::new()
                .prefix("kickstand-target.")
                .tempdir()
                .context("creating the target directory")?;
            temp.path().to_path_buf()
        }
    };
    let opts = InstallOptions {
        kickstart,
        disks: Disks::Only(disks),
        firmware,
        registry: RegistryOptions {
            authfile: args.authfile.clone(),
            insecure_registries: args.insecure_registry.clone(),
            ca_file: args.ca_file.clone(),
        },
        target,
        mode: Mode::Host,
        stop_after: args.stop_after,
        dry_run: args.dry_run,
        reporter,
        inherited_args: Vec::new(),
        staging_dir: args.staging_dir.clone(),
        staging_ram_limit: args.staging_ram_limit,
    };
    let summary = install::install(&opts)?;
    // The loop devices are detached when `host` drops, after the target was unmounted.
    drop(host);
    if args.dry_run {
        println!("Dry run: nothing was written.");
        return Ok(());
    }
    if let Some(step) = summary.stopped_after {
        println!(
            "Stopped after the {} step, as asked (--stop-after {}).",
            step.name(),
            step.name()
        );
    } else if let Some((source, digest)) = &summary.image {
        println!("Installed {source} ({digest}).");
    }
    if let Some(fstab) = &summary.fstab {
        println!("/etc/fstab for the new system:\n{fstab}");
    }
    Ok(())
}
