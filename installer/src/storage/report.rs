//! The dry-run view of a [`StoragePlan`]: a table per disk and, in words, what is erased.

use super::layout::{Content, ImageCheck, StoragePlan, TableAction, VolumeGroup};
use super::select::describe_partitions;
use crate::units::human;
use std::fmt::Write;

/// Renders the plan for people (`install --dry-run`).
pub fn render(plan: &StoragePlan) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Storage plan for {} firmware", plan.firmware);
    for disk in &plan.disks {
        let table = match &disk.table {
            TableAction::New { .. } => "new GPT partition table".to_string(),
            TableAction::Edit { kept, .. } => {
                format!(
                    "GPT edited, keeping partitions {}",
                    numbers(kept.iter().map(|p| p.number))
                )
            }
        };
        let _ = writeln!(
            out,
            "\nDisk {} — {}, {}-byte sectors: {table}",
            disk.path.display(),
            disk.description,
            disk.sector_size
        );
        if disk.partitions.is_empty() {
            let _ = writeln!(out, "  (no new partitions)");
            continue;
        }
        let mut rows = vec![[
            "#".to_string(),
            "START".into(),
            "SIZE".into(),
            "TYPE".into(),
            "FILESYSTEM".into(),
            "MOUNT POINT".into(),
            "LABEL".into(),
        ]];
        for p in &disk.partitions {
            let (fs, mount, label) = cells(&p.content);
            rows.push([
                p.number.to_string(),
                human(p.start),
                human(p.size),
                super::guid::describe(p.type_guid).to_string(),
                fs,
                mount,
                label.unwrap_or_else(|| "-".into()),
            ]);
        }
        print_table(&mut out, &rows);
    }
    if !plan.md_arrays.is_empty() {
        md_arrays(&mut out, plan);
    }
    for vg in &plan.volume_groups {
        volume_group(&mut out, plan, vg);
    }
    let erased: Vec<String> = plan
        .disks
        .iter()
        .filter(|d| d.erases_data())
        .map(|d| match &d.table {
            TableAction::New { erases } => format!(
                "{}: everything on it is erased ({})",
                d.description,
                erases.as_deref().unwrap_or("it is empty")
            ),
            TableAction::Edit { kept, removed } => format!(
                "{}: partitions {} are erased; {} are kept",
                d.description,
                describe_partitions(removed),
                describe_partitions(kept)
            ),
        })
        .collect();
    if erased.is_empty() {
        let _ = writeln!(out, "\nNo existing data is erased.");
    } else {
        let _ = writeln!(out, "\nThese disks will be erased:");
        for e in erased {
            let _ = writeln!(out, "  - {e}");
        }
    }
    let blank: Vec<&str> = plan
        .disks
        .iter()
        .filter(|d| !d.erases_data())
        .map(|d| d.name.as_str())
        .collect();
    if !blank.is_empty() {
        let _ = writeln!(out, "Blank disks written: {}", blank.join(", "));
    }
    if plan.untouched.is_empty() {
        let _ = writeln!(out, "No other disk was seen.");
    } else {
        let _ = writeln!(out, "Left untouched: {}", plan.untouched.join(", "));
    }
    match &plan.boot_disk {
        Some(_) => {
            let location = format!("{:?}", plan.boot_location).to_lowercase();
            let _ = writeln!(
                out,
                "Boot loader: on {} (bootloader --location={location})",
                plan.boot_disks().join(", ")
            );
        }
        None => {
            let _ = writeln!(out, "Boot loader: none (bootloader --location=none)");
        }
    }
    match &plan.image {
        ImageCheck::NotKnown => {
            let _ = writeln!(
                out,
                "Image: size not known yet (manifest not resolved); the root ({}) is not checked \
                 against it",
                plan.root_size().map_or_else(|| "-".into(), human)
            );
        }
        ImageCheck::Fits {
            compressed,
            needed,
            root,
        } => {
            let _ = writeln!(
                out,
                "Image: {} compressed, needs {} (×{}); root is {}",
                human(*compressed),
                human(*needed),
                super::plan::IMAGE_MARGIN,
                human(*root)
            );
        }
    }
    out
}

/// FILESYSTEM, MOUNT POINT and LABEL cells for a partition's or volume's content.
fn cells(content: &Content) -> (String, String, Option<String>) {
    match content {
        Content::BiosBoot => ("-".to_string(), "-".to_string(), None),
        Content::Swap { label, .. } => ("swap".into(), "swap".into(), label.clone()),
        Content::Filesystem(f) => {
            let mut mounts: Vec<String> = f.mount.iter().cloned().collect();
            mounts.extend(
                f.subvolumes
                    .iter()
                    .map(|s| format!("{} (subvolume {})", s.mount, s.name)),
            );
            (f.fstype.to_string(), mounts.join(", "), f.label.clone())
        }
        Content::PhysicalVolume { vg } => ("LVM PV".into(), format!("(volume group {vg})"), None),
        Content::RaidMember { array, member } => (
            "md member".into(),
            format!("(RAID device {array}, {member})"),
            None,
        ),
        Content::Encrypted { luks, inner } => {
            let (fs, mount, label) = cells(inner);
            (
                format!("{} → {fs}", super::luks::describe(luks)),
                mount,
                label,
            )
        }
    }
}

fn print_table<const N: usize>(out: &mut String, rows: &[[String; N]]) {
    let widths: Vec<usize> = (0..N)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        let _ = writeln!(out, "  {}", line.join("  ").trim_end());
    }
}

/// A volume group: its physical volumes, thin pool and logical volumes with their device names.
fn volume_group(out: &mut String, plan: &StoragePlan, vg: &VolumeGroup) {
    let pvs: Vec<String> = plan
        .disks
        .iter()
        .flat_map(|d| d.partitions.iter().map(move |p| (d, p)))
        .filter(|(_, p)| matches!(p.content.opened(), Content::PhysicalVolume { vg: v } if *v == vg.name))
        .map(|(d, p)| match &p.content {
            Content::Encrypted { .. } => {
                format!("{} partition {} (in LUKS device luks-<UUID>)", d.name, p.number)
            }
            _ => format!("{} partition {}", d.name, p.number),
        })
        .collect();
    let _ = writeln!(
        out,
        "
LVM volume group {} — {}, {} extents, on {}",
        vg.name,
        human(vg.size),
        human(vg.extent_size),
        pvs.join(", ")
    );
    let mut rows = vec![[
        "VOLUME".to_string(),
        "SIZE".into(),
        "DEVICE".into(),
        "FILESYSTEM".into(),
        "MOUNT POINT".into(),
        "LABEL".into(),
    ]];
    for pool in &vg.thin_pools {
        rows.push([
            pool.name.clone(),
            human(pool.size),
            format!("thin pool (metadata {})", human(pool.metadata_size)),
            "-".into(),
            "-".into(),
            "-".into(),
        ]);
    }
    for lv in &vg.volumes {
        let (fs, mount, label) = cells(&lv.content);
        let size = if let Some(pool) = &lv.thin_pool {
            format!("{} (thin in {pool})", human(lv.size))
        } else {
            human(lv.size)
        };
        rows.push([
            lv.name.clone(),
            size,
            format!("/dev/mapper/{}", vg.mapper_name(&lv.name)),
            fs,
            mount,
            label.unwrap_or_else(|| "-".into()),
        ]);
    }
    print_table(out, &rows);
}

/// The md arrays: level, size, metadata, node and members, and what goes onto each.
fn md_arrays(out: &mut String, plan: &StoragePlan) {
    let _ = writeln!(out, "\nSoftware RAID (md) arrays");
    let mut rows = vec![[
        "ARRAY".to_string(),
        "LEVEL".into(),
        "SIZE".into(),
        "METADATA".into(),
        "MEMBERS".into(),
        "FILESYSTEM".into(),
        "MOUNT POINT".into(),
        "LABEL".into(),
    ]];
    for a in &plan.md_arrays {
        let (fs, mount, label) = cells(&a.content);
        let mut members: Vec<String> = a
            .members
            .iter()
            .map(|m| format!("{}{}", m.disk, m.number))
            .collect();
        if a.spares > 0 {
            members.push(format!("({} spare)", a.spares));
        }
        rows.push([
            a.node().display().to_string(),
            a.level.name(),
            human(a.size),
            a.metadata.to_string(),
            members.join(" "),
            fs,
            mount,
            label.unwrap_or_else(|| "-".into()),
        ]);
    }
    print_table(out, &rows);
}

fn numbers(n: impl Iterator<Item = u32>) -> String {
    n.map(|n| n.to_string()).collect::<Vec<_>>().join(", ")
}
