//! Scenario `broadcast`: room fan-out at stepped rates.
//!
//! Members join the room and only receive; a separate sender (not a member) emits
//! `42["broadcast","<room>",{"k":<step>,"t":<µs>,"s":<seq>,"p":"<pad>"}]` at R/s. Members
//! take the latency from `t` (µs since loadgen's clock started) by scanning the text for the
//! numbers — no JSON parsing on the receive path — and count deliveries per step (`k`), so
//! that a late delivery of one step never counts for the next.
//!
//! The machinery here (members, sender, steps, the search for the highest passing rate) is
//! shared with `cluster-broadcast` (cluster.rs), which counts the members of each node as a
//! group of their own.

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

use crate::{
    collect_setup, log, mp, ms,
    stats::{Stats, Summary},
    sys, ws, Ctx, Outcome, SetupReport, Target,
};

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
pub static CLOCK: OnceLock<Instant> = OnceLock::new();

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

/// Shared by the members of one group.
pub struct Members {
    stats: Stats,
    /// Members whose connection the server closed (or that failed).
    disconnected: AtomicU64,
}

impl Members {
    pub fn new() -> Arc<Self> {
        Arc::new(Members {
            stats: Stats::default(),
            disconnected: AtomicU64::new(0),
        })
    }

    /// Members whose connection the server closed (or that failed), so far.
    pub fn disconnected(&self) -> u64 {
        self.disconnected.load(Ordering::Relaxed)
    }
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
    let mut record = |stamp: Stamp| {
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
    };
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
                        record(stamp);
                    }
                }
                Some(Ok(Message::Binary(bytes))) => {
                    if let Some(stamp) = mp::scan(&bytes) {
                        record(stamp);
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
    room: Room,
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
    room: &Room,
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
                    let packet = match room {
                        Room::Json(room) => Message::text(format!(
                            "42[\"broadcast\",{room},{{\"k\":{k},\"t\":{},\"s\":{},\"p\":\"{pad}\"}}]",
                            now_us(),
                            *sent + 1
                        )),
                        Room::Msgpack(room) => Message::binary(mp::broadcast(
                            room,
                            u64::from(k),
                            now_us(),
                            *sent + 1,
                            pad,
                        )),
                    };
                    socket
                        .feed(packet)
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

/// The room the sender names: as a JSON string literal, or as is for msgpack.
enum Room {
    Json(String),
    Msgpack(String),
}

/// Members whose deliveries are counted together: all of them (`broadcast`), or those connected
/// to one node (`cluster-broadcast`: `local` on the sender's node, `remote` on the other).
pub struct Group {
    pub name: &'static str,
    /// Members that joined.
    pub members: usize,
    pub shared: Arc<Members>,
}

/// A process besides `--server-pid` whose CPU and RSS each step reports (`cluster-broadcast`:
/// node B and Redis).
pub struct Watched {
    pub name: &'static str,
    pub pid: u32,
    rss: sys::RssSampler,
}

impl Watched {
    pub fn new(name: &'static str, pid: u32) -> Self {
        Watched {
            name,
            pid,
            rss: sys::RssSampler::spawn(pid),
        }
    }
}

/// One group's figures in a step.
pub struct Part {
    pub name: &'static str,
    pub members: usize,
    pub expected: u64,
    pub delivered: u64,
    pub late: u64,
    pub reordered: u64,
    pub p50_us: Option<u64>,
    pub p99_us: Option<u64>,
    pub max_us: Option<u64>,
    pub disconnected: u64,
    pub pass: bool,
}

impl Part {
    pub fn lost(&self) -> u64 {
        self.expected.saturating_sub(self.delivered)
    }

    fn json(&self) -> Value {
        json!({
            "name": self.name,
            "members": self.members,
            "expected": self.expected,
            "delivered": self.delivered,
            "lost": self.lost(),
            "late": self.late,
            "reordered": self.reordered,
            "p50_ms": self.p50_us.map(ms),
            "p99_ms": self.p99_us.map(ms),
            "max_ms": self.max_us.map(ms),
            "disconnected": self.disconnected,
            "pass": self.pass,
        })
    }
}

/// CPU and RSS of a [`Watched`] process over a step.
pub struct ProcFigures {
    pub name: &'static str,
    pub cpu_pct: Option<f64>,
    pub rss_kib: Option<u64>,
    pub rss_peak_kib: Option<u64>,
}

/// One step's figures.
pub struct Step {
    pub rate: u64,
    pub sent: u64,
    send_seconds: f64,
    pub expected: u64,
    pub delivered: u64,
    late: u64,
    reordered: u64,
    pub p50_us: Option<u64>,
    pub p99_us: Option<u64>,
    max_us: Option<u64>,
    rss_kib: Option<u64>,
    rss_peak_kib: Option<u64>,
    pub loadgen_cpu_pct: f64,
    pub server_cpu_pct: Option<f64>,
    drain_ms: u64,
    disconnected: u64,
    pub sender_error: Option<String>,
    pub pass: bool,
    bisect: bool,
    /// Per group; in the JSON only when there is more than one group.
    pub parts: Vec<Part>,
    /// The watched processes; in the JSON only when there are any.
    pub procs: Vec<ProcFigures>,
}

impl Step {
    pub fn lost(&self) -> u64 {
        self.expected.saturating_sub(self.delivered)
    }

    pub fn part(&self, name: &str) -> Option<&Part> {
        self.parts.iter().find(|p| p.name == name)
    }

    pub fn proc_cpu(&self, name: &str) -> Option<f64> {
        self.procs
            .iter()
            .find(|p| p.name == name)
            .and_then(|p| p.cpu_pct)
    }

    /// The per-group and per-process figures of a step with more than one group or watched
    /// processes (a `broadcast` step has neither, and its JSON stays as it always was).
    fn extend(&self, mut value: Value) -> Value {
        if let Value::Object(map) = &mut value {
            if self.parts.len() > 1 {
                map.insert(
                    "groups".into(),
                    Value::Array(self.parts.iter().map(Part::json).collect()),
                );
            }
            if !self.procs.is_empty() {
                let procs = self
                    .procs
                    .iter()
                    .map(|p| {
                        (
                            p.name.to_owned(),
                            json!({
                                "cpu_pct": p.cpu_pct,
                                "rss_kib": p.rss_kib,
                                "rss_peak_kib": p.rss_peak_kib,
                            }),
                        )
                    })
                    .collect();
                map.insert("procs".into(), Value::Object(procs));
            }
        }
        value
    }

    pub fn json(&self) -> Value {
        self.extend(json!({
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
        }))
    }

    /// The figures of the overload step.
    pub fn overload_json(&self) -> Value {
        self.extend(json!({
            "rate": self.rate,
            "sent": self.sent,
            "expected": self.expected,
            "delivered": self.delivered,
            "lost": self.lost(),
            "late": self.late,
            "p50_ms": self.p50_us.map(ms),
            "p99_ms": self.p99_us.map(ms),
            "max_ms": self.max_us.map(ms),
            "rss_kib": self.rss_kib,
            "rss_peak_kib": self.rss_peak_kib,
            "disconnected": self.disconnected,
            "drain_ms": self.drain_ms,
            "loadgen_cpu_pct": self.loadgen_cpu_pct,
            "server_cpu_pct": self.server_cpu_pct,
            "sender_error": self.sender_error,
        }))
    }
}

/// Runs steps: one sender, one or more groups of members.
pub struct Runner<'a> {
    ctx: &'a Ctx,
    opts: &'a Opts,
    groups: Vec<Group>,
    watched: Vec<Watched>,
    commands: mpsc::Sender<Command>,
    rss: Option<sys::RssSampler>,
    k: u32,
}

/// Step numbers of the probe broadcasts (`cluster-broadcast`), far above any step's.
const PROBE_K: u32 = 1_000_000;

impl<'a> Runner<'a> {
    /// Starts the sender's task on `sender_socket`; the runner drives it.
    pub fn start(
        ctx: &'a Ctx,
        opts: &'a Opts,
        groups: Vec<Group>,
        watched: Vec<Watched>,
        sender_socket: ws::Ws,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (commands, command_rx) = mpsc::channel(1);
        let room = match ctx.target.wire {
            mp::Wire::Json => Room::Json(ws::json_str(&opts.room)),
            mp::Wire::Msgpack => Room::Msgpack(opts.room.clone()),
        };
        let sender_task = tokio::spawn(sender(sender_socket, command_rx, room, pad(opts.payload)));
        let runner = Runner {
            ctx,
            opts,
            groups,
            watched,
            commands,
            rss: ctx.server_pid.map(sys::RssSampler::spawn),
            k: 0,
        };
        (runner, sender_task)
    }

    /// Members that joined, over all groups.
    pub fn members(&self) -> usize {
        self.groups.iter().map(|g| g.members).sum()
    }

    fn count(&self) -> u64 {
        self.groups.iter().map(|g| g.shared.stats.count()).sum()
    }

    async fn send(&self, k: u32, rate: u64, seconds: f64) -> SendReport {
        let (reply, report) = oneshot::channel();
        match self
            .commands
            .send(Command::Step {
                k,
                rate,
                seconds,
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
        }
    }

    /// Sends single broadcasts (at most one a second) until one reaches every member of every
    /// group, within `max`: the nodes of a cluster may take a moment to subscribe to each
    /// other after they listen. Returns how many were sent.
    pub async fn probe(&mut self, max: Duration) -> Result<u32, String> {
        let deadline = Instant::now() + max;
        let mut tries = 0u32;
        loop {
            tries += 1;
            for g in &self.groups {
                g.shared.stats.reset(PROBE_K + tries);
            }
            let report = self.send(PROBE_K + tries, 1, 1.0).await;
            if let Some(e) = report.error {
                return Err(format!("probe broadcast: {e}"));
            }
            let until = Instant::now() + Duration::from_secs(1);
            loop {
                if self
                    .groups
                    .iter()
                    .all(|g| g.shared.stats.count() >= g.members as u64)
                {
                    return Ok(tries);
                }
                if Instant::now() >= until {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            if Instant::now() >= deadline {
                let got = self
                    .groups
                    .iter()
                    .map(|g| format!("{} {} of {}", g.name, g.shared.stats.count(), g.members))
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(format!(
                    "no probe broadcast reached every member within {max:?} ({tries} sent; \
                     the last one reached: {got})"
                ));
            }
        }
    }

    pub async fn step(&mut self, rate: u64, drain_max: f64, bisect: bool) -> Step {
        self.k += 1;
        let k = self.k;
        for g in &self.groups {
            g.shared.stats.reset(k);
        }
        let pid = self.ctx.server_pid;
        if let (Some(rss), Some(pid)) = (&self.rss, pid) {
            rss.take_peak(pid);
        }
        for w in &self.watched {
            w.rss.take_peak(w.pid);
        }
        let disconnected_before: Vec<u64> = self
            .groups
            .iter()
            .map(|g| g.shared.disconnected.load(Ordering::Relaxed))
            .collect();
        let members = self.members();
        log(&format!(
            "step {k}: {rate}/s for {} s ({} deliveries/s)",
            self.opts.step_seconds,
            rate * members as u64
        ));

        let cpu = sys::CpuWindow::start(pid);
        let watched_cpu: Vec<_> = self
            .watched
            .iter()
            .map(|w| sys::CpuWindow::start(Some(w.pid)))
            .collect();
        let report = self.send(k, rate, self.opts.step_seconds).await;
        let cpu = cpu.finish();
        let watched_cpu: Vec<_> = watched_cpu.iter().map(|c| c.finish()).collect();
        let expected = report.sent * members as u64;

        // Drain: until everything arrived, the count stalls for 1 s, or drain_max.
        let drain_start = Instant::now();
        let mut last_count = self.count();
        let mut last_growth = Instant::now();
        while last_count < expected {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let count = self.count();
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

        let limit_ms = self.opts.p99_limit_ms;
        let quantiles = |summary: &Summary| {
            let some = summary.count > 0;
            let q = |q: f64| some.then(|| summary.hist.value_at_quantile(q));
            (q(0.50), q(0.99), q(1.0))
        };
        let mut all = Summary {
            hist: crate::stats::new_histogram(),
            count: 0,
            late: 0,
            reordered: 0,
        };
        let mut parts = Vec::with_capacity(self.groups.len());
        for (g, before) in self.groups.iter().zip(&disconnected_before) {
            let summary = g.shared.stats.summary();
            let (p50_us, p99_us, max_us) = quantiles(&summary);
            let mut part = Part {
                name: g.name,
                members: g.members,
                expected: report.sent * g.members as u64,
                delivered: summary.count,
                late: summary.late,
                reordered: summary.reordered,
                p50_us,
                p99_us,
                max_us,
                disconnected: g.shared.disconnected.load(Ordering::Relaxed) - before,
                pass: false,
            };
            part.pass =
                part.lost() == 0 && part.p99_us.is_some_and(|p| p as f64 / 1000.0 <= limit_ms);
            all.hist.add(&summary.hist).expect("same bounds");
            all.count += summary.count;
            all.late += summary.late;
            all.reordered += summary.reordered;
            parts.push(part);
        }
        let (p50_us, p99_us, max_us) = quantiles(&all);
        let rss_kib = pid.and_then(sys::rss_kib);
        let rss_peak_kib = match (&self.rss, pid) {
            (Some(rss), Some(pid)) => Some(rss.take_peak(pid)),
            _ => None,
        };
        let procs = self
            .watched
            .iter()
            .zip(&watched_cpu)
            .map(|(w, c)| ProcFigures {
                name: w.name,
                cpu_pct: c.server_pct,
                rss_kib: sys::rss_kib(w.pid),
                rss_peak_kib: Some(w.rss.take_peak(w.pid)),
            })
            .collect();
        let mut step = Step {
            rate,
            sent: report.sent,
            send_seconds: report.seconds,
            expected,
            delivered: all.count,
            late: all.late,
            reordered: all.reordered,
            p50_us,
            p99_us,
            max_us,
            rss_kib,
            rss_peak_kib,
            loadgen_cpu_pct: cpu.loadgen_pct,
            server_cpu_pct: cpu.server_pct,
            drain_ms,
            disconnected: parts.iter().map(|p| p.disconnected).sum(),
            sender_error: report.error,
            pass: false,
            bisect,
            parts,
            procs,
        };
        // With one group this is "nothing lost and p99 within the limit"; with several, each
        // group must meet both on its own.
        step.pass =
            step.sender_error.is_none() && step.sent > 0 && step.parts.iter().all(|p| p.pass);
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
        if step.parts.len() > 1 || !step.procs.is_empty() {
            let mut line = format!("step {k}:");
            for p in &step.parts {
                line += &format!(
                    " {} delivered {} lost {} p99 {:?} ms {};",
                    p.name,
                    p.delivered,
                    p.lost(),
                    p.p99_us.map(ms),
                    if p.pass { "ok" } else { "FAIL" }
                );
            }
            for p in &step.procs {
                line += &format!(" {} cpu {:?}%;", p.name, p.cpu_pct);
            }
            log(line.trim_end_matches(';'));
        }
        step
    }

    /// Stops the sender (closing its connection) and waits for its task a moment.
    pub async fn close(self, sender_task: tokio::task::JoinHandle<()>) {
        drop(self);
        let _ = tokio::time::timeout(Duration::from_secs(3), sender_task).await;
    }
}

/// The steps of a search for the highest passing rate.
pub struct Search {
    pub steps: Vec<Step>,
    /// Index of the highest passing step.
    pub best: Option<usize>,
    /// Index of the first failing step (not set when the sender died).
    pub first_fail: Option<usize>,
    pub overload: Option<Step>,
}

impl Search {
    pub fn best(&self) -> Option<&Step> {
        self.best.map(|i| &self.steps[i])
    }

    pub fn first_fail(&self) -> Option<&Step> {
        self.first_fail.map(|i| &self.steps[i])
    }

    /// The highest loadgen CPU of any step (near 100: loadgen is the bottleneck).
    pub fn loadgen_cpu_max(&self) -> f64 {
        self.steps
            .iter()
            .chain(self.overload.iter())
            .map(|s| s.loadgen_cpu_pct)
            .fold(0.0, f64::max)
    }

    /// The error when the sender failed at once.
    pub fn sender_failed(&self) -> Option<String> {
        let e = self.steps.first()?.sender_error.clone()?;
        Some(format!("sender failed in the first step: {e}"))
    }
}

/// R grows by --factor from --start-rate until a step fails, one bisection follows, then one
/// overload step at 2× the first failing rate.
pub async fn search(runner: &mut Runner<'_>) -> Search {
    let opts = runner.opts;
    let drain = opts.drain_max_seconds;
    let mut steps: Vec<Step> = Vec::new();
    let mut rate = opts.start_rate.min(opts.max_rate);
    let mut best: Option<usize> = None;
    let mut first_fail: Option<usize> = None;
    loop {
        let step = runner.step(rate, drain, false).await;
        let pass = step.pass;
        let sender_dead = step.sender_error.is_some();
        if pass {
            best = Some(steps.len());
        }
        steps.push(step);
        if sender_dead {
            break;
        }
        if !pass {
            first_fail = Some(steps.len() - 1);
            break;
        }
        if rate >= opts.max_rate {
            break;
        }
        rate = ((rate as f64 * opts.factor).round() as u64)
            .max(rate + 1)
            .min(opts.max_rate);
    }
    if let (false, Some(b), Some(f)) = (opts.no_bisect, best, first_fail) {
        let (pass_rate, fail_rate) = (steps[b].rate, steps[f].rate);
        let mid = (pass_rate + fail_rate) / 2;
        if mid > pass_rate && mid < fail_rate {
            let step = runner.step(mid, drain, true).await;
            if step.pass {
                best = Some(steps.len());
            }
            steps.push(step);
        }
    }

    let overload = if opts.no_overload {
        None
    } else {
        let base = first_fail.map_or(rate, |f| steps[f].rate);
        let step = runner
            .step(base.saturating_mul(2), opts.overload_drain_seconds, false)
            .await;
        Some(step)
    };
    Search {
        steps,
        best,
        first_fail,
        overload,
    }
}

/// The checks of the options every broadcast scenario shares.
pub fn check_opts(opts: &Opts) -> Option<String> {
    (opts.start_rate == 0 || opts.factor <= 1.0 || opts.step_seconds <= 0.0)
        .then(|| "--start-rate must be > 0, --factor > 1, --step-seconds > 0".into())
}

/// Padding that brings the broadcast object to about `payload` bytes:
/// `{"k":1,"t":12345678,"s":1234,"p":""}` is about 36 bytes.
fn pad(payload: usize) -> String {
    "x".repeat(payload.saturating_sub(36))
}

/// Connects `n` members to `target`, each joining `room`, at most `permits` set-ups at a time;
/// the members then record into `shared` until `stop`. Returns the set-up report and the
/// members' tasks.
#[allow(clippy::too_many_arguments)]
pub async fn open_members(
    target: &Target,
    n: usize,
    room: &str,
    timeout: Duration,
    permits: Arc<Semaphore>,
    shared: Arc<Members>,
    stop_rx: watch::Receiver<bool>,
    what: &str,
) -> (SetupReport, JoinSet<()>) {
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel();
    let started = Instant::now();
    let spawner = {
        let target = target.clone();
        let room = room.to_owned();
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
                        ws::join(&mut socket, &room, target.wire).await?;
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
    let report = collect_setup(&mut ready_rx, n, started, what).await;
    let tasks = spawner.await.expect("spawner task");
    (report, tasks)
}

/// The sender: a client of `target` that is not a member of the room.
pub async fn open_sender(ctx: &Ctx, target: &Target) -> Result<ws::Ws, String> {
    match tokio::time::timeout(ctx.handshake_timeout, ws::open(target, 64 * 1024)).await {
        Ok(Ok((socket, _))) => Ok(socket),
        Ok(Err(e)) => Err(format!("sender: {e}")),
        Err(_) => Err("sender: handshake timed out".into()),
    }
}

/// Tells the members to close, and waits for them (at most 10 s).
pub async fn finish(tasks: Vec<JoinSet<()>>, stop_tx: watch::Sender<bool>) {
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        for mut set in tasks {
            while set.join_next().await.is_some() {}
        }
    })
    .await;
}

pub async fn run(ctx: &Ctx, opts: &Opts) -> Outcome {
    CLOCK.get_or_init(Instant::now);
    if let Some(error) = check_opts(opts) {
        return Outcome::failed(json!({}), error);
    }
    let n = opts.members;
    let shared = Members::new();
    let (stop_tx, stop_rx) = watch::channel(false);

    log(&format!(
        "broadcast: {n} members join room {}",
        ws::json_str(&opts.room)
    ));
    let permits = Arc::new(Semaphore::new(ctx.concurrency));
    let (report, tasks) = open_members(
        &ctx.target,
        n,
        &opts.room,
        ctx.handshake_timeout,
        permits,
        shared.clone(),
        stop_rx,
        "members",
    )
    .await;
    if let Some(error) = report.too_many_failures(ctx, "members") {
        finish(vec![tasks], stop_tx).await;
        return Outcome::failed(
            json!({"members": n, "joined": report.ok, "failed": report.failed}),
            error,
        );
    }
    let members = report.ok;

    let sender_socket = match open_sender(ctx, &ctx.target).await {
        Ok(socket) => socket,
        Err(e) => {
            finish(vec![tasks], stop_tx).await;
            return Outcome::failed(json!({"members": n}), e);
        }
    };
    let group = Group {
        name: "all",
        members,
        shared: shared.clone(),
    };
    let (mut runner, sender_task) = Runner::start(ctx, opts, vec![group], vec![], sender_socket);
    let search = search(&mut runner).await;

    log("broadcast: closing members and sender");
    runner.close(sender_task).await;
    let disconnected_total = shared.disconnected.load(Ordering::Relaxed);
    finish(vec![tasks], stop_tx).await;

    let sustained_rate = search.best().map_or(0, |s| s.rate);
    let fields = json!({
        "members": n,
        "joined": members,
        "failed": report.failed,
        "setup_seconds": sys::round2(report.seconds),
        "step_seconds": opts.step_seconds,
        "p99_limit_ms": opts.p99_limit_ms,
        "steps": search.steps.iter().map(Step::json).collect::<Vec<_>>(),
        "sustained_rate": sustained_rate,
        "sustained_deliveries_per_s": sustained_rate * members as u64,
        "sustained_p99_ms": search.best().and_then(|s| s.p99_us).map(ms),
        "overload": search.overload.as_ref().map(Step::overload_json),
        "disconnected_total": disconnected_total,
        "loadgen_cpu_pct": search.loadgen_cpu_max(),
    });
    if let Some(error) = search.sender_failed() {
        return Outcome::failed(fields, error);
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
