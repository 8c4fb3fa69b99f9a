//! The configure step: the kickstart's settings applied inside the target — accounts
//! (`rootpw`, `user`, `sshkey`), `lang`, `keyboard`, `timezone`, hostname and the first
//! `network` line — and `/etc/machine-id` emptied for first boot.
//!
//! Each setting is written on its own (files replaced atomically); a failure leaves those
//! before it applied and the rest as the image shipped them, and no boot loader is installed
//! after it, so the disk does not boot half-configured.

use anyhow::{Context, Result};

use crate::deploy::from_kickstart::Settings;
use crate::deploy::{TargetRoot, network, record, system, users};
use crate::progress::Reporter;

/// Applies `settings` to the target root.
pub fn run(root: &TargetRoot, settings: &Settings, reporter: &Reporter) -> Result<()> {
    users::apply(
        root,
        settings.rootpw.as_ref(),
        &settings.users,
        &settings.sshkeys,
        record::days_since_epoch(),
    )
    .context("configuring users and keys")?;
    if !settings.users.is_empty() || settings.rootpw.is_some() || !settings.sshkeys.is_empty() {
        let names: Vec<&str> = settings.users.iter().map(|u| u.name.as_str()).collect();
        reporter.info(&format!(
            "accounts: rootpw {}, users [{}], {} ssh key(s)",
            if settings.rootpw.is_some() {
                "set"
            } else {
                "unchanged"
            },
            names.join(", "),
            settings.sshkeys.len()
        ));
    }
    if let Some(lang) = &settings.lang {
        system::apply_lang(root, lang).context("lang")?;
    }
    if let Some(kb) = &settings.keyboard {
        system::apply_keyboard(root, kb).context("keyboard")?;
    }
    if let Some(tz) = &settings.timezone {
        system::apply_timezone(root, tz).context("timezone")?;
    }
    if let Some(host) = &settings.hostname {
        network::apply_hostname(root, host).context("network --hostname")?;
        reporter.info(&format!("hostname: {host}"));
    }
    if let Some(net) = &settings.network {
        match network::apply_network(root, net).context("network")? {
            Some(path) => reporter.info(&format!("network configuration written to {path}")),
            None => reporter.warn(
                "the image has neither NetworkManager nor systemd-networkd; the network line \
                 was not applied",
            ),
        }
    }
    system::reset_machine_id(root).context("emptying /etc/machine-id for first boot")?;
    Ok(())
}
