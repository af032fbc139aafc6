//! WebSocket transport: the upgrade handler, the outbox a session writes its frames into, and the
//! client's frame stream the session consumes. Text frames carry Engine.IO packets, binary frames
//! raw attachments.

use std::{
    cell::RefCell,
    collections::VecDeque,
    pin::Pin,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, MutexGuard,
    },
    task::{Context, Poll, Waker},
};

use actix::{Addr, Message};
use actix_web::{
    body::{BodyStream, BoxBody},
    error::PayloadError,
    web, FromRequest, HttpRequest, HttpResponse,
};
use actix_ws::{AggregatedMessage, ProtocolError};
use bytes::{BufMut, Bytes, BytesMut};
use bytestring::ByteString;
use futures_util::{Stream, StreamExt};
use tokio::net::tcp::OwnedWriteHalf;

use crate::engine::{
    error::RequestError,
    handler::SessionHandler,
    info::EngineInfo,
    meter::Meter,
    packet::Frame,
    random_id,
    registry::Engine,
    session::{AttachProbe, ProbeRefusal, Session},
};

/// Link ids tell the session which socket a frame came from (its transport, or a probe).
static NEXT_LINK_ID: AtomicU64 = AtomicU64::new(1);

/// One frame from the client, as the session sees it.
#[derive(Debug)]
pub(crate) enum WsFrame {
    Text(ByteString),
    Binary(Bytes),
    Ping(Bytes),
    /// A pong or another frame with nothing to do.
    Ignored,
    /// The client sent a close frame.
    Close,
    /// The TCP connection ended.
    End,
    /// A message over `max_payload`.
    TooBig,
    /// A WebSocket protocol violation.
    Broken(String),
}

/// A frame tagged with the socket it came from.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct WsInput {
    pub(crate) link: u64,
    pub(crate) frame: WsFrame,
}

/// How the server ends a WebSocket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CloseKind {
    Normal,
    /// 1009: a message was over `max_payload`.
    TooBig,
    /// 1002: the client broke the WebSocket protocol.
    Protocol,
    /// 1001: the server is going away (shutting down).
    GoingAway,
}

/// Frames on their way to one WebSocket, already encoded: the session (and the RoomManager)
/// push, and the connection's writer drains. This is the only queue between a session and its
/// connection. Two writers exist: the upgrade response's body, which the HTTP dispatcher polls
/// when the socket came through an actix-web `HttpServer`, and our own writer on the raw TCP
/// stream when it came through [`crate::Server`] (see `raw.rs`).
pub(crate) struct Outbox {
    state: Mutex<OutboxState>,
    /// The raw TCP stream, written to directly by pushes made on the connection's own thread
    /// while nothing is waiting to be written.
    direct: Option<DirectWrite>,
}

pub(crate) struct DirectWrite {
    pub(crate) stream: Arc<OwnedWriteHalf>,
    /// The connection's worker thread (`thread_mark`).
    pub(crate) owner: usize,
}

#[derive(Default)]
pub(crate) struct OutboxState {
    /// Encoded frames not yet handed to the connection.
    pub(crate) pending: BytesMut,
    /// Where the last data frame queued ends, counted from `consumed`'s origin; it is still
    /// (partly) queued while past `consumed`.
    last_end: usize,
    /// Where each earlier data frame still (partly) queued ends: with `last_end`, the backlog in
    /// frames. Empty, without allocation, while each frame leaves before the next comes.
    ends: VecDeque<usize>,
    /// Bytes taken out of `pending` since it was last empty.
    consumed: usize,
    /// Bytes the writer has taken from the front of `pending` and is writing without the lock
    /// (put back in front of `pending` if the socket does not take them all).
    in_flight: usize,
    /// The writer waiting for bytes.
    pub(crate) waker: Option<Waker>,
    /// Nothing more is queued: a close frame is on its way, or the connection is gone.
    pub(crate) closed: bool,
    /// Drop the connection without a close frame (a peer that stopped reading).
    pub(crate) aborted: bool,
}

/// When a push reaches the socket.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Write {
    /// At once if nothing is waiting: a session answering its client (one packet, lowest
    /// latency).
    Now,
    /// When the writer runs, after the current task: a broadcast reaching many connections,
    /// where packets queued meanwhile leave together (one syscall for several).
    Soon,
}

/// An address unique to the calling thread while it runs, cheap to take.
pub(crate) fn thread_mark() -> usize {
    thread_local! {
        static MARK: u8 = const { 0 };
    }
    MARK.with(|mark| mark as *const u8 as usize)
}

impl Outbox {
    pub(crate) fn new(direct: Option<DirectWrite>, preamble: &[u8]) -> Outbox {
        let mut state = OutboxState::default();
        state.pending.extend_from_slice(preamble);
        Outbox {
            state: Mutex::new(state),
            direct,
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, OutboxState> {
        // A panic while holding the lock leaves nothing half-done that matters here.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues a close frame (nothing after it) or a pong, for the writer.
    fn push_control(&self, opcode: u8, payload: &[u8]) {
        let mut state = self.lock();
        if state.closed {
            return;
        }
        if opcode == OPCODE_CLOSE {
            state.closed = true;
        }
        encode_frame(&mut state.pending, opcode, payload);
        state.wake();
    }

    /// Queues a packet's frames under one lock, unless the backlog is already over `limit`
    /// (bytes, frames): then false, and nothing is queued. After a close they are dropped.
    fn push_frames(&self, frames: &[Frame], limit: Option<(usize, usize)>, write: Write) -> bool {
        let mut state = self.lock();
        if state.closed {
            return true; // nothing can be delivered any more; the session is closing
        }
        if let Some((max_bytes, max_frames)) = limit {
            if state.queued() > max_bytes || state.frames() > max_frames {
                return false;
            }
        }
        let was_empty = state.queued() == 0;
        if was_empty {
            if let Some(stream) = self.write_through(write) {
                write_through(stream, &mut state, frames);
                return true;
            }
        }
        let start = state.consumed + state.queued();
        for frame in frames {
            encode_data_frame(&mut state.pending, frame);
        }
        state.note_frames(start, frames);
        if was_empty {
            state.wake();
        }
        true
    }

    /// The stream a push may write to at once: ours, asked for, and on the connection's thread
    /// (nothing older may be waiting either; the caller checks).
    fn write_through(&self, write: Write) -> Option<&OwnedWriteHalf> {
        match (&self.direct, write) {
            (Some(direct), Write::Now) if direct.owner == thread_mark() => Some(&direct.stream),
            _ => None,
        }
    }
}

/// Encodes a packet's frames in a per-thread buffer and writes them at once (no allocation for
/// the connection); what the socket does not take waits in `pending` for the writer.
fn write_through(stream: &OwnedWriteHalf, state: &mut OutboxState, frames: &[Frame]) {
    thread_local! {
        static OUT: RefCell<BytesMut> = RefCell::new(BytesMut::new());
    }
    OUT.with(|out| {
        let mut out = out.borrow_mut();
        out.clear();
        for frame in frames {
            encode_data_frame(&mut out, frame);
        }
        let mut written = 0;
        while written < out.len() {
            match stream.try_write(&out[written..]) {
                Ok(n) if n > 0 => written += n,
                Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
                Ok(_) | Err(_) => {
                    state.abort();
                    return;
                }
            }
        }
        if written < out.len() {
            // `pending` was empty: its origin is this packet's first byte.
            state.pending.extend_from_slice(&out[written..]);
            state.consumed = written;
            state.note_frames(0, frames);
            state.wake();
        }
        if out.capacity() > 256 * 1024 {
            *out = BytesMut::new(); // a big packet's buffer is not kept by the thread
        }
    });
}

impl OutboxState {
    /// Wakes the writer if it is waiting for bytes.
    pub(crate) fn wake(&mut self) {
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
    }

    /// Bytes queued and not yet handed to the connection (the writer's included).
    pub(crate) fn queued(&self) -> usize {
        self.pending.len() + self.in_flight
    }

    /// The writer takes everything queued, to write it without the lock (pushes from other
    /// threads then never wait for a syscall).
    pub(crate) fn take_for_writer(&mut self) -> BytesMut {
        self.in_flight = self.pending.len();
        self.pending.split()
    }

    /// The writer wrote `written` bytes of `chunk`; what the socket did not take goes back in
    /// front of what was queued meanwhile.
    pub(crate) fn writer_done(&mut self, chunk: &[u8], written: usize) {
        self.in_flight = 0;
        self.consumed += written;
        self.forget_sent();
        if written < chunk.len() {
            let mut rest = BytesMut::with_capacity(chunk.len() - written + self.pending.len());
            rest.extend_from_slice(&chunk[written..]);
            rest.extend_from_slice(&self.pending);
            self.pending = rest;
        } else if self.pending.is_empty() {
            self.drained();
        }
    }

    /// Up to `max` bytes from the front of `pending`, for the HTTP dispatcher to write.
    fn take_front(&mut self, max: usize) -> Bytes {
        if self.pending.len() <= max {
            let chunk = std::mem::take(&mut self.pending).freeze();
            self.drained();
            return chunk;
        }
        let chunk = self.pending.split_to(max).freeze();
        self.consumed += max;
        self.forget_sent();
        chunk
    }

    fn forget_sent(&mut self) {
        while self.ends.front().is_some_and(|&end| end <= self.consumed) {
            self.ends.pop_front();
        }
    }

    /// Data frames queued and not yet (wholly) handed to the connection.
    pub(crate) fn frames(&self) -> usize {
        self.ends.len() + usize::from(self.last_end > self.consumed)
    }

    /// Counts the data frames just queued, the first starting at `start`; those already
    /// written (`consumed`) are not.
    fn note_frames(&mut self, start: usize, frames: &[Frame]) {
        let mut end = start;
        for frame in frames {
            end += encoded_len(frame.len());
            if end <= self.consumed {
                continue;
            }
            if self.last_end > self.consumed {
                self.ends.push_back(self.last_end);
            }
            self.last_end = end;
        }
    }

    /// Everything queued has been handed over: an idle connection keeps no buffer.
    pub(crate) fn drained(&mut self) {
        self.pending = BytesMut::new();
        self.ends = VecDeque::new();
        self.last_end = 0;
        self.consumed = 0;
        self.in_flight = 0;
    }

    pub(crate) fn abort(&mut self) {
        self.closed = true;
        self.aborted = true;
        self.drained();
        self.wake();
    }
}

/// The sending half of one WebSocket, owned by the session actor.
pub(crate) struct WsLink {
    id: u64,
    outbox: Arc<Outbox>,
}

impl WsLink {
    /// Takes over an accepted WebSocket: the handshake response gets our body, which writes
    /// what the session queues. actix-ws's own body is kept, unpolled, because dropping it
    /// would end the client's frame stream.
    pub(crate) fn open(response: HttpResponse, ws: actix_ws::Session) -> (WsLink, HttpResponse) {
        drop(ws);
        let outbox = Arc::new(Outbox::new(None, &[]));
        let body_outbox = outbox.clone();
        let response = response
            .map_body(move |_, actix_body| {
                BodyStream::new(OutboxBody {
                    outbox: body_outbox,
                    done: false,
                    _actix_body: actix_body,
                })
            })
            .map_into_boxed_body();
        (WsLink::new(outbox), response)
    }

    /// A link writing into `outbox`, whose writer the caller runs.
    pub(crate) fn new(outbox: Arc<Outbox>) -> WsLink {
        WsLink {
            id: NEXT_LINK_ID.fetch_add(1, Ordering::Relaxed),
            outbox,
        }
    }

    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    pub(crate) fn sender(&self) -> WsSender {
        WsSender {
            outbox: self.outbox.clone(),
        }
    }

    /// Queues a frame.
    pub(crate) fn send(&self, frame: Frame) {
        self.send_frames(std::slice::from_ref(&frame), Write::Now);
    }

    /// Queues a packet's frames (text, then attachments) under one lock.
    pub(crate) fn send_frames(&self, frames: &[Frame], write: Write) {
        self.outbox.push_frames(frames, None, write);
    }

    /// Bytes and data frames queued and not yet handed to the connection.
    pub(crate) fn backlog(&self) -> (usize, usize) {
        let state = self.outbox.lock();
        (state.queued(), state.frames())
    }

    pub(crate) fn pong(&self, data: Bytes) {
        let len = data.len().min(MAX_CONTROL_PAYLOAD);
        self.outbox.push_control(OPCODE_PONG, &data[..len]);
    }

    /// Sends a close frame after everything already queued.
    pub(crate) fn close(&self, kind: CloseKind) {
        self.outbox
            .push_control(OPCODE_CLOSE, &close_code(kind).to_be_bytes());
    }

    /// Drops everything queued and ends the connection now: for a peer that stopped reading,
    /// whose backlog would otherwise stay alive as long as the connection.
    pub(crate) fn abort(&self) {
        self.outbox.lock().abort();
        if let Some(direct) = &self.outbox.direct {
            // The writer may be waiting for room to write; the connection ends without it.
            let _ = socket2::SockRef::from(direct.stream.as_ref().as_ref())
                .shutdown(std::net::Shutdown::Both);
        }
    }
}

/// A second way into a session's outbox, for the layer above's broadcasts (see `DirectRoute`).
/// Unlike the link, dropping it closes nothing.
#[derive(Clone)]
pub(crate) struct WsSender {
    outbox: Arc<Outbox>,
}

impl WsSender {
    /// Queues a packet's frames, unless the backlog is already over these limits (the caller
    /// then goes through the session, which enforces them).
    pub(crate) fn push_within(
        &self,
        frames: &[Frame],
        max_bytes: usize,
        max_frames: usize,
        write: Write,
    ) -> bool {
        self.outbox
            .push_frames(frames, Some((max_bytes, max_frames)), write)
    }
}

/// A WebSocket session's outbox, open to the layer above: a broadcast frame is queued for the
/// connection directly (one lock, no allocation) instead of through the session's mailbox. The
/// session hands it out while its transport is a WebSocket (`Session::direct_route`); the
/// backlog limits are checked first, and over them the session's own path takes over.
pub(crate) struct DirectRoute {
    pub(crate) sender: WsSender,
    pub(crate) max_bytes: usize,
    pub(crate) max_frames: usize,
    /// The server's counters (packets and bytes out).
    pub(crate) meter: Arc<Meter>,
}

impl DirectRoute {
    /// Queues a packet's frames; false when the backlog is over the limits.
    pub(crate) fn push(&self, frames: &[Frame], write: Write) -> bool {
        let pushed = self
            .sender
            .push_within(frames, self.max_bytes, self.max_frames, write);
        if pushed {
            self.meter.frames_out(frames);
        }
        pushed
    }
}

impl Drop for WsLink {
    /// A link dropped without a close (a refused probe, an ended session) still closes its
    /// WebSocket properly.
    fn drop(&mut self) {
        self.outbox.push_control(OPCODE_CLOSE, &[]);
    }
}

/// The handshake response's body: WebSocket frames, encoded as the dispatcher asks for them.
struct OutboxBody {
    outbox: Arc<Outbox>,
    /// The close frame went out (or the link was aborted): the body has ended.
    done: bool,
    _actix_body: BoxBody,
}

/// Upper bound of one chunk handed to the dispatcher, so that the backlog count stays honest
/// about what has not been written.
const MAX_CHUNK: usize = 64 * 1024;

impl Stream for OutboxBody {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        let mut state = this.outbox.lock();
        if state.aborted {
            this.done = true;
            return Poll::Ready(Some(Err(std::io::Error::other(
                "WebSocket dropped: the client stopped reading",
            ))));
        }
        if state.pending.is_empty() {
            if state.closed {
                this.done = true;
                return Poll::Ready(None);
            }
            state.waker = Some(cx.waker().clone());
            return Poll::Pending;
        }
        Poll::Ready(Some(Ok(state.take_front(MAX_CHUNK))))
    }
}

impl Drop for OutboxBody {
    /// The connection is gone: nothing queued can be delivered any more.
    fn drop(&mut self) {
        let mut state = self.outbox.lock();
        state.closed = true;
        state.drained();
    }
}

pub(crate) const OPCODE_TEXT: u8 = 0x1;
const OPCODE_BINARY: u8 = 0x2;
const OPCODE_CLOSE: u8 = 0x8;
const OPCODE_PONG: u8 = 0xA;
const MAX_CONTROL_PAYLOAD: usize = 125;

pub(crate) fn close_code(kind: CloseKind) -> u16 {
    match kind {
        CloseKind::Normal => 1000,
        CloseKind::GoingAway => 1001,
        CloseKind::Protocol => 1002,
        CloseKind::TooBig => 1009,
    }
}

/// Bytes of a server frame carrying `len` payload bytes.
fn encoded_len(len: usize) -> usize {
    len + match len {
        0..=125 => 2,
        126..=65_535 => 4,
        _ => 10,
    }
}

/// Appends a data frame: text for Engine.IO packets, binary for attachments.
fn encode_data_frame(dst: &mut BytesMut, frame: &Frame) {
    match frame {
        Frame::Text(text) => encode_frame(dst, OPCODE_TEXT, text.as_bytes()),
        Frame::Binary(data) => encode_frame(dst, OPCODE_BINARY, data),
    }
}

/// Appends one unfragmented, unmasked (server-to-client) frame.
pub(crate) fn encode_frame(dst: &mut BytesMut, opcode: u8, payload: &[u8]) {
    let len = payload.len();
    dst.reserve(len + 10);
    dst.put_u8(0x80 | opcode);
    if len < 126 {
        dst.put_u8(len as u8);
    } else if len <= usize::from(u16::MAX) {
        dst.put_u8(126);
        dst.put_u16(len as u16);
    } else {
        dst.put_u8(127);
        dst.put_u64(len as u64);
    }
    dst.put_slice(payload);
}

fn convert(item: Result<AggregatedMessage, ProtocolError>) -> WsFrame {
    match item {
        Ok(AggregatedMessage::Text(text)) => WsFrame::Text(text),
        Ok(AggregatedMessage::Binary(data)) => WsFrame::Binary(data),
        Ok(AggregatedMessage::Ping(data)) => WsFrame::Ping(data),
        Ok(AggregatedMessage::Pong(_)) => WsFrame::Ignored,
        Ok(AggregatedMessage::Close(_)) => WsFrame::Close,
        Err(ProtocolError::Overflow) => WsFrame::TooBig,
        // `FrameGuard` refused a frame header announcing more than `max_payload`.
        Err(ProtocolError::Io(err)) if err.to_string().contains(FRAME_TOO_BIG) => WsFrame::TooBig,
        // actix-ws reports an oversize fragmented message as an I/O error with this text.
        Err(ProtocolError::Io(err)) if err.to_string().contains("maximum continuation size") => {
            WsFrame::TooBig
        }
        // The TCP connection broke off (a killed client): a close, not a protocol violation.
        Err(ProtocolError::Io(_)) => WsFrame::End,
        Err(err) => WsFrame::Broken(err.to_string()),
    }
}

/// The client's frames, limited to `max_payload` per message, ending with `WsFrame::End`.
fn input(
    stream: actix_ws::MessageStream,
    link: u64,
    max_payload: usize,
) -> impl Stream<Item = WsInput> {
    stream
        .max_frame_size(max_payload)
        .aggregate_continuations()
        .max_continuation_size(max_payload)
        .map(move |item| WsInput {
            link,
            frame: convert(item),
        })
        .chain(futures_util::stream::once(async move {
            WsInput {
                link,
                frame: WsFrame::End,
            }
        }))
}

/// What `FrameGuard` reports; `convert` recognises it.
const FRAME_TOO_BIG: &str = "WebSocket frame announces more than max_payload";

/// Reads WebSocket frame headers as the bytes arrive and fails as soon as one announces a
/// payload over `max_payload`. actix-http checks the length only once the whole frame is
/// buffered, so without this a client could make the server hold an arbitrarily large frame.
struct FrameGuard<S> {
    inner: S,
    max_payload: u64,
    /// Header bytes of the frame being read (at most 14).
    header: Vec<u8>,
    /// Payload bytes of the current frame still to pass.
    remaining: u64,
    failed: bool,
}

impl<S> FrameGuard<S> {
    fn new(inner: S, max_payload: usize) -> Self {
        FrameGuard {
            inner,
            max_payload: max_payload as u64,
            header: Vec::with_capacity(14),
            remaining: 0,
            failed: false,
        }
    }

    /// Follows the frame boundaries through one chunk; false when a frame is too big.
    fn track_frames(&mut self, chunk: &[u8]) -> bool {
        let mut pos = 0;
        while pos < chunk.len() {
            if self.remaining > 0 {
                let skip = self.remaining.min((chunk.len() - pos) as u64);
                self.remaining -= skip;
                pos += skip as usize;
                continue;
            }
            self.header.push(chunk[pos]);
            pos += 1;
            if let Some((len, complete)) = announced_length(&self.header) {
                // Refused as soon as the length is known, before the mask key.
                if len > self.max_payload {
                    return false;
                }
                if complete {
                    self.header.clear();
                    self.remaining = len;
                }
            }
        }
        true
    }
}

/// The payload length a frame header announces, once its length bytes are in, and whether the
/// header (mask key included) is complete.
fn announced_length(header: &[u8]) -> Option<(u64, bool)> {
    let second = *header.get(1)?;
    let masked = second & 0x80 != 0;
    let (len_bytes, short) = match second & 0x7f {
        126 => (2, None),
        127 => (8, None),
        n => (0, Some(u64::from(n))),
    };
    if header.len() < 2 + len_bytes {
        return None;
    }
    let len = short.unwrap_or_else(|| {
        header[2..2 + len_bytes]
            .iter()
            .fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
    });
    let complete = header.len() == 2 + len_bytes + if masked { 4 } else { 0 };
    Some((len, complete))
}

impl<S> Stream for FrameGuard<S>
where
    S: Stream<Item = Result<Bytes, PayloadError>> + Unpin,
{
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.failed {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                if self.track_frames(&chunk) {
                    Poll::Ready(Some(Ok(chunk)))
                } else {
                    self.failed = true;
                    Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::other(
                        FRAME_TOO_BIG,
                    )))))
                }
            }
            other => other,
        }
    }
}

/// The refusal on the upgrade path: a plain `400 Bad Request` with the reason as text, as the
/// reference server writes it (503 for the connection cap keeps its JSON body).
pub(crate) fn refuse(err: RequestError) -> HttpResponse {
    if err == RequestError::TooManyConnections {
        return err.to_response();
    }
    log::debug!("websocket refused: {err:?}");
    HttpResponse::BadRequest()
        .content_type("text/html")
        .body(err.to_string())
}

/// What an accepted WebSocket joins: a new session (its place under `max_connections` already
/// taken) or an existing one, as an upgrade probe.
pub(crate) enum Admission<H: SessionHandler> {
    New(Arc<str>),
    Probe(Addr<Session<H>>),
}

/// Whether a WebSocket for `sid` (or a new session) can be accepted; decided before the
/// `101 Switching Protocols` goes out.
pub(crate) fn admit<H: SessionHandler>(
    engine: &Engine<H>,
    sid: Option<String>,
) -> Result<Admission<H>, RequestError> {
    match sid {
        None => {
            if !engine.reserve_session() {
                log::warn!("handshake refused: max_connections reached");
                return Err(RequestError::TooManyConnections);
            }
            match random_id() {
                Ok(sid) => Ok(Admission::New(sid)),
                Err(_) => {
                    engine.release_reservation();
                    Err(RequestError::BadRequest("no randomness for a session id"))
                }
            }
        }
        Some(sid) => engine
            .session(&sid)
            .map(|entry| Admission::Probe(entry.addr))
            .ok_or(RequestError::UnknownSid),
    }
}

/// Runs an accepted WebSocket: starts its session, or offers it to its session as an upgrade
/// probe. False when that session has gone in the meantime (the link is then dropped).
pub(crate) async fn attach<H, S>(
    engine: Arc<Engine<H>>,
    admission: Admission<H>,
    info: EngineInfo,
    link: WsLink,
    frames: S,
) -> bool
where
    H: SessionHandler,
    S: Stream<Item = WsInput> + 'static,
{
    match admission {
        Admission::New(sid) => {
            let addr = Session::start_websocket(engine.clone(), sid.clone(), info, link, frames);
            engine.insert_session(sid, addr);
            true
        }
        Admission::Probe(addr) => match addr.send(AttachProbe { link }).await {
            Ok(Ok(())) => {
                actix::spawn(forward(frames, addr));
                true
            }
            // The link was dropped with the refused message, which queued a close frame.
            Ok(Err(ProbeRefusal::Busy)) => true,
            Ok(Err(ProbeRefusal::Gone)) | Err(_) => false,
        },
    }
}

/// `GET ?transport=websocket` through actix-web: a new session (no sid) or an upgrade probe.
pub(crate) async fn handle<H: SessionHandler>(
    req: HttpRequest,
    body: web::Payload,
    engine: Arc<Engine<H>>,
    sid: Option<String>,
    info: EngineInfo,
) -> HttpResponse {
    let max_payload = engine.config.max_payload;
    let guarded = FrameGuard::new(body, max_payload);
    let boxed: Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>> = Box::pin(guarded);
    let mut payload = actix_web::dev::Payload::from(boxed);
    let Ok(body) = web::Payload::from_request(&req, &mut payload).await else {
        return RequestError::BadRequest("unreadable request body").to_response();
    };
    let Ok((response, ws, stream)) = actix_ws::handle(&req, body) else {
        return RequestError::BadRequest("not a WebSocket upgrade").to_response();
    };
    let admission = match admit(&engine, sid) {
        Ok(admission) => admission,
        Err(err) => return refuse(err),
    };
    let (link, response) = WsLink::open(response, ws);
    let frames = input(stream, link.id(), max_payload);
    if attach(engine, admission, info, link, frames).await {
        response
    } else {
        refuse(RequestError::UnknownSid)
    }
}

/// Feeds a probe's frames to a session that may live on another worker thread (the frame
/// stream cannot move between threads). `send` waits for mailbox room, which bounds the input.
async fn forward<H: SessionHandler>(frames: impl Stream<Item = WsInput>, addr: Addr<Session<H>>) {
    let mut frames = std::pin::pin!(frames);
    while let Some(input) = frames.next().await {
        if addr.send(input).await.is_err() {
            return; // the session has ended
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_announced_lengths() {
        assert_eq!(announced_length(&[0x81]), None);
        assert_eq!(announced_length(&[0x81, 0x05]), Some((5, true)));
        assert_eq!(announced_length(&[0x81, 0x85, 1, 2, 3]), Some((5, false)));
        assert_eq!(announced_length(&[0x81, 0x85, 1, 2, 3, 4]), Some((5, true)));
        assert_eq!(announced_length(&[0x82, 0xfe, 0x01]), None);
        assert_eq!(
            announced_length(&[0x82, 0xfe, 0x01, 0x00, 9, 9, 9, 9]),
            Some((256, true))
        );
        let mut long = vec![0x82, 0xff];
        long.extend_from_slice(&10_000_000u64.to_be_bytes());
        assert_eq!(announced_length(&long), Some((10_000_000, false)));
        long.extend_from_slice(&[1, 2, 3, 4]);
        assert_eq!(announced_length(&long), Some((10_000_000, true)));
    }

    #[test]
    fn encodes_server_frames_with_each_length_form() {
        for (len, header) in [
            (0usize, vec![0x81, 0]),
            (125, vec![0x81, 125]),
            (126, vec![0x81, 126, 0, 126]),
            (65_535, vec![0x81, 126, 0xff, 0xff]),
            (65_536, vec![0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0]),
        ] {
            let mut dst = BytesMut::new();
            encode_frame(&mut dst, OPCODE_TEXT, &vec![b'x'; len]);
            assert_eq!(&dst[..header.len()], &header[..], "length {len}");
            assert_eq!(dst.len(), header.len() + len);
            // What the server writes, its own header reader reads back.
            assert_eq!(
                announced_length(&dst[..header.len()]),
                Some((len as u64, true))
            );
        }
        let mut dst = BytesMut::new();
        encode_frame(
            &mut dst,
            OPCODE_CLOSE,
            &close_code(CloseKind::TooBig).to_be_bytes(),
        );
        assert_eq!(&dst[..], &[0x88, 2, 0x03, 0xf1]);
    }

    #[test]
    fn counts_the_frames_not_yet_handed_over() {
        let outbox = Outbox::new(None, &[]);
        let frame = Frame::message("x".repeat(98).as_str()); // 99 bytes + 2 of header
        for _ in 0..3 {
            assert!(outbox.push_frames(
                std::slice::from_ref(&frame),
                Some((1 << 20, 10)),
                Write::Soon
            ));
        }
        let mut state = outbox.lock();
        assert_eq!((state.queued(), state.frames()), (303, 3));
        // Half of the second frame goes: two are left, the first of them partly.
        let _ = state.take_front(150);
        assert_eq!((state.queued(), state.frames()), (153, 2));
        let _ = state.take_front(60);
        assert_eq!((state.queued(), state.frames()), (93, 1));
        // A fourth frame queued behind the partly written third.
        drop(state);
        assert!(outbox.push_frames(std::slice::from_ref(&frame), None, Write::Soon));
        let mut state = outbox.lock();
        assert_eq!(state.frames(), 2);
        let _ = state.take_front(1000);
        assert_eq!((state.queued(), state.frames()), (0, 0));
    }

    #[test]
    fn follows_frames_across_chunks_and_refuses_big_ones() {
        let mut guard = FrameGuard::new(futures_util::stream::empty::<()>(), 10);
        // Two masked frames of 3 and 10 bytes, split at awkward places.
        let mut bytes = vec![0x81, 0x83, 0, 0, 0, 0, b'a', b'b', b'c'];
        bytes.extend_from_slice(&[0x82, 0x8a, 0, 0, 0, 0]);
        bytes.extend_from_slice(&[7; 10]);
        for chunk in bytes.chunks(4) {
            assert!(guard.track_frames(chunk));
        }
        assert_eq!((guard.remaining, guard.header.len()), (0, 0));
        // An 11-byte frame is refused from its header alone.
        assert!(!guard.track_frames(&[0x82, 0x8b]));
    }
}
