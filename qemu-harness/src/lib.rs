//! Real QEMU virtual machines (SeaBIOS + iPXE, OVMF), their serial consoles, and network labs
//! made of network namespaces, for Kickstand's end-to-end tests.
//!
//! - [`VmBuilder`] → [`Vm`]: firmware, disks, NICs, direct kernel boot; the serial console in a
//!   file, [`Vm::wait_for_line`] and [`Vm::wait_for_exit`] with timeouts; the process group
//!   killed on drop. At most [`slots::count`] VMs run at once.
//! - [`NetLab`]: network namespaces on a bridge, with tap devices for VMs; removed on drop.
//! - [`assets`]: the Debian kernel, fetched into a cache outside the clone.
//! - [`gate`]: which slow tests run under plain `cargo test`.

pub mod accel;
pub mod assets;
pub mod cache;
pub mod cmd;
pub mod dnsmasq;
pub mod error;
pub mod gate;
pub mod images;
pub mod initramfs;
pub mod loopdev;
pub mod netlab;
pub mod netns;
pub mod process;
pub mod registry;
pub mod rusage;
pub mod slots;
pub mod ssh;
pub mod vm;

pub use assets::{Kernel, debian_kernel};
pub use error::{Error, Result};
pub use loopdev::LoopDevice;
pub use netlab::{Host, NetLab, Tap};
pub use process::Process;
pub use vm::{
    Disk, DiskBus, DiskFormat, Firmware, NetBackend, Nic, NicModel, OptionRom, Vm, VmBuilder,
};
