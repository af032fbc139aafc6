//! The session actor: one per client, owning its Engine.IO state (transport, heartbeat, upgrade,
//! polling queue, limits). What runs on top (Socket.IO, or the echo) is its `SessionHandler`.

use std::{
    collections::VecDeque,
    sync::Arc,
    time::{Duration, Instant},
};

use actix::prelude::*;
use bytes::Bytes;
use tokio::sync::oneshot;

use crate::{
    engine::{
        error::{ParseError, RequestError},
        handler::SessionHandler,
        info::EngineInfo,
        packet::{self, ControlKind, Frame, Packet},
        registry::Engine,
        transport::websocket::{CloseKind, DirectRoute, Write, WsFrame, WsInput, WsLink},
    },
    reason::DisconnectReason,
};

enum Transport {
    Polling,
    WebSocket(WsLink),
}

/// A WebSocket opened on a polling session, not yet confirmed by the client's `5`.
struct Probe {
    link: WsLink,
    probed: bool,
    timer: SpawnHandle,
    /// After `2probe`: answers a waiting GET with `6` every 100 ms, as the reference does, so
    /// the client can pause polling.
    noop: Option<SpawnHandle>,
}

/// The answer to a waiting GET: a polling body, or an error status.
pub(crate) type PollAnswer = Result<Bytes, RequestError>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Open,
    /// Closed by the server over polling: the next GET collects the last packets and `1`.
    Closing,
    Closed,
}

/// One client's session; `H` is what runs on top of it.
pub struct Session<H: SessionHandler> {
    pub(crate) sid: Arc<str>,
    pub(crate) engine: Arc<Engine<H>>,
    pub(crate) info: EngineInfo,
    transport: Transport,
    /// Boxed: a probe lives a moment, the session (inside its actor's task) for hours.
    probe: Option<Box<Probe>>,
    queue: VecDeque<Frame>,
    queued_bytes: usize,
    pending_get: Option<oneshot::Sender<PollAnswer>>,
    ping_due: Instant,
    pong_deadline: Option<Instant>,
    heartbeat: Option<SpawnHandle>,
    /// Pending slow-consumer check, armed while the backlog is over the limits.
    stall_check: Option<SpawnHandle>,
    state: State,
    /// False while stopping, when the polling close cannot wait for the next GET.
    linger_allowed: bool,
    /// Whether this session gave back its place under `max_connections` (done at close).
    slot_released: bool,
    /// The layer above: its own per-session state.
    pub(crate) handler: H,
}

impl<H: SessionHandler> Session<H> {
    fn new(engine: Arc<Engine<H>>, sid: Arc<str>, info: EngineInfo, transport: Transport) -> Self {
        Session {
            sid,
            handler: H::new(&engine.app),
            engine,
            info,
            transport,
            probe: None,
            queue: VecDeque::new(),
            queued_bytes: 0,
            pending_get: None,
            ping_due: Instant::now(),
            pong_deadline: None,
            heartbeat: None,
            stall_check: None,
            state: State::Open,
            slot_released: false,
            linger_allowed: true,
        }
    }

    /// Starts a session whose first transport is long-polling; the caller answers the
    /// handshake GET with the OPEN packet.
    pub(crate) fn start_polling(
        engine: Arc<Engine<H>>,
        sid: Arc<str>,
        info: EngineInfo,
    ) -> Addr<Self> {
        Session::new(engine, sid, info, Transport::Polling).start()
    }

    /// Starts a session on a WebSocket; the OPEN packet is its first frame. `input` is the
    /// socket's frame stream, fed to the actor with `add_stream`.
    pub(crate) fn start_websocket<S>(
        engine: Arc<Engine<H>>,
        sid: Arc<str>,
        info: EngineInfo,
        link: WsLink,
        input: S,
    ) -> Addr<Self>
    where
        S: futures_util::Stream<Item = WsInput> + 'static,
    {
        let open = Frame::Text(format!("0{}", engine.config.open_payload(&sid, false)).into());
        link.send(open);
        Session::create(move |ctx| {
            ctx.add_stream(input);
            Session::new(engine, sid, info, Transport::WebSocket(link))
        })
    }

    /// Whether the current transport is a WebSocket (else long-polling).
    pub(crate) fn is_websocket(&self) -> bool {
        matches!(self.transport, Transport::WebSocket(_))
    }

    /// False once the session is closing or closed.
    pub(crate) fn is_open(&self) -> bool {
        self.state == State::Open
    }

    /// Whether a packet sent now would leave at once (a GET is waiting, or nothing is queued
    /// on the WebSocket): what `volatile` packets need.
    pub(crate) fn writable(&self) -> bool {
        match &self.transport {
            Transport::Polling => self.pending_get.is_some(),
            Transport::WebSocket(link) => link.backlog().1 == 0,
        }
    }

    /// True once the client missed its pong deadline, whether or not the timer has fired yet.
    fn expired(&self) -> bool {
        matches!(self.pong_deadline, Some(deadline) if Instant::now() >= deadline)
    }

    fn schedule_ping(&mut self, ctx: &mut Context<Self>) {
        let interval = self.engine.config.ping_interval;
        self.ping_due = Instant::now() + interval;
        if let Some(handle) = self.heartbeat.take() {
            ctx.cancel_future(handle);
        }
        self.heartbeat = Some(ctx.run_later(interval, |act, ctx| act.send_ping(ctx)));
    }

    fn send_ping(&mut self, ctx: &mut Context<Self>) {
        if self.state != State::Open {
            return;
        }
        self.send_frames(&[Frame::control(ControlKind::Ping)], ctx);
        // The deadline counts from when the ping was due, so a late timer never grants extra time.
        self.pong_deadline = Some(self.ping_due + self.engine.config.ping_timeout);
        self.arm_pong_check(ctx);
    }

    fn arm_pong_check(&mut self, ctx: &mut Context<Self>) {
        let Some(deadline) = self.pong_deadline else {
            return;
        };
        let wait = deadline.saturating_duration_since(Instant::now());
        self.heartbeat = Some(ctx.run_later(wait, |act, ctx| {
            if act.expired() {
                act.close(DisconnectReason::PingTimeout, ctx);
            } else {
                act.arm_pong_check(ctx);
            }
        }));
    }

    fn on_pong(&mut self, ctx: &mut Context<Self>) {
        if self.pong_deadline.take().is_some() {
            self.schedule_ping(ctx);
        }
    }

    /// Bytes and packets waiting for the client: the WebSocket writer's backlog, or the polling
    /// queue between two GETs.
    fn backlog(&self) -> (usize, usize) {
        match &self.transport {
            Transport::WebSocket(link) => link.backlog(),
            Transport::Polling => (self.queued_bytes, self.queue.len()),
        }
    }

    /// Sends frames through whichever transport is current.
    ///
    /// A backlog over the configured limits is tolerated for `slow_consumer_grace` (bursts
    /// drain), then closes the session; four times the limits closes it at once. One large
    /// packet on an idle connection is never refused.
    pub(crate) fn send_frames(&mut self, frames: &[Frame], ctx: &mut Context<Self>) {
        self.send_frames_when(frames, Write::Now, ctx);
    }

    /// `send_frames`, saying when a WebSocket write should happen (see `Write`).
    pub(crate) fn send_frames_when(
        &mut self,
        frames: &[Frame],
        write: Write,
        ctx: &mut Context<Self>,
    ) {
        if self.state != State::Open {
            return;
        }
        let (bytes, packets) = self.backlog();
        let config = &self.engine.config;
        if bytes > config.max_buffered_bytes.saturating_mul(4)
            || packets > config.max_buffered_packets.saturating_mul(4)
        {
            self.close_slow_consumer(ctx);
            return;
        }
        self.engine.meter.frames_out(frames);
        match &self.transport {
            Transport::WebSocket(link) => link.send_frames(frames, write),
            Transport::Polling => {
                for frame in frames {
                    self.queued_bytes += frame.len();
                    self.queue.push_back(frame.clone());
                }
                self.flush_poll();
            }
        }
        self.watch_backlog(ctx);
    }

    /// Arms the slow-consumer check when the backlog is over the limits.
    fn watch_backlog(&mut self, ctx: &mut Context<Self>) {
        if self.stall_check.is_some() || !self.over_buffer_limit() {
            return;
        }
        let grace = self.engine.config.slow_consumer_grace;
        self.stall_check = Some(ctx.run_later(grace, |act, ctx| {
            act.stall_check = None;
            if act.is_open() && act.over_buffer_limit() {
                act.close_slow_consumer(ctx);
            }
        }));
    }

    fn over_buffer_limit(&self) -> bool {
        let (bytes, packets) = self.backlog();
        let config = &self.engine.config;
        bytes > config.max_buffered_bytes || packets > config.max_buffered_packets
    }

    /// The client does not read fast enough: drop its backlog and close, rather than grow.
    fn close_slow_consumer(&mut self, ctx: &mut Context<Self>) {
        log::warn!(
            "session {}: outbound buffer over its limit (slow consumer); closing",
            self.sid
        );
        self.engine.meter.slow_consumer();
        if let Transport::WebSocket(link) = &self.transport {
            link.abort();
        }
        self.queue.clear();
        self.queued_bytes = 0;
        self.close(DisconnectReason::TransportError, ctx);
    }

    /// Hands the queued packets to the waiting GET, if there is one.
    fn flush_poll(&mut self) {
        if self.queue.is_empty() {
            return;
        }
        if let Some(tx) = self.pending_get.take() {
            let body = packet::payload_bytes(&self.queue);
            if tx.send(Ok(body)).is_ok() {
                self.queue.clear();
                self.queued_bytes = 0;
            }
            // Otherwise the request went away: the packets wait for the next GET.
        }
    }

    fn answer_pending_get(&mut self, kind: ControlKind) {
        if let Some(tx) = self.pending_get.take() {
            let _ = tx.send(Ok(packet::payload_bytes(&[Frame::control(kind)])));
        }
    }

    /// Handles one Engine.IO packet from the current transport.
    fn on_packet(&mut self, packet: Packet<'_>, ctx: &mut Context<Self>) {
        match packet {
            Packet::Close => self.close(DisconnectReason::TransportClose, ctx),
            Packet::Ping(_) => {
                log::warn!("session {}: client sent a ping (invalid in v4)", self.sid);
                self.close(DisconnectReason::TransportError, ctx);
            }
            Packet::Pong(_) => self.on_pong(ctx),
            Packet::Message(text) => {
                self.engine.meter.packet_in(text.len() + 1);
                H::on_message(self, text, ctx)
            }
            Packet::Binary(data) => {
                self.engine.meter.packet_in(data.len());
                H::on_binary(self, data, ctx)
            }
            Packet::Upgrade | Packet::Noop => {}
        }
    }

    fn on_text(&mut self, text: &str, ctx: &mut Context<Self>) {
        match packet::decode_text(text) {
            Ok(packet) => self.on_packet(packet, ctx),
            Err(err) => {
                log::warn!("session {}: {err}; closing", self.sid);
                self.close(DisconnectReason::ParseError, ctx);
            }
        }
    }

    fn on_probe_frame(&mut self, frame: WsFrame, ctx: &mut Context<Self>) {
        let Some(probe) = self.probe.as_mut() else {
            return;
        };
        match frame {
            WsFrame::Text(text) if &*text == "2probe" && !probe.probed => {
                probe.link.send(Frame::control(ControlKind::PongProbe));
                probe.probed = true;
                probe.noop = Some(ctx.run_interval(Duration::from_millis(100), |act, _| {
                    if act.queue.is_empty() {
                        act.answer_pending_get(ControlKind::Noop);
                    }
                }));
            }
            WsFrame::Text(text) if &*text == "5" && probe.probed => self.complete_upgrade(ctx),
            WsFrame::Ping(data) => probe.link.pong(data),
            _ => {
                log::debug!("session {}: upgrade aborted by the probe socket", self.sid);
                self.drop_probe(ctx);
            }
        }
    }

    fn complete_upgrade(&mut self, ctx: &mut Context<Self>) {
        let Some(probe) = self.probe.take() else {
            return;
        };
        ctx.cancel_future(probe.timer);
        if let Some(noop) = probe.noop {
            ctx.cancel_future(noop);
        }
        // A GET still waiting now was sent after the client paused polling: not a client we know.
        if let Some(tx) = self.pending_get.take() {
            let _ = tx.send(Err(RequestError::BadRequest("session upgraded")));
        }
        let link = probe.link;
        for frame in self.queue.drain(..) {
            link.send(frame);
        }
        self.queued_bytes = 0;
        self.transport = Transport::WebSocket(link);
        self.engine.meter.session_upgraded();
        H::on_upgraded(self);
        log::debug!("session {}: upgraded to websocket", self.sid);
        self.watch_backlog(ctx);
    }

    fn drop_probe(&mut self, ctx: &mut Context<Self>) {
        if let Some(probe) = self.probe.take() {
            ctx.cancel_future(probe.timer);
            if let Some(noop) = probe.noop {
                ctx.cancel_future(noop);
            }
            probe.link.close(CloseKind::Normal);
        }
    }

    /// Closes the session for `reason`: sockets are told, transports closed, the sid forgotten.
    pub(crate) fn close(&mut self, reason: DisconnectReason, ctx: &mut Context<Self>) {
        let kind = if reason == DisconnectReason::ServerShuttingDown {
            CloseKind::GoingAway
        } else {
            CloseKind::Normal
        };
        self.close_with(reason, kind, ctx);
    }

    fn close_with(&mut self, reason: DisconnectReason, kind: CloseKind, ctx: &mut Context<Self>) {
        if self.state != State::Open {
            return;
        }
        if reason.is_orderly() {
            log::info!("session {} closed: {reason}", self.sid);
        } else {
            log::warn!("session {} closed: {reason}", self.sid);
        }
        self.engine
            .meter
            .session_closed(self.is_websocket(), reason);
        H::on_close(self, reason, ctx);
        self.drop_probe(ctx);
        if let Some(handle) = self.heartbeat.take() {
            ctx.cancel_future(handle);
        }
        self.state = State::Closed;
        match &self.transport {
            Transport::WebSocket(link) => link.close(kind),
            Transport::Polling => {
                let last = if reason == DisconnectReason::TransportClose {
                    ControlKind::Noop
                } else {
                    ControlKind::Close
                };
                self.queue.push_back(Frame::control(last));
                self.release_slot();
                if let Some(tx) = self.pending_get.take() {
                    let _ = tx.send(Ok(packet::payload_bytes(&self.queue)));
                } else if self.linger_allowed
                    && (reason.is_server_initiated()
                        || reason == DisconnectReason::TransportClose
                        || reason == DisconnectReason::ForcedClose)
                {
                    // Nobody is polling right now: keep the last packets for the next GET (which
                    // may already be on its way, racing the POST that closed the session).
                    self.state = State::Closing;
                    let linger = self.engine.config.ping_timeout;
                    ctx.run_later(linger, |_, ctx| ctx.stop());
                    return;
                }
            }
        }
        self.release_slot();
        self.engine.remove_session(&self.sid);
        ctx.stop();
    }

    fn release_slot(&mut self) {
        if !std::mem::replace(&mut self.slot_released, true) {
            self.engine.release_reservation();
        }
    }
}

impl<H: SessionHandler> Actor for Session<H> {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        log::info!(
            "session {} opened over {}",
            self.sid,
            match self.transport {
                Transport::Polling => "polling",
                Transport::WebSocket(_) => "websocket",
            }
        );
        self.engine.meter.session_opened(self.is_websocket());
        self.schedule_ping(ctx);
        H::started(self, ctx);
    }

    fn stopped(&mut self, ctx: &mut Context<Self>) {
        if self.state == State::Open {
            // Stopped from outside (the system is shutting down): no timer may be scheduled now.
            self.linger_allowed = false;
            self.close(DisconnectReason::ServerShuttingDown, ctx);
        }
        self.release_slot();
        self.engine.remove_session(&self.sid);
    }
}

/// A long-polling GET and where its answer goes: the body to send (at once, or when something
/// is queued), or the refusal.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct PollGet {
    pub(crate) reply: oneshot::Sender<PollAnswer>,
}

impl<H: SessionHandler> Handler<PollGet> for Session<H> {
    type Result = ();

    fn handle(&mut self, msg: PollGet, ctx: &mut Context<Self>) {
        let tx = msg.reply;
        match self.state {
            State::Closed => {
                let _ = tx.send(Err(RequestError::UnknownSid));
                return;
            }
            State::Closing => {
                let _ = tx.send(Ok(packet::payload_bytes(&self.queue)));
                self.queue.clear();
                ctx.stop();
                return;
            }
            State::Open => {}
        }
        if self.expired() {
            self.close(DisconnectReason::PingTimeout, ctx);
            let _ = tx.send(Err(RequestError::UnknownSid));
            return;
        }
        if matches!(self.transport, Transport::WebSocket(_)) {
            let _ = tx.send(Err(RequestError::BadRequest(
                "polling on an upgraded session",
            )));
            return;
        }
        if self.pending_get.is_some() {
            log::warn!("session {}: overlapping GET requests; closing", self.sid);
            self.close(DisconnectReason::TransportError, ctx);
            let _ = tx.send(Err(RequestError::BadRequest("overlapping GET requests")));
            return;
        }
        self.pending_get = Some(tx);
        self.flush_poll();
    }
}

/// A long-polling POST body (already bounded by `max_payload`).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct PollPost {
    pub(crate) body: Bytes,
    /// Where the POST's answer goes: accepted, or why not.
    pub(crate) reply: oneshot::Sender<Result<(), RequestError>>,
}

impl<H: SessionHandler> Handler<PollPost> for Session<H> {
    type Result = ();

    fn handle(&mut self, msg: PollPost, ctx: &mut Context<Self>) {
        let answer = self.on_post(&msg.body, ctx);
        let _ = msg.reply.send(answer);
    }
}

impl<H: SessionHandler> Session<H> {
    /// A POST body that does not decode closes the session.
    fn bad_body(&mut self, err: ParseError, ctx: &mut Context<Self>) -> RequestError {
        log::warn!("session {}: {err}; closing", self.sid);
        self.close(DisconnectReason::ParseError, ctx);
        RequestError::BadRequest("parse error")
    }

    /// Handles the packets of a POST body.
    fn on_post(&mut self, body: &[u8], ctx: &mut Context<Self>) -> Result<(), RequestError> {
        if self.state != State::Open {
            return Err(RequestError::UnknownSid);
        }
        if self.expired() {
            self.close(DisconnectReason::PingTimeout, ctx);
            return Err(RequestError::UnknownSid);
        }
        if matches!(self.transport, Transport::WebSocket(_)) {
            return Err(RequestError::BadRequest("polling on an upgraded session"));
        }
        let Ok(text) = std::str::from_utf8(body) else {
            log::warn!("session {}: polling body is not UTF-8; closing", self.sid);
            self.close(DisconnectReason::ParseError, ctx);
            return Err(RequestError::BadRequest("parse error"));
        };
        // The whole body is checked before any of its packets is handled; a body of one packet
        // (the usual POST) needs no list for that.
        if !text.contains(packet::SEPARATOR) {
            let one = packet::decode_record(text).map_err(|err| self.bad_body(err, ctx))?;
            self.on_packet(one, ctx);
            return Ok(());
        }
        let packets = packet::decode_payload(text).map_err(|err| self.bad_body(err, ctx))?;
        for packet in packets {
            if self.state != State::Open {
                break;
            }
            self.on_packet(packet, ctx);
        }
        Ok(())
    }
}

/// Why a probe WebSocket was not attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProbeRefusal {
    /// The session is gone: refuse the upgrade request (400).
    Gone,
    /// Already upgraded or upgrading: accept the WebSocket, then close it, as the reference does.
    Busy,
}

/// A WebSocket opened with this session's sid: the upgrade probe.
#[derive(Message)]
#[rtype(result = "Result<(), ProbeRefusal>")]
pub(crate) struct AttachProbe {
    pub(crate) link: WsLink,
}

impl<H: SessionHandler> Handler<AttachProbe> for Session<H> {
    type Result = Result<(), ProbeRefusal>;

    fn handle(&mut self, msg: AttachProbe, ctx: &mut Context<Self>) -> Self::Result {
        if self.state != State::Open || self.expired() {
            return Err(ProbeRefusal::Gone);
        }
        if matches!(self.transport, Transport::WebSocket(_)) || self.probe.is_some() {
            log::debug!("session {}: second WebSocket refused", self.sid);
            return Err(ProbeRefusal::Busy);
        }
        let link_id = msg.link.id();
        let timer = ctx.run_later(self.engine.config.upgrade_timeout, move |act, ctx| {
            if act.probe.as_ref().is_some_and(|p| p.link.id() == link_id) {
                log::debug!("session {}: upgrade timed out", act.sid);
                act.drop_probe(ctx);
            }
        });
        self.probe = Some(Box::new(Probe {
            link: msg.link,
            probed: false,
            timer,
            noop: None,
        }));
        Ok(())
    }
}

impl<H: SessionHandler> StreamHandler<WsInput> for Session<H> {
    fn handle(&mut self, input: WsInput, ctx: &mut Context<Self>) {
        self.on_ws_input(input, ctx);
    }

    // Each stream ends with an explicit `WsFrame::End`; the default would stop the actor.
    fn finished(&mut self, _ctx: &mut Context<Self>) {}
}

impl<H: SessionHandler> Handler<WsInput> for Session<H> {
    type Result = ();

    fn handle(&mut self, input: WsInput, ctx: &mut Context<Self>) {
        self.on_ws_input(input, ctx);
    }
}

impl<H: SessionHandler> Session<H> {
    fn on_ws_input(&mut self, input: WsInput, ctx: &mut Context<Self>) {
        if self.state != State::Open {
            return;
        }
        let is_main =
            matches!(&self.transport, Transport::WebSocket(link) if link.id() == input.link);
        if !is_main {
            if self
                .probe
                .as_ref()
                .is_some_and(|p| p.link.id() == input.link)
            {
                self.on_probe_frame(input.frame, ctx);
            }
            return;
        }
        if self.expired() {
            self.close(DisconnectReason::PingTimeout, ctx);
            return;
        }
        match input.frame {
            WsFrame::Text(text) => self.on_text(&text, ctx),
            WsFrame::Binary(data) => self.on_packet(Packet::Binary(data), ctx),
            WsFrame::Ping(data) => {
                if let Transport::WebSocket(link) = &self.transport {
                    link.pong(data);
                }
            }
            WsFrame::Ignored => {}
            WsFrame::Close | WsFrame::End => self.close(DisconnectReason::TransportClose, ctx),
            WsFrame::TooBig => {
                log::warn!("session {}: WebSocket message over max_payload", self.sid);
                self.close_with(DisconnectReason::TransportError, CloseKind::TooBig, ctx);
            }
            WsFrame::Broken(why) => {
                log::warn!("session {}: WebSocket protocol error: {why}", self.sid);
                self.close_with(DisconnectReason::TransportError, CloseKind::Protocol, ctx);
            }
        }
    }
}

impl<H: SessionHandler> Session<H> {
    /// The direct route into this session's WebSocket outbox, while it writes through one.
    pub(crate) fn direct_route(&self) -> Option<DirectRoute> {
        match &self.transport {
            Transport::WebSocket(link) if self.state == State::Open => Some(DirectRoute {
                sender: link.sender(),
                max_bytes: self.engine.config.max_buffered_bytes,
                max_frames: self.engine.config.max_buffered_packets,
                meter: self.engine.meter.clone(),
            }),
            _ => None,
        }
    }
}

/// The server closes the whole session.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct CloseSession {
    pub(crate) reason: DisconnectReason,
}

impl<H: SessionHandler> Handler<CloseSession> for Session<H> {
    type Result = ();

    fn handle(&mut self, msg: CloseSession, ctx: &mut Context<Self>) {
        self.close(msg.reason, ctx);
    }
}
