//! `SocketIo`, the handle applications hold: namespaces, configuration, the session registry,
//! and the actix-web service that mounts the endpoint.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, RwLock,
    },
};

use actix::Addr;
use actix_web::web::ServiceConfig;

use crate::{
    adapter::Adapter,
    config::Config,
    engine::session::{CloseSession, Session},
    reason::DisconnectReason,
    service,
    socket::{namespace::Namespace, socket::Socket},
};

/// What sits on top of Engine.IO.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Socket.IO v5 (the normal case).
    SocketIo,
    /// Plain Engine.IO echo, for the Engine.IO conformance suite.
    EngineEcho,
}

/// A registered session: its actor, and whether a POST is being read for it right now.
#[derive(Clone)]
pub(crate) struct SessionEntry {
    pub(crate) addr: Addr<Session>,
    pub(crate) posting: Arc<AtomicBool>,
}

/// State shared by the service and every session.
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) mode: Mode,
    namespaces: RwLock<HashMap<String, Namespace>>,
    sessions: RwLock<HashMap<Arc<str>, SessionEntry>>,
    open_sessions: AtomicUsize,
    /// `emit_with_ack` calls waiting for an answer, across all sessions.
    pub(crate) pending_acks: AtomicUsize,
    /// Non-empty rooms across all namespaces (private per-socket rooms included).
    pub(crate) rooms: Arc<AtomicUsize>,
    /// The cluster adapter, when this server is one node of several.
    adapter: std::sync::OnceLock<Arc<dyn Adapter>>,
}

impl Shared {
    /// Reserves a place for a new session; false when `max_connections` is reached.
    pub(crate) fn reserve_session(&self) -> bool {
        let previous = self.open_sessions.fetch_add(1, Ordering::AcqRel);
        if let Some(max) = self.config.max_connections {
            if previous >= max {
                self.open_sessions.fetch_sub(1, Ordering::AcqRel);
                return false;
            }
        }
        true
    }

    /// Registers a session started after a successful [`Shared::reserve_session`].
    pub(crate) fn insert_session(&self, sid: Arc<str>, addr: Addr<Session>) {
        self.sessions
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                sid,
                SessionEntry {
                    addr,
                    posting: Arc::new(AtomicBool::new(false)),
                },
            );
    }

    /// Gives back a place taken by [`Shared::reserve_session`]; each session calls it once.
    pub(crate) fn release_reservation(&self) {
        self.open_sessions.fetch_sub(1, Ordering::AcqRel);
    }

    /// Forgets a session: its sid answers "Session ID unknown" from now on.
    pub(crate) fn remove_session(&self, sid: &str) {
        self.sessions
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(sid);
    }

    /// The actor of an open session.
    pub(crate) fn session(&self, sid: &str) -> Option<SessionEntry> {
        self.sessions
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(sid)
            .cloned()
    }

    /// The namespace of that name, if the application declared it.
    pub(crate) fn namespace(&self, name: &str) -> Option<Namespace> {
        self.namespaces
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
    }
}

/// What the server holds right now (see [`SocketIo::stats`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Open Engine.IO sessions.
    pub sessions: usize,
    /// Sockets connected, all namespaces together.
    pub sockets: usize,
    /// Non-empty rooms, all namespaces together, private per-socket rooms included.
    pub rooms: usize,
    /// Server-side `emit_with_ack` calls still waiting for an answer.
    pub pending_acks: usize,
}

/// The Socket.IO server: declare namespaces and handlers on it, then mount it in an actix-web
/// `App` with [`SocketIo::service`]. Cloning is cheap; clones share everything.
///
/// ```no_run
/// use actix_socketio::{Config, SocketIo};
/// use actix_web::{App, HttpServer};
///
/// #[actix_web::main]
/// async fn main() -> std::io::Result<()> {
///     let io = SocketIo::new(Config::default());
///     io.ns("/", |socket| {
///         socket.on("ping", |socket, _event| {
///             let _ = socket.emit("pong", "hello");
///         });
///     });
///     HttpServer::new(move || App::new().configure(io.service()))
///         .bind(("127.0.0.1", 8080))?
///         .run()
///         .await
/// }
/// ```
#[derive(Clone)]
pub struct SocketIo {
    shared: Arc<Shared>,
}

impl Default for SocketIo {
    fn default() -> Self {
        SocketIo::new(Config::default())
    }
}

impl SocketIo {
    /// A server with this configuration and no namespace yet.
    pub fn new(config: Config) -> Self {
        Self::with_mode(config, Mode::SocketIo)
    }

    /// A plain Engine.IO server that echoes every message back, text and binary. It exists for
    /// the Engine.IO conformance suite; applications want [`SocketIo::new`].
    #[doc(hidden)]
    pub fn engine_echo(config: Config) -> Self {
        Self::with_mode(config, Mode::EngineEcho)
    }

    fn with_mode(config: Config, mode: Mode) -> Self {
        SocketIo {
            shared: Arc::new(Shared {
                config,
                mode,
                namespaces: RwLock::new(HashMap::new()),
                sessions: RwLock::new(HashMap::new()),
                open_sessions: AtomicUsize::new(0),
                pending_acks: AtomicUsize::new(0),
                rooms: Arc::new(AtomicUsize::new(0)),
                adapter: std::sync::OnceLock::new(),
            }),
        }
    }

    /// Declares a namespace (creating it if needed) and sets its connect handler.
    pub fn ns<F>(&self, name: &str, on_connect: F) -> Namespace
    where
        F: Fn(Socket) + Send + Sync + 'static,
    {
        let ns = self.of(name);
        ns.on_connect(on_connect);
        ns
    }

    /// The namespace of that name, created (with no handler) if it does not exist yet.
    /// A name without a leading slash gets one.
    pub fn of(&self, name: &str) -> Namespace {
        let name = if name.starts_with('/') {
            name.to_owned()
        } else {
            format!("/{name}")
        };
        let ns = self
            .shared
            .namespaces
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .entry(name.clone())
            .or_insert_with(|| {
                Namespace::new(
                    &name,
                    self.shared.config.max_rooms_per_socket,
                    self.shared.rooms.clone(),
                )
            })
            .clone();
        if let Some(adapter) = self.shared.adapter.get() {
            ns.install_adapter(adapter);
        }
        ns
    }

    /// Makes this server one node of a cluster: broadcasts, room changes, acks, socket fetches
    /// and server-side events then reach the other nodes through `adapter` (e.g.
    /// [`RedisAdapter`](crate::adapter::RedisAdapter)). Set it once, before serving; a second
    /// call is ignored (returns false). Without it the server is a single node.
    pub fn set_adapter(&self, adapter: impl Adapter) -> bool {
        let adapter: Arc<dyn Adapter> = Arc::new(adapter);
        if self.shared.adapter.set(adapter.clone()).is_err() {
            return false;
        }
        let namespaces: Vec<Namespace> = self
            .shared
            .namespaces
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        for ns in namespaces {
            ns.install_adapter(&adapter);
        }
        true
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// Number of open Engine.IO sessions (connected clients).
    pub fn session_count(&self) -> usize {
        self.shared.open_sessions.load(Ordering::Acquire)
    }

    /// Counts of what the server holds right now: after every client has left, all are zero.
    pub fn stats(&self) -> Stats {
        let sockets = self
            .shared
            .namespaces
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .map(Namespace::socket_count)
            .sum();
        Stats {
            sessions: self.session_count(),
            sockets,
            rooms: self.shared.rooms.load(Ordering::Acquire),
            pending_acks: self.shared.pending_acks.load(Ordering::Acquire),
        }
    }

    /// Closes every session ("server shutting down" for their sockets; WebSocket clients get
    /// close code 1001 after what was queued for them, polling clients a close packet) and
    /// waits up to `grace` for them to be gone. Call it before stopping the HTTP server.
    pub async fn shutdown(&self, grace: std::time::Duration) {
        let sessions: Vec<Addr<Session>> = self
            .shared
            .sessions
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .map(|entry| entry.addr.clone())
            .collect();
        log::info!("closing {} sessions: server shutting down", sessions.len());
        for addr in sessions {
            addr.do_send(CloseSession {
                reason: DisconnectReason::ServerShuttingDown,
            });
        }
        let deadline = tokio::time::Instant::now() + grace;
        while self.session_count() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    pub(crate) fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    /// Registers the endpoint (and its CORS policy) on an actix-web app:
    /// `App::new().configure(io.service())`.
    pub fn service(&self) -> impl FnOnce(&mut ServiceConfig) {
        let shared = self.shared.clone();
        move |cfg: &mut ServiceConfig| service::register(cfg, shared)
    }
}
