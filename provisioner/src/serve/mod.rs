//! `kickstand serve`: the running daemon. Holds the current configuration (swapped whole on
//! SIGHUP; transfers in flight keep the files they opened), the machine database and the
//! counters, and runs the HTTP and TFTP servers over them.

pub mod api;
pub mod auth;
pub mod http;
pub mod listener;
pub mod metrics;
pub mod tftp;

use crate::boot::{self, MachineState, Request, Response};
use crate::config::Config;
use crate::mac::MacAddr;
use crate::state::Store;
use anyhow::Context;
use metrics::Metrics;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

/// Everything the servers share.
#[derive(Debug)]
pub struct App {
    config: RwLock<Arc<Config>>,
    pub store: Store,
    pub metrics: Metrics,
}

impl App {
    pub fn new(config: Config) -> anyhow::Result<Arc<App>> {
        let store = Store::open(&config.server.state_dir).with_context(|| {
            format!(
                "opening the machine database in {}",
                config.server.state_dir.display()
            )
        })?;
        Ok(Arc::new(App {
            config: RwLock::new(Arc::new(config)),
            store,
            metrics: Metrics::default(),
        }))
    }

    /// The configuration now in force. Callers keep the `Arc` for the whole request.
    pub fn config(&self) -> Arc<Config> {
        self.config
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Re-reads the configuration file; a file that fails validation leaves the running
    /// configuration untouched. Listening addresses and the state directory need a restart.
    pub fn reload(&self) -> anyhow::Result<()> {
        let old = self.config();
        let new = match Config::load(&old.source) {
            Ok(c) => c,
            Err(e) => {
                Metrics::inc(&self.metrics.reload_failures);
                return Err(e).context("reloading the configuration (the old one stays in force)");
            }
        };
        let (o, n) = (&old.server, &new.server);
        if (o.listen, o.http_port, o.tftp_port) != (n.listen, n.http_port, n.tftp_port)
            || o.state_dir != n.state_dir
            || dhcp_sockets_differ(&old.dhcp, &new.dhcp)
        {
            tracing::warn!(
                "server.listen, the ports, server.state_dir, dhcp.interface and turning DHCP on or off change only on restart; the new values are ignored until then"
            );
        }
        *self.config.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(new);
        Metrics::inc(&self.metrics.reloads);
        Ok(())
    }

    /// The boot decision for `req` with the machine's stored state; handing out an install
    /// script marks the machine `booting`.
    pub fn decide(&self, config: &Config, req: &Request) -> Response {
        let state = self.store.state(req.mac).unwrap_or_else(|e| {
            tracing::error!(mac = %req.mac, "reading the machine's state: {:#}", anyhow::Error::from(e));
            // Without its state we cannot know whether it was installed: do not reinstall it.
            MachineState { status: boot::Status::Installed, error: None }
        });
        let resp = boot::respond(config, &state, req);
        let installs = matches!(&resp, Response::IpxeScript(s) if s.contains("\nkernel "))
            || matches!(&resp, Response::GrubConfig(s) if s.contains("\n  linux "));
        if installs {
            if let Err(e) = self.store.mark_booting(req.mac) {
                tracing::error!(mac = %req.mac, "recording the boot: {:#}", anyhow::Error::from(e));
            }
        }
        resp
    }
}

impl kickstand_oci::serve::Layouts for App {
    fn layout(&self, name: &str) -> Option<PathBuf> {
        self.config().images.get(name).map(|i| i.path.clone())
    }
    fn names(&self) -> Vec<String> {
        self.config().images.keys().cloned().collect()
    }
}

/// Listening sockets, bound before anything is served so that errors come first.
#[derive(Debug)]
pub struct Listeners {
    pub http: tokio::net::TcpListener,
    pub tftp: std::net::UdpSocket,
}

impl Listeners {
    pub async fn bind(config: &Config) -> anyhow::Result<Listeners> {
        let http_addr = SocketAddr::new(config.server.listen, config.server.http_port);
        let tftp_addr = SocketAddr::new(config.server.listen, config.server.tftp_port);
        let http = tokio::net::TcpListener::bind(http_addr)
            .await
            .with_context(|| {
                format!("listening for HTTP on {http_addr} (server.listen, server.http_port)")
            })?;
        let tftp = std::net::UdpSocket::bind(tftp_addr).with_context(|| {
            format!("listening for TFTP on {tftp_addr} (server.listen, server.tftp_port)")
        })?;
        Ok(Listeners { http, tftp })
    }
}

/// Runs the servers until SIGINT/SIGTERM. SIGHUP reloads the configuration.
pub async fn run(config_path: &Path) -> anyhow::Result<()> {
    let config = Config::load(config_path)?;
    listener::raise_fd_limit();
    let listeners = Listeners::bind(&config).await?;
    let dhcp = crate::dhcp::Sockets::bind(&config)?;
    let app = App::new(config)?;
    if let Some(sockets) = dhcp {
        let dhcp_app = app.clone();
        tokio::spawn(async move {
            if let Err(e) = crate::dhcp::serve(dhcp_app, sockets).await {
                tracing::error!("DHCP stopped: {e:#}");
            }
        });
    }
    tracing::info!(
        http = %listeners.http.local_addr()?,
        tftp = %listeners.tftp.local_addr()?,
        public_url = %app.config().server.public_url.base(),
        machines = app.config().machines.len(),
        "kickstand serving"
    );
    serve(app, listeners).await
}

/// Serves on already bound sockets (tests bind port 0 and read the addresses).
pub async fn serve(app: Arc<App>, listeners: Listeners) -> anyhow::Result<()> {
    let tftp = tftp::serve(app.clone(), listeners.tftp).await?;
    let tftp = tokio::spawn(tftp);
    let reload_app = app.clone();
    tokio::spawn(async move {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            return;
        };
        while hup.recv().await.is_some() {
            match reload_app.reload() {
                Ok(()) => tracing::info!("configuration reloaded"),
                Err(e) => tracing::error!("{e:#}"),
            }
        }
    });
    let router = http::router(app.clone());
    let shutdown = async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {},
            _ = term.recv() => {},
        }
        tracing::info!("shutting down");
    };
    let http = listener::serve(listeners.http, router, shutdown);
    tokio::select! {
        r = http => r.context("HTTP server")?,
        r = tftp => r.context("TFTP server task")?.context("TFTP server")?,
    }
    Ok(())
}

/// Whether the DHCP sockets of `new` differ from those bound for `old` (the other `[dhcp]`
/// keys apply to the next packet after a reload).
fn dhcp_sockets_differ(old: &crate::config::Dhcp, new: &crate::config::Dhcp) -> bool {
    old.interface != new.interface
        || (old.mode == crate::config::DhcpMode::Off) != (new.mode == crate::config::DhcpMode::Off)
}

/// Parses a MAC from a URL or TFTP path segment.
pub fn mac_of(s: &str) -> Option<MacAddr> {
    s.parse().ok()
}
