//! Discovery against a fake sysfs/dev/proc tree.

use super::*;
use crate::units::{GIB, MIB};
use std::fs;
use std::path::Path;

struct Fake {
    dir: tempfile::TempDir,
}

impl Fake {
    fn new() -> Fake {
        let f = Fake {
            dir: tempfile::tempdir().unwrap(),
        };
        for d in ["sys/block", "sys/devices", "dev", "proc/self"] {
            fs::create_dir_all(f.dir.path().join(d)).unwrap();
        }
        fs::write(f.dir.path().join("proc/self/mountinfo"), "").unwrap();
        fs::write(f.dir.path().join("proc/cmdline"), "quiet\n").unwrap();
        f
    }

    fn roots(&self) -> Roots {
        Roots {
            sysfs: self.dir.path().join("sys"),
            dev: self.dir.path().join("dev"),
            proc: self.dir.path().join("proc"),
        }
    }

    /// A disk under a PCI device path, with `attrs` (relative path, value) and `contents`
    /// as its first bytes (the device node is a sparse file of `size`).
    fn disk(&self, name: &str, size: u64, attrs: &[(&str, &str)], contents: &[(u64, &[u8])]) {
        let real = self
            .dir
            .path()
            .join("sys/devices/pci0000:00/0000:00:05.0/virtio2/block")
            .join(name);
        fs::create_dir_all(real.join("queue")).unwrap();
        fs::create_dir_all(real.join("holders")).unwrap();
        fs::create_dir_all(real.join("device")).unwrap();
        let minor = fs::read_dir(self.dir.path().join("sys/block"))
            .unwrap()
            .count();
        std::os::unix::fs::symlink(&real, self.dir.path().join("sys/block").join(name)).unwrap();
        fs::write(real.join("size"), format!("{}\n", size / 512)).unwrap();
        fs::write(real.join("dev"), format!("253:{minor}\n")).unwrap();
        for (attr, value) in attrs {
            let p = real.join(attr);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, format!("{value}\n")).unwrap();
        }
        let node = fs::File::create(self.dir.path().join("dev").join(name)).unwrap();
        node.set_len(size).unwrap();
        use std::os::unix::fs::FileExt;
        for (offset, bytes) in contents {
            node.write_all_at(bytes, *offset).unwrap();
        }
    }

    fn path(&self, p: &str) -> std::path::PathBuf {
        self.dir.path().join(p)
    }
}

#[test]
fn reads_attributes_and_names() {
    let fake = Fake::new();
    fake.disk(
        "vda",
        20 * GIB,
        &[
            ("queue/logical_block_size", "512"),
            ("queue/physical_block_size", "4096"),
            ("queue/rotational", "0"),
            ("removable", "0"),
            ("ro", "0"),
            ("serial", "KS-ROOT"),
            ("wwid", "naa.5000c500a1b2c3d4"),
        ],
        &[],
    );
    fake.disk(
        "sdb",
        8 * GIB,
        &[
            ("queue/logical_block_size", "4096"),
            ("queue/rotational", "1"),
            ("removable", "1"),
            ("device/model", "Flash Drive "),
        ],
        &[],
    );
    let disks = discover(&fake.roots(), &[]).unwrap();
    assert_eq!(disks.len(), 2);
    let (sdb, vda) = (&disks[0], &disks[1]);
    assert_eq!(vda.name, "vda");
    assert_eq!(vda.size, 20 * GIB);
    assert_eq!(
        (vda.logical_sector_size, vda.physical_sector_size),
        (512, 4096)
    );
    assert!(!vda.rotational && !vda.removable && !vda.read_only);
    assert_eq!(vda.serial.as_deref(), Some("KS-ROOT"));
    assert_eq!(
        vda.by_id,
        [
            "disk/by-id/virtio-KS-ROOT",
            "disk/by-id/wwn-0x5000c500a1b2c3d4"
        ]
    );
    assert_eq!(vda.by_path, ["disk/by-path/pci-0000:00:05.0"]);
    assert_eq!(vda.table, TableKind::None);
    assert!(sdb.removable && sdb.rotational);
    assert_eq!(sdb.logical_sector_size, 4096);
    assert_eq!(sdb.physical_sector_size, 4096);
    assert_eq!(sdb.model.as_deref(), Some("Flash Drive"));
}

#[test]
fn skips_virtual_devices_unless_named() {
    let fake = Fake::new();
    for name in ["loop0", "ram0", "zram0", "sr0", "dm-0", "md127", "vda"] {
        fake.disk(name, GIB, &[], &[]);
    }
    fake.disk("loop1", 0, &[], &[]);
    let names = |named: &[String]| -> Vec<String> {
        discover(&fake.roots(), named)
            .unwrap()
            .into_iter()
            .map(|d| d.name)
            .collect()
    };
    assert_eq!(names(&[]), ["vda"]);
    assert_eq!(names(&["loop0".into()]), ["loop0", "vda"]);
    let only: Vec<String> = discover_only(&fake.roots(), &["loop0".into()])
        .unwrap()
        .into_iter()
        .map(|d| d.name)
        .collect();
    assert_eq!(only, ["loop0"]);
    let err = discover(&fake.roots(), &["loop1".into()]).unwrap_err();
    assert!(err.to_string().contains("loop1 has no medium"), "{err}");
}

#[test]
fn finds_tables_signatures_use_and_the_boot_medium() {
    let fake = Fake::new();
    // An ISO-hybrid stick: iso9660 on the whole disk.
    fake.disk("sda", 4 * GIB, &[("removable", "1")], &[(32769, b"CD001")]);
    // A whole-disk xfs, mounted.
    fake.disk("vdb", GIB, &[], &[(0, b"XFSB")]);
    fs::write(
        fake.path("proc/self/mountinfo"),
        "36 25 253:1 / /data rw,relatime shared:1 - xfs /dev/vdb rw\n",
    )
    .unwrap();
    // A disk held by device-mapper.
    fake.disk("vdc", GIB, &[], &[]);
    fs::create_dir_all(fake.path("sys/block/vdc/holders/dm-0")).unwrap();
    // A disk whose partition carries the label the kernel command line names.
    let mut mbr = vec![0u8; 512];
    mbr[510] = 0x55;
    mbr[511] = 0xaa;
    mbr[446 + 4] = 0x0c;
    mbr[446 + 8..446 + 12].copy_from_slice(&2048u32.to_le_bytes());
    mbr[446 + 12..446 + 16].copy_from_slice(&((GIB - MIB) as u32 / 512).to_le_bytes());
    let mut fat = vec![0u8; 512];
    fat[0] = 0xeb;
    fat[510] = 0x55;
    fat[511] = 0xaa;
    fat[82..90].copy_from_slice(b"FAT32   ");
    fat[71..82].copy_from_slice(b"KSINSTALL  ");
    fake.disk("vdd", 2 * GIB, &[], &[(0, &mbr), (MIB, &fat)]);
    fs::write(
        fake.path("proc/cmdline"),
        "inst.ks=hd:LABEL=KSINSTALL:/ks.cfg quiet\n",
    )
    .unwrap();

    let disks = discover(&fake.roots(), &[]).unwrap();
    let get = |n: &str| disks.iter().find(|d| d.name == n).unwrap();
    assert!(get("sda").boot_medium);
    assert_eq!(get("sda").signatures[0].kind, "iso9660");
    assert_eq!(get("vdb").signatures[0].kind, "xfs");
    assert_eq!(
        get("vdb").in_use.as_deref(),
        Some("vdb is mounted at /data")
    );
    assert!(get("vdc").in_use.as_deref().unwrap().contains("dm-0"));
    let vdd = get("vdd");
    assert_eq!(vdd.table, TableKind::Msdos);
    assert_eq!(vdd.partitions[0].signature.as_ref().unwrap().kind, "vfat");
    assert!(vdd.boot_medium, "the label from inst.ks=hd:LABEL= marks it");
    assert!(!get("vdb").boot_medium);
}

#[test]
fn the_disk_mounted_as_the_install_medium_is_the_boot_medium() {
    let fake = Fake::new();
    // No label on the command line names it (inst.repo=hd:vdc): the mount marks it.
    fake.disk("vdc", GIB, &[("dev", "252:32")], &[(0, b"XFSB")]);
    fake.disk("vdd", GIB, &[("dev", "252:48")], &[]);
    fs::write(
        fake.path("proc/self/mountinfo"),
        "40 25 252:32 / /run/install/repo ro,nosuid,nodev - xfs /dev/vdc ro\n",
    )
    .unwrap();
    let disks = discover(&fake.roots(), &[]).unwrap();
    let get = |n: &str| disks.iter().find(|d| d.name == n).unwrap();
    assert!(get("vdc").boot_medium);
    assert!(get("vdc").describe().contains("installer boot medium"));
    assert!(!get("vdd").boot_medium);
}

#[test]
fn firmware_and_memory() {
    let fake = Fake::new();
    assert_eq!(firmware_from_sysfs(&fake.path("sys")), Firmware::Bios);
    fs::create_dir_all(fake.path("sys/firmware/efi")).unwrap();
    assert_eq!(firmware_from_sysfs(&fake.path("sys")), Firmware::Uefi);
    fs::write(
        fake.path("proc/meminfo"),
        "MemTotal:       2048 kB\nMemFree: 1 kB\n",
    )
    .unwrap();
    assert_eq!(memory_from_meminfo(Path::new(&fake.path("proc"))), 2 * MIB);
}
