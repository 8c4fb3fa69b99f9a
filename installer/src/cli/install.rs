//! `kickstand-installer install`: host mode, onto named disks or disk image files.
//!
//! Order: parse the kickstart (errors stop here), attach image files, discover only the named
//! disks, plan (errors stop here, nothing written), print the plan, then run the steps that
//! exist. `--dry-run` stops after printing the plan.

use super::host_disks::{self, DiskArg};
use crate::hardware::{self, Firmware, Hardware, Roots};
use crate::steps::{self, Step};
use crate::storage::{self, ImageFacts, report};
use anyhow::{Context, Result, bail};
use clap::Args;
use std::path::PathBuf;

/// Arguments of `install`.
#[derive(Debug, Args)]
pub struct InstallArgs {
    /// The kickstart file.
    #[arg(long, value_name = "KS")]
    pub kickstart: PathBuf,
    /// A disk to install to: a block device or a disk image file (attached to a loop device
    /// for the install). `PATH:NAME` gives it the name the kickstart uses (`disk.raw:vda`).
    /// Repeatable; only these disks are ever touched.
    #[arg(long, value_name = "PATH[:NAME]", required = true)]
    pub disk: Vec<DiskArg>,
    /// Print the plan (partitions per disk, disks erased) and stop.
    #[arg(long)]
    pub dry_run: bool,
    /// Firmware the installed system boots with (default: this machine's, from
    /// /sys/firmware/efi).
    #[arg(long, value_enum)]
    pub firmware: Option<FirmwareArg>,
    /// Where the new filesystems are mounted (default: a temporary directory).
    #[arg(long, value_name = "DIR")]
    pub target: Option<PathBuf>,
    /// Stop, successfully, after this step.
    #[arg(long, value_enum, value_name = "STEP")]
    pub stop_after: Option<Step>,
}

/// `--firmware`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum FirmwareArg {
    /// Legacy BIOS: BIOS boot partition.
    Bios,
    /// UEFI: EFI System Partition.
    Uefi,
}

/// Runs `install`.
pub fn run(args: &InstallArgs) -> Result<()> {
    let request = load_request(&args.kickstart)?;
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
    let firmware = match args.firmware {
        Some(FirmwareArg::Bios) => Firmware::Bios,
        Some(FirmwareArg::Uefi) => Firmware::Uefi,
        None => hardware::firmware_from_sysfs("/sys".as_ref()),
    };
    let hw = Hardware {
        disks,
        firmware,
        memory_bytes: hardware::memory_from_meminfo("/proc".as_ref()),
    };
    // The image step resolves the manifest; until it exists the size is not known here.
    let image = ImageFacts::default();
    let plan = storage::plan_request(&request, &hw, &image).context("planning the storage")?;
    print!("{}", report::render(&plan));
    if args.dry_run {
        println!("\nDry run: nothing was written.");
        return Ok(());
    }

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
    let options = steps::storage::Options {
        target,
        mount_esp: false,
    };
    let prepared = steps::storage::run(&plan, &options)?;
    println!(
        "\nStorage prepared; mounted under {}:",
        prepared.target.display()
    );
    for m in prepared.mounted() {
        println!("  {}", m.display());
    }
    println!("/etc/fstab for the new system:");
    print!("{}", crate::disk::fstab::render(&prepared.fstab()));
    if args.stop_after == Some(Step::Storage) {
        println!("Stopped after the storage step, as asked (--stop-after storage).");
        return Ok(());
    }
    let next = Step::ALL
        .iter()
        .find(|s| !s.built())
        .copied()
        .unwrap_or(Step::Image);
    drop(prepared);
    bail!(
        "the {} step is not built yet in this version: the disks are partitioned and formatted \
         but hold no operating system and will not boot (use --stop-after storage to stop there \
         on purpose)",
        next.name()
    )
}

/// Parses the kickstart; errors (with file:line:col) stop the install, warnings are logged.
fn load_request(path: &std::path::Path) -> Result<storage::StorageRequest> {
    let bytes =
        std::fs::read(path).with_context(|| format!("reading the kickstart {}", path.display()))?;
    let name = path.to_string_lossy();
    let parsed = kickstand_grammar::parse_bytes(&name, &bytes, &kickstand_grammar::FileLoader);
    for w in parsed.warnings() {
        tracing::warn!("{w}");
    }
    let errors: Vec<String> = parsed.errors().map(|e| e.to_string()).collect();
    if !errors.is_empty() {
        bail!(
            "the kickstart has {} error{}, nothing was done:\n{}",
            errors.len(),
            if errors.len() == 1 { "" } else { "s" },
            errors.join("\n")
        );
    }
    Ok(storage::from_kickstart::request(&parsed.kickstart))
}
