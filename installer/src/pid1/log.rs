//! PID 1's log: every line goes to the console (and to the other `console=` devices), into
//! [`LOG_PATH`] (read back for the failure report and posted to the provisioner), and to
//! anyone subscribed through [`subscribe`] (the event reporter).

use std::fs::File;
use std::io::Write;
use std::sync::{Mutex, OnceLock};

/// Where the install log is kept (tmpfs: it lives as long as the machine stays up).
pub const LOG_PATH: &str = "/run/kickstand/install.log";
/// The prefix of the lines the VM tests time the boot by.
pub const MILESTONE: &str = "KICKSTAND-MILESTONE";

type Sink = Box<dyn Fn(&str) + Send + Sync>;

#[derive(Default)]
struct Outputs {
    extra_consoles: Vec<File>,
    file: Option<File>,
    sinks: Vec<Sink>,
}

fn outputs() -> &'static Mutex<Outputs> {
    static OUTPUTS: OnceLock<Mutex<Outputs>> = OnceLock::new();
    OUTPUTS.get_or_init(Default::default)
}

/// The writer tracing formats into.
#[derive(Debug, Clone, Copy, Default)]
struct Tee;

impl Write for Tee {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _ = std::io::stderr().write_all(buf);
        let mut o = outputs().lock().unwrap_or_else(|p| p.into_inner());
        for c in &mut o.extra_consoles {
            let _ = c.write_all(buf);
        }
        if let Some(f) = &mut o.file {
            let _ = f.write_all(buf);
        }
        if !o.sinks.is_empty() {
            let text = String::from_utf8_lossy(buf);
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                for sink in &o.sinks {
                    sink(line);
                }
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// Starts logging. `consoles` are the `console=` values; all but the last (which is
/// `/dev/console`, stderr) get their own copy of the log.
pub fn init(consoles: &[String]) {
    let _ = std::fs::create_dir_all("/run/kickstand");
    {
        let mut o = outputs().lock().unwrap_or_else(|p| p.into_inner());
        o.file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(LOG_PATH)
            .ok();
        let n = consoles.len();
        for c in consoles.iter().take(n.saturating_sub(1)) {
            let dev = c.split(',').next().unwrap_or(c);
            if let Ok(f) = std::fs::OpenOptions::new()
                .write(true)
                .open(format!("/dev/{dev}"))
            {
                o.extra_consoles.push(f);
            }
        }
    }
    let filter = tracing_subscriber::EnvFilter::try_from_env("KICKSTAND_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_writer(|| Tee)
        .with_ansi(false)
        .without_time()
        .with_target(false)
        .with_env_filter(filter)
        .try_init();
}

/// Calls `sink` with every log line from now on.
pub fn subscribe(sink: impl Fn(&str) + Send + Sync + 'static) {
    outputs()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .sinks
        .push(Box::new(sink));
}

/// Seconds since the kernel started (`/proc/uptime`).
pub fn uptime() -> f64 {
    std::fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

/// Logs a boot milestone with the time since the kernel started:
/// `KICKSTAND-MILESTONE kickstart-fetched 12.34s`.
pub fn milestone(name: &str) {
    tracing::info!("{MILESTONE} {name} {:.2}s", uptime());
}

/// The last `n` lines of the log file.
pub fn tail(n: usize) -> Vec<String> {
    let text = std::fs::read_to_string(LOG_PATH).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|l| l.to_string())
        .collect()
}

/// The whole log (for the final event).
pub fn contents() -> String {
    std::fs::read_to_string(LOG_PATH).unwrap_or_default()
}
