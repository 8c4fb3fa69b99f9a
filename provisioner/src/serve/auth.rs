//! Who may change what through the API.
//!
//! - The operator re-arms machines (`POST …/reinstall`): with `[api] token_file` configured, a
//!   request needs `Authorization: Bearer <token>`; without one, only loopback clients (an
//!   operator on the server itself) may.
//! - Installers post events without a token (they have none), but only for their own MAC:
//!   when the client is on a directly attached network its address must resolve to that MAC
//!   in the kernel's neighbour table; only while the machine installs (it was handed an
//!   install script and has not reported done or failed); only well-formed events within size
//!   limits.

use crate::boot::Status;
use crate::config::Config;
use crate::mac::MacAddr;
use axum::http::{HeaderMap, header};
use kickstand_events::Event;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// Why a request was refused: an HTTP status and the message for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub status: u16,
    pub message: String,
}

fn refused(status: u16, message: impl Into<String>) -> Refused {
    Refused {
        status,
        message: message.into(),
    }
}

/// Whether this request may act as the operator.
pub fn operator(
    config: &Config,
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
) -> Result<(), Refused> {
    match &config.api.token {
        Some(token) => {
            let given = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::trim);
            match given {
                Some(g) if same(g.as_bytes(), token.as_bytes()) => Ok(()),
                Some(_) => Err(refused(401, "the operator token is wrong")),
                None => Err(refused(
                    401,
                    "this needs the operator token: Authorization: Bearer <token> \
                     (`kickstand machines --token-file FILE`)",
                )),
            }
        }
        None if peer.is_some_and(|p| p.ip().is_loopback()) => Ok(()),
        None => Err(refused(
            403,
            format!(
                "changing the fleet from {} needs an operator token: set [api] token_file in the server's configuration (without one only loopback clients may)",
                peer.map_or("an unknown address".into(), |p| p.ip().to_string())
            ),
        )),
    }
}

/// Compares in time that depends only on the lengths.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Limits on what one events post may hold.
pub const MAX_EVENTS_PER_POST: usize = 1000;
pub const MAX_TEXT_LEN: usize = 4096;
pub const MAX_STEP_LEN: usize = 64;

/// Checks an installer's events post for `mac`, coming from `peer`, while the machine has
/// `status`. `neighbour` looks up a directly attached IPv4 client's MAC.
pub fn events(
    mac: MacAddr,
    status: Status,
    peer: Option<SocketAddr>,
    events: &[Event],
    neighbour: impl Fn(Ipv4Addr) -> Option<MacAddr>,
) -> Result<(), Refused> {
    if let Some(IpAddr::V4(ip)) = peer.map(|p| p.ip()) {
        if let Some(seen) = neighbour(ip) {
            if seen != mac {
                return Err(refused(
                    403,
                    format!(
                        "{ip} is {seen} on the network, not {mac}: a machine posts only its own events"
                    ),
                ));
            }
        }
    }
    if events.len() > MAX_EVENTS_PER_POST {
        return Err(refused(
            400,
            format!(
                "{} events in one post; at most {MAX_EVENTS_PER_POST}",
                events.len()
            ),
        ));
    }
    for (i, e) in events.iter().enumerate() {
        let (what, len, max) = match e {
            Event::Started { version } => (
                "version",
                version.as_ref().map_or(0, String::len),
                MAX_STEP_LEN,
            ),
            Event::Progress { step, message, .. } if step.len() > MAX_STEP_LEN => {
                let _ = message;
                ("step", step.len(), MAX_STEP_LEN)
            }
            Event::Progress { message, .. } | Event::Done { message } => (
                "message",
                message.as_ref().map_or(0, String::len),
                MAX_TEXT_LEN,
            ),
            Event::Log { line } => ("line", line.len(), MAX_TEXT_LEN),
            Event::Failed { error } => ("error", error.len(), MAX_TEXT_LEN),
        };
        if len > max {
            return Err(refused(
                400,
                format!(
                    "event {} ({}): {what} is {len} bytes; at most {max}",
                    i + 1,
                    e.kind()
                ),
            ));
        }
    }
    let installing = matches!(status, Status::Booting | Status::Installing);
    let only_logs = events.iter().all(|e| matches!(e, Event::Log { .. }));
    // Log lines may trail the final event; nothing else changes a machine that is not
    // installing (a stray `done` must not mark a machine installed).
    let trailing_logs = only_logs && matches!(status, Status::Installed | Status::Failed);
    if !(installing || trailing_logs) {
        return Err(refused(
            409,
            format!(
                "{mac} is {}: events are taken from the network boot that was handed an install until it reports done or failed",
                status.as_str()
            ),
        ));
    }
    Ok(())
}

/// The MAC of a directly attached IPv4 neighbour, from `/proc/net/arp`.
pub fn neighbour_mac(ip: Ipv4Addr) -> Option<MacAddr> {
    parse_arp(&std::fs::read_to_string("/proc/net/arp").ok()?, ip)
}

/// Finds `ip`'s complete entry in `/proc/net/arp` text
/// (`IP address  HW type  Flags  HW address  Mask  Device`).
pub fn parse_arp(text: &str, ip: Ipv4Addr) -> Option<MacAddr> {
    text.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        let (addr, flags, hw) = (f.first()?, f.get(2)?, f.get(3)?);
        // ATF_COM (0x2): the entry is resolved.
        let complete = u32::from_str_radix(flags.trim_start_matches("0x"), 16).ok()? & 0x2 != 0;
        (addr.parse::<Ipv4Addr>().ok()? == ip && complete)
            .then(|| hw.parse().ok())
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: MacAddr = MacAddr([0x52, 0x54, 0, 0x12, 0x34, 0x56]);
    const OTHER: MacAddr = MacAddr([0x52, 0x54, 0, 0x99, 0x99, 0x99]);

    fn peer(s: &str) -> Option<SocketAddr> {
        Some(s.parse().unwrap())
    }

    fn config(token: Option<&str>) -> Config {
        let mut c = crate::testutil::fixture("").config;
        c.api.token = token.map(String::from);
        c
    }

    fn bearer(t: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            format!("Bearer {t}").parse().unwrap(),
        );
        h
    }

    #[test]
    fn operator_needs_the_token_or_loopback() {
        let none = HeaderMap::new();
        let open = config(None);
        assert!(operator(&open, &none, peer("127.0.0.1:5000")).is_ok());
        assert!(operator(&open, &none, peer("[::1]:5000")).is_ok());
        let r = operator(&open, &none, peer("192.0.2.7:5000")).unwrap_err();
        assert_eq!(r.status, 403);
        assert!(r.message.contains("[api] token_file"), "{}", r.message);
        assert_eq!(operator(&open, &none, None).unwrap_err().status, 403);

        let locked = config(Some("0123456789abcdef0123"));
        assert!(
            operator(
                &locked,
                &bearer("0123456789abcdef0123"),
                peer("192.0.2.7:1")
            )
            .is_ok()
        );
        for (h, p) in [
            (none.clone(), "127.0.0.1:1"),
            (bearer("0123456789abcdef0124"), "127.0.0.1:1"),
            (bearer("0123456789abcdef012"), "192.0.2.7:1"),
        ] {
            assert_eq!(operator(&locked, &h, peer(p)).unwrap_err().status, 401);
        }
    }

    #[test]
    fn events_only_from_the_machine_while_it_installs() {
        let done = [Event::Done { message: None }];
        let log = [Event::Log {
            line: "late line".into(),
        }];
        let on_link = |_: Ipv4Addr| Some(MAC);
        let other_on_link = |_: Ipv4Addr| Some(OTHER);
        let routed = |_: Ipv4Addr| None;
        let p = peer("192.0.2.50:4000");
        assert!(events(MAC, Status::Installing, p, &done, on_link).is_ok());
        assert!(events(MAC, Status::Booting, p, &done, routed).is_ok());
        let r = events(MAC, Status::Installing, p, &done, other_on_link).unwrap_err();
        assert_eq!(r.status, 403);
        assert!(r.message.contains("52:54:00:99:99:99"), "{}", r.message);
        for s in [Status::New, Status::Installed, Status::Failed] {
            assert_eq!(events(MAC, s, p, &done, on_link).unwrap_err().status, 409);
        }
        assert!(events(MAC, Status::Installed, p, &log, on_link).is_ok());
        assert_eq!(
            events(MAC, Status::New, p, &log, on_link)
                .unwrap_err()
                .status,
            409
        );
    }

    #[test]
    fn oversized_events_are_refused() {
        let ok = |_: Ipv4Addr| None;
        let big = [Event::Log {
            line: "x".repeat(MAX_TEXT_LEN + 1),
        }];
        let r = events(MAC, Status::Installing, None, &big, ok).unwrap_err();
        assert_eq!(r.status, 400);
        assert!(
            r.message.contains("event 1 (log): line is 4097 bytes"),
            "{}",
            r.message
        );
        let step = [Event::Progress {
            step: "s".repeat(65),
            percent: None,
            message: None,
        }];
        assert_eq!(
            events(MAC, Status::Installing, None, &step, ok)
                .unwrap_err()
                .status,
            400
        );
        let many = vec![Event::Log { line: "l".into() }; MAX_EVENTS_PER_POST + 1];
        assert_eq!(
            events(MAC, Status::Installing, None, &many, ok)
                .unwrap_err()
                .status,
            400
        );
    }

    #[test]
    fn arp_table() {
        let text = "IP address       HW type     Flags       HW address            Mask     Device\n\
                    192.0.2.50       0x1         0x2         52:54:00:12:34:56     *        br0\n\
                    192.0.2.51       0x1         0x0         00:00:00:00:00:00     *        br0\n";
        assert_eq!(parse_arp(text, "192.0.2.50".parse().unwrap()), Some(MAC));
        assert_eq!(parse_arp(text, "192.0.2.51".parse().unwrap()), None);
        assert_eq!(parse_arp(text, "192.0.2.52".parse().unwrap()), None);
    }
}
