//! The per-socket API handed to application code: identity, handshake, handlers, emits, acks
//! and disconnects. A `Socket` is a cheap handle; everything it does is a message to its session.

use std::{
    fmt::Display,
    future::Future,
    panic::{catch_unwind, AssertUnwindSafe},
    pin::Pin,
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, Mutex, MutexGuard,
    },
    time::Duration,
};

use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;

use crate::{
    engine::{
        packet::Frame,
        session::CloseSession,
        transport::websocket::{DirectRoute, Write},
    },
    reason::DisconnectReason,
    socket::{
        ack::{AckFuture, AckSender},
        connection::{DisconnectAndClose, EmitWithAck, LeaveNamespace, Outgoing, SessionAddr},
        error::{AckError, EmitError},
        handler::{call, panic_message, Flow, FlowBox, HandlerOutput},
        handshake::Handshake,
        namespace::Namespace,
        observe::Change,
        operator::{BroadcastOperator, IntoRooms},
        packet::RESERVED_EVENTS,
        payload::Payload,
        recovery::{RecoveryStore, SocketRecovery},
        rooms::{Room, Selector},
    },
};

/// One incoming event: its name, its arguments, and the ack callback if the client gave one.
#[derive(Debug)]
pub struct Event {
    name: String,
    payload: Payload,
    ack: Option<AckSender>,
}

impl Event {
    pub(crate) fn new(name: String, payload: Payload, ack: Option<AckSender>) -> Self {
        Event { name, payload, ack }
    }

    /// The event name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The arguments (without the event name).
    pub fn payload(&self) -> &Payload {
        &self.payload
    }

    /// Deserializes the first argument.
    pub fn data<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        self.payload.get(0)
    }

    /// Deserializes all arguments at once (a tuple, a `Vec`...).
    pub fn args<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        self.payload.parse()
    }

    /// True when the client is waiting for an acknowledgement.
    pub fn wants_ack(&self) -> bool {
        self.ack.is_some()
    }

    /// Takes the ack sender, leaving none behind.
    pub fn take_ack(&mut self) -> Option<AckSender> {
        self.ack.take()
    }

    /// Acknowledges with one serialized argument; does nothing if the client asked for no ack.
    pub fn ack<T: Serialize + ?Sized>(&mut self, data: &T) -> Result<(), serde_json::Error> {
        match self.ack.take() {
            Some(ack) => ack.send(data),
            None => Ok(()),
        }
    }

    /// Splits into name, arguments and ack sender.
    pub fn into_parts(self) -> (String, Payload, Option<AckSender>) {
        (self.name, self.payload, self.ack)
    }
}

/// An event's handler, with how it runs.
struct EventEntry {
    /// The event name (for logs).
    name: Arc<str>,
    run: Box<dyn Fn(Socket, Event) -> FlowBox + Send + Sync>,
    /// An async handler that does not hold back the socket's next events.
    concurrent: bool,
}

type AnyHandler = Arc<dyn Fn(&Socket, &Event) + Send + Sync>;
type OutgoingListener = Arc<dyn Fn(&Socket, &str, &Payload) + Send + Sync>;
type PacketMiddleware = Arc<dyn Fn(&Socket, &mut Event) -> Result<(), String> + Send + Sync>;
type ErrorHandler = Arc<dyn Fn(&Socket, &str) + Send + Sync>;
type DisconnectHandler = Arc<dyn Fn(Socket, DisconnectReason) + Send + Sync>;

/// A socket's handlers. Every connected socket holds one for its whole life, so it stays
/// small: the events in a list (a socket has a handful; a scan beats a map's table and keys),
/// the other listeners behind one box made on the first of them.
#[derive(Default)]
struct Handlers {
    events: Vec<Arc<EventEntry>>,
    listeners: Option<Box<Listeners>>,
}

/// The listeners fewer sockets register than event handlers.
#[derive(Default)]
struct Listeners {
    any: Vec<AnyHandler>,
    outgoing: Vec<OutgoingListener>,
    middleware: Vec<PacketMiddleware>,
    errors: Vec<ErrorHandler>,
    disconnect: Vec<DisconnectHandler>,
}

impl Handlers {
    /// Adds an event's handler, replacing the one registered under the same name.
    fn insert_event(&mut self, entry: EventEntry) {
        let entry = Arc::new(entry);
        match self.events.iter_mut().find(|e| e.name == entry.name) {
            Some(existing) => *existing = entry,
            None => self.events.push(entry),
        }
    }

    fn event(&self, name: &str) -> Option<&Arc<EventEntry>> {
        self.events.iter().find(|e| &*e.name == name)
    }

    /// The other listeners, made on the first registration.
    fn listeners(&mut self) -> &mut Listeners {
        self.listeners.get_or_insert_with(Box::default)
    }

    /// Clones of one kind of listener, to run without holding the lock.
    fn cloned<T: Clone>(&self, pick: impl Fn(&Listeners) -> &Vec<T>) -> Vec<T> {
        self.listeners
            .as_deref()
            .map(|listeners| pick(listeners).clone())
            .unwrap_or_default()
    }
}

/// An async event handler still running after `dispatch` returned.
pub(crate) struct PendingCall {
    pub(crate) future: Pin<Box<dyn Future<Output = Result<(), String>>>>,
    /// True when later events need not wait for it.
    pub(crate) concurrent: bool,
    /// The event it handles (for logs).
    pub(crate) event: Arc<str>,
}

pub(crate) struct SocketInner {
    id: Arc<str>,
    namespace: Namespace,
    nsp: Arc<str>,
    handshake: Handshake,
    session: SessionAddr,
    handlers: Mutex<Handlers>,
    connected: AtomicBool,
    /// The rooms this socket is in, mirrored from the RoomManager for synchronous reads.
    rooms: Mutex<RoomSet>,
    data: Mutex<Value>,
    /// Where this socket's frames may go without a message to the session: the WebSocket's
    /// outbox (see `DirectRoute`), or, over long-polling, the session's hands while it runs
    /// this socket's handler (see `Direct::Staged`).
    direct: Mutex<Direct>,
    /// Packets for this socket sent to the session as messages (broadcasts, emits that could
    /// not take the direct route, emits with acks) and not handled yet. While any is on its
    /// way, later packets take the same road, so that they stay in order.
    in_flight: AtomicUsize,
    /// Its private session id and offsets, when the namespace keeps state for recovery.
    recovery: Option<Box<SocketRecovery>>,
    /// True once an outgoing listener is registered (and until the socket disconnects).
    watching: AtomicBool,
    /// Whether its session's transport is a WebSocket now (else long-polling).
    websocket: AtomicBool,
    /// Its session's Engine.IO id.
    client: Arc<str>,
}

/// A socket's way around its session's mailbox.
enum Direct {
    None,
    /// The WebSocket's outbox.
    Outbox(DirectRoute),
    /// The session is running this socket's handler (long-polling): what it sends waits here,
    /// and the session queues it as the handler returns — the frames the message would have
    /// brought right after, without the message.
    Staged(Vec<Frame>),
}

impl Direct {
    /// Takes a packet's frames; false when there is no route or the outbox refuses them.
    fn push(&mut self, frames: &[Frame], write: Write) -> bool {
        match self {
            Direct::None => false,
            Direct::Outbox(route) => route.push(frames, write),
            Direct::Staged(staged) => {
                staged.extend_from_slice(frames);
                true
            }
        }
    }
}

/// A socket's rooms, sorted: a socket is in few rooms (its own, often one or two more), so a
/// sorted list costs one small allocation where a `BTreeSet` allocates a node of eleven (and a
/// `HashSet` a table of four). The RoomManager keeps its members' rooms in one too.
#[derive(Default)]
pub(crate) struct RoomSet {
    rooms: Vec<Room>,
}

impl RoomSet {
    fn find(&self, room: &str) -> Result<usize, usize> {
        self.rooms.binary_search_by(|r| (**r).cmp(room))
    }

    pub(crate) fn contains(&self, room: &str) -> bool {
        self.find(room).is_ok()
    }

    pub(crate) fn len(&self) -> usize {
        self.rooms.len()
    }

    pub(crate) fn insert(&mut self, room: Room) {
        if let Err(at) = self.find(&room) {
            if self.rooms.capacity() == self.rooms.len() {
                // Grow by one or two at a time: most sockets stop at a room or two.
                self.rooms.reserve_exact(self.rooms.len().clamp(1, 8));
            }
            self.rooms.insert(at, room);
        }
    }

    /// Removes a room; false when the socket was not in it.
    pub(crate) fn remove(&mut self, room: &str) -> bool {
        match self.find(room) {
            Ok(at) => {
                self.rooms.remove(at);
                true
            }
            Err(_) => false,
        }
    }

    pub(crate) fn iter(&self) -> std::slice::Iter<'_, Room> {
        self.rooms.iter()
    }

    fn extend(&mut self, rooms: impl IntoIterator<Item = Room>) {
        for room in rooms {
            self.insert(room);
        }
    }
}

/// A client's connection to one namespace.
///
/// Cloning is cheap; clones refer to the same socket. Emits are messages to the session actor, so
/// a `Socket` can be used from any thread, task or HTTP handler.
#[derive(Clone)]
pub struct Socket {
    inner: Arc<SocketInner>,
}

impl std::fmt::Debug for Socket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socket")
            .field("id", &self.inner.id)
            .field("nsp", &self.inner.nsp)
            .finish()
    }
}

impl Socket {
    pub(crate) fn new(
        id: Arc<str>,
        namespace: Namespace,
        handshake: Handshake,
        session: SessionAddr,
        recovery: Option<SocketRecovery>,
        (client, websocket): (Arc<str>, bool),
    ) -> Self {
        let mut rooms = RoomSet::default();
        rooms.insert(id.clone());
        Socket {
            inner: Arc::new(SocketInner {
                nsp: namespace.name_arc().clone(),
                namespace,
                id,
                handshake,
                session,
                handlers: Mutex::new(Handlers::default()),
                connected: AtomicBool::new(true),
                rooms: Mutex::new(rooms),
                data: Mutex::new(Value::Null),
                direct: Mutex::new(Direct::None),
                in_flight: AtomicUsize::new(0),
                recovery: recovery.map(Box::new),
                watching: AtomicBool::new(false),
                websocket: AtomicBool::new(websocket),
                client,
            }),
        }
    }

    /// True when both handles are the same socket (not merely the same id).
    pub(crate) fn same_as(&self, other: &Socket) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    pub(crate) fn session(&self) -> &SessionAddr {
        &self.inner.session
    }

    /// Opens or closes the direct route for broadcasts (the session's call).
    pub(crate) fn set_direct_route(&self, route: Option<DirectRoute>) {
        *lock(&self.inner.direct) = route.map_or(Direct::None, Direct::Outbox);
    }

    /// The session is about to run this socket's handler synchronously and will queue what it
    /// sends when it returns (`take_staged`): over long-polling only (a WebSocket has its
    /// outbox). False when nothing is staged.
    pub(crate) fn stage(&self) -> bool {
        let mut direct = lock(&self.inner.direct);
        if matches!(*direct, Direct::None) {
            *direct = Direct::Staged(Vec::new());
            true
        } else {
            false
        }
    }

    /// Ends `stage`: the frames sent meanwhile, in order, for the session to queue now.
    pub(crate) fn take_staged(&self) -> Vec<Frame> {
        let mut direct = lock(&self.inner.direct);
        match std::mem::replace(&mut *direct, Direct::None) {
            Direct::Staged(frames) => frames,
            other => {
                *direct = other;
                Vec::new()
            }
        }
    }

    /// Queues a packet's frames on the direct route; false when the session must take them
    /// (no route, messages still on their way to it, or a backlog over the limits).
    pub(crate) fn deliver_direct(&self, frames: &[Frame], write: Write) -> bool {
        let mut direct = lock(&self.inner.direct);
        self.inner.in_flight.load(Ordering::Acquire) == 0 && direct.push(frames, write)
    }

    /// A packet goes to the session as a message: counted until the session has queued it.
    pub(crate) fn message_sent(&self) {
        self.inner.in_flight.fetch_add(1, Ordering::AcqRel);
    }

    /// The session has queued (or dropped) a counted packet.
    pub(crate) fn message_handled(&self) {
        self.inner.in_flight.fetch_sub(1, Ordering::AcqRel);
    }

    /// Sends one of this socket's packets: straight into the WebSocket's outbox or the
    /// session's hands when it can (see `Direct`), else through the session, counted so that
    /// later ones follow it.
    pub(crate) fn send_frames(&self, frames: Vec<Frame>, volatile: bool) {
        if !volatile {
            let mut direct = lock(&self.inner.direct);
            if self.inner.in_flight.load(Ordering::Acquire) == 0 {
                // The usual staged case, one ack or emit in a handler: the frames as they are.
                if let Direct::Staged(staged) = &mut *direct {
                    if staged.is_empty() {
                        *staged = frames;
                        return;
                    }
                }
                if direct.push(&frames, Write::Now) {
                    return;
                }
            }
        }
        self.send_message(frames.into(), volatile);
    }

    /// `send_frames` for frames shared with others (a stored packet): the direct route copies
    /// none, a message carries another reference.
    fn send_shared(&self, frames: &Arc<[Frame]>) {
        if !self.deliver_direct(frames, Write::Now) {
            self.send_message(frames.clone(), false);
        }
    }

    fn send_message(&self, frames: Arc<[Frame]>, volatile: bool) {
        self.message_sent();
        self.inner.session.do_send(Outgoing {
            nsp: self.inner.nsp.clone(),
            socket_id: Some(self.inner.id.clone()),
            frames,
            volatile,
            counted: Some(self.clone()),
        });
    }

    pub(crate) fn ns_arc(&self) -> &Arc<str> {
        &self.inner.nsp
    }

    /// The namespace this socket belongs to, for broadcasts to all of it.
    pub fn namespace(&self) -> &Namespace {
        &self.inner.namespace
    }

    /// Joins rooms (one name or several). Takes effect in order with this socket's later
    /// broadcasts; the namespace's join hooks run for each new room. Returns false when some
    /// room was refused because the socket is at `max_rooms_per_socket`.
    pub fn join(&self, rooms: impl IntoRooms) -> bool {
        let max = self.inner.namespace.max_rooms_per_socket();
        let mut added = Vec::new();
        let mut refused = 0;
        {
            let mut mine = lock(&self.inner.rooms);
            for room in rooms.into_rooms() {
                if mine.contains(&room) {
                    continue;
                }
                // `mine` holds the private room too: `max` others at most.
                if mine.len() > max {
                    refused += 1;
                    continue;
                }
                mine.insert(room.clone());
                added.push(room);
            }
        }
        if refused > 0 {
            log::warn!(
                "socket {}: {refused} room(s) refused, at max_rooms_per_socket ({max})",
                self.id()
            );
        }
        if !added.is_empty() {
            self.to_self().sockets_join(added);
        }
        refused == 0
    }

    /// Leaves rooms (one name or several); the namespace's leave hooks run for each.
    pub fn leave(&self, rooms: impl IntoRooms) {
        let rooms = rooms.into_rooms();
        {
            let mut mine = lock(&self.inner.rooms);
            for room in &rooms {
                mine.remove(room);
            }
        }
        self.to_self().sockets_leave(rooms);
    }

    /// The rooms this socket is in, its own private room (named by its id) included.
    pub fn rooms(&self) -> Vec<String> {
        lock(&self.inner.rooms)
            .iter()
            .map(|r| r.to_string())
            .collect()
    }

    /// True when the socket is in that room.
    pub fn in_room(&self, room: &str) -> bool {
        lock(&self.inner.rooms).contains(room)
    }

    /// The mirrored rooms, its own private room first (what the RoomManager registers).
    pub(crate) fn room_list(&self) -> Vec<Room> {
        let mine = lock(&self.inner.rooms);
        let mut out = Vec::with_capacity(mine.len());
        out.push(self.inner.id.clone());
        out.extend(mine.iter().filter(|r| **r != self.inner.id).cloned());
        out
    }

    /// A recovered socket takes back its rooms and data (before it is registered).
    pub(crate) fn restore(&self, rooms: Vec<Room>, data: Value) {
        lock(&self.inner.rooms).extend(rooms);
        *lock(&self.inner.data) = data;
    }

    pub(crate) fn mirror_join(&self, room: &Room) {
        if self.connected() {
            lock(&self.inner.rooms).insert(room.clone());
        }
    }

    pub(crate) fn mirror_leave(&self, room: &Room) {
        lock(&self.inner.rooms).remove(room);
    }

    /// Targets the members of rooms, this socket excluded (`socket.to(room).emit(...)`).
    pub fn to(&self, rooms: impl IntoRooms) -> BroadcastOperator {
        self.broadcast().to(rooms)
    }

    /// Targets everyone in the namespace except this socket and the members of these rooms.
    pub fn except(&self, rooms: impl IntoRooms) -> BroadcastOperator {
        self.broadcast().except(rooms)
    }

    /// Targets everyone in the namespace except this socket.
    pub fn broadcast(&self) -> BroadcastOperator {
        self.inner
            .namespace
            .all()
            .excluding_socket(self.inner.id.clone())
    }

    /// Emits to this socket that may be dropped if its connection is busy
    /// (`socket.volatile().emit(...)`); kept in order with this socket's other emits.
    pub fn volatile(&self) -> VolatileEmitter<'_> {
        VolatileEmitter { socket: self }
    }

    fn to_self(&self) -> BroadcastOperator {
        self.inner.namespace.all().to(&*self.inner.id)
    }

    /// The application's data attached to this socket (`Null` until set), e.g. a nickname.
    pub fn data(&self) -> Value {
        lock(&self.inner.data).clone()
    }

    /// Attaches data to this socket; visible through `fetch_sockets` too.
    pub fn set_data(&self, data: Value) {
        *lock(&self.inner.data) = data;
        if self.connected() {
            if let Some(observer) = self.inner.namespace.observer() {
                observer.updated(self, Change::Data);
            }
        }
    }

    /// The transport its connection uses now: `"polling"` or `"websocket"` (socket.io's
    /// `socket.conn.transport.name`).
    pub fn transport(&self) -> &'static str {
        if self.inner.websocket.load(Ordering::Acquire) {
            "websocket"
        } else {
            "polling"
        }
    }

    /// The Engine.IO session id of its connection, shared by its sockets in other namespaces
    /// (socket.io's `socket.conn.id`).
    pub fn client_id(&self) -> &str {
        &self.inner.client
    }

    /// Its session moved to WebSocket (the session's call).
    pub(crate) fn upgraded(&self) {
        self.inner.websocket.store(true, Ordering::Release);
        if let Some(observer) = self.inner.namespace.observer() {
            observer.updated(self, Change::Transport);
        }
    }

    /// Reads the attached data as `T`.
    pub fn data_as<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        T::deserialize(&*lock(&self.inner.data))
    }

    fn handlers(&self) -> MutexGuard<'_, Handlers> {
        lock(&self.inner.handlers)
    }

    /// The socket id (the `sid` of the CONNECT answer; not the Engine.IO session id).
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    pub(crate) fn id_arc(&self) -> &Arc<str> {
        &self.inner.id
    }

    /// The namespace this socket belongs to.
    pub fn ns(&self) -> &str {
        &self.inner.nsp
    }

    /// What the client presented on connection.
    pub fn handshake(&self) -> &Handshake {
        &self.inner.handshake
    }

    /// True when this socket is a recovered one: connection state recovery gave it back the id,
    /// rooms and data of a socket whose connection had dropped, and the packets it missed
    /// (socket.io's `socket.recovered`). The connect handler runs for it too and can tell.
    pub fn recovered(&self) -> bool {
        self.inner.recovery.as_ref().is_some_and(|r| r.recovered)
    }

    pub(crate) fn recovery(&self) -> Option<&SocketRecovery> {
        self.inner.recovery.as_deref()
    }

    /// False once the socket has disconnected.
    pub fn connected(&self) -> bool {
        self.inner.connected.load(Ordering::Acquire)
    }

    /// Registers the handler of an event, replacing any previous one for that name.
    ///
    /// The handler may be sync (returning `()`, or a `Result` whose error is logged) or async
    /// (returning a future: an `async` block or `async fn`). Events of one socket are handled
    /// in arrival order: while an async handler runs, the socket's next events wait for it
    /// (see [`Socket::on_concurrent`] to opt out). A handler that panics or fails is logged and
    /// ends only that event's handling; the session and its other events go on.
    ///
    /// Handlers run on the session's worker thread, futures included (they need not be
    /// `Send`); keep sync ones short.
    ///
    /// ```no_run
    /// # use actix_socketio::{SocketIo, Socket, Event};
    /// # let io = SocketIo::default();
    /// io.ns("/", |socket| {
    ///     socket.on("ping", |socket, _event| {
    ///         let _ = socket.emit("pong", "now");
    ///     });
    ///     // Async: the ack can be answered after an await.
    ///     socket.on("slow", |_socket, mut event: Event| async move {
    ///         tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    ///         event.ack(&"done")
    ///     });
    /// });
    /// ```
    pub fn on<M, R, F>(&self, event: impl Into<String>, handler: F)
    where
        F: Fn(Socket, Event) -> R + Send + Sync + 'static,
        R: HandlerOutput<M>,
    {
        self.add_event(event.into(), handler, false);
    }

    /// Registers an async handler whose events do not wait for each other: each call starts
    /// in arrival order (after the events before it were handled or started) but the socket's
    /// next events are handled while it awaits. Sync handlers behave as with [`Socket::on`].
    pub fn on_concurrent<M, R, F>(&self, event: impl Into<String>, handler: F)
    where
        F: Fn(Socket, Event) -> R + Send + Sync + 'static,
        R: HandlerOutput<M>,
    {
        self.add_event(event.into(), handler, true);
    }

    fn add_event<M, R, F>(&self, name: String, handler: F, concurrent: bool)
    where
        F: Fn(Socket, Event) -> R + Send + Sync + 'static,
        R: HandlerOutput<M>,
    {
        let entry = EventEntry {
            name: Arc::from(name),
            run: Box::new(move |socket, event| handler(socket, event).into_flow()),
            concurrent,
        };
        self.handlers().insert_event(entry);
    }

    /// Registers a typed handler: the first argument is deserialized into `T`. Sync or async,
    /// ordered, as with [`Socket::on`].
    ///
    /// An argument that does not deserialize is refused: the handler is not called, a warning is
    /// logged, and a requested ack is answered with `{"error": "<why>"}` so no client waits forever.
    pub fn on_data<T, M, R, F>(&self, event: impl Into<String>, handler: F)
    where
        T: DeserializeOwned,
        F: Fn(Socket, T, Option<AckSender>) -> R + Send + Sync + 'static,
        R: HandlerOutput<M>,
    {
        let typed = move |socket: Socket, mut ev: Event| -> FlowBox {
            match ev.data::<T>() {
                Ok(data) => handler(socket, data, ev.take_ack()).into_flow(),
                Err(err) => {
                    log::warn!(
                        "socket {} event {:?}: invalid argument: {err}",
                        socket.id(),
                        ev.name()
                    );
                    let why = serde_json::json!({ "error": format!("invalid argument: {err}") });
                    let _ = ev.ack(&why);
                    FlowBox(Flow::Done)
                }
            }
        };
        let entry = EventEntry {
            name: Arc::from(event.into()),
            run: Box::new(typed),
            concurrent: false,
        };
        self.handlers().insert_event(entry);
    }

    /// Registers a listener called for every incoming event, before the packet middlewares
    /// and the event's own handler (socket.io's `socket.onAny`).
    pub fn on_any<F>(&self, handler: F)
    where
        F: Fn(&Socket, &Event) + Send + Sync + 'static,
    {
        self.handlers().listeners().any.push(Arc::new(handler));
    }

    /// Registers a listener called for every event sent to this socket, with its name and
    /// arguments (socket.io's `socket.onAnyOutgoing`): its own emits, emits with acks, and the
    /// broadcasts that reach it. Acks are not events and are not seen. For broadcasts it runs
    /// on the namespace's RoomManager as the packet is handed over; keep it short.
    pub fn on_any_outgoing<F>(&self, listener: F)
    where
        F: Fn(&Socket, &str, &Payload) + Send + Sync + 'static,
    {
        self.handlers()
            .listeners()
            .outgoing
            .push(Arc::new(listener));
        if !self.inner.watching.swap(true, Ordering::AcqRel) {
            self.inner.namespace.watch_outgoing(true);
        }
    }

    /// Runs the outgoing listeners for an event about to be sent to this socket.
    pub(crate) fn notify_outgoing(&self, event: &str, payload: &Payload) {
        if !self.inner.watching.load(Ordering::Acquire) {
            return;
        }
        let listeners = self.handlers().cloned(|l| &l.outgoing);
        for listener in listeners {
            if catch_unwind(AssertUnwindSafe(|| listener(self, event, payload))).is_err() {
                log::error!("socket {}: an outgoing listener panicked", self.id());
            }
        }
    }

    /// Adds a packet middleware (socket.io's `socket.use`): run in order for every incoming
    /// event, after the [`Socket::on_any`] listeners and before the event's handler. It may
    /// change the event; an error drops it (its handler does not run, and the client's ack,
    /// if it asked for one, is not answered unless the middleware answered it) and goes to
    /// the [`Socket::on_error`] listeners.
    ///
    /// ```no_run
    /// # let io = actix_socketio::SocketIo::default();
    /// io.ns("/", |socket| {
    ///     socket.use_packet_middleware(|socket, event| {
    ///         if event.name() == "admin-only" && socket.data()["role"] != "admin" {
    ///             return Err("forbidden");
    ///         }
    ///         Ok(())
    ///     });
    ///     socket.on_error(|socket, error| {
    ///         let _ = socket.emit("refused", error);
    ///     });
    /// });
    /// ```
    pub fn use_packet_middleware<E, F>(&self, middleware: F)
    where
        E: Display,
        F: Fn(&Socket, &mut Event) -> Result<(), E> + Send + Sync + 'static,
    {
        self.handlers().listeners().middleware.push(Arc::new(
            move |socket: &Socket, event: &mut Event| {
                middleware(socket, event).map_err(|e| e.to_string())
            },
        ));
    }

    /// Registers a listener for the errors of this socket's packet middlewares (socket.io's
    /// `socket.on("error")`). Without one, such errors are logged.
    pub fn on_error<F>(&self, handler: F)
    where
        F: Fn(&Socket, &str) + Send + Sync + 'static,
    {
        self.handlers().listeners().errors.push(Arc::new(handler));
    }

    /// The application state of type `T` given to [`SocketIo::with_state`](crate::SocketIo::with_state),
    /// if any.
    pub fn state<T: Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        self.inner.namespace.state::<T>()
    }

    /// Registers a listener called once when the socket disconnects, with the reason.
    pub fn on_disconnect<F>(&self, handler: F)
    where
        F: Fn(Socket, DisconnectReason) + Send + Sync + 'static,
    {
        self.handlers()
            .listeners()
            .disconnect
            .push(Arc::new(handler));
    }

    /// Emits an event with one argument.
    pub fn emit<T: Serialize + ?Sized>(&self, event: &str, data: &T) -> Result<(), EmitError> {
        self.emit_payload(event, Payload::new().arg(data)?)
    }

    /// Emits an event with any arguments, binary included.
    pub fn emit_payload(&self, event: &str, payload: Payload) -> Result<(), EmitError> {
        self.send_event(event, payload, false)
    }

    fn send_event(&self, event: &str, payload: Payload, volatile: bool) -> Result<(), EmitError> {
        check_event_name(event)?;
        self.notify_outgoing(event, &payload);
        if !volatile {
            if let (Some(store), Some(recovery)) =
                (self.inner.namespace.recovery_store(), self.recovery())
            {
                return self.send_recorded(store, recovery, event, payload);
            }
        }
        if !self.connected() {
            return Err(EmitError::Disconnected);
        }
        let frames = self
            .inner
            .namespace
            .parser()
            .event(&self.inner.nsp, None, event, payload);
        self.send_frames(frames, volatile);
        Ok(())
    }

    /// An emit kept for recovery: stored under an offset (appended as its last argument) and
    /// sent under the store's lock, so that this connection gets its packets in offset order.
    /// While the socket is away and still recoverable, the packet is stored for its return.
    fn send_recorded(
        &self,
        store: &RecoveryStore,
        recovery: &SocketRecovery,
        event: &str,
        payload: Payload,
    ) -> Result<(), EmitError> {
        let parser = self.inner.namespace.parser();
        let nsp = &self.inner.nsp;
        let encode = |offset: String| -> Arc<[Frame]> {
            let payload = payload.value(Value::String(offset));
            parser.event(nsp, None, event, payload).into()
        };
        if !self.connected() {
            return if store.record_for_saved(&recovery.pid, &self.inner.id, encode) {
                Ok(())
            } else {
                Err(EmitError::Disconnected)
            };
        }
        let selector = Selector {
            rooms: vec![self.inner.id.clone()],
            ..Selector::default()
        };
        store.record(selector, encode, |_, frames, offset, _| {
            self.send_shared(frames);
            recovery.last_sent.store(offset, Ordering::Release);
        });
        Ok(())
    }

    /// Emits an event with one argument and waits for the client's acknowledgement.
    pub fn emit_with_ack<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
        timeout: Duration,
    ) -> AckFuture {
        match Payload::new().arg(data) {
            Ok(payload) => self.emit_payload_with_ack(event, payload, timeout),
            Err(err) => AckFuture {
                rx: None,
                early: Some(AckError::Decode(err.to_string())),
            },
        }
    }

    /// Emits an event with any arguments and waits for the client's acknowledgement.
    ///
    /// Resolves to the client's answer, to [`AckError::Timeout`] after `timeout`, or to
    /// [`AckError::Disconnected`] if the socket goes away first.
    pub fn emit_payload_with_ack(
        &self,
        event: &str,
        payload: Payload,
        timeout: Duration,
    ) -> AckFuture {
        if let Err(err) = check_event_name(event) {
            return AckFuture {
                rx: None,
                early: Some(AckError::Decode(err.to_string())),
            };
        }
        if !self.connected() {
            return AckFuture {
                rx: None,
                early: Some(AckError::Disconnected),
            };
        }
        self.notify_outgoing(event, &payload);
        let (tx, rx) = tokio::sync::oneshot::channel();
        // Counted like any packet through the session, so that later emits stay behind it.
        self.message_sent();
        self.inner.session.do_send(EmitWithAck {
            nsp: self.inner.nsp.clone(),
            socket_id: self.inner.id.clone(),
            event: event.to_owned(),
            payload,
            timeout,
            reply: tx,
        });
        AckFuture {
            rx: Some(rx),
            early: None,
        }
    }

    /// Disconnects the socket from its namespace (the client sees "io server disconnect" and
    /// does not reconnect on its own). Other namespaces on the same connection stay.
    pub fn disconnect(&self) {
        self.inner.session.do_send(LeaveNamespace {
            nsp: self.inner.nsp.clone(),
            socket_id: self.inner.id.clone(),
        });
    }

    /// Closes the whole underlying connection without a Socket.IO disconnect packet, as
    /// `socket.conn.close()` does in Node: every namespace of the client disconnects with
    /// "forced server close", and the client sees "transport close" and reconnects.
    pub fn close_connection(&self) {
        self.inner.session.do_send(CloseSession {
            reason: DisconnectReason::ForcedServerClose,
        });
    }

    /// Disconnects every namespace of this client with a DISCONNECT packet each (the client
    /// sees "io server disconnect" and does not reconnect), then closes the connection:
    /// socket.io's `socket.disconnect(true)`, what `disconnect_sockets(true)` does.
    pub fn disconnect_and_close(&self) {
        self.inner.session.do_send(DisconnectAndClose);
    }

    /// Runs the listeners, the packet middlewares and the handler of an incoming event (the
    /// session actor's call); an async handler comes back as a `PendingCall` to run.
    pub(crate) fn dispatch(&self, mut event: Event) -> Option<PendingCall> {
        let (any, middleware, entry) = {
            let handlers = self.handlers();
            (
                handlers.cloned(|l| &l.any),
                handlers.cloned(|l| &l.middleware),
                handlers.event(event.name()).cloned(),
            )
        };
        for listener in &any {
            if catch_unwind(AssertUnwindSafe(|| listener(self, &event))).is_err() {
                log::error!("socket {}: an on_any listener panicked", self.id());
            }
        }
        for middleware in &middleware {
            let verdict = catch_unwind(AssertUnwindSafe(|| middleware(self, &mut event)))
                .unwrap_or_else(|panic| Err(format!("panicked: {}", panic_message(&*panic))));
            if let Err(error) = verdict {
                log::debug!(
                    "socket {}: event {:?} refused by a packet middleware: {error}",
                    self.id(),
                    event.name()
                );
                self.report_error(&error);
                return None;
            }
        }
        let Some(entry) = entry else {
            log::debug!(
                "socket {}: no handler for event {:?}",
                self.id(),
                event.name()
            );
            return None;
        };
        match call(|| (entry.run)(self.clone(), event)) {
            Flow::Done => None,
            Flow::Failed(error) => {
                log::error!(
                    "socket {} event {:?}: handler failed: {error}",
                    self.id(),
                    entry.name
                );
                None
            }
            Flow::Pending(future) => Some(PendingCall {
                future,
                concurrent: entry.concurrent,
                event: entry.name.clone(),
            }),
        }
    }

    /// A packet middleware's error: to the error listeners, or the log.
    fn report_error(&self, error: &str) {
        let listeners = self.handlers().cloned(|l| &l.errors);
        if listeners.is_empty() {
            log::warn!(
                "socket {}: packet middleware error without an on_error listener: {error}",
                self.id()
            );
        }
        for listener in listeners {
            if catch_unwind(AssertUnwindSafe(|| listener(self, error))).is_err() {
                log::error!("socket {}: an error listener panicked", self.id());
            }
        }
    }

    /// A socket that never made it in (refused, or its session closed during the
    /// middlewares): not connected, no listener counted, no handler kept.
    pub(crate) fn abandon(&self) {
        self.inner.connected.store(false, Ordering::Release);
        if self.inner.watching.swap(false, Ordering::AcqRel) {
            self.inner.namespace.watch_outgoing(false);
        }
        *self.handlers() = Handlers::default();
    }

    /// Marks the socket disconnected and runs its disconnect handlers (once).
    pub(crate) fn mark_disconnected(&self, reason: DisconnectReason) {
        if !self.inner.connected.swap(false, Ordering::AcqRel) {
            return;
        }
        if let Some(observer) = self.inner.namespace.observer() {
            observer.disconnected(self, reason);
        }
        self.inner.namespace.unregister(self);
        // Saved after the RoomManager was told, so that a recovered socket's registration
        // (which needs this state) always reaches it after this one's removal.
        if let (Some(store), Some(recovery)) =
            (self.inner.namespace.recovery_store(), self.recovery())
        {
            if reason.is_recoverable() {
                store.save(
                    recovery,
                    self.inner.id.clone(),
                    self.room_list(),
                    self.data(),
                );
            } else {
                store.gone(&recovery.pid);
            }
        }
        if self.inner.watching.swap(false, Ordering::AcqRel) {
            self.inner.namespace.watch_outgoing(false);
        }
        let handlers = self
            .handlers()
            .listeners
            .as_mut()
            .map(|listeners| std::mem::take(&mut listeners.disconnect))
            .unwrap_or_default();
        for handler in handlers {
            if catch_unwind(AssertUnwindSafe(|| handler(self.clone(), reason))).is_err() {
                log::error!("socket {}: a disconnect handler panicked", self.id());
            }
        }
        // Drop every handler: they often capture a clone of this socket (a reference cycle).
        *self.handlers() = Handlers::default();
    }
}

/// Volatile emits to one socket: dropped rather than queued when its connection is busy.
pub struct VolatileEmitter<'a> {
    socket: &'a Socket,
}

impl VolatileEmitter<'_> {
    /// Emits an event with one argument, unless the connection is busy.
    pub fn emit<T: Serialize + ?Sized>(&self, event: &str, data: &T) -> Result<(), EmitError> {
        self.socket
            .send_event(event, Payload::new().arg(data)?, true)
    }

    /// Emits an event with any arguments, unless the connection is busy.
    pub fn emit_payload(&self, event: &str, payload: Payload) -> Result<(), EmitError> {
        self.socket.send_event(event, payload, true)
    }
}

/// Locks a mutex whose data stays consistent even if a holder panicked (every update is a
/// single assignment or insert).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn check_event_name(event: &str) -> Result<(), EmitError> {
    if RESERVED_EVENTS.contains(&event) {
        Err(EmitError::ReservedEvent(event.to_owned()))
    } else {
        Ok(())
    }
}
