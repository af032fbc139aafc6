//! Scenario `connect`: many WebSocket clients, bounded handshakes in flight; handshake rate and
//! latency, and the server's memory per connection.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use futures_util::StreamExt;
use serde_json::json;
use tokio::{
    sync::{mpsc, watch, Semaphore},
    task::JoinSet,
};
use tokio_tungstenite::tungstenite::Message;

use crate::{collect_setup, log, ms, sys, ws, Ctx, Outcome};

pub async fn run(ctx: &Ctx, clients: usize, hold: f64) -> Outcome {
    let pid = ctx.server_pid;
    let rss_before = pid.and_then(sys::rss_kib);
    let (stop_tx, stop_rx) = watch::channel(false);
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel();
    let disconnected = Arc::new(AtomicU64::new(0));
    let permits = Arc::new(Semaphore::new(ctx.concurrency));
    let mut tasks = JoinSet::new();

    log(&format!(
        "connect: {clients} WebSocket clients, {} handshakes in flight",
        ctx.concurrency
    ));
    let cpu = sys::CpuWindow::start(pid);
    let started = Instant::now();
    // Spawning waits for permits, so it runs beside the collection of results.
    let spawner = {
        let target = ctx.target.clone();
        let timeout = ctx.handshake_timeout;
        let disconnected = disconnected.clone();
        tokio::spawn(async move {
            for _ in 0..clients {
                let permit = permits
                    .clone()
                    .acquire_owned()
                    .await
                    .expect("open semaphore");
                let target = target.clone();
                let ready = ready_tx.clone();
                let stop = stop_rx.clone();
                let disconnected = disconnected.clone();
                tasks.spawn(async move {
                    let result = tokio::time::timeout(timeout, ws::open(&target, 0)).await;
                    drop(permit);
                    match result {
                        Ok(Ok((socket, latency))) => {
                            let _ = ready.send(Ok(latency));
                            keep_open(socket, stop, &disconnected).await;
                        }
                        Ok(Err(e)) => {
                            let _ = ready.send(Err(e));
                        }
                        Err(_) => {
                            let _ = ready.send(Err("handshake timed out".into()));
                        }
                    }
                });
            }
            tasks
        })
    };
    let report = collect_setup(&mut ready_rx, clients, started, "clients").await;
    let cpu = cpu.finish();
    let mut tasks = spawner.await.expect("spawner task");

    // Let the server settle, then read its memory with everyone still connected.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_after = pid.and_then(sys::rss_kib);
    let idle = if hold > 0.0 {
        log(&format!(
            "connect: holding {} clients for {hold} s",
            report.ok
        ));
        let window = sys::CpuWindow::start(pid);
        tokio::time::sleep(Duration::from_secs_f64(hold)).await;
        Some(window.finish())
    } else {
        None
    };
    let lost_before_close = disconnected.load(Ordering::Relaxed);

    log("connect: closing all clients");
    let _ = stop_tx.send(true);
    let closing = Instant::now();
    let _ = tokio::time::timeout(Duration::from_secs(15), async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    log(&format!(
        "connect: closed in {:.2} s",
        closing.elapsed().as_secs_f64()
    ));

    let per_conn = match (rss_before, rss_after) {
        (Some(b), Some(a)) if report.ok > 0 => {
            Some(sys::round2((a as f64 - b as f64) / report.ok as f64))
        }
        _ => None,
    };
    let some = report.ok > 0;
    let (hold_seconds, idle_server_cpu_pct) = match idle {
        Some(fig) => (Some(sys::round2(fig.wall.as_secs_f64())), fig.server_pct),
        None => (None, None),
    };
    let quantile = |q: f64| some.then(|| ms(report.latency.value_at_quantile(q)));
    let fields = json!({
        "clients": clients,
        "connected": report.ok,
        "failed": report.failed,
        "seconds": sys::round2(report.seconds),
        "rate_per_s": sys::round2(report.ok as f64 / report.seconds.max(1e-9)),
        "handshake_p50_ms": quantile(0.50),
        "handshake_p99_ms": quantile(0.99),
        "handshake_max_ms": quantile(1.0),
        "rss_before_kib": rss_before,
        "rss_after_kib": rss_after,
        "rss_per_conn_kib": per_conn,
        "disconnected": lost_before_close,
        "hold_seconds": hold_seconds,
        "idle_server_cpu_pct": idle_server_cpu_pct,
        "loadgen_cpu_pct": cpu.loadgen_pct,
        "server_cpu_pct": cpu.server_pct,
    });
    if let Some(error) = report.too_many_failures(ctx, "clients") {
        return Outcome::failed(fields, error);
    }
    if lost_before_close > 0 {
        return Outcome::failed(
            fields,
            format!("{lost_before_close} connected clients were closed by the server"),
        );
    }
    Outcome::ok(fields)
}

/// Keeps one client open, answering pings, until told to stop; counts server-side closes.
async fn keep_open(mut socket: ws::Ws, mut stop: watch::Receiver<bool>, disconnected: &AtomicU64) {
    loop {
        if *stop.borrow_and_update() {
            ws::close(socket).await;
            return;
        }
        tokio::select! {
            changed = stop.changed() => {
                if changed.is_err() {
                    ws::close(socket).await;
                    return;
                }
            }
            msg = socket.next() => match msg {
                Some(Ok(Message::Text(text))) => {
                    if text.as_str() == "2" && ws::send(&mut socket, "3").await.is_err() {
                        disconnected.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                    disconnected.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Some(Ok(_)) => {}
            },
        }
    }
}
