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

/// Encryption options shared by `autopart` and `part`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Encryption {
    pub encrypted: bool,
    pub passphrase: Option<String>,
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
