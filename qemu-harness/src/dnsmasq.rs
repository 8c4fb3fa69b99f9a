//! dnsmasq as the lab's DHCP + TFTP server: the stand-in boot server until Kickstand's own
//! provisioner exists. It runs in the foreground inside a [`Host`], logging every DHCP
//! exchange, with no DNS (`--port=0`), no config file and a lease file in its own directory.

use crate::error::Result;
use crate::netlab::Host;
use crate::process::Process;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What dnsmasq serves.
#[derive(Debug, Clone, Default)]
pub struct Dnsmasq {
    /// First and last address handed out, e.g. `192.0.2.100`, `192.0.2.199`.
    pub range: (String, String),
    /// Serve this directory over TFTP (read-only, no traversal outside it).
    pub tftp_root: Option<PathBuf>,
    /// Further `--option=value` arguments (dhcp-boot, dhcp-match, ...).
    pub options: Vec<String>,
}

impl Dnsmasq {
    /// DHCP for `first`..=`last`.
    pub fn new(first: &str, last: &str) -> Self {
        Dnsmasq {
            range: (first.into(), last.into()),
            ..Default::default()
        }
    }

    pub fn tftp_root(mut self, dir: impl Into<PathBuf>) -> Self {
        self.tftp_root = Some(dir.into());
        self
    }

    /// Adds a raw dnsmasq option (`--NAME=VALUE` form, without the dashes).
    pub fn option(mut self, option: impl Into<String>) -> Self {
        self.options.push(option.into());
        self
    }

    /// Starts dnsmasq on `host`'s `eth0` and waits until it serves DHCP.
    pub fn start(&self, host: &Host, state_dir: &Path) -> Result<Process> {
        let mut cmd = host.command("dnsmasq")?;
        cmd.args(["--keep-in-foreground", "--conf-file=/dev/null", "--port=0"])
            .args(["--interface=eth0", "--bind-interfaces", "--log-dhcp"])
            .args([
                "--log-facility=-",
                "--user=root",
                "--group=root",
                "--pid-file=",
            ])
            .arg(format!(
                "--dhcp-leasefile={}",
                state_dir.join("dnsmasq.leases").display()
            ))
            .arg(format!(
                "--dhcp-range={},{},255.255.255.0,1h",
                self.range.0, self.range.1
            ));
        if let Some(root) = &self.tftp_root {
            cmd.arg("--enable-tftp")
                .arg(format!("--tftp-root={}", root.display()))
                .arg("--tftp-secure");
        }
        cmd.args(self.options.iter().map(|o| format!("--{o}")));
        let mut process = host.spawn("dnsmasq", cmd)?;
        process.wait_for_output("DHCP, IP range", Duration::from_secs(20))?;
        Ok(process)
    }
}
