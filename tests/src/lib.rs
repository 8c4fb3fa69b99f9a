//! Shared helpers for Kickstand's end-to-end tests (the tests live in `tests/tests/`).

pub mod serve;

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root (this crate sits one level below it).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// A release binary of the workspace: from `KICKSTAND_BIN_DIR` (set by `cargo xtask test`),
/// else `target/release` when it is there, else built now with `cargo build --release`.
///
/// Panics with the build's output when it cannot be built.
pub fn release_bin(name: &str, package: &str) -> PathBuf {
    if let Some(dir) = std::env::var_os("KICKSTAND_BIN_DIR") {
        let p = PathBuf::from(dir).join(name);
        assert!(
            p.is_file(),
            "KICKSTAND_BIN_DIR is set but {} does not exist (run `cargo build --release -p {package}`)",
            p.display()
        );
        return p;
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    let p = target.join("release").join(name);
    if !p.is_file() {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let out = Command::new(cargo)
            .args(["build", "--release", "-p", package, "--bin", name])
            .current_dir(workspace_root())
            .output()
            .unwrap_or_else(|e| panic!("running cargo build for {name}: {e}"));
        assert!(
            out.status.success() && p.is_file(),
            "cargo build --release -p {package} --bin {name} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    p
}
