//! [`NetLab`]: a private provisioning network made of Linux network namespaces.
//!
//! A lab is one "switch" namespace holding a bridge (`br0`), plus one namespace per host. Each
//! host gets a veth pair: `eth0` inside the host's namespace with the host's address, the peer
//! enslaved to the bridge. VMs attach through tap devices created in the switch namespace, and
//! QEMU is started inside that namespace. Every interface lives in a namespace the lab created,
//! so nothing appears in the host's own network namespace and **no traffic can leave the lab**:
//! there is no route, NAT or interface towards the outside. Addresses are checked to be from
//! ranges reserved for private use or documentation.
//!
//! Names are unique per process and lab (`ks-PID-N-ROLE`), so tests run side by side. `Drop`
//! kills every process still inside the lab's namespaces and deletes the namespaces (which
//! removes the bridge, veths and taps), also when the test panics. A lab left behind by a test
//! process that was killed outright is removed by the next `NetLab::new` on the machine.

use crate::error::{Error, Result};
use crate::netns;
use crate::process::Process;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

const PREFIX: &str = "ks-";

/// A tap device on a lab's bridge, for one VM NIC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tap {
    /// The device name inside the lab's switch namespace.
    pub name: String,
    /// The switch namespace (QEMU must run there to open the tap).
    pub netns: String,
}

/// A host of a lab: a network namespace with `eth0` on the lab's bridge.
#[derive(Debug, Clone)]
pub struct Host {
    name: String,
    netns: String,
    address: IpAddr,
    log_dir: PathBuf,
}

/// A provisioning network; see the module documentation.
#[derive(Debug)]
pub struct NetLab {
    id: String,
    switch: String,
    namespaces: Vec<String>,
    taps: u32,
    hosts: u32,
    log_dir: tempfile::TempDir,
}

impl NetLab {
    /// Creates the lab's switch namespace and bridge. `label` names the lab in messages.
    pub fn new(label: &str) -> Result<NetLab> {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        remove_stale_labs();
        let id = format!(
            "{PREFIX}{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let log_dir = tempfile::Builder::new()
            .prefix(&format!("netlab-{label}-"))
            .tempdir()
            .map_err(Error::io(
                "creating the lab's log directory",
                std::env::temp_dir(),
            ))?;
        let mut lab = NetLab {
            switch: format!("{id}-sw"),
            id,
            namespaces: Vec::new(),
            taps: 0,
            hosts: 0,
            log_dir,
        };
        let sw = lab.switch.clone();
        lab.add_namespace(&sw)?;
        lab.ip(&[
            "-n",
            &sw,
            "link",
            "add",
            "br0",
            "type",
            "bridge",
            "stp_state",
            "0",
        ])?;
        lab.ip(&["-n", &sw, "link", "set", "br0", "up"])?;
        eprintln!("qemu-harness: network lab {label}: namespace {sw}");
        Ok(lab)
    }

    /// The lab's unique id (the prefix of its namespace names).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The switch namespace (bridge and taps).
    pub fn switch_netns(&self) -> &str {
        &self.switch
    }

    /// Where the lab's processes write their output.
    pub fn log_dir(&self) -> &Path {
        self.log_dir.path()
    }

    /// Adds a host `name` with address `cidr` (e.g. `192.0.2.1/24`) on `eth0`.
    pub fn add_host(&mut self, name: &str, cidr: &str) -> Result<Host> {
        let address = self.check_cidr(cidr)?;
        let ns = format!("{}-{name}", self.id);
        self.add_namespace(&ns)?;
        let port = format!("vh{}", self.hosts);
        self.hosts += 1;
        let sw = self.switch.clone();
        self.ip(&[
            "-n", &sw, "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns", &ns,
        ])?;
        self.ip(&["-n", &sw, "link", "set", &port, "master", "br0", "up"])?;
        self.ip(&["-n", &ns, "addr", "add", cidr, "dev", "eth0"])?;
        self.ip(&["-n", &ns, "link", "set", "eth0", "up"])?;
        Ok(Host {
            name: name.to_string(),
            netns: ns,
            address,
            log_dir: self.log_dir.path().to_path_buf(),
        })
    }

    /// Adds another address to a host's `eth0`.
    pub fn add_address(&mut self, host: &Host, cidr: &str) -> Result<()> {
        self.check_cidr(cidr)?;
        self.ip(&["-n", &host.netns, "addr", "add", cidr, "dev", "eth0"])
    }

    /// Adds a tap device on the bridge for a VM NIC ([`crate::Nic::tap`]).
    pub fn add_tap(&mut self) -> Result<Tap> {
        let name = format!("tap{}", self.taps);
        self.taps += 1;
        let sw = self.switch.clone();
        self.ip(&["-n", &sw, "tuntap", "add", "dev", &name, "mode", "tap"])?;
        self.ip(&["-n", &sw, "link", "set", &name, "master", "br0", "up"])?;
        Ok(Tap { name, netns: sw })
    }

    fn add_namespace(&mut self, ns: &str) -> Result<()> {
        self.ip(&["netns", "add", ns])?;
        self.namespaces.push(ns.to_string());
        self.ip(&["-n", ns, "link", "set", "lo", "up"])?;
        // No duplicate address detection: addresses are usable at once, nothing else is there.
        let _ = crate::cmd::run(
            "disabling IPv6 DAD",
            Command::new("ip")
                .args(["netns", "exec", ns, "sysctl", "-qw"])
                .args([
                    "net.ipv6.conf.default.accept_dad=0",
                    "net.ipv6.conf.all.accept_dad=0",
                ]),
        );
        Ok(())
    }

    fn check_cidr(&self, cidr: &str) -> Result<IpAddr> {
        let bad = |why: &str| Error::NetLab {
            lab: self.id.clone(),
            message: format!("address {cidr:?}: {why}"),
        };
        let (addr, prefix) = cidr
            .split_once('/')
            .ok_or_else(|| bad("expected ADDRESS/PREFIX, e.g. 192.0.2.1/24"))?;
        let addr: IpAddr = addr.parse().map_err(|_| bad("not an IP address"))?;
        prefix
            .parse::<u8>()
            .ok()
            .filter(|&p| p <= if addr.is_ipv4() { 32 } else { 128 })
            .ok_or_else(|| bad("bad prefix length"))?;
        if !is_lab_address(addr) {
            return Err(bad(
                "labs use only 10.0.0.0/8, 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, \
                 2001:db8::/32 or fd00::/8",
            ));
        }
        Ok(addr)
    }

    fn ip(&self, args: &[&str]) -> Result<()> {
        crate::cmd::run(
            &format!("network lab {}", self.id),
            Command::new("ip").args(args),
        )
        .map(drop)
    }
}

impl Drop for NetLab {
    fn drop(&mut self) {
        for ns in self.namespaces.iter().rev() {
            remove_namespace(ns);
        }
    }
}

/// Whether `addr` is from a range a lab may use (private or documentation ranges only).
pub fn is_lab_address(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(a) => {
            let o = a.octets();
            o[0] == 10
                || o[..3] == [192, 0, 2]
                || o[..3] == [198, 51, 100]
                || o[..3] == [203, 0, 113]
        }
        IpAddr::V6(a) => {
            let s = a.segments();
            (s[0] == 0x2001 && s[1] == 0x0db8) || (s[0] & 0xff00) == 0xfd00
        }
    }
}

/// Kills every process in namespace `ns` and deletes it (taking its interfaces with it).
fn remove_namespace(ns: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let pids = crate::cmd::run(
            "listing processes",
            Command::new("ip").args(["netns", "pids", ns]),
        )
        .unwrap_or_default();
        let pids: Vec<i32> = pids
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect();
        if pids.is_empty() || Instant::now() > deadline {
            break;
        }
        for pid in pids {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    if let Err(e) = crate::cmd::run(
        "deleting network namespace",
        Command::new("ip").args(["netns", "delete", ns]),
    ) {
        eprintln!("qemu-harness: {e}");
    }
}

/// Removes the namespaces of labs whose process no longer exists.
fn remove_stale_labs() {
    let Ok(entries) = std::fs::read_dir("/run/netns") else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            eprintln!("qemu-harness: removing stale network namespace {name}");
            remove_namespace(&name);
        }
    }
}

impl Host {
    /// The host's name in the lab.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its network namespace.
    pub fn netns(&self) -> &str {
        &self.netns
    }

    /// Its (first) address.
    pub fn address(&self) -> IpAddr {
        self.address
    }

    /// A command that will run inside this host's namespace.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Result<Command> {
        let mut cmd = Command::new(program);
        netns::enter_in_child(&mut cmd, &self.netns)?;
        Ok(cmd)
    }

    /// Starts a background process (from [`Host::command`]) logging to the lab's log directory
    /// as `NAME.log`; it is killed when the returned [`Process`] or the lab is dropped.
    pub fn spawn(&self, name: &str, cmd: Command) -> Result<Process> {
        let log = self.log_dir.join(format!("{}-{name}.log", self.name));
        Process::spawn(&format!("{name} on {}", self.name), cmd, &log)
    }

    /// Runs a command inside the host to completion and returns its stdout.
    pub fn run(&self, what: &str, program: &str, args: &[&str]) -> Result<String> {
        let mut cmd = self.command(program)?;
        cmd.args(args);
        crate::cmd::run(what, &mut cmd)
    }

    /// Runs `f` on a thread inside this host's namespace (e.g. to bind a server socket there).
    pub fn in_netns<R: Send>(&self, f: impl FnOnce() -> R + Send) -> Result<R> {
        netns::run_in(&self.netns, f)
    }

    /// Waits until something in the host accepts TCP connections on `port`.
    pub fn wait_for_tcp(&self, port: u16, timeout: Duration) -> Result<()> {
        let addr = std::net::SocketAddr::new(self.address, port);
        let start = Instant::now();
        let ok = self.in_netns(|| {
            while start.elapsed() < timeout {
                if std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                    return true;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            false
        })?;
        if ok {
            Ok(())
        } else {
            Err(Error::NetLab {
                lab: self.netns.clone(),
                message: format!("nothing accepted connections on {addr} within {timeout:?}"),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_private_and_documentation_ranges() {
        for ok in [
            "10.1.2.3",
            "192.0.2.1",
            "198.51.100.7",
            "203.0.113.9",
            "2001:db8::1",
            "fd12::1",
        ] {
            assert!(is_lab_address(ok.parse().unwrap()), "{ok}");
        }
        for bad in [
            "192.168.1.1",
            "8.8.8.8",
            "172.16.0.1",
            "2001:4860::1",
            "fe80::1",
        ] {
            assert!(!is_lab_address(bad.parse().unwrap()), "{bad}");
        }
    }
}
