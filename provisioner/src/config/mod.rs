//! `kickstand.toml`: read the file format ([`wire`]), then check every value and produce the
//! validated [`Config`] the server runs on. Nothing is served from a config that failed here;
//! every error names the file, line, column and key.

mod validate;
pub mod wire;

use crate::mac::MacAddr;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use validate::parse;

/// A configuration that passed validation. Paths are absolute (resolved against the config
/// file's directory) and the files they name existed when it was loaded.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file this was read from.
    pub source: PathBuf,
    pub server: Server,
    pub dhcp: Dhcp,
    pub images: BTreeMap<String, Image>,
    pub profiles: BTreeMap<String, Profile>,
    pub machines: BTreeMap<MacAddr, Machine>,
    /// The profile an unknown machine gets; `None` means it gets nothing.
    pub unknown_profile: Option<String>,
    pub ipxe: Ipxe,
    /// Registry credentials by registry host (`host[:port]`), handed to machines as auth.json.
    pub credentials: BTreeMap<String, Credential>,
    pub api: Api,
}

#[derive(Debug, Clone)]
pub struct Server {
    pub listen: IpAddr,
    pub http_port: u16,
    pub tftp_port: u16,
    pub public_url: PublicUrl,
    pub state_dir: PathBuf,
}

/// The URL machines reach the server at: scheme and authority only (`http://192.0.2.1:8080`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl {
    pub https: bool,
    /// `host[:port]` exactly as written (an IPv6 literal keeps its brackets).
    pub authority: String,
}

impl PublicUrl {
    /// The URL without a trailing slash, ready to append `/path`.
    pub fn base(&self) -> String {
        format!(
            "{}://{}",
            if self.https { "https" } else { "http" },
            self.authority
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DhcpMode {
    Proxy,
    Full,
    Off,
}

/// DHCP settings, validated now and served by the DHCP issue.
#[derive(Debug, Clone)]
pub struct Dhcp {
    pub mode: DhcpMode,
    pub interface: Option<String>,
    pub range: Option<(Ipv4Addr, Ipv4Addr)>,
    pub router: Option<Ipv4Addr>,
    pub dns: Vec<Ipv4Addr>,
    pub lease_time: Duration,
}

/// An OCI image layout served read-only at `/v2/<name>/`.
#[derive(Debug, Clone)]
pub struct Image {
    pub name: String,
    pub path: PathBuf,
}

/// What a machine boots: the installer's kernel and initramfs, its kickstart template and
/// extra kernel arguments.
#[derive(Debug, Clone)]
pub struct Profile {
    pub name: String,
    pub kernel: BootFile,
    pub initramfs: BootFile,
    /// Path of the kickstart template and its source, compiled once at load.
    pub kickstart: PathBuf,
    pub kickstart_source: String,
    pub cmdline: String,
    pub vars: BTreeMap<String, toml::Value>,
}

impl Profile {
    /// The profile's file served as `/boot/<profile>/<name>`, if any has that name.
    pub fn file(&self, name: &str) -> Option<&BootFile> {
        [&self.kernel, &self.initramfs]
            .into_iter()
            .find(|f| f.name == name)
    }
}

/// A real file served over TFTP and HTTP under a fixed name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootFile {
    /// The last path component, the name clients ask for.
    pub name: String,
    pub path: PathBuf,
}

impl BootFile {
    fn new(path: PathBuf) -> Option<Self> {
        let name = path.file_name()?.to_str()?.to_string();
        Some(BootFile { name, path })
    }
}

/// A machine of the inventory.
#[derive(Debug, Clone)]
pub struct Machine {
    pub mac: MacAddr,
    pub profile: String,
    pub hostname: Option<String>,
    pub vars: BTreeMap<String, toml::Value>,
    /// Its fixed address in `[dhcp] mode = "full"` (outside or inside the range).
    pub ip: Option<Ipv4Addr>,
}

/// Where the iPXE binaries for chainloading are (Debian's `ipxe` package by default).
#[derive(Debug, Clone)]
pub struct Ipxe {
    pub bios: BootFile,
    pub efi_x64: BootFile,
    pub efi_arm64: Option<BootFile>,
}

impl Ipxe {
    /// The binary of that name, as served at the TFTP root and `/ipxe-bin/<name>`.
    pub fn file(&self, name: &str) -> Option<&BootFile> {
        [
            Some(&self.bios),
            Some(&self.efi_x64),
            self.efi_arm64.as_ref(),
        ]
        .into_iter()
        .flatten()
        .find(|f| f.name == name)
    }
}

#[derive(Clone)]
pub struct Credential {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Who may change the fleet through the API (`[api]`).
#[derive(Clone, Default)]
pub struct Api {
    /// The operator token (`[api] token_file`, read at load): `POST …/reinstall` needs
    /// `Authorization: Bearer <token>`. Without one, only loopback clients may.
    pub token: Option<String>,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: {message}")]
    Invalid {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
}

impl Config {
    /// Reads and validates `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        parse(&abs, &text)
    }

    /// The profile a machine boots: its own, or `[unknown]`'s for machines not in the
    /// inventory. `None` means the machine gets nothing from us.
    pub fn profile_for(&self, mac: &MacAddr) -> Option<&Profile> {
        let name = match self.machines.get(mac) {
            Some(m) => &m.profile,
            None => self.unknown_profile.as_ref()?,
        };
        self.profiles.get(name)
    }

    /// `host:port` of the embedded registry as machines reach it.
    pub fn registry_host(&self) -> &str {
        &self.server.public_url.authority
    }
}

#[cfg(test)]
mod tests;
