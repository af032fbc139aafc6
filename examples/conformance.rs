//! The server the public Socket.IO and Engine.IO conformance suites expect: port 3000 (or `PORT`),
//! pingInterval 300 ms, pingTimeout 200 ms, connectTimeout 1000 ms, CORS `*`; Socket.IO at
//! `/socket.io/` (namespaces `/` and `/custom`) and a plain Engine.IO echo at `/engine.io/`.

use std::time::Duration;

use actix_socketio::{Config, Cors, Socket, SocketIo};
use actix_web::{App, HttpServer};

fn suite_config() -> Config {
    Config::default()
        .with_ping_interval(Duration::from_millis(300))
        .with_ping_timeout(Duration::from_millis(200))
        .with_max_payload(1_000_000)
        .with_connect_timeout(Duration::from_millis(1000))
        .with_cors(Cors::Any)
}

/// `auth` on connect, `message` echoed as `message-back`, `message-with-ack` acked back.
fn on_connect(socket: Socket) {
    let _ = socket.emit("auth", &socket.handshake().auth);
    socket.on("message", |socket, event| {
        let _ = socket.emit_payload("message-back", event.payload().clone());
    });
    socket.on("message-with-ack", |_, event| {
        let (_, payload, ack) = event.into_parts();
        if let Some(ack) = ack {
            ack.send_payload(payload);
        }
    });
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3000);

    let io = SocketIo::new(suite_config());
    io.ns("/", on_connect);
    io.ns("/custom", on_connect);
    let echo = SocketIo::engine_echo(suite_config().with_path("/engine.io/"));

    let server =
        HttpServer::new(move || App::new().configure(io.service()).configure(echo.service()))
            .bind(("127.0.0.1", port))?;
    println!("conformance server on http://127.0.0.1:{port}");
    server.run().await
}
