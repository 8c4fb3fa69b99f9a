//! `kickstand machines list | show MAC | reinstall MAC`: the fleet from a running server.

use crate::serve::api::{FleetMachine, MachineDetail};
use anyhow::{Context, bail};
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;

#[derive(Debug, clap::Args)]
pub struct Server {
    /// The server's URL (its `server.public_url`, or loopback on the server itself).
    #[arg(
        long,
        env = "KICKSTAND_SERVER",
        default_value = "http://127.0.0.1:8080"
    )]
    pub server: String,
    /// A file holding the operator token (the server's `[api] token_file`), sent as
    /// `Authorization: Bearer`; re-arming from another host needs it.
    #[arg(long, env = "KICKSTAND_TOKEN_FILE")]
    pub token_file: Option<std::path::PathBuf>,
}

impl Server {
    fn token(&self) -> anyhow::Result<Option<String>> {
        let Some(path) = &self.token_file else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the operator token from {}", path.display()))?;
        Ok(Some(text.trim().to_string()))
    }
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Every machine: status, progress and last event.
    List {
        #[command(flatten)]
        server: Server,
        /// Print the API's JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// One machine with its recent events.
    Show {
        mac: String,
        #[command(flatten)]
        server: Server,
    },
    /// Re-arm a machine: its next network boot installs again.
    Reinstall {
        mac: String,
        #[command(flatten)]
        server: Server,
    },
}

pub fn run(cmd: Command) -> anyhow::Result<()> {
    let rt = super::runtime()?;
    match cmd {
        Command::List { server, json } => {
            let body = rt.block_on(call(&server, "GET", "/api/v1/machines"))?;
            if json {
                println!("{body}");
            } else {
                let rows: Vec<FleetMachine> =
                    serde_json::from_str(&body).context("decoding the server's answer")?;
                print!("{}", table(&rows, now()));
            }
        }
        Command::Show { mac, server } => {
            let mac = check_mac(&mac)?;
            let body = rt.block_on(call(&server, "GET", &format!("/api/v1/machines/{mac}")))?;
            let d: MachineDetail =
                serde_json::from_str(&body).context("decoding the server's answer")?;
            print!("{}", table(std::slice::from_ref(&d.machine), now()));
            if let Some(e) = &d.machine.state.error {
                println!("\nerror: {e}");
            }
            println!("\nevents:");
            for e in &d.events {
                println!("  {}  {}", ago(now(), e.at), e.event);
            }
        }
        Command::Reinstall { mac, server } => {
            let mac = check_mac(&mac)?;
            rt.block_on(call(
                &server,
                "POST",
                &format!("/api/v1/machines/{mac}/reinstall"),
            ))?;
            println!("{mac}: re-armed; its next network boot installs again");
        }
    }
    Ok(())
}

fn check_mac(s: &str) -> anyhow::Result<crate::mac::MacAddr> {
    Ok(s.parse()?)
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn ago(now: i64, t: i64) -> String {
    if t == 0 {
        return "never".into();
    }
    let d = (now - t).max(0);
    match d {
        0..60 => format!("{d}s ago"),
        60..3600 => format!("{}m ago", d / 60),
        3600..86400 => format!("{}h ago", d / 3600),
        _ => format!("{}d ago", d / 86400),
    }
}

/// The fleet as an aligned table.
pub fn table(rows: &[FleetMachine], now: i64) -> String {
    let mut lines = vec![
        [
            "MAC",
            "HOSTNAME",
            "PROFILE",
            "STATUS",
            "PROGRESS",
            "UPDATED",
            "LAST EVENT",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for m in rows {
        let last = match (&m.state.status[..], &m.state.error) {
            ("failed", Some(e)) => format!("failed: {e}"),
            _ => m.state.last_event.clone().unwrap_or_default(),
        };
        lines.push(vec![
            m.state.mac.clone(),
            m.hostname.clone().unwrap_or_else(|| "-".into()),
            m.profile.clone().unwrap_or_else(|| "(none)".into()),
            m.state.status.clone(),
            m.state.progress.map_or("-".into(), |p| format!("{p}%")),
            ago(now, m.state.updated_at),
            last.chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .take(80)
                .collect(),
        ]);
    }
    let widths: Vec<usize> = (0..7)
        .map(|i| {
            lines
                .iter()
                .map(|l| l[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for l in &lines {
        let cells: Vec<String> = l
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// One plain-HTTP request to the API; non-2xx answers become errors with the server's message.
async fn call(args: &Server, method: &str, path: &str) -> anyhow::Result<String> {
    let token = args.token()?;
    let server = args.server.as_str();
    let Some(authority) = server.trim_end_matches('/').strip_prefix("http://") else {
        bail!("--server must be an http:// URL (the API is plain HTTP), found {server:?}");
    };
    let stream = tokio::net::TcpStream::connect(authority)
        .await
        .with_context(|| format!("connecting to the kickstand server at {server} (is `kickstand serve` running? --server)"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header(hyper::header::HOST, authority);
    if let Some(t) = token {
        req = req.header(hyper::header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let req = req.body(Full::new(Bytes::new()))?;
    let resp = sender
        .send_request(req)
        .await
        .with_context(|| format!("{method} {server}{path}"))?;
    let status = resp.status();
    let body = resp.into_body().collect().await?.to_bytes();
    let text = String::from_utf8_lossy(&body).into_owned();
    if !status.is_success() {
        let msg = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.get("error")?.as_str().map(String::from))
            .unwrap_or(text);
        bail!("{method} {server}{path}: {status}: {msg}");
    }
    Ok(text)
}
