//! The finish step: the install log and the kickstart (passwords masked) saved into the
//! target under `/var/log/kickstand/` (root-only), so the installed system records how it was
//! made. What happens to the machine afterwards (`reboot`, `poweroff`, `halt`) is decided by
//! the caller from [`crate::install::Summary::finish`]: PID 1 honours it, host mode exits.

use anyhow::{Context, Result};
use kickstand_grammar::Kickstart;

use crate::deploy::TargetRoot;
use crate::install::kickstart::masked;
use crate::progress::Reporter;

/// Where the log and kickstart go in the target.
pub const LOG_DIR: &str = "/var/log/kickstand";

/// Writes `install.log` and `ks.cfg` into the target.
pub fn run(root: &TargetRoot, ks: &Kickstart, reporter: &Reporter) -> Result<()> {
    reporter.info(&format!(
        "saving the install log and the kickstart (passwords masked) in {LOG_DIR}"
    ));
    root.create_dir_all(LOG_DIR)?;
    root.write(&format!("{LOG_DIR}/ks.cfg"), masked(ks).as_bytes(), 0o600)
        .context("saving the kickstart")?;
    root.write(
        &format!("{LOG_DIR}/install.log"),
        reporter.log_text().as_bytes(),
        0o600,
    )
    .context("saving the install log")?;
    Ok(())
}
