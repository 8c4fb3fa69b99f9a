//! TFTP on the wire (RFC 1350 with the options of RFC 2347/2348/2349/7440): decoding requests,
//! encoding the few packets a read-only server sends, and one read transfer run to its end on
//! a blocking socket of its own.
//!
//! A transfer is a thread (as tftpd-hpa forks a process per transfer): the kernel wakes it
//! straight from the ACK's arrival, and a block costs a `recv` and a `send` (plus one `pread`
//! per [`READ_AHEAD`] bytes), nothing else — the same work dnsmasq's poll loop does.

use std::io;
use std::net::UdpSocket;
use std::time::{Duration, Instant};

/// Largest blksize we agree to: a 1500-byte Ethernet MTU minus IP, UDP and TFTP headers.
pub const BLOCK_SIZE_LIMIT: u16 = 1468;
/// Largest windowsize we agree to (RFC 7440).
pub const WINDOW_SIZE_LIMIT: u16 = 64;
/// blksize when the client asks for none (RFC 1350).
pub const DEFAULT_BLOCK_SIZE: u16 = 512;
/// How long to wait for an ACK before sending again, when the client names no `timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);
/// Sends of the same window before the transfer is given up.
pub const MAX_RETRIES: u32 = 8;

const RRQ: u16 = 1;
const WRQ: u16 = 2;
const DATA: u16 = 3;
const ACK: u16 = 4;
const ERROR: u16 = 5;
const OACK: u16 = 6;

/// TFTP error codes (RFC 1350, 2347).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    NotDefined = 0,
    FileNotFound = 1,
    AccessViolation = 2,
    IllegalOperation = 4,
    UnknownTid = 5,
    BadOption = 8,
}

/// A decoded request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Read {
        name: String,
        options: Options,
    },
    /// A write request: refused (the server is read-only).
    Write {
        name: String,
    },
}

/// The options a client asked for (already range-checked; out-of-range values are dropped,
/// as RFC 2347 lets a server ignore what it does not accept).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    pub blksize: Option<u16>,
    pub timeout: Option<u8>,
    /// `tsize` was asked for (its value in a read request is 0 and unused).
    pub tsize: bool,
    pub windowsize: Option<u16>,
}

/// Why a datagram is not a request we answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("shorter than an opcode")]
    Short,
    #[error("opcode {0} is not a request")]
    NotRequest(u16),
    #[error("the file name is not NUL-terminated UTF-8")]
    Name,
    #[error("mode missing or not netascii/octet")]
    Mode,
    #[error("an option is not a NUL-terminated name and value")]
    Option,
}

/// Decodes a datagram sent to the server's port.
pub fn decode_request(d: &[u8]) -> Result<Request, DecodeError> {
    let (op, body) = match d {
        [a, b, body @ ..] => (u16::from_be_bytes([*a, *b]), body),
        _ => return Err(DecodeError::Short),
    };
    if op != RRQ && op != WRQ {
        return Err(DecodeError::NotRequest(op));
    }
    if !body.contains(&0) {
        return Err(DecodeError::Name);
    }
    let mut fields = body.split(|&b| b == 0);
    let name = fields
        .next()
        .and_then(|n| std::str::from_utf8(n).ok())
        .ok_or(DecodeError::Name)?
        .to_string();
    let mode = fields.next().ok_or(DecodeError::Mode)?;
    // The data after the last NUL is empty in a well-formed packet.
    let rest: Vec<&[u8]> = fields.collect();
    let (last, opts) = rest.split_last().ok_or(DecodeError::Mode)?;
    if !last.is_empty() {
        return Err(DecodeError::Option);
    }
    if !mode.eq_ignore_ascii_case(b"octet") && !mode.eq_ignore_ascii_case(b"netascii") {
        return Err(DecodeError::Mode);
    }
    if op == WRQ {
        return Ok(Request::Write { name });
    }
    if opts.len() % 2 != 0 {
        return Err(DecodeError::Option);
    }
    let mut options = Options::default();
    for pair in opts.chunks(2) {
        let (Ok(k), Ok(v)) = (std::str::from_utf8(pair[0]), std::str::from_utf8(pair[1])) else {
            continue;
        };
        match k.to_ascii_lowercase().as_str() {
            "blksize" => options.blksize = v.parse().ok().filter(|b| (8..=65464).contains(b)),
            "timeout" => options.timeout = v.parse().ok().filter(|t| *t >= 1),
            "tsize" => options.tsize = true,
            "windowsize" => options.windowsize = v.parse().ok().filter(|w| *w >= 1),
            _ => {}
        }
    }
    Ok(Request::Read { name, options })
}

/// An ERROR packet.
pub fn error_packet(code: ErrorCode, message: &str) -> Vec<u8> {
    let mut p = Vec::with_capacity(5 + message.len());
    p.extend_from_slice(&ERROR.to_be_bytes());
    p.extend_from_slice(&(code as u16).to_be_bytes());
    p.extend_from_slice(message.replace('\0', " ").as_bytes());
    p.push(0);
    p
}

/// What is agreed for a transfer, and the OACK that says so (`None`: no option was asked for,
/// so the transfer starts with DATA 1).
pub fn negotiate(asked: &Options, size: u64) -> (Agreed, Option<Vec<u8>>) {
    let mut oack = OACK.to_be_bytes().to_vec();
    let mut put = |k: &str, v: String| {
        oack.extend_from_slice(k.as_bytes());
        oack.push(0);
        oack.extend_from_slice(v.as_bytes());
        oack.push(0);
    };
    let blksize = asked.blksize.map(|b| b.min(BLOCK_SIZE_LIMIT));
    let windowsize = asked.windowsize.map(|w| w.min(WINDOW_SIZE_LIMIT));
    if let Some(b) = blksize {
        put("blksize", b.to_string());
    }
    if let Some(t) = asked.timeout {
        put("timeout", t.to_string());
    }
    if asked.tsize {
        put("tsize", size.to_string());
    }
    if let Some(w) = windowsize {
        put("windowsize", w.to_string());
    }
    let any = blksize.is_some() || asked.timeout.is_some() || asked.tsize || windowsize.is_some();
    (
        Agreed {
            blksize: blksize.unwrap_or(DEFAULT_BLOCK_SIZE) as usize,
            windowsize: windowsize.unwrap_or(1) as usize,
            timeout: asked
                .timeout
                .map_or(DEFAULT_TIMEOUT, |t| Duration::from_secs(t.into())),
            client_timeout: asked.timeout.is_some(),
        },
        any.then_some(oack),
    )
}

/// The agreed transfer parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Agreed {
    pub blksize: usize,
    pub windowsize: usize,
    pub timeout: Duration,
    /// The client named the timeout (RFC 2349): resend at exactly that interval.
    pub client_timeout: bool,
}

/// What a transfer reads: positional reads, so one open file serves every client.
pub trait Source {
    fn len(&self) -> u64;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;
}

/// How a transfer ended.
#[derive(Debug)]
pub enum Outcome {
    /// Every block was acknowledged.
    Complete { bytes: u64 },
    /// The client sent an ERROR (e.g. it had the file already, or was aborted).
    ClientError {
        code: u16,
        message: String,
        bytes: u64,
    },
    /// The client stopped answering.
    TimedOut { bytes: u64 },
}

/// Bytes read from the source at once.
pub const READ_AHEAD: usize = 32 * 1024;

/// The last [`READ_AHEAD`] bytes read from a source, and where they start.
struct Ahead {
    buf: Vec<u8>,
    start: u64,
}

impl Ahead {
    /// Copies the `want` bytes at `offset` into `out`, reading ahead when they are not held.
    fn copy(&mut self, source: &dyn Source, offset: u64, out: &mut [u8]) -> io::Result<usize> {
        let want = (out.len() as u64).min(source.len().saturating_sub(offset)) as usize;
        let end = self.start + self.buf.len() as u64;
        if offset < self.start || offset + want as u64 > end {
            let n = READ_AHEAD
                .max(want)
                .min(source.len().saturating_sub(offset) as usize);
            self.buf.resize(n, 0);
            let mut got = 0;
            while got < n {
                match source.read_at(&mut self.buf[got..], offset + got as u64)? {
                    0 => break,
                    k => got += k,
                }
            }
            self.buf.truncate(got);
            self.start = offset;
        }
        let from = (offset - self.start) as usize;
        let n = want.min(self.buf.len() - from);
        out[..n].copy_from_slice(&self.buf[from..from + n]);
        Ok(n)
    }
}

/// The DATA packets of one window, back to back in one buffer, sent with a single `sendmsg`
/// that the kernel cuts into datagrams (UDP segmentation offload, `UDP_SEGMENT`, Linux 4.18+):
/// a window of 16 costs one system call instead of 16, which is most of what the server spends
/// per block. Every packet but a window's last is a full block, as segmentation requires.
/// Where the kernel or route refuses it (an MTU below the block size, no GSO support), the
/// transfer falls back to one `send` per packet for the rest of its life.
struct Burst {
    buf: Vec<u8>,
    /// Bytes of one full packet (header and block): the segment size.
    segment: usize,
    /// Packets one `sendmsg` may carry: the kernel caps a GSO send at 64 segments and the
    /// datagram it splits at 64 KiB.
    limit: usize,
    packets: usize,
    gso: bool,
}

/// The largest UDP payload one GSO send may carry (an IPv4 datagram's limit).
const GSO_MAX_BYTES: usize = 65_507;
/// The most segments Linux accepts in one GSO send (`UDP_MAX_SEGMENTS`).
const GSO_MAX_SEGMENTS: usize = 64;

impl Burst {
    fn new(blksize: usize, window: usize) -> Burst {
        let segment = 4 + blksize;
        let limit = (GSO_MAX_BYTES / segment).clamp(1, GSO_MAX_SEGMENTS);
        Burst {
            buf: Vec::with_capacity(segment * window.min(limit)),
            segment,
            limit,
            packets: 0,
            gso: true,
        }
    }

    /// Appends DATA `block`, its bytes written by `fill` (which returns how many it wrote).
    fn add(
        &mut self,
        block: u16,
        fill: impl FnOnce(&mut [u8]) -> io::Result<usize>,
    ) -> io::Result<()> {
        let at = self.buf.len();
        self.buf.resize(at + self.segment, 0);
        self.buf[at..at + 2].copy_from_slice(&DATA.to_be_bytes());
        self.buf[at + 2..at + 4].copy_from_slice(&block.to_be_bytes());
        let n = fill(&mut self.buf[at + 4..])?;
        self.buf.truncate(at + 4 + n);
        self.packets += 1;
        Ok(())
    }

    /// Whether the next packet would not fit in one send (or the last one was short).
    fn is_full(&self) -> bool {
        self.packets >= self.limit || self.buf.len() % self.segment != 0
    }

    /// Sends what was added, and empties the burst.
    fn send(&mut self, socket: &UdpSocket) -> io::Result<()> {
        if self.packets > 1 && self.gso {
            match self.send_segmented(socket) {
                Ok(()) => return self.clear(),
                Err(e) if gso_refused(&e) => self.gso = false,
                Err(e) => return Err(e),
            }
        }
        for packet in self.buf.chunks(self.segment) {
            socket.send(packet)?;
        }
        self.clear()
    }

    fn send_segmented(&self, socket: &UdpSocket) -> io::Result<()> {
        use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};
        use std::os::fd::AsRawFd;
        let segment = self.segment as u16;
        let iov = [io::IoSlice::new(&self.buf)];
        let cmsg = [ControlMessage::UdpGsoSegments(&segment)];
        let sent = sendmsg::<()>(socket.as_raw_fd(), &iov, &cmsg, MsgFlags::empty(), None)?;
        if sent != self.buf.len() {
            return Err(io::Error::other(format!(
                "a segmented send took {sent} of {} bytes",
                self.buf.len()
            )));
        }
        Ok(())
    }

    fn clear(&mut self) -> io::Result<()> {
        self.buf.clear();
        self.packets = 0;
        Ok(())
    }
}

/// Errors with which a kernel or route says it cannot segment this send (rather than that the
/// client is gone): EIO (device without checksum offload), EINVAL (segment above the path MTU),
/// ENOPROTOOPT (no `UDP_SEGMENT`).
fn gso_refused(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(nix::libc::EIO | nix::libc::EINVAL | nix::libc::ENOPROTOOPT | nix::libc::EMSGSIZE)
    )
}

/// The ACK timeout: the agreed one, doubled on each resend when the client named none (a slow
/// firmware gets time; a lost packet on a quick one is resent after a second), up to
/// [`MAX_BACKOFF`]. Kept in the socket's read timeout, changed only on a resend.
struct Timer {
    base: Duration,
    now: Duration,
    fixed: bool,
}

/// The longest wait between resends when the client named no timeout.
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);

impl Timer {
    fn new(socket: &UdpSocket, agreed: Agreed) -> io::Result<Timer> {
        socket.set_read_timeout(Some(agreed.timeout))?;
        Ok(Timer {
            base: agreed.timeout,
            now: agreed.timeout,
            fixed: agreed.client_timeout,
        })
    }

    fn back_off(&mut self, socket: &UdpSocket) -> io::Result<()> {
        if !self.fixed && self.now < MAX_BACKOFF {
            self.now = (self.now * 2).min(MAX_BACKOFF);
            socket.set_read_timeout(Some(self.now))?;
        }
        Ok(())
    }

    fn reset(&mut self, socket: &UdpSocket) -> io::Result<()> {
        if self.now != self.base {
            self.now = self.base;
            socket.set_read_timeout(Some(self.now))?;
        }
        Ok(())
    }
}

/// What came back from the client while waiting.
enum Reply {
    Ack(u16),
    Error(u16, String),
    Timeout,
}

/// Waits up to `timeout` for an ACK or ERROR on the connected `socket` (its read timeout is
/// already `timeout`); anything else the client sends is ignored.
fn wait(socket: &UdpSocket, timeout: Duration, buf: &mut [u8]) -> io::Result<Reply> {
    let deadline = Instant::now() + timeout;
    let gone = || Reply::Error(0, "the client's port is closed".into());
    // Linux reports a pending ICMP port unreachable before datagrams already queued: a client
    // that sent its final ACK and closed while a retransmission was in flight looks gone
    // although its ACK is waiting. So the error only counts when nothing follows it.
    let mut refused = false;
    loop {
        let n = match socket.recv(buf) {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Ok(if refused { gone() } else { Reply::Timeout });
            }
            // An ICMP port unreachable from an earlier send: the client may be gone.
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                if refused || Instant::now() >= deadline {
                    return Ok(gone());
                }
                refused = true;
                continue;
            }
            Err(e) => return Err(e),
        };
        let p = &buf[..n];
        match p.get(..2).map(|o| u16::from_be_bytes([o[0], o[1]])) {
            Some(ACK) if n >= 4 => return Ok(Reply::Ack(u16::from_be_bytes([p[2], p[3]]))),
            Some(ERROR) if n >= 4 => {
                let msg = p[4..].split(|&b| b == 0).next().unwrap_or_default();
                return Ok(Reply::Error(
                    u16::from_be_bytes([p[2], p[3]]),
                    String::from_utf8_lossy(msg).into_owned(),
                ));
            }
            _ if Instant::now() >= deadline => return Ok(Reply::Timeout),
            _ => continue,
        }
    }
}

/// Runs one read transfer on `socket` (connected to the client; nothing else reaches it):
/// the OACK first when options were agreed, then windows of DATA until the last block is
/// acknowledged. A duplicate ACK of the block before the window is ignored (no "sorcerer's
/// apprentice" resend storm); an ACK inside the window slides it and resends what follows
/// (RFC 7440); silence resends the window, up to [`MAX_RETRIES`] times.
pub fn run(
    socket: &UdpSocket,
    source: &dyn Source,
    agreed: Agreed,
    oack: Option<&[u8]>,
) -> io::Result<Outcome> {
    let mut timer = Timer::new(socket, agreed)?;
    let mut rbuf = [0u8; 1024];
    let mut retries = 0;
    if let Some(oack) = oack {
        loop {
            socket.send(oack)?;
            match wait(socket, timer.now, &mut rbuf)? {
                Reply::Ack(0) => break,
                Reply::Ack(_) => continue,
                Reply::Error(code, message) => {
                    return Ok(Outcome::ClientError {
                        code,
                        message,
                        bytes: 0,
                    });
                }
                Reply::Timeout => {
                    retries += 1;
                    if retries > MAX_RETRIES {
                        return Ok(Outcome::TimedOut { bytes: 0 });
                    }
                    timer.back_off(socket)?;
                }
            }
        }
    }
    let bs = agreed.blksize as u64;
    let len = source.len();
    // The last block is shorter than blksize, empty when the size is a multiple of it.
    let blocks = len / bs + 1;
    let window = agreed.windowsize as u64;
    let mut ahead = Ahead {
        buf: Vec::new(),
        start: 0,
    };
    let mut burst = Burst::new(agreed.blksize, agreed.windowsize);
    // `base`: the first block not acknowledged; `next`: the next block to send (1-based,
    // not wrapped; the wire carries them modulo 65536, rolling over to 0 as clients expect).
    let (mut base, mut next) = (1u64, 1u64);
    retries = 0;
    timer.reset(socket)?;
    while base <= blocks {
        while next < base + window && next <= blocks {
            let offset = (next - 1) * bs;
            burst.add(next as u16, |data| ahead.copy(source, offset, data))?;
            if burst.is_full() {
                burst.send(socket)?;
            }
            next += 1;
        }
        burst.send(socket)?;
        match wait(socket, timer.now, &mut rbuf)? {
            Reply::Ack(b) => {
                let last = next - 1;
                let back = u64::from((last as u16).wrapping_sub(b));
                // Only an ACK of a block from `base - 1` to `last` counts; older ones are stale.
                if back <= last + 1 - base {
                    let acked = last - back;
                    if acked >= base {
                        base = acked + 1;
                        if acked < last {
                            // The client lost what followed: send it again from there.
                            next = base;
                        }
                        if retries > 0 {
                            retries = 0;
                            timer.reset(socket)?;
                        }
                    }
                }
            }
            Reply::Error(code, message) => {
                return Ok(Outcome::ClientError {
                    code,
                    message,
                    bytes: (base - 1) * bs,
                });
            }
            Reply::Timeout => {
                retries += 1;
                if retries > MAX_RETRIES {
                    return Ok(Outcome::TimedOut {
                        bytes: (base - 1) * bs,
                    });
                }
                timer.back_off(socket)?;
                next = base;
            }
        }
    }
    Ok(Outcome::Complete { bytes: len })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    impl Source for Vec<u8> {
        fn len(&self) -> u64 {
            self.as_slice().len() as u64
        }
        fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
            let start = (offset as usize).min(self.as_slice().len());
            let n = buf.len().min(self.as_slice().len() - start);
            buf[..n].copy_from_slice(&self[start..start + n]);
            Ok(n)
        }
    }

    fn rrq(name: &str, mode: &str, opts: &[(&str, &str)]) -> Vec<u8> {
        let mut p = vec![0, 1];
        for f in [name, mode]
            .into_iter()
            .chain(opts.iter().flat_map(|(k, v)| [*k, *v]))
        {
            p.extend_from_slice(f.as_bytes());
            p.push(0);
        }
        p
    }

    #[test]
    fn requests_decode() {
        assert_eq!(
            decode_request(&rrq(
                "boot/x/vmlinuz",
                "OCTET",
                &[
                    ("blksize", "1468"),
                    ("tsize", "0"),
                    ("WindowSize", "16"),
                    ("timeout", "2"),
                    ("foo", "bar")
                ]
            )),
            Ok(Request::Read {
                name: "boot/x/vmlinuz".into(),
                options: Options {
                    blksize: Some(1468),
                    timeout: Some(2),
                    tsize: true,
                    windowsize: Some(16),
                }
            })
        );
        // Out-of-range values are ignored, not errors (RFC 2347).
        let Ok(Request::Read { options, .. }) = decode_request(&rrq(
            "f",
            "netascii",
            &[("blksize", "7"), ("timeout", "0"), ("windowsize", "0")],
        )) else {
            panic!()
        };
        assert_eq!(options, Options::default());
        let mut wrq = rrq("up", "octet", &[]);
        wrq[1] = 2;
        assert_eq!(
            decode_request(&wrq),
            Ok(Request::Write { name: "up".into() })
        );
        for (bad, want) in [
            (&b""[..], DecodeError::Short),
            (b"\x00", DecodeError::Short),
            (b"\x00\x04\x00\x01", DecodeError::NotRequest(4)),
            (b"\x00\x01name", DecodeError::Name),
            (b"\x00\x01\xff\xfe\x00octet\x00", DecodeError::Name),
            (b"\x00\x01name\x00", DecodeError::Mode),
            (b"\x00\x01name\x00mail\x00", DecodeError::Mode),
            (b"\x00\x01name\x00octet", DecodeError::Mode),
            (b"\x00\x01name\x00octet\x00blksize\x00", DecodeError::Option),
        ] {
            assert_eq!(decode_request(bad), Err(want), "{bad:?}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(5000))]
        /// Arbitrary datagrams (the stable stand-in for the fuzz target's first half): never
        /// a panic, and a decoded request encodes back to an equivalent one.
        #[test]
        fn any_datagram_decodes_or_is_refused(d in prop::collection::vec(any::<u8>(), 0..600)) {
            if let Ok(Request::Read { name, options }) = decode_request(&d) {
                let (_, oack) = negotiate(&options, 1234);
                prop_assert!(!name.contains('\0'));
                if let Some(o) = oack {
                    prop_assert_eq!(&o[..2], &OACK.to_be_bytes());
                }
            }
        }

        #[test]
        fn requests_round_trip(name in "[a-z./_-]{0,40}", blk in 8u16..=65464, win in 1u16..=300) {
            let (b, w) = (blk.to_string(), win.to_string());
            let d = rrq(&name, "octet", &[("blksize", b.as_str()), ("windowsize", w.as_str())]);
            let Ok(Request::Read { name: n, options }) = decode_request(&d) else {
                panic!("{d:?}")
            };
            prop_assert_eq!(n, name);
            let (agreed, _) = negotiate(&options, 0);
            prop_assert_eq!(agreed.blksize, blk.min(BLOCK_SIZE_LIMIT) as usize);
            prop_assert_eq!(agreed.windowsize, win.min(WINDOW_SIZE_LIMIT) as usize);
        }
    }

    #[test]
    fn negotiation_caps_and_answers() {
        let asked = Options {
            blksize: Some(9000),
            timeout: Some(3),
            tsize: true,
            windowsize: Some(500),
        };
        let (a, oack) = negotiate(&asked, 4096);
        assert_eq!((a.blksize, a.windowsize), (1468, 64));
        assert_eq!(a.timeout, Duration::from_secs(3));
        assert_eq!(
            oack.unwrap(),
            b"\x00\x06blksize\x001468\x00timeout\x003\x00tsize\x004096\x00windowsize\x0064\x00"
        );
        let (a, oack) = negotiate(&Options::default(), 1);
        assert_eq!((a.blksize, a.windowsize, oack), (512, 1, None));
    }

    /// A client in the test: receives into `got`, ACKs per window like atftp, drops the first
    /// arrival of each block in `drop`, and optionally sends an ERROR instead of the n-th ACK.
    fn client(
        sock: &UdpSocket,
        blksize: usize,
        window: u16,
        oack: bool,
        drop: &[u64],
        error_at: Option<u64>,
    ) -> Vec<u8> {
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = vec![0u8; 4 + blksize];
        let mut got = Vec::new();
        let mut expected: u64 = 1;
        let mut dropped = std::collections::HashSet::new();
        let mut since_ack = 0;
        let ack = |n: u64| sock.send(&[0, 4, (n >> 8) as u8, n as u8]).unwrap();
        if oack {
            let n = sock.recv(&mut buf).unwrap();
            assert_eq!(&buf[..2], &OACK.to_be_bytes(), "{:?}", &buf[..n]);
            ack(0);
        }
        loop {
            let Ok(n) = sock.recv(&mut buf) else {
                panic!("the server went silent at block {expected}")
            };
            assert_eq!(&buf[..2], &DATA.to_be_bytes());
            let block = u16::from_be_bytes([buf[2], buf[3]]);
            if drop.contains(&expected) && block == expected as u16 && dropped.insert(expected) {
                continue;
            }
            if block != expected as u16 {
                // A gap: ask again from the first missing block.
                ack(expected - 1);
                since_ack = 0;
                continue;
            }
            if Some(expected) == error_at {
                sock.send(b"\x00\x05\x00\x00disk full\x00").unwrap();
                return got;
            }
            got.extend_from_slice(&buf[4..n]);
            let last = n - 4 < blksize;
            expected += 1;
            since_ack += 1;
            if last || since_ack == window {
                ack(expected - 1);
                since_ack = 0;
            }
            if last {
                return got;
            }
        }
    }

    fn pair() -> (UdpSocket, UdpSocket) {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        server.connect(client.local_addr().unwrap()).unwrap();
        client.connect(server.local_addr().unwrap()).unwrap();
        (server, client)
    }

    fn data(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 % 251) as u8).collect()
    }

    fn transfer(
        file: Vec<u8>,
        options: Options,
        drop: &'static [u64],
        error_at: Option<u64>,
    ) -> (Outcome, Vec<u8>) {
        let (server, c) = pair();
        let (agreed, oack) = negotiate(&options, file.len() as u64);
        let agreed = Agreed {
            timeout: Duration::from_millis(50),
            client_timeout: true,
            ..agreed
        };
        let has_oack = oack.is_some();
        let t = std::thread::spawn(move || {
            client(
                &c,
                agreed.blksize,
                agreed.windowsize as u16,
                has_oack,
                drop,
                error_at,
            )
        });
        let outcome = run(&server, &file, agreed, oack.as_deref()).unwrap();
        (outcome, t.join().unwrap())
    }

    #[test]
    fn lock_step_rolls_over_block_numbers() {
        // 8-byte blocks: 66,001 of them, past 65,535.
        let file = data(8 * 66_000 + 3);
        let opts = Options {
            blksize: Some(8),
            ..Options::default()
        };
        let (outcome, got) = transfer(file.clone(), opts, &[], None);
        assert!(matches!(outcome, Outcome::Complete { bytes } if bytes == file.len() as u64));
        assert!(got == file);
    }

    #[test]
    fn windows_recover_from_lost_blocks() {
        let file = data(1468 * 100);
        let opts = Options {
            blksize: Some(1468),
            windowsize: Some(16),
            tsize: true,
            ..Options::default()
        };
        // Block 5 is lost (a gap inside a window); block 32 is the window's end (a timeout);
        // the size is a multiple of blksize, so the last block is empty.
        let (outcome, got) = transfer(file.clone(), opts, &[5, 32, 101], None);
        assert!(matches!(outcome, Outcome::Complete { .. }), "{outcome:?}");
        assert!(got == file);
    }

    #[test]
    fn windows_above_one_send_are_split() {
        // 64 blocks of 1468 bytes exceed one segmented send (64 KiB): two sends per window.
        let file = data(1468 * 300 + 17);
        let opts = Options {
            blksize: Some(1468),
            windowsize: Some(64),
            ..Options::default()
        };
        let (outcome, got) = transfer(file.clone(), opts, &[40, 64, 200], None);
        assert!(matches!(outcome, Outcome::Complete { .. }), "{outcome:?}");
        assert!(got == file);
    }

    #[test]
    fn bursts_arrive_as_separate_datagrams_with_and_without_segmentation() {
        for gso in [true, false] {
            let (server, c) = pair();
            c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut burst = Burst::new(8, 4);
            burst.gso = gso;
            for (block, fill) in [(1u16, &b"abcdefgh"[..]), (2, b"ijklmnop"), (3, b"qr")] {
                burst
                    .add(block, |out| {
                        out[..fill.len()].copy_from_slice(fill);
                        Ok(fill.len())
                    })
                    .unwrap();
            }
            assert!(burst.is_full(), "a short block ends the burst");
            burst.send(&server).unwrap();
            let mut buf = [0u8; 64];
            let mut got = Vec::new();
            for _ in 0..3 {
                let n = c.recv(&mut buf).unwrap();
                got.push(buf[..n].to_vec());
            }
            assert_eq!(
                got,
                [
                    &b"\x00\x03\x00\x01abcdefgh"[..],
                    b"\x00\x03\x00\x02ijklmnop",
                    b"\x00\x03\x00\x03qr"
                ],
                "gso {gso}"
            );
            assert_eq!(burst.packets, 0);
            // Loopback on Linux ≥ 4.18 segments: the first pass really took that path.
            assert_eq!(burst.gso, gso, "the kernel refused UDP_SEGMENT on loopback");
        }
    }

    #[test]
    fn no_options_means_512_byte_blocks_without_oack() {
        let file = data(5000);
        let (outcome, got) = transfer(file.clone(), Options::default(), &[], None);
        assert!(matches!(outcome, Outcome::Complete { .. }));
        assert!(got == file);
        let (outcome, got) = transfer(Vec::new(), Options::default(), &[], None);
        assert!(matches!(outcome, Outcome::Complete { bytes: 0 }));
        assert!(got.is_empty());
    }

    #[test]
    fn a_client_error_ends_the_transfer() {
        let (outcome, _) = transfer(data(100_000), Options::default(), &[], Some(3));
        match outcome {
            Outcome::ClientError {
                code,
                message,
                bytes,
            } => {
                assert_eq!((code, message.as_str(), bytes), (0, "disk full", 1024));
            }
            o => panic!("{o:?}"),
        }
    }

    #[test]
    fn a_silent_client_times_out() {
        let (server, _c) = pair();
        let agreed = Agreed {
            blksize: 512,
            windowsize: 1,
            timeout: Duration::from_millis(20),
            client_timeout: true,
        };
        let outcome = run(&server, &data(2000), agreed, None).unwrap();
        assert!(
            matches!(outcome, Outcome::TimedOut { bytes: 0 }),
            "{outcome:?}"
        );
    }
}
