//! Where a kickstart and its `%include`s come from (pure): an include target resolved against
//! the file that includes it, a source's display name, and the headers `inst.ks.sendmac` and
//! `inst.ks.sendsn` add to HTTP requests (Anaconda's names, which provisioning servers such as
//! Cobbler and Foreman read).

use super::cmdline::{CmdlineError, DeviceSpec, KickstartSource, parse_ks};
use super::netplan::Nic;

/// The name a fetched kickstart carries in diagnostics and that includes resolve against:
/// the URL, the local path, or `hd:DEVICE:/path` / `cdrom:/path`.
pub fn display(source: &KickstartSource) -> String {
    match source {
        KickstartSource::Url(u) => u.clone(),
        KickstartSource::File(p) => p.clone(),
        KickstartSource::Disk { device, path } => format!("hd:{}:{path}", device_text(device)),
        KickstartSource::Cdrom { device: None, path } => format!("cdrom:{path}"),
        KickstartSource::Cdrom {
            device: Some(d),
            path,
        } => format!("cdrom:{}:{path}", device_text(d)),
    }
}

fn device_text(d: &DeviceSpec) -> String {
    match d {
        DeviceSpec::Label(l) => format!("LABEL={l}"),
        DeviceSpec::Uuid(u) => format!("UUID={u}"),
        DeviceSpec::PartLabel(l) => format!("PARTLABEL={l}"),
        DeviceSpec::Path(p) => p.clone(),
    }
}

/// `rel` joined to the directory of `base` (both `/`-separated, `base` absolute).
fn join_path(base: &str, rel: &str) -> String {
    let dir = match base.rfind('/') {
        Some(i) => &base[..=i],
        None => "/",
    };
    let joined = format!("{dir}{rel}");
    let mut parts: Vec<&str> = Vec::new();
    for seg in joined.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    format!("/{}", parts.join("/"))
}

/// Resolves `%include TARGET` written in the kickstart named `from` (a name from
/// [`display`]). Absolute URLs and `file:`/`hd:`/`cdrom:` forms stand alone; an absolute path
/// is a file in the installer's own file system (what `%pre` writes, e.g. `/tmp/part-include`);
/// a relative path is relative to the including file, over the same transport.
pub fn resolve_include(target: &str, from: &str) -> Result<KickstartSource, CmdlineError> {
    let target = target.trim();
    if target.contains("://")
        || ["file:", "hd:", "cdrom:"]
            .iter()
            .any(|p| target.starts_with(p))
    {
        return parse_ks(target);
    }
    if target.starts_with('/') {
        return Ok(KickstartSource::File(target.to_string()));
    }
    let parent = parse_ks(from).unwrap_or_else(|_| KickstartSource::File(from.to_string()));
    Ok(match parent {
        KickstartSource::Url(url) => {
            let cut = url.find(['?', '#']).unwrap_or(url.len());
            let url = &url[..cut];
            let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
            let (host, path) = match rest.find('/') {
                Some(i) => (&rest[..i], &rest[i..]),
                None => (rest, "/"),
            };
            KickstartSource::Url(format!("{scheme}://{host}{}", join_path(path, target)))
        }
        KickstartSource::File(p) => KickstartSource::File(join_path(&p, target)),
        KickstartSource::Disk { device, path } => KickstartSource::Disk {
            device,
            path: join_path(&path, target),
        },
        KickstartSource::Cdrom { device, path } => KickstartSource::Cdrom {
            device,
            path: join_path(&path, target),
        },
    })
}

/// Headers for fetching a kickstart over HTTP: `X-RHN-Provisioning-MAC-N: IFACE MAC` for each
/// NIC (`inst.ks.sendmac`) and `X-System-Serial-Number` (`inst.ks.sendsn`, when the firmware
/// reports a serial number).
pub fn http_headers(
    sendmac: bool,
    sendsn: bool,
    nics: &[Nic],
    serial: Option<&str>,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if sendmac {
        let mut sorted: Vec<&Nic> = nics.iter().collect();
        sorted.sort_by(|a, b| crate::hardware::natural_cmp(&a.name, &b.name));
        for (i, n) in sorted.iter().enumerate() {
            out.push((
                format!("X-RHN-Provisioning-MAC-{i}"),
                format!("{} {}", n.name, n.mac_text()),
            ));
        }
    }
    if sendsn && let Some(s) = serial.map(str::trim).filter(|s| !s.is_empty()) {
        out.push(("X-System-Serial-Number".into(), s.to_string()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> KickstartSource {
        KickstartSource::Url(s.into())
    }

    #[test]
    fn includes_resolve_against_their_parent() {
        let from = "http://10.0.0.1:8080/ks/node7.cfg?token=x";
        assert_eq!(
            resolve_include("parts.cfg", from).unwrap(),
            url("http://10.0.0.1:8080/ks/parts.cfg")
        );
        assert_eq!(
            resolve_include("../common/users.cfg", from).unwrap(),
            url("http://10.0.0.1:8080/common/users.cfg")
        );
        assert_eq!(
            resolve_include("x.cfg", "https://h").unwrap(),
            url("https://h/x.cfg")
        );
        // What %pre wrote stays local, whatever the parent was.
        assert_eq!(
            resolve_include("/tmp/part-include", from).unwrap(),
            KickstartSource::File("/tmp/part-include".into())
        );
        assert_eq!(
            resolve_include("https://other/y.cfg", from).unwrap(),
            url("https://other/y.cfg")
        );
        assert_eq!(
            resolve_include("sub/z.cfg", "/ks.cfg").unwrap(),
            KickstartSource::File("/sub/z.cfg".into())
        );
        assert_eq!(
            resolve_include("more.cfg", "hd:LABEL=KS:/ks/main.cfg").unwrap(),
            KickstartSource::Disk {
                device: DeviceSpec::Label("KS".into()),
                path: "/ks/more.cfg".into()
            }
        );
        assert_eq!(
            display(&resolve_include("a.cfg", "cdrom:/ks.cfg").unwrap()),
            "cdrom:/a.cfg"
        );
        assert!(resolve_include("ftp://h/x", from).is_err());
    }

    #[test]
    fn display_round_trips_through_the_parser() {
        for s in [
            "http://h/ks.cfg",
            "hd:LABEL=KS:/ks.cfg",
            "hd:/dev/sdb1:/a/b.cfg",
            "cdrom:/ks.cfg",
            "cdrom:/dev/sr0:/ks.cfg",
        ] {
            assert_eq!(display(&parse_ks(s).unwrap()), s);
        }
        assert_eq!(display(&parse_ks("file:/ks.cfg").unwrap()), "/ks.cfg");
    }

    #[test]
    fn sendmac_and_sendsn_headers() {
        let nics = [
            Nic {
                name: "eth1".into(),
                mac: [0x52, 0x54, 0, 0xab, 0, 1],
                carrier: true,
            },
            Nic {
                name: "eth0".into(),
                mac: [0x52, 0x54, 0, 0xab, 0, 0],
                carrier: false,
            },
        ];
        assert_eq!(
            http_headers(true, true, &nics, Some("SN-42\n")),
            vec![
                (
                    "X-RHN-Provisioning-MAC-0".to_string(),
                    "eth0 52:54:00:ab:00:00".to_string()
                ),
                (
                    "X-RHN-Provisioning-MAC-1".to_string(),
                    "eth1 52:54:00:ab:00:01".to_string()
                ),
                ("X-System-Serial-Number".to_string(), "SN-42".to_string()),
            ]
        );
        assert!(http_headers(false, true, &nics, Some(" ")).is_empty());
        assert!(http_headers(false, false, &nics, Some("x")).is_empty());
    }
}
