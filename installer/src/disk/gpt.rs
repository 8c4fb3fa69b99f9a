//! Writing the GPT with gptman: both headers and entry arrays, then the protective MBR.

use crate::storage::{DiskPlan, TableAction, guid};
use crate::units::MIB;
use anyhow::{Context, Result, anyhow};
use gptman::{GPT, GPTPartitionEntry};
use std::fs::File;

/// Writes `plan`'s partition table to `disk`: a new GPT, or the old one with the removed
/// partitions dropped, plus the new partitions. Syncs before returning.
pub fn write(disk: &mut File, plan: &DiskPlan) -> Result<()> {
    let ss = plan.sector_size;
    let mut gpt = match &plan.table {
        TableAction::New { .. } => {
            GPT::new_from(disk, ss, super::random_guid()?).context("creating the GPT header")?
        }
        TableAction::Edit { removed, .. } => {
            let mut gpt = GPT::read_from(disk, ss).context("reading the existing GPT")?;
            gpt.header
                .update_from(disk, ss)
                .context("fitting the GPT to the disk size")?;
            for p in removed {
                gpt.remove(p.number)
                    .with_context(|| format!("removing partition {}", p.number))?;
            }
            gpt
        }
    };
    gpt.align = MIB / ss;
    for p in &plan.partitions {
        let type_guid =
            guid::to_bytes(p.type_guid).ok_or_else(|| anyhow!("bad type GUID {}", p.type_guid))?;
        gpt[p.number] = GPTPartitionEntry {
            partition_type_guid: type_guid,
            unique_partition_guid: super::random_guid()?,
            starting_lba: p.start / ss,
            ending_lba: (p.start + p.size) / ss - 1,
            attribute_bits: 0,
            partition_name: p.name.as_str().into(),
        };
    }
    gpt.write_into(disk).context("writing the GPT")?;
    if plan.bootable_pmbr {
        GPT::write_bootable_protective_mbr_into(disk, ss)
    } else {
        GPT::write_protective_mbr_into(disk, ss)
    }
    .context("writing the protective MBR")?;
    disk.sync_all().context("syncing the partition table")?;
    Ok(())
}
