//! The Kickstand provisioner: configuration, the boot decision, TFTP/HTTP/DHCP serving, the
//! machine inventory, and the operator CLI's commands.

pub mod cli;
