//! Builds the installer initramfs: a deterministic cpio newc writer, ELF `DT_NEEDED` resolution
//! for the external tools the installer needs, and the kernel module closure from `modules.dep`.
//!
//! Flow: [`Spec`] → [`assemble`] (validates inputs, collects entries, reports [`Contents`]) →
//! [`write_image`] (streams the sorted cpio through the compressor into the output file).

pub mod assemble;
pub mod compress;
pub mod contents;
pub mod cpio;
pub mod elf;
pub mod kernel;
pub mod modules;

pub use assemble::{
    BuildError, DEFAULT_CA_BUNDLE, DEFAULT_TOOL_DIRS, Spec, Written, assemble, source_date_epoch,
    write_image,
};
pub use compress::Compression;
pub use contents::{Category, Contents};
