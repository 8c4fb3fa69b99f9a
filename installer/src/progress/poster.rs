//! Posting [`Event`]s to the provisioner: `POST <server>/api/v1/machines/<mac>/events` with a
//! JSON-lines body, from a background thread. Events queue while a post is in flight and go
//! out together in the next one; a failed post is retried with backoff, then dropped with a
//! warning (progress reports must never stop an install). [`Poster::flush`] waits, bounded,
//! until everything sent so far was posted (before reboot, and with the final result).

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use kickstand_events::{Event, events_url, to_json_lines};

/// Attempts per batch (the first and the retries).
const ATTEMPTS: u32 = 4;
/// Longest a flush waits for the queue to drain.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(20);
/// Events kept while the server does not answer; older ones are dropped beyond this.
const MAX_QUEUED: usize = 2000;

/// Where events go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    /// `kickstand.server=` (`http://10.0.0.1:8080`).
    pub url: String,
    /// This machine's MAC address (`52:54:00:12:34:56`), as the provisioner knows it.
    pub mac: String,
}

impl Server {
    /// The events endpoint.
    pub fn events_url(&self) -> String {
        events_url(&self.url, &self.mac)
    }
}

enum Msg {
    Event(Event),
    Flush(Sender<()>),
}

/// The background poster; see the module documentation.
#[derive(Debug)]
pub struct Poster {
    tx: Sender<Msg>,
    /// Not joined: the thread ends when the channel closes, and a hung server must not hold
    /// the installer (every flush is bounded).
    _thread: JoinHandle<()>,
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Msg::Event(e) => write!(f, "Event({})", e.kind()),
            Msg::Flush(_) => f.write_str("Flush"),
        }
    }
}

impl Poster {
    /// Starts the posting thread.
    pub fn start(server: Server) -> Self {
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("event-poster".into())
            .spawn(move || run(&server, &rx))
            .expect("spawning the event poster thread");
        Poster {
            tx,
            _thread: thread,
        }
    }

    /// Queues `event`.
    pub fn send(&self, event: Event) {
        let _ = self.tx.send(Msg::Event(event));
    }

    /// Waits until every event queued so far was posted or given up on (at most
    /// [`FLUSH_TIMEOUT`]).
    pub fn flush(&self) {
        let (done_tx, done_rx) = mpsc::channel();
        if self.tx.send(Msg::Flush(done_tx)).is_ok() {
            let _ = done_rx.recv_timeout(FLUSH_TIMEOUT);
        }
    }
}

impl Drop for Poster {
    fn drop(&mut self) {
        self.flush();
    }
}

fn run(server: &Server, rx: &Receiver<Msg>) {
    let url = server.events_url();
    let client = match reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .user_agent(concat!("kickstand-installer/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!("cannot post progress events to {url}: {e}");
            return;
        }
    };
    let mut queue: Vec<Event> = Vec::new();
    let mut waiting: Vec<Sender<()>> = Vec::new();
    let mut failures = 0u32;
    let mut retry_at: Option<Instant> = None;
    loop {
        // Block for the next message unless a batch is waiting; then take whatever queued.
        let first = if queue.is_empty() && waiting.is_empty() {
            match rx.recv() {
                Ok(m) => Some(m),
                Err(_) => return,
            }
        } else {
            let wait = retry_at.map_or(Duration::ZERO, |t| {
                t.saturating_duration_since(Instant::now())
            });
            match rx.recv_timeout(wait) {
                Ok(m) => Some(m),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) if queue.is_empty() => return,
                Err(RecvTimeoutError::Disconnected) => None,
            }
        };
        for m in first.into_iter().chain(rx.try_iter()) {
            match m {
                Msg::Event(e) => queue.push(e),
                Msg::Flush(done) => waiting.push(done),
            }
        }
        if queue.len() > MAX_QUEUED {
            let extra = queue.len() - MAX_QUEUED;
            queue.drain(..extra);
        }
        if retry_at.is_some_and(|t| Instant::now() < t) {
            continue;
        }
        if !queue.is_empty() {
            match post(&client, &url, &queue) {
                Ok(()) => {
                    queue.clear();
                    failures = 0;
                    retry_at = None;
                }
                Err(e) => {
                    failures += 1;
                    if failures >= ATTEMPTS {
                        tracing::warn!(
                            "dropping {} progress events: posting to {url} failed {failures} times, last: {e}",
                            queue.len()
                        );
                        queue.clear();
                        failures = 0;
                        retry_at = None;
                    } else {
                        retry_at = Some(Instant::now() + Duration::from_millis(500 << failures));
                        continue;
                    }
                }
            }
        }
        for done in waiting.drain(..) {
            let _ = done.send(());
        }
    }
}

fn post(client: &reqwest::blocking::Client, url: &str, events: &[Event]) -> Result<(), String> {
    let resp = client
        .post(url)
        .header("content-type", "application/x-ndjson")
        .body(to_json_lines(events))
        .send()
        .map_err(|e| format!("{e}"))?;
    if resp.status().is_success() {
        Ok(())
    } else {
        Err(format!("the server answered {}", resp.status()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;

    /// A one-request-at-a-time HTTP server on loopback that answers `statuses` in turn (then
    /// 200) and returns the bodies it got.
    fn server(statuses: Vec<u16>, requests: usize) -> (String, JoinHandle<Vec<(String, String)>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let handle = std::thread::spawn(move || {
            let mut got = Vec::new();
            let mut statuses = statuses.into_iter();
            for _ in 0..requests {
                let (stream, _) = listener.accept().unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request_line = String::new();
                reader.read_line(&mut request_line).unwrap();
                let mut len = 0;
                loop {
                    let mut h = String::new();
                    reader.read_line(&mut h).unwrap();
                    if h == "\r\n" {
                        break;
                    }
                    if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap();
                    }
                }
                let mut body = vec![0; len];
                reader.read_exact(&mut body).unwrap();
                got.push((request_line, String::from_utf8(body).unwrap()));
                let status = statuses.next().unwrap_or(200);
                write!(
                    &stream,
                    "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                )
                .unwrap();
            }
            got
        });
        (url, handle)
    }

    #[test]
    fn posts_json_lines_and_retries_after_a_server_error() {
        let (url, handle) = server(vec![500], 2);
        let poster = Poster::start(Server {
            url,
            mac: "52:54:00:12:34:56".into(),
        });
        poster.send(Event::Started { version: None });
        poster.send(Event::Done { message: None });
        poster.flush();
        let got = handle.join().unwrap();
        assert_eq!(
            got[0].0,
            "POST /api/v1/machines/52:54:00:12:34:56/events HTTP/1.1\r\n"
        );
        // The retry carries the same events.
        let all: Vec<Event> = kickstand_events::from_json_lines(&got[1].1).unwrap();
        assert!(all.contains(&Event::Started { version: None }), "{all:?}");
        assert_eq!(all.last(), Some(&Event::Done { message: None }));
    }
}
