//! Kickstart templates (minijinja): `{{ machine.hostname }}`, `{{ vars.NAME }}`,
//! `{{ server.public_url }}`, `{{ server.registry }}`. Undefined names are errors, so a typo
//! never renders as an empty string into an install.

use crate::config::{Config, Profile};
use crate::mac::MacAddr;
use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;
use std::collections::BTreeMap;

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // Kickstarts are shell-like text: no HTML escaping, keep the trailing newline.
    env.set_keep_trailing_newline(true);
    env
}

/// Checks a template's syntax without rendering it (used when the config is loaded).
pub fn check_syntax(source: &str) -> Result<(), minijinja::Error> {
    environment().template_from_str(source).map(|_| ())
}

#[derive(Serialize)]
struct MachineCx {
    mac: String,
    hostname: Option<String>,
    profile: String,
}

#[derive(Serialize)]
struct ServerCx {
    public_url: String,
    registry: String,
}

/// Renders `profile`'s kickstart for the machine `mac` (which may be an unknown machine booting
/// the `[unknown]` profile: then it has no hostname or vars of its own).
pub fn kickstart(
    config: &Config,
    profile: &Profile,
    mac: MacAddr,
) -> Result<String, minijinja::Error> {
    let machine = config.machines.get(&mac);
    let mut vars: BTreeMap<String, toml::Value> = profile.vars.clone();
    if let Some(m) = machine {
        vars.extend(m.vars.clone());
    }
    let cx = minijinja::context! {
        machine => MachineCx {
            mac: mac.to_string(),
            hostname: machine.and_then(|m| m.hostname.clone()),
            profile: profile.name.clone(),
        },
        vars => vars,
        server => ServerCx {
            public_url: config.server.public_url.base(),
            registry: config.registry_host().to_string(),
        },
    };
    let env = environment();
    let template = env.template_from_named_str(
        profile.kickstart.to_str().unwrap_or("kickstart"),
        &profile.kickstart_source,
    )?;
    template.render(cx)
}

/// A template error as one line plus its location, for logs.
pub fn describe(e: &minijinja::Error) -> String {
    let mut s = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        s.push_str(&format!(": {inner}"));
        source = inner.source();
    }
    s
}
