//! System configuration commands: user, sshkey, rootpw, lang, keyboard, timezone, network.

use super::{Cmd, Finding};
use crate::ast::*;
use crate::options::{Opt, deprecated, flag, store, value};

const USER: &[Opt] = &[
    value(&["--homedir"], "homedir"),
    store(&["--iscrypted"], "crypted", "yes"),
    store(&["--plaintext"], "crypted", "no"),
    value(&["--name"], "name"),
    value(&["--password"], "password"),
    value(&["--shell"], "shell"),
    value(&["--uid"], "uid"),
    value(&["--gid"], "gid"),
    flag(&["--lock"], "lock"),
    value(&["--gecos"], "gecos"),
    value(&["--groups"], "groups"),
];

pub fn user(ks: &mut Kickstart, cmd: &mut Cmd<'_>) -> Result<(), Finding> {
    let m = cmd.options(USER)?;
    cmd.no_positional(&m)?;
    let name = cmd.required(&m, "name", "--name")?;
    let u = User {
        name,
        groups: m.list("groups"),
        homedir: m.value("homedir"),
        password: m.value("password"),
        iscrypted: m.value("crypted").as_deref() == Some("yes"),
        lock: m.flag("lock"),
        shell: m.value("shell"),
        uid: m.int("uid")?,
        gid: m.int("gid")?,
        gecos: m.value("gecos"),
    };
    if ks.users.iter().any(|o| o.name == u.name) {
        let w = m.get("name").expect("required").word.clone();
        cmd.warn(
            &w,
            format!("A user with the name {} has already been defined.", u.name),
        );
    }
    ks.users.push(u);
    Ok(())
}

pub fn sshkey(ks: &mut Kickstart, cmd: &mut Cmd<'_>) -> Result<(), Finding> {
    let m = cmd.options(&[value(&["--username"], "username")])?;
    let username = cmd.required(&m, "username", "--username")?;
    let Some(key) = m.positional.first() else {
        return Err(Finding::at(
            cmd.name,
            "the following arguments are required: \"ssh key\" (quote the whole public key: \
             sshkey --username=NAME \"ssh-ed25519 AAAA... comment\")",
        ));
    };
    cmd.extra_positional(&m, 1, " (quote the whole key)")?;
    if ks.sshkeys.iter().any(|k| k.username == username) {
        cmd.warn(
            cmd.name,
            format!("An ssh user with the name {username} has already been defined."),
        );
    }
    ks.sshkeys.push(SshKey {
        username,
        key: key.text.clone(),
    });
    Ok(())
}

const ROOTPW: &[Opt] = &[
    store(&["--iscrypted"], "crypted", "yes"),
    store(&["--plaintext"], "crypted", "no"),
    flag(&["--lock"], "lock"),
    flag(&["--allow-ssh"], "allow-ssh"),
];

pub fn rootpw(ks: &mut Kickstart, cmd: &mut Cmd<'_>) -> Result<(), Finding> {
    let m = cmd.options(ROOTPW)?;
    let password = m.positional.first().map(|w| w.text.clone());
    if password.as_deref().is_none_or(str::is_empty) && !m.flag("lock") {
        return Err(Finding::at(
            cmd.name,
            "A single argument is expected for the rootpw command (a password, or --lock)",
        ));
    }
    cmd.extra_positional(&m, 1, "")?;
    ks.rootpw = Some(RootPw {
        password,
        iscrypted: m.value("crypted").as_deref() == Some("yes"),
        lock: m.flag("lock"),
        allow_ssh: m.flag("allow-ssh"),
    });
    Ok(())
}

pub fn lang(ks: &mut Kickstart, cmd: &mut Cmd<'_>) -> Result<(), Finding> {
    let m = cmd.options(&[value(&["--addsupport"], "addsupport")])?;
    let Some(lang) = m.positional.first() else {
        return Err(Finding::at(
            cmd.name,
            "the following arguments are required: <lang> (e.g. `lang en_US.UTF-8`)",
        ));
    };
    cmd.extra_positional(&m, 1, "")?;
    ks.lang = Some(Lang {
        lang: lang.text.clone(),
        addsupport: m.list("addsupport"),
    });
    Ok(())
}

const KEYBOARD: &[Opt] = &[
    value(&["--vckeymap"], "vckeymap"),
    value(&["--xlayouts"], "xlayouts"),
    value(&["--switch"], "switch"),
];

pub fn keyboard(ks: &mut Kickstart, cmd: &mut Cmd<'_>) -> Result<(), Finding> {
    let m = cmd.options(KEYBOARD)?;
    if m.positional.len() > 1 {
        return Err(Finding::at(
            &m.positional[1],
            "A single argument is expected for the keyboard command",
        ));
    }
    let k = Keyboard {
        keyboard: m.positional.first().map(|w| w.text.clone()),
        vckeymap: m.value("vckeymap").filter(|v| !v.is_empty()),
        xlayouts: m.list("xlayouts"),
        switch: m.list("switch"),
    };
    if k.keyboard.as_deref().is_none_or(str::is_empty)
        && k.vckeymap.is_none()
        && k.xlayouts.is_empty()
    {
        return Err(Finding::at(
            cmd.name,
            "One of --xlayouts, --vckeymap options with value(s) or argument is expected for \
             the keyboard command",
        ));
    }
    ks.keyboard = Some(k);
    Ok(())
}

const TIMEZONE: &[Opt] = &[
    flag(&["--utc"], "utc"),
    deprecated(
        flag(&["--isUtc"], "utc"),
        "timezone --isUtc is deprecated (RHEL 10 removed it): use --utc",
    ),
    deprecated(
        flag(&["--nontp"], "nontp"),
        "timezone --nontp is deprecated (RHEL 10 removed it): use `timesource --ntp-disable`",
    ),
    deprecated(
        value(&["--ntpservers"], "ntpservers"),
        "timezone --ntpservers is deprecated (RHEL 10 removed it): use one \
         `timesource --ntp-server=HOST` line per server",
    ),
];

pub fn timezone(ks: &mut Kickstart, cmd: &mut Cmd<'_>) -> Result<(), Finding> {
    let m = cmd.options(TIMEZONE)?;
    if cmd.args.is_empty() {
        return Err(Finding::at(
            cmd.name,
            "At least one option and/or an argument are expected for the timezone command \
             (e.g. `timezone Europe/Berlin --utc`)",
        ));
    }
    if m.positional.len() > 1 {
        return Err(Finding::at(
            &m.positional[1],
            "One or zero arguments are expected for the timezone command",
        ));
    }
    let t = Timezone {
        timezone: m.positional.first().map(|w| w.text.clone()),
        utc: m.flag("utc"),
        nontp: m.flag("nontp"),
        ntpservers: m.list("ntpservers"),
    };
    if t.nontp && !t.ntpservers.is_empty() {
        return Err(Finding::at(
            cmd.name,
            "Options --nontp and --ntpservers are mutually exclusive",
        ));
    }
    ks.timezone = Some(t);
    Ok(())
}

const NETWORK: &[Opt] = &[
    value(&["--bootproto"], "bootproto"),
    value(&["--dhcpclass"], "dhcpclass"),
    value(&["--device"], "device"),
    value(&["--essid"], "essid"),
    value(&["--ethtool"], "ethtool"),
    value(&["--gateway"], "gateway"),
    value(&["--hostname"], "hostname"),
    value(&["--ip"], "ip"),
    value(&["--mtu"], "mtu"),
    value(&["--nameserver"], "nameserver"),
    value(&["--netmask"], "netmask"),
    flag(&["--nodns"], "nodns"),
    value(&["--onboot"], "onboot"),
    value(&["--wepkey"], "wepkey"),
    flag(&["--notksdevice"], "notksdevice"),
    flag(&["--noipv4"], "noipv4"),
    flag(&["--noipv6"], "noipv6"),
    value(&["--ipv6"], "ipv6"),
    store(&["--activate"], "activate", "yes"),
    store(&["--no-activate"], "activate", "no"),
    flag(&["--nodefroute"], "nodefroute"),
    value(&["--wpakey"], "wpakey"),
    value(&["--bondslaves"], "bondslaves"),
    value(&["--bondopts"], "bondopts"),
    value(&["--vlanid"], "vlanid"),
    value(&["--ipv6gateway"], "ipv6gateway"),
    value(&["--interfacename"], "interfacename"),
    value(&["--bridgeslaves"], "bridgeslaves"),
    value(&["--bridgeopts"], "bridgeopts"),
    value(&["--bindto"], "bindto"),
    value(&["--ipv4-dns-search"], "ipv4-dns-search"),
    value(&["--ipv6-dns-search"], "ipv6-dns-search"),
    flag(&["--ipv4-ignore-auto-dns"], "ipv4-ignore-auto-dns"),
    flag(&["--ipv6-ignore-auto-dns"], "ipv6-ignore-auto-dns"),
    deprecated(
        value(&["--teamslaves"], "teamslaves"),
        "network --teamslaves is deprecated and has no effect (team devices were removed): \
         use --bondslaves",
    ),
    deprecated(
        value(&["--teamconfig"], "teamconfig"),
        "network --teamconfig is deprecated and has no effect (team devices were removed): \
         use --bondopts",
    ),
];

/// pykickstart's `ksboolean`.
fn ksboolean(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "on" | "yes" | "true" | "1" => Some(true),
        "off" | "no" | "false" | "0" => Some(false),
        _ => None,
    }
}

fn nonempty(v: Option<String>) -> Option<String> {
    v.filter(|s| !s.is_empty())
}

pub fn network(ks: &mut Kickstart, cmd: &mut Cmd<'_>) -> Result<(), Finding> {
    let m = cmd.options(NETWORK)?;
    cmd.no_positional(&m)?;
    let bootproto = m
        .choice("bootproto", &["dhcp", "bootp", "static", "query", "ibft"])?
        .map(|b| match b.as_str() {
            "dhcp" => BootProto::Dhcp,
            "bootp" => BootProto::Bootp,
            "static" => BootProto::Static,
            "query" => BootProto::Query,
            _ => BootProto::Ibft,
        });
    let onboot = match m.get("onboot") {
        None => None,
        Some(g) => Some(ksboolean(&g.value).ok_or_else(|| {
            Finding::at(
                &g.word,
                format!(
                    "argument --onboot: invalid boolean value: '{}' (expected yes or no)",
                    g.value
                ),
            )
        })?),
    };
    let bindto_mac = m.choice("bindto", &["mac"])?.is_some();
    let n = Network {
        bootproto,
        device: m.value("device"),
        ip: m.value("ip"),
        netmask: m.value("netmask"),
        gateway: m.value("gateway"),
        nameserver: m.list("nameserver"),
        hostname: m.value("hostname"),
        ipv6: m.value("ipv6"),
        ipv6gateway: nonempty(m.value("ipv6gateway")),
        mtu: m.int("mtu")?,
        onboot,
        activate: m.value("activate").map(|a| a == "yes"),
        nodns: m.flag("nodns"),
        nodefroute: m.flag("nodefroute"),
        noipv4: m.flag("noipv4"),
        noipv6: m.flag("noipv6"),
        notksdevice: m.flag("notksdevice"),
        dhcpclass: m.value("dhcpclass"),
        ethtool: m.value("ethtool"),
        essid: m.value("essid"),
        wepkey: m.value("wepkey"),
        wpakey: nonempty(m.value("wpakey")),
        vlanid: m.int("vlanid")?,
        interfacename: nonempty(m.value("interfacename")),
        bondslaves: m.list("bondslaves"),
        bondopts: nonempty(m.value("bondopts")),
        bridgeslaves: m.list("bridgeslaves"),
        bridgeopts: nonempty(m.value("bridgeopts")),
        bindto_mac,
        ipv4_dns_search: m.value("ipv4-dns-search"),
        ipv6_dns_search: m.value("ipv6-dns-search"),
        ipv4_ignore_auto_dns: m.flag("ipv4-ignore-auto-dns"),
        ipv6_ignore_auto_dns: m.flag("ipv6-ignore-auto-dns"),
    };
    if let Some(opts) = &n.bridgeopts {
        if n.bridgeslaves.is_empty() {
            return Err(Finding::at(
                cmd.name,
                "Option --bridgeopts requires --bridgeslaves to be specified",
            ));
        }
        for opt in opts.split(',') {
            let value = opt.split_once('=').map(|(_, v)| v).unwrap_or("");
            if value.is_empty() || value.contains('=') {
                return Err(Finding::at(
                    &m.get("bridgeopts").expect("given").word,
                    "Bad format of --bridgeopts, expecting key=value options separated by ','",
                ));
            }
        }
    }
    if n.bindto_mac && n.vlanid.is_some() && n.bondopts.is_none() {
        return Err(Finding::at(
            cmd.name,
            "--bindto=mac is not supported for this type of device",
        ));
    }
    if n.device.is_none() {
        for (set, opt) in [
            (n.ipv4_dns_search.is_some(), "--ipv4-dns-search"),
            (n.ipv6_dns_search.is_some(), "--ipv6-dns-search"),
            (n.ipv4_ignore_auto_dns, "--ipv4-ignore-auto-dns"),
            (n.ipv6_ignore_auto_dns, "--ipv6-ignore-auto-dns"),
        ] {
            if set {
                return Err(Finding::at(
                    cmd.name,
                    format!("Option {opt} requires --device to be specified"),
                ));
            }
        }
    }
    if let Some(dev) = &n.device
        && ks.network.iter().any(|o| o.device.as_ref() == Some(dev))
    {
        cmd.warn(
            cmd.name,
            format!("A network device with the name {dev} has already been defined."),
        );
    }
    ks.network.push(n);
    Ok(())
}
