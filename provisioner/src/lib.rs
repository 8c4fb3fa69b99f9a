//! The Kickstand provisioner: configuration, the boot decision, TFTP/HTTP/DHCP serving, the
//! machine inventory, and the operator CLI's commands.
//!
//! Data flow: `kickstand.toml` → [`config::Config`]; (config, [`state`], request) →
//! [`boot::respond`] → what [`serve`]'s TFTP and HTTP sides send.

pub mod boot;
pub mod cli;
pub mod config;
pub mod dhcp;
pub mod iso;
pub mod kickstart;
pub mod mac;
pub mod render;
pub mod serve;
pub mod state;

#[cfg(test)]
mod testutil;
