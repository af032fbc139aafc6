//! # actix-socketio
//!
//! A [Socket.IO](https://socket.io) server (protocol v5, over Engine.IO v4) on
//! [actix](https://actix.rs). Official Socket.IO clients (browser, Node, Python) connect to it
//! unmodified, over WebSocket, HTTP long-polling, or polling upgraded to WebSocket.
//!
//! Each client session is an actix actor; application code talks to it through cheap
//! [`Socket`] handles, so HTTP routes and realtime share one actix-web server. Mount the
//! endpoint on an `App` with `io.service()` and serve it with actix-web's `HttpServer` (as
//! below) or with [`Server`], which is the same but lets each WebSocket leave the HTTP
//! machinery after its handshake (about a third of the memory per connection).
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use actix_socketio::{Config, ConnectError, Payload, SocketIo};
//! use actix_web::{App, HttpServer};
//!
//! #[actix_web::main]
//! async fn main() -> std::io::Result<()> {
//!     let io = SocketIo::new(Config::default());
//!     io.ns("/", |socket| {
//!         let _ = socket.emit("welcome", &serde_json::json!({ "id": socket.id() }));
//!         // Typed arguments: the first argument deserialized with serde.
//!         socket.on_data("chat", |socket, text: String, ack| {
//!             let _ = socket.emit("chat", &text);
//!             if let Some(ack) = ack {
//!                 let _ = ack.send("delivered");
//!             }
//!         });
//!         // Raw events: any number of arguments, binary included.
//!         socket.on("echo", |socket, event| {
//!             let _ = socket.emit_payload("echo", event.payload().clone());
//!         });
//!         // Ask the client and await its acknowledgement.
//!         let asker = socket.clone();
//!         actix::spawn(async move {
//!             let answer = asker
//!                 .emit_with_ack("question", "ready?", Duration::from_secs(5))
//!                 .await;
//!             log::info!("client answered {answer:?}");
//!         });
//!         socket.on_disconnect(|socket, reason| log::info!("{} left: {reason}", socket.id()));
//!     });
//!     // Connect middleware: refuse sockets without the right token.
//!     io.of("/admin").use_middleware(|socket| {
//!         match socket.handshake().auth.get("token").and_then(|t| t.as_str()) {
//!             Some("secret") => Ok(()),
//!             _ => Err(ConnectError::new("unauthorized")),
//!         }
//!     });
//!     let _binary = Payload::new().binary(vec![1u8, 2, 3]);
//!     HttpServer::new(move || App::new().configure(io.service()))
//!         .bind(("127.0.0.1", 8080))?
//!         .run()
//!         .await
//! }
//! ```
//!
//! ## Async handlers, middleware and application state
//!
//! Connect handlers, event handlers and connect middlewares may be `async`: return a future
//! (an `async` block or an `async fn`), and the session awaits it on its worker thread. One
//! socket's events are handled in arrival order: while an async handler awaits, that socket's
//! next events wait for it ([`Socket::on_concurrent`] opts out). A handler that panics or
//! returns an `Err` is logged and ends only that event. State shared by all handlers, such as
//! a database pool, is given once with [`SocketIo::with_state`] and read with
//! [`Socket::state`]:
//!
//! ```no_run
//! use std::{collections::HashMap, error::Error, sync::Mutex};
//!
//! use actix_socketio::{ConnectError, Event, SocketIo};
//!
//! /// Stands for a real pool (sqlx::PgPool, deadpool, bb8...): cheap to share, async to use.
//! struct Pool {
//!     users: Mutex<HashMap<String, String>>,
//! }
//!
//! impl Pool {
//!     async fn user_for(&self, token: &str) -> Option<String> {
//!         self.users.lock().unwrap().get(token).cloned()
//!     }
//!     async fn save_message(&self, user: &str, text: &str) -> Result<u64, std::io::Error> {
//!         log::info!("{user}: {text}");
//!         Ok(1)
//!     }
//! }
//!
//! # async fn run() {
//! let pool = Pool { users: Mutex::new(HashMap::from([("t0k3n".into(), "ada".into())])) };
//! let io = SocketIo::default().with_state(pool);
//! // Async middleware: the socket is not connected (no room, no packet) until it passes.
//! io.of("/").use_middleware(|socket| {
//!     let socket = socket.clone(); // the future cannot borrow it
//!     async move {
//!         let pool = socket.state::<Pool>().expect("given with with_state");
//!         let token = socket.handshake().auth["token"].as_str().unwrap_or_default().to_owned();
//!         let user = pool.user_for(&token).await.ok_or_else(|| ConnectError::new("unauthorized"))?;
//!         socket.set_data(serde_json::json!({ "user": user }));
//!         Ok(())
//!     }
//! });
//! io.ns("/", |socket| {
//!     // Async handler: awaits the database, then answers the client's ack.
//!     socket.on("chat", |socket, mut event: Event| async move {
//!         let pool = socket.state::<Pool>().ok_or("no pool")?;
//!         let user = socket.data()["user"].as_str().unwrap_or_default().to_owned();
//!         let text: String = event.data()?;
//!         let id = pool.save_message(&user, &text).await?;
//!         socket.broadcast().emit("chat", &serde_json::json!({ "user": user, "text": text }))?;
//!         event.ack(&id)?;
//!         Ok::<(), Box<dyn Error>>(())
//!     });
//! });
//! # }
//! ```
//!
//! Also: dynamic namespaces ([`SocketIo::dyn_ns`]: `/tenant/{id}` makes one namespace per
//! tenant), a listener for every outgoing event ([`Socket::on_any_outgoing`]) and packet
//! middleware that may drop an incoming event ([`Socket::use_packet_middleware`]).
//!
//! ## Layers
//!
//! Imports point one way only, from the bytes up to the handlers (`tests/layers.rs` checks it):
//!
//! 1. [`config`], [`reason`]: settings and disconnect reasons every layer shares.
//! 2. [`engine`]: Engine.IO v4 (codec, session actor, heartbeat, upgrade, polling and
//!    WebSocket transports, the HTTP entry point). It hands decoded messages up through its
//!    `SessionHandler` trait and knows nothing of Socket.IO.
//! 3. [`socket`]: Socket.IO v5 (the parser seam and its JSON and msgpack codecs, namespaces,
//!    sockets, acks, the RoomManager actor, broadcast operators, the cluster seam).
//! 4. [`adapter`]: cluster adapters (Redis).
//! 5. The facade: [`SocketIo`], [`Server`], [`metrics`] (`GET /metrics` for Prometheus).
#![deny(missing_docs)]

pub mod adapter;
pub mod admin;
pub mod config;
pub mod engine;
mod io;
pub mod metrics;
pub mod reason;
pub mod server;
pub mod socket;

pub use config::{Config, Cors, Recovery};
pub use io::{Endpoint, SocketIo, Stats};
pub use reason::DisconnectReason;
pub use server::Server;
pub use socket::{
    ack::{AckFuture, AckSender},
    error::{AckError, ConnectError, EmitError},
    handler::{HandlerOutput, MiddlewareOutput},
    handshake::{Handshake, Headers},
    namespace::{DynNamespace, Namespace},
    operator::{BroadcastOperator, IntoRooms},
    parser::Parser,
    payload::Payload,
    rooms::LeaveReason,
    socket::{Event, Socket, VolatileEmitter},
};
