//! The server the public Socket.IO and Engine.IO conformance suites expect: port 3000 (or `PORT`),
//! pingInterval 300 ms, pingTimeout 200 ms, connectTimeout 1000 ms, CORS `*`; Socket.IO at
//! `/socket.io/` (namespaces `/` and `/custom`) and a plain Engine.IO echo at `/engine.io/`.

use std::time::Duration;

use actix_socketio::{Config, Cors, Server, Socket, SocketIo};
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

    // actix-web's HttpServer by default; `SERVER=raw` serves through `actix_socketio::Server`
    // (which takes over the WebSockets of both endpoints). The Socket.IO suite's client misses
    // a packet that arrives in the same read as the one before it (its `waitFor` registers the
    // next listener after the event): with `Server`, a connect handler's `auth` emit follows
    // the CONNECT closely enough for that to happen in some of its "connect" and "disconnect"
    // tests, although both arrive, in order.
    let (app_io, app_echo) = (io.clone(), echo.clone());
    let app = move || {
        App::new()
            .configure(app_io.service())
            .configure(app_echo.service())
    };
    let server = if std::env::var("SERVER").as_deref() == Ok("raw") {
        Server::new(&io, app)
            .also(&echo)
            .bind(("127.0.0.1", port))?
            .run()
    } else {
        HttpServer::new(app).bind(("127.0.0.1", port))?.run()
    };
    println!("conformance server on http://127.0.0.1:{port}");
    server.await
}
