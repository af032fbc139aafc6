//! `GET /metrics`: the server's counters in the Prometheus text exposition format (0.0.4),
//! mounted next to the Socket.IO endpoint with [`SocketIo::metrics_service`] (or
//! [`SocketIo::metrics_service_at`] for another path):
//!
//! ```no_run
//! use actix_socketio::SocketIo;
//! use actix_web::{App, HttpServer};
//!
//! #[actix_web::main]
//! async fn main() -> std::io::Result<()> {
//!     let io = SocketIo::default();
//!     HttpServer::new(move || {
//!         App::new()
//!             .configure(io.service())
//!             .configure(io.metrics_service())
//!     })
//!     .bind(("127.0.0.1", 8080))?
//!     .run()
//!     .await
//! }
//! ```
//!
//! Mounting it turns per-packet counting on for good: it calls
//! [`Meter::watch`](crate::engine::meter::Meter::watch) and never unwatches, so every message
//! in and out then costs two relaxed atomic additions. [`render`] gives the same text for an
//! endpoint of one's own (packets and bytes stay 0 unless someone watches the meter).
//!
//! The families (gauges hold a value now, counters count since the start):
//!
//! | family | type | labels |
//! | --- | --- | --- |
//! | `socketio_sessions` | gauge | `transport` = `polling`, `websocket` |
//! | `socketio_sessions_opened_total` | counter | |
//! | `socketio_sessions_closed_total` | counter | `reason` = the disconnect reason (`transport close`, `ping timeout`...) |
//! | `socketio_upgrades_total` | counter | |
//! | `socketio_handshakes_refused_total` | counter | `reason` = `full` (HTTP 503), `cors`, `bad_request` |
//! | `socketio_slow_consumers_total` | counter | |
//! | `socketio_packets_in_total`, `socketio_packets_out_total` | counter | |
//! | `socketio_bytes_in_total`, `socketio_bytes_out_total` | counter | |
//! | `socketio_sockets` | gauge | `namespace` |
//! | `socketio_rooms` | gauge | |
//! | `socketio_pending_acks` | gauge | |
//! | `socketio_recovery_sessions`, `socketio_recovery_packets`, `socketio_recovery_bytes` | gauge | |
//! | `socketio_recovery_hits_total`, `socketio_recovery_misses_total` | counter | |
//! | `socketio_broadcasts_shed_total` | counter | |
//! | `socketio_cluster_requests_total`, `socketio_cluster_request_timeouts_total` | counter | |
//!
//! Packets and bytes are Engine.IO message packets (control packets such as pings are not
//! counted) and their encoded size. The cluster counters come from the adapter
//! ([`Adapter::request_counts`](crate::adapter::Adapter::request_counts)); they stay 0 on a
//! single node.

use std::fmt::{Display, Write};

use actix_web::{web, HttpResponse};

use crate::{engine::meter::REASONS, io::SocketIo};

/// The `Content-Type` of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Where [`SocketIo::metrics_service`] mounts the endpoint.
pub const DEFAULT_PATH: &str = "/metrics";

/// What a family is, as its `# TYPE` line says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        }
    }
}

/// Writes families one after the other: a family's `# HELP` and `# TYPE` lines, then its
/// samples.
#[derive(Debug, Default)]
struct Exposition {
    out: String,
}

impl Exposition {
    fn family(&mut self, name: &str, kind: Kind, help: &str) {
        debug_assert!(
            kind != Kind::Counter || name.ends_with("_total"),
            "counter {name} must end in _total"
        );
        let _ = writeln!(self.out, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.out, "# TYPE {name} {}", kind.as_str());
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl Display) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (label, text)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{label}=\"{}\"", escape_label_value(text));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
    }

    /// A family of one sample without labels.
    fn single(&mut self, name: &str, kind: Kind, help: &str, value: impl Display) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }
}

/// A label value as the text format writes it between double quotes: backslash, double quote
/// and line feed escaped (`\\`, `\"`, `\n`).
fn escape_label_value(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// A `# HELP` docstring: backslash and line feed escaped (double quotes are left as they are).
fn escape_help(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\n', "\\n")
}

/// The server's metrics now, in the text format (see the module's documentation for the
/// families). Packets and bytes in and out are 0 unless the meter is watched.
pub fn render(io: &SocketIo) -> String {
    use Kind::{Counter, Gauge};

    let meter = io.meter().read();
    let stats = io.stats();
    let mut x = Exposition::default();

    x.family(
        "socketio_sessions",
        Gauge,
        "Engine.IO sessions open now, by transport.",
    );
    x.sample(
        "socketio_sessions",
        &[("transport", "polling")],
        meter.polling,
    );
    x.sample(
        "socketio_sessions",
        &[("transport", "websocket")],
        meter.websocket,
    );
    x.single(
        "socketio_sessions_opened_total",
        Counter,
        "Engine.IO sessions opened.",
        meter.opened,
    );
    x.family(
        "socketio_sessions_closed_total",
        Counter,
        "Engine.IO sessions closed, by disconnect reason.",
    );
    for (reason, count) in REASONS.iter().zip(meter.closed) {
        x.sample(
            "socketio_sessions_closed_total",
            &[("reason", reason.as_str())],
            count,
        );
    }
    x.single(
        "socketio_upgrades_total",
        Counter,
        "Polling sessions upgraded to WebSocket.",
        meter.upgrades,
    );
    x.family(
        "socketio_handshakes_refused_total",
        Counter,
        "Refused requests: full (max_connections, HTTP 503), cors (origin not allowed), \
         bad_request (anything else).",
    );
    for (reason, count) in [
        ("full", meter.refused_full),
        ("cors", meter.refused_cors),
        ("bad_request", meter.refused_bad_request),
    ] {
        x.sample(
            "socketio_handshakes_refused_total",
            &[("reason", reason)],
            count,
        );
    }
    x.single(
        "socketio_slow_consumers_total",
        Counter,
        "Sessions closed for not reading their backlog.",
        meter.slow_consumers,
    );
    x.single(
        "socketio_packets_in_total",
        Counter,
        "Engine.IO message packets received.",
        meter.packets_in,
    );
    x.single(
        "socketio_packets_out_total",
        Counter,
        "Engine.IO message packets sent.",
        meter.packets_out,
    );
    x.single(
        "socketio_bytes_in_total",
        Counter,
        "Bytes of the message packets received.",
        meter.bytes_in,
    );
    x.single(
        "socketio_bytes_out_total",
        Counter,
        "Bytes of the message packets sent.",
        meter.bytes_out,
    );

    x.family(
        "socketio_sockets",
        Gauge,
        "Sockets connected now, by namespace.",
    );
    let mut namespaces = io.namespace_socket_counts();
    namespaces.sort();
    for (name, count) in &namespaces {
        x.sample("socketio_sockets", &[("namespace", name)], count);
    }
    x.single(
        "socketio_rooms",
        Gauge,
        "Non-empty rooms now, all namespaces together, private per-socket rooms included.",
        stats.rooms,
    );
    x.single(
        "socketio_pending_acks",
        Gauge,
        "Server-side emit_with_ack calls waiting for an answer.",
        stats.pending_acks,
    );
    x.single(
        "socketio_recovery_sessions",
        Gauge,
        "Dropped sockets whose state is kept for connection state recovery.",
        stats.recovery_sessions,
    );
    x.single(
        "socketio_recovery_packets",
        Gauge,
        "Packets kept for connection state recovery.",
        stats.recovery_packets,
    );
    x.single(
        "socketio_recovery_bytes",
        Gauge,
        "Bytes kept for connection state recovery.",
        stats.recovery_bytes,
    );
    x.single(
        "socketio_broadcasts_shed_total",
        Counter,
        "Broadcasts dropped for waiting longer than max_queue_delay.",
        stats.broadcasts_shed,
    );
    x.single(
        "socketio_recovery_hits_total",
        Counter,
        "Reconnections that recovered their socket.",
        stats.recovery_hits,
    );
    x.single(
        "socketio_recovery_misses_total",
        Counter,
        "Reconnections with a private id that got a fresh socket.",
        stats.recovery_misses,
    );

    let (requests, timeouts) = io.cluster_request_counts();
    x.single(
        "socketio_cluster_requests_total",
        Counter,
        "Requests to the other nodes of the cluster that wait for answers.",
        requests,
    );
    x.single(
        "socketio_cluster_request_timeouts_total",
        Counter,
        "Requests to the other nodes whose answers did not all arrive in time.",
        timeouts,
    );
    x.out
}

/// Watches the meter and mounts `GET path` (see [`SocketIo::metrics_service`]).
pub(crate) fn mount(io: SocketIo, path: &str) -> impl FnOnce(&mut web::ServiceConfig) {
    io.meter().watch();
    let path = if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    };
    move |cfg: &mut web::ServiceConfig| {
        cfg.route(
            &path,
            web::get().to(move || {
                let body = render(&io);
                async move {
                    HttpResponse::Ok()
                        .content_type(CONTENT_TYPE)
                        .insert_header(("Cache-Control", "no-store"))
                        .body(body)
                }
            }),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_escape_backslash_quote_and_newline() {
        assert_eq!(escape_label_value("/chat"), "/chat");
        assert_eq!(escape_label_value(r#"a\b"#), r#"a\\b"#);
        assert_eq!(escape_label_value(r#"say "hi""#), r#"say \"hi\""#);
        assert_eq!(escape_label_value("two\nlines"), r#"two\nlines"#);
        assert_eq!(escape_label_value("\\\"\n"), r#"\\\"\n"#);
        assert_eq!(escape_label_value("é ✓"), "é ✓", "UTF-8 as it is");
        assert_eq!(escape_help("a\\b\nc \"q\""), "a\\\\b\\nc \"q\"");
    }

    #[test]
    fn a_family_is_help_type_then_its_samples() {
        let mut x = Exposition::default();
        x.family("socketio_test_total", Kind::Counter, "Things\ncounted.");
        x.sample("socketio_test_total", &[("reason", "a \"b\"")], 3u64);
        x.sample(
            "socketio_test_total",
            &[("reason", "c"), ("namespace", "/x\\y")],
            0usize,
        );
        x.single("socketio_level", Kind::Gauge, "A level.", 7);
        assert_eq!(
            x.out,
            "# HELP socketio_test_total Things\\ncounted.\n\
             # TYPE socketio_test_total counter\n\
             socketio_test_total{reason=\"a \\\"b\\\"\"} 3\n\
             socketio_test_total{reason=\"c\",namespace=\"/x\\\\y\"} 0\n\
             # HELP socketio_level A level.\n\
             # TYPE socketio_level gauge\n\
             socketio_level 7\n"
        );
    }

    #[test]
    fn an_idle_server_renders_every_family_once() {
        let io = SocketIo::default();
        io.of("/");
        io.of("/odd \"name\"");
        let text = render(&io);
        let types: Vec<&str> = text
            .lines()
            .filter_map(|line| line.strip_prefix("# TYPE "))
            .collect();
        assert_eq!(types.len(), 21, "{text}");
        let mut names: Vec<&str> = types.iter().map(|t| t.split(' ').next().unwrap()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), types.len(), "a family twice: {text}");
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap();
            assert!(names.contains(&name), "{line}: no TYPE for it");
            assert!(
                line.ends_with(" 0"),
                "an idle server counts nothing: {line}"
            );
        }
        assert!(text.contains("socketio_sockets{namespace=\"/\"} 0\n"));
        assert!(text.contains("socketio_sockets{namespace=\"/odd \\\"name\\\"\"} 0\n"));
        assert!(text.contains("socketio_sessions_closed_total{reason=\"ping timeout\"} 0\n"));
        assert!(text.ends_with('\n'));
    }
}
