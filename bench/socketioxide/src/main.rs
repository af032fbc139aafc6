//! socketioxide peer of the actix-socketio benchmark (bench/run).
//!
//! Contract, namespace `/`:
//! - `echo` (one argument): ack with it when the client asked for an ack, otherwise emit `echo`
//!   with it back to the sender;
//! - `join` (room): join the room, ack with the room name;
//! - `broadcast` (room, payload): `io.to(room).emit("broadcast", payload)`; the sender receives
//!   it only when it is a member of the room.
//!
//! Environment: `HOST` (127.0.0.1), `PORT` (3000; 0 = ephemeral), `WORKERS` (tokio worker
//! threads, 1). The first stdout line is `LISTENING <host>:<port>` once the socket is bound.
//!
//! Options are socketioxide's defaults except `max_payload`, raised from socketioxide's 100 kB to
//! the reference server's 1 MB (maxHttpBufferSize 1e6). Accepted sockets get TCP_NODELAY, as
//! Node's http server does by default.

use std::convert::Infallible;
use std::io::Write;
use std::sync::Arc;

use axum::serve::ListenerExt;
use serde_json::Value as Json;
use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;
use socketioxide::extract::{AckSender, Data, SocketRef};
use socketioxide::handler::{FromMessageParts, Value};
use socketioxide::socket::Socket;

/// Whether the incoming event carries an ack id, i.e. whether the client asked for an ack.
///
/// socketioxide's `AckSender::send` silently does nothing when no ack was requested and exposes
/// no getter for it; the documented way to read the ack id is a custom extractor, which is handed
/// the `Option<i64>` ack id of the message.
struct AckRequested(bool);

impl<A: Adapter> FromMessageParts<A> for AckRequested {
    type Error = Infallible;

    fn from_message_parts(
        _socket: &Arc<Socket<A>>,
        _data: &mut Value,
        ack_id: &Option<i64>,
    ) -> Result<Self, Infallible> {
        Ok(AckRequested(ack_id.is_some()))
    }
}

async fn on_echo(
    socket: SocketRef,
    AckRequested(wants_ack): AckRequested,
    ack: AckSender,
    Data(arg): Data<Json>,
) {
    if wants_ack {
        let _ = ack.send(&arg);
    } else {
        let _ = socket.emit("echo", &arg);
    }
}

async fn on_join(socket: SocketRef, ack: AckSender, Data(room): Data<String>) {
    socket.join(room.clone());
    let _ = ack.send(&room);
}

async fn on_broadcast(io: SocketIo, Data((room, payload)): Data<(String, Json)>) {
    let _ = io.to(room).emit("broadcast", &payload).await;
}

async fn on_connect(socket: SocketRef) {
    socket.on("echo", on_echo);
    socket.on("join", on_join);
    socket.on("broadcast", on_broadcast);
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

fn main() -> std::io::Result<()> {
    let workers: usize = env_or("WORKERS", 1usize).max(1);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()?
        .block_on(serve())
}

async fn serve() -> std::io::Result<()> {
    let host: String = env_or("HOST", "127.0.0.1".to_string());
    let port: u16 = env_or("PORT", 3000);

    let (layer, io) = SocketIo::builder().max_payload(1_000_000).build_layer();
    io.ns("/", on_connect);
    let app = axum::Router::new().layer(layer);

    let listener = tokio::net::TcpListener::bind((host.as_str(), port)).await?;
    let addr = listener.local_addr()?;
    let listener = listener.tap_io(|stream| {
        let _ = stream.set_nodelay(true);
    });
    println!("LISTENING {addr}");
    std::io::stdout().flush()?;
    axum::serve(listener, app).await
}
