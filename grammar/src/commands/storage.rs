//! Disk commands: zerombr, clearpart, ignoredisk, autopart, part, reqpart, bootloader
//! (`raid`, `volgroup` and `logvol` are in `volumes.rs`).

use super::{Cmd, Finding};
use crate::ast::*;
use crate::options::{Matches, Opt, flag, store, value};

pub fn zerombr(ks: &mut Kickstart, cmd: &mut Cmd<'_>) -> Result<(), Finding> {
    let m = cmd.options(&[])?;
    if let Some(w) = m.positional.first() {
        return Err(Finding::at(
            w,
            format!(
                "unrecognized arguments: {} (zerombr takes no arguments)",
                w.text
            ),
        ));
    }
    ks.zerombr = true;
    Ok(())
}

const CLEARPART: &[Opt] = &[
    store(&["--all"], "type", "all"),
    store(&["--linux"], "type", "linux"),
    store(&["--none"], "type", "none"),
    flag(&["--initlabel"], "initlabel"),
    value(&["--disklabel"], "disklabel"),
    value(&["--drives"], "drives"),
    value(&["--list"], "list"),
    flag(&["--cdl"], "cdl"),
];

pub fn clearpart(ks: &mut Kickstart, cmd: &mut Cmd<'_>) -> Result<(), Finding> {
    let m = cmd.options(CLEARPART)?;
    cmd.no_positional(&m)?;
    let list = m.list("list");
    let kind = if !list.is_empty() {
        Some(ClearKind::List)
    } else {
        m.value("type").map(|t| match t.as_str() {
            "all" => ClearKind::All,
            "linux" => ClearKind::Linux,
            _ => ClearKind::None,
        })
    };
    ks.clearpart = Some(ClearPart {
        kind,
        drives: m.list("drives"),
        list,
        initlabel: m.flag("initlabel"),
        disklabel: m.value("disklabel").filter(|d| !d.is_empty()),
        cdl: m.flag("cdl"),
    });
    Ok(())
}

const IGNOREDISK: &[Opt] = &[
    value(&["--drives"], "drives"),
    value(&["--only-use"], "only-use"),
];

pub fn ignoredisk(ks: &mut Kickstart, cmd: &mut Cmd<'_>) -> Result<(), Finding> {
    let m = cmd.options(IGNOREDISK)?;
    cmd.no_positional(&m)?;
    let (drives, only) = (m.list("drives"), m.list("only-use"));
    ks.ignoredisk = Some(match (drives.is_empty(), only.is_empty()) {
        (false, true) => IgnoreDisk::Drives(drives),
        (true, false) => IgnoreDisk::OnlyUse(only),
        _ => {
            return Err(Finding::at(
                cmd.name,
                "One of --drives or --only-use must be specified for ignoredisk command.",
            ));
        }
    });
    Ok(())
}

pub(super) const ENCRYPTION: &[Opt] = &[
    flag(&["--encrypted"], "encrypted"),
    value(&["--passphrase"], "passphrase"),
    value(&["--escrowcert"], "escrowcert"),
    flag(&["--backuppassphrase"], "backuppassphrase"),
    value(&["--cipher"], "cipher"),
    value(&["--luks-version"], "luks-version"),
    value(&["--pbkdf"], "pbkdf"),
    value(&["--pbkdf-memory"], "pbkdf-memory"),
    value(&["--pbkdf-time"], "pbkdf-time"),
    value(&["--pbkdf-iterations"], "pbkdf-iterations"),
];

pub(super) fn encryption(m: &Matches) -> Result<Encryption, Finding> {
    let e = Encryption {
        encrypted: m.flag("encrypted"),
        passphrase: m.value("passphrase").map(Secret::new),
        escrowcert: m.value("escrowcert"),
        backuppassphrase: m.flag("backuppassphrase"),
        cipher: m.value("cipher"),
        luks_version: m.value("luks-version").filter(|v| !v.is_empty()),
        pbkdf: m.value("pbkdf").filter(|v| !v.is_empty()),
        pbkdf_memory: m.int("pbkdf-memory")?.filter(|n| *n != 0),
        pbkdf_time: m.int("pbkdf-time")?.filter(|n| *n != 0),
        pbkdf_iterations: m.int("pbkdf-iterations")?.filter(|n| *n != 0),
    };
    if let (Some(_), Some(_)) = (e.pbkdf_time, e.pbkdf_iterations) {
        let w = &m.get("pbkdf-iterations").expect("given").word;
        return Err(Finding::at(
            w,
            "Only one of --pbkdf-time and --pbkdf-iterations can be specified.",
        ));
    }
    Ok(e)
}

pub(super) fn with(base: &[Opt], extra: &[Opt]) -> Vec<Opt> {
    base.iter().chain(extra).copied().collect()
}

const AUTOPART: &[Opt] = &[
    store(&["--nolvm"], "type", "plain"),
    value(&["--type"], "type"),
    value(&["--fstype"], "fstype"),
    flag(&["--nohome"], "nohome"),
    flag(&["--noboot"], "noboot"),
    flag(&["--noswap"], "noswap"),
    flag(&["--hibernation"], "hibernation"),
];

/// `autopart`. Deliberate divergence from pykickstart's RHEL 10 handler: `--type=btrfs` is
/// accepted (subvolumes for `/` and `/home`), as Fedora's handlers do, because Kickstand installs
/// bootable container images and bootc / bootc-image-builder support btrfs roots. The checks
/// Fedora keeps stay: `--fstype=btrfs` (use `--type=btrfs`) and `--type=btrfs` with `--fstype`.
pub fn autopart(ks: &mut Kickstart, cmd: &mut Cmd<'_>) -> Result<(), Finding> {
    let m = cmd.options(&with(AUTOPART, ENCRYPTION))?;
    cmd.no_positional(&m)?;
    let kind = match m.get("type") {
        None => None,
        Some(g) => Some(match g.value.as_str() {
            "lvm" => AutoPartType::Lvm,
            "plain" | "partition" => AutoPartType::Plain,
            "thinp" => AutoPartType::Thinp,
            // Divergence: RHEL 10 refuses btrfs, Fedora's handlers accept it (see `autopart`).
            "btrfs" => AutoPartType::Btrfs,
            other => {
                return Err(Finding::at(
                    &g.word,
                    format!("Invalid autopart type: {other} (expected lvm, plain, thinp or btrfs)"),
                ));
            }
        }),
    };
    let fstype = m.value("fstype");
    if fstype.as_deref() == Some("btrfs") {
        let w = &m.get("fstype").expect("given").word;
        return Err(Finding::at(
            w,
            "autopart --fstype=btrfs is not valid fstype, use --type=btrfs instead",
        ));
    }
    if kind == Some(AutoPartType::Btrfs) && fstype.is_some() {
        let w = &m.get("fstype").expect("given").word;
        return Err(Finding::at(
            w,
            "autopart --fstype cannot be used with --type=btrfs (btrfs is both the layout and \
             the filesystem)",
        ));
    }
    if m.flag("noswap") && m.flag("hibernation") {
        return Err(Finding::at(
            cmd.name,
            "Only one of --noswap and --hibernation can be specified.",
        ));
    }
    let encryption = encryption(&m)?;
    cmd.conflicts(&["part", "reqpart", "raid", "volgroup", "logvol"])?;
    ks.autopart = Some(AutoPart {
        kind,
        fstype,
        nohome: m.flag("nohome"),
        noboot: m.flag("noboot"),
        noswap: m.flag("noswap"),
        hibernation: m.flag("hibernation"),
        encryption,
        source: cmd.source.clone(),
    });
    Ok(())
}

const PART: &[Opt] = &[
    flag(&["--asprimary"], "asprimary"),
    value(&["--fstype", "--type"], "fstype"),
    flag(&["--grow"], "grow"),
    value(&["--maxsize"], "maxsize"),
    flag(&["--noformat"], "noformat"),
    value(&["--onbiosdisk"], "onbiosdisk"),
    value(&["--ondisk", "--ondrive"], "ondisk"),
    value(&["--onpart", "--usepart"], "onpart"),
    flag(&["--recommended"], "recommended"),
    value(&["--size"], "size"),
    value(&["--fsoptions"], "fsoptions"),
    value(&["--label"], "label"),
    value(&["--fsprofile"], "fsprofile"),
    flag(&["--resize"], "resize"),
    flag(&["--hibernation"], "hibernation"),
    value(&["--mkfsoptions"], "mkfsoptions"),
];

pub fn part(ks: &mut Kickstart, cmd: &mut Cmd<'_>) -> Result<(), Finding> {
    let m = cmd.options(&with(PART, ENCRYPTION))?;
    let Some(mnt) = m.positional.first() else {
        return Err(Finding::at(
            cmd.name,
            format!(
                "the following arguments are required: <mntpoint> ({} needs a mount point, \
                 e.g. `part / --size=10240`)",
                cmd.name.text
            ),
        ));
    };
    cmd.extra_positional(&m, 1, "")?;
    let p = Partition {
        mntpoint: mnt.text.clone(),
        size: m.int("size")?,
        maxsize: m.int("maxsize")?,
        grow: m.flag("grow"),
        recommended: m.flag("recommended"),
        fstype: m.value("fstype"),
        fsoptions: m.value("fsoptions"),
        mkfsoptions: m.value("mkfsoptions"),
        fsprofile: m.value("fsprofile"),
        label: m.value("label"),
        noformat: m.flag("noformat"),
        onpart: m
            .value("onpart")
            .map(|p| p.strip_prefix("/dev/").map(String::from).unwrap_or(p)),
        ondisk: m.value("ondisk"),
        onbiosdisk: m.value("onbiosdisk"),
        asprimary: m.flag("asprimary"),
        resize: m.flag("resize"),
        hibernation: m.flag("hibernation"),
        encryption: encryption(&m)?,
        source: cmd.source.clone(),
    };
    // Divergence from RHEL 10 (see `autopart`): `--fstype=btrfs` makes a btrfs filesystem on
    // the partition, as Fedora's handlers allow. `btrfs.N` members stay refused: they only feed
    // the `btrfs` command (multi-device volumes), which RHEL 10 removed and Kickstand lacks.
    if p.mntpoint.starts_with("btrfs.") {
        return Err(Finding::at(
            mnt,
            format!(
                "Btrfs file system is not supported as a volume member ({}): the btrfs command \
                 was removed; use `part MOUNTPOINT --fstype=btrfs` or `autopart --type=btrfs`",
                p.mntpoint
            ),
        ));
    }
    if p.resize && p.onpart.is_none() {
        return Err(Finding::at(
            cmd.name,
            "--resize can only be used in conjunction with --onpart",
        ));
    }
    if p.resize && p.size.unwrap_or(0) == 0 {
        return Err(Finding::at(
            cmd.name,
            "--resize requires --size to specify new size",
        ));
    }
    if p.fstype.as_deref() == Some("tmpfs") && (p.grow || p.maxsize.unwrap_or(0) != 0) {
        return Err(Finding::at(
            cmd.name,
            "The --fstype=tmpfs option can't be used together with --grow or --maxsize",
        ));
    }
    if p.noformat && p.mkfsoptions.is_some() {
        return Err(Finding::at(
            cmd.name,
            "--mkfsoptions with --noformat has no effect.",
        ));
    }
    if p.fsprofile.is_some() && p.mkfsoptions.is_some() {
        return Err(Finding::at(
            cmd.name,
            "--mkfsoptions and --fsprofile cannot be used together.",
        ));
    }
    cmd.conflicts(&["autopart", "mount"])?;
    if p.mntpoint != "swap" && ks.parts.iter().any(|q| q.mntpoint == p.mntpoint) {
        cmd.warn(
            mnt,
            format!(
                "A partition with the mountpoint {} has already been defined.",
                p.mntpoint
            ),
        );
    }
    ks.parts.push(p);
    Ok(())
}

pub fn reqpart(ks: &mut Kickstart, cmd: &mut Cmd<'_>) -> Result<(), Finding> {
    let m = cmd.options(&[flag(&["--add-boot"], "add-boot")])?;
    cmd.no_positional(&m)?;
    cmd.conflicts(&["autopart", "mount"])?;
    ks.reqpart = Some(ReqPart {
        add_boot: m.flag("add-boot"),
    });
    Ok(())
}

const BOOTLOADER: &[Opt] = &[
    value(&["--append"], "append"),
    value(&["--location"], "location"),
    value(&["--password"], "password"),
    value(&["--driveorder"], "driveorder"),
    value(&["--timeout"], "timeout"),
    value(&["--default"], "default"),
    flag(&["--iscrypted"], "iscrypted"),
    value(&["--md5pass"], "md5pass"),
    value(&["--boot-drive"], "boot-drive"),
    flag(&["--leavebootorder"], "leavebootorder"),
    flag(&["--extlinux"], "extlinux"),
    flag(&["--disabled"], "disabled"),
    flag(&["--nombr"], "nombr"),
    flag(&["--sdboot"], "sdboot"),
];

pub fn bootloader(ks: &mut Kickstart, cmd: &mut Cmd<'_>) -> Result<(), Finding> {
    let m = cmd.options(BOOTLOADER)?;
    cmd.no_positional(&m)?;
    let location = m
        .choice("location", &["mbr", "partition", "none", "boot"])?
        .map(|l| match l.as_str() {
            "mbr" => BootloaderLocation::Mbr,
            "partition" => BootloaderLocation::Partition,
            "none" => BootloaderLocation::None,
            _ => BootloaderLocation::Boot,
        });
    let md5 = m.value("md5pass").filter(|p| !p.is_empty());
    let boot_drive = m.value("boot-drive").filter(|d| !d.is_empty());
    if let Some(d) = &boot_drive
        && d.contains(',')
    {
        let w = &m.get("boot-drive").expect("given").word;
        return Err(Finding::at(w, "--boot-drive accepts only one argument"));
    }
    if m.flag("sdboot") && m.flag("extlinux") {
        return Err(Finding::at(
            cmd.name,
            "Only one of --sdboot and --extlinux may be specified for bootloader command.",
        ));
    }
    ks.bootloader = Some(Bootloader {
        append: m.value("append"),
        location,
        iscrypted: m.flag("iscrypted") || md5.is_some(),
        password: md5.or(m.value("password")).filter(|p| !p.is_empty()),
        driveorder: m.list("driveorder"),
        timeout: m.int("timeout")?,
        default: m.value("default"),
        boot_drive,
        leavebootorder: m.flag("leavebootorder"),
        extlinux: m.flag("extlinux"),
        sdboot: m.flag("sdboot"),
        disabled: m.flag("disabled"),
        nombr: m.flag("nombr"),
    });
    Ok(())
}
