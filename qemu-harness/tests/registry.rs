//! The local test registry: Debian's docker-registry on loopback, a layout pushed with skopeo
//! and read back with `skopeo inspect` — the digests must survive the trip.

use kickstand_oci::oci_spec::image::ConfigBuilder;
use kickstand_oci::{Compression, ImageSpec, Layout, LayoutWriter, Meta};
use qemu_harness::registry::{DOCKER_REGISTRY, LocalRegistry};
use std::collections::HashMap;
use std::process::Command;

/// Skips (or fails under `cargo xtask test`) without the registry and skopeo.
fn have_tools(test: &str) -> bool {
    let missing: Vec<_> = [DOCKER_REGISTRY, "/usr/bin/skopeo"]
        .into_iter()
        .filter(|p| !std::path::Path::new(p).exists())
        .collect();
    if missing.is_empty() {
        return true;
    }
    let reason = format!(
        "{test}: needs {} (Debian packages docker-registry, skopeo)",
        missing.join(", ")
    );
    assert!(!qemu_harness::gate::required(), "{reason}");
    eprintln!("SKIPPED {reason}");
    false
}

fn small_layout(dir: &std::path::Path) {
    let mut w = LayoutWriter::create(dir).unwrap();
    let mut layer = w.layer(Compression::Zstd).unwrap();
    layer
        .file_bytes("etc/hello", Meta::root(0o644, 1), b"hello\n")
        .unwrap();
    let layer = w.commit_layer(layer, "hello").unwrap();
    w.write_image(
        &[layer],
        ImageSpec {
            tag: "v1".into(),
            config: ConfigBuilder::default().build().unwrap(),
            created: "2026-01-01T00:00:00Z".into(),
            annotations: HashMap::new(),
        },
    )
    .unwrap();
    w.finish().unwrap();
}

fn skopeo_inspect(reference: &str, raw: bool) -> Vec<u8> {
    let mut cmd = Command::new("skopeo");
    cmd.args(["inspect", "--tls-verify=false"]);
    if raw {
        cmd.arg("--raw");
    }
    let out = cmd.arg(format!("docker://{reference}")).output().unwrap();
    assert!(
        out.status.success(),
        "skopeo inspect: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn a_pushed_layout_keeps_its_manifest_digest() {
    if !have_tools("a_pushed_layout_keeps_its_manifest_digest") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    small_layout(dir.path());
    let image = Layout::open(dir.path())
        .unwrap()
        .resolve(Some("v1"))
        .unwrap();

    let registry = LocalRegistry::start().unwrap();
    assert_eq!(registry.get("/v2/").unwrap(), 200);
    let reference = registry
        .push_layout(dir.path(), "v1", "kickstand/hello", "v1")
        .unwrap();
    assert_eq!(reference, format!("{}/kickstand/hello:v1", registry.addr()));

    let info: serde_json::Value =
        serde_json::from_slice(&skopeo_inspect(&reference, false)).unwrap();
    assert_eq!(
        info["Digest"],
        image.manifest_descriptor.digest().to_string(),
        "{info}"
    );
    let manifest_path = Layout::open(dir.path())
        .unwrap()
        .blob_path(image.manifest_descriptor.digest())
        .unwrap();
    assert_eq!(
        skopeo_inspect(&reference, true),
        std::fs::read(manifest_path).unwrap()
    );
}

#[test]
fn the_registry_stops_on_drop() {
    if !have_tools("the_registry_stops_on_drop") {
        return;
    }
    let registry = LocalRegistry::start().unwrap();
    let addr = registry.addr();
    drop(registry);
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "registry still listening on {addr}"
    );
}
