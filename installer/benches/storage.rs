//! Storage benchmarks: planning on 1,000 disks (criterion), and — as root — partitioning and
//! formatting a 20 GiB sparse disk image through a loop device, timed once and printed.

use criterion::{Criterion, criterion_group, criterion_main};
use kickstand_installer::disk::loopdev::LoopDevice;
use kickstand_installer::hardware::{self, Disk, Firmware, Hardware, Roots};
use kickstand_installer::steps::storage::{Options, run};
use kickstand_installer::storage::request::{AutoPart, ClearKind, ClearPart};
use kickstand_installer::storage::{ImageFacts, StorageRequest, plan_request};
use kickstand_installer::units::{GIB, MIB};
use std::hint::black_box;
use std::time::Instant;

fn clear_all_autopart() -> StorageRequest {
    StorageRequest {
        clearpart: Some(ClearPart {
            kind: ClearKind::All,
            initlabel: true,
            ..ClearPart::default()
        }),
        autopart: Some(AutoPart::default()),
        ..StorageRequest::default()
    }
}

fn thousand_disks() -> Hardware {
    let disks = (0..1000)
        .map(|i| Disk {
            name: format!("sd{i}"),
            path: format!("/dev/sd{i}").into(),
            size: (8 + i as u64 % 64) * GIB,
            logical_sector_size: if i % 2 == 0 { 512 } else { 4096 },
            physical_sector_size: 4096,
            by_id: vec![format!("disk/by-id/wwn-0x5000c500{i:08x}")],
            ..Disk::default()
        })
        .collect();
    Hardware {
        disks,
        firmware: Firmware::Uefi,
        memory_bytes: 16 * GIB,
    }
}

fn planning(c: &mut Criterion) {
    let request = clear_all_autopart();
    let hw = thousand_disks();
    let mut only_last = request.clone();
    only_last.ignoredisk = Some(kickstand_installer::storage::request::IgnoreDisk::OnlyUse(
        vec!["disk/by-id/wwn-0x5000c500000003e7".into()],
    ));
    c.bench_function("plan clearpart --all + autopart on 1,000 disks", |b| {
        b.iter(|| {
            plan_request(black_box(&request), black_box(&hw), &ImageFacts::default()).unwrap()
        })
    });
    c.bench_function("plan ignoredisk --only-use=by-id among 1,000 disks", |b| {
        b.iter(|| {
            plan_request(
                black_box(&only_last),
                black_box(&hw),
                &ImageFacts::default(),
            )
            .unwrap()
        })
    });
}

/// Partition + mkfs of a 20 GiB sparse image, timed once (it takes seconds; criterion's
/// repetitions would take minutes and wear nothing but the page cache).
fn partition_and_mkfs() {
    if !nix::unistd::geteuid().is_root() {
        println!(
            "partition + mkfs of a 20 GiB sparse image: SKIPPED (needs root for loop devices)"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("disk.raw");
    std::fs::File::create(&img)
        .unwrap()
        .set_len(20 * GIB)
        .unwrap();
    let started = Instant::now();
    let dev = LoopDevice::attach(&img).unwrap();
    let disks = hardware::discover_only(&Roots::system(), std::slice::from_ref(&dev.name)).unwrap();
    let hw = Hardware {
        disks: disks.into_iter().filter(|d| d.name == dev.name).collect(),
        firmware: Firmware::Uefi,
        memory_bytes: 8 * GIB,
    };
    let plan = plan_request(&clear_all_autopart(), &hw, &ImageFacts::default()).unwrap();
    let target = dir.path().join("target");
    let prepared = run(
        &plan,
        &Options {
            target,
            mount_esp: false,
        },
    )
    .unwrap();
    drop(prepared);
    drop(dev);
    let used = std::fs::metadata(&img)
        .map(|m| std::os::unix::fs::MetadataExt::blocks(&m) * 512 / MIB)
        .unwrap_or(0);
    println!(
        "partition + mkfs of a 20 GiB sparse image (ESP vfat, /boot xfs, / xfs): {:.2} s, {used} MiB written",
        started.elapsed().as_secs_f64()
    );
}

fn benches(c: &mut Criterion) {
    planning(c);
    partition_and_mkfs();
}

criterion_group!(storage, benches);
criterion_main!(storage);
