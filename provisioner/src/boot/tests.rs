use super::*;
use crate::testutil::fixture;

const KNOWN: &str = "52:54:00:12:34:56";
const STRANGER: &str = "52:54:00:99:99:99";

/// What a case expects: the kind of response and text it must and must not contain.
#[derive(Debug)]
enum Want {
    Ignore,
    Chainload(&'static str, Option<&'static str>),
    Ipxe(&'static [&'static str], &'static [&'static str]),
    Grub(&'static [&'static str], &'static [&'static str]),
}

fn req(mac: &str, arch: Arch, client: Client, http: bool) -> Request {
    Request {
        mac: mac.parse().unwrap(),
        arch,
        client,
        http,
    }
}

fn state(status: Status) -> MachineState {
    MachineState {
        status,
        error: (status == Status::Failed).then(|| "no disk matches --drives=sdz".to_string()),
    }
}

fn check(extra: &str, cases: &[(&str, Status, Request, Want)]) {
    let f = fixture(extra);
    for (name, status, request, want) in cases {
        let got = respond(&f.config, &state(*status), request);
        let contains = |text: &str, yes: &[&str], no: &[&str]| {
            for y in yes {
                assert!(text.contains(y), "{name}: expected {y:?} in\n{text}");
            }
            for n in no {
                assert!(!text.contains(n), "{name}: did not expect {n:?} in\n{text}");
            }
        };
        match (want, &got) {
            (Want::Ignore, Response::Ignore) => {}
            (Want::Chainload(file, url), Response::Chainload { file: f, url: u }) => {
                assert_eq!(f.name, *file, "{name}");
                assert_eq!(u.as_deref(), *url, "{name}");
            }
            (Want::Ipxe(yes, no), Response::IpxeScript(s)) => contains(s, yes, no),
            (Want::Grub(yes, no), Response::GrubConfig(s)) => contains(s, yes, no),
            _ => panic!("{name}: expected {want:?}, got {got:?}"),
        }
    }
}

const INSTALL: &[&str] = &[
    "#!ipxe",
    "kernel http://192.0.2.1:8080/boot/install-web/vmlinuz initrd=installer.img inst.ks=http://192.0.2.1:8080/ks/52:54:00:12:34:56 BOOTIF=01-52-54-00-12-34-56 ip=dhcp kickstand.server=http://192.0.2.1:8080 kickstand.insecure_registry=192.0.2.1:8080 console=ttyS0\n",
    "initrd --name installer.img http://192.0.2.1:8080/boot/install-web/installer.img\n",
    "boot\n",
];

#[test]
fn decisions() {
    use Arch::*;
    use Client::*;
    use Status::*;
    check(
        "",
        &[
            (
                "bios pxe gets undionly",
                New,
                req(KNOWN, Bios, Firmware, false),
                Want::Chainload("undionly.kpxe", None),
            ),
            (
                "uefi pxe gets snponly",
                New,
                req(KNOWN, EfiX64, Firmware, false),
                Want::Chainload("snponly.efi", None),
            ),
            (
                "uefi http boot gets a URL",
                New,
                req(KNOWN, EfiX64, Firmware, true),
                Want::Chainload(
                    "snponly.efi",
                    Some("http://192.0.2.1:8080/ipxe-bin/snponly.efi"),
                ),
            ),
            (
                "arm64 without a binary gets nothing",
                New,
                req(KNOWN, EfiArm64, Firmware, false),
                Want::Ignore,
            ),
            (
                "ipxe gets the install script",
                New,
                req(KNOWN, Bios, Ipxe, false),
                Want::Ipxe(INSTALL, &["exit", "authfile"]),
            ),
            (
                "a booting machine that reboots installs again",
                Booting,
                req(KNOWN, EfiX64, Ipxe, false),
                Want::Ipxe(INSTALL, &["exit"]),
            ),
            (
                "installing too",
                Installing,
                req(KNOWN, EfiX64, Ipxe, false),
                Want::Ipxe(INSTALL, &[]),
            ),
            (
                "installed boots locally",
                Installed,
                req(KNOWN, EfiX64, Ipxe, false),
                Want::Ipxe(
                    // A failure status, or OVMF opens its boot menu instead of the disk.
                    &["#!ipxe", "is installed", "\nexit 1\n"],
                    &["kernel", "inst.ks"],
                ),
            ),
            (
                "failed boots locally and says why",
                Failed,
                req(KNOWN, Bios, Ipxe, false),
                Want::Ipxe(
                    &[
                        "failed: no disk matches --drives=sdz",
                        "kickstand machines reinstall 52:54:00:12:34:56",
                        "\nexit 1\n",
                    ],
                    &["kernel"],
                ),
            ),
            (
                "installed still chainloads iPXE",
                Installed,
                req(KNOWN, Bios, Firmware, false),
                Want::Chainload("undionly.kpxe", None),
            ),
            (
                "grub install",
                New,
                req(KNOWN, EfiX64, Grub, false),
                Want::Grub(
                    &[
                        "linux (http,192.0.2.1:8080)/boot/install-web/vmlinuz inst.ks=http://192.0.2.1:8080/ks/52:54:00:12:34:56",
                        "initrd (http,192.0.2.1:8080)/boot/install-web/installer.img",
                    ],
                    &["initrd=", "exit"],
                ),
            ),
            (
                "grub installed uefi exits",
                Installed,
                req(KNOWN, EfiX64, Grub, false),
                Want::Grub(&["exit"], &["linux"]),
            ),
            (
                "grub installed bios chains the disk",
                Installed,
                req(KNOWN, Bios, Grub, false),
                Want::Grub(&["chainloader +1"], &["linux"]),
            ),
            (
                "unknown gets nothing (firmware)",
                New,
                req(STRANGER, EfiX64, Firmware, true),
                Want::Ignore,
            ),
            (
                "unknown gets nothing (ipxe)",
                New,
                req(STRANGER, Bios, Ipxe, false),
                Want::Ignore,
            ),
            (
                "unknown gets nothing (grub)",
                New,
                req(STRANGER, EfiX64, Grub, false),
                Want::Ignore,
            ),
        ],
    );
}

#[test]
fn unknown_profile_and_credentials() {
    use Arch::*;
    use Client::*;
    use Status::*;
    check(
        "[unknown]\nprofile = \"install-web\"\n\n[credentials.\"registry.example:5000\"]\nusername = \"u\"\npassword = \"p\"\n",
        &[
            (
                "unknown installs the default profile",
                New,
                req(STRANGER, Bios, Ipxe, false),
                Want::Ipxe(
                    &[
                        "inst.ks=http://192.0.2.1:8080/ks/52:54:00:99:99:99",
                        "unknown machine",
                        "kickstand.authfile=http://192.0.2.1:8080/auth/52:54:00:99:99:99 console=ttyS0",
                    ],
                    &[],
                ),
            ),
            (
                "unknown firmware chainloads",
                New,
                req(STRANGER, Bios, Firmware, false),
                Want::Chainload("undionly.kpxe", None),
            ),
        ],
    );
    // An explicit empty profile means nothing, like no [unknown] at all.
    check(
        "[unknown]\nprofile = \"\"\n",
        &[(
            "empty profile",
            New,
            req(STRANGER, Bios, Ipxe, false),
            Want::Ignore,
        )],
    );
}

#[test]
fn https_and_no_images_drop_insecure_registry() {
    let f = fixture("");
    let mut config = f.config.clone();
    config.server.public_url.https = true;
    let profile = &config.profiles["install-web"];
    let args = kernel_args(&config, profile, KNOWN.parse().unwrap());
    assert!(!args.contains("insecure_registry"), "{args}");
    assert!(
        args.starts_with("inst.ks=https://192.0.2.1:8080/ks/"),
        "{args}"
    );
    config.server.public_url.https = false;
    config.images.clear();
    let args = kernel_args(&config, profile, KNOWN.parse().unwrap());
    assert!(!args.contains("insecure_registry"), "{args}");
}

#[test]
fn option93() {
    assert_eq!(Arch::from_option93(0), Some((Arch::Bios, false)));
    assert_eq!(Arch::from_option93(7), Some((Arch::EfiX64, false)));
    assert_eq!(Arch::from_option93(9), Some((Arch::EfiX64, false)));
    assert_eq!(Arch::from_option93(16), Some((Arch::EfiX64, true)));
    assert_eq!(Arch::from_option93(19), Some((Arch::EfiArm64, true)));
    assert_eq!(Arch::from_option93(6), None);
}
