//! The pure, boot-time pieces of PID 1: reading the kernel command line, matching device
//! modaliases against `modules.alias` (coldplug without udev), and the DHCP client state
//! machine. None of them does I/O; the mounts, module loading, sockets and netlink that drive
//! them live at the edge.

pub mod cmdline;
pub mod dhcp;
pub mod modalias;
