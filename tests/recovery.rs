//! Connection state recovery on the wire, with hostile CONNECT payloads: whatever a client puts
//! in `pid` and `offset`, it gets a fresh socket (no error, no close), the application never
//! sees those fields, and other sessions are not disturbed. The official clients' side is in
//! tests/js/recovery.test.mjs.

mod common;

use std::time::Duration;

use actix_socketio::{Config, Recovery};
use common::*;
use serde_json::{json, Value};
use tokio::sync::mpsc::unbounded_channel;

fn config() -> Config {
    Config::default().connection_state_recovery(
        Recovery::default().max_disconnection_duration(Duration::from_secs(5)),
    )
}

/// The CONNECT answer's body for `/`.
async fn connect_answer(ws: &mut Ws) -> Value {
    let text = recv_text_answering_pings(ws).await;
    let body = text
        .strip_prefix("40")
        .unwrap_or_else(|| panic!("CONNECT answer expected, got {text:?}"));
    serde_json::from_str(body).expect("CONNECT JSON")
}

#[actix_web::test]
async fn a_raw_client_recovers_its_socket_and_the_packet_it_missed() {
    let server = start(config(), |io| {
        io.ns("/", |socket| {
            if !socket.recovered() {
                socket.join("room");
            }
        });
    });
    let (mut ws, _) = eio_handshake_ws(server.addr).await;
    send_text(&mut ws, "40").await;
    let first = connect_answer(&mut ws).await;
    let (sid, pid) = (first["sid"].clone(), first["pid"].clone());
    assert!(pid.as_str().is_some_and(|p| p.len() >= 20), "{first}");
    drop(ws); // the TCP connection goes away under the server
    tokio::time::sleep(Duration::from_millis(200)).await;
    server.io.of("/").to("room").emit("news", &1).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(server.io.stats().recovery_sessions, 1);

    let (mut ws, _) = eio_handshake_ws(server.addr).await;
    let auth = json!({ "pid": pid });
    send_text(&mut ws, &format!("40{auth}")).await;
    let again = connect_answer(&mut ws).await;
    assert_eq!(again, json!({ "sid": sid, "pid": pid }));
    let missed = recv_text_answering_pings(&mut ws).await;
    assert!(missed.starts_with(r#"42["news",1,""#), "{missed}");
    assert_eq!(server.io.stats().recovery_sessions, 0);
}

#[actix_web::test]
async fn hostile_pids_and_offsets_get_a_fresh_socket_and_stay_hidden() {
    let (tx, mut seen) = unbounded_channel();
    let server = start(config(), move |io| {
        let tx = tx.clone();
        io.ns("/", move |socket| {
            let _ = tx.send((socket.recovered(), socket.handshake().auth.clone()));
        });
    });
    let long = "p".repeat(100_000);
    let cases = [
        json!({ "pid": "", "offset": -1 }),
        json!({ "pid": 1 }),
        json!({ "pid": null, "offset": "x" }),
        json!({ "pid": { "a": [1, 2] }, "offset": [] }),
        json!({ "pid": long, "offset": long }),
        json!({ "pid": "unknown-pid", "offset": "00000000-1", "token": "t" }),
    ];
    let count = cases.len();
    let mut open = Vec::new();
    for auth in cases {
        let (mut ws, _) = eio_handshake_ws(server.addr).await;
        send_text(&mut ws, &format!("40{auth}")).await;
        let answer = connect_answer(&mut ws).await;
        let (Some(sid), Some(pid)) = (answer["sid"].as_str(), answer["pid"].as_str()) else {
            panic!("auth {auth}: fresh CONNECT answer expected, got {answer}");
        };
        assert_ne!(Some(pid), auth.get("pid").and_then(Value::as_str));
        assert!(!sid.is_empty());
        let (recovered, seen_auth) = tokio::time::timeout(Duration::from_secs(2), seen.recv())
            .await
            .expect("connect handler ran")
            .expect("channel open");
        assert!(!recovered, "auth {auth}");
        if let Value::Object(fields) = &seen_auth {
            assert!(
                !fields.contains_key("pid") && !fields.contains_key("offset"),
                "auth {auth}: the application saw {seen_auth}"
            );
        }
        if auth.get("token").is_some() {
            assert_eq!(seen_auth, json!({ "token": "t" }));
        }
        open.push(ws);
    }
    // Every session is still open and the server serves a new one.
    assert_eq!(server.io.stats().sockets, count);
    let (mut ws, _) = eio_handshake_ws(server.addr).await;
    send_text(&mut ws, "40").await;
    assert!(connect_answer(&mut ws).await["pid"].is_string());
}
