//! Pull benchmark: a generated image (~1 GiB uncompressed, `KICKSTAND_BENCH_MIB` to change)
//! pushed by skopeo to Debian's docker-registry on loopback, then unpacked by
//! `kickstand_oci::pull` (in a child process, for its peak RSS) and by the peer pipeline
//! `curl | gzip -d | tar -x` on the same layers. Prints both wall times, the ratio and the
//! peak RSS.
//!
//! Run: `cargo bench -p kickstand-oci --bench pull` (add `--profile dev` for a quick build;
//! dependencies are optimised in the dev profile too).

use std::fs;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use kickstand_oci::pull::{Progress, pull_into};
use kickstand_oci::reference::ImageSource;
use kickstand_oci::resolve::{PullOptions, resolve};
use kickstand_oci::unpack::{UnpackOptions, human};
use qemu_harness::images::bulk;
use qemu_harness::registry::LocalRegistry;

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
    let mib = bulk::size_mib();
    let work = bulk::scratch_dir().unwrap();
    eprintln!("generating a {mib} MiB image in {}", work.path().display());
    let image = bulk::write(&work.path().join("layout"), mib, None).unwrap();
    let registry = LocalRegistry::start().unwrap();
    let reference = registry
        .push_layout(&image.layout, bulk::TAG, "bench/image", "1")
        .unwrap();

    // The peer: the same layers through curl | gzip -d | tar -x, one after another.
    let peer_dir = work.path().join("peer");
    fs::create_dir(&peer_dir).unwrap();
    let start = Instant::now();
    for layer in &image.layers {
        let url = format!(
            "http://{}/v2/bench/image/blobs/{}",
            registry.addr(),
            layer.digest()
        );
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
    let child = Command::new(std::env::current_exe().unwrap())
        .args(["--child-pull", &reference, &registry.addr().to_string()])
        .arg(&ours_dir)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let done = qemu_harness::rusage::wait(child).unwrap();
    let ours = start.elapsed();
    assert!(done.status.success(), "kickstand pull failed");
    let _ = fs::remove_dir_all(&ours_dir);

    println!(
        "pull benchmark: {mib} MiB uncompressed, {} gzip layers, docker-registry on loopback",
        bulk::LAYERS
    );
    println!("  curl | gzip -d | tar -x : {:>8.2} s", peer.as_secs_f64());
    println!("  kickstand-oci pull_into  : {:>8.2} s", ours.as_secs_f64());
    println!(
        "  ratio (ours / peer)      : {:>8.2}x (target <= 1.30x)",
        ours.as_secs_f64() / peer.as_secs_f64()
    );
    println!(
        "  peak RSS (pull process)  : {:>8.1} MiB (target < 64 MiB)",
        done.max_rss_mib()
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
