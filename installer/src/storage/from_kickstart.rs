//! The one place that reads the grammar's AST for storage: [`request`] turns a
//! [`Kickstart`] into the planner's [`StorageRequest`], and [`plan`] is the planner's entry
//! point on a parsed kickstart.

use super::error::PlanError;
use super::layout::StoragePlan;
use super::plan::{ImageFacts, plan_request};
use super::request::{
    AutoKind, AutoPart, BootLocation, BootloaderRequest, ClearKind, ClearPart, EncryptionRequest,
    IgnoreDisk, LogVolRequest, LvKind, Origin, PartRequest, RaidLevel, RaidRequest, ReqPart,
    StorageRequest, Unsupported, VolGroupRequest,
};
use crate::hardware::Hardware;
use kickstand_grammar as ks;
use kickstand_grammar::Kickstart;

/// Storage commands of the kickstart Kickstand does not parse (kept verbatim by the grammar)
/// that would change the layout: refused rather than ignored.
const UNSUPPORTED_STORAGE: &[&str] = &[
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

/// Where an AST command was given.
fn origin(source: &ks::Source) -> Origin {
    Origin::at(&source.file, source.line, source.column)
}

/// `--encrypted` and its options; `None` when not encrypted.
fn encryption(e: &ks::Encryption) -> Option<EncryptionRequest> {
    e.encrypted.then(|| EncryptionRequest {
        passphrase: e.passphrase.clone(),
        luks_version: e.luks_version.clone(),
        cipher: e.cipher.clone(),
        pbkdf: e.pbkdf.clone(),
        pbkdf_memory_kib: e.pbkdf_memory,
        pbkdf_time_ms: e.pbkdf_time,
        pbkdf_iterations: e.pbkdf_iterations,
    })
}

/// Encryption options Kickstand cannot carry out (key escrow needs NSS and a certificate).
fn encryption_unsupported(
    e: &ks::Encryption,
    what: &str,
    origin: Origin,
    out: &mut Vec<Unsupported>,
) {
    if e.encrypted && (e.escrowcert.is_some() || e.backuppassphrase) {
        out.push(Unsupported {
            what: format!("{what} --escrowcert/--backuppassphrase (key escrow)"),
            origin,
        });
    }
}

fn raid_level(l: ks::RaidLevel) -> RaidLevel {
    match l {
        ks::RaidLevel::Raid0 => RaidLevel::Raid0,
        ks::RaidLevel::Raid1 => RaidLevel::Raid1,
        ks::RaidLevel::Raid4 => RaidLevel::Raid4,
        ks::RaidLevel::Raid5 => RaidLevel::Raid5,
        ks::RaidLevel::Raid6 => RaidLevel::Raid6,
        ks::RaidLevel::Raid10 => RaidLevel::Raid10,
    }
}

/// `raid`, `volgroup` and `logvol` as requests; what they ask that Kickstand cannot do (reuse
/// existing devices, LVM caches, resizing) goes to `unsupported` instead.
fn volumes(
    k: &Kickstart,
    unsupported: &mut Vec<Unsupported>,
) -> (Vec<RaidRequest>, Vec<VolGroupRequest>, Vec<LogVolRequest>) {
    let mut raids = Vec::new();
    for r in &k.raids {
        let origin = origin(&r.source);
        let what = format!("raid {} --device={}", r.mntpoint, r.device);
        encryption_unsupported(&r.encryption, &what, origin, unsupported);
        match r.level {
            Some(level) if !(r.useexisting || r.noformat) => raids.push(RaidRequest {
                mntpoint: r.mntpoint.clone(),
                device: r.device.clone(),
                level: raid_level(level),
                members: r.members.clone(),
                spares: r.spares,
                chunksize_kib: r.chunksize,
                fstype: r.fstype.clone(),
                label: r.label.clone(),
                fsoptions: r.fsoptions.clone(),
                mkfsoptions: r.mkfsoptions.clone(),
                encryption: encryption(&r.encryption),
                origin,
            }),
            _ => unsupported.push(Unsupported {
                what: format!("{what} --useexisting/--noformat (reusing an existing array)"),
                origin,
            }),
        }
    }
    let mut volgroups = Vec::new();
    for v in &k.volgroups {
        let origin = origin(&v.source);
        if v.useexisting || v.noformat {
            unsupported.push(Unsupported {
                what: format!(
                    "volgroup {} --useexisting/--noformat (reusing an existing volume group)",
                    v.name
                ),
                origin,
            });
            continue;
        }
        volgroups.push(VolGroupRequest {
            name: v.name.clone(),
            physvols: v.physvols.clone(),
            pesize_kib: v.pesize,
            reserved_space_mib: v.reserved_space,
            reserved_percent: v.reserved_percent,
            origin,
        });
    }
    let mut logvols = Vec::new();
    for l in &k.logvols {
        let origin = origin(&l.source);
        let what = format!(
            "logvol {} --vgname={} --name={}",
            l.mntpoint, l.vgname, l.name
        );
        encryption_unsupported(&l.encryption, &what, origin, unsupported);
        let refused = if l.useexisting || l.noformat {
            Some("--useexisting/--noformat (reusing an existing volume)")
        } else if l.resize {
            Some("--resize")
        } else if l.cachesize.is_some() || !l.cachepvs.is_empty() || l.cachemode.is_some() {
            Some("--cachesize/--cachepvs (LVM cache)")
        } else if l.hibernation {
            Some("--hibernation")
        } else if l.profile.is_some() {
            Some("--profile (LVM profiles)")
        } else {
            None
        };
        if let Some(flag) = refused {
            unsupported.push(Unsupported {
                what: format!("{what} {flag}"),
                origin,
            });
            continue;
        }
        let kind = if l.thinpool {
            LvKind::ThinPool {
                chunksize_kib: l.chunksize,
                metadatasize_mib: l.metadatasize,
            }
        } else if l.thin {
            LvKind::Thin {
                pool: l.poolname.clone().unwrap_or_default(),
            }
        } else {
            LvKind::Linear
        };
        logvols.push(LogVolRequest {
            mntpoint: l.mntpoint.clone(),
            vgname: l.vgname.clone(),
            name: l.name.clone(),
            size_mib: l.size.filter(|s| *s != 0),
            percent: l.percent.filter(|p| *p != 0),
            grow: l.grow,
            maxsize_mib: l.maxsize.filter(|s| *s != 0),
            recommended: l.recommended,
            kind,
            fstype: l.fstype.clone(),
            label: l.label.clone(),
            fsoptions: l.fsoptions.clone(),
            mkfsoptions: l.mkfsoptions.clone(),
            encryption: encryption(&l.encryption),
            origin,
        });
    }
    (raids, volgroups, logvols)
}

/// The planner's view of a kickstart's storage commands.
pub fn request(k: &Kickstart) -> StorageRequest {
    // Commands the grammar keeps verbatim carry no line.
    let unknown = Origin::default();
    let mut unsupported: Vec<Unsupported> = k
        .unsupported
        .iter()
        .filter(|c| UNSUPPORTED_STORAGE.contains(&c.name.as_str()))
        .map(|c| Unsupported {
            what: c.name.clone(),
            origin: unknown,
        })
        .collect();
    for p in &k.parts {
        let m = &p.mntpoint;
        let origin = origin(&p.source);
        encryption_unsupported(
            &p.encryption,
            &format!("part {m}"),
            origin,
            &mut unsupported,
        );
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
    if let Some(a) = &k.autopart {
        encryption_unsupported(
            &a.encryption,
            "autopart",
            origin(&a.source),
            &mut unsupported,
        );
    }
    let (raids, volgroups, logvols) = volumes(k, &mut unsupported);
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
            origin: unknown,
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
            origin: origin(&a.source),
            encryption: encryption(&a.encryption),
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
                origin: origin(&p.source),
                encryption: encryption(&p.encryption),
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
        raids,
        volgroups,
        logvols,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hardware::{Disk, Firmware};
    use crate::storage::request::Secret;
    use crate::units::GIB;

    fn parse(text: &str) -> Kickstart {
        let parsed = ks::parse("ks.cfg", text, &ks::NoIncludes);
        let errors: Vec<String> = parsed.errors().map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{errors:?}");
        parsed.kickstart
    }

    fn plan_error(text: &str) -> String {
        let hardware = Hardware {
            disks: vec![Disk {
                name: "vda".into(),
                path: "/dev/vda".into(),
                size: 20 * GIB,
                logical_sector_size: 512,
                physical_sector_size: 512,
                ..Disk::default()
            }],
            firmware: Firmware::Uefi,
            memory_bytes: 4 * GIB,
        };
        let err = plan(&parse(text), &hardware, &ImageFacts::default()).expect_err("refused");
        assert!(
            matches!(err, PlanError::NotSupportedYet { .. }),
            "not NotSupportedYet: {err}"
        );
        err.to_string()
    }

    const LVM: &str = "clearpart --all\nreqpart\npart /boot --size=1024\n\
        part pv.01 --size=1 --grow --encrypted --passphrase=hunter22 --luks-version=luks2\n\
        volgroup vg pv.01 --pesize=8192 --reserved-percent=5\n\
        logvol none --vgname=vg --name=pool --thinpool --size=10000 --metadatasize=64\n\
        logvol / --vgname=vg --name=root --thin --poolname=pool --size=8000 --fstype=ext4\n\
        logvol swap --vgname=vg --name=swap --recommended\n\
        logvol /srv --vgname=vg --name=srv --percent=20 --grow --maxsize=4096 --label=srv\n";

    #[test]
    fn lvm_commands_become_requests_with_their_lines() {
        let r = request(&parse(LVM));
        assert!(r.unsupported.is_empty(), "{:?}", r.unsupported);
        let pv = &r.parts[1];
        assert_eq!((pv.mntpoint.as_str(), pv.origin.line), ("pv.01", 4));
        let enc = pv.encryption.as_ref().expect("encrypted");
        assert_eq!(
            enc.passphrase.as_ref().map(Secret::expose),
            Some("hunter22")
        );
        assert_eq!(enc.luks_version.as_deref(), Some("luks2"));
        assert_eq!(
            r.volgroups,
            vec![VolGroupRequest {
                name: "vg".into(),
                physvols: vec!["pv.01".into()],
                pesize_kib: Some(8192),
                reserved_space_mib: None,
                reserved_percent: Some(5),
                origin: Origin::at("ks.cfg", 5, 1),
            }]
        );
        let kinds: Vec<(&str, &LvKind, u32)> = r
            .logvols
            .iter()
            .map(|l| (l.name.as_str(), &l.kind, l.origin.line))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (
                    "pool",
                    &LvKind::ThinPool {
                        chunksize_kib: None,
                        metadatasize_mib: Some(64)
                    },
                    6
                ),
                (
                    "root",
                    &LvKind::Thin {
                        pool: "pool".into()
                    },
                    7
                ),
                ("swap", &LvKind::Linear, 8),
                ("srv", &LvKind::Linear, 9),
            ]
        );
        let srv = &r.logvols[3];
        assert_eq!(
            (srv.percent, srv.grow, srv.maxsize_mib, srv.label.as_deref()),
            (Some(20), true, Some(4096), Some("srv"))
        );
        assert!(r.logvols[2].recommended);
        // The passphrase never shows in the request's Debug output (plans are logged).
        assert!(!format!("{r:?}").contains("hunter22"));
    }

    #[test]
    fn raid_becomes_a_request() {
        let r = request(&parse(
            "part raid.01 --size=1000 --ondisk=sda\npart raid.02 --size=1000 --ondisk=sdb\n\
             raid / --level=RAID1 --device=md0 --fstype=xfs --chunksize=256 --encrypted \
             --passphrase=s3cret raid.01 raid.02\n",
        ));
        assert!(r.unsupported.is_empty(), "{:?}", r.unsupported);
        let raid = &r.raids[0];
        assert_eq!(raid.level, RaidLevel::Raid1);
        assert_eq!(raid.level.mdadm(), "1");
        assert_eq!(raid.members, ["raid.01", "raid.02"]);
        assert_eq!(
            (raid.device.as_str(), raid.chunksize_kib, raid.origin.line),
            ("md0", Some(256), 3)
        );
        assert!(raid.encryption.is_some());
    }

    #[test]
    fn what_kickstand_cannot_do_is_refused_with_its_line() {
        let r = request(&parse(
            "volgroup old --useexisting\n\
             logvol /data --vgname=old --name=data --useexisting\n\
             raid /srv --device=md9 --noformat\n\
             part pv.01 --size=100\nvolgroup vg pv.01\n\
             logvol /c --vgname=vg --name=c --size=10 --cachesize=5 --cachepvs=pv.01\n\
             logvol /e --vgname=vg --name=e --size=10 --encrypted --escrowcert=http://x/c\n",
        ));
        let got: Vec<(u32, &str)> = r
            .unsupported
            .iter()
            .map(|u| (u.origin.line, u.what.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    3,
                    "raid /srv --device=md9 --useexisting/--noformat (reusing an existing array)"
                ),
                (
                    1,
                    "volgroup old --useexisting/--noformat (reusing an existing volume group)"
                ),
                (
                    2,
                    "logvol /data --vgname=old --name=data --useexisting/--noformat (reusing an \
                     existing volume)"
                ),
                (
                    6,
                    "logvol /c --vgname=vg --name=c --cachesize/--cachepvs (LVM cache)"
                ),
                (
                    7,
                    "logvol /e --vgname=vg --name=e --escrowcert/--backuppassphrase (key escrow)"
                ),
            ]
        );
        assert_eq!(r.logvols.len(), 1, "only /e is a request");
    }

    /// The planner does not lay out arrays as physical volumes or reuse volume groups yet:
    /// every such kickstart is refused before anything is written, naming the command and its
    /// line.
    #[test]
    fn planner_refuses_lvm_and_raid_naming_the_line() {
        let e = plan_error(
            "reqpart\npart raid.01 --size=1000\npart raid.02 --size=1000\n\
             raid pv.01 --level=1 --device=md0 raid.01 raid.02\nvolgroup vg pv.01\n\
             logvol / --vgname=vg --name=root --size=1000\n",
        );
        assert!(
            e.contains("(LVM on software RAID) (ks.cfg:5:1) is not supported yet"),
            "{e}"
        );
        let e = plan_error("reqpart\npart / --size=1000\nvolgroup vg --useexisting\n");
        assert!(e.contains("volgroup vg --useexisting/--noformat"), "{e}");
        assert!(e.contains("(ks.cfg:3:1)"), "{e}");
    }
}
