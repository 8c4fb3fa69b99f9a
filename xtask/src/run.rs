//! Running the commands xtask drives, with the command line shown on failure.

use anyhow::{Result, bail};
use std::process::Command;

/// Runs `cmd` with inherited stdio; an unsuccessful exit is an error naming `what`.
pub fn status(cmd: &mut Command, what: &str) -> Result<()> {
    let status = cmd
        .status()
        .map_err(|e| anyhow::anyhow!("{what}: cannot start {:?}: {e}", cmd.get_program()))?;
    if !status.success() {
        bail!("{what} failed ({status}): {cmd:?}");
    }
    Ok(())
}

/// A `cargo` command using the same toolchain that runs xtask.
pub fn cargo() -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace_root());
    cmd
}

/// The repository root (xtask lives in `xtask/`).
pub fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask is one level below the workspace root")
        .to_path_buf()
}
