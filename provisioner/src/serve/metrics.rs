//! Counters for `/metrics` (Prometheus text exposition format 0.0.4).

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Process-wide counters. Cheap to bump from any task.
#[derive(Debug, Default)]
pub struct Metrics {
    pub http_requests: AtomicU64,
    pub http_errors: AtomicU64,
    pub boot_scripts: AtomicU64,
    pub kickstarts_served: AtomicU64,
    pub kickstarts_refused: AtomicU64,
    pub unknown_machines: AtomicU64,
    pub tftp_requests: AtomicU64,
    pub tftp_refused: AtomicU64,
    pub events_received: AtomicU64,
    pub events_refused: AtomicU64,
    pub reloads: AtomicU64,
    pub reload_failures: AtomicU64,
}

impl Metrics {
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Relaxed);
    }

    /// The exposition text; `machines` is the count per status from the database.
    pub fn render(&self, machines: &[(String, i64)]) -> String {
        let mut out = String::new();
        let counters: [(&str, &str, &AtomicU64); 12] = [
            (
                "kickstand_http_requests_total",
                "HTTP requests received",
                &self.http_requests,
            ),
            (
                "kickstand_http_errors_total",
                "HTTP responses with a 5xx status",
                &self.http_errors,
            ),
            (
                "kickstand_boot_scripts_total",
                "iPXE scripts and GRUB configs served",
                &self.boot_scripts,
            ),
            (
                "kickstand_kickstarts_served_total",
                "Rendered kickstarts served",
                &self.kickstarts_served,
            ),
            (
                "kickstand_kickstarts_refused_total",
                "Kickstarts not served because rendering or validation failed",
                &self.kickstarts_refused,
            ),
            (
                "kickstand_unknown_machine_requests_total",
                "Requests from machines that get nothing",
                &self.unknown_machines,
            ),
            (
                "kickstand_tftp_requests_total",
                "TFTP read requests",
                &self.tftp_requests,
            ),
            (
                "kickstand_tftp_refused_total",
                "TFTP requests refused (not found, traversal, writes)",
                &self.tftp_refused,
            ),
            (
                "kickstand_install_events_total",
                "Install events received from installers",
                &self.events_received,
            ),
            (
                "kickstand_install_events_refused_total",
                "Events posts refused (not the machine's own, not installing, malformed)",
                &self.events_refused,
            ),
            (
                "kickstand_config_reloads_total",
                "Successful configuration reloads",
                &self.reloads,
            ),
            (
                "kickstand_config_reload_failures_total",
                "Configuration reloads refused",
                &self.reload_failures,
            ),
        ];
        for (name, help, value) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                value.load(Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP kickstand_machines Machines by install status\n# TYPE kickstand_machines gauge"
        );
        for status in ["new", "booting", "installing", "installed", "failed"] {
            let n = machines
                .iter()
                .find(|(s, _)| s == status)
                .map_or(0, |(_, n)| *n);
            let _ = writeln!(out, "kickstand_machines{{status=\"{status}\"}} {n}");
        }
        out
    }
}
