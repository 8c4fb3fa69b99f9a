//! Resolving and pulling images end to end: OCI layouts and archives, a fake registry that
//! injects failures in front of real data (dropped connections, 500s), and Debian's
//! docker-registry fed by skopeo.

mod common;

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::Response;
use common::{Blob, LayerBuilder, TestImage};
use futures::StreamExt;
use kickstand_oci::fetch::RetryPolicy;
use kickstand_oci::pull::{Progress, PullError, pull_into, stage};
use kickstand_oci::reference::ImageSource;
use kickstand_oci::resolve::{DeployWay, PullOptions, resolve};
use kickstand_oci::unpack::UnpackOptions;

/// Incompressible bytes, so compressed layers are as big as their content.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Three layers: gzip, zstd and uncompressed; the last one whites out a file of the first.
fn sample_image(labels: &[(&str, &str)]) -> (TestImage, Vec<u8>) {
    let big = noise(3 << 20, 7);
    let l1 = LayerBuilder::new()
        .dir("usr", 0o755)
        .dir("usr/lib", 0o755)
        .file("usr/lib/big.bin", &big)
        .file("usr/lib/old", b"old")
        .symlink("lib", "usr/lib")
        .build();
    let l2 = LayerBuilder::new()
        .dir("etc", 0o755)
        .file("etc/hostname", b"kickstand\n")
        .build();
    let l3 = LayerBuilder::new()
        .file("usr/lib/.wh.old", b"")
        .file("etc/os-release", b"ID=test\n")
        .build();
    let layers = vec![
        Blob::new(common::TAR_GZ, common::gzip(&l1)),
        Blob::new(common::TAR_ZSTD, zstd::encode_all(&l2[..], 3).unwrap()),
        Blob::new(common::TAR, l3),
    ];
    (common::image(layers, labels), big)
}

fn check_unpacked(target: &Path, big: &[u8]) {
    assert_eq!(fs::read(target.join("usr/lib/big.bin")).unwrap(), big);
    assert_eq!(
        fs::read(target.join("etc/hostname")).unwrap(),
        b"kickstand\n"
    );
    assert_eq!(
        fs::read(target.join("etc/os-release")).unwrap(),
        b"ID=test\n"
    );
    assert!(!target.join("usr/lib/old").exists());
    assert_eq!(
        fs::read_link(target.join("lib")).unwrap(),
        Path::new("usr/lib")
    );
}

fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        attempts: 4,
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(100),
    }
}

async fn pull(source: ImageSource, opts: PullOptions, target: &Path) -> Result<(), String> {
    let image = resolve(&source, &opts)
        .await
        .map_err(|e| common::chain(&e))?;
    pull_into(&image, target, UnpackOptions::default(), None)
        .await
        .map(drop)
        .map_err(|e| common::chain(&e))
}

#[tokio::test]
async fn pulls_an_oci_layout_with_gzip_zstd_and_plain_layers() {
    let tmp = tempfile::tempdir().unwrap();
    let (img, big) = sample_image(&[("org.example", "x")]);
    common::write_layout(&tmp.path().join("layout"), &img, "v1");
    let source = ImageSource::from_ostreecontainer(
        &format!("{}:v1", tmp.path().join("layout").display()),
        Some("oci"),
    )
    .unwrap();
    let image = resolve(&source, &PullOptions::default()).await.unwrap();
    assert_eq!(image.facts.manifest_digest, img.manifest.digest);
    assert_eq!(image.facts.deploy, DeployWay::Flat);
    assert_eq!(image.facts.layers.len(), 3);
    assert_eq!(
        image.facts.compressed_size(),
        img.layers.iter().map(|l| l.data.len() as u64).sum::<u64>()
    );
    assert_eq!(
        image.facts.labels.get("org.example").map(String::as_str),
        Some("x")
    );

    let target = tmp.path().join("target");
    fs::create_dir(&target).unwrap();
    let reports = Arc::new(Mutex::new(Vec::<Progress>::new()));
    let r = reports.clone();
    let summary = pull_into(
        &image,
        &target,
        UnpackOptions::default(),
        Some(Arc::new(move |p: &Progress| {
            r.lock().unwrap().push(p.clone())
        })),
    )
    .await
    .unwrap();
    check_unpacked(&target, &big);
    assert_eq!(summary.layers, 3);
    let reports = reports.lock().unwrap();
    let last = reports.last().unwrap();
    assert_eq!((last.layers_done, last.layers), (3, 3));
    assert_eq!(last.bytes, last.total_bytes);
    assert!(
        reports.len() > 4,
        "progress is reported within the big layer"
    );
}

#[tokio::test]
async fn pulls_an_oci_archive_and_picks_amd64_from_an_index() {
    let tmp = tempfile::tempdir().unwrap();
    let (img, big) = sample_image(&[]);
    let arm = common::image_for(
        vec![Blob::new(
            common::TAR,
            LayerBuilder::new().file("arm", b"").build(),
        )],
        &[],
        "arm64",
    );
    let layout = tmp.path().join("layout");
    common::write_index_layout(&layout, &[(&arm, "arm64"), (&img, "amd64")], "latest");
    let archive = tmp.path().join("image.tar");
    let mut b = tar::Builder::new(fs::File::create(&archive).unwrap());
    b.append_dir_all(".", &layout).unwrap();
    b.finish().unwrap();
    drop(b);

    let source =
        ImageSource::from_imgref(&format!("oci-archive:{}:latest", archive.display())).unwrap();
    let target = tmp.path().join("target");
    fs::create_dir(&target).unwrap();
    let image = resolve(&source, &PullOptions::default()).await.unwrap();
    assert_eq!(image.facts.manifest_digest, img.manifest.digest);
    pull_into(&image, &target, UnpackOptions::default(), None)
        .await
        .unwrap();
    check_unpacked(&target, &big);
    assert!(!target.join("arm").exists());
}

#[tokio::test]
async fn bootc_images_are_never_unpacked_flat() {
    for label in ["containers.bootc", "ostree.bootable"] {
        let tmp = tempfile::tempdir().unwrap();
        let (img, _) = sample_image(&[(label, "1")]);
        common::write_layout(&tmp.path().join("layout"), &img, "v1");
        let source =
            ImageSource::from_imgref(&format!("oci:{}", tmp.path().join("layout").display()))
                .unwrap();
        let image = resolve(&source, &PullOptions::default()).await.unwrap();
        assert_eq!(image.facts.deploy, DeployWay::Bootc);
        let msg = image.facts.ensure_flat().unwrap_err().to_string();
        assert!(
            msg.contains("this is an ostree/bootc image")
                || msg.contains("is an ostree/bootc image"),
            "{msg}"
        );
        assert!(
            msg.contains("never unpacked flat") && msg.contains(label),
            "{msg}"
        );
        let target = tmp.path().join("target");
        fs::create_dir(&target).unwrap();
        let err = pull_into(&image, &target, UnpackOptions::default(), None)
            .await
            .unwrap_err();
        assert!(matches!(err, PullError::Refused(_)), "{err}");
        assert_eq!(
            fs::read_dir(&target).unwrap().count(),
            0,
            "the target was touched"
        );
    }
}

#[tokio::test]
async fn a_tampered_layer_is_named_and_aborts_the_pull() {
    // Same length, different bytes: once in a file's contents (the tar still unpacks) and once
    // in the gzip stream (the decompressor fails first); both must report the digest.
    for (layer, offset) in [(2usize, 700usize), (0, 5000)] {
        let tmp = tempfile::tempdir().unwrap();
        let (img, _) = sample_image(&[]);
        let layout = tmp.path().join("layout");
        common::write_layout(&layout, &img, "v1");
        let victim = &img.layers[layer];
        let path = layout.join("blobs/sha256").join(&victim.digest[7..]);
        let mut data = fs::read(&path).unwrap();
        data[offset] ^= 0x55;
        fs::write(&path, data).unwrap();
        let target = tmp.path().join("target");
        fs::create_dir(&target).unwrap();
        let source = ImageSource::from_imgref(&format!("oci:{}:v1", layout.display())).unwrap();
        let err = pull(source, PullOptions::default(), &target)
            .await
            .unwrap_err();
        assert!(
            err.contains(&format!("layer {} of 3 ({}", layer + 1, victim.digest))
                && err.contains("digest mismatch"),
            "{err}"
        );
    }
}

// ---- A registry that fails on purpose, in front of real data ----

#[derive(Clone, Copy)]
enum Failure {
    /// The first full download of each layer is cut after this many bytes.
    DropAfter(usize),
    /// The first N blob requests answer 500.
    Error500(u32),
}

#[derive(Clone)]
struct Fake {
    img: Arc<TestImage>,
    failure: Failure,
    count: Arc<AtomicU32>,
    dropped: Arc<Mutex<Vec<String>>>,
    log: Arc<Mutex<Vec<String>>>,
}

async fn fake_registry(img: &TestImage, failure: Failure) -> (SocketAddr, Fake) {
    let fake = Fake {
        img: Arc::new(img.clone()),
        failure,
        count: Arc::default(),
        dropped: Arc::default(),
        log: Arc::default(),
    };
    let state = fake.clone();
    let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap| {
        let state = state.clone();
        async move { serve(state, uri, headers) }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, fake)
}

fn serve(fake: Fake, uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path();
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("bytes="))
        .and_then(|v| v.strip_suffix('-'))
        .and_then(|v| v.parse::<usize>().ok());
    fake.log
        .lock()
        .unwrap()
        .push(format!("{path} range={range:?}"));
    let status = |s: StatusCode| Response::builder().status(s).body(Body::empty()).unwrap();
    if path == "/v2/" {
        return status(StatusCode::OK);
    }
    if path.contains("/manifests/") {
        return Response::builder()
            .header(header::CONTENT_TYPE, &fake.img.manifest.media_type)
            .header("Docker-Content-Digest", &fake.img.manifest.digest)
            .body(Body::from(fake.img.manifest.data.clone()))
            .unwrap();
    }
    let Some(digest) = path.split("/blobs/").nth(1) else {
        return status(StatusCode::NOT_FOUND);
    };
    let blob = fake
        .img
        .layers
        .iter()
        .chain([&fake.img.config])
        .find(|b| b.digest == digest);
    let Some(blob) = blob else {
        return status(StatusCode::NOT_FOUND);
    };
    let is_layer = blob.digest != fake.img.config.digest;
    if let Failure::Error500(n) = fake.failure {
        if is_layer && fake.count.fetch_add(1, Ordering::SeqCst) < n {
            return status(StatusCode::INTERNAL_SERVER_ERROR);
        }
    }
    let data = blob.data.clone();
    let len = data.len();
    let start = range.unwrap_or(0);
    let reply = |body: Body| {
        let b = Response::builder().header(header::CONTENT_LENGTH, len - start);
        let b = match range {
            Some(_) => b.status(StatusCode::PARTIAL_CONTENT).header(
                header::CONTENT_RANGE,
                format!("bytes {start}-{}/{len}", len - 1),
            ),
            None => b,
        };
        b.body(body).unwrap()
    };
    if let Failure::DropAfter(n) = fake.failure {
        let mut dropped = fake.dropped.lock().unwrap();
        if is_layer && start == 0 && n < len && !dropped.contains(&blob.digest) {
            dropped.push(blob.digest.clone());
            // Announce the whole blob, send part of it, then break the connection.
            let head = bytes::Bytes::from(data[..n].to_vec());
            // The pause lets the first part reach the client before the connection breaks.
            let stream = futures::stream::iter([Ok::<_, std::io::Error>(head)]).chain(
                futures::stream::once(async {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    Err(std::io::Error::other("injected connection drop"))
                }),
            );
            return reply(Body::from_stream(stream));
        }
    }
    reply(Body::from(data[start..].to_vec()))
}

fn insecure(addr: SocketAddr) -> PullOptions {
    PullOptions {
        insecure_registries: vec![addr.to_string()],
        retry: fast_retry(),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_dropped_connection_resumes_with_a_range_request() {
    let tmp = tempfile::tempdir().unwrap();
    let (img, big) = sample_image(&[]);
    let (addr, fake) = fake_registry(&img, Failure::DropAfter(200_000)).await;
    let source = ImageSource::from_imgref(&format!("docker://{addr}/test/img:1")).unwrap();
    pull(source, insecure(addr), tmp.path()).await.unwrap();
    check_unpacked(tmp.path(), &big);
    let log = fake.log.lock().unwrap().join("\n");
    assert_eq!(
        fake.dropped.lock().unwrap().len(),
        1,
        "only the big layer is cut: {log}"
    );
    assert!(
        log.contains("range=Some(200000)"),
        "no resume from the drop point:\n{log}"
    );
}

#[tokio::test]
async fn a_registry_answering_500_twice_is_retried() {
    let tmp = tempfile::tempdir().unwrap();
    let (img, big) = sample_image(&[]);
    let (addr, fake) = fake_registry(&img, Failure::Error500(2)).await;
    let source = ImageSource::from_imgref(&format!("registry:{addr}/test/img:1")).unwrap();
    pull(source, insecure(addr), tmp.path()).await.unwrap();
    check_unpacked(tmp.path(), &big);
    assert_eq!(
        fake.count.load(Ordering::SeqCst),
        3 + 2,
        "3 layers, 2 failed answers"
    );
}

#[tokio::test]
async fn a_registry_that_keeps_failing_gives_up_with_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let (img, _) = sample_image(&[]);
    let (addr, _fake) = fake_registry(&img, Failure::Error500(1000)).await;
    let source = ImageSource::from_imgref(&format!("registry:{addr}/test/img:1")).unwrap();
    let err = pull(source, insecure(addr), tmp.path()).await.unwrap_err();
    assert!(
        err.contains("layer 1 of 3") && err.contains("after 4 attempt(s)"),
        "{err}"
    );
}

#[tokio::test]
async fn registries_are_https_unless_marked_insecure() {
    let (img, _) = sample_image(&[]);
    let (addr, fake) = fake_registry(&img, Failure::Error500(0)).await;
    let source = ImageSource::from_imgref(&format!("registry:{addr}/test/img:1")).unwrap();
    let opts = PullOptions {
        retry: fast_retry(),
        ..Default::default()
    };
    let err = match resolve(&source, &opts).await {
        Ok(_) => panic!("a plain-HTTP registry was used without being marked insecure"),
        Err(e) => common::chain(&e),
    };
    assert!(err.contains(&addr.to_string()), "{err}");
    assert!(
        fake.log.lock().unwrap().is_empty(),
        "no plain HTTP request was made"
    );
}

// ---- Debian's docker-registry, fed by skopeo ----

fn tools_present(test: &str) -> bool {
    let missing: Vec<&str> = ["/usr/bin/docker-registry", "/usr/bin/skopeo"]
        .into_iter()
        .filter(|p| !Path::new(p).exists())
        .collect();
    if missing.is_empty() {
        return true;
    }
    let reason = format!(
        "{test}: needs {} (Debian packages docker-registry, skopeo)",
        missing.join(", ")
    );
    if qemu_harness::gate::required() {
        panic!("{reason}");
    }
    eprintln!("SKIPPED {reason}");
    false
}

fn skopeo_copy(from: &str, to: &str) {
    let out = std::process::Command::new("skopeo")
        .args(["copy", "--quiet", "--dest-tls-verify=false", from, to])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "skopeo copy {from} {to}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn pulls_from_debians_docker_registry() {
    if !tools_present("pulls_from_debians_docker_registry") {
        return;
    }
    let registry = common::start_registry();
    let tmp = tempfile::tempdir().unwrap();
    let (img, big) = sample_image(&[]);
    let layout: PathBuf = tmp.path().join("layout");
    common::write_layout(&layout, &img, "v1");
    let dest = format!("docker://{}/kickstand/sample:v1", registry.addr);
    let from = format!("oci:{}:v1", layout.display());
    tokio::task::spawn_blocking(move || skopeo_copy(&from, &dest))
        .await
        .unwrap();

    let source =
        ImageSource::from_ostreecontainer(&format!("{}/kickstand/sample:v1", registry.addr), None)
            .unwrap();
    let image = resolve(&source, &insecure(registry.addr)).await.unwrap();
    assert_eq!(image.facts.layers.len(), 3);
    let target = tmp.path().join("target");
    fs::create_dir(&target).unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    pull_into(
        &image,
        &target,
        UnpackOptions::default(),
        Some(Arc::new(move |_: &Progress| {
            c.fetch_add(1, Ordering::Relaxed);
        })),
    )
    .await
    .unwrap();
    check_unpacked(&target, &big);
    assert!(calls.load(Ordering::Relaxed) > 0);
}

#[tokio::test]
async fn a_staged_image_is_unpacked_and_a_layout_of_the_same_image() {
    let tmp = tempfile::tempdir().unwrap();
    let (img, big) = sample_image(&[("containers.bootc", "1")]);
    common::write_layout(&tmp.path().join("layout"), &img, "v1");
    let source =
        ImageSource::from_imgref(&format!("oci:{}", tmp.path().join("layout").display())).unwrap();
    let image = resolve(&source, &PullOptions::default()).await.unwrap();
    let (root, staged) = (tmp.path().join("root"), tmp.path().join("staged"));
    fs::create_dir(&root).unwrap();
    stage(&image, &root, &staged, UnpackOptions::default(), None)
        .await
        .unwrap();
    check_unpacked(&root, &big);
    // The staged layout resolves to the same manifest, config and layers.
    let again = ImageSource::from_imgref(&format!("oci:{}:latest", staged.display())).unwrap();
    let copy = resolve(&again, &PullOptions::default()).await.unwrap();
    assert_eq!(copy.facts.manifest_digest, image.facts.manifest_digest);
    assert_eq!(copy.facts.layers, image.facts.layers);
    assert_eq!(copy.facts.labels, image.facts.labels);
    // Every staged blob hashes to its name (pull_into would refuse the bootc label).
    for e in fs::read_dir(staged.join("blobs/sha256")).unwrap().flatten() {
        let data = fs::read(e.path()).unwrap();
        let name = format!("sha256:{}", e.file_name().to_string_lossy());
        assert_eq!(common::sha256(&data), name, "blob content");
    }
}
