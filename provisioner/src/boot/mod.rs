//! The boot decision: given the configuration, what we know of a machine and what it asked,
//! what it gets. Pure (no I/O): TFTP, HTTP and (later) DHCP only encode and decode around it.

use crate::config::{BootFile, Config, Profile};
use crate::mac::MacAddr;

/// Client system architecture (DHCP option 93).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    Bios,
    EfiX64,
    EfiArm64,
}

impl Arch {
    /// From option 93's value; `None` for architectures we do not boot (IA32, Itanium, ...).
    pub fn from_option93(code: u16) -> Option<(Arch, bool)> {
        match code {
            0 => Some((Arch::Bios, false)),
            7 | 9 => Some((Arch::EfiX64, false)),
            11 => Some((Arch::EfiArm64, false)),
            16 => Some((Arch::EfiX64, true)),
            19 => Some((Arch::EfiArm64, true)),
            _ => None,
        }
    }
}

/// Which program is asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Client {
    /// The firmware's own PXE or HTTP Boot stack: it needs a boot program.
    Firmware,
    /// iPXE (user class `iPXE`): it wants a script.
    Ipxe,
    /// GRUB's network image (grubnetx64): it reads `grub.cfg`.
    Grub,
}

/// One boot request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    pub mac: MacAddr,
    pub arch: Arch,
    pub client: Client,
    /// The firmware boots over HTTP (UEFI HTTP Boot): answer with a URL rather than a TFTP name.
    pub http: bool,
}

/// What we know of a machine from the inventory database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Status {
    /// Never booted from us, or re-armed by an operator.
    #[default]
    New,
    /// Fetched its installer.
    Booting,
    /// The installer reported progress.
    Installing,
    /// The installer reported success: boot the local disk from now on.
    Installed,
    /// The installer reported an error: do not loop into another install.
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::Booting => "booting",
            Status::Installing => "installing",
            Status::Installed => "installed",
            Status::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Some(match s {
            "new" => Status::New,
            "booting" => Status::Booting,
            "installing" => Status::Installing,
            "installed" => Status::Installed,
            "failed" => Status::Failed,
            _ => return None,
        })
    }
}

/// The machine state the decision needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MachineState {
    pub status: Status,
    /// The error of a failed install, shown on the machine's console.
    pub error: Option<String>,
}

/// The answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// Nothing: the machine is not ours (unknown, and no `[unknown]` profile).
    Ignore,
    /// Load this iPXE binary: its TFTP name (also the file name under `/ipxe-bin/`) and, for
    /// HTTP Boot, its full URL.
    Chainload { file: BootFile, url: Option<String> },
    /// An iPXE script.
    IpxeScript(String),
    /// A GRUB configuration.
    GrubConfig(String),
}

/// Decides what the machine gets.
pub fn respond(config: &Config, state: &MachineState, req: &Request) -> Response {
    let Some(profile) = config.profile_for(&req.mac) else {
        return Response::Ignore;
    };
    let base = config.server.public_url.base();
    let local = matches!(state.status, Status::Installed | Status::Failed);
    match req.client {
        Client::Firmware => {
            let file = match req.arch {
                Arch::Bios => Some(&config.ipxe.bios),
                Arch::EfiX64 => Some(&config.ipxe.efi_x64),
                Arch::EfiArm64 => config.ipxe.efi_arm64.as_ref(),
            };
            match file {
                Some(file) => Response::Chainload {
                    file: file.clone(),
                    url: req.http.then(|| format!("{base}/ipxe-bin/{}", file.name)),
                },
                None => Response::Ignore,
            }
        }
        Client::Ipxe if local => Response::IpxeScript(ipxe_local(req.mac, state)),
        Client::Ipxe => Response::IpxeScript(ipxe_install(config, profile, req.mac)),
        Client::Grub if local => Response::GrubConfig(grub_local(req, state)),
        Client::Grub => Response::GrubConfig(grub_install(config, profile, req.mac)),
    }
}

/// The kernel command line of an install (see DESIGN.md), without `initrd=`.
pub fn kernel_args(config: &Config, profile: &Profile, mac: MacAddr) -> String {
    let base = config.server.public_url.base();
    let mut args = vec![
        format!("inst.ks={base}/ks/{mac}"),
        format!("BOOTIF={}", mac.bootif()),
        "ip=dhcp".to_string(),
        format!("kickstand.server={base}"),
    ];
    if !config.images.is_empty() && !config.server.public_url.https {
        args.push(format!(
            "kickstand.insecure_registry={}",
            config.registry_host()
        ));
    }
    if !config.credentials.is_empty() {
        args.push(format!("kickstand.authfile={base}/auth/{mac}"));
    }
    if !profile.cmdline.trim().is_empty() {
        args.push(profile.cmdline.trim().to_string());
    }
    args.join(" ")
}

fn comment(config: &Config, profile: &Profile, mac: MacAddr) -> String {
    let host = config
        .machines
        .get(&mac)
        .and_then(|m| m.hostname.as_deref())
        .unwrap_or("unknown machine");
    format!("kickstand: {mac} ({host}), profile {}", profile.name)
}

fn ipxe_install(config: &Config, profile: &Profile, mac: MacAddr) -> String {
    let base = config.server.public_url.base();
    let dir = format!("{base}/boot/{}", profile.name);
    let initrd = &profile.initramfs.name;
    format!(
        "#!ipxe\n# {}\necho Kickstand: installing profile {} on {mac}\n\
         kernel {dir}/{} initrd={initrd} {}\n\
         initrd --name {initrd} {dir}/{initrd}\n\
         boot\n",
        comment(config, profile, mac),
        profile.name,
        profile.kernel.name,
        kernel_args(config, profile, mac),
    )
}

fn status_line(mac: MacAddr, state: &MachineState) -> String {
    match (&state.status, &state.error) {
        (Status::Failed, Some(e)) => format!(
            "Kickstand: the install of {mac} failed: {}; booting the local disk. Re-arm with: kickstand machines reinstall {mac}",
            one_line(e)
        ),
        (Status::Failed, None) => format!(
            "Kickstand: the install of {mac} failed; booting the local disk. Re-arm with: kickstand machines reinstall {mac}"
        ),
        _ => format!("Kickstand: {mac} is installed; booting the local disk"),
    }
}

fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect()
}

fn ipxe_local(mac: MacAddr, state: &MachineState) -> String {
    // `exit 1` returns to the firmware, which tries the next boot device: the local disk.
    // The status must be an error: UEFI boot managers (EDK2's BDS, so OVMF) treat a boot
    // option that returns EFI_SUCCESS as done and open their boot menu instead of trying
    // the next one. BIOS (INT 18h) goes on either way.
    format!(
        "#!ipxe\necho {}\nexit 1\n",
        status_line(mac, state).replace('$', "")
    )
}

fn grub_install(config: &Config, profile: &Profile, mac: MacAddr) -> String {
    let (host, port) = split_authority(config.registry_host());
    let proto = if config.server.public_url.https {
        "https"
    } else {
        "http"
    };
    let dev = match port {
        Some(p) => format!("({proto},{host}:{p})"),
        None => format!("({proto},{host})"),
    };
    format!(
        "# {}\nset timeout=0\nmenuentry 'Kickstand install ({})' {{\n  \
         echo 'Kickstand: installing profile {} on {mac}'\n  \
         linux {dev}/boot/{}/{} {}\n  initrd {dev}/boot/{}/{}\n}}\n",
        comment(config, profile, mac),
        profile.name,
        profile.name,
        profile.name,
        profile.kernel.name,
        kernel_args(config, profile, mac),
        profile.name,
        profile.initramfs.name,
    )
}

fn grub_local(req: &Request, state: &MachineState) -> String {
    let echo = status_line(req.mac, state).replace('\'', "");
    match req.arch {
        Arch::Bios => format!(
            "set timeout=0\nmenuentry 'Local disk' {{\n  echo '{echo}'\n  set root=(hd0)\n  chainloader +1\n  boot\n}}\n"
        ),
        // UEFI: return to the firmware's boot order, which holds the installed boot loader.
        _ => format!("set timeout=0\nmenuentry 'Local disk' {{\n  echo '{echo}'\n  exit\n}}\n"),
    }
}

fn split_authority(authority: &str) -> (&str, Option<&str>) {
    match authority.rsplit_once(':') {
        Some((h, p)) if !p.contains(']') && p.bytes().all(|c| c.is_ascii_digit()) => (h, Some(p)),
        _ => (authority, None),
    }
}

#[cfg(test)]
mod tests;
