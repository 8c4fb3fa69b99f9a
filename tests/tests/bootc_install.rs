//! The bootc way, through the CLI onto disk image files (root: loop devices, mounts), against
//! a STAND-IN for bootc: no bootc image can be pulled here, so the test image's
//! `/usr/bin/bootc` is a busybox shell script that checks its arguments, its environment and
//! the mounts it sees (the target bound at `/target`, the staged OCI layout whose blobs must
//! hash to their names), records them, and writes an ostree-style deployment
//! (`/ostree/deploy/S/deploy/SUM.0` with the image's `/etc`, and `/ostree/deploy/S/var`) for
//! the rest of the install to act on. This verifies Kickstand's side of the contract, not
//! bootc itself.

use std::path::{Path, PathBuf};

use kickstand_oci::{Compression, LayoutWriter, Meta};
use kickstand_tests::{
    MountedPartition, ROOT_X86_64, disk_file, finish_image, install, partition, ssh_key,
};
use qemu_harness::gate;

const GIB: u64 = 1 << 30;
const MIB: u64 = 1 << 20;

/// The stand-in: fails (exit 3) on anything bootc would not be given, records what it saw in
/// the stateroot's `var/lib/stand-in-bootc/`, writes a deployment.
const STAND_IN: &str = r#"#!/bin/sh
set -eu
fail() { echo "stand-in bootc: $*" >&2; exit 3; }
[ "${1:-}" = install ] && [ "${2:-}" = to-filesystem ] || fail "expected 'install to-filesystem', got: $*"
shift 2
src= tgt= transport= stateroot=default kargs= target= bootloader=
while [ $# -gt 0 ]; do
  case "$1" in
    --source-imgref) src=$2; shift 2 ;;
    --target-imgref) tgt=$2; shift 2 ;;
    --target-transport) transport=$2; shift 2 ;;
    --stateroot) stateroot=$2; shift 2 ;;
    --karg) kargs="$kargs $2"; shift 2 ;;
    --bootloader)
      case "$2" in grub|systemd|none) bootloader=$2 ;; *) fail "--bootloader $2 is not grub, systemd or none" ;; esac
      shift 2 ;;
    --*) fail "unknown option $1" ;;
    *) [ -z "$target" ] || fail "two targets"; target=$1; shift ;;
  esac
done
[ "$target" = /target ] || fail "target is '$target', not /target"
case "$kargs" in *stand-in.fail*) fail "asked to fail by the karg stand-in.fail" ;; esac
case "$src" in oci:/*) ;; *) fail "source-imgref '$src' is not oci:/PATH" ;; esac
layout=${src#oci:}
[ -f "$layout/oci-layout" ] && [ -f "$layout/index.json" ] || fail "no OCI layout at $layout"
n=0
for blob in "$layout"/blobs/sha256/*; do
  sum=$(sha256sum "$blob" | cut -d' ' -f1)
  [ "$sum" = "$(basename "$blob")" ] || fail "blob $blob hashes to $sum"
  n=$((n+1))
done
[ "$n" -ge 3 ] || fail "only $n blobs in the layout"
case "$tgt" in *:*/*|"") fail "target-imgref '$tgt' carries a transport or is empty" ;; esac
grep -q " /target " /proc/mounts || fail "/target is not a mount point"
[ -c /dev/null ] && [ -d /sys/class ] && [ -d /proc/self ] || fail "no /dev, /sys or /proc"
for e in $(ls -A /target); do
  case "$e" in lost+found|boot) ;; *) fail "the target root is not empty: $e" ;; esac
done
[ -f /usr/share/stand-in-marker ] || fail "not running in the staged image"
sum=$(cat /etc/os-release "$layout/index.json" | sha256sum | cut -d' ' -f1)
s=/target/ostree/deploy/$stateroot
d=$s/deploy/$sum.0
mkdir -p "$d/usr/bin" "$d/var" "$d/tmp" "$d/proc" "$d/sys" "$d/dev" "$d/run" "$d/sysroot" \
  "$s/var/home" "$s/var/roothome" "$s/var/lib/stand-in-bootc" /target/boot/loader/entries
cp -a /etc "$d/etc"
cp /usr/bin/busybox "$d/usr/bin/busybox"
for a in sh echo cat test; do ln -s busybox "$d/usr/bin/$a"; done
ln -s usr/bin "$d/bin"
ln -s var/home "$d/home"
ln -s var/roothome "$d/root"
echo "$sum" > "$d/usr/.ostree-checksum"
printf 'title stand-in\nlinux /ostree/%s/vmlinuz\noptions ostree=/ostree/boot.1/%s/%s/0%s\n' \
  "$sum" "$stateroot" "$sum" "$kargs" > /target/boot/loader/entries/ostree-1.conf
r=$s/var/lib/stand-in-bootc
printf '%s\n' "source=$src" "target-imgref=$tgt" "target-transport=$transport" \
  "stateroot=$stateroot" "kargs=$kargs" "bootloader=$bootloader" "blobs=$n" > "$r/args"
env | sort > "$r/env"
grep " /target" /proc/mounts > "$r/mounts" || true
echo "stand-in bootc: deployed $d"
"#;

/// A one-layer image: busybox as `/usr/bin/{busybox,sh,...}`, `/etc` account files, and
/// (when `with_bootc`) the stand-in at `/usr/bin/bootc`.
fn bootc_image(dir: &Path, with_bootc: bool, labels: &[(&str, &str)]) -> PathBuf {
    let layout = LayoutWriter::create(dir).unwrap();
    let mut layer = layout.layer(Compression::Gzip).unwrap();
    let t = 1_767_225_600;
    for d in ["etc", "usr", "usr/bin", "usr/share", "var", "var/tmp"] {
        layer.dir(d, Meta::root(0o755, t)).unwrap();
    }
    let busybox = std::fs::read("/bin/busybox").expect("busybox-static");
    layer
        .file_bytes("usr/bin/busybox", Meta::root(0o755, t), &busybox)
        .unwrap();
    for a in [
        "sh",
        "cat",
        "cp",
        "cut",
        "env",
        "grep",
        "ln",
        "ls",
        "mkdir",
        "basename",
        "sha256sum",
        "sort",
        "printf",
    ] {
        layer
            .symlink(&format!("usr/bin/{a}"), "busybox", Meta::root(0o777, t))
            .unwrap();
    }
    layer
        .symlink("bin", "usr/bin", Meta::root(0o777, t))
        .unwrap();
    if with_bootc {
        layer
            .file_bytes("usr/bin/bootc", Meta::root(0o755, t), STAND_IN.as_bytes())
            .unwrap();
    }
    let files: [(&str, &str, u32); 6] = [
        (
            "etc/os-release",
            "ID=standin\nPRETTY_NAME=\"Stand-in bootc\"\n",
            0o644,
        ),
        ("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n", 0o644),
        ("etc/shadow", "root:*:20400:0:99999:7:::\n", 0o600),
        ("etc/group", "root:x:0:\nwheel:x:10:\n", 0o644),
        ("etc/gshadow", "root:*::\nwheel:*::\n", 0o600),
        ("usr/share/stand-in-marker", "staged\n", 0o644),
    ];
    for (p, c, m) in files {
        layer.file_bytes(p, Meta::root(m, t), c.as_bytes()).unwrap();
    }
    let layer = layout.commit_layer(layer, "stand-in bootc image").unwrap();
    finish_image(layout, layer, labels)
}

/// A kickstart installing `layout` with `ostreecontainer` onto autopart'd ext4.
fn ostreecontainer_ks(layout: &Path) -> String {
    format!(
        "ostreecontainer --transport=oci --url={}:latest --no-signature-verification\n\
         clearpart --all --initlabel\nautopart --fstype=ext4\n",
        layout.display()
    )
}

fn output(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn a_bootc_image_is_installed_by_its_own_bootc_then_configured_in_the_deployment() {
    if !gate::root_test(
        "a_bootc_image_is_installed_by_its_own_bootc_then_configured_in_the_deployment",
    ) {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let layout = bootc_image(&dir.join("layout"), true, &[("containers.bootc", "1")]);
    let (key, _) = ssh_key(dir);
    let disk = disk_file(dir, "disk.raw", 3 * GIB);
    let ks = format!(
        "bootc --source-imgref=oci:{}:latest --target-imgref=registry.example/os/standin:42 \
         --stateroot=standin\n\
         clearpart --all --initlabel\nautopart --fstype=ext4\n\
         bootloader --append=\"quiet console=ttyS0,115200\"\n\
         rootpw --plaintext rootsecret\n\
         user --name=alice --groups=wheel --plaintext --password=alicesecret\n\
         sshkey --username=alice \"{key}\"\n\
         %post\n\
         echo \"post in $(cat /usr/.ostree-checksum)\" > /etc/post-ran\n\
         test -d /sysroot/ostree/deploy && echo sysroot-bound > /var/post-var\n\
         %end\n",
        layout.display()
    );
    let out = install(dir, &ks, &disk, &["--firmware", "uefi"]);
    let text = output(&out);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("deployed by the image's own bootc"), "{text}");

    // The staging area is gone.
    let staged = text
        .split("image staged in RAM at ")
        .nth(1)
        .and_then(|s| s.split(':').next())
        .expect("the staging area is named");
    assert!(!Path::new(staged).exists(), "{staged} was left behind");
    assert!(
        !std::fs::read_to_string("/proc/mounts")
            .unwrap()
            .contains(staged),
        "{staged} is still mounted"
    );

    let root = MountedPartition::new(&disk, partition(&disk, ROOT_X86_64).expect("root"));
    // Never flat: nothing of the image at the top of the root filesystem.
    assert!(!root.path("usr").exists() && !root.path("etc").exists());
    let s = root.path("ostree/deploy/standin");
    let record = std::fs::read_to_string(s.join("var/lib/stand-in-bootc/args")).unwrap();
    assert!(
        record.contains("source=oci:/var/tmp/kickstand-image\n"),
        "{record}"
    );
    assert!(
        record.contains("target-imgref=registry.example/os/standin:42\n"),
        "{record}"
    );
    assert!(record.contains("target-transport=\n"), "{record}");
    assert!(record.contains("stateroot=standin\n"), "{record}");
    assert!(
        record.contains("kargs= quiet console=ttyS0,115200\n"),
        "{record}"
    );
    assert!(record.contains("bootloader=\n"), "bootc chooses: {record}");
    let env = std::fs::read_to_string(s.join("var/lib/stand-in-bootc/env")).unwrap();
    assert!(env.contains("PATH=/usr/local/sbin:"), "{env}");
    let mounts = std::fs::read_to_string(s.join("var/lib/stand-in-bootc/mounts")).unwrap();
    assert!(mounts.contains(" /target "), "{mounts}");
    assert!(mounts.contains(" /target/boot "), "{mounts}");
    // The ESP is mounted for bootc when the kernel has vfat (this host's may not).
    let vfat = std::fs::read_to_string("/proc/filesystems")
        .unwrap()
        .lines()
        .any(|l| l.ends_with("vfat"));
    assert_eq!(mounts.contains(" /target/boot/efi vfat "), vfat, "{mounts}");
    if !vfat {
        assert!(text.contains("this kernel cannot mount vfat"), "{text}");
    }

    let deploys: Vec<_> = std::fs::read_dir(s.join("deploy"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(deploys.len(), 1, "{deploys:?}");
    let d = &deploys[0];
    let sum = std::fs::read_to_string(d.join("usr/.ostree-checksum")).unwrap();
    assert!(d.ends_with(format!("{}.0", sum.trim())));
    let etc = |f: &str| std::fs::read_to_string(d.join("etc").join(f)).unwrap();
    assert!(
        etc("passwd").contains("alice:x:1000:1000::/home/alice:"),
        "{}",
        etc("passwd")
    );
    assert!(
        etc("group").contains("wheel:x:10:alice"),
        "{}",
        etc("group")
    );
    assert!(!etc("shadow").starts_with("root:*:"), "rootpw not applied");
    assert!(etc("shadow").contains("alice:$6$"), "{}", etc("shadow"));
    // Homes in the stateroot's var, not in the deployment.
    let home = s.join("var/home/alice");
    let keys = std::fs::read_to_string(home.join(".ssh/authorized_keys")).unwrap();
    assert!(keys.contains(&key), "{keys}");
    assert!(std::fs::read_dir(d.join("var")).unwrap().next().is_none());
    // %post ran chrooted in the deployment, with its /var and the target at /sysroot.
    assert_eq!(etc("post-ran"), format!("post in {}\n", sum.trim()));
    assert_eq!(
        std::fs::read_to_string(s.join("var/post-var")).unwrap(),
        "sysroot-bound\n"
    );
    assert!(s.join("var/log/kickstand/install.log").exists());
}

#[test]
fn ostreecontainer_maps_onto_bootc_with_the_default_stateroot() {
    if !gate::root_test("ostreecontainer_maps_onto_bootc_with_the_default_stateroot") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let layout = bootc_image(&dir.join("layout"), true, &[("ostree.bootable", "1")]);
    let disk = disk_file(dir, "disk.raw", 3 * GIB);
    let ks = ostreecontainer_ks(&layout);
    // Staged in a directory of the host's instead of RAM, and removed from there afterwards.
    let staging = dir.join("staging");
    std::fs::create_dir(&staging).unwrap();
    let out = install(
        dir,
        &ks,
        &disk,
        &[
            "--firmware",
            "uefi",
            "--staging-dir",
            staging.to_str().unwrap(),
        ],
    );
    let text = output(&out);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains(&format!(
            "image staged on disk at {}/kickstand-staging.",
            staging.display()
        )),
        "{text}"
    );
    assert_eq!(
        std::fs::read_dir(&staging).unwrap().count(),
        0,
        "staging left behind"
    );
    let root = MountedPartition::new(&disk, partition(&disk, ROOT_X86_64).expect("root"));
    let record =
        std::fs::read_to_string(root.path("ostree/deploy/default/var/lib/stand-in-bootc/args"))
            .unwrap();
    assert!(record.contains("stateroot=default\n"), "{record}");
    assert!(
        record.contains(&format!("target-imgref={}:latest\n", layout.display())),
        "{record}"
    );
    assert!(record.contains("target-transport=oci\n"), "{record}");
}

#[test]
fn a_flat_image_with_a_bootc_binary_still_goes_the_flat_way() {
    if !gate::root_test("a_flat_image_with_a_bootc_binary_still_goes_the_flat_way") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let layout = bootc_image(&dir.join("layout"), true, &[]);
    let disk = disk_file(dir, "disk.raw", 3 * GIB);
    let ks = ostreecontainer_ks(&layout);
    // No kernel in the image: the flat way unpacks it, then refuses it before the boot loader.
    let out = install(dir, &ks, &disk, &["--firmware", "uefi"]);
    let text = output(&out);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("deployed flat (unpacked into the root filesystem)"),
        "{text}"
    );
    assert!(
        text.contains("the image has no /usr/lib/modules/<KVER>/vmlinuz"),
        "{text}"
    );
    assert!(!text.contains("staged in RAM"), "{text}");
    let root = MountedPartition::new(&disk, partition(&disk, ROOT_X86_64).expect("root"));
    assert!(root.path("usr/bin/bootc").exists());
    assert!(!root.path("ostree").exists());
}

#[test]
fn a_failing_bootc_shows_its_output() {
    if !gate::root_test("a_failing_bootc_shows_its_output") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let layout = bootc_image(&dir.join("layout"), true, &[("containers.bootc", "1")]);
    let disk = disk_file(dir, "disk.raw", 3 * GIB);
    // `bootloader --append` reaches bootc as a karg; this one makes the stand-in fail.
    let ks = format!(
        "bootc --source-imgref=oci:{}:latest --target-imgref=quay.io/x/y:1\n\
         bootloader --append=stand-in.fail\n\
         clearpart --all --initlabel\nautopart --fstype=ext4\n",
        layout.display()
    );
    let out = install(dir, &ks, &disk, &["--firmware", "uefi"]);
    let text = output(&out);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("the image's bootc failed"), "{text}");
    assert!(
        text.contains("stand-in bootc: asked to fail by the karg stand-in.fail"),
        "{text}"
    );
}

#[test]
fn a_target_bootc_cannot_follow_is_refused_before_the_disk() {
    if !gate::root_test("a_target_bootc_cannot_follow_is_refused_before_the_disk") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let layout = bootc_image(&dir.join("layout"), true, &[("containers.bootc", "1")]);
    let disk = disk_file(dir, "disk.raw", 3 * GIB);
    let ks = format!(
        "bootc --source-imgref=oci:{}:latest --target-imgref=dir:/srv/tree\n\
         clearpart --all --initlabel\nautopart --fstype=ext4\n",
        layout.display()
    );
    let out = install(dir, &ks, &disk, &["--firmware", "uefi"]);
    let text = output(&out);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("cannot follow a `dir:` image with `bootc upgrade`"),
        "{text}"
    );
    assert!(!text.contains("staged in RAM"), "{text}");
    // The disk file is as it was created: no partition table, nothing written.
    let mut head = vec![0u8; 1 << 20];
    std::io::Read::read_exact(&mut std::fs::File::open(&disk).unwrap(), &mut head).unwrap();
    assert!(head.iter().all(|b| *b == 0), "the disk was written to");
}

/// Whether a line of `text` has `a`, then a loop device number, then `b` (messages name disks
/// by their kernel names; `vda` is only the kickstart's alias).
fn has(text: &str, a: &str, b: &str) -> bool {
    text.lines().any(|l| {
        l.split(a).skip(1).any(|rest| {
            rest.trim_start_matches(|c: char| c.is_ascii_digit())
                .starts_with(b)
        })
    })
}

/// The swap line of the fstab the CLI prints: its UUID.
fn fstab_swap_uuid(text: &str) -> String {
    let fstab = text
        .split("/etc/fstab for the new system:")
        .nth(1)
        .expect("the CLI prints the fstab");
    fstab
        .lines()
        .find(|l| l.split_whitespace().nth(2) == Some("swap"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|s| s.strip_prefix("UUID="))
        .expect("a swap line by UUID")
        .to_string()
}

/// `blkid -p` of the region `(start, size)` of `disk`: `TYPE=…`, `UUID=…` lines (empty when
/// it holds no signature).
fn probe(disk: &Path, (start, size): (u64, u64)) -> String {
    let out = std::process::Command::new("blkid")
        .args([
            "-p",
            "-o",
            "export",
            "-O",
            &start.to_string(),
            "-S",
            &size.to_string(),
        ])
        .arg(disk)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Partition numbers of `disk`'s GPT (empty when it has none).
fn partition_numbers(disk: &Path) -> Vec<String> {
    let out = std::process::Command::new("sfdisk")
        .arg("--json")
        .arg(disk)
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    json["partitiontable"]["partitions"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| p["node"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// A work directory with the stand-in bootc image and a blank 3 GiB disk.
struct Bench {
    work: tempfile::TempDir,
    layout: PathBuf,
    disk: PathBuf,
}

impl Bench {
    fn new() -> Bench {
        let work = tempfile::tempdir().unwrap();
        let layout = bootc_image(
            &work.path().join("layout"),
            true,
            &[("containers.bootc", "1")],
        );
        let disk = disk_file(work.path(), "disk.raw", 3 * GIB);
        Bench { work, layout, disk }
    }

    /// Installs with `rest` (the kickstart after its `bootc` line) and the CLI's `extra`
    /// arguments: whether it succeeded, and its output.
    fn install(&self, rest: &str, extra: &[&str]) -> (bool, String) {
        let ks = format!(
            "bootc --source-imgref=oci:{}:latest --target-imgref=quay.io/x/y:1\n{rest}",
            self.layout.display()
        );
        let out = install(self.work.path(), &ks, &self.disk, extra);
        (out.status.success(), output(&out))
    }
}

const SWAP: &str = "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F";

#[test]
fn short_of_ram_the_image_is_staged_on_the_swap_area_which_is_a_swap_again() {
    if !gate::root_test("short_of_ram_the_image_is_staged_on_the_swap_area_which_is_a_swap_again") {
        return;
    }
    let b = Bench::new();
    let (ok, text) = b.install(
        "clearpart --all --initlabel\npart /boot/efi --size=100\n\
         part swap --size=200 --label=myswap\npart / --fstype=ext4 --grow\n\
         bootloader --sdboot\n",
        &["--firmware", "uefi", "--staging-ram-limit", "0"],
    );
    let disk = b.disk.clone();
    assert!(ok, "{text}");
    assert!(
        has(
            &text,
            "on the swap area loop",
            " partition 2 (200 MiB; RAM has 0 B)"
        ),
        "{text}"
    );
    assert!(
        has(
            &text,
            "image staged on the swap area loop",
            " partition 2 at "
        ),
        "{text}"
    );
    assert!(
        has(
            &text,
            "the swap area loop",
            " partition 2 is a swap area again (UUID "
        ),
        "{text}"
    );
    // The swap area is a swap area with the UUID and label fstab expects.
    let uuid = fstab_swap_uuid(&text);
    let swap = partition(&disk, SWAP).expect("swap partition");
    let probed = probe(&disk, swap);
    assert!(probed.contains("TYPE=swap"), "{probed}");
    assert!(probed.contains(&format!("UUID={uuid}")), "{probed}");
    assert!(probed.contains("LABEL=myswap"), "{probed}");

    let root = MountedPartition::new(&disk, partition(&disk, ROOT_X86_64).expect("root"));
    let s = root.path("ostree/deploy/default");
    let record = std::fs::read_to_string(s.join("var/lib/stand-in-bootc/args")).unwrap();
    assert!(record.contains("bootloader=systemd\n"), "{record}");
    // The deployment's fstab names the swap area, so the installed system uses it.
    let d = std::fs::read_dir(s.join("deploy"))
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    let fstab = std::fs::read_to_string(d.join("etc/fstab")).unwrap();
    assert!(fstab.contains(&format!("UUID={uuid}")), "{fstab}");
}

#[test]
fn with_no_swap_a_temporary_partition_in_free_space_takes_the_staging_and_goes() {
    if !gate::root_test(
        "with_no_swap_a_temporary_partition_in_free_space_takes_the_staging_and_goes",
    ) {
        return;
    }
    let b = Bench::new();
    let disk = b.disk.clone();
    // The root does not grow: the rest of the disk is free.
    let (ok, text) = b.install(
        "clearpart --all --initlabel\npart /boot/efi --size=100\n\
         part / --fstype=ext4 --size=1024\nbootloader --location=none\n",
        &["--firmware", "uefi", "--staging-ram-limit", "1M"],
    );
    assert!(ok, "{text}");
    assert!(
        has(&text, "on a temporary partition 3 of loop", " ("),
        "{text}"
    );
    assert!(
        has(&text, "the temporary partition 3 of loop", " was removed"),
        "{text}"
    );
    assert_eq!(
        partition_numbers(&disk).len(),
        2,
        "the temporary partition is gone"
    );
    // Where it was (right after the root), no filesystem signature is left.
    let (start, size) = partition(&disk, ROOT_X86_64).expect("root");
    assert_eq!(probe(&disk, (start + size, 64 << 20)), "");
    let root = MountedPartition::new(&disk, (start, size));
    let record =
        std::fs::read_to_string(root.path("ostree/deploy/default/var/lib/stand-in-bootc/args"))
            .unwrap();
    assert!(record.contains("bootloader=none\n"), "{record}");
}

#[test]
fn a_second_cleared_disk_takes_the_staging_and_is_blank_again() {
    if !gate::root_test("a_second_cleared_disk_takes_the_staging_and_is_blank_again") {
        return;
    }
    let b = Bench::new();
    let second = disk_file(b.work.path(), "second.raw", GIB);
    let second_arg = format!("{}:vdb", second.display());
    let (ok, text) = b.install(
        "clearpart --all --initlabel\nautopart --fstype=ext4 --noboot\n",
        &[
            "--firmware",
            "uefi",
            "--staging-ram-limit",
            "0",
            "--disk",
            &second_arg,
        ],
    );
    assert!(ok, "{text}");
    assert!(
        has(&text, "on a temporary partition 1 of loop", " (") && text.contains("blank again"),
        "{text}"
    );
    // No partition table and no filesystem signature: blank as it was, to blkid and sfdisk.
    assert!(partition_numbers(&second).is_empty());
    assert_eq!(probe(&second, (0, GIB)), "");
    assert_eq!(probe(&second, (MIB, 64 * MIB)), "");
}

#[test]
fn a_failing_bootc_still_gives_the_swap_area_back() {
    if !gate::root_test("a_failing_bootc_still_gives_the_swap_area_back") {
        return;
    }
    let b = Bench::new();
    let (ok, text) = b.install(
        "bootloader --append=stand-in.fail\n\
         clearpart --all --initlabel\npart /boot/efi --size=100\n\
         part swap --size=200\npart / --fstype=ext4 --grow\n",
        &["--firmware", "uefi", "--staging-ram-limit", "0"],
    );
    let disk = b.disk.clone();
    assert!(!ok, "{text}");
    assert!(
        has(
            &text,
            "staging area: the swap area loop",
            " partition 2 is a swap area again (UUID "
        ),
        "{text}"
    );
    assert!(
        text.contains("asked to fail by the karg stand-in.fail"),
        "{text}"
    );
    let probed = probe(&disk, partition(&disk, SWAP).expect("swap partition"));
    assert!(probed.contains("TYPE=swap"), "{probed}");
}

#[test]
fn no_room_for_staging_is_refused_by_the_dry_run_before_the_disk() {
    if !gate::root_test("no_room_for_staging_is_refused_by_the_dry_run_before_the_disk") {
        return;
    }
    let b = Bench::new();
    for extra in [&["--dry-run"][..], &[]] {
        let mut args = vec!["--firmware", "uefi", "--staging-ram-limit", "0"];
        args.extend(extra);
        let (ok, text) = b.install(
            "clearpart --all --initlabel\nautopart --fstype=ext4\n",
            &args,
        );
        assert!(!ok, "{text}");
        assert!(text.contains("no place holds it: RAM has 0 B"), "{text}");
        assert!(text.contains("the plan has no swap area"), "{text}");
        assert!(text.contains("nothing was written to any disk"), "{text}");
    }
    let (head, _, _) = kickstand_tests::written_regions(&b.disk);
    assert!(head.iter().all(|b| *b == 0), "the disk was written to");
}

#[test]
fn bootloader_options_bootc_cannot_carry_out_are_refused_before_the_disk() {
    if !gate::root_test("bootloader_options_bootc_cannot_carry_out_are_refused_before_the_disk") {
        return;
    }
    let (ok, text) = Bench::new().install(
        "clearpart --all --initlabel\nautopart --fstype=ext4\nbootloader --sdboot\n",
        &["--firmware", "bios", "--dry-run"],
    );
    assert!(!ok, "{text}");
    assert!(
        text.contains("systemd-boot boots only with UEFI firmware"),
        "{text}"
    );
}
