//! Builds the installer initramfs: a deterministic cpio newc writer, ELF `DT_NEEDED` resolution
//! for the external tools the installer needs, and the kernel module closure from `modules.dep`.
