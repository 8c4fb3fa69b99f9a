//! The Kickstand installer: from a kickstart and the machine's hardware to an installed disk.
//!
//! The pipeline reads like the file tree: kickstart → plan → steps (pre, storage, image,
//! configure, bootloader, post, finish).

pub mod boot;
pub mod deploy;
