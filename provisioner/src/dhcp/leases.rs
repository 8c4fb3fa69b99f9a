//! Full-mode address leases: an in-memory table the decision reads (pure), the changes it
//! returns, and their persistence in the state database (`leases` table of `kickstand.db`).
//!
//! One row per address. A machine keeps its address across restarts and after its lease
//! expires or is released, until the pool runs out and the address goes to someone else
//! (the oldest expired one first): addresses are sticky per MAC.

use crate::mac::MacAddr;
use crate::state::{StateError, Store};
use rusqlite::params;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// How long an offered address is held for the client that was offered it.
pub const OFFER_HOLD_SECS: u64 = 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseState {
    /// Offered, not yet requested: held for [`OFFER_HOLD_SECS`].
    Offered,
    /// Acknowledged.
    Bound,
    /// The client released it (still remembered as its address).
    Released,
    /// The client found the address in use (DHCPDECLINE): nobody gets it until it expires.
    Declined,
}

impl LeaseState {
    fn as_str(self) -> &'static str {
        match self {
            LeaseState::Offered => "offered",
            LeaseState::Bound => "bound",
            LeaseState::Released => "released",
            LeaseState::Declined => "declined",
        }
    }

    fn parse(s: &str) -> Option<LeaseState> {
        Some(match s {
            "offered" => LeaseState::Offered,
            "bound" => LeaseState::Bound,
            "released" => LeaseState::Released,
            "declined" => LeaseState::Declined,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    pub ip: Ipv4Addr,
    pub mac: MacAddr,
    /// Unix seconds.
    pub expires: u64,
    pub state: LeaseState,
}

/// A change the decision asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseChange {
    /// Record this lease; any other address the MAC held is forgotten (addresses it declined
    /// stay withheld).
    Put(Lease),
}

/// The leases, by address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeaseTable {
    by_ip: BTreeMap<Ipv4Addr, Lease>,
}

impl LeaseTable {
    pub fn holder(&self, ip: Ipv4Addr) -> Option<&Lease> {
        self.by_ip.get(&ip)
    }

    /// The address this MAC holds or last held (not one it declined).
    pub fn of_mac(&self, mac: MacAddr) -> Option<&Lease> {
        self.by_ip
            .values()
            .find(|l| l.mac == mac && l.state != LeaseState::Declined)
    }

    /// Whether `mac` may have `ip` as far as the table knows: nobody else holds it (or their
    /// lease expired), and `mac` did not decline it.
    pub fn free_for(&self, ip: Ipv4Addr, mac: MacAddr, now: u64) -> bool {
        match self.by_ip.get(&ip) {
            None => true,
            Some(l) if l.mac == mac && l.state != LeaseState::Declined => true,
            Some(l) => l.expires <= now,
        }
    }

    /// The expired lease of someone else to reuse when no address is unused, oldest first.
    pub fn oldest_expired(&self, now: u64, usable: impl Fn(Ipv4Addr) -> bool) -> Option<Ipv4Addr> {
        self.by_ip
            .values()
            .filter(|l| l.expires <= now && usable(l.ip))
            .min_by_key(|l| l.expires)
            .map(|l| l.ip)
    }

    pub fn apply(&mut self, change: &LeaseChange) {
        match change {
            LeaseChange::Put(lease) => {
                self.by_ip.retain(|ip, l| {
                    l.mac != lease.mac || *ip == lease.ip || l.state == LeaseState::Declined
                });
                self.by_ip.insert(lease.ip, *lease);
            }
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &Lease> {
        self.by_ip.values()
    }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS leases (
    ip TEXT PRIMARY KEY,
    mac TEXT NOT NULL,
    expires INTEGER NOT NULL,
    state TEXT NOT NULL
);
";

/// Loads the lease table (creating it if needed). Rows that do not parse are skipped with a
/// warning rather than stopping the server.
pub fn load(store: &Store) -> Result<LeaseTable, StateError> {
    let conn = store.conn();
    conn.execute_batch(SCHEMA)?;
    let mut stmt = conn.prepare("SELECT ip, mac, expires, state FROM leases")?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, String>(3)?,
        ))
    })?;
    let mut table = LeaseTable::default();
    for row in rows {
        let (ip, mac, expires, state) = row?;
        match (ip.parse(), mac.parse(), LeaseState::parse(&state)) {
            (Ok(ip), Ok(mac), Some(state)) => {
                table.by_ip.insert(
                    ip,
                    Lease {
                        ip,
                        mac,
                        expires: expires.max(0) as u64,
                        state,
                    },
                );
            }
            _ => tracing::warn!(%ip, %mac, "skipping an unreadable lease row"),
        }
    }
    Ok(table)
}

/// Persists one change (one transaction: a failed write leaves the previous rows).
pub fn save(store: &Store, change: &LeaseChange) -> Result<(), StateError> {
    let LeaseChange::Put(lease) = change;
    let mut conn = store.conn();
    let tx = conn.transaction()?;
    let (ip, mac) = (lease.ip.to_string(), lease.mac.to_string());
    tx.execute(
        "DELETE FROM leases WHERE mac = ?1 AND ip != ?2 AND state != 'declined'",
        params![mac, ip],
    )?;
    tx.execute(
        "INSERT OR REPLACE INTO leases (ip, mac, expires, state) VALUES (?1, ?2, ?3, ?4)",
        params![
            ip,
            mac,
            lease.expires.min(i64::MAX as u64) as i64,
            lease.state.as_str()
        ],
    )?;
    tx.commit()?;
    Ok(())
}
