//! Socket.IO layer against packets that break the protocol: each one closes only its own
//! session (close frame or EOF), and another session on the same server keeps working.

mod common;

use std::time::Duration;

use actix_socketio::{Config, DisconnectReason};
use common::*;
use tokio::sync::mpsc::unbounded_channel;
use tokio_tungstenite::tungstenite::Message;

/// After `0` + `40`, sends `frames`: the server must close the connection within 2 s, and
/// another session keeps working. Returns the disconnect reason the socket of `/` got.
async fn closes_after(frames: &[Message]) -> DisconnectReason {
    let (tx, mut reasons) = unbounded_channel();
    let server = start(Config::default(), move |io| {
        io.ns("/", move |socket| {
            socket.on("echo", |s, e| {
                let _ = s.emit_payload("echo", e.payload().clone());
            });
            let tx = tx.clone();
            socket.on_disconnect(move |_, reason| {
                let _ = tx.send(reason);
            });
        });
        io.ns("/other", |_| {});
    });
    let (mut ws, sid, _id) = sio_connect_ws(server.addr).await;
    for frame in frames {
        match frame {
            Message::Text(text) => send_text(&mut ws, text).await,
            Message::Binary(data) => send_binary(&mut ws, data).await,
            other => panic!("unexpected test frame {other:?}"),
        }
    }
    let (before, _ending) = expect_closed(&mut ws).await;
    assert!(
        before.is_empty(),
        "{}: nothing expected before the close, got {before:?}",
        describe(frames)
    );
    assert_sid_unknown(server.addr, &sid).await;
    assert_eq!(server.io.session_count(), 0, "{}", describe(frames));
    // Our socket's reason comes first; the well-behaved session's own comes after it.
    let reason = next_seen(&mut reasons).await;
    well_behaved_check(server.addr).await;
    reason
}

/// A short description of test frames (the deep-nesting cases are 100 kB long).
fn describe(frames: &[Message]) -> String {
    let parts: Vec<String> = frames
        .iter()
        .map(|f| match f {
            Message::Text(t) if t.len() > 60 => format!("{:?}… ({} bytes)", &t[..40], t.len()),
            Message::Text(t) => format!("{:?}", t.as_str()),
            other => format!("{other:?}"),
        })
        .collect();
    parts.join(" + ")
}

async fn text_closes(packet: &str) -> DisconnectReason {
    closes_after(&[Message::text(packet)]).await
}

fn nested_open(depth: usize) -> String {
    format!("42{}", "[".repeat(depth))
}

fn nested_balanced(depth: usize) -> String {
    format!("42[\"a\",{}{}]", "[".repeat(depth), "]".repeat(depth))
}

fn eleven_placeholders() -> String {
    let placeholders: Vec<String> = (0..11)
        .map(|n| format!("{{\"_placeholder\":true,\"num\":{n}}}"))
        .collect();
    format!("4511-[\"a\",{}]", placeholders.join(","))
}

/// DESIGN.md §2: every Socket.IO rule break closes the session with "forced close"
/// (socket.io 4.8 `Client.onerror` → `conn.close()` → "forced close" for decode errors).
#[tokio::test]
async fn every_violation_disconnects_with_forced_close() {
    let mut cases: Vec<Vec<Message>> = [
        "4abc",
        "42{}",
        "42abc[\"a\"]",
        "42[\"a\"",
        "42",
        "42[]",
        "42[{}]",
        "42[null]",
        "42[\"connect\"]",
        "42[\"disconnect\"]",
        "42[\"newListener\"]",
        "43",
        "44{\"message\":\"x\"}",
        "41{\"a\":1}",
        "42/other,[\"a\"]",
        "40",
        "450-[\"a\"]",
        "451-[\"a\",{\"_placeholder\":true,\"num\":1}]",
    ]
    .iter()
    .map(|p| vec![Message::text(*p)])
    .collect();
    cases.push(vec![Message::text(eleven_placeholders())]);
    cases.push(vec![Message::text(nested_open(100_000))]);
    cases.push(vec![Message::binary(vec![1u8])]);
    cases.push(vec![
        Message::text("451-[\"echo\",{\"_placeholder\":true,\"num\":0}]"),
        Message::text("42[\"echo\",1]"),
    ]);
    let mut wrong = Vec::new();
    for frames in &cases {
        let reason = closes_after(frames).await;
        if reason != DisconnectReason::ForcedClose {
            wrong.push(format!("{} -> {reason:?}", describe(frames)));
        }
    }
    assert!(
        wrong.is_empty(),
        "expected ForcedClose, got:\n{}",
        wrong.join("\n")
    );
}

#[tokio::test]
async fn unknown_packet_type() {
    text_closes("4abc").await;
    text_closes("47[\"a\"]").await;
}

#[tokio::test]
async fn event_payload_not_an_array() {
    text_closes("42{}").await;
    text_closes("42\"a\"").await;
}

#[tokio::test]
async fn ack_id_not_digits() {
    text_closes("42abc[\"a\"]").await;
}

#[tokio::test]
async fn event_with_bad_json() {
    text_closes("42[\"a\"").await;
}

#[tokio::test]
async fn event_without_payload() {
    text_closes("42").await;
}

#[tokio::test]
async fn event_with_empty_array() {
    text_closes("42[]").await;
}

#[tokio::test]
async fn event_name_not_a_string() {
    text_closes("42[{}]").await;
    text_closes("42[null]").await;
    text_closes("42[[\"a\"]]").await;
    text_closes("42[true]").await;
}

#[tokio::test]
async fn reserved_event_names() {
    for name in [
        "connect",
        "connect_error",
        "disconnect",
        "disconnecting",
        "newListener",
        "removeListener",
    ] {
        text_closes(&format!("42[\"{name}\"]")).await;
    }
}

#[tokio::test]
async fn ack_without_array() {
    text_closes("43").await;
    text_closes("431").await;
    text_closes("431{\"a\":1}").await;
}

#[tokio::test]
async fn client_sent_connect_error() {
    text_closes("44{\"message\":\"x\"}").await;
}

#[tokio::test]
async fn disconnect_with_payload() {
    text_closes("41{\"a\":1}").await;
}

#[tokio::test]
async fn packet_for_a_namespace_not_joined() {
    text_closes("42/other,[\"a\"]").await;
    text_closes("42/nope,[\"a\"]").await;
    text_closes("41/other,").await;
}

#[tokio::test]
async fn second_connect_to_a_joined_namespace() {
    text_closes("40").await;
}

#[tokio::test]
async fn connect_with_auth_not_an_object() {
    text_closes("40/other,[1]").await;
}

#[tokio::test]
async fn attachment_count_out_of_range() {
    text_closes("450-[\"a\"]").await;
    text_closes(&eleven_placeholders()).await;
    text_closes("45-[\"a\"]").await;
    text_closes("45[\"a\"]").await;
}

#[tokio::test]
async fn placeholder_num_not_below_count() {
    text_closes("451-[\"a\",{\"_placeholder\":true,\"num\":1}]").await;
    text_closes("451-[\"a\",{\"_placeholder\":true,\"num\":-1}]").await;
    text_closes("451-[\"a\",{\"_placeholder\":true}]").await;
}

#[tokio::test]
async fn binary_frame_with_no_header_waiting() {
    closes_after(&[Message::binary(vec![1u8, 2, 3])]).await;
}

#[tokio::test]
async fn text_packet_while_attachments_are_due() {
    closes_after(&[
        Message::text("451-[\"echo\",{\"_placeholder\":true,\"num\":0}]"),
        Message::text("42[\"echo\",1]"),
    ])
    .await;
}

#[tokio::test]
async fn deeply_nested_json() {
    text_closes(&nested_open(100_000)).await;
    text_closes(&nested_balanced(100_000)).await;
}

#[tokio::test]
async fn unknown_namespace_is_refused_and_the_session_stays() {
    let server = start_echo(Config::default());
    let (mut ws, _sid) = eio_handshake_ws(server.addr).await;
    send_text(&mut ws, "40/nope").await;
    assert_eq!(
        recv_text(&mut ws).await,
        r#"44/nope,{"message":"Invalid namespace"}"#
    );
    send_text(&mut ws, "40/nope,{\"token\":1}").await;
    assert_eq!(
        recv_text(&mut ws).await,
        r#"44/nope,{"message":"Invalid namespace"}"#
    );
    send_text(&mut ws, "40").await;
    expect_connect(&mut ws, "").await;
    send_text(&mut ws, r#"42["echo","still here"]"#).await;
    assert_eq!(recv_text(&mut ws).await, r#"42["echo","still here"]"#);
    well_behaved_check(server.addr).await;
}

#[tokio::test]
async fn no_namespace_joined_within_connect_timeout() {
    let server = start_echo(Config::default().with_connect_timeout(Duration::from_millis(200)));
    let (mut ws, sid) = eio_handshake_ws(server.addr).await;
    let started = std::time::Instant::now();
    let (before, _) = expect_closed(&mut ws).await;
    assert!(before.is_empty(), "{before:?}");
    assert!(started.elapsed() >= Duration::from_millis(100));
    assert_sid_unknown(server.addr, &sid).await;
    // Joining in time keeps the session past the timeout.
    let (mut ws, _sid, _id) = sio_connect_ws(server.addr).await;
    expect_silence(&mut ws, Duration::from_millis(400)).await;
    send_text(&mut ws, r#"42["echo",2]"#).await;
    assert_eq!(recv_text(&mut ws).await, r#"42["echo",2]"#);
    well_behaved_check(server.addr).await;
}

#[tokio::test]
async fn leaving_the_namespace_keeps_the_session() {
    let config = Config::default()
        .with_ping_interval(Duration::from_millis(200))
        .with_ping_timeout(Duration::from_millis(500));
    let server = start_echo(config);
    let (mut ws, sid, _id) = sio_connect_ws(server.addr).await;
    send_text(&mut ws, "41").await;
    // The heartbeat goes on: the session is alive.
    assert_eq!(recv_text(&mut ws).await, "2");
    send_text(&mut ws, "3").await;
    assert_eq!(recv_text(&mut ws).await, "2");
    send_text(&mut ws, "3").await;
    assert_eq!(server.io.session_count(), 1);
    let res = poll_get(server.addr, &sid).await;
    assert_eio_error(&res, 400, 3, "Bad request");
    // And it can join again.
    send_text(&mut ws, "40").await;
    expect_connect(&mut ws, "").await;
    send_text(&mut ws, r#"42["echo","back"]"#).await;
    assert_eq!(
        recv_text_answering_pings(&mut ws).await,
        r#"42["echo","back"]"#
    );
    well_behaved_check(server.addr).await;
}

#[tokio::test]
async fn ack_for_an_unknown_id_is_ignored() {
    let server = start_echo(Config::default());
    let (mut ws, _sid, _id) = sio_connect_ws(server.addr).await;
    send_text(&mut ws, "43999[]").await;
    send_text(&mut ws, "43[]").await;
    send_text(&mut ws, r#"42["echo","after"]"#).await;
    assert_eq!(recv_text(&mut ws).await, r#"42["echo","after"]"#);
    well_behaved_check(server.addr).await;
}

#[tokio::test]
async fn unhandled_event_is_ignored() {
    let server = start_echo(Config::default());
    let (mut ws, _sid, _id) = sio_connect_ws(server.addr).await;
    send_text(&mut ws, r#"42["nobody-listens",1]"#).await;
    send_text(&mut ws, r#"42[7,"numeric name"]"#).await;
    send_text(&mut ws, r#"42["echo","after"]"#).await;
    assert_eq!(recv_text(&mut ws).await, r#"42["echo","after"]"#);
    well_behaved_check(server.addr).await;
}

#[tokio::test]
async fn bad_packet_over_polling_closes_the_session() {
    let server = start_echo(Config::default());
    let (sid, _id) = polling_connect(server.addr).await;
    let res = http_post(server.addr, &poll_url(&sid), b"42{}", &[]).await;
    // The POST itself may be answered either way; the session must end.
    assert!(res.status == 200 || res.status == 400, "{}", res.status);
    let res = poll_get(server.addr, &sid).await;
    if res.status == 200 {
        assert!(res.text().ends_with('1'), "{:?}", res.text());
        assert_sid_unknown(server.addr, &sid).await;
    } else {
        assert_eio_error(&res, 400, 1, "Session ID unknown");
    }
    well_behaved_check(server.addr).await;
}
