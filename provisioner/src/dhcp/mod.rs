//! DHCP: ProxyDHCP (`[dhcp] mode = "proxy"`, boot information next to the site's DHCP
//! server) or a small DHCP server with a pool (`mode = "full"`), answering PXE firmware, UEFI
//! HTTP Boot firmware and iPXE with what [`crate::boot::respond`] decides.
//!
//! - [`packet`]: bytes → [`packet::Request`] (never panics; dhcproto decodes).
//! - [`decide`]: the pure decision → reply and lease change.
//! - [`leases`]: the full-mode lease table and its rows in the state database.
//! - [`socket`]: UDP 67 (and 4011) bound to the interface, packet info, broadcast.
//! - [`server`]: the loop that ties them to the running [`crate::serve::App`].

pub mod decide;
pub mod leases;
pub mod packet;
pub mod server;
pub mod socket;

pub use decide::{Arrival, Outcome, Reply, decide};
pub use packet::{Request, parse};
pub use server::serve;
pub use socket::Sockets;

#[cfg(test)]
mod tests;
