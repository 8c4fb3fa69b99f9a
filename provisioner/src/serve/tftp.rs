//! The TFTP side (async-tftp with our handler): read-only, a virtual namespace and nothing
//! else — no directory is exposed, so no path can leave it.
//!
//! | name | what |
//! |---|---|
//! | `undionly.kpxe`, `snponly.efi`, … | the configured iPXE binaries (`[ipxe]`) |
//! | `boot/<profile>/<file name>` | a profile's kernel or initramfs (same as HTTP) |
//! | `boot.ipxe` | a script that chains to the machine's own `/ipxe/<mac>` over HTTP |
//! | `ipxe/<mac>` | the machine's iPXE script |
//! | `…/grub.cfg-01-<mac-with-dashes>` | the machine's GRUB config (grubnetx64's per-MAC name) |
//!
//! Real files are opened once and shared by every client reading them at the same time
//! (positional reads on one descriptor; the kernel's page cache holds the data once).
//! blksize (capped to [`BLOCK_SIZE_LIMIT`]), tsize, timeout and windowsize are negotiated by
//! async-tftp.

use super::App;
use super::metrics::Metrics;
use crate::boot::{Arch, Client, Request, Response as Boot};
use async_tftp::packet;
use async_tftp::server::{Handler, TftpServerBuilder};
use futures_lite::AsyncRead;
use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::net::SocketAddr;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Component, Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};

/// Largest blksize we agree to: a 1500-byte Ethernet MTU minus IP, UDP and TFTP headers.
pub const BLOCK_SIZE_LIMIT: u16 = 1468;
/// Largest windowsize we agree to (RFC 7440).
pub const WINDOW_SIZE_LIMIT: u16 = 64;

/// A file opened once and shared by concurrent transfers.
#[derive(Debug)]
struct OpenFile {
    file: File,
    len: u64,
    /// (device, inode, mtime): a replaced file is opened anew.
    identity: (u64, u64, i64, i64),
}

fn identity(md: &std::fs::Metadata) -> (u64, u64, i64, i64) {
    (md.dev(), md.ino(), md.mtime(), md.mtime_nsec())
}

/// What one transfer reads.
#[derive(Debug)]
enum Source {
    Shared { file: Arc<OpenFile>, pos: u64 },
    Virtual(futures_lite::io::Cursor<Vec<u8>>),
}

/// The reader handed to async-tftp; logs the outcome of the transfer when dropped.
#[derive(Debug)]
pub struct Reader {
    source: Source,
    name: String,
    client: SocketAddr,
    sent: u64,
    eof: bool,
}

impl AsyncRead for Reader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let n = match &mut this.source {
            Source::Shared { file, pos } => {
                let want = buf.len().min(file.len.saturating_sub(*pos) as usize);
                let n = if want == 0 {
                    0
                } else {
                    file.file.read_at(&mut buf[..want], *pos)?
                };
                *pos += n as u64;
                n
            }
            Source::Virtual(c) => match Pin::new(c).poll_read(cx, buf) {
                Poll::Ready(Ok(n)) => n,
                other => return other,
            },
        };
        this.sent += n as u64;
        if n == 0 {
            this.eof = true;
        }
        Poll::Ready(Ok(n))
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        if self.eof {
            tracing::info!(client = %self.client, file = %self.name, bytes = self.sent, "tftp transfer complete");
        } else {
            tracing::warn!(client = %self.client, file = %self.name, bytes = self.sent, "tftp transfer ended early");
        }
    }
}

/// async-tftp's handler over the app.
#[derive(Debug)]
pub struct KickstandTftp {
    app: Arc<App>,
    open: Arc<Mutex<HashMap<PathBuf, Weak<OpenFile>>>>,
}

impl KickstandTftp {
    pub fn new(app: Arc<App>) -> Self {
        KickstandTftp {
            app,
            open: Arc::default(),
        }
    }

    /// Opens `path`, sharing an already open descriptor when it is still the same file.
    fn shared(&self, path: &Path) -> io::Result<Arc<OpenFile>> {
        let md = std::fs::metadata(path)?;
        if !md.is_file() {
            return Err(io::ErrorKind::NotFound.into());
        }
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.retain(|_, w| w.strong_count() > 0);
        if let Some(f) = open.get(path).and_then(Weak::upgrade) {
            if f.identity == identity(&md) {
                return Ok(f);
            }
        }
        let file = File::open(path)?;
        let md = file.metadata()?;
        let f = Arc::new(OpenFile {
            file,
            len: md.len(),
            identity: identity(&md),
        });
        open.insert(path.to_path_buf(), Arc::downgrade(&f));
        Ok(f)
    }

    /// Resolves a requested name to what is served. `Err` carries the TFTP error to send.
    fn resolve(
        &self,
        client: &SocketAddr,
        path: &Path,
    ) -> Result<(Source, Option<u64>), packet::Error> {
        let name = normalize(path).ok_or_else(|| {
            tracing::warn!(%client, requested = %path.display(), "tftp: path traversal refused");
            packet::Error::PermissionDenied
        })?;
        let config = self.app.config();
        let file = |p: &Path| -> Result<(Source, Option<u64>), packet::Error> {
            let f = self.shared(p).map_err(|e| {
                tracing::error!(%client, file = %p.display(), "tftp: cannot open: {e}");
                packet::Error::FileNotFound
            })?;
            let len = f.len;
            Ok((Source::Shared { file: f, pos: 0 }, Some(len)))
        };
        let virt = |s: String| {
            let len = s.len() as u64;
            Ok((
                Source::Virtual(futures_lite::io::Cursor::new(s.into_bytes())),
                Some(len),
            ))
        };
        let parts: Vec<&str> = name.split('/').collect();
        match parts.as_slice() {
            ["boot.ipxe"] => virt(super::http::generic_ipxe(&config.server.public_url.base())),
            ["boot", profile, file_name] => match config
                .profiles
                .get(*profile)
                .and_then(|p| p.file(file_name))
            {
                Some(f) => file(&f.path),
                None => Err(packet::Error::FileNotFound),
            },
            ["ipxe", mac] => {
                let mac = mac.strip_suffix(".ipxe").unwrap_or(mac);
                let mac = super::mac_of(mac).ok_or(packet::Error::FileNotFound)?;
                self.script(&config, mac, Client::Ipxe).map(virt)?
            }
            [.., last] if last.starts_with("grub.cfg-01-") => {
                let mac =
                    super::mac_of(&last["grub.cfg-".len()..]).ok_or(packet::Error::FileNotFound)?;
                self.script(&config, mac, Client::Grub).map(virt)?
            }
            [single] => match config.ipxe.file(single) {
                Some(f) => file(&f.path),
                None => Err(packet::Error::FileNotFound),
            },
            _ => Err(packet::Error::FileNotFound),
        }
    }

    fn script(
        &self,
        config: &crate::config::Config,
        mac: crate::mac::MacAddr,
        client: Client,
    ) -> Result<String, packet::Error> {
        // Over TFTP the scripts are fetched by iPXE or GRUB after the firmware loaded them;
        // UEFI is the common case for GRUB, and the iPXE script does not depend on it.
        let req = Request {
            mac,
            arch: Arch::EfiX64,
            client,
            http: false,
        };
        match self.app.decide(config, &req) {
            Boot::IpxeScript(s) | Boot::GrubConfig(s) => {
                Metrics::inc(&self.app.metrics.boot_scripts);
                tracing::info!(%mac, ?client, "boot script served over tftp");
                Ok(s)
            }
            _ => {
                Metrics::inc(&self.app.metrics.unknown_machines);
                tracing::info!(%mac, "unknown machine and no [unknown] profile: nothing served");
                Err(packet::Error::FileNotFound)
            }
        }
    }
}

/// The requested name as `a/b/c`: one leading `/` allowed (many clients send it), no `..`,
/// no `.`-only or empty components, no backslashes or NULs. `None` for anything else.
pub fn normalize(path: &Path) -> Option<String> {
    let s = path.to_str()?;
    if s.contains('\\') || s.contains('\0') || s.is_empty() {
        return None;
    }
    let rel = s.strip_prefix('/').unwrap_or(s);
    let mut out = Vec::new();
    for c in Path::new(rel).components() {
        match c {
            Component::Normal(p) => out.push(p.to_str()?),
            _ => return None,
        }
    }
    if out.is_empty()
        || rel
            .split('/')
            .any(|p| p.is_empty() || p == "." || p == "..")
    {
        return None;
    }
    Some(out.join("/"))
}

impl Handler for KickstandTftp {
    type Reader = Reader;
    type Writer = futures_lite::io::Sink;

    async fn read_req_open(
        &mut self,
        client: &SocketAddr,
        path: &Path,
    ) -> Result<(Self::Reader, Option<u64>), packet::Error> {
        Metrics::inc(&self.app.metrics.tftp_requests);
        match self.resolve(client, path) {
            Ok((source, size)) => {
                tracing::debug!(%client, file = %path.display(), size = ?size, "tftp read");
                Ok((
                    Reader {
                        source,
                        name: path.display().to_string(),
                        client: *client,
                        sent: 0,
                        eof: false,
                    },
                    size,
                ))
            }
            Err(e) => {
                Metrics::inc(&self.app.metrics.tftp_refused);
                tracing::info!(%client, file = %path.display(), "tftp: refused ({e:?})");
                Err(e)
            }
        }
    }

    async fn write_req_open(
        &mut self,
        client: &SocketAddr,
        path: &Path,
        _size: Option<u64>,
    ) -> Result<Self::Writer, packet::Error> {
        Metrics::inc(&self.app.metrics.tftp_refused);
        tracing::warn!(%client, file = %path.display(), "tftp: write refused (read-only server)");
        Err(packet::Error::IllegalOperation)
    }
}

/// Builds the TFTP server on `socket`; the returned future serves until it fails.
pub async fn serve(
    app: Arc<App>,
    socket: std::net::UdpSocket,
) -> anyhow::Result<impl std::future::Future<Output = anyhow::Result<()>> + Send + 'static> {
    socket.set_nonblocking(true)?;
    let server = TftpServerBuilder::with_handler(KickstandTftp::new(app))
        .std_socket(socket)?
        .block_size_limit(BLOCK_SIZE_LIMIT)
        .window_size_limit(WINDOW_SIZE_LIMIT)
        .build()
        .await?;
    Ok(async move { server.serve().await.map_err(anyhow::Error::from) })
}

#[cfg(test)]
mod tests {
    use super::normalize;
    use proptest::prelude::*;
    use std::path::Path;

    proptest! {
        /// Fuzzing the request path: any name either is refused or normalizes to relative
        /// components with no way up, and normalizing is idempotent.
        #[test]
        fn normalize_never_escapes(name in "[/.a-z%\\\\\\x00]{0,24}") {
            if let Some(n) = normalize(Path::new(&name)) {
                prop_assert!(!n.starts_with('/'));
                prop_assert!(n.split('/').all(|c| !c.is_empty() && c != "." && c != ".."));
                prop_assert_eq!(normalize(Path::new(&n)), Some(n.clone()));
            }
        }
    }

    #[test]
    fn traversal_is_refused() {
        assert_eq!(
            normalize(Path::new("/boot/x/vmlinuz")).as_deref(),
            Some("boot/x/vmlinuz")
        );
        assert_eq!(
            normalize(Path::new("undionly.kpxe")).as_deref(),
            Some("undionly.kpxe")
        );
        for bad in [
            "../etc/passwd",
            "/../etc/passwd",
            "boot/../../etc/passwd",
            "//etc/passwd",
            "boot/./x",
            "a\\..\\b",
            "",
            "/",
            "boot//x",
        ] {
            assert_eq!(normalize(Path::new(bad)), None, "{bad}");
        }
    }
}
