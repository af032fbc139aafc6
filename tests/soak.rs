//! Churn soak: thousands of clients connect and leave over WebSocket and polling, join and
//! leave rooms, leave acks unanswered and abandon upgrades half-way. Afterwards the server holds
//! nothing (`io.stats()` all zero) and its memory is back near where it started.
//!
//! `SOAK_CLIENTS` sets the number of clients (default 3000, the CI size).

mod common;

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use actix_socketio::{Config, SocketIo, Stats};
use common::*;
use futures_util::{stream, SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

/// Clients running at once.
const CONCURRENCY: usize = 64;

fn soak_server() -> TestServer {
    let config = Config::default()
        .with_ping_interval(Duration::from_millis(300))
        .with_ping_timeout(Duration::from_millis(300))
        .with_connect_timeout(Duration::from_millis(1000));
    start(config, |io: &SocketIo| {
        io.ns("/", |socket| {
            // What `well_behaved_check` uses.
            socket.on("echo", |s, e| {
                let _ = s.emit_payload("echo", e.payload().clone());
            });
            socket.on("join", |s, e| {
                if let Ok(room) = e.data::<String>() {
                    s.join(room);
                }
            });
            socket.on("leave", |s, e| {
                if let Ok(room) = e.data::<String>() {
                    s.leave(room);
                }
            });
            // The server asks back; some clients never answer, some leave first.
            socket.on("ask", |s, _| {
                let asker = s.clone();
                actix::spawn(async move {
                    let _ = asker
                        .emit_with_ack("question", &1, Duration::from_millis(500))
                        .await;
                });
            });
        });
    })
}

fn rss_kib() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// A WebSocket client: joins two rooms, leaves one, may leave an ack unanswered, then closes
/// cleanly or just drops the connection.
async fn websocket_client(addr: SocketAddr, n: usize) {
    let (mut ws, _, _) = sio_connect_ws(addr).await;
    send_text(&mut ws, &format!(r#"42["join","room-{}"]"#, n % 50)).await;
    send_text(&mut ws, &format!(r#"42["join","solo-{n}"]"#)).await;
    send_text(&mut ws, &format!(r#"42["leave","solo-{n}"]"#)).await;
    if n % 3 == 0 {
        send_text(&mut ws, r#"42["ask"]"#).await;
    }
    if n % 2 == 0 {
        let _ = ws.send(Message::Close(None)).await;
        let _ = tokio::time::timeout(Duration::from_millis(200), ws.next()).await;
    }
    drop(ws);
}

/// A polling client: joins a room, then sends the close packet.
async fn polling_client(addr: SocketAddr, n: usize) {
    let sid = polling_handshake(addr).await;
    poll_post_ok(addr, &sid, "40").await;
    let _ = poll_get(addr, &sid).await;
    poll_post_ok(addr, &sid, &format!(r#"42["join","room-{}"]"#, n % 50)).await;
    poll_post_ok(addr, &sid, "1").await;
}

/// An upgrade abandoned after the probe: the WebSocket goes away, and so does the client
/// (it never polls again: the heartbeat must clean it up).
async fn interrupted_upgrade(addr: SocketAddr, n: usize) {
    let sid = polling_handshake(addr).await;
    poll_post_ok(addr, &sid, "40").await;
    poll_post_ok(addr, &sid, &format!(r#"42["join","room-{}"]"#, n % 50)).await;
    let mut ws = ws_connect(addr, &format!("EIO=4&transport=websocket&sid={sid}")).await;
    send_text(&mut ws, "2probe").await;
    assert_eq!(recv_text(&mut ws).await, "3probe");
    drop(ws);
}

async fn settle(io: &SocketIo, limit: Duration) -> Stats {
    let start = Instant::now();
    loop {
        let stats = io.stats();
        if stats == Stats::default() || start.elapsed() > limit {
            return stats;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn churn(addr: SocketAddr, clients: usize) -> usize {
    let done = Arc::new(AtomicUsize::new(0));
    stream::iter(0..clients)
        .for_each_concurrent(CONCURRENCY, |n| {
            let done = done.clone();
            async move {
                match n % 4 {
                    0 | 1 => websocket_client(addr, n).await,
                    2 => polling_client(addr, n).await,
                    _ => interrupted_upgrade(addr, n).await,
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
        })
        .await;
    done.load(Ordering::Relaxed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn churned_clients_leave_nothing_behind() {
    let clients: usize = std::env::var("SOAK_CLIENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    let server = soak_server();

    // A first round warms up allocator pools and lazily started actors.
    churn(server.addr, clients / 10).await;
    assert_eq!(
        settle(&server.io, Duration::from_secs(5)).await,
        Stats::default()
    );
    let rss_before = rss_kib();

    let started = Instant::now();
    assert_eq!(churn(server.addr, clients).await, clients);
    let churn_time = started.elapsed();
    let stats = settle(&server.io, Duration::from_secs(5)).await;
    let rss_after = rss_kib();
    eprintln!(
        "soak: {clients} clients in {churn_time:?}; leftover {stats:?}; RSS {rss_before} KiB -> {rss_after} KiB"
    );
    assert_eq!(stats, Stats::default(), "everything released");
    assert!(
        rss_after < rss_before + 32 * 1024,
        "RSS grew from {rss_before} KiB to {rss_after} KiB"
    );
    well_behaved_check(server.addr).await;
}
