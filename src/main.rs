//! The demo server: `cargo run --release` serves the page and the Socket.IO endpoint on
//! http://127.0.0.1:8080.

use actix_socketio::{Config, SocketIo};
use actix_web::{web, App, HttpResponse, HttpServer};

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let io = SocketIo::new(Config::default());
    io.ns("/", |socket| {
        socket.on("message", |socket, event| {
            let _ = socket.emit_payload("message", event.payload().clone());
        });
    });
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8080);
    log::info!("listening on http://127.0.0.1:{port}");
    HttpServer::new(move || {
        App::new().configure(io.service()).route(
            "/",
            web::get().to(|| async {
                HttpResponse::Ok()
                    .content_type("text/html; charset=utf-8")
                    .body("<!doctype html><title>actix-socketio</title><p>actix-socketio is running: Socket.IO endpoint at /socket.io/</p>")
            }),
        )
    })
    .bind(("127.0.0.1", port))?
    .run()
    .await
}
