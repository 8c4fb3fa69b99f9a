//! A real registry for tests: Debian's `docker-registry` (the distribution registry) on a free
//! loopback port, or on [`LAB_PORT`] of a [`NetLab`](crate::NetLab) host's address, with its
//! storage in a temporary directory, and `skopeo` to push layouts to it (run where the
//! registry is reachable: in the lab host's namespace for a lab registry). The registry is
//! plain HTTP: clients must be told it is insecure (`--dest-tls-verify=false`,
//! `kickstand.insecure_registry=HOST:PORT`).

use crate::cmd::run;
use crate::error::{Error, Result};
use crate::netlab::Host;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Path of the registry binary from Debian's docker-registry package.
pub const DOCKER_REGISTRY: &str = "/usr/bin/docker-registry";
/// The port a registry in a lab host listens on (the host's namespace is the test's own).
pub const LAB_PORT: u16 = 5000;

/// A running registry; stopped (and its storage removed) on drop.
#[derive(Debug)]
pub struct LocalRegistry {
    child: Child,
    addr: SocketAddr,
    dir: tempfile::TempDir,
    /// The lab host it runs in; `None`: the machine's loopback.
    host: Option<Host>,
}

impl LocalRegistry {
    /// Starts a registry on `127.0.0.1` and waits until `/v2/` answers.
    pub fn start() -> Result<Self> {
        let mut last = None;
        // The free port is found by binding port 0 and releasing it; another process may take
        // it in between, so a registry that fails to come up is retried on a new port.
        for _ in 0..3 {
            match Self::start_once(None) {
                Ok(r) => return Ok(r),
                Err(e) => last = Some(e),
            }
        }
        Err(last.expect("at least one attempt"))
    }

    /// Starts a registry inside lab host `host`, on its address and [`LAB_PORT`], and waits
    /// until `/v2/` answers there.
    pub fn start_in(host: &Host) -> Result<Self> {
        Self::start_once(Some(host))
    }

    fn start_once(host: Option<&Host>) -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("kickstand-registry-")
            .tempdir()
            .map_err(Error::io("creating the registry directory", "/tmp"))?;
        let addr = match host {
            Some(h) => SocketAddr::new(h.address(), LAB_PORT),
            None => {
                let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
                    .and_then(|l| l.local_addr())
                    .map_err(Error::io("finding a free port", "127.0.0.1"))?
                    .port();
                SocketAddr::from((Ipv4Addr::LOCALHOST, port))
            }
        };
        let storage = dir.path().join("storage");
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\n\
                 log:\n  level: warn\n\
                 storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
                 http:\n  addr: {addr}\n",
                storage.display()
            ),
        )
        .map_err(Error::io("writing", &config))?;
        let log_path = dir.path().join("registry.log");
        let log = std::fs::File::create(&log_path).map_err(Error::io("creating", &log_path))?;
        let log_err = log.try_clone().map_err(Error::io("opening", &log_path))?;
        let mut cmd = match host {
            Some(h) => h.command(DOCKER_REGISTRY)?,
            None => Command::new(DOCKER_REGISTRY),
        };
        let child = cmd
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .process_group(0)
            .spawn()
            .map_err(|source| Error::Spawn {
                what: "starting the test registry".into(),
                command: format!("{DOCKER_REGISTRY} serve {}", config.display()),
                source,
            })?;
        let mut registry = Self {
            child,
            addr,
            dir,
            host: host.cloned(),
        };
        registry.wait_ready(Duration::from_secs(20))?;
        Ok(registry)
    }

    fn wait_ready(&mut self, timeout: Duration) -> Result<()> {
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(Error::Asset(format!(
                    "docker-registry exited ({status}) before answering on {}; its log:\n{}",
                    self.addr,
                    self.log()
                )));
            }
            if self.get("/v2/").is_ok_and(|status| status == 200) {
                return Ok(());
            }
            if start.elapsed() > timeout {
                return Err(Error::Asset(format!(
                    "docker-registry did not answer GET /v2/ on {} within {timeout:?}; its log:\n{}",
                    self.addr,
                    self.log()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The HTTP status of `GET path` (a minimal HTTP/1.0 request; no client crate needed),
    /// asked from where the registry runs.
    pub fn get(&self, path: &str) -> std::io::Result<u16> {
        match &self.host {
            Some(h) => h
                .in_netns(|| self.get_here(path))
                .map_err(std::io::Error::other)?,
            None => self.get_here(path),
        }
    }

    fn get_here(&self, path: &str) -> std::io::Result<u16> {
        let mut s = TcpStream::connect_timeout(&self.addr, Duration::from_secs(2))?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        write!(s, "GET {path} HTTP/1.0\r\nHost: {}\r\n\r\n", self.addr)?;
        let mut head = [0u8; 64];
        let n = s.read(&mut head)?;
        let line = String::from_utf8_lossy(&head[..n]);
        line.split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("not an HTTP answer: {line:?}")))
    }

    /// `127.0.0.1:PORT`, or the lab host's `ADDRESS:PORT`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `ADDR/NAME:TAG`, the reference of an image pushed as `NAME:TAG`.
    pub fn reference(&self, name: &str, tag: &str) -> String {
        format!("{}/{name}:{tag}", self.addr)
    }

    /// Pushes the image `layout_tag` of the OCI layout in `layout` as `NAME:TAG` with
    /// `skopeo copy`, and returns its reference.
    pub fn push_layout(
        &self,
        layout: &Path,
        layout_tag: &str,
        name: &str,
        tag: &str,
    ) -> Result<String> {
        let reference = self.reference(name, tag);
        let mut cmd = match &self.host {
            Some(h) => h.command("skopeo")?,
            None => Command::new("skopeo"),
        };
        run(
            "pushing a layout to the test registry",
            cmd.args(["--policy"])
                .arg(self.policy()?)
                .args(["copy", "--quiet", "--dest-tls-verify=false"])
                .arg(format!("oci:{}:{layout_tag}", layout.display()))
                .arg(format!("docker://{reference}")),
        )?;
        Ok(reference)
    }

    /// A containers policy accepting any image, for pushing the tests' own images (written
    /// once into the registry's directory; the host's policy is not consulted or changed).
    fn policy(&self) -> Result<PathBuf> {
        let path = self.dir.path().join("policy.json");
        if !path.exists() {
            std::fs::write(&path, r#"{"default":[{"type":"insecureAcceptAnything"}]}"#)
                .map_err(Error::io("writing", &path))?;
        }
        Ok(path)
    }

    /// The registry's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }
}

impl Drop for LocalRegistry {
    fn drop(&mut self) {
        // The registry runs in its own process group, so nothing it started survives it.
        let pgid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
        let _ = self.child.wait();
    }
}
