//! A real `kickstand serve` on loopback (ephemeral ports) over a config and files written to a
//! temporary directory, for tests that drive it with real clients.
#![allow(dead_code)]

use kickstand_provisioner::config::Config;
use kickstand_provisioner::serve::{App, Listeners};
use sha2::Digest;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

pub const KNOWN: &str = "52:54:00:12:34:56";
pub const STRANGER: &str = "52:54:00:99:99:99";
/// The operator token written to `api.token` (used when a test's config names it).
pub const TOKEN: &str = "k1ckstand-test-token-0123456789";

pub const KICKSTART: &str = "network --hostname={{ machine.hostname }}\n\
sshkey --username=root \"{{ vars.ssh_key }}\"\n\
ostreecontainer --url={{ server.registry }}/demo-os:latest --transport=registry\n\
reboot\n";

pub struct Server {
    pub dir: tempfile::TempDir,
    pub http: u16,
    pub tftp: u16,
    pub app: Arc<App>,
    rt: tokio::runtime::Runtime,
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.http)
    }
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("kickstand.toml")
    }
    pub fn kernel(&self) -> Vec<u8> {
        std::fs::read(self.dir.path().join("boot/vmlinuz")).unwrap()
    }
}

/// Pseudo-random bytes (so ranges and block boundaries are checked on distinct content).
pub fn bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407)
        | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

pub fn config_text(http: u16, tftp: u16, extra: &str) -> String {
    format!(
        r#"[server]
listen = "127.0.0.1"
http_port = {http}
tftp_port = {tftp}
public_url = "http://127.0.0.1:{http}"
state_dir = "state"

[dhcp]
mode = "off"

[images.demo-os]
path = "images/demo-os"

[profiles.install-web]
kernel = "boot/vmlinuz"
initramfs = "boot/installer.img"
kickstart = "kickstarts/web.ks"
cmdline = "console=ttyS0"

[[machines]]
mac = "{KNOWN}"
profile = "install-web"
hostname = "web-01"
vars = {{ ssh_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAITest test@example" }}
{extra}"#
    )
}

fn sha(data: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(data))
}

/// Writes an OCI image layout with one tiny image tagged `latest`.
pub fn write_layout(dir: &Path) {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |data: &[u8]| {
        let d = sha(data);
        std::fs::write(blobs.join(&d), data).unwrap();
        (format!("sha256:{d}"), data.len())
    };
    let mut tar = tar::Builder::new(Vec::new());
    let content = b"hello from the demo image\n";
    let mut h = tar::Header::new_gnu();
    h.set_size(content.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    tar.append_data(&mut h, "etc/demo-release", &content[..])
        .unwrap();
    let layer = tar.into_inner().unwrap();
    let (layer_digest, layer_size) = put(&layer);
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {}, "rootfs": { "type": "layers", "diff_ids": [layer_digest] },
    })
    .to_string();
    let (config_digest, config_size) = put(config.as_bytes());
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size },
        "layers": [{ "mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": layer_size }],
    })
    .to_string();
    let (manifest_digest, manifest_size) = put(manifest.as_bytes());
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest, "size": manifest_size,
            "annotations": { "org.opencontainers.image.ref.name": "latest" },
        }],
    })
    .to_string();
    std::fs::write(dir.join("index.json"), index).unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
}

/// Starts a server with the base config plus `extra` TOML.
pub fn start(extra: &str) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("boot")).unwrap();
    std::fs::create_dir_all(d.join("kickstarts")).unwrap();
    // Not a multiple of any block size; large enough to span many TFTP windows.
    std::fs::write(d.join("boot/vmlinuz"), bytes(3 * 1024 * 1024 + 123, 1)).unwrap();
    std::fs::write(d.join("boot/installer.img"), bytes(1024 * 1024, 2)).unwrap();
    std::fs::write(d.join("kickstarts/web.ks"), KICKSTART).unwrap();
    std::fs::write(d.join("api.token"), format!("{TOKEN}\n")).unwrap();
    // Renders fine but is not a valid kickstart (a typo'd command).
    std::fs::write(
        d.join("kickstarts/broken.ks"),
        "network --hostname={{ machine.hostname }}\nrebot\n",
    )
    .unwrap();
    write_layout(&d.join("images/demo-os"));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (listeners, http, tftp) = rt.block_on(async {
        let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let tftp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let (hp, tp) = (
            http.local_addr().unwrap().port(),
            tftp.local_addr().unwrap().port(),
        );
        (Listeners { http, tftp }, hp, tp)
    });
    std::fs::write(d.join("kickstand.toml"), config_text(http, tftp, extra)).unwrap();
    let config = Config::load(&d.join("kickstand.toml")).unwrap_or_else(|e| panic!("{e}"));
    let app = App::new(config).unwrap();
    let serving = app.clone();
    rt.spawn(async move {
        if let Err(e) = kickstand_provisioner::serve::serve(serving, listeners).await {
            eprintln!("server stopped: {e:#}");
        }
    });
    Server {
        dir,
        http,
        tftp,
        app,
        rt,
    }
}

/// Runs a command, returning its output; panics with stderr if it could not start.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"))
}

/// curl with `args`, returning (status line code or exit status, headers, body).
pub fn curl(args: &[&str]) -> (String, Vec<u8>) {
    let out = run(Command::new("curl")
        .args(["-sS", "--max-time", "30", "-D", "/dev/stderr"])
        .args(args));
    (
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.stdout,
    )
}

/// The HTTP status of a curl response's headers.
pub fn status(headers: &str) -> u16 {
    headers
        .lines()
        .rfind(|l| l.starts_with("HTTP/"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// A header's value (case-insensitive name).
pub fn header<'a>(headers: &'a str, name: &str) -> Option<&'a str> {
    headers.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}
