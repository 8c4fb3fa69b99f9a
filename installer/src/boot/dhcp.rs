//! A DHCPv4 client as a pure state machine on dhcproto: DISCOVER → OFFER → REQUEST → ACK,
//! retransmissions with RFC 2131's doubling timeouts, NAK handling, renewal at T1 (unicast),
//! rebinding at T2 (broadcast) and expiry — all as transitions on `(now, event)`.
//!
//! It does no I/O and reads no clock: the caller passes the time (any monotonic clock), feeds
//! received packets and timer expiries, sends the packets it is told to send, applies the
//! [`Lease`] it is given (address, route, DNS via rtnetlink) and sleeps until the returned
//! deadline. The transaction id comes from the caller, so tests are deterministic.

use std::net::Ipv4Addr;
use std::time::Duration;

use dhcproto::v4::{DhcpOption, Flags, HType, Message, MessageType, Opcode, OptionCode};
use dhcproto::{Decodable, Encodable};

/// Retransmission policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retries {
    /// Wait after each DISCOVER before sending the next; when exhausted, the client fails.
    pub discover: Vec<Duration>,
    /// Wait after each REQUEST (selecting); when exhausted, the client starts over.
    pub request: Vec<Duration>,
    /// How many times the client may start over (NAK, unanswered REQUEST) before failing.
    pub restarts: u32,
}

impl Default for Retries {
    /// RFC 2131 §4.1: 4, 8, 16, 32, 64 seconds (no random jitter: one client per segment).
    fn default() -> Self {
        let secs = |s: &[u64]| s.iter().map(|s| Duration::from_secs(*s)).collect();
        Self {
            discover: secs(&[4, 8, 16, 32, 64]),
            request: secs(&[4, 8, 16]),
            restarts: 3,
        }
    }
}

/// Client settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub mac: [u8; 6],
    /// Transaction id (random, from the caller).
    pub xid: u32,
    /// Sent as option 12 when set.
    pub hostname: Option<String>,
    /// Option 60.
    pub vendor_class: String,
    pub retries: Retries,
}

impl Config {
    pub fn new(mac: [u8; 6], xid: u32) -> Self {
        Self {
            mac,
            xid,
            hostname: None,
            vendor_class: "kickstand-installer".into(),
            retries: Retries::default(),
        }
    }
}

/// What the server granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub address: Ipv4Addr,
    pub prefix: u8,
    pub routers: Vec<Ipv4Addr>,
    pub dns: Vec<Ipv4Addr>,
    pub domain: Option<String>,
    pub hostname: Option<String>,
    pub broadcast: Option<Ipv4Addr>,
    pub mtu: Option<u16>,
    pub server: Ipv4Addr,
    /// `None` for an infinite lease.
    pub lease_time: Option<Duration>,
    pub renew_after: Option<Duration>,
    pub rebind_after: Option<Duration>,
    /// `siaddr` and `file`: where a network-boot server points.
    pub next_server: Option<Ipv4Addr>,
    pub boot_file: Option<String>,
}

/// Where a packet goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// 255.255.255.255:67 from 0.0.0.0:68.
    Broadcast,
    /// The leasing server, from the leased address (renewal).
    Unicast(Ipv4Addr),
}

/// Something the caller must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Send {
        packet: Vec<u8>,
        to: Destination,
    },
    /// Configure (or reconfigure, after a renewal) the interface with this lease.
    Apply(Lease),
    /// The lease ended (expired or NAKed while bound): remove the address and routes.
    Remove(Lease),
}

/// Why the client gave up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DhcpError {
    #[error(
        "no DHCP server answered {attempts} DISCOVERs over {waited:?} (is the cable in, and a DHCP server on this network?)"
    )]
    NoOffer { attempts: usize, waited: Duration },
    #[error("DHCP failed after {0} restarts (REQUESTs unanswered or refused with NAK)")]
    TooManyRestarts(u32),
}

/// Where the client is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Init,
    Selecting { attempt: usize, since: Duration },
    Requesting { offer: Lease, attempt: usize },
    Bound { lease: Lease, at: Duration },
    Renewing { lease: Lease, at: Duration },
    Rebinding { lease: Lease, at: Duration },
    Failed(DhcpError),
}

/// An input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    Start,
    /// The deadline returned last time has passed.
    Timer,
    /// A UDP payload received on port 68.
    Packet(&'a [u8]),
}

/// The outcome of one transition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Step {
    pub actions: Vec<Action>,
    /// When to deliver [`Event::Timer`]; `None` when nothing is pending.
    pub deadline: Option<Duration>,
}

/// The client.
#[derive(Debug, Clone)]
pub struct Client {
    config: Config,
    state: State,
    started: Duration,
    restarts: u32,
    /// The deadline last returned, kept for events that change nothing.
    pending_deadline: Option<Duration>,
}

/// Minimum retransmission wait while renewing or rebinding (RFC 2131 §4.4.5).
const MIN_RENEW_RETRY: Duration = Duration::from_secs(60);

impl Client {
    pub fn new(config: Config) -> Self {
        Self {
            config,
            state: State::Init,
            started: Duration::ZERO,
            restarts: 0,
            pending_deadline: None,
        }
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    /// Feeds one event at time `now`.
    pub fn handle(&mut self, now: Duration, event: Event<'_>) -> Step {
        match event {
            Event::Start => {
                self.started = now;
                self.restarts = 0;
                self.discover(now, 0)
            }
            Event::Timer => self.timer(now),
            Event::Packet(bytes) => match Message::from_bytes(bytes) {
                Ok(msg) if self.is_ours(&msg) => self.reply(now, &msg),
                // Not for us or not DHCP: nothing changes, the pending deadline stands.
                _ => Step {
                    actions: vec![],
                    deadline: self.pending_deadline,
                },
            },
        }
    }

    fn is_ours(&self, msg: &Message) -> bool {
        msg.opcode() == Opcode::BootReply
            && msg.xid() == self.config.xid
            && msg.chaddr().get(..6) == Some(&self.config.mac[..])
    }

    fn discover(&mut self, now: Duration, attempt: usize) -> Step {
        let wait =
            self.config.retries.discover[attempt.min(self.config.retries.discover.len() - 1)];
        let since = match self.state {
            State::Selecting { since, .. } => since,
            _ => now,
        };
        self.state = State::Selecting { attempt, since };
        let packet = self.packet(now, MessageType::Discover, None);
        self.step(
            vec![Action::Send {
                packet,
                to: Destination::Broadcast,
            }],
            Some(now + wait),
        )
    }

    fn request(&mut self, now: Duration, offer: Lease, attempt: usize) -> Step {
        let wait = self.config.retries.request[attempt];
        let packet = self.packet(now, MessageType::Request, Some(&offer));
        self.state = State::Requesting { offer, attempt };
        self.step(
            vec![Action::Send {
                packet,
                to: Destination::Broadcast,
            }],
            Some(now + wait),
        )
    }

    fn restart(&mut self, now: Duration, mut actions: Vec<Action>) -> Step {
        self.restarts += 1;
        if self.restarts > self.config.retries.restarts {
            self.state = State::Failed(DhcpError::TooManyRestarts(self.config.retries.restarts));
            return self.step(actions, None);
        }
        self.state = State::Init;
        let mut step = self.discover(now, 0);
        actions.append(&mut step.actions);
        step.actions = actions;
        step
    }

    fn step(&mut self, actions: Vec<Action>, deadline: Option<Duration>) -> Step {
        self.pending_deadline = deadline;
        Step { actions, deadline }
    }

    fn timer(&mut self, now: Duration) -> Step {
        match self.state.clone() {
            State::Selecting { attempt, since } => {
                let next = attempt + 1;
                if next >= self.config.retries.discover.len() {
                    self.state = State::Failed(DhcpError::NoOffer {
                        attempts: next,
                        waited: now - since,
                    });
                    return self.step(vec![], None);
                }
                self.discover(now, next)
            }
            State::Requesting { offer, attempt } => {
                if attempt + 1 >= self.config.retries.request.len() {
                    return self.restart(now, vec![]);
                }
                self.request(now, offer, attempt + 1)
            }
            State::Bound { lease, at }
            | State::Renewing { lease, at }
            | State::Rebinding { lease, at } => self.lease_timer(now, lease, at),
            State::Init | State::Failed(_) => self.step(vec![], None),
        }
    }

    /// T1, T2 and expiry of a lease obtained at `at`.
    fn lease_timer(&mut self, now: Duration, lease: Lease, at: Duration) -> Step {
        let (Some(t1), Some(t2), Some(expiry)) =
            (lease.renew_after, lease.rebind_after, lease.lease_time)
        else {
            return self.step(vec![], None);
        };
        let (t1, t2, expiry) = (at + t1, at + t2, at + expiry);
        if now >= expiry {
            return self.restart(now, vec![Action::Remove(lease)]);
        }
        // Retransmit at half the time left to the next stage, at least 60 s apart.
        let retry = |until: Duration| (now + ((until - now) / 2).max(MIN_RENEW_RETRY)).min(until);
        if now >= t2 {
            let packet = self.packet(now, MessageType::Request, Some(&lease));
            self.state = State::Rebinding { lease, at };
            return self.step(
                vec![Action::Send {
                    packet,
                    to: Destination::Broadcast,
                }],
                Some(retry(expiry)),
            );
        }
        if now >= t1 {
            let server = lease.server;
            let packet = self.packet(now, MessageType::Request, Some(&lease));
            self.state = State::Renewing { lease, at };
            return self.step(
                vec![Action::Send {
                    packet,
                    to: Destination::Unicast(server),
                }],
                Some(retry(t2)),
            );
        }
        self.step(vec![], Some(t1))
    }

    fn reply(&mut self, now: Duration, msg: &Message) -> Step {
        let kind = msg.opts().msg_type();
        let server = match msg.opts().get(OptionCode::ServerIdentifier) {
            Some(DhcpOption::ServerIdentifier(ip)) => Some(*ip),
            _ => None,
        };
        match (self.state.clone(), kind) {
            (State::Selecting { .. }, Some(MessageType::Offer)) => match lease_from(msg) {
                // The first acceptable offer wins (as dhclient and systemd-networkd do).
                Some(offer) => self.request(now, offer, 0),
                None => self.step(vec![], self.pending_deadline),
            },
            (State::Requesting { offer, .. }, Some(MessageType::Ack))
                if server.is_none_or(|s| s == offer.server) =>
            {
                match lease_from(msg) {
                    Some(lease) => self.bind(now, lease),
                    None => self.step(vec![], self.pending_deadline),
                }
            }
            (State::Requesting { offer, .. }, Some(MessageType::Nak))
                if server.is_none_or(|s| s == offer.server) =>
            {
                self.restart(now, vec![])
            }
            (
                State::Renewing { lease: old, .. } | State::Rebinding { lease: old, .. },
                Some(MessageType::Ack),
            ) => match lease_from(msg).filter(|l| l.address == old.address) {
                Some(lease) => self.bind(now, lease),
                None => self.step(vec![], self.pending_deadline),
            },
            (
                State::Renewing { lease, .. } | State::Rebinding { lease, .. },
                Some(MessageType::Nak),
            ) => self.restart(now, vec![Action::Remove(lease)]),
            _ => self.step(vec![], self.pending_deadline),
        }
    }

    fn bind(&mut self, now: Duration, lease: Lease) -> Step {
        let t1 = lease.renew_after;
        self.state = State::Bound {
            lease: lease.clone(),
            at: now,
        };
        self.restarts = 0;
        self.step(vec![Action::Apply(lease)], t1.map(|t| now + t))
    }

    /// A client packet; `lease` is the offer (selecting) or the lease (renewing/rebinding).
    fn packet(&self, now: Duration, kind: MessageType, lease: Option<&Lease>) -> Vec<u8> {
        let renewing = matches!(
            self.state,
            State::Bound { .. } | State::Renewing { .. } | State::Rebinding { .. }
        );
        let ciaddr = match (renewing, lease) {
            (true, Some(l)) => l.address,
            _ => Ipv4Addr::UNSPECIFIED,
        };
        let mut msg = Message::new_with_id(
            self.config.xid,
            ciaddr,
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::UNSPECIFIED,
            &self.config.mac,
        );
        msg.set_opcode(Opcode::BootRequest).set_htype(HType::Eth);
        msg.set_secs(
            (now.saturating_sub(self.started))
                .as_secs()
                .min(u16::MAX as u64) as u16,
        );
        if !renewing {
            // No address yet: ask for broadcast replies (unicast to an unconfigured interface
            // does not reach a UDP socket).
            msg.set_flags(Flags::default().set_broadcast());
        }
        let opts = msg.opts_mut();
        opts.insert(DhcpOption::MessageType(kind));
        let mut client_id = vec![1u8];
        client_id.extend_from_slice(&self.config.mac);
        opts.insert(DhcpOption::ClientIdentifier(client_id));
        opts.insert(DhcpOption::ParameterRequestList(vec![
            OptionCode::SubnetMask,
            OptionCode::Router,
            OptionCode::DomainNameServer,
            OptionCode::Hostname,
            OptionCode::DomainName,
            OptionCode::InterfaceMtu,
            OptionCode::BroadcastAddr,
            OptionCode::AddressLeaseTime,
            OptionCode::ServerIdentifier,
            OptionCode::Renewal,
            OptionCode::Rebinding,
        ]));
        opts.insert(DhcpOption::MaxMessageSize(1472));
        opts.insert(DhcpOption::ClassIdentifier(
            self.config.vendor_class.as_bytes().to_vec(),
        ));
        if let Some(h) = &self.config.hostname {
            opts.insert(DhcpOption::Hostname(h.clone()));
        }
        if let (false, Some(offer)) = (renewing, lease) {
            opts.insert(DhcpOption::RequestedIpAddress(offer.address));
            opts.insert(DhcpOption::ServerIdentifier(offer.server));
        }
        let mut bytes = msg
            .to_vec()
            .expect("a client message with valid options always encodes");
        // BOOTP's minimum message size: some relays and servers drop shorter packets.
        if bytes.len() < 300 {
            bytes.resize(300, 0);
        }
        bytes
    }
}

/// Reads a lease out of an OFFER or ACK; `None` when it lacks an address or server id.
fn lease_from(msg: &Message) -> Option<Lease> {
    let address = msg.yiaddr();
    if address.is_unspecified() {
        return None;
    }
    let opts = msg.opts();
    let server = match opts.get(OptionCode::ServerIdentifier) {
        Some(DhcpOption::ServerIdentifier(ip)) => *ip,
        _ => return None,
    };
    let ips = |code| match opts.get(code) {
        Some(DhcpOption::Router(v)) | Some(DhcpOption::DomainNameServer(v)) => v.clone(),
        _ => vec![],
    };
    let secs = |code| match opts.get(code) {
        Some(DhcpOption::AddressLeaseTime(s))
        | Some(DhcpOption::Renewal(s))
        | Some(DhcpOption::Rebinding(s)) => Some(*s),
        _ => None,
    };
    let text = |code| match opts.get(code) {
        Some(DhcpOption::DomainName(s)) | Some(DhcpOption::Hostname(s)) => {
            Some(s.trim_end_matches('\0').to_string())
        }
        _ => None,
    };
    let prefix = match opts.get(OptionCode::SubnetMask) {
        Some(DhcpOption::SubnetMask(m)) => u32::from(*m).leading_ones() as u8,
        // No mask: the classful default, as dhclient does.
        _ => match address.octets()[0] {
            0..=127 => 8,
            128..=191 => 16,
            _ => 24,
        },
    };
    // 0xffffffff is an infinite lease: never renew.
    let lease_secs = secs(OptionCode::AddressLeaseTime).filter(|s| *s != u32::MAX);
    let lease_time = lease_secs.map(|s| Duration::from_secs(s.into()));
    let renew_after =
        lease_secs.map(|s| Duration::from_secs(secs(OptionCode::Renewal).unwrap_or(s / 2).into()));
    let rebind_after = lease_secs.map(|s| {
        Duration::from_secs(
            secs(OptionCode::Rebinding)
                .unwrap_or((s as u64 * 7 / 8) as u32)
                .into(),
        )
    });
    let boot_file = msg
        .fname()
        .map(|f| {
            String::from_utf8_lossy(f)
                .trim_end_matches('\0')
                .to_string()
        })
        .filter(|f| !f.is_empty());
    Some(Lease {
        address,
        prefix,
        routers: ips(OptionCode::Router),
        dns: ips(OptionCode::DomainNameServer),
        domain: text(OptionCode::DomainName),
        hostname: text(OptionCode::Hostname),
        broadcast: match opts.get(OptionCode::BroadcastAddr) {
            Some(DhcpOption::BroadcastAddr(b)) => Some(*b),
            _ => None,
        },
        mtu: match opts.get(OptionCode::InterfaceMtu) {
            Some(DhcpOption::InterfaceMtu(m)) => Some(*m),
            _ => None,
        },
        server,
        lease_time,
        renew_after,
        rebind_after,
        next_server: Some(msg.siaddr()).filter(|a| !a.is_unspecified()),
        boot_file,
    })
}

#[cfg(test)]
mod tests;
