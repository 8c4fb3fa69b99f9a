use super::*;
use crate::{Compression, Error, Meta};
use oci_spec::image::{ConfigBuilder, Descriptor, MediaType};
use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

fn spec(tag: &str) -> ImageSpec {
    ImageSpec {
        tag: tag.to_owned(),
        config: ConfigBuilder::default()
            .cmd(vec!["/sbin/init".to_owned()])
            .labels(HashMap::from([
                ("b.label".to_owned(), "2".to_owned()),
                ("a.label".to_owned(), "1".to_owned()),
            ]))
            .build()
            .unwrap(),
        created: "2026-01-01T00:00:00Z".to_owned(),
        annotations: HashMap::new(),
    }
}

/// Writes a two-layer image (gzip base, zstd top that whites out a base file) tagged `tag`.
fn write_two_layers(dir: &Path, tag: &str) -> Descriptor {
    let mut w = LayoutWriter::create(dir).unwrap();
    let m = Meta::root(0o755, 1);
    let mut base = w.layer(Compression::Gzip).unwrap();
    base.dir("etc", m).unwrap();
    base.file_bytes("etc/hostname", m.with_mode(0o644), b"base\n")
        .unwrap();
    base.file_bytes("etc/obsolete", m.with_mode(0o644), b"gone\n")
        .unwrap();
    let base = w.commit_layer(base, "base").unwrap();
    let mut top = w.layer(Compression::Zstd).unwrap();
    top.whiteout("etc/obsolete", 1).unwrap();
    let top = w.commit_layer(top, "top").unwrap();
    let manifest = w.write_image(&[base, top], spec(tag)).unwrap();
    w.finish().unwrap();
    manifest
}

fn entry_names(layout: &Layout, layer: &Descriptor) -> Vec<String> {
    let mut names = Vec::new();
    let mut archive = tar::Archive::new(layout.open_layer(layer).unwrap());
    for e in archive.entries().unwrap() {
        names.push(e.unwrap().path().unwrap().to_string_lossy().into_owned());
    }
    names
}

#[test]
fn a_written_image_reads_back_by_tag_with_checked_digests() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_two_layers(dir.path(), "latest");

    let layout = Layout::open(dir.path()).unwrap();
    assert_eq!(layout.tags(), ["latest"]);
    let image = layout.resolve(Some("latest")).unwrap();
    assert_eq!(image.manifest_descriptor.digest(), manifest.digest());
    assert_eq!(image.label("a.label"), Some("1"));
    let types: Vec<_> = image
        .layers()
        .iter()
        .map(|l| l.media_type().clone())
        .collect();
    assert_eq!(
        types,
        [MediaType::ImageLayerGzip, MediaType::ImageLayerZstd]
    );
    let diff_ids = image.config.rootfs().diff_ids();
    assert_eq!(diff_ids.len(), 2);
    assert_eq!(image.config.history().as_ref().unwrap().len(), 2);

    // The diff_id is the digest of the uncompressed stream.
    let mut plain = Vec::new();
    layout
        .open_layer(&image.layers()[1])
        .unwrap()
        .read_to_end(&mut plain)
        .unwrap();
    assert_eq!(crate::digest::sha256_of(&plain).to_string(), diff_ids[1]);
    assert_eq!(
        entry_names(&layout, &image.layers()[0]),
        ["etc/", "etc/hostname", "etc/obsolete"]
    );
    assert_eq!(
        entry_names(&layout, &image.layers()[1]),
        ["etc/.wh.obsolete"]
    );

    // Untagged resolution works when there is one image; the blob files match their names.
    assert_eq!(
        layout.resolve(None).unwrap().manifest_descriptor.digest(),
        manifest.digest()
    );
    for entry in std::fs::read_dir(dir.path().join("blobs/sha256")).unwrap() {
        let path = entry.unwrap().path();
        let digest = crate::digest::sha256_of(&std::fs::read(&path).unwrap());
        assert_eq!(digest.digest(), path.file_name().unwrap().to_str().unwrap());
    }
}

#[test]
fn the_same_input_gives_the_same_layout() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    assert_eq!(
        write_two_layers(a.path(), "t"),
        write_two_layers(b.path(), "t")
    );
    assert_eq!(
        std::fs::read(a.path().join("index.json")).unwrap(),
        std::fs::read(b.path().join("index.json")).unwrap()
    );
}

#[test]
fn a_tampered_layer_fails_when_read_to_the_end() {
    let dir = tempfile::tempdir().unwrap();
    write_two_layers(dir.path(), "latest");
    let layout = Layout::open(dir.path()).unwrap();
    let image = layout.resolve(Some("latest")).unwrap();
    let desc = image.layers()[0].clone();

    // Same size, different bytes: recompress different content to the same length is hard,
    // so flip a byte in the gzip trailer region that the decoder does not check first.
    let path = layout.blob_path(desc.digest()).unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    let n = bytes.len();
    bytes[n - 20] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let mut out = Vec::new();
    let err = layout
        .open_blob(&desc)
        .unwrap()
        .read_to_end(&mut out)
        .unwrap_err();
    assert!(
        err.to_string().contains(&desc.digest().to_string()),
        "{err}"
    );
    assert!(
        err.to_string().contains("does not match its digest"),
        "{err}"
    );
}

#[test]
fn errors_name_what_was_expected() {
    let dir = tempfile::tempdir().unwrap();
    let err = Layout::open(dir.path()).unwrap_err();
    assert!(matches!(err, Error::NotALayout { .. }), "{err}");
    assert!(err.to_string().contains("oci-layout"), "{err}");

    write_two_layers(&dir.path().join("l"), "v1");
    let layout = Layout::open(&dir.path().join("l")).unwrap();
    let err = layout.resolve(Some("v2")).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "tag \"v2\" is not in the layout {} (index.json names: v1)",
            dir.path().join("l").display()
        )
    );

    // Writing into a non-empty directory is refused.
    let err = LayoutWriter::create(&dir.path().join("l")).unwrap_err();
    assert!(err.to_string().contains("not empty"), "{err}");
}

#[test]
fn two_images_need_a_tag_and_retagging_replaces() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = LayoutWriter::create(dir.path()).unwrap();
    let empty = w.layer(Compression::None).unwrap();
    let layer = w.commit_layer(empty, "empty").unwrap();
    w.write_image(std::slice::from_ref(&layer), spec("a"))
        .unwrap();
    let mut s = spec("b");
    s.created = "2026-02-02T00:00:00Z".into();
    w.write_image(std::slice::from_ref(&layer), s.clone())
        .unwrap();
    s.created = "2026-03-03T00:00:00Z".into();
    let newest = w.write_image(std::slice::from_ref(&layer), s).unwrap();
    w.finish().unwrap();

    let layout = Layout::open(dir.path()).unwrap();
    assert_eq!(layout.tags(), ["a", "b"]);
    assert!(matches!(
        layout.resolve(None).unwrap_err(),
        Error::AmbiguousImage { count: 2, .. }
    ));
    assert_eq!(
        layout.resolve(Some("b")).unwrap().manifest_descriptor,
        newest
    );
}

#[test]
fn a_nested_index_resolves_to_linux_amd64() {
    use oci_spec::image::{Arch, ImageIndexBuilder, Os, PlatformBuilder};
    let dir = tempfile::tempdir().unwrap();
    let mut w = LayoutWriter::create(dir.path()).unwrap();
    let empty = w.layer(Compression::Gzip).unwrap();
    let layer = w.commit_layer(empty, "empty").unwrap();
    let mut amd64 = w
        .write_image(std::slice::from_ref(&layer), spec("x"))
        .unwrap();
    amd64.set_annotations(None);
    amd64.set_platform(Some(
        PlatformBuilder::default()
            .architecture(Arch::Amd64)
            .os(Os::Linux)
            .build()
            .unwrap(),
    ));
    let mut arm = amd64.clone();
    arm.set_platform(Some(
        PlatformBuilder::default()
            .architecture(Arch::ARM64)
            .os(Os::Linux)
            .build()
            .unwrap(),
    ));
    let index = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(vec![arm, amd64.clone()])
        .build()
        .unwrap();
    let mut index = w.write_json(MediaType::ImageIndex, &index).unwrap();
    index.set_annotations(Some(HashMap::from([(
        oci_spec::image::ANNOTATION_REF_NAME.to_owned(),
        "x".to_owned(),
    )])));
    w.add_manifest(index);
    w.finish().unwrap();

    let layout = Layout::open(dir.path()).unwrap();
    let image = layout.resolve(Some("x")).unwrap();
    assert_eq!(image.manifest_descriptor.digest(), amd64.digest());
}
