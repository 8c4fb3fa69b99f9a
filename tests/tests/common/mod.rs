//! Shared pieces of the PID 1 VM tests: the binaries, the initramfs (built once per test
//! process by the real `kickstand initramfs build`), a small HTTP server on loopback that
//! records what the installer asked and posted, and the VM with its user-mode network.

#![allow(dead_code)]

use qemu_harness::{Disk, Firmware, Vm, VmBuilder};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Where the guest reaches the test's HTTP server (a `guestfwd` rule of QEMU's user-mode
/// network; connections go to this host's loopback, nothing else is reachable).
pub const GUEST_HTTP: &str = "10.0.2.100:80";
/// Where the guest reaches the test registry.
pub const GUEST_REGISTRY: &str = "10.0.2.100:5000";
/// The VM's MAC address.
pub const GUEST_MAC: &str = "52:54:00:4b:53:01";

/// A test's temporary directory (kept when the test fails, for the console logs).
pub struct VmFiles {
    pub dir: tempfile::TempDir,
}

impl VmFiles {
    pub fn new(name: &str) -> Self {
        VmFiles {
            dir: tempfile::Builder::new()
                .prefix(&format!("{name}-"))
                .tempdir()
                .unwrap(),
        }
    }
}

pub use kickstand_tests::kernel_and_initramfs;

/// One request the server saw.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// A minimal HTTP/1.1 server on 127.0.0.1 serving fixed files and recording every request
/// (GETs for the kickstart, POSTs of install events).
pub struct HttpServer {
    pub port: u16,
    requests: Arc<Mutex<Vec<Request>>>,
}

impl HttpServer {
    pub fn start(files: &[(&str, Vec<u8>)]) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let files: Vec<(String, Vec<u8>)> = files
            .iter()
            .map(|(p, b)| (p.to_string(), b.clone()))
            .collect();
        let seen = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let files = files.clone();
                let seen = seen.clone();
                std::thread::spawn(move || {
                    let _ = serve(stream, &files, &seen);
                });
            }
        });
        HttpServer { port, requests }
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

fn serve(
    mut stream: TcpStream,
    files: &[(String, Vec<u8>)],
    seen: &Mutex<Vec<Request>>,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let path = parts.next().unwrap_or("").to_string();
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            reader.read_line(&mut h)?;
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
        let length: usize = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        let found = files
            .iter()
            .find(|(p, _)| *p == path)
            .map(|(_, b)| b.clone());
        seen.lock().unwrap().push(Request {
            method: method.clone(),
            path,
            headers,
            body,
        });
        let (status, body) = match (method.as_str(), found) {
            ("GET", Some(b)) => ("200 OK", b),
            ("POST", _) => ("200 OK", Vec::new()),
            _ => ("404 Not Found", b"not found\n".to_vec()),
        };
        write!(
            stream,
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: text/plain\r\n\r\n",
            body.len()
        )?;
        stream.write_all(&body)?;
        stream.flush()?;
    }
}

/// The installer's command line for an install served by the test: the kickstart from
/// [`GUEST_HTTP`]`/ks.cfg`, progress posted there, the image pulled from the registry at
/// [`GUEST_REGISTRY`] over plain HTTP.
pub fn registry_install_cmdline() -> String {
    format!(
        "inst.ks=http://{GUEST_HTTP}/ks.cfg kickstand.server=http://{GUEST_HTTP} \
         kickstand.insecure_registry={GUEST_REGISTRY}"
    )
}

/// Boots the installer initramfs under OVMF with `disks`, one virtio NIC on user-mode
/// networking whose only reachable addresses are [`GUEST_HTTP`] (→ `server`) and, when
/// `registry_port` is given, [`GUEST_REGISTRY`].
pub fn boot_installer_with_registry(
    files: &VmFiles,
    name: &str,
    server: &HttpServer,
    registry_port: Option<u16>,
    cmdline: &str,
    disks: &[Disk],
) -> Vm {
    boot_installer_on(
        Firmware::Uefi,
        files,
        name,
        server,
        registry_port,
        cmdline,
        disks,
    )
}

/// [`boot_installer_with_registry`] under `firmware` (SeaBIOS or OVMF): the installer plans
/// for the firmware it finds.
pub fn boot_installer_on(
    firmware: Firmware,
    files: &VmFiles,
    name: &str,
    server: &HttpServer,
    registry_port: Option<u16>,
    cmdline: &str,
    disks: &[Disk],
) -> Vm {
    let (kernel, initrd) = kernel_and_initramfs();
    let fwd = |guest: &str, port: u16| {
        let (ip, gport) = guest.split_once(':').unwrap();
        format!(
            ",guestfwd=tcp:{ip}:{gport}-cmd:{} nc 127.0.0.1 {port}",
            qemu_harness::images::BUSYBOX
        )
    };
    let mut netdev = format!("user,id=n0,restrict=on{}", fwd(GUEST_HTTP, server.port));
    if let Some(p) = registry_port {
        netdev.push_str(&fwd(GUEST_REGISTRY, p));
    }
    let mut b = VmBuilder::new(name)
        .workdir(files.dir.path())
        .firmware(firmware)
        .memory_mib(1536)
        .kernel(&kernel.vmlinuz)
        .initrd(initrd)
        .append(format!("console=ttyS0,115200 panic=-1 {cmdline}"))
        .no_reboot()
        .arg("-netdev")
        .arg(netdev)
        .arg("-device")
        .arg(format!("virtio-net-pci,netdev=n0,mac={GUEST_MAC},romfile="));
    for d in disks {
        b = b.disk(d.clone());
    }
    let vm = b.start().unwrap();
    eprintln!("started {}: {}", vm.name(), vm.command_line());
    vm
}

/// [`boot_installer_with_registry`] without a registry.
pub fn boot_installer(
    files: &VmFiles,
    name: &str,
    server: &HttpServer,
    cmdline: &str,
    disks: &[Disk],
) -> Vm {
    boot_installer_with_registry(files, name, server, None, cmdline, disks)
}

/// Debian's docker-registry on loopback holding the tiny image as `tiny:latest`.
pub fn tiny_registry() -> qemu_harness::registry::LocalRegistry {
    let image = qemu_harness::images::tiny::tiny().expect("the tiny image (cargo xtask assets)");
    let registry = qemu_harness::registry::LocalRegistry::start().unwrap();
    registry
        .push_layout(
            &image.layout,
            qemu_harness::images::tiny::TAG,
            "tiny",
            "latest",
        )
        .unwrap();
    registry
}

/// The installer's `KICKSTAND-MILESTONE NAME SECONDS` lines: seconds since the kernel started.
#[derive(Debug, Default)]
pub struct Milestones(pub Vec<(String, f64)>);

impl Milestones {
    /// Waits for milestone `name` and records its time.
    pub fn wait(&mut self, vm: &mut Vm, name: &str, timeout: Duration) -> f64 {
        let line = vm
            .wait_for_line(&format!("KICKSTAND-MILESTONE {name} "), timeout)
            .unwrap();
        let secs: f64 = line
            .rsplit(' ')
            .next()
            .and_then(|s| s.trim().trim_end_matches('s').parse().ok())
            .unwrap_or_else(|| panic!("no time in {line:?}"));
        self.0.push((name.to_string(), secs));
        secs
    }

    /// Prints the benchmark line.
    pub fn print(&self, what: &str) {
        let parts: Vec<String> = self.0.iter().map(|(n, s)| format!("{n} {s:.1}s")).collect();
        eprintln!(
            "BENCH pid1 {what}: kernel start → {} (guest uptime, TCG)",
            parts.join(" → ")
        );
    }
}

/// Waits for the installer in `vm` to fetch its kickstart, finish the install (panicking with
/// the console when it reports a failure) and power the machine off; prints the phase times
/// and returns the installer's console.
pub fn wait_for_install(mut vm: Vm, name: &str) -> String {
    let mut times = Milestones::default();
    times.wait(&mut vm, "kickstart-fetched", Duration::from_secs(240));
    let done = vm
        .wait_for_line(
            "KICKSTAND-MILESTONE install-done |KICKSTAND-INSTALL-FAILED",
            Duration::from_secs(600),
        )
        .unwrap();
    assert!(
        !done.contains("FAILED"),
        "the install failed:\n{}",
        vm.console_text()
    );
    vm.wait_for_exit(Duration::from_secs(60))
        .expect("the installer powers the machine off");
    let console = vm.console_text();
    drop(vm);
    times.print(name);
    console
}
