//! The DHCP request path on arbitrary bytes: parsing must never panic, and whatever parses
//! goes through the decision (proxy and full mode) and the reply encoder without panicking.
//! `cd fuzz && cargo fuzz run dhcp` (nightly).
#![no_main]

use kickstand_provisioner::boot::MachineState;
use kickstand_provisioner::config::{Config, DhcpMode};
use kickstand_provisioner::dhcp::{self, Arrival, leases::LeaseTable};
use libfuzzer_sys::fuzz_target;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::OnceLock;

/// A proxy-mode and a full-mode configuration over files in a scratch directory.
fn configs() -> &'static [Config; 2] {
    static CONFIGS: OnceLock<[Config; 2]> = OnceLock::new();
    CONFIGS.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("kickstand-fuzz-dhcp-{}", std::process::id()));
        for (p, content) in [
            ("boot/vmlinuz", "kernel"),
            ("boot/installer.img", "initramfs"),
            ("ks/web.ks", "reboot\n"),
        ] {
            let path = dir.join(p);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, content).unwrap();
        }
        let text = r#"[server]
public_url = "http://192.0.2.1:8080"
state_dir = "state"
[dhcp]
mode = "proxy"
interface = "eth0"
range = ["192.0.2.100", "192.0.2.200"]
router = "192.0.2.1"
[profiles.p]
kernel = "boot/vmlinuz"
initramfs = "boot/installer.img"
kickstart = "ks/web.ks"
[unknown]
profile = "p"
"#;
        let proxy = kickstand_provisioner::config::parse(&dir.join("kickstand.toml"), text)
            .unwrap_or_else(|e| panic!("{e}"));
        let mut full = proxy.clone();
        full.dhcp.mode = DhcpMode::Full;
        [proxy, full]
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(req) = dhcp::parse(data) else {
        return;
    };
    for (config, port) in configs().iter().zip([67, 4011]) {
        let at = Arrival {
            src: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68),
            port,
            server: Ipv4Addr::new(192, 0, 2, 1),
            netmask: Ipv4Addr::new(255, 255, 255, 0),
        };
        let out = dhcp::decide(
            config,
            &MachineState::default(),
            &LeaseTable::default(),
            0,
            &at,
            &req,
        );
        if let Some(reply) = out.reply {
            let _ = dhcproto::Encodable::to_vec(&reply.message);
        }
    }
});
