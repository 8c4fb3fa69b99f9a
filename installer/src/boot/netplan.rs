//! Which interface PID 1 configures and how, decided from the boot options and the NICs found
//! (pure), and the configuration a DHCP lease or a static `ip=` turns into: the address,
//! routes, DNS and hostname the edge applies with netlink and `/etc/resolv.conf`.
//!
//! Interface choice, as dracut and Anaconda do it: the interface named in `ip=` (a name or a
//! MAC), else `BOOTIF=` (the NIC the machine network-booted from), else the first NIC with
//! carrier, else the first NIC. Names are compared in natural order (`eth2` before `eth10`).

use super::cmdline::{BootOptions, IpConfig};
use super::dhcp::Lease;
use std::fmt::Write as _;
use std::net::Ipv4Addr;

/// A network interface as sysfs shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nic {
    pub name: String,
    pub mac: [u8; 6],
    /// `/sys/class/net/NAME/carrier` read 1 (the link is up and a cable is in).
    pub carrier: bool,
}

/// What to do with the network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetPlan {
    /// No networking: nothing on the command line needs it, or `ip=off`.
    None,
    /// Ask a DHCP server on `nic`; `nameservers` (from `nameserver=`) replace the lease's DNS.
    Dhcp {
        nic: Nic,
        nameservers: Vec<Ipv4Addr>,
        hostname: Option<String>,
    },
    /// Configure `config` on its interface.
    Static(NetConfig),
}

/// An interface configuration ready to apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetConfig {
    pub interface: String,
    pub address: Ipv4Addr,
    pub prefix: u8,
    pub gateway: Option<Ipv4Addr>,
    pub dns: Vec<Ipv4Addr>,
    pub search: Option<String>,
    pub hostname: Option<String>,
    pub mtu: Option<u16>,
}

/// Why no plan could be made; the message names what was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetPlanError {
    #[error(
        "the kickstart or kickstand.server is remote but ip={0} turns networking off; \
         remove ip=off or give a local kickstart (inst.ks=file:/…, hd:…, cdrom:…)"
    )]
    NetworkOff(&'static str),
    #[error(
        "networking is needed ({why}) but this machine has no network interface (is its driver in the initramfs?)"
    )]
    NoNic { why: &'static str },
    #[error("{what} names interface {wanted}, which does not exist; the interfaces are: {found}")]
    NoSuchNic {
        what: &'static str,
        wanted: String,
        found: String,
    },
}

fn mac_text(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

impl Nic {
    /// `aa:bb:cc:dd:ee:ff`.
    pub fn mac_text(&self) -> String {
        mac_text(&self.mac)
    }
}

/// Finds the NIC `wanted` names: an interface name or a MAC (`aa:bb:…`, any case).
fn by_name_or_mac<'a>(nics: &'a [Nic], wanted: &str) -> Option<&'a Nic> {
    nics.iter().find(|n| n.name == wanted).or_else(|| {
        nics.iter()
            .find(|n| n.mac_text().eq_ignore_ascii_case(wanted))
    })
}

fn listing(nics: &[Nic]) -> String {
    if nics.is_empty() {
        return "none".into();
    }
    nics.iter()
        .map(|n| format!("{} ({})", n.name, n.mac_text()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Chooses the interface and method. `nics` may be in any order.
pub fn plan(opts: &BootOptions, nics: &[Nic]) -> Result<NetPlan, NetPlanError> {
    let mut nics: Vec<Nic> = nics.to_vec();
    nics.sort_by(|a, b| crate::hardware::natural_cmp(&a.name, &b.name));
    let why = if opts.wants_network() {
        "the kickstart or kickstand.server is a URL"
    } else {
        "ip= is on the command line"
    };
    let ip = match opts.ip.first() {
        Some(IpConfig::Off) if opts.wants_network() => return Err(NetPlanError::NetworkOff("off")),
        Some(IpConfig::Off) => return Ok(NetPlan::None),
        Some(ip) => ip.clone(),
        None if opts.wants_network() => IpConfig::Dhcp { interface: None },
        None => return Ok(NetPlan::None),
    };
    if nics.is_empty() {
        return Err(NetPlanError::NoNic { why });
    }
    let named = match &ip {
        IpConfig::Dhcp { interface } => interface.clone(),
        IpConfig::Static { interface, .. } => interface.clone(),
        IpConfig::Off => None,
    };
    let nic = match (named, opts.bootif) {
        (Some(name), _) => by_name_or_mac(&nics, &name)
            .ok_or_else(|| NetPlanError::NoSuchNic {
                what: "ip=",
                wanted: name.clone(),
                found: listing(&nics),
            })?
            .clone(),
        (None, Some(mac)) => nics
            .iter()
            .find(|n| n.mac == mac)
            .ok_or_else(|| NetPlanError::NoSuchNic {
                what: "BOOTIF=",
                wanted: mac_text(&mac),
                found: listing(&nics),
            })?
            .clone(),
        (None, None) => nics.iter().find(|n| n.carrier).unwrap_or(&nics[0]).clone(),
    };
    Ok(match ip {
        IpConfig::Static {
            address,
            prefix,
            gateway,
            hostname,
            mtu,
            dns,
            ..
        } => {
            let mut all_dns = dns;
            all_dns.extend(opts.nameservers.iter().copied());
            all_dns.dedup();
            NetPlan::Static(NetConfig {
                interface: nic.name,
                address,
                prefix,
                gateway,
                dns: all_dns,
                search: None,
                hostname,
                mtu,
            })
        }
        _ => NetPlan::Dhcp {
            nic,
            nameservers: opts.nameservers.clone(),
            hostname: None,
        },
    })
}

impl NetConfig {
    /// The configuration a lease gives `interface`; `nameservers` (from `nameserver=`), when
    /// any, replace the lease's DNS servers.
    pub fn from_lease(interface: &str, lease: &Lease, nameservers: &[Ipv4Addr]) -> Self {
        NetConfig {
            interface: interface.to_string(),
            address: lease.address,
            prefix: lease.prefix,
            gateway: lease.routers.first().copied(),
            dns: if nameservers.is_empty() {
                lease.dns.clone()
            } else {
                nameservers.to_vec()
            },
            search: lease.domain.clone(),
            hostname: lease.hostname.clone(),
            mtu: lease.mtu.filter(|m| *m >= 576),
        }
    }

    /// `/etc/resolv.conf` for this configuration (`None` when there is no DNS server).
    pub fn resolv_conf(&self) -> Option<String> {
        if self.dns.is_empty() {
            return None;
        }
        let mut out = format!(
            "# Written by kickstand-installer from the {} configuration.\n",
            self.interface
        );
        if let Some(search) = &self.search {
            let _ = writeln!(out, "search {search}");
        }
        for d in &self.dns {
            let _ = writeln!(out, "nameserver {d}");
        }
        Some(out)
    }

    /// One line for the console: `eth0 10.0.2.15/24 via 10.0.2.2 dns 10.0.2.3`.
    pub fn summary(&self) -> String {
        let mut s = format!("{} {}/{}", self.interface, self.address, self.prefix);
        if let Some(g) = self.gateway {
            let _ = write!(s, " via {g}");
        }
        if !self.dns.is_empty() {
            let dns: Vec<String> = self.dns.iter().map(|d| d.to_string()).collect();
            let _ = write!(s, " dns {}", dns.join(","));
        }
        if let Some(m) = self.mtu {
            let _ = write!(s, " mtu {m}");
        }
        s
    }

    /// Whether the gateway is on the configured subnet (a route to it must be added first
    /// otherwise, as for a /32 lease).
    pub fn gateway_on_link(&self) -> bool {
        let Some(g) = self.gateway else { return true };
        let mask = if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.prefix))
        };
        u32::from(g) & mask == u32::from(self.address) & mask
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boot::cmdline::parse;

    fn nic(name: &str, last: u8, carrier: bool) -> Nic {
        Nic {
            name: name.into(),
            mac: [0x52, 0x54, 0, 0, 0, last],
            carrier,
        }
    }

    fn nics() -> Vec<Nic> {
        vec![
            nic("eth10", 10, true),
            nic("eth2", 2, true),
            nic("eth1", 1, false),
        ]
    }

    fn plan_for(cmdline: &str) -> Result<NetPlan, NetPlanError> {
        plan(&parse(cmdline).unwrap(), &nics())
    }

    fn dhcp_nic(p: NetPlan) -> String {
        match p {
            NetPlan::Dhcp { nic, .. } => nic.name,
            other => panic!("expected DHCP, got {other:?}"),
        }
    }

    #[test]
    fn no_network_unless_something_needs_it() {
        assert_eq!(plan_for("inst.ks=file:/ks.cfg").unwrap(), NetPlan::None);
        assert_eq!(plan_for("ip=off").unwrap(), NetPlan::None);
        assert_eq!(
            plan_for("inst.ks=http://10.0.0.1/ks ip=off").unwrap_err(),
            NetPlanError::NetworkOff("off")
        );
    }

    #[test]
    fn remote_kickstart_means_dhcp_on_the_first_nic_with_carrier() {
        assert_eq!(dhcp_nic(plan_for("inst.ks=http://h/ks").unwrap()), "eth2");
        assert_eq!(
            dhcp_nic(plan_for("kickstand.server=http://h:8080").unwrap()),
            "eth2"
        );
        // No carrier anywhere: the first NIC in natural order.
        let none: Vec<Nic> = nics()
            .into_iter()
            .map(|n| Nic {
                carrier: false,
                ..n
            })
            .collect();
        let p = plan(&parse("ip=dhcp").unwrap(), &none).unwrap();
        assert_eq!(dhcp_nic(p), "eth1");
        assert_eq!(
            plan(&parse("ip=dhcp").unwrap(), &[]).unwrap_err(),
            NetPlanError::NoNic {
                why: "ip= is on the command line"
            }
        );
    }

    #[test]
    fn bootif_and_named_interfaces_win() {
        let p = plan_for("ip=dhcp BOOTIF=01-52-54-00-00-00-0a").unwrap();
        assert_eq!(dhcp_nic(p), "eth10");
        let p = plan_for("ip=eth1:dhcp BOOTIF=01-52-54-00-00-00-0a").unwrap();
        assert_eq!(dhcp_nic(p), "eth1");
        let err = plan_for("ip=eth7:dhcp").unwrap_err();
        assert_eq!(
            err.to_string(),
            "ip= names interface eth7, which does not exist; the interfaces are: \
             eth1 (52:54:00:00:00:01), eth2 (52:54:00:00:00:02), eth10 (52:54:00:00:00:0a)"
        );
        let err = plan_for("ip=dhcp BOOTIF=01-52-54-00-00-00-99").unwrap_err();
        assert!(
            err.to_string()
                .contains("BOOTIF= names interface 52:54:00:00:00:99")
        );
    }

    #[test]
    fn static_ip_becomes_a_config_with_nameservers() {
        let p = plan_for(
            "ip=192.168.1.20::192.168.1.1:255.255.255.0:node7:eth1:none nameserver=192.168.1.53 inst.ks=http://192.168.1.1/ks",
        )
        .unwrap();
        let NetPlan::Static(c) = p else {
            panic!("{p:?}")
        };
        assert_eq!(
            c,
            NetConfig {
                interface: "eth1".into(),
                address: "192.168.1.20".parse().unwrap(),
                prefix: 24,
                gateway: Some("192.168.1.1".parse().unwrap()),
                dns: vec!["192.168.1.53".parse().unwrap()],
                search: None,
                hostname: Some("node7".into()),
                mtu: None,
            }
        );
        assert!(c.gateway_on_link());
        assert_eq!(
            c.summary(),
            "eth1 192.168.1.20/24 via 192.168.1.1 dns 192.168.1.53"
        );
        assert_eq!(
            c.resolv_conf().unwrap(),
            "# Written by kickstand-installer from the eth1 configuration.\nnameserver 192.168.1.53\n"
        );
        // No interface in ip=: BOOTIF or the first with carrier.
        let NetPlan::Static(c) = plan_for("ip=10.1.1.5::10.9.9.9:16:::none").unwrap() else {
            panic!()
        };
        assert_eq!(c.interface, "eth2");
        assert_eq!(c.prefix, 16);
        assert!(!c.gateway_on_link());
        assert_eq!(c.resolv_conf(), None);
    }

    #[test]
    fn lease_config_prefers_nameserver_option() {
        let lease = Lease {
            address: "10.0.2.15".parse().unwrap(),
            prefix: 24,
            routers: vec!["10.0.2.2".parse().unwrap()],
            dns: vec!["10.0.2.3".parse().unwrap()],
            domain: Some("lab.example".into()),
            hostname: None,
            broadcast: None,
            mtu: Some(68),
            server: "10.0.2.2".parse().unwrap(),
            lease_time: None,
            renew_after: None,
            rebind_after: None,
            next_server: None,
            boot_file: None,
        };
        let c = NetConfig::from_lease("ens3", &lease, &[]);
        assert_eq!(c.summary(), "ens3 10.0.2.15/24 via 10.0.2.2 dns 10.0.2.3");
        assert_eq!(
            c.resolv_conf().unwrap(),
            "# Written by kickstand-installer from the ens3 configuration.\nsearch lab.example\nnameserver 10.0.2.3\n"
        );
        let c = NetConfig::from_lease("ens3", &lease, &["1.1.1.1".parse().unwrap()]);
        assert_eq!(c.dns, vec!["1.1.1.1".parse::<Ipv4Addr>().unwrap()]);
        assert_eq!(c.mtu, None, "an MTU below 576 is ignored");
    }
}
