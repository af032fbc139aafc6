//! The server API seen from raw protocol packets: handshake data, middleware, events, acks both
//! ways, binary attachments, disconnect reasons, namespaces, upgrade and server-side close.

mod common;

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use actix_socketio::{
    AckError, Config, ConnectError, DisconnectReason, EmitError, Payload, Socket, SocketIo,
};
use common::*;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::{
    sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender},
    time::timeout,
};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// A namespace whose sockets are reported to the test, with echo and disconnect reporting.
fn reporting_ns(
    io: &SocketIo,
    name: &str,
    sockets: UnboundedSender<Socket>,
    reasons: UnboundedSender<(String, DisconnectReason)>,
) {
    io.ns(name, move |socket| {
        socket.on("echo", |s, e| {
            let _ = s.emit_payload("echo", e.payload().clone());
        });
        socket.on("kick", |s, _| s.disconnect());
        socket.on("drop", |s, _| s.close_connection());
        let reasons = reasons.clone();
        socket.on_disconnect(move |s, reason| {
            let _ = reasons.send((s.ns().to_owned(), reason));
        });
        let _ = sockets.send(socket);
    });
}

type Reports = (
    TestServer,
    UnboundedReceiver<Socket>,
    UnboundedReceiver<(String, DisconnectReason)>,
);

/// A server with reporting namespaces `/` and `/admin`.
fn reporting_server(config: Config) -> Reports {
    let (socket_tx, socket_rx) = unbounded_channel();
    let (reason_tx, reason_rx) = unbounded_channel();
    let server = start(config, move |io| {
        reporting_ns(io, "/", socket_tx.clone(), reason_tx.clone());
        reporting_ns(io, "/admin", socket_tx, reason_tx);
    });
    (server, socket_rx, reason_rx)
}

/// Joins `nsp` (`"/admin"`) on an open WebSocket session; the socket id.
async fn join(ws: &mut Ws, nsp: &str) -> String {
    send_text(ws, &format!("40{nsp},")).await;
    expect_connect(ws, &format!("{nsp},")).await
}

#[tokio::test]
async fn connect_handler_sees_the_handshake() {
    let (server, mut sockets, _reasons) = reporting_server(Config::default());
    let mut request = ws_url(server.addr, "EIO=4&transport=websocket&foo=bar")
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("x-test", "hello".parse().unwrap());
    let (mut ws, _) = timeout(STEP, tokio_tungstenite::connect_async(request))
        .await
        .unwrap()
        .unwrap();
    let open = parse_open(&recv_text(&mut ws).await);
    let engine_sid = open["sid"].as_str().unwrap().to_owned();

    send_text(&mut ws, r#"40{"token":"x"}"#).await;
    let answer = recv_text(&mut ws).await;
    let socket = next_seen(&mut sockets).await;
    assert_eq!(answer, format!(r#"40{{"sid":"{}"}}"#, socket.id()));
    assert_ne!(socket.id(), engine_sid);
    assert_eq!(socket.id().len(), 20);
    assert_eq!(socket.ns(), "/");
    assert!(socket.connected());

    let handshake = socket.handshake();
    assert_eq!(handshake.auth, json!({"token": "x"}));
    assert_eq!(handshake.query.get("foo").map(String::as_str), Some("bar"));
    assert_eq!(handshake.query.get("EIO").map(String::as_str), Some("4"));
    assert_eq!(
        handshake.query.get("transport").map(String::as_str),
        Some("websocket")
    );
    assert_eq!(
        handshake
            .headers
            .get("x-test")
            .and_then(|v| v.to_str().ok()),
        Some("hello")
    );
    let address = handshake.address.expect("peer address");
    assert!(address.ip().is_loopback(), "{address}");
    assert!(handshake.url.contains("foo=bar"), "{}", handshake.url);

    // A CONNECT without auth gets `{}`, and each namespace socket has its own id.
    send_text(&mut ws, "40/admin,").await;
    let admin_id = expect_connect(&mut ws, "/admin,").await;
    let admin = next_seen(&mut sockets).await;
    assert_eq!(admin.id(), admin_id);
    assert_ne!(admin.id(), socket.id());
    assert_eq!(admin.handshake().auth, json!({}));
    assert_eq!(admin.ns(), "/admin");

    // Reserved names cannot be emitted.
    assert!(matches!(
        socket.emit("connect", &1),
        Err(EmitError::ReservedEvent(_))
    ));
    well_behaved_check(server.addr).await;
}

#[tokio::test]
async fn connect_with_namespace_without_comma_is_accepted() {
    let (server, mut sockets, _reasons) = reporting_server(Config::default());
    let (mut ws, _sid) = eio_handshake_ws(server.addr).await;
    send_text(&mut ws, "40/admin").await;
    let id = expect_connect(&mut ws, "/admin,").await;
    assert_eq!(next_seen(&mut sockets).await.id(), id);
    send_text(&mut ws, r#"42/admin,["echo","a"]"#).await;
    assert_eq!(recv_text(&mut ws).await, r#"42/admin,["echo","a"]"#);
}

#[tokio::test]
async fn middleware_refusal_is_a_connect_error_and_the_session_stays() {
    let (connected_tx, mut connected) = unbounded_channel::<String>();
    let server = start(Config::default(), move |io| {
        echo_setup(io);
        let tx = connected_tx.clone();
        io.ns("/admin", move |s| {
            let _ = tx.send(s.ns().to_owned());
        })
        .use_middleware(|_| Err(ConnectError::new("nope").with_data(json!({"a": 1}))));
        io.of("/plain")
            .use_middleware(|_| Err(ConnectError::new("nope")));
        let tx = connected_tx;
        io.ns("/guarded", move |s| {
            let _ = tx.send(s.ns().to_owned());
        })
        .use_middleware(|s| {
            match s.handshake().auth.get("token").and_then(Value::as_str) {
                Some("secret") => Ok(()),
                _ => Err(ConnectError::new("unauthorized")),
            }
        });
    });
    let (mut ws, _sid) = eio_handshake_ws(server.addr).await;
    send_text(&mut ws, "40/admin,").await;
    assert_eq!(
        recv_text(&mut ws).await,
        r#"44/admin,{"message":"nope","data":{"a":1}}"#
    );
    send_text(&mut ws, "40/plain,").await;
    assert_eq!(recv_text(&mut ws).await, r#"44/plain,{"message":"nope"}"#);
    send_text(&mut ws, r#"40/guarded,{"token":"wrong"}"#).await;
    assert_eq!(
        recv_text(&mut ws).await,
        r#"44/guarded,{"message":"unauthorized"}"#
    );
    // A refused namespace can be tried again.
    send_text(&mut ws, r#"40/guarded,{"token":"secret"}"#).await;
    expect_connect(&mut ws, "/guarded,").await;
    assert_eq!(next_seen(&mut connected).await, "/guarded");
    // The session is still usable.
    send_text(&mut ws, "40").await;
    expect_connect(&mut ws, "").await;
    send_text(&mut ws, r#"42["echo",3]"#).await;
    assert_eq!(recv_text(&mut ws).await, r#"42["echo",3]"#);
    assert!(
        connected.try_recv().is_err(),
        "a refused socket never reaches the connect handler"
    );
    well_behaved_check(server.addr).await;
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Point {
    x: i32,
    y: i32,
}

fn events_setup(io: &SocketIo) {
    io.ns("/", |socket| {
        socket.on("echo", |s, e| {
            let _ = s.emit_payload("echo", e.payload().clone());
        });
        socket.on("sum", |s, e| {
            let (a, b, c): (i32, i32, i32) = e.args().expect("three numbers");
            let _ = s.emit("sum", &(a + b + c));
        });
        socket.on("greet", |s, mut e| {
            let (name, times): (String, usize) = e.args().expect("name and count");
            let _ = s.emit("greet", &name.repeat(times));
            let _ = e.ack(&"greeted");
        });
        socket.on("meta", |s, e| {
            let _ = s.emit(
                "meta",
                &json!({"name": e.name(), "len": e.payload().len(), "ack": e.wants_ack()}),
            );
        });
        socket.on_data("point", |s, p: Point, ack| {
            let _ = s.emit("point", &Point { x: p.y, y: p.x });
            if let Some(ack) = ack {
                let _ = ack.send("swapped");
            }
        });
    });
}

#[tokio::test]
async fn events_with_several_and_typed_arguments() {
    let server = start(Config::default(), events_setup);
    let (mut ws, _sid, _id) = sio_connect_ws(server.addr).await;

    send_text(&mut ws, r#"42["sum",1,2,3]"#).await;
    assert_eq!(recv_text(&mut ws).await, r#"42["sum",6]"#);

    send_text(&mut ws, r#"429["greet","ab",3]"#).await;
    assert_eq!(recv_text(&mut ws).await, r#"42["greet","ababab"]"#);
    assert_eq!(recv_text(&mut ws).await, r#"439["greeted"]"#);

    send_text(&mut ws, r#"42["meta",1,{"a":[]},null]"#).await;
    assert_eq!(
        recv_text(&mut ws).await,
        r#"42["meta",{"name":"meta","len":3,"ack":false}]"#
    );
    send_text(&mut ws, r#"4212["meta"]"#).await;
    assert_eq!(
        recv_text(&mut ws).await,
        r#"42["meta",{"name":"meta","len":0,"ack":true}]"#
    );

    send_text(&mut ws, r#"42["point",{"x":1,"y":2}]"#).await;
    assert_eq!(recv_text(&mut ws).await, r#"42["point",{"x":2,"y":1}]"#);
    send_text(&mut ws, r#"425["point",{"x":5,"y":6}]"#).await;
    assert_eq!(recv_text(&mut ws).await, r#"42["point",{"x":6,"y":5}]"#);
    assert_eq!(recv_text(&mut ws).await, r#"435["swapped"]"#);

    // An argument that does not deserialize: no handler call, the ack carries the error.
    send_text(&mut ws, r#"426["point","nope"]"#).await;
    let answer = recv_text(&mut ws).await;
    let json = answer
        .strip_prefix("436")
        .unwrap_or_else(|| panic!("ack 6 expected, got {answer:?}"));
    let json: Value = serde_json::from_str(json).unwrap();
    let error = json[0]["error"].as_str().expect("an error string");
    assert!(error.starts_with("invalid argument"), "{error}");
    assert_eq!(json.as_array().map(Vec::len), Some(1));
    // Without an ack it is dropped quietly; the session goes on.
    send_text(&mut ws, r#"42["point",7]"#).await;
    send_text(&mut ws, r#"42["echo","still"]"#).await;
    assert_eq!(recv_text(&mut ws).await, r#"42["echo","still"]"#);
    well_behaved_check(server.addr).await;
}

fn ack_ns(io: &SocketIo, name: &str) {
    io.ns(name, |socket| {
        socket.on("ack-me", |_, e| {
            let (_, payload, ack) = e.into_parts();
            if let Some(ack) = ack {
                ack.send_payload(payload);
            }
        });
    });
}

#[tokio::test]
async fn client_acks_with_namespace_and_id() {
    let server = start(Config::default(), |io| {
        echo_setup(io);
        ack_ns(io, "/admin");
    });
    let (mut ws, _sid, _id) = sio_connect_ws(server.addr).await;
    join(&mut ws, "/admin").await;
    send_text(&mut ws, r#"42/admin,7["ack-me","x",2]"#).await;
    assert_eq!(recv_text(&mut ws).await, r#"43/admin,7["x",2]"#);
    send_text(&mut ws, r#"42/admin,8["ack-me"]"#).await;
    assert_eq!(recv_text(&mut ws).await, r#"43/admin,8[]"#);
    send_text(
        &mut ws,
        r#"42/admin,18446744073709551615["ack-me",{"k":null}]"#,
    )
    .await;
    assert_eq!(
        recv_text(&mut ws).await,
        r#"43/admin,18446744073709551615[{"k":null}]"#
    );
    // No ack requested: none sent.
    send_text(&mut ws, r#"42/admin,["ack-me","quiet"]"#).await;
    send_text(&mut ws, r#"42["echo","next"]"#).await;
    assert_eq!(recv_text(&mut ws).await, r#"42["echo","next"]"#);
    well_behaved_check(server.addr).await;
}

fn binary_setup(io: &SocketIo, seen: UnboundedSender<Vec<Vec<u8>>>) {
    io.ns("/", move |socket| {
        socket.on("echo", |s, e| {
            let _ = s.emit_payload("echo", e.payload().clone());
        });
        let seen = seen.clone();
        socket.on("bin", move |s, e| {
            let data = e.payload().bytes(0).expect("binary argument 0").clone();
            let _ = seen.send(
                e.payload()
                    .attachments()
                    .iter()
                    .map(|b| b.to_vec())
                    .collect(),
            );
            let _ = s.emit_payload("bin-reply", Payload::new().binary(data));
        });
        socket.on("nested", |s, _| {
            let mut payload = Payload::new();
            let file = payload.attach(vec![9u8, 8, 7]);
            let payload = payload.value(json!({"file": file, "name": "n"}));
            let _ = s.emit_payload("nested", payload);
        });
        socket.on("bin-ack", |_, e| {
            let (_, payload, ack) = e.into_parts();
            if let Some(ack) = ack {
                let data = payload.bytes(0).cloned().unwrap_or_default();
                ack.send_payload(Payload::new().arg("got").unwrap().binary(data));
            }
        });
    });
}

#[tokio::test]
async fn binary_attachments_over_websocket() {
    let (tx, mut seen) = unbounded_channel();
    let server = start(Config::default(), move |io| binary_setup(io, tx));
    let (mut ws, _sid, _id) = sio_connect_ws(server.addr).await;

    send_text(&mut ws, r#"451-["bin",{"_placeholder":true,"num":0}]"#).await;
    send_binary(&mut ws, &[1, 2, 3]).await;
    assert_eq!(next_seen(&mut seen).await, vec![vec![1u8, 2, 3]]);
    assert_eq!(
        recv_text(&mut ws).await,
        r#"451-["bin-reply",{"_placeholder":true,"num":0}]"#
    );
    assert_eq!(recv_binary(&mut ws).await, vec![1u8, 2, 3]);

    // Two attachments, nested and out of order, echoed unchanged.
    send_text(
        &mut ws,
        r#"452-["echo",{"b":{"_placeholder":true,"num":1}},[{"_placeholder":true,"num":0}]]"#,
    )
    .await;
    send_binary(&mut ws, &[0xAA]).await;
    send_binary(&mut ws, &[]).await;
    assert_eq!(
        recv_text(&mut ws).await,
        r#"452-["echo",{"b":{"_placeholder":true,"num":1}},[{"_placeholder":true,"num":0}]]"#
    );
    assert_eq!(recv_binary(&mut ws).await, vec![0xAAu8]);
    assert_eq!(recv_binary(&mut ws).await, Vec::<u8>::new());

    send_text(&mut ws, r#"42["nested"]"#).await;
    assert_eq!(
        recv_text(&mut ws).await,
        r#"451-["nested",{"file":{"_placeholder":true,"num":0},"name":"n"}]"#
    );
    assert_eq!(recv_binary(&mut ws).await, vec![9u8, 8, 7]);

    // A binary event with an ack, answered with a binary ack.
    send_text(&mut ws, r#"451-4["bin-ack",{"_placeholder":true,"num":0}]"#).await;
    send_binary(&mut ws, &[5, 5]).await;
    assert_eq!(
        recv_text(&mut ws).await,
        r#"461-4["got",{"_placeholder":true,"num":0}]"#
    );
    assert_eq!(recv_binary(&mut ws).await, vec![5u8, 5]);
    well_behaved_check(server.addr).await;
}

/// GETs until the collected polling records contain `want` records.
async fn poll_records(addr: SocketAddr, sid: &str, want: usize) -> Vec<String> {
    let mut records = Vec::new();
    while records.len() < want {
        let res = poll_get(addr, sid).await;
        assert_eq!(res.status, 200, "{:?}", res.text());
        records.extend(res.text().split('\x1e').map(str::to_owned));
    }
    records
}

#[tokio::test]
async fn binary_attachments_over_polling() {
    let (tx, mut seen) = unbounded_channel();
    let server = start(Config::default(), move |io| binary_setup(io, tx));
    let (sid, _id) = polling_connect(server.addr).await;

    poll_post_ok(
        server.addr,
        &sid,
        "451-[\"bin\",{\"_placeholder\":true,\"num\":0}]\x1ebAQID",
    )
    .await;
    assert_eq!(next_seen(&mut seen).await, vec![vec![1u8, 2, 3]]);
    assert_eq!(
        poll_records(server.addr, &sid, 2).await,
        vec![
            r#"451-["bin-reply",{"_placeholder":true,"num":0}]"#.to_owned(),
            "bAQID".to_owned()
        ]
    );

    // Header and attachment may arrive in separate POSTs.
    poll_post_ok(
        server.addr,
        &sid,
        "451-[\"bin\",{\"_placeholder\":true,\"num\":0}]",
    )
    .await;
    poll_post_ok(server.addr, &sid, "b/w==").await;
    assert_eq!(next_seen(&mut seen).await, vec![vec![0xFFu8]]);
    assert_eq!(
        poll_records(server.addr, &sid, 2).await,
        vec![
            r#"451-["bin-reply",{"_placeholder":true,"num":0}]"#.to_owned(),
            "b/w==".to_owned()
        ]
    );

    poll_post_ok(server.addr, &sid, r#"42["nested"]"#).await;
    assert_eq!(
        poll_records(server.addr, &sid, 2).await,
        vec![
            r#"451-["nested",{"file":{"_placeholder":true,"num":0},"name":"n"}]"#.to_owned(),
            "bCQgH".to_owned()
        ]
    );
    well_behaved_check(server.addr).await;
}

/// `ask [timeout_ms]` → `emit_with_ack("question", "ready?")`; the outcome goes to the test.
fn ask_setup(io: &SocketIo, results: UnboundedSender<Result<Payload, AckError>>) {
    io.ns("/", move |socket| {
        let results = results.clone();
        socket.on("ask", move |s, e| {
            let ms: u64 = e.data().unwrap_or(2000);
            let results = results.clone();
            actix::spawn(async move {
                let answer = s
                    .emit_with_ack("question", "ready?", Duration::from_millis(ms))
                    .await;
                let _ = results.send(answer);
            });
        });
        socket.on("echo", |s, e| {
            let _ = s.emit_payload("echo", e.payload().clone());
        });
    });
}

/// Reads `42<id>["question","ready?"]`; the ack id.
async fn read_question(ws: &mut Ws) -> u64 {
    let text = recv_text(ws).await;
    let rest = text
        .strip_prefix("42")
        .unwrap_or_else(|| panic!("question expected, got {text:?}"));
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    assert_eq!(
        &rest[digits.len()..],
        r#"["question","ready?"]"#,
        "{text:?}"
    );
    digits.parse().expect("the server asks for an ack")
}

#[tokio::test]
async fn emit_with_ack_resolves_with_the_client_answer() {
    let (tx, mut results) = unbounded_channel();
    let server = start(Config::default(), move |io| ask_setup(io, tx));
    let (mut ws, _sid, _id) = sio_connect_ws(server.addr).await;

    send_text(&mut ws, r#"42["ask"]"#).await;
    let id = read_question(&mut ws).await;
    send_text(&mut ws, &format!(r#"43{id}["yes",1]"#)).await;
    let answer = next_seen(&mut results).await.expect("answered");
    assert_eq!(answer.args(), &[json!("yes"), json!(1)]);

    // The next question has another id; a binary answer works too.
    send_text(&mut ws, r#"42["ask"]"#).await;
    let second = read_question(&mut ws).await;
    assert_ne!(second, id);
    send_text(
        &mut ws,
        &format!(r#"461-{second}[{{"_placeholder":true,"num":0}}]"#),
    )
    .await;
    send_binary(&mut ws, &[4, 2]).await;
    let answer = next_seen(&mut results).await.expect("answered");
    assert_eq!(answer.bytes(0).map(|b| b.to_vec()), Some(vec![4u8, 2]));

    // Answering twice: the second is ignored.
    send_text(&mut ws, &format!(r#"43{id}["again"]"#)).await;
    send_text(&mut ws, r#"42["echo",0]"#).await;
    assert_eq!(recv_text(&mut ws).await, r#"42["echo",0]"#);
    assert!(results.try_recv().is_err());
    well_behaved_check(server.addr).await;
}

#[tokio::test]
async fn emit_with_ack_times_out() {
    let (tx, mut results) = unbounded_channel();
    let server = start(Config::default(), move |io| ask_setup(io, tx));
    let (mut ws, _sid, _id) = sio_connect_ws(server.addr).await;
    send_text(&mut ws, r#"42["ask",200]"#).await;
    let asked = Instant::now();
    let id = read_question(&mut ws).await;
    let outcome = next_seen(&mut results).await;
    assert_eq!(outcome, Err(AckError::Timeout));
    assert!(
        asked.elapsed() >= Duration::from_millis(150),
        "timed out after {:?}",
        asked.elapsed()
    );
    // A late answer is ignored and harmless.
    send_text(&mut ws, &format!(r#"43{id}["late"]"#)).await;
    send_text(&mut ws, r#"42["echo","alive"]"#).await;
    assert_eq!(recv_text(&mut ws).await, r#"42["echo","alive"]"#);
    assert!(results.try_recv().is_err());
    well_behaved_check(server.addr).await;
}

#[tokio::test]
async fn emit_with_ack_fails_when_the_client_goes_away() {
    let (tx, mut results) = unbounded_channel();
    let server = start(Config::default(), move |io| ask_setup(io, tx));

    // The connection closes.
    let (mut ws, _sid, _id) = sio_connect_ws(server.addr).await;
    send_text(&mut ws, r#"42["ask",5000]"#).await;
    read_question(&mut ws).await;
    timeout(STEP, futures_util::SinkExt::close(&mut ws))
        .await
        .unwrap()
        .unwrap();
    let started = Instant::now();
    assert_eq!(next_seen(&mut results).await, Err(AckError::Disconnected));
    assert!(started.elapsed() < Duration::from_secs(1));

    // The client leaves the namespace.
    let (mut ws, _sid, _id) = sio_connect_ws(server.addr).await;
    send_text(&mut ws, r#"42["ask",5000]"#).await;
    read_question(&mut ws).await;
    send_text(&mut ws, "41").await;
    assert_eq!(next_seen(&mut results).await, Err(AckError::Disconnected));
    well_behaved_check(server.addr).await;
}

#[tokio::test]
async fn server_namespace_disconnect() {
    let (server, mut sockets, mut reasons) = reporting_server(Config::default());
    let (mut ws, _sid, _id) = sio_connect_ws(server.addr).await;
    let root = next_seen(&mut sockets).await;
    join(&mut ws, "/admin").await;
    let admin = next_seen(&mut sockets).await;

    send_text(&mut ws, r#"42["kick"]"#).await;
    assert_eq!(recv_text(&mut ws).await, "41");
    assert_eq!(
        next_seen(&mut reasons).await,
        ("/".to_owned(), DisconnectReason::ServerNamespaceDisconnect)
    );
    assert!(!root.connected());
    assert!(matches!(
        root.emit("late", &1),
        Err(EmitError::Disconnected)
    ));

    send_text(&mut ws, r#"42/admin,["kick"]"#).await;
    assert_eq!(recv_text(&mut ws).await, "41/admin,");
    assert_eq!(
        next_seen(&mut reasons).await,
        (
            "/admin".to_owned(),
            DisconnectReason::ServerNamespaceDisconnect
        )
    );
    assert!(!admin.connected());

    // Disconnecting from the test thread works the same way.
    join(&mut ws, "/admin").await;
    let admin = next_seen(&mut sockets).await;
    admin.disconnect();
    assert_eq!(recv_text(&mut ws).await, "41/admin,");
    assert_eq!(
        next_seen(&mut reasons).await,
        (
            "/admin".to_owned(),
            DisconnectReason::ServerNamespaceDisconnect
        )
    );

    // The session stays; `/` can be joined again.
    send_text(&mut ws, "40").await;
    expect_connect(&mut ws, "").await;
    send_text(&mut ws, r#"42["echo",1]"#).await;
    assert_eq!(recv_text(&mut ws).await, r#"42["echo",1]"#);
    assert!(reasons.try_recv().is_err());
    well_behaved_check(server.addr).await;
}

#[tokio::test]
async fn client_namespace_disconnect() {
    let (server, mut sockets, mut reasons) = reporting_server(Config::default());
    let (mut ws, _sid, _id) = sio_connect_ws(server.addr).await;
    let root = next_seen(&mut sockets).await;
    send_text(&mut ws, "41").await;
    assert_eq!(
        next_seen(&mut reasons).await,
        ("/".to_owned(), DisconnectReason::ClientNamespaceDisconnect)
    );
    assert!(!root.connected());
    join(&mut ws, "/admin").await;
    send_text(&mut ws, "41/admin,").await;
    assert_eq!(
        next_seen(&mut reasons).await,
        (
            "/admin".to_owned(),
            DisconnectReason::ClientNamespaceDisconnect
        )
    );
    expect_silence(&mut ws, Duration::from_millis(100)).await;
    assert_eq!(server.io.session_count(), 1);
    well_behaved_check(server.addr).await;
}

#[tokio::test]
async fn transport_close_disconnects_every_namespace() {
    let (server, _sockets, mut reasons) = reporting_server(Config::default());
    let (mut ws, _sid, _id) = sio_connect_ws(server.addr).await;
    join(&mut ws, "/admin").await;
    timeout(STEP, futures_util::SinkExt::close(&mut ws))
        .await
        .unwrap()
        .unwrap();
    let mut got = vec![next_seen(&mut reasons).await, next_seen(&mut reasons).await];
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        got,
        vec![
            ("/".to_owned(), DisconnectReason::TransportClose),
            ("/admin".to_owned(), DisconnectReason::TransportClose),
        ]
    );
    assert!(
        eventually(STEP, || async { server.io.session_count() == 0 }).await,
        "the session is forgotten"
    );
    well_behaved_check(server.addr).await;
}

#[tokio::test]
async fn close_connection_closes_without_a_disconnect_packet() {
    let (server, mut sockets, mut reasons) = reporting_server(Config::default());
    let (mut ws, sid, _id) = sio_connect_ws(server.addr).await;
    let _root = next_seen(&mut sockets).await;
    join(&mut ws, "/admin").await;
    send_text(&mut ws, r#"42/admin,["drop"]"#).await;
    let (before, _ending) = expect_closed(&mut ws).await;
    assert!(before.is_empty(), "no `41` expected: {before:?}");
    let mut got = vec![next_seen(&mut reasons).await, next_seen(&mut reasons).await];
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        got,
        vec![
            ("/".to_owned(), DisconnectReason::ForcedServerClose),
            ("/admin".to_owned(), DisconnectReason::ForcedServerClose),
        ]
    );
    assert_sid_unknown(server.addr, &sid).await;
    well_behaved_check(server.addr).await;
}

#[tokio::test]
async fn two_namespaces_on_one_session() {
    let (server, _sockets, mut reasons) = reporting_server(Config::default());
    let (mut ws, _sid, _id) = sio_connect_ws(server.addr).await;
    join(&mut ws, "/admin").await;
    send_text(&mut ws, r#"42["echo","root"]"#).await;
    assert_eq!(recv_text(&mut ws).await, r#"42["echo","root"]"#);
    send_text(&mut ws, r#"42/admin,["echo","admin"]"#).await;
    assert_eq!(recv_text(&mut ws).await, r#"42/admin,["echo","admin"]"#);

    // Leaving /admin keeps /.
    send_text(&mut ws, "41/admin,").await;
    assert_eq!(next_seen(&mut reasons).await.0, "/admin");
    send_text(&mut ws, r#"42["echo","root again"]"#).await;
    assert_eq!(recv_text(&mut ws).await, r#"42["echo","root again"]"#);

    // Leaving / keeps /admin.
    join(&mut ws, "/admin").await;
    send_text(&mut ws, "41").await;
    assert_eq!(next_seen(&mut reasons).await.0, "/");
    send_text(&mut ws, r#"42/admin,["echo","admin again"]"#).await;
    assert_eq!(
        recv_text(&mut ws).await,
        r#"42/admin,["echo","admin again"]"#
    );
    well_behaved_check(server.addr).await;
}

#[tokio::test]
async fn upgrade_from_polling_to_websocket() {
    let (server, _sockets, _reasons) = reporting_server(Config::default());
    let addr = server.addr;
    let (sid, _id) = polling_connect(addr).await;

    let waiting = {
        let sid = sid.clone();
        tokio::spawn(async move { poll_get(addr, &sid).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut ws = ws_connect(addr, &format!("EIO=4&transport=websocket&sid={sid}")).await;
    send_text(&mut ws, "2probe").await;
    assert_eq!(recv_text(&mut ws).await, "3probe");
    let probed = Instant::now();
    let res = timeout(Duration::from_millis(500), waiting)
        .await
        .expect("the waiting GET is released")
        .unwrap();
    assert_eq!((res.status, res.text()), (200, "6".to_owned()));
    assert!(probed.elapsed() <= Duration::from_millis(300));

    // Any GET before the upgrade completes is answered `6` too (the client pauses polling).
    let asked = Instant::now();
    let res = poll_get(addr, &sid).await;
    assert_eq!((res.status, res.text()), (200, "6".to_owned()));
    assert!(asked.elapsed() <= Duration::from_millis(300));

    // Until `5`, output still goes through polling: it waits for the new transport.
    poll_post_ok(addr, &sid, r#"42["echo","before"]"#).await;
    send_text(&mut ws, "5").await;
    assert_eq!(recv_text(&mut ws).await, r#"42["echo","before"]"#);
    send_text(&mut ws, r#"42["echo","after"]"#).await;
    assert_eq!(recv_text(&mut ws).await, r#"42["echo","after"]"#);

    let res = poll_get(addr, &sid).await;
    assert_eio_error(&res, 400, 3, "Bad request");
    let res = http_post(addr, &poll_url(&sid), br#"42["echo","x"]"#, &[]).await;
    assert_eio_error(&res, 400, 3, "Bad request");

    // A second WebSocket for the same sid is accepted, then closed.
    let mut second = ws_connect(addr, &format!("EIO=4&transport=websocket&sid={sid}")).await;
    let (before, _) = expect_closed(&mut second).await;
    assert!(before.is_empty(), "{before:?}");

    // The upgraded transport is unaffected.
    send_text(&mut ws, r#"42["echo","still"]"#).await;
    assert_eq!(recv_text(&mut ws).await, r#"42["echo","still"]"#);
    assert_eq!(server.io.session_count(), 1);
    well_behaved_check(addr).await;
}

#[tokio::test]
async fn bad_probe_closes_only_the_probe() {
    let (server, _sockets, _reasons) = reporting_server(Config::default());
    let addr = server.addr;
    let (sid, _id) = polling_connect(addr).await;
    let mut probe = ws_connect(addr, &format!("EIO=4&transport=websocket&sid={sid}")).await;
    send_text(&mut probe, r#"42["echo","on the probe"]"#).await;
    let (before, _) = expect_closed(&mut probe).await;
    assert!(before.is_empty(), "{before:?}");
    // The session goes on over polling.
    poll_post_ok(addr, &sid, r#"42["echo","polling"]"#).await;
    let res = poll_get(addr, &sid).await;
    assert_eq!(res.text(), r#"42["echo","polling"]"#);
    well_behaved_check(addr).await;
}

#[tokio::test]
async fn server_close_over_polling_is_collected_by_the_next_get() {
    let (server, mut sockets, mut reasons) = reporting_server(Config::default());
    let addr = server.addr;
    let (sid, _id) = polling_connect(addr).await;
    let socket = next_seen(&mut sockets).await;
    let _ = socket.emit("bye", &"now");
    socket.close_connection();
    assert_eq!(
        next_seen(&mut reasons).await,
        ("/".to_owned(), DisconnectReason::ForcedServerClose)
    );
    let res = poll_get(addr, &sid).await;
    assert_eq!(res.status, 200);
    let body = res.text();
    assert!(body.ends_with('1'), "{body:?}");
    assert_eq!(body, "42[\"bye\",\"now\"]\x1e1");
    let res = poll_get(addr, &sid).await;
    assert_eq!(res.status, 400, "{:?}", res.text());
    well_behaved_check(addr).await;
}

#[tokio::test]
async fn server_close_over_polling_answers_the_waiting_get() {
    let (server, mut sockets, _reasons) = reporting_server(Config::default());
    let addr = server.addr;
    let (sid, _id) = polling_connect(addr).await;
    let socket = next_seen(&mut sockets).await;
    let waiting = {
        let sid = sid.clone();
        tokio::spawn(async move { poll_get(addr, &sid).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    socket.close_connection();
    let res = timeout(STEP, waiting).await.unwrap().unwrap();
    assert_eq!((res.status, res.text()), (200, "1".to_owned()));
    assert_sid_unknown(addr, &sid).await;
    well_behaved_check(addr).await;
}

#[tokio::test]
async fn server_emit_reaches_a_waiting_get() {
    let (server, mut sockets, _reasons) = reporting_server(Config::default());
    let addr = server.addr;
    let (sid, _id) = polling_connect(addr).await;
    let socket = next_seen(&mut sockets).await;
    let waiting = {
        let sid = sid.clone();
        tokio::spawn(async move { poll_get(addr, &sid).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    socket.emit("news", &json!({"n": 1})).unwrap();
    let res = timeout(STEP, waiting).await.unwrap().unwrap();
    assert_eq!(res.text(), r#"42["news",{"n":1}]"#);
    well_behaved_check(addr).await;
}

#[tokio::test]
async fn second_websocket_on_a_websocket_session_is_closed() {
    let (server, _sockets, _reasons) = reporting_server(Config::default());
    let (mut ws, sid, _id) = sio_connect_ws(server.addr).await;
    let mut second = ws_connect(server.addr, &format!("EIO=4&transport=websocket&sid={sid}")).await;
    let (before, _) = expect_closed(&mut second).await;
    assert!(before.is_empty(), "{before:?}");
    send_text(&mut ws, r#"42["echo","first"]"#).await;
    assert_eq!(recv_text(&mut ws).await, r#"42["echo","first"]"#);
    well_behaved_check(server.addr).await;
}

#[tokio::test]
async fn probe_broken_after_2probe_keeps_polling() {
    let (server, _sockets, _reasons) = reporting_server(Config::default());
    let addr = server.addr;
    let (sid, _id) = polling_connect(addr).await;
    let mut probe = ws_connect(addr, &format!("EIO=4&transport=websocket&sid={sid}")).await;
    send_text(&mut probe, "2probe").await;
    assert_eq!(recv_text(&mut probe).await, "3probe");
    send_text(&mut probe, "6").await;
    let (before, _) = expect_closed(&mut probe).await;
    assert!(before.is_empty(), "{before:?}");
    poll_post_ok(addr, &sid, r#"42["echo","polling"]"#).await;
    let mut body = poll_get(addr, &sid).await.text();
    while body == "6" {
        body = poll_get(addr, &sid).await.text();
    }
    assert_eq!(body, r#"42["echo","polling"]"#);
    // A new probe can then complete the upgrade.
    let mut ws = ws_connect(addr, &format!("EIO=4&transport=websocket&sid={sid}")).await;
    send_text(&mut ws, "2probe").await;
    assert_eq!(recv_text(&mut ws).await, "3probe");
    send_text(&mut ws, "5").await;
    send_text(&mut ws, r#"42["echo","ws"]"#).await;
    assert_eq!(recv_text(&mut ws).await, r#"42["echo","ws"]"#);
    well_behaved_check(addr).await;
}

#[tokio::test]
async fn upgrade_timeout_closes_only_the_probe() {
    let (server, _sockets, _reasons) =
        reporting_server(Config::default().with_upgrade_timeout(Duration::from_millis(200)));
    let addr = server.addr;
    let (sid, _id) = polling_connect(addr).await;
    let mut probe = ws_connect(addr, &format!("EIO=4&transport=websocket&sid={sid}")).await;
    send_text(&mut probe, "2probe").await;
    assert_eq!(recv_text(&mut probe).await, "3probe");
    let started = Instant::now();
    let (before, _) = expect_closed(&mut probe).await;
    assert!(before.is_empty(), "{before:?}");
    assert!(started.elapsed() >= Duration::from_millis(100));
    poll_post_ok(addr, &sid, r#"42["echo","polling"]"#).await;
    let mut body = poll_get(addr, &sid).await.text();
    while body == "6" {
        body = poll_get(addr, &sid).await.text();
    }
    assert_eq!(body, r#"42["echo","polling"]"#);
    well_behaved_check(addr).await;
}

#[tokio::test]
async fn binary_ack_in_a_namespace() {
    let (tx, _seen) = unbounded_channel();
    let server = start(Config::default(), move |io| {
        binary_setup(io, tx.clone());
        io.ns("/admin", |socket| {
            socket.on("bin-ack", |_, e| {
                let (_, payload, ack) = e.into_parts();
                if let Some(ack) = ack {
                    let data = payload.bytes(0).cloned().unwrap_or_default();
                    ack.send_payload(Payload::new().binary(data));
                }
            });
        });
    });
    let (mut ws, _sid, _id) = sio_connect_ws(server.addr).await;
    join(&mut ws, "/admin").await;
    send_text(
        &mut ws,
        r#"451-/admin,3["bin-ack",{"_placeholder":true,"num":0}]"#,
    )
    .await;
    send_binary(&mut ws, &[1, 2]).await;
    assert_eq!(
        recv_text(&mut ws).await,
        r#"461-/admin,3[{"_placeholder":true,"num":0}]"#
    );
    assert_eq!(recv_binary(&mut ws).await, vec![1u8, 2]);
    well_behaved_check(server.addr).await;
}

#[tokio::test]
async fn slow_polling_consumer_is_disconnected() {
    let (server, mut sockets, mut reasons) =
        reporting_server(Config::default().with_max_buffered(1 << 20, 8));
    let addr = server.addr;
    let (sid, _id) = polling_connect(addr).await;
    let socket = next_seen(&mut sockets).await;
    for n in 0..20 {
        let _ = socket.emit("flood", &n);
    }
    assert_eq!(
        next_seen(&mut reasons).await,
        ("/".to_owned(), DisconnectReason::TransportError)
    );
    let res = poll_get(addr, &sid).await;
    if res.status == 200 {
        assert!(res.text().ends_with('1'), "{:?}", res.text());
    } else {
        assert_eio_error(&res, 400, 1, "Session ID unknown");
    }
    well_behaved_check(addr).await;
}

#[tokio::test]
async fn a_panicking_or_failing_handler_ends_only_that_event() {
    let server = start(Config::default(), |io| {
        echo_setup(io);
        io.ns("/boom", |socket| {
            socket.on("panic", |_, _| {
                if true {
                    panic!("handler panic (expected by the test)")
                }
            });
            socket.on("fail", |_, _| Err::<(), _>("failed on purpose"));
            socket.on("async-panic", |_, _| async {
                tokio::task::yield_now().await;
                if true {
                    panic!("async handler panic (expected by the test)")
                }
            });
            socket.on("ping", |socket, _| {
                let _ = socket.emit("pong", &1);
            });
        });
    });
    let (mut ws, _sid, _id) = sio_connect_ws(server.addr).await;
    join(&mut ws, "/boom").await;
    for event in ["panic", "fail", "async-panic"] {
        send_text(&mut ws, &format!(r#"42/boom,["{event}"]"#)).await;
        send_text(&mut ws, r#"42/boom,["ping"]"#).await;
        assert_eq!(
            recv_text_answering_pings(&mut ws).await,
            r#"42/boom,["pong",1]"#,
            "after {event}"
        );
    }
    well_behaved_check(server.addr).await;
}
