//! # loadgen — the load generator of the Socket.IO benchmark
//!
//! Speaks Engine.IO v4 / Socket.IO v5 itself (WebSocket via tokio-tungstenite, HTTP
//! long-polling via a small keep-alive HTTP/1.1 client of its own) against any server that
//! implements the benchmark contract on namespace `/`: `echo` (ack or emit back), `join`
//! (room, acked with the room name) and `broadcast` (room, payload).
//!
//! ```text
//! loadgen <scenario> --url http://127.0.0.1:PORT [--server-pid PID] [options]
//!
//! common options (every scenario)
//!   --url URL                 server base URL (http:// or ws://, host:port used)   required
//!   --path PATH               Engine.IO endpoint path                  /socket.io/
//!   --server-pid PID          read the server's RSS and CPU from /proc/PID
//!   --timeout SECS            bound of the whole run                   300
//!   --concurrency N           connection set-ups in flight at once     200
//!   --handshake-timeout SECS  per client set-up                        10
//!   --max-fail-pct PCT        set-up failures tolerated (% of clients) 1
//!   --parser json|msgpack     Socket.IO wire format (msgpack: echo and broadcast only; one
//!                             msgpack map {type, data, nsp, id} per binary message)  json
//!
//! connect   --clients 10000 [--hold SECS]
//!     N WebSocket clients (TCP → upgrade → 0{..} → 40 → 40{..}), kept open answering
//!     pings until the server RSS is read (1 s after the last one connected), and --hold
//!     seconds more (0), then closed.
//!     → clients connected failed seconds rate_per_s handshake_p50_ms handshake_p99_ms
//!       rss_before_kib rss_after_kib rss_per_conn_kib disconnected
//!       [hold_seconds idle_server_cpu_pct]
//! echo      --clients 100 --payload 64 --duration 10 --warmup 2
//!     closed loop per WebSocket client: 42<id>["echo","<payload>"] → 43<id>["<payload>"].
//!     → clients payload seconds round_trips rate_per_s p50_us p99_us p999_us
//!       server_cpu_us_per_rt errors
//! polling   --clients 1000 --payload 64 --duration 10 --warmup 2
//!     the same over long-polling (no upgrade); each client keeps a GET pending on one
//!     keep-alive connection and POSTs on another.  Same output fields as echo.
//! broadcast --members 1000 --step-seconds 3 --start-rate 50 --factor 1.5
//!           --max-rate 100000 --p99-limit-ms 250 [--payload 64] [--room bench]
//!           [--no-bisect] [--no-overload] [--drain-max-seconds 10]
//!     members join the room; a separate non-member sender emits
//!     42["broadcast","bench",{"k":step,"t":µs,"s":seq,"p":"xx.."}] at R/s per step; a step
//!     passes when nothing is lost and p99 ≤ the limit; R grows by the factor until a step
//!     fails, one bisection follows, then one overload step at 2× the first failing rate.
//!     A drain follows each step (until all arrived, or no growth for 1 s, or
//!     --drain-max-seconds); deliveries of an earlier step are counted as `late`, not
//!     delivered.  CPU figures of a step cover its sending window; the top-level
//!     loadgen_cpu_pct is the highest step's (near 100 = loadgen is the bottleneck).
//!     → members steps[{rate sent expected delivered lost p50_ms p99_ms rss_kib
//!       rss_peak_kib loadgen_cpu_pct server_cpu_pct pass bisect ..}] sustained_rate
//!       sustained_deliveries_per_s sustained_p99_ms
//!       overload{rate expected delivered lost p99_ms rss_peak_kib disconnected ..}
//! cluster-broadcast --url-b URL [--server-pid-b PID] [--redis-pid PID] [--members-b N]
//!           [--probe-seconds 15] and every broadcast option
//!     two nodes of one cluster (--url = A, --url-b = B); --members-b members on B (half),
//!     the rest on A; the sender is a client of A.  A's members are the `local` group, B's
//!     the `remote` one (every delivery to them crossed A → adapter → B).  A step passes
//!     when each group on its own lost nothing and has p99 ≤ the limit; otherwise as
//!     broadcast.  Probe broadcasts first, until one reaches every member (15 s at most).
//!     → broadcast's fields (steps[] with groups[{name members expected delivered lost
//!       p99_ms pass ..}] and procs{node_b redis: cpu_pct rss_peak_kib}) and
//!       sustained_cross_node_deliveries_per_s sustained_cross_node_p99_ms
//!       sustained_local_deliveries_per_s sustained_local_p99_ms
//!       sustained_step first_failing_step overload_summary{cross_node_lost local_lost
//!       node_a_cpu_pct node_b_cpu_pct redis_cpu_pct failed_groups ..}
//! ```
//!
//! Every result also has `scenario`, `loadgen_cpu_pct` (loadgen's own CPU over the measured
//! window, 100 = one core) and, with `--server-pid`, `server_cpu_pct` (sum of the on-CPU time
//! in /proc/PID/task/*/schedstat) and RSS figures (VmRSS, KiB); figures that need the pid are
//! `null` without it.  Progress goes to stderr; the result is ONE JSON object, the last line of
//! stdout.  Exit status: 0 ok; 1 the scenario failed (the JSON then has `"error"`, with
//! whatever figures were measured); 2 bad arguments or server not reachable; 3 `--timeout`.
//!
//! Every client answers the server's ping `2` with `3`, in every scenario and phase.  Echo and
//! polling fail (exit 1) when client errors (timeouts, closed sessions, wrong acks) exceed
//! --max-fail-pct of the clients.  At the end every client closes (WebSocket close frame, or
//! a polling close packet) and waits at most 1 s for the server's side.
//!
//! Build: `cargo build --release` here (its own workspace; target/ is not committed).

mod broadcast;
mod cluster;
mod connect;
mod echo;
mod http;
mod mp;
mod poll;
mod polling;
mod stats;
mod sys;
mod ws;

use std::{
    io::Write,
    net::SocketAddr,
    time::{Duration, Instant},
};

use clap::{Args, Parser, Subcommand};
use serde_json::{json, Map, Value};
use tokio::sync::{mpsc, watch};

#[derive(Parser)]
#[command(name = "loadgen", about = "Socket.IO (EIO=4) benchmark load generator")]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Args, Clone, Debug)]
pub struct Common {
    /// Server base URL, e.g. http://127.0.0.1:3000.
    #[arg(long)]
    url: String,
    /// Engine.IO endpoint path.
    #[arg(long, default_value = "/socket.io/")]
    path: String,
    /// Server process id, for RSS and CPU figures from /proc.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Bound of the whole run, seconds.
    #[arg(long, default_value_t = 300)]
    timeout: u64,
    /// Connection set-ups in flight at once.
    #[arg(long, default_value_t = 200)]
    concurrency: usize,
    /// Per-client set-up timeout, seconds.
    #[arg(long, default_value_t = 10)]
    handshake_timeout: u64,
    /// Set-up failures tolerated, percent of the clients.
    #[arg(long, default_value_t = 1.0)]
    max_fail_pct: f64,
    /// Socket.IO wire format: json, or msgpack (socket.io-msgpack-parser; echo and broadcast).
    #[arg(long, value_enum, default_value_t = mp::Wire::Json)]
    parser: mp::Wire,
}

#[derive(Subcommand)]
enum Scenario {
    /// Open many WebSocket clients; handshake rate, latency, server memory per connection.
    Connect {
        #[command(flatten)]
        common: Common,
        #[arg(long, default_value_t = 10_000)]
        clients: usize,
        /// Keep the clients open this many seconds after the RSS reading (idle server CPU,
        /// ping answering), then close them.
        #[arg(long, default_value_t = 0.0)]
        hold: f64,
    },
    /// Closed-loop echo with ack over WebSocket.
    Echo {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        opts: echo::Opts,
    },
    /// Room broadcast fan-out, stepped rate until p99 or loss fails.
    Broadcast {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        opts: broadcast::Opts,
    },
    /// Room broadcast fan-out across two nodes of a cluster (sender on A, members on A and B).
    ClusterBroadcast {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        opts: cluster::Opts,
    },
    /// Closed-loop echo with ack over HTTP long-polling.
    Polling {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        opts: echo::Opts,
    },
}

/// Where the server is.
#[derive(Clone, Debug)]
pub struct Target {
    pub addr: SocketAddr,
    /// `host:port` for the Host header and the WebSocket URL.
    pub host: String,
    /// Endpoint path with leading and trailing slash.
    pub path: String,
    /// The Socket.IO wire format (`--parser`).
    pub wire: mp::Wire,
}

/// What every scenario needs.
#[derive(Clone)]
pub struct Ctx {
    pub target: Target,
    pub server_pid: Option<u32>,
    pub concurrency: usize,
    pub handshake_timeout: Duration,
    pub max_fail_pct: f64,
}

/// A scenario's figures, and why it failed if it did.
pub struct Outcome {
    pub fields: Map<String, Value>,
    pub error: Option<String>,
}

impl Outcome {
    pub fn ok(fields: Value) -> Self {
        Outcome {
            fields: into_map(fields),
            error: None,
        }
    }

    pub fn failed(fields: Value, error: String) -> Self {
        Outcome {
            fields: into_map(fields),
            error: Some(error),
        }
    }
}

fn into_map(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// The phases a client goes through after its set-up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Connected, waiting for the others.
    Setup,
    /// Measure round trips that start at or after `start` and end by `end`; stop at `end`.
    Run { start: Instant, end: Instant },
    /// Close and end.
    Stop,
}

/// Set-up results of a group of clients.
pub struct SetupReport {
    pub ok: usize,
    pub failed: usize,
    pub first_error: Option<String>,
    pub seconds: f64,
    pub latency: hdrhistogram::Histogram<u64>,
}

impl SetupReport {
    /// The error message when the failures are beyond the tolerance.
    pub fn too_many_failures(&self, ctx: &Ctx, what: &str) -> Option<String> {
        let total = self.ok + self.failed;
        let allowed = (total as f64 * ctx.max_fail_pct / 100.0).floor() as usize;
        if self.failed > allowed || self.ok == 0 {
            Some(format!(
                "{} of {total} {what} failed to connect (tolerance {allowed}); first error: {}",
                self.failed,
                self.first_error.as_deref().unwrap_or("-")
            ))
        } else {
            None
        }
    }
}

/// Collects `n` set-up results (Ok(latency) or Err(reason)), printing progress.
pub async fn collect_setup(
    rx: &mut mpsc::UnboundedReceiver<Result<Duration, String>>,
    n: usize,
    started: Instant,
    what: &str,
) -> SetupReport {
    let mut report = SetupReport {
        ok: 0,
        failed: 0,
        first_error: None,
        seconds: 0.0,
        latency: stats::new_histogram(),
    };
    let mut last_print = Instant::now();
    while report.ok + report.failed < n {
        let Some(result) = rx.recv().await else {
            break;
        };
        match result {
            Ok(latency) => {
                report.ok += 1;
                report
                    .latency
                    .saturating_record((latency.as_micros() as u64).max(1));
            }
            Err(e) => {
                report.failed += 1;
                if report.first_error.is_none() {
                    log(&format!("{what} set-up failed: {e}"));
                    report.first_error = Some(e);
                }
            }
        }
        if last_print.elapsed() >= Duration::from_secs(1) {
            last_print = Instant::now();
            log(&format!(
                "{what}: {} connected, {} failed of {n}",
                report.ok, report.failed
            ));
        }
    }
    report.seconds = started.elapsed().as_secs_f64();
    log(&format!(
        "{what}: {} connected, {} failed of {n} in {:.2} s",
        report.ok, report.failed, report.seconds
    ));
    report
}

/// Waits until the phase leaves `Setup`.
pub async fn next_phase(phase: &mut watch::Receiver<Phase>) -> Phase {
    loop {
        let now = *phase.borrow_and_update();
        if now != Phase::Setup {
            return now;
        }
        if phase.changed().await.is_err() {
            return Phase::Stop;
        }
    }
}

pub fn log(msg: &str) {
    eprintln!("[loadgen] {msg}");
}

pub fn ms(us: u64) -> f64 {
    sys::round2(us as f64 / 1000.0)
}

fn parse_target(common: &Common) -> Result<Target, String> {
    let mut target = parse_url("--url", &common.url, &common.path)?;
    target.wire = common.parser;
    Ok(target)
}

/// The target at `url` (option `what`), Engine.IO endpoint `path`.
fn parse_url(what: &str, url: &str, path: &str) -> Result<Target, String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("ws://"))
        .ok_or_else(|| format!("{what} must start with http:// or ws://: {url}"))?;
    let host = rest.split('/').next().unwrap_or_default().to_owned();
    if host.is_empty() {
        return Err(format!("{what} has no host: {url}"));
    }
    let with_port = if host
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        host.clone()
    } else {
        format!("{host}:80")
    };
    use std::net::ToSocketAddrs;
    let addrs: Vec<SocketAddr> = with_port
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {with_port}: {e}"))?
        .collect();
    let addr = addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| format!("{with_port} resolves to nothing"))?;
    let trimmed = path.trim_matches('/');
    let path = if trimmed.is_empty() {
        "/".to_owned()
    } else {
        format!("/{trimmed}/")
    };
    Ok(Target {
        addr,
        host: with_port,
        path,
        wire: mp::Wire::Json,
    })
}

fn emit(scenario: &str, common: &Common, outcome: Outcome) {
    let mut out = Map::new();
    out.insert("scenario".into(), json!(scenario));
    out.insert("url".into(), json!(common.url));
    out.insert("server_pid".into(), json!(common.server_pid));
    for (k, v) in outcome.fields {
        out.insert(k, v);
    }
    if !out.contains_key("loadgen_cpu_pct") {
        out.insert("loadgen_cpu_pct".into(), Value::Null);
    }
    if let Some(error) = &outcome.error {
        log(&format!("FAILED: {error}"));
        out.insert("error".into(), json!(error));
    }
    let line = serde_json::to_string(&Value::Object(out)).expect("JSON serialises");
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}");
    let _ = stdout.flush();
}

/// A TCP connection to the target succeeds within 3 s.
async fn reachable(target: &Target) -> Result<(), String> {
    match tokio::time::timeout(
        Duration::from_secs(3),
        tokio::net::TcpStream::connect(target.addr),
    )
    .await
    {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(format!("server not reachable at {}: {e}", target.addr)),
        Err(_) => Err(format!(
            "server not reachable at {}: connect timed out",
            target.addr
        )),
    }
}

async fn run(cli: Cli) -> i32 {
    let (name, common) = match &cli.scenario {
        Scenario::Connect { common, .. } => ("connect", common.clone()),
        Scenario::Echo { common, .. } => ("echo", common.clone()),
        Scenario::Broadcast { common, .. } => ("broadcast", common.clone()),
        Scenario::ClusterBroadcast { common, .. } => ("cluster-broadcast", common.clone()),
        Scenario::Polling { common, .. } => ("polling", common.clone()),
    };
    let fail = |code: i32, msg: String| {
        emit(name, &common, Outcome::failed(json!({}), msg));
        code
    };
    let target = match parse_target(&common) {
        Ok(t) => t,
        Err(e) => return fail(2, e),
    };
    if common.concurrency == 0 {
        return fail(2, "--concurrency must be at least 1".into());
    }
    if common.parser == mp::Wire::Msgpack && !matches!(name, "echo" | "broadcast") {
        return fail(
            2,
            "--parser msgpack: only the echo and broadcast scenarios".into(),
        );
    }
    let mut pids = vec![("--server-pid", common.server_pid)];
    // Node B of cluster-broadcast: its target, and the pids of B and Redis.
    let mut target_b = None;
    if let Scenario::ClusterBroadcast { opts, .. } = &cli.scenario {
        match parse_url("--url-b", &opts.url_b, &common.path) {
            Ok(t) => target_b = Some(t),
            Err(e) => return fail(2, e),
        }
        pids.push(("--server-pid-b", opts.server_pid_b));
        pids.push(("--redis-pid", opts.redis_pid));
    }
    for (what, pid) in pids {
        if let Some(pid) = pid {
            if !sys::pid_alive(pid) {
                return fail(2, format!("{what} {pid}: no such process"));
            }
        }
    }
    for t in std::iter::once(&target).chain(target_b.as_ref()) {
        if let Err(e) = reachable(t).await {
            return fail(2, e);
        }
    }
    let ctx = Ctx {
        target,
        server_pid: common.server_pid,
        concurrency: common.concurrency,
        handshake_timeout: Duration::from_secs(common.handshake_timeout),
        max_fail_pct: common.max_fail_pct,
    };
    let scenario = async {
        match cli.scenario {
            Scenario::Connect { clients, hold, .. } => connect::run(&ctx, clients, hold).await,
            Scenario::Echo { opts, .. } => echo::run_ws(&ctx, &opts).await,
            Scenario::Polling { opts, .. } => polling::run(&ctx, &opts).await,
            Scenario::Broadcast { opts, .. } => broadcast::run(&ctx, &opts).await,
            Scenario::ClusterBroadcast { opts, .. } => {
                let target_b = target_b.expect("parsed above");
                cluster::run(&ctx, &opts, &target_b).await
            }
        }
    };
    match tokio::time::timeout(Duration::from_secs(common.timeout), scenario).await {
        Ok(outcome) => {
            let code = if outcome.error.is_some() { 1 } else { 0 };
            emit(name, &common, outcome);
            code
        }
        Err(_) => fail(
            3,
            format!(
                "scenario did not finish within --timeout {} s",
                common.timeout
            ),
        ),
    }
}

fn main() {
    let cli = Cli::parse();
    if let Some(limit) = sys::raise_fd_limit() {
        if limit < 1024 {
            log(&format!("warning: only {limit} file descriptors"));
        }
    }
    // On the one core it is pinned to, the load generator runs everything on one thread: a
    // multi-threaded runtime there only adds wake-ups between its threads (and CPU the server's
    // figures would be compared against). On more cores, one worker per core.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let runtime = if cores == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cores)
            .enable_all()
            .build()
    }
    .expect("tokio runtime");
    let code = runtime.block_on(run(cli));
    // Do not wait for stragglers (a client stuck in a close handshake): the result is out.
    std::process::exit(code);
}
