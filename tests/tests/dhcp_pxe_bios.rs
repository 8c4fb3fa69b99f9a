//! BIOS network boot with nothing but Kickstand on the network: SeaBIOS and QEMU's iPXE NIC
//! ROM get an address and the machine's iPXE script URL from Kickstand's own DHCP server
//! (`[dhcp] mode = "full"`), the script from its HTTP server, and the kernel and initramfs
//! from its `/boot/<profile>/` files, all inside a network lab. The initramfs prints the
//! kernel command line Kickstand gave it.

use kickstand_provisioner::config::Config;
use kickstand_provisioner::serve::{self, App, Listeners};
use qemu_harness::{NetLab, Nic, VmBuilder, debian_kernel, gate, initramfs};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

const MAC: &str = "52:54:00:12:34:56";

#[test]
fn bios_pxe_boot_from_kickstand_dhcp_tftp_http() {
    if !gate::vm_test("bios_pxe_boot_from_kickstand_dhcp_tftp_http", false) {
        return;
    }
    let kernel = debian_kernel().expect("Debian kernel");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("boot")).unwrap();
    std::fs::create_dir_all(d.join("kickstarts")).unwrap();
    std::fs::copy(&kernel.vmlinuz, d.join("boot/vmlinuz")).unwrap();
    initramfs::build(
        &d.join("boot/installer.img"),
        &initramfs::init_script(r#"echo "KICKSTAND-DHCP-BOOT cmdline=$(cat /proc/cmdline)""#),
        &[],
    )
    .unwrap();
    std::fs::write(
        d.join("kickstarts/web.ks"),
        "network --hostname={{ machine.hostname }}\nreboot\n",
    )
    .unwrap();
    std::fs::write(
        d.join("kickstand.toml"),
        format!(
            r#"[server]
listen = "0.0.0.0"
http_port = 8080
tftp_port = 69
public_url = "http://192.0.2.1:8080"
state_dir = "state"

[dhcp]
mode = "full"
interface = "eth0"
range = ["192.0.2.100", "192.0.2.110"]
router = "192.0.2.1"
lease_time = "10m"

[profiles.install-web]
kernel = "boot/vmlinuz"
initramfs = "boot/installer.img"
kickstart = "kickstarts/web.ks"
cmdline = "console=ttyS0 panic=-1 quiet"

[[machines]]
mac = "{MAC}"
profile = "install-web"
hostname = "web-01"
"#
        ),
    )
    .unwrap();
    let config = Config::load(&d.join("kickstand.toml")).unwrap_or_else(|e| panic!("{e}"));

    let mut lab = NetLab::new("dhcp-pxe-bios").unwrap();
    let server = lab.add_host("server", "192.0.2.1/24").unwrap();
    let tap = lab.add_tap().unwrap();
    // Bound inside the lab's server namespace; served from this process's runtime.
    let (http, tftp, dhcp) = server
        .in_netns(|| {
            let http = std::net::TcpListener::bind("0.0.0.0:8080").unwrap();
            http.set_nonblocking(true).unwrap();
            let tftp = std::net::UdpSocket::bind("0.0.0.0:69").unwrap();
            let dhcp = kickstand_provisioner::dhcp::Sockets::bind(&config)
                .unwrap()
                .expect("full mode binds port 67");
            (http, tftp, dhcp)
        })
        .unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let app = App::new(config).unwrap();
    rt.block_on(async {
        let listeners = Listeners {
            http: tokio::net::TcpListener::from_std(http).unwrap(),
            tftp,
        };
        tokio::spawn(serve::serve(app.clone(), listeners));
        tokio::spawn(kickstand_provisioner::dhcp::serve(app.clone(), dhcp));
    });

    let start = Instant::now();
    let mut vm = VmBuilder::new("dhcp-pxe-bios")
        .workdir(d)
        .nic(Nic::tap(&tap).mac(MAC).bootindex(1))
        .no_reboot()
        .start()
        .unwrap();
    let line = vm
        .wait_for_line("^KICKSTAND-DHCP-BOOT", Duration::from_secs(240))
        .unwrap();
    for want in [
        "BOOTIF=01-52-54-00-12-34-56",
        "inst.ks=http://192.0.2.1:8080/ks/52:54:00:12:34:56",
        "initrd=installer.img",
        "console=ttyS0",
    ] {
        assert!(line.contains(want), "{want} missing from {line}");
    }
    eprintln!(
        "BIOS PXE boot from Kickstand's DHCP took {:.1?}",
        start.elapsed()
    );
    vm.wait_for_exit(Duration::from_secs(30)).unwrap();

    let leases = kickstand_provisioner::dhcp::leases::load(&app.store).unwrap();
    let lease = leases
        .holder(Ipv4Addr::new(192, 0, 2, 100))
        .expect("the VM's lease is recorded");
    assert_eq!(lease.mac.to_string(), MAC);
    let state = app.store.state(MAC.parse().unwrap()).unwrap();
    assert_eq!(
        state.status.as_str(),
        "booting",
        "fetching the script marks it booting"
    );
    rt.shutdown_background();
}
