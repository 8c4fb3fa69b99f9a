//! The whole network install with nothing but Kickstand on the network: a NetLab host runs the
//! release `kickstand serve` with its own DHCP (full mode), TFTP, HTTP and embedded registry; a
//! bare VM with a blank disk powers on, network-boots, installs the tiny image with a rendered
//! kickstart, reboots, is sent to its local disk by boot-once and reports `KICKSTAND-BOOTED`.
//!
//! Variants of the same flow ([`Scenario`]): the site's own DHCP server (dnsmasq on another lab
//! host) hands out the addresses while Kickstand only answers as ProxyDHCP ([`Dhcp`]); and the
//! debian image pulled from Debian's docker-registry on another lab host, installed with a
//! kickstart that has `%post`, a static host name and [`DEBIAN_USER`], then logged into over
//! SSH from a lab host ([`Os`]).
//!
//! The end-to-end tests (`tests/tests/netinstall.rs`) and `cargo xtask demo` (the
//! `kickstand-demo` binary) are this one code path; the demo only adds the live console.

use crate::serve::LabKickstand;
use qemu_harness::dnsmasq::Dnsmasq;
use qemu_harness::images::debian;
use qemu_harness::images::tiny::{self, BootReport};
use qemu_harness::registry::LocalRegistry;
use qemu_harness::{Disk, DiskBus, Firmware, Host, NetLab, Nic, OptionRom, Process, Vm, VmBuilder};
use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The machine's MAC address (in the inventory).
pub const MAC: &str = "52:54:00:6b:73:01";
/// The host name the inventory gives it (the kickstart template renders it).
pub const HOSTNAME: &str = "web-01";
/// The user the kickstart creates, with the test's SSH key.
pub const USER: &str = "admin";
/// The provisioner's address in the lab.
pub const SERVER: &str = "192.0.2.1";
/// The site's DHCP server ([`Dhcp::ProxyBesideSiteDhcp`]) and the addresses it leases.
pub const SITE_DHCP: &str = "192.0.2.2";
pub const SITE_RANGE: (&str, &str) = ("192.0.2.150", "192.0.2.199");
/// The lab host running docker-registry ([`Os::Debian`]).
pub const REGISTRY: &str = "192.0.2.3";
/// The machine's fixed address in the inventory, leased by Kickstand's full-mode DHCP.
pub const MACHINE_IP: &str = "192.0.2.50";
/// The static host name the debian kickstart sets.
pub const DEBIAN_HOSTNAME: &str = "flagship-01";
/// The user the debian kickstart creates, with the test's SSH key.
pub const DEBIAN_USER: &str = "admin-user";
/// The file the debian kickstart's `%post` writes in the installed system, and its contents.
pub const POST_MARKER: &str = "/etc/kickstand-post-marker";
pub const POST_TEXT: &str = "written by %post";

/// How the machine's firmware network-boots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Boot {
    /// SeaBIOS with QEMU's iPXE option ROM: PXE, then the iPXE script over HTTP.
    BiosPxe,
    /// OVMF's own PXE (no option ROM): TFTP `snponly.efi`, then iPXE as on BIOS.
    UefiPxe,
    /// OVMF's HTTP Boot with PXE disabled: `snponly.efi` and everything else over HTTP.
    UefiHttp,
}

impl Boot {
    fn firmware(self) -> Firmware {
        match self {
            Boot::BiosPxe => Firmware::Bios,
            Boot::UefiPxe | Boot::UefiHttp => Firmware::Uefi,
        }
    }
}

/// Who answers DHCP on the segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dhcp {
    /// Kickstand's own DHCP server (`[dhcp] mode = "full"`, the machine's fixed
    /// [`MACHINE_IP`]).
    Full,
    /// dnsmasq on [`SITE_DHCP`] is the site's DHCP server (a pool, no boot options) and
    /// Kickstand answers as ProxyDHCP (`mode = "proxy"`) with the boot information only.
    ProxyBesideSiteDhcp,
}

/// What is installed, and from where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Os {
    /// The tiny image from Kickstand's embedded registry, the minimal kickstart.
    Tiny,
    /// The debian image pushed to docker-registry on [`REGISTRY`] (plain HTTP, named with
    /// `kickstand.insecure_registry=` in the profile's cmdline); the kickstart sets the static
    /// host name [`DEBIAN_HOSTNAME`], creates [`DEBIAN_USER`] with the test's key and runs a
    /// `%post` writing [`POST_MARKER`]. The run ends when the installed system accepts an SSH
    /// login from a lab host.
    Debian,
}

impl Os {
    fn profile(self) -> &'static str {
        match self {
            Os::Tiny => "install-tiny",
            Os::Debian => "install-debian",
        }
    }

    /// The user the kickstart gives the test's key.
    pub fn user(self) -> &'static str {
        match self {
            Os::Tiny => USER,
            Os::Debian => DEBIAN_USER,
        }
    }

    /// The host name the installed system reports.
    pub fn hostname(self) -> &'static str {
        match self {
            Os::Tiny => HOSTNAME,
            Os::Debian => DEBIAN_HOSTNAME,
        }
    }
}

/// What the kickstart makes of the install.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It installs and the machine boots the installed system.
    Installs,
    /// It names a disk the machine does not have: the install fails before touching the disk.
    MissingDisk,
}

/// One run of the scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Names the VM and the lab (short, file-name safe).
    pub name: String,
    pub boot: Boot,
    pub outcome: Outcome,
    pub dhcp: Dhcp,
    pub os: Os,
    /// Print the machine's console as it happens (the demo).
    pub live: bool,
    /// Keep the installed system up with a shell on its console (`kickstand.noshutdown`
    /// appended by the kickstart; the tiny OS otherwise powers off after its report), the
    /// console offered on a Unix socket.
    pub keep: bool,
}

/// Host-side times since power-on of each phase's end (TCG on a shared machine: compare only
/// with other runs here).
#[derive(Debug)]
pub struct Phases {
    start: Instant,
    marks: Vec<(&'static str, Duration)>,
}

impl Phases {
    fn new() -> Self {
        Phases {
            start: Instant::now(),
            marks: Vec::new(),
        }
    }

    fn mark(&mut self, name: &'static str, live: bool) {
        let at = self.start.elapsed();
        if live {
            println!("==> {name} ({:.0}s since power-on)", at.as_secs_f64());
        }
        self.marks.push((name, at));
    }

    /// `PHASES what: DHCP + boot script 20.1s → kickstart fetched 41.0s → …`.
    pub fn line(&self, what: &str) -> String {
        let parts: Vec<String> = self
            .marks
            .iter()
            .map(|(n, d)| format!("{n} {:.1}s", d.as_secs_f64()))
            .collect();
        format!(
            "PHASES {what}: power-on → {} (host time, TCG)",
            parts.join(" → ")
        )
    }
}

/// A finished run: the lab, the server and the VM stay up until it is dropped.
#[derive(Debug)]
pub struct Run {
    pub phases: Phases,
    /// The installed system's boot report ([`Outcome::Installs`]).
    pub report: Option<BootReport>,
    /// SHA256 fingerprint of the SSH key the kickstart gave [`Os::user`].
    pub key_fingerprint: String,
    /// The private half of that key.
    pub key: PathBuf,
    /// `kickstand machines list` on the server after the run.
    pub machines: String,
    pub vm: Vm,
    pub kickstand: LabKickstand,
    pub server: Host,
    /// dnsmasq as the site's DHCP server ([`Dhcp::ProxyBesideSiteDhcp`]).
    pub site_dhcp: Option<SiteDhcp>,
    /// docker-registry serving the debian image ([`Os::Debian`]).
    pub registry: Option<LocalRegistry>,
    pub dir: tempfile::TempDir,
    // Dropped last: removing the lab's namespaces ends everything in them.
    pub lab: NetLab,
}

/// dnsmasq serving [`SITE_RANGE`] on [`SITE_DHCP`].
#[derive(Debug)]
pub struct SiteDhcp {
    pub process: Process,
    /// Its lease file.
    pub leases: PathBuf,
}

impl Run {
    /// Runs `command` on the installed system as [`DEBIAN_USER`] over SSH from the server
    /// host, with the kickstart's key; its stdout, or the error with ssh's stderr.
    pub fn ssh(&self, command: &str) -> Result<String> {
        ssh(&self.server, &self.key, command)
    }
}

fn ssh(from: &Host, key: &Path, command: &str) -> Result<String> {
    let target = format!("{DEBIAN_USER}@{MACHINE_IP}");
    let mut cmd = ctx("ssh", from.command("ssh"))?;
    cmd.args(qemu_harness::ssh::options(key))
        .arg(&target)
        .arg(command);
    ctx(
        &format!("ssh {target} {command}"),
        qemu_harness::cmd::run("ssh", &mut cmd),
    )
}

type Result<T> = std::result::Result<T, String>;

fn ctx<T, E: Display>(what: &str, r: std::result::Result<T, E>) -> Result<T> {
    r.map_err(|e| format!("{what}: {e}"))
}

/// The kickstart template the profile serves (rendered per machine by the server).
pub fn kickstart(os: Os, outcome: Outcome, keep: bool) -> String {
    let disk = match outcome {
        Outcome::Installs => "vda",
        Outcome::MissingDisk => "sdz",
    };
    if os == Os::Debian {
        return format!(
            "# The flagship install, rendered by kickstand serve for {{{{ machine.mac }}}}.\n\
             ignoredisk --only-use={disk}\n\
             clearpart --all --initlabel\n\
             autopart --fstype=ext4\n\
             ostreecontainer --url={REGISTRY}:{port}/debian:{tag} --no-signature-verification\n\
             network --bootproto=dhcp --device=link --hostname={DEBIAN_HOSTNAME}\n\
             user --name={DEBIAN_USER} --groups=wheel\n\
             sshkey --username={DEBIAN_USER} \"{{{{ vars.ssh_key }}}}\"\n\
             rootpw --lock\n\
             reboot\n\
             \n\
             %post --erroronfail\n\
             echo '{POST_TEXT}' > {POST_MARKER}\n\
             %end\n",
            port = qemu_harness::registry::LAB_PORT,
            tag = debian::TAG,
        );
    }
    format!(
        "# Rendered by kickstand serve for {{{{ machine.mac }}}}.\n\
         ignoredisk --only-use={disk}\n\
         clearpart --all --initlabel\n\
         autopart --fstype=ext4\n\
         ostreecontainer --url={{{{ server.registry }}}}/tiny:{tag} --no-signature-verification\n\
         network --hostname={{{{ machine.hostname }}}}\n\
         user --name={USER} --groups=wheel\n\
         sshkey --username={USER} \"{{{{ vars.ssh_key }}}}\"\n\
         rootpw --lock\n\
         {bootloader}\
         reboot\n",
        tag = tiny::TAG,
        bootloader = if keep {
            "bootloader --append=\"kickstand.noshutdown\"\n"
        } else {
            ""
        },
    )
}

/// `kickstand.toml`: DHCP on the lab segment as the scenario says, the tiny image in the
/// embedded registry, one profile and one machine. The live view (`s.live`) boots the
/// installer `quiet`: the kernel's own messages stay off the console.
fn config(s: &Scenario, kernel: &Path, initramfs: &Path, image: &Path, ssh_key: &str) -> String {
    let (dhcp, fixed_ip) = match s.dhcp {
        Dhcp::Full => (
            format!(
                "mode = \"full\"\n\
                 interface = \"eth0\"\n\
                 range = [\"192.0.2.100\", \"192.0.2.120\"]\n\
                 router = \"{SERVER}\"\n\
                 lease_time = \"10m\""
            ),
            format!("ip = \"{MACHINE_IP}\"\n"),
        ),
        Dhcp::ProxyBesideSiteDhcp => (
            "mode = \"proxy\"\ninterface = \"eth0\"".to_owned(),
            String::new(),
        ),
    };
    let mut cmdline = "console=ttyS0,115200".to_owned();
    if s.live {
        cmdline.push_str(" quiet");
    }
    if s.os == Os::Debian {
        cmdline.push_str(&format!(
            " kickstand.insecure_registry={REGISTRY}:{}",
            qemu_harness::registry::LAB_PORT
        ));
    }
    format!(
        r#"[server]
listen = "0.0.0.0"
http_port = {http}
tftp_port = 69
public_url = "http://{SERVER}:{http}"
state_dir = "state"

[dhcp]
{dhcp}

[images.tiny]
path = {image:?}

[profiles.{profile}]
kernel = {kernel:?}
initramfs = {initramfs:?}
kickstart = "install.ks"
cmdline = {cmdline:?}

[[machines]]
mac = "{MAC}"
profile = "{profile}"
hostname = "{hostname}"
{fixed_ip}vars = {{ ssh_key = {ssh_key:?} }}
"#,
        http = crate::serve::HTTP_PORT,
        profile = s.os.profile(),
        hostname = s.os.hostname(),
        image = image.display().to_string(),
        kernel = kernel.display().to_string(),
        initramfs = initramfs.display().to_string(),
    )
}

/// The machine: the scenario's firmware and network boot first, a blank 4 GiB virtio disk
/// second (where boot-once sends it once installed).
fn machine(s: &Scenario, dir: &Path, tap: &qemu_harness::Tap, disk: &Path) -> Result<Vm> {
    let mut nic = Nic::tap(tap).mac(MAC).bootindex(1);
    if s.boot != Boot::BiosPxe {
        // OVMF's own network stack, not QEMU's iPXE EFI driver.
        nic = nic.option_rom(OptionRom::None);
    }
    let mut b = VmBuilder::new(&s.name)
        .workdir(dir)
        .firmware(s.boot.firmware())
        .memory_mib(1536)
        .nic(nic)
        .disk(Disk::new(disk).bus(DiskBus::VirtioBlk).bootindex(2));
    if s.keep {
        b = b.console_socket();
    }
    match s.boot {
        Boot::BiosPxe => {}
        // The lab is IPv4 only: without IPv6 PXE, OVMF does not wait out a PXEv6 attempt
        // before it gets to the disk once boot-once has sent it on (as an operator would set
        // the firmware on an IPv4 provisioning network).
        Boot::UefiPxe => b = b.fw_cfg("opt/org.tianocore/IPv6PXESupport", "no"),
        Boot::UefiHttp => {
            b = b
                .fw_cfg("opt/org.tianocore/IPv4PXESupport", "no")
                .fw_cfg("opt/org.tianocore/IPv6PXESupport", "no");
        }
    }
    ctx("starting the VM", b.start())
}

/// Runs the scenario to its end: for [`Outcome::Installs`] until the installed system's boot
/// report; for [`Outcome::MissingDisk`] until the installer's failure report, then the
/// machine is reset and must be sent to its local disk, not into a second install.
pub fn run(s: &Scenario) -> Result<Run> {
    let live = s.live;
    let say = |what: &str| {
        if live {
            println!("==> {what}");
        }
    };
    let dir = ctx(
        "creating the work directory",
        tempfile::Builder::new()
            .prefix(&format!("{}-", s.name))
            .tempdir(),
    )?;
    let d = dir.path();
    say("preparing the kernel, the installer initramfs and the tiny image");
    let (kernel, initramfs) = crate::kernel_and_initramfs();
    let image = ctx("the tiny image (cargo xtask assets)", tiny::tiny())?;
    let (ssh_key, key_fingerprint) = crate::ssh_key(d);
    ctx(
        "writing the kickstart",
        std::fs::write(d.join("install.ks"), kickstart(s.os, s.outcome, s.keep)),
    )?;
    let disk = crate::disk_file(d, "disk.raw", 4 << 30);

    say("starting kickstand serve in a private network (192.0.2.0/24)");
    let mut lab = ctx("creating the network lab", NetLab::new(&s.name))?;
    let server = ctx(
        "adding the server host",
        lab.add_host("server", &format!("{SERVER}/24")),
    )?;
    let site_dhcp = match s.dhcp {
        Dhcp::Full => None,
        Dhcp::ProxyBesideSiteDhcp => {
            say(&format!(
                "starting the site's DHCP server (dnsmasq on {SITE_DHCP})"
            ));
            let host = ctx(
                "adding the site DHCP host",
                lab.add_host("site-dhcp", &format!("{SITE_DHCP}/24")),
            )?;
            let process = ctx(
                "starting dnsmasq",
                Dnsmasq::new(SITE_RANGE.0, SITE_RANGE.1).start(&host, d),
            )?;
            Some(SiteDhcp {
                process,
                leases: d.join("dnsmasq.leases"),
            })
        }
    };
    let registry = match s.os {
        Os::Tiny => None,
        Os::Debian => {
            say(&format!(
                "pushing the debian image to docker-registry on {REGISTRY}"
            ));
            let image = ctx(
                "the debian image (cargo xtask test-image --kind debian)",
                debian::debian(),
            )?;
            let host = ctx(
                "adding the registry host",
                lab.add_host("registry", &format!("{REGISTRY}/24")),
            )?;
            let registry = ctx("starting docker-registry", LocalRegistry::start_in(&host))?;
            ctx(
                "pushing the debian image",
                registry.push_layout(&image.layout, debian::TAG, "debian", debian::TAG),
            )?;
            Some(registry)
        }
    };
    let tap = ctx("adding the VM's tap", lab.add_tap())?;
    let kickstand = LabKickstand::with_config(
        &server,
        d,
        &config(s, &kernel.vmlinuz, initramfs, &image.layout, &ssh_key),
    );

    say(&format!(
        "powering on {} ({:?}, blank disk, MAC {MAC})",
        s.name, s.boot
    ));
    let mut vm = machine(s, d, &tap, &disk)?;
    // After the start: waiting for a VM slot is not the machine's time.
    let mut phases = Phases::new();
    if live {
        vm.echo(Some("   | "));
    }
    let wait = |vm: &mut Vm, pattern: &str, secs: u64| {
        ctx(
            &format!("waiting for /{pattern}/"),
            vm.wait_for_line(pattern, Duration::from_secs(secs)),
        )
    };
    wait(
        &mut vm,
        &format!("Kickstand: installing profile {} on {MAC}", s.os.profile()),
        300,
    )?;
    phases.mark("DHCP + boot script", live);
    wait(&mut vm, "KICKSTAND-MILESTONE kickstart-fetched", 300)?;
    phases.mark("kickstart fetched", live);

    let key = d.join("id_ed25519");
    let report = match s.outcome {
        Outcome::Installs => {
            wait(&mut vm, "KICKSTAND-MILESTONE install-done", 900)?;
            phases.mark("image written", live);
            wait(&mut vm, &format!("Kickstand: {MAC} is installed"), 300)?;
            phases.mark("boot-once: local disk", live);
            let line = wait(&mut vm, tiny::BOOTED, 420)?;
            phases.mark("rebooted into the installed system", live);
            if s.os == Os::Debian {
                wait_for_ssh(&server, &key)?;
                phases.mark("SSH login", live);
            }
            Some(BootReport::parse(&line).ok_or_else(|| format!("unreadable report: {line}"))?)
        }
        Outcome::MissingDisk => {
            wait(&mut vm, "KICKSTAND-INSTALL-FAILED", 300)?;
            phases.mark("install failed", live);
            wait(&mut vm, "Nothing was rebooted", 60)?;
            // Power-cycle: the machine network-boots again and must go to its disk.
            vm.kill();
            drop(vm);
            say("resetting the machine: it must not install again");
            vm = machine(s, d, &tap, &disk)?;
            if live {
                vm.echo(Some("   | "));
            }
            wait(
                &mut vm,
                &format!("Kickstand: the install of {MAC} failed"),
                300,
            )?;
            phases.mark("boot-once: local disk after the failure", live);
            None
        }
    };
    let machines = machines_list(&server)?;
    Ok(Run {
        phases,
        report,
        key_fingerprint,
        key,
        machines,
        vm,
        kickstand,
        server,
        site_dhcp,
        registry,
        dir,
        lab,
    })
}

/// Waits until the installed system takes an SSH login (sshd is up before the boot report;
/// its DHCP lease may come a moment later).
fn wait_for_ssh(from: &Host, key: &Path) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        match ssh(from, key, "true") {
            Ok(_) => return Ok(()),
            Err(e) if Instant::now() > deadline => {
                return Err(format!("no SSH login within 120 s: {e}"));
            }
            Err(_) => std::thread::sleep(Duration::from_secs(2)),
        }
    }
}

/// `kickstand machines list` run on the server host (the API on its loopback).
pub fn machines_list(server: &Host) -> Result<String> {
    let kickstand = crate::bin("kickstand");
    ctx(
        "kickstand machines list",
        server.run(
            "kickstand machines list",
            &kickstand.display().to_string(),
            &["machines", "list"],
        ),
    )
}
