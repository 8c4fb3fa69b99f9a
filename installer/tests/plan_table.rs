//! Table-driven planner tests: kickstarts × hardware descriptions → layouts or errors.
//! Sizes in the expectations are MiB; a 20 GiB disk leaves 20478 MiB between the 1 MiB
//! alignment at the start and the backup GPT at the end.

mod common;

use common::{hw, ks, summary};
use kickstand_installer::hardware::Firmware::{self, Bios, Uefi};
use kickstand_installer::storage::{ImageFacts, plan_request, report};
use kickstand_installer::units::GIB;

enum Want {
    Layout(&'static [&'static str]),
    Error(&'static [&'static str]),
}
use Want::{Error, Layout};

struct Case {
    name: &'static str,
    ks: &'static str,
    fw: Firmware,
    disks: &'static [&'static str],
    image_gib: Option<u64>,
    want: Want,
}

const fn case(
    name: &'static str,
    ks: &'static str,
    fw: Firmware,
    disks: &'static [&'static str],
    want: Want,
) -> Case {
    Case {
        name,
        ks,
        fw,
        disks,
        image_gib: None,
        want,
    }
}

const MULTI_DISK: &str = "clearpart --all --initlabel
part biosboot --fstype=biosboot --size=1
part /boot --size=1024 --fstype=ext4
part / --size=10240 --grow --maxsize=15360
part swap --size=2048
part /home --grow --ondisk=vdb
part /var --size=4096 --ondisk=vdb --fstype=ext4 --label=var
";

/// Anaconda's two-disk RAID1 layout: a BIOS boot partition on each disk, `/boot` and `/`
/// mirrored.
const RAID1_BIOS: &str = "clearpart --all --initlabel
part biosboot --fstype=biosboot --size=1 --ondisk=vda
part biosboot --fstype=biosboot --size=1 --ondisk=vdb
part raid.01 --size=512 --ondisk=vda
part raid.02 --size=512 --ondisk=vdb
part raid.11 --size=1 --grow --ondisk=vda
part raid.12 --size=1 --grow --ondisk=vdb
raid /boot --level=1 --device=boot --fstype=ext4 raid.01 raid.02
raid / --level=1 --device=root raid.11 raid.12
";

const MANUAL_LVM: &str = "clearpart --all --initlabel
reqpart
part /boot --size=1024
part pv.01 --grow
volgroup vg0 pv.01
logvol / --vgname=vg0 --name=root --size=8192
logvol swap --vgname=vg0 --name=swap --size=1024
logvol none --vgname=vg0 --name=pool --thinpool --size=2048 --grow
logvol /home --vgname=vg0 --name=home --thin --poolname=pool --size=1024 --grow --fstype=ext4
";

const CASES: &[Case] = &[
    // autopart defaults, firmware, sizes and sector sizes
    case(
        "plain bios",
        "autopart",
        Bios,
        &["vda:20G"],
        Layout(&["vda new: 1 bios 1M | 2 /boot xfs 2048M | 3 / xfs 18429M"]),
    ),
    case(
        "plain uefi",
        "autopart --type=plain",
        Uefi,
        &["vda:20G"],
        Layout(&["vda new: 1 /boot/efi vfat 600M | 2 /boot xfs 2048M | 3 / xfs 17830M"]),
    ),
    case(
        "btrfs uefi",
        "autopart --type=btrfs",
        Uefi,
        &["vda:20G"],
        Layout(&[
            "vda new: 1 /boot/efi vfat 600M | 2 /boot ext4 2048M | 3 btrfs root@/ home@/home 17830M",
        ]),
    ),
    case(
        "btrfs nohome",
        "autopart --type=btrfs --nohome",
        Bios,
        &["vda:20G"],
        Layout(&["vda new: 1 bios 1M | 2 /boot ext4 2048M | 3 btrfs root@/ 18429M"]),
    ),
    case(
        "noboot ext4",
        "autopart --noboot --fstype=ext4 --noswap",
        Bios,
        &["vda:20G"],
        Layout(&["vda new: 1 bios 1M | 2 / ext4 20477M"]),
    ),
    case(
        "8 GiB 4K sectors",
        "autopart",
        Uefi,
        &["sda:8G:4k"],
        Layout(&["sda new: 1 /boot/efi vfat 600M | 2 /boot xfs 2048M | 3 / xfs 5542M"]),
    ),
    case(
        "16 TiB",
        "autopart",
        Bios,
        &["sda:16T"],
        Layout(&["sda new: 1 bios 1M | 2 /boot xfs 2048M | 3 / xfs 16775165M"]),
    ),
    case(
        "16 TiB 4K uefi",
        "autopart",
        Uefi,
        &["sda:16T:4k"],
        Layout(&["sda new: 1 /boot/efi vfat 600M | 2 /boot xfs 2048M | 3 / xfs 16774566M"]),
    ),
    // which disk
    case(
        "first disk only",
        "autopart",
        Bios,
        &["vda:20G", "vdb:40G"],
        Layout(&["vda new: 1 bios 1M | 2 /boot xfs 2048M | 3 / xfs 18429M"]),
    ),
    case(
        "only-use",
        "ignoredisk --only-use=vdb\nautopart",
        Bios,
        &["vda:20G", "vdb:40G"],
        Layout(&["vdb new: 1 bios 1M | 2 /boot xfs 2048M | 3 / xfs 38909M"]),
    ),
    case(
        "only-use by-id",
        "ignoredisk --only-use=/dev/disk/by-id/virtio-vdb-serial\nautopart",
        Bios,
        &["vda:20G", "vdb:40G"],
        Layout(&["vdb new: 1 bios 1M | 2 /boot xfs 2048M | 3 / xfs 38909M"]),
    ),
    case(
        "only-use alternatives",
        "ignoredisk --only-use=nvme0n1|vdb\nautopart",
        Bios,
        &["vda:20G", "vdb:40G"],
        Layout(&["vdb new: 1 bios 1M | 2 /boot xfs 2048M | 3 / xfs 38909M"]),
    ),
    case(
        "only-use glob",
        "ignoredisk --only-use=vd[b-z]\nautopart",
        Bios,
        &["vda:20G", "vdb:40G"],
        Layout(&["vdb new: 1 bios 1M | 2 /boot xfs 2048M | 3 / xfs 38909M"]),
    ),
    case(
        "ignoredisk drives",
        "ignoredisk --drives=vda\nautopart",
        Bios,
        &["vda:20G", "vdb:40G"],
        Layout(&["vdb new: 1 bios 1M | 2 /boot xfs 2048M | 3 / xfs 38909M"]),
    ),
    case(
        "boot-drive",
        "bootloader --boot-drive=vdb\nautopart",
        Bios,
        &["vda:20G", "vdb:40G"],
        Layout(&["vdb new: 1 bios 1M | 2 /boot xfs 2048M | 3 / xfs 38909M"]),
    ),
    case(
        "skips removable",
        "autopart",
        Bios,
        &["sda:16G:removable", "vda:20G"],
        Layout(&["vda new: 1 bios 1M | 2 /boot xfs 2048M | 3 / xfs 18429M"]),
    ),
    case(
        "skips boot medium",
        "clearpart --all\nautopart",
        Bios,
        &["sda:4G:boot", "vda:20G"],
        Layout(&["vda new: 1 bios 1M | 2 /boot xfs 2048M | 3 / xfs 18429M"]),
    ),
    case(
        "removable when named",
        "ignoredisk --only-use=sda\nautopart",
        Bios,
        &["sda:16G:removable", "vda:20G"],
        Layout(&["sda new: 1 bios 1M | 2 /boot xfs 2048M | 3 / xfs 14333M"]),
    ),
    case(
        "only removable",
        "autopart",
        Bios,
        &["sda:16G:removable"],
        Error(&[
            "no disk to install to",
            "every disk is removable",
            "sda (16 GiB, removable)",
        ]),
    ),
    case(
        "boot medium named",
        "ignoredisk --only-use=sda\nautopart",
        Bios,
        &["sda:4G:boot", "vda:20G"],
        Error(&["names sda", "the medium the installer booted from"]),
    ),
    case(
        "install medium on a fixed disk skipped by clearpart --all",
        "zerombr\nclearpart --all --initlabel\nautopart",
        Bios,
        &["vda:1G:medium", "vdb:20G"],
        Layout(&["vdb new: 1 bios 1M | 2 /boot xfs 2048M | 3 / xfs 18429M"]),
    ),
    case(
        "install medium the only disk",
        "clearpart --all\nautopart",
        Uefi,
        &["vda:8G:medium"],
        Error(&[
            "no disk to install to",
            "vda (8 GiB, installer boot medium)",
        ]),
    ),
    case(
        "install medium named by ondisk",
        "clearpart --all\nreqpart\npart / --grow --ondisk=vda",
        Uefi,
        &["vda:1G:medium", "vdb:20G"],
        Error(&[
            "part / --ondisk names vda",
            "the medium the installer booted from",
        ]),
    ),
    case(
        "install medium named by clearpart --drives",
        "clearpart --all --drives=vda\nautopart",
        Uefi,
        &["vda:1G:medium", "vdb:20G"],
        Error(&[
            "clearpart --drives names vda",
            "the medium the installer booted from",
        ]),
    ),
    case(
        "install medium named by only-use",
        "ignoredisk --only-use=vda,vdb\nautopart",
        Uefi,
        &["vda:1G:medium", "vdb:20G"],
        Error(&["ignoredisk --only-use names vda", "never an install target"]),
    ),
    case(
        "unknown drive",
        "ignoredisk --only-use=nvme0n1\nautopart",
        Bios,
        &["vda:20G", "vdb:8G"],
        Error(&[
            "ignoredisk --only-use: no disk matches \"nvme0n1\"",
            "disks seen: vda (20 GiB), vdb (8 GiB)",
        ]),
    ),
    case(
        "no disks",
        "autopart",
        Bios,
        &[],
        Error(&["no disks were found", "disks seen: none"]),
    ),
    // clearing
    case(
        "clear all",
        "clearpart --all --initlabel\nautopart",
        Bios,
        &["vda:20G:gpt=xfs,swap"],
        Layout(&["vda erase: 1 bios 1M | 2 /boot xfs 2048M | 3 / xfs 18429M"]),
    ),
    case(
        "clear all disks",
        "clearpart --all\nautopart",
        Bios,
        &["vda:20G", "vdb:20G:gpt=xfs", "vdc:20G"],
        Layout(&[
            "vda new: 1 bios 1M | 2 /boot xfs 2048M | 3 / xfs 18429M",
            "vdb erase: ",
        ]),
    ),
    case(
        "four disks",
        "clearpart --all --drives=sda,sdb,sdc,sdd\nautopart",
        Uefi,
        &[
            "sda:2T:gpt=xfs",
            "sdb:2T:gpt=ext4",
            "sdc:2T",
            "sdd:2T:mbr=xfs",
        ],
        Layout(&[
            "sda erase: 1 /boot/efi vfat 600M | 2 /boot xfs 2048M | 3 / xfs 2094502M",
            "sdb erase: ",
            "sdd erase: ",
        ]),
    ),
    case(
        "no clearpart",
        "autopart",
        Bios,
        &["vda:20G:gpt=xfs"],
        Error(&[
            "disk vda already has partitions (gpt: 1 xfs 1 GiB)",
            "there is no clearpart command",
        ]),
    ),
    case(
        "clearpart none",
        "clearpart --none\nautopart",
        Bios,
        &["vda:20G:gpt=xfs,ext4"],
        Error(&[
            "disk vda already has partitions",
            "clearpart --none keeps them",
        ]),
    ),
    case(
        "clearpart other disk",
        "clearpart --all --drives=vdb\nautopart",
        Bios,
        &["vda:20G:gpt=xfs", "vdb:20G"],
        Error(&[
            "disk vda already has partitions",
            "clearpart --drives does not include it",
        ]),
    ),
    case(
        "clear linux keeps windows",
        "clearpart --linux\nautopart",
        Bios,
        &["vda:20G:gpt=ntfs,xfs"],
        Layout(&["vda keep 1: 2 bios 1M | 3 /boot xfs 2048M | 4 / xfs 17405M"]),
    ),
    case(
        "clear list",
        "clearpart --list=vda2\nautopart",
        Bios,
        &["vda:20G:gpt=xfs,xfs"],
        Layout(&["vda keep 1: 2 bios 1M | 3 /boot xfs 2048M | 4 / xfs 17405M"]),
    ),
    case(
        "clear list unknown",
        "clearpart --list=vda7\nautopart",
        Bios,
        &["vda:20G:gpt=xfs"],
        Error(&["clearpart --list names vda7, which is not a partition (partitions seen: vda1)"]),
    ),
    case(
        "clear linux on mbr",
        "clearpart --linux\nautopart",
        Bios,
        &["vda:20G:mbr=ntfs,xfs"],
        Error(&["MBR (msdos) partition table with partitions to keep (1 ntfs 1 GiB)"]),
    ),
    case(
        "whole-disk fs needs zerombr",
        "autopart",
        Bios,
        &["vda:20G:wholefs=xfs"],
        Error(&["disk vda has xfs on the whole disk and no usable partition table; add `zerombr`"]),
    ),
    case(
        "zerombr",
        "zerombr\nautopart",
        Bios,
        &["vda:20G:wholefs=xfs"],
        Layout(&["vda erase: 1 bios 1M | 2 /boot xfs 2048M | 3 / xfs 18429M"]),
    ),
    case(
        "bad table",
        "autopart",
        Bios,
        &["vda:20G:badtable"],
        Error(&[
            "unreadable partition table (GPT signature but bad CRC)",
            "zerombr",
        ]),
    ),
    case(
        "mbr disklabel",
        "clearpart --all --disklabel=msdos\nautopart",
        Bios,
        &["vda:20G"],
        Error(&["--disklabel=msdos: only gpt is supported"]),
    ),
    case(
        "busy",
        "clearpart --all\nautopart",
        Bios,
        &["vda:20G:busy"],
        Error(&["names vda, which cannot be used: vda1 is mounted at /srv"]),
    ),
    case(
        "read-only",
        "autopart",
        Bios,
        &["vda:20G:ro"],
        Error(&["it is read-only"]),
    ),
    // LVM, thin pools, LUKS
    case(
        "lvm bios",
        "autopart --type=lvm",
        Bios,
        &["vda:20G"],
        Layout(&[
            "vda new: 1 bios 1M | 2 /boot xfs 2048M | 3 pv(kickstand) 18429M",
            "vg kickstand 18428M: root / xfs 18424M",
        ]),
    ),
    case(
        "lvm big disk gets home",
        "autopart --type=lvm",
        Uefi,
        &["vda:200G"],
        Layout(&[
            "vda new: 1 /boot/efi vfat 600M | 2 /boot xfs 2048M | 3 pv(kickstand) 202150M",
            "vg kickstand 202148M: root / xfs 71680M | home /home xfs 130464M",
        ]),
    ),
    case(
        "lvm nohome ext4",
        "autopart --type=lvm --nohome --fstype=ext4",
        Uefi,
        &["vda:200G"],
        Layout(&[
            "vda new: 1 /boot/efi vfat 600M | 2 /boot ext4 2048M | 3 pv(kickstand) 202150M",
            "vg kickstand 202148M: root / ext4 71680M",
        ]),
    ),
    case(
        "thinp",
        "autopart --type=thinp",
        Bios,
        &["vda:20G"],
        Layout(&[
            "vda new: 1 bios 1M | 2 /boot xfs 2048M | 3 pv(kickstand) 18429M",
            "vg kickstand 18428M: pool pool00 18384M | root thin / xfs 18384M",
        ]),
    ),
    case(
        "encrypted lvm",
        "autopart --type=lvm --encrypted --passphrase=secret",
        Bios,
        &["vda:20G"],
        Layout(&[
            "vda new: 1 bios 1M | 2 /boot xfs 2048M | 3 luks2(pv(kickstand)) 18429M",
            "vg kickstand 18412M: root / xfs 18408M",
        ]),
    ),
    case(
        "encrypted plain",
        "autopart --encrypted --passphrase=secret --luks-version=luks1",
        Uefi,
        &["vda:20G"],
        Layout(&["vda new: 1 /boot/efi vfat 600M | 2 /boot xfs 2048M | 3 luks1(/ xfs) 17830M"]),
    ),
    case(
        "encrypted without passphrase",
        "autopart --type=lvm --encrypted",
        Bios,
        &["vda:20G"],
        Error(&[
            "autopart --encrypted needs --passphrase",
            "nothing was written",
        ]),
    ),
    case(
        "lvm noboot on bios",
        "autopart --type=lvm --noboot",
        Bios,
        &["vda:20G"],
        Error(&["GRUB reads the kernel from a plain /boot partition"]),
    ),
    case(
        "encrypted part",
        "reqpart\npart /boot --size=1024\npart / --grow --encrypted --passphrase=x",
        Bios,
        &["vda:20G"],
        Layout(&["vda new: 1 bios 1M | 2 /boot xfs 1024M | 3 luks2(/ xfs) 19453M"]),
    ),
    case(
        "encrypted boot part",
        "reqpart\npart /boot --size=1024 --encrypted --passphrase=x\npart / --grow",
        Bios,
        &["vda:20G"],
        Error(&["part /boot --encrypted: the firmware and boot loader read this partition"]),
    ),
    case(
        "lvm too small",
        "autopart --type=lvm --noboot",
        Uefi,
        &["vda:1G"],
        Error(&["disk vda is 1 GiB"]),
    ),
    // manual LVM: part pv.N, volgroup, logvol
    case(
        "manual lvm thin",
        MANUAL_LVM,
        Uefi,
        &["vda:20G"],
        Layout(&[
            "vda new: 1 /boot/efi vfat 600M | 2 /boot xfs 1024M | 3 pv(vg0) 18854M",
            "vg vg0 18852M: pool pool 9608M | root / xfs 8192M | swap swap 1024M | home thin /home ext4 9608M",
        ]),
    ),
    case(
        "manual lvm two disks",
        "reqpart\npart /boot --size=1024\npart pv.01 --grow --ondisk=vda\n\
         part pv.02 --size=5000 --ondisk=vdb --encrypted --passphrase=x\n\
         volgroup data pv.01 pv.02 --pesize=16384 --reserved-percent=10\n\
         logvol / --vgname=data --name=root --percent=50\n\
         logvol /srv --vgname=data --name=srv --size=1000 --grow --fstype=ext4",
        Bios,
        &["vda:10G", "vdb:10G"],
        Layout(&[
            "vda new: 1 bios 1M | 2 /boot xfs 1024M | 3 pv(data) 9213M",
            "vdb new: 1 luks2(pv(data)) 5000M",
            "vg data 14176M: root / xfs 5856M | srv /srv ext4 6880M",
        ]),
    ),
    case(
        "manual lvm too big",
        "reqpart\npart /boot --size=1024\npart pv.01 --size=4000\nvolgroup vg0 pv.01\n\
         logvol / --vgname=vg0 --name=root --size=3000\n\
         logvol swap --vgname=vg0 --name=swap --size=2000",
        Uefi,
        &["vda:20G"],
        Error(&[
            "volume group vg0 has 3.8 GiB for logical volumes",
            "1008 MiB too much: root 2.9 GiB + swap 1.9 GiB",
            "(test.ks:4:1)",
        ]),
    ),
    case(
        "manual lvm boot on bios",
        "reqpart\npart pv.01 --grow\nvolgroup vg0 pv.01\n\
         logvol / --vgname=vg0 --name=root --size=3000",
        Bios,
        &["vda:20G"],
        Error(&["logvol / without a /boot partition", "(test.ks:4:1)"]),
    ),
    case(
        "raid member no array uses",
        "part raid.01 --size=1000\npart / --grow",
        Bios,
        &["vda:20G"],
        Error(&[
            "part raid.01: no raid command uses this member",
            "(test.ks:1:1)",
        ]),
    ),
    // part layouts
    case(
        "multi-disk part",
        MULTI_DISK,
        Bios,
        &["vda:20G", "vdb:10G"],
        Layout(&[
            "vda new: 1 bios 1M | 2 /boot ext4 1024M | 3 / xfs 15360M | 4 swap 2048M",
            "vdb new: 1 /home xfs 6142M | 2 /var ext4 4096M",
        ]),
    ),
    case(
        "reqpart uefi",
        "reqpart\npart / --grow",
        Uefi,
        &["vda:20G"],
        Layout(&["vda new: 1 /boot/efi vfat 600M | 2 / xfs 19878M"]),
    ),
    case(
        "reqpart add-boot",
        "reqpart --add-boot\npart / --grow --fstype=ext4",
        Bios,
        &["vda:20G"],
        Layout(&["vda new: 1 bios 1M | 2 /boot xfs 2048M | 3 / ext4 18429M"]),
    ),
    case(
        "recommended swap",
        "reqpart\npart swap --recommended\npart / --grow",
        Bios,
        &["vda:20G"],
        Layout(&["vda new: 1 bios 1M | 2 swap 4096M | 3 / xfs 16381M"]),
    ),
    case(
        "location none",
        "bootloader --location=none\npart / --grow",
        Bios,
        &["vda:20G"],
        Layout(&["vda new: 1 / xfs 20478M"]),
    ),
    case(
        "esp by part",
        "part /boot/efi --size=512\npart / --size=8000 --grow --maxsize=9000",
        Uefi,
        &["vda:20G"],
        Layout(&["vda new: 1 /boot/efi vfat 512M | 2 / xfs 9000M"]),
    ),
    case(
        "bios needs biosboot",
        "part / --grow",
        Bios,
        &["vda:20G"],
        Error(&[
            "BIOS firmware needs a BIOS boot partition",
            "part biosboot --fstype=biosboot --size=1",
        ]),
    ),
    case(
        "uefi needs esp",
        "part / --grow",
        Uefi,
        &["vda:20G"],
        Error(&["UEFI firmware needs an EFI System Partition", "reqpart"]),
    ),
    case(
        "no root",
        "reqpart\npart /home --grow",
        Bios,
        &["vda:20G"],
        Error(&["no partition is mounted at / (root)"]),
    ),
    case(
        "too big",
        "reqpart\npart / --size=100000",
        Bios,
        &["vda:20G"],
        Error(&[
            "disk vda is 20 GiB (19.9 GiB usable for partitions) but the layout needs at least 97.6 GiB: BIOS boot 1 MiB + part / 97.6 GiB",
        ]),
    ),
    case(
        "too big 4 parts",
        "reqpart\npart / --size=8000\npart /var --size=8000\npart /home --size=8000",
        Bios,
        &["vda:20G"],
        Error(&[
            "needs at least 23.4 GiB: BIOS boot 1 MiB + part / 7.8 GiB + part /var 7.8 GiB + part /home 7.8 GiB",
        ]),
    ),
    case(
        "below xfs minimum",
        "reqpart\npart /data --size=100\npart / --grow",
        Bios,
        &["vda:20G"],
        Error(&["part /data (test.ks:2:1) gets 100 MiB but xfs needs at least 300 MiB"]),
    ),
    case(
        "no size",
        "reqpart\npart /data\npart / --grow",
        Bios,
        &["vda:20G"],
        Error(&["part /data (test.ks:2:1) has no size: give --size=MiB, --grow"]),
    ),
    case(
        "grow with nothing left",
        "reqpart\npart /big --size=20477\npart / --grow",
        Bios,
        &["vda:20G"],
        Error(&["but the layout needs at least", "part / 300 MiB"]),
    ),
    case(
        "bad fstype",
        "reqpart\npart / --grow --fstype=ntfs",
        Bios,
        &["vda:20G"],
        Error(&["part / --fstype=ntfs: expected xfs, ext4"]),
    ),
    case(
        "label too long",
        "reqpart\npart / --grow --label=a-very-long-label",
        Bios,
        &["vda:20G"],
        Error(&["xfs labels hold at most 12 characters"]),
    ),
    case(
        "ondisk ignored",
        "ignoredisk --drives=vdb\nreqpart\npart / --grow --ondisk=vdb",
        Bios,
        &["vda:20G", "vdb:20G"],
        Error(&["part / --ondisk names vdb", "ignoredisk excludes it"]),
    ),
    case(
        "ondisk unknown",
        "reqpart\npart / --grow --ondisk=sdq",
        Bios,
        &["vda:20G"],
        Error(&["part / --ondisk: no disk matches \"sdq\""]),
    ),
    case(
        "raid1 boot and root on two disks, bios",
        RAID1_BIOS,
        Bios,
        &["vda:20G", "vdb:20G"],
        Layout(&[
            "vda new: 1 bios 1M | 2 md(boot) 512M | 3 md(root) 19965M",
            "vdb new: 1 bios 1M | 2 md(boot) 512M | 3 md(root) 19965M",
            "md boot RAID1 1.0 510M [vda2 vdb2]: /boot ext4",
            "md root RAID1 1.2 19948M [vda3 vdb3]: / xfs",
        ]),
    ),
    case(
        "raid1 esp, raid5 root, uefi",
        "clearpart --all --initlabel\n\
         part raid.e1 --size=600 --ondisk=vda\npart raid.e2 --size=600 --ondisk=vdb\n\
         part raid.1 --size=4000 --ondisk=vda\npart raid.2 --size=4000 --ondisk=vdb\n\
         part raid.3 --size=3000 --ondisk=vdc\n\
         raid /boot/efi --level=1 --device=esp raid.e1 raid.e2\n\
         raid / --level=5 --device=md0 --fstype=ext4 raid.1 raid.2 raid.3\n",
        Uefi,
        &["vda:20G", "vdb:20G", "vdc:20G"],
        Layout(&[
            "vda new: 1 md(esp) 600M | 2 md(md0) 4000M",
            "vdb new: 1 md(esp) 600M | 2 md(md0) 4000M",
            "vdc new: 1 md(md0) 3000M",
            "md esp RAID1 1.0 598M [vda1 vdb1]: /boot/efi vfat",
            "md md0 RAID5 1.2 5994M [vda2 vdb2 vdc1]: / ext4",
        ]),
    ),
    case(
        "raid members on one disk",
        "reqpart\npart raid.01 --size=1000\npart raid.02 --size=1000\n\
         raid / --level=1 --device=md0 raid.01 raid.02\n",
        Bios,
        &["vda:20G", "vdb:20G"],
        Error(&[
            "raid / --device=md0: members raid.01 and raid.02 are both on disk vda",
            "(test.ks:4:1)",
            "--ondisk",
        ]),
    ),
    case(
        "raid boot not raid1",
        "reqpart\npart raid.01 --size=1000 --ondisk=vda\npart raid.02 --size=1000 --ondisk=vdb\n\
         part / --size=4000\nraid /boot --level=0 --device=boot raid.01 raid.02\n",
        Bios,
        &["vda:20G", "vdb:20G"],
        Error(&[
            "raid /boot --device=boot --level=0: /boot on RAID must be RAID1",
            "(test.ks:5:1)",
        ]),
    ),
    case(
        "raid unused member",
        "reqpart\npart raid.01 --size=1000 --ondisk=vda\npart raid.02 --size=1000 --ondisk=vdb\n\
         part raid.03 --size=1000 --ondisk=vdb\nraid / --level=1 --device=md0 raid.01 raid.02\n",
        Bios,
        &["vda:20G", "vdb:20G"],
        Error(&[
            "part raid.03: no raid command uses this member",
            "(test.ks:4:1)",
        ]),
    ),
    case(
        "raid boot without a bios boot partition on the second disk",
        "part biosboot --fstype=biosboot --size=1 --ondisk=vda\n\
         part raid.01 --size=1000 --ondisk=vda\npart raid.02 --size=1000 --ondisk=vdb\n\
         part / --size=4000\nraid /boot --level=1 --device=boot raid.01 raid.02\n",
        Bios,
        &["vda:20G", "vdb:20G"],
        Error(&[
            "RAID device boot holds /boot on disks vda, vdb",
            "part biosboot --fstype=biosboot --size=1 --ondisk=vdb",
            "(test.ks:5:1)",
        ]),
    ),
    case(
        "raid too small for xfs",
        "reqpart\npart raid.01 --size=100 --ondisk=vda\npart raid.02 --size=200 --ondisk=vdb\n\
         part /boot --size=500\nraid / --level=1 --device=md0 raid.01 raid.02\n",
        Bios,
        &["vda:20G", "vdb:20G"],
        Error(&[
            "raid / --device=md0 (RAID1 of 2 × 100 MiB)",
            "(test.ks:5:1)",
            "xfs needs at least 300 MiB",
        ]),
    ),
    case(
        "nothing to do",
        "clearpart --all",
        Bios,
        &["vda:20G"],
        Error(&["no storage layout: add `autopart` or `part`"]),
    ),
];

const IMAGE_CASES: &[Case] = &[
    Case {
        image_gib: Some(4),
        ..case(
            "image fits",
            "autopart",
            Bios,
            &["vda:20G"],
            Layout(&["vda new: 1 bios 1M | 2 /boot xfs 2048M | 3 / xfs 18429M"]),
        )
    },
    Case {
        image_gib: Some(3),
        ..case(
            "image too big for autopart",
            "autopart",
            Bios,
            &["vda:8G"],
            Error(&["disk vda is 8 GiB", "/ (3 × image 3 GiB) 9 GiB"]),
        )
    },
    Case {
        image_gib: Some(2),
        ..case(
            "image too big for part",
            "reqpart\npart / --size=5000",
            Bios,
            &["vda:20G"],
            Error(&[
                "the root filesystem is 4.8 GiB but the image needs at least 6 GiB (2 GiB compressed × 3)",
            ]),
        )
    },
];

fn check(c: &Case) -> Result<(), String> {
    let request = ks(c.ks);
    let hardware = hw(c.fw, c.disks);
    let image = ImageFacts {
        compressed_size: c.image_gib.map(|g| g * GIB),
        ..ImageFacts::default()
    };
    let got = plan_request(&request, &hardware, &image);
    match (&c.want, got) {
        (Layout(want), Ok(plan)) => {
            let got = summary(&plan);
            if got != *want {
                return Err(format!("layout\n  want {want:#?}\n  got  {got:#?}"));
            }
            // Every plan renders, and the report names what it erases.
            let text = report::render(&plan);
            for d in plan.disks.iter().filter(|d| d.erases_data()) {
                if !text.contains(&d.description) {
                    return Err(format!(
                        "report does not name erased disk {}:\n{text}",
                        d.name
                    ));
                }
            }
            // Partitions are aligned, inside the disk and do not overlap.
            for d in &plan.disks {
                let mut end = 0;
                for p in &d.partitions {
                    if p.start % (1 << 20) != 0 || p.size % (1 << 20) != 0 || p.start < end {
                        return Err(format!("{}: partition {} misplaced", d.name, p.number));
                    }
                    end = p.start + p.size;
                }
                if end + d.sector_size + 16384 > d.size {
                    return Err(format!("{}: partitions overlap the backup GPT", d.name));
                }
            }
            Ok(())
        }
        (Layout(_), Err(e)) => Err(format!("unexpected error: {e}")),
        (Error(_), Ok(plan)) => Err(format!("expected an error, got {:#?}", summary(&plan))),
        (Error(parts), Err(e)) => {
            let text = e.to_string();
            match parts.iter().find(|p| !text.contains(*p)) {
                Some(missing) => Err(format!("error lacks {missing:?}:\n  {text}")),
                None => Ok(()),
            }
        }
    }
}

#[test]
fn planner_table() {
    let failures: Vec<String> = CASES
        .iter()
        .chain(IMAGE_CASES)
        .filter_map(|c| check(c).err().map(|e| format!("case {:?}: {e}", c.name)))
        .collect();
    assert!(
        failures.is_empty(),
        "{} failing:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn planning_is_deterministic() {
    let request = ks(MULTI_DISK);
    let hardware = hw(Bios, &["vda:20G", "vdb:10G"]);
    let a = plan_request(&request, &hardware, &ImageFacts::default()).unwrap();
    let b = plan_request(&request, &hardware, &ImageFacts::default()).unwrap();
    assert_eq!(a, b);
}

#[test]
fn dry_run_report_is_a_table_and_names_erased_disks() {
    let request = ks("clearpart --all\nautopart --type=btrfs");
    let hardware = hw(
        Uefi,
        &[
            "vda:20G:gpt=xfs,swap",
            "vdb:20G:mbr=ntfs",
            "sdc:16G:removable",
        ],
    );
    let plan = plan_request(&request, &hardware, &ImageFacts::default()).unwrap();
    let text = report::render(&plan);
    assert!(text.contains("Storage plan for UEFI firmware"), "{text}");
    assert!(text.contains("#  START    SIZE      TYPE"), "{text}");
    assert!(text.contains("1  1 MiB    600 MiB   EFI System"), "{text}");
    assert!(
        text.contains("/ (subvolume root), /home (subvolume home)"),
        "{text}"
    );
    assert!(text.contains("These disks will be erased:"), "{text}");
    assert!(
        text.contains("vda (20 GiB): everything on it is erased (gpt with 2 partitions (1 xfs 1 GiB, 2 swap 1 GiB))"),
        "{text}"
    );
    assert!(
        text.contains("vdb (20 GiB): everything on it is erased (msdos with 1 partition"),
        "{text}"
    );
    assert!(
        text.contains("Left untouched: sdc (16 GiB, removable)"),
        "{text}"
    );
}

#[test]
fn dry_run_report_names_volumes_and_luks_but_not_the_passphrase() {
    let request = ks("clearpart --all\nautopart --type=thinp --encrypted --passphrase=hunter2xyz");
    let plan = plan_request(&request, &hw(Bios, &["vda:20G"]), &ImageFacts::default()).unwrap();
    let text = report::render(&plan);
    for want in [
        "LUKS2, aes-xts-plain64 → LVM PV",
        "LVM volume group kickstand — ",
        "vda partition 3 (in LUKS device luks-<UUID>)",
        "pool00",
        "thin pool (metadata",
        "/dev/mapper/kickstand-root",
    ] {
        assert!(text.contains(want), "{want:?} missing:\n{text}");
    }
    assert!(!text.contains("hunter2xyz"), "{text}");
    assert!(!format!("{plan:?}").contains("hunter2xyz"));
}

#[test]
fn dry_run_report_lists_the_md_arrays_and_every_boot_disk() {
    let plan = plan_request(
        &ks(RAID1_BIOS),
        &hw(Bios, &["vda:20G", "vdb:20G"]),
        &ImageFacts::default(),
    )
    .unwrap();
    let text = report::render(&plan);
    for want in [
        "Software RAID (md) arrays",
        "/dev/md/boot  RAID1",
        "1.0       vda2 vdb2",
        "/dev/md/root  RAID1",
        "md member",
        "(RAID device root, raid.11)",
        "Boot loader: on vda, vdb",
    ] {
        assert!(text.contains(want), "{want:?} missing:\n{text}");
    }
    assert_eq!(plan.boot_disks(), ["vda", "vdb"]);
}

#[test]
fn dry_run_report_shows_a_manual_volume_group() {
    let plan = plan_request(
        &ks(MANUAL_LVM),
        &hw(Uefi, &["vda:20G"]),
        &ImageFacts::default(),
    )
    .unwrap();
    let text = report::render(&plan);
    for want in [
        "Linux LVM         LVM PV      (volume group vg0)",
        "LVM volume group vg0 — ",
        "4 MiB extents, on vda partition 3",
        "thin pool (metadata",
        "(thin in pool)",
        "/dev/mapper/vg0-root",
        "/dev/mapper/vg0-home         ext4        /home",
        "/dev/mapper/vg0-swap         swap        swap",
    ] {
        assert!(text.contains(want), "{want:?} missing:\n{text}");
    }
}
