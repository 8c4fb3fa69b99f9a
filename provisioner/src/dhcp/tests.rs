//! The DHCP decision on packets laid out byte for byte as the firmware sends them (options in
//! their order and with their values: EDK2's OVMF PXE and HTTP Boot, iPXE as SeaBIOS' NIC ROM
//! and as `snponly.efi`), and on broken packets.

use super::decide::{Arrival, Boot, Outcome, PXE_PORT, boot_for};
use super::leases::{Lease, LeaseState, LeaseTable};
use super::*;
use crate::boot::{self, MachineState, Status};
use crate::config::{Config, DhcpMode};
use crate::mac::MacAddr;
use crate::testutil::fixture;
use dhcproto::v4::{DhcpOption, Message, MessageType, OptionCode};
use dhcproto::{Decodable, Decoder, Encodable};
use std::net::{Ipv4Addr, SocketAddrV4};

const KNOWN: MacAddr = MacAddr([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
const OTHER: MacAddr = MacAddr([0x52, 0x54, 0x00, 0x99, 0x99, 0x99]);
const SERVER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const NOW: u64 = 1_800_000_000;
const GUID: [u8; 17] = [
    0, 0x8a, 0x3f, 0x6c, 0x11, 0x2e, 0x4d, 0x90, 0xb1, 0x33, 0x02, 0x6a, 0x47, 0xe5, 0x19, 0xc0,
    0x7d,
];

/// A request as bytes: BOOTP header, magic cookie, `options` in order, End, padding.
fn wire(
    kind: u8,
    mac: MacAddr,
    ciaddr: Ipv4Addr,
    giaddr: Ipv4Addr,
    options: &[(u8, &[u8])],
) -> Vec<u8> {
    let mut p = vec![0u8; 236];
    p[0] = 1; // BOOTREQUEST
    p[1] = 1; // Ethernet
    p[2] = 6;
    p[4..8].copy_from_slice(&0x1234_5678u32.to_be_bytes());
    p[10] = 0x80; // broadcast flag, as EDK2 sets it
    p[12..16].copy_from_slice(&ciaddr.octets());
    p[24..28].copy_from_slice(&giaddr.octets());
    p[28..34].copy_from_slice(&mac.0);
    p.extend_from_slice(&[99, 130, 83, 99, 53, 1, kind]);
    for (code, value) in options {
        p.push(*code);
        p.push(value.len() as u8);
        p.extend_from_slice(value);
    }
    p.push(255);
    p.resize(p.len().max(300), 0);
    p
}

const DISCOVER: u8 = 1;
const REQUEST: u8 = 3;
const DECLINE: u8 = 4;
const RELEASE: u8 = 7;
const INFORM: u8 = 8;
const UNSPEC: Ipv4Addr = Ipv4Addr::UNSPECIFIED;

/// OVMF's PXE (EDK2 PxeBcDhcp4): max size, parameter list, arch 7, NIC id, GUID, vendor class.
fn ovmf_pxe(kind: u8, mac: MacAddr, extra: &[(u8, &[u8])]) -> Vec<u8> {
    let mut opts: Vec<(u8, &[u8])> = vec![
        (57, &[0x05, 0xc0]),
        (
            55,
            &[
                1, 2, 3, 4, 5, 6, 12, 13, 15, 17, 18, 22, 23, 28, 40, 41, 42, 43, 50, 51, 54, 58,
                59, 60, 66, 67, 97, 128, 129, 130, 131, 132, 133, 134, 135,
            ],
        ),
        (93, &[0, 7]),
        (94, &[1, 3, 0]),
        (97, &GUID),
        (60, b"PXEClient:Arch:00007:UNDI:003000"),
    ];
    opts.extend_from_slice(extra);
    wire(kind, mac, UNSPEC, UNSPEC, &opts)
}

/// OVMF's HTTP Boot (EDK2 HttpBootDhcp4): arch 16, vendor class `HTTPClient`.
fn ovmf_http(mac: MacAddr) -> Vec<u8> {
    wire(
        DISCOVER,
        mac,
        UNSPEC,
        UNSPEC,
        &[
            (57, &[0x05, 0xc0]),
            (55, &[1, 3, 6, 12, 15, 28, 43, 60, 66, 67]),
            (93, &[0, 16]),
            (94, &[1, 3, 0]),
            (97, &GUID),
            (60, b"HTTPClient:Arch:00016:UNDI:003001"),
        ],
    )
}

/// iPXE: as SeaBIOS' NIC option ROM (`arch` 0) or `snponly.efi` (7), with user class `iPXE`
/// and its feature option 175.
fn ipxe(kind: u8, mac: MacAddr, arch: u8) -> Vec<u8> {
    let vendor: &[u8] = if arch == 0 {
        b"PXEClient:Arch:00000:UNDI:002001"
    } else {
        b"PXEClient:Arch:00007:UNDI:003010"
    };
    wire(
        kind,
        mac,
        UNSPEC,
        UNSPEC,
        &[
            (57, &[0x05, 0xc0]),
            (93, &[0, arch]),
            (94, &[1, 2, 1]),
            (60, vendor),
            (77, b"iPXE"),
            (
                55,
                &[
                    1, 3, 6, 7, 12, 15, 17, 26, 43, 60, 66, 67, 119, 128, 129, 130, 131, 132, 133,
                    134, 135, 175, 203,
                ],
            ),
            (
                175,
                &[
                    0xb1, 0x05, 0x01, 0x80, 0x86, 0x10, 0x0e, 0xeb, 0x03, 0x01, 0x00, 0x00, 0x17,
                    0x01, 0x01, 0x13, 0x01, 0x01,
                ],
            ),
            (
                61,
                &[
                    1, mac.0[0], mac.0[1], mac.0[2], mac.0[3], mac.0[4], mac.0[5],
                ],
            ),
        ],
    )
}

/// An operating system's DHCP client: no vendor class, no architecture.
fn plain(kind: u8, mac: MacAddr, extra: &[(u8, &[u8])]) -> Vec<u8> {
    let mut opts: Vec<(u8, &[u8])> = vec![(55, &[1, 3, 6, 12, 15, 28]), (12, b"web-01")];
    opts.extend_from_slice(extra);
    wire(kind, mac, UNSPEC, UNSPEC, &opts)
}

fn at(port: u16) -> Arrival {
    Arrival {
        src: SocketAddrV4::new(UNSPEC, 68),
        port,
        server: SERVER,
        netmask: Ipv4Addr::new(255, 255, 255, 0),
    }
}

fn full(config: &mut Config) {
    config.dhcp.mode = DhcpMode::Full;
    config.dhcp.range = Some((Ipv4Addr::new(192, 0, 2, 100), Ipv4Addr::new(192, 0, 2, 102)));
    config.dhcp.router = Some(SERVER);
    config.dhcp.dns = vec![Ipv4Addr::new(192, 0, 2, 53)];
}

fn run(
    config: &Config,
    state: &MachineState,
    leases: &LeaseTable,
    at: &Arrival,
    bytes: &[u8],
) -> Outcome {
    let req = parse(bytes).unwrap_or_else(|e| panic!("the test packet does not parse: {e}"));
    decide(config, state, leases, NOW, at, &req)
}

/// The reply, re-decoded from its encoding (what the client will see).
fn sent(out: &Outcome) -> (Message, SocketAddrV4) {
    let reply = out
        .reply
        .as_ref()
        .unwrap_or_else(|| panic!("no reply: {}", out.why));
    let bytes = reply.message.to_vec().unwrap();
    (
        Message::decode(&mut Decoder::new(&bytes)).unwrap(),
        reply.to,
    )
}

fn opt(m: &Message, code: OptionCode) -> Option<&DhcpOption> {
    m.opts().get(code)
}

fn bytes_of(m: &Message, code: OptionCode) -> Option<Vec<u8>> {
    match opt(m, code)? {
        DhcpOption::ClassIdentifier(v)
        | DhcpOption::BootfileName(v)
        | DhcpOption::VendorExtensions(v)
        | DhcpOption::ClientMachineIdentifier(v) => Some(v.clone()),
        DhcpOption::Unknown(u) => Some(u.data().to_vec()),
        other => panic!("unexpected {other:?}"),
    }
}

fn fname(m: &Message) -> String {
    let f = m.fname().unwrap_or_default();
    String::from_utf8_lossy(f)
        .trim_end_matches('\0')
        .to_string()
}

const BROADCAST: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::BROADCAST, 68);

#[test]
fn proxy_offer_to_ovmf_pxe_names_the_efi_ipxe_binary() {
    let f = fixture("");
    let out = run(
        &f.config,
        &MachineState::default(),
        &LeaseTable::default(),
        &at(67),
        &ovmf_pxe(DISCOVER, KNOWN, &[]),
    );
    let (m, to) = sent(&out);
    assert_eq!(to, BROADCAST);
    assert_eq!(m.opts().msg_type(), Some(MessageType::Offer));
    assert_eq!(m.yiaddr(), UNSPEC, "ProxyDHCP never gives an address");
    assert_eq!(m.siaddr(), SERVER);
    assert_eq!(m.xid(), 0x1234_5678);
    assert!(m.flags().broadcast());
    assert_eq!(fname(&m), "snponly.efi");
    assert_eq!(
        bytes_of(&m, OptionCode::BootfileName).unwrap(),
        b"snponly.efi"
    );
    assert_eq!(
        opt(&m, OptionCode::ServerIdentifier),
        Some(&DhcpOption::ServerIdentifier(SERVER))
    );
    assert_eq!(
        bytes_of(&m, OptionCode::ClassIdentifier).unwrap(),
        b"PXEClient"
    );
    assert_eq!(
        bytes_of(&m, OptionCode::VendorExtensions).unwrap(),
        [6, 1, 8, 255]
    );
    assert_eq!(
        bytes_of(&m, OptionCode::ClientMachineIdentifier).unwrap(),
        GUID
    );
    assert!(opt(&m, OptionCode::AddressLeaseTime).is_none());
    assert_eq!(m.chaddr(), &KNOWN.0);
}

#[test]
fn proxy_offer_to_ovmf_http_boot_is_a_full_url_with_httpclient() {
    let f = fixture("");
    let out = run(
        &f.config,
        &MachineState::default(),
        &LeaseTable::default(),
        &at(67),
        &ovmf_http(KNOWN),
    );
    let (m, _) = sent(&out);
    assert_eq!(
        bytes_of(&m, OptionCode::ClassIdentifier).unwrap(),
        b"HTTPClient"
    );
    let url = "http://192.0.2.1:8080/ipxe-bin/snponly.efi";
    assert_eq!(
        bytes_of(&m, OptionCode::BootfileName).unwrap(),
        url.as_bytes()
    );
    assert_eq!(fname(&m), url);
    assert!(
        opt(&m, OptionCode::VendorExtensions).is_none(),
        "no PXE options to HTTP Boot"
    );
    assert_eq!(
        bytes_of(&m, OptionCode::ClientMachineIdentifier).unwrap(),
        GUID
    );
}

#[test]
fn ipxe_gets_its_script_url_and_firmware_gets_ipxe_breaking_the_loop() {
    let f = fixture("");
    let script = "http://192.0.2.1:8080/ipxe/52:54:00:12:34:56";
    for arch in [0, 7] {
        let out = run(
            &f.config,
            &MachineState::default(),
            &LeaseTable::default(),
            &at(67),
            &ipxe(DISCOVER, KNOWN, arch),
        );
        let (m, _) = sent(&out);
        assert_eq!(fname(&m), script, "arch {arch}");
        assert_eq!(
            bytes_of(&m, OptionCode::BootfileName).unwrap(),
            script.as_bytes()
        );
    }
    // BIOS PXE firmware without iPXE (a NIC's own ROM) gets undionly.kpxe over TFTP.
    let bios = wire(
        DISCOVER,
        KNOWN,
        UNSPEC,
        UNSPEC,
        &[(93, &[0, 0]), (60, b"PXEClient:Arch:00000:UNDI:002001")],
    );
    let (m, _) = sent(&run(
        &f.config,
        &MachineState::default(),
        &LeaseTable::default(),
        &at(67),
        &bios,
    ));
    assert_eq!(fname(&m), "undionly.kpxe");
}

#[test]
fn unknown_machines_get_no_answer_unless_an_unknown_profile_is_set() {
    let mut f = fixture("");
    for mode in [DhcpMode::Proxy, DhcpMode::Full] {
        full(&mut f.config);
        f.config.dhcp.mode = mode;
        for packet in [
            ovmf_pxe(DISCOVER, OTHER, &[]),
            ipxe(DISCOVER, OTHER, 0),
            plain(DISCOVER, OTHER, &[]),
        ] {
            let out = run(
                &f.config,
                &MachineState::default(),
                &LeaseTable::default(),
                &at(67),
                &packet,
            );
            assert!(
                out.reply.is_none() && out.lease.is_none(),
                "{mode:?}: {out:?}"
            );
        }
    }
    let f = fixture("[unknown]\nprofile = \"install-web\"\n");
    let out = run(
        &f.config,
        &MachineState::default(),
        &LeaseTable::default(),
        &at(67),
        &ovmf_pxe(DISCOVER, OTHER, &[]),
    );
    assert_eq!(fname(&sent(&out).0), "snponly.efi");
}

#[test]
fn installed_machines_are_still_answered_and_led_to_the_local_boot_script() {
    let f = fixture("");
    let installed = MachineState {
        status: Status::Installed,
        error: None,
    };
    let out = run(
        &f.config,
        &installed,
        &LeaseTable::default(),
        &at(67),
        &ipxe(DISCOVER, KNOWN, 0),
    );
    assert_eq!(
        fname(&sent(&out).0),
        "http://192.0.2.1:8080/ipxe/52:54:00:12:34:56"
    );
    // The script at that URL is the same decision's local boot.
    let req = boot::Request {
        mac: KNOWN,
        arch: boot::Arch::Bios,
        client: boot::Client::Ipxe,
        http: false,
    };
    let boot::Response::IpxeScript(script) = boot::respond(&f.config, &installed, &req) else {
        panic!()
    };
    assert!(script.contains("\nexit 1\n"), "{script}");
}

#[test]
fn proxy_mode_ignores_non_boot_clients_and_other_servers_requests() {
    let f = fixture("");
    let none = |bytes: &[u8], port| {
        run(
            &f.config,
            &MachineState::default(),
            &LeaseTable::default(),
            &at(port),
            bytes,
        )
        .reply
        .is_none()
    };
    assert!(
        none(&plain(DISCOVER, KNOWN, &[]), 67),
        "an OS's DHCP client is the site server's"
    );
    let site = Ipv4Addr::new(192, 0, 2, 254);
    assert!(none(
        &ovmf_pxe(
            REQUEST,
            KNOWN,
            &[(54, &site.octets()), (50, &[192, 0, 2, 50])]
        ),
        67
    ));
    // A request naming us is answered (ACK, still no address).
    let (m, _) = sent(&run(
        &f.config,
        &MachineState::default(),
        &LeaseTable::default(),
        &at(67),
        &ovmf_pxe(REQUEST, KNOWN, &[(54, &SERVER.octets())]),
    ));
    assert_eq!(m.opts().msg_type(), Some(MessageType::Ack));
    assert_eq!(m.yiaddr(), UNSPEC);
}

#[test]
fn port_4011_requests_are_acked_back_to_the_sender() {
    let f = fixture("");
    let mut arrival = at(PXE_PORT);
    arrival.src = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 150), 68);
    let mut packet = ovmf_pxe(REQUEST, KNOWN, &[]);
    packet[12..16].copy_from_slice(&[192, 0, 2, 150]);
    let (m, to) = sent(&run(
        &f.config,
        &MachineState::default(),
        &LeaseTable::default(),
        &arrival,
        &packet,
    ));
    assert_eq!(to, arrival.src);
    assert_eq!(m.opts().msg_type(), Some(MessageType::Ack));
    assert_eq!(fname(&m), "snponly.efi");
    // Discovers do not belong on 4011.
    assert!(
        run(
            &f.config,
            &MachineState::default(),
            &LeaseTable::default(),
            &arrival,
            &ovmf_pxe(DISCOVER, KNOWN, &[])
        )
        .reply
        .is_none()
    );
}

#[test]
fn relayed_requests_are_answered_to_the_relay_with_option_82() {
    let mut f = fixture("");
    let relay = Ipv4Addr::new(198, 51, 100, 1);
    let agent: &[u8] = &[1, 4, b'p', b'o', b'r', b't'];
    let mut opts: Vec<(u8, &[u8])> = vec![
        (93, &[0, 7]),
        (60, b"PXEClient:Arch:00007:UNDI:003000"),
        (82, agent),
    ];
    let packet = wire(DISCOVER, KNOWN, UNSPEC, relay, &opts);
    let out = run(
        &f.config,
        &MachineState::default(),
        &LeaseTable::default(),
        &at(67),
        &packet,
    );
    let (m, to) = sent(&out);
    assert_eq!(to, SocketAddrV4::new(relay, 67));
    assert_eq!(m.giaddr(), relay);
    let encoded = out.reply.as_ref().unwrap().message.to_vec().unwrap();
    assert!(
        encoded
            .windows(8)
            .any(|w| w == [82, 6, 1, 4, b'p', b'o', b'r', b't']),
        "option 82 not echoed"
    );
    full(&mut f.config);
    opts.truncate(0);
    let (m, to) = sent(&run(
        &f.config,
        &MachineState::default(),
        &LeaseTable::default(),
        &at(67),
        &wire(DISCOVER, KNOWN, UNSPEC, relay, &opts),
    ));
    assert_eq!(to, SocketAddrV4::new(relay, 67));
    assert_eq!(m.yiaddr(), Ipv4Addr::new(192, 0, 2, 100));
}

/// Runs `bytes` in full mode and applies its lease change to `leases`.
fn step(config: &Config, leases: &mut LeaseTable, bytes: &[u8]) -> Outcome {
    let out = run(config, &MachineState::default(), leases, &at(67), bytes);
    if let Some(c) = &out.lease {
        leases.apply(c);
    }
    out
}

#[test]
fn full_mode_discover_request_ack_with_network_options_and_boot_file() {
    let mut f = fixture("");
    full(&mut f.config);
    let mut leases = LeaseTable::default();
    let out = step(&f.config, &mut leases, &ipxe(DISCOVER, KNOWN, 0));
    let (m, to) = sent(&out);
    let ip = Ipv4Addr::new(192, 0, 2, 100);
    assert_eq!(
        (m.opts().msg_type(), m.yiaddr(), to),
        (Some(MessageType::Offer), ip, BROADCAST)
    );
    assert_eq!(
        opt(&m, OptionCode::SubnetMask),
        Some(&DhcpOption::SubnetMask(Ipv4Addr::new(255, 255, 255, 0)))
    );
    assert_eq!(
        opt(&m, OptionCode::Router),
        Some(&DhcpOption::Router(vec![SERVER]))
    );
    assert_eq!(
        opt(&m, OptionCode::DomainNameServer),
        Some(&DhcpOption::DomainNameServer(vec![Ipv4Addr::new(
            192, 0, 2, 53
        )]))
    );
    assert_eq!(
        opt(&m, OptionCode::AddressLeaseTime),
        Some(&DhcpOption::AddressLeaseTime(3600))
    );
    assert_eq!(
        opt(&m, OptionCode::Hostname),
        Some(&DhcpOption::Hostname("web-01".into()))
    );
    assert_eq!(fname(&m), "http://192.0.2.1:8080/ipxe/52:54:00:12:34:56");
    assert_eq!(
        leases.holder(ip).map(|l| l.state),
        Some(LeaseState::Offered)
    );

    let out = step(
        &f.config,
        &mut leases,
        &wire(
            REQUEST,
            KNOWN,
            UNSPEC,
            UNSPEC,
            &[(54, &SERVER.octets()), (50, &ip.octets())],
        ),
    );
    let (m, _) = sent(&out);
    assert_eq!(
        (m.opts().msg_type(), m.yiaddr()),
        (Some(MessageType::Ack), ip)
    );
    let lease = leases.holder(ip).unwrap();
    assert_eq!(
        (lease.mac, lease.state, lease.expires),
        (KNOWN, LeaseState::Bound, NOW + 3600)
    );
    assert!(fname(&m).is_empty(), "an OS's request gets no boot file");

    // Renewing (ciaddr set): unicast ACK to the client.
    let (m, to) = sent(&step(
        &f.config,
        &mut leases,
        &wire(REQUEST, KNOWN, ip, UNSPEC, &[]),
    ));
    assert_eq!(
        (m.opts().msg_type(), to),
        (Some(MessageType::Ack), SocketAddrV4::new(ip, 68))
    );
}

#[test]
fn full_mode_addresses_are_sticky_unique_and_naks_are_broadcast() {
    let mut f = fixture("[unknown]\nprofile = \"install-web\"\n");
    full(&mut f.config);
    let mut leases = LeaseTable::default();
    let a = Ipv4Addr::new(192, 0, 2, 100);
    let b = Ipv4Addr::new(192, 0, 2, 101);
    assert_eq!(
        sent(&step(&f.config, &mut leases, &plain(DISCOVER, KNOWN, &[])))
            .0
            .yiaddr(),
        a
    );
    assert_eq!(
        sent(&step(&f.config, &mut leases, &plain(DISCOVER, OTHER, &[])))
            .0
            .yiaddr(),
        b
    );
    // OTHER asks for KNOWN's address: NAK, broadcast.
    let (m, to) = sent(&step(
        &f.config,
        &mut leases,
        &plain(REQUEST, OTHER, &[(50, &a.octets())]),
    ));
    assert_eq!(
        (m.opts().msg_type(), to),
        (Some(MessageType::Nak), BROADCAST)
    );
    // The client chose another server: silence.
    let elsewhere = wire(
        REQUEST,
        OTHER,
        UNSPEC,
        UNSPEC,
        &[(54, &[192, 0, 2, 254]), (50, &b.octets())],
    );
    assert!(step(&f.config, &mut leases, &elsewhere).reply.is_none());
    // Released and expired, KNOWN still gets its address back.
    step(
        &f.config,
        &mut leases,
        &plain(REQUEST, KNOWN, &[(50, &a.octets())]),
    );
    assert!(
        step(
            &f.config,
            &mut leases,
            &wire(RELEASE, KNOWN, a, UNSPEC, &[(54, &SERVER.octets())])
        )
        .reply
        .is_none()
    );
    assert_eq!(
        leases.holder(a).map(|l| l.state),
        Some(LeaseState::Released)
    );
    assert_eq!(
        sent(&step(&f.config, &mut leases, &plain(DISCOVER, KNOWN, &[])))
            .0
            .yiaddr(),
        a
    );
    // A requested address outside the range is not given.
    let (m, _) = sent(&step(
        &f.config,
        &mut leases,
        &plain(REQUEST, KNOWN, &[(50, &[10, 0, 0, 9])]),
    ));
    assert_eq!(m.opts().msg_type(), Some(MessageType::Nak));
}

#[test]
fn full_mode_decline_fixed_addresses_and_exhaustion() {
    let mut f = fixture("[unknown]\nprofile = \"install-web\"\n");
    full(&mut f.config);
    let fixed = Ipv4Addr::new(192, 0, 2, 10);
    let mut leases = LeaseTable::default();
    // OTHER declines .100: it is withheld and OTHER gets .101.
    let a = Ipv4Addr::new(192, 0, 2, 100);
    assert_eq!(
        sent(&step(&f.config, &mut leases, &plain(DISCOVER, OTHER, &[])))
            .0
            .yiaddr(),
        a
    );
    assert!(
        step(
            &f.config,
            &mut leases,
            &plain(DECLINE, OTHER, &[(50, &a.octets()), (54, &SERVER.octets())])
        )
        .reply
        .is_none()
    );
    assert_eq!(
        leases.holder(a).map(|l| l.state),
        Some(LeaseState::Declined)
    );
    assert_eq!(
        sent(&step(&f.config, &mut leases, &plain(DISCOVER, OTHER, &[])))
            .0
            .yiaddr(),
        Ipv4Addr::new(192, 0, 2, 101)
    );
    // KNOWN has a fixed address, outside the range; .102 is free for the next machine.
    f.config.machines.get_mut(&KNOWN).unwrap().ip = Some(fixed);
    assert_eq!(
        sent(&step(&f.config, &mut leases, &plain(DISCOVER, KNOWN, &[])))
            .0
            .yiaddr(),
        fixed
    );
    let (m, _) = sent(&step(
        &f.config,
        &mut leases,
        &plain(REQUEST, KNOWN, &[(50, &fixed.octets())]),
    ));
    assert_eq!(m.opts().msg_type(), Some(MessageType::Ack));
    let third = MacAddr([2, 0, 0, 0, 0, 3]);
    assert_eq!(
        sent(&step(&f.config, &mut leases, &plain(DISCOVER, third, &[])))
            .0
            .yiaddr(),
        Ipv4Addr::new(192, 0, 2, 102)
    );
    step(
        &f.config,
        &mut leases,
        &plain(REQUEST, third, &[(50, &[192, 0, 2, 102])]),
    );
    // Pool full (.100 declined and unexpired, .101 offered, .102 bound): a fourth gets nothing.
    let out = step(
        &f.config,
        &mut leases,
        &plain(DISCOVER, MacAddr([2, 0, 0, 0, 0, 4]), &[]),
    );
    assert!(out.reply.is_none(), "{out:?}");
    // INFORM: configuration, no address, to the client's address.
    let (m, to) = sent(&step(
        &f.config,
        &mut leases,
        &wire(INFORM, KNOWN, fixed, UNSPEC, &[]),
    ));
    assert_eq!(
        (m.yiaddr(), m.ciaddr(), to),
        (UNSPEC, fixed, SocketAddrV4::new(fixed, 68))
    );
    assert!(opt(&m, OptionCode::AddressLeaseTime).is_none());
}

#[test]
fn expired_leases_of_others_are_reused_oldest_first() {
    let mut f = fixture("[unknown]\nprofile = \"install-web\"\n");
    full(&mut f.config);
    let mut leases = LeaseTable::default();
    for (i, expires) in [(100u8, NOW - 10), (101, NOW - 500), (102, NOW + 500)] {
        leases.apply(&leases::LeaseChange::Put(Lease {
            ip: Ipv4Addr::new(192, 0, 2, i),
            mac: MacAddr([2, 0, 0, 0, 1, i]),
            expires,
            state: LeaseState::Bound,
        }));
    }
    assert_eq!(
        sent(&step(&f.config, &mut leases, &plain(DISCOVER, OTHER, &[])))
            .0
            .yiaddr(),
        Ipv4Addr::new(192, 0, 2, 101)
    );
}

#[test]
fn boot_for_ignores_architectures_without_a_binary() {
    let f = fixture("");
    let arm = parse(&wire(
        DISCOVER,
        KNOWN,
        UNSPEC,
        UNSPEC,
        &[(93, &[0, 11]), (60, b"PXEClient:Arch:00011:UNDI:003000")],
    ))
    .unwrap();
    assert_eq!(boot_for(&f.config, &MachineState::default(), &arm), None);
    let ia32 = parse(&wire(
        DISCOVER,
        KNOWN,
        UNSPEC,
        UNSPEC,
        &[(93, &[0, 6]), (60, b"PXEClient")],
    ))
    .unwrap();
    assert_eq!(boot_for(&f.config, &MachineState::default(), &ia32), None);
    let ovmf = parse(&ovmf_pxe(DISCOVER, KNOWN, &[])).unwrap();
    assert_eq!(
        boot_for(&f.config, &MachineState::default(), &ovmf),
        Some(Boot {
            file: "snponly.efi".into(),
            http: false
        })
    );
}

#[test]
fn off_mode_answers_nothing() {
    let mut f = fixture("");
    f.config.dhcp.mode = DhcpMode::Off;
    assert!(
        run(
            &f.config,
            &MachineState::default(),
            &LeaseTable::default(),
            &at(67),
            &ovmf_pxe(DISCOVER, KNOWN, &[])
        )
        .reply
        .is_none()
    );
}

#[test]
fn malformed_packets_are_refused_not_panicked_on() {
    let good = ipxe(DISCOVER, KNOWN, 0);
    for len in 0..good.len() {
        let _ = parse(&good[..len]);
    }
    assert!(matches!(
        parse(&good[..239]),
        Err(packet::ParseError::Short(239))
    ));
    let mut reply = good.clone();
    reply[0] = 2;
    assert!(matches!(
        parse(&reply),
        Err(packet::ParseError::NotRequest(2))
    ));
    let mut bootp = good.clone();
    bootp[236] = 0;
    assert_eq!(parse(&bootp), Err(packet::ParseError::NoMagic));
    let no_type = {
        let mut p = good[..240].to_vec();
        p.push(255);
        p
    };
    assert_eq!(parse(&no_type), Err(packet::ParseError::NoMessageType));
    // Options dhcproto would assert on (rapid commit with data, FQDN and bulk lease query
    // status too short), an option running past the end, a bad host name: all survive.
    let hostile = wire(
        DISCOVER,
        KNOWN,
        UNSPEC,
        UNSPEC,
        &[
            (80, &[1, 2, 3]),
            (81, &[]),
            (151, &[]),
            (12, &[0xff, 0xfe]),
            (93, &[0]),
            (60, b"PXEClient"),
        ],
    );
    let req = parse(&hostile).unwrap();
    assert_eq!(req.arch, None);
    let mut cut = ovmf_pxe(DISCOVER, KNOWN, &[]);
    let end = cut.iter().rposition(|&b| b == 255).unwrap();
    cut.truncate(end);
    cut.extend_from_slice(&[43, 200, 1, 2]);
    assert!(parse(&cut).is_ok());
}

/// A proxy-mode and a full-mode configuration, made once (the proptests run thousands of cases).
fn configs() -> &'static [Config; 2] {
    static CONFIGS: std::sync::OnceLock<(crate::testutil::Fixture, [Config; 2])> =
        std::sync::OnceLock::new();
    &CONFIGS
        .get_or_init(|| {
            let f = fixture("");
            let proxy = f.config.clone();
            let mut full_mode = f.config.clone();
            full(&mut full_mode);
            (f, [proxy, full_mode])
        })
        .1
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..700)) {
        let _ = parse(&bytes);
    }

    #[test]
    fn arbitrary_options_never_panic_the_parser_or_the_decision(
        options in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400),
        kind in 0u8..12,
        port in proptest::sample::select(vec![67u16, PXE_PORT]),
    ) {
        let mut bytes = wire(kind, KNOWN, UNSPEC, UNSPEC, &[]);
        bytes.truncate(243);
        bytes.extend_from_slice(&options);
        if let Ok(req) = parse(&bytes) {
            for config in configs() {
                let out = decide(config, &MachineState::default(), &LeaseTable::default(), NOW, &at(port), &req);
                if let Some(r) = out.reply {
                    r.message.to_vec().unwrap();
                }
            }
        }
    }
}
