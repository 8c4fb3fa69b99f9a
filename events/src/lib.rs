//! The events the installer posts to the provisioner while it installs a machine booted with
//! `kickstand.server=<url>`: JSON, one event per line, `POST <url>/api/v1/machines/<mac>/events`.
//!
//! A crate of its own so the installer (a static PID 1 binary) shares the types without
//! depending on the server's HTTP, TFTP and SQLite code.

use serde::{Deserialize, Serialize};

/// One install event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case", deny_unknown_fields)]
pub enum Event {
    /// The installer started (the kickstart was fetched and parsed).
    Started {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        version: Option<String>,
    },
    /// A step made progress: `step` names it (`storage`, `image`, ...), `percent` is the
    /// whole install's progress when known.
    Progress {
        step: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        percent: Option<u8>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// One line of the install log.
    Log { line: String },
    /// The install succeeded: from now on the machine boots its local disk.
    Done {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// The install failed with this error; the machine is not sent into another install.
    Failed { error: String },
}

impl Event {
    /// The event's name as it appears in the JSON (`"event": "progress"`).
    pub fn kind(&self) -> &'static str {
        match self {
            Event::Started { .. } => "started",
            Event::Progress { .. } => "progress",
            Event::Log { .. } => "log",
            Event::Done { .. } => "done",
            Event::Failed { .. } => "failed",
        }
    }

    /// A one-line human summary, as `kickstand machines list` shows the last event.
    pub fn summary(&self) -> String {
        match self {
            Event::Started { .. } => "installer started".into(),
            Event::Progress {
                step,
                percent,
                message,
            } => {
                let mut s = step.clone();
                if let Some(p) = percent {
                    s.push_str(&format!(" {p}%"));
                }
                if let Some(m) = message {
                    s.push_str(&format!(": {m}"));
                }
                s
            }
            Event::Log { line } => line.clone(),
            Event::Done { message } => message.clone().unwrap_or_else(|| "installed".into()),
            Event::Failed { error } => format!("failed: {error}"),
        }
    }
}

/// The URL the installer posts events to, given `kickstand.server=` and its MAC address.
pub fn events_url(server: &str, mac: &str) -> String {
    format!(
        "{}/api/v1/machines/{mac}/events",
        server.trim_end_matches('/')
    )
}

/// Encodes events as JSON lines (the POST body).
pub fn to_json_lines(events: &[Event]) -> String {
    let mut out = String::new();
    for e in events {
        out.push_str(&serde_json::to_string(e).expect("events serialize"));
        out.push('\n');
    }
    out
}

/// Decodes a POST body: one event per non-empty line. The error names the line.
pub fn from_json_lines(body: &str) -> Result<Vec<Event>, String> {
    body.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).map_err(|e| format!("line {}: {e}", i + 1)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_errors() {
        let events = vec![
            Event::Started {
                version: Some("0.1.0".into()),
            },
            Event::Progress {
                step: "image".into(),
                percent: Some(40),
                message: None,
            },
            Event::Log {
                line: "pulled layer 1 of 3".into(),
            },
            Event::Failed {
                error: "no disk".into(),
            },
            Event::Done { message: None },
        ];
        let text = to_json_lines(&events);
        assert!(
            text.starts_with("{\"event\":\"started\",\"version\":\"0.1.0\"}\n"),
            "{text}"
        );
        assert_eq!(from_json_lines(&text).unwrap(), events);
        let err = from_json_lines("{\"event\":\"done\"}\n{\"event\":\"exploded\"}").unwrap_err();
        assert!(err.starts_with("line 2:"), "{err}");
        assert_eq!(
            events_url("http://s:8080/", "52:54:00:12:34:56"),
            "http://s:8080/api/v1/machines/52:54:00:12:34:56/events"
        );
        assert_eq!(events[1].summary(), "image 40%");
    }
}
