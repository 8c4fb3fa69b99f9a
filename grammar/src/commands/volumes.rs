//! Volume commands built on partitions: `raid` (md arrays over `part raid.N`), `volgroup`
//! (LVM volume groups over `part pv.N` or `raid pv.N`) and `logvol` (logical volumes, thin
//! pools and thin volumes).
//!
//! Options, checks and messages are pykickstart's RHEL 10 handler (`RHEL10_Raid`,
//! `RHEL10_VolGroup`, `RHEL10_LogVol`). Kickstand is stricter where Anaconda would refuse the
//! kickstart later, when it creates the devices, and pykickstart says nothing (each is a
//! documented divergence in the differential test):
//! - a name defined twice (a volume group, a logical volume in one group, a RAID device) is an
//!   error, not pykickstart's warning: there is no sensible way to go on;
//! - the names a command uses (`pv.N`, `raid.N`, `--vgname`, `--poolname`) must be defined by
//!   some command of the kickstart ([`Reference`], checked once the whole file was read, since
//!   Anaconda creates devices by kind and the definition may come later in the file);
//! - a RAID array needs the members its level needs (blivet's minimum), and `--pesize` must be
//!   a power of two (LVM's rule).
//!
//! Where pykickstart's argparse quirks lose words (`volgroup vg pv.01 --pesize=4 pv.02` keeps
//! only `pv.02`; `raid / raid.01 --level=1 --device=md0 raid.02` drops `raid.02`), Kickstand
//! takes every positional word after the name as a member, which is what the line says.

use super::storage::{ENCRYPTION, encryption, with};
use super::{Cmd, Finding};
use crate::ast::*;
use crate::lexer::Word;
use crate::options::{Matches, Opt, flag, value};

/// A name one command uses that another must define (see the module doc).
#[derive(Debug, Clone)]
pub struct Reference {
    /// The word naming it, for the diagnostic.
    pub column: usize,
    pub len: usize,
    pub kind: RefKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefKind {
    /// A member `name` of volume group `vg`: a `part` or `raid` with that mount point.
    PhysVol { name: String, vg: String },
    /// A member `name` of RAID device `device`: a `part` with that mount point.
    RaidMember { name: String, device: String },
    /// A logvol's `--vgname`: a `volgroup` of that name.
    VolGroup { name: String },
    /// A thin logvol's `--poolname`: a `logvol --thinpool` of that name in `vg`.
    ThinPool { pool: String, vg: String },
}

impl Reference {
    fn at(word: &Word, kind: RefKind) -> Self {
        Reference {
            column: word.column,
            len: word.len,
            kind,
        }
    }

    /// An error message when `ks` does not define what this reference names; `used` holds the
    /// members claimed by earlier references (a member can belong to one array or group).
    pub fn check(&self, ks: &Kickstart, used: &mut Vec<(String, String)>) -> Option<String> {
        match &self.kind {
            RefKind::PhysVol { name, vg } => {
                let defined = ks.parts.iter().any(|p| p.mntpoint == *name)
                    || ks.raids.iter().any(|r| r.mntpoint == *name);
                if !defined {
                    return Some(format!(
                        "volgroup {vg}: physical volume {name} is not defined (expected a \
                         `part {name} --size=…` or `raid {name} …` command; Anaconda: Tried \
                         to use undefined partition \"{name}\" in Volume Group specification)"
                    ));
                }
                if !name.starts_with("pv.") {
                    return Some(format!(
                        "volgroup {vg}: {name} is not a physical volume (expected a pv.N name, \
                         e.g. `part pv.01 --size=…`)"
                    ));
                }
                claim(used, name, format!("volume group {vg}"))
            }
            RefKind::RaidMember { name, device } => {
                if !ks.parts.iter().any(|p| p.mntpoint == *name) {
                    return Some(format!(
                        "raid {device}: member {name} is not defined (expected a `part {name} \
                         --size=…` command; Anaconda: Tried to use undefined partition \
                         \"{name}\" in RAID specification)"
                    ));
                }
                if !name.starts_with("raid.") {
                    return Some(format!(
                        "raid {device}: {name} is not a RAID member (expected a raid.N name, \
                         e.g. `part raid.01 --size=…`)"
                    ));
                }
                claim(used, name, format!("RAID device {device}"))
            }
            RefKind::VolGroup { name } => {
                (!ks.volgroups.iter().any(|v| v.name == *name)).then(|| {
                    format!(
                        "No volume group exists with the name \"{name}\" (expected a `volgroup \
                         {name} pv.N…` command; Kickstand does not use existing volume groups)"
                    )
                })
            }
            RefKind::ThinPool { pool, vg } => (!ks
                .logvols
                .iter()
                .any(|l| l.thinpool && l.name == *pool && l.vgname == *vg))
            .then(|| {
                format!(
                    "No thin pool exists with the name \"{pool}\" in volume group {vg} (expected \
                     `logvol none --vgname={vg} --name={pool} --thinpool --size=…`)"
                )
            }),
        }
    }
}

/// Records that `name` belongs to `owner`; an error when something else already has it.
fn claim(used: &mut Vec<(String, String)>, name: &str, owner: String) -> Option<String> {
    if let Some((_, first)) = used.iter().find(|(n, _)| n == name) {
        return Some(format!(
            "{name} is already a member of {first}; it cannot also be used by {owner}"
        ));
    }
    used.push((name.to_string(), owner));
    None
}

/// Options all three commands format with.
const FORMAT: &[Opt] = &[
    value(&["--fstype"], "fstype"),
    flag(&["--noformat"], "noformat"),
    flag(&["--useexisting"], "useexisting"),
    value(&["--fsoptions"], "fsoptions"),
    value(&["--fsprofile"], "fsprofile"),
    value(&["--label"], "label"),
    value(&["--mkfsoptions"], "mkfsoptions"),
    value(&["--chunksize"], "chunksize"),
];

/// The mount point (first positional word), or pykickstart's "required" error.
fn mntpoint<'m>(cmd: &Cmd<'_>, m: &'m Matches, example: &str) -> Result<&'m Word, Finding> {
    m.positional.first().ok_or_else(|| {
        Finding::at(
            cmd.name,
            format!(
                "the following arguments are required: <mntpoint> ({} needs a mount point, \
                 e.g. `{example}`)",
                cmd.name.text
            ),
        )
    })
}

/// `--mkfsoptions` checks shared by `raid` and `logvol` (pykickstart's F23 rules).
fn mkfs_checks(cmd: &Cmd<'_>, m: &Matches) -> Result<(), Finding> {
    if m.flag("noformat") && m.flag("mkfsoptions") {
        return Err(Finding::at(
            cmd.name,
            "--mkfsoptions with --noformat has no effect.",
        ));
    }
    if m.flag("fsprofile") && m.flag("mkfsoptions") {
        return Err(Finding::at(
            cmd.name,
            "--mkfsoptions and --fsprofile cannot be used together.",
        ));
    }
    Ok(())
}

fn word<'m>(m: &'m Matches, dest: &str) -> &'m Word {
    &m.get(dest).expect("option was given").word
}

const RAID: &[Opt] = &[
    value(&["--device"], "device"),
    value(&["--level"], "level"),
    value(&["--spares"], "spares"),
];

pub fn raid(ks: &mut Kickstart, cmd: &mut Cmd<'_>) -> Result<(), Finding> {
    cmd.conflicts(&["autopart", "mount"])?;
    let m = cmd.options(&with(&with(RAID, FORMAT), ENCRYPTION))?;
    let mnt = mntpoint(cmd, &m, "raid / --level=1 --device=md0 raid.01 raid.02")?;
    let device = cmd.required(&m, "device", "--device")?;
    let level = match m.get("level") {
        None => None,
        Some(g) => Some(RaidLevel::parse(&g.value).ok_or_else(|| {
            Finding::at(
                &g.word,
                format!(
                    "Invalid raid level: {} (expected 0, 1, 4, 5, 6 or 10, or RAID0 … RAID10)",
                    g.value
                ),
            )
        })?),
    };
    let members = &m.positional[1..];
    let preexist = m.flag("useexisting") || m.flag("noformat");
    if members.is_empty() && !preexist {
        return Err(Finding::at(
            cmd.name,
            "Partitions required for raid (expected the raid.N members after the mount point, \
             e.g. `raid / --level=1 --device=md0 raid.01 raid.02`)",
        ));
    }
    if let (Some(first), true) = (members.first(), preexist) {
        return Err(Finding::at(
            first,
            "Members may not be specified for preexisting RAID device",
        ));
    }
    if let Some(earlier) = ks.raids.iter().find(|r| r.device == device) {
        return Err(Finding::at(
            word(&m, "device"),
            format!(
                "A RAID device with the name {device} has already been defined (line {}).",
                earlier.source.line
            ),
        ));
    }
    if !preexist && level.is_none() {
        return Err(Finding::at(
            cmd.name,
            "RAID Partition defined without RAID level (expected --level=0|1|4|5|6|10)",
        ));
    }
    if preexist && device.is_empty() {
        return Err(Finding::at(
            cmd.name,
            "Device required for preexisting RAID device",
        ));
    }
    mkfs_checks(cmd, &m)?;
    let encryption = encryption(&m)?;
    if let Some(level) = level.filter(|l| !preexist && members.len() < l.min_members()) {
        return Err(Finding::at(
            word(&m, "level"),
            format!(
                "RAID level {} requires that device have at least {} members; {} given",
                level.name(),
                level.min_members(),
                members.len()
            ),
        ));
    }
    let r = Raid {
        mntpoint: mnt.text.clone(),
        device: device.clone(),
        level,
        members: members.iter().map(|w| w.text.clone()).collect(),
        spares: m.int("spares")?.unwrap_or(0),
        fstype: m.value("fstype"),
        fsoptions: m.value("fsoptions"),
        mkfsoptions: m.value("mkfsoptions"),
        fsprofile: m.value("fsprofile"),
        label: m.value("label"),
        chunksize: m.int("chunksize")?,
        noformat: m.flag("noformat"),
        useexisting: m.flag("useexisting"),
        encryption,
        source: cmd.source.clone(),
    };
    for w in members {
        cmd.refs.push(Reference::at(
            w,
            RefKind::RaidMember {
                name: w.text.clone(),
                device: device.clone(),
            },
        ));
    }
    ks.raids.push(r);
    Ok(())
}

const VOLGROUP: &[Opt] = &[
    flag(&["--noformat"], "noformat"),
    flag(&["--useexisting"], "useexisting"),
    value(&["--reserved-space"], "reserved-space"),
    value(&["--reserved-percent"], "reserved-percent"),
    value(&["--pesize"], "pesize"),
];

pub fn volgroup(ks: &mut Kickstart, cmd: &mut Cmd<'_>) -> Result<(), Finding> {
    cmd.conflicts(&["autopart", "mount"])?;
    let m = cmd.options(VOLGROUP)?;
    let pesize: Option<u64> = m.int("pesize")?;
    let reserved_space: Option<u64> = m.int("reserved-space")?;
    let reserved_percent: Option<u64> = m.int("reserved-percent")?;
    let Some(name) = m.positional.first() else {
        return Err(Finding::at(
            cmd.name,
            "volgroup must be given a VG name (expected `volgroup NAME pv.01 …`)",
        ));
    };
    let physvols = &m.positional[1..];
    let preexist = m.flag("useexisting") || m.flag("noformat");
    if physvols.is_empty() && !preexist {
        return Err(Finding::at(
            cmd.name,
            format!(
                "volgroup must be given a list of partitions (expected `volgroup {} pv.01 …`)",
                name.text
            ),
        ));
    }
    if let (Some(first), true) = (physvols.first(), preexist) {
        return Err(Finding::at(
            first,
            "Members may not be specified for preexisting volgroup",
        ));
    }
    if let Some(earlier) = ks.volgroups.iter().find(|v| v.name == name.text) {
        return Err(Finding::at(
            name,
            format!(
                "A volgroup with the name {} has already been defined (line {}).",
                name.text, earlier.source.line
            ),
        ));
    }
    if reserved_percent.is_some_and(|p| !(1..100).contains(&p)) {
        return Err(Finding::at(
            word(&m, "reserved-percent"),
            "Volume group reserved space percentage must be between 1 and 99.",
        ));
    }
    if let Some(pe) = pesize.filter(|p| *p != 0 && !p.is_power_of_two()) {
        return Err(Finding::at(
            word(&m, "pesize"),
            format!(
                "Volume group physical extent size {pe} KiB is not a power of two (expected \
                 e.g. 4096 for 4 MiB)"
            ),
        ));
    }
    for w in physvols {
        cmd.refs.push(Reference::at(
            w,
            RefKind::PhysVol {
                name: w.text.clone(),
                vg: name.text.clone(),
            },
        ));
    }
    ks.volgroups.push(VolGroup {
        name: name.text.clone(),
        physvols: physvols.iter().map(|w| w.text.clone()).collect(),
        pesize: pesize.filter(|p| *p != 0),
        reserved_space,
        reserved_percent,
        noformat: m.flag("noformat"),
        useexisting: m.flag("useexisting"),
        source: cmd.source.clone(),
    });
    Ok(())
}

const LOGVOL: &[Opt] = &[
    flag(&["--grow"], "grow"),
    value(&["--maxsize"], "maxsize"),
    value(&["--name"], "name"),
    value(&["--percent"], "percent"),
    flag(&["--recommended"], "recommended"),
    value(&["--size"], "size"),
    value(&["--vgname"], "vgname"),
    flag(&["--resize"], "resize"),
    flag(&["--hibernation"], "hibernation"),
    flag(&["--thinpool"], "thinpool"),
    flag(&["--thin"], "thin"),
    value(&["--poolname"], "poolname"),
    value(&["--metadatasize"], "metadatasize"),
    value(&["--profile"], "profile"),
    value(&["--cachesize"], "cachesize"),
    value(&["--cachemode"], "cachemode"),
    value(&["--cachepvs"], "cachepvs"),
];

pub fn logvol(ks: &mut Kickstart, cmd: &mut Cmd<'_>) -> Result<(), Finding> {
    cmd.conflicts(&["autopart", "mount"])?;
    let m = cmd.options(&with(&with(LOGVOL, FORMAT), ENCRYPTION))?;
    let mnt = mntpoint(cmd, &m, "logvol / --vgname=vg --name=root --size=10240")?;
    cmd.extra_positional(&m, 1, "")?;
    let vgname = cmd.required(&m, "vgname", "--vgname")?;
    let name = cmd.required(&m, "name", "--name")?;
    let lv = LogVol {
        mntpoint: mnt.text.clone(),
        vgname: vgname.clone(),
        name: name.clone(),
        size: m.int("size")?,
        percent: m.int("percent")?,
        grow: m.flag("grow"),
        maxsize: m.int("maxsize")?,
        recommended: m.flag("recommended"),
        hibernation: m.flag("hibernation"),
        fstype: m.value("fstype"),
        fsoptions: m.value("fsoptions"),
        mkfsoptions: m.value("mkfsoptions"),
        fsprofile: m.value("fsprofile"),
        label: m.value("label"),
        noformat: m.flag("noformat"),
        useexisting: m.flag("useexisting"),
        resize: m.flag("resize"),
        thinpool: m.flag("thinpool"),
        thin: m.flag("thin"),
        poolname: m.value("poolname"),
        chunksize: m.int("chunksize")?,
        metadatasize: m.int("metadatasize")?,
        profile: m.value("profile"),
        cachesize: m.int("cachesize")?,
        cachemode: m.value("cachemode"),
        cachepvs: m.list("cachepvs"),
        encryption: encryption(&m)?,
        source: cmd.source.clone(),
    };
    let preexist = lv.useexisting || lv.noformat;
    let nonzero = |n: Option<u64>| n.unwrap_or(0) != 0;
    if let Some(earlier) = ks
        .logvols
        .iter()
        .find(|l| l.vgname == vgname && l.name == name)
    {
        return Err(Finding::at(
            word(&m, "name"),
            format!(
                "A logical volume with the name {name} has already been defined in volume \
                 group {vgname} (line {}).",
                earlier.source.line
            ),
        ));
    }
    let fail = |message: &str| Err(Finding::at(cmd.name, message));
    if lv.resize && !preexist {
        return fail("--resize can only be used in conjunction with --useexisting");
    }
    if lv.resize && !nonzero(lv.size) {
        return fail("--resize requires --size to indicate new size");
    }
    if lv.thin && lv.thinpool {
        return fail("--thin and --thinpool cannot both be specified for the same logvol");
    }
    if lv.thin && lv.poolname.as_deref().unwrap_or_default().is_empty() {
        return fail("--thin requires --poolname to specify pool name");
    }
    if (nonzero(lv.chunksize) || nonzero(lv.metadatasize)) && !lv.thinpool {
        return fail("--chunksize and --metadatasize are for thin pools only");
    }
    if !preexist && !nonzero(lv.percent) && !nonzero(lv.size) && !lv.recommended && !lv.hibernation
    {
        return fail(
            "No size given for logical volume. Use one of --useexisting, --noformat, --size, \
             --percent, or --hibernation.",
        );
    }
    if lv.percent.is_some_and(|p| p > 100) {
        return Err(Finding::at(
            word(&m, "percent"),
            "Percentage must be between 0 and 100.",
        ));
    }
    if nonzero(lv.size) && nonzero(lv.percent) {
        return fail("--size and --percent cannot both be specified for the same logvol");
    }
    if nonzero(lv.cachesize) || lv.cachemode.is_some() || !lv.cachepvs.is_empty() {
        if preexist {
            return fail("Adding a cache to an existing logical volume is not supported");
        }
        if lv.thin {
            return fail("Thin volumes cannot be cached");
        }
        if lv.cachepvs.is_empty() {
            return fail("Cache needs to have a list of (fast) PVs specified");
        }
        if !nonzero(lv.cachesize) {
            return fail("Cache needs to have size specified");
        }
        if let Some(mode) = lv
            .cachemode
            .as_deref()
            .filter(|c| !c.is_empty() && !["writeback", "writethrough"].contains(c))
        {
            return Err(Finding::at(
                word(&m, "cachemode"),
                format!("Invalid cache mode given: {mode} (expected writeback or writethrough)"),
            ));
        }
    }
    mkfs_checks(cmd, &m)?;
    if lv.fstype.as_deref() == Some("btrfs") {
        return Err(Finding::at(
            word(&m, "fstype"),
            "Btrfs file system is not supported (RHEL 10 refuses btrfs on logical volumes; \
             use `part … --fstype=btrfs` or `autopart --type=btrfs`)",
        ));
    }
    if !preexist {
        cmd.refs.push(Reference::at(
            word(&m, "vgname"),
            RefKind::VolGroup {
                name: vgname.clone(),
            },
        ));
        if lv.thin {
            cmd.refs.push(Reference::at(
                word(&m, "poolname"),
                RefKind::ThinPool {
                    pool: lv.poolname.clone().unwrap_or_default(),
                    vg: vgname,
                },
            ));
        }
    }
    ks.logvols.push(lv);
    Ok(())
}
