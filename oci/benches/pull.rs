//! Pull benchmark: a generated image (~1 GiB uncompressed, `KICKSTAND_BENCH_MIB` to change)
//! pushed by skopeo to Debian's docker-registry on loopback, then unpacked by
//! `kickstand_oci::pull` (in a child process, for its peak RSS) and by the peer pipeline
//! `curl | gzip -d | tar -x` on the same layers. Prints both wall times, the ratio and the
//! peak RSS.
//!
//! Run: `cargo bench -p kickstand-oci --bench pull` (add `--profile dev` for a quick build;
//! dependencies are optimised in the dev profile too).

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use kickstand_oci::pull::{Progress, pull_into};
use kickstand_oci::reference::ImageSource;
use kickstand_oci::resolve::{PullOptions, resolve};
use kickstand_oci::unpack::{UnpackOptions, human};
use sha2::{Digest, Sha256};

#[path = "../tests/common/mod.rs"]
mod common;

const LAYERS: usize = 4;
const FILE_SIZE: usize = 1 << 20;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() == 5 && args[1] == "--child-pull" {
        child_pull(&args[2], args[3].parse().unwrap(), Path::new(&args[4]));
        return;
    }
    if args.iter().any(|a| a == "--list") {
        // `cargo test --benches` asks for a list; there are no test cases here.
        return;
    }
    let mib: usize = std::env::var("KICKSTAND_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let work =
        tempfile::tempdir_in(std::env::var("KICKSTAND_BENCH_DIR").unwrap_or("/var/tmp".into()))
            .unwrap();
    eprintln!("generating a {mib} MiB image in {}", work.path().display());
    let layout = work.path().join("layout");
    let layers = write_image(&layout, mib);
    let registry = common::start_registry();
    let reference = format!("{}/bench/image:1", registry.addr);
    let status = Command::new("skopeo")
        .args(["copy", "--quiet", "--dest-tls-verify=false"])
        .arg(format!("oci:{}:1", layout.display()))
        .arg(format!("docker://{reference}"))
        .status()
        .unwrap();
    assert!(status.success(), "skopeo copy failed");

    // The peer: the same layers through curl | gzip -d | tar -x, one after another.
    let peer_dir = work.path().join("peer");
    fs::create_dir(&peer_dir).unwrap();
    let start = Instant::now();
    for digest in &layers {
        let url = format!("http://{}/v2/bench/image/blobs/{digest}", registry.addr);
        let status = Command::new("bash")
            .arg("-c")
            .arg(format!(
                "set -o pipefail; curl -sfS '{url}' | gzip -d | tar -x -C '{}'",
                peer_dir.display()
            ))
            .status()
            .unwrap();
        assert!(status.success());
    }
    let peer = start.elapsed();
    let _ = fs::remove_dir_all(&peer_dir);

    let ours_dir = work.path().join("ours");
    fs::create_dir(&ours_dir).unwrap();
    let start = Instant::now();
    // Reaped by wait4 below, which also reports the child's peak RSS.
    #[allow(clippy::zombie_processes)]
    let child = Command::new(std::env::current_exe().unwrap())
        .args(["--child-pull", &reference, &registry.addr.to_string()])
        .arg(&ours_dir)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let (ok, max_rss_kib) = wait_rusage(child.id() as libc::pid_t);
    let ours = start.elapsed();
    assert!(ok, "kickstand pull failed");
    let _ = fs::remove_dir_all(&ours_dir);

    println!(
        "pull benchmark: {mib} MiB uncompressed, {LAYERS} gzip layers, docker-registry on loopback"
    );
    println!("  curl | gzip -d | tar -x : {:>8.2} s", peer.as_secs_f64());
    println!("  kickstand-oci pull_into  : {:>8.2} s", ours.as_secs_f64());
    println!(
        "  ratio (ours / peer)      : {:>8.2}x (target <= 1.30x)",
        ours.as_secs_f64() / peer.as_secs_f64()
    );
    println!(
        "  peak RSS (pull process)  : {:>8.1} MiB (target < 64 MiB)",
        max_rss_kib as f64 / 1024.0
    );
}

fn child_pull(reference: &str, insecure: SocketAddr, target: &Path) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let source = ImageSource::from_ostreecontainer(reference, None).unwrap();
        let opts = PullOptions {
            insecure_registries: vec![insecure.to_string()],
            ..Default::default()
        };
        let image = resolve(&source, &opts).await.unwrap();
        let summary = pull_into(
            &image,
            target,
            UnpackOptions::default(),
            Some(Arc::new(|_: &Progress| {})),
        )
        .await
        .unwrap();
        eprintln!(
            "pulled {} layers, {} compressed, {} of files",
            summary.layers,
            human(summary.compressed_bytes),
            human(summary.stats.bytes)
        );
    });
}

/// Waits for `pid`; returns success and its peak RSS in KiB.
fn wait_rusage(pid: libc::pid_t) -> (bool, i64) {
    let mut status = 0;
    // SAFETY: plain data, filled by wait4.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our child; valid pointers.
    let ret = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(ret, pid);
    (
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        usage.ru_maxrss,
    )
}

/// Content that compresses about 2:1, like binaries and text in an OS image.
fn fill(buf: &mut [u8], seed: &mut u64) {
    for (i, chunk) in buf.chunks_mut(4096).enumerate() {
        if i % 2 == 0 {
            for b in chunk.iter_mut() {
                *seed ^= *seed << 13;
                *seed ^= *seed >> 7;
                *seed ^= *seed << 17;
                *b = *seed as u8;
            }
        } else {
            for (j, b) in chunk.iter_mut().enumerate() {
                *b = b"usr/lib/x86_64-linux-gnu/libexample.so.1 "[j % 41];
            }
        }
    }
}

struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    len: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Writes an OCI layout with `LAYERS` gzip layers totalling `mib` MiB of files; returns the
/// layer digests.
fn write_image(dir: &Path, mib: usize) -> Vec<String> {
    let blobs = dir.join("blobs/sha256");
    fs::create_dir_all(&blobs).unwrap();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut layers = Vec::new();
    let mut descs = Vec::new();
    let files_per_layer = (mib * (1 << 20) / FILE_SIZE).div_ceil(LAYERS);
    let mut buf = vec![0u8; FILE_SIZE];
    for l in 0..LAYERS {
        let tmp = dir.join(format!("layer{l}.tmp"));
        let out = HashingWriter {
            inner: BufWriter::new(File::create(&tmp).unwrap()),
            hasher: Sha256::new(),
            len: 0,
        };
        let gz = flate2::write::GzEncoder::new(out, flate2::Compression::new(6));
        let mut tar = tar::Builder::new(gz);
        for f in 0..files_per_layer {
            fill(&mut buf, &mut seed);
            let mut h = tar::Header::new_gnu();
            h.set_size(FILE_SIZE as u64);
            h.set_mode(0o644);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(1_700_000_000);
            tar.append_data(&mut h, format!("usr/share/bench/l{l}/f{f}.bin"), &buf[..])
                .unwrap();
        }
        let mut out = tar.into_inner().unwrap().finish().unwrap();
        out.flush().unwrap();
        let digest = format!("sha256:{}", hex::encode(out.hasher.finalize()));
        fs::rename(&tmp, blobs.join(&digest[7..])).unwrap();
        descs.push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": digest, "size": out.len,
        }));
        layers.push(digest);
    }
    let write_blob = |data: Vec<u8>| {
        let digest = format!("sha256:{}", hex::encode(Sha256::digest(&data)));
        fs::write(blobs.join(&digest[7..]), &data).unwrap();
        (digest, data.len())
    };
    let (cd, cs) = write_blob(
        serde_json::to_vec(&serde_json::json!({
            "architecture": "amd64", "os": "linux", "config": {},
            "rootfs": {"type": "layers", "diff_ids": []},
        }))
        .unwrap(),
    );
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs},
        "layers": descs,
    });
    let (md, ms) = write_blob(serde_json::to_vec(&manifest).unwrap());
    fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": ms,
        "annotations": {"org.opencontainers.image.ref.name": "1"},
    }]});
    fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    layers
}
