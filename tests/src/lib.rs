//! Shared helpers for Kickstand's end-to-end tests (the tests live in `tests/tests/`).

use std::path::PathBuf;

/// A Kickstand binary (`kickstand`, `kickstand-installer`): from `KICKSTAND_BIN_DIR` (set by
/// `cargo xtask test` to `target/release`), else the workspace's `target/release` or
/// `target/debug`. Panics with the build command when it is in none of them.
pub fn bin(name: &str) -> PathBuf {
    let target = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target");
    let candidates = std::env::var_os("KICKSTAND_BIN_DIR")
        .map(PathBuf::from)
        .into_iter()
        .chain([target.join("release"), target.join("debug")]);
    for dir in candidates {
        let p = dir.join(name);
        if p.is_file() {
            return p;
        }
    }
    panic!(
        "{name} is not built: run `cargo build --release -p kickstand-provisioner -p kickstand-installer` \
         (or `cargo xtask test`, which builds it and sets KICKSTAND_BIN_DIR)"
    );
}
