//! [`VmBuilder`]: what a test VM is made of, turned into a QEMU command line.

use super::Vm;
use crate::accel::Accel;
use crate::error::{Error, Result};
use crate::netlab::Tap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The firmware a VM boots with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Firmware {
    /// SeaBIOS (QEMU's default), with iPXE option ROMs on the NICs; its console goes to the
    /// serial port.
    Bios,
    /// OVMF (`gate::OVMF_CODE`), with a private copy of the variable store.
    Uefi,
}

/// A disk image's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskFormat {
    Raw,
    Qcow2,
}

/// The controller a disk is attached to (and the device name the guest sees).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskBus {
    /// `/dev/vdX`.
    VirtioBlk,
    /// `/dev/sdX` behind a virtio-scsi controller.
    VirtioScsi,
    /// `/dev/nvmeXnY`.
    Nvme,
    /// `/dev/sdX` on an AHCI (SATA) controller.
    Ahci,
    /// `/dev/sdX`: a removable USB mass-storage device (a stick) on an xHCI controller.
    Usb,
}

/// A disk or CD-ROM.
#[derive(Debug, Clone)]
pub struct Disk {
    pub path: PathBuf,
    pub format: DiskFormat,
    pub bus: DiskBus,
    /// Position in the firmware's boot order (`bootindex`); lower boots first.
    pub bootindex: Option<u32>,
    /// Serial number the guest sees (`/dev/disk/by-id`); NVMe disks get one by default.
    pub serial: Option<String>,
    pub read_only: bool,
    /// A CD-ROM drive (AHCI or virtio-scsi only) holding `path`, an ISO image.
    pub cdrom: bool,
}

impl Disk {
    /// A raw disk image on virtio-blk.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Disk {
            path: path.into(),
            format: DiskFormat::Raw,
            bus: DiskBus::VirtioBlk,
            bootindex: None,
            serial: None,
            read_only: false,
            cdrom: false,
        }
    }

    /// A CD-ROM drive on AHCI holding the ISO image at `path`.
    pub fn cdrom(path: impl Into<PathBuf>) -> Self {
        Disk {
            bus: DiskBus::Ahci,
            read_only: true,
            cdrom: true,
            ..Disk::new(path)
        }
    }

    pub fn format(mut self, format: DiskFormat) -> Self {
        self.format = format;
        self
    }

    pub fn bus(mut self, bus: DiskBus) -> Self {
        self.bus = bus;
        self
    }

    pub fn bootindex(mut self, index: u32) -> Self {
        self.bootindex = Some(index);
        self
    }

    pub fn serial(mut self, serial: impl Into<String>) -> Self {
        self.serial = Some(serial.into());
        self
    }

    pub fn read_only(mut self) -> Self {
        self.read_only = true;
        self
    }
}

/// A network card model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NicModel {
    VirtioNet,
    E1000,
}

/// Where a NIC's traffic goes.
#[derive(Debug, Clone)]
pub enum NetBackend {
    /// A tap device of a [`crate::NetLab`]; QEMU runs inside the lab's switch namespace.
    Tap(Tap),
    /// QEMU's user-mode network, isolated (`restrict=on`: the guest reaches only QEMU's own
    /// DHCP/TFTP services, nothing outside), optionally serving `tftp` with `bootfile`.
    User {
        tftp: Option<PathBuf>,
        bootfile: Option<String>,
    },
}

/// Which option ROM a NIC carries (the firmware's network boot code for that card).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OptionRom {
    /// QEMU's default: iPXE (`ipxe-qemu`), used by SeaBIOS and, as an EFI driver, by OVMF.
    Default,
    /// No ROM: OVMF then uses its own network stack (PXE and HTTP Boot).
    None,
    /// This ROM file.
    File(PathBuf),
}

/// A network card.
#[derive(Debug, Clone)]
pub struct Nic {
    pub model: NicModel,
    pub backend: NetBackend,
    /// MAC address `52:54:00:xx:xx:xx`; the builder assigns one when `None`.
    pub mac: Option<String>,
    pub bootindex: Option<u32>,
    pub option_rom: OptionRom,
    /// User-mode networking only: `(host port, guest port)` TCP forwards, the host side bound
    /// to 127.0.0.1 only (`hostfwd=tcp:127.0.0.1:HOST-:GUEST`).
    pub host_forwards: Vec<(u16, u16)>,
}

impl Nic {
    /// A virtio-net card on `backend`.
    pub fn new(backend: NetBackend) -> Self {
        Nic {
            model: NicModel::VirtioNet,
            backend,
            mac: None,
            bootindex: None,
            option_rom: OptionRom::Default,
            host_forwards: Vec::new(),
        }
    }

    /// A virtio-net card on a lab's tap device.
    pub fn tap(tap: &Tap) -> Self {
        Nic::new(NetBackend::Tap(tap.clone()))
    }

    /// A virtio-net card on isolated user-mode networking.
    pub fn user() -> Self {
        Nic::new(NetBackend::User {
            tftp: None,
            bootfile: None,
        })
    }

    pub fn model(mut self, model: NicModel) -> Self {
        self.model = model;
        self
    }

    pub fn mac(mut self, mac: impl Into<String>) -> Self {
        self.mac = Some(mac.into());
        self
    }

    pub fn bootindex(mut self, index: u32) -> Self {
        self.bootindex = Some(index);
        self
    }

    pub fn option_rom(mut self, rom: OptionRom) -> Self {
        self.option_rom = rom;
        self
    }

    /// Forwards TCP `127.0.0.1:host_port` to the guest's `guest_port` (user-mode networking
    /// only; ignored on a tap). The guest still reaches nothing outside (`restrict=on`).
    pub fn host_forward(mut self, host_port: u16, guest_port: u16) -> Self {
        self.host_forwards.push((host_port, guest_port));
        self
    }
}

/// What a VM is made of; [`VmBuilder::start`] boots it.
#[derive(Debug, Clone)]
pub struct VmBuilder {
    pub(super) name: String,
    pub(super) workdir: Option<PathBuf>,
    pub(super) firmware: Firmware,
    machine: String,
    cpu: Option<String>,
    memory_mib: u32,
    cpus: u32,
    disks: Vec<Disk>,
    pub(super) nics: Vec<Nic>,
    kernel: Option<PathBuf>,
    initrd: Option<PathBuf>,
    append: Option<String>,
    fw_cfg: Vec<(String, String)>,
    no_reboot: bool,
    console_socket: bool,
    extra: Vec<OsString>,
}

impl VmBuilder {
    /// A VM called `name` (used in file names and messages): SeaBIOS, q35, 512 MiB, 1 CPU, no
    /// disks, no NICs.
    pub fn new(name: impl Into<String>) -> Self {
        VmBuilder {
            name: name.into(),
            workdir: None,
            firmware: Firmware::Bios,
            machine: "q35".into(),
            cpu: None,
            memory_mib: 512,
            cpus: 1,
            disks: Vec::new(),
            nics: Vec::new(),
            kernel: None,
            initrd: None,
            append: None,
            fw_cfg: Vec::new(),
            no_reboot: false,
            console_socket: false,
            extra: Vec::new(),
        }
    }

    /// Where the console log, QEMU's log and the OVMF variable store go (the test's temp dir).
    /// Without it the VM makes its own temporary directory, kept when the test fails.
    pub fn workdir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.workdir = Some(dir.into());
        self
    }

    pub fn firmware(mut self, firmware: Firmware) -> Self {
        self.firmware = firmware;
        self
    }

    /// QEMU machine type (`q35` by default, `pc` for i440FX).
    pub fn machine(mut self, machine: impl Into<String>) -> Self {
        self.machine = machine.into();
        self
    }

    /// CPU model (`-cpu`); by default `host` under KVM and QEMU's default under TCG.
    pub fn cpu(mut self, cpu: impl Into<String>) -> Self {
        self.cpu = Some(cpu.into());
        self
    }

    pub fn memory_mib(mut self, mib: u32) -> Self {
        self.memory_mib = mib;
        self
    }

    pub fn cpus(mut self, cpus: u32) -> Self {
        self.cpus = cpus;
        self
    }

    pub fn disk(mut self, disk: Disk) -> Self {
        self.disks.push(disk);
        self
    }

    pub fn nic(mut self, nic: Nic) -> Self {
        self.nics.push(nic);
        self
    }

    /// Direct kernel boot (`-kernel`).
    pub fn kernel(mut self, path: impl Into<PathBuf>) -> Self {
        self.kernel = Some(path.into());
        self
    }

    pub fn initrd(mut self, path: impl Into<PathBuf>) -> Self {
        self.initrd = Some(path.into());
        self
    }

    /// The kernel command line (`-append`).
    pub fn append(mut self, cmdline: impl Into<String>) -> Self {
        self.append = Some(cmdline.into());
        self
    }

    /// A `-fw_cfg name=NAME,string=VALUE` item, e.g. `opt/org.tianocore/IPv4PXESupport` = `no`.
    pub fn fw_cfg(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.fw_cfg.push((name.into(), value.into()));
        self
    }

    /// Exit instead of rebooting (`-no-reboot`): a guest reboot ends the VM.
    pub fn no_reboot(mut self) -> Self {
        self.no_reboot = true;
        self
    }

    /// Also offer the serial console on a Unix socket (`NAME.console.sock` in the work
    /// directory, [`crate::Vm::console_socket`]) for a person to type into, e.g. with
    /// `socat -,rawer UNIX-CONNECT:PATH`; the console log is written as before.
    pub fn console_socket(mut self) -> Self {
        self.console_socket = true;
        self
    }

    /// Further raw QEMU arguments.
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.extra.push(arg.into());
        self
    }

    /// Starts the VM (after waiting for a VM slot, see [`crate::slots`]).
    pub fn start(self) -> Result<Vm> {
        Vm::start(self)
    }

    /// The network namespace QEMU must run in: the one holding the tap devices.
    pub(super) fn netns(&self) -> Result<Option<String>> {
        let mut ns: Option<&str> = None;
        for nic in &self.nics {
            if let NetBackend::Tap(tap) = &nic.backend {
                match ns {
                    Some(n) if n != tap.netns => {
                        return Err(Error::Vm {
                            vm: self.name.clone(),
                            message: format!(
                                "taps {} and one in {n} are in different network \
                                 namespaces; a VM's taps must come from one NetLab",
                                tap.name
                            ),
                        });
                    }
                    _ => ns = Some(&tap.netns),
                }
            }
        }
        Ok(ns.map(str::to_string))
    }

    /// The QEMU arguments (without the program), given where the files go.
    pub(super) fn args(&self, files: &VmFiles, accel: Accel) -> Vec<OsString> {
        let mut a = Args::default();
        a.push("-name")
            .push(format!("{},debug-threads=on", self.name));
        a.push("-nodefaults").push("-no-user-config");
        a.push("-display").push("none");
        let mut machine = self.machine.clone();
        if self.firmware == Firmware::Bios {
            // SeaBIOS (and iPXE through it) print to the serial port when there is no display.
            machine.push_str(",graphics=off");
        }
        a.push("-machine").push(machine);
        a.push("-accel").push(accel.arg());
        match (&self.cpu, accel) {
            (Some(cpu), _) => {
                a.push("-cpu").push(cpu);
            }
            (None, Accel::Kvm) => {
                a.push("-cpu").push("host");
            }
            (None, Accel::Tcg) => {}
        }
        a.push("-m").push(format!("{}M", self.memory_mib));
        a.push("-smp").push(self.cpus.to_string());
        if self.console_socket {
            a.push("-chardev").push(format!(
                "socket,id=console,path={},server=on,wait=off,logfile={}",
                super::escape(&files.console_socket),
                super::escape(&files.console)
            ));
        } else {
            a.push("-chardev").push(format!(
                "file,id=console,path={}",
                super::escape(&files.console)
            ));
        }
        a.push("-serial").push("chardev:console");
        a.push("-chardev").push(format!(
            "file,id=fwlog,path={}",
            super::escape(&files.firmware_log)
        ));
        a.push("-device")
            .push("isa-debugcon,iobase=0x402,chardev=fwlog");
        if let (Firmware::Uefi, Some(vars)) = (self.firmware, &files.ovmf_vars) {
            a.push("-drive").push(format!(
                "if=pflash,format=raw,unit=0,readonly=on,file={}",
                super::escape(Path::new(crate::gate::OVMF_CODE))
            ));
            a.push("-drive").push(format!(
                "if=pflash,format=raw,unit=1,file={}",
                super::escape(vars)
            ));
        }
        self.disk_args(&mut a);
        self.nic_args(&mut a);
        if let Some(k) = &self.kernel {
            a.push("-kernel").push(k.as_os_str());
        }
        if let Some(i) = &self.initrd {
            a.push("-initrd").push(i.as_os_str());
        }
        if let Some(c) = &self.append {
            a.push("-append").push(c);
        }
        for (name, value) in &self.fw_cfg {
            a.push("-fw_cfg")
                .push(format!("name={name},string={}", value.replace(',', ",,")));
        }
        if self.no_reboot {
            a.push("-no-reboot");
        }
        a.0.extend(self.extra.iter().cloned());
        a.0
    }

    fn disk_args(&self, a: &mut Args) {
        let needs = |bus| self.disks.iter().any(|d| d.bus == bus);
        if needs(DiskBus::VirtioScsi) {
            a.push("-device").push("virtio-scsi-pci,id=scsi0");
        }
        if needs(DiskBus::Ahci) {
            a.push("-device").push("ahci,id=ahci0");
        }
        if needs(DiskBus::Usb) {
            a.push("-device").push("qemu-xhci,id=usb0");
        }
        let (mut ahci_port, mut scsi_lun) = (0, 0);
        for (i, d) in self.disks.iter().enumerate() {
            let id = format!("disk{i}");
            let format = match d.format {
                DiskFormat::Raw => "raw",
                DiskFormat::Qcow2 => "qcow2",
            };
            let mut drive = format!(
                "if=none,id={id},format={format},file={}",
                super::escape(&d.path)
            );
            if d.cdrom {
                drive.push_str(",media=cdrom");
            }
            if d.read_only {
                drive.push_str(",readonly=on");
            }
            a.push("-drive").push(drive);
            let mut dev = match (d.bus, d.cdrom) {
                (DiskBus::Ahci, cd) => {
                    let kind = if cd { "ide-cd" } else { "ide-hd" };
                    ahci_port += 1;
                    format!("{kind},bus=ahci0.{}", ahci_port - 1)
                }
                (DiskBus::VirtioScsi, cd) => {
                    let kind = if cd { "scsi-cd" } else { "scsi-hd" };
                    scsi_lun += 1;
                    format!("{kind},bus=scsi0.0,scsi-id={}", scsi_lun - 1)
                }
                (DiskBus::VirtioBlk, _) => "virtio-blk-pci".to_string(),
                (DiskBus::Usb, _) => "usb-storage,bus=usb0.0,removable=on".to_string(),
                (DiskBus::Nvme, _) => format!(
                    "nvme,serial={}",
                    d.serial.clone().unwrap_or_else(|| format!("KSNVME{i}"))
                ),
            };
            dev.push_str(&format!(",drive={id}"));
            if let (Some(serial), false) = (&d.serial, d.bus == DiskBus::Nvme) {
                dev.push_str(&format!(",serial={serial}"));
            }
            if let Some(b) = d.bootindex {
                dev.push_str(&format!(",bootindex={b}"));
            }
            a.push("-device").push(dev);
        }
    }

    fn nic_args(&self, a: &mut Args) {
        for (i, nic) in self.nics.iter().enumerate() {
            let id = format!("net{i}");
            let netdev = match &nic.backend {
                NetBackend::Tap(tap) => {
                    format!("tap,id={id},ifname={},script=no,downscript=no", tap.name)
                }
                NetBackend::User { tftp, bootfile } => {
                    let mut s = format!("user,id={id},restrict=on");
                    if let Some(t) = tftp {
                        s.push_str(&format!(",tftp={}", super::escape(t)));
                    }
                    if let Some(b) = bootfile {
                        s.push_str(&format!(",bootfile={}", b.replace(',', ",,")));
                    }
                    for (host, guest) in &nic.host_forwards {
                        s.push_str(&format!(",hostfwd=tcp:127.0.0.1:{host}-:{guest}"));
                    }
                    s
                }
            };
            a.push("-netdev").push(netdev);
            let model = match nic.model {
                NicModel::VirtioNet => "virtio-net-pci",
                NicModel::E1000 => "e1000",
            };
            let mac = nic
                .mac
                .clone()
                .unwrap_or_else(|| default_mac(&self.name, i));
            let mut dev = format!("{model},netdev={id},mac={mac}");
            if let Some(b) = nic.bootindex {
                dev.push_str(&format!(",bootindex={b}"));
            }
            match &nic.option_rom {
                OptionRom::Default => {}
                OptionRom::None => dev.push_str(",romfile="),
                OptionRom::File(p) => dev.push_str(&format!(",romfile={}", super::escape(p))),
            }
            a.push("-device").push(dev);
        }
    }
}

/// A stable, locally administered MAC derived from the VM name and NIC index.
fn default_mac(name: &str, index: usize) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in name.bytes().chain([index as u8]) {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    let [b0, b1, b2, _] = h.to_le_bytes();
    format!("52:54:00:{b0:02x}:{b1:02x}:{b2:02x}")
}

/// The files a VM writes.
#[derive(Debug, Clone)]
pub(super) struct VmFiles {
    pub console: PathBuf,
    pub console_socket: PathBuf,
    pub firmware_log: PathBuf,
    pub qemu_log: PathBuf,
    pub ovmf_vars: Option<PathBuf>,
}

impl VmFiles {
    pub fn new(dir: &Path, name: &str, uefi: bool) -> Self {
        VmFiles {
            console: dir.join(format!("{name}.console.log")),
            console_socket: dir.join(format!("{name}.console.sock")),
            firmware_log: dir.join(format!("{name}.firmware.log")),
            qemu_log: dir.join(format!("{name}.qemu.log")),
            ovmf_vars: uefi.then(|| dir.join(format!("{name}.OVMF_VARS.fd"))),
        }
    }
}

#[derive(Default)]
struct Args(Vec<OsString>);

impl Args {
    fn push(&mut self, arg: impl Into<OsString>) -> &mut Self {
        self.0.push(arg.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(b: &VmBuilder, accel: Accel) -> String {
        let files = VmFiles::new(Path::new("/w"), &b.name, b.firmware == Firmware::Uefi);
        b.args(&files, accel)
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn uefi_vm_with_disks_and_nics() {
        let tap = Tap {
            name: "tap0".into(),
            netns: "ks-1-0-sw".into(),
        };
        let b = VmBuilder::new("t")
            .firmware(Firmware::Uefi)
            .disk(Disk::new("/d/a,b.raw").bootindex(2))
            .disk(
                Disk::new("/d/n.qcow2")
                    .format(DiskFormat::Qcow2)
                    .bus(DiskBus::Nvme),
            )
            .disk(Disk::cdrom("/d/x.iso"))
            .disk(Disk::new("/d/s.raw").bus(DiskBus::VirtioScsi).serial("S1"))
            .disk(Disk::new("/d/u.img").bus(DiskBus::Usb).bootindex(3))
            .nic(Nic::tap(&tap).bootindex(1).option_rom(OptionRom::None))
            .fw_cfg("opt/org.tianocore/IPv4PXESupport", "no")
            .no_reboot();
        let l = line(&b, Accel::Tcg);
        for want in [
            "-machine q35 -accel tcg,thread=multi -m 512M -smp 1",
            "-serial chardev:console",
            "if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd",
            "if=pflash,format=raw,unit=1,file=/w/t.OVMF_VARS.fd",
            "file=/d/a,,b.raw",
            "-device virtio-blk-pci,drive=disk0,bootindex=2",
            "-device nvme,serial=KSNVME1,drive=disk1",
            "format=qcow2",
            "-device ahci,id=ahci0",
            "-device ide-cd,bus=ahci0.0,drive=disk2",
            "media=cdrom,readonly=on",
            "-device virtio-scsi-pci,id=scsi0",
            "-device scsi-hd,bus=scsi0.0,scsi-id=0,drive=disk3,serial=S1",
            "-device qemu-xhci,id=usb0",
            "-device usb-storage,bus=usb0.0,removable=on,drive=disk4,bootindex=3",
            "-netdev tap,id=net0,ifname=tap0,script=no,downscript=no",
            ",bootindex=1,romfile=",
            "-fw_cfg name=opt/org.tianocore/IPv4PXESupport,string=no",
            "-no-reboot",
        ] {
            assert!(l.contains(want), "missing {want:?} in {l}");
        }
        assert_eq!(b.netns().unwrap().as_deref(), Some("ks-1-0-sw"));
    }

    #[test]
    fn bios_direct_kernel_boot() {
        let b = VmBuilder::new("d")
            .kernel("/k/vmlinuz")
            .initrd("/k/initrd")
            .append("console=ttyS0 quiet")
            .nic(Nic::user().model(NicModel::E1000).host_forward(2222, 22));
        let l = line(&b, Accel::Kvm);
        assert!(
            l.contains("-machine q35,graphics=off -accel kvm -cpu host"),
            "{l}"
        );
        assert!(l.contains("-kernel /k/vmlinuz -initrd /k/initrd"), "{l}");
        assert!(
            l.contains("-netdev user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:2222-:22"),
            "{l}"
        );
        assert!(l.contains("-device e1000,netdev=net0,mac=52:54:00:"), "{l}");
        assert!(!l.contains("pflash"), "{l}");
        assert_eq!(b.netns().unwrap(), None);
    }
}
