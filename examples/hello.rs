//! The README's server example: `cargo run --example hello`, then connect a Socket.IO client
//! to http://127.0.0.1:8080.

use actix_socketio::{Config, ConnectError, SocketIo};
use actix_web::{App, HttpServer};
use std::time::Duration;

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let io = SocketIo::new(Config::default());
    io.ns("/", |socket| {
        let _ = socket.emit("welcome", &socket.id());
        socket.on_data("chat", |socket, text: String, ack| {
            let _ = socket.emit("chat", &text); // to this socket
            if let Some(ack) = ack {
                let _ = ack.send("ok");
            } // answer the client's callback
        });
        let asker = socket.clone();
        actix::spawn(async move {
            // server → client ack
            let answer = asker
                .emit_with_ack("ready?", &(), Duration::from_secs(5))
                .await;
            log::info!("client said {answer:?}");
        });
        socket.on_disconnect(|socket, reason| log::info!("{} left: {reason}", socket.id()));
    });
    io.of("/admin")
        .use_middleware(|socket| match socket.handshake().auth["token"].as_str() {
            Some("secret") => Ok(()),
            _ => Err(ConnectError::new("unauthorized")),
        });
    HttpServer::new(move || App::new().configure(io.service()))
        .bind(("127.0.0.1", 8080))?
        .run()
        .await
}
