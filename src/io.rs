//! The public facade: `SocketIo`, the handle applications hold (namespaces, configuration,
//! stats, shutdown, the actix-web service), over one Engine.IO server running Socket.IO.

use std::{
    sync::{Arc, Weak},
    time::Duration,
};

use actix_web::web::ServiceConfig;

use crate::{
    adapter::Adapter,
    config::Config,
    engine::{
        handler::{Echo, SessionHandler},
        meter::Meter,
        registry::Engine,
        service,
    },
    reason::DisconnectReason,
    socket::{
        connection::Connection,
        handler::HandlerOutput,
        namespace::{DynNamespace, Namespace},
        observe::Observer,
        socket::Socket,
        state::{Matcher, ServerState},
    },
};

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
    /// Dropped sockets whose state is kept for connection state recovery.
    pub recovery_sessions: usize,
    /// Packets kept for connection state recovery.
    pub recovery_packets: usize,
    /// Bytes of those packets (frames plus bookkeeping).
    pub recovery_bytes: usize,
    /// Reconnections that recovered their socket, since the start (a total, not a holding).
    pub recovery_hits: u64,
    /// Reconnections that presented a private id with nothing to recover (unknown, expired,
    /// or missed packets no longer stored), since the start (a total, not a holding).
    pub recovery_misses: u64,
    /// Broadcasts dropped because they waited longer than `Config::max_queue_delay` before
    /// their delivery began, since the start (a total, not a holding).
    pub broadcasts_shed: u64,
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
    engine: Arc<Engine<Connection>>,
}

/// What a [`SocketIo`] shares, for handles that must not keep the server alive.
pub(crate) type EngineOf = Engine<Connection>;

impl Default for SocketIo {
    fn default() -> Self {
        SocketIo::new(Config::default())
    }
}

impl SocketIo {
    /// A server with this configuration and no namespace yet.
    pub fn new(config: Config) -> Self {
        let state = ServerState::new(&config);
        SocketIo {
            engine: Arc::new(Engine::new(config, state)),
        }
    }

    /// A plain Engine.IO server that echoes every message back, text and binary. It exists for
    /// the Engine.IO conformance suite; applications want [`SocketIo::new`].
    #[doc(hidden)]
    pub fn engine_echo(config: Config) -> EngineEcho {
        EngineEcho {
            engine: Arc::new(Engine::new(config, ())),
        }
    }

    fn server_state(&self) -> &ServerState {
        &self.engine.app
    }

    /// A handle that does not keep the server alive (for closures the server itself holds).
    pub(crate) fn downgrade(&self) -> Weak<EngineOf> {
        Arc::downgrade(&self.engine)
    }

    /// The server behind a [`SocketIo::downgrade`] handle, while it lives.
    pub(crate) fn upgrade(weak: &Weak<EngineOf>) -> Option<SocketIo> {
        weak.upgrade().map(|engine| SocketIo { engine })
    }

    /// Sets the observer of every socket's life (once; false after).
    pub(crate) fn set_observer(&self, observer: Arc<dyn Observer>) -> bool {
        self.server_state().set_observer(observer)
    }

    /// Every namespace now: the declared ones and the live children of dynamic ones.
    pub fn namespaces(&self) -> Vec<Namespace> {
        self.server_state().namespaces()
    }

    /// The namespace of that name if it exists (unlike [`SocketIo::of`], which creates it).
    pub fn existing_namespace(&self, name: &str) -> Option<Namespace> {
        self.namespaces().into_iter().find(|ns| ns.name() == name)
    }

    /// Declares a namespace (creating it if needed) and sets its connect handler, sync or
    /// async (see [`Namespace::on_connect`]).
    pub fn ns<M, R, F>(&self, name: &str, on_connect: F) -> Namespace
    where
        F: Fn(Socket) -> R + Send + Sync + 'static,
        R: HandlerOutput<M>,
    {
        let ns = self.of(name);
        ns.on_connect(on_connect);
        ns
    }

    /// Declares a dynamic namespace: every name that matches `pattern` is a namespace of its
    /// own, made on its first CONNECT, with this connect handler (socket.io's `io.of(regex)`).
    /// The pattern has literal segments and `{name}` segments, each matching one non-empty
    /// segment: `/tenant/{id}` takes `/tenant/42` (then `socket.namespace().param("id")` is
    /// `Some("42")`), not `/tenant` or `/tenant/4/2`. Declared namespaces come first; among
    /// dynamic ones, the first declared that matches. A name nothing matches still gets
    /// "Invalid namespace". See [`DynNamespace`].
    ///
    /// # Panics
    /// When the pattern is malformed (a segment with a brace that is not exactly `{name}`).
    pub fn dyn_ns<M, R, F>(&self, pattern: &str, on_connect: F) -> DynNamespace
    where
        F: Fn(Socket) -> R + Send + Sync + 'static,
        R: HandlerOutput<M>,
    {
        let pattern = if pattern.starts_with('/') {
            pattern.to_owned()
        } else {
            format!("/{pattern}")
        };
        let matcher = Matcher::pattern(&pattern).unwrap_or_else(|err| panic!("dyn_ns: {err}"));
        let ns = self.server_state().add_dynamic(Some(&pattern), matcher);
        ns.on_connect(on_connect);
        ns
    }

    /// Declares a dynamic namespace whose names `check` accepts, given the name and the
    /// CONNECT's auth payload (socket.io's `io.of((name, auth, next) => ...)`); otherwise as
    /// [`SocketIo::dyn_ns`].
    ///
    /// ```no_run
    /// # let io = actix_socketio::SocketIo::default();
    /// io.dyn_ns_fn(
    ///     |name, auth| name.starts_with("/room-") && auth["token"] == "secret",
    ///     |socket| log::info!("{} joined {}", socket.id(), socket.ns()),
    /// );
    /// ```
    pub fn dyn_ns_fn<C, M, R, F>(&self, check: C, on_connect: F) -> DynNamespace
    where
        C: Fn(&str, &serde_json::Value) -> bool + Send + Sync + 'static,
        F: Fn(Socket) -> R + Send + Sync + 'static,
        R: HandlerOutput<M>,
    {
        let ns = self
            .server_state()
            .add_dynamic(None, Matcher::Check(Box::new(check)));
        ns.on_connect(on_connect);
        ns
    }

    /// Adds application state that handlers and middlewares reach with
    /// [`Socket::state`] (or [`Namespace::state`], [`SocketIo::state`]): one value per type,
    /// shared (an `Arc`), e.g. a database pool or a cache. A second value of the same type
    /// replaces the first.
    ///
    /// ```no_run
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use actix_socketio::SocketIo;
    ///
    /// struct Visits(AtomicU64);
    ///
    /// let io = SocketIo::default().with_state(Visits(AtomicU64::new(0)));
    /// io.ns("/", |socket| {
    ///     let visits = socket.state::<Visits>().expect("installed above");
    ///     let n = visits.0.fetch_add(1, Ordering::Relaxed) + 1;
    ///     let _ = socket.emit("visits", &n);
    /// });
    /// ```
    pub fn with_state<T: Send + Sync + 'static>(self, value: T) -> Self {
        self.server_state().app_state().insert(Arc::new(value));
        self
    }

    /// The application state of type `T`, if [`SocketIo::with_state`] gave one.
    pub fn state<T: Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        self.server_state().app_state().get::<T>()
    }

    /// The namespace of that name, created (with no handler) if it does not exist yet.
    /// A name without a leading slash gets one.
    pub fn of(&self, name: &str) -> Namespace {
        let name = if name.starts_with('/') {
            name.to_owned()
        } else {
            format!("/{name}")
        };
        self.server_state().of(name)
    }

    /// Makes this server one node of a cluster: broadcasts, room changes, acks, socket fetches
    /// and server-side events then reach the other nodes through `adapter` (e.g.
    /// [`RedisAdapter`](crate::adapter::RedisAdapter)). Set it once, before serving; a second
    /// call is ignored (returns false). Without it the server is a single node.
    pub fn set_adapter(&self, adapter: impl Adapter) -> bool {
        self.server_state().set_adapter(Arc::new(adapter))
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.engine.config
    }

    /// Number of open Engine.IO sessions (connected clients).
    pub fn session_count(&self) -> usize {
        self.engine.session_count()
    }

    /// The Engine.IO counters: sessions opened and closed (by reason), sessions on each
    /// transport, refused handshakes, slow consumers, and packets and bytes in and out (those
    /// two only while someone watches: [`Meter::watch`]).
    pub fn meter(&self) -> &Meter {
        &self.engine.meter
    }

    /// Counts of what the server holds right now: after every client has left, all are zero
    /// (but for the recovery hits and misses, which are totals since the start).
    pub fn stats(&self) -> Stats {
        let state = self.server_state();
        let mut recovery = (0, 0, 0);
        for ns in state.namespaces() {
            if let Some(store) = ns.recovery_store() {
                let counts = store.counts();
                recovery.0 += counts.sessions;
                recovery.1 += counts.packets;
                recovery.2 += counts.bytes;
            }
        }
        let (hits, misses) = state.recovery_tally();
        Stats {
            sessions: self.session_count(),
            sockets: state.namespaces().iter().map(Namespace::socket_count).sum(),
            rooms: state.rooms.load(std::sync::atomic::Ordering::Acquire),
            pending_acks: state
                .pending_acks
                .load(std::sync::atomic::Ordering::Acquire),
            recovery_sessions: recovery.0,
            recovery_packets: recovery.1,
            recovery_bytes: recovery.2,
            recovery_hits: hits,
            recovery_misses: misses,
            broadcasts_shed: state.broadcasts_shed(),
        }
    }

    /// Closes every session ("server shutting down" for their sockets; WebSocket clients get
    /// close code 1001 after what was queued for them, polling clients a close packet) and
    /// waits up to `grace` for them to be gone. Call it before stopping the HTTP server.
    pub async fn shutdown(&self, grace: Duration) {
        let told = self.engine.close_all(DisconnectReason::ServerShuttingDown);
        log::info!("closing {told} sessions: server shutting down");
        let deadline = tokio::time::Instant::now() + grace;
        while self.session_count() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Registers the endpoint (and its CORS policy) on an actix-web app:
    /// `App::new().configure(io.service())`.
    pub fn service(&self) -> impl FnOnce(&mut ServiceConfig) {
        mount(self.engine.clone())
    }

    /// Registers `GET /metrics`, the server's counters in the Prometheus text format (see
    /// [`metrics`](crate::metrics) for the families), on an actix-web app:
    /// `App::new().configure(io.service()).configure(io.metrics_service())`.
    ///
    /// Each call turns per-packet counting on for good ([`Meter::watch`], never unwatched):
    /// from then on every message in and out is counted, at the cost of two relaxed atomic
    /// additions.
    pub fn metrics_service(&self) -> impl FnOnce(&mut ServiceConfig) {
        self.metrics_service_at(crate::metrics::DEFAULT_PATH)
    }

    /// [`SocketIo::metrics_service`] on another path (`"/internal/metrics"`; a leading slash
    /// is added when missing).
    pub fn metrics_service_at(&self, path: &str) -> impl FnOnce(&mut ServiceConfig) {
        crate::metrics::mount(self.clone(), path)
    }

    /// Each namespace's name and connected sockets now (for the metrics).
    pub(crate) fn namespace_socket_counts(&self) -> Vec<(String, usize)> {
        let namespaces = self.server_state().namespaces();
        namespaces
            .iter()
            .map(|ns| (ns.name().to_owned(), ns.socket_count()))
            .collect()
    }

    /// The cluster adapter's `(requests, timeouts)`; `(0, 0)` without one.
    pub(crate) fn cluster_request_counts(&self) -> (u64, u64) {
        self.server_state()
            .adapter()
            .map_or((0, 0), |adapter| adapter.request_counts())
    }
}

/// A plain Engine.IO endpoint that echoes every message (see [`SocketIo::engine_echo`]).
#[doc(hidden)]
#[derive(Clone)]
pub struct EngineEcho {
    engine: Arc<Engine<Echo>>,
}

impl EngineEcho {
    /// Registers the endpoint on an actix-web app, as [`SocketIo::service`] does.
    pub fn service(&self) -> impl FnOnce(&mut ServiceConfig) {
        mount(self.engine.clone())
    }
}

fn mount<H: SessionHandler>(engine: Arc<Engine<H>>) -> impl FnOnce(&mut ServiceConfig) {
    move |cfg: &mut ServiceConfig| service::register(cfg, engine)
}

/// An endpoint whose WebSockets [`Server`](crate::Server) can take over: a [`SocketIo`] (or
/// the Engine.IO echo of the conformance suite).
pub trait Endpoint: sealed::Sealed {}

impl Endpoint for SocketIo {}
impl Endpoint for EngineEcho {}

pub(crate) mod sealed {
    use std::sync::Arc;

    use crate::engine::transport::raw::RawEndpoint;

    /// What `Server` needs of an endpoint; not implementable outside this crate.
    pub trait Sealed {
        /// The engine behind the endpoint.
        fn raw_endpoint(&self) -> Arc<dyn RawEndpoint>;
    }

    impl Sealed for super::SocketIo {
        fn raw_endpoint(&self) -> Arc<dyn RawEndpoint> {
            self.engine.clone()
        }
    }

    impl Sealed for super::EngineEcho {
        fn raw_endpoint(&self) -> Arc<dyn RawEndpoint> {
            self.engine.clone()
        }
    }
}
