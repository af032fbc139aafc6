//! Scenario `echo`: closed-loop round trips with ack over WebSocket, and the coordinator that
//! the `polling` scenario shares.

use std::{
    future::Future,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use clap::Args;
use futures_util::StreamExt;
use serde_json::json;
use tokio::{
    sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore},
    task::JoinSet,
};
use tokio_tungstenite::tungstenite::Message;

use crate::{
    collect_setup, log, mp, next_phase, stats::Stats, sys, ws, Ctx, Outcome, Phase, Target,
};

#[derive(Args, Clone, Debug)]
pub struct Opts {
    /// Clients (default: 100 for echo, 1000 for polling).
    #[arg(long)]
    pub clients: Option<usize>,
    /// Length of the echoed string, characters.
    #[arg(long, default_value_t = 64)]
    pub payload: usize,
    /// Measured window, seconds.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Round trips before the measured window that are not recorded, seconds.
    #[arg(long, default_value_t = 2.0)]
    pub warmup: f64,
    /// A round trip not answered within this many seconds is an error and ends the client.
    #[arg(long, default_value_t = 10.0)]
    pub rt_timeout: f64,
}

/// What all clients of a closed-loop scenario share.
pub struct Shared {
    pub stats: Stats,
    pub errors: AtomicU64,
    /// `["echo","<payload>"]`: the packet is `42<id>` followed by this.
    pub event_tail: String,
    /// `["<payload>"]`: the ack is `43<id>` followed by this.
    pub ack_tail: Vec<u8>,
    pub rt_timeout: Duration,
    /// The echoed string (the msgpack packets are built per id from it).
    pub payload: String,
    /// First error, for the log.
    pub first_error: std::sync::Mutex<Option<String>>,
}

impl Shared {
    /// Records an answered round trip of client `i` if it lies inside the measured window.
    pub fn record_round_trip(&self, i: usize, sent_at: Instant, start: Instant, end: Instant) {
        let done = Instant::now();
        if sent_at >= start && done <= end {
            self.stats.record(i, (done - sent_at).as_micros() as u64);
        }
    }

    pub fn error(&self, what: impl FnOnce() -> String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut first = self.first_error.lock().unwrap();
        if first.is_none() {
            let msg = what();
            log(&format!("client error: {msg}"));
            *first = Some(msg);
        }
    }
}

/// Everything a client task gets.
#[derive(Clone)]
pub struct Env {
    pub target: Target,
    pub setup_timeout: Duration,
    pub ready: mpsc::UnboundedSender<Result<Duration, String>>,
    pub phase: watch::Receiver<Phase>,
    pub shared: Arc<Shared>,
}

/// A deterministic payload string of `len` characters that needs no JSON escaping.
pub fn payload_string(len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    (0..len)
        .map(|i| ALPHABET[i % ALPHABET.len()] as char)
        .collect()
}

/// How a received packet relates to the round trip `id`.
pub enum Reply {
    Ping,
    Ack,
    /// The ack of `id` with another payload.
    BadPayload,
    /// An ack of another id, or an event where an ack was expected.
    Unexpected,
    Other,
}

pub fn classify(packet: &[u8], id: u64, ack_tail: &[u8]) -> Reply {
    if packet == b"2" {
        return Reply::Ping;
    }
    if let Some(rest) = packet.strip_prefix(b"43") {
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        let got = std::str::from_utf8(&rest[..digits])
            .ok()
            .and_then(|d| d.parse::<u64>().ok());
        if got != Some(id) {
            return Reply::Unexpected;
        }
        return if &rest[digits..] == ack_tail {
            Reply::Ack
        } else {
            Reply::BadPayload
        };
    }
    if packet.starts_with(b"42") {
        return Reply::Unexpected;
    }
    Reply::Other
}

/// `classify` for a msgpack packet: the ack `{type: 3, data: ["<payload>"], nsp, id}`.
pub fn classify_msgpack(packet: &[u8], id: u64, payload: &str) -> Reply {
    if packet == mp::ack(&[payload], id).as_slice() {
        return Reply::Ack;
    }
    match mp::decode(packet) {
        Some(p) if p.kind == 3 && p.id == Some(id) => {
            if p.data == Some(json!([payload])) {
                Reply::Ack
            } else {
                Reply::BadPayload
            }
        }
        Some(p) if p.kind == 2 || p.kind == 3 => Reply::Unexpected,
        _ => Reply::Other,
    }
}

/// Runs a closed-loop scenario: spawns the clients with bounded set-ups, starts them together,
/// measures the window and builds the echo/polling figures.
pub async fn run_closed_loop<F, Fut>(ctx: &Ctx, opts: &Opts, clients: usize, client: F) -> Outcome
where
    F: Fn(usize, Env, OwnedSemaphorePermit) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let payload = payload_string(opts.payload);
    let shared = Arc::new(Shared {
        stats: Stats::default(),
        errors: AtomicU64::new(0),
        event_tail: format!("[\"echo\",\"{payload}\"]"),
        ack_tail: format!("[\"{payload}\"]").into_bytes(),
        rt_timeout: Duration::from_secs_f64(opts.rt_timeout),
        payload: payload.clone(),
        first_error: std::sync::Mutex::new(None),
    });
    let (phase_tx, phase_rx) = watch::channel(Phase::Setup);
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel();
    let env = Env {
        target: ctx.target.clone(),
        setup_timeout: ctx.handshake_timeout,
        ready: ready_tx,
        phase: phase_rx,
        shared: shared.clone(),
    };
    let permits = Arc::new(Semaphore::new(ctx.concurrency));
    let started = Instant::now();
    let spawner = tokio::spawn(async move {
        let mut tasks = JoinSet::new();
        for i in 0..clients {
            let permit = permits
                .clone()
                .acquire_owned()
                .await
                .expect("open semaphore");
            tasks.spawn(client(i, env.clone(), permit));
        }
        tasks
    });
    let report = collect_setup(&mut ready_rx, clients, started, "clients").await;
    let mut tasks = spawner.await.expect("spawner task");
    if let Some(error) = report.too_many_failures(ctx, "clients") {
        let _ = phase_tx.send(Phase::Stop);
        let _ = tokio::time::timeout(Duration::from_secs(10), async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        return Outcome::failed(
            json!({"clients": clients, "connected": report.ok, "failed": report.failed}),
            error,
        );
    }

    let start = Instant::now() + Duration::from_secs_f64(opts.warmup);
    let end = start + Duration::from_secs_f64(opts.duration);
    log(&format!(
        "running: {} clients, warmup {} s, measuring {} s",
        report.ok, opts.warmup, opts.duration
    ));
    let _ = phase_tx.send(Phase::Run { start, end });
    tokio::time::sleep_until(start.into()).await;
    let cpu = sys::CpuWindow::start(ctx.server_pid);
    tokio::time::sleep_until(end.into()).await;
    let cpu = cpu.finish();
    log("measured; closing clients");
    let _ = tokio::time::timeout(shared.rt_timeout + Duration::from_secs(5), async {
        while tasks.join_next().await.is_some() {}
    })
    .await;

    let summary = shared.stats.summary();
    let seconds = cpu.wall.as_secs_f64();
    let round_trips = summary.count;
    let hist = &summary.hist;
    let quantile = |q: f64| (round_trips > 0).then(|| hist.value_at_quantile(q));
    let fields = json!({
        "clients": clients,
        "connected": report.ok,
        "failed": report.failed,
        "payload": opts.payload,
        "seconds": sys::round2(seconds),
        "round_trips": round_trips,
        "rate_per_s": sys::round2(round_trips as f64 / seconds.max(1e-9)),
        "p50_us": quantile(0.50),
        "p99_us": quantile(0.99),
        "p999_us": quantile(0.999),
        "max_us": quantile(1.0),
        "mean_us": (round_trips > 0).then(|| sys::round2(hist.mean())),
        "server_cpu_us_per_rt": cpu
            .server_ns
            .filter(|_| round_trips > 0)
            .map(|ns| sys::round2(ns as f64 / 1000.0 / round_trips as f64)),
        "errors": shared.errors.load(Ordering::Relaxed),
        "setup_seconds": sys::round2(report.seconds),
        "loadgen_cpu_pct": cpu.loadgen_pct,
        "server_cpu_pct": cpu.server_pct,
    });
    let errors = shared.errors.load(Ordering::Relaxed);
    let allowed = (report.ok as f64 * ctx.max_fail_pct / 100.0).floor() as u64;
    if errors > allowed {
        let why = shared.first_error.lock().unwrap().clone();
        return Outcome::failed(
            fields,
            format!(
                "{errors} client errors during the run (tolerance {allowed}); first: {}",
                why.as_deref().unwrap_or("-")
            ),
        );
    }
    if round_trips == 0 {
        let why = shared.first_error.lock().unwrap().clone();
        return Outcome::failed(
            fields,
            format!(
                "no round trip completed in the measured window (first error: {})",
                why.as_deref().unwrap_or("-")
            ),
        );
    }
    Outcome::ok(fields)
}

pub async fn run_ws(ctx: &Ctx, opts: &Opts) -> Outcome {
    let clients = opts.clients.unwrap_or(100);
    log(&format!(
        "echo: {clients} WebSocket clients, payload {} chars",
        opts.payload
    ));
    run_closed_loop(ctx, opts, clients, ws_client).await
}

impl Env {
    /// Runs a client's set-up within the time limit and reports its outcome to the
    /// coordinator; the client itself only when it is ready.
    pub async fn set_up<T>(
        &self,
        what: &str,
        setup: impl Future<Output = Result<(T, Duration), String>>,
    ) -> Option<T> {
        let outcome = match tokio::time::timeout(self.setup_timeout, setup).await {
            Ok(outcome) => outcome,
            Err(_) => Err(format!("{what} timed out")),
        };
        match outcome {
            Ok((client, latency)) => {
                let _ = self.ready.send(Ok(latency));
                Some(client)
            }
            Err(e) => {
                let _ = self.ready.send(Err(e));
                None
            }
        }
    }
}

async fn ws_client(i: usize, mut env: Env, permit: OwnedSemaphorePermit) {
    let result = env.set_up("handshake", ws::open(&env.target, 0)).await;
    drop(permit);
    let Some(mut socket) = result else {
        return;
    };
    let shared = env.shared.clone();

    // Wait for the start, answering pings.
    let phase = loop {
        tokio::select! {
            phase = next_phase(&mut env.phase) => break phase,
            msg = socket.next() => match msg {
                Some(Ok(Message::Text(text))) => {
                    if text.as_str() == "2" && ws::send(&mut socket, "3").await.is_err() {
                        shared.error(|| "send failed while waiting".into());
                        return;
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                    shared.error(|| "closed by server while waiting for the start".into());
                    return;
                }
                Some(Ok(_)) => {}
            },
        }
    };
    let Phase::Run { start, end } = phase else {
        ws::close(socket).await;
        return;
    };

    let mut id = 0u64;
    'rounds: while Instant::now() < end {
        id += 1;
        let sent_at = Instant::now();
        let sent = match env.target.wire {
            mp::Wire::Json => {
                let packet = format!("42{id}{}", shared.event_tail);
                ws::send(&mut socket, &packet).await
            }
            mp::Wire::Msgpack => {
                let packet = mp::event(&["echo", &shared.payload], Some(id));
                ws::send_binary(&mut socket, packet).await
            }
        };
        if let Err(e) = sent {
            shared.error(|| e);
            return;
        }
        let deadline = sent_at + shared.rt_timeout;
        loop {
            let msg = match tokio::time::timeout_at(deadline.into(), socket.next()).await {
                Ok(msg) => msg,
                Err(_) => {
                    shared.error(|| format!("no ack for id {id} within {:?}", shared.rt_timeout));
                    break 'rounds;
                }
            };
            let msg = match msg {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                    shared.error(|| "connection closed by server mid-run".into());
                    return;
                }
                Some(Ok(msg)) => msg,
            };
            let reply = match &msg {
                Message::Text(text) => classify(text.as_bytes(), id, &shared.ack_tail),
                Message::Binary(bytes) => classify_msgpack(bytes, id, &shared.payload),
                _ => Reply::Other,
            };
            // The packet as text, for error messages only.
            let show = || match &msg {
                Message::Text(text) => ws::clip(text),
                Message::Binary(bytes) => format!("{:?}", &bytes[..bytes.len().min(60)]),
                _ => String::new(),
            };
            match reply {
                Reply::Ping => {
                    if let Err(e) = ws::send(&mut socket, "3").await {
                        shared.error(|| e);
                        return;
                    }
                }
                Reply::Ack => {
                    shared.record_round_trip(i, sent_at, start, end);
                    break;
                }
                Reply::BadPayload => {
                    shared.error(|| format!("ack with another payload: {}", show()));
                    break;
                }
                Reply::Unexpected => shared.error(|| format!("unexpected packet: {}", show())),
                Reply::Other => {}
            }
        }
    }
    ws::close(socket).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_replies() {
        let tail = br#"["abc"]"#;
        assert!(matches!(classify(b"2", 7, tail), Reply::Ping));
        assert!(matches!(classify(br#"437["abc"]"#, 7, tail), Reply::Ack));
        assert!(matches!(
            classify(br#"437["abd"]"#, 7, tail),
            Reply::BadPayload
        ));
        assert!(matches!(
            classify(br#"438["abc"]"#, 7, tail),
            Reply::Unexpected
        ));
        assert!(matches!(
            classify(br#"42["echo","abc"]"#, 7, tail),
            Reply::Unexpected
        ));
        assert!(matches!(classify(b"40", 7, tail), Reply::Other));
        assert_eq!(payload_string(40).len(), 40);
        assert!(matches!(
            classify_msgpack(&mp::ack(&["abc"], 7), 7, "abc"),
            Reply::Ack
        ));
        assert!(matches!(
            classify_msgpack(&mp::ack(&["abd"], 7), 7, "abc"),
            Reply::BadPayload
        ));
        assert!(matches!(
            classify_msgpack(&mp::ack(&["abc"], 8), 7, "abc"),
            Reply::Unexpected
        ));
        assert!(matches!(
            classify_msgpack(&mp::connect(), 7, "abc"),
            Reply::Other
        ));
    }
}
