//! `lang`, `keyboard` and `timezone`, and the machine ID left for first boot.
//!
//! Each writer replaces one file atomically; none depends on another, so a failure leaves the
//! settings before it applied and the rest as the image shipped them.

use super::error::{DeployError, Result};
use super::target::TargetRoot;

/// `lang LANG`: writes `/etc/locale.conf` (`LANG="…"`), which systemd reads on every distro.
pub fn apply_lang(root: &TargetRoot, lang: &str) -> Result<()> {
    check_word("lang", lang, |c| {
        c.is_ascii_alphanumeric() || "._@-".contains(c)
    })?;
    root.write(
        "/etc/locale.conf",
        format!("LANG=\"{lang}\"\n").as_bytes(),
        0o644,
    )?;
    Ok(())
}

/// `keyboard [--vckeymap=MAP] [--xlayouts=L,...] [LAYOUT]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Keyboard {
    /// Console keymap (`--vckeymap`, or the legacy positional layout).
    pub vc_keymap: Option<String>,
    /// X layouts (`--xlayouts`), each `layout` or `layout (variant)`.
    pub x_layouts: Vec<String>,
    /// `--switch` options.
    pub switch_options: Vec<String>,
}

/// Writes `/etc/vconsole.conf` (`KEYMAP=`) and, with X layouts, the
/// `/etc/X11/xorg.conf.d/00-keyboard.conf` that `localectl` would write. With no console
/// keymap the first X layout is used for the console, as Anaconda does.
pub fn apply_keyboard(root: &TargetRoot, kb: &Keyboard) -> Result<()> {
    let is_word = |c: char| c.is_ascii_alphanumeric() || "._-+:".contains(c);
    let mut layouts = Vec::new();
    let mut variants = Vec::new();
    for l in &kb.x_layouts {
        let (layout, variant) = match l.split_once('(') {
            Some((l, v)) => (l.trim(), v.trim_end_matches(')').trim()),
            None => (l.trim(), ""),
        };
        check_word("keyboard --xlayouts", layout, is_word)?;
        if !variant.is_empty() {
            check_word("keyboard --xlayouts variant", variant, is_word)?;
        }
        layouts.push(layout.to_string());
        variants.push(variant.to_string());
    }
    let keymap = kb.vc_keymap.clone().or_else(|| layouts.first().cloned());
    if let Some(map) = &keymap {
        check_word("keyboard --vckeymap", map, is_word)?;
        root.write(
            "/etc/vconsole.conf",
            format!("KEYMAP={map}\n").as_bytes(),
            0o644,
        )?;
    }
    if !layouts.is_empty() {
        for o in &kb.switch_options {
            check_word("keyboard --switch", o, is_word)?;
        }
        let mut conf = String::from(
            "# Written by kickstand-installer from the kickstart's keyboard line.\n\
             Section \"InputClass\"\n        Identifier \"system-keyboard\"\n        \
             MatchIsKeyboard \"on\"\n",
        );
        conf.push_str(&format!(
            "        Option \"XkbLayout\" \"{}\"\n",
            layouts.join(",")
        ));
        if variants.iter().any(|v| !v.is_empty()) {
            conf.push_str(&format!(
                "        Option \"XkbVariant\" \"{}\"\n",
                variants.join(",")
            ));
        }
        if !kb.switch_options.is_empty() {
            conf.push_str(&format!(
                "        Option \"XkbOptions\" \"{}\"\n",
                kb.switch_options.join(",")
            ));
        }
        conf.push_str("EndSection\n");
        root.write(
            "/etc/X11/xorg.conf.d/00-keyboard.conf",
            conf.as_bytes(),
            0o644,
        )?;
    }
    Ok(())
}

/// `timezone NAME [--utc]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timezone {
    /// Olson name (`Europe/Prague`, `UTC`).
    pub name: String,
    /// `--utc`: the hardware clock keeps UTC.
    pub utc: bool,
}

/// Points `/etc/localtime` at `../usr/share/zoneinfo/NAME` (relative, so it also resolves
/// from the host), writes `/etc/timezone` (Debian's name file) and `/etc/adjtime` with `UTC`
/// or `LOCAL` as Anaconda does. A name missing from an image that ships zoneinfo is an error;
/// an image without tzdata gets the link anyway, with a warning.
pub fn apply_timezone(root: &TargetRoot, tz: &Timezone) -> Result<()> {
    let valid = !tz.name.is_empty()
        && !tz.name.starts_with('/')
        && tz
            .name
            .split('/')
            .all(|p| !p.is_empty() && p != "." && p != "..")
        && tz
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/_+-".contains(c));
    if !valid {
        return Err(DeployError::Invalid(format!(
            "timezone {:?} is not a time zone name: expected an Olson name such as Europe/Prague or UTC",
            tz.name
        )));
    }
    let zone = format!("/usr/share/zoneinfo/{}", tz.name);
    if !root.resolve(&zone)?.is_file() {
        if root.exists("/usr/share/zoneinfo") {
            return Err(DeployError::Invalid(format!(
                "timezone {}: the image's /usr/share/zoneinfo has no such zone",
                tz.name
            )));
        }
        tracing::warn!(timezone = %tz.name, "the image has no /usr/share/zoneinfo (tzdata); /etc/localtime will dangle until it is installed");
    }
    root.symlink(&format!("..{zone}"), "/etc/localtime")?;
    root.write("/etc/timezone", format!("{}\n", tz.name).as_bytes(), 0o644)?;
    let clock = if tz.utc { "UTC" } else { "LOCAL" };
    root.write(
        "/etc/adjtime",
        format!("0.0 0 0.0\n0\n{clock}\n").as_bytes(),
        0o644,
    )?;
    Ok(())
}

/// Leaves `/etc/machine-id` empty so systemd generates the ID on first boot (and treats that
/// boot as the first), and removes a stale D-Bus copy (a symlink to it is kept).
pub fn reset_machine_id(root: &TargetRoot) -> Result<()> {
    root.write("/etc/machine-id", b"", 0o444)?;
    let dbus = root.resolve_parent("/var/lib/dbus/machine-id")?;
    if std::fs::symlink_metadata(&dbus).is_ok_and(|m| m.file_type().is_file()) {
        root.remove_file("/var/lib/dbus/machine-id")?;
    }
    Ok(())
}

/// Refuses a value that is empty or has characters outside `ok` (it goes into a config file).
pub(crate) fn check_word(what: &str, value: &str, ok: impl Fn(char) -> bool) -> Result<()> {
    if value.is_empty() || !value.chars().all(ok) {
        return Err(DeployError::Invalid(format!(
            "{what} {value:?} has characters that cannot go into a configuration file"
        )));
    }
    Ok(())
}
