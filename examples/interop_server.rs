//! The server the interop tests drive with the official clients (tests/js, tests/py).
//! `PORT=0` binds an ephemeral loopback port; the first stdout line is `LISTENING 127.0.0.1:<port>`.
//!
//! Contract: namespaces `/` and `/admin` (auth `{"token":"secret"}` required, else CONNECT_ERROR
//! "unauthorized" with data `{"reason":"bad token"}`); on connect `welcome {id, nsp, auth}`;
//! `echo` → `echo-back` with the same arguments; `ack-me` → ack with the same arguments;
//! `ask X` → `question X` with an ack, then `answer …` (or `answer-error` after 2 s);
//! `disconnect-me` → server-side namespace disconnect; `drop-transport` → close the connection.
//! `SERVER=http` serves through actix-web's `HttpServer` instead of `actix_socketio::Server`.

use std::{io::Write, time::Duration};

use actix_socketio::{Config, ConnectError, Server, Socket, SocketIo};
use actix_web::{App, HttpServer};
use serde_json::json;

fn on_connect(socket: Socket) {
    let welcome = json!({
        "id": socket.id(),
        "nsp": socket.ns(),
        "auth": socket.handshake().auth,
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
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);

    let io = SocketIo::new(Config::default());
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
    let app = move || App::new().configure(app_io.service());
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
