//! The install steps, in order, one per file: [`scripts`] (`%pre`), [`storage`],
//! [`scripts`] (`%pre-install`), [`image`], [`configure`], [`bootloader`], [`scripts`]
//! (`%post`), [`finish`]. [`crate::install::install`] runs them. Each step takes what the
//! previous one left (the storage step leaves the target tree mounted) and says in its doc
//! comment what a failure half-way leaves behind. A bootc image goes another way after
//! resolving: [`stage`] (in RAM before storage, on a disk area after
//! it: [`stage_area`]), [`bootc`] instead of image and boot loader, then
//! configure, `%post` and finish inside the deployment bootc made.

pub mod bootc;
pub mod bootloader;
pub mod configure;
pub mod finish;
pub mod image;
pub mod scripts;
pub mod stage;
pub mod stage_area;
pub mod storage;

/// The steps an install can stop after (`--stop-after`), in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Step {
    /// Partition, format and mount the disks (the image is still resolved first when the
    /// kickstart names one).
    Storage,
    /// Pull the image into the target root and write /etc/fstab and the image record.
    Image,
    /// Users, keys, locale, keyboard, timezone, hostname, network.
    Configure,
    /// Install the image's boot loader.
    Bootloader,
    /// Run the %post scripts (then finish: save the log and kickstart in the target).
    Post,
}

impl Step {
    /// Every step, in order.
    pub const ALL: [Step; 5] = [
        Step::Storage,
        Step::Image,
        Step::Configure,
        Step::Bootloader,
        Step::Post,
    ];

    /// Its name on the command line, in messages and in progress events.
    pub fn name(self) -> &'static str {
        match self {
            Step::Storage => "storage",
            Step::Image => "image",
            Step::Configure => "configure",
            Step::Bootloader => "bootloader",
            Step::Post => "post",
        }
    }
}
