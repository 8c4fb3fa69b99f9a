//! The kickstart and its `%include`s over every `inst.ks=` transport: http(s) with retries
//! and the `inst.ks.sendmac`/`inst.ks.sendsn` headers, `file:` in the initramfs, and files on a
//! disk (`hd:LABEL=…:/path`) or an optical disc (`cdrom:/path`), mounted read-only just long
//! enough to read them. [`KsLoader`] is the grammar's [`Loader`] over the same transports.

use crate::boot::cmdline::{DeviceSpec, KickstartSource};
use crate::boot::ks_location::{display, resolve_include};
use crate::cmd::Cmd;
use crate::tools;
use anyhow::{Context, Result, anyhow, bail};
use kickstand_grammar::{LoadError, Loaded, Loader, MAX_INPUT_BYTES};
use nix::mount::{MsFlags, mount, umount};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Fetches kickstart files.
#[derive(Debug)]
pub struct Fetcher {
    client: reqwest::Client,
    runtime: tokio::runtime::Handle,
    headers: Vec<(String, String)>,
    /// Waits between HTTP attempts; the number of attempts is one more.
    retry_waits: Vec<Duration>,
}

/// How an HTTP attempt failed.
enum Attempt {
    /// Worth trying again (connection refused, timeout, 5xx, 408, 429).
    Transient(anyhow::Error),
    Final(anyhow::Error),
}

impl Fetcher {
    /// A fetcher sending `headers` on HTTP requests. `noverifyssl` (`inst.noverifyssl`)
    /// turns TLS certificate verification off.
    pub fn new(
        runtime: tokio::runtime::Handle,
        headers: Vec<(String, String)>,
        noverifyssl: bool,
    ) -> Result<Self> {
        if noverifyssl {
            tracing::warn!(
                "inst.noverifyssl: TLS certificates of the kickstart server are NOT verified"
            );
        }
        let client = reqwest::Client::builder()
            .user_agent(concat!("kickstand-installer/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .danger_accept_invalid_certs(noverifyssl)
            .build()
            .context("setting up the HTTP client")?;
        let secs = [1, 2, 4, 8, 15, 30];
        Ok(Fetcher {
            client,
            runtime,
            headers,
            retry_waits: secs.iter().map(|s| Duration::from_secs(*s)).collect(),
        })
    }

    /// Shorter waits (tests, and sources known to be local).
    pub fn with_retry_waits(mut self, waits: Vec<Duration>) -> Self {
        self.retry_waits = waits;
        self
    }

    /// Reads `source`; the result is named as [`display`] names it.
    pub fn fetch(&self, source: &KickstartSource) -> Result<Loaded> {
        let name = display(source);
        let bytes = match source {
            KickstartSource::Url(url) => self.runtime.block_on(self.http(url))?,
            KickstartSource::File(path) => read_file(Path::new(path))?,
            KickstartSource::Disk { device, path } => {
                let dev = find_device(device)?;
                read_from_device(&dev, path)?
            }
            KickstartSource::Cdrom {
                device: Some(device),
                path,
            } => read_from_device(&find_device(device)?, path)?,
            KickstartSource::Cdrom { device: None, path } => read_from_cdrom(path)?,
        };
        Ok(Loaded { name, bytes })
    }

    async fn http(&self, url: &str) -> Result<Vec<u8>> {
        let attempts = self.retry_waits.len() + 1;
        let mut last = None;
        for attempt in 1..=attempts {
            match self.http_once(url).await {
                Ok(bytes) => return Ok(bytes),
                Err(Attempt::Final(e)) => return Err(e),
                Err(Attempt::Transient(e)) => {
                    if let Some(wait) = self.retry_waits.get(attempt - 1) {
                        tracing::warn!(
                            "fetching {url} (attempt {attempt} of {attempts}): {e:#}; \
                             trying again in {wait:?}"
                        );
                        tokio::time::sleep(*wait).await;
                    }
                    last = Some(e);
                }
            }
        }
        Err(last
            .unwrap_or_else(|| anyhow!("no attempt made"))
            .context(format!("fetching {url} failed {attempts} times")))
    }

    async fn http_once(&self, url: &str) -> Result<Vec<u8>, Attempt> {
        let mut request = self.client.get(url);
        for (k, v) in &self.headers {
            request = request.header(k, v);
        }
        let mut response = request
            .send()
            .await
            .map_err(|e| Attempt::Transient(anyhow!(error_chain(&e))))?;
        let status = response.status();
        if !status.is_success() {
            let e = anyhow!("the server answered {status}");
            return Err(
                if status.is_server_error() || status.as_u16() == 408 || status.as_u16() == 429 {
                    Attempt::Transient(e)
                } else {
                    Attempt::Final(e.context(format!("fetching {url}")))
                },
            );
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| Attempt::Transient(anyhow!(error_chain(&e))))?
        {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_INPUT_BYTES {
                return Err(Attempt::Final(anyhow!(
                    "{url} is larger than {MAX_INPUT_BYTES} bytes; that is not a kickstart"
                )));
            }
        }
        Ok(body)
    }
}

/// `e` with its sources (reqwest hides the useful part, "connection refused", in them).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

fn read_file(path: &Path) -> Result<Vec<u8>> {
    kickstand_grammar::read_limited(path).with_context(|| format!("reading {}", path.display()))
}

/// The block device a `LABEL=`/`UUID=`/`PARTLABEL=`/path names (blkid; there is no udev to
/// make `/dev/disk/by-label`).
pub(super) fn find_device(spec: &DeviceSpec) -> Result<PathBuf> {
    let token = match spec {
        DeviceSpec::Path(p) => {
            if Path::new(p).exists() {
                return Ok(PathBuf::from(p));
            }
            bail!("{p} does not exist");
        }
        DeviceSpec::Label(l) => format!("LABEL={l}"),
        DeviceSpec::Uuid(u) => format!("UUID={u}"),
        DeviceSpec::PartLabel(l) => format!("PARTLABEL={l}"),
    };
    let out = Cmd::new(tools::BLKID, format!("finding the device with {token}"))
        .args(["-l", "-o", "device", "-t", &token])
        .run()
        .with_context(|| format!("no block device has {token}"))?;
    let dev = out.trim();
    if dev.is_empty() {
        bail!("no block device has {token}");
    }
    Ok(PathBuf::from(dev))
}

/// File system types tried on a kickstart medium, in order.
const MEDIA_FS: &[&str] = &["iso9660", "vfat", "ext4", "xfs", "btrfs", "udf"];

/// Mounts `device` read-only (no devices, no setuid) on `dir`, trying each of [`MEDIA_FS`];
/// returns the file system type that worked.
pub(super) fn mount_read_only(device: &Path, dir: &Path) -> Result<&'static str> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut errors = Vec::new();
    for fs in MEDIA_FS {
        match mount(
            Some(device),
            dir,
            Some(*fs),
            MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            None::<&str>,
        ) {
            Ok(()) => return Ok(fs),
            Err(e) => errors.push(format!("{fs}: {e}")),
        }
    }
    bail!(
        "cannot mount {} read-only ({})",
        device.display(),
        errors.join(", ")
    )
}

/// Mounts `device` read-only on a fresh directory, reads `path`, unmounts.
fn read_from_device(device: &Path, path: &str) -> Result<Vec<u8>> {
    let dir = Path::new("/run/kickstand/media");
    mount_read_only(device, dir)?;
    let result = read_file(&dir.join(path.trim_start_matches('/')));
    let _ = umount(dir);
    result.with_context(|| format!("on {}", device.display()))
}

/// The optical drives (`/sys/block/sr*`), in name order.
pub(super) fn optical_drives() -> Vec<String> {
    let mut drives: Vec<String> = std::fs::read_dir("/sys/block")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("sr"))
                .collect()
        })
        .unwrap_or_default();
    drives.sort_by(|a, b| crate::hardware::natural_cmp(a, b));
    drives
}

/// Tries every optical drive for `path`.
fn read_from_cdrom(path: &str) -> Result<Vec<u8>> {
    let drives = optical_drives();
    if drives.is_empty() {
        bail!("cdrom:{path}: this machine has no optical drive (is sr_mod in the initramfs?)");
    }
    let mut errors = Vec::new();
    for d in &drives {
        match read_from_device(&Path::new("/dev").join(d), path) {
            Ok(b) => return Ok(b),
            Err(e) => errors.push(format!("/dev/{d}: {e:#}")),
        }
    }
    bail!("cdrom:{path} was not found: {}", errors.join("; "))
}

/// `%include` over the transports of [`Fetcher`].
#[derive(Debug, Clone)]
pub struct KsLoader {
    pub fetcher: std::sync::Arc<Fetcher>,
}

impl Loader for KsLoader {
    fn load(&self, target: &str, from: &str) -> Result<Loaded, LoadError> {
        let source =
            resolve_include(target, from).map_err(|e| LoadError::Refused(e.to_string()))?;
        if let KickstartSource::File(p) = &source
            && !Path::new(p).exists()
        {
            return Err(LoadError::NotFound(p.clone()));
        }
        self.fetcher
            .fetch(&source)
            .map_err(|e| LoadError::Refused(format!("{e:#}")))
    }
}
