//! From [`wire::File`] to [`Config`]: every check that can fail, each naming its key and line.

use super::*;
use crate::config::wire;
use std::ops::Range;
use toml::Spanned;

/// Debian's `ipxe` package, the default chainload binaries.
const IPXE_BIOS: &str = "/usr/lib/ipxe/undionly.kpxe";
const IPXE_EFI_X64: &str = "/usr/lib/ipxe/snponly.efi";

/// Parses and validates configuration text read from `path` (used for messages and to resolve
/// relative paths).
pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
    let cx = Cx { path, text };
    let file: wire::File = toml::from_str(text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        cx.error(span, e.message().trim_end().to_string())
    })?;
    cx.config(file)
}

struct Cx<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Cx<'_> {
    fn error(&self, span: Range<usize>, message: String) -> ConfigError {
        let before = &self.text[..span.start.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
        ConfigError::Invalid {
            path: self.path.to_path_buf(),
            line,
            column,
            message,
        }
    }

    fn at<T>(&self, value: &Spanned<T>, key: &str, message: impl std::fmt::Display) -> ConfigError {
        self.error(value.span(), format!("{key}: {message}"))
    }

    fn dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }

    /// A path relative to the config file's directory.
    fn path_of(&self, value: &Spanned<String>, key: &str) -> Result<PathBuf, ConfigError> {
        if value.get_ref().is_empty() {
            return Err(self.at(value, key, "expected a path, found an empty string"));
        }
        Ok(self.dir().join(value.get_ref()))
    }

    /// A path that must name an existing regular file.
    fn file(&self, value: &Spanned<String>, key: &str) -> Result<BootFile, ConfigError> {
        let path = self.path_of(value, key)?;
        match std::fs::metadata(&path) {
            Ok(m) if m.is_file() => {}
            Ok(_) => {
                return Err(self.at(
                    value,
                    key,
                    format!("{} is not a regular file", path.display()),
                ));
            }
            Err(e) => {
                return Err(self.at(value, key, format!("cannot read {}: {e}", path.display())));
            }
        }
        BootFile::new(path.clone()).ok_or_else(|| {
            self.at(
                value,
                key,
                format!("{} has no usable file name", path.display()),
            )
        })
    }

    fn config(&self, file: wire::File) -> Result<Config, ConfigError> {
        let server = self.server(&file.server)?;
        let dhcp = self.dhcp(file.dhcp.as_ref())?;
        let mut images = BTreeMap::new();
        for (name, image) in &file.images {
            let key = format!("images.{name}.path");
            if !is_repository_name(name) {
                return Err(self.at(
                    &image.path,
                    &format!("images.{name}"),
                    "image names must be lowercase letters, digits and . _ - / separators (OCI repository names)",
                ));
            }
            let path = self.path_of(&image.path, &key)?;
            if !path.join("index.json").is_file() {
                return Err(self.at(
                    &image.path,
                    &key,
                    format!(
                        "{} is not an OCI image layout (no index.json)",
                        path.display()
                    ),
                ));
            }
            images.insert(
                name.clone(),
                Image {
                    name: name.clone(),
                    path,
                },
            );
        }
        let mut profiles = BTreeMap::new();
        for (name, p) in &file.profiles {
            profiles.insert(name.clone(), self.profile(name, p)?);
        }
        let mut machines = BTreeMap::new();
        for (i, m) in file.machines.iter().enumerate() {
            let machine = self.machine(i, m, &profiles)?;
            if machines.contains_key(&machine.mac) {
                return Err(self.at(
                    &m.mac,
                    &format!("machines[{i}].mac"),
                    format!("{} is listed twice", machine.mac),
                ));
            }
            let twin = machines
                .values()
                .find(|o: &&Machine| machine.ip.is_some() && o.ip == machine.ip);
            if let (Some(twin), Some(ip)) = (twin, &m.ip) {
                return Err(self.at(
                    ip,
                    &format!("machines[{i}].ip"),
                    format!("{} is already the address of {}", ip.get_ref(), twin.mac),
                ));
            }
            machines.insert(machine.mac, machine);
        }
        let unknown_profile = match file.unknown.as_ref().and_then(|u| u.profile.as_ref()) {
            Some(p) if !p.get_ref().is_empty() => {
                if !profiles.contains_key(p.get_ref()) {
                    return Err(self.at(p, "unknown.profile", no_profile(p.get_ref(), &profiles)));
                }
                Some(p.get_ref().clone())
            }
            _ => None,
        };
        let ipxe = self.ipxe(file.ipxe.as_ref())?;
        let credentials = file
            .credentials
            .into_iter()
            .map(|(host, c)| {
                (
                    host,
                    Credential {
                        username: c.username,
                        password: c.password,
                    },
                )
            })
            .collect();
        let api = self.api(file.api.as_ref())?;
        Ok(Config {
            source: self.path.to_path_buf(),
            server,
            dhcp,
            images,
            profiles,
            machines,
            unknown_profile,
            ipxe,
            credentials,
            api,
        })
    }

    fn server(&self, s: &wire::Server) -> Result<Server, ConfigError> {
        let listen = match &s.listen {
            Some(l) => l.get_ref().parse().map_err(|_| {
                self.at(
                    l,
                    "server.listen",
                    "expected an IP address like 0.0.0.0 or 192.0.2.1",
                )
            })?,
            None => IpAddr::from([0, 0, 0, 0]),
        };
        let public_url = parse_public_url(s.public_url.get_ref())
            .map_err(|m| self.at(&s.public_url, "server.public_url", m))?;
        let state_dir = match &s.state_dir {
            Some(d) => self.path_of(d, "server.state_dir")?,
            None => PathBuf::from("/var/lib/kickstand"),
        };
        Ok(Server {
            listen,
            http_port: s.http_port.unwrap_or(8080),
            tftp_port: s.tftp_port.unwrap_or(69),
            public_url,
            state_dir,
        })
    }

    fn dhcp(&self, d: Option<&wire::Dhcp>) -> Result<Dhcp, ConfigError> {
        let mut out = Dhcp {
            mode: DhcpMode::Proxy,
            interface: None,
            range: None,
            router: None,
            dns: Vec::new(),
            lease_time: Duration::from_secs(3600),
        };
        let Some(d) = d else { return Ok(out) };
        if let Some(m) = &d.mode {
            out.mode = match m.get_ref().as_str() {
                "proxy" => DhcpMode::Proxy,
                "full" => DhcpMode::Full,
                "off" => DhcpMode::Off,
                other => {
                    return Err(self.at(
                        m,
                        "dhcp.mode",
                        format!("expected \"proxy\", \"full\" or \"off\", found \"{other}\""),
                    ));
                }
            };
        }
        out.interface = d.interface.as_ref().map(|i| i.get_ref().clone());
        let ipv4 = |v: &Spanned<String>, s: &str, key: &str| -> Result<Ipv4Addr, ConfigError> {
            s.parse()
                .map_err(|_| self.at(v, key, format!("expected an IPv4 address, found \"{s}\"")))
        };
        if let Some(r) = &d.range {
            let [a, b] = r.get_ref().as_slice() else {
                return Err(self.at(r, "dhcp.range", "expected two addresses: [first, last]"));
            };
            let wrap = Spanned::new(r.span(), String::new());
            let (a, b) = (ipv4(&wrap, a, "dhcp.range")?, ipv4(&wrap, b, "dhcp.range")?);
            if a > b {
                return Err(self.at(r, "dhcp.range", format!("{a} comes after {b}")));
            }
            out.range = Some((a, b));
        }
        if let Some(r) = &d.router {
            out.router = Some(ipv4(r, r.get_ref(), "dhcp.router")?);
        }
        if let Some(dns) = &d.dns {
            let wrap = Spanned::new(dns.span(), String::new());
            for s in dns.get_ref() {
                out.dns.push(ipv4(&wrap, s, "dhcp.dns")?);
            }
        }
        if let Some(l) = &d.lease_time {
            out.lease_time =
                parse_duration(l.get_ref()).map_err(|m| self.at(l, "dhcp.lease_time", m))?;
        }
        if out.mode == DhcpMode::Full && out.range.is_none() {
            let span = d.mode.as_ref().map_or(0..0, |m| m.span());
            return Err(self.error(
                span,
                "dhcp.range: mode \"full\" needs a range = [\"first\", \"last\"] of addresses to lease"
                    .into(),
            ));
        }
        if out.mode != DhcpMode::Off && out.interface.is_none() {
            let span = d.mode.as_ref().map_or(0..0, |m| m.span());
            return Err(self.error(
                span,
                "dhcp.interface: DHCP needs the interface to answer on (e.g. interface = \"br0\"), or mode = \"off\"".into(),
            ));
        }
        Ok(out)
    }

    fn profile(&self, name: &str, p: &wire::Profile) -> Result<Profile, ConfigError> {
        let key = |k: &str| format!("profiles.{name}.{k}");
        if !is_name(name) {
            return Err(self.at(
                &p.kernel,
                &format!("profiles.{name}"),
                "profile names may use letters, digits, '-', '_' and '.' only",
            ));
        }
        let kernel = self.file(&p.kernel, &key("kernel"))?;
        let initramfs = self.file(&p.initramfs, &key("initramfs"))?;
        if kernel.name == initramfs.name {
            return Err(self.at(
                &p.initramfs,
                &key("initramfs"),
                format!("has the same file name as the kernel ({}); both are served as /boot/{name}/<file name>", kernel.name),
            ));
        }
        let ks = self.file(&p.kickstart, &key("kickstart"))?;
        let source = std::fs::read_to_string(&ks.path).map_err(|e| {
            self.at(
                &p.kickstart,
                &key("kickstart"),
                format!("cannot read {}: {e}", ks.path.display()),
            )
        })?;
        if let Err(e) = crate::render::check_syntax(&source) {
            return Err(self.at(
                &p.kickstart,
                &key("kickstart"),
                format!("template {}: {e}", ks.path.display()),
            ));
        }
        Ok(Profile {
            name: name.to_string(),
            kernel,
            initramfs,
            kickstart: ks.path,
            kickstart_source: source,
            cmdline: p.cmdline.clone().unwrap_or_default(),
            vars: p.vars.clone(),
        })
    }

    fn machine(
        &self,
        i: usize,
        m: &wire::Machine,
        profiles: &BTreeMap<String, Profile>,
    ) -> Result<Machine, ConfigError> {
        let mac: MacAddr = m
            .mac
            .get_ref()
            .parse()
            .map_err(|e| self.at(&m.mac, &format!("machines[{i}].mac"), e))?;
        if !profiles.contains_key(m.profile.get_ref()) {
            return Err(self.at(
                &m.profile,
                &format!("machines[{i}].profile"),
                no_profile(m.profile.get_ref(), profiles),
            ));
        }
        let hostname = match &m.hostname {
            Some(h) if !is_hostname(h.get_ref()) => {
                return Err(self.at(
                    h,
                    &format!("machines[{i}].hostname"),
                    format!("\"{}\" is not a valid host name (letters, digits and '-' in dot-separated labels of at most 63)", h.get_ref()),
                ));
            }
            h => h.as_ref().map(|h| h.get_ref().clone()),
        };
        let ip = match &m.ip {
            Some(ip) => Some(ip.get_ref().parse::<Ipv4Addr>().map_err(|_| {
                self.at(
                    ip,
                    &format!("machines[{i}].ip"),
                    format!("expected an IPv4 address, found \"{}\"", ip.get_ref()),
                )
            })?),
            None => None,
        };
        Ok(Machine {
            mac,
            profile: m.profile.get_ref().clone(),
            hostname,
            vars: m.vars.clone(),
            ip,
        })
    }

    fn ipxe(&self, i: Option<&wire::Ipxe>) -> Result<Ipxe, ConfigError> {
        let pick = |v: Option<&Spanned<String>>, key: &str, default: Option<&str>| {
            match v {
                Some(v) => self.file(v, key).map(Some),
                // Defaults are checked when served, so a host without the ipxe package can
                // still run the server for HTTP-only setups.
                None => Ok(default.and_then(|d| BootFile::new(PathBuf::from(d)))),
            }
        };
        let i = i.map(|i| (i.bios.as_ref(), i.efi_x64.as_ref(), i.efi_arm64.as_ref()));
        let (b, e, a) = i.unwrap_or((None, None, None));
        Ok(Ipxe {
            bios: pick(b, "ipxe.bios", Some(IPXE_BIOS))?.expect("default"),
            efi_x64: pick(e, "ipxe.efi_x64", Some(IPXE_EFI_X64))?.expect("default"),
            efi_arm64: pick(a, "ipxe.efi_arm64", None)?,
        })
    }
}

/// The shortest operator token accepted: guessing 16 random characters is out of reach.
const MIN_TOKEN_LEN: usize = 16;

impl Cx<'_> {
    /// `[api] token_file`: one line, the token, at least [`MIN_TOKEN_LEN`] visible ASCII
    /// characters (it travels in an HTTP header).
    fn api(&self, a: Option<&wire::Api>) -> Result<Api, ConfigError> {
        let Some(v) = a.and_then(|a| a.token_file.as_ref()) else {
            return Ok(Api::default());
        };
        let key = "api.token_file";
        let path = self.path_of(v, key)?;
        let text = std::fs::read_to_string(&path)
            .map_err(|e| self.at(v, key, format!("cannot read {}: {e}", path.display())))?;
        let token = text.trim();
        if token.len() < MIN_TOKEN_LEN || !token.bytes().all(|c| c.is_ascii_graphic()) {
            return Err(self.at(
                v,
                key,
                format!(
                    "{} must hold one token of at least {MIN_TOKEN_LEN} visible ASCII characters (e.g. `openssl rand -hex 32 > {}`)",
                    path.display(),
                    path.display()
                ),
            ));
        }
        #[cfg(unix)]
        if let Ok(md) = std::fs::metadata(&path) {
            use std::os::unix::fs::PermissionsExt;
            if md.permissions().mode() & 0o077 != 0 {
                tracing::warn!(
                    file = %path.display(),
                    "the API token file is readable by other users: chmod 600 it"
                );
            }
        }
        Ok(Api {
            token: Some(token.to_string()),
        })
    }
}

fn no_profile(name: &str, profiles: &BTreeMap<String, Profile>) -> String {
    let known: Vec<&str> = profiles.keys().map(String::as_str).collect();
    if known.is_empty() {
        format!("no profile \"{name}\": no [profiles.NAME] sections are defined")
    } else {
        format!("no profile \"{name}\" (defined: {})", known.join(", "))
    }
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(&c))
}

fn is_repository_name(s: &str) -> bool {
    !s.is_empty()
        && s.split('/').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"._-".contains(&c))
                && part.as_bytes()[0].is_ascii_alphanumeric()
        })
}

fn is_hostname(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
        })
}

/// `http://host[:port]` with nothing after the authority but an optional `/`.
fn parse_public_url(s: &str) -> Result<PublicUrl, String> {
    let expected = "expected a URL like http://192.0.2.1:8080 (scheme, host and port only)";
    let (https, rest) = if let Some(r) = s.strip_prefix("http://") {
        (false, r)
    } else if let Some(r) = s.strip_prefix("https://") {
        (true, r)
    } else {
        return Err(format!("{expected}, found \"{s}\""));
    };
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    let valid = !authority.is_empty()
        && authority
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b".-:[]".contains(&c));
    if !valid {
        return Err(format!("{expected}, found \"{s}\""));
    }
    Ok(PublicUrl {
        https,
        authority: authority.to_string(),
    })
}

/// `90s`, `30m`, `1h`, `2d` or a plain number of seconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let err =
        || format!("expected a duration like \"90s\", \"30m\", \"1h\" or \"1d\", found \"{s}\"");
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num.parse().map_err(|_| err())?;
    let mult = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return Err(err()),
    };
    Ok(Duration::from_secs(n * mult))
}
