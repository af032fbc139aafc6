//! A client announcing a large WebSocket frame costs the server only the bytes that arrived.
//! Alone in its test binary: it measures this process's memory, which other tests running in
//! parallel would move.

mod common;

use std::time::Duration;

use actix_socketio::Config;
use common::*;
use tokio::{io::AsyncWriteExt, time::sleep};

/// Memory mapped by this process (the test and its in-process server), KiB: a buffer made
/// room for shows here even before its pages are touched.
fn mapped_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmSize:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmSize")
}

#[tokio::test]
async fn announcing_a_big_frame_costs_only_what_arrives() {
    // 100 clients each announce a frame of max_payload (1 MB) and send 10 bytes of it, then 10
    // more: the server holds what came, not what was announced (100 MB if it made room for
    // the frame once its header was read).
    let server = start_echo(Config::default());
    let addr = server.addr;
    let mut streams = Vec::new();
    for _ in 0..5 {
        streams.push(raw_ws_session(addr).await.0);
    }
    let before = mapped_kib();
    for _ in 0..100 {
        let (mut stream, _sid) = raw_ws_session(addr).await;
        let mut partial = client_frame_header(0x82, 1_000_000);
        partial.extend_from_slice(&[0; 10]);
        stream.write_all(&partial).await.expect("send");
        streams.push(stream);
    }
    sleep(Duration::from_millis(100)).await;
    for stream in &mut streams[5..] {
        stream.write_all(&[0; 10]).await.expect("send more");
    }
    sleep(Duration::from_millis(300)).await;
    let grown = mapped_kib().saturating_sub(before);
    // Under HttpServer, actix-http's WebSocket decoder makes room for an announced frame (up to
    // max_payload) as soon as its header is in: bounded by max_payload per connection, not by
    // what arrived. Our reader (actix_socketio::Server) holds only what arrived.
    let limit = if http_server() {
        100 * 1_000_000 / 1024 + 40 * 1024
    } else {
        40 * 1024
    };
    assert!(
        grown < limit,
        "memory grew by {grown} KiB for 100 partial frames (limit {limit} KiB)"
    );
    // The server is still answering.
    let (mut ws, _sid, _id) = sio_connect_ws(addr).await;
    send_text(&mut ws, r#"42["echo","fine"]"#).await;
    assert_eq!(recv_text(&mut ws).await, r#"42["echo","fine"]"#);
}
