//! The pure, boot-time pieces of PID 1: reading the kernel command line, matching device
//! modaliases against `modules.alias` (coldplug without udev), the DHCP client state
//! machine, choosing and configuring the network interface, and locating the kickstart and its
//! includes. None of them does I/O; the mounts, module loading, sockets and netlink that drive
//! them live at the edge ([`crate::pid1`]).

pub mod cmdline;
pub mod dhcp;
pub mod ks_location;
pub mod modalias;
pub mod netplan;
