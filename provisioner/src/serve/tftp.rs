//! The TFTP side: read-only, a virtual namespace and nothing else — no directory is exposed,
//! so no path can leave it.
//!
//! | name | what |
//! |---|---|
//! | `undionly.kpxe`, `snponly.efi`, … | the configured iPXE binaries (`[ipxe]`) |
//! | `boot/<profile>/<file name>` | a profile's kernel or initramfs (same as HTTP) |
//! | `boot.ipxe` | a script that chains to the machine's own `/ipxe/<mac>` over HTTP |
//! | `ipxe/<mac>` | the machine's iPXE script |
//! | `…/grub.cfg-01-<mac-with-dashes>` | the machine's GRUB config (grubnetx64's per-MAC name) |
//!
//! One thread reads requests from the server's port ([`transfer::decode_request`]), decides
//! what the name is ([`KickstandTftp::lookup`]) and hands each read transfer to a thread of
//! its own with a socket of its own ([`transfer::run`]). Real files are opened once and shared
//! by every client reading them at the same time (positional reads on one descriptor; the
//! kernel's page cache holds the data once). blksize (capped to [`BLOCK_SIZE_LIMIT`]), tsize,
//! timeout and windowsize (capped to [`WINDOW_SIZE_LIMIT`]) are negotiated.
//!
//! Why not async-tftp's transfer loop: driven from tokio it cost two thread wake-ups and an
//! allocation per block and reached half of dnsmasq's lock-step rate; a blocking socket per
//! transfer costs a `recv` and a `send` per block (see `benches/serve.rs`).

pub mod transfer;

use super::App;
use super::metrics::Metrics;
use crate::boot::{Arch, Client, Request, Response as Boot};
use anyhow::Context as _;
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
pub use transfer::{BLOCK_SIZE_LIMIT, WINDOW_SIZE_LIMIT};
use transfer::{ErrorCode, Outcome};

/// Transfers running at once; a request beyond that gets "server busy".
pub const MAX_TRANSFERS: usize = 2048;

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
pub enum Source {
    /// A real file, shared with the other transfers reading it.
    Shared(Arc<OpenFileHandle>),
    /// A generated script.
    Virtual(Vec<u8>),
}

/// An open file shared between transfers (opaque outside this module).
#[derive(Debug)]
pub struct OpenFileHandle(OpenFile);

impl transfer::Source for Source {
    fn len(&self) -> u64 {
        match self {
            Source::Shared(f) => f.0.len,
            Source::Virtual(v) => v.len() as u64,
        }
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        match self {
            Source::Shared(f) => {
                let want = buf.len().min(f.0.len.saturating_sub(offset) as usize);
                if want == 0 {
                    return Ok(0);
                }
                f.0.file.read_at(&mut buf[..want], offset)
            }
            Source::Virtual(v) => {
                let start = (offset.min(v.len() as u64)) as usize;
                let n = buf.len().min(v.len() - start);
                buf[..n].copy_from_slice(&v[start..start + n]);
                Ok(n)
            }
        }
    }
}

/// The TFTP namespace over the app.
#[derive(Debug)]
pub struct KickstandTftp {
    app: Arc<App>,
    open: Mutex<HashMap<PathBuf, Weak<OpenFileHandle>>>,
}

/// A refusal: the TFTP error code and message sent to the client.
pub type Refusal = (ErrorCode, &'static str);

impl KickstandTftp {
    pub fn new(app: Arc<App>) -> Self {
        KickstandTftp {
            app,
            open: Mutex::default(),
        }
    }

    /// Opens `path`, sharing an already open descriptor when it is still the same file.
    fn shared(&self, path: &Path) -> io::Result<Arc<OpenFileHandle>> {
        let md = std::fs::metadata(path)?;
        if !md.is_file() {
            return Err(io::ErrorKind::NotFound.into());
        }
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.retain(|_, w| w.strong_count() > 0);
        if let Some(f) = open.get(path).and_then(Weak::upgrade) {
            if f.0.identity == identity(&md) {
                return Ok(f);
            }
        }
        let file = File::open(path)?;
        let md = file.metadata()?;
        let f = Arc::new(OpenFileHandle(OpenFile {
            file,
            len: md.len(),
            identity: identity(&md),
        }));
        open.insert(path.to_path_buf(), Arc::downgrade(&f));
        Ok(f)
    }

    /// Resolves a requested name to what is served.
    pub fn resolve(&self, client: &SocketAddr, requested: &str) -> Result<Source, Refusal> {
        const NOT_FOUND: Refusal = (ErrorCode::FileNotFound, "file not found");
        let name = normalize(Path::new(requested)).ok_or_else(|| {
            tracing::warn!(%client, requested, "tftp: path traversal refused");
            (ErrorCode::AccessViolation, "access violation")
        })?;
        let config = self.app.config();
        let file = |p: &Path| -> Result<Source, Refusal> {
            let f = self.shared(p).map_err(|e| {
                tracing::error!(%client, file = %p.display(), "tftp: cannot open: {e}");
                NOT_FOUND
            })?;
            Ok(Source::Shared(f))
        };
        let virt = |s: String| Ok(Source::Virtual(s.into_bytes()));
        let parts: Vec<&str> = name.split('/').collect();
        match parts.as_slice() {
            ["boot.ipxe"] => virt(super::http::generic_ipxe(&config.server.public_url.base())),
            ["boot", profile, file_name] => match config
                .profiles
                .get(*profile)
                .and_then(|p| p.file(file_name))
            {
                Some(f) => file(&f.path),
                None => Err(NOT_FOUND),
            },
            ["ipxe", mac] => {
                let mac = mac.strip_suffix(".ipxe").unwrap_or(mac);
                let mac = super::mac_of(mac).ok_or(NOT_FOUND)?;
                self.script(&config, mac, Client::Ipxe).map(virt)?
            }
            [.., last] if last.starts_with("grub.cfg-01-") => {
                let mac = super::mac_of(&last["grub.cfg-".len()..]).ok_or(NOT_FOUND)?;
                self.script(&config, mac, Client::Grub).map(virt)?
            }
            [single] => match config.ipxe.file(single) {
                Some(f) => file(&f.path),
                None => Err(NOT_FOUND),
            },
            _ => Err(NOT_FOUND),
        }
    }

    /// What a read request for `name` from `client` would get: the size of what is served,
    /// or the refusal sent instead. The request path after decoding (normalizing, refusing
    /// traversal, looking up, deciding); the fuzz target and the property tests drive it with
    /// arbitrary names.
    pub fn lookup(&self, client: &SocketAddr, name: &str) -> Result<u64, Refusal> {
        use transfer::Source as _;
        self.resolve(client, name).map(|s| s.len())
    }

    fn script(
        &self,
        config: &crate::config::Config,
        mac: crate::mac::MacAddr,
        client: Client,
    ) -> Result<String, Refusal> {
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
                Err((ErrorCode::FileNotFound, "file not found"))
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

/// The request loop's state.
struct Server {
    tftp: KickstandTftp,
    socket: UdpSocket,
    local: IpAddr,
    /// Clients with a transfer running (a repeated request is not a second transfer).
    active: Mutex<HashSet<SocketAddr>>,
}

impl Server {
    fn metrics(&self) -> &Metrics {
        &self.tftp.app.metrics
    }

    /// Sends an ERROR from a fresh port (the transfer's own TID, as a transfer would).
    fn refuse(&self, peer: SocketAddr, (code, message): Refusal) {
        Metrics::inc(&self.metrics().tftp_refused);
        if let Ok(s) = UdpSocket::bind((self.local, 0)) {
            let _ = s.send_to(&transfer::error_packet(code, message), peer);
        }
    }

    fn handle(self: &Arc<Self>, datagram: &[u8], peer: SocketAddr) {
        let request = match transfer::decode_request(datagram) {
            Ok(r) => r,
            Err(e) => {
                Metrics::inc(&self.metrics().tftp_refused);
                tracing::debug!(client = %peer, "tftp: ignored a datagram: {e}");
                return;
            }
        };
        Metrics::inc(&self.metrics().tftp_requests);
        let (name, options) = match request {
            transfer::Request::Read { name, options } => (name, options),
            transfer::Request::Write { name } => {
                tracing::warn!(client = %peer, file = %name, "tftp: write refused (read-only server)");
                return self.refuse(peer, (ErrorCode::AccessViolation, "read-only server"));
            }
        };
        {
            let mut active = self.active.lock().unwrap_or_else(|e| e.into_inner());
            if active.contains(&peer) {
                return;
            }
            if active.len() >= MAX_TRANSFERS {
                tracing::warn!(client = %peer, file = %name, "tftp: {MAX_TRANSFERS} transfers running: refused");
                return self.refuse(peer, (ErrorCode::NotDefined, "server busy, try again"));
            }
            active.insert(peer);
        }
        let source = match self.tftp.resolve(&peer, &name) {
            Ok(s) => s,
            Err(r) => {
                tracing::info!(client = %peer, file = %name, "tftp: refused ({})", r.1);
                self.done(peer);
                return self.refuse(peer, r);
            }
        };
        tracing::debug!(client = %peer, file = %name, ?options, "tftp read");
        let server = self.clone();
        let spawned = std::thread::Builder::new()
            .name("tftp-transfer".into())
            .stack_size(256 * 1024)
            .spawn(move || {
                server.transfer(peer, &name, &source, options);
                server.done(peer);
            });
        if let Err(e) = spawned {
            tracing::error!(client = %peer, "tftp: cannot start a transfer thread: {e}");
            self.done(peer);
        }
    }

    fn done(&self, peer: SocketAddr) {
        self.active
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&peer);
    }

    /// Runs one transfer on a socket of its own and logs how it ended.
    fn transfer(&self, peer: SocketAddr, name: &str, source: &Source, options: transfer::Options) {
        use transfer::Source as _;
        let (agreed, oack) = transfer::negotiate(&options, source.len());
        let result = UdpSocket::bind((self.local, 0))
            .and_then(|s| s.connect(peer).map(|()| s))
            .and_then(|s| transfer::run(&s, source, agreed, oack.as_deref()));
        match result {
            Ok(Outcome::Complete { bytes }) => {
                tracing::info!(client = %peer, file = name, bytes, "tftp transfer complete")
            }
            Ok(Outcome::ClientError {
                code,
                message,
                bytes,
            }) => tracing::warn!(
                client = %peer, file = name, bytes,
                "tftp transfer ended early: the client sent error {code} ({message})"
            ),
            Ok(Outcome::TimedOut { bytes }) => tracing::warn!(
                client = %peer, file = name, bytes,
                "tftp transfer ended early: the client stopped answering"
            ),
            Err(e) => tracing::warn!(client = %peer, file = name, "tftp transfer ended early: {e}"),
        }
    }
}

/// Starts the TFTP server on `socket` (on threads of its own); the returned future completes
/// when it fails.
pub async fn serve(
    app: Arc<App>,
    socket: UdpSocket,
) -> anyhow::Result<impl std::future::Future<Output = anyhow::Result<()>> + Send + 'static> {
    socket.set_nonblocking(false)?;
    let local = socket.local_addr()?.ip();
    let server = Arc::new(Server {
        tftp: KickstandTftp::new(app),
        socket,
        local,
        active: Mutex::default(),
    });
    let (tx, rx) = tokio::sync::oneshot::channel::<io::Error>();
    std::thread::Builder::new()
        .name("tftp".into())
        .spawn(move || {
            // A request is at most one datagram; larger ones are truncated and fail to decode.
            let mut buf = [0u8; 2048];
            loop {
                match server.socket.recv_from(&mut buf) {
                    Ok((n, peer)) => server.handle(&buf[..n], peer),
                    // ICMP errors from earlier sends surface here on some kernels: not ours.
                    Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => continue,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        let _ = tx.send(e);
                        return;
                    }
                }
            }
        })
        .context("starting the TFTP thread")?;
    Ok(async move {
        match rx.await {
            Ok(e) => Err(anyhow::Error::from(e).context("receiving TFTP requests")),
            Err(_) => Err(anyhow::anyhow!("the TFTP thread panicked")),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::{KickstandTftp, normalize};
    use crate::serve::App;
    use proptest::prelude::*;
    use std::path::Path;

    /// Fragments of names that reach the interesting branches.
    fn name() -> impl Strategy<Value = String> {
        let part = prop_oneof![
            Just("boot".to_string()),
            Just("install-web".to_string()),
            Just("vmlinuz".to_string()),
            Just("ipxe".to_string()),
            Just("undionly.kpxe".to_string()),
            Just("boot.ipxe".to_string()),
            Just("grub.cfg-01-52-54-00-12-34-56".to_string()),
            Just("52:54:00:12:34:56".to_string()),
            Just("..".to_string()),
            Just(".".to_string()),
            Just("%2e%2e".to_string()),
            Just(String::new()),
            any::<String>(),
        ];
        prop_oneof![
            prop::collection::vec(part, 0..6).prop_map(|p| p.join("/")),
            prop::collection::vec(any::<u8>(), 0..300)
                .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        ]
    }

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

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// The request path after decoding (stable stand-in for `fuzz/fuzz_targets/tftp.rs`):
        /// never panics, and whatever it serves is a name of the virtual namespace.
        #[test]
        fn lookup_never_panics_or_escapes(name in name()) {
            let tftp = &shared().1;
            let client = "127.0.0.1:4000".parse().unwrap();
            if tftp.lookup(&client, &name).is_ok() {
                let n = normalize(Path::new(&name));
                prop_assert!(n.is_some(), "served an unnormalizable name {name:?}");
                let n = n.unwrap();
                prop_assert!(
                    n == "boot.ipxe"
                        || n == "undionly.kpxe"
                        || n == "snponly.efi"
                        || n.starts_with("boot/install-web/")
                        || n.starts_with("ipxe/")
                        || n.contains("grub.cfg-01-"),
                    "served {n:?}"
                );
            }
        }
    }

    /// One handler for every case (a fixture per case would be a temp dir and a database each).
    fn shared() -> &'static (crate::testutil::Fixture, KickstandTftp) {
        static SHARED: std::sync::OnceLock<(crate::testutil::Fixture, KickstandTftp)> =
            std::sync::OnceLock::new();
        SHARED.get_or_init(handler)
    }

    fn handler() -> (crate::testutil::Fixture, KickstandTftp) {
        let fx = crate::testutil::fixture("");
        let app = App::new(fx.config.clone()).unwrap();
        (fx, KickstandTftp::new(app))
    }

    #[test]
    fn lookup_serves_the_namespace_only() {
        let (_fx, tftp) = handler();
        let client = "127.0.0.1:4000".parse().unwrap();
        assert_eq!(
            tftp.lookup(&client, "/boot/install-web/vmlinuz").unwrap(),
            6
        );
        assert!(tftp.lookup(&client, "ipxe/52:54:00:12:34:56").is_ok());
        assert!(tftp.lookup(&client, "boot.ipxe").is_ok());
        for bad in [
            "../kickstand.toml",
            "boot/install-web/../../kickstand.toml",
            "kickstand.toml",
            "boot/install-web/web.ks",
            "ipxe/52:54:00:99:99:99",
        ] {
            assert!(tftp.lookup(&client, bad).is_err(), "{bad}");
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
