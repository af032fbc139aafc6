//! Namespaces: the connect handler, connect middleware, join/leave hooks, the namespace's
//! RoomManager and its broadcast operators. The registry is read on each CONNECT.

use std::{
    collections::HashMap,
    panic::{catch_unwind, AssertUnwindSafe},
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, OnceLock, RwLock,
    },
    time::Duration,
};

use actix::{Actor, Addr};
use serde::Serialize;
use serde_json::Value;

use crate::{
    config::Recovery,
    socket::{
        cluster::{Adapter, ClusterError, ServerAck},
        error::{ConnectError, EmitError},
        operator::{BroadcastOperator, IntoRooms},
        packet::RESERVED_EVENTS,
        parser::Parser,
        payload::Payload,
        recovery::RecoveryStore,
        rooms::{
            AllRooms, Broadcast, Fetch, Join, Leave, LeaveReason, Outbound, Register, Room,
            RoomManager, Selector, Unregister,
        },
        socket::Socket,
    },
};

type ConnectHandler = Arc<dyn Fn(Socket) + Send + Sync>;
type Middleware = Arc<dyn Fn(&Socket) -> Result<(), ConnectError> + Send + Sync>;
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
        let hooks = self.join.read().unwrap_or_else(|p| p.into_inner()).clone();
        for hook in hooks {
            if catch_unwind(AssertUnwindSafe(|| hook(socket, room))).is_err() {
                log::error!("a join hook panicked (socket {}, room {room})", socket.id());
            }
        }
    }

    pub(crate) fn left(&self, socket: &Socket, room: &str, reason: LeaveReason) {
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

pub(crate) struct NamespaceInner {
    name: Arc<str>,
    parser: Parser,
    on_connect: RwLock<Option<ConnectHandler>>,
    middleware: RwLock<Vec<Middleware>>,
    hooks: Arc<Hooks>,
    manager: OnceLock<Addr<RoomManager>>,
    sockets: AtomicUsize,
    max_rooms_per_socket: usize,
    rooms_counter: Arc<AtomicUsize>,
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
        parser: Parser,
        max_rooms_per_socket: usize,
        rooms_counter: Arc<AtomicUsize>,
        recovery: Option<&(Recovery, Duration)>,
    ) -> Self {
        Namespace {
            inner: Arc::new(NamespaceInner {
                name: Arc::from(name),
                parser,
                on_connect: RwLock::new(None),
                middleware: RwLock::new(Vec::new()),
                hooks: Arc::new(Hooks::default()),
                manager: OnceLock::new(),
                sockets: AtomicUsize::new(0),
                max_rooms_per_socket,
                rooms_counter,
                adapter: OnceLock::new(),
                server_handlers: RwLock::new(HashMap::new()),
                recovery: recovery
                    .map(|(config, heartbeat)| Arc::new(RecoveryStore::new(config, *heartbeat))),
            }),
        }
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

    /// The RoomManager, started on the current arbiter the first time it is needed (a worker's,
    /// since sockets register from their session actors). `None` outside any arbiter before the
    /// first socket arrived: then there is nobody to reach anyway.
    pub(crate) fn manager(&self) -> Option<&Addr<RoomManager>> {
        if let Some(addr) = self.inner.manager.get() {
            return Some(addr);
        }
        actix::Arbiter::try_current()?;
        Some(self.inner.manager.get_or_init(|| {
            RoomManager::new(
                self.inner.hooks.clone(),
                self.inner.max_rooms_per_socket,
                self.inner.rooms_counter.clone(),
                self.inner
                    .recovery
                    .clone()
                    .map(|store| (store, self.inner.parser, self.inner.name.clone())),
            )
            .start()
        }))
    }

    /// Sets the handler run for every socket that joins (after the middleware accepted it).
    pub fn on_connect<F>(&self, handler: F) -> &Self
    where
        F: Fn(Socket) + Send + Sync + 'static,
    {
        *self
            .inner
            .on_connect
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(handler));
        self
    }

    /// Adds connect middleware, run in order before the connect handler. Returning an error
    /// refuses the socket with a CONNECT_ERROR carrying its message and data; the client's
    /// connection (and its other namespaces) stay open.
    pub fn use_middleware<F>(&self, middleware: F) -> &Self
    where
        F: Fn(&Socket) -> Result<(), ConnectError> + Send + Sync + 'static,
    {
        self.inner
            .middleware
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(Arc::new(middleware));
        self
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
        self.inner.max_rooms_per_socket
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
        match self.manager() {
            Some(manager) => manager
                .send(AllRooms { private: false })
                .await
                .unwrap_or_default(),
            None => Vec::new(),
        }
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
        let Some(manager) = self.inner.manager.get() else {
            return Ok(());
        };
        manager.do_send(Broadcast {
            selector,
            packet: self.outbound(event, payload, volatile),
            volatile,
        });
        Ok(())
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
        match self.inner.manager.get() {
            Some(manager) => manager.send(Fetch { selector }).await.unwrap_or_default(),
            None => Vec::new(),
        }
    }

    /// Every room of this node, private per-socket rooms included (what a Node.js node
    /// answers to "all rooms").
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) async fn local_room_names(&self) -> Vec<String> {
        match self.inner.manager.get() {
            Some(manager) => manager
                .send(AllRooms { private: true })
                .await
                .unwrap_or_default()
                .into_iter()
                .map(|(room, _)| room)
                .collect(),
            None => Vec::new(),
        }
    }

    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn local_join(&self, selector: Selector, rooms: Vec<Room>) {
        if let Some(manager) = self.inner.manager.get() {
            manager.do_send(Join { selector, rooms });
        }
    }

    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn local_leave(&self, selector: Selector, rooms: Vec<Room>) {
        if let Some(manager) = self.inner.manager.get() {
            manager.do_send(Leave { selector, rooms });
        }
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

    /// Runs the middleware chain; the first refusal wins.
    pub(crate) fn admit(&self, socket: &Socket) -> Result<(), ConnectError> {
        let chain = self
            .inner
            .middleware
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        chain.iter().try_for_each(|middleware| middleware(socket))
    }

    /// Counts the socket in and gives it to the RoomManager.
    pub(crate) fn register(&self, socket: &Socket) {
        self.inner.sockets.fetch_add(1, Ordering::AcqRel);
        if let Some(manager) = self.manager() {
            manager.do_send(Register {
                socket: socket.clone(),
            });
        }
    }

    /// Counts the socket out; the RoomManager removes it from every room.
    pub(crate) fn unregister(&self, socket: &Socket) {
        self.inner.sockets.fetch_sub(1, Ordering::AcqRel);
        if let Some(manager) = self.manager() {
            manager.do_send(Unregister {
                socket: socket.clone(),
            });
        }
    }

    /// Runs the connect handler, if any.
    pub(crate) fn connected(&self, socket: Socket) {
        let handler = self
            .inner
            .on_connect
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(handler) = handler {
            handler(socket);
        }
    }
}
