//! `kickstand iso build | show | customize` as an operator runs them: the real binary, real
//! xorriso and GRUB images; the boot records checked with `xorriso -report_el_torito`. (The ISO
//! booting under SeaBIOS and OVMF is checked by the VM tests in tests/tests/iso_boot.rs.)

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use kickstand_oci::oci_spec::image::ConfigBuilder;
use kickstand_oci::{Compression, ImageSpec, LayoutWriter, Meta};

fn kickstand() -> PathBuf {
    std::env::var_os("KICKSTAND_BIN_DIR")
        .map(|d| PathBuf::from(d).join("kickstand"))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_kickstand")))
}

/// Whether this machine has what `iso build` needs; under CI a missing tool is a failure.
fn tools_present() -> bool {
    let present = [
        "/usr/bin/xorriso",
        "/usr/lib/grub/i386-pc/cdboot.img",
        "/usr/lib/grub/x86_64-efi/linux.mod",
        "/usr/bin/mcopy",
    ]
    .iter()
    .all(|p| Path::new(p).exists());
    if !present {
        assert!(
            std::env::var_os("CI").is_none(),
            "xorriso, grub-pc-bin, grub-efi-amd64-bin and mtools are needed under CI"
        );
        eprintln!("SKIPPED: xorriso, grub-pc-bin, grub-efi-amd64-bin or mtools missing");
    }
    present
}

fn run(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(kickstand()).args(args).output().unwrap()
}

fn ok(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn failed(out: &Output) -> String {
    assert!(
        !out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

macro_rules! args {
    ($($a:expr),* $(,)?) => { &[$(std::ffi::OsStr::new($a)),*] };
}

/// A one-layer image tagged `1` in a new layout at `dir`; returns its manifest digest.
fn small_layout(dir: &Path) -> String {
    let mut w = LayoutWriter::create(dir).unwrap();
    let m = Meta::root(0o755, 1);
    let mut layer = w.layer(Compression::Gzip).unwrap();
    layer.dir("etc", m).unwrap();
    layer
        .file_bytes("etc/os-release", m.with_mode(0o644), b"ID=test\n")
        .unwrap();
    let layer = w.commit_layer(layer, "test").unwrap();
    let spec = ImageSpec {
        tag: "1".into(),
        config: ConfigBuilder::default().build().unwrap(),
        created: "2026-01-01T00:00:00Z".into(),
        annotations: HashMap::new(),
    };
    let manifest = w.write_image(&[layer], spec).unwrap();
    w.finish().unwrap();
    manifest.digest().to_string()
}

const KS: &str = "zerombr\nclearpart --all --initlabel\nautopart\nrootpw --lock\npoweroff\n\
                  ostreecontainer --url=/run/install/repo/container --transport=oci\n";

#[test]
fn build_show_customize_round_trip() {
    if !tools_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // The boot files are opaque to the ISO writer: small stand-ins keep this test fast.
    std::fs::write(d.join("vmlinuz"), vec![0x4b; 4096]).unwrap();
    std::fs::write(d.join("initramfs.img"), vec![0x49; 8192]).unwrap();
    let digest = small_layout(&d.join("layout"));
    std::fs::write(d.join("ks.cfg"), KS).unwrap();
    let iso = d.join("install.iso");
    let layout_ref = format!("oci:{}:1", d.join("layout").display());

    let out = run(args![
        "iso",
        "build",
        "--output",
        &iso,
        "--kernel",
        &d.join("vmlinuz"),
        "--initramfs",
        &d.join("initramfs.img"),
        "--kickstart",
        &d.join("ks.cfg"),
        "--embed-image",
        &layout_ref,
        "--volume-label",
        "KS-TEST",
        "--append",
        "console=ttyS0,115200 ip=off",
        "--timeout",
        "3",
    ]);
    let built = ok(&out);
    assert!(built.contains("erases the disks it names"), "{built}");
    assert!(built.contains("boot loaders and file system"), "{built}");

    let shown = ok(&run(args!["iso", "show", &iso, "--boot-records"]));
    for want in [
        "volume label: KS-TEST".to_string(),
        "kernel arguments: inst.stage2=hd:LABEL=KS-TEST inst.ks=hd:LABEL=KS-TEST:/ks.cfg console=ttyS0,115200 ip=off".into(),
        format!("image: {digest} ({layout_ref})"),
        "  ostreecontainer --url=/run/install/repo/container --transport=oci".into(),
        "boot menu timeout: 3 s".into(),
    ] {
        assert!(shown.contains(&want), "missing {want:?} in:\n{shown}");
    }
    assert!(!shown.contains("warning"), "{shown}");
    check_boot_records(&shown);

    // Customize: new kickstart and arguments; the rest (image, boot records) kept.
    let ks2 = d.join("ks2.cfg");
    std::fs::write(&ks2, KS.replace("poweroff", "reboot")).unwrap();
    let custom = d.join("custom.iso");
    ok(&run(args![
        "iso",
        "customize",
        &iso,
        "--kickstart",
        &ks2,
        "--append",
        "console=ttyS1",
        "--output",
        &custom,
    ]));
    let shown = ok(&run(args!["iso", "show", &custom, "--boot-records"]));
    assert!(
        shown.contains("kernel arguments: inst.stage2=hd:LABEL=KS-TEST inst.ks=hd:LABEL=KS-TEST:/ks.cfg console=ttyS1\n"),
        "{shown}"
    );
    assert!(
        shown.contains("  reboot\n") && !shown.contains("poweroff"),
        "{shown}"
    );
    assert!(shown.contains(&format!("image: {digest}")), "{shown}");
    check_boot_records(&shown);

    // Without a kickstart the default entry erases nothing.
    let bare = d.join("bare.iso");
    ok(&run(args![
        "iso",
        "customize",
        &custom,
        "--remove-kickstart",
        "-o",
        &bare
    ]));
    let shown = ok(&run(args!["iso", "show", &bare]));
    assert!(shown.contains("kickstart: none"), "{shown}");
    assert!(shown.contains("erases nothing"), "{shown}");
    assert!(
        shown.contains("kernel arguments: inst.stage2=hd:LABEL=KS-TEST console=ttyS1\n"),
        "{shown}"
    );
}

/// Both El Torito entries (BIOS and UEFI), GRUB's hybrid MBR and a GPT with the EFI System
/// Partition.
fn check_boot_records(report: &str) {
    let bios = report
        .lines()
        .any(|l| l.starts_with("El Torito boot img :") && l.contains(" BIOS "));
    let uefi = report
        .lines()
        .any(|l| l.starts_with("El Torito boot img :") && l.contains(" UEFI "));
    assert!(
        bios && uefi,
        "El Torito BIOS and UEFI entries expected:\n{report}"
    );
    assert!(
        report.contains("grub2-mbr") && report.contains("GPT"),
        "{report}"
    );
    assert!(
        report.contains("28732ac11ff8d211ba4b00a0c93ec93b"),
        "an EFI System Partition in the GPT expected:\n{report}"
    );
    assert!(
        report.contains("/boot/grub/i386-pc/eltorito.img"),
        "{report}"
    );
}

#[test]
fn bad_input_is_refused_before_anything_is_written() {
    if !tools_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("vmlinuz"), b"k").unwrap();
    std::fs::write(d.join("initramfs.img"), b"i").unwrap();
    let iso = d.join("x.iso");
    let (kernel, initramfs) = (d.join("vmlinuz"), d.join("initramfs.img"));
    let base = |extra: &[&std::ffi::OsStr]| {
        let mut a: Vec<&std::ffi::OsStr> = args![
            "iso",
            "build",
            "-o",
            &iso,
            "--kernel",
            &kernel,
            "--initramfs",
            &initramfs
        ]
        .to_vec();
        a.extend_from_slice(extra);
        run(&a)
    };
    // A kickstart with an error: file, line and column.
    std::fs::write(d.join("bad.ks"), "reboot\nrebot\n").unwrap();
    let e = failed(&base(args!["--kickstart", &d.join("bad.ks")]));
    assert!(
        e.contains("bad.ks:2:1: error: Unknown command: rebot"),
        "{e}"
    );
    // A kickstart for the embedded image without one.
    std::fs::write(d.join("ks.cfg"), KS).unwrap();
    let e = failed(&base(args!["--kickstart", &d.join("ks.cfg")]));
    assert!(e.contains("the ISO embeds no image"), "{e}");
    // An image layout that does not exist.
    let e = failed(&base(args!["--embed-image", "oci:/nonexistent/layout"]));
    assert!(e.contains("/nonexistent/layout"), "{e}");
    // A label the kernel command line cannot carry.
    let e = failed(&base(args!["--volume-label", "MY DISK"]));
    assert!(e.contains("volume label"), "{e}");
    // Not an ISO made by kickstand.
    std::fs::write(d.join("not.iso"), b"nope").unwrap();
    let e = failed(&run(args!["iso", "show", &d.join("not.iso")]));
    assert!(e.contains("not.iso"), "{e}");
    let names: Vec<_> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names.iter().any(|n| n.ends_with(".iso") && n != "not.iso"),
        "{names:?}"
    );
    assert!(
        !names.iter().any(|n| n.starts_with(".kickstand-iso")),
        "{names:?}"
    );
}

/// `skopeo inspect --format {{.Digest}}` of `image` (a `docker://` or `oci:` reference).
fn skopeo_digest(image: &str) -> String {
    let out = Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", "--format", "{{.Digest}}"])
        .arg(image)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "skopeo inspect {image}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn a_registry_image_is_pulled_into_the_iso_as_a_layout() {
    if !tools_present() {
        return;
    }
    let image = qemu_harness::images::tiny::tiny().unwrap();
    let registry = qemu_harness::registry::LocalRegistry::start().unwrap();
    let reference = registry
        .push_layout(
            &image.layout,
            qemu_harness::images::tiny::TAG,
            "kickstand/tiny",
            "1",
        )
        .unwrap();
    let digest = skopeo_digest(&format!("docker://{reference}"));
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("vmlinuz"), vec![0x4b; 4096]).unwrap();
    std::fs::write(d.join("initramfs.img"), vec![0x49; 8192]).unwrap();
    std::fs::write(d.join("ks.cfg"), KS).unwrap();
    let iso = d.join("install.iso");
    let (kernel, initramfs, ks) = (d.join("vmlinuz"), d.join("initramfs.img"), d.join("ks.cfg"));
    let build = |extra: &[&std::ffi::OsStr]| {
        let mut a: Vec<&std::ffi::OsStr> = args![
            "iso",
            "build",
            "--output",
            &iso,
            "--kernel",
            &kernel,
            "--initramfs",
            &initramfs,
            "--kickstart",
            &ks,
            "--embed-image",
            &reference,
        ]
        .to_vec();
        a.extend_from_slice(extra);
        run(&a)
    };

    // TLS by default: the plain-HTTP test registry is refused until it is named insecure, and
    // nothing is written.
    let e = failed(&build(&[]));
    assert!(e.contains(&reference), "{e}");
    assert!(!iso.exists());

    let addr = registry.addr().to_string();
    ok(&build(args!["--insecure-registry", &addr]));
    let shown = ok(&run(args!["iso", "show", &iso]));
    let want = format!("image: {digest} (docker://{reference})");
    assert!(shown.contains(&want), "missing {want:?} in:\n{shown}");

    // /container is a layout skopeo reads, holding the registry's manifest, every blob intact.
    let container = d.join("container");
    assert!(kickstand_provisioner::iso::xorriso::extract(&iso, "container", &container).unwrap());
    assert_eq!(
        skopeo_digest(&format!("oci:{}", container.display())),
        digest
    );
    let layout = kickstand_oci::Layout::open(&container).unwrap();
    let resolved = layout.resolve(None).unwrap();
    assert_eq!(resolved.manifest_descriptor.digest().to_string(), digest);
    let config = resolved.manifest.config().clone();
    for blob in resolved.layers().iter().chain([&config]) {
        let mut reader = layout.open_blob(blob).unwrap();
        std::io::copy(&mut reader, &mut std::io::sink()).unwrap();
    }
    let leftovers: Vec<_> = std::fs::read_dir(container.join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
