//! A configuration on disk for unit tests: boot files, a kickstart template, an empty OCI
//! layout, and `kickstand.toml` with the issue's example plus `extra`.

use crate::config::Config;
use std::path::Path;

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub config: Config,
}

pub const KICKSTART: &str = "# {{ machine.mac }}\nnetwork --hostname={{ machine.hostname }}\n\
sshkey --username=root \"{{ vars.ssh_key }}\"\nostreecontainer --url={{ server.registry }}/demo-os:latest\n";

pub fn base_toml() -> String {
    r#"[server]
listen = "127.0.0.1"
http_port = 8080
tftp_port = 6969
public_url = "http://192.0.2.1:8080"
state_dir = "state"

[dhcp]
mode = "proxy"
interface = "br0"

[images.demo-os]
path = "images/demo-os"

[profiles.install-web]
kernel = "boot/vmlinuz"
initramfs = "boot/installer.img"
kickstart = "kickstarts/web.ks"
cmdline = "console=ttyS0"

[[machines]]
mac = "52:54:00:12:34:56"
profile = "install-web"
hostname = "web-01"
vars = { ssh_key = "ssh-ed25519 AAAA test" }
"#
    .to_string()
}

/// Writes the files the base config names under `dir`.
pub fn write_files(dir: &Path) {
    for (p, content) in [
        ("boot/vmlinuz", "kernel".to_string()),
        ("boot/installer.img", "initramfs".to_string()),
        ("kickstarts/web.ks", KICKSTART.to_string()),
        (
            "images/demo-os/index.json",
            r#"{"schemaVersion":2,"manifests":[]}"#.to_string(),
        ),
        (
            "images/demo-os/oci-layout",
            r#"{"imageLayoutVersion":"1.0.0"}"#.to_string(),
        ),
    ] {
        let path = dir.join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
}

pub fn parse_in(dir: &Path, text: &str) -> Result<Config, crate::config::ConfigError> {
    crate::config::parse(&dir.join("kickstand.toml"), text)
}

pub fn fixture(extra: &str) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path());
    let text = format!("{}\n{extra}", base_toml());
    let config = parse_in(dir.path(), &text).unwrap_or_else(|e| panic!("{e}"));
    Fixture { dir, config }
}
