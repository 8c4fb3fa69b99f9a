//! The DHCP client on a real socket: the pure state machine of [`crate::boot::dhcp`] driven
//! over a UDP socket bound to port 68 on one interface (`SO_BINDTODEVICE`, broadcast
//! allowed). Replies come back broadcast (the client sets the BOOTP broadcast flag), which
//! reaches a socket on an interface that has no address yet; renewals are unicast from the
//! leased address.
//!
//! [`Session::acquire`] returns at the first lease; [`Session::maintain`] then keeps it
//! (renewal at T1, rebinding at T2) for as long as the installer runs.

use crate::boot::dhcp::{Action, Client, Config, Destination, Event, Lease, State, Step};
use crate::boot::netplan::Nic;
use anyhow::{Context, Result, bail};
use nix::sys::socket::{
    AddressFamily, SockFlag, SockType, SockaddrIn, bind, setsockopt, socket, sockopt,
};
use std::ffi::OsString;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;

/// A DHCP client bound to one interface.
#[derive(Debug)]
pub struct Session {
    socket: UdpSocket,
    client: Client,
    started: Instant,
    deadline: Option<Duration>,
    interface: String,
}

fn random_xid() -> u32 {
    use std::io::Read;
    let mut b = [0u8; 4];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom")
        && f.read_exact(&mut b).is_ok()
    {
        return u32::from_ne_bytes(b);
    }
    std::process::id() ^ Instant::now().elapsed().subsec_nanos()
}

fn bound_socket(interface: &str) -> Result<UdpSocket> {
    let fd = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        None,
    )
    .context("creating the DHCP socket")?;
    setsockopt(&fd, sockopt::ReuseAddr, &true).context("SO_REUSEADDR on the DHCP socket")?;
    setsockopt(&fd, sockopt::Broadcast, &true).context("SO_BROADCAST on the DHCP socket")?;
    setsockopt(&fd, sockopt::BindToDevice, &OsString::from(interface))
        .with_context(|| format!("binding the DHCP socket to {interface}"))?;
    bind(
        std::os::fd::AsRawFd::as_raw_fd(&fd),
        &SockaddrIn::from(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68)),
    )
    .context("binding the DHCP socket to port 68")?;
    let std_socket = std::net::UdpSocket::from(fd);
    UdpSocket::from_std(std_socket).context("registering the DHCP socket")
}

impl Session {
    /// A client for `nic` (sends option 12 with `hostname` when given).
    pub fn new(nic: &Nic, hostname: Option<String>) -> Result<Self> {
        let mut config = Config::new(nic.mac, random_xid());
        config.hostname = hostname;
        Ok(Session {
            socket: bound_socket(&nic.name)?,
            client: Client::new(config),
            started: Instant::now(),
            deadline: None,
            interface: nic.name.clone(),
        })
    }

    fn now(&self) -> Duration {
        self.started.elapsed()
    }

    /// Sends what a step says and returns the leases it applies or removes.
    async fn perform(&mut self, step: Step) -> Result<Vec<Action>> {
        self.deadline = step.deadline;
        let mut rest = Vec::new();
        for action in step.actions {
            match action {
                Action::Send { packet, to } => {
                    let dest = match to {
                        Destination::Broadcast => SocketAddrV4::new(Ipv4Addr::BROADCAST, 67),
                        Destination::Unicast(ip) => SocketAddrV4::new(ip, 67),
                    };
                    if let Err(e) = self.socket.send_to(&packet, dest).await {
                        // A send that fails (no route yet, link flapping) is retried by the
                        // state machine's own timers.
                        tracing::warn!("DHCP on {}: sending to {dest}: {e}", self.interface);
                    }
                }
                other => rest.push(other),
            }
        }
        Ok(rest)
    }

    /// Waits for the next packet or the deadline and feeds it to the client.
    async fn next(&mut self) -> Result<Vec<Action>> {
        let mut buf = vec![0u8; 1500];
        let wait = self
            .deadline
            .map(|d| d.saturating_sub(self.now()))
            .unwrap_or(Duration::from_secs(3600));
        let got = tokio::select! {
            r = self.socket.recv_from(&mut buf) => {
                let (n, _) = r.with_context(|| format!("receiving DHCP on {}", self.interface))?;
                Some(n)
            }
            _ = tokio::time::sleep(wait) => None,
        };
        let now = self.now();
        let step = match got {
            Some(n) => self.client.handle(now, Event::Packet(&buf[..n])),
            None => self.client.handle(now, Event::Timer),
        };
        self.perform(step).await
    }

    /// DISCOVER → OFFER → REQUEST → ACK; returns the lease, or the client's reason for giving
    /// up (no server answered, NAKs).
    pub async fn acquire(&mut self) -> Result<Lease> {
        let now = self.now();
        let step = self.client.handle(now, Event::Start);
        let mut actions = self.perform(step).await?;
        loop {
            for a in actions {
                if let Action::Apply(lease) = a {
                    return Ok(lease);
                }
            }
            if let State::Failed(e) = self.client.state() {
                bail!("DHCP on {}: {e}", self.interface);
            }
            actions = self.next().await?;
        }
    }

    /// Keeps the lease: calls `on_change(Some(lease))` after a renewal and `on_change(None)`
    /// when it is lost. Runs until the client gives up.
    pub async fn maintain(mut self, mut on_change: impl FnMut(Option<Lease>)) {
        loop {
            match self.next().await {
                Ok(actions) => {
                    for a in actions {
                        match a {
                            Action::Apply(lease) => on_change(Some(lease)),
                            Action::Remove(_) => on_change(None),
                            Action::Send { .. } => {}
                        }
                    }
                }
                Err(e) => tracing::warn!("{e:#}"),
            }
            if let State::Failed(e) = self.client.state() {
                tracing::warn!("DHCP on {}: {e}; the lease was not renewed", self.interface);
                return;
            }
        }
    }
}
