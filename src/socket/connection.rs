//! The Socket.IO layer of a session: its sockets (one per namespace joined), namespace joins,
//! events, acks and binary reassembly, run by the session actor as its `SessionHandler`. Every
//! rule break closes only this session, with the reason the reference server gives.

use std::{
    collections::HashMap,
    panic::{catch_unwind, AssertUnwindSafe},
    sync::{atomic::Ordering, Arc},
    time::Duration,
};

use actix::{Addr, AsyncContext, Context, Handler, Message, SpawnHandle};
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
        error::{AckError, DecodeError},
        handshake::Handshake,
        namespace::Namespace,
        packet::{Packet, PacketType},
        parser::{Decoder, Incoming, Parser},
        payload::Payload,
        recovery::{Claimed, SocketRecovery},
        socket::{Event, Socket},
        state::ServerState,
    },
};

/// How long a CONNECT whose pid belongs to a socket still connected waits for that socket's
/// drop to be handled, and how many times, before it gets a fresh socket.
const LIVE_PID_WAIT: Duration = Duration::from_millis(20);
const LIVE_PID_WAITS: u32 = 25;

/// The actor of a session that speaks Socket.IO.
pub(crate) type SessionAddr = Addr<Session<Connection>>;

/// One session's Socket.IO state.
pub(crate) struct Connection {
    /// The socket of each namespace joined.
    sockets: HashMap<Arc<str>, Socket>,
    decoder: Decoder,
    parser: Parser,
    acks: HashMap<u64, PendingAck>,
    next_ack_id: u64,
    joined_any: bool,
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
            sockets: HashMap::new(),
            decoder: state.parser.decoder(),
            parser: state.parser,
            acks: HashMap::new(),
            next_ack_id: 0,
            joined_any: false,
        }
    }

    fn started(session: &mut Session<Self>, ctx: &mut Context<Session<Self>>) {
        let connect_timeout = session.engine.config.connect_timeout;
        ctx.run_later(connect_timeout, |act, ctx| {
            if !act.handler.joined_any {
                log::warn!("session {}: no namespace joined in time", act.sid);
                act.close(DisconnectReason::ForcedClose, ctx);
            }
        });
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

    /// Runs application code; a panic in it closes this session instead of the worker.
    fn run_handler(&mut self, ctx: &mut Context<Self>, f: impl FnOnce()) {
        if catch_unwind(AssertUnwindSafe(f)).is_err() {
            log::error!(
                "session {}: a handler panicked; closing the session",
                self.sid
            );
            self.close(DisconnectReason::ForcedServerClose, ctx);
        }
    }

    fn on_connect(&mut self, packet: Packet, ctx: &mut Context<Self>) {
        self.connect_attempt(packet, 0, ctx);
    }

    /// A CONNECT; `attempt` counts the waits for a pid whose socket was still connected.
    fn connect_attempt(&mut self, packet: Packet, attempt: u32, ctx: &mut Context<Self>) {
        let nsp = packet.nsp;
        if self.handler.sockets.contains_key(nsp.as_str()) {
            self.protocol_error("second CONNECT to a joined namespace", ctx);
            return;
        }
        let parser = self.handler.parser;
        let Some(namespace) = self.engine.app.namespace(&nsp) else {
            let frame = parser.connect_error(&nsp, "Invalid namespace", None);
            self.send_frames(&[frame], ctx);
            return;
        };
        let mut auth = packet
            .data
            .unwrap_or_else(|| Value::Object(Default::default()));
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
        if let (Some(store), Some((pid, mut claim))) = (&store, claim) {
            let socket = Socket::new(
                claim.sid.clone(),
                namespace.clone(),
                handshake.clone(),
                ctx.address(),
                Some(SocketRecovery::new(pid, true)),
            );
            socket.restore(claim.rooms.clone(), std::mem::take(&mut claim.data));
            if !store.skip_middlewares && !self.admitted(&namespace, &socket, ctx) {
                return;
            }
            if !self.is_open() {
                return;
            }
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
                namespace.register(&socket);
                self.connected(&namespace, socket, ctx);
                return;
            }
            // Packets it needed left during the middlewares: a fresh socket after all.
        }
        // A socket id, and a private session id when the namespace keeps state for recovery.
        let ids = random_id().and_then(|id| match store {
            Some(_) => random_id().map(|pid| (id, Some(pid))),
            None => Ok((id, None)),
        });
        let Ok((id, pid)) = ids else {
            log::error!("session {}: no randomness for a socket id", self.sid);
            self.close(DisconnectReason::ForcedServerClose, ctx);
            return;
        };
        let recovery = pid.map(|pid| SocketRecovery::new(pid, false));
        let socket = Socket::new(id, namespace.clone(), handshake, ctx.address(), recovery);
        if !self.admitted(&namespace, &socket, ctx) || !self.is_open() {
            return;
        }
        if let (Some(store), Some(recovery)) = (&store, socket.recovery()) {
            store.enliven(recovery);
        }
        let pid = socket.recovery().map(|r| r.pid.clone());
        // Registered before the CONNECT goes out, so that it is in the namespace's broadcasts
        // as soon as the client knows it is connected.
        namespace.register(&socket);
        let frame = parser.connect(&nsp, socket.id(), pid.as_deref());
        self.send_frames(&[frame], ctx);
        log::info!("socket {} joined {nsp} (session {})", socket.id(), self.sid);
        self.connected(&namespace, socket, ctx);
    }

    /// Runs the connect middlewares; a refusal is answered with CONNECT_ERROR (false).
    fn admitted(
        &mut self,
        namespace: &Namespace,
        socket: &Socket,
        ctx: &mut Context<Self>,
    ) -> bool {
        let mut verdict = Ok(());
        self.run_handler(ctx, || verdict = namespace.admit(socket));
        match verdict {
            Ok(()) => true,
            Err(refusal) => {
                let nsp = namespace.name();
                log::info!(
                    "session {}: {nsp} refused by middleware: {}",
                    self.sid,
                    refusal.message
                );
                let frame =
                    self.handler
                        .parser
                        .connect_error(nsp, &refusal.message, refusal.data.as_ref());
                self.send_frames(&[frame], ctx);
                false
            }
        }
    }

    /// The socket is in: the session knows it, the connect handler runs.
    fn connected(&mut self, namespace: &Namespace, socket: Socket, ctx: &mut Context<Self>) {
        self.handler
            .sockets
            .insert(namespace.name_arc().clone(), socket.clone());
        self.handler.joined_any = true;
        self.run_handler(ctx, || namespace.connected(socket.clone()));
        // Only now: what the connect handler emits goes through the mailbox, a write after the
        // CONNECT rather than in the same breath (as the reference server's `drain`-paced
        // writes do; the public conformance suite's client misses a second frame that arrives
        // in the same read as the CONNECT).
        socket.set_direct_route(self.direct_route());
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
                self.run_handler(ctx, || socket.dispatch(event));
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
        self.fail_acks(Some(nsp), ctx);
        log::info!("socket {} left {nsp}", socket.id());
        self.run_handler(ctx, || {
            socket.mark_disconnected(DisconnectReason::ClientNamespaceDisconnect)
        });
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
        let frame = self.handler.parser.disconnect(nsp);
        self.send_frames(&[frame], ctx);
        self.fail_acks(Some(nsp), ctx);
        self.run_handler(ctx, || {
            socket.mark_disconnected(DisconnectReason::ServerNamespaceDisconnect)
        });
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
        self.fail_acks(None, ctx);
        let sockets: Vec<Socket> = self.handler.sockets.drain().map(|(_, s)| s).collect();
        for socket in sockets {
            socket.set_direct_route(None);
            log::info!("socket {} disconnected: {reason}", socket.id());
            if catch_unwind(AssertUnwindSafe(|| socket.mark_disconnected(reason))).is_err() {
                log::error!("socket {}: a disconnect handler panicked", socket.id());
            }
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

/// Marks a counted packet handled when the handler is done with it (see `Socket::message_sent`).
struct HandledOnDrop(Socket);

impl Drop for HandledOnDrop {
    fn drop(&mut self) {
        self.0.message_handled();
    }
}
