//! The typed Kickstart AST: one type per command, with typed options.
//!
//! Field names follow pykickstart's long option names (snake_case). `Option` means "not given";
//! defaults that pykickstart applies are applied here too (documented on the field). The AST
//! carries no source positions: [`crate::Parsed::diagnostics`] does, and printing an AST with
//! [`crate::print`] and parsing it again gives an equal AST.

use serde::Serialize;

/// A whole kickstart file, `%include`s resolved.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Kickstart {
    /// `zerombr`: initialise invalid partition tables without asking.
    pub zerombr: bool,
    pub clearpart: Option<ClearPart>,
    pub ignoredisk: Option<IgnoreDisk>,
    pub autopart: Option<AutoPart>,
    /// `part`/`partition` lines in file order.
    pub parts: Vec<Partition>,
    /// `raid` lines in file order.
    pub raids: Vec<Raid>,
    /// `volgroup` lines in file order.
    pub volgroups: Vec<VolGroup>,
    /// `logvol` lines in file order.
    pub logvols: Vec<LogVol>,
    pub reqpart: Option<ReqPart>,
    pub bootloader: Option<Bootloader>,
    pub users: Vec<User>,
    pub sshkeys: Vec<SshKey>,
    pub rootpw: Option<RootPw>,
    pub lang: Option<Lang>,
    pub keyboard: Option<Keyboard>,
    pub timezone: Option<Timezone>,
    /// `network` lines in file order.
    pub network: Vec<Network>,
    pub ostreecontainer: Option<OstreeContainer>,
    pub bootc: Option<Bootc>,
    /// `reboot`/`poweroff`/`shutdown`/`halt` (one shared setting, last wins). `None` = halt.
    pub action: Option<FinishAction>,
    /// `text`/`cmdline`/`graphical`.
    pub display_mode: Option<DisplayModeCmd>,
    /// `%pre`, `%pre-install`, `%post`, `%onerror` in file order.
    pub scripts: Vec<Script>,
    /// The `%packages` section (ignored when an image is installed).
    pub packages: Option<Packages>,
    /// Known Kickstart commands Kickstand does not support (each was warned about), verbatim.
    pub unsupported: Vec<UnsupportedCommand>,
}

/// `clearpart`: which partitions to remove before partitioning.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ClearPart {
    /// `--all`, `--linux`, `--none` or `--list` (last wins); `None` when none was given.
    pub kind: Option<ClearKind>,
    /// `--drives=a,b`.
    pub drives: Vec<String>,
    /// `--list=sda1,sdb2` (sets `kind` to `List`).
    pub list: Vec<String>,
    pub initlabel: bool,
    /// `--disklabel=gpt|msdos|...` (free text in pykickstart).
    pub disklabel: Option<String>,
    pub cdl: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ClearKind {
    All,
    Linux,
    None,
    List,
}

/// `ignoredisk --drives=...` or `ignoredisk --only-use=...` (exactly one of them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IgnoreDisk {
    Drives(Vec<String>),
    OnlyUse(Vec<String>),
}

/// Where a command was given: its file, line and column, for messages written after parsing
/// (the installer's planner names the place it cannot carry out).
///
/// Not part of what a kickstart means: any two `Source`s compare equal (so an AST printed and
/// parsed again is equal to the original), and it is neither printed nor serialized.
#[derive(Debug, Clone, Default)]
pub struct Source {
    /// The top-level file's name or the `%include`d file's name.
    pub file: String,
    /// 1-based; 0 when the value was built by code rather than parsed.
    pub line: u32,
    /// 1-based character column of the command's name; 0 when not parsed.
    pub column: u32,
}

impl PartialEq for Source {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Source {}

/// A passphrase (`--passphrase=` of `autopart`, `part`, `logvol`, `raid`).
///
/// Redacted everywhere Kickstand writes an AST: `Debug` and `Display` print `<redacted>`, JSON
/// (`kickstand validate --format json`) holds `"<redacted>"`, and [`crate::print`] leaves the
/// `--passphrase` option out (so the kickstart the installer saves into the target has none).
/// Only [`Secret::expose`] gives the text, for the one place that needs it (formatting a LUKS
/// volume).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// What `Debug`, `Display` and serde write instead of the text.
    pub const REDACTED: &'static str = "<redacted>";

    pub fn new(text: impl Into<String>) -> Self {
        Secret(text.into())
    }

    /// The passphrase itself. Never log or print it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(Self::REDACTED)
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(Self::REDACTED)
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(Self::REDACTED)
    }
}

/// Encryption options shared by `autopart`, `part`, `logvol` and `raid`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Encryption {
    pub encrypted: bool,
    /// Redacted in every output (see [`Secret`]).
    pub passphrase: Option<Secret>,
    pub escrowcert: Option<String>,
    pub backuppassphrase: bool,
    pub cipher: Option<String>,
    pub luks_version: Option<String>,
    pub pbkdf: Option<String>,
    pub pbkdf_memory: Option<u64>,
    pub pbkdf_time: Option<u64>,
    pub pbkdf_iterations: Option<u64>,
}

/// `autopart`: automatic partitioning.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AutoPart {
    /// `--type` (`--nolvm` = `plain`). `None`: Kickstand's default, plain partitions.
    #[serde(rename = "type")]
    pub kind: Option<AutoPartType>,
    pub fstype: Option<String>,
    pub nohome: bool,
    pub noboot: bool,
    pub noswap: bool,
    pub hibernation: bool,
    #[serde(flatten)]
    pub encryption: Encryption,
    #[serde(skip)]
    pub source: Source,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AutoPartType {
    Lvm,
    Plain,
    Thinp,
    Btrfs,
}

/// Partition size in MiB, as pykickstart takes it (`--size`, `--maxsize`).
pub type SizeMib = u64;

/// `part`/`partition MNTPOINT`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Partition {
    /// `/`, `/boot`, `swap`, `biosboot`, `raid.01`, `pv.01`, `btrfs.01`, `None` (literally).
    pub mntpoint: String,
    pub size: Option<SizeMib>,
    pub maxsize: Option<SizeMib>,
    pub grow: bool,
    pub recommended: bool,
    pub fstype: Option<String>,
    pub fsoptions: Option<String>,
    pub mkfsoptions: Option<String>,
    pub fsprofile: Option<String>,
    pub label: Option<String>,
    /// `--noformat` (pykickstart: `format=False`).
    pub noformat: bool,
    /// `--onpart`/`--usepart` (a leading `/dev/` is dropped, as pykickstart does).
    pub onpart: Option<String>,
    /// `--ondisk`/`--ondrive`.
    pub ondisk: Option<String>,
    pub onbiosdisk: Option<String>,
    pub asprimary: bool,
    pub resize: bool,
    pub hibernation: bool,
    #[serde(flatten)]
    pub encryption: Encryption,
    #[serde(skip)]
    pub source: Source,
}

/// RAID level of a `raid` command (`--level=1`, `RAID1`, `raid1`: pykickstart's spellings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum RaidLevel {
    #[serde(rename = "RAID0")]
    Raid0,
    #[serde(rename = "RAID1")]
    Raid1,
    #[serde(rename = "RAID4")]
    Raid4,
    #[serde(rename = "RAID5")]
    Raid5,
    #[serde(rename = "RAID6")]
    Raid6,
    #[serde(rename = "RAID10")]
    Raid10,
}

impl RaidLevel {
    /// pykickstart's level names: `0`/`RAID0` … `10`/`RAID10`, case-insensitive.
    pub fn parse(s: &str) -> Option<Self> {
        let u = s.to_ascii_uppercase();
        Some(match u.strip_prefix("RAID").unwrap_or(&u) {
            "0" => RaidLevel::Raid0,
            "1" => RaidLevel::Raid1,
            "4" => RaidLevel::Raid4,
            "5" => RaidLevel::Raid5,
            "6" => RaidLevel::Raid6,
            "10" => RaidLevel::Raid10,
            _ => return None,
        })
    }

    /// `RAID1`, as pykickstart writes it.
    pub fn name(self) -> &'static str {
        match self {
            RaidLevel::Raid0 => "RAID0",
            RaidLevel::Raid1 => "RAID1",
            RaidLevel::Raid4 => "RAID4",
            RaidLevel::Raid5 => "RAID5",
            RaidLevel::Raid6 => "RAID6",
            RaidLevel::Raid10 => "RAID10",
        }
    }

    /// The fewest members an array of this level can have (blivet's rule, which Anaconda
    /// applies when it creates the array).
    pub fn min_members(self) -> usize {
        match self {
            RaidLevel::Raid0 | RaidLevel::Raid1 => 2,
            RaidLevel::Raid4 | RaidLevel::Raid5 => 3,
            RaidLevel::Raid6 | RaidLevel::Raid10 => 4,
        }
    }
}

/// `raid MNTPOINT --device=NAME --level=L raid.N...`: a software RAID (md) array.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Raid {
    /// A mount point, `swap`, `pv.N` (the array is an LVM physical volume) or `none`.
    pub mntpoint: String,
    /// `--device=`: the array's name (`md0`, `root`); kept as written (RHEL 10 keeps `md`).
    pub device: String,
    /// `--level=`; `None` only for an existing array (`--useexisting`/`--noformat`).
    pub level: Option<RaidLevel>,
    /// The members: `raid.N` names of `part` commands, in order.
    pub members: Vec<String>,
    /// `--spares=` (pykickstart default 0).
    pub spares: u64,
    pub fstype: Option<String>,
    pub fsoptions: Option<String>,
    pub mkfsoptions: Option<String>,
    pub fsprofile: Option<String>,
    pub label: Option<String>,
    /// `--chunksize=` in KiB.
    pub chunksize: Option<u64>,
    pub noformat: bool,
    pub useexisting: bool,
    #[serde(flatten)]
    pub encryption: Encryption,
    #[serde(skip)]
    pub source: Source,
}

/// `volgroup NAME pv.N...`: an LVM volume group.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VolGroup {
    pub name: String,
    /// The physical volumes: `pv.N` names of `part` or `raid` commands, in order (empty for an
    /// existing group).
    pub physvols: Vec<String>,
    /// `--pesize=` in KiB (`None`: LVM's default, 4 MiB).
    pub pesize: Option<u64>,
    /// `--reserved-space=` in MiB.
    pub reserved_space: Option<u64>,
    /// `--reserved-percent=` (1–99).
    pub reserved_percent: Option<u64>,
    pub noformat: bool,
    pub useexisting: bool,
    #[serde(skip)]
    pub source: Source,
}

/// `logvol MNTPOINT --vgname=VG --name=NAME ...`: an LVM logical volume.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LogVol {
    /// A mount point, `swap` or `none` (a thin pool's).
    pub mntpoint: String,
    pub vgname: String,
    pub name: String,
    pub size: Option<SizeMib>,
    /// `--percent=`: of the volume group's free space (0–100).
    pub percent: Option<u64>,
    pub grow: bool,
    pub maxsize: Option<SizeMib>,
    pub recommended: bool,
    pub hibernation: bool,
    pub fstype: Option<String>,
    pub fsoptions: Option<String>,
    pub mkfsoptions: Option<String>,
    pub fsprofile: Option<String>,
    pub label: Option<String>,
    pub noformat: bool,
    pub useexisting: bool,
    pub resize: bool,
    /// `--thinpool`: this volume is a thin pool.
    pub thinpool: bool,
    /// `--thin`: a thin volume in pool `poolname`.
    pub thin: bool,
    pub poolname: Option<String>,
    /// `--chunksize=` in KiB (thin pools).
    pub chunksize: Option<u64>,
    /// `--metadatasize=` in MiB (thin pools).
    pub metadatasize: Option<u64>,
    pub profile: Option<String>,
    /// `--cachesize=` in MiB.
    pub cachesize: Option<u64>,
    pub cachemode: Option<String>,
    pub cachepvs: Vec<String>,
    #[serde(flatten)]
    pub encryption: Encryption,
    #[serde(skip)]
    pub source: Source,
}

/// `reqpart [--add-boot]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReqPart {
    pub add_boot: bool,
}

/// `bootloader`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Bootloader {
    /// `--append`: extra kernel arguments, verbatim.
    pub append: Option<String>,
    /// `--location` (pykickstart default `mbr`).
    pub location: Option<BootloaderLocation>,
    pub password: Option<String>,
    pub iscrypted: bool,
    pub driveorder: Vec<String>,
    pub timeout: Option<u64>,
    pub default: Option<String>,
    pub boot_drive: Option<String>,
    pub leavebootorder: bool,
    pub extlinux: bool,
    pub sdboot: bool,
    pub disabled: bool,
    pub nombr: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BootloaderLocation {
    Mbr,
    Partition,
    None,
    Boot,
}

/// `user --name=NAME ...`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct User {
    pub name: String,
    pub groups: Vec<String>,
    pub homedir: Option<String>,
    pub password: Option<String>,
    /// `--iscrypted` (true) or `--plaintext` (false); pykickstart's default is false.
    pub iscrypted: bool,
    pub lock: bool,
    pub shell: Option<String>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub gecos: Option<String>,
}

/// `sshkey --username=NAME "KEY"`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SshKey {
    pub username: String,
    pub key: String,
}

/// `rootpw [PASSWORD] [--iscrypted|--plaintext] [--lock] [--allow-ssh]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RootPw {
    pub password: Option<String>,
    pub iscrypted: bool,
    pub lock: bool,
    pub allow_ssh: bool,
}

/// `lang LANG [--addsupport=a,b]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Lang {
    pub lang: String,
    pub addsupport: Vec<String>,
}

/// `keyboard [LAYOUT] [--vckeymap=K] [--xlayouts=a,b] [--switch=a,b]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Keyboard {
    /// The old positional layout (pykickstart keeps it as `keyboard`).
    pub keyboard: Option<String>,
    pub vckeymap: Option<String>,
    pub xlayouts: Vec<String>,
    pub switch: Vec<String>,
}

/// `timezone [ZONE] [--utc]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Timezone {
    pub timezone: Option<String>,
    /// `--utc` (also the deprecated `--isUtc`).
    pub utc: bool,
    /// Deprecated `--nontp` (replacement: `timesource --ntp-disable`).
    pub nontp: bool,
    /// Deprecated `--ntpservers=a,b` (replacement: `timesource --ntp-server`).
    pub ntpservers: Vec<String>,
}

/// `network`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Network {
    /// `--bootproto` (pykickstart default `dhcp`).
    pub bootproto: Option<BootProto>,
    pub device: Option<String>,
    pub ip: Option<String>,
    pub netmask: Option<String>,
    pub gateway: Option<String>,
    /// `--nameserver=a,b` (comma separated in the file).
    pub nameserver: Vec<String>,
    pub hostname: Option<String>,
    pub ipv6: Option<String>,
    pub ipv6gateway: Option<String>,
    pub mtu: Option<u32>,
    /// `--onboot=yes|no` (ksboolean).
    pub onboot: Option<bool>,
    /// `--activate` (true) / `--no-activate` (false).
    pub activate: Option<bool>,
    pub nodns: bool,
    pub nodefroute: bool,
    pub noipv4: bool,
    pub noipv6: bool,
    pub notksdevice: bool,
    pub dhcpclass: Option<String>,
    pub ethtool: Option<String>,
    pub essid: Option<String>,
    pub wepkey: Option<String>,
    pub wpakey: Option<String>,
    pub vlanid: Option<u32>,
    pub interfacename: Option<String>,
    pub bondslaves: Vec<String>,
    pub bondopts: Option<String>,
    pub bridgeslaves: Vec<String>,
    pub bridgeopts: Option<String>,
    /// `--bindto=mac`.
    pub bindto_mac: bool,
    pub ipv4_dns_search: Option<String>,
    pub ipv6_dns_search: Option<String>,
    pub ipv4_ignore_auto_dns: bool,
    pub ipv6_ignore_auto_dns: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BootProto {
    Dhcp,
    Bootp,
    Static,
    Query,
    Ibft,
}

/// `ostreecontainer --url=REF ...`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OstreeContainer {
    pub url: String,
    /// `--transport` (`registry` when absent, as Anaconda does).
    pub transport: Option<String>,
    pub stateroot: Option<String>,
    pub remote: Option<String>,
    pub no_signature_verification: bool,
}

/// `bootc --source-imgref=TRANSPORT:REF ...`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Bootc {
    pub source_imgref: String,
    pub target_imgref: Option<String>,
    /// `--stateroot` (pykickstart default `default`).
    pub stateroot: Option<String>,
}

/// What happens when the installation finished.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct FinishAction {
    pub kind: FinishKind,
    pub eject: bool,
    pub kexec: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FinishKind {
    Reboot,
    /// `poweroff` and `shutdown`.
    Poweroff,
    #[default]
    Halt,
}

/// `text`, `cmdline` or `graphical` and `--non-interactive`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DisplayModeCmd {
    pub mode: DisplayMode,
    pub non_interactive: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DisplayMode {
    Text,
    Cmdline,
    Graphical,
}

/// `%pre`, `%pre-install`, `%post` or `%onerror` with its body verbatim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Script {
    pub kind: ScriptKind,
    /// `--interpreter` (`None` = `/bin/sh`).
    pub interpreter: Option<String>,
    pub log: Option<String>,
    pub erroronfail: bool,
    /// `--nochroot` (only valid for `%post`).
    pub nochroot: bool,
    /// The lines between the header and `%end`, each ending with `\n`.
    pub body: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScriptKind {
    Pre,
    PreInstall,
    Post,
    Onerror,
}

/// `%packages` and its options; the body is kept verbatim (Kickstand installs images, so it is
/// only carried along).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Packages {
    pub excludedocs: bool,
    pub ignoremissing: bool,
    /// `--default`.
    pub default: bool,
    pub multilib: bool,
    pub nocore: bool,
    pub exclude_weakdeps: bool,
    pub timeout: Option<String>,
    pub retries: Option<String>,
    pub inst_langs: Option<String>,
    /// The lines between the header and `%end`, each ending with `\n`.
    pub body: String,
}

/// A known Kickstart command Kickstand does not implement, kept verbatim (one line's words).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnsupportedCommand {
    pub name: String,
    pub args: Vec<String>,
}

#[cfg(test)]
mod tests {
    #[test]
    fn secrets_are_redacted_in_debug_display_and_json() {
        let parsed = crate::parse(
            "ks.cfg",
            "part pv.01 --size=100\nvolgroup vg pv.01\n\
             logvol / --vgname=vg --name=root --size=50 --encrypted --passphrase=hunter22\n",
            &crate::NoIncludes,
        );
        assert!(!parsed.has_errors(), "{:?}", parsed.diagnostics);
        let ks = &parsed.kickstart;
        let secret = ks.logvols[0].encryption.passphrase.as_ref().expect("kept");
        assert_eq!(secret.expose(), "hunter22");
        assert_eq!(format!("{secret} {secret:?}"), "<redacted> <redacted>");
        for text in [
            format!("{ks:?}"),
            format!("{parsed:?}"),
            serde_json::to_string(ks).unwrap(),
            crate::print(ks),
        ] {
            assert!(!text.contains("hunter22"), "{text}");
        }
    }
}
