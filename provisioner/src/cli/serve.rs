//! `kickstand serve [--config kickstand.toml]`.

use anyhow::Context;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The configuration file; paths in it are relative to its directory.
    #[arg(
        long,
        short,
        default_value = "kickstand.toml",
        env = "KICKSTAND_CONFIG"
    )]
    pub config: PathBuf,
    /// Log as JSON lines instead of text.
    #[arg(long)]
    pub log_json: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    init_tracing(args.log_json);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(crate::serve::run(&args.config))
}

/// `RUST_LOG` filters (default `info`); no timestamps when stderr is the journal.
fn init_tracing(json: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let journal = std::env::var_os("JOURNAL_STREAM").is_some();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match (json, journal) {
        (true, _) => builder.json().init(),
        (false, true) => builder.without_time().init(),
        (false, false) => builder.init(),
    }
}
