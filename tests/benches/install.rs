//! Install benchmark (root only): the whole host-mode install of a generated image (~1 GiB of
//! files, `KICKSTAND_BENCH_MIB` to change, on top of the tiny image's layers so it boots) from
//! Debian's docker-registry on loopback into a disk image file, against the peer pipeline that
//! moves the same bytes, in the same run:
//!
//! - **kickstand**: `kickstand-installer install --disk disk.raw` (loop device, GPT, mkfs.xfs of
//!   `/boot` and `/`, pull + unpack, configure, BIOS GRUB, unmount), in a child process whose
//!   peak RSS `wait4` reports;
//! - **peer**: a sparse file of the same size on a loop device, `mkfs.xfs` on it, mount, then
//!   every layer through `curl | gzip -d | tar -x` (`zstd -d` for a zstd layer) one after
//!   another, unmount (which flushes), detach.
//!
//! Prints both wall times, the ratio (target ≤ 1.3×) and the installer's peak RSS (target
//! < 64 MiB). Run: `cargo xtask bench -- install` or `cargo bench -p kickstand-tests --bench
//! install`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kickstand_oci::Compression;
use kickstand_oci::oci_spec::image::Descriptor;
use kickstand_tests::{disk_file, installer};
use qemu_harness::images::{bulk, tiny};
use qemu_harness::registry::LocalRegistry;
use qemu_harness::{LoopDevice, gate};

const MIB: u64 = 1 << 20;
/// The installer's root check wants 3× the compressed layers; /boot takes 2 GiB.
const BOOT_AND_SLACK: u64 = 2560 * MIB;

fn main() {
    if std::env::args().any(|a| a == "--list") {
        // `cargo test --benches` asks for a list; there are no test cases here.
        return;
    }
    if !gate::is_root() {
        eprintln!(
            "SKIPPED install benchmark: needs root (loop devices, mkfs, mount); \
             run `cargo xtask bench` as root"
        );
        return;
    }
    let mib = bulk::size_mib();
    let work = bulk::scratch_dir().unwrap();
    let dir = work.path();
    eprintln!("generating a {mib} MiB image in {}", dir.display());
    let base = tiny::tiny().unwrap();
    let image = bulk::write(&dir.join("layout"), mib, Some((&base.layout, tiny::TAG))).unwrap();
    let registry = LocalRegistry::start().unwrap();
    let reference = registry
        .push_layout(&image.layout, bulk::TAG, "bench/install", "1")
        .unwrap();
    let compressed: u64 = image.layers.iter().map(|l| l.size()).sum();
    let disk_size = (3 * compressed + BOOT_AND_SLACK).div_ceil(MIB) * MIB;

    let peer = peer(dir, &registry, &image.layers, disk_size);
    let (ours, max_rss_mib) = kickstand(dir, &registry, &reference, disk_size);

    println!(
        "install benchmark: {mib} MiB of generated files + the tiny image, {} layers \
         ({:.0} MiB compressed), docker-registry on loopback, {} MiB disk image",
        image.layers.len(),
        compressed as f64 / MIB as f64,
        disk_size / MIB
    );
    println!(
        "  peer: losetup, mkfs.xfs, mount, curl | gzip -d | tar -x, umount : {:>8.2} s",
        peer.as_secs_f64()
    );
    println!(
        "  kickstand-installer install (GPT, 2x mkfs.xfs, pull, GRUB)     : {:>8.2} s",
        ours.as_secs_f64()
    );
    println!(
        "  ratio (kickstand / peer)                                       : {:>8.2}x (target <= 1.30x)",
        ours.as_secs_f64() / peer.as_secs_f64()
    );
    println!(
        "  peak RSS (installer and the tools it ran, wait4)               : {max_rss_mib:>8.1} MiB (target < 64 MiB)"
    );
}

/// The peer pipeline into a fresh filesystem on a loop device; returns its wall time.
fn peer(dir: &Path, registry: &LocalRegistry, layers: &[Descriptor], size: u64) -> Duration {
    let disk = disk_file(dir, "peer.raw", size);
    let mnt = dir.join("peer-mnt");
    std::fs::create_dir(&mnt).unwrap();
    let start = Instant::now();
    let lo = LoopDevice::attach(&disk).unwrap();
    run(Command::new("mkfs.xfs").arg("-q").arg(lo.path()));
    run(Command::new("mount").arg(lo.path()).arg(&mnt));
    let mounted = Unmount(&mnt);
    for layer in layers {
        let decompress = match Compression::from_media_type(layer.media_type()) {
            Some(Compression::Gzip) => "gzip -d",
            Some(Compression::Zstd) => "zstd -d",
            Some(Compression::None) => "cat",
            None => panic!("layer {} is not a tar layer", layer.digest()),
        };
        let url = format!(
            "http://{}/v2/bench/install/blobs/{}",
            registry.addr(),
            layer.digest()
        );
        run(Command::new("bash").arg("-c").arg(format!(
            "set -o pipefail; curl -sfS '{url}' | {decompress} | tar -x -C '{}'",
            mnt.display()
        )));
    }
    run(Command::new("umount").arg(&mnt));
    std::mem::forget(mounted);
    drop(lo);
    start.elapsed()
}

/// The host-mode install; returns its wall time and peak RSS in MiB.
fn kickstand(dir: &Path, registry: &LocalRegistry, reference: &str, size: u64) -> (Duration, f64) {
    let disk = disk_file(dir, "disk.raw", size);
    let ks = dir.join("ks.cfg");
    std::fs::write(
        &ks,
        format!(
            "ostreecontainer --url={reference} --no-signature-verification\n\
             clearpart --all --initlabel\n\
             autopart --type=plain --fstype=xfs\n\
             rootpw --lock\n\
             poweroff\n"
        ),
    )
    .unwrap();
    let start = Instant::now();
    let mut child = Command::new(installer())
        .args(["install", "--firmware", "bios", "--kickstart"])
        .arg(&ks)
        .arg("--disk")
        .arg(format!("{}:vda", disk.display()))
        .arg("--insecure-registry")
        .arg(registry.addr().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The installer's log, each line stamped with the time it arrived: where the time goes.
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .map(|line| (start.elapsed(), line))
            .collect::<Vec<_>>()
    });
    let done = qemu_harness::rusage::wait(child).unwrap();
    let elapsed = start.elapsed();
    let log = reader.join().unwrap();
    assert!(
        done.status.success(),
        "kickstand-installer failed ({}):\n{}",
        done.status,
        log.iter()
            .map(|(_, l)| l.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
    print_steps(&log, elapsed);
    (elapsed, done.max_rss_mib())
}

/// How long each `==> step` of the installer's log lasted (until the next one, or the exit).
fn print_steps(log: &[(Duration, String)], end: Duration) {
    let steps: Vec<&(Duration, String)> =
        log.iter().filter(|(_, l)| l.starts_with("==> ")).collect();
    eprintln!("installer steps (wall time from one ==> line to the next):");
    if let Some((first, _)) = steps.first() {
        eprintln!(
            "  {:>6.2} s  (start until the first step)",
            first.as_secs_f64()
        );
    }
    for (i, (at, line)) in steps.iter().enumerate() {
        let next = steps.get(i + 1).map_or(end, |(t, _)| *t);
        eprintln!(
            "  {:>6.2} s  {}",
            (next - *at).as_secs_f64(),
            line.trim_start_matches("==> ")
        );
    }
}

/// Unmounts a directory on drop (also when the benchmark panics).
struct Unmount<'a>(&'a Path);

impl Drop for Unmount<'_> {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0).status();
    }
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
