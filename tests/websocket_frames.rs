//! WebSocket framing and the upgrade itself, with hand-made frames on a raw TCP stream: what
//! `actix_socketio::Server` reads and writes without actix-http once the `101` is out (and what
//! `HttpServer` does with the same bytes, when the suite runs with
//! `ACTIX_SOCKETIO_TEST_SERVER=http`).

mod common;

use std::time::{Duration, Instant};

use actix_socketio::Config;
use actix_web::{web, HttpResponse};
use common::*;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    time::{sleep, timeout},
};

/// A masked client frame (mask key 1, 2, 3, 4).
fn masked(first: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [1u8, 2, 3, 4];
    let mut frame = client_frame_header(first, payload.len() as u64);
    let key = frame.len() - 4;
    frame[key..].copy_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i & 3]));
    frame
}

fn upgrade_request(addr: std::net::SocketAddr, path: &str, version: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: {version}\r\n\r\n"
    )
}

/// The status line of the server's answer to `request`.
async fn status_of(addr: std::net::SocketAddr, request: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut head = Vec::new();
    timeout(STEP, async {
        while !head.ends_with(b"\r\n") {
            match stream.read_u8().await {
                Ok(byte) => head.push(byte),
                Err(_) => break,
            }
        }
    })
    .await
    .expect("an answer in time");
    String::from_utf8_lossy(&head).trim_end().to_owned()
}

/// The next text frame of a hand-made WebSocket, pings answered.
async fn next_text(stream: &mut TcpStream) -> String {
    loop {
        let (opcode, payload) = timeout(STEP, read_raw_frame(stream))
            .await
            .expect("a frame in time")
            .expect("a frame, not the end");
        assert_eq!(opcode, 1, "a text frame");
        let text = String::from_utf8(payload).expect("UTF-8");
        if text == "2" {
            stream.write_all(&masked(0x81, b"3")).await.expect("pong");
            continue;
        }
        return text;
    }
}

#[tokio::test]
async fn other_upgrades_are_refused_and_the_app_still_serves() {
    let server = start_with_routes(Config::default(), echo_setup, |cfg, _| {
        cfg.route(
            "/hello",
            web::get().to(|| async { HttpResponse::Ok().body("hi") }),
        );
    });
    let addr = server.addr;
    let other = upgrade_request(addr, "/chat?EIO=4&transport=websocket", "13");
    assert_eq!(status_of(addr, &other).await, "HTTP/1.1 404 Not Found");
    let res = http_get(addr, "/hello").await;
    assert_eq!((res.status, res.text()), (200, "hi".to_owned()));
    // A Socket.IO upgrade next to it works.
    let (mut ws, _sid, _id) = sio_connect_ws(addr).await;
    send_text(&mut ws, r#"42["echo","still here"]"#).await;
    assert_eq!(recv_text(&mut ws).await, r#"42["echo","still here"]"#);
}

#[tokio::test]
async fn a_wrong_websocket_version_is_400_and_opens_nothing() {
    let server = start_echo(Config::default());
    let addr = server.addr;
    let request = upgrade_request(addr, "/socket.io/?EIO=4&transport=websocket", "8");
    let status = status_of(addr, &request).await;
    assert!(status.starts_with("HTTP/1.1 400"), "{status}");
    assert_eq!(server.io.stats().sessions, 0);
}

#[tokio::test]
async fn a_frame_sent_with_the_upgrade_request_is_not_lost() {
    let server = start_echo(Config::default());
    let addr = server.addr;
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    // The request and the CONNECT packet in one write: the frame arrives with the head.
    let mut bytes =
        upgrade_request(addr, "/socket.io/?EIO=4&transport=websocket", "13").into_bytes();
    bytes.extend(masked(0x81, b"40"));
    stream.write_all(&bytes).await.expect("send");
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(stream.read_u8().await.expect("response head"));
    }
    assert!(head.starts_with(b"HTTP/1.1 101"));
    assert!(next_text(&mut stream).await.starts_with("0{"), "OPEN first");
    assert!(
        next_text(&mut stream).await.starts_with("40{"),
        "then CONNECT"
    );
}

#[tokio::test]
async fn frames_trickled_byte_by_byte_and_fragmented_arrive_whole() {
    let server = start_echo(Config::default());
    let addr = server.addr;
    let (mut stream, _sid) = raw_ws_session(addr).await;
    for byte in masked(0x81, b"40") {
        stream.write_all(&[byte]).await.expect("send");
        sleep(Duration::from_millis(2)).await;
    }
    assert!(next_text(&mut stream).await.starts_with("40{"));
    // One message in three fragments, a WebSocket ping between them, the whole split at odd
    // places across writes.
    let mut bytes = masked(0x01, br#"42["ec"#);
    bytes.extend(masked(0x89, b"are you there"));
    bytes.extend(masked(0x00, br#"ho","in "#));
    bytes.extend(masked(0x80, br#"pieces"]"#));
    for chunk in bytes.chunks(5) {
        stream.write_all(chunk).await.expect("send");
        sleep(Duration::from_millis(2)).await;
    }
    let (opcode, payload) = timeout(STEP, read_raw_frame(&mut stream))
        .await
        .expect("pong in time")
        .expect("pong");
    assert_eq!((opcode, &payload[..]), (0xA, &b"are you there"[..]));
    assert_eq!(next_text(&mut stream).await, r#"42["echo","in pieces"]"#);
}

#[tokio::test]
async fn large_messages_cross_many_reads_both_ways() {
    let server = start_echo(Config::default());
    let addr = server.addr;
    let (mut stream, _sid) = raw_ws_session(addr).await;
    stream.write_all(&masked(0x81, b"40")).await.expect("send");
    assert!(next_text(&mut stream).await.starts_with("40{"));
    let big = "y".repeat(300_000);
    let packet = format!(r#"42["echo","{big}"]"#);
    stream
        .write_all(&masked(0x81, packet.as_bytes()))
        .await
        .expect("send");
    assert_eq!(next_text(&mut stream).await, packet);
}

/// A burst far over what a session handles in one turn (actix takes 16 frames), written at
/// once and so read in few reads: every event is handled, each once and in order, and the
/// session still answers afterwards.
#[tokio::test]
async fn a_burst_of_events_in_one_write_is_handled_whole_and_in_order() {
    let server = start_echo(Config::default());
    let addr = server.addr;
    let (mut stream, _sid) = raw_ws_session(addr).await;
    stream.write_all(&masked(0x81, b"40")).await.expect("send");
    assert!(next_text(&mut stream).await.starts_with("40{"));
    const BURST: usize = 1000;
    let mut bytes = Vec::new();
    for i in 0..BURST {
        bytes.extend(masked(0x81, format!(r#"42["echo",{i}]"#).as_bytes()));
    }
    stream.write_all(&bytes).await.expect("send the burst");
    for i in 0..BURST {
        assert_eq!(next_text(&mut stream).await, format!(r#"42["echo",{i}]"#));
    }
    stream
        .write_all(&masked(0x81, br#"42["echo","after"]"#))
        .await
        .expect("send");
    assert_eq!(next_text(&mut stream).await, r#"42["echo","after"]"#);
}

/// Sends `frame` on a connected hand-made WebSocket; the server must close it with `code`
/// while another client goes on.
async fn violation_closes_with(frame: &[u8], code: u16, what: &str) {
    let server = start_echo(Config::default());
    let addr = server.addr;
    let (mut bystander, _sid, _id) = sio_connect_ws(addr).await;
    let (mut stream, _sid) = raw_ws_session(addr).await;
    stream.write_all(&masked(0x81, b"40")).await.expect("send");
    assert!(next_text(&mut stream).await.starts_with("40{"));
    stream.write_all(frame).await.expect("send");
    assert_eq!(
        raw_ws_ending(&mut stream, STEP).await,
        RawEnding::Close(Some(code)),
        "{what}"
    );
    send_text(&mut bystander, r#"42["echo","ok"]"#).await;
    assert_eq!(
        recv_text(&mut bystander).await,
        r#"42["echo","ok"]"#,
        "{what}"
    );
}

#[tokio::test]
async fn an_unmasked_frame_is_a_protocol_error() {
    violation_closes_with(&[0x81, 0x02, b'4', b'2'], 1002, "unmasked").await;
}

#[tokio::test]
async fn an_unknown_opcode_is_a_protocol_error() {
    violation_closes_with(&masked(0x83, b"42"), 1002, "opcode 3").await;
}

#[tokio::test]
async fn a_stray_continuation_is_a_protocol_error() {
    violation_closes_with(&masked(0x80, b"42"), 1002, "continuation").await;
}

#[tokio::test]
async fn a_long_ping_is_a_protocol_error() {
    violation_closes_with(&masked(0x89, &[0; 126]), 1002, "126-byte ping").await;
}

#[tokio::test]
async fn reserved_bits_are_a_protocol_error() {
    if http_server() {
        // actix-http's decoder does not look at the RSV bits; our reader does.
        return;
    }
    violation_closes_with(&masked(0xC1, b"42"), 1002, "RSV1").await;
}

#[tokio::test]
async fn the_connection_ends_soon_after_the_close_handshake() {
    let server = start_echo(Config::default());
    let addr = server.addr;
    let (mut stream, _sid) = raw_ws_session(addr).await;
    stream
        .write_all(&masked(0x88, &1000u16.to_be_bytes()))
        .await
        .expect("close");
    let started = Instant::now();
    assert_eq!(
        raw_ws_ending(&mut stream, STEP).await,
        RawEnding::Close(Some(1000))
    );
    // Then the end of the stream: at once from our reader; actix-http waits for its
    // client_disconnect_timeout (1 s by default).
    let limit = if http_server() {
        Duration::from_millis(1800)
    } else {
        Duration::from_millis(300)
    };
    let mut rest = Vec::new();
    let read = timeout(limit, stream.read_to_end(&mut rest)).await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "TCP still open {:?} after the close frame",
        started.elapsed()
    );
}
