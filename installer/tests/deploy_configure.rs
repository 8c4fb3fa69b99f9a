//! The configure half of the flat deploy against a realistic target root (a Debian base
//! system's account files): exact file contents, modes and owners, a second SHA-512 crypt
//! implementation (OpenSSL) for the hashes, and shadow-utils' own checkers (`pwck`/`grpck`)
//! run against the target.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use kickstand_installer::deploy::network::{self, BootProto, Network};
use kickstand_installer::deploy::password::Password;
use kickstand_installer::deploy::system::{self, Keyboard, Timezone};
use kickstand_installer::deploy::users::{self, GroupRef, RootPw, SshKey, User};
use kickstand_installer::deploy::{TargetRoot, fstab};

const TODAY: u64 = 20_417;

const PASSWD: &str = "\
root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
bin:x:2:2:bin:/bin:/usr/sbin/nologin
sys:x:3:3:sys:/dev:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
_apt:x:42:65534::/nonexistent:/usr/sbin/nologin
";
const SHADOW: &str = "\
root:*:20400:0:99999:7:::
daemon:*:20400:0:99999:7:::
bin:*:20400:0:99999:7:::
sys:*:20400:0:99999:7:::
nobody:*:20400:0:99999:7:::
_apt:*:20400:0:99999:7:::
";
const GROUP: &str = "\
root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
sudo:x:27:
shadow:x:42:
nogroup:x:65534:
";
const GSHADOW: &str = "\
root:*::
daemon:*::
bin:*::
sys:*::
sudo:*::
shadow:*::
nogroup:*::
";

const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGb9ZfJKm5Y0iVYkZb6iQdDk3hTqJQ0nm6GkxvJzS4vE admin@example";

/// A Debian-like target root.
fn debian_root() -> (tempfile::TempDir, TargetRoot) {
    let dir = tempfile::tempdir().unwrap();
    let root = TargetRoot::new(dir.path());
    root.write("/etc/passwd", PASSWD.as_bytes(), 0o644).unwrap();
    root.write("/etc/shadow", SHADOW.as_bytes(), 0o640).unwrap();
    std::os::unix::fs::chown(dir.path().join("etc/shadow"), Some(0), Some(42)).ok();
    root.write("/etc/group", GROUP.as_bytes(), 0o644).unwrap();
    root.write("/etc/gshadow", GSHADOW.as_bytes(), 0o640)
        .unwrap();
    root.write(
        "/etc/login.defs",
        b"UID_MIN 1000\nUID_MAX 60000\nGID_MIN 1000\nGID_MAX 60000\nHOME_MODE 0700\n",
        0o644,
    )
    .unwrap();
    root.write("/etc/skel/.bashrc", b"# ~/.bashrc\n", 0o644)
        .unwrap();
    root.write("/etc/skel/.config/app/settings", b"x=1\n", 0o600)
        .unwrap();
    std::os::unix::fs::symlink(".bashrc", dir.path().join("etc/skel/.rc")).unwrap();
    root.write("/usr/bin/bash", b"", 0o755).unwrap();
    std::os::unix::fs::symlink("usr/bin", dir.path().join("bin")).unwrap();
    root.write("/usr/sbin/nologin", b"", 0o755).unwrap();
    root.write("/usr/share/zoneinfo/Europe/Prague", b"TZif", 0o644)
        .unwrap();
    root.write("/usr/share/zoneinfo/Etc/UTC", b"TZif", 0o644)
        .unwrap();
    // Absolute, as Debian ships it: must resolve inside the target, not on the host.
    std::os::unix::fs::symlink(
        "/usr/share/zoneinfo/Etc/UTC",
        dir.path().join("etc/localtime"),
    )
    .unwrap();
    root.write(
        "/etc/machine-id",
        b"0123456789abcdef0123456789abcdef\n",
        0o444,
    )
    .unwrap();
    root.write(
        "/var/lib/dbus/machine-id",
        b"0123456789abcdef0123456789abcdef\n",
        0o444,
    )
    .unwrap();
    root.write(
        "/usr/lib/systemd/system/systemd-networkd.service",
        b"[Unit]\n",
        0o644,
    )
    .unwrap();
    root.create_dir_all("/root").unwrap();
    root.create_dir_all("/dev").unwrap();
    root.create_dir_all("/home").unwrap();
    (dir, root)
}

fn read(dir: &Path, path: &str) -> String {
    fs::read_to_string(dir.join(path)).unwrap()
}

fn mode_owner(path: &Path) -> (u32, u32, u32) {
    let m = fs::symlink_metadata(path).unwrap();
    (m.mode() & 0o7777, m.uid(), m.gid())
}

fn users_and_keys() -> (RootPw, Vec<User>, Vec<SshKey>) {
    let rootpw = RootPw {
        password: Some(Password::Plain("correct horse".into())),
        lock: false,
        allow_ssh: true,
    };
    let admin = User {
        name: "admin".into(),
        groups: vec![
            GroupRef {
                name: "wheel".into(),
                gid: None,
            },
            GroupRef {
                name: "sudo".into(),
                gid: None,
            },
            GroupRef {
                name: "docker".into(),
                gid: Some(2000),
            },
        ],
        password: Some(Password::Crypted("$6$saltsalt$abcdefghijklmnop".into())),
        gecos: Some("Admin User".into()),
        ..User::default()
    };
    let svc = User {
        name: "svc".into(),
        uid: Some(1500),
        lock: true,
        shell: Some("/usr/sbin/nologin".into()),
        homedir: Some("/srv/svc".into()),
        ..User::default()
    };
    let keys = vec![
        SshKey {
            username: "admin".into(),
            key: KEY.into(),
        },
        SshKey {
            username: "root".into(),
            key: KEY.into(),
        },
    ];
    (rootpw, vec![admin, svc], keys)
}

#[test]
fn users_groups_passwords_homes_and_keys() {
    let (dir, root) = debian_root();
    let d = dir.path();
    let (rootpw, users, keys) = users_and_keys();
    users::apply(&root, Some(&rootpw), &users, &keys, TODAY).unwrap();

    assert_eq!(
        read(d, "etc/passwd"),
        format!(
            "{PASSWD}admin:x:1000:1000:Admin User:/home/admin:/bin/bash\nsvc:x:1500:1500::/srv/svc:/usr/sbin/nologin\n"
        )
    );
    assert_eq!(
        read(d, "etc/group"),
        "root:x:0:\ndaemon:x:1:\nbin:x:2:\nsys:x:3:\nsudo:x:27:admin\nshadow:x:42:\nnogroup:x:65534:\n\
         admin:x:1000:\nwheel:x:1001:admin\ndocker:x:2000:admin\nsvc:x:1500:\n"
    );
    assert_eq!(
        read(d, "etc/gshadow"),
        "root:*::\ndaemon:*::\nbin:*::\nsys:*::\nsudo:*::admin\nshadow:*::\nnogroup:*::\n\
         admin:!::\nwheel:!::admin\ndocker:!::admin\nsvc:!::\n"
    );
    let shadow = read(d, "etc/shadow");
    let root_hash = shadow
        .lines()
        .next()
        .unwrap()
        .split(':')
        .nth(1)
        .unwrap()
        .to_string();
    assert_eq!(
        shadow,
        format!(
            "root:{root_hash}:{TODAY}:0:99999:7:::\n{}admin:$6$saltsalt$abcdefghijklmnop:{TODAY}:0:99999:7:::\nsvc:!:{TODAY}:0:99999:7:::\n",
            SHADOW.split_once('\n').unwrap().1
        )
    );
    // shadow keeps Debian's mode and group.
    let (mode, _, gid) = mode_owner(&d.join("etc/shadow"));
    assert_eq!(mode, 0o640);
    assert_eq!(gid, 42);

    // SHA-512 crypt, checked by a second implementation.
    let fields: Vec<&str> = root_hash.split('$').collect();
    assert_eq!(fields[..3], ["", "6", "rounds=5000"], "{root_hash}");
    let openssl = Command::new("openssl")
        .args(["passwd", "-6", "-salt", fields[3], "correct horse"])
        .output()
        .expect("openssl (Debian package openssl)");
    assert!(openssl.status.success());
    assert_eq!(
        String::from_utf8(openssl.stdout).unwrap().trim(),
        format!("$6${}${}", fields[3], fields[4])
    );
    // And glibc's crypt(3) (through Python, where it still has the module) verifies the
    // whole stored string, the way login does.
    let py = Command::new("python3")
        .args([
            "-W",
            "ignore",
            "-c",
            "import crypt,sys; print(crypt.crypt(sys.argv[1], sys.argv[2]) == sys.argv[2])",
            "correct horse",
            &root_hash,
        ])
        .output();
    if let Some(out) = py.ok().filter(|o| o.status.success()) {
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "True",
            "{root_hash}"
        );
    }

    // Homes from /etc/skel, owned by the new users.
    assert_eq!(mode_owner(&d.join("home/admin")), (0o700, 1000, 1000));
    assert_eq!(read(d, "home/admin/.bashrc"), "# ~/.bashrc\n");
    assert_eq!(
        mode_owner(&d.join("home/admin/.config/app/settings")),
        (0o600, 1000, 1000)
    );
    assert_eq!(
        fs::read_link(d.join("home/admin/.rc")).unwrap(),
        Path::new(".bashrc")
    );
    assert_eq!(mode_owner(&d.join("srv/svc")), (0o700, 1500, 1500));

    // Keys.
    assert_eq!(mode_owner(&d.join("home/admin/.ssh")), (0o700, 1000, 1000));
    assert_eq!(
        mode_owner(&d.join("home/admin/.ssh/authorized_keys")),
        (0o600, 1000, 1000)
    );
    assert_eq!(
        read(d, "home/admin/.ssh/authorized_keys"),
        format!("{KEY}\n")
    );
    assert_eq!(
        mode_owner(&d.join("root/.ssh/authorized_keys")),
        (0o600, 0, 0)
    );
    assert_eq!(
        read(d, "etc/ssh/sshd_config.d/01-permitrootlogin.conf")
            .lines()
            .last(),
        Some("PermitRootLogin yes")
    );

    // shadow-utils agrees the databases are consistent (read-only, chrooted into the target).
    for tool in ["pwck", "grpck"] {
        let out = Command::new(tool)
            .args(["-r", "-R"])
            .arg(d)
            .output()
            .expect(tool);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // Debian's own accounts with home /nonexistent are the only complaint allowed (pwck
        // exits 2 for them on a pristine Debian system too).
        let other: Vec<&str> = text
            .lines()
            .filter(|l| {
                !l.ends_with("directory '/nonexistent' does not exist")
                    && !l.ends_with("no changes")
            })
            .collect();
        assert!(other.is_empty(), "{tool} -r -R: {} {text}", out.status);
        assert!(
            out.status.success() || text.contains("/nonexistent"),
            "{tool}: {}",
            out.status
        );
    }

    // Applying the same kickstart again is refused before anything is written.
    let before = read(d, "etc/passwd");
    let err = users::apply(&root, Some(&rootpw), &users, &keys, TODAY).unwrap_err();
    assert!(
        err.to_string().contains("already has a user admin"),
        "{err}"
    );
    assert_eq!(read(d, "etc/passwd"), before);
}

#[test]
fn bad_settings_are_refused_before_writing() {
    let (dir, root) = debian_root();
    let cases: Vec<(Vec<User>, Vec<SshKey>, &str)> = vec![
        (
            vec![User {
                name: "Bad Name".into(),
                ..User::default()
            }],
            vec![],
            "is not a valid name",
        ),
        (
            vec![User {
                name: "x".into(),
                uid: Some(0),
                ..User::default()
            }],
            vec![],
            "--uid 0 is already used by root",
        ),
        (
            vec![User {
                name: "x".into(),
                gecos: Some("a:b".into()),
                ..User::default()
            }],
            vec![],
            "contains ':'",
        ),
        (
            vec![User {
                name: "x".into(),
                groups: vec![GroupRef {
                    name: "sudo".into(),
                    gid: Some(5),
                }],
                ..User::default()
            }],
            vec![],
            "has gid 27",
        ),
        (
            vec![],
            vec![SshKey {
                username: "ghost".into(),
                key: KEY.into(),
            }],
            "sshkey --username ghost",
        ),
    ];
    for (users, keys, expected) in cases {
        let err = users::apply(&root, None, &users, &keys, TODAY)
            .unwrap_err()
            .to_string();
        assert!(err.contains(expected), "expected {expected:?} in {err:?}");
        assert_eq!(read(dir.path(), "etc/passwd"), PASSWD);
        assert_eq!(read(dir.path(), "etc/group"), GROUP);
    }
}

#[test]
fn locked_root_and_an_image_without_gshadow() {
    let (dir, root) = debian_root();
    fs::remove_file(dir.path().join("etc/gshadow")).unwrap();
    let rootpw = RootPw {
        password: None,
        lock: true,
        allow_ssh: false,
    };
    let user = User {
        name: "ops".into(),
        groups: vec![GroupRef {
            name: "wheel".into(),
            gid: None,
        }],
        ..User::default()
    };
    users::apply(&root, Some(&rootpw), &[user], &[], TODAY).unwrap();
    assert!(read(dir.path(), "etc/shadow").starts_with(&format!("root:!:{TODAY}:")));
    assert!(!dir.path().join("etc/gshadow").exists());
    assert!(!dir.path().join("etc/ssh/sshd_config.d").exists());
    assert!(read(dir.path(), "etc/group").ends_with("ops:x:1000:\nwheel:x:1001:ops\n"));
}

#[test]
fn locale_keyboard_timezone_machine_id() {
    let (dir, root) = debian_root();
    let d = dir.path();
    system::apply_lang(&root, "cs_CZ.UTF-8").unwrap();
    assert_eq!(read(d, "etc/locale.conf"), "LANG=\"cs_CZ.UTF-8\"\n");
    system::apply_keyboard(
        &root,
        &Keyboard {
            vc_keymap: None,
            x_layouts: vec!["cz (qwerty)".into(), "us".into()],
            switch_options: vec!["grp:alt_shift_toggle".into()],
        },
    )
    .unwrap();
    assert_eq!(read(d, "etc/vconsole.conf"), "KEYMAP=cz\n");
    let x = read(d, "etc/X11/xorg.conf.d/00-keyboard.conf");
    assert!(
        x.contains("Option \"XkbLayout\" \"cz,us\"\n        Option \"XkbVariant\" \"qwerty,\"\n"),
        "{x}"
    );

    system::apply_timezone(
        &root,
        &Timezone {
            name: "Europe/Prague".into(),
            utc: true,
        },
    )
    .unwrap();
    assert_eq!(
        fs::read_link(d.join("etc/localtime")).unwrap(),
        Path::new("../usr/share/zoneinfo/Europe/Prague")
    );
    assert_eq!(read(d, "etc/localtime"), "TZif");
    assert_eq!(read(d, "etc/timezone"), "Europe/Prague\n");
    assert_eq!(read(d, "etc/adjtime"), "0.0 0 0.0\n0\nUTC\n");
    let err = system::apply_timezone(
        &root,
        &Timezone {
            name: "Mars/Olympus".into(),
            utc: false,
        },
    )
    .unwrap_err();
    assert!(err.to_string().contains("has no such zone"), "{err}");
    assert!(
        system::apply_timezone(
            &root,
            &Timezone {
                name: "../../etc/passwd".into(),
                utc: false
            }
        )
        .is_err()
    );

    system::reset_machine_id(&root).unwrap();
    assert_eq!(read(d, "etc/machine-id"), "");
    assert_eq!(mode_owner(&d.join("etc/machine-id")).0, 0o444);
    assert!(!d.join("var/lib/dbus/machine-id").exists());
}

#[test]
fn hostname_and_networkd_or_networkmanager() {
    let (dir, root) = debian_root();
    let d = dir.path();
    network::apply_hostname(&root, "node1.example.com").unwrap();
    assert_eq!(read(d, "etc/hostname"), "node1.example.com\n");
    assert!(network::apply_hostname(&root, "-bad_host").is_err());

    let net = Network {
        device: Some("enp1s0".into()),
        bootproto: BootProto::Static,
        ip: Some("192.0.2.10".into()),
        netmask: Some("255.255.255.0".into()),
        gateway: Some("192.0.2.1".into()),
        nameservers: vec!["192.0.2.53,2001:db8::53".into()],
        onboot: true,
        ..Network::default()
    };
    let path = network::apply_network(&root, &net).unwrap().unwrap();
    assert_eq!(path, "/etc/systemd/network/10-kickstand-enp1s0.network");
    assert_eq!(
        read(d, "etc/systemd/network/10-kickstand-enp1s0.network"),
        "# Written by kickstand-installer from the kickstart's network line.\n[Match]\nName=enp1s0\n\n\
         [Network]\nAddress=192.0.2.10/24\nGateway=192.0.2.1\nIPv6AcceptRA=yes\nDNS=192.0.2.53\nDNS=2001:db8::53\n"
    );
    assert_eq!(
        fs::read_link(
            d.join("etc/systemd/system/multi-user.target.wants/systemd-networkd.service")
        )
        .unwrap(),
        Path::new("/usr/lib/systemd/system/systemd-networkd.service")
    );

    // With NetworkManager in the image, a keyfile (0600) instead.
    root.write(
        "/usr/lib/systemd/system/NetworkManager.service",
        b"[Unit]\n",
        0o644,
    )
    .unwrap();
    let dhcp = Network {
        device: Some("52:54:00:12:34:56".into()),
        onboot: true,
        noipv6: true,
        ..Network::default()
    };
    let path = network::apply_network(&root, &dhcp).unwrap().unwrap();
    assert_eq!(
        path,
        "/etc/NetworkManager/system-connections/525400123456.nmconnection"
    );
    let host = d.join(path.trim_start_matches('/'));
    assert_eq!(
        fs::metadata(&host).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let text = fs::read_to_string(&host).unwrap();
    let uuid = text.lines().find_map(|l| l.strip_prefix("uuid=")).unwrap();
    assert_eq!(uuid.len(), 36);
    assert_eq!(
        text.replace(uuid, "UUID"),
        "# Written by kickstand-installer from the kickstart's network line.\n[connection]\nid=525400123456\n\
         uuid=UUID\ntype=ethernet\nautoconnect=true\n\n[ethernet]\nmac-address=52:54:00:12:34:56\n\n\
         [ipv4]\nmethod=auto\n\n[ipv6]\nmethod=disabled\n"
    );
    let bad = Network {
        bootproto: BootProto::Static,
        ip: Some("192.0.2.300".into()),
        netmask: Some("24".into()),
        ..Network::default()
    };
    assert!(
        network::apply_network(&root, &bad)
            .unwrap_err()
            .to_string()
            .contains("192.0.2.300")
    );
}

#[test]
fn fstab_in_the_target() {
    let (dir, root) = debian_root();
    fstab::write(
        &root,
        &[fstab::FstabEntry {
            uuid: "3b0d8a5e-1111-2222-3333-444455556666".into(),
            mountpoint: "/".into(),
            fstype: "ext4".into(),
            options: String::new(),
            passno: 1,
        }],
    )
    .unwrap();
    assert!(read(dir.path(), "etc/fstab").ends_with(
        "UUID=3b0d8a5e-1111-2222-3333-444455556666 /              ext4    defaults   0       1\n"
    ));
}
