//! Namespaces: the connect handler, connect middleware, join/leave hooks, the namespace's
//! RoomManager and its broadcast operators. The registry is read on each CONNECT.

use std::{
    collections::HashMap,
    panic::{catch_unwind, AssertUnwindSafe},
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, OnceLock, RwLock, Weak,
    },
    time::{Duration, Instant},
};

use serde::Serialize;
use serde_json::Value;

use crate::socket::{
    cluster::{Adapter, ClusterError, ServerAck},
    error::EmitError,
    handler::{call, AdmissionBox, Flow, FlowBox, HandlerOutput, MiddlewareOutput},
    observe::{Observer, ObserverSlot},
    operator::{BroadcastOperator, IntoRooms},
    packet::RESERVED_EVENTS,
    parser::Parser,
    payload::Payload,
    recovery::RecoveryStore,
    rooms::{
        Broadcast, Join, Leave, LeaveReason, Outbound, Register, Room, Seed, Selector, Shards,
        Source, Unregister,
    },
    socket::Socket,
    state::{AppState, Registry, Settings},
};

type ConnectHandler = Arc<dyn Fn(Socket) -> FlowBox + Send + Sync>;
pub(crate) type Middleware = Arc<dyn Fn(&Socket) -> AdmissionBox + Send + Sync>;
type JoinHook = Arc<dyn Fn(&Socket, &str) + Send + Sync>;
type LeaveHook = Arc<dyn Fn(&Socket, &str, LeaveReason) + Send + Sync>;
type ServerHandler = Arc<dyn Fn(Payload, Option<ServerAck>) + Send + Sync>;

/// Join and leave hooks, run by the RoomManager as it applies each change.
#[derive(Default)]
pub(crate) struct Hooks {
    join: RwLock<Vec<JoinHook>>,
    leave: RwLock<Vec<LeaveHook>>,
}

impl Hooks {
    pub(crate) fn joined(&self, socket: &Socket, room: &str) {
        if let Some(observer) = socket.namespace().observer() {
            observer.joined(socket, room);
        }
        let hooks = self.join.read().unwrap_or_else(|p| p.into_inner()).clone();
        for hook in hooks {
            if catch_unwind(AssertUnwindSafe(|| hook(socket, room))).is_err() {
                log::error!("a join hook panicked (socket {}, room {room})", socket.id());
            }
        }
    }

    pub(crate) fn left(&self, socket: &Socket, room: &str, reason: LeaveReason) {
        if let Some(observer) = socket.namespace().observer() {
            observer.left(socket, room);
        }
        let hooks = self.leave.read().unwrap_or_else(|p| p.into_inner()).clone();
        for hook in hooks {
            if catch_unwind(AssertUnwindSafe(|| hook(socket, room, reason))).is_err() {
                log::error!(
                    "a leave hook panicked (socket {}, room {room})",
                    socket.id()
                );
            }
        }
    }
}

/// What a dynamic namespace's children share with it: their handlers, middlewares and hooks
/// are its own, so that what is added to it later applies to every child.
#[derive(Clone, Default)]
pub(crate) struct Behaviour {
    on_connect: Arc<RwLock<Option<ConnectHandler>>>,
    middleware: Arc<RwLock<Vec<Middleware>>>,
    hooks: Arc<Hooks>,
}

/// What a new dynamic child is made of: its parent's pattern, its parameters, the registry.
pub(crate) type ChildOf = (Arc<str>, Vec<(String, String)>, Weak<Registry>);

/// A child of a dynamic namespace: what its name matched, and how it leaves the registry.
pub(crate) struct Child {
    /// The template it was made from (its parent).
    pub(crate) parent: Arc<str>,
    pub(crate) params: Vec<(String, String)>,
    /// Its sockets plus the CONNECTs on their way in; at zero it leaves the registry.
    pins: AtomicUsize,
    registry: Weak<Registry>,
}

pub(crate) struct NamespaceInner {
    name: Arc<str>,
    parser: Parser,
    on_connect: Arc<RwLock<Option<ConnectHandler>>>,
    middleware: Arc<RwLock<Vec<Middleware>>>,
    hooks: Arc<Hooks>,
    /// Sockets with an outgoing listener: while there is any, broadcasts carry their source.
    outgoing_watchers: AtomicUsize,
    state: Arc<AppState>,
    observer: ObserverSlot,
    child: Option<Child>,
    /// The RoomManagers (one per worker thread, see `Shards`).
    shards: Shards,
    sockets: AtomicUsize,
    adapter: OnceLock<Arc<dyn Adapter>>,
    server_handlers: RwLock<HashMap<String, ServerHandler>>,
    /// Packets and dropped sockets' state kept for connection state recovery, when on.
    recovery: Option<Arc<RecoveryStore>>,
}

/// A namespace (`/`, `/admin`...): where handlers for its sockets are registered, and the
/// starting point of broadcasts (`io.of("/").to("room").emit(...)`) from anywhere in the app.
#[derive(Clone)]
pub struct Namespace {
    inner: Arc<NamespaceInner>,
}

impl Namespace {
    pub(crate) fn new(
        name: &str,
        settings: &Settings,
        behaviour: Behaviour,
        child: Option<ChildOf>,
    ) -> Self {
        let Settings {
            parser,
            max_rooms_per_socket,
            rooms: rooms_counter,
            max_queue_delay,
            shed,
            recovery,
            recovery_tally,
            state,
            observer,
        } = settings;
        let parser = *parser;
        let name: Arc<str> = Arc::from(name);
        let recovery = recovery.as_ref().map(|(config, heartbeat)| {
            Arc::new(RecoveryStore::new(
                config,
                *heartbeat,
                recovery_tally.clone(),
            ))
        });
        let shards = Shards::new(Seed {
            hooks: behaviour.hooks.clone(),
            max_rooms: *max_rooms_per_socket,
            room_count: rooms_counter.clone(),
            max_queue_delay: *max_queue_delay,
            shed: shed.clone(),
            recording: recovery.clone().map(|store| (store, parser, name.clone())),
        });
        Namespace {
            inner: Arc::new(NamespaceInner {
                name,
                parser,
                on_connect: behaviour.on_connect,
                middleware: behaviour.middleware,
                hooks: behaviour.hooks,
                outgoing_watchers: AtomicUsize::new(0),
                state: state.clone(),
                observer: observer.clone(),
                child: child.map(|(parent, params, registry)| Child {
                    parent,
                    params,
                    pins: AtomicUsize::new(0),
                    registry,
                }),
                shards,
                sockets: AtomicUsize::new(0),
                adapter: OnceLock::new(),
                server_handlers: RwLock::new(HashMap::new()),
                recovery,
            }),
        }
    }

    /// The server's observer, when it is instrumented.
    pub(crate) fn observer(&self) -> Option<&Arc<dyn Observer>> {
        self.inner.observer.get()
    }

    /// The namespace's name, e.g. `/admin`.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    pub(crate) fn name_arc(&self) -> &Arc<str> {
        &self.inner.name
    }

    /// The wire format its packets are encoded in.
    pub(crate) fn parser(&self) -> Parser {
        self.inner.parser
    }

    /// The recovery store, when connection state recovery is on.
    pub(crate) fn recovery_store(&self) -> Option<&Arc<RecoveryStore>> {
        self.inner.recovery.as_ref()
    }

    /// The namespace's RoomManagers.
    pub(crate) fn shards(&self) -> &Shards {
        &self.inner.shards
    }

    /// Sets the handler run for every socket that joins (after the middlewares accepted it).
    ///
    /// It may be sync or async (see [`Socket::on`] for what a handler may return). While an
    /// async connect handler runs, the socket's events wait for it, so that the handlers it
    /// registers after an await see them.
    pub fn on_connect<M, R, F>(&self, handler: F) -> &Self
    where
        F: Fn(Socket) -> R + Send + Sync + 'static,
        R: HandlerOutput<M>,
    {
        let handler: ConnectHandler = Arc::new(move |socket| handler(socket).into_flow());
        *self
            .inner
            .on_connect
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Some(handler);
        self
    }

    /// Adds connect middleware, run in order before the connect handler. Returning an error
    /// refuses the socket with a CONNECT_ERROR carrying its message and data; the client's
    /// connection (and its other namespaces) stay open.
    ///
    /// A middleware may be sync (returning `Result<(), ConnectError>`) or async (returning a
    /// future of it). Until every middleware has passed, the socket is not connected: it
    /// receives nothing, is in no room, and its emits go nowhere. The whole chain must finish
    /// within the configured `connect_timeout`, or the socket is refused ("middleware
    /// timeout"). A middleware that panics refuses the socket ("middleware error").
    ///
    /// The future cannot borrow the socket: take what it needs first, or clone the socket.
    ///
    /// ```no_run
    /// use actix_socketio::{ConnectError, SocketIo};
    ///
    /// async fn user_of(token: String) -> Option<String> {
    ///     // e.g. a database lookup
    ///     (token == "secret").then(|| "ada".to_owned())
    /// }
    ///
    /// let io = SocketIo::default();
    /// io.of("/").use_middleware(|socket| {
    ///     let token = socket.handshake().auth["token"].as_str().unwrap_or("").to_owned();
    ///     let socket = socket.clone();
    ///     async move {
    ///         let user = user_of(token).await.ok_or_else(|| ConnectError::new("unauthorized"))?;
    ///         socket.set_data(serde_json::json!({ "user": user }));
    ///         Ok(())
    ///     }
    /// });
    /// ```
    pub fn use_middleware<M, R, F>(&self, middleware: F) -> &Self
    where
        F: Fn(&Socket) -> R + Send + Sync + 'static,
        R: MiddlewareOutput<M>,
    {
        let middleware: Middleware =
            Arc::new(move |socket: &Socket| middleware(socket).into_admission());
        self.inner
            .middleware
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(middleware);
        self
    }

    /// What children made from this namespace (as a dynamic namespace's template) share.
    pub(crate) fn behaviour(&self) -> Behaviour {
        Behaviour {
            on_connect: self.inner.on_connect.clone(),
            middleware: self.inner.middleware.clone(),
            hooks: self.inner.hooks.clone(),
        }
    }

    /// The application state of type `T` given to
    /// [`SocketIo::with_state`](crate::SocketIo::with_state), if any.
    pub fn state<T: Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        self.inner.state.get::<T>()
    }

    /// For a child of a dynamic namespace: the value its name gave the pattern's `{name}`
    /// segment (e.g. `id` in `/tenant/{id}` for `/tenant/42` is `"42"`).
    pub fn param(&self, name: &str) -> Option<&str> {
        let child = self.inner.child.as_ref()?;
        child
            .params
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// For a child of a dynamic namespace: the pattern it matched (e.g. `/tenant/{id}`).
    pub fn parent_pattern(&self) -> Option<&str> {
        self.inner.child.as_ref().map(|c| &*c.parent)
    }

    pub(crate) fn is_child_of(&self, pattern: &str) -> bool {
        self.inner
            .child
            .as_ref()
            .is_some_and(|c| *c.parent == *pattern)
    }

    /// A CONNECT is on its way in (the registry's lock is held): a dynamic child stays.
    pub(crate) fn pin(&self) {
        if let Some(child) = &self.inner.child {
            child.pins.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// A CONNECT that did not make it, or a socket gone: a dynamic child without sockets
    /// leaves the registry (socket.io's `cleanupEmptyChildNamespaces`).
    pub(crate) fn unpin(&self) {
        let Some(child) = &self.inner.child else {
            return;
        };
        if child.pins.fetch_sub(1, Ordering::AcqRel) != 1 {
            return;
        }
        if let Some(registry) = child.registry.upgrade() {
            registry.remove_idle(self);
        }
    }

    /// True when nothing holds a dynamic child (checked under the registry's write lock).
    pub(crate) fn idle(&self) -> bool {
        let pinned = self
            .inner
            .child
            .as_ref()
            .is_some_and(|c| c.pins.load(Ordering::Acquire) > 0);
        let kept = self
            .inner
            .recovery
            .as_ref()
            .is_some_and(|store| store.counts().sessions > 0);
        !pinned && !kept
    }

    pub(crate) fn same_as(&self, other: &Namespace) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// A socket's first outgoing listener came (`true`) or it went away (`false`).
    pub(crate) fn watch_outgoing(&self, on: bool) {
        if on {
            self.inner.outgoing_watchers.fetch_add(1, Ordering::AcqRel);
        } else {
            self.inner.outgoing_watchers.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// What a broadcast's recipients' outgoing listeners see: only while some socket has one.
    pub(crate) fn broadcast_source(&self, event: &str, payload: &Payload) -> Option<Source> {
        if self.inner.outgoing_watchers.load(Ordering::Acquire) == 0 {
            return None;
        }
        Some(Arc::new((event.to_owned(), payload.clone())))
    }

    /// Adds a hook run each time a socket joins a room (not its own private room).
    pub fn on_join<F>(&self, hook: F) -> &Self
    where
        F: Fn(&Socket, &str) + Send + Sync + 'static,
    {
        self.inner
            .hooks
            .join
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(Arc::new(hook));
        self
    }

    /// Adds a hook run each time a socket leaves a room, by leaving or by disconnecting
    /// (then once per room it was in, the socket's `rooms()` still listing them).
    pub fn on_leave<F>(&self, hook: F) -> &Self
    where
        F: Fn(&Socket, &str, LeaveReason) + Send + Sync + 'static,
    {
        self.inner
            .hooks
            .leave
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(Arc::new(hook));
        self
    }

    pub(crate) fn max_rooms_per_socket(&self) -> usize {
        self.inner.shards.max_rooms()
    }

    /// Number of sockets connected to this namespace.
    pub fn socket_count(&self) -> usize {
        self.inner.sockets.load(Ordering::Acquire)
    }

    /// Every socket of the namespace, as a broadcast target.
    pub fn all(&self) -> BroadcastOperator {
        BroadcastOperator::new(self.clone())
    }

    /// Targets the members of a room (or several).
    pub fn to(&self, rooms: impl IntoRooms) -> BroadcastOperator {
        self.all().to(rooms)
    }

    /// Targets everyone except the members of a room (or several).
    pub fn except(&self, rooms: impl IntoRooms) -> BroadcastOperator {
        self.all().except(rooms)
    }

    /// Emits an event with one argument to every socket of the namespace.
    pub fn emit<T: Serialize + ?Sized>(&self, event: &str, data: &T) -> Result<(), EmitError> {
        self.all().emit(event, data)
    }

    /// Emits an event with any arguments to every socket of the namespace.
    pub fn emit_payload(&self, event: &str, payload: Payload) -> Result<(), EmitError> {
        self.all().emit_payload(event, payload)
    }

    /// Every socket of the namespace (with ids, rooms and data).
    pub async fn fetch_sockets(&self) -> Vec<Socket> {
        self.all().fetch_sockets().await
    }

    /// Every socket of the namespace; the name socket.io users look for (`io.of(ns).sockets`).
    pub async fn sockets(&self) -> Vec<Socket> {
        self.fetch_sockets().await
    }

    /// Every room with its member count, without the private per-socket rooms; sorted by name.
    pub async fn all_rooms(&self) -> Vec<(String, usize)> {
        self.inner.shards.all_rooms(false).await
    }

    /// Targets this node's sockets only, whatever adapter is installed (`io.local` in Node).
    pub fn local(&self) -> BroadcastOperator {
        self.all().local()
    }

    /// How many nodes serve this namespace, this one included (1 without an adapter).
    pub async fn server_count(&self) -> Result<usize, ClusterError> {
        match self.adapter() {
            Some(adapter) => adapter.server_count(self.name()).await,
            None => Ok(1),
        }
    }

    /// Every room name across the cluster: this node's rooms (private per-socket rooms left
    /// out) and the other nodes' (as they report them; Node.js nodes include their sockets'
    /// private rooms), sorted, each once. Without an adapter, this node's rooms.
    pub async fn cluster_rooms(&self) -> Result<Vec<String>, ClusterError> {
        let mut rooms: Vec<String> = self.all_rooms().await.into_iter().map(|(r, _)| r).collect();
        if let Some(adapter) = self.adapter() {
            rooms.extend(adapter.all_rooms(self.name()).await?);
        }
        rooms.sort();
        rooms.dedup();
        Ok(rooms)
    }

    /// Registers the handler for a server-side event that other nodes send with
    /// `server_side_emit` (`io.on(event, ...)` for `io.serverSideEmit` in Node). The handler
    /// gets the arguments and, when the sender waits for answers, the means to answer.
    pub fn on_server_side_emit<F>(&self, event: impl Into<String>, handler: F) -> &Self
    where
        F: Fn(Payload, Option<ServerAck>) + Send + Sync + 'static,
    {
        self.inner
            .server_handlers
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(event.into(), Arc::new(handler));
        self
    }

    /// Sends an event with one argument to the other nodes' server-side handlers (never to
    /// clients, never to this node). Without an adapter there is nobody to hear it.
    pub fn server_side_emit<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<(), EmitError> {
        self.server_side_emit_payload(event, Payload::new().arg(data)?)
    }

    /// `server_side_emit` with any arguments (JSON; binary ones travel as Node's Buffer JSON).
    pub fn server_side_emit_payload(&self, event: &str, payload: Payload) -> Result<(), EmitError> {
        if RESERVED_EVENTS.contains(&event) {
            return Err(EmitError::ReservedEvent(event.to_owned()));
        }
        if let Some(adapter) = self.adapter() {
            adapter.server_side_emit(self.name(), event, &payload);
        }
        Ok(())
    }

    /// Sends an event to the other nodes' server-side handlers and collects one answer per
    /// node within `timeout`; [`ClusterError::Timeout`] when some node did not answer.
    pub async fn server_side_emit_with_ack(
        &self,
        event: &str,
        payload: Payload,
        timeout: Duration,
    ) -> Result<Vec<Value>, ClusterError> {
        match self.adapter() {
            Some(adapter) => {
                adapter
                    .server_side_emit_with_ack(self.name(), event, &payload, timeout)
                    .await
            }
            None => Ok(Vec::new()),
        }
    }

    pub(crate) fn adapter(&self) -> Option<&Arc<dyn Adapter>> {
        self.inner.adapter.get()
    }

    /// Links the namespace to the cluster (once; later adapters are ignored).
    pub(crate) fn install_adapter(&self, adapter: &Arc<dyn Adapter>) {
        if self.inner.adapter.set(adapter.clone()).is_ok() {
            adapter.attach(self);
        }
    }

    /// An event another node broadcast: delivered to this node's selected sockets, if any
    /// socket ever connected here (otherwise there is nobody to deliver to).
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn deliver_from_cluster(
        &self,
        selector: Selector,
        event: &str,
        payload: Payload,
        volatile: bool,
    ) -> Result<(), EmitError> {
        if RESERVED_EVENTS.contains(&event) {
            return Err(EmitError::ReservedEvent(event.to_owned()));
        }
        self.broadcast_here(selector, event, payload, volatile);
        Ok(())
    }

    /// One packet, encoded once, for this node's selected sockets (every shard's).
    pub(crate) fn broadcast_here(
        &self,
        selector: Selector,
        event: &str,
        payload: Payload,
        volatile: bool,
    ) {
        self.inner.shards.broadcast(|| Broadcast {
            queued_at: Instant::now(),
            selector,
            source: self.broadcast_source(event, &payload),
            packet: self.outbound(event, payload, volatile),
            volatile,
        });
    }

    /// A broadcast's packet: encoded here, once, or (kept for recovery) by the RoomManager,
    /// which gives it its offset.
    pub(crate) fn outbound(&self, event: &str, payload: Payload, volatile: bool) -> Outbound {
        if self.inner.recovery.is_some() && !volatile {
            return Outbound::Recorded {
                event: event.to_owned(),
                payload,
            };
        }
        let frames = self.parser().event(self.name(), None, event, payload);
        Outbound::Encoded(frames.into())
    }

    /// This node's selected sockets (for requests from other nodes).
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) async fn local_sockets(&self, selector: Selector) -> Vec<Socket> {
        self.inner.shards.fetch(selector).await
    }

    /// Every room of this node, private per-socket rooms included (what a Node.js node
    /// answers to "all rooms").
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) async fn local_room_names(&self) -> Vec<String> {
        self.inner
            .shards
            .all_rooms(true)
            .await
            .into_iter()
            .map(|(room, _)| room)
            .collect()
    }

    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn local_join(&self, selector: Selector, rooms: Vec<Room>) {
        self.inner.shards.do_send_all(Join { selector, rooms });
    }

    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn local_leave(&self, selector: Selector, rooms: Vec<Room>) {
        self.inner.shards.do_send_all(Leave { selector, rooms });
    }

    /// Runs the server-side handler for an event from another node (unknown events are
    /// ignored, as in Node; a panicking handler is logged).
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn run_server_side(&self, event: &str, payload: Payload, ack: Option<ServerAck>) {
        let handler = self
            .inner
            .server_handlers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(event)
            .cloned();
        let Some(handler) = handler else {
            log::debug!("no server-side handler for {event:?} on {}", self.name());
            return;
        };
        if catch_unwind(AssertUnwindSafe(|| handler(payload, ack))).is_err() {
            log::error!("the server-side handler for {event:?} panicked");
        }
    }

    /// The middleware chain, in order.
    pub(crate) fn middlewares(&self) -> Vec<Middleware> {
        self.inner
            .middleware
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Counts the socket in and gives it to the RoomManager.
    pub(crate) fn register(&self, socket: &Socket) {
        self.inner.sockets.fetch_add(1, Ordering::AcqRel);
        if let Some(manager) = self.inner.shards.local() {
            manager.do_send(Register {
                socket: socket.clone(),
            });
        }
    }

    /// Counts the socket out; the RoomManager removes it from every room.
    pub(crate) fn unregister(&self, socket: &Socket) {
        self.inner.sockets.fetch_sub(1, Ordering::AcqRel);
        // Every shard: the one it registered with may not be this thread's.
        self.inner.shards.do_send_all(Unregister {
            socket: socket.clone(),
        });
        self.unpin();
    }

    /// Runs the connect handler, if any (a panic is caught and logged).
    pub(crate) fn connected(&self, socket: Socket) -> Flow {
        let handler = self
            .inner
            .on_connect
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        match handler {
            Some(handler) => call(|| handler(socket)),
            None => Flow::Done,
        }
    }
}

/// A dynamic namespace (socket.io's `io.of(regex | fn)`): a CONNECT to any name its pattern or
/// check accepts creates a child namespace of that name, with this one's connect handler,
/// middlewares and join/leave hooks (also those added later). Each child is a namespace of its
/// own (rooms, broadcasts, `socket.ns()` is the child's name, [`Namespace::param`] gives the
/// pattern's values). A child with no socket left goes away (socket.io's
/// `cleanupEmptyChildNamespaces`), so clients cannot pile up namespaces; a later CONNECT
/// makes it anew.
///
/// ```no_run
/// # let io = actix_socketio::SocketIo::default();
/// let tenants = io.dyn_ns("/tenant/{id}", |socket| {
///     let tenant = socket.namespace().param("id").unwrap_or_default().to_owned();
///     let _ = socket.emit("welcome", &tenant);
/// });
/// // To every socket of every tenant:
/// let _ = tenants.emit("notice", "maintenance at noon");
/// ```
#[derive(Clone)]
pub struct DynNamespace {
    template: Namespace,
    registry: Arc<Registry>,
}

impl DynNamespace {
    pub(crate) fn new(template: Namespace, registry: Arc<Registry>) -> Self {
        DynNamespace { template, registry }
    }

    /// The pattern (or, for a check function, a label) that names it.
    pub fn pattern(&self) -> &str {
        self.template.name()
    }

    /// Sets the connect handler of every child (see [`Namespace::on_connect`]).
    pub fn on_connect<M, R, F>(&self, handler: F) -> &Self
    where
        F: Fn(Socket) -> R + Send + Sync + 'static,
        R: HandlerOutput<M>,
    {
        self.template.on_connect(handler);
        self
    }

    /// Adds a connect middleware for every child (see [`Namespace::use_middleware`]).
    pub fn use_middleware<M, R, F>(&self, middleware: F) -> &Self
    where
        F: Fn(&Socket) -> R + Send + Sync + 'static,
        R: MiddlewareOutput<M>,
    {
        self.template.use_middleware(middleware);
        self
    }

    /// Adds a join hook for every child (see [`Namespace::on_join`]).
    pub fn on_join<F>(&self, hook: F) -> &Self
    where
        F: Fn(&Socket, &str) + Send + Sync + 'static,
    {
        self.template.on_join(hook);
        self
    }

    /// Adds a leave hook for every child (see [`Namespace::on_leave`]).
    pub fn on_leave<F>(&self, hook: F) -> &Self
    where
        F: Fn(&Socket, &str, LeaveReason) + Send + Sync + 'static,
    {
        self.template.on_leave(hook);
        self
    }

    /// The children that exist now, sorted by name.
    pub fn children(&self) -> Vec<Namespace> {
        let mut children = self.registry.children_of(self.pattern());
        children.sort_by(|a, b| a.name().cmp(b.name()));
        children
    }

    /// Emits an event with one argument to every socket of every child.
    pub fn emit<T: Serialize + ?Sized>(&self, event: &str, data: &T) -> Result<(), EmitError> {
        self.emit_payload(event, Payload::new().arg(data)?)
    }

    /// Emits an event with any arguments to every socket of every child.
    pub fn emit_payload(&self, event: &str, payload: Payload) -> Result<(), EmitError> {
        for child in self.children() {
            child.emit_payload(event, payload.clone())?;
        }
        Ok(())
    }
}
