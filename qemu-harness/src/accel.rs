//! Which accelerator QEMU uses: KVM when it really runs guest code, TCG otherwise.
//!
//! On some machines `/dev/kvm` opens but guests hang in the firmware, so the probe boots
//! SeaBIOS with no disks under KVM and waits for its "No bootable device" message on the debug
//! port. The answer is computed once per process and cached per host boot in the asset cache.
//! `KICKSTAND_QEMU_ACCEL=kvm|tcg` overrides the probe.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A QEMU accelerator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    /// Hardware virtualisation.
    Kvm,
    /// QEMU's emulator (slow; what this project's CI machines have).
    Tcg,
}

impl Accel {
    /// The `-accel` argument.
    pub fn arg(self) -> &'static str {
        match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg,thread=multi",
        }
    }
}

/// The accelerator to use, probed once.
pub fn get() -> Accel {
    static ACCEL: OnceLock<Accel> = OnceLock::new();
    *ACCEL.get_or_init(|| {
        let (accel, how) = decide();
        eprintln!("qemu-harness: using {accel:?} ({how})");
        tracing::info!(?accel, how, "QEMU accelerator");
        accel
    })
}

fn decide() -> (Accel, String) {
    match std::env::var("KICKSTAND_QEMU_ACCEL").as_deref() {
        Ok("kvm") => return (Accel::Kvm, "KICKSTAND_QEMU_ACCEL=kvm".into()),
        Ok("tcg") => return (Accel::Tcg, "KICKSTAND_QEMU_ACCEL=tcg".into()),
        _ => {}
    }
    if std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_err()
    {
        return (Accel::Tcg, "/dev/kvm cannot be opened".into());
    }
    let cached = boot_id().and_then(|id| {
        let dir = crate::cache::dir().ok()?;
        Some(dir.join(format!("accel-probe-{id}")))
    });
    if let Some(answer) = cached
        .as_ref()
        .and_then(|p| std::fs::read_to_string(p).ok())
    {
        let accel = if answer.trim() == "kvm" {
            Accel::Kvm
        } else {
            Accel::Tcg
        };
        return (
            accel,
            format!("KVM probe result cached for this boot: {answer}"),
        );
    }
    let (accel, how) = if probe_kvm() {
        (Accel::Kvm, "KVM probe booted SeaBIOS".to_string())
    } else {
        (
            Accel::Tcg,
            "/dev/kvm exists but a KVM guest did not get through SeaBIOS".to_string(),
        )
    };
    if let Some(p) = cached {
        let _ = std::fs::write(p, if accel == Accel::Kvm { "kvm" } else { "tcg" });
    }
    (accel, how)
}

fn boot_id() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .ok()
        .map(|s| s.trim().to_string())
}

/// Boots SeaBIOS without disks under KVM; true when it reports that nothing is bootable.
fn probe_kvm() -> bool {
    let Ok(dir) = tempfile::tempdir() else {
        return false;
    };
    let log = dir.path().join("debugcon.txt");
    let Ok(mut child) = Command::new("qemu-system-x86_64")
        .args([
            "-accel", "kvm", "-machine", "q35", "-m", "64", "-display", "none",
        ])
        .args(["-nodefaults", "-no-user-config", "-monitor", "none"])
        .arg("-chardev")
        .arg(format!("file,id=dbg,path={}", crate::vm::escape(&log)))
        .args(["-device", "isa-debugcon,iobase=0x402,chardev=dbg"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    else {
        return false;
    };
    let start = Instant::now();
    let ok = loop {
        if seabios_done(&log) {
            break true;
        }
        if start.elapsed() > Duration::from_secs(5) || matches!(child.try_wait(), Ok(Some(_))) {
            break seabios_done(&log);
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = child.kill();
    let _ = child.wait();
    ok
}

fn seabios_done(log: &Path) -> bool {
    std::fs::read_to_string(log).is_ok_and(|s| s.contains("No bootable device"))
}
