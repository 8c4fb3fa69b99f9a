//! DHCP requests off the wire: checked, sanitised, decoded with dhcproto, and reduced to the
//! facts the decision needs ([`Request`]).
//!
//! dhcproto decodes every option it knows, and a few of its option decoders assume lengths
//! (they `debug_assert!` or subtract from the length): fed a hostile packet they can panic. So
//! the options area is walked here first and rebuilt with only the options Kickstand reads,
//! each with a length it accepts; everything else (and any trailing garbage) is dropped
//! before dhcproto sees the packet. Relay agent information (82) is kept as raw bytes to be
//! echoed back (RFC 3046).

use crate::mac::MacAddr;
use dhcproto::v4::{self, DhcpOption, MessageType, Opcode};
use dhcproto::{Decodable, Decoder};
use std::net::Ipv4Addr;

/// Fixed BOOTP header length, up to and including the magic cookie.
const HEADER: usize = 240;
const MAGIC: [u8; 4] = [99, 130, 83, 99];

/// Option codes Kickstand reads, with the lengths it accepts (`min..=max`), and whether
/// dhcproto decodes it (only options whose dhcproto decoder cannot fail or misread at that
/// length: one failing option makes dhcproto drop every option after it).
const KEPT: &[(u8, usize, usize, bool)] = &[
    (12, 1, 255, false),  // host name (dhcproto wants UTF-8)
    (50, 4, 4, true),     // requested IP address
    (53, 1, 1, true),     // message type
    (54, 4, 4, true),     // server identifier
    (55, 1, 255, true),   // parameter request list
    (57, 2, 2, true),     // maximum message size
    (60, 1, 255, true),   // vendor class identifier
    (61, 2, 255, true),   // client identifier
    (77, 1, 255, true),   // user class
    (82, 1, 255, false),  // relay agent information: echoed raw
    (93, 2, 2, true),     // client system architecture
    (97, 1, 255, true),   // client machine identifier (UUID/GUID)
    (175, 0, 255, false), // iPXE encapsulated options: present means iPXE
];

/// Why a packet was not taken as a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("{0} bytes is shorter than a DHCP message (at least 240)")]
    Short(usize),
    #[error("no DHCP magic cookie (a plain BOOTP packet?)")]
    NoMagic,
    #[error("not a request (op {0})")]
    NotRequest(u8),
    #[error("hardware type {0}, length {1}: only Ethernet (1, 6) is served")]
    NotEthernet(u8, u8),
    #[error("no DHCP message type (option 53)")]
    NoMessageType,
    #[error("undecodable: {0}")]
    Decode(String),
}

/// A DHCP request, as far as Kickstand cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The decoded (sanitised) message: its header is echoed in the reply.
    pub message: v4::Message,
    pub kind: MessageType,
    pub mac: MacAddr,
    pub ciaddr: Ipv4Addr,
    pub giaddr: Ipv4Addr,
    pub broadcast: bool,
    pub requested_ip: Option<Ipv4Addr>,
    pub server_id: Option<Ipv4Addr>,
    /// Option 93's first architecture type.
    pub arch: Option<u16>,
    /// Option 60 (`PXEClient:Arch:00007:UNDI:003016`, `HTTPClient:…`).
    pub vendor_class: Option<Vec<u8>>,
    /// iPXE: user class `iPXE` or option 175 present.
    pub ipxe: bool,
    /// Option 97 when it is a valid 17-byte client GUID (type 0 + 16 bytes): echoed.
    pub guid: Option<Vec<u8>>,
    /// Option 82 as received, echoed in replies to a relay.
    pub relay_info: Option<Vec<u8>>,
    pub hostname: Option<String>,
}

impl Request {
    /// A PXE firmware or iPXE (vendor class `PXEClient…`).
    pub fn is_pxe(&self) -> bool {
        self.vendor_class
            .as_deref()
            .is_some_and(|v| v.starts_with(b"PXEClient"))
    }

    /// UEFI HTTP Boot firmware (vendor class `HTTPClient…`).
    pub fn is_http_client(&self) -> bool {
        self.vendor_class
            .as_deref()
            .is_some_and(|v| v.starts_with(b"HTTPClient"))
    }
}

/// Parses one UDP payload. Never panics, whatever the bytes.
pub fn parse(bytes: &[u8]) -> Result<Request, ParseError> {
    if bytes.len() < HEADER {
        return Err(ParseError::Short(bytes.len()));
    }
    if bytes[236..240] != MAGIC {
        return Err(ParseError::NoMagic);
    }
    if bytes[0] != 1 {
        return Err(ParseError::NotRequest(bytes[0]));
    }
    if bytes[1] != 1 || bytes[2] != 6 {
        return Err(ParseError::NotEthernet(bytes[1], bytes[2]));
    }
    let options = Options::read(&bytes[HEADER..]);
    let mut clean = Vec::with_capacity(HEADER + 312);
    clean.extend_from_slice(&bytes[..HEADER]);
    options.encode_for_dhcproto(&mut clean);
    let message = v4::Message::decode(&mut Decoder::new(&clean))
        .map_err(|e| ParseError::Decode(e.to_string()))?;
    if message.opcode() != Opcode::BootRequest {
        return Err(ParseError::NotRequest(bytes[0]));
    }
    let opts = message.opts();
    let kind = opts.msg_type().ok_or(ParseError::NoMessageType)?;
    let mut mac = [0u8; 6];
    mac.copy_from_slice(&bytes[28..34]);
    let raw = |code: u8| options.get(code);
    let ipxe = raw(175).is_some() || raw(77).is_some_and(|u| u.windows(4).any(|w| w == b"iPXE"));
    let guid = raw(97)
        .filter(|g| g.len() == 17 && g[0] == 0)
        .map(<[u8]>::to_vec);
    let arch = raw(93).map(|a| u16::from_be_bytes([a[0], a[1]]));
    let requested_ip = match opts.get(v4::OptionCode::RequestedIpAddress) {
        Some(DhcpOption::RequestedIpAddress(ip)) => Some(*ip),
        _ => None,
    };
    let server_id = match opts.get(v4::OptionCode::ServerIdentifier) {
        Some(DhcpOption::ServerIdentifier(ip)) => Some(*ip),
        _ => None,
    };
    let hostname = raw(12).map(|h| String::from_utf8_lossy(h).into_owned());
    Ok(Request {
        kind,
        mac: MacAddr(mac),
        ciaddr: message.ciaddr(),
        giaddr: message.giaddr(),
        broadcast: message.flags().broadcast(),
        requested_ip,
        server_id,
        arch,
        vendor_class: raw(60).map(<[u8]>::to_vec),
        ipxe,
        guid,
        relay_info: raw(82).map(<[u8]>::to_vec),
        hostname,
        message,
    })
}

/// The options Kickstand reads, by code, as found (the first occurrence of each).
struct Options<'a> {
    values: [Option<&'a [u8]>; 256],
}

impl<'a> Options<'a> {
    /// Walks the options area: keeps well-formed options of [`KEPT`] codes with accepted
    /// lengths. Stops at End, at a truncated option, or at the end of the data.
    fn read(mut rest: &'a [u8]) -> Options<'a> {
        let mut values = [None; 256];
        while let Some((&code, tail)) = rest.split_first() {
            match code {
                0 => {
                    rest = tail;
                    continue;
                }
                255 => break,
                _ => {}
            }
            let Some((&len, tail)) = tail.split_first() else {
                break;
            };
            let len = usize::from(len);
            if tail.len() < len {
                break;
            }
            let (value, tail) = tail.split_at(len);
            rest = tail;
            let slot = &mut values[usize::from(code)];
            let kept = KEPT
                .iter()
                .any(|&(c, min, max, _)| c == code && (min..=max).contains(&len));
            // The first occurrence wins (RFC 3396 concatenation is not needed for what we read).
            if kept && slot.is_none() {
                *slot = Some(value);
            }
        }
        Options { values }
    }

    fn get(&self, code: u8) -> Option<&'a [u8]> {
        self.values[usize::from(code)]
    }

    /// Appends the options dhcproto may decode, then End.
    fn encode_for_dhcproto(&self, out: &mut Vec<u8>) {
        for &(code, _, _, decode) in KEPT {
            if let (true, Some(value)) = (decode, self.get(code)) {
                out.push(code);
                out.push(value.len() as u8);
                out.extend_from_slice(value);
            }
        }
        out.push(255);
    }
}
