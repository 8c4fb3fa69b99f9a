//! The kernel command line (`/proc/cmdline`): split the way the kernel splits it, then the
//! options the installer understands turned into typed [`BootOptions`].
//!
//! Unknown parameters are ignored (they belong to the kernel or to someone else); a known one
//! with a malformed value is an error naming the parameter, what was found and what is
//! expected, so a typo in a PXE profile shows on the console instead of a silent default.

use std::net::Ipv4Addr;

/// One `name` or `name=value` word, quotes removed as the kernel removes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub name: String,
    pub value: Option<String>,
}

/// Splits a command line like the kernel's `next_arg()` (lib/cmdline.c): words are separated
/// by whitespace outside double quotes; a value's surrounding quotes (`a="b c"`) and a quoted
/// whole word (`"a=b c"`) lose their quotes, other quotes stay.
pub fn split(cmdline: &str) -> Vec<Param> {
    let mut out = Vec::new();
    let mut rest = cmdline.trim_start();
    while !rest.is_empty() {
        let bytes = rest.as_bytes();
        let mut start = 0;
        let mut in_quote = false;
        let mut quoted = false;
        if bytes[0] == b'"' {
            start = 1;
            in_quote = true;
            quoted = true;
        }
        let mut i = start;
        let mut equals = None;
        while i < bytes.len() {
            let c = bytes[i];
            if c.is_ascii_whitespace() && !in_quote {
                break;
            }
            if equals.is_none() && c == b'=' {
                equals = Some(i);
            }
            if c == b'"' {
                in_quote = !in_quote;
            }
            i += 1;
        }
        // `end` excludes a closing quote the kernel would overwrite with NUL.
        let mut end = i;
        let (name, value) = match equals {
            None => {
                if quoted && end > start && bytes[end - 1] == b'"' {
                    end -= 1;
                }
                (&rest[start..end], None)
            }
            Some(eq) => {
                let mut vstart = eq + 1;
                if vstart < end && bytes[vstart] == b'"' {
                    vstart += 1;
                    if end > vstart && bytes[end - 1] == b'"' {
                        end -= 1;
                    }
                } else if quoted && end > vstart && bytes[end - 1] == b'"' {
                    end -= 1;
                }
                (
                    &rest[start..eq],
                    Some(rest[vstart..end.max(vstart)].to_string()),
                )
            }
        };
        if !name.is_empty() {
            out.push(Param {
                name: name.to_string(),
                value,
            });
        }
        rest = rest[i..].trim_start();
    }
    out
}

/// Where `inst.ks=` says the kickstart is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KickstartSource {
    /// `http://…` or `https://…`, fetched with retries.
    Url(String),
    /// `file:/path` inside the initramfs (an embedded kickstart is `file:/ks.cfg`).
    File(String),
    /// `hd:DEVICE:/path` — a filesystem found by label, UUID or device name.
    Disk { device: DeviceSpec, path: String },
    /// `cdrom:/path` (any optical drive) or `cdrom:DEVICE:/path`.
    Cdrom {
        device: Option<DeviceSpec>,
        path: String,
    },
}

/// How `hd:`/`cdrom:` name a filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceSpec {
    Label(String),
    Uuid(String),
    PartLabel(String),
    /// `sdb1` or `/dev/sdb1`, kept as `/dev/sdb1`.
    Path(String),
}

/// The installer's own medium (`inst.repo=`, else `inst.stage2=`): the ISO on a CD-ROM or
/// `dd`ed to a disk, mounted read-only at `/run/install/repo` as Anaconda mounts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstallMedium {
    /// `hd:DEVICE[:/PATH]`: a filesystem by label, UUID or device name (any disk or drive).
    Disk { device: DeviceSpec, path: String },
    /// `cdrom` (the optical drive holding a readable disc) or `cdrom:DEVICE`.
    Cdrom(Option<DeviceSpec>),
    /// `http(s)://…`, `nfs:…`: not a local medium; nothing is mounted (the image comes from
    /// the kickstart's registry reference).
    Remote(String),
}

/// How an interface gets its address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IpConfig {
    /// `ip=dhcp` (any interface) or `ip=IFACE:dhcp`.
    Dhcp { interface: Option<String> },
    /// `ip=<ip>::<gw>:<mask>:<host>:<if>:none[:<mtu>][:<dns1>[:<dns2>]]`.
    Static {
        address: Ipv4Addr,
        prefix: u8,
        gateway: Option<Ipv4Addr>,
        hostname: Option<String>,
        interface: Option<String>,
        mtu: Option<u16>,
        dns: Vec<Ipv4Addr>,
    },
    /// `ip=off` / `ip=none`: no networking.
    Off,
}

/// Everything the installer takes from the kernel command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BootOptions {
    pub kickstart: Option<KickstartSource>,
    /// `inst.ks.sendmac`: send `X-RHN-Provisioning-MAC-N` headers when fetching over HTTP.
    pub ks_sendmac: bool,
    /// `inst.ks.sendsn`: send `X-System-Serial-Number`.
    pub ks_sendsn: bool,
    pub ip: Vec<IpConfig>,
    pub nameservers: Vec<Ipv4Addr>,
    /// `BOOTIF=01-aa-bb-cc-dd-ee-ff`: the NIC the machine network-booted from.
    pub bootif: Option<[u8; 6]>,
    /// `console=` values in order; the last one is `/dev/console`.
    pub consoles: Vec<String>,
    pub debug: bool,
    pub noverifyssl: bool,
    /// `kickstand.server=URL`: where progress and the final log are posted.
    pub server: Option<String>,
    /// `kickstand.insecure_registry=HOST:PORT`, repeatable.
    pub insecure_registries: Vec<String>,
    /// `kickstand.authfile=URL`: a containers auth.json for registry credentials.
    pub authfile: Option<String>,
    /// `kickstand.staging_ram_limit=SIZE`: at most this much RAM counts for staging a bootc
    /// image (then the plan's swap area or a temporary partition takes it).
    pub staging_ram_limit: Option<u64>,
    /// `inst.stage2=`: where the installer came from.
    pub stage2: Option<InstallMedium>,
    /// `inst.repo=` (also the older `repo=`/`method=`): where the install source is.
    pub repo: Option<InstallMedium>,
}

/// A known boot option with a value the installer cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("boot option {param}: {problem} (found {found:?}; expected {expected})")]
pub struct CmdlineError {
    pub param: String,
    pub found: String,
    pub problem: String,
    pub expected: &'static str,
}

fn err(
    param: &str,
    found: &str,
    problem: impl Into<String>,
    expected: &'static str,
) -> CmdlineError {
    CmdlineError {
        param: param.to_string(),
        found: found.to_string(),
        problem: problem.into(),
        expected,
    }
}

const KS_FORMS: &str = "http://…, https://…, file:/PATH, hd:LABEL=X:/PATH or cdrom:/PATH";
const MEDIUM_FORMS: &str = "hd:LABEL=X[:/PATH], hd:UUID=U, hd:DEVICE, cdrom, cdrom:DEVICE or a URL";
const IP_FORMS: &str = "dhcp, IFACE:dhcp, off, or <ip>::<gw>:<netmask>:<hostname>:<iface>:none";

/// Decodes udev-style `\x20` escapes used in labels.
fn unescape_label(s: &str) -> String {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1] == b'x'
            && let Ok(v) = u8::from_str_radix(&s[i + 2..i + 4], 16)
        {
            out.push(v);
            i += 4;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_device(spec: &str) -> DeviceSpec {
    if let Some(l) = spec.strip_prefix("LABEL=") {
        DeviceSpec::Label(unescape_label(l))
    } else if let Some(u) = spec.strip_prefix("UUID=") {
        DeviceSpec::Uuid(u.to_ascii_lowercase())
    } else if let Some(p) = spec.strip_prefix("PARTLABEL=") {
        DeviceSpec::PartLabel(unescape_label(p))
    } else if spec.starts_with("/dev/") {
        DeviceSpec::Path(spec.to_string())
    } else {
        DeviceSpec::Path(format!("/dev/{spec}"))
    }
}

/// Parses an `inst.ks=` value.
pub fn parse_ks(value: &str) -> Result<KickstartSource, CmdlineError> {
    let bad = |problem: &str| err("inst.ks", value, problem, KS_FORMS);
    if value.starts_with("http://") || value.starts_with("https://") {
        if value
            .split_once("://")
            .is_some_and(|(_, rest)| rest.is_empty() || rest.starts_with('/'))
        {
            return Err(bad("the URL has no host"));
        }
        return Ok(KickstartSource::Url(value.to_string()));
    }
    if let Some(path) = value.strip_prefix("file:") {
        let path = path.trim_start_matches("//");
        if !path.starts_with('/') {
            return Err(bad("file: needs an absolute path"));
        }
        return Ok(KickstartSource::File(path.to_string()));
    }
    if let Some(rest) = value.strip_prefix("hd:") {
        // hd:DEVICE:/path — the device may itself contain ':' only as LABEL/UUID values,
        // so split at the last ':' before the absolute path.
        let Some(colon) = rest.rfind(":/") else {
            return Err(bad("hd: needs DEVICE:/PATH"));
        };
        let (device, path) = (&rest[..colon], &rest[colon + 1..]);
        if device.is_empty() {
            return Err(bad("hd: names no device"));
        }
        return Ok(KickstartSource::Disk {
            device: parse_device(device),
            path: path.to_string(),
        });
    }
    if let Some(rest) = value.strip_prefix("cdrom:") {
        if rest.starts_with('/') && !rest.starts_with("/dev/") {
            return Ok(KickstartSource::Cdrom {
                device: None,
                path: rest.to_string(),
            });
        }
        let Some(colon) = rest.rfind(":/") else {
            return Err(bad("cdrom: needs /PATH or DEVICE:/PATH"));
        };
        return Ok(KickstartSource::Cdrom {
            device: Some(parse_device(&rest[..colon])),
            path: rest[colon + 1..].to_string(),
        });
    }
    if value.starts_with("nfs:") || value.starts_with("ftp://") {
        return Err(bad("this transport is not supported by Kickstand"));
    }
    Err(bad("unknown transport"))
}

/// Parses an `inst.stage2=`/`inst.repo=` value (Anaconda's forms).
pub fn parse_medium(param: &str, value: &str) -> Result<InstallMedium, CmdlineError> {
    let bad = |problem: &str| err(param, value, problem, MEDIUM_FORMS);
    if value == "cdrom" {
        return Ok(InstallMedium::Cdrom(None));
    }
    if let Some(rest) = value.strip_prefix("cdrom:") {
        if rest.is_empty() {
            return Err(bad("cdrom: names no device"));
        }
        return Ok(InstallMedium::Cdrom(Some(parse_device(rest))));
    }
    if let Some(rest) = value.strip_prefix("hd:") {
        // hd:DEVICE or hd:DEVICE:/PATH; a LABEL= or UUID= value has no ":/" in it.
        let (device, path) = match rest.rfind(":/") {
            Some(colon) => (&rest[..colon], &rest[colon + 1..]),
            None => (rest.trim_end_matches(':'), "/"),
        };
        if device.is_empty() {
            return Err(bad("hd: names no device"));
        }
        if path.split('/').any(|c| c == "..") {
            return Err(bad("the path may not contain .."));
        }
        return Ok(InstallMedium::Disk {
            device: parse_device(device),
            path: path.to_string(),
        });
    }
    const REMOTE: &[&str] = &["http://", "https://", "ftp://", "nfs:", "nfs4:"];
    if REMOTE.iter().any(|r| value.starts_with(r)) {
        return Ok(InstallMedium::Remote(value.to_string()));
    }
    Err(bad("unknown install source"))
}

fn parse_ipv4(param: &str, whole: &str, field: &str, what: &str) -> Result<Ipv4Addr, CmdlineError> {
    field.parse().map_err(|_| {
        err(
            param,
            whole,
            format!("{what} {field:?} is not an IPv4 address"),
            IP_FORMS,
        )
    })
}

/// A netmask as dotted quad (contiguous ones only) or a prefix length.
fn parse_prefix(whole: &str, field: &str) -> Result<u8, CmdlineError> {
    if let Ok(p) = field.parse::<u8>()
        && p <= 32
    {
        return Ok(p);
    }
    let mask: Ipv4Addr = parse_ipv4("ip", whole, field, "netmask")?;
    let bits = u32::from(mask);
    if bits.leading_ones() + bits.trailing_zeros() != 32 {
        return Err(err(
            "ip",
            whole,
            format!("netmask {field} is not contiguous"),
            IP_FORMS,
        ));
    }
    Ok(bits.leading_ones() as u8)
}

/// Parses an `ip=` value (dracut's forms).
pub fn parse_ip(value: &str) -> Result<IpConfig, CmdlineError> {
    match value {
        "dhcp" | "on" | "any" => return Ok(IpConfig::Dhcp { interface: None }),
        "off" | "none" => return Ok(IpConfig::Off),
        "dhcp6" | "auto6" => {
            return Err(err(
                "ip",
                value,
                "IPv6 autoconfiguration is not supported yet",
                IP_FORMS,
            ));
        }
        _ => {}
    }
    let fields: Vec<&str> = value.split(':').collect();
    if fields.len() == 2 && fields[1] == "dhcp" {
        return Ok(IpConfig::Dhcp {
            interface: Some(fields[0].to_string()),
        });
    }
    if fields.len() < 7 {
        return Err(err("ip", value, "too few fields", IP_FORMS));
    }
    let method = fields[6];
    if method == "dhcp" {
        return Ok(IpConfig::Dhcp {
            interface: Some(fields[5])
                .filter(|s| !s.is_empty())
                .map(str::to_string),
        });
    }
    if method != "none" && method != "off" && method != "static" {
        return Err(err(
            "ip",
            value,
            format!("unknown method {method:?}"),
            IP_FORMS,
        ));
    }
    let address = parse_ipv4("ip", value, fields[0], "address")?;
    let gateway = match fields[2] {
        "" => None,
        g => Some(parse_ipv4("ip", value, g, "gateway")?),
    };
    let prefix = match fields[3] {
        "" => {
            return Err(err(
                "ip",
                value,
                "a static address needs a netmask",
                IP_FORMS,
            ));
        }
        m => parse_prefix(value, m)?,
    };
    let opt = |s: &str| Some(s).filter(|s| !s.is_empty()).map(str::to_string);
    // Optional tail: `:<mtu>:<macaddr>` or `:<dns1>:<dns2>` (dracut accepts either).
    let mut mtu = None;
    let mut dns = Vec::new();
    for f in fields.iter().skip(7).filter(|f| !f.is_empty()) {
        if let Ok(m) = f.parse::<u16>() {
            mtu = Some(m);
        } else if let Ok(ip) = f.parse::<Ipv4Addr>() {
            dns.push(ip);
        } else {
            return Err(err(
                "ip",
                value,
                format!("trailing field {f:?} is neither an MTU nor a DNS server"),
                IP_FORMS,
            ));
        }
    }
    Ok(IpConfig::Static {
        address,
        prefix,
        gateway,
        hostname: opt(fields[4]),
        interface: opt(fields[5]),
        mtu,
        dns,
    })
}

/// `01-aa-bb-cc-dd-ee-ff` (PXE: hardware type 1, then the MAC).
pub fn parse_bootif(value: &str) -> Result<[u8; 6], CmdlineError> {
    let bad = || err("BOOTIF", value, "not a PXE MAC", "01-aa-bb-cc-dd-ee-ff");
    // PXE form `01-aa-…` (hardware type 1 = Ethernet), or a plain `aa:bb:…` MAC.
    let parts: Vec<&str> = if value.contains(':') {
        value.split(':').collect()
    } else {
        value.split('-').collect()
    };
    let mac_parts = match (parts.len(), value.contains(':')) {
        (7, false) if parts[0] == "01" => &parts[1..],
        (6, true) => &parts[..],
        _ => return Err(bad()),
    };
    let mut mac = [0u8; 6];
    for (b, p) in mac.iter_mut().zip(mac_parts) {
        if p.len() != 2 {
            return Err(bad());
        }
        *b = u8::from_str_radix(p, 16).map_err(|_| bad())?;
    }
    Ok(mac)
}

fn flag(value: Option<&str>) -> bool {
    !matches!(value, Some("0" | "no" | "off" | "false"))
}

/// Turns the command line into [`BootOptions`]. Every malformed known option is reported.
pub fn parse(cmdline: &str) -> Result<BootOptions, Vec<CmdlineError>> {
    let mut opts = BootOptions::default();
    let mut errors = Vec::new();
    for Param { name, value } in split(cmdline) {
        let needs_value =
            |v: &Option<String>, expected: &'static str| -> Result<String, CmdlineError> {
                v.clone()
                    .filter(|v| !v.is_empty())
                    .ok_or_else(|| err(&name, "", "needs a value", expected))
            };
        let result: Result<(), CmdlineError> = (|| {
            match name.as_str() {
                "inst.ks" => opts.kickstart = Some(parse_ks(&needs_value(&value, KS_FORMS)?)?),
                "inst.ks.sendmac" => opts.ks_sendmac = flag(value.as_deref()),
                "inst.ks.sendsn" => opts.ks_sendsn = flag(value.as_deref()),
                "ip" => opts.ip.push(parse_ip(&needs_value(&value, IP_FORMS)?)?),
                "nameserver" => {
                    let v = needs_value(&value, "an IPv4 address")?;
                    opts.nameservers.push(v.parse().map_err(|_| {
                        err("nameserver", &v, "not an IPv4 address", "an IPv4 address")
                    })?);
                }
                "BOOTIF" => {
                    opts.bootif = Some(parse_bootif(&needs_value(&value, "01-aa-bb-cc-dd-ee-ff")?)?)
                }
                "console" => opts
                    .consoles
                    .push(needs_value(&value, "a console such as ttyS0,115200n8")?),
                "inst.debug" => opts.debug = flag(value.as_deref()),
                "inst.noverifyssl" => opts.noverifyssl = flag(value.as_deref()),
                "kickstand.server" => {
                    let v = needs_value(&value, "http(s)://HOST[:PORT]")?;
                    if !(v.starts_with("http://") || v.starts_with("https://")) {
                        return Err(err(
                            "kickstand.server",
                            &v,
                            "not an http(s) URL",
                            "http(s)://HOST[:PORT]",
                        ));
                    }
                    opts.server = Some(v);
                }
                "kickstand.insecure_registry" => {
                    let v = needs_value(&value, "HOST[:PORT]")?;
                    if v.contains('/') {
                        return Err(err(
                            "kickstand.insecure_registry",
                            &v,
                            "a registry is a host, not a URL",
                            "HOST[:PORT]",
                        ));
                    }
                    opts.insecure_registries.push(v);
                }
                "inst.stage2" | "stage2" => {
                    opts.stage2 = Some(parse_medium(&name, &needs_value(&value, MEDIUM_FORMS)?)?)
                }
                "inst.repo" | "repo" | "method" => {
                    opts.repo = Some(parse_medium(&name, &needs_value(&value, MEDIUM_FORMS)?)?)
                }
                "kickstand.authfile" => {
                    opts.authfile = Some(needs_value(&value, "the URL of an auth.json")?)
                }
                "kickstand.staging_ram_limit" => {
                    const SIZE: &str = "bytes, or a size such as 512M or 2G";
                    let v = needs_value(&value, SIZE)?;
                    let size = crate::units::parse_size(&v)
                        .map_err(|p| err("kickstand.staging_ram_limit", &v, p, SIZE))?;
                    opts.staging_ram_limit = Some(size);
                }
                _ => {}
            }
            Ok(())
        })();
        if let Err(e) = result {
            errors.push(e);
        }
    }
    if errors.is_empty() {
        Ok(opts)
    } else {
        Err(errors)
    }
}

impl BootOptions {
    /// The console `/dev/console` is (the last `console=`), without its options.
    pub fn primary_console(&self) -> Option<&str> {
        self.consoles
            .last()
            .map(|c| c.split(',').next().unwrap_or(c))
    }

    /// The local medium to mount at `/run/install/repo`: `inst.repo=` when it names one
    /// (a remote `inst.repo=` means none), else `inst.stage2=`.
    pub fn local_medium(&self) -> Option<&InstallMedium> {
        match (&self.repo, &self.stage2) {
            (Some(InstallMedium::Remote(_)), _) => None,
            (Some(m), _) => Some(m),
            (None, Some(InstallMedium::Remote(_))) => None,
            (None, m) => m.as_ref(),
        }
    }

    /// Whether networking is needed even without `ip=`: a remote kickstart or server.
    pub fn wants_network(&self) -> bool {
        matches!(self.kickstart, Some(KickstartSource::Url(_))) || self.server.is_some()
    }
}

#[cfg(test)]
mod tests;
