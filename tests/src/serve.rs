//! A real `kickstand serve` (the release binary) inside a [`NetLab`] host, serving TFTP and
//! HTTP to the lab's VMs; dnsmasq only answers DHCP and points the firmware at it.

use qemu_harness::{Host, Process};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The HTTP port kickstand listens on in the lab (TFTP is on 69).
pub const HTTP_PORT: u16 = 8080;

/// A machine of the inventory: its MAC and host name.
#[derive(Debug, Clone, Copy)]
pub struct Machine<'a> {
    pub mac: &'a str,
    pub hostname: &'a str,
}

/// What the one profile boots.
#[derive(Debug, Clone)]
pub struct Profile {
    pub kernel: PathBuf,
    pub initramfs: PathBuf,
    pub cmdline: String,
}

/// `kickstand serve` running in a lab host; killed on drop (the lab kills it too).
#[derive(Debug)]
pub struct LabKickstand {
    pub process: Process,
    host: Host,
    base: String,
}

impl LabKickstand {
    /// Writes `kickstand.toml` into `dir` (one profile `smoke`, the given machines, no
    /// `[unknown]` profile) and starts the server on `host`'s address; returns once it
    /// accepts HTTP connections.
    pub fn start(host: &Host, dir: &Path, profile: &Profile, machines: &[Machine]) -> LabKickstand {
        let addr = host.address();
        std::fs::write(dir.join("smoke.ks"), "reboot\n").unwrap();
        let mut config = format!(
            "[server]\nlisten = \"{addr}\"\nhttp_port = {HTTP_PORT}\ntftp_port = 69\n\
             public_url = \"http://{addr}:{HTTP_PORT}\"\nstate_dir = \"state\"\n\n\
             [dhcp]\nmode = \"off\"\n\n\
             [profiles.smoke]\nkernel = {:?}\ninitramfs = {:?}\nkickstart = \"smoke.ks\"\ncmdline = {:?}\n",
            profile.kernel.display().to_string(),
            profile.initramfs.display().to_string(),
            profile.cmdline,
        );
        for m in machines {
            config.push_str(&format!(
                "\n[[machines]]\nmac = \"{}\"\nprofile = \"smoke\"\nhostname = \"{}\"\n",
                m.mac, m.hostname
            ));
        }
        LabKickstand::with_config(host, dir, &config)
    }

    /// Writes `config` as `kickstand.toml` into `dir` and starts the server with it on `host`;
    /// returns once it accepts HTTP connections on [`HTTP_PORT`].
    pub fn with_config(host: &Host, dir: &Path, config: &str) -> LabKickstand {
        let base = format!("http://{}:{HTTP_PORT}", host.address());
        let path = dir.join("kickstand.toml");
        std::fs::write(&path, config).unwrap();
        let mut cmd = host.command(crate::bin("kickstand")).unwrap();
        cmd.arg("serve")
            .arg("--config")
            .arg(&path)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1");
        let process = host.spawn("kickstand", cmd).unwrap();
        host.wait_for_tcp(HTTP_PORT, Duration::from_secs(30))
            .unwrap_or_else(|e| {
                panic!(
                    "{e}\n{}",
                    std::fs::read_to_string(process.log()).unwrap_or_default()
                )
            });
        LabKickstand {
            process,
            host: host.clone(),
            base,
        }
    }

    /// `http://ADDRESS:PORT`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Reports the install of `mac` done, as the installer does at its end (an unauthenticated
    /// event post from the lab host).
    pub fn post_done(&self, mac: &str) {
        let url = format!("{}/api/v1/machines/{mac}/events", self.base);
        let out = self
            .host
            .run(
                "posting the done event",
                "curl",
                &[
                    "-sS",
                    "-f",
                    "-X",
                    "POST",
                    "-H",
                    "Content-Type: application/x-ndjson",
                    "--data-binary",
                    "{\"event\":\"done\",\"message\":\"installed by the smoke test\"}\n",
                    &url,
                ],
            )
            .unwrap();
        assert!(out.contains("\"installed\""), "done event not taken: {out}");
    }

    /// Waits until one line of the server's log contains every one of `needles`; panics with
    /// the log when `timeout` passes first.
    pub fn wait_for_log(&self, needles: &[&str], timeout: Duration) {
        let start = std::time::Instant::now();
        while start.elapsed() < timeout {
            if self
                .log()
                .lines()
                .any(|l| needles.iter().all(|n| l.contains(n)))
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "kickstand did not log a line with {needles:?} within {timeout:?}:\n{}",
            self.log()
        );
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        self.process.output()
    }
}
