//! Scenario `broadcast`: room fan-out at stepped rates.
//!
//! Members join the room and only receive; a separate sender (not a member) emits
//! `42["broadcast","<room>",{"k":<step>,"t":<µs>,"s":<seq>,"p":"<pad>"}]` at R/s. Members
//! take the latency from `t` (µs since loadgen's clock started) by scanning the text for the
//! numbers — no JSON parsing on the receive path — and count deliveries per step (`k`), so
//! that a late delivery of one step never counts for the next.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, OnceLock,
    },
    time::{Duration, Instant},
};

use clap::Args;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::{
    sync::{mpsc, oneshot, watch, Semaphore},
    task::JoinSet,
    time::MissedTickBehavior,
};
use tokio_tungstenite::tungstenite::Message;

use crate::{collect_setup, log, ms, stats::Stats, sys, ws, Ctx, Outcome};

#[derive(Args, Clone, Debug)]
pub struct Opts {
    /// Room members (WebSocket clients that only receive).
    #[arg(long, default_value_t = 1000)]
    pub members: usize,
    /// Sending time of each step, seconds.
    #[arg(long, default_value_t = 3.0)]
    pub step_seconds: f64,
    /// Broadcasts per second of the first step.
    #[arg(long, default_value_t = 50)]
    pub start_rate: u64,
    /// Rate factor between steps.
    #[arg(long, default_value_t = 1.5)]
    pub factor: f64,
    /// Highest rate tried.
    #[arg(long, default_value_t = 100_000)]
    pub max_rate: u64,
    /// A step passes when nothing is lost and p99 ≤ this many ms.
    #[arg(long, default_value_t = 250.0)]
    pub p99_limit_ms: f64,
    /// Approximate size of the broadcast JSON object, bytes.
    #[arg(long, default_value_t = 64)]
    pub payload: usize,
    /// Room name.
    #[arg(long, default_value = "bench")]
    pub room: String,
    /// Skip the bisection between the last passing and the first failing rate.
    #[arg(long)]
    pub no_bisect: bool,
    /// Skip the overload step.
    #[arg(long)]
    pub no_overload: bool,
    /// Longest wait for late deliveries after a step, seconds (a drain also ends when all
    /// deliveries arrived, or when the count did not grow for 1 s).
    #[arg(long, default_value_t = 10.0)]
    pub drain_max_seconds: f64,
    /// Longest drain after the overload step, seconds.
    #[arg(long, default_value_t = 15.0)]
    pub overload_drain_seconds: f64,
}

/// loadgen's clock: `t` in the payload is µs since this instant.
static CLOCK: OnceLock<Instant> = OnceLock::new();

fn now_us() -> u64 {
    CLOCK.get_or_init(Instant::now).elapsed().as_micros() as u64
}

/// The numbers of a broadcast packet: step, send time (µs), sequence.
#[derive(Debug, PartialEq, Eq)]
pub struct Stamp {
    pub k: u64,
    pub t: u64,
    pub s: u64,
}

/// Finds `"k":`, `"t":` and `"s":` numbers in a `42["broadcast",{...}]` packet, in any key
/// order (servers may re-serialise the object).
pub fn scan(packet: &[u8]) -> Option<Stamp> {
    const PREFIX: &[u8] = b"42[\"broadcast\",";
    if !packet.starts_with(PREFIX) {
        return None;
    }
    let (mut k, mut t, mut s) = (None, None, None);
    let mut i = PREFIX.len();
    while i + 4 < packet.len() {
        if packet[i] == b'"' && packet[i + 2] == b'"' && packet[i + 3] == b':' {
            let key = packet[i + 1];
            let mut j = i + 4;
            while j < packet.len() && packet[j] == b' ' {
                j += 1;
            }
            let mut value = 0u64;
            let digits_start = j;
            while j < packet.len() && packet[j].is_ascii_digit() {
                value = value
                    .wrapping_mul(10)
                    .wrapping_add((packet[j] - b'0') as u64);
                j += 1;
            }
            if j > digits_start {
                match key {
                    b'k' => k = Some(value),
                    b't' => t = Some(value),
                    b's' => s = Some(value),
                    _ => {}
                }
                if k.is_some() && t.is_some() && s.is_some() {
                    break;
                }
            }
            i = j.max(i + 4);
            continue;
        }
        i += 1;
    }
    Some(Stamp {
        k: k?,
        t: t?,
        s: s?,
    })
}

/// Shared by the members.
struct Members {
    stats: Stats,
    /// Members whose connection the server closed (or that failed).
    disconnected: AtomicU64,
}

/// One receiving member; records into the stats until stopped or closed.
async fn member(
    i: usize,
    mut socket: ws::Ws,
    shared: Arc<Members>,
    mut stop: watch::Receiver<bool>,
) {
    let stopped = async move {
        loop {
            if *stop.borrow_and_update() || stop.changed().await.is_err() {
                return;
            }
        }
    };
    tokio::pin!(stopped);
    let shard = shared.stats.shard(i);
    let mut last = (u64::MAX, 0u64);
    loop {
        tokio::select! {
            biased;
            msg = socket.next() => match msg {
                Some(Ok(Message::Text(text))) => {
                    let bytes = text.as_bytes();
                    if bytes == b"2" {
                        if ws::send(&mut socket, "3").await.is_err() {
                            shared.disconnected.fetch_add(1, Ordering::Relaxed);
                            return;
                        }
                    } else if let Some(stamp) = scan(bytes) {
                        let latency = now_us().saturating_sub(stamp.t);
                        let reordered = stamp.k == last.0 && stamp.s <= last.1;
                        last = (stamp.k, stamp.s);
                        let mut s = shard.lock().unwrap();
                        if u64::from(s.step) == stamp.k {
                            s.hist.saturating_record(latency.max(1));
                            s.count += 1;
                            if reordered {
                                s.reordered += 1;
                            }
                        } else {
                            s.late += 1;
                        }
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                    shared.disconnected.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Some(Ok(_)) => {}
            },
            _ = &mut stopped => {
                ws::close(socket).await;
                return;
            }
        }
    }
}

struct SendReport {
    sent: u64,
    seconds: f64,
    error: Option<String>,
}

enum Command {
    Step {
        k: u32,
        rate: u64,
        seconds: f64,
        reply: oneshot::Sender<SendReport>,
    },
}

/// The sender's task: answers pings between steps, runs steps on command.
async fn sender(
    mut socket: ws::Ws,
    mut commands: mpsc::Receiver<Command>,
    room: String,
    pad: String,
) {
    let mut dead: Option<String> = None;
    loop {
        tokio::select! {
            command = commands.recv() => match command {
                Some(Command::Step { k, rate, seconds, reply }) => {
                    let report = match &dead {
                        Some(e) => SendReport { sent: 0, seconds: 0.0, error: Some(e.clone()) },
                        None => {
                            let start = Instant::now();
                            let mut sent = 0;
                            // A server that stops reading blocks the writes: bound the step.
                            let bound = Duration::from_secs_f64(seconds + 5.0);
                            let result = tokio::time::timeout(
                                bound,
                                send_step(&mut socket, k, rate, seconds, &room, &pad, &mut sent),
                            )
                            .await
                            .unwrap_or_else(|_| {
                                Err(format!("sender blocked for {bound:?} (server not reading)"))
                            });
                            SendReport {
                                sent,
                                seconds: start.elapsed().as_secs_f64(),
                                error: result.err(),
                            }
                        }
                    };
                    if let Some(e) = &report.error {
                        dead = Some(e.clone());
                    }
                    let _ = reply.send(report);
                }
                None => {
                    if dead.is_none() {
                        ws::close(socket).await;
                    }
                    return;
                }
            },
            msg = socket.next(), if dead.is_none() => match msg {
                Some(Ok(Message::Text(text))) => {
                    if text.as_str() == "2" {
                        if let Err(e) = ws::send(&mut socket, "3").await {
                            dead = Some(e);
                        }
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                    dead = Some("sender closed by server".into());
                }
                Some(Ok(_)) => {}
            },
        }
    }
}

/// Sends `rate × seconds` broadcasts paced on a 1 ms tick (each tick sends what is due, so a
/// late tick catches up); gives up on what is not sent 250 ms after the step's end. Counts
/// into `sent` as it goes, so that a caller that times it out still knows the count.
async fn send_step(
    socket: &mut ws::Ws,
    k: u32,
    rate: u64,
    seconds: f64,
    room: &str,
    pad: &str,
    sent: &mut u64,
) -> Result<(), String> {
    let total = (rate as f64 * seconds).round() as u64;
    let start = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(MissedTickBehavior::Burst);
    while *sent < total {
        tokio::select! {
            biased;
            msg = socket.next() => match msg {
                Some(Ok(Message::Text(text))) => {
                    if text.as_str() == "2" {
                        ws::send(socket, "3").await?;
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                    return Err("sender closed by server".into());
                }
                Some(Ok(_)) => {}
            },
            _ = tick.tick() => {
                let elapsed = start.elapsed().as_secs_f64();
                if elapsed > seconds + 0.25 {
                    break;
                }
                let due = if elapsed >= seconds {
                    total
                } else {
                    ((elapsed * rate as f64) as u64 + 1).min(total)
                };
                while *sent < due {
                    let packet = format!(
                        "42[\"broadcast\",{room},{{\"k\":{k},\"t\":{},\"s\":{},\"p\":\"{pad}\"}}]",
                        now_us(),
                        *sent + 1
                    );
                    socket
                        .feed(Message::text(packet))
                        .await
                        .map_err(|e| format!("sender write: {e}"))?;
                    *sent += 1;
                }
                socket
                    .flush()
                    .await
                    .map_err(|e| format!("sender flush: {e}"))?;
            }
        }
    }
    Ok(())
}

/// One step's figures.
struct Step {
    rate: u64,
    sent: u64,
    send_seconds: f64,
    expected: u64,
    delivered: u64,
    late: u64,
    reordered: u64,
    p50_us: Option<u64>,
    p99_us: Option<u64>,
    max_us: Option<u64>,
    rss_kib: Option<u64>,
    rss_peak_kib: Option<u64>,
    loadgen_cpu_pct: f64,
    server_cpu_pct: Option<f64>,
    drain_ms: u64,
    disconnected: u64,
    sender_error: Option<String>,
    pass: bool,
    bisect: bool,
}

impl Step {
    fn lost(&self) -> u64 {
        self.expected.saturating_sub(self.delivered)
    }

    fn json(&self) -> Value {
        json!({
            "rate": self.rate,
            "sent": self.sent,
            "sent_rate": sys::round2(self.sent as f64 / self.send_seconds.max(1e-9)),
            "expected": self.expected,
            "delivered": self.delivered,
            "lost": self.lost(),
            "late": self.late,
            "reordered": self.reordered,
            "p50_ms": self.p50_us.map(ms),
            "p99_ms": self.p99_us.map(ms),
            "max_ms": self.max_us.map(ms),
            "rss_kib": self.rss_kib,
            "rss_peak_kib": self.rss_peak_kib,
            "loadgen_cpu_pct": self.loadgen_cpu_pct,
            "server_cpu_pct": self.server_cpu_pct,
            "drain_ms": self.drain_ms,
            "disconnected": self.disconnected,
            "sender_error": self.sender_error,
            "pass": self.pass,
            "bisect": self.bisect,
        })
    }
}

struct Runner<'a> {
    ctx: &'a Ctx,
    opts: &'a Opts,
    members: usize,
    shared: Arc<Members>,
    commands: mpsc::Sender<Command>,
    rss: Option<sys::RssSampler>,
    k: u32,
}

impl Runner<'_> {
    async fn step(&mut self, rate: u64, drain_max: f64, bisect: bool) -> Step {
        self.k += 1;
        let k = self.k;
        self.shared.stats.reset(k);
        let pid = self.ctx.server_pid;
        if let (Some(rss), Some(pid)) = (&self.rss, pid) {
            rss.take_peak(pid);
        }
        let disconnected_before = self.shared.disconnected.load(Ordering::Relaxed);
        log(&format!(
            "step {k}: {rate}/s for {} s ({} deliveries/s)",
            self.opts.step_seconds,
            rate * self.members as u64
        ));

        let cpu = sys::CpuWindow::start(pid);
        let (reply, report) = oneshot::channel();
        let report = match self
            .commands
            .send(Command::Step {
                k,
                rate,
                seconds: self.opts.step_seconds,
                reply,
            })
            .await
        {
            Ok(()) => report.await.unwrap_or(SendReport {
                sent: 0,
                seconds: 0.0,
                error: Some("sender task ended".into()),
            }),
            Err(_) => SendReport {
                sent: 0,
                seconds: 0.0,
                error: Some("sender task ended".into()),
            },
        };
        let cpu = cpu.finish();
        let expected = report.sent * self.members as u64;

        // Drain: until everything arrived, the count stalls for 1 s, or drain_max.
        let drain_start = Instant::now();
        let mut last_count = self.shared.stats.count();
        let mut last_growth = Instant::now();
        while last_count < expected {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let count = self.shared.stats.count();
            if count > last_count {
                last_count = count;
                last_growth = Instant::now();
            } else if last_growth.elapsed() >= Duration::from_secs(1) {
                break;
            }
            if drain_start.elapsed().as_secs_f64() >= drain_max {
                break;
            }
        }
        let drain_ms = drain_start.elapsed().as_millis() as u64;

        let summary = self.shared.stats.summary();
        let hist = &summary.hist;
        let some = summary.count > 0;
        let q = |q: f64| some.then(|| hist.value_at_quantile(q));
        let rss_kib = pid.and_then(sys::rss_kib);
        let rss_peak_kib = match (&self.rss, pid) {
            (Some(rss), Some(pid)) => Some(rss.take_peak(pid)),
            _ => None,
        };
        let mut step = Step {
            rate,
            sent: report.sent,
            send_seconds: report.seconds,
            expected,
            delivered: summary.count,
            late: summary.late,
            reordered: summary.reordered,
            p50_us: q(0.50),
            p99_us: q(0.99),
            max_us: q(1.0),
            rss_kib,
            rss_peak_kib,
            loadgen_cpu_pct: cpu.loadgen_pct,
            server_cpu_pct: cpu.server_pct,
            drain_ms,
            disconnected: self.shared.disconnected.load(Ordering::Relaxed) - disconnected_before,
            sender_error: report.error,
            pass: false,
            bisect,
        };
        step.pass = step.sender_error.is_none()
            && step.sent > 0
            && step.lost() == 0
            && step
                .p99_us
                .is_some_and(|p| p as f64 / 1000.0 <= self.opts.p99_limit_ms);
        log(&format!(
            "step {k}: sent {} expected {} delivered {} lost {} p50 {:?} ms p99 {:?} ms \
             loadgen cpu {}% server cpu {:?}% → {}",
            step.sent,
            step.expected,
            step.delivered,
            step.lost(),
            step.p50_us.map(ms),
            step.p99_us.map(ms),
            step.loadgen_cpu_pct,
            step.server_cpu_pct,
            if step.pass { "pass" } else { "FAIL" }
        ));
        step
    }
}

pub async fn run(ctx: &Ctx, opts: &Opts) -> Outcome {
    CLOCK.get_or_init(Instant::now);
    if opts.start_rate == 0 || opts.factor <= 1.0 || opts.step_seconds <= 0.0 {
        return Outcome::failed(
            json!({}),
            "--start-rate must be > 0, --factor > 1, --step-seconds > 0".into(),
        );
    }
    let n = opts.members;
    let room = ws::json_str(&opts.room);
    // {"k":1,"t":12345678,"s":1234,"p":""} is about 36 bytes; pad up to --payload.
    let pad = "x".repeat(opts.payload.saturating_sub(36));
    let shared = Arc::new(Members {
        stats: Stats::default(),
        disconnected: AtomicU64::new(0),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel();

    log(&format!("broadcast: {n} members join room {room}"));
    let started = Instant::now();
    let permits = Arc::new(Semaphore::new(ctx.concurrency));
    let spawner = {
        let target = ctx.target.clone();
        let timeout = ctx.handshake_timeout;
        let shared = shared.clone();
        let room = opts.room.clone();
        tokio::spawn(async move {
            let mut tasks = JoinSet::new();
            for i in 0..n {
                let permit = permits
                    .clone()
                    .acquire_owned()
                    .await
                    .expect("open semaphore");
                let (target, ready, stop, shared, room) = (
                    target.clone(),
                    ready_tx.clone(),
                    stop_rx.clone(),
                    shared.clone(),
                    room.clone(),
                );
                tasks.spawn(async move {
                    let setup = tokio::time::timeout(timeout, async {
                        let (mut socket, latency) = ws::open(&target, 0).await?;
                        ws::join(&mut socket, &room).await?;
                        Ok::<_, String>((socket, latency))
                    })
                    .await;
                    drop(permit);
                    match setup {
                        Ok(Ok((socket, latency))) => {
                            let _ = ready.send(Ok(latency));
                            member(i, socket, shared, stop).await;
                        }
                        Ok(Err(e)) => {
                            let _ = ready.send(Err(e));
                        }
                        Err(_) => {
                            let _ = ready.send(Err("connect + join timed out".into()));
                        }
                    }
                });
            }
            tasks
        })
    };
    let report = collect_setup(&mut ready_rx, n, started, "members").await;
    let tasks = spawner.await.expect("spawner task");
    let finish = |tasks: JoinSet<()>, stop_tx: watch::Sender<bool>| async move {
        let mut tasks = tasks;
        let _ = stop_tx.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(10), async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
    };
    if let Some(error) = report.too_many_failures(ctx, "members") {
        finish(tasks, stop_tx).await;
        return Outcome::failed(
            json!({"members": n, "joined": report.ok, "failed": report.failed}),
            error,
        );
    }
    let members = report.ok;

    let sender_socket =
        match tokio::time::timeout(ctx.handshake_timeout, ws::open(&ctx.target, 64 * 1024)).await {
            Ok(Ok((socket, _))) => socket,
            Ok(Err(e)) => {
                finish(tasks, stop_tx).await;
                return Outcome::failed(json!({"members": n}), format!("sender: {e}"));
            }
            Err(_) => {
                finish(tasks, stop_tx).await;
                return Outcome::failed(
                    json!({"members": n}),
                    "sender: handshake timed out".into(),
                );
            }
        };
    let (commands, command_rx) = mpsc::channel(1);
    let sender_task = tokio::spawn(sender(sender_socket, command_rx, room, pad));

    let mut runner = Runner {
        ctx,
        opts,
        members,
        shared: shared.clone(),
        commands,
        rss: ctx.server_pid.map(sys::RssSampler::spawn),
        k: 0,
    };
    let drain = opts.drain_max_seconds;
    let mut steps: Vec<Step> = Vec::new();
    let mut rate = opts.start_rate.min(opts.max_rate);
    let mut best: Option<(u64, Option<u64>)> = None;
    let mut first_fail: Option<u64> = None;
    loop {
        let step = runner.step(rate, drain, false).await;
        let pass = step.pass;
        let sender_dead = step.sender_error.is_some();
        if pass {
            best = Some((rate, step.p99_us));
        }
        steps.push(step);
        if sender_dead {
            break;
        }
        if !pass {
            first_fail = Some(rate);
            break;
        }
        if rate >= opts.max_rate {
            break;
        }
        rate = ((rate as f64 * opts.factor).round() as u64)
            .max(rate + 1)
            .min(opts.max_rate);
    }
    if let (false, Some((pass_rate, _)), Some(fail_rate)) = (opts.no_bisect, best, first_fail) {
        let mid = (pass_rate + fail_rate) / 2;
        if mid > pass_rate && mid < fail_rate {
            let step = runner.step(mid, drain, true).await;
            if step.pass {
                best = Some((mid, step.p99_us));
            }
            steps.push(step);
        }
    }

    let overload = if opts.no_overload {
        None
    } else {
        let base = first_fail.unwrap_or(rate);
        let step = runner
            .step(base.saturating_mul(2), opts.overload_drain_seconds, false)
            .await;
        Some(step)
    };

    log("broadcast: closing members and sender");
    drop(runner);
    let _ = tokio::time::timeout(Duration::from_secs(3), sender_task).await;
    let disconnected_total = shared.disconnected.load(Ordering::Relaxed);
    finish(tasks, stop_tx).await;

    let sustained_rate = best.map_or(0, |(r, _)| r);
    let loadgen_cpu_max = steps
        .iter()
        .chain(overload.iter())
        .map(|s| s.loadgen_cpu_pct)
        .fold(0.0, f64::max);
    let fields = json!({
        "members": n,
        "joined": members,
        "failed": report.failed,
        "setup_seconds": sys::round2(report.seconds),
        "step_seconds": opts.step_seconds,
        "p99_limit_ms": opts.p99_limit_ms,
        "steps": steps.iter().map(Step::json).collect::<Vec<_>>(),
        "sustained_rate": sustained_rate,
        "sustained_deliveries_per_s": sustained_rate * members as u64,
        "sustained_p99_ms": best.and_then(|(_, p)| p).map(ms),
        "overload": overload.as_ref().map(|s| json!({
            "rate": s.rate,
            "sent": s.sent,
            "expected": s.expected,
            "delivered": s.delivered,
            "lost": s.lost(),
            "late": s.late,
            "p50_ms": s.p50_us.map(ms),
            "p99_ms": s.p99_us.map(ms),
            "max_ms": s.max_us.map(ms),
            "rss_kib": s.rss_kib,
            "rss_peak_kib": s.rss_peak_kib,
            "disconnected": s.disconnected,
            "drain_ms": s.drain_ms,
            "loadgen_cpu_pct": s.loadgen_cpu_pct,
            "server_cpu_pct": s.server_cpu_pct,
            "sender_error": s.sender_error,
        })),
        "disconnected_total": disconnected_total,
        "loadgen_cpu_pct": loadgen_cpu_max,
    });
    if steps.first().is_some_and(|s| s.sender_error.is_some()) {
        let e = steps[0].sender_error.clone().unwrap_or_default();
        return Outcome::failed(fields, format!("sender failed in the first step: {e}"));
    }
    Outcome::ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_any_key_order() {
        let ours = br#"42["broadcast",{"k":3,"t":123456,"s":42,"p":"xxxx"}]"#;
        assert_eq!(
            scan(ours),
            Some(Stamp {
                k: 3,
                t: 123456,
                s: 42
            })
        );
        let sorted = br#"42["broadcast",{"k":3,"p":"xx","s":42,"t":123456}]"#;
        assert_eq!(scan(sorted), scan(ours));
        let spaced = br#"42["broadcast",{"t": 7, "s": 8, "k": 9}]"#;
        assert_eq!(scan(spaced), Some(Stamp { k: 9, t: 7, s: 8 }));
        assert_eq!(scan(br#"42["echo","x"]"#), None);
        assert_eq!(scan(br#"42["broadcast",{"k":1,"t":2}]"#), None);
    }
}
