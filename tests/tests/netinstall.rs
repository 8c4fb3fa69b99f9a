//! End-to-end network installs with nothing but Kickstand on the network (its own DHCP, TFTP,
//! HTTP and embedded registry, in a NetLab): a bare VM powers on, network-boots the installer,
//! installs the tiny image, reboots, is sent to its disk by boot-once and reports
//! `KICKSTAND-BOOTED` with the kickstart's host name, user and key; `kickstand machines list`
//! then shows it installed. The same code path is `cargo xtask demo` (UEFI PXE).

use kickstand_tests::netinstall::{
    self, Boot, DEBIAN_HOSTNAME, DEBIAN_USER, Dhcp, HOSTNAME, Os, Outcome, POST_MARKER, POST_TEXT,
    REGISTRY, Scenario, USER,
};
use qemu_harness::gate;

/// Runs one scenario (no live console) and prints its phases.
fn run(name: &str, boot: Boot, outcome: Outcome, dhcp: Dhcp, os: Os) -> netinstall::Run {
    let run = netinstall::run(&Scenario {
        name: name.into(),
        boot,
        outcome,
        dhcp,
        os,
        live: false,
        keep: false,
    })
    .unwrap_or_else(|e| panic!("{e}"));
    eprintln!("{}", run.phases.line(name));
    run
}

/// The machine's row of `kickstand machines list`.
fn machine_row(run: &netinstall::Run) -> &str {
    run.machines
        .lines()
        .find(|l| l.contains(netinstall::MAC))
        .unwrap_or_else(|| panic!("the machine is not listed:\n{}", run.machines))
}

fn installs(name: &str, boot: Boot) -> netinstall::Run {
    installs_with(name, boot, Dhcp::Full)
}

fn installs_with(name: &str, boot: Boot, dhcp: Dhcp) -> netinstall::Run {
    let run = run(name, boot, Outcome::Installs, dhcp, Os::Tiny);
    let report = run.report.as_ref().expect("a boot report");
    assert_eq!(report.get("hostname"), Some(HOSTNAME), "{report:?}");
    let users = report.get("users").unwrap_or_default();
    assert!(users.split(',').any(|u| u == USER), "{report:?}");
    let keys = report.get("keys").unwrap_or_default();
    assert!(
        keys.contains(&format!("{USER}:{}:ok", run.key_fingerprint)),
        "the kickstart's key is {USER}'s: {report:?}"
    );
    // autopart: the firmware's partition (BIOS boot or ESP), /boot, then the root.
    assert_eq!(report.get("root"), Some("/dev/vda3"), "{report:?}");
    assert_eq!(report.get("rootfs"), Some("ext4"), "{report:?}");
    assert_eq!(report.get("fstab"), Some("ok"), "{report:?}");
    let firmware = if boot == Boot::BiosPxe {
        "BIOS"
    } else {
        "UEFI"
    };
    assert_eq!(report.get("firmware"), Some(firmware), "{report:?}");
    let row = machine_row(&run);
    assert!(row.contains("installed"), "{}", run.machines);
    assert!(row.contains(HOSTNAME), "{}", run.machines);
    run
}

#[test]
fn bios_pxe_installs_and_boots_the_installed_disk() {
    if !gate::vm_test("bios_pxe_installs_and_boots_the_installed_disk", false) {
        return;
    }
    installs("e2e-bios-pxe", Boot::BiosPxe);
}

#[test]
fn uefi_pxe_installs_and_boots_the_installed_disk() {
    if !gate::vm_test("uefi_pxe_installs_and_boots_the_installed_disk", true) {
        return;
    }
    installs("e2e-uefi-pxe", Boot::UefiPxe);
}

#[test]
fn uefi_http_boot_installs_and_boots_the_installed_disk() {
    if !gate::vm_test("uefi_http_boot_installs_and_boots_the_installed_disk", true) {
        return;
    }
    installs("e2e-uefi-http", Boot::UefiHttp);
}

/// A kickstart naming a disk the machine lacks: the install fails, `kickstand machines list`
/// shows `failed` with the error, and the next network boot goes to the local disk instead of
/// installing again.
#[test]
fn failed_install_is_listed_and_does_not_loop() {
    if !gate::vm_test("failed_install_is_listed_and_does_not_loop", true) {
        return;
    }
    let run = run(
        "e2e-failure",
        Boot::UefiPxe,
        Outcome::MissingDisk,
        Dhcp::Full,
        Os::Tiny,
    );
    let row = machine_row(&run);
    assert!(row.contains("failed"), "{}", run.machines);
    assert!(
        run.machines.contains("sdz"),
        "the error names the disk:\n{}",
        run.machines
    );
    let log = run.kickstand.log();
    assert_eq!(
        log.matches("kickstart served").count(),
        1,
        "one install attempt only:\n{log}"
    );
}

/// ProxyDHCP next to the site's DHCP server: dnsmasq on another lab host leases the addresses
/// (a pool, no boot options); Kickstand (`[dhcp] mode = "proxy"`) only adds the boot
/// information. BIOS: QEMU's iPXE ROM takes the address from dnsmasq and the script URL from
/// Kickstand's ProxyDHCP offer and ACK (port 4011), and so does the reboot into the disk.
#[test]
fn proxy_dhcp_beside_the_site_dhcp_server_installs() {
    if !gate::vm_test("proxy_dhcp_beside_the_site_dhcp_server_installs", false) {
        return;
    }
    let run = installs_with("e2e-proxy", Boot::BiosPxe, Dhcp::ProxyBesideSiteDhcp);
    let site = run.site_dhcp.as_ref().expect("the site's DHCP server");
    // The address came from dnsmasq: its lease file holds the machine, in its range.
    let leases = std::fs::read_to_string(&site.leases).unwrap_or_default();
    let lease = leases
        .lines()
        .find(|l| l.contains(netinstall::MAC))
        .unwrap_or_else(|| panic!("dnsmasq leased nothing to the machine:\n{leases}"));
    let ip: std::net::Ipv4Addr = lease
        .split_whitespace()
        .nth(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("unreadable lease: {lease}"));
    let (first, last) = netinstall::SITE_RANGE;
    let range: std::ops::RangeInclusive<std::net::Ipv4Addr> =
        first.parse().unwrap()..=last.parse().unwrap();
    assert!(
        range.contains(&ip),
        "{ip} is not from dnsmasq's range {first}-{last}"
    );
    let dnsmasq = site.process.output();
    assert!(
        dnsmasq.contains(&format!("DHCPACK(eth0) {ip} {}", netinstall::MAC)),
        "dnsmasq acknowledged the lease:\n{dnsmasq}"
    );
    // The boot information came from Kickstand, which leased nothing.
    let log = run.kickstand.log();
    let proxy_answers = log
        .lines()
        .filter(|l| l.contains(netinstall::MAC) && l.contains("DHCP: ProxyDHCP"))
        .count();
    assert!(
        proxy_answers >= 2,
        "ProxyDHCP answered the install boot and the boot after it:\n{log}"
    );
    assert!(
        !log.contains("DHCP: leasing") && !log.contains("DHCP: offering"),
        "ProxyDHCP leased an address:\n{log}"
    );
    assert!(
        log.lines()
            .any(|l| l.contains("boot script served") && l.contains(netinstall::MAC)),
        "{log}"
    );
}

/// The flagship: UEFI PXE, the debian image pulled from Debian's docker-registry on another lab
/// host, a kickstart with a static host name, a user with the kickstart's key and `%post`;
/// after the reboot (addressed by Kickstand's full-mode DHCP) the test logs in over SSH from a
/// lab host and checks what the kickstart asked for.
#[test]
fn uefi_debian_from_a_registry_accepts_ssh_as_the_kickstart_says() {
    if !gate::vm_test(
        "uefi_debian_from_a_registry_accepts_ssh_as_the_kickstart_says",
        true,
    ) {
        return;
    }
    let run = run(
        "e2e-flagship",
        Boot::UefiPxe,
        Outcome::Installs,
        Dhcp::Full,
        Os::Debian,
    );
    let ssh = |command: &str| {
        let out = run.ssh(command).unwrap_or_else(|e| panic!("{e}"));
        eprintln!("$ {command}\n{out}");
        out
    };
    let report = run.report.as_ref().expect("a boot report");
    assert_eq!(report.get("firmware"), Some("UEFI"), "{report:?}");
    let keys = report.get("keys").unwrap_or_default();
    assert!(
        keys.contains(&format!("{DEBIAN_USER}:{}:ok", run.key_fingerprint)),
        "{report:?}"
    );

    let hostnamectl = ssh("hostnamectl");
    assert!(
        hostnamectl.contains(&format!("Static hostname: {DEBIAN_HOSTNAME}")),
        "{hostnamectl}"
    );
    assert!(
        hostnamectl.contains("Debian GNU/Linux 12 (bookworm)"),
        "{hostnamectl}"
    );
    let id = ssh(&format!("id {DEBIAN_USER}"));
    assert!(
        id.starts_with(&format!("uid=1000({DEBIAN_USER}) gid=1000({DEBIAN_USER})")),
        "{id}"
    );
    assert!(id.contains("(wheel)"), "the kickstart's --groups: {id}");
    let findmnt = ssh("findmnt -n -o SOURCE,FSTYPE /");
    let root = report.get("root").expect("the report names the root");
    assert_eq!(
        findmnt.split_whitespace().collect::<Vec<_>>(),
        [root, "ext4"],
        "autopart --fstype=ext4: {findmnt}"
    );
    assert_eq!(ssh(&format!("cat {POST_MARKER}")).trim(), POST_TEXT);
    let record = ssh("cat /etc/kickstand/image.json");
    assert!(
        record.contains(&format!("{REGISTRY}:")),
        "installed from the lab's registry: {record}"
    );
    let row = machine_row(&run);
    assert!(row.contains("installed"), "{}", run.machines);
}
