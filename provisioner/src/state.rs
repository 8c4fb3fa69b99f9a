//! The machine inventory's live state in SQLite (`<state_dir>/kickstand.db`): each machine's
//! status, timestamps, last event and install log, and every event the installer posted.
//!
//! Calls are short and synchronous behind one mutex; a write that fails leaves the previous
//! row intact (each change is one transaction).

use crate::boot::{MachineState, Status};
use crate::mac::MacAddr;
use kickstand_events::Event;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use std::path::Path;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// The install log kept per machine is capped to this many bytes (the newest lines are kept).
const LOG_LIMIT: usize = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot create the state directory {0}")]
    Dir(String, #[source] std::io::Error),
    #[error("machine database")]
    Db(#[from] rusqlite::Error),
}

/// One machine as the API and `kickstand machines list` show it.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct MachineRecord {
    pub mac: String,
    pub status: String,
    pub progress: Option<u8>,
    pub last_event: Option<String>,
    pub error: Option<String>,
    /// Unix seconds.
    pub first_seen: i64,
    pub updated_at: i64,
    pub booted_at: Option<i64>,
    pub installed_at: Option<i64>,
}

/// One stored event.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct EventRecord {
    pub at: i64,
    pub event: serde_json::Value,
}

#[derive(Debug)]
pub struct Store {
    conn: Mutex<Connection>,
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS machines (
    mac TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    progress INTEGER,
    last_event TEXT,
    error TEXT,
    log TEXT NOT NULL DEFAULT '',
    first_seen INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    booted_at INTEGER,
    installed_at INTEGER
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    mac TEXT NOT NULL,
    at INTEGER NOT NULL,
    json TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_mac ON events (mac, id);
";

impl Store {
    /// Opens (creating if needed) the database under `state_dir`.
    pub fn open(state_dir: &Path) -> Result<Store, StateError> {
        std::fs::create_dir_all(state_dir)
            .map_err(|e| StateError::Dir(state_dir.display().to_string(), e))?;
        let conn = Connection::open(state_dir.join("kickstand.db"))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        Ok(Store {
            conn: Mutex::new(conn),
        })
    }

    pub(crate) fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What the boot decision needs; a machine never seen is `New`.
    pub fn state(&self, mac: MacAddr) -> Result<MachineState, StateError> {
        let row: Option<(String, Option<String>)> = self
            .conn()
            .query_row(
                "SELECT status, error FROM machines WHERE mac = ?1",
                params![mac.to_string()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        Ok(match row {
            Some((status, error)) => MachineState {
                status: Status::parse(&status).unwrap_or_default(),
                error,
            },
            None => MachineState::default(),
        })
    }

    fn ensure(conn: &Connection, mac: &str) -> Result<(), rusqlite::Error> {
        let t = now();
        conn.execute(
            "INSERT OR IGNORE INTO machines (mac, status, first_seen, updated_at) VALUES (?1, 'new', ?2, ?2)",
            params![mac, t],
        )?;
        Ok(())
    }

    /// The machine was handed its installer: `new` becomes `booting` (with a fresh log); other
    /// states are kept.
    pub fn mark_booting(&self, mac: MacAddr) -> Result<(), StateError> {
        let conn = self.conn();
        let mac = mac.to_string();
        Self::ensure(&conn, &mac)?;
        conn.execute(
            "UPDATE machines SET status = 'booting', booted_at = ?2, updated_at = ?2, log = '',
                 progress = NULL, error = NULL, last_event = 'installer handed out'
             WHERE mac = ?1 AND status = 'new'",
            params![mac, now()],
        )?;
        Ok(())
    }

    /// Records the installer's events and moves the status along; returns the new status.
    pub fn record(&self, mac: MacAddr, events: &[Event]) -> Result<Status, StateError> {
        let mut conn = self.conn();
        let mac = mac.to_string();
        let tx = conn.transaction()?;
        Self::ensure(&tx, &mac)?;
        let t = now();
        for event in events {
            let json = serde_json::to_string(event).expect("events serialize");
            tx.execute(
                "INSERT INTO events (mac, at, json) VALUES (?1, ?2, ?3)",
                params![mac, t, json],
            )?;
            let summary = event.summary();
            match event {
                Event::Started { .. } => tx.execute(
                    "UPDATE machines SET status = 'installing', log = '', error = NULL, progress = 0,
                         last_event = ?2, updated_at = ?3 WHERE mac = ?1",
                    params![mac, summary, t],
                )?,
                Event::Progress { percent, .. } => tx.execute(
                    "UPDATE machines SET status = CASE WHEN status IN ('installed', 'failed') THEN status ELSE 'installing' END,
                         progress = COALESCE(?2, progress), last_event = ?3, updated_at = ?4 WHERE mac = ?1",
                    params![mac, percent.map(|p| p.min(100)), summary, t],
                )?,
                Event::Log { line } => {
                    let log: String = tx.query_row(
                        "SELECT log FROM machines WHERE mac = ?1",
                        params![mac],
                        |r| r.get(0),
                    )?;
                    let mut log = log + line + "\n";
                    if log.len() > LOG_LIMIT {
                        let mut cut = log.len() - LOG_LIMIT;
                        while !log.is_char_boundary(cut) {
                            cut += 1;
                        }
                        log.drain(..cut);
                    }
                    tx.execute(
                        "UPDATE machines SET log = ?2, updated_at = ?3 WHERE mac = ?1",
                        params![mac, log, t],
                    )?
                }
                Event::Done { .. } => tx.execute(
                    "UPDATE machines SET status = 'installed', progress = 100, error = NULL,
                         last_event = ?2, installed_at = ?3, updated_at = ?3 WHERE mac = ?1",
                    params![mac, summary, t],
                )?,
                Event::Failed { error } => tx.execute(
                    "UPDATE machines SET status = 'failed', error = ?2, last_event = ?3, updated_at = ?4
                     WHERE mac = ?1",
                    params![mac, error, summary, t],
                )?,
            };
        }
        let status: String = tx.query_row(
            "SELECT status FROM machines WHERE mac = ?1",
            params![mac],
            |r| r.get(0),
        )?;
        tx.commit()?;
        Ok(Status::parse(&status).unwrap_or_default())
    }

    /// Re-arms a machine: its next network boot installs again.
    pub fn reinstall(&self, mac: MacAddr) -> Result<(), StateError> {
        let conn = self.conn();
        let mac = mac.to_string();
        Self::ensure(&conn, &mac)?;
        conn.execute(
            "UPDATE machines SET status = 'new', error = NULL, progress = NULL,
                 last_event = 're-armed for reinstall', updated_at = ?2 WHERE mac = ?1",
            params![mac, now()],
        )?;
        Ok(())
    }

    fn record_of(r: &rusqlite::Row<'_>) -> rusqlite::Result<MachineRecord> {
        Ok(MachineRecord {
            mac: r.get(0)?,
            status: r.get(1)?,
            progress: r.get::<_, Option<i64>>(2)?.map(|p| p.clamp(0, 100) as u8),
            last_event: r.get(3)?,
            error: r.get(4)?,
            first_seen: r.get(5)?,
            updated_at: r.get(6)?,
            booted_at: r.get(7)?,
            installed_at: r.get(8)?,
        })
    }

    const COLUMNS: &str =
        "mac, status, progress, last_event, error, first_seen, updated_at, booted_at, installed_at";

    /// Every machine the database knows, by MAC.
    pub fn list(&self) -> Result<Vec<MachineRecord>, StateError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {} FROM machines ORDER BY mac",
            Self::COLUMNS
        ))?;
        let rows = stmt.query_map([], Self::record_of)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn get(&self, mac: MacAddr) -> Result<Option<MachineRecord>, StateError> {
        Ok(self
            .conn()
            .query_row(
                &format!("SELECT {} FROM machines WHERE mac = ?1", Self::COLUMNS),
                params![mac.to_string()],
                Self::record_of,
            )
            .optional()?)
    }

    /// The machine's install log (the last install's, or the current one's so far).
    pub fn log(&self, mac: MacAddr) -> Result<Option<String>, StateError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT log FROM machines WHERE mac = ?1",
                params![mac.to_string()],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// The machine's newest `limit` events, oldest first.
    pub fn events(&self, mac: MacAddr, limit: u32) -> Result<Vec<EventRecord>, StateError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT at, json FROM (SELECT id, at, json FROM events WHERE mac = ?1 ORDER BY id DESC LIMIT ?2) ORDER BY id",
        )?;
        let rows = stmt.query_map(params![mac.to_string(), limit], |r| {
            let json: String = r.get(1)?;
            Ok(EventRecord {
                at: r.get(0)?,
                event: serde_json::from_str(&json).unwrap_or(serde_json::Value::String(json)),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// How many machines are in each status (for /metrics).
    pub fn counts(&self) -> Result<Vec<(String, i64)>, StateError> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT status, COUNT(*) FROM machines GROUP BY status")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifecycle() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("state")).unwrap();
        let mac: MacAddr = "52:54:00:12:34:56".parse().unwrap();
        assert_eq!(store.state(mac).unwrap().status, Status::New);
        store.mark_booting(mac).unwrap();
        assert_eq!(store.state(mac).unwrap().status, Status::Booting);
        let s = store
            .record(
                mac,
                &[
                    Event::Started { version: None },
                    Event::Progress {
                        step: "image".into(),
                        percent: Some(50),
                        message: None,
                    },
                    Event::Log {
                        line: "hello".into(),
                    },
                ],
            )
            .unwrap();
        assert_eq!(s, Status::Installing);
        let r = store.get(mac).unwrap().unwrap();
        assert_eq!(r.progress, Some(50));
        assert_eq!(r.last_event.as_deref(), Some("image 50%"));
        assert_eq!(
            store
                .record(
                    mac,
                    &[Event::Failed {
                        error: "no disk".into()
                    }]
                )
                .unwrap(),
            Status::Failed
        );
        let st = store.state(mac).unwrap();
        assert_eq!(
            (st.status, st.error.as_deref()),
            (Status::Failed, Some("no disk"))
        );
        // A late progress event does not resurrect a failed install.
        store
            .record(
                mac,
                &[Event::Progress {
                    step: "x".into(),
                    percent: None,
                    message: None,
                }],
            )
            .unwrap();
        assert_eq!(store.state(mac).unwrap().status, Status::Failed);
        // Booting again does not re-arm it either: only an operator does.
        store.mark_booting(mac).unwrap();
        assert_eq!(store.state(mac).unwrap().status, Status::Failed);
        store.reinstall(mac).unwrap();
        assert_eq!(store.state(mac).unwrap(), MachineState::default());
        store.mark_booting(mac).unwrap();
        store.record(mac, &[Event::Done { message: None }]).unwrap();
        assert_eq!(store.state(mac).unwrap().status, Status::Installed);
        assert_eq!(store.log(mac).unwrap().as_deref(), Some(""));
        assert_eq!(store.events(mac, 2).unwrap().len(), 2);
        assert_eq!(store.events(mac, 100).unwrap().len(), 6);
        assert_eq!(store.counts().unwrap(), vec![("installed".to_string(), 1)]);
        drop(store);
        // It persists.
        let store = Store::open(&dir.path().join("state")).unwrap();
        assert_eq!(store.list().unwrap().len(), 1);
        assert!(store.get(mac).unwrap().unwrap().installed_at.is_some());
    }
}
