//! The install steps, in order, one per file. Each step takes what the previous one left
//! (the storage step leaves the target tree mounted) and says in its doc comment what a
//! failure half-way leaves behind.
//!
//! Built so far: `storage`. The image, configure and boot loader steps come next; until they
//! exist, [`Step::built`] is false for them and an install stops with an error after storage
//! unless the operator asked to stop there (`--stop-after storage`).

pub mod storage;

/// The steps of an install, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Step {
    /// Partition, format and mount the disks.
    Storage,
    /// Pull the image and deploy it into the target root (and write /etc/fstab); not wired in
    /// yet: an install stops after storage and says so.
    Image,
    /// Users, keys, locale, network (not wired in yet).
    Configure,
    /// Install the image's boot loader (not wired in yet).
    Bootloader,
}

impl Step {
    /// Every step, in order.
    pub const ALL: [Step; 4] = [
        Step::Storage,
        Step::Image,
        Step::Configure,
        Step::Bootloader,
    ];

    /// Its name on the command line and in messages.
    pub fn name(self) -> &'static str {
        match self {
            Step::Storage => "storage",
            Step::Image => "image",
            Step::Configure => "configure",
            Step::Bootloader => "bootloader",
        }
    }

    /// Whether this version of the installer carries the step out.
    pub fn built(self) -> bool {
        matches!(self, Step::Storage)
    }
}
