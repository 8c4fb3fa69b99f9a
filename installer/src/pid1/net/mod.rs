//! The network at boot: the interfaces sysfs shows ([`nics`]), bringing them up and waiting
//! for carrier, applying a [`NetConfig`] with rtnetlink ([`apply`]), and the DHCP client on a
//! real socket ([`dhcp`]).
//!
//! A half-configured interface (address added, route refused) is left as it is: nothing else
//! uses the network before the error is reported, and the report says which step failed.

pub mod dhcp;

use crate::boot::netplan::{NetConfig, Nic};
use anyhow::{Context, Result};
use futures::TryStreamExt;
use rtnetlink::{Handle, LinkUnspec, RouteMessageBuilder};
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

/// Ethernet interfaces (ARPHRD_ETHER), loopback and virtual ones left out.
pub fn nics() -> Vec<Nic> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/sys/class/net") else {
        return out;
    };
    for e in dir.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let base = e.path();
        let read = |f: &str| {
            std::fs::read_to_string(base.join(f))
                .map(|s| s.trim().to_string())
                .unwrap_or_default()
        };
        // Type 1 is Ethernet; a `device` link means real (or emulated) hardware.
        if read("type") != "1" || !base.join("device").exists() {
            continue;
        }
        let Some(mac) = parse_mac(&read("address")) else {
            continue;
        };
        out.push(Nic {
            name,
            mac,
            carrier: read("carrier") == "1",
        });
    }
    out
}

fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6 {
        return None;
    }
    let mut mac = [0u8; 6];
    for (b, p) in mac.iter_mut().zip(parts) {
        *b = u8::from_str_radix(p, 16).ok()?;
    }
    Some(mac)
}

/// An rtnetlink connection driven on the current runtime.
pub fn connect() -> Result<Handle> {
    let (connection, handle, _) =
        rtnetlink::new_connection().context("opening a netlink socket")?;
    tokio::spawn(connection);
    Ok(handle)
}

async fn index_of(handle: &Handle, name: &str) -> Result<u32> {
    let link = handle
        .link()
        .get()
        .match_name(name.to_string())
        .execute()
        .try_next()
        .await
        .with_context(|| format!("looking up interface {name}"))?
        .with_context(|| format!("interface {name} does not exist"))?;
    Ok(link.header.index)
}

/// Sets `name` up (also `lo`).
pub async fn link_up(handle: &Handle, name: &str) -> Result<()> {
    let index = index_of(handle, name).await?;
    handle
        .link()
        .set(LinkUnspec::new_with_index(index).up().build())
        .execute()
        .await
        .with_context(|| format!("setting interface {name} up"))
}

/// Brings every NIC up, then waits until `wanted` (or any NIC, when `None`) has carrier, at
/// most `timeout`. Returns the NICs as they are then.
pub async fn up_and_wait_for_carrier(
    handle: &Handle,
    wanted: Option<&str>,
    timeout: Duration,
) -> Result<Vec<Nic>> {
    let _ = link_up(handle, "lo").await;
    for nic in nics() {
        if let Err(e) = link_up(handle, &nic.name).await {
            tracing::warn!("{e:#}");
        }
    }
    let start = Instant::now();
    loop {
        let now = nics();
        let ready = match wanted {
            Some(w) => now.iter().any(|n| n.name == w && n.carrier),
            None => now.iter().any(|n| n.carrier),
        };
        if ready || start.elapsed() >= timeout {
            return Ok(now);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Configures the interface: MTU, address, routes, `/etc/resolv.conf`, hostname.
pub async fn apply(handle: &Handle, config: &NetConfig) -> Result<()> {
    let name = &config.interface;
    let index = index_of(handle, name).await?;
    if let Some(mtu) = config.mtu {
        handle
            .link()
            .set(LinkUnspec::new_with_index(index).mtu(mtu.into()).build())
            .execute()
            .await
            .with_context(|| format!("setting the MTU of {name} to {mtu}"))?;
    }
    handle
        .address()
        .add(index, IpAddr::V4(config.address), config.prefix)
        .replace()
        .execute()
        .await
        .with_context(|| {
            format!(
                "adding the address {}/{} to {name}",
                config.address, config.prefix
            )
        })?;
    if let Some(gw) = config.gateway {
        let mut route = RouteMessageBuilder::<Ipv4Addr>::new()
            .output_interface(index)
            .gateway(gw);
        if !config.gateway_on_link() {
            route = route.onlink();
        }
        handle
            .route()
            .add(route.build())
            .replace()
            .execute()
            .await
            .with_context(|| format!("adding the default route via {gw} on {name}"))?;
    }
    if let Some(text) = config.resolv_conf() {
        std::fs::write("/etc/resolv.conf", text).context("writing /etc/resolv.conf")?;
    }
    if let Some(h) = &config.hostname {
        if let Err(e) = nix::unistd::sethostname(h) {
            tracing::warn!("cannot set the hostname to {h}: {e}");
        }
    }
    Ok(())
}

/// Removes the address a lease gave (the lease ended).
pub async fn remove(handle: &Handle, config: &NetConfig) -> Result<()> {
    let index = index_of(handle, &config.interface).await?;
    let mut addrs = handle
        .address()
        .get()
        .set_link_index_filter(index)
        .execute();
    while let Some(msg) = addrs.try_next().await? {
        handle.address().del(msg).execute().await?;
    }
    Ok(())
}

/// The firmware's serial number (`inst.ks.sendsn`).
pub fn serial_number() -> Option<String> {
    std::fs::read_to_string("/sys/class/dmi/id/product_serial")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}
