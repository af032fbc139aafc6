//! The README's async example, runnable: `cargo run --example async_api`, then connect a
//! Socket.IO client to http://127.0.0.1:8080 with `auth: { token: "t0k3n" }` and emit
//! `chat` with a text and an ack callback; `/tenant/<anything>` is a namespace per tenant.
//!
//! Shows: application state (a stand-in for a database pool), an async connect middleware, an
//! async event handler answering its ack after an await, a packet middleware with its error
//! listener, an outgoing listener, and a dynamic namespace.

use std::{collections::HashMap, error::Error, sync::Mutex, time::Duration};

use actix_socketio::{ConnectError, Event, SocketIo};
use actix_web::{App, HttpServer};
use serde_json::json;

/// Stands for a real pool (sqlx::PgPool, deadpool, bb8...): shared by every handler, async.
struct Pool {
    users: HashMap<String, String>,
    messages: Mutex<Vec<(String, String)>>,
}

impl Pool {
    async fn user_for(&self, token: &str) -> Option<String> {
        tokio::time::sleep(Duration::from_millis(5)).await; // the round trip to the database
        self.users.get(token).cloned()
    }

    async fn save(&self, user: &str, text: &str) -> Result<usize, Box<dyn Error>> {
        tokio::time::sleep(Duration::from_millis(5)).await;
        let mut messages = self.messages.lock().map_err(|_| "poisoned")?;
        messages.push((user.to_owned(), text.to_owned()));
        Ok(messages.len())
    }
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let pool = Pool {
        users: HashMap::from([("t0k3n".to_owned(), "ada".to_owned())]),
        messages: Mutex::new(Vec::new()),
    };
    let io = SocketIo::default().with_state(pool);

    io.of("/").use_middleware(|socket| {
        let socket = socket.clone();
        async move {
            let pool = socket
                .state::<Pool>()
                .ok_or_else(|| ConnectError::new("no pool"))?;
            let token = socket.handshake().auth["token"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let user = pool
                .user_for(&token)
                .await
                .ok_or_else(|| ConnectError::new("unauthorized"))?;
            socket.set_data(json!({ "user": user }));
            Ok(())
        }
    });
    io.ns("/", |socket| {
        socket.on_any_outgoing(|socket, event, payload| {
            log::info!(
                "to {}: {event} ({} argument(s))",
                socket.id(),
                payload.len()
            );
        });
        socket.use_packet_middleware(|socket, event| {
            if event.name() == "shutdown" && socket.data()["user"] != "root" {
                return Err("only root may do that");
            }
            Ok(())
        });
        socket.on_error(|socket, error| {
            let _ = socket.emit("refused", error);
        });
        socket.on("chat", |socket, mut event: Event| async move {
            let pool = socket.state::<Pool>().ok_or("no pool")?;
            let user = socket.data()["user"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let text: String = event.data()?;
            let id = pool.save(&user, &text).await?;
            socket
                .broadcast()
                .emit("chat", &json!({ "user": user, "text": text, "id": id }))?;
            event.ack(&id)?;
            Ok::<(), Box<dyn Error>>(())
        });
    });
    io.dyn_ns("/tenant/{id}", |socket| {
        let tenant = socket
            .namespace()
            .param("id")
            .unwrap_or_default()
            .to_owned();
        let _ = socket.emit("welcome", &format!("tenant {tenant}"));
    });

    HttpServer::new(move || App::new().configure(io.service()))
        .tcp_nodelay(true)
        .bind(("127.0.0.1", 8080))?
        .run()
        .await
}
