//! The DHCP loop of `kickstand serve`: receive, parse, decide with the configuration in force
//! (a SIGHUP reload applies to the next packet), record the lease change, send.
//!
//! Packets are handled one at a time, so two clients can never be offered the same address.
//! A lease change is written to the database before the reply goes out; when the write fails
//! the client gets no answer (it retries) rather than an address we would forget.

use super::decide::{Arrival, PXE_PORT, decide};
use super::leases::{self, LeaseTable};
use super::socket::{self, Datagram, Sockets};
use super::{packet, socket::pick_address};
use crate::boot::{MachineState, Status};
use crate::serve::App;
use anyhow::Context;
use dhcproto::Encodable;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::net::UdpSocket;

/// Replies are padded to this size: some PXE ROMs drop shorter (BOOTP minimum) messages.
const MIN_REPLY: usize = 300;

/// Serves DHCP on `sockets` until the task is dropped.
pub async fn serve(app: Arc<App>, sockets: Sockets) -> anyhow::Result<()> {
    let mut leases = leases::load(&app.store).context("loading the DHCP leases")?;
    let server = UdpSocket::from_std(sockets.server).context("DHCP socket")?;
    let pxe = sockets
        .pxe
        .map(UdpSocket::from_std)
        .transpose()
        .context("DHCP socket (port 4011)")?;
    tracing::info!(
        interface = %sockets.interface,
        mode = ?app.config().dhcp.mode,
        leases = leases.iter().count(),
        "answering DHCP"
    );
    loop {
        let (sock, port, received) = tokio::select! {
            r = socket::recv(&server) => (&server, 67, r),
            r = recv_optional(pxe.as_ref()) => (pxe.as_ref().expect("only polled when bound"), PXE_PORT, r),
        };
        match received {
            Ok(d) => handle(&app, &mut leases, sock, port, &sockets.interface, d).await,
            Err(e) => {
                tracing::warn!("DHCP receive: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn recv_optional(sock: Option<&UdpSocket>) -> std::io::Result<Datagram> {
    match sock {
        Some(s) => socket::recv(s).await,
        None => std::future::pending().await,
    }
}

async fn handle(
    app: &App,
    leases: &mut LeaseTable,
    sock: &UdpSocket,
    port: u16,
    interface: &str,
    d: Datagram,
) {
    let req = match packet::parse(&d.data) {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(src = %d.src, "ignoring a DHCP packet: {e}");
            return;
        }
    };
    let mac = req.mac;
    let config = app.config();
    let addrs = socket::interface_addresses(interface);
    let Some((server, netmask)) = pick_address(&addrs, d.local, config.dhcp.range) else {
        tracing::warn!(%mac, interface, "the DHCP interface has no IPv4 address: not answering");
        return;
    };
    let state = app.store.state(mac).unwrap_or_else(|e| {
        tracing::error!(%mac, "reading the machine's state: {:#}", anyhow::Error::from(e));
        // Without its state we cannot know whether it was installed: do not reinstall it.
        MachineState {
            status: Status::Installed,
            error: None,
        }
    });
    let arrival = Arrival {
        src: d.src,
        port,
        server,
        netmask,
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |t| t.as_secs());
    let out = decide(&config, &state, leases, now, &arrival, &req);
    if let Some(change) = &out.lease {
        if let Err(e) = leases::save(&app.store, change) {
            tracing::error!(%mac, "recording the lease (not answering): {:#}", anyhow::Error::from(e));
            return;
        }
        leases.apply(change);
    }
    let Some(reply) = out.reply else {
        tracing::debug!(%mac, kind = ?req.kind, port, "no DHCP answer: {}", out.why);
        return;
    };
    let mut bytes = match reply.message.to_vec() {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(%mac, "encoding the DHCP reply: {e}");
            return;
        }
    };
    if bytes.len() < MIN_REPLY {
        bytes.resize(MIN_REPLY, 0);
    }
    match sock.send_to(&bytes, reply.to).await {
        Ok(_) => tracing::info!(
            %mac,
            kind = ?req.kind,
            to = %reply.to,
            yiaddr = %reply.message.yiaddr(),
            "DHCP: {}",
            out.why
        ),
        Err(e) => tracing::warn!(%mac, to = %reply.to, "sending the DHCP reply: {e}"),
    }
}
