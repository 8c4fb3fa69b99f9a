//! The dry-run view of a [`StoragePlan`]: a table per disk and, in words, what is erased.

use super::layout::{Content, ImageCheck, StoragePlan, TableAction};
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
            let (fs, mount, label) = match &p.content {
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
            };
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
        let widths: Vec<usize> = (0..7)
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
        Some(d) => {
            let location = format!("{:?}", plan.boot_location).to_lowercase();
            let _ = writeln!(
                out,
                "Boot loader: on {d} (bootloader --location={location})"
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

fn numbers(n: impl Iterator<Item = u32>) -> String {
    n.map(|n| n.to_string()).collect::<Vec<_>>().join(", ")
}
