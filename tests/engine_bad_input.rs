//! Engine.IO layer against bad and hostile input: each refusal has the exact protocol error, and
//! another session on the same server keeps working afterwards.

mod common;

use std::time::{Duration, Instant};

use actix_socketio::{Config, Cors, DisconnectReason, SocketIo};
use common::*;
use tokio::{
    sync::mpsc::{unbounded_channel, UnboundedReceiver},
    time::timeout,
};
use tokio_tungstenite::tungstenite::{protocol::frame::coding::CloseCode, Message};

const HANDSHAKE: &str = "/socket.io/?EIO=4&transport=polling";

fn short_heartbeat(interval_ms: u64, timeout_ms: u64) -> Config {
    Config::default()
        .with_ping_interval(Duration::from_millis(interval_ms))
        .with_ping_timeout(Duration::from_millis(timeout_ms))
}

#[tokio::test]
async fn unknown_or_missing_transport_is_code_0() {
    let server = start_echo(Config::default());
    for path in [
        "/socket.io/?EIO=4&transport=abc",
        "/socket.io/?EIO=4",
        "/socket.io/",
    ] {
        let res = http_get(server.addr, path).await;
        assert_eio_error(&res, 400, 0, "Transport unknown");
    }
    well_behaved_check(server.addr).await;
}

#[tokio::test]
async fn handshake_with_wrong_protocol_version_is_code_5() {
    let server = start_echo(Config::default());
    for path in [
        "/socket.io/?EIO=3&transport=polling",
        "/socket.io/?transport=polling",
        "/socket.io/?EIO=abc&transport=polling",
    ] {
        let res = http_get(server.addr, path).await;
        assert_eio_error(&res, 400, 5, "Unsupported protocol version");
    }
    // The WebSocket path refuses too (plain 400 there).
    let err = ws_try_connect(server.addr, "EIO=3&transport=websocket")
        .await
        .expect_err("EIO=3 WebSocket refused");
    assert_eq!(ws_refusal(err).0, 400);
    assert_eq!(server.io.session_count(), 0);
    well_behaved_check(server.addr).await;
}

#[tokio::test]
async fn post_handshake_is_code_2() {
    let server = start_echo(Config::default());
    let res = http_post(server.addr, HANDSHAKE, b"40", &[]).await;
    assert_eio_error(&res, 400, 2, "Bad handshake method");
    assert_eq!(server.io.session_count(), 0);
    well_behaved_check(server.addr).await;
}

#[tokio::test]
async fn unknown_sid_is_code_1_and_plain_400_on_upgrade() {
    let server = start_echo(Config::default());
    let res = poll_get(server.addr, "nosuchsid").await;
    assert_eio_error(&res, 400, 1, "Session ID unknown");
    let res = http_post(server.addr, &poll_url("nosuchsid"), b"40", &[]).await;
    assert_eio_error(&res, 400, 1, "Session ID unknown");

    let err = ws_try_connect(server.addr, "EIO=4&transport=websocket&sid=nosuchsid")
        .await
        .expect_err("upgrade with an unknown sid refused");
    let (status, content_type, body) = ws_refusal(err);
    assert_eq!(status, 400);
    assert!(
        !content_type.starts_with("application/json"),
        "plain refusal expected, got {content_type:?} {body:?}"
    );
    assert!(!body.starts_with('{'), "no JSON body expected: {body:?}");
    well_behaved_check(server.addr).await;
}

#[tokio::test]
async fn valid_sid_with_wrong_eio_is_code_3() {
    let server = start_echo(Config::default());
    let sid = polling_handshake(server.addr).await;
    for eio in ["EIO=3&", "", "EIO=abc&"] {
        let path = format!("/socket.io/?{eio}transport=polling&sid={sid}");
        let res = http_get(server.addr, &path).await;
        assert_eio_error(&res, 400, 3, "Bad request");
        let res = http_post(server.addr, &path, b"6", &[]).await;
        assert_eio_error(&res, 400, 3, "Bad request");
    }
    // The session itself is untouched.
    poll_post_ok(server.addr, &sid, "40").await;
    assert!(poll_get(server.addr, &sid).await.text().starts_with("40{"));
    well_behaved_check(server.addr).await;
}

#[tokio::test]
async fn websocket_transport_without_upgrade_header_is_code_3() {
    let server = start_echo(Config::default());
    let res = http_get(server.addr, "/socket.io/?EIO=4&transport=websocket").await;
    assert_eio_error(&res, 400, 3, "Bad request");
    let sid = polling_handshake(server.addr).await;
    let path = format!("/socket.io/?EIO=4&transport=websocket&sid={sid}");
    let res = http_get(server.addr, &path).await;
    assert_eio_error(&res, 400, 3, "Bad request");
    assert_eq!(server.io.session_count(), 1);
    well_behaved_check(server.addr).await;
}

/// Posts `body` on a fresh polling session: 400, and the session is gone.
async fn bad_post_closes_session(body: &[u8], headers: &[(&str, &str)]) {
    let server = start_echo(Config::default());
    let sid = polling_handshake(server.addr).await;
    let res = http_post(server.addr, &poll_url(&sid), body, headers).await;
    assert_eq!(
        res.status,
        400,
        "POST {:?}: {:?}",
        String::from_utf8_lossy(body),
        res.text()
    );
    assert_sid_unknown(server.addr, &sid).await;
    assert_eq!(server.io.session_count(), 0);
    well_behaved_check(server.addr).await;
}

#[tokio::test]
async fn malformed_post_body_closes_the_session() {
    bad_post_closes_session(b"abc", &[]).await;
}

#[tokio::test]
async fn bad_base64_record_closes_the_session() {
    bad_post_closes_session(b"b!!!", &[]).await;
}

#[tokio::test]
async fn empty_record_closes_the_session() {
    bad_post_closes_session(b"4a\x1e", &[]).await;
}

#[tokio::test]
async fn post_body_not_utf8_closes_the_session() {
    bad_post_closes_session(b"4\xff\xfe", &[]).await;
}

#[tokio::test]
async fn octet_stream_post_closes_the_session() {
    bad_post_closes_session(
        b"\x04hello",
        &[("Content-Type", "application/octet-stream")],
    )
    .await;
}

/// Sends `frame` on a fresh WebSocket session: the server closes the connection.
async fn bad_frame_closes_websocket(frame: Message) {
    let server = start_echo(Config::default());
    let (mut ws, sid) = eio_handshake_ws(server.addr).await;
    timeout(STEP, futures_util::SinkExt::send(&mut ws, frame.clone()))
        .await
        .expect("send in time")
        .expect("send");
    let (before, _ending) = expect_closed(&mut ws).await;
    assert!(
        before.is_empty(),
        "{frame:?}: nothing expected before the close, got {before:?}"
    );
    assert_sid_unknown(server.addr, &sid).await;
    well_behaved_check(server.addr).await;
}

#[tokio::test]
async fn client_ping_over_websocket_closes_it() {
    bad_frame_closes_websocket(Message::text("2")).await;
}

#[tokio::test]
async fn garbage_text_frame_closes_websocket() {
    bad_frame_closes_websocket(Message::text("abc")).await;
}

#[tokio::test]
async fn empty_text_frame_closes_websocket() {
    bad_frame_closes_websocket(Message::text("")).await;
}

#[tokio::test]
async fn open_packet_from_client_closes_websocket() {
    bad_frame_closes_websocket(Message::text("0")).await;
}

#[tokio::test]
async fn oversize_post_is_413_and_closes_the_session() {
    let server = start_echo(Config::default().with_max_payload(1000));
    let sid = polling_handshake(server.addr).await;
    let body = format!("4{}", "x".repeat(1999));
    let res = http_post(server.addr, &poll_url(&sid), body.as_bytes(), &[]).await;
    assert_eq!(res.status, 413, "{:?}", res.text());
    assert_sid_unknown(server.addr, &sid).await;
    // A body exactly at the limit is accepted on another session.
    let (sid, _) = polling_connect(server.addr).await;
    let body = format!(r#"42["echo","{}"]"#, "y".repeat(1000 - 13));
    assert_eq!(body.len(), 1000);
    poll_post_ok(server.addr, &sid, &body).await;
    assert_eq!(poll_get(server.addr, &sid).await.text(), body);
    well_behaved_check(server.addr).await;
}

#[tokio::test]
async fn oversize_chunked_post_is_413_and_closes_the_session() {
    let server = start_echo(Config::default().with_max_payload(1000));
    let sid = polling_handshake(server.addr).await;
    // No Content-Length: the limit must hold while the body streams in.
    let data = format!("4{}", "x".repeat(1999));
    let body = format!("{:x}\r\n{data}\r\n0\r\n\r\n", data.len());
    let res = http_request(
        server.addr,
        "POST",
        &poll_url(&sid),
        body.as_bytes(),
        &[
            ("Content-Type", "text/plain"),
            ("Transfer-Encoding", "chunked"),
        ],
    )
    .await;
    assert_eq!(res.status, 413, "{:?}", res.text());
    assert_sid_unknown(server.addr, &sid).await;
    well_behaved_check(server.addr).await;
}

#[tokio::test]
async fn oversize_websocket_message_closes_with_1009() {
    let server = start_echo(Config::default().with_max_payload(1000));
    let (mut ws, sid) = eio_handshake_ws(server.addr).await;
    send_text(&mut ws, &format!("4{}", "x".repeat(1999))).await;
    let (before, ending) = expect_closed(&mut ws).await;
    assert!(before.is_empty(), "{before:?}");
    match ending {
        Ending::Close(Some(frame)) => assert_eq!(frame.code, CloseCode::Size),
        other => panic!("close code 1009 expected, got {other:?}"),
    }
    assert_sid_unknown(server.addr, &sid).await;
    well_behaved_check(server.addr).await;
}

#[tokio::test]
async fn second_concurrent_get_closes_the_session() {
    let server = start_echo(Config::default());
    let addr = server.addr;
    let sid = polling_handshake(addr).await;
    let first = {
        let sid = sid.clone();
        tokio::spawn(async move { poll_get(addr, &sid).await })
    };
    // Let the first GET reach the session and wait there.
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(!first.is_finished(), "the first GET must be waiting");
    let second = poll_get(addr, &sid).await;
    assert_eio_error(&second, 400, 3, "Bad request");
    let first = timeout(STEP, first)
        .await
        .expect("first GET answered")
        .unwrap();
    assert_eq!((first.status, first.text()), (200, "1".to_owned()));
    assert_sid_unknown(addr, &sid).await;
    well_behaved_check(addr).await;
}

#[tokio::test]
async fn polling_ping_timeout_forgets_the_session() {
    let server = start_echo(short_heartbeat(100, 100));
    let sid = polling_handshake(server.addr).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_sid_unknown(server.addr, &sid).await;
    well_behaved_check(server.addr).await;
}

#[tokio::test]
async fn websocket_ping_timeout_closes_the_socket() {
    let server = start_echo(short_heartbeat(100, 100));
    let started = Instant::now();
    let (mut ws, sid) = eio_handshake_ws(server.addr).await;
    let (before, _) = wait_closed_within(&mut ws, Duration::from_secs(2)).await;
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(180),
        "closed too early: {elapsed:?}"
    );
    assert!(
        before
            .iter()
            .any(|m| matches!(m, Message::Text(t) if t.as_str() == "2")),
        "a ping before the close: {before:?}"
    );
    assert_sid_unknown(server.addr, &sid).await;
    well_behaved_check(server.addr).await;
}

#[tokio::test]
async fn max_connections_refuses_with_503_then_recovers() {
    let server = start_echo(Config::default().with_max_connections(2));
    let addr = server.addr;
    let polling_sid = polling_handshake(addr).await;
    let (mut ws, _ws_sid) = eio_handshake_ws(addr).await;
    assert_eq!(server.io.session_count(), 2);

    let res = http_get(addr, HANDSHAKE).await;
    assert_eq!(res.status, 503, "{:?}", res.text());
    assert!(res
        .header("content-type")
        .unwrap_or("")
        .starts_with("application/json"));
    let body = res.json();
    assert!(body["message"].is_string(), "{body}");
    assert!(body["code"].is_number(), "{body}");

    let err = ws_try_connect(addr, "EIO=4&transport=websocket")
        .await
        .expect_err("third WebSocket refused");
    let (status, content_type, body) = ws_refusal(err);
    assert_eq!(status, 503, "{body}");
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let body: serde_json::Value = serde_json::from_str(&body).expect("JSON body");
    assert!(body["message"].is_string(), "{body}");

    // Closing one session frees a place.
    timeout(STEP, futures_util::SinkExt::close(&mut ws))
        .await
        .expect("close in time")
        .expect("close");
    let freed = eventually(STEP, || async {
        http_get(addr, HANDSHAKE).await.status == 200
    })
    .await;
    assert!(freed, "a handshake succeeds after a session closed");
    // Full again (polling session + the new one); a polling close frees a place too.
    poll_post_ok(addr, &polling_sid, "1").await;
    let freed = eventually(STEP, || async {
        ws_try_connect(addr, "EIO=4&transport=websocket")
            .await
            .is_ok()
    })
    .await;
    assert!(
        freed,
        "a WebSocket handshake succeeds after a session closed"
    );
}

#[tokio::test]
async fn client_close_over_polling_answers_the_waiting_get() {
    let server = start_echo(Config::default());
    let addr = server.addr;
    let sid = polling_handshake(addr).await;
    let waiting = {
        let sid = sid.clone();
        tokio::spawn(async move { poll_get(addr, &sid).await })
    };
    tokio::time::sleep(Duration::from_millis(150)).await;
    poll_post_ok(addr, &sid, "1").await;
    let res = timeout(STEP, waiting).await.expect("GET answered").unwrap();
    assert_eq!((res.status, res.text()), (200, "6".to_owned()));
    let res = poll_get(addr, &sid).await;
    assert_eq!(res.status, 400);
    well_behaved_check(addr).await;
}

#[tokio::test]
async fn polling_heartbeat_keeps_an_answering_session_alive() {
    let interval = Duration::from_millis(200);
    let server = start_echo(short_heartbeat(200, 200));
    let sid = polling_handshake(server.addr).await;
    for round in 0..3 {
        let asked = Instant::now();
        let res = poll_get(server.addr, &sid).await;
        assert_eq!(
            (res.status, res.text()),
            (200, "2".to_owned()),
            "round {round}"
        );
        assert!(
            asked.elapsed() >= interval - Duration::from_millis(60),
            "round {round}: ping came after {:?}",
            asked.elapsed()
        );
        poll_post_ok(server.addr, &sid, "3").await;
    }
    // Still alive after three intervals.
    poll_post_ok(server.addr, &sid, "40").await;
    let res = poll_get(server.addr, &sid).await;
    assert!(res.text().starts_with("40{"), "{:?}", res.text());
    well_behaved_check(server.addr).await;
}

#[tokio::test]
async fn polling_responses_have_the_reference_headers() {
    let server = start_echo(Config::default());
    let res = http_get(server.addr, HANDSHAKE).await;
    assert_eq!(res.status, 200);
    assert_eq!(
        res.header("content-type"),
        Some("text/plain; charset=UTF-8")
    );
    assert_eq!(res.header("cache-control"), Some("no-store"));
    let open = parse_open(&res.text());
    let sid = open["sid"].as_str().unwrap().to_owned();
    assert_eq!(sid.len(), 20);
    assert_eq!(open["pingInterval"], 25000);
    assert_eq!(open["pingTimeout"], 20000);
    assert_eq!(open["maxPayload"], 1_000_000);

    let post = http_post(server.addr, &poll_url(&sid), b"40", &[]).await;
    assert_eq!((post.status, post.text()), (200, "ok".to_owned()));
    assert!(post
        .header("content-type")
        .unwrap_or("")
        .starts_with("text/html"));
    let get = poll_get(server.addr, &sid).await;
    assert_eq!(get.status, 200);
    assert_eq!(
        get.header("content-type"),
        Some("text/plain; charset=UTF-8")
    );
    assert_eq!(get.header("cache-control"), Some("no-store"));
    assert!(get.text().starts_with("40{\"sid\":"), "{:?}", get.text());
    well_behaved_check(server.addr).await;
}

#[tokio::test]
async fn several_packets_in_one_polling_body() {
    let server = start_echo(Config::default());
    let (sid, _) = polling_connect(server.addr).await;
    poll_post_ok(
        server.addr,
        &sid,
        "42[\"echo\",1]\x1e6\x1e42[\"echo\",\"two\"]",
    )
    .await;
    let got = poll_events(server.addr, &sid, 2).await;
    assert_eq!(got, "42[\"echo\",1]\x1e42[\"echo\",\"two\"]");
    well_behaved_check(server.addr).await;
}

#[tokio::test]
async fn transport_is_checked_before_the_protocol_version() {
    let server = start_echo(Config::default());
    let res = http_get(server.addr, "/socket.io/?EIO=3&transport=abc").await;
    assert_eio_error(&res, 400, 0, "Transport unknown");
    let res = http_get(server.addr, "/socket.io/?transport=flash&sid=x").await;
    assert_eio_error(&res, 400, 0, "Transport unknown");
    well_behaved_check(server.addr).await;
}

#[tokio::test]
async fn open_packets_are_exact() {
    let server = start_echo(Config::default());
    let res = http_get(server.addr, HANDSHAKE).await;
    let body = res.text();
    let sid = parse_open(&body)["sid"].as_str().unwrap().to_owned();
    assert_eq!(
        body,
        format!(
            r#"0{{"sid":"{sid}","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}}"#
        )
    );

    let custom = start_echo(
        short_heartbeat(300, 200)
            .with_max_payload(4096)
            .with_connect_timeout(Duration::from_secs(5)),
    );
    let mut ws = ws_connect(custom.addr, "EIO=4&transport=websocket").await;
    let text = recv_text(&mut ws).await;
    let sid = parse_open(&text)["sid"].as_str().unwrap().to_owned();
    assert_eq!(
        text,
        format!(
            r#"0{{"sid":"{sid}","upgrades":[],"pingInterval":300,"pingTimeout":200,"maxPayload":4096}}"#
        )
    );
    well_behaved_check(server.addr).await;
}

#[tokio::test]
async fn websocket_heartbeat_keeps_an_answering_session_alive() {
    let interval = Duration::from_millis(150);
    let server = start_echo(short_heartbeat(150, 150));
    let (mut ws, sid) = eio_handshake_ws(server.addr).await;
    send_text(&mut ws, "40").await;
    expect_connect(&mut ws, "").await;
    let mut last = Instant::now();
    for round in 0..4 {
        assert_eq!(recv_text(&mut ws).await, "2", "round {round}");
        let gap = last.elapsed();
        assert!(
            gap >= interval - Duration::from_millis(50),
            "round {round}: ping after {gap:?}"
        );
        assert!(gap < interval * 4, "round {round}: ping after {gap:?}");
        send_text(&mut ws, "3").await;
        last = Instant::now();
    }
    send_text(&mut ws, r#"42["echo","alive"]"#).await;
    assert_eq!(
        recv_text_answering_pings(&mut ws).await,
        r#"42["echo","alive"]"#
    );
    assert_eio_error(&poll_get(server.addr, &sid).await, 400, 3, "Bad request");
    well_behaved_check(server.addr).await;
}

#[tokio::test]
async fn second_concurrent_post_closes_the_session() {
    let server = start_echo(Config::default());
    let addr = server.addr;
    let sid = polling_handshake(addr).await;
    let waiting = {
        let sid = sid.clone();
        tokio::spawn(async move { poll_get(addr, &sid).await })
    };
    // A POST whose body is still on its way.
    let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\n6\x1e6",
        poll_url(&sid)
    );
    tokio::io::AsyncWriteExt::write_all(&mut slow, head.as_bytes())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let second = http_post(addr, &poll_url(&sid), b"6", &[]).await;
    assert_eq!(second.status, 400, "overlapping POST: {:?}", second.text());
    let first_get = timeout(STEP, waiting).await.expect("GET answered").unwrap();
    assert_eq!((first_get.status, first_get.text()), (200, "1".to_owned()));
    assert_sid_unknown(addr, &sid).await;
    drop(slow);
    well_behaved_check(addr).await;
}

#[tokio::test]
async fn client_close_over_websocket_closes_it() {
    let server = start_echo(Config::default());
    let (mut ws, sid) = eio_handshake_ws(server.addr).await;
    send_text(&mut ws, "1").await;
    let (before, _) = expect_closed(&mut ws).await;
    assert!(before.is_empty(), "{before:?}");
    assert_sid_unknown(server.addr, &sid).await;
    well_behaved_check(server.addr).await;
}

#[tokio::test]
async fn ignored_engine_packets_do_not_disconnect() {
    let server = start_echo(Config::default());
    let (mut ws, _sid) = eio_handshake_ws(server.addr).await;
    for packet in ["6", "5", "3", "6extra"] {
        send_text(&mut ws, packet).await;
    }
    send_text(&mut ws, "40").await;
    expect_connect(&mut ws, "").await;
    send_text(&mut ws, r#"42["echo","ok"]"#).await;
    assert_eq!(recv_text(&mut ws).await, r#"42["echo","ok"]"#);

    let (sid, _) = polling_connect(server.addr).await;
    poll_post_ok(server.addr, &sid, "6\x1e3\x1e42[\"echo\",\"p\"]").await;
    assert_eq!(
        poll_get(server.addr, &sid).await.text(),
        r#"42["echo","p"]"#
    );
    well_behaved_check(server.addr).await;
}

#[tokio::test]
async fn websocket_ping_frames_are_answered() {
    let server = start_echo(Config::default());
    let (mut ws, _sid) = eio_handshake_ws(server.addr).await;
    timeout(
        STEP,
        futures_util::SinkExt::send(&mut ws, Message::Ping(vec![7u8, 7].into())),
    )
    .await
    .unwrap()
    .unwrap();
    let pong = timeout(STEP, async {
        loop {
            match futures_util::StreamExt::next(&mut ws).await {
                Some(Ok(Message::Pong(data))) => return data.to_vec(),
                Some(Ok(_)) => continue,
                other => panic!("pong expected, got {other:?}"),
            }
        }
    })
    .await
    .expect("pong in time");
    assert_eq!(pong, vec![7u8, 7]);
    well_behaved_check(server.addr).await;
}

#[tokio::test]
async fn websocket_origin_follows_the_cors_policy() {
    let server = start_echo(Config::default());
    let addr = server.addr;
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(ws_url(
            addr,
            "EIO=4&transport=websocket",
        ))
        .unwrap();
    request
        .headers_mut()
        .insert("origin", "https://evil.example".parse().unwrap());
    let err = timeout(STEP, tokio_tungstenite::connect_async(request))
        .await
        .unwrap()
        .expect_err("foreign origin refused");
    let (status, content_type, _) = ws_refusal(err);
    assert_eq!(status, 400);
    assert!(!content_type.starts_with("application/json"));
    assert_eq!(server.io.session_count(), 0);

    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(ws_url(
            addr,
            "EIO=4&transport=websocket",
        ))
        .unwrap();
    request
        .headers_mut()
        .insert("origin", format!("http://{addr}").parse().unwrap());
    let (mut ws, _) = timeout(STEP, tokio_tungstenite::connect_async(request))
        .await
        .unwrap()
        .expect("same origin accepted");
    assert!(recv_text(&mut ws).await.starts_with("0{"));

    let open = start_echo(Config::default().with_cors(Cors::Any));
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(ws_url(
            open.addr,
            "EIO=4&transport=websocket",
        ))
        .unwrap();
    request
        .headers_mut()
        .insert("origin", "https://anywhere.example".parse().unwrap());
    timeout(STEP, tokio_tungstenite::connect_async(request))
        .await
        .unwrap()
        .expect("any origin accepted");
    let res = http_request(
        open.addr,
        "GET",
        HANDSHAKE,
        b"",
        &[("Origin", "https://anywhere.example")],
    )
    .await;
    assert_eq!(res.status, 200);
    assert_eq!(res.header("access-control-allow-origin"), Some("*"));
    well_behaved_check(addr).await;
}

#[tokio::test]
async fn polling_from_a_foreign_origin_gets_no_cors_grant() {
    // Same-origin policy: the response carries no Access-Control-Allow-Origin for another
    // origin (the browser then hides it); a refusal, if any, is the JSON code 3.
    let server = start_echo(Config::default());
    let res = http_request(
        server.addr,
        "GET",
        HANDSHAKE,
        b"",
        &[("Origin", "https://evil.example")],
    )
    .await;
    assert!(
        res.header("access-control-allow-origin").is_none(),
        "{:?}",
        res.headers
    );
    if res.status != 200 {
        assert_eio_error(&res, 400, 3, "Bad request");
    }
    let same = format!("http://{}", server.addr);
    let res = http_request(server.addr, "GET", HANDSHAKE, b"", &[("Origin", &same)]).await;
    assert_eq!(res.status, 200);
    assert_eq!(
        res.header("access-control-allow-origin"),
        Some(same.as_str())
    );
    well_behaved_check(server.addr).await;
}

/// A server whose `/` sockets report their disconnect reason.
fn reason_server(config: Config) -> (TestServer, UnboundedReceiver<DisconnectReason>) {
    let (tx, rx) = unbounded_channel();
    let server = start(config, move |io: &SocketIo| {
        io.ns("/", move |socket| {
            socket.on("echo", |s, e| {
                let _ = s.emit_payload("echo", e.payload().clone());
            });
            let tx = tx.clone();
            socket.on_disconnect(move |_, reason| {
                let _ = tx.send(reason);
            });
        });
    });
    (server, rx)
}

#[tokio::test]
async fn engine_close_reasons_over_websocket() {
    let cases: [(&str, Message, DisconnectReason); 3] = [
        (
            "client close",
            Message::text("1"),
            DisconnectReason::TransportClose,
        ),
        (
            "parse error",
            Message::text("abc"),
            DisconnectReason::ParseError,
        ),
        (
            "oversize message",
            Message::text("4".repeat(2000)),
            DisconnectReason::TransportError,
        ),
    ];
    for (what, frame, expected) in cases {
        let (server, mut reasons) = reason_server(Config::default().with_max_payload(1000));
        let (mut ws, _sid, _id) = sio_connect_ws(server.addr).await;
        timeout(STEP, futures_util::SinkExt::send(&mut ws, frame))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(next_seen(&mut reasons).await, expected, "{what}");
        expect_closed(&mut ws).await;
        well_behaved_check(server.addr).await;
    }
}

#[tokio::test]
async fn client_ping_is_a_transport_error() {
    // engine.io 6.6 `Socket.onPacket`: a v4 client ping is `onError("invalid heartbeat
    // direction")`, which closes with "transport error" (not "parse error").
    let (server, mut reasons) = reason_server(Config::default());
    let (mut ws, _sid, _id) = sio_connect_ws(server.addr).await;
    send_text(&mut ws, "2").await;
    assert_eq!(
        next_seen(&mut reasons).await,
        DisconnectReason::TransportError
    );
    expect_closed(&mut ws).await;
    well_behaved_check(server.addr).await;
}

#[tokio::test]
async fn ping_timeout_reason() {
    let (server, mut reasons) = reason_server(short_heartbeat(100, 100));
    let (mut ws, _sid, _id) = sio_connect_ws(server.addr).await;
    assert_eq!(next_seen(&mut reasons).await, DisconnectReason::PingTimeout);
    expect_closed(&mut ws).await;
    well_behaved_check(server.addr).await;
}

#[tokio::test]
async fn engine_close_reasons_over_polling() {
    type Case = (&'static str, &'static [u8], &'static str, DisconnectReason);
    let cases: [Case; 3] = [
        (
            "client close",
            b"1",
            "text/plain",
            DisconnectReason::TransportClose,
        ),
        (
            "parse error",
            b"abc",
            "text/plain",
            DisconnectReason::ParseError,
        ),
        (
            "binary body",
            b"4abc",
            "application/octet-stream",
            DisconnectReason::TransportError,
        ),
    ];
    for (what, body, content_type, expected) in cases {
        let (server, mut reasons) = reason_server(Config::default());
        let (sid, _id) = polling_connect(server.addr).await;
        let _ = http_post(
            server.addr,
            &poll_url(&sid),
            body,
            &[("Content-Type", content_type)],
        )
        .await;
        assert_eq!(next_seen(&mut reasons).await, expected, "{what}");
        well_behaved_check(server.addr).await;
    }
}

#[tokio::test]
async fn endpoint_without_trailing_slash() {
    let server = start_echo(Config::default());
    let res = http_get(server.addr, "/socket.io?EIO=4&transport=polling").await;
    assert_eq!(res.status, 200);
    assert!(res.text().starts_with("0{"), "{:?}", res.text());
    let res = http_get(server.addr, "/other/?EIO=4&transport=polling").await;
    assert_eq!(res.status, 404);
    well_behaved_check(server.addr).await;
}

#[tokio::test]
async fn utf8_text_round_trips_over_both_transports() {
    let server = start_echo(Config::default());
    let packet = "42[\"echo\",\"é✓😀\\u0000\\u001e\"]";
    let (sid, _) = polling_connect(server.addr).await;
    poll_post_ok(server.addr, &sid, packet).await;
    let res = poll_get(server.addr, &sid).await;
    assert_eq!(res.text(), "42[\"echo\",\"é✓😀\\u0000\\u001e\"]");
    let (mut ws, _sid, _id) = sio_connect_ws(server.addr).await;
    send_text(&mut ws, packet).await;
    assert_eq!(
        recv_text(&mut ws).await,
        "42[\"echo\",\"é✓😀\\u0000\\u001e\"]"
    );
    well_behaved_check(server.addr).await;
}

#[tokio::test]
async fn polling_session_without_namespace_within_connect_timeout() {
    let server = start_echo(Config::default().with_connect_timeout(Duration::from_millis(200)));
    let sid = polling_handshake(server.addr).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Either the next GET collects the close packet, or the sid is already gone.
    let res = poll_get(server.addr, &sid).await;
    if res.status == 200 {
        assert!(res.text().ends_with('1'), "{:?}", res.text());
        assert_sid_unknown(server.addr, &sid).await;
    } else {
        assert_eio_error(&res, 400, 1, "Session ID unknown");
    }
    well_behaved_check(server.addr).await;
}
