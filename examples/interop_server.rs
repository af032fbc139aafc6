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
//! handle after ms, `volatile ...` → volatile `volatile-msg ...`. `GET /stats`: `io.stats()`
//! plus `tenants` (live children of `/tenant/{id}`) and `visits` (the shared counter).
//!
//! The async API (tests/js/async_api.test.mjs, tests/py/test_async_api.py, tests/async_api.rs):
//! - `/async`: three connect middlewares in order — sync (data `chain: ["sync"]`), async
//!   (sleeps `auth.delay` ms, default 30, then adds "async"; it also emits `too-early` and
//!   broadcasts `too-early-bcast`, which must never reach the client), async token check
//!   (`auth.token == "secret"`, else CONNECT_ERROR "unauthorized" with `{"reason": "bad
//!   token"}`). An async connect handler awaits 20 ms before registering the handlers, then
//!   emits `welcome {id, chain}`. Events: `seq n ms` (async: after ms, `seq-done n`),
//!   `seq-sync n` (sync: `seq-done n`), `conc n ms` (concurrent async: after ms, `conc-done
//!   n`), `seq-order` (acks the order the seq handlers finished in), `slow-ack x` (acks x
//!   after 50 ms), `emit-then-ack` (emits `first`, awaits, emits
//!   `second`, acks "third"), `panic` / `async-panic` / `fail` (a handler that panics or
//!   errs), `ping` → `pong`, `visit` (acks the shared counter's next value, app state),
//!   `forbidden` (dropped by a packet middleware; `on_error` emits `refused <message>`),
//!   `bcast x` → `bcast-msg x` to the namespace, `ask-me` (emit_with_ack `question`),
//!   `outgoing-log` (acks the names of every event the socket's `on_any_outgoing` saw).
//! - `/hang`: a middleware that never finishes (`CONNECT_TIMEOUT_MS` bounds it).
//! - `/tenant/{id}` (dynamic): `welcome {nsp, id}`; `tenant-bcast x` → `tenant-msg x` to its
//!   own child namespace only. `dyn_ns_fn`: names starting `/dyn-` with `auth.ok == true`
//!   get `welcome {nsp}`.

use std::{
    io::Write,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use actix_socketio::{
    Config, ConnectError, DynNamespace, Event, Parser, Payload, Recovery, Server, Socket, SocketIo,
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
    if let Some(ms) = env_ms("CONNECT_TIMEOUT_MS") {
        config = config.with_connect_timeout(ms);
    }
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

    let io = SocketIo::new(config()).with_state(Visits(AtomicU64::new(0)));
    io.ns("/", on_connect);
    let tenants = api_namespaces(&io);
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
        let tenants = tenants.clone();
        App::new()
            .route(
                "/stats",
                web::get().to(move || {
                    let stats = stats_io.stats();
                    let children = tenants.children().len();
                    let visits = stats_io
                        .state::<Visits>()
                        .map_or(0, |v| v.0.load(Ordering::Relaxed));
                    async move {
                        HttpResponse::Ok().json(json!({
                            "sessions": stats.sessions,
                            "sockets": stats.sockets,
                            "rooms": stats.rooms,
                            "pending_acks": stats.pending_acks,
                            "recovery_sessions": stats.recovery_sessions,
                            "recovery_packets": stats.recovery_packets,
                            "recovery_bytes": stats.recovery_bytes,
                            "tenants": children,
                            "visits": visits,
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

// ---------------------------------------------------------------- the async API

/// The application state the `/async` namespace shares between all its sockets.
struct Visits(AtomicU64);

fn sleep_ms(ms: u64) -> tokio::time::Sleep {
    tokio::time::sleep(Duration::from_millis(ms.min(10_000)))
}

/// Appends a step to the socket's `chain` data.
fn add_step(socket: &Socket, step: &str) {
    let mut data = socket.data();
    if !data.is_object() {
        data = json!({ "chain": [] });
    }
    if let Some(chain) = data["chain"].as_array_mut() {
        chain.push(json!(step));
    }
    socket.set_data(data);
}

fn api_namespaces(io: &SocketIo) -> DynNamespace {
    io.of("/async")
        .use_middleware(|socket| {
            add_step(socket, "sync");
            Ok(())
        })
        .use_middleware(|socket| {
            let delay = socket.handshake().auth["delay"].as_u64().unwrap_or(30);
            let socket = socket.clone();
            async move {
                let _ = socket.emit("too-early", &1);
                let _ = socket.namespace().emit("too-early-bcast", &1);
                sleep_ms(delay).await;
                add_step(&socket, "async");
                Ok(())
            }
        })
        .use_middleware(|socket| {
            let token = socket.handshake().auth["token"].clone();
            async move {
                sleep_ms(5).await;
                if token == "secret" {
                    Ok(())
                } else {
                    Err(ConnectError::new("unauthorized")
                        .with_data(json!({ "reason": "bad token" })))
                }
            }
        })
        .on_connect(|socket| async move {
            sleep_ms(20).await;
            async_handlers(&socket);
            let welcome = json!({ "id": socket.id(), "chain": socket.data()["chain"] });
            let _ = socket.emit("welcome", &welcome);
        });
    io.of("/hang")
        .use_middleware(|_| std::future::pending::<Result<(), ConnectError>>());
    let tenants = io.dyn_ns("/tenant/{id}", |socket| {
        let id = socket
            .namespace()
            .param("id")
            .unwrap_or_default()
            .to_owned();
        let _ = socket.emit("welcome", &json!({ "nsp": socket.ns(), "id": id }));
        socket.on("tenant-bcast", |socket, event| {
            socket
                .namespace()
                .emit_payload("tenant-msg", event.payload().clone())
        });
    });
    io.dyn_ns_fn(
        |name, auth| name.starts_with("/dyn-") && auth["ok"] == true,
        |socket| {
            let _ = socket.emit("welcome", &json!({ "nsp": socket.ns() }));
        },
    );
    tenants
}

fn async_handlers(socket: &Socket) {
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let log = seen.clone();
    socket.on_any_outgoing(move |_, event, _| {
        log.lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(event.to_owned());
    });
    socket.on("outgoing-log", move |_, mut event| {
        let names = seen.lock().unwrap_or_else(|p| p.into_inner()).clone();
        event.ack(&names)
    });
    // The order handlers finished in, for clients whose own handlers run out of order.
    let order = Arc::new(Mutex::new(Vec::<u64>::new()));
    let done = order.clone();
    socket.on("seq", move |socket, event| {
        let done = done.clone();
        async move {
            let (n, ms): (u64, u64) = event.args().map_err(|e| e.to_string())?;
            sleep_ms(ms).await;
            done.lock().unwrap_or_else(|p| p.into_inner()).push(n);
            socket.emit("seq-done", &n).map_err(|e| e.to_string())
        }
    });
    let done = order.clone();
    socket.on("seq-sync", move |socket, event| {
        let n: u64 = event.data().map_err(|e| e.to_string())?;
        done.lock().unwrap_or_else(|p| p.into_inner()).push(n);
        socket.emit("seq-done", &n).map_err(|e| e.to_string())
    });
    socket.on("seq-order", move |_, mut event| {
        let seen = order.lock().unwrap_or_else(|p| p.into_inner()).clone();
        event.ack(&seen)
    });
    socket.on_concurrent("conc", |socket, event| async move {
        let (n, ms): (u64, u64) = event.args().map_err(|e| e.to_string())?;
        sleep_ms(ms).await;
        socket.emit("conc-done", &n).map_err(|e| e.to_string())
    });
    socket.on("slow-ack", |_, mut event| async move {
        sleep_ms(50).await;
        let answer = event.data::<Value>()?;
        event.ack(&answer)
    });
    socket.on("emit-then-ack", |socket, mut event| async move {
        socket.emit("first", &1).map_err(|e| e.to_string())?;
        sleep_ms(20).await;
        socket.emit("second", &2).map_err(|e| e.to_string())?;
        event.ack(&"third").map_err(|e| e.to_string())
    });
    socket.on("panic", |_, _| {
        if true {
            panic!("a handler panics (the test asks for it)");
        }
    });
    socket.on("async-panic", |_, _| async {
        sleep_ms(5).await;
        if true {
            panic!("an async handler panics (the test asks for it)");
        }
    });
    socket.on("fail", |_, _| {
        Err::<(), _>("a handler fails (the test asks for it)")
    });
    socket.on("ping", |socket, _| socket.emit("pong", &1));
    socket.on("visit", |socket, mut event| {
        let visits = socket.state::<Visits>().ok_or("no Visits state")?;
        let n = visits.0.fetch_add(1, Ordering::Relaxed) + 1;
        event.ack(&n).map_err(|e| e.to_string())
    });
    socket.use_packet_middleware(|_, event| match event.name() {
        "forbidden" => Err("forbidden event"),
        _ => Ok(()),
    });
    socket.on_error(|socket, error| {
        let _ = socket.emit("refused", error);
    });
    socket.on("forbidden", |socket, _| socket.emit("forbidden-ran", &1));
    socket.on("bcast", |socket, event| {
        socket
            .namespace()
            .emit_payload("bcast-msg", event.payload().clone())
    });
    socket.on("ask-me", |socket, _| async move {
        let answer = socket
            .emit_with_ack("question", &"?", Duration::from_secs(2))
            .await;
        socket
            .emit("answer", &answer.is_ok())
            .map_err(|e| e.to_string())
    });
}
