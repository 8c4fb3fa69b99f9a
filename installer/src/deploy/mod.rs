//! The flat deploy's second half: configure the unpacked image and install its boot loader.
//!
//! Everything here acts on a target root directory (the mounted new root filesystem, see
//! [`target::TargetRoot`]) and on byte offsets inside a disk (image file or block device);
//! nothing reads or writes the host's own `/etc`. Paths inside the target are resolved inside
//! it: an absolute symlink in the image (`/etc/localtime -> /usr/share/...`) points into the
//! target, never at the host.
//!
//! - configuration: [`accounts`] (passwd/shadow/group/gshadow), [`users`] (`user`, `rootpw`,
//!   `sshkey`), [`system`] (lang, keyboard, timezone, machine-id), [`network`] (hostname and the
//!   first `network` line), [`fstab`], [`record`] (`/etc/kickstand/image.json`), and
//!   [`from_kickstart`] (the Kickstart AST turned into these modules' settings);
//! - boot: [`kernel`] (kernel discovery and kernel arguments), [`bootloader`] (which boot
//!   loader the image carries for the firmware), [`fat`] (mtools writer for the ESP),
//!   [`systemd_boot`] (UEFI), [`grub_bios`] (BIOS).

pub mod accounts;
pub mod bootloader;
pub mod command;
pub mod error;
pub mod fat;
pub mod from_kickstart;
pub mod fstab;
pub mod grub_bios;
pub mod kernel;
pub mod network;
pub mod password;
pub mod record;
pub mod system;
pub mod systemd_boot;
pub mod target;
pub mod users;

pub use error::{DeployError, Result};
pub use target::TargetRoot;
