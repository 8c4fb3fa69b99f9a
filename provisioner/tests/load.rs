//! Bad input and load: a flood of malformed TFTP packets and 1,000 slow HTTP connections must
//! leave the server answering normal requests. Not timed; only whether it still serves.

mod common;

use common::*;
use std::io::Write;
use std::net::{TcpStream, UdpSocket};
use std::process::Command;

fn tftp_works(s: &Server) {
    let out = run(Command::new("curl").args([
        "-sS",
        "--max-time",
        "60",
        &format!("tftp://127.0.0.1:{}/boot/install-web/vmlinuz", s.tftp),
    ]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout == s.kernel(), "content differs");
}

fn http_works(s: &Server) {
    let (h, body) = curl(&[&s.url("/boot/install-web/vmlinuz")]);
    assert_eq!(status(&h), 200, "{h}");
    assert!(body == s.kernel(), "content differs");
}

#[test]
fn malformed_tftp_flood() {
    let s = start("");
    let target = format!("127.0.0.1:{}", s.tftp);
    let sockets: Vec<UdpSocket> = (0..32)
        .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    let mut packets: Vec<Vec<u8>> = vec![
        vec![],
        vec![0],
        vec![0, 1],
        b"\x00\x01file".to_vec(),                       // no terminator
        b"\x00\x01boot.ipxe\x00".to_vec(),              // no mode
        b"\x00\x01boot.ipxe\x00bogusmode\x00".to_vec(), // bad mode
        b"\x00\x01boot.ipxe\x00octet\x00blksize\x00".to_vec(), // option without value
        b"\x00\x01boot.ipxe\x00octet\x00blksize\x00999999999999\x00".to_vec(),
        b"\x00\x01boot.ipxe\x00octet\x00windowsize\x000\x00".to_vec(),
        b"\x00\x01boot.ipxe\x00octet\x00blksize\x007\x00".to_vec(),
        b"\x00\x02upload\x00octet\x00".to_vec(), // write request
        b"\x00\x03\x00\x01data".to_vec(),        // DATA to the listening port
        b"\x00\x04\x00\x01".to_vec(),            // stray ACK
        b"\x00\x05\x00\x01oops\x00".to_vec(),    // ERROR
        b"\x00\x06blksize\x00512\x00".to_vec(),  // OACK
        b"\x00\x09".to_vec(),                    // unknown opcode
        vec![0xff; 4096],
        [
            b"\x00\x01".to_vec(),
            vec![b'a'; 3000],
            b"\x00octet\x00".to_vec(),
        ]
        .concat(),
        b"\x00\x01../../../../etc/passwd\x00octet\x00".to_vec(),
        b"\x00\x01/etc/passwd\x00netascii\x00".to_vec(),
    ];
    packets.extend(common::bytes(64 * 200, 7).chunks(64).map(<[u8]>::to_vec));
    for round in 0..50 {
        for (i, p) in packets.iter().enumerate() {
            let _ = sockets[(i + round) % sockets.len()].send_to(p, &target);
        }
    }
    tftp_works(&s);
    http_works(&s);
    let (_, body) = curl(&[&s.url("/metrics")]);
    let m = String::from_utf8(body).unwrap();
    assert!(m.contains("kickstand_tftp_refused_total"), "{m}");
}

#[test]
fn thousand_slow_http_connections() {
    kickstand_provisioner::serve::listener::raise_fd_limit();
    let s = start("");
    let mut slow = Vec::new();
    for i in 0..1000 {
        let mut c = TcpStream::connect(("127.0.0.1", s.http))
            .unwrap_or_else(|e| panic!("connection {i}: {e}"));
        // Headers that never finish.
        c.write_all(b"GET /boot/install-web/vmlinuz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .unwrap();
        slow.push(c);
    }
    http_works(&s);
    tftp_works(&s);
    // Half of them crawl on, a byte at a time; the server still answers.
    for c in slow.iter_mut().step_by(2) {
        let _ = c.write_all(b"a");
    }
    http_works(&s);
    drop(slow);
    http_works(&s);
}
