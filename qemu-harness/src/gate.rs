//! Which slow tests run: plain `cargo test` skips tests that need root, QEMU or firmware and
//! says why; under `cargo xtask test` (`KICKSTAND_VM_TESTS=required`) or in CI (`CI` set) a
//! missing requirement is a failure, so nothing skips silently.
//!
//! Tests that boot a VM call [`vm_test`], which also records the test in
//! `KICKSTAND_VM_REPORT` so the suite can say how many VM tests ran.

use std::io::Write;
use std::path::Path;

/// Whether missing requirements fail the test instead of skipping it.
pub fn required() -> bool {
    std::env::var("KICKSTAND_VM_TESTS").is_ok_and(|v| v == "required")
        || std::env::var_os("CI").is_some_and(|v| !v.is_empty())
}

/// What a gated test needs from the machine.
#[derive(Debug, Clone, Copy, Default)]
pub struct Needs {
    /// Root (loop devices, mounts, network namespaces).
    pub root: bool,
    /// `qemu-system-x86_64` on PATH.
    pub qemu: bool,
    /// OVMF firmware (`/usr/share/OVMF/OVMF_CODE_4M.fd`).
    pub ovmf: bool,
}

/// Returns true when the test may run. When a requirement is missing it prints the reason and
/// returns false, or panics when running under `cargo xtask test`/CI.
pub fn check(test: &str, needs: Needs) -> bool {
    let mut missing = Vec::new();
    if needs.root && !is_root() {
        missing.push("root");
    }
    if needs.qemu && which("qemu-system-x86_64").is_none() {
        missing.push("qemu-system-x86_64 (Debian package qemu-system-x86)");
    }
    if needs.ovmf && !Path::new(crate::gate::OVMF_CODE).exists() {
        missing.push("OVMF firmware (Debian package ovmf)");
    }
    if missing.is_empty() {
        return true;
    }
    let reason = format!("{test}: needs {}", missing.join(", "));
    if required() {
        panic!("{reason} (required under cargo xtask test and in CI)");
    }
    eprintln!("SKIPPED {reason}; `cargo xtask test` runs it");
    false
}

/// Gate for a test that boots VMs: needs root and QEMU (and OVMF when `uefi`), and records the
/// test as run.
pub fn vm_test(test: &str, uefi: bool) -> bool {
    let ok = check(
        test,
        Needs {
            root: true,
            qemu: true,
            ovmf: uefi,
        },
    );
    if ok {
        record_vm_test(test);
    }
    ok
}

/// Gate for a test that needs root only (loop devices, mounts, namespaces).
pub fn root_test(test: &str) -> bool {
    check(
        test,
        Needs {
            root: true,
            ..Needs::default()
        },
    )
}

/// Path of OVMF's code image in Debian's `ovmf` package.
pub const OVMF_CODE: &str = "/usr/share/OVMF/OVMF_CODE_4M.fd";
/// Path of OVMF's variable store template; each VM gets its own copy.
pub const OVMF_VARS: &str = "/usr/share/OVMF/OVMF_VARS_4M.fd";

fn record_vm_test(test: &str) {
    let Some(path) = std::env::var_os("KICKSTAND_VM_REPORT") else {
        return;
    };
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        // One write per line: tests of one binary run on parallel threads and append to the
        // same file, and `writeln!` may split the name and its newline into two writes,
        // which then interleave ("ab\n\n") and undercount the VM tests.
        let _ = f.write_all(format!("{test}\n").as_bytes());
    }
}

/// Whether this process runs as root.
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Finds `program` on PATH.
pub fn which(program: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}
