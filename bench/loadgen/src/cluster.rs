//! Scenario `cluster-broadcast`: room fan-out across two nodes of a cluster.
//!
//! Node A (`--url`) and node B (`--url-b`) share a Redis adapter. The members of the room are
//! split between them (`--members-b` on B, the rest on A); the sender is a client of A and
//! emits the same `broadcast` packets as the `broadcast` scenario, at stepped rates. A's
//! members are the `local` group (A delivers to them itself), B's the `remote` group: every
//! delivery to them went A → Redis → B, so their count per second is the cross-node delivery
//! rate. A step passes when each group on its own lost nothing and has its p99 within the
//! limit; the search (×factor, one bisection, one overload step) is the broadcast scenario's.
//!
//! Before the steps, single probe broadcasts are sent until one reaches every member of both
//! nodes (the nodes subscribe to Redis after they listen); they count for no step.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use clap::Args;
use serde_json::{json, Value};
use tokio::sync::{watch, Semaphore};

use crate::{
    broadcast::{self, Group, Members, Runner, Step, Watched},
    log, ms, sys, ws, Ctx, Outcome, Target,
};

#[derive(Args, Clone, Debug)]
pub struct Opts {
    #[command(flatten)]
    pub base: broadcast::Opts,
    /// Node B's base URL (node A is --url; the sender is a client of A).
    #[arg(long)]
    pub url_b: String,
    /// Node B's process id, for its CPU and RSS figures.
    #[arg(long)]
    pub server_pid_b: Option<u32>,
    /// The Redis server's process id, for its CPU and RSS figures.
    #[arg(long)]
    pub redis_pid: Option<u32>,
    /// Members on node B; the rest of --members are on A (default: half of them).
    #[arg(long)]
    pub members_b: Option<usize>,
    /// Longest wait for a probe broadcast to reach every member of both nodes, seconds.
    #[arg(long, default_value_t = 15.0)]
    pub probe_seconds: f64,
}

const LOCAL: &str = "local";
const REMOTE: &str = "remote";

/// A step's figures as the report wants them: per group and per process.
fn step_summary(step: &Step) -> Value {
    let part = |name| step.part(name);
    json!({
        "rate": step.rate,
        "sent": step.sent,
        "cross_node_deliveries_per_s": part(REMOTE).map(|p| step.rate * p.members as u64),
        "local_deliveries_per_s": part(LOCAL).map(|p| step.rate * p.members as u64),
        "cross_node_expected": part(REMOTE).map(|p| p.expected),
        "cross_node_delivered": part(REMOTE).map(|p| p.delivered),
        "cross_node_lost": part(REMOTE).map(|p| p.lost()),
        "cross_node_p50_ms": part(REMOTE).and_then(|p| p.p50_us).map(ms),
        "cross_node_p99_ms": part(REMOTE).and_then(|p| p.p99_us).map(ms),
        "cross_node_pass": part(REMOTE).map(|p| p.pass),
        "local_expected": part(LOCAL).map(|p| p.expected),
        "local_delivered": part(LOCAL).map(|p| p.delivered),
        "local_lost": part(LOCAL).map(|p| p.lost()),
        "local_p50_ms": part(LOCAL).and_then(|p| p.p50_us).map(ms),
        "local_p99_ms": part(LOCAL).and_then(|p| p.p99_us).map(ms),
        "local_pass": part(LOCAL).map(|p| p.pass),
        "failed_groups": step.parts.iter().filter(|p| !p.pass).map(|p| p.name).collect::<Vec<_>>(),
        "node_a_cpu_pct": step.server_cpu_pct,
        "node_b_cpu_pct": step.proc_cpu("node_b"),
        "redis_cpu_pct": step.proc_cpu("redis"),
        "loadgen_cpu_pct": step.loadgen_cpu_pct,
        "sender_error": step.sender_error,
        "pass": step.pass,
    })
}

pub async fn run(ctx: &Ctx, opts: &Opts, target_b: &Target) -> Outcome {
    broadcast::CLOCK.get_or_init(Instant::now);
    let base = &opts.base;
    if let Some(error) = broadcast::check_opts(base) {
        return Outcome::failed(json!({}), error);
    }
    let n = base.members;
    let n_b = opts.members_b.unwrap_or(n / 2);
    if n_b == 0 || n_b >= n {
        return Outcome::failed(
            json!({}),
            format!("--members-b must leave members on both nodes (--members {n}, B {n_b})"),
        );
    }
    let n_a = n - n_b;
    let (local, remote) = (Members::new(), Members::new());
    let (stop_tx, stop_rx) = watch::channel(false);
    let permits = Arc::new(Semaphore::new(ctx.concurrency));

    log(&format!(
        "cluster-broadcast: {n_a} members on A ({}), {n_b} on B ({}) join room {}",
        ctx.target.host,
        target_b.host,
        ws::json_str(&base.room)
    ));
    let started = Instant::now();
    let mut tasks = Vec::new();
    let mut reports = Vec::new();
    for (target, count, shared, what) in [
        (&ctx.target, n_a, &local, "members on A"),
        (target_b, n_b, &remote, "members on B"),
    ] {
        let (report, set) = broadcast::open_members(
            target,
            count,
            &base.room,
            ctx.handshake_timeout,
            permits.clone(),
            shared.clone(),
            stop_rx.clone(),
            what,
        )
        .await;
        tasks.push(set);
        if let Some(error) = report.too_many_failures(ctx, what) {
            broadcast::finish(tasks, stop_tx).await;
            return Outcome::failed(
                json!({"members": n, "members_a": n_a, "members_b": n_b}),
                error,
            );
        }
        reports.push(report);
    }
    let setup_seconds = started.elapsed().as_secs_f64();
    let (joined_a, joined_b) = (reports[0].ok, reports[1].ok);
    let failed: usize = reports.iter().map(|r| r.failed).sum();

    let sender_socket = match broadcast::open_sender(ctx, &ctx.target).await {
        Ok(socket) => socket,
        Err(e) => {
            broadcast::finish(tasks, stop_tx).await;
            return Outcome::failed(json!({"members": n}), e);
        }
    };
    let groups = vec![
        Group {
            name: LOCAL,
            members: joined_a,
            shared: local.clone(),
        },
        Group {
            name: REMOTE,
            members: joined_b,
            shared: remote.clone(),
        },
    ];
    let mut watched = Vec::new();
    if let Some(pid) = opts.server_pid_b {
        watched.push(Watched::new("node_b", pid));
    }
    if let Some(pid) = opts.redis_pid {
        watched.push(Watched::new("redis", pid));
    }
    let (mut runner, sender_task) = Runner::start(ctx, base, groups, watched, sender_socket);

    let probe = runner
        .probe(Duration::from_secs_f64(opts.probe_seconds.max(1.0)))
        .await;
    let probes = match probe {
        Ok(tries) => {
            log(&format!(
                "cluster-broadcast: probe broadcast {tries} reached all {} members",
                joined_a + joined_b
            ));
            tries
        }
        Err(e) => {
            runner.close(sender_task).await;
            broadcast::finish(tasks, stop_tx).await;
            return Outcome::failed(
                json!({"members": n, "joined_a": joined_a, "joined_b": joined_b}),
                format!("the cluster does not pass broadcasts from A to B: {e}"),
            );
        }
    };

    let search = broadcast::search(&mut runner).await;

    log("cluster-broadcast: closing members and sender");
    runner.close(sender_task).await;
    let disconnected_total = local.disconnected() + remote.disconnected();
    broadcast::finish(tasks, stop_tx).await;

    let best = search.best();
    let sustained_rate = best.map_or(0, |s| s.rate);
    let best_part = |name| best.and_then(|s| s.part(name));
    let fields = json!({
        "members": n,
        "members_a": n_a,
        "members_b": n_b,
        "joined": joined_a + joined_b,
        "joined_a": joined_a,
        "joined_b": joined_b,
        "failed": failed,
        "setup_seconds": sys::round2(setup_seconds),
        "url_b": format!("http://{}", target_b.host),
        "server_pid_b": opts.server_pid_b,
        "redis_pid": opts.redis_pid,
        "probe_broadcasts": probes,
        "step_seconds": base.step_seconds,
        "p99_limit_ms": base.p99_limit_ms,
        "steps": search.steps.iter().map(Step::json).collect::<Vec<_>>(),
        "sustained_rate": sustained_rate,
        "sustained_deliveries_per_s": sustained_rate * (joined_a + joined_b) as u64,
        "sustained_cross_node_deliveries_per_s": sustained_rate * joined_b as u64,
        "sustained_local_deliveries_per_s": sustained_rate * joined_a as u64,
        "sustained_p99_ms": best.and_then(|s| s.p99_us).map(ms),
        "sustained_cross_node_p50_ms": best_part(REMOTE).and_then(|p| p.p50_us).map(ms),
        "sustained_cross_node_p99_ms": best_part(REMOTE).and_then(|p| p.p99_us).map(ms),
        "sustained_local_p99_ms": best_part(LOCAL).and_then(|p| p.p99_us).map(ms),
        "sustained_step": best.map(step_summary),
        "first_failing_step": search.first_fail().map(step_summary),
        "overload": search.overload.as_ref().map(Step::overload_json),
        "overload_summary": search.overload.as_ref().map(step_summary),
        "disconnected_total": disconnected_total,
        "loadgen_cpu_pct": search.loadgen_cpu_max(),
    });
    if let Some(error) = search.sender_failed() {
        return Outcome::failed(fields, error);
    }
    Outcome::ok(fields)
}
