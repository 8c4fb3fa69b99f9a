//! Shared helpers of the installer's integration tests: compact hardware descriptions and
//! plan summaries, so table-driven tests read as data.

#![allow(dead_code)]

use kickstand_installer::hardware::{
    Disk, ExistingPartition, Firmware, Hardware, Signature, TableKind,
};
use kickstand_installer::storage::{Content, StoragePlan, StorageRequest, TableAction};
use std::process::Command;

use kickstand_installer::units::{GIB, MIB, TIB};

/// Parses kickstart text into the planner's request through the grammar.
///
/// The grammar follows pykickstart's RHEL 10 handler, which refuses `autopart --type=btrfs`;
/// issue 4 wants it. Until the grammar accepts it, `--type=btrfs` is parsed as plain and the
/// request is switched to btrfs here, so the planner's btrfs layout is still tested.
pub fn ks(text: &str) -> StorageRequest {
    let btrfs = text.contains("--type=btrfs");
    let text = text.replace("--type=btrfs", "--type=plain");
    let parsed = kickstand_grammar::parse("test.ks", &text, &kickstand_grammar::NoIncludes);
    let errors: Vec<String> = parsed.errors().map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "kickstart errors: {errors:?}\n{text}");
    let mut request = kickstand_installer::storage::from_kickstart::request(&parsed.kickstart);
    if btrfs {
        request.autopart.as_mut().expect("autopart").kind =
            kickstand_installer::storage::request::AutoKind::Btrfs;
    }
    request
}

fn size(s: &str) -> u64 {
    let (n, unit) = s.split_at(s.len() - 1);
    let n: u64 = n.parse().unwrap_or_else(|_| panic!("bad size {s}"));
    match unit {
        "M" => n * MIB,
        "G" => n * GIB,
        "T" => n * TIB,
        _ => panic!("bad size {s}"),
    }
}

/// `"vda:20G"`, `"sda:8G:4k"`, `"sdb:16G:removable"`, `"sr:4G:boot"`, `"vdb:20G:gpt=xfs,swap"`
/// (existing GPT partitions of 1 GiB each with those signatures; `ntfs` makes a non-Linux one),
/// `"vdc:20G:mbr=xfs"`, `"vdd:20G:wholefs=xfs"`, `"vde:20G:busy"`, `"vdf:20G:ro"`,
/// `"vdb:1G:medium"` (the install medium on a fixed disk).
pub fn disk(spec: &str) -> Disk {
    let mut it = spec.split(':');
    let name = it.next().unwrap();
    let mut d = Disk {
        name: name.into(),
        path: format!("/dev/{name}").into(),
        size: size(it.next().unwrap()),
        logical_sector_size: 512,
        physical_sector_size: 512,
        by_id: vec![format!("disk/by-id/virtio-{name}-serial")],
        by_path: vec![format!(
            "disk/by-path/pci-0000:00:{:02x}.0",
            name.len() + name.as_bytes()[name.len() - 1] as usize % 16
        )],
        ..Disk::default()
    };
    for flag in it {
        let (key, value) = flag.split_once('=').unwrap_or((flag, ""));
        match key {
            "4k" => {
                d.logical_sector_size = 4096;
                d.physical_sector_size = 4096;
            }
            "removable" => d.removable = true,
            "boot" => {
                d.boot_medium = true;
                d.removable = true;
            }
            // The ISO dd'ed to a fixed disk, mounted by PID 1 as the install medium.
            "medium" => {
                d.boot_medium = true;
                d.in_use = Some(format!("{name} is mounted at /run/install/repo"));
                d.signatures.push(Signature {
                    kind: "iso9660",
                    label: Some("KS-ISO".into()),
                });
            }
            "busy" => d.in_use = Some(format!("{name}1 is mounted at /srv")),
            "ro" => d.read_only = true,
            "gpt" | "mbr" => {
                d.table = if key == "gpt" {
                    TableKind::Gpt
                } else {
                    TableKind::Msdos
                };
                for (i, fs) in value.split(',').enumerate() {
                    let linux = fs != "ntfs";
                    d.partitions.push(ExistingPartition {
                        number: i as u32 + 1,
                        start: MIB + i as u64 * GIB,
                        size: GIB,
                        type_id: match (key, linux) {
                            ("gpt", true) => "0fc63daf-8483-4772-8e79-3d69d8477de4".into(),
                            ("gpt", false) => "ebd0a0a2-b9e5-4433-87c0-68b6b72699c7".into(),
                            (_, true) => "0x83".into(),
                            (_, false) => "0x07".into(),
                        },
                        signature: Some(Signature {
                            kind: leak(fs),
                            label: None,
                        }),
                    });
                }
            }
            "wholefs" => d.signatures.push(Signature {
                kind: leak(value),
                label: None,
            }),
            "badtable" => d.table = TableKind::Unreadable("GPT signature but bad CRC".into()),
            other => panic!("unknown disk flag {other}"),
        }
    }
    d
}

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_string().into_boxed_str())
}

/// Hardware with the given disks, firmware and 8 GiB of memory.
pub fn hw(firmware: Firmware, disks: &[&str]) -> Hardware {
    Hardware {
        disks: disks.iter().map(|s| disk(s)).collect(),
        firmware,
        memory_bytes: 8 * GIB,
    }
}

/// One line per written disk: `vda new: 1 bios 1M | 2 /boot xfs 2048M | 3 / xfs 18429M`.
pub fn summary(plan: &StoragePlan) -> Vec<String> {
    plan.disks
        .iter()
        .map(|d| {
            let table = match &d.table {
                TableAction::New { erases: None } => "new".to_string(),
                TableAction::New { erases: Some(_) } => "erase".to_string(),
                TableAction::Edit { kept, .. } => format!(
                    "keep {}",
                    kept.iter()
                        .map(|p| p.number.to_string())
                        .collect::<Vec<_>>()
                        .join(",")
                ),
            };
            let parts: Vec<String> = d
                .partitions
                .iter()
                .map(|p| format!("{} {} {}M", p.number, content(&p.content), p.size / MIB))
                .collect();
            format!("{} {table}: {}", d.name, parts.join(" | "))
        })
        .chain(plan.volume_groups.iter().map(|vg| {
            let mut vols: Vec<String> = vg
                .thin_pools
                .iter()
                .map(|p| format!("pool {} {}M", p.name, p.size / MIB))
                .collect();
            vols.extend(vg.volumes.iter().map(|lv| {
                let thin = if lv.thin_pool.is_some() { " thin" } else { "" };
                format!(
                    "{}{thin} {} {}M",
                    lv.name,
                    content(&lv.content),
                    lv.size / MIB
                )
            }));
            format!("vg {} {}M: {}", vg.name, vg.size / MIB, vols.join(" | "))
        }))
        .chain(plan.md_arrays.iter().map(|a| {
            let members: Vec<String> = a
                .members
                .iter()
                .map(|m| format!("{}{}", m.disk, m.number))
                .collect();
            format!(
                "md {} {} {} {}M [{}]: {}",
                a.name,
                a.level.name(),
                a.metadata,
                a.size / MIB,
                members.join(" "),
                content(&a.content)
            )
        }))
        .collect()
}

/// `bios`, `swap`, `/boot xfs`, `btrfs root@/ home@/home`, `pv(vg)`, `md(array)`, `luks2(/ xfs)`.
fn content(c: &Content) -> String {
    match c {
        Content::BiosBoot => "bios".to_string(),
        Content::Swap { .. } => "swap".to_string(),
        Content::Filesystem(f) => {
            let mut s = match &f.mount {
                Some(m) => format!("{m} {}", f.fstype),
                None => f.fstype.to_string(),
            };
            for sv in &f.subvolumes {
                s.push_str(&format!(" {}@{}", sv.name, sv.mount));
            }
            s
        }
        Content::PhysicalVolume { vg } => format!("pv({vg})"),
        Content::RaidMember { array, .. } => format!("md({array})"),
        Content::Encrypted { luks, inner } => format!("{}({})", luks.version, content(inner)),
    }
}

/// Runs `program` (with no host mtools configuration), panicking with its output when it
/// fails; returns stdout and stderr.
pub fn sh(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .env("MTOOLSRC", "/dev/null")
        .env("MTOOLS_SKIP_CHECK", "1")
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{program} {args:?}: {}\n{text}",
        out.status
    );
    text
}
