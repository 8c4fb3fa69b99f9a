//! Install progress and the install log, for three readers at once:
//!
//! - the operator's terminal ([`terminal`]): a redrawn progress line on a tty, whole lines
//!   otherwise (a serial console, a pipe, the journal);
//! - the provisioner ([`poster`]): [`kickstand_events::Event`]s posted as JSON lines to
//!   `<server>/api/v1/machines/<mac>/events` when a server was given (`kickstand.server=` in
//!   PID 1 mode, `--server`/`--mac` in host mode), from a background thread so a slow or absent
//!   server never stalls the install;
//! - the install log: every line, kept in memory and saved into the target under
//!   `/var/log/kickstand/` by the finish step (and returned to PID 1 on failure).
//!
//! A [`Reporter`] is cheap to clone and can be used from any thread (the image pull reports
//! from its unpacking thread).

pub mod poster;
pub mod terminal;

use std::io::Write;
use std::sync::{Arc, Mutex};

use kickstand_events::Event;
use kickstand_oci::pull::Progress as PullProgress;

pub use poster::{Poster, Server};
pub use terminal::Terminal;

/// Reports progress and keeps the install log. See the module documentation.
#[derive(Clone, Debug)]
pub struct Reporter {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    terminal: Option<Terminal>,
    poster: Option<Poster>,
    log: Mutex<String>,
}

/// How far the whole install is, in percent, when `step` starts.
fn step_percent(step: &str) -> Option<u8> {
    Some(match step {
        "pre" => 1,
        "storage" => 3,
        "pre-install" => 8,
        "image" => 10,
        "configure" => 85,
        "bootloader" => 90,
        "post" => 95,
        "finish" => 98,
        _ => return None,
    })
}

impl Reporter {
    /// A reporter that prints to stderr (redrawing on a tty) and posts to `server` if given.
    pub fn new(server: Option<Server>) -> Self {
        Self::build(Some(Terminal::stderr()), server.map(Poster::start))
    }

    /// A reporter that only keeps the log (tests, embedding).
    pub fn quiet() -> Self {
        Self::build(None, None)
    }

    fn build(terminal: Option<Terminal>, poster: Option<Poster>) -> Self {
        Reporter {
            inner: Arc::new(Inner {
                terminal,
                poster,
                log: Mutex::new(String::new()),
            }),
        }
    }

    fn post(&self, event: Event) {
        if let Some(p) = &self.inner.poster {
            p.send(event);
        }
    }

    fn keep(&self, line: &str) {
        let mut log = self.inner.log.lock().unwrap_or_else(|e| e.into_inner());
        log.push_str(line);
        log.push('\n');
    }

    /// The installer started (the kickstart parsed).
    pub fn started(&self) {
        self.post(Event::Started {
            version: Some(env!("CARGO_PKG_VERSION").to_string()),
        });
    }

    /// A step begins: one line for every reader.
    pub fn step(&self, step: &str, message: &str) {
        let line = format!("==> {step}: {message}");
        self.line(&line);
        self.post(Event::Progress {
            step: step.to_string(),
            percent: step_percent(step),
            message: Some(message.to_string()),
        });
    }

    /// One line of the install log, shown and posted.
    pub fn info(&self, line: &str) {
        self.line(line);
        self.post(Event::Log {
            line: line.to_string(),
        });
    }

    /// Several lines (a plan, a script's output), each kept and posted.
    pub fn lines(&self, text: &str) {
        for l in text.lines() {
            self.info(l);
        }
    }

    /// A warning line.
    pub fn warn(&self, message: &str) {
        self.info(&format!("warning: {message}"));
    }

    fn line(&self, line: &str) {
        self.keep(line);
        if let Some(t) = &self.inner.terminal {
            t.line(line);
        }
    }

    /// Image pull progress: redrawn on a tty; whole lines at each layer and every 10 %
    /// otherwise; posted with the install's percent.
    pub fn pull(&self, p: &PullProgress) {
        let text = pull_text(p);
        let decile = |bytes: u64| (bytes * 10).checked_div(p.total_bytes).unwrap_or(0);
        let milestone = p.layer_bytes == 0 || p.layers_done == p.layers;
        if let Some(t) = &self.inner.terminal {
            t.progress(&text, milestone);
        }
        if milestone {
            self.keep(&text);
        }
        // Post at layer boundaries and each whole percent of the image.
        let percent = 10
            + (p.bytes * 75)
                .checked_div(p.total_bytes)
                .unwrap_or(0)
                .min(75) as u8;
        let last = decile(p.bytes.saturating_sub(1 << 20));
        if milestone || decile(p.bytes) != last {
            self.post(Event::Progress {
                step: "image".into(),
                percent: Some(percent),
                message: Some(text),
            });
        }
    }

    /// The install succeeded.
    pub fn done(&self, message: &str) {
        self.line(message);
        self.post(Event::Done {
            message: Some(message.to_string()),
        });
        self.flush();
    }

    /// The install failed with `error` (the whole chain, `{:#}`).
    pub fn failed(&self, error: &str) {
        self.keep(&format!("error: {error}"));
        self.post(Event::Failed {
            error: error.to_string(),
        });
        self.flush();
    }

    /// Waits (a bounded time) until the events sent so far were posted.
    pub fn flush(&self) {
        if let Some(t) = &self.inner.terminal {
            t.finish_progress();
        }
        if let Some(p) = &self.inner.poster {
            p.flush();
        }
    }

    /// The install log so far.
    pub fn log_text(&self) -> String {
        self.inner
            .log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// A `tracing` writer that copies every formatted record into the install log and onto
    /// stderr (clearing a progress line first), so the log holds what the operator saw.
    pub fn tracing_writer(&self) -> LogWriter {
        LogWriter {
            reporter: self.clone(),
        }
    }
}

fn pull_text(p: &PullProgress) -> String {
    let short = p.digest.strip_prefix("sha256:").unwrap_or(&p.digest);
    let short = &short[..short.len().min(12)];
    if p.layers_done == p.layers {
        format!(
            "image: {} layers, {} downloaded, verified and unpacked",
            p.layers,
            kickstand_oci::unpack::human(p.bytes)
        )
    } else {
        format!(
            "image: layer {}/{} {short} {}/{}, total {}/{} ({}%)",
            p.layer,
            p.layers,
            kickstand_oci::unpack::human(p.layer_bytes),
            kickstand_oci::unpack::human(p.layer_size),
            kickstand_oci::unpack::human(p.bytes),
            kickstand_oci::unpack::human(p.total_bytes),
            (p.bytes * 100).checked_div(p.total_bytes).unwrap_or(0)
        )
    }
}

/// See [`Reporter::tracing_writer`].
#[derive(Debug, Clone)]
pub struct LogWriter {
    reporter: Reporter,
}

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let text = text.trim_end_matches('\n');
        self.reporter.keep(text);
        match &self.reporter.inner.terminal {
            Some(t) => t.line(text),
            None => {
                let _ = writeln!(std::io::stderr(), "{text}");
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogWriter;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_keeps_steps_lines_and_milestones() {
        let r = Reporter::quiet();
        r.step("image", "pulling docker://r/x:1");
        let mut p = PullProgress {
            layer: 1,
            layers: 2,
            digest: "sha256:0123456789abcdef".into(),
            layer_bytes: 0,
            layer_size: 3 << 20,
            bytes: 0,
            total_bytes: 4 << 20,
            layers_done: 0,
        };
        r.pull(&p);
        p.layer_bytes = 1 << 20;
        p.bytes = 1 << 20;
        r.pull(&p);
        p.layers_done = 2;
        p.bytes = 4 << 20;
        r.pull(&p);
        r.warn("only digests were verified");
        let log = r.log_text();
        assert_eq!(
            log,
            "==> image: pulling docker://r/x:1\n\
             image: layer 1/2 0123456789ab 0 B/3.0 MiB, total 0 B/4.0 MiB (0%)\n\
             image: 2 layers, 4.0 MiB downloaded, verified and unpacked\n\
             warning: only digests were verified\n"
        );
    }
}
