//! DHCP sockets: UDP 67 (and 4011 in proxy mode) on `0.0.0.0`, bound to one interface
//! (SO_BINDTODEVICE: requests from other networks never reach us, and broadcasts leave by
//! that interface), allowed to broadcast, with IP_PKTINFO telling which local address a
//! request arrived for.

use crate::config::{Config, DhcpMode};
use nix::sys::socket::{
    self, AddressFamily, ControlMessageOwned, MsgFlags, SockFlag, SockType, SockaddrIn, sockopt,
};
use std::io::{self, IoSliceMut};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsRawFd, RawFd};

/// Why the DHCP sockets could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    #[error(
        "binding UDP port {port} on interface {interface} ([dhcp] interface; ports below 1024 need root or CAP_NET_BIND_SERVICE)"
    )]
    Bind {
        interface: String,
        port: u16,
        #[source]
        source: io::Error,
    },
}

/// The bound sockets (std sockets: they can be bound inside a network namespace and served
/// from anywhere).
#[derive(Debug)]
pub struct Sockets {
    pub interface: String,
    /// Port 67.
    pub server: std::net::UdpSocket,
    /// Port 4011 (PXE boot server discovery), in proxy mode.
    pub pxe: Option<std::net::UdpSocket>,
}

impl Sockets {
    /// Binds what `[dhcp]` asks for; `None` when `mode = "off"`.
    pub fn bind(config: &Config) -> Result<Option<Sockets>, SocketError> {
        let Some(interface) = config.dhcp.interface.clone() else {
            return Ok(None);
        };
        let ports: &[u16] = match config.dhcp.mode {
            DhcpMode::Off => return Ok(None),
            DhcpMode::Full => &[67],
            DhcpMode::Proxy => &[67, super::decide::PXE_PORT],
        };
        let mut bound = Vec::new();
        for &port in ports {
            let socket = bind_one(&interface, port).map_err(|source| SocketError::Bind {
                interface: interface.clone(),
                port,
                source,
            })?;
            bound.push(socket);
        }
        let mut bound = bound.into_iter();
        Ok(Some(Sockets {
            server: bound.next().expect("port 67 is always bound"),
            pxe: bound.next(),
            interface,
        }))
    }
}

fn bind_one(interface: &str, port: u16) -> io::Result<std::net::UdpSocket> {
    let fd = socket::socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        None,
    )?;
    socket::setsockopt(&fd, sockopt::ReuseAddr, &true)?;
    socket::setsockopt(&fd, sockopt::Broadcast, &true)?;
    socket::setsockopt(&fd, sockopt::Ipv4PacketInfo, &true)?;
    socket::setsockopt(&fd, sockopt::BindToDevice, &interface.into())?;
    socket::bind(fd.as_raw_fd(), &SockaddrIn::new(0, 0, 0, 0, port))?;
    Ok(std::net::UdpSocket::from(fd))
}

/// One received datagram.
#[derive(Debug)]
pub struct Datagram {
    pub data: Vec<u8>,
    pub src: SocketAddrV4,
    /// The local address the kernel would answer from on the arrival interface.
    pub local: Ipv4Addr,
}

/// Receives one datagram with its packet info.
pub async fn recv(sock: &tokio::net::UdpSocket) -> io::Result<Datagram> {
    loop {
        sock.readable().await?;
        match sock.try_io(tokio::io::Interest::READABLE, || recv_now(sock.as_raw_fd())) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            r => return r,
        }
    }
}

fn recv_now(fd: RawFd) -> io::Result<Datagram> {
    let mut buf = vec![0u8; 4096];
    let mut cmsg = nix::cmsg_space!(nix::libc::in_pktinfo);
    let (len, src, local) = {
        let mut iov = [IoSliceMut::new(&mut buf)];
        let msg = socket::recvmsg::<SockaddrIn>(fd, &mut iov, Some(&mut cmsg), MsgFlags::empty())?;
        let mut local = Ipv4Addr::UNSPECIFIED;
        for c in msg.cmsgs()? {
            if let ControlMessageOwned::Ipv4PacketInfo(info) = c {
                local = Ipv4Addr::from(u32::from_be(info.ipi_spec_dst.s_addr));
            }
        }
        let src = msg
            .address
            .map_or(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0), |a| {
                SocketAddrV4::new(a.ip(), a.port())
            });
        (msg.bytes, src, local)
    };
    buf.truncate(len);
    Ok(Datagram {
        data: buf,
        src,
        local,
    })
}

/// The IPv4 addresses (with netmasks) of `interface`.
pub fn interface_addresses(interface: &str) -> Vec<(Ipv4Addr, Ipv4Addr)> {
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        return Vec::new();
    };
    addrs
        .filter(|a| a.interface_name == interface)
        .filter_map(|a| {
            let ip = a.address?.as_sockaddr_in()?.ip();
            let mask = a.netmask?.as_sockaddr_in()?.ip();
            Some((ip, mask))
        })
        .collect()
}

/// Our address for a request: the one the kernel reported, else the one on the pool's
/// network, else the interface's first.
pub fn pick_address(
    addrs: &[(Ipv4Addr, Ipv4Addr)],
    local: Ipv4Addr,
    range: Option<(Ipv4Addr, Ipv4Addr)>,
) -> Option<(Ipv4Addr, Ipv4Addr)> {
    let same_net = |(ip, mask): (Ipv4Addr, Ipv4Addr), other: Ipv4Addr| {
        u32::from(ip) & u32::from(mask) == u32::from(other) & u32::from(mask)
    };
    addrs
        .iter()
        .copied()
        .find(|&(ip, _)| ip == local)
        .or_else(|| {
            let (first, _) = range?;
            addrs.iter().copied().find(|&a| same_net(a, first))
        })
        .or_else(|| addrs.first().copied())
}
