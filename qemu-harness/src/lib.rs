//! Real QEMU virtual machines (SeaBIOS + iPXE, OVMF), their serial consoles, and network labs
//! made of network namespaces, for Kickstand's end-to-end tests.

pub mod gate;
