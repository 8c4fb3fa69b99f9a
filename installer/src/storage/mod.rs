//! Storage planning: from the kickstart's storage commands and the discovered hardware to a
//! [`StoragePlan`], before anything is written.
//!
//! `request` is the planner's input (filled from the AST by `from_kickstart`), `select` decides
//! which disks are used and cleared, `alloc` places partitions, `plan` ties them together,
//! `layout` is the output and `report` prints it.

mod alloc;
pub mod error;
pub mod from_kickstart;
pub mod guid;
pub mod layout;
pub mod luks;
pub mod lvm;
pub mod plan;
pub mod raid;
pub mod report;
pub mod request;
mod select;
pub mod staging;
mod volgroup;

pub use error::PlanError;
pub use from_kickstart::plan;
pub use layout::{
    Content, DeviceRef, DiskPlan, Filesystem, FsType, ImageCheck, LogicalVolume, Luks, MdArray,
    MdMember, MountPoint, PlannedPartition, Secret, StoragePlan, Subvolume, TableAction, ThinPool,
    VolumeGroup,
};
pub use plan::{ImageFacts, plan_request, recommended_swap};
pub use request::StorageRequest;
pub use select::describe_contents;
