//! The benchmark peer of actix-socketio (bench/README.md): public API only.
//!
//! Contract, namespace `/`: `echo` with one argument → ack with it when the client asked for an
//! ack, else emit `echo` with it back to the sender; `join` (room) → join, ack with the room name;
//! `broadcast` (room, payload) → `to(room).emit("broadcast", payload)`, the sender included when
//! it is a member. Environment: `HOST` (127.0.0.1), `PORT` (3000; 0 = ephemeral), `WORKERS` (1),
//! `REDIS_URL` (when set, the node joins a cluster through the Redis adapter), `RECOVERY=1`
//! (connection state recovery on, socket.io's defaults: what it costs, BENCHMARKS.md),
//! `PARSER=msgpack` (socket.io-msgpack-parser's wire format instead of JSON).
//! The first stdout line is `LISTENING <addr>` once the socket is bound.

use std::io::Write;

use actix_socketio::{Config, Parser, Payload, Recovery, Server, Socket, SocketIo};
use actix_web::{App, HttpServer};
use serde_json::Value;

fn on_connect(socket: Socket) {
    socket.on("echo", |socket, event| {
        let (_, payload, ack) = event.into_parts();
        match ack {
            Some(ack) => ack.send_payload(payload),
            None => {
                let _ = socket.emit_payload("echo", payload);
            }
        }
    });
    socket.on("join", |socket, mut event| {
        let room = match event.payload().args().first() {
            Some(Value::String(room)) => room.clone(),
            _ => return,
        };
        socket.join(room.as_str());
        let _ = event.ack(&room);
    });
    socket.on("broadcast", |socket, event| {
        let (_, payload, _) = event.into_parts();
        let (mut args, attachments) = payload.into_parts();
        if args.len() < 2 {
            return;
        }
        let Value::String(room) = args.remove(0) else {
            return;
        };
        // The rest (the payload, with any binary attachments it refers to) goes out unchanged.
        let _ = socket
            .namespace()
            .to(room)
            .emit_payload("broadcast", Payload::from_parts(args, attachments));
    });
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let host: String = env_or("HOST", "127.0.0.1".to_string());
    let port: u16 = env_or("PORT", 3000);
    let workers: usize = env_or("WORKERS", 1);

    let mut config = Config::default();
    if std::env::var("RECOVERY").as_deref() == Ok("1") {
        config = config.connection_state_recovery(Recovery::default());
    }
    if std::env::var("PARSER").as_deref() == Ok("msgpack") {
        config = config.parser(Parser::MsgPack);
    }
    let io = SocketIo::new(config);
    io.ns("/", on_connect);
    #[cfg(feature = "redis")]
    if let Ok(url) = std::env::var("REDIS_URL") {
        let adapter =
            actix_socketio::adapter::RedisAdapter::new(&url).map_err(std::io::Error::other)?;
        io.set_adapter(adapter);
    }

    // SERVER=http serves through actix-web's HttpServer instead (WebSockets via actix-ws), to
    // compare the two.
    let app_io = io.clone();
    let app = move || App::new().configure(app_io.service());
    let server = if std::env::var("SERVER").as_deref() == Ok("http") {
        let server = HttpServer::new(app)
            .workers(workers)
            // Small frames go out at once rather than waiting for Nagle's algorithm (~40 ms).
            .tcp_nodelay(true)
            .backlog(4096)
            .max_connections(100_000)
            .bind((host.as_str(), port))?;
        println!("LISTENING {}", server.addrs()[0]);
        server.run()
    } else {
        // WebSockets leave the HTTP dispatcher after the handshake; TCP_NODELAY is always on.
        let server = Server::new(&io, app)
            .workers(workers)
            .backlog(4096)
            .max_connections(100_000)
            .bind((host.as_str(), port))?;
        println!("LISTENING {}", server.addrs()[0]);
        server.run()
    };
    std::io::stdout().flush()?;
    server.await
}
