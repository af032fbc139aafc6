//! The async API over raw WebSockets, where the official clients cannot go: a client flooding a
//! slow async handler, a second CONNECT while the first waits for an async middleware, a
//! session that closes during a middleware, hundreds of dynamic namespaces that must not stay,
//! and the ordering and state guarantees seen on the wire.

mod common;

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, OnceLock,
    },
    time::Duration,
};

use actix_socketio::{Config, ConnectError, DynNamespace, SocketIo};
use common::*;

fn slow_setup(io: &SocketIo) {
    echo_setup(io);
    io.ns("/slow", |socket| {
        socket.on("wait", |socket, _| async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let _ = socket.emit("waited", &1);
        });
        socket.on("n", |socket, event| {
            let n: u64 = event.data().unwrap_or(0);
            let _ = socket.emit("n", &n);
        });
    });
    io.of("/gate").use_middleware(|socket| {
        let socket = socket.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let open = socket.handshake().auth["open"] == true;
            open.then_some(())
                .ok_or_else(|| ConnectError::new("closed"))
        }
    });
    io.ns("/gate", |socket| {
        let _ = socket.emit("in", &socket.id());
    });
}

#[tokio::test]
async fn events_wait_in_order_behind_an_async_handler() {
    let server = start(Config::default(), slow_setup);
    let (mut ws, _sid, _id) = sio_connect_ws(server.addr).await;
    send_text(&mut ws, "40/slow,").await;
    expect_connect(&mut ws, "/slow,").await;
    send_text(&mut ws, r#"42/slow,["wait"]"#).await;
    for n in 0..20 {
        send_text(&mut ws, &format!(r#"42/slow,["n",{n}]"#)).await;
    }
    assert_eq!(
        recv_text_answering_pings(&mut ws).await,
        r#"42/slow,["waited",1]"#
    );
    for n in 0..20 {
        assert_eq!(
            recv_text_answering_pings(&mut ws).await,
            format!(r#"42/slow,["n",{n}]"#)
        );
    }
}

#[tokio::test]
async fn flooding_a_slow_handler_closes_only_that_session() {
    let server = start(Config::default(), slow_setup);
    let (mut good, _sid, _id) = sio_connect_ws(server.addr).await;
    let (mut ws, sid, _id) = sio_connect_ws(server.addr).await;
    send_text(&mut ws, "40/slow,").await;
    expect_connect(&mut ws, "/slow,").await;
    send_text(&mut ws, r#"42/slow,["wait"]"#).await;
    // One more than may wait behind the running handler.
    for n in 0..=1024 {
        send_text(&mut ws, &format!(r#"42/slow,["n",{n}]"#)).await;
    }
    expect_closed(&mut ws).await;
    assert_sid_unknown(server.addr, &sid).await;
    send_text(&mut good, r#"42["echo","fine"]"#).await;
    assert_eq!(
        recv_text_answering_pings(&mut good).await,
        r#"42["echo","fine"]"#
    );
    well_behaved_check(server.addr).await;
}

#[tokio::test]
async fn a_second_connect_during_an_async_middleware_is_a_protocol_error() {
    let server = start(Config::default(), slow_setup);
    let (mut ws, sid) = eio_handshake_ws(server.addr).await;
    send_text(&mut ws, r#"40/gate,{"open":true}"#).await;
    send_text(&mut ws, r#"40/gate,{"open":true}"#).await;
    expect_closed(&mut ws).await;
    assert_sid_unknown(server.addr, &sid).await;
    well_behaved_check(server.addr).await;
}

#[tokio::test]
async fn nothing_reaches_a_socket_before_its_async_middleware_passed() {
    let server = start(Config::default(), slow_setup);
    let (mut inside, _sid) = eio_handshake_ws(server.addr).await;
    send_text(&mut inside, r#"40/gate,{"open":true}"#).await;
    expect_connect(&mut inside, "/gate,").await;
    assert!(recv_text_answering_pings(&mut inside)
        .await
        .starts_with(r#"42/gate,["in","#));
    let (mut waiting, _sid) = eio_handshake_ws(server.addr).await;
    send_text(&mut waiting, r#"40/gate,{"open":true}"#).await;
    // Broadcast while the second socket waits for its middleware: not for it.
    server.io.of("/gate").emit("news", &1).unwrap();
    assert_eq!(
        recv_text_answering_pings(&mut inside).await,
        r#"42/gate,["news",1]"#
    );
    expect_connect(&mut waiting, "/gate,").await;
    assert!(recv_text_answering_pings(&mut waiting)
        .await
        .starts_with(r#"42/gate,["in","#));
    expect_silence(&mut waiting, Duration::from_millis(100)).await;
}

#[tokio::test]
async fn a_session_closed_during_an_async_middleware_leaves_nothing_behind() {
    let server = start(Config::default(), slow_setup);
    for _ in 0..20 {
        let (mut ws, _sid) = eio_handshake_ws(server.addr).await;
        send_text(&mut ws, r#"40/gate,{"open":true}"#).await;
        drop(ws);
    }
    let (mut ws, _sid) = eio_handshake_ws(server.addr).await;
    send_text(&mut ws, r#"40/gate,{"open":false}"#).await;
    assert_eq!(
        recv_text_answering_pings(&mut ws).await,
        r#"44/gate,{"message":"closed"}"#
    );
    drop(ws);
    let io = server.io.clone();
    let idle = eventually(Duration::from_secs(5), || {
        let stats = io.stats();
        async move { stats.sessions == 0 && stats.sockets == 0 && stats.rooms == 0 }
    })
    .await;
    assert!(idle, "left: {:?}", server.io.stats());
}

#[tokio::test]
async fn dynamic_children_come_and_go() {
    let connects = Arc::new(AtomicUsize::new(0));
    let seen = connects.clone();
    let handle = Arc::new(OnceLock::new());
    let keep = handle.clone();
    let server = start(Config::default(), move |io| {
        echo_setup(io);
        let tenants = io.dyn_ns("/t/{id}", move |socket| {
            seen.fetch_add(1, Ordering::Relaxed);
            let id = socket.namespace().param("id").unwrap_or("?").to_owned();
            let _ = socket.emit("id", &id);
        });
        let _ = keep.set(tenants);
    });
    let tenants: &DynNamespace = handle.get().expect("set by the setup");
    // One connection piling up 300 distinct children, then leaving each.
    let (mut ws, _sid) = eio_handshake_ws(server.addr).await;
    for n in 0..300 {
        send_text(&mut ws, &format!("40/t/{n},")).await;
        expect_connect(&mut ws, &format!("/t/{n},")).await;
        assert_eq!(
            recv_text_answering_pings(&mut ws).await,
            format!(r#"42/t/{n},["id","{n}"]"#)
        );
        send_text(&mut ws, &format!("41/t/{n},")).await;
    }
    assert_eq!(connects.load(Ordering::Relaxed), 300);
    // Names the pattern does not take.
    for name in ["/t", "/t/", "/t/a/b", "/x/1"] {
        send_text(&mut ws, &format!("40{name},")).await;
        assert_eq!(
            recv_text_answering_pings(&mut ws).await,
            format!(r#"44{name},{{"message":"Invalid namespace"}}"#)
        );
    }
    let gone = eventually(Duration::from_secs(5), || {
        let count = tenants.children().len();
        async move { count == 0 }
    })
    .await;
    assert!(gone, "{} children left", tenants.children().len());
    assert_eq!(server.io.stats().sockets, 0);
    assert_eq!(server.io.stats().rooms, 0);
    well_behaved_check(server.addr).await;
}
