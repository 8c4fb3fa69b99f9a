//! `kickstand serve`'s DHCP against real clients in a network lab the test creates: the real
//! binary runs in the lab's "server" host bound to its `eth0`; busybox `udhcpc` (full mode) and
//! a PXE client built from the bytes OVMF sends (proxy mode, ports 67 and 4011) run in the
//! "client" host. Needs root (network namespaces); skipped otherwise.

use dhcproto::v4::{DhcpOption, Message, MessageType, OptionCode};
use dhcproto::{Decodable, Decoder, Encodable};
use qemu_harness::{NetLab, Process, gate};
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::path::Path;
use std::time::Duration;

const KNOWN: &str = "52:54:00:12:34:56";
const KNOWN_BYTES: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
const STRANGER_BYTES: [u8; 6] = [0x52, 0x54, 0x00, 0x99, 0x99, 0x99];

fn config(dir: &Path, dhcp: &str) {
    for (p, content) in [
        ("boot/vmlinuz", "kernel"),
        ("boot/installer.img", "initramfs"),
        (
            "kickstarts/web.ks",
            "network --hostname={{ machine.hostname }}\nreboot\n",
        ),
    ] {
        let path = dir.join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
    let text = format!(
        r#"[server]
listen = "0.0.0.0"
http_port = 8080
tftp_port = 69
public_url = "http://192.0.2.1:8080"
state_dir = "state"

[dhcp]
interface = "eth0"
{dhcp}

[profiles.install-web]
kernel = "boot/vmlinuz"
initramfs = "boot/installer.img"
kickstart = "kickstarts/web.ks"

[[machines]]
mac = "{KNOWN}"
profile = "install-web"
hostname = "web-01"
"#
    );
    std::fs::write(dir.join("kickstand.toml"), text).unwrap();
}

/// Starts the real `kickstand serve` in `host` and waits until it answers DHCP.
fn serve(host: &qemu_harness::Host, dir: &Path, name: &str) -> Process {
    let mut cmd = host.command(env!("CARGO_BIN_EXE_kickstand")).unwrap();
    cmd.args(["serve", "--config"])
        .arg(dir.join("kickstand.toml"))
        .env("RUST_LOG", "debug");
    let mut server = host.spawn(name, cmd).unwrap();
    server
        .wait_for_output("answering DHCP", Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("{e}\n{}", server.output()));
    server
}

/// Runs busybox udhcpc once in `client`; returns what its script saw (`EVENT ip=… …` lines).
fn udhcpc(client: &qemu_harness::Host, script: &Path) -> String {
    let mut args = vec![
        "udhcpc", "-i", "eth0", "-f", "-q", "-n", "-t", "4", "-T", "2", "-s",
    ];
    let script = script.to_str().unwrap();
    args.push(script);
    let out = client
        .command("busybox")
        .unwrap()
        .args(&args)
        .output()
        .unwrap();
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn lease_row(dir: &Path, ip: &str) -> Option<(String, String)> {
    let db = rusqlite::Connection::open(dir.join("state/kickstand.db")).unwrap();
    db.query_row("SELECT mac, state FROM leases WHERE ip = ?1", [ip], |r| {
        Ok((r.get(0)?, r.get(1)?))
    })
    .ok()
}

#[test]
fn full_mode_leases_an_address_to_udhcpc_kept_across_restarts() {
    if !gate::root_test("full_mode_leases_an_address_to_udhcpc_kept_across_restarts") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    config(
        dir.path(),
        "mode = \"full\"\nrange = [\"192.0.2.100\", \"192.0.2.110\"]\nrouter = \"192.0.2.1\"\ndns = [\"192.0.2.53\"]\nlease_time = \"10m\"",
    );
    let script = dir.path().join("udhcpc.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\necho \"EVENT $1 ip=$ip subnet=$subnet router=$router dns=$dns hostname=$hostname lease=$lease serverid=$serverid\"\n\
         ip addr flush dev \"$interface\"\n\
         [ \"$1\" = bound ] && ip addr add \"$ip/$mask\" dev \"$interface\"\n\
         exit 0\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();

    let mut lab = NetLab::new("dhcp-full").unwrap();
    let server_host = lab.add_host("server", "192.0.2.1/24").unwrap();
    let client = lab.add_host("client", "192.0.2.2/24").unwrap();
    client
        .run("flush", "ip", &["addr", "flush", "dev", "eth0"])
        .unwrap();
    client
        .run("mac", "ip", &["link", "set", "eth0", "address", KNOWN])
        .unwrap();
    let server = serve(&server_host, dir.path(), "kickstand");

    let out = udhcpc(&client, &script);
    let bound = out
        .lines()
        .find(|l| l.starts_with("EVENT bound"))
        .unwrap_or_else(|| panic!("udhcpc got no lease:\n{out}\nserver:\n{}", server.output()));
    for want in [
        "ip=192.0.2.100 ",
        "subnet=255.255.255.0 ",
        "router=192.0.2.1 ",
        "dns=192.0.2.53 ",
        "hostname=web-01 ",
        "lease=600 ",
        "serverid=192.0.2.1",
    ] {
        assert!(bound.contains(want), "{want:?} missing from {bound}");
    }
    assert_eq!(
        lease_row(dir.path(), "192.0.2.100"),
        Some((KNOWN.to_string(), "bound".to_string()))
    );

    // The lease survives a restart (it is in the state database): same address again.
    // (busybox's `udhcpc -q -R` quits before it is bound and sends no RELEASE; the unit
    // tests cover RELEASE.)
    drop(server);
    let _server = serve(&server_host, dir.path(), "kickstand-restarted");
    let again = udhcpc(&client, &script);
    assert!(again.contains("EVENT bound ip=192.0.2.100 "), "{again}");
}

/// A DHCPDISCOVER laid out as OVMF's PXE sends it.
fn ovmf_discover(mac: [u8; 6], xid: u32, kind: MessageType) -> Vec<u8> {
    let mut m = Message::new_with_id(
        xid,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        &mac,
    );
    m.set_flags(dhcproto::v4::Flags::default().set_broadcast());
    let o = m.opts_mut();
    o.insert(DhcpOption::MessageType(kind));
    o.insert(DhcpOption::MaxMessageSize(1472));
    o.insert(DhcpOption::ClientSystemArchitecture(
        dhcproto::v4::Architecture::from(7u16),
    ));
    let mut guid = vec![0u8];
    guid.extend_from_slice(&[0x11; 16]);
    o.insert(DhcpOption::ClientMachineIdentifier(guid));
    o.insert(DhcpOption::ClassIdentifier(
        b"PXEClient:Arch:00007:UNDI:003000".to_vec(),
    ));
    m.to_vec().unwrap()
}

fn recv(sock: &UdpSocket) -> Message {
    let mut buf = [0u8; 1500];
    let (n, _) = sock
        .recv_from(&mut buf)
        .unwrap_or_else(|e| panic!("no DHCP reply: {e}"));
    Message::decode(&mut Decoder::new(&buf[..n])).unwrap()
}

fn fname(m: &Message) -> String {
    String::from_utf8_lossy(m.fname().unwrap_or_default())
        .trim_end_matches('\0')
        .to_string()
}

#[test]
fn proxy_mode_answers_pxe_on_67_and_4011_and_ignores_strangers() {
    if !gate::root_test("proxy_mode_answers_pxe_on_67_and_4011_and_ignores_strangers") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    config(dir.path(), "mode = \"proxy\"");
    let mut lab = NetLab::new("dhcp-proxy").unwrap();
    let server_host = lab.add_host("server", "192.0.2.1/24").unwrap();
    let client = lab.add_host("client", "192.0.2.2/24").unwrap();
    let server = serve(&server_host, dir.path(), "kickstand");

    let (offer, ack) = client
        .in_netns(|| {
            let sock = UdpSocket::bind("0.0.0.0:68").unwrap();
            sock.set_broadcast(true).unwrap();
            // As firmware does: broadcast out of this NIC (there is no route to 255.255.255.255).
            nix::sys::socket::setsockopt(
                &sock,
                nix::sys::socket::sockopt::BindToDevice,
                &"eth0".into(),
            )
            .unwrap();
            sock.set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let to = SocketAddrV4::new(Ipv4Addr::BROADCAST, 67);
            // The stranger's DISCOVER goes first: packets are handled in order, so had it
            // been answered, that answer would arrive before the known machine's.
            sock.send_to(&ovmf_discover(STRANGER_BYTES, 1, MessageType::Discover), to)
                .unwrap();
            sock.send_to(&ovmf_discover(KNOWN_BYTES, 2, MessageType::Discover), to)
                .unwrap();
            let offer = recv(&sock);
            // Boot server discovery: a REQUEST unicast to port 4011, answered to the sender.
            let pxe = UdpSocket::bind("192.0.2.2:4011").unwrap();
            pxe.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            pxe.send_to(
                &ovmf_discover(KNOWN_BYTES, 3, MessageType::Request),
                "192.0.2.1:4011",
            )
            .unwrap();
            (offer, recv(&pxe))
        })
        .unwrap();
    let log = server.output();
    assert_eq!(offer.xid(), 2, "the stranger was answered:\n{log}");
    assert_eq!(offer.opts().msg_type(), Some(MessageType::Offer));
    assert_eq!(offer.yiaddr(), Ipv4Addr::UNSPECIFIED);
    assert_eq!(offer.siaddr(), Ipv4Addr::new(192, 0, 2, 1));
    assert_eq!(fname(&offer), "snponly.efi");
    assert_eq!(
        offer.opts().get(OptionCode::ClassIdentifier),
        Some(&DhcpOption::ClassIdentifier(b"PXEClient".to_vec()))
    );
    assert_eq!(
        offer.opts().get(OptionCode::VendorExtensions),
        Some(&DhcpOption::VendorExtensions(vec![6, 1, 8, 255]))
    );
    assert!(
        offer
            .opts()
            .get(OptionCode::ClientMachineIdentifier)
            .is_some()
    );
    assert_eq!(
        (ack.xid(), ack.opts().msg_type()),
        (3, Some(MessageType::Ack))
    );
    assert_eq!(fname(&ack), "snponly.efi");
    assert!(
        log.contains("not in the inventory"),
        "the stranger's DISCOVER was not seen:\n{log}"
    );
}
