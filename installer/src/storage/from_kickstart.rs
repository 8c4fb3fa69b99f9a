//! The one place that reads the grammar's AST for storage: [`request`] turns a
//! [`Kickstart`] into the planner's [`StorageRequest`], and [`plan`] is the planner's entry
//! point on a parsed kickstart.

use super::error::PlanError;
use super::layout::StoragePlan;
use super::plan::{ImageFacts, plan_request};
use super::request::{
    AutoKind, AutoPart, BootLocation, BootloaderRequest, ClearKind, ClearPart, EncryptionRequest,
    IgnoreDisk, Origin, PartRequest, ReqPart, StorageRequest, Unsupported,
};
use crate::hardware::Hardware;
use kickstand_grammar as ks;
use kickstand_grammar::Kickstart;

/// Storage commands of the kickstart that need device-mapper, md, or existing partitions.
const UNSUPPORTED_STORAGE: &[&str] = &[
    "logvol",
    "volgroup",
    "raid",
    "btrfs",
    "mount",
    "iscsi",
    "iscsiname",
    "fcoe",
    "zfcp",
    "nvdimm",
    "zipl",
];

/// Lays out the storage commands of `kickstart` on `hardware` (pure; see [`plan_request`]).
pub fn plan(
    kickstart: &Kickstart,
    hardware: &Hardware,
    image: &ImageFacts,
) -> Result<StoragePlan, PlanError> {
    plan_request(&request(kickstart), hardware, image)
}

/// The planner's view of a kickstart's storage commands.
pub fn request(k: &Kickstart) -> StorageRequest {
    let origin = Origin::default();
    let mut unsupported: Vec<Unsupported> = k
        .unsupported
        .iter()
        .filter(|c| UNSUPPORTED_STORAGE.contains(&c.name.as_str()))
        .map(|c| Unsupported {
            what: c.name.clone(),
            origin,
        })
        .collect();
    for p in &k.parts {
        let m = &p.mntpoint;
        let flag = if p.onpart.is_some() {
            Some("--onpart")
        } else if p.noformat {
            Some("--noformat")
        } else if p.resize {
            Some("--resize")
        } else if p.onbiosdisk.is_some() {
            Some("--onbiosdisk")
        } else {
            None
        };
        if let Some(flag) = flag {
            unsupported.push(Unsupported {
                what: format!("part {m} {flag} (reusing existing partitions)"),
                origin,
            });
        }
    }
    StorageRequest {
        zerombr: k.zerombr,
        clearpart: k.clearpart.as_ref().map(|c| ClearPart {
            kind: match c.kind {
                None | Some(ks::ClearKind::None) if c.list.is_empty() => ClearKind::None,
                Some(ks::ClearKind::All) => ClearKind::All,
                Some(ks::ClearKind::Linux) => ClearKind::Linux,
                _ => ClearKind::List(c.list.clone()),
            },
            drives: c.drives.clone(),
            initlabel: c.initlabel,
            disklabel: c.disklabel.clone(),
            origin,
        }),
        ignoredisk: k.ignoredisk.as_ref().map(|i| match i {
            ks::IgnoreDisk::OnlyUse(d) => IgnoreDisk::OnlyUse(d.clone()),
            ks::IgnoreDisk::Drives(d) => IgnoreDisk::Drives(d.clone()),
        }),
        autopart: k.autopart.as_ref().map(|a| AutoPart {
            kind: match a.kind {
                None | Some(ks::AutoPartType::Plain) => AutoKind::Plain,
                Some(ks::AutoPartType::Btrfs) => AutoKind::Btrfs,
                Some(ks::AutoPartType::Lvm) => AutoKind::Lvm,
                Some(ks::AutoPartType::Thinp) => AutoKind::ThinP,
            },
            fstype: a.fstype.clone(),
            nohome: a.nohome,
            noboot: a.noboot,
            noswap: a.noswap,
            encrypted: a.encryption.encrypted,
            encryption: encryption(&a.encryption),
            origin,
        }),
        parts: k
            .parts
            .iter()
            .map(|p| PartRequest {
                mntpoint: p.mntpoint.clone(),
                size_mib: p.size,
                grow: p.grow,
                maxsize_mib: p.maxsize,
                fstype: p.fstype.clone(),
                ondisk: p.ondisk.clone(),
                label: p.label.clone(),
                fsoptions: p.fsoptions.clone(),
                mkfsoptions: p.mkfsoptions.clone(),
                recommended: p.recommended,
                encrypted: p.encryption.encrypted,
                encryption: encryption(&p.encryption),
                origin,
            })
            .collect(),
        reqpart: k.reqpart.as_ref().map(|r| ReqPart {
            add_boot: r.add_boot,
        }),
        bootloader: k
            .bootloader
            .as_ref()
            .map(|b| BootloaderRequest {
                boot_drive: b.boot_drive.clone(),
                location: match b.location {
                    None | Some(ks::BootloaderLocation::Mbr) => BootLocation::Mbr,
                    Some(ks::BootloaderLocation::Partition) => BootLocation::Partition,
                    Some(ks::BootloaderLocation::Boot) => BootLocation::Boot,
                    Some(ks::BootloaderLocation::None) => BootLocation::None,
                },
            })
            .unwrap_or_default(),
        unsupported,
    }
}

/// The `--encrypted` options of a command.
fn encryption(e: &ks::Encryption) -> EncryptionRequest {
    EncryptionRequest {
        passphrase: e.passphrase.clone().map(super::layout::Secret::new),
        luks_version: e.luks_version.clone(),
        cipher: e.cipher.clone(),
        pbkdf: e.pbkdf.clone(),
        pbkdf_memory: e.pbkdf_memory,
        pbkdf_time: e.pbkdf_time,
        pbkdf_iterations: e.pbkdf_iterations,
        escrowcert: e.escrowcert.is_some(),
        backuppassphrase: e.backuppassphrase,
    }
}
