//! The install, from a kickstart to a disk that boots: the one entry point both the host-mode
//! CLI (`kickstand-installer install`) and PID 1 of the installer initramfs call.
//!
//! Order (nothing is written to a disk before step 5):
//! 1. parse the kickstart (errors stop here unless `%pre` may fix them by writing an
//!    `%include`d file);
//! 2. find the disks (the ones given, or every disk of the machine) and the firmware;
//! 3. `%pre`, then parse again (now every error stops);
//! 4. check the configuration settings, resolve the image (manifest, config, platform, deploy
//!    way), plan the storage against the disks and the image's size, print the plan
//!    and where a bootc image is staged (RAM, the plan's swap area or a temporary partition:
//!    [`storage::staging`]) (`dry_run` stops here); staged in RAM, a bootc image is refused
//!    without `/usr/bin/bootc` still before any disk is written;
//! 5. flat: storage → `%pre-install` → image (+ fstab, image record) → kernel and boot loader
//!    found in the image (refused otherwise) → configure → boot loader → `%post` → finish (log
//!    and masked kickstart saved in the target);
//!    bootc: storage → `%pre-install` → (staging on a disk area) → the image's bootc (staging
//!    removed, a disk area given back, also when bootc fails) → crypttab and fstab lines,
//!    configure, `%post` and finish inside the deployment bootc made.
//!
//! On failure `%onerror` scripts run and the reporter gets the error; the error says what the
//! disk holds (the storage step undoes its own partial work; later steps leave a disk without
//! a boot loader, which does not boot). The machine is never rebooted here: the caller acts on
//! [`Summary::finish`] (PID 1) or just exits (host mode).

pub mod kickstart;

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use kickstand_grammar::{FinishKind, Kickstart, ScriptKind};

use crate::deploy::{TargetRoot, from_kickstart};
use crate::hardware::{self, Disk, Firmware, Hardware, Roots};
use crate::progress::Reporter;
use crate::steps::stage::Staging;
use crate::steps::{self, Step, scripts};
use crate::storage::{self, StoragePlan, report, staging};
use kickstand_oci::resolve::{DeployWay, Image};

pub use kickstart::KickstartSource;
pub use steps::image::RegistryOptions;

/// Which disks the install may use.
#[derive(Debug, Clone)]
pub enum Disks {
    /// Exactly these (host mode: the `--disk` arguments, discovered with
    /// [`hardware::discover_only`]); nothing else is ever read or written.
    Only(Vec<Disk>),
    /// Every disk of the machine (PID 1), the kickstart choosing among them.
    All,
}

/// Host mode or PID 1 of the installer initramfs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// On a normal host: scripts see only the target disks in `/dev`.
    Host,
    /// PID 1 of the installer: the whole machine is the installer's.
    Pid1,
}

/// Everything an install needs.
#[derive(Debug)]
pub struct InstallOptions {
    /// The kickstart and how to read its `%include`s (read again after `%pre`).
    pub kickstart: KickstartSource,
    /// The disks the install may use.
    pub disks: Disks,
    /// The firmware the installed system boots with; `None`: this machine's (`/sys/firmware/efi`).
    pub firmware: Option<Firmware>,
    /// Registry access: auth file, insecure registries, extra CAs.
    pub registry: RegistryOptions,
    /// Where the new filesystems are mounted (`/mnt/sysroot` in PID 1).
    pub target: PathBuf,
    /// Host mode or PID 1.
    pub mode: Mode,
    /// Stop, successfully, after this step (`None`: the whole install).
    pub stop_after: Option<Step>,
    /// Print the plan and stop before writing anything.
    pub dry_run: bool,
    /// Progress on the terminal, events to the provisioner, and the install log.
    pub reporter: Reporter,
    /// Kernel arguments the installed system inherits from the installer's own command line
    /// (PID 1: its `console=`s, so a machine installed over a serial console keeps it, as
    /// Anaconda does). Dropped when the kickstart's `bootloader --append` names a console.
    pub inherited_args: Vec<String>,
    /// Host mode: stage bootc images in a directory here instead of RAM (`--staging-dir`).
    pub staging_dir: Option<PathBuf>,
    /// At most this much RAM counts for staging a bootc image (`--staging-ram-limit`: tests,
    /// hosts that must keep their memory); `None`: `MemAvailable`.
    pub staging_ram_limit: Option<u64>,
}

/// What an install did.
#[derive(Debug, Clone)]
pub struct Summary {
    /// The storage plan (printed before anything was written).
    pub plan: StoragePlan,
    /// `TRANSPORT:REF` and manifest digest of the installed image, when one was resolved.
    pub image: Option<(String, String)>,
    /// The step it stopped after, when asked to stop early; `None` after a dry run or a whole
    /// install.
    pub stopped_after: Option<Step>,
    /// The kickstart's `reboot`/`poweroff`/`halt` (`halt` when it has none): PID 1 does it,
    /// host mode ignores it.
    pub finish: FinishKind,
    /// The new system's `/etc/fstab`, once the storage step ran.
    pub fstab: Option<String>,
}

/// Runs the install described by `opts`. See the module documentation for the order and what
/// a failure leaves behind.
pub fn install(opts: &InstallOptions) -> Result<Summary> {
    let reporter = &opts.reporter;
    reporter.started();
    let mut ks_for_onerror: Option<Kickstart> = None;
    let mut disk_paths: Vec<PathBuf> = Vec::new();
    let result = run(opts, &mut ks_for_onerror, &mut disk_paths);
    match &result {
        Ok(_) if opts.dry_run => reporter.done("dry run: nothing was written"),
        Ok(s) => reporter.done(&match s.stopped_after {
            Some(step) => format!("stopped after the {} step, as asked", step.name()),
            None => "installation complete".into(),
        }),
        Err(err) => {
            if let Some(ks) = &ks_for_onerror {
                let env = scripts::Env {
                    restrict_dev: opts.mode == Mode::Host,
                    disks: disk_paths,
                    target: None,
                    esp: None,
                    binds: Vec::new(),
                };
                if let Err(e) = scripts::run_all(ks, ScriptKind::Onerror, &env, reporter) {
                    reporter.warn(&format!("%onerror: {e:#}"));
                }
            }
            reporter.failed(&format!("{err:#}"));
        }
    }
    result
}

fn run(
    opts: &InstallOptions,
    ks_slot: &mut Option<Kickstart>,
    disk_paths: &mut Vec<PathBuf>,
) -> Result<Summary> {
    let r = &opts.reporter;
    let first = kickstart::first_parse(&opts.kickstart, r)?;
    let early = match &first {
        kickstart::FirstParse::Clean(k) => k,
        kickstart::FirstParse::NeedsPre(k) => k,
    };
    *ks_slot = Some(early.clone());

    let disks = match &opts.disks {
        Disks::Only(d) => d.clone(),
        Disks::All => hardware::discover(&Roots::system(), &[]).context("discovering the disks")?,
    };
    *disk_paths = disks.iter().map(|d| d.path.clone()).collect();
    let hw = Hardware {
        disks,
        firmware: opts
            .firmware
            .unwrap_or_else(|| hardware::firmware_from_sysfs("/sys".as_ref())),
        memory_bytes: hardware::memory_from_meminfo("/proc".as_ref()),
    };
    let script_env = |target: Option<PathBuf>, esp: Option<PathBuf>| scripts::Env {
        restrict_dev: opts.mode == Mode::Host,
        disks: hw.disks.iter().map(|d| d.path.clone()).collect(),
        target,
        esp,
        binds: Vec::new(),
    };

    let ks = if early.scripts.iter().any(|s| s.kind == ScriptKind::Pre) && !opts.dry_run {
        r.step("pre", "running %pre scripts");
        scripts::run_all(early, ScriptKind::Pre, &script_env(None, None), r)?;
        kickstart::final_parse(&opts.kickstart, true, r)
            .context("parsing the kickstart after %pre")?
    } else {
        match first {
            kickstart::FirstParse::Clean(k) => k,
            kickstart::FirstParse::NeedsPre(_) => {
                kickstart::final_parse(&opts.kickstart, false, r)?
            }
        }
    };
    *ks_slot = Some(ks.clone());
    kickstart::check_supported(&ks)?;
    if ks.packages.is_some() {
        r.warn("%packages is ignored: the image is installed as it is");
    }
    let settings = from_kickstart::settings(&ks).context("checking the kickstart's settings")?;

    // The image, resolved before any disk is touched.
    let wanted = steps::image::wanted(&ks)?;
    let stop_at_storage = opts.stop_after == Some(Step::Storage);
    if wanted.is_none() && !stop_at_storage && !opts.dry_run {
        bail!(
            "the kickstart names no image: add `ostreecontainer --url=REF` (or `bootc \
             --source-imgref=TRANSPORT:REF`); nothing was written"
        );
    }
    let rt = steps::image::runtime()?;
    let image = match &wanted {
        Some(w) => {
            r.step("image", &format!("resolving {}", w.source));
            Some(steps::image::resolve(&rt, w, &opts.registry, r)?)
        }
        None => None,
    };
    let facts = image.as_ref().map(steps::image::facts).unwrap_or_default();
    let plan = storage::plan(&ks, &hw, &facts).context("planning the storage")?;
    r.lines(&report::render(&plan));
    let bootc_image = image
        .as_ref()
        .filter(|i| i.facts.deploy == DeployWay::Bootc && !stop_at_storage);
    // Where a bootc image is staged is part of the plan: decided before any disk is touched.
    let staging_plan = match bootc_image {
        Some(i) if opts.staging_dir.is_none() => {
            let input = staging::StagingInput {
                compressed: i.facts.compressed_size(),
                mem_available: steps::stage::mem_available()
                    .min(opts.staging_ram_limit.unwrap_or(u64::MAX)),
            };
            let s = staging::place(&storage::from_kickstart::request(&ks), &hw, &plan, input)?;
            r.lines(&staging::render(&s));
            Some(s)
        }
        _ => None,
    };
    // bootc's arguments are checked with the plan: a dry run refuses what bootc cannot do.
    let bootc_call = match (bootc_image, &wanted) {
        (Some(_), Some(w)) => Some(steps::bootc::Call::new(
            &ks,
            w,
            kernel_args(&opts.inherited_args, &settings.append),
            hw.firmware,
        )?),
        _ => None,
    };
    let image_id = image
        .as_ref()
        .map(|i| (i.facts.source.clone(), i.facts.manifest_digest.clone()));
    let finish = ks.action.map(|a| a.kind).unwrap_or_default();
    let mut fstab = None;
    let summary = |stopped_after, fstab: &Option<String>| Summary {
        plan: plan.clone(),
        image: image_id.clone(),
        stopped_after,
        finish,
        fstab: fstab.clone(),
    };
    if opts.dry_run {
        return Ok(summary(None, &fstab));
    }
    // LVM/LUKS need device-mapper: loaded in PID 1, refused on a host kernel without it.
    steps::storage::check_kernel(&plan, opts.mode == Mode::Pid1)?;
    // A bootc image staged in RAM (or --staging-dir) is staged before any disk is touched, so
    // that an image that has no bootc is refused with the disks as they were; staging on a
    // disk area waits for the storage step.
    let staging = match bootc_image {
        Some(i) => {
            r.step(
                "image",
                &format!("staging {} for its own bootc", i.facts.source),
            );
            let call = bootc_call.clone().expect("a bootc image has its call");
            let pending = match (&opts.staging_dir, &staging_plan) {
                (Some(dir), _) => {
                    let s = Staging::in_dir(dir, i.facts.compressed_size(), &hw.disks)?;
                    s.fill(&rt, i, r)?;
                    PendingStaging::Ready(s)
                }
                (None, Some(plan)) => match plan.area {
                    staging::StagingArea::Ram { size } => {
                        let s = Staging::in_ram(size)?;
                        s.fill(&rt, i, r)?;
                        PendingStaging::Ready(s)
                    }
                    _ => PendingStaging::OnDisk(plan.clone()),
                },
                (None, None) => unreachable!("a bootc image without --staging-dir has a plan"),
            };
            Some((pending, call))
        }
        None => None,
    };

    if staging.is_some() && !scripts::kernel_has_vfat() && esp_planned(&plan) {
        r.warn(
            "this kernel cannot mount vfat: bootc will not find the ESP mounted at \
             /target/boot/efi (a real bootc needs it to install the UEFI boot loader)",
        );
    }
    r.step("storage", "partitioning, formatting and mounting");
    let prepared = steps::storage::run(
        &plan,
        &steps::storage::Options {
            target: opts.target.clone(),
            // The flat way writes the ESP with mtools and %post gets it mounted in its own
            // namespace; bootc installs the boot loader itself and needs it mounted.
            mount_esp: staging.is_some() && scripts::kernel_has_vfat(),
        },
    )?;
    r.info(&format!(
        "storage prepared, mounted under {}",
        prepared.target.display()
    ));
    fstab = Some(crate::disk::fstab::render(&prepared.fstab()));
    if stop_at_storage {
        return Ok(summary(Some(Step::Storage), &fstab));
    }
    let esp_node = esp_node(&prepared);
    let target_env = || script_env(Some(prepared.target.clone()), esp_node.clone());
    if ks.scripts.iter().any(|s| s.kind == ScriptKind::PreInstall) {
        r.step("pre-install", "running %pre-install scripts");
        scripts::run_all(&ks, ScriptKind::PreInstall, &target_env(), r)?;
    }

    let (Some(image), Some(wanted)) = (&image, &wanted) else {
        unreachable!("an install past storage has an image (checked above)");
    };
    if let Some((staging, call)) = staging {
        let stopped = deploy_bootc(
            opts,
            &ks,
            &settings,
            &prepared,
            (staging, &rt, image),
            &call,
            target_env(),
        )?;
        drop(prepared);
        return Ok(summary(stopped, &fstab));
    }
    r.step("image", &format!("pulling {}", image.facts.source));
    steps::image::pull(&rt, image, wanted, &prepared.target, &prepared.fstab(), r)?;
    drop(rt);
    let root = TargetRoot::new(&prepared.target);
    steps::storage::write_config(&root, &prepared)?;
    let found = steps::bootloader::check(&root, hw.firmware)?;
    r.info(&format!(
        "kernel {} with {:?} for {}",
        found.kernel.version, found.loader, hw.firmware
    ));
    if opts.stop_after == Some(Step::Image) {
        return Ok(summary(Some(Step::Image), &fstab));
    }

    r.step("configure", "users, keys, locale, network");
    steps::configure::run(&root, &settings, r)?;
    if opts.stop_after == Some(Step::Configure) {
        return Ok(summary(Some(Step::Configure), &fstab));
    }

    r.step(
        "bootloader",
        &format!("installing the boot loader ({})", hw.firmware),
    );
    let append = kernel_args(&opts.inherited_args, &settings.append);
    steps::bootloader::run(&root, &prepared, &found, &append, r)?;
    if opts.stop_after == Some(Step::Bootloader) {
        return Ok(summary(Some(Step::Bootloader), &fstab));
    }

    if ks.scripts.iter().any(|s| s.kind == ScriptKind::Post) {
        r.step("post", "running %post scripts");
        scripts::run_all(&ks, ScriptKind::Post, &target_env(), r)?;
    }
    r.step("finish", "saving the install log");
    steps::finish::run(&root, &ks, r)?;
    drop(prepared);
    Ok(summary(None, &fstab))
}

/// A bootc image's staging: done (RAM, `--staging-dir`), or planned on a disk area that
/// exists once the storage step ran.
#[derive(Debug)]
enum PendingStaging {
    Ready(Staging),
    OnDisk(staging::StagingPlan),
}

/// The bootc way, after storage and `%pre-install`: the image is staged on its disk area if
/// the plan put it there, the staged image's bootc installs onto the target (the staging is
/// removed once it is done, or failed: the error says what it left), then the accounts and
/// settings, `%post` (chrooted into the deployment, its `/var` and the target at `/sysroot`
/// bound) and the log go into the deployment bootc made. Returns the step it stopped after,
/// when asked to.
fn deploy_bootc(
    opts: &InstallOptions,
    ks: &Kickstart,
    settings: &from_kickstart::Settings,
    prepared: &steps::storage::Prepared,
    (staging, rt, image): (PendingStaging, &tokio::runtime::Runtime, &Image),
    call: &steps::bootc::Call,
    env: scripts::Env,
) -> Result<Option<Step>> {
    let r = &opts.reporter;
    let mut staging = match staging {
        PendingStaging::Ready(s) => s,
        PendingStaging::OnDisk(plan) => {
            r.step(
                "image",
                &format!("staging {} on a disk area", image.facts.source),
            );
            let area = steps::stage_area::DiskArea::make(&plan, prepared)?;
            let mut s = Staging::on_disk(area)?;
            if let Err(e) = s.fill(rt, image, r) {
                return Err(e.context(s.remove()));
            }
            s
        }
    };
    r.step("image", "installing with the image's own bootc");
    // The storage's own arguments (rd.lvm.lv=, rd.luks.uuid=) are known only now, first.
    let mut call = call.clone();
    call.kargs.splice(0..0, prepared.kernel_args());
    let deployment = match steps::bootc::install(&staging, &prepared.target, &call, &env, r) {
        Ok(d) => d,
        Err(e) => return Err(e.context(staging.remove())),
    };
    r.info(&staging.remove());
    let root = TargetRoot::new(&deployment.root);
    steps::bootc::write_storage_config(&root, prepared)?;
    if opts.stop_after == Some(Step::Image) {
        return Ok(Some(Step::Image));
    }
    let _var = steps::bootc::VarBind::new(&deployment)?;
    r.step(
        "configure",
        "users, keys, locale, network (in the deployment)",
    );
    steps::configure::run(&root, settings, r)?;
    if opts.stop_after == Some(Step::Configure) {
        return Ok(Some(Step::Configure));
    }
    r.info("boot loader: installed by bootc");
    if opts.stop_after == Some(Step::Bootloader) {
        return Ok(Some(Step::Bootloader));
    }
    if ks.scripts.iter().any(|s| s.kind == ScriptKind::Post) {
        r.step("post", "running %post scripts in the deployment");
        let mut binds = vec![
            (deployment.var.clone(), "/var".to_string()),
            (prepared.target.clone(), "/sysroot".to_string()),
        ];
        let boot = prepared.target.join("boot");
        if boot.is_dir() {
            binds.push((boot, "/boot".to_string()));
        }
        let env = scripts::Env {
            target: Some(deployment.root.clone()),
            binds,
            ..env
        };
        scripts::run_all(ks, ScriptKind::Post, &env, r)?;
    }
    r.step("finish", "saving the install log");
    steps::finish::run(&root, ks, r)?;
    Ok(None)
}

/// Whether the plan makes an ESP.
fn esp_planned(plan: &StoragePlan) -> bool {
    plan.mount_points().iter().any(|m| m.mount == "/boot/efi")
}

/// The ESP's partition node, if the plan has one.
fn esp_node(prepared: &steps::storage::Prepared) -> Option<PathBuf> {
    let m = prepared
        .plan
        .mount_points()
        .into_iter()
        .find(|m| m.mount == "/boot/efi")?;
    match &m.device {
        storage::DeviceRef::Partition { disk, number } => {
            prepared.node(disk, *number).map(PathBuf::from)
        }
        storage::DeviceRef::Array { name } => prepared.array(name).map(|a| a.started.node.clone()),
        storage::DeviceRef::LogicalVolume { .. } => None,
    }
}

/// The installed system's extra kernel arguments: the inherited ones, then the kickstart's;
/// a kickstart that sets `console=` decides the consoles alone.
fn kernel_args(inherited: &[String], kickstart: &[String]) -> Vec<String> {
    let sets_console = kickstart.iter().any(|a| a.starts_with("console="));
    inherited
        .iter()
        .filter(|a| !(sets_console && a.starts_with("console=")))
        .chain(kickstart)
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::kernel_args;

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_installer_console_carries_over_unless_the_kickstart_names_one() {
        let inherited = v(&["console=tty0", "console=ttyS0,115200"]);
        assert_eq!(
            kernel_args(&inherited, &v(&["quiet"])),
            v(&["console=tty0", "console=ttyS0,115200", "quiet"])
        );
        assert_eq!(
            kernel_args(&inherited, &v(&["console=ttyS1", "quiet"])),
            v(&["console=ttyS1", "quiet"])
        );
        assert_eq!(kernel_args(&[], &v(&["quiet"])), v(&["quiet"]));
    }
}
