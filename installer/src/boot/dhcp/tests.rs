//! The state machine against replies laid out byte for byte as dnsmasq 2.89 sends them
//! (options in dnsmasq's order, not sorted; `file` set for network boot), decoded with
//! dhcproto from the client's side exactly as they would come off the wire.

use super::*;

const MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
const XID: u32 = 0x1234_abcd;
const SERVER: [u8; 4] = [10, 0, 2, 2];
const OFFERED: [u8; 4] = [10, 0, 2, 15];

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// A reply to `request` as dnsmasq builds it: BOOTREPLY header copying xid, flags, ciaddr and
/// chaddr; siaddr = next server; options 53, 54, 51, 58, 59, 1, 28, 3, 6, 15 in that order.
fn dnsmasq_reply(
    request: &[u8],
    kind: u8,
    yiaddr: [u8; 4],
    lease_secs: u32,
    boot_file: Option<&str>,
) -> Vec<u8> {
    let mut p = vec![0u8; 236];
    p[0] = 2; // BOOTREPLY
    p[1] = 1;
    p[2] = 6;
    p[4..8].copy_from_slice(&request[4..8]); // xid
    p[10..12].copy_from_slice(&request[10..12]); // flags
    p[12..16].copy_from_slice(&request[12..16]); // ciaddr
    if kind != 6 {
        p[16..20].copy_from_slice(&yiaddr);
    }
    if let Some(file) = boot_file {
        p[20..24].copy_from_slice(&SERVER); // siaddr
        p[108..108 + file.len()].copy_from_slice(file.as_bytes());
    }
    p[28..44].copy_from_slice(&request[28..44]); // chaddr
    p.extend_from_slice(&[99, 130, 83, 99]);
    let mut opt = |code: u8, data: &[u8]| {
        p.push(code);
        p.push(data.len() as u8);
        p.extend_from_slice(data);
    };
    opt(53, &[kind]);
    opt(54, &SERVER);
    if kind != 6 {
        opt(51, &lease_secs.to_be_bytes());
        opt(58, &(lease_secs / 2).to_be_bytes());
        opt(59, &(lease_secs / 8 * 7).to_be_bytes());
        opt(1, &[255, 255, 255, 0]);
        opt(28, &[10, 0, 2, 255]);
        opt(3, &SERVER);
        opt(6, &[10, 0, 2, 3, 10, 0, 2, 4]);
        opt(15, b"lab.example.invalid");
    } else {
        opt(56, b"address not available");
    }
    p.push(255);
    p
}

fn decode(packet: &[u8]) -> Message {
    Message::from_bytes(packet).expect("client packets decode")
}

fn sent(step: &Step) -> (&[u8], Destination) {
    match step.actions.as_slice() {
        [Action::Send { packet, to }] => (packet, *to),
        other => panic!("expected one packet, got {other:?}"),
    }
}

fn opt(m: &Message, code: OptionCode) -> Option<&DhcpOption> {
    m.opts().get(code)
}

/// Runs DISCOVER → OFFER → REQUEST → ACK and returns the client, bound at t=1 s.
fn bound_client() -> (Client, Lease) {
    let mut c = Client::new(Config::new(MAC, XID));
    let discover = c.handle(secs(0), Event::Start);
    let offer = dnsmasq_reply(sent(&discover).0, 2, OFFERED, 3600, Some("undionly.kpxe"));
    let request = c.handle(secs(0), Event::Packet(&offer));
    let ack = dnsmasq_reply(sent(&request).0, 5, OFFERED, 3600, Some("undionly.kpxe"));
    let bound = c.handle(secs(1), Event::Packet(&ack));
    let lease = match bound.actions.as_slice() {
        [Action::Apply(l)] => l.clone(),
        other => panic!("expected Apply, got {other:?}"),
    };
    assert_eq!(bound.deadline, Some(secs(1 + 1800)), "next wake-up is T1");
    (c, lease)
}

#[test]
fn discover_offer_request_ack_gives_the_lease_dnsmasq_granted() {
    let mut c = Client::new(Config::new(MAC, XID));
    let step = c.handle(secs(0), Event::Start);
    let (packet, to) = sent(&step);
    assert_eq!(to, Destination::Broadcast);
    assert_eq!(step.deadline, Some(secs(4)));
    assert!(packet.len() >= 300, "BOOTP minimum size");
    let d = decode(packet);
    assert_eq!(d.opcode(), Opcode::BootRequest);
    assert_eq!(d.xid(), XID);
    assert_eq!(&d.chaddr()[..6], &MAC);
    assert!(d.flags().broadcast());
    assert_eq!(d.opts().msg_type(), Some(MessageType::Discover));
    assert_eq!(
        opt(&d, OptionCode::ClientIdentifier),
        Some(&DhcpOption::ClientIdentifier([&[1u8][..], &MAC].concat()))
    );

    let offer = dnsmasq_reply(packet, 2, OFFERED, 3600, None);
    let step = c.handle(secs(1), Event::Packet(&offer));
    let (packet, to) = sent(&step);
    assert_eq!(to, Destination::Broadcast);
    let r = decode(packet);
    assert_eq!(r.opts().msg_type(), Some(MessageType::Request));
    assert_eq!(
        opt(&r, OptionCode::RequestedIpAddress),
        Some(&DhcpOption::RequestedIpAddress(OFFERED.into()))
    );
    assert_eq!(
        opt(&r, OptionCode::ServerIdentifier),
        Some(&DhcpOption::ServerIdentifier(SERVER.into()))
    );
    assert_eq!(r.ciaddr(), Ipv4Addr::UNSPECIFIED);
    assert_eq!(r.secs(), 1);
    assert!(matches!(c.state(), State::Requesting { .. }));

    let ack = dnsmasq_reply(packet, 5, OFFERED, 3600, None);
    let step = c.handle(secs(2), Event::Packet(&ack));
    let [Action::Apply(lease)] = step.actions.as_slice() else {
        panic!("{step:?}")
    };
    assert_eq!(
        *lease,
        Lease {
            address: OFFERED.into(),
            prefix: 24,
            routers: vec![SERVER.into()],
            dns: vec![Ipv4Addr::new(10, 0, 2, 3), Ipv4Addr::new(10, 0, 2, 4)],
            domain: Some("lab.example.invalid".into()),
            hostname: None,
            broadcast: Some(Ipv4Addr::new(10, 0, 2, 255)),
            mtu: None,
            server: SERVER.into(),
            lease_time: Some(secs(3600)),
            renew_after: Some(secs(1800)),
            rebind_after: Some(secs(3150)),
            next_server: None,
            boot_file: None,
        }
    );
    assert!(matches!(c.state(), State::Bound { .. }));
}

#[test]
fn network_boot_fields_are_read_without_trailing_nuls() {
    let (_, lease) = bound_client();
    assert_eq!(lease.next_server, Some(SERVER.into()));
    assert_eq!(lease.boot_file.as_deref(), Some("undionly.kpxe"));
}

#[test]
fn unanswered_discovers_back_off_then_fail_with_a_clear_error() {
    let mut c = Client::new(Config::new(MAC, XID));
    let mut step = c.handle(secs(0), Event::Start);
    let mut waits = vec![];
    let mut now = secs(0);
    while let Some(deadline) = step.deadline {
        waits.push((deadline - now).as_secs());
        now = deadline;
        step = c.handle(now, Event::Timer);
        if step.deadline.is_some() {
            assert_eq!(
                decode(sent(&step).0).opts().msg_type(),
                Some(MessageType::Discover)
            );
        }
    }
    assert_eq!(waits, [4, 8, 16, 32, 64]);
    let State::Failed(e) = c.state() else {
        panic!("{:?}", c.state())
    };
    assert_eq!(
        *e,
        DhcpError::NoOffer {
            attempts: 5,
            waited: secs(124)
        }
    );
    assert!(
        e.to_string()
            .contains("no DHCP server answered 5 DISCOVERs"),
        "{e}"
    );
}

#[test]
fn packets_for_other_clients_and_garbage_change_nothing() {
    let mut c = Client::new(Config::new(MAC, XID));
    let discover = c.handle(secs(0), Event::Start);
    let mut other_xid = dnsmasq_reply(sent(&discover).0, 2, OFFERED, 3600, None);
    other_xid[4] ^= 0xff;
    let mut other_mac = dnsmasq_reply(sent(&discover).0, 2, OFFERED, 3600, None);
    other_mac[33] ^= 0xff;
    let mut request_echo = sent(&discover).0.to_vec();
    request_echo[0] = 1;
    for junk in [
        &other_xid[..],
        &other_mac[..],
        &request_echo[..],
        b"not dhcp",
    ] {
        let step = c.handle(secs(1), Event::Packet(junk));
        assert!(step.actions.is_empty());
        assert_eq!(step.deadline, Some(secs(4)), "pending timer kept");
        assert!(matches!(c.state(), State::Selecting { attempt: 0, .. }));
    }
    // An ACK while selecting (a reply to someone's earlier REQUEST with our xid) is ignored too.
    let ack = dnsmasq_reply(sent(&discover).0, 5, OFFERED, 3600, None);
    assert!(c.handle(secs(1), Event::Packet(&ack)).actions.is_empty());
}

#[test]
fn a_nak_restarts_discovery_and_repeated_failure_gives_up() {
    let mut c = Client::new(Config::new(MAC, XID));
    let mut step = c.handle(secs(0), Event::Start);
    for round in 0..=3 {
        let offer = dnsmasq_reply(sent(&step).0, 2, OFFERED, 3600, None);
        let request = c.handle(secs(round), Event::Packet(&offer));
        let nak = dnsmasq_reply(sent(&request).0, 6, OFFERED, 0, None);
        step = c.handle(secs(round), Event::Packet(&nak));
        if round < 3 {
            assert_eq!(
                decode(sent(&step).0).opts().msg_type(),
                Some(MessageType::Discover),
                "round {round}"
            );
        }
    }
    assert_eq!(*c.state(), State::Failed(DhcpError::TooManyRestarts(3)));
}

#[test]
fn an_unanswered_request_is_retransmitted_then_discovery_restarts() {
    let mut c = Client::new(Config::new(MAC, XID));
    let discover = c.handle(secs(0), Event::Start);
    let offer = dnsmasq_reply(sent(&discover).0, 2, OFFERED, 3600, None);
    let step = c.handle(secs(0), Event::Packet(&offer));
    assert_eq!(step.deadline, Some(secs(4)));
    let step = c.handle(secs(4), Event::Timer);
    assert_eq!(
        decode(sent(&step).0).opts().msg_type(),
        Some(MessageType::Request)
    );
    assert_eq!(step.deadline, Some(secs(12)));
    let step = c.handle(secs(12), Event::Timer);
    assert_eq!(step.deadline, Some(secs(28)));
    let step = c.handle(secs(28), Event::Timer);
    assert_eq!(
        decode(sent(&step).0).opts().msg_type(),
        Some(MessageType::Discover)
    );
    assert!(matches!(c.state(), State::Selecting { attempt: 0, .. }));
}

#[test]
fn renewal_at_t1_is_unicast_and_an_ack_extends_the_lease() {
    let (mut c, _) = bound_client();
    // Woken early: nothing to do yet, T1 still pending.
    let step = c.handle(secs(100), Event::Timer);
    assert!(step.actions.is_empty());
    assert_eq!(step.deadline, Some(secs(1801)));

    let step = c.handle(secs(1801), Event::Timer);
    let (packet, to) = sent(&step);
    assert_eq!(to, Destination::Unicast(SERVER.into()));
    let r = decode(packet);
    assert_eq!(r.ciaddr(), Ipv4Addr::from(OFFERED));
    assert!(!r.flags().broadcast());
    assert!(
        opt(&r, OptionCode::RequestedIpAddress).is_none()
            && opt(&r, OptionCode::ServerIdentifier).is_none()
    );
    // Half the time to T2 (1 + 3150 s).
    assert_eq!(step.deadline, Some(secs(1801 + 675)));

    let ack = dnsmasq_reply(packet, 5, OFFERED, 3600, None);
    let step = c.handle(secs(1802), Event::Packet(&ack));
    assert!(
        matches!(step.actions.as_slice(), [Action::Apply(l)] if l.address == Ipv4Addr::from(OFFERED))
    );
    assert_eq!(step.deadline, Some(secs(1802 + 1800)));
}

#[test]
fn rebinding_at_t2_broadcasts_and_expiry_removes_the_address_and_starts_over() {
    let (mut c, lease) = bound_client();
    c.handle(secs(1801), Event::Timer);
    let step = c.handle(secs(3151), Event::Timer);
    let (packet, to) = sent(&step);
    assert_eq!(to, Destination::Broadcast);
    assert_eq!(decode(packet).ciaddr(), Ipv4Addr::from(OFFERED));
    assert!(matches!(c.state(), State::Rebinding { .. }));
    // Retransmissions are at least 60 s apart and never past expiry (1 + 3600 s).
    assert_eq!(step.deadline, Some(secs(3151 + 225)));
    let step = c.handle(secs(3601), Event::Timer);
    match step.actions.as_slice() {
        [
            Action::Remove(l),
            Action::Send {
                packet,
                to: Destination::Broadcast,
            },
        ] => {
            assert_eq!(*l, lease);
            assert_eq!(
                decode(packet).opts().msg_type(),
                Some(MessageType::Discover)
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_nak_while_renewing_removes_the_lease() {
    let (mut c, lease) = bound_client();
    let step = c.handle(secs(1801), Event::Timer);
    let nak = dnsmasq_reply(sent(&step).0, 6, OFFERED, 0, None);
    let step = c.handle(secs(1802), Event::Packet(&nak));
    assert!(
        matches!(step.actions.as_slice(), [Action::Remove(l), Action::Send { .. }] if *l == lease)
    );
}

#[test]
fn an_infinite_lease_is_never_renewed() {
    let mut c = Client::new(Config::new(MAC, XID));
    let d = c.handle(secs(0), Event::Start);
    let offer = dnsmasq_reply(sent(&d).0, 2, OFFERED, u32::MAX, None);
    let r = c.handle(secs(0), Event::Packet(&offer));
    let ack = dnsmasq_reply(sent(&r).0, 5, OFFERED, u32::MAX, None);
    let step = c.handle(secs(0), Event::Packet(&ack));
    assert!(matches!(step.actions.as_slice(), [Action::Apply(l)] if l.lease_time.is_none()));
    assert_eq!(step.deadline, None);
}
