//! The Kickstand installer: from a kickstart and the machine's hardware to an installed disk.
//!
//! The pipeline reads like the file tree: kickstart → plan → steps (pre, storage, image,
//! configure, bootloader, post, finish).
//!
//! - [`hardware`]: disks (sysfs) and firmware, discovered once.
//! - [`storage`]: the pure storage planner and its dry-run report.
//! - [`disk`]: the low-level disk operations the storage step uses (GPT, partition nodes,
//!   wiping, loop devices, mkfs, mounts, fstab).
//! - [`steps`]: the install steps, one per file.
//! - [`cmd`] and [`tools`]: external programs, run one way and listed in one place.
//! - [`deploy`]: configures the unpacked image and installs its boot loader.
//! - [`boot`]: what PID 1 reads at boot: kernel command line, modaliases, DHCP, network plan.
//! - [`install`]: the entry point the CLI and PID 1 call: every step in order.
//! - [`progress`]: terminal progress, events posted to the provisioner, the install log.
//! - [`pid1`]: `kickstand-installer` as PID 1 of the installer initramfs.

pub mod boot;
pub mod cli;
pub mod cmd;
pub mod deploy;
pub mod disk;
pub mod hardware;
pub mod install;
pub mod pid1;
pub mod progress;
pub mod steps;
pub mod storage;
pub mod tools;
pub mod units;
