//! The file format of `kickstand.toml`, exactly as written: serde structs that reject unknown
//! keys. Values that need checking keep their span so errors can name the line.

use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    pub server: Server,
    #[serde(default)]
    pub dhcp: Option<Dhcp>,
    #[serde(default)]
    pub images: BTreeMap<String, Image>,
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
    #[serde(default)]
    pub machines: Vec<Machine>,
    #[serde(default)]
    pub unknown: Option<Unknown>,
    #[serde(default)]
    pub ipxe: Option<Ipxe>,
    #[serde(default)]
    pub credentials: BTreeMap<String, Credential>,
    #[serde(default)]
    pub api: Option<Api>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Server {
    #[serde(default)]
    pub listen: Option<Spanned<String>>,
    #[serde(default)]
    pub http_port: Option<u16>,
    #[serde(default)]
    pub tftp_port: Option<u16>,
    pub public_url: Spanned<String>,
    #[serde(default)]
    pub state_dir: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dhcp {
    #[serde(default)]
    pub mode: Option<Spanned<String>>,
    #[serde(default)]
    pub interface: Option<Spanned<String>>,
    #[serde(default)]
    pub range: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    pub router: Option<Spanned<String>>,
    #[serde(default)]
    pub dns: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    pub lease_time: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Image {
    pub path: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub kernel: Spanned<String>,
    pub initramfs: Spanned<String>,
    pub kickstart: Spanned<String>,
    #[serde(default)]
    pub cmdline: Option<String>,
    #[serde(default)]
    pub vars: BTreeMap<String, toml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Machine {
    pub mac: Spanned<String>,
    pub profile: Spanned<String>,
    #[serde(default)]
    pub hostname: Option<Spanned<String>>,
    #[serde(default)]
    pub vars: BTreeMap<String, toml::Value>,
    /// A fixed address handed out by `[dhcp] mode = "full"`.
    #[serde(default)]
    pub ip: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Unknown {
    #[serde(default)]
    pub profile: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ipxe {
    #[serde(default)]
    pub bios: Option<Spanned<String>>,
    #[serde(default)]
    pub efi_x64: Option<Spanned<String>>,
    #[serde(default)]
    pub efi_arm64: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credential {
    pub username: String,
    pub password: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Api {
    #[serde(default)]
    pub token_file: Option<Spanned<String>>,
}
