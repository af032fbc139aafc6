//! Security defaults: session ids are long, random and bound to their transport, and error
//! bodies never echo what the client sent.

mod common;

use std::collections::HashSet;

use actix_socketio::Config;
use common::*;

#[tokio::test]
async fn session_ids_are_unguessable() {
    let server = start_echo(Config::default());
    let mut seen = HashSet::new();
    for _ in 0..200 {
        let sid = polling_handshake(server.addr).await;
        // 20 URL-safe base64 characters: 120 random bits.
        assert_eq!(sid.len(), 20, "{sid}");
        assert!(sid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert!(seen.insert(sid), "a session id came twice");
    }
}

#[tokio::test]
async fn a_websocket_session_id_cannot_be_used_for_polling() {
    let server = start_echo(Config::default());
    let (mut ws, sid) = eio_handshake_ws(server.addr).await;
    let res = poll_get(server.addr, &sid).await;
    assert_eq!(res.status, 400);
    let res = http_post(server.addr, &poll_url(&sid), b"4hello", &[]).await;
    assert_eq!(res.status, 400);
    // The WebSocket session itself is unaffected.
    send_text(&mut ws, "40").await;
    assert!(recv_text_answering_pings(&mut ws).await.starts_with("40{"));
    well_behaved_check(server.addr).await;
}

#[tokio::test]
async fn error_bodies_do_not_reflect_the_request() {
    let server = start_echo(Config::default());
    let probe = "%3Cscript%3Ealert(1)%3C%2Fscript%3E";
    for query in [
        format!("EIO=4&transport={probe}"),
        format!("EIO={probe}&transport=polling"),
        format!("EIO=4&transport=polling&sid={probe}"),
        format!("EIO=3&transport=polling&sid={probe}"),
    ] {
        let res = http_get(server.addr, &format!("/socket.io/?{query}")).await;
        assert_eq!(res.status, 400, "{query}");
        let body = res.text();
        assert!(
            !body.contains("script") && !body.contains('<'),
            "{query}: {body}"
        );
        assert_eq!(res.header("content-type"), Some("application/json"));
    }
    well_behaved_check(server.addr).await;
}
