//! Real QEMU virtual machines (SeaBIOS + iPXE, OVMF), their serial consoles, and network labs
//! made of network namespaces, for Kickstand's end-to-end tests.

pub mod assets;
pub mod cache;
pub mod cmd;
pub mod error;
pub mod gate;

pub use assets::{Kernel, debian_kernel};
pub use error::{Error, Result};
