//! The debian test image boots: a GPT disk assembled by hand from it (ESP with systemd-boot,
//! ext4 root, as for the tiny image) boots under OVMF with systemd, prints the same
//! `KICKSTAND-BOOTED` line, and a key this test made logs in over SSH (user-mode networking,
//! forwarded from 127.0.0.1 only).

use qemu_harness::gate;
use qemu_harness::images::debian;
use qemu_harness::images::tiny::{BOOTED, BootReport};
use qemu_harness::images::{disk, unpack};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const HOSTNAME: &str = "debian-smoke";

#[test]
fn the_debian_image_boots_under_ovmf_and_accepts_ssh_logins() {
    if !gate::vm_test(
        "the_debian_image_boots_under_ovmf_and_accepts_ssh_logins",
        true,
    ) {
        return;
    }
    let image = debian::debian().unwrap();
    eprintln!(
        "debian image: {} ({:.1} MiB, kernel {})",
        image.layout.display(),
        image.size as f64 / (1024.0 * 1024.0),
        image.kernel_version
    );
    let work = tempfile::tempdir().unwrap();
    let rootfs = work.path().join("rootfs");
    unpack::unpack_layout(&image.layout, Some(debian::TAG), &rootfs).unwrap();

    std::fs::write(rootfs.join("etc/hostname"), format!("{HOSTNAME}\n")).unwrap();
    let key = work.path().join("id");
    let fingerprint = qemu_harness::ssh::keygen(&key).unwrap();
    add_user(&rootfs, "admin", 1000, &key.with_extension("pub"));

    let disk = disk::uefi_disk(&rootfs, &work.path().join("disk.raw"), 1536).unwrap();
    let port = free_port();
    let start = Instant::now();
    let mut vm = qemu_harness::VmBuilder::new("debian-uefi-disk")
        .workdir(work.path())
        .firmware(qemu_harness::Firmware::Uefi)
        .memory_mib(1024)
        .disk(qemu_harness::Disk::new(&disk.path).bootindex(1))
        .nic(qemu_harness::Nic::user().host_forward(port, 22))
        .start()
        .unwrap();
    let line = vm.wait_for_line(BOOTED, Duration::from_secs(420)).unwrap();
    let booted = start.elapsed();
    eprintln!("booted in {:.1}s: {line}", booted.as_secs_f64());
    let report = BootReport::parse(&line).unwrap();
    assert_eq!(report.get("hostname"), Some(HOSTNAME), "{line}");
    assert!(
        report
            .get("users")
            .is_some_and(|u| u.starts_with("root,") && u.ends_with(",admin")),
        "{line}"
    );
    assert_eq!(
        report.keys(),
        [("admin".to_owned(), fingerprint, "ok".to_owned())],
        "{line}"
    );
    assert_eq!(report.get("root"), Some("/dev/vda2"), "{line}");
    assert_eq!(report.get("rootfs"), Some("ext4"), "{line}");
    assert_eq!(report.get("fstab"), Some("ok"), "{line}");
    assert_eq!(report.get("mounts"), Some("/boot/efi:vfat"), "{line}");
    assert_eq!(report.get("firmware"), Some("UEFI"), "{line}");
    assert_eq!(report.get("unpack"), Some("ok"), "{line}");
    assert_eq!(
        report.get("kernel"),
        Some(image.kernel_version.as_str()),
        "{line}"
    );

    // sshd started before the report; the user-mode network may need a moment more.
    let deadline = Instant::now() + Duration::from_secs(90);
    let hostnamectl = loop {
        match ssh(&key, port, "hostnamectl") {
            Ok(out) => break out,
            Err(e) if Instant::now() < deadline => {
                eprintln!("ssh not ready yet: {e}");
                std::thread::sleep(Duration::from_secs(3));
            }
            Err(e) => panic!("ssh admin@127.0.0.1:{port} failed: {e}"),
        }
    };
    eprintln!(
        "logged in over SSH {:.1}s after start\n{hostnamectl}",
        start.elapsed().as_secs_f64()
    );
    assert!(
        hostnamectl.contains(&format!("Static hostname: {HOSTNAME}")),
        "{hostnamectl}"
    );
    assert!(
        hostnamectl.contains("Debian GNU/Linux 12 (bookworm)"),
        "{hostnamectl}"
    );
    let findmnt = ssh(&key, port, "findmnt -n -o SOURCE,FSTYPE /").unwrap();
    assert_eq!(
        findmnt.split_whitespace().collect::<Vec<_>>(),
        ["/dev/vda2", "ext4"],
        "{findmnt}"
    );
    let failed = ssh(&key, port, "systemctl --failed --no-legend --plain").unwrap();
    assert_eq!(failed.trim(), "", "failed units:\n{failed}");
    let id = ssh(&key, port, "id -un").unwrap();
    assert_eq!(id.trim(), "admin");
}

/// Adds `name` (uid and gid `id`, bash, no password) with `key` in its `authorized_keys`.
fn add_user(rootfs: &Path, name: &str, id: u32, key: &Path) {
    let append = |file: &str, line: String| {
        let path = rootfs.join(file);
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str(&line);
        std::fs::write(&path, text).unwrap();
    };
    append(
        "etc/passwd",
        format!("{name}:x:{id}:{id}:Test user:/home/{name}:/bin/bash\n"),
    );
    append("etc/shadow", format!("{name}:*:20454:0:99999:7:::\n"));
    append("etc/group", format!("{name}:x:{id}:\n"));
    append("etc/gshadow", format!("{name}:!::\n"));
    let home = rootfs.join("home").join(name);
    let ssh = home.join(".ssh");
    std::fs::create_dir_all(&ssh).unwrap();
    std::fs::copy(key, ssh.join("authorized_keys")).unwrap();
    for (path, mode) in [
        (&home, 0o755),
        (&ssh, 0o700),
        (&ssh.join("authorized_keys"), 0o600),
    ] {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
        std::os::unix::fs::chown(path, Some(id), Some(id)).unwrap();
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs `command` as admin over SSH on the forwarded port; its stdout, or stderr as the error.
fn ssh(key: &Path, port: u16, command: &str) -> Result<String, String> {
    let out = Command::new("ssh")
        .args(qemu_harness::ssh::options(key))
        .arg("-p")
        .arg(port.to_string())
        .arg("admin@127.0.0.1")
        .arg(command)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}
