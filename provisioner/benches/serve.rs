//! `kickstand serve` against its peers on the same files, same machine, same client, in one
//! run; prints throughput and ratios (the targets are in issue 7):
//!
//! - TFTP, one client, 64 MiB, blksize 1468, lock-step: kickstand vs tftpd-hpa and dnsmasq
//!   (curl); and kickstand with windowsize 16 vs itself lock-step (atftp).
//! - TFTP, 200 concurrent clients of a 32 MiB file: aggregate throughput and kickstand's peak
//!   RSS.
//! - HTTP, 64 concurrent clients of a 64 MiB file: kickstand vs nginx.
//!
//! `KICKSTAND_BENCH_SCALE=0.25` shrinks files and client counts for a quick look. Peers that
//! are not installed are reported and skipped. Run with `cargo bench -p kickstand-provisioner`.

use std::net::{TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const MIB: u64 = 1024 * 1024;

struct Proc(Child);

impl Drop for Proc {
    /// SIGTERM first, so a master process (nginx) stops its workers; SIGKILL after 5 s.
    fn drop(&mut self) {
        use nix::sys::signal::{Signal, kill};
        use nix::unistd::Pid;
        let _ = kill(Pid::from_raw(self.0.id() as i32), Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn scale() -> f64 {
    std::env::var("KICKSTAND_BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0)
}

fn free_port() -> u16 {
    let u = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = u.local_addr().unwrap().port();
    // The same number free for TCP too (both servers of kickstand use it).
    match std::net::TcpListener::bind(("127.0.0.1", port)) {
        Ok(_) => port,
        Err(_) => free_port(),
    }
}

fn write_file(path: &Path, len: u64) {
    let mut data = vec![0u8; len as usize];
    let mut x: u64 = 0x9e3779b97f4a7c15;
    for b in data.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = (x >> 32) as u8;
    }
    std::fs::write(path, data).unwrap();
}

fn wait_tcp(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "server on port {port} did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs `n` copies of a command at once; returns the wall time of the whole batch.
fn batch(n: usize, make: impl Fn() -> Command) -> Option<Duration> {
    let start = Instant::now();
    let children: Vec<Child> = (0..n)
        .map(|_| {
            make()
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn client")
        })
        .collect();
    let mut ok = true;
    for c in children {
        let out = c.wait_with_output().unwrap();
        if !out.status.success() {
            eprintln!(
                "  client failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            ok = false;
        }
    }
    ok.then(|| start.elapsed())
}

/// The best of three runs, as MiB/s for `bytes` moved.
fn best(bytes: u64, runs: usize, f: impl Fn() -> Option<Duration>) -> Option<f64> {
    (0..runs)
        .filter_map(|_| f())
        .map(|d| bytes as f64 / MIB as f64 / d.as_secs_f64())
        .reduce(f64::max)
}

fn curl_tftp(port: u16, host: &str, name: &str) -> Command {
    let mut c = Command::new("curl");
    c.args([
        "-sS",
        "--tftp-blksize",
        "1468",
        "-o",
        "/dev/null",
        &format!("tftp://{host}:{port}/{name}"),
    ]);
    c
}

fn atftp(port: u16, name: &str, window: Option<u16>) -> Command {
    let mut c = Command::new("atftp");
    c.args([
        "--get",
        "-r",
        name,
        "-l",
        "/dev/null",
        "--option",
        "blksize 1468",
    ]);
    if let Some(w) = window {
        c.args(["--option", &format!("windowsize {w}")]);
    }
    c.args(["127.0.0.1", &port.to_string()]);
    c
}

fn have(p: &str) -> bool {
    Path::new(p).exists()
}

fn peak_rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn report(name: &str, ours: Option<f64>, peer: Option<f64>, peer_name: &str) {
    match (ours, peer) {
        (Some(o), Some(p)) => println!(
            "{name}: kickstand {o:.1} MiB/s, {peer_name} {p:.1} MiB/s, ratio {:.2}x",
            o / p
        ),
        (Some(o), None) => println!("{name}: kickstand {o:.1} MiB/s, {peer_name} unavailable"),
        _ => println!("{name}: kickstand failed"),
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let s = scale();
    let big = ((64.0 * s) as u64).max(1) * MIB;
    let mid = ((32.0 * s) as u64).max(1) * MIB;
    let tftp_clients = ((200.0 * s) as usize).max(2);
    let http_clients = ((64.0 * s) as usize).max(2);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("boot/bench")).unwrap();
    write_file(&root.join("boot/bench/big.bin"), big);
    write_file(&root.join("boot/bench/mid.bin"), mid);
    std::fs::write(dir.path().join("ks"), "reboot\n").unwrap();

    // kickstand, as its release-like binary, serving the same files.
    let port = free_port();
    std::fs::write(
        dir.path().join("kickstand.toml"),
        format!(
            "[server]\nlisten = \"127.0.0.1\"\nhttp_port = {port}\ntftp_port = {port}\npublic_url = \"http://127.0.0.1:{port}\"\nstate_dir = \"state\"\n\
             [dhcp]\nmode = \"off\"\n[profiles.bench]\nkernel = \"root/boot/bench/big.bin\"\ninitramfs = \"root/boot/bench/mid.bin\"\nkickstart = \"ks\"\n"
        ),
    )
    .unwrap();
    let ks = Proc(
        Command::new(env!("CARGO_BIN_EXE_kickstand"))
            .args(["serve", "--config"])
            .arg(dir.path().join("kickstand.toml"))
            .env("RUST_LOG", "warn")
            .spawn()
            .expect("start kickstand"),
    );
    wait_tcp(port);
    let ks_pid = ks.0.id();

    // Peers.
    let hpa_port = free_port();
    let hpa = have("/usr/sbin/in.tftpd").then(|| {
        Proc(
            Command::new("/usr/sbin/in.tftpd")
                .args([
                    "--foreground",
                    "--listen",
                    "--address",
                    &format!("127.0.0.1:{hpa_port}"),
                    "--secure",
                ])
                .arg(&root)
                .spawn()
                .expect("start tftpd-hpa"),
        )
    });
    // dnsmasq's TFTP port is always 69: give it a loopback address of its own.
    let dnsmasq = have("/usr/sbin/dnsmasq").then(|| {
        Proc(
            Command::new("/usr/sbin/dnsmasq")
                .args([
                    "--no-daemon",
                    "--conf-file=/dev/null",
                    "--port=0",
                    "--enable-tftp",
                    "--listen-address=127.0.0.69",
                    "--bind-interfaces",
                    "--user=root",
                    "--pid-file",
                ])
                .arg(format!("--tftp-root={}", root.display()))
                .stderr(Stdio::null())
                .spawn()
                .expect("start dnsmasq"),
        )
    });
    std::thread::sleep(Duration::from_millis(500));
    let name = "boot/bench/big.bin";

    println!(
        "== TFTP, one client, {} MiB, blksize 1468 (curl)",
        big / MIB
    );
    let ours = best(big, 3, || batch(1, || curl_tftp(port, "127.0.0.1", name)));
    let p_hpa = hpa.as_ref().and_then(|_| {
        best(big, 3, || {
            batch(1, || curl_tftp(hpa_port, "127.0.0.1", name))
        })
    });
    let p_dns = dnsmasq
        .as_ref()
        .and_then(|_| best(big, 3, || batch(1, || curl_tftp(69, "127.0.0.69", name))));
    report("tftp lock-step vs tftpd-hpa", ours, p_hpa, "tftpd-hpa");
    report("tftp lock-step vs dnsmasq", ours, p_dns, "dnsmasq");
    if let (Some(o), Some(b)) = (ours, p_hpa.into_iter().chain(p_dns).reduce(f64::max)) {
        println!(
            "tftp lock-step vs the best peer: {:.2}x (target >= 1.0x)",
            o / b
        );
    }

    if have("/usr/bin/atftp") {
        println!("== TFTP windowsize 16 vs lock-step, one client (atftp)");
        let lock = best(big, 3, || batch(1, || atftp(port, name, None)));
        let win = best(big, 3, || batch(1, || atftp(port, name, Some(16))));
        match (win, lock) {
            (Some(w), Some(l)) => println!(
                "tftp windowsize 16: {w:.1} MiB/s vs lock-step {l:.1} MiB/s: {:.2}x (target >= 3x)",
                w / l
            ),
            _ => println!("tftp windowsize: a transfer failed"),
        }
    }

    println!(
        "== TFTP, {tftp_clients} concurrent clients of {} MiB (curl)",
        mid / MIB
    );
    let d = batch(tftp_clients, || {
        curl_tftp(port, "127.0.0.1", "boot/bench/mid.bin")
    });
    match d {
        Some(d) => println!(
            "tftp {tftp_clients} clients: aggregate {:.1} MiB/s in {:.1} s",
            (mid * tftp_clients as u64) as f64 / MIB as f64 / d.as_secs_f64(),
            d.as_secs_f64()
        ),
        None => println!("tftp {tftp_clients} clients: some transfers failed"),
    }
    if let Some(rss) = peak_rss_kib(ks_pid) {
        println!(
            "kickstand peak RSS: {:.1} MiB (target < 100 MiB)",
            rss as f64 / 1024.0
        );
    }

    println!(
        "== HTTP, {http_clients} concurrent clients of {} MiB (curl)",
        big / MIB
    );
    let http = |p: u16, path: &str| {
        let url = format!("http://127.0.0.1:{p}{path}");
        move || {
            let mut c = Command::new("curl");
            c.args(["-sS", "-o", "/dev/null", &url]);
            c
        }
    };
    let total = big * http_clients as u64;
    let ours = best(total, 2, || {
        batch(http_clients, http(port, "/boot/bench/big.bin"))
    });
    let nginx_port = free_port();
    let nginx = have("/usr/sbin/nginx").then(|| start_nginx(dir.path(), &root, nginx_port));
    let peer = nginx.as_ref().and_then(|_| {
        wait_tcp(nginx_port);
        best(total, 2, || {
            batch(http_clients, http(nginx_port, "/boot/bench/big.bin"))
        })
    });
    report(
        &format!("http {http_clients} clients vs nginx"),
        ours,
        peer,
        "nginx",
    );
    println!("(targets: HTTP >= 0.7x nginx)");
    drop((ks, hpa, dnsmasq, nginx));
}

fn start_nginx(dir: &Path, root: &Path, port: u16) -> Proc {
    let prefix: PathBuf = dir.join("nginx");
    std::fs::create_dir_all(prefix.join("tmp")).unwrap();
    let conf = prefix.join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "daemon off;\nworker_processes auto;\npid {p}/nginx.pid;\nerror_log stderr error;\nevents {{ worker_connections 4096; }}\n\
             http {{\n access_log off;\n sendfile on;\n tcp_nopush on;\n client_body_temp_path {p}/tmp;\n proxy_temp_path {p}/tmp;\n\
             fastcgi_temp_path {p}/tmp;\n uwsgi_temp_path {p}/tmp;\n scgi_temp_path {p}/tmp;\n\
             server {{ listen 127.0.0.1:{port}; root {r}; }}\n}}\n",
            p = prefix.display(),
            r = root.display()
        ),
    )
    .unwrap();
    Proc(
        Command::new("/usr/sbin/nginx")
            .arg("-p")
            .arg(&prefix)
            .arg("-c")
            .arg(&conf)
            .spawn()
            .expect("start nginx"),
    )
}
