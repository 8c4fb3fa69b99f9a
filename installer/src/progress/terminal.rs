//! The operator's view: on a terminal, a progress line redrawn in place (cleared before any
//! other line is printed); elsewhere (serial console, pipe, journal) only whole lines, and
//! progress only at milestones, so logs stay readable.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;

/// Writes progress to stderr.
#[derive(Debug)]
pub struct Terminal {
    tty: bool,
    /// A progress line is on screen (tty only).
    drawn: Mutex<bool>,
}

impl Terminal {
    /// stderr, redrawing when it is a terminal.
    pub fn stderr() -> Self {
        Terminal {
            tty: std::io::stderr().is_terminal(),
            drawn: Mutex::new(false),
        }
    }

    /// Prints a whole line (clearing a progress line first).
    pub fn line(&self, text: &str) {
        let mut drawn = self.drawn.lock().unwrap_or_else(|e| e.into_inner());
        let mut err = std::io::stderr().lock();
        if *drawn {
            let _ = write!(err, "\r\x1b[K");
            *drawn = false;
        }
        let _ = writeln!(err, "{text}");
    }

    /// Shows progress: redrawn on a tty; printed as a line only at `milestone`s otherwise.
    pub fn progress(&self, text: &str, milestone: bool) {
        if !self.tty {
            if milestone {
                self.line(text);
            }
            return;
        }
        let mut drawn = self.drawn.lock().unwrap_or_else(|e| e.into_inner());
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[K{text}");
        let _ = err.flush();
        *drawn = true;
    }

    /// Ends a progress line left on screen.
    pub fn finish_progress(&self) {
        let mut drawn = self.drawn.lock().unwrap_or_else(|e| e.into_inner());
        if *drawn {
            let _ = writeln!(std::io::stderr());
            *drawn = false;
        }
    }
}
