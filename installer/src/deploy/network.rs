//! `network`: the hostname, and the first `network` line as the image's own network
//! configuration — a NetworkManager keyfile when the image has NetworkManager, else a
//! systemd-networkd `.network` file (and networkd enabled).
//!
//! The file is rendered completely before it is written; one file is written per call.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::error::{DeployError, Result};
use super::system::check_word;
use super::target::TargetRoot;

/// How an interface gets its IPv4 address.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum BootProto {
    /// `--bootproto=dhcp` (the default).
    #[default]
    Dhcp,
    /// `--bootproto=static` with `--ip`, `--netmask`, `--gateway`.
    Static,
}

/// The settings of one `network` line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Network {
    /// `--device`: an interface name, a MAC address, or `link`/`bootif`/none for "the wired
    /// interface".
    pub device: Option<String>,
    /// `--bootproto`.
    pub bootproto: BootProto,
    /// `--ip`.
    pub ip: Option<String>,
    /// `--netmask` (dotted or a prefix length).
    pub netmask: Option<String>,
    /// `--gateway`.
    pub gateway: Option<String>,
    /// `--nameserver` (repeatable or comma-separated).
    pub nameservers: Vec<String>,
    /// `--ipv6`: `auto`, `dhcp` or `ADDRESS/PREFIX`.
    pub ipv6: Option<String>,
    /// `--noipv6`.
    pub noipv6: bool,
    /// `--onboot=no` makes this false.
    pub onboot: bool,
    /// `--mtu`.
    pub mtu: Option<u32>,
    /// `--hostname`.
    pub hostname: Option<String>,
}

/// Which network stack the image uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stack {
    /// NetworkManager: keyfiles in `/etc/NetworkManager/system-connections`.
    NetworkManager,
    /// systemd-networkd: `.network` files in `/etc/systemd/network`.
    Networkd,
}

impl Stack {
    /// The stack the image carries (NetworkManager first, as it is the one enabled where an
    /// image has both), or `None`.
    pub fn detect(root: &TargetRoot) -> Option<Self> {
        if root.exists("/usr/lib/systemd/system/NetworkManager.service")
            || root.exists("/usr/sbin/NetworkManager")
        {
            Some(Stack::NetworkManager)
        } else if root.exists("/usr/lib/systemd/system/systemd-networkd.service") {
            Some(Stack::Networkd)
        } else {
            None
        }
    }
}

/// Writes `/etc/hostname`.
pub fn apply_hostname(root: &TargetRoot, hostname: &str) -> Result<()> {
    let valid = hostname.len() <= 64
        && hostname.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if !valid {
        return Err(DeployError::Invalid(format!(
            "network --hostname {hostname:?} is not a host name: expected dot-separated labels \
             of letters, digits and inner '-', 64 characters at most"
        )));
    }
    root.write("/etc/hostname", format!("{hostname}\n").as_bytes(), 0o644)?;
    Ok(())
}

/// Writes `net` as the image's network configuration and returns the path written inside the
/// target, or `None` (with a warning) when the image has neither NetworkManager nor networkd.
pub fn apply_network(root: &TargetRoot, net: &Network) -> Result<Option<String>> {
    let Some(stack) = Stack::detect(root) else {
        tracing::warn!(
            "the image has neither NetworkManager nor systemd-networkd; the network line is not applied"
        );
        return Ok(None);
    };
    let (path, text) = render(stack, net, &uuid_v4()?)?;
    match stack {
        Stack::NetworkManager => root.write(&path, text.as_bytes(), 0o600)?,
        Stack::Networkd => {
            let p = root.write(&path, text.as_bytes(), 0o644)?;
            // Enable networkd the way `systemctl enable` does (its unit is WantedBy
            // multi-user.target).
            root.symlink(
                "/usr/lib/systemd/system/systemd-networkd.service",
                "/etc/systemd/system/multi-user.target.wants/systemd-networkd.service",
            )?;
            p
        }
    };
    Ok(Some(path))
}

/// What a `network` line's device means.
enum Device<'a> {
    Name(&'a str),
    Mac(&'a str),
    AnyWired,
}

fn device(net: &Network) -> Result<Device<'_>> {
    match net.device.as_deref() {
        None | Some("link") | Some("bootif") => Ok(Device::AnyWired),
        Some(d) if is_mac(d) => Ok(Device::Mac(d)),
        Some(d) => {
            check_word("network --device", d, |c| {
                c.is_ascii_alphanumeric() || "._-".contains(c)
            })?;
            Ok(Device::Name(d))
        }
    }
}

fn is_mac(s: &str) -> bool {
    let parts: Vec<&str> = s.split(':').collect();
    parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Static IPv4 settings, checked: (address/prefix, gateway).
fn static_v4(net: &Network) -> Result<(String, Option<Ipv4Addr>)> {
    let ip: Ipv4Addr = parse("network --ip", net.ip.as_deref())?;
    let mask = net
        .netmask
        .as_deref()
        .ok_or_else(|| DeployError::Invalid("network --bootproto=static needs --netmask".into()))?;
    let prefix = match mask.parse::<u8>() {
        Ok(p) if p <= 32 => p,
        _ => {
            let m: Ipv4Addr = parse("network --netmask", Some(mask))?;
            let bits = u32::from(m);
            if bits.leading_ones() + bits.trailing_zeros() != 32 {
                return Err(DeployError::Invalid(format!(
                    "network --netmask {mask} is not a contiguous netmask"
                )));
            }
            bits.leading_ones() as u8
        }
    };
    let gw = net
        .gateway
        .as_deref()
        .map(|g| parse("network --gateway", Some(g)))
        .transpose()?;
    Ok((format!("{ip}/{prefix}"), gw))
}

fn parse<T: std::str::FromStr>(what: &str, value: Option<&str>) -> Result<T> {
    let value = value
        .ok_or_else(|| DeployError::Invalid(format!("network --bootproto=static needs {what}")))?;
    value
        .parse()
        .map_err(|_| DeployError::Invalid(format!("{what} {value:?} is not an IP address")))
}

fn nameservers(net: &Network) -> Result<Vec<String>> {
    net.nameservers
        .iter()
        .flat_map(|n| n.split(','))
        .filter(|n| !n.is_empty())
        .map(|n| {
            if n.parse::<Ipv4Addr>().is_ok() || n.parse::<Ipv6Addr>().is_ok() {
                Ok(n.to_string())
            } else {
                Err(DeployError::Invalid(format!(
                    "network --nameserver {n:?} is not an IP address"
                )))
            }
        })
        .collect()
}

/// The path (inside the target) and contents of the configuration file for `net`.
pub fn render(stack: Stack, net: &Network, uuid: &str) -> Result<(String, String)> {
    let dev = device(net)?;
    let v4 = match net.bootproto {
        BootProto::Dhcp => None,
        BootProto::Static => Some(static_v4(net)?),
    };
    let dns = nameservers(net)?;
    let v6 = match net.ipv6.as_deref() {
        None | Some("auto") | Some("dhcp") => None,
        Some(a) => {
            let (addr, prefix) = a.split_once('/').unwrap_or((a, "64"));
            let ok =
                addr.parse::<Ipv6Addr>().is_ok() && prefix.parse::<u8>().is_ok_and(|p| p <= 128);
            if !ok {
                return Err(DeployError::Invalid(format!(
                    "network --ipv6 {a:?}: expected auto, dhcp or ADDRESS/PREFIX"
                )));
            }
            Some(format!("{addr}/{prefix}"))
        }
    };
    let name = match dev {
        Device::Name(n) => n.to_string(),
        Device::Mac(m) => m.replace(':', ""),
        Device::AnyWired => "wired".to_string(),
    };
    let mut out =
        String::from("# Written by kickstand-installer from the kickstart's network line.\n");
    match stack {
        Stack::NetworkManager => {
            out.push_str(&format!(
                "[connection]\nid={name}\nuuid={uuid}\ntype=ethernet\n"
            ));
            if let Device::Name(n) = dev {
                out.push_str(&format!("interface-name={n}\n"));
            }
            out.push_str(&format!("autoconnect={}\n\n[ethernet]\n", net.onboot));
            if let Device::Mac(m) = dev {
                out.push_str(&format!("mac-address={}\n", m.to_ascii_uppercase()));
            }
            if let Some(mtu) = net.mtu {
                out.push_str(&format!("mtu={mtu}\n"));
            }
            out.push_str("\n[ipv4]\n");
            match &v4 {
                None => out.push_str("method=auto\n"),
                Some((addr, gw)) => {
                    out.push_str("method=manual\n");
                    match gw {
                        Some(gw) => out.push_str(&format!("address1={addr},{gw}\n")),
                        None => out.push_str(&format!("address1={addr}\n")),
                    }
                }
            }
            if !dns.is_empty() {
                out.push_str(&format!("dns={};\n", dns.join(";")));
            }
            out.push_str("\n[ipv6]\n");
            match (&v6, net.noipv6, net.ipv6.as_deref()) {
                (_, true, _) => out.push_str("method=disabled\n"),
                (Some(a), _, _) => out.push_str(&format!("method=manual\naddress1={a}\n")),
                (None, _, Some("dhcp")) => out.push_str("method=dhcp\n"),
                (None, _, _) => out.push_str("method=auto\n"),
            }
            Ok((
                format!("/etc/NetworkManager/system-connections/{name}.nmconnection"),
                out,
            ))
        }
        Stack::Networkd => {
            out.push_str("[Match]\n");
            match dev {
                Device::Name(n) => out.push_str(&format!("Name={n}\n")),
                Device::Mac(m) => out.push_str(&format!("MACAddress={}\n", m.to_ascii_lowercase())),
                Device::AnyWired => out.push_str("Type=ether\nName=en* eth*\n"),
            }
            if !net.onboot || net.mtu.is_some() {
                out.push_str("\n[Link]\n");
                if !net.onboot {
                    out.push_str("ActivationPolicy=manual\n");
                }
                if let Some(mtu) = net.mtu {
                    out.push_str(&format!("MTUBytes={mtu}\n"));
                }
            }
            out.push_str("\n[Network]\n");
            let dhcp = match (
                v4.is_none(),
                !net.noipv6 && net.ipv6.as_deref() == Some("dhcp"),
            ) {
                (true, true) => Some("yes"),
                (true, false) => Some("ipv4"),
                (false, true) => Some("ipv6"),
                (false, false) => None,
            };
            if let Some(d) = dhcp {
                out.push_str(&format!("DHCP={d}\n"));
            }
            if let Some((addr, gw)) = &v4 {
                out.push_str(&format!("Address={addr}\n"));
                if let Some(gw) = gw {
                    out.push_str(&format!("Gateway={gw}\n"));
                }
            }
            if let Some(a) = &v6 {
                out.push_str(&format!("Address={a}\n"));
            }
            out.push_str(&format!(
                "IPv6AcceptRA={}\n",
                if net.noipv6 || v6.is_some() {
                    "no"
                } else {
                    "yes"
                }
            ));
            if net.noipv6 {
                out.push_str("LinkLocalAddressing=ipv4\n");
            }
            for d in &dns {
                out.push_str(&format!("DNS={d}\n"));
            }
            Ok((
                format!("/etc/systemd/network/10-kickstand-{name}.network"),
                out,
            ))
        }
    }
}

/// A random (version 4) UUID for the NetworkManager connection.
fn uuid_v4() -> Result<String> {
    let mut b = [0u8; 16];
    let path = "/dev/urandom";
    std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
        .map_err(|e| DeployError::io("reading", path, e))?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}
