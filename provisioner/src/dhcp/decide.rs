//! The DHCP decision: (configuration, the machine's state, the leases, where the packet came
//! from, the request) → a reply or none, and the lease change to record. Pure: no I/O, no
//! clock (the caller passes `now`). What a machine boots comes from [`boot::respond`], the
//! same decision TFTP and HTTP use; this only puts it into DHCP terms.

use super::leases::{Lease, LeaseChange, LeaseState, LeaseTable, OFFER_HOLD_SECS};
use super::packet::Request;
use crate::boot::{self, Arch, Client, MachineState, Response};
use crate::config::{Config, DhcpMode};
use dhcproto::v4::{self, DhcpOption, MessageType, Opcode, OptionCode, UnknownOption};
use std::net::{Ipv4Addr, SocketAddrV4};

/// The PXE boot server discovery port (some UEFI firmware and iPXE ask there).
pub const PXE_PORT: u16 = 4011;
const SERVER_PORT: u16 = 67;
const CLIENT_PORT: u16 = 68;

/// Where and how a request arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arrival {
    /// The sender (a client, or a relay agent).
    pub src: SocketAddrV4,
    /// The port it arrived on: 67, or [`PXE_PORT`].
    pub port: u16,
    /// Our address on the interface it arrived on, and that network's mask.
    pub server: Ipv4Addr,
    pub netmask: Ipv4Addr,
}

/// A reply to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub message: v4::Message,
    pub to: SocketAddrV4,
}

/// The decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub reply: Option<Reply>,
    pub lease: Option<LeaseChange>,
    /// Why, for the log.
    pub why: String,
}

impl Outcome {
    fn ignore(why: impl Into<String>) -> Outcome {
        Outcome {
            reply: None,
            lease: None,
            why: why.into(),
        }
    }
}

/// What a boot client is told to load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Boot {
    /// A TFTP file name, or a full URL (HTTP Boot firmware; iPXE's script).
    pub file: String,
    /// Answer as HTTP Boot (option 60 `HTTPClient`).
    pub http: bool,
}

/// The boot file for a PXE/HTTP Boot/iPXE client, from [`boot::respond`]. `None` for other
/// clients (an OS's DHCP client), unsupported architectures, and machines that get nothing.
pub fn boot_for(config: &Config, state: &MachineState, req: &Request) -> Option<Boot> {
    let http_client = req.is_http_client();
    if !(req.is_pxe() || http_client || req.ipxe) {
        return None;
    }
    // PXE ROMs old enough to omit option 93 are BIOS ones.
    let (arch, http_arch) = Arch::from_option93(req.arch.unwrap_or(0))?;
    let http = !req.ipxe && (http_client || http_arch);
    let request = boot::Request {
        mac: req.mac,
        arch,
        client: if req.ipxe {
            Client::Ipxe
        } else {
            Client::Firmware
        },
        http,
    };
    match boot::respond(config, state, &request) {
        Response::Chainload { file, url } => Some(Boot {
            file: if http { url? } else { file.name },
            http,
        }),
        Response::IpxeScript(_) => Some(Boot {
            file: format!("{}/ipxe/{}", config.server.public_url.base(), req.mac),
            http: false,
        }),
        Response::GrubConfig(_) | Response::Ignore => None,
    }
}

/// Decides the answer to `req`. `state` is the machine's inventory state, `leases` the
/// full-mode lease table, `now` the time in Unix seconds.
pub fn decide(
    config: &Config,
    state: &MachineState,
    leases: &LeaseTable,
    now: u64,
    at: &Arrival,
    req: &Request,
) -> Outcome {
    let mode = config.dhcp.mode;
    if mode == DhcpMode::Off {
        return Outcome::ignore("[dhcp] mode is off");
    }
    if config.profile_for(&req.mac).is_none() {
        return Outcome::ignore("not in the inventory and no [unknown] profile");
    }
    let boot = boot_for(config, state, req);
    if mode == DhcpMode::Proxy || at.port == PXE_PORT {
        return proxy(req, at, boot);
    }
    full(config, leases, now, at, req, boot)
}

/// ProxyDHCP: boot information only, never an address.
fn proxy(req: &Request, at: &Arrival, boot: Option<Boot>) -> Outcome {
    let Some(boot) = boot else {
        return Outcome::ignore("not a PXE or HTTP Boot client (ProxyDHCP answers only those)");
    };
    let kind = match (req.kind, at.port) {
        (MessageType::Discover, SERVER_PORT) => MessageType::Offer,
        (MessageType::Request | MessageType::Inform, PXE_PORT) => MessageType::Ack,
        (MessageType::Request, _) if req.server_id == Some(at.server) => MessageType::Ack,
        (MessageType::Request, _) => {
            return Outcome::ignore("a DHCPREQUEST for another server");
        }
        (k, p) => return Outcome::ignore(format!("{k:?} on port {p}: nothing to answer")),
    };
    let mut m = reply(req, kind, at.server);
    add_boot(&mut m, req, at, &boot, true);
    Outcome {
        why: format!("ProxyDHCP {kind:?}: {}", boot.file),
        reply: Some(Reply {
            to: destination(req, at, kind),
            message: m,
        }),
        lease: None,
    }
}

/// A DHCP server with a pool.
fn full(
    config: &Config,
    leases: &LeaseTable,
    now: u64,
    at: &Arrival,
    req: &Request,
    boot: Option<Boot>,
) -> Outcome {
    let pool = Pool {
        config,
        leases,
        now,
        server: at.server,
    };
    let lease_secs = config
        .dhcp
        .lease_time
        .as_secs()
        .clamp(60, u64::from(u32::MAX));
    let answer = |kind: MessageType, ip: Ipv4Addr, change: Option<LeaseChange>, why: String| {
        let mut m = reply(req, kind, at.server);
        if kind != MessageType::Nak {
            if kind != MessageType::Ack || req.kind != MessageType::Inform {
                m.set_yiaddr(ip);
                let secs = lease_secs as u32;
                let opts = m.opts_mut();
                opts.insert(DhcpOption::AddressLeaseTime(secs));
                opts.insert(DhcpOption::Renewal(secs / 2));
                opts.insert(DhcpOption::Rebinding(secs / 8 * 7));
            } else {
                m.set_ciaddr(req.ciaddr);
            }
            network_options(&mut m, config, at, req);
            if let Some(boot) = &boot {
                add_boot(&mut m, req, at, boot, false);
            }
        }
        Outcome {
            reply: Some(Reply {
                to: destination(req, at, kind),
                message: m,
            }),
            lease: change,
            why,
        }
    };
    let bind = |ip: Ipv4Addr, state: LeaseState, secs: u64| {
        Some(LeaseChange::Put(Lease {
            ip,
            mac: req.mac,
            expires: now + secs,
            state,
        }))
    };
    match req.kind {
        MessageType::Discover => match pool.allocate(req) {
            Some(ip) => {
                // A bound lease running longer than the offer hold is not shortened.
                let holds = leases.holder(ip).is_some_and(|l| {
                    l.mac == req.mac
                        && l.state == LeaseState::Bound
                        && l.expires > now + OFFER_HOLD_SECS
                });
                let change = if holds {
                    None
                } else {
                    bind(ip, LeaseState::Offered, OFFER_HOLD_SECS)
                };
                answer(MessageType::Offer, ip, change, format!("offering {ip}"))
            }
            None => Outcome::ignore("the address pool is exhausted"),
        },
        MessageType::Request => {
            if let Some(id) = req.server_id {
                if id != at.server {
                    return Outcome::ignore(format!("the client chose the server {id}"));
                }
            }
            let wanted = req
                .requested_ip
                .or_else(|| (!req.ciaddr.is_unspecified()).then_some(req.ciaddr));
            match wanted {
                Some(ip) if pool.acceptable(ip, req.mac) => answer(
                    MessageType::Ack,
                    ip,
                    bind(ip, LeaseState::Bound, lease_secs),
                    format!("leasing {ip}"),
                ),
                Some(ip) => answer(
                    MessageType::Nak,
                    ip,
                    None,
                    format!("{ip} is not this client's address"),
                ),
                None => Outcome::ignore("a DHCPREQUEST naming no address"),
            }
        }
        MessageType::Release => match leases.holder(req.ciaddr) {
            Some(l) if l.mac == req.mac => Outcome {
                reply: None,
                lease: bind(req.ciaddr, LeaseState::Released, 0),
                why: format!("released {}", req.ciaddr),
            },
            _ => Outcome::ignore(format!("release of {} which it does not hold", req.ciaddr)),
        },
        MessageType::Decline => match req.requested_ip {
            Some(ip) if leases.holder(ip).is_some_and(|l| l.mac == req.mac) => Outcome {
                reply: None,
                lease: bind(ip, LeaseState::Declined, lease_secs),
                why: format!("declined {ip} (in use by someone else): withheld for a lease time"),
            },
            _ => Outcome::ignore("decline of an address it was not given"),
        },
        MessageType::Inform => answer(
            MessageType::Ack,
            Ipv4Addr::UNSPECIFIED,
            None,
            "configuration only".into(),
        ),
        k => Outcome::ignore(format!("{k:?}: not a client message")),
    }
}

/// The full-mode pool: the configured range, fixed addresses, and the lease table.
struct Pool<'a> {
    config: &'a Config,
    leases: &'a LeaseTable,
    now: u64,
    server: Ipv4Addr,
}

impl Pool<'_> {
    fn fixed(&self, mac: crate::mac::MacAddr) -> Option<Ipv4Addr> {
        self.config.machines.get(&mac).and_then(|m| m.ip)
    }

    fn in_range(&self, ip: Ipv4Addr) -> bool {
        self.config
            .dhcp
            .range
            .is_some_and(|(a, b)| (a..=b).contains(&ip))
    }

    /// Not ours to lease dynamically: our own address, the router, someone's fixed address.
    fn reserved(&self, ip: Ipv4Addr) -> bool {
        ip == self.server
            || self.config.dhcp.router == Some(ip)
            || self.config.machines.values().any(|m| m.ip == Some(ip))
    }

    /// Whether `mac` may use `ip`.
    fn acceptable(&self, ip: Ipv4Addr, mac: crate::mac::MacAddr) -> bool {
        match self.fixed(mac) {
            Some(fixed) => ip == fixed,
            None => {
                self.in_range(ip) && !self.reserved(ip) && self.leases.free_for(ip, mac, self.now)
            }
        }
    }

    /// The address to offer: the fixed one, the one it had, the one it asks for, an unused
    /// one, or the longest-expired one of someone else.
    fn allocate(&self, req: &Request) -> Option<Ipv4Addr> {
        if let Some(ip) = self.fixed(req.mac) {
            return Some(ip);
        }
        let previous = self
            .leases
            .of_mac(req.mac)
            .filter(|l| l.state != LeaseState::Declined)
            .map(|l| l.ip);
        if let Some(ip) = previous
            .into_iter()
            .chain(req.requested_ip)
            .find(|&ip| self.acceptable(ip, req.mac))
        {
            return Some(ip);
        }
        let (first, last) = self.config.dhcp.range?;
        let unused = (u32::from(first)..=u32::from(last))
            .map(Ipv4Addr::from)
            .find(|&ip| self.leases.holder(ip).is_none() && !self.reserved(ip));
        unused.or_else(|| {
            self.leases
                .oldest_expired(self.now, |ip| self.acceptable(ip, req.mac))
        })
    }
}

/// The reply skeleton: header echoed from the request, message type and server identifier.
fn reply(req: &Request, kind: MessageType, server: Ipv4Addr) -> v4::Message {
    let mut m = v4::Message::default();
    m.set_opcode(Opcode::BootReply)
        .set_xid(req.message.xid())
        .set_flags(req.message.flags())
        .set_giaddr(req.giaddr)
        .set_chaddr(&req.mac.0);
    let opts = m.opts_mut();
    opts.insert(DhcpOption::MessageType(kind));
    opts.insert(DhcpOption::ServerIdentifier(server));
    if let Some(info) = &req.relay_info {
        opts.insert(DhcpOption::Unknown(UnknownOption::new(
            OptionCode::RelayAgentInformation,
            info.clone(),
        )));
    }
    m
}

/// Subnet mask, router, DNS and the machine's host name (full mode).
fn network_options(m: &mut v4::Message, config: &Config, at: &Arrival, req: &Request) {
    let opts = m.opts_mut();
    opts.insert(DhcpOption::SubnetMask(at.netmask));
    if let Some(router) = config.dhcp.router {
        opts.insert(DhcpOption::Router(vec![router]));
    }
    if !config.dhcp.dns.is_empty() {
        opts.insert(DhcpOption::DomainNameServer(config.dhcp.dns.clone()));
    }
    if let Some(name) = config
        .machines
        .get(&req.mac)
        .and_then(|m| m.hostname.clone())
    {
        opts.insert(DhcpOption::Hostname(name));
    }
}

/// The boot file, the vendor class the firmware waits for, PXE discovery control and the
/// client GUID echo.
fn add_boot(m: &mut v4::Message, req: &Request, at: &Arrival, boot: &Boot, proxy: bool) {
    if !boot.http {
        // TFTP from us (iPXE's script URL carries its own server).
        m.set_siaddr(at.server);
    }
    // `file` holds 128 bytes with a NUL; longer names go in option 67 only.
    if boot.file.len() < 128 {
        m.set_fname_str(&boot.file);
    }
    let opts = m.opts_mut();
    opts.insert(DhcpOption::BootfileName(boot.file.clone().into_bytes()));
    if boot.http {
        opts.insert(DhcpOption::ClassIdentifier(b"HTTPClient".to_vec()));
    } else {
        opts.insert(DhcpOption::ClassIdentifier(b"PXEClient".to_vec()));
        if proxy || !req.ipxe {
            // Discovery control 8: boot the file named here, no boot server discovery/menu.
            opts.insert(DhcpOption::VendorExtensions(vec![6, 1, 8, 255]));
        }
    }
    if let Some(guid) = &req.guid {
        opts.insert(DhcpOption::ClientMachineIdentifier(guid.clone()));
    }
}

/// RFC 2131 4.1: to the relay agent, back to port 4011's sender, to a configured client's
/// address, else broadcast (a client without an address cannot receive unicast).
fn destination(req: &Request, at: &Arrival, kind: MessageType) -> SocketAddrV4 {
    if at.port == PXE_PORT {
        return at.src;
    }
    if !req.giaddr.is_unspecified() {
        return SocketAddrV4::new(req.giaddr, SERVER_PORT);
    }
    if kind != MessageType::Nak && !req.ciaddr.is_unspecified() {
        return SocketAddrV4::new(req.ciaddr, CLIENT_PORT);
    }
    SocketAddrV4::new(Ipv4Addr::BROADCAST, CLIENT_PORT)
}
