//! Broadcasts reach a WebSocket session two ways: straight into its outbox, or as a message to
//! the session (polling, a busy connection). These tests switch between the two mid-stream —
//! the polling → WebSocket upgrade, and a backlog that crosses its limit — and check that every
//! numbered broadcast arrives once and in order.

mod common;

use std::time::Duration;

use actix_socketio::{Config, SocketIo};
use common::*;
use tokio::time::timeout;

const COUNT: u64 = 400;

/// Every socket joins room `r` when it connects.
fn room_setup(io: &SocketIo) {
    io.ns("/", |socket| {
        socket.join("r");
    });
}

/// The numbers in `42["n",<i>]` packets of a polling body or a WebSocket message.
fn numbers(text: &str) -> Vec<u64> {
    text.split('\u{1e}')
        .filter_map(|packet| packet.strip_prefix(r#"42["n","#))
        .filter_map(|rest| rest.trim_end_matches(']').parse().ok())
        .collect()
}

/// Broadcasts 0..COUNT to room `r`, `pause` between each.
fn emit_numbers(io: SocketIo, pause: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        for i in 0..COUNT {
            io.of("/").to("r").emit("n", &i).unwrap();
            if !pause.is_zero() {
                tokio::time::sleep(pause).await;
            }
        }
    })
}

/// Reads WebSocket messages until `COUNT - 1` has arrived.
async fn read_rest(ws: &mut Ws, seen: &mut Vec<u64>) {
    timeout(Duration::from_secs(10), async {
        while seen.last() != Some(&(COUNT - 1)) {
            seen.extend(numbers(&recv_text(ws).await));
        }
    })
    .await
    .unwrap_or_else(|_| panic!("not all broadcasts arrived: {} seen", seen.len()));
}

#[tokio::test]
async fn broadcasts_stay_in_order_across_the_upgrade() {
    let server = start(Config::default(), room_setup);
    let addr = server.addr;
    let (sid, _id) = polling_connect(addr).await;
    // Counted sockets may not have joined `r` yet: ask the RoomManager, which handles the
    // joins and the broadcasts in order.
    eventually(Duration::from_secs(2), || async {
        server.io.of("/").to("r").fetch_sockets().await.len() == 1
    })
    .await;

    let emitter = emit_numbers(server.io.clone(), Duration::from_millis(1));
    let mut seen = Vec::new();
    // Some of them over polling...
    while seen.len() < 40 {
        seen.extend(numbers(&poll_get(addr, &sid).await.text()));
    }
    // ...then the upgrade, while the broadcasts go on.
    let mut ws = ws_connect(addr, &format!("EIO=4&transport=websocket&sid={sid}")).await;
    send_text(&mut ws, "2probe").await;
    assert_eq!(recv_text(&mut ws).await, "3probe");
    send_text(&mut ws, "5").await;
    read_rest(&mut ws, &mut seen).await;
    emitter.await.unwrap();

    assert_eq!(seen, (0..COUNT).collect::<Vec<_>>());
}

#[tokio::test]
async fn broadcasts_stay_in_order_when_the_backlog_crosses_its_limit() {
    // A small packet limit and a long grace: the reader falls behind, the backlog goes over the
    // limit (broadcasts then go through the session) and comes back under it, without a close
    // (a burst of COUNT stays under the immediate close at four times the limit).
    let config = Config::default()
        .with_max_buffered(1 << 20, COUNT as usize / 4)
        .with_slow_consumer_grace(Duration::from_secs(30));
    let server = start(config, room_setup);
    let addr = server.addr;
    let (mut ws, _sid, _id) = sio_connect_ws(addr).await;
    // Counted sockets may not have joined `r` yet: ask the RoomManager, which handles the
    // joins and the broadcasts in order.
    eventually(Duration::from_secs(2), || async {
        server.io.of("/").to("r").fetch_sockets().await.len() == 1
    })
    .await;

    // A burst with nobody reading, then bursts while reading slowly.
    emit_numbers(server.io.clone(), Duration::ZERO)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut seen = Vec::new();
    read_rest(&mut ws, &mut seen).await;
    assert_eq!(seen, (0..COUNT).collect::<Vec<_>>());

    let emitter = emit_numbers(server.io.clone(), Duration::ZERO);
    let mut again = Vec::new();
    timeout(Duration::from_secs(10), async {
        while again.last() != Some(&(COUNT - 1)) {
            again.extend(numbers(&recv_text(&mut ws).await));
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
    })
    .await
    .expect("second burst delivered");
    emitter.await.unwrap();
    assert_eq!(again, (0..COUNT).collect::<Vec<_>>());
    assert_eq!(server.io.stats().sessions, 1, "the reader was not dropped");
}

#[tokio::test]
async fn broadcasts_stay_in_order_with_sessions_on_two_workers() {
    // Sessions land on both workers while the RoomManager lives on one, so the direct route and
    // the session's mailbox are used from different threads; slow readers make the backlog
    // cross its limit again and again, and half the clients upgrade from polling mid-stream.
    let config = Config::default()
        .with_max_buffered(1 << 20, COUNT as usize / 4)
        .with_slow_consumer_grace(Duration::from_secs(30));
    let server = start_on_workers(2, config, room_setup, |_, _| {});
    let addr = server.addr;
    let mut clients = Vec::new();
    for i in 0..8 {
        if i % 2 == 0 {
            let (ws, _sid, _id) = sio_connect_ws(addr).await;
            clients.push((ws, None));
        } else {
            let (sid, _id) = polling_connect(addr).await;
            let ws = ws_connect(addr, &format!("EIO=4&transport=websocket&sid={sid}")).await;
            clients.push((ws, Some(sid)));
        }
    }
    // Counted sockets may not have joined `r` yet: ask the RoomManager, which handles the
    // joins and the broadcasts in order.
    eventually(Duration::from_secs(2), || async {
        server.io.of("/").to("r").fetch_sockets().await.len() == 8
    })
    .await;

    let emitter = emit_numbers(server.io.clone(), Duration::from_micros(50));
    let mut readers = Vec::new();
    for (index, (mut ws, sid)) in clients.into_iter().enumerate() {
        readers.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            if let Some(sid) = sid {
                while seen.len() < 20 {
                    seen.extend(numbers(&poll_get(addr, &sid).await.text()));
                }
                send_text(&mut ws, "2probe").await;
                assert_eq!(recv_text(&mut ws).await, "3probe");
                send_text(&mut ws, "5").await;
            }
            timeout(Duration::from_secs(20), async {
                while seen.last() != Some(&(COUNT - 1)) {
                    seen.extend(numbers(&recv_text(&mut ws).await));
                    if index % 4 < 2 {
                        tokio::time::sleep(Duration::from_micros(300)).await;
                    }
                }
            })
            .await
            .unwrap_or_else(|_| panic!("client {index}: {} seen", seen.len()));
            seen
        }));
    }
    emitter.await.unwrap();
    for (index, reader) in readers.into_iter().enumerate() {
        let seen = reader.await.unwrap();
        assert_eq!(seen, (0..COUNT).collect::<Vec<_>>(), "client {index}");
    }
}
