//! The server the interop tests drive with the official clients (tests/js, tests/py).
//! `PORT=0` binds an ephemeral loopback port; the first stdout line is `LISTENING 127.0.0.1:<port>`.
//!
//! Contract: namespaces `/` and `/admin` (auth `{"token":"secret"}` required, else CONNECT_ERROR
//! "unauthorized" with data `{"reason":"bad token"}`); on connect `welcome {id, nsp, auth}`;
//! `echo` → `echo-back` with the same arguments; `ack-me` → ack with the same arguments;
//! `ask X` → `question X` with an ack, then `answer …` (or `answer-error` after 2 s);
//! `disconnect-me` → server-side namespace disconnect; `drop-transport` → close the connection.
//! `SERVER=http` serves through actix-web's `HttpServer` instead of `actix_socketio::Server`.
//! `PARSER=msgpack` speaks socket.io-msgpack-parser's wire format instead of JSON.
//!
//! Connection state recovery (tests/js/recovery.test.mjs): `RECOVERY_MS=n` turns it on with
//! that max disconnection duration, `RECOVERY_MAX_BYTES=n` caps the stored packets,
//! `RECOVERY_MIDDLEWARES=1` runs connect middlewares for recovered sockets too;
//! `PING_INTERVAL_MS` / `PING_TIMEOUT_MS` set the heartbeat. `welcome` carries `recovered`;
//! `join-room r` / `leave-room r` / `set-data v` (acked `true`), `whoami` (ack `{id, rooms,
//! data, recovered}`), `to-room r, ...` → `room-msg ...` to the room, `to-all ...` → `all-msg
//! ...`, `to-id id, ...` → `id-msg ...`, `later ms, ...` → `direct-msg ...` on this socket's
//! handle after ms, `volatile ...` → volatile `volatile-msg ...`. `GET /stats`: `io.stats()`.

use std::{io::Write, time::Duration};

use actix_socketio::{
    Config, ConnectError, Event, Parser, Payload, Recovery, Server, Socket, SocketIo,
};
use actix_web::{web, App, HttpResponse, HttpServer};
use serde_json::{json, Value};

/// The event's arguments after the first `skip`.
fn rest(event: &Event, skip: usize) -> Payload {
    let (args, attachments) = (event.payload().args(), event.payload().attachments());
    Payload::from_parts(
        args.iter().skip(skip).cloned().collect(),
        attachments.to_vec(),
    )
}

/// `out` with the arguments after the first to the room (or socket id) the first names.
fn to_target(socket: &Socket, event: &Event, out: &str) {
    if let Ok(target) = event.data::<String>() {
        let _ = socket
            .namespace()
            .to(target)
            .emit_payload(out, rest(event, 1));
    }
}

fn ack_true(mut event: Event) {
    let _ = event.ack(&true);
}

fn on_connect(socket: Socket) {
    let welcome = json!({
        "id": socket.id(),
        "nsp": socket.ns(),
        "auth": socket.handshake().auth,
        "recovered": socket.recovered(),
    });
    let _ = socket.emit("welcome", &welcome);
    socket.on("echo", |socket, event| {
        let _ = socket.emit_payload("echo-back", event.payload().clone());
    });
    socket.on("ack-me", |_, event| {
        let (_, payload, ack) = event.into_parts();
        if let Some(ack) = ack {
            ack.send_payload(payload);
        }
    });
    socket.on("ask", |socket, event| {
        let question = event.payload().clone();
        actix::spawn(async move {
            let answer = socket
                .emit_payload_with_ack("question", question, Duration::from_secs(2))
                .await;
            let _ = match answer {
                Ok(payload) => socket.emit_payload("answer", payload),
                Err(err) => socket.emit("answer-error", &err.to_string()),
            };
        });
    });
    socket.on("disconnect-me", |socket, _| socket.disconnect());
    socket.on("drop-transport", |socket, _| socket.close_connection());
    socket.on("join-room", |socket, event| {
        if let Ok(room) = event.data::<String>() {
            socket.join(room);
        }
        ack_true(event);
    });
    socket.on("leave-room", |socket, event| {
        if let Ok(room) = event.data::<String>() {
            socket.leave(room);
        }
        ack_true(event);
    });
    socket.on("set-data", |socket, event| {
        socket.set_data(event.data::<Value>().unwrap_or(Value::Null));
        ack_true(event);
    });
    socket.on("whoami", |socket, mut event| {
        let mut rooms = socket.rooms();
        rooms.sort();
        let me = json!({
            "id": socket.id(),
            "rooms": rooms,
            "data": socket.data(),
            "recovered": socket.recovered(),
        });
        let _ = event.ack(&me);
    });
    socket.on("to-room", |socket, event| {
        to_target(&socket, &event, "room-msg")
    });
    socket.on("to-all", |socket, event| {
        let _ = socket.namespace().emit_payload("all-msg", rest(&event, 0));
    });
    socket.on("to-id", |socket, event| {
        to_target(&socket, &event, "id-msg")
    });
    socket.on("later", |socket, event| {
        let ms = event.data::<u64>().unwrap_or(0).min(60_000);
        let payload = rest(&event, 1);
        actix::spawn(async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            if let Err(err) = socket.emit_payload("direct-msg", payload) {
                log::info!("later: {err}");
            }
        });
    });
    socket.on("volatile", |socket, event| {
        let _ = socket
            .volatile()
            .emit_payload("volatile-msg", rest(&event, 0));
    });
}

fn env_ms(name: &str) -> Option<Duration> {
    std::env::var(name)
        .ok()?
        .parse()
        .ok()
        .map(Duration::from_millis)
}

fn config() -> Config {
    let mut config = Config::default();
    if let Some(ms) = env_ms("PING_INTERVAL_MS") {
        config = config.with_ping_interval(ms);
    }
    if let Some(ms) = env_ms("PING_TIMEOUT_MS") {
        config = config.with_ping_timeout(ms);
    }
    if let Some(max) = env_ms("RECOVERY_MS") {
        let mut recovery = Recovery::default()
            .max_disconnection_duration(max)
            .skip_middlewares(std::env::var("RECOVERY_MIDDLEWARES").as_deref() != Ok("1"));
        if let Some(bytes) = std::env::var("RECOVERY_MAX_BYTES")
            .ok()
            .and_then(|b| b.parse().ok())
        {
            recovery = recovery.max_stored_bytes(bytes);
        }
        config = config.connection_state_recovery(recovery);
    }
    if std::env::var("PARSER").as_deref() == Ok("msgpack") {
        config = config.parser(Parser::MsgPack);
    }
    config
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);

    let io = SocketIo::new(config());
    io.ns("/", on_connect);
    io.ns("/admin", on_connect).use_middleware(|socket| {
        if socket
            .handshake()
            .auth
            .get("token")
            .and_then(|t| t.as_str())
            == Some("secret")
        {
            Ok(())
        } else {
            Err(ConnectError::new("unauthorized").with_data(json!({ "reason": "bad token" })))
        }
    });

    // `SERVER=http` serves through actix-web's HttpServer (WebSockets via actix-ws); by default
    // `actix_socketio::Server` (WebSockets on the raw stream). The suites run against both.
    let app_io = io.clone();
    let app = move || {
        let stats_io = app_io.clone();
        App::new()
            .route(
                "/stats",
                web::get().to(move || {
                    let stats = stats_io.stats();
                    async move {
                        HttpResponse::Ok().json(json!({
                            "sessions": stats.sessions,
                            "sockets": stats.sockets,
                            "rooms": stats.rooms,
                            "pending_acks": stats.pending_acks,
                            "recovery_sessions": stats.recovery_sessions,
                            "recovery_packets": stats.recovery_packets,
                            "recovery_bytes": stats.recovery_bytes,
                        }))
                    }
                }),
            )
            .configure(app_io.service())
    };
    let server = if std::env::var("SERVER").as_deref() == Ok("http") {
        let server = HttpServer::new(app).workers(2).bind(("127.0.0.1", port))?;
        println!("LISTENING {}", server.addrs()[0]);
        server.run()
    } else {
        let server = Server::new(&io, app).workers(2).bind(("127.0.0.1", port))?;
        println!("LISTENING {}", server.addrs()[0]);
        server.run()
    };
    std::io::stdout().flush()?;
    server.await
}
