//! The AST back to Kickstart text: `parse(print(ks)) == ks` for every kickstart the parser
//! produces without errors, except passphrases.
//!
//! Passphrases ([`Secret`]) are never printed: a command that had `--passphrase` is printed
//! without it, after a comment saying so (the kickstart the installer saves into the target
//! comes from here). Reading the printed text back gives the same AST with `passphrase: None`.

use crate::ast::*;
use crate::sections::script_name;
use std::fmt::Write;

/// Kickstart text for `ks`: commands in a fixed order, then `%packages`, then the scripts in
/// their order. Values are quoted where the shell-like splitting needs it.
pub fn print(ks: &Kickstart) -> String {
    let mut out = String::new();
    let mut emit = |l: Line| {
        out.push_str(&l.0);
        out.push('\n');
    };
    if let Some(l) = &ks.lang {
        emit(
            Line::new("lang")
                .list("--addsupport", &l.addsupport)
                .pos(&l.lang),
        );
    }
    if let Some(k) = &ks.keyboard {
        emit(
            Line::new("keyboard")
                .opt("--vckeymap", &k.vckeymap)
                .list("--xlayouts", &k.xlayouts)
                .list("--switch", &k.switch)
                .pos_opt(&k.keyboard),
        );
    }
    if let Some(t) = &ks.timezone {
        emit(
            Line::new("timezone")
                .flag("--utc", t.utc)
                .flag("--nontp", t.nontp)
                .list("--ntpservers", &t.ntpservers)
                .pos_opt(&t.timezone),
        );
    }
    if let Some(d) = &ks.display_mode {
        let name = match d.mode {
            DisplayMode::Text => "text",
            DisplayMode::Cmdline => "cmdline",
            DisplayMode::Graphical => "graphical",
        };
        emit(Line::new(name).flag("--non-interactive", d.non_interactive));
    }
    for n in &ks.network {
        emit(network(n));
    }
    if let Some(r) = &ks.rootpw {
        emit(
            Line::new("rootpw")
                .flag("--iscrypted", r.iscrypted)
                .flag("--lock", r.lock)
                .flag("--allow-ssh", r.allow_ssh)
                .pos_opt(&r.password),
        );
    }
    for u in &ks.users {
        emit(
            Line::new("user")
                .opt("--name", &Some(u.name.clone()))
                .list("--groups", &u.groups)
                .opt("--homedir", &u.homedir)
                .opt("--password", &u.password)
                .flag("--iscrypted", u.iscrypted)
                .flag("--lock", u.lock)
                .opt("--shell", &u.shell)
                .num("--uid", u.uid.map(u64::from))
                .num("--gid", u.gid.map(u64::from))
                .opt("--gecos", &u.gecos),
        );
    }
    for k in &ks.sshkeys {
        emit(
            Line::new("sshkey")
                .opt("--username", &Some(k.username.clone()))
                .pos(&k.key),
        );
    }
    if ks.zerombr {
        emit(Line::new("zerombr"));
    }
    if let Some(i) = &ks.ignoredisk {
        emit(match i {
            IgnoreDisk::Drives(d) => Line::new("ignoredisk").list("--drives", d),
            IgnoreDisk::OnlyUse(d) => Line::new("ignoredisk").list("--only-use", d),
        });
    }
    if let Some(c) = &ks.clearpart {
        let kind = match c.kind {
            Some(ClearKind::All) => Some("--all"),
            Some(ClearKind::Linux) => Some("--linux"),
            Some(ClearKind::None) => Some("--none"),
            Some(ClearKind::List) | None => None,
        };
        emit(
            Line::new("clearpart")
                .flag(kind.unwrap_or_default(), kind.is_some())
                .list("--drives", &c.drives)
                .list("--list", &c.list)
                .flag("--initlabel", c.initlabel)
                .opt("--disklabel", &c.disklabel)
                .flag("--cdl", c.cdl),
        );
    }
    if let Some(b) = &ks.bootloader {
        emit(bootloader(b));
    }
    if let Some(r) = &ks.reqpart {
        emit(Line::new("reqpart").flag("--add-boot", r.add_boot));
    }
    if let Some(a) = &ks.autopart {
        if let Some(note) = secret_note(&a.encryption) {
            emit(note);
        }
        let kind = a.kind.map(|k| {
            match k {
                AutoPartType::Lvm => "lvm",
                AutoPartType::Plain => "plain",
                AutoPartType::Thinp => "thinp",
                AutoPartType::Btrfs => "btrfs",
            }
            .to_string()
        });
        emit(
            encryption(Line::new("autopart"), &a.encryption)
                .opt("--type", &kind)
                .opt("--fstype", &a.fstype)
                .flag("--nohome", a.nohome)
                .flag("--noboot", a.noboot)
                .flag("--noswap", a.noswap)
                .flag("--hibernation", a.hibernation),
        );
    }
    for p in &ks.parts {
        if let Some(note) = secret_note(&p.encryption) {
            emit(note);
        }
        emit(partition(p));
    }
    for r in &ks.raids {
        if let Some(note) = secret_note(&r.encryption) {
            emit(note);
        }
        emit(raid(r));
    }
    for v in &ks.volgroups {
        emit(volgroup(v));
    }
    for l in &ks.logvols {
        if let Some(note) = secret_note(&l.encryption) {
            emit(note);
        }
        emit(logvol(l));
    }
    if let Some(o) = &ks.ostreecontainer {
        emit(
            Line::new("ostreecontainer")
                .opt("--url", &Some(o.url.clone()))
                .opt("--transport", &o.transport)
                .opt("--stateroot", &o.stateroot)
                .opt("--remote", &o.remote)
                .flag("--no-signature-verification", o.no_signature_verification),
        );
    }
    if let Some(b) = &ks.bootc {
        emit(
            Line::new("bootc")
                .opt("--source-imgref", &Some(b.source_imgref.clone()))
                .opt("--target-imgref", &b.target_imgref)
                .opt("--stateroot", &b.stateroot),
        );
    }
    for u in &ks.unsupported {
        let mut l = Line::new(&quote(&u.name));
        for a in &u.args {
            l.0.push(' ');
            l.0.push_str(&quote(a));
        }
        emit(l);
    }
    if let Some(a) = &ks.action {
        let name = match a.kind {
            FinishKind::Reboot => "reboot",
            FinishKind::Poweroff => "poweroff",
            FinishKind::Halt => "halt",
        };
        emit(
            Line::new(name)
                .flag("--eject", a.eject)
                .flag("--kexec", a.kexec),
        );
    }
    if let Some(p) = &ks.packages {
        out.push('\n');
        let header = Line::new("%packages")
            .flag("--excludedocs", p.excludedocs)
            .flag("--ignoremissing", p.ignoremissing)
            .flag("--default", p.default)
            .flag("--multilib", p.multilib)
            .flag("--nocore", p.nocore)
            .flag("--exclude-weakdeps", p.exclude_weakdeps)
            .opt("--timeout", &p.timeout)
            .opt("--retries", &p.retries)
            .opt("--inst-langs", &p.inst_langs);
        let _ = write!(out, "{}\n{}%end\n", header.0, p.body);
    }
    for s in &ks.scripts {
        let header = Line::new(script_name(s.kind))
            .opt("--interpreter", &s.interpreter)
            .opt("--log", &s.log)
            .flag("--erroronfail", s.erroronfail)
            .flag("--nochroot", s.nochroot);
        let _ = write!(out, "\n{}\n{}%end\n", header.0, s.body);
    }
    out
}

fn network(n: &Network) -> Line {
    let bootproto = n.bootproto.map(|b| {
        match b {
            BootProto::Dhcp => "dhcp",
            BootProto::Bootp => "bootp",
            BootProto::Static => "static",
            BootProto::Query => "query",
            BootProto::Ibft => "ibft",
        }
        .to_string()
    });
    let yes_no = |b: Option<bool>| b.map(|b| if b { "yes" } else { "no" }.to_string());
    Line::new("network")
        .opt("--bootproto", &bootproto)
        .opt("--device", &n.device)
        .opt("--ip", &n.ip)
        .opt("--netmask", &n.netmask)
        .opt("--gateway", &n.gateway)
        .list("--nameserver", &n.nameserver)
        .opt("--hostname", &n.hostname)
        .opt("--ipv6", &n.ipv6)
        .opt("--ipv6gateway", &n.ipv6gateway)
        .num("--mtu", n.mtu.map(u64::from))
        .opt("--onboot", &yes_no(n.onboot))
        .flag("--activate", n.activate == Some(true))
        .flag("--no-activate", n.activate == Some(false))
        .flag("--nodns", n.nodns)
        .flag("--nodefroute", n.nodefroute)
        .flag("--noipv4", n.noipv4)
        .flag("--noipv6", n.noipv6)
        .flag("--notksdevice", n.notksdevice)
        .opt("--dhcpclass", &n.dhcpclass)
        .opt("--ethtool", &n.ethtool)
        .opt("--essid", &n.essid)
        .opt("--wepkey", &n.wepkey)
        .opt("--wpakey", &n.wpakey)
        .num("--vlanid", n.vlanid.map(u64::from))
        .opt("--interfacename", &n.interfacename)
        .list("--bondslaves", &n.bondslaves)
        .opt("--bondopts", &n.bondopts)
        .list("--bridgeslaves", &n.bridgeslaves)
        .opt("--bridgeopts", &n.bridgeopts)
        .flag("--bindto=mac", n.bindto_mac)
        .opt("--ipv4-dns-search", &n.ipv4_dns_search)
        .opt("--ipv6-dns-search", &n.ipv6_dns_search)
        .flag("--ipv4-ignore-auto-dns", n.ipv4_ignore_auto_dns)
        .flag("--ipv6-ignore-auto-dns", n.ipv6_ignore_auto_dns)
}

fn bootloader(b: &Bootloader) -> Line {
    let location = b.location.map(|l| {
        match l {
            BootloaderLocation::Mbr => "mbr",
            BootloaderLocation::Partition => "partition",
            BootloaderLocation::None => "none",
            BootloaderLocation::Boot => "boot",
        }
        .to_string()
    });
    Line::new("bootloader")
        .opt("--append", &b.append)
        .opt("--location", &location)
        .opt("--password", &b.password)
        .flag("--iscrypted", b.iscrypted)
        .list("--driveorder", &b.driveorder)
        .num("--timeout", b.timeout)
        .opt("--default", &b.default)
        .opt("--boot-drive", &b.boot_drive)
        .flag("--leavebootorder", b.leavebootorder)
        .flag("--extlinux", b.extlinux)
        .flag("--sdboot", b.sdboot)
        .flag("--disabled", b.disabled)
        .flag("--nombr", b.nombr)
}

fn partition(p: &Partition) -> Line {
    // The mount point goes first, as people write it, unless it must follow `--`.
    let dashed = p.mntpoint.starts_with('-');
    let mut l = Line::new("part");
    if !dashed {
        l = l.pos(&p.mntpoint);
    }
    let l = l
        .num("--size", p.size)
        .num("--maxsize", p.maxsize)
        .flag("--grow", p.grow)
        .flag("--recommended", p.recommended)
        .opt("--fstype", &p.fstype)
        .opt("--fsoptions", &p.fsoptions)
        .opt("--mkfsoptions", &p.mkfsoptions)
        .opt("--fsprofile", &p.fsprofile)
        .opt("--label", &p.label)
        .flag("--noformat", p.noformat)
        .opt("--onpart", &p.onpart)
        .opt("--ondisk", &p.ondisk)
        .opt("--onbiosdisk", &p.onbiosdisk)
        .flag("--asprimary", p.asprimary)
        .flag("--resize", p.resize)
        .flag("--hibernation", p.hibernation);
    let l = encryption(l, &p.encryption);
    if dashed { l.pos(&p.mntpoint) } else { l }
}

/// The comment printed before a command whose passphrase is left out.
fn secret_note(e: &Encryption) -> Option<Line> {
    e.passphrase
        .as_ref()
        .map(|_| Line::new("# --passphrase of the next command not shown (never printed)"))
}

/// A mount point first, as people write it, unless it must follow `--` at the end.
fn with_mntpoint(name: &str, mntpoint: &str, rest: impl FnOnce(Line) -> Line) -> Line {
    let dashed = mntpoint.starts_with('-');
    let l = Line::new(name);
    if dashed {
        rest(l).pos(mntpoint)
    } else {
        rest(l.pos(mntpoint))
    }
}

fn raid(r: &Raid) -> Line {
    let level = r.level.map(|l| l.name().to_string());
    let spares = (r.spares != 0).then_some(r.spares);
    let l = with_mntpoint("raid", &r.mntpoint, |l| {
        let l = l
            .opt("--device", &Some(r.device.clone()))
            .opt("--level", &level)
            .num("--spares", spares)
            .opt("--fstype", &r.fstype)
            .opt("--fsoptions", &r.fsoptions)
            .opt("--mkfsoptions", &r.mkfsoptions)
            .opt("--fsprofile", &r.fsprofile)
            .opt("--label", &r.label)
            .num("--chunksize", r.chunksize)
            .flag("--noformat", r.noformat)
            .flag("--useexisting", r.useexisting);
        encryption(l, &r.encryption)
    });
    // Members after everything: a mount point written after `--` takes them along.
    let mut l = l;
    for m in &r.members {
        l = l.pos(m);
    }
    l
}

fn volgroup(v: &VolGroup) -> Line {
    let mut l = Line::new("volgroup")
        .num("--pesize", v.pesize)
        .num("--reserved-space", v.reserved_space)
        .num("--reserved-percent", v.reserved_percent)
        .flag("--noformat", v.noformat)
        .flag("--useexisting", v.useexisting)
        .pos(&v.name);
    for p in &v.physvols {
        l = l.pos(p);
    }
    l
}

fn logvol(v: &LogVol) -> Line {
    with_mntpoint("logvol", &v.mntpoint, |l| {
        let l = l
            .opt("--vgname", &Some(v.vgname.clone()))
            .opt("--name", &Some(v.name.clone()))
            .num("--size", v.size)
            .num("--percent", v.percent)
            .flag("--grow", v.grow)
            .num("--maxsize", v.maxsize)
            .flag("--recommended", v.recommended)
            .flag("--hibernation", v.hibernation)
            .opt("--fstype", &v.fstype)
            .opt("--fsoptions", &v.fsoptions)
            .opt("--mkfsoptions", &v.mkfsoptions)
            .opt("--fsprofile", &v.fsprofile)
            .opt("--label", &v.label)
            .flag("--noformat", v.noformat)
            .flag("--useexisting", v.useexisting)
            .flag("--resize", v.resize)
            .flag("--thinpool", v.thinpool)
            .flag("--thin", v.thin)
            .opt("--poolname", &v.poolname)
            .num("--chunksize", v.chunksize)
            .num("--metadatasize", v.metadatasize)
            .opt("--profile", &v.profile)
            .num("--cachesize", v.cachesize)
            .opt("--cachemode", &v.cachemode)
            .list("--cachepvs", &v.cachepvs);
        encryption(l, &v.encryption)
    })
}

/// The encryption options, without the passphrase (see the module doc).
fn encryption(l: Line, e: &Encryption) -> Line {
    l.flag("--encrypted", e.encrypted)
        .opt("--escrowcert", &e.escrowcert)
        .flag("--backuppassphrase", e.backuppassphrase)
        .opt("--cipher", &e.cipher)
        .opt("--luks-version", &e.luks_version)
        .opt("--pbkdf", &e.pbkdf)
        .num("--pbkdf-memory", e.pbkdf_memory)
        .num("--pbkdf-time", e.pbkdf_time)
        .num("--pbkdf-iterations", e.pbkdf_iterations)
}

/// One command line being built.
struct Line(String);

impl Line {
    fn new(name: &str) -> Self {
        Line(name.to_string())
    }

    fn flag(mut self, name: &str, set: bool) -> Self {
        if set {
            self.0.push(' ');
            self.0.push_str(name);
        }
        self
    }

    fn opt(mut self, name: &str, value: &Option<String>) -> Self {
        if let Some(v) = value {
            let _ = write!(self.0, " {name}={}", quote(v));
        }
        self
    }

    fn num(self, name: &str, value: Option<u64>) -> Self {
        self.opt(name, &value.map(|n| n.to_string()))
    }

    fn list(self, name: &str, items: &[String]) -> Self {
        let joined = (!items.is_empty()).then(|| items.join(","));
        self.opt(name, &joined)
    }

    /// A positional argument; one that looks like an option goes after `--` (so it must be
    /// the last thing on the line).
    fn pos(mut self, value: &str) -> Self {
        if value.starts_with('-') {
            self.0.push_str(" --");
        }
        self.0.push(' ');
        self.0.push_str(&quote(value));
        self
    }

    fn pos_opt(self, value: &Option<String>) -> Self {
        match value {
            Some(v) => self.pos(v),
            None => self,
        }
    }
}

/// `word` as it must be written to split back into exactly `word`.
pub fn quote(word: &str) -> String {
    let safe = |c: char| c.is_alphanumeric() || "_@%+=:,./-~^[]{}!?*".contains(c);
    if !word.is_empty() && word.chars().all(safe) && !word.starts_with('%') {
        return word.to_string();
    }
    format!("'{}'", word.replace('\'', "'\\''"))
}
