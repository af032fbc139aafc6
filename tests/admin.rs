//! The admin instrumentation on the wire, where the JS suite (tests/js/admin.test.mjs, against
//! the demo) does not go: production mode, the order of the first frames, a server that is not
//! instrumented, and options `instrument` must refuse.

mod common;

use std::time::Duration;

use actix_socketio::{
    admin::{self, AdminAuth, AdminError, AdminOptions, Mode},
    Config, SocketIo,
};
use common::*;
use serde_json::{json, Value};

const LOGIN: &str = r#"40/admin,{"username":"root","password":"pw"}"#;

/// `42/admin,[name, ...args]` → (name, args).
fn admin_event(text: &str) -> (String, Vec<Value>) {
    let body = text
        .strip_prefix("42/admin,")
        .unwrap_or_else(|| panic!("an /admin event expected, got {text:?}"));
    let Value::Array(mut items) = serde_json::from_str(body).expect("event JSON") else {
        panic!("an event array expected, got {body}");
    };
    let name = items.remove(0).as_str().expect("event name").to_owned();
    (name, items)
}

fn instrumented(mode: Mode) -> impl FnOnce(&SocketIo) + Send + 'static {
    move |io: &SocketIo| {
        echo_setup(io);
        let mut options = AdminOptions::new(AdminAuth::basic("root", "pw"));
        options.mode = mode;
        options.server_id = Some("node-1".into());
        admin::instrument(io, options).expect("valid options");
    }
}

/// How long a test waits for a `server_stats`: they come every 2 s (the admin UI's
/// `serverStatsInterval`), as long as `STEP`.
const STATS_WAIT: Duration = Duration::from_secs(6);

#[actix_rt::test]
async fn production_mode_sends_only_statistics() {
    let server = start(Config::default(), instrumented(Mode::Production));
    let (mut ws, _) = eio_handshake_ws(server.addr).await;
    send_text(&mut ws, LOGIN).await;
    expect_connect(&mut ws, "/admin,").await;
    // The session id comes after the CONNECT, then the config.
    let (name, args) = admin_event(&recv_text_answering_pings(&mut ws).await);
    assert_eq!(name, "session");
    assert_eq!(args[0].as_str().expect("a session id").len(), 16);
    let (name, args) = admin_event(&recv_text_answering_pings(&mut ws).await);
    assert_eq!(name, "config");
    assert_eq!(
        args[0],
        json!({ "supportedFeatures": ["EMIT", "JOIN", "LEAVE", "DISCONNECT", "MJOIN", "MLEAVE",
                                      "MDISCONNECT", "AGGREGATED_EVENTS"] })
    );
    let (name, args) = admin_event(&recv_text_answering_pings(&mut ws).await);
    assert_eq!(name, "server_stats", "no all_sockets in production mode");
    assert_eq!(args[0]["serverId"], "node-1");

    // A user connects and talks: the admin gets statistics only, with the packets counted.
    let (mut user, _, _) = sio_connect_ws(server.addr).await;
    for _ in 0..3 {
        send_text(&mut user, r#"42["echo","hi"]"#).await;
        assert_eq!(recv_text(&mut user).await, r#"42["echo","hi"]"#);
    }
    let mut packets_in = 0;
    for _ in 0..2 {
        let (name, args) =
            admin_event(&recv_text_answering_pings_within(&mut ws, STATS_WAIT).await);
        assert_eq!(name, "server_stats", "production mode sent a live event");
        for event in args[0]["aggregatedEvents"].as_array().expect("events") {
            if event["type"] == "packetsIn" {
                packets_in += event["count"].as_u64().unwrap();
            }
        }
    }
    assert!(packets_in >= 3, "packetsIn {packets_in}");
}

#[actix_rt::test]
async fn a_server_not_instrumented_has_no_admin_namespace_and_counts_no_packets() {
    let server = start(Config::default(), echo_setup);
    let (mut ws, _) = eio_handshake_ws(server.addr).await;
    send_text(&mut ws, LOGIN).await;
    let text = recv_text(&mut ws).await;
    assert!(text.starts_with("44/admin,"), "{text}");
    assert!(text.contains("Invalid namespace"), "{text}");
    let (mut user, _, _) = sio_connect_ws(server.addr).await;
    send_text(&mut user, r#"42["echo","hi"]"#).await;
    recv_text(&mut user).await;
    let reading = server.io.meter().read();
    assert_eq!((reading.packets_in, reading.packets_out), (0, 0));
    assert_eq!(reading.websocket, 2);
}

#[actix_rt::test]
async fn the_meter_counts_only_while_an_admin_is_connected() {
    let server = start(Config::default(), instrumented(Mode::Development));
    let (mut user, _, _) = sio_connect_ws(server.addr).await;
    send_text(&mut user, r#"42["echo","before"]"#).await;
    recv_text(&mut user).await;
    assert_eq!(server.io.meter().read().packets_in, 0);
    let (mut ws, _) = eio_handshake_ws(server.addr).await;
    send_text(&mut ws, LOGIN).await;
    expect_connect(&mut ws, "/admin,").await;
    send_text(&mut user, r#"42["echo","during"]"#).await;
    recv_text(&mut user).await;
    assert!(server.io.meter().read().packets_in >= 1);
    drop(ws);
    let io = server.io.clone();
    assert!(
        eventually(Duration::from_secs(3), || {
            let io = io.clone();
            async move { io.stats().sockets == 1 }
        })
        .await
    );
    let counted = server.io.meter().read().packets_in;
    send_text(&mut user, r#"42["echo","after"]"#).await;
    recv_text(&mut user).await;
    assert_eq!(server.io.meter().read().packets_in, counted);
}

#[test]
fn instrument_refuses_a_bad_hash_and_a_second_call() {
    let io = SocketIo::default();
    let bad = AdminOptions::new(AdminAuth::basic("root", "$2b$10$not-a-hash"));
    assert!(matches!(
        admin::instrument(&io, bad),
        Err(AdminError::BadHash(_))
    ));
    let hash = bcrypt::hash("pw", 4).unwrap();
    admin::instrument(&io, AdminOptions::new(AdminAuth::basic("root", hash))).unwrap();
    assert!(matches!(
        admin::instrument(&io, AdminOptions::new(AdminAuth::Disabled)),
        Err(AdminError::AlreadyInstrumented)
    ));
}
