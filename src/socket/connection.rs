//! The Socket.IO layer of a session: its sockets (one per namespace joined), namespace joins,
//! events, acks and binary reassembly, run by the session actor as its `SessionHandler`. Every
//! rule break closes only this session, with the reason the reference server gives.

use std::{
    collections::{BTreeMap, BTreeSet, VecDeque},
    panic::{catch_unwind, AssertUnwindSafe},
    sync::{atomic::Ordering, Arc},
    time::{Duration, Instant},
};

use actix::{fut::ActorFutureExt, Addr, AsyncContext, Context, Handler, Message, SpawnHandle};
use bytes::Bytes;
use serde_json::Value;
use tokio::sync::oneshot;

use crate::{
    engine::{
        handler::SessionHandler, packet::Frame, random_id, session::Session,
        transport::websocket::Write,
    },
    reason::DisconnectReason,
    socket::{
        ack::AckSender,
        error::{AckError, ConnectError, DecodeError},
        handler::{handler_panicked, middleware_panicked, panic_message, Admission, Flow, Guarded},
        handshake::Handshake,
        namespace::{Middleware, Namespace},
        packet::{Packet, PacketType},
        parser::{Decoder, Incoming, Parser},
        payload::Payload,
        recovery::{Claim, Claimed, SocketRecovery},
        socket::{Event, PendingCall, Socket},
        state::ServerState,
    },
};

/// How long a CONNECT whose pid belongs to a socket still connected waits for that socket's
/// drop to be handled, and how many times, before it gets a fresh socket.
const LIVE_PID_WAIT: Duration = Duration::from_millis(20);
const LIVE_PID_WAITS: u32 = 25;

/// Most events of one socket that may wait for its running async handler; one more closes
/// the session (a client flooding a slow handler).
pub(crate) const MAX_WAITING_EVENTS: usize = 1024;

/// The actor of a session that speaks Socket.IO.
pub(crate) type SessionAddr = Addr<Session<Connection>>;

/// One session's Socket.IO state.
pub(crate) struct Connection {
    /// The socket of each namespace joined.
    sockets: SocketMap,
    decoder: Decoder,
    parser: Parser,
    // The maps below are empty for most sessions: a BTreeMap holds nothing until used and is
    // half a HashMap's size inside the session actor's task.
    acks: BTreeMap<u64, PendingAck>,
    next_ack_id: u64,
    joined_any: bool,
    /// The connect timeout, cancelled by the first join so that an idle session keeps one
    /// timer (its heartbeat) instead of two.
    connect_timer: Option<SpawnHandle>,
    /// Namespaces whose CONNECT waits for an async middleware.
    joining: BTreeSet<Arc<str>>,
    /// Sockets whose async handler is running, with the events waiting for it.
    queues: BTreeMap<Arc<str>, EventQueue>,
}

/// Events of one socket waiting for its running async handler.
struct EventQueue {
    socket_id: Arc<str>,
    waiting: VecDeque<Event>,
}

/// A socket on its way in: through the middlewares, then registered.
struct Joining {
    namespace: Namespace,
    socket: Socket,
    /// The recovered state, when the CONNECT's pid claimed one.
    claim: Option<Claim>,
    pinned: Pinned,
    /// When the middlewares must have finished (the connect timeout).
    deadline: Instant,
}

/// Holds a namespace's pin (see `Namespace::pin`) until the socket is registered (`keep`: the
/// socket then holds it, until it unregisters) or gives up (dropped: the socket that did not
/// make it is abandoned).
struct Pinned {
    namespace: Option<Namespace>,
    socket: Option<Socket>,
}

impl Pinned {
    fn new(namespace: &Namespace) -> Self {
        Pinned {
            namespace: Some(namespace.clone()),
            socket: None,
        }
    }

    /// The socket on its way in (a previous one, replaced, is abandoned).
    fn hold(&mut self, socket: &Socket) {
        if let Some(previous) = self.socket.replace(socket.clone()) {
            previous.abandon();
        }
    }

    fn keep(&mut self) {
        self.namespace = None;
        self.socket = None;
    }
}

impl Drop for Pinned {
    fn drop(&mut self) {
        if let Some(socket) = self.socket.take() {
            socket.abandon();
        }
        if let Some(ns) = self.namespace.take() {
            ns.unpin();
        }
    }
}

/// An `emit_with_ack` waiting for the client's answer.
struct PendingAck {
    nsp: Arc<str>,
    reply: oneshot::Sender<Result<Payload, AckError>>,
    timer: SpawnHandle,
}

impl SessionHandler for Connection {
    type Shared = ServerState;

    fn new(state: &ServerState) -> Self {
        Connection {
            sockets: SocketMap::default(),
            decoder: state.parser.decoder(),
            parser: state.parser,
            acks: BTreeMap::new(),
            next_ack_id: 0,
            joined_any: false,
            connect_timer: None,
            joining: BTreeSet::new(),
            queues: BTreeMap::new(),
        }
    }

    fn started(session: &mut Session<Self>, ctx: &mut Context<Session<Self>>) {
        let connect_timeout = session.engine.config.connect_timeout;
        session.handler.connect_timer = Some(ctx.run_later(connect_timeout, |act, ctx| {
            act.handler.connect_timer = None;
            if !act.handler.joined_any {
                log::warn!("session {}: no namespace joined in time", act.sid);
                act.close(DisconnectReason::ForcedClose, ctx);
            }
        }));
    }

    fn on_message(session: &mut Session<Self>, text: &str, ctx: &mut Context<Session<Self>>) {
        let decoded = session.handler.decoder.text(text);
        session.on_decoded(decoded, ctx);
    }

    fn on_binary(session: &mut Session<Self>, data: Bytes, ctx: &mut Context<Session<Self>>) {
        let decoded = session.handler.decoder.binary(data);
        session.on_decoded(decoded, ctx);
    }

    fn on_upgraded(session: &mut Session<Self>) {
        for socket in session.handler.sockets.values() {
            socket.set_direct_route(session.direct_route());
            socket.upgraded();
        }
    }

    fn on_close(
        session: &mut Session<Self>,
        reason: DisconnectReason,
        ctx: &mut Context<Session<Self>>,
    ) {
        session.sockets_closed(reason, ctx);
    }
}

impl Session<Connection> {
    /// What the decoder made of a message: a whole packet is handled, an error closes.
    fn on_decoded(
        &mut self,
        decoded: Result<Option<Incoming>, DecodeError>,
        ctx: &mut Context<Self>,
    ) {
        let incoming = match decoded {
            Ok(Some(incoming)) => incoming,
            Ok(None) => return, // a binary packet waiting for more attachments
            Err(err) => {
                // The reference closes the connection ("forced close") on a decoder error.
                log::warn!("session {}: {err}; closing", self.sid);
                self.close(DisconnectReason::ForcedClose, ctx);
                return;
            }
        };
        let Incoming {
            packet,
            attachments,
        } = incoming;
        log::debug!("session {}: {:?} {}", self.sid, packet.kind, packet.nsp);
        match packet.kind {
            PacketType::Connect => self.on_connect(packet, ctx),
            PacketType::Disconnect => self.on_client_leave(&packet.nsp, ctx),
            PacketType::Event
            | PacketType::Ack
            | PacketType::BinaryEvent
            | PacketType::BinaryAck => self.on_complete(packet, attachments, ctx),
            PacketType::ConnectError => {
                self.protocol_error("client sent CONNECT_ERROR", ctx);
            }
        }
    }

    fn protocol_error(&mut self, why: &str, ctx: &mut Context<Self>) {
        log::warn!("session {}: {why}; closing", self.sid);
        self.close(DisconnectReason::ForcedClose, ctx);
    }

    fn on_connect(&mut self, packet: Packet, ctx: &mut Context<Self>) {
        self.connect_attempt(packet, 0, ctx);
    }

    /// A CONNECT; `attempt` counts the waits for a pid whose socket was still connected.
    fn connect_attempt(&mut self, packet: Packet, attempt: u32, ctx: &mut Context<Self>) {
        let nsp = packet.nsp;
        if self.handler.sockets.contains_key(nsp.as_str())
            || self.handler.joining.contains(nsp.as_str())
        {
            self.protocol_error("second CONNECT to a joined namespace", ctx);
            return;
        }
        let parser = self.handler.parser;
        let mut auth = packet
            .data
            .unwrap_or_else(|| Value::Object(Default::default()));
        let Some(namespace) = self.engine.app.namespace_for_connect(&nsp, &auth) else {
            let frame = parser.connect_error(&nsp, "Invalid namespace", None);
            self.send_frames(&[frame], ctx);
            return;
        };
        // Pinned by the lookup (a dynamic child stays while a socket is on its way in).
        let mut pinned = Pinned::new(&namespace);
        let store = namespace.recovery_store().cloned();
        // The private session id and offset are for recovery only: the application never
        // sees them in the handshake.
        let mut claim = None;
        if let (Some(store), Value::Object(fields)) = (&store, &mut auth) {
            if let Some(Value::String(pid)) = fields.get("pid") {
                match store.claim(pid, fields.get("offset")) {
                    Claimed::Yes(claimed) => {
                        claim = Some((Arc::<str>::from(pid.as_str()), claimed))
                    }
                    // A client reconnects as soon as it sees its connection drop, maybe
                    // before the server has handled that drop: give it a moment.
                    Claimed::Live if attempt < LIVE_PID_WAITS => {
                        let retry = Packet {
                            nsp,
                            data: Some(auth),
                            ..packet
                        };
                        drop(pinned);
                        ctx.run_later(LIVE_PID_WAIT, move |act, ctx| {
                            if act.is_open() {
                                act.connect_attempt(retry, attempt + 1, ctx);
                            }
                        });
                        return;
                    }
                    Claimed::Live | Claimed::No => {
                        log::debug!(
                            "session {}: {nsp}: not recoverable; a fresh socket",
                            self.sid
                        );
                    }
                }
            }
            fields.remove("pid");
            fields.remove("offset");
        }
        let handshake = Handshake {
            auth,
            query: self.info.query.clone(),
            headers: self.info.headers.clone(),
            address: self.info.address,
            time: self.info.time,
            url: self.info.url.clone(),
        };
        let deadline = Instant::now() + self.engine.config.connect_timeout;
        if let (Some(store), Some((pid, mut claim))) = (&store, claim) {
            let socket = Socket::new(
                claim.sid.clone(),
                namespace.clone(),
                handshake,
                ctx.address(),
                Some(SocketRecovery::new(pid, true)),
                (self.sid.clone(), self.is_websocket()),
            );
            socket.restore(claim.rooms.clone(), std::mem::take(&mut claim.data));
            pinned.hold(&socket);
            let joining = Joining {
                namespace,
                socket,
                claim: Some(claim),
                pinned,
                deadline,
            };
            if store.skip_middlewares {
                self.join(joining, ctx);
            } else {
                let chain = joining.namespace.middlewares();
                self.run_middlewares(joining, chain, 0, ctx);
            }
            return;
        }
        self.fresh_join(namespace, handshake, pinned, deadline, ctx);
    }

    /// A new socket (new id, and a new private session id when the namespace keeps state for
    /// recovery) through the middlewares.
    fn fresh_join(
        &mut self,
        namespace: Namespace,
        handshake: Handshake,
        mut pinned: Pinned,
        deadline: Instant,
        ctx: &mut Context<Self>,
    ) {
        let recoverable = namespace.recovery_store().is_some();
        let ids = random_id().and_then(|id| match recoverable {
            true => random_id().map(|pid| (id, Some(pid))),
            false => Ok((id, None)),
        });
        let Ok((id, pid)) = ids else {
            log::error!("session {}: no randomness for a socket id", self.sid);
            self.close(DisconnectReason::ForcedServerClose, ctx);
            return;
        };
        let recovery = pid.map(|pid| SocketRecovery::new(pid, false));
        let socket = Socket::new(
            id,
            namespace.clone(),
            handshake,
            ctx.address(),
            recovery,
            (self.sid.clone(), self.is_websocket()),
        );
        pinned.hold(&socket);
        let chain = namespace.middlewares();
        let joining = Joining {
            namespace,
            socket,
            claim: None,
            pinned,
            deadline,
        };
        self.run_middlewares(joining, chain, 0, ctx);
    }

    /// Runs the connect middlewares from `from` on: sync ones at once, an async one in the
    /// session's context (the socket waits, unconnected, bounded by the connect timeout).
    fn run_middlewares(
        &mut self,
        joining: Joining,
        chain: Vec<Middleware>,
        from: usize,
        ctx: &mut Context<Self>,
    ) {
        for (at, middleware) in chain.iter().enumerate().skip(from) {
            let verdict = catch_unwind(AssertUnwindSafe(|| middleware(&joining.socket).0))
                .unwrap_or_else(|panic| {
                    log::error!(
                        "session {}: a connect middleware panicked: {}",
                        self.sid,
                        panic_message(&*panic)
                    );
                    Admission::Ready(Err(ConnectError::new("middleware error")))
                });
            match verdict {
                Admission::Ready(Ok(())) => {}
                Admission::Ready(Err(refusal)) => {
                    self.refuse(joining, refusal, ctx);
                    return;
                }
                Admission::Pending(future) => {
                    let nsp = joining.namespace.name_arc().clone();
                    self.handler.joining.insert(nsp.clone());
                    let left = joining.deadline.saturating_duration_since(Instant::now());
                    let future =
                        tokio::time::timeout(left, Guarded::new(future, middleware_panicked));
                    ctx.spawn(actix::fut::wrap_future(future).map(
                        move |verdict, act: &mut Self, ctx| {
                            act.handler.joining.remove(&nsp);
                            if !act.is_open() {
                                return;
                            }
                            match verdict {
                                Ok(Ok(())) => act.run_middlewares(joining, chain, at + 1, ctx),
                                Ok(Err(refusal)) => act.refuse(joining, refusal, ctx),
                                Err(_) => act.refuse(
                                    joining,
                                    ConnectError::new("middleware timeout"),
                                    ctx,
                                ),
                            }
                        },
                    ));
                    return;
                }
            }
        }
        self.join(joining, ctx);
    }

    /// A middleware refused the socket: CONNECT_ERROR with its message and data.
    fn refuse(&mut self, joining: Joining, refusal: ConnectError, ctx: &mut Context<Self>) {
        let nsp = joining.namespace.name();
        log::info!(
            "session {}: {nsp} refused by middleware: {}",
            self.sid,
            refusal.message
        );
        let frame = self
            .handler
            .parser
            .connect_error(nsp, &refusal.message, refusal.data.as_ref());
        self.send_frames(&[frame], ctx);
    }

    /// Every middleware passed: the socket is registered, told its id (and, recovered, given
    /// what it missed), and its connect handler runs.
    fn join(&mut self, joining: Joining, ctx: &mut Context<Self>) {
        if !self.is_open() {
            return;
        }
        let Joining {
            namespace,
            socket,
            claim,
            mut pinned,
            deadline,
        } = joining;
        let parser = self.handler.parser;
        let nsp = namespace.name_arc().clone();
        let store = namespace.recovery_store().cloned();
        if let (Some(store), Some(claim)) = (&store, claim) {
            let pid = socket.recovery().map(|r| r.pid.clone());
            let replayed = store.replay(&claim, &socket, |missed| {
                let frame = parser.connect(&nsp, socket.id(), pid.as_deref());
                self.send_frames(&[frame], ctx);
                for frames in &missed {
                    self.send_frames(frames, ctx);
                }
                log::info!(
                    "socket {} recovered in {nsp} with {} missed packet(s) (session {})",
                    socket.id(),
                    missed.len(),
                    self.sid
                );
            });
            if replayed.is_some() {
                pinned.keep();
                namespace.register(&socket);
                self.connected(&namespace, socket, ctx);
                return;
            }
            // Packets it needed left during the middlewares: a fresh socket after all.
            let handshake = socket.handshake().clone();
            self.fresh_join(namespace, handshake, pinned, deadline, ctx);
            return;
        }
        if let (Some(store), Some(recovery)) = (&store, socket.recovery()) {
            store.enliven(recovery);
        }
        let pid = socket.recovery().map(|r| r.pid.clone());
        // Registered before the CONNECT goes out, so that it is in the namespace's broadcasts
        // as soon as the client knows it is connected.
        pinned.keep();
        namespace.register(&socket);
        let frame = parser.connect(&nsp, socket.id(), pid.as_deref());
        self.send_frames(&[frame], ctx);
        log::info!("socket {} joined {nsp} (session {})", socket.id(), self.sid);
        self.connected(&namespace, socket, ctx);
    }

    /// The socket is in: the session knows it, the connect handler runs.
    fn connected(&mut self, namespace: &Namespace, socket: Socket, ctx: &mut Context<Self>) {
        self.handler
            .sockets
            .insert(namespace.name_arc().clone(), socket.clone());
        self.handler.joined_any = true;
        if let Some(timer) = self.handler.connect_timer.take() {
            ctx.cancel_future(timer);
        }
        if let Some(observer) = namespace.observer() {
            observer.connected(&socket);
        }
        let flow = namespace.connected(socket.clone());
        // Only now: what the connect handler emits goes through the mailbox, a write after the
        // CONNECT rather than in the same breath (as the reference server's `drain`-paced
        // writes do; the public conformance suite's client misses a second frame that arrives
        // in the same read as the CONNECT).
        socket.set_direct_route(self.direct_route());
        match flow {
            Flow::Done => {}
            Flow::Failed(error) => {
                log::error!(
                    "socket {}: the connect handler failed: {error}",
                    socket.id()
                )
            }
            // Its events wait for an async connect handler (it may register their handlers
            // after an await).
            Flow::Pending(future) => self.run_pending(
                &socket,
                PendingCall {
                    future,
                    concurrent: false,
                    event: Arc::from("connect"),
                },
                ctx,
            ),
        }
    }

    /// Runs an event's handlers, or queues the event behind an async handler still running.
    fn handle_event(&mut self, socket: Socket, event: Event, ctx: &mut Context<Self>) {
        if let Some(queue) = self.handler.queues.get_mut(socket.ns()) {
            if queue.waiting.len() >= MAX_WAITING_EVENTS {
                log::warn!(
                    "session {}: over {MAX_WAITING_EVENTS} events wait for a handler; closing",
                    self.sid
                );
                self.close(DisconnectReason::ForcedServerClose, ctx);
                return;
            }
            queue.waiting.push_back(event);
            return;
        }
        // Over long-polling what a synchronous handler sends (its ack, an emit) is queued as
        // it returns, not sent to this session as a message.
        let staged = socket.stage();
        let call = socket.dispatch(event);
        if staged {
            let frames = socket.take_staged();
            if !frames.is_empty() {
                self.send_frames_when(&frames, Write::Soon, ctx);
            }
        }
        if let Some(call) = call {
            self.run_pending(&socket, call, ctx);
        }
    }

    /// Spawns an async handler on this worker. Unless concurrent, the socket's next events
    /// wait until it is done (`HandlerDone`).
    fn run_pending(&mut self, socket: &Socket, call: PendingCall, ctx: &mut Context<Self>) {
        let PendingCall {
            future,
            concurrent,
            event,
        } = call;
        let id = socket.id_arc().clone();
        let nsp = socket.ns_arc().clone();
        let done = (!concurrent).then(|| {
            self.handler.queues.insert(
                nsp.clone(),
                EventQueue {
                    socket_id: id.clone(),
                    waiting: VecDeque::new(),
                },
            );
            ctx.address()
        });
        actix::spawn(async move {
            if let Err(error) = Guarded::new(future, handler_panicked).await {
                log::error!("socket {id} event {event:?}: handler failed: {error}");
            }
            if let Some(session) = done {
                session.do_send(HandlerDone { nsp, socket_id: id });
            }
        });
    }

    /// An async handler is done: the events that waited for it run, in order, until the
    /// next async one.
    fn handler_done(&mut self, nsp: &str, socket_id: &str, ctx: &mut Context<Self>) {
        let mine = self
            .handler
            .queues
            .get(nsp)
            .is_some_and(|q| *q.socket_id == *socket_id);
        if !mine {
            return;
        }
        let Some(mut waiting) = self.handler.queues.remove(nsp).map(|q| q.waiting) else {
            return;
        };
        let Some(socket) = self.handler.sockets.get(nsp).cloned() else {
            return;
        };
        while let Some(event) = waiting.pop_front() {
            if let Some(call) = socket.dispatch(event) {
                self.run_pending(&socket, call, ctx);
                if let Some(queue) = self.handler.queues.get_mut(nsp) {
                    queue.waiting = waiting;
                    return;
                }
            }
        }
    }

    fn on_complete(&mut self, packet: Packet, attachments: Vec<Bytes>, ctx: &mut Context<Self>) {
        let Some(socket) = self.handler.sockets.get(packet.nsp.as_str()).cloned() else {
            self.protocol_error("packet for a namespace not joined", ctx);
            return;
        };
        let Some(Value::Array(mut items)) = packet.data else {
            // decode() guarantees an array for these types.
            self.protocol_error("packet without an argument array", ctx);
            return;
        };
        match packet.kind {
            PacketType::Event | PacketType::BinaryEvent => {
                let name = match items.remove(0) {
                    Value::String(name) => name,
                    Value::Number(n) => n.to_string(),
                    _ => {
                        self.protocol_error("event name is not a string", ctx);
                        return;
                    }
                };
                let ack = packet.id.map(|id| AckSender {
                    socket: socket.clone(),
                    id,
                });
                let event = Event::new(name, Payload::from_parts(items, attachments), ack);
                self.handle_event(socket, event, ctx);
            }
            _ => {
                let Some(id) = packet.id else {
                    return; // an ACK without id answers nothing
                };
                let matches = self
                    .handler
                    .acks
                    .get(&id)
                    .is_some_and(|pending| *pending.nsp == *packet.nsp);
                if matches {
                    if let Some(pending) = self.take_pending_ack(id) {
                        ctx.cancel_future(pending.timer);
                        let _ = pending
                            .reply
                            .send(Ok(Payload::from_parts(items, attachments)));
                    }
                }
            }
        }
    }

    fn on_client_leave(&mut self, nsp: &str, ctx: &mut Context<Self>) {
        let Some(socket) = self.handler.sockets.remove(nsp) else {
            self.protocol_error("DISCONNECT for a namespace not joined", ctx);
            return;
        };
        socket.set_direct_route(None);
        self.handler.queues.remove(nsp);
        self.fail_acks(Some(nsp), ctx);
        log::info!("socket {} left {nsp}", socket.id());
        socket.mark_disconnected(DisconnectReason::ClientNamespaceDisconnect);
    }

    /// The server disconnects a socket from its namespace: `1<nsp>`, then the handlers.
    fn server_leave(&mut self, nsp: &str, socket_id: &str, ctx: &mut Context<Self>) {
        let current = self.handler.sockets.get(nsp).map(|s| s.id_arc().clone());
        if current.as_deref() != Some(socket_id) {
            return;
        }
        let Some(socket) = self.handler.sockets.remove(nsp) else {
            return;
        };
        socket.set_direct_route(None);
        self.handler.queues.remove(nsp);
        let frame = self.handler.parser.disconnect(nsp);
        self.send_frames(&[frame], ctx);
        self.fail_acks(Some(nsp), ctx);
        socket.mark_disconnected(DisconnectReason::ServerNamespaceDisconnect);
    }

    fn emit_with_ack(&mut self, msg: EmitWithAck, ctx: &mut Context<Self>) {
        let socket = self
            .handler
            .sockets
            .get(&msg.nsp)
            .filter(|s| *s.id_arc() == msg.socket_id)
            .cloned();
        let joined = socket.is_some();
        // Counted by `Socket::emit_payload_with_ack`; once queued below, later packets of the
        // socket may take the direct route again.
        let _handled = socket.map(HandledOnDrop);
        if !joined || !self.is_open() {
            let _ = msg.reply.send(Err(AckError::Disconnected));
            return;
        }
        let id = self.handler.next_ack_id;
        self.handler.next_ack_id += 1;
        let frames = self
            .handler
            .parser
            .event(&msg.nsp, Some(id), &msg.event, msg.payload);
        let timer = ctx.run_later(msg.timeout, move |act, _| {
            if let Some(pending) = act.take_pending_ack(id) {
                let _ = pending.reply.send(Err(AckError::Timeout));
            }
        });
        self.engine.app.pending_acks.fetch_add(1, Ordering::AcqRel);
        self.handler.acks.insert(
            id,
            PendingAck {
                nsp: msg.nsp,
                reply: msg.reply,
                timer,
            },
        );
        self.send_frames(&frames, ctx);
    }

    /// Removes a pending ack (answered, timed out or failed), keeping the global count right.
    fn take_pending_ack(&mut self, id: u64) -> Option<PendingAck> {
        let pending = self.handler.acks.remove(&id)?;
        self.engine.app.pending_acks.fetch_sub(1, Ordering::AcqRel);
        Some(pending)
    }

    /// Answers pending acks of one namespace (or all) with `Disconnected`.
    fn fail_acks(&mut self, nsp: Option<&str>, ctx: &mut Context<Self>) {
        let ids: Vec<u64> = self
            .handler
            .acks
            .iter()
            .filter(|(_, p)| nsp.is_none_or(|n| *p.nsp == *n))
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            if let Some(pending) = self.take_pending_ack(id) {
                ctx.cancel_future(pending.timer);
                let _ = pending.reply.send(Err(AckError::Disconnected));
            }
        }
    }

    /// The session is closing: every socket disconnects with the session's reason.
    fn sockets_closed(&mut self, reason: DisconnectReason, ctx: &mut Context<Self>) {
        self.handler.decoder.reset();
        self.handler.queues.clear();
        self.fail_acks(None, ctx);
        let sockets: Vec<Socket> = self.handler.sockets.drain().collect();
        for socket in sockets {
            socket.set_direct_route(None);
            log::info!("socket {} disconnected: {reason}", socket.id());
            socket.mark_disconnected(reason);
        }
    }
}

/// Frames for one socket (or any socket of the session when `socket_id` is `None`).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Outgoing {
    pub(crate) nsp: Arc<str>,
    pub(crate) socket_id: Option<Arc<str>>,
    pub(crate) frames: Arc<[Frame]>,
    /// May be dropped when the connection is busy.
    pub(crate) volatile: bool,
    /// A packet counted on this socket's direct route (see `Socket::message_sent`).
    pub(crate) counted: Option<Socket>,
}

impl Handler<Outgoing> for Session<Connection> {
    type Result = ();

    fn handle(&mut self, msg: Outgoing, ctx: &mut Context<Self>) {
        self.deliver(&msg, ctx);
        // Only now: the RoomManager's next broadcast may take the direct route again, and
        // lands behind this one.
        if let Some(socket) = &msg.counted {
            socket.message_handled();
        }
    }
}

impl Session<Connection> {
    fn deliver(&mut self, msg: &Outgoing, ctx: &mut Context<Self>) {
        if let Some(id) = &msg.socket_id {
            let current = self.handler.sockets.get(&msg.nsp).map(Socket::id_arc);
            if current != Some(id) {
                return; // that socket has left; drop what was meant for it
            }
        }
        if msg.volatile && !self.writable() {
            log::debug!("session {}: volatile packet dropped (busy)", self.sid);
            return;
        }
        // Packets that came as messages (broadcasts, emits from elsewhere, a connect
        // handler's emits) leave with the writer, after what the session wrote itself: a
        // separate write after the CONNECT, as the reference server's drain-paced writes do.
        self.send_frames_when(&msg.frames, Write::Soon, ctx);
    }
}

/// An emit that waits for the client's acknowledgement.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct EmitWithAck {
    pub(crate) nsp: Arc<str>,
    pub(crate) socket_id: Arc<str>,
    pub(crate) event: String,
    pub(crate) payload: Payload,
    pub(crate) timeout: Duration,
    pub(crate) reply: oneshot::Sender<Result<Payload, AckError>>,
}

impl Handler<EmitWithAck> for Session<Connection> {
    type Result = ();

    fn handle(&mut self, msg: EmitWithAck, ctx: &mut Context<Self>) {
        self.emit_with_ack(msg, ctx);
    }
}

/// The server disconnects one socket from its namespace.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct LeaveNamespace {
    pub(crate) nsp: Arc<str>,
    pub(crate) socket_id: Arc<str>,
}

impl Handler<LeaveNamespace> for Session<Connection> {
    type Result = ();

    fn handle(&mut self, msg: LeaveNamespace, ctx: &mut Context<Self>) {
        self.server_leave(&msg.nsp, &msg.socket_id, ctx);
    }
}

/// The server disconnects every socket of the session (each client socket sees "io server
/// disconnect"), then closes the connection: socket.io's `socket.disconnect(true)`.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct DisconnectAndClose;

impl Handler<DisconnectAndClose> for Session<Connection> {
    type Result = ();

    fn handle(&mut self, _: DisconnectAndClose, ctx: &mut Context<Self>) {
        let joined: Vec<(Arc<str>, Arc<str>)> = self
            .handler
            .sockets
            .iter()
            .map(|(nsp, socket)| (nsp.clone(), socket.id_arc().clone()))
            .collect();
        for (nsp, id) in joined {
            self.server_leave(&nsp, &id, ctx);
        }
        self.close(DisconnectReason::ForcedServerClose, ctx);
    }
}

/// A socket's async handler is done: its next events may run.
#[derive(Message)]
#[rtype(result = "()")]
struct HandlerDone {
    nsp: Arc<str>,
    socket_id: Arc<str>,
}

impl Handler<HandlerDone> for Session<Connection> {
    type Result = ();

    fn handle(&mut self, msg: HandlerDone, ctx: &mut Context<Self>) {
        self.handler_done(&msg.nsp, &msg.socket_id, ctx);
    }
}

/// Marks a counted packet handled when the handler is done with it (see `Socket::message_sent`).
struct HandledOnDrop(Socket);

impl Drop for HandledOnDrop {
    fn drop(&mut self) {
        self.0.message_handled();
    }
}

/// The sockets of one session by namespace: almost always one or two, so a short list searched
/// in order costs less than a hash table (one small allocation, no buckets).
#[derive(Default)]
struct SocketMap {
    entries: Vec<(Arc<str>, Socket)>,
}

impl SocketMap {
    fn position(&self, nsp: &str) -> Option<usize> {
        self.entries.iter().position(|(key, _)| &**key == nsp)
    }

    fn get(&self, nsp: &str) -> Option<&Socket> {
        self.position(nsp).map(|i| &self.entries[i].1)
    }

    fn contains_key(&self, nsp: &str) -> bool {
        self.position(nsp).is_some()
    }

    /// Adds or replaces the socket of `nsp`.
    fn insert(&mut self, nsp: Arc<str>, socket: Socket) {
        match self.position(&nsp) {
            Some(i) => self.entries[i].1 = socket,
            None => {
                if self.entries.capacity() == 0 {
                    self.entries.reserve_exact(1);
                }
                self.entries.push((nsp, socket));
            }
        }
    }

    fn remove(&mut self, nsp: &str) -> Option<Socket> {
        let i = self.position(nsp)?;
        Some(self.entries.swap_remove(i).1)
    }

    fn values(&self) -> impl Iterator<Item = &Socket> {
        self.entries.iter().map(|(_, socket)| socket)
    }

    fn iter(&self) -> impl Iterator<Item = (&Arc<str>, &Socket)> {
        self.entries.iter().map(|(nsp, socket)| (nsp, socket))
    }

    fn drain(&mut self) -> impl Iterator<Item = Socket> + '_ {
        self.entries.drain(..).map(|(_, socket)| socket)
    }
}
