//! Host-mode installs onto disk image files through loop devices (root only): the installer
//! binary partitions and formats, then `sfdisk --json`, `blkid` and the filesystems' own
//! checkers must agree with the plan; disks the kickstart must not touch stay byte-for-byte
//! unchanged.

use qemu_harness::gate;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

fn installer() -> PathBuf {
    match std::env::var_os("KICKSTAND_BIN_DIR") {
        Some(dir) => Path::new(&dir).join("kickstand-installer"),
        None => env!("CARGO_BIN_EXE_kickstand-installer").into(),
    }
}

fn image(dir: &Path, name: &str, size: u64) -> PathBuf {
    let path = dir.join(name);
    std::fs::File::create(&path).unwrap().set_len(size).unwrap();
    path
}

fn install(dir: &Path, ks: &str, firmware: &str, disks: &[(&Path, &str)]) -> Output {
    let ks_path = dir.join("ks.cfg");
    std::fs::write(&ks_path, ks).unwrap();
    let mut cmd = Command::new(installer());
    cmd.args([
        "install",
        "--stop-after",
        "storage",
        "--firmware",
        firmware,
        "--kickstart",
    ])
    .arg(&ks_path);
    for (path, name) in disks {
        cmd.arg("--disk").arg(format!("{}:{name}", path.display()));
    }
    let out = cmd.output().unwrap();
    eprintln!(
        "installer exit {}\n--- stdout\n{}--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The partitions sfdisk reads from an image: (start, size) in bytes and the type GUID.
fn sfdisk(img: &Path) -> Vec<(u64, u64, String)> {
    let json: Value =
        serde_json::from_str(&run("sfdisk", &["--json", img.to_str().unwrap()])).unwrap();
    let table = &json["partitiontable"];
    assert_eq!(table["label"], "gpt");
    let ss = table["sectorsize"].as_u64().unwrap_or(512);
    table["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["start"].as_u64().unwrap() * ss,
                p["size"].as_u64().unwrap() * ss,
                p["type"].as_str().unwrap().to_lowercase(),
            )
        })
        .collect()
}

/// A read-only loop device over one partition of an image; detached on drop.
struct PartLoop(String);

impl PartLoop {
    fn new(img: &Path, start: u64, size: u64) -> PartLoop {
        let dev = run(
            "losetup",
            &[
                "--find",
                "--show",
                "--read-only",
                "--offset",
                &start.to_string(),
                "--sizelimit",
                &size.to_string(),
                img.to_str().unwrap(),
            ],
        );
        PartLoop(dev.trim().to_string())
    }
}

impl Drop for PartLoop {
    fn drop(&mut self) {
        let _ = Command::new("losetup").args(["-d", &self.0]).status();
    }
}

/// blkid's TYPE of a partition, and the filesystem's own read-only check passes.
fn check_fs(img: &Path, start: u64, size: u64, want_type: &str) {
    let dev = PartLoop::new(img, start, size);
    let fstype = run("blkid", &["-p", "-s", "TYPE", "-o", "value", &dev.0]);
    assert_eq!(fstype.trim(), want_type, "partition at {start}");
    match want_type {
        "xfs" => {
            run("xfs_repair", &["-n", &dev.0]);
        }
        "ext4" | "ext3" | "ext2" => {
            run("fsck.ext4", &["-n", "-f", &dev.0]);
        }
        "vfat" => {
            run("fsck.vfat", &["-n", &dev.0]);
        }
        "btrfs" => {
            run("btrfs", &["check", "--readonly", &dev.0]);
        }
        "swap" => {}
        other => panic!("no checker for {other}"),
    }
}

const BIOS_BOOT: &str = "21686148-6449-6e6f-744e-656564454649";
const ESP: &str = "c12a7328-f81f-11d2-ba4b-00a0c93ec93b";
const LINUX: &str = "0fc63daf-8483-4772-8e79-3d69d8477de4";
const ROOT: &str = "4f68bce3-e8cd-4db1-96e7-fbcaf984b709";
const SWAP: &str = "0657fd6d-a4ab-43c4-84e5-0933c84b4f4f";
const HOME: &str = "933ac7e1-2eb4-4f13-b844-0e14e2aef915";
const VAR: &str = "4d21b016-b534-45c2-a9fb-5c16e091fd2d";

#[test]
fn plain_autopart_bios() {
    if !gate::root_test("plain_autopart_bios") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let img = image(dir.path(), "vda.raw", 10 * GIB);
    let out = install(
        dir.path(),
        "clearpart --all --initlabel\nautopart\n",
        "bios",
        &[(&img, "vda")],
    );
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("Stopped after the storage step"),
        "{stdout}"
    );
    assert_eq!(
        stdout.matches("UUID=").count(),
        2,
        "fstab has / and /boot:\n{stdout}"
    );
    let parts = sfdisk(&img);
    let root_size = 10 * GIB - 2 * MIB - MIB - 2 * GIB;
    assert_eq!(
        parts,
        [
            (MIB, MIB, BIOS_BOOT.to_string()),
            (2 * MIB, 2 * GIB, LINUX.to_string()),
            (2 * MIB + 2 * GIB, root_size, ROOT.to_string()),
        ]
    );
    check_fs(&img, parts[1].0, parts[1].1, "xfs");
    check_fs(&img, parts[2].0, parts[2].1, "xfs");
    // The protective MBR (type 0xee) is marked active for BIOS firmware.
    let mut lba0 = [0u8; 512];
    std::io::Read::read_exact(&mut std::fs::File::open(&img).unwrap(), &mut lba0).unwrap();
    assert_eq!(
        (lba0[446], lba0[450], &lba0[510..]),
        (0x80, 0xee, &[0x55u8, 0xaa][..])
    );
}

#[test]
fn btrfs_autopart_uefi() {
    if !gate::root_test("btrfs_autopart_uefi") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let img = image(dir.path(), "vda.raw", 8 * GIB);
    let out = install(
        dir.path(),
        "zerombr\nclearpart --all\nautopart --type=btrfs\n",
        "uefi",
        &[(&img, "vda")],
    );
    assert!(out.status.success());
    let fstab = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        fstab.contains("subvol=root") && fstab.contains("subvol=home"),
        "{fstab}"
    );
    assert!(
        fstab.contains("/boot/efi") && fstab.contains("umask=0077"),
        "{fstab}"
    );
    assert_eq!(fstab.matches("UUID=").count(), 4, "{fstab}");
    let parts = sfdisk(&img);
    let types: Vec<&str> = parts.iter().map(|p| p.2.as_str()).collect();
    assert_eq!(types, [ESP, LINUX, ROOT]);
    assert_eq!((parts[0].0, parts[0].1), (MIB, 600 * MIB));
    assert_eq!(parts[1].1, 2 * GIB);
    check_fs(&img, parts[0].0, parts[0].1, "vfat");
    check_fs(&img, parts[1].0, parts[1].1, "ext4");
    check_fs(&img, parts[2].0, parts[2].1, "btrfs");
    // The subvolumes exist.
    let dev = PartLoop::new(&img, parts[2].0, parts[2].1);
    let mnt = tempfile::tempdir().unwrap();
    run("mount", &["-o", "ro", &dev.0, mnt.path().to_str().unwrap()]);
    let list = Command::new("btrfs")
        .args(["subvolume", "list", mnt.path().to_str().unwrap()])
        .output()
        .unwrap();
    run("umount", &[mnt.path().to_str().unwrap()]);
    let list = String::from_utf8_lossy(&list.stdout);
    assert!(
        list.contains("path root") && list.contains("path home"),
        "{list}"
    );
}

#[test]
fn multi_disk_part_layout() {
    if !gate::root_test("multi_disk_part_layout") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let a = image(dir.path(), "a.raw", 6 * GIB);
    let b = image(dir.path(), "b.raw", 3 * GIB);
    let ks = "clearpart --all --initlabel
part biosboot --fstype=biosboot --size=1
part /boot --size=512 --fstype=ext4 --label=boot
part / --size=2048 --grow --maxsize=4096
part swap --size=256
part /home --grow --ondisk=vdb
part /var --size=1024 --ondisk=vdb --fstype=ext4 --label=var --mkfsoptions=\"-m 0\"
";
    let out = install(dir.path(), ks, "bios", &[(&a, "vda"), (&b, "vdb")]);
    assert!(out.status.success());
    let pa = sfdisk(&a);
    let types: Vec<&str> = pa.iter().map(|p| p.2.as_str()).collect();
    assert_eq!(types, [BIOS_BOOT, LINUX, ROOT, SWAP]);
    assert_eq!(pa[1].1, 512 * MIB);
    assert_eq!(pa[2].1, 4096 * MIB, "/ grows to its maxsize");
    assert_eq!(pa[3].1, 256 * MIB);
    check_fs(&a, pa[1].0, pa[1].1, "ext4");
    check_fs(&a, pa[2].0, pa[2].1, "xfs");
    check_fs(&a, pa[3].0, pa[3].1, "swap");
    let pb = sfdisk(&b);
    let types: Vec<&str> = pb.iter().map(|p| p.2.as_str()).collect();
    assert_eq!(types, [HOME, VAR]);
    assert_eq!(pb[0].1, 3 * GIB - 2 * MIB - 1024 * MIB);
    check_fs(&b, pb[0].0, pb[0].1, "xfs");
    check_fs(&b, pb[1].0, pb[1].1, "ext4");
    let label = {
        let dev = PartLoop::new(&b, pb[1].0, pb[1].1);
        run("blkid", &["-p", "-s", "LABEL", "-o", "value", &dev.0])
    };
    assert_eq!(label.trim(), "var");
}

/// A 2 GiB image with a GPT (two partitions, made by sfdisk) and an ext4 filesystem in the first.
fn prefilled(dir: &Path, name: &str) -> PathBuf {
    let img = image(dir, name, 2 * GIB);
    let mut child = Command::new("sfdisk")
        .args(["--quiet", img.to_str().unwrap()])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"label: gpt\n,512M,L\n,,L\n")
        .unwrap();
    assert!(child.wait().unwrap().success());
    let parts = sfdisk(&img);
    run(
        "mkfs.ext4",
        &[
            "-q",
            "-F",
            "-E",
            &format!("offset={}", parts[0].0),
            img.to_str().unwrap(),
            "512M",
        ],
    );
    img
}

fn same_bytes(a: &Path, b: &Path) -> bool {
    Command::new("cmp")
        .arg("--quiet")
        .arg(a)
        .arg(b)
        .status()
        .unwrap()
        .success()
}

#[test]
fn clearpart_none_leaves_a_prefilled_disk_unchanged() {
    if !gate::root_test("clearpart_none_leaves_a_prefilled_disk_unchanged") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let img = prefilled(dir.path(), "vda.raw");
    let copy = dir.path().join("copy.raw");
    run(
        "cp",
        &[
            "--sparse=always",
            img.to_str().unwrap(),
            copy.to_str().unwrap(),
        ],
    );
    let out = install(
        dir.path(),
        "clearpart --none\nautopart\n",
        "bios",
        &[(&img, "vda")],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("disk loop") || stderr.contains("already has partitions"),
        "{stderr}"
    );
    assert!(stderr.contains("clearpart --none keeps them"), "{stderr}");
    assert!(same_bytes(&img, &copy), "the disk changed");
}

#[test]
fn ignoredisk_only_use_leaves_the_other_disk_unchanged() {
    if !gate::root_test("ignoredisk_only_use_leaves_the_other_disk_unchanged") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let other = prefilled(dir.path(), "vda.raw");
    let copy = dir.path().join("copy.raw");
    run(
        "cp",
        &[
            "--sparse=always",
            other.to_str().unwrap(),
            copy.to_str().unwrap(),
        ],
    );
    let target = image(dir.path(), "vdb.raw", 6 * GIB);
    let ks = "ignoredisk --only-use=vdb\nclearpart --all\nautopart\n";
    let out = install(dir.path(), ks, "bios", &[(&other, "vda"), (&target, "vdb")]);
    assert!(out.status.success());
    assert!(same_bytes(&other, &copy), "the ignored disk changed");
    assert_eq!(sfdisk(&target).len(), 3);
}

#[test]
fn failure_after_partitioning_wipes_the_new_table() {
    if !gate::root_test("failure_after_partitioning_wipes_the_new_table") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let img = image(dir.path(), "vda.raw", 4 * GIB);
    let ks = "clearpart --all\nreqpart\npart / --grow --mkfsoptions=\"--no-such-option\"\n";
    let out = install(dir.path(), ks, "bios", &[(&img, "vda")]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("new partition table wiped"), "{stderr}");
    assert!(stderr.contains("mkfs.xfs"), "{stderr}");
    let sf = Command::new("sfdisk")
        .arg("--json")
        .arg(&img)
        .output()
        .unwrap();
    assert!(!sf.status.success(), "no partition table is left");
    // And no stale loop device stays attached to the image.
    let attached = run("losetup", &["-j", img.to_str().unwrap()]);
    assert!(attached.trim().is_empty(), "{attached}");
}
