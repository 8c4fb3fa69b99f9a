//! Image and installer-behaviour commands: ostreecontainer, bootc, reboot/poweroff/shutdown/halt,
//! text/cmdline/graphical.

use super::{Cmd, Finding};
use crate::ast::*;
use crate::options::{Opt, flag, value};

const OSTREECONTAINER: &[Opt] = &[
    value(&["--stateroot"], "stateroot"),
    value(&["--url"], "url"),
    value(&["--transport"], "transport"),
    value(&["--remote"], "remote"),
    flag(
        &["--no-signature-verification"],
        "no-signature-verification",
    ),
];

pub fn ostreecontainer(ks: &mut Kickstart, cmd: &mut Cmd<'_>) -> Result<(), Finding> {
    let m = cmd.options(OSTREECONTAINER)?;
    cmd.no_positional(&m)?;
    let url = cmd.required(&m, "url", "--url")?;
    cmd.conflicts(&["bootc", "ostreesetup"])?;
    ks.ostreecontainer = Some(OstreeContainer {
        url,
        transport: m.value("transport"),
        stateroot: m.value("stateroot"),
        remote: m.value("remote"),
        no_signature_verification: m.flag("no-signature-verification"),
    });
    Ok(())
}

const BOOTC: &[Opt] = &[
    value(&["--stateroot"], "stateroot"),
    value(&["--source-imgref"], "source-imgref"),
    value(&["--target-imgref"], "target-imgref"),
];

pub fn bootc(ks: &mut Kickstart, cmd: &mut Cmd<'_>) -> Result<(), Finding> {
    let m = cmd.options(BOOTC)?;
    cmd.no_positional(&m)?;
    let source_imgref = cmd.required(&m, "source-imgref", "--source-imgref")?;
    cmd.conflicts(&["ostreecontainer", "ostreesetup"])?;
    ks.bootc = Some(Bootc {
        source_imgref,
        target_imgref: m.value("target-imgref"),
        stateroot: m.value("stateroot"),
    });
    Ok(())
}

pub fn action(ks: &mut Kickstart, cmd: &mut Cmd<'_>) -> Result<(), Finding> {
    let m = cmd.options(&[flag(&["--eject"], "eject"), flag(&["--kexec"], "kexec")])?;
    cmd.no_positional(&m)?;
    let kind = match cmd.name.text.as_str() {
        "reboot" => FinishKind::Reboot,
        "halt" => FinishKind::Halt,
        _ => FinishKind::Poweroff,
    };
    ks.action = Some(FinishAction {
        kind,
        eject: m.flag("eject"),
        kexec: m.flag("kexec"),
    });
    Ok(())
}

pub fn display_mode(ks: &mut Kickstart, cmd: &mut Cmd<'_>) -> Result<(), Finding> {
    let m = cmd.options(&[flag(&["--non-interactive"], "non-interactive")])?;
    cmd.no_positional(&m)?;
    let mode = match cmd.name.text.as_str() {
        "text" => DisplayMode::Text,
        "cmdline" => DisplayMode::Cmdline,
        _ => DisplayMode::Graphical,
    };
    let non_interactive = m.flag("non-interactive");
    if mode == DisplayMode::Cmdline && non_interactive {
        return Err(Finding::at(
            cmd.name,
            "Kickstart command cmdline does not support --non-interactive parameter",
        ));
    }
    ks.display_mode = Some(DisplayModeCmd {
        mode,
        non_interactive,
    });
    Ok(())
}
