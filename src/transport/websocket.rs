//! WebSocket transport: the upgrade handler, a writer task per socket, and the frame stream
//! the session actor consumes. Text frames carry Engine.IO packets; binary frames raw attachments.

use std::{
    pin::Pin,
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        Arc,
    },
    task::{Context, Poll},
};

use actix::{Addr, Message};
use actix_web::{error::PayloadError, web, FromRequest, HttpRequest, HttpResponse};
use actix_ws::{AggregatedMessage, CloseCode, CloseReason, ProtocolError};
use bytes::Bytes;
use bytestring::ByteString;
use futures_util::{Stream, StreamExt};
use tokio::sync::mpsc;

use crate::{
    engine::{
        error::RequestError,
        packet::Frame,
        random_id,
        session::{AttachProbe, EngineInfo, ProbeRefusal, Session},
    },
    io::Shared,
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

enum WsOut {
    Frame(Frame),
    Pong(Bytes),
    Close(CloseKind),
}

/// Bytes and frames handed to the writer and not yet written.
#[derive(Default)]
struct Backlog {
    bytes: AtomicUsize,
    frames: AtomicUsize,
}

/// The sending half of one WebSocket, owned by the session actor.
pub(crate) struct WsLink {
    id: u64,
    tx: mpsc::UnboundedSender<WsOut>,
    backlog: Arc<Backlog>,
    writer: tokio::task::JoinHandle<()>,
}

impl WsLink {
    /// Takes over an accepted WebSocket and starts its writer task on the current arbiter.
    pub(crate) fn open(ws: actix_ws::Session) -> WsLink {
        let (tx, rx) = mpsc::unbounded_channel();
        let backlog = Arc::new(Backlog::default());
        let writer = actix::spawn(write_loop(ws, rx, backlog.clone()));
        WsLink {
            id: NEXT_LINK_ID.fetch_add(1, Ordering::Relaxed),
            tx,
            backlog,
            writer,
        }
    }

    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// Queues a frame for the writer.
    pub(crate) fn send(&self, frame: Frame) {
        self.backlog.bytes.fetch_add(frame.len(), Ordering::AcqRel);
        self.backlog.frames.fetch_add(1, Ordering::AcqRel);
        let _ = self.tx.send(WsOut::Frame(frame));
    }

    /// Bytes and frames queued and not yet written.
    pub(crate) fn backlog(&self) -> (usize, usize) {
        (
            self.backlog.bytes.load(Ordering::Acquire),
            self.backlog.frames.load(Ordering::Acquire),
        )
    }

    pub(crate) fn pong(&self, data: Bytes) {
        let _ = self.tx.send(WsOut::Pong(data));
    }

    /// Sends a close frame after everything already queued.
    pub(crate) fn close(&self, kind: CloseKind) {
        let _ = self.tx.send(WsOut::Close(kind));
    }

    /// Drops everything queued and ends the connection now: for a peer that stopped reading,
    /// whose writer may wait forever and would otherwise keep the whole backlog alive.
    pub(crate) fn abort(&self) {
        self.writer.abort();
    }
}

async fn write_loop(
    mut ws: actix_ws::Session,
    mut rx: mpsc::UnboundedReceiver<WsOut>,
    backlog: Arc<Backlog>,
) {
    while let Some(out) = rx.recv().await {
        let written = match out {
            WsOut::Frame(frame) => {
                let len = frame.len();
                let result = match frame {
                    Frame::Text(text) => ws.text(text).await,
                    Frame::Binary(data) => ws.binary(data).await,
                };
                backlog.bytes.fetch_sub(len, Ordering::AcqRel);
                backlog.frames.fetch_sub(1, Ordering::AcqRel);
                result
            }
            WsOut::Pong(data) => ws.pong(&data).await,
            WsOut::Close(kind) => {
                let code = match kind {
                    CloseKind::Normal => CloseCode::Normal,
                    CloseKind::TooBig => CloseCode::Size,
                    CloseKind::Protocol => CloseCode::Protocol,
                    CloseKind::GoingAway => CloseCode::Away,
                };
                let _ = ws.close(Some(CloseReason::from(code))).await;
                return;
            }
        };
        if written.is_err() {
            return; // the connection is gone; the reader reports it
        }
    }
    let _ = ws.close(None).await;
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
fn refuse(err: RequestError) -> HttpResponse {
    if err == RequestError::TooManyConnections {
        return err.to_response();
    }
    log::debug!("websocket refused: {err:?}");
    HttpResponse::BadRequest()
        .content_type("text/html")
        .body(err.to_string())
}

/// `GET ?transport=websocket`: a new session (no sid) or an upgrade probe (with sid).
pub(crate) async fn handle(
    req: HttpRequest,
    body: web::Payload,
    shared: Arc<Shared>,
    sid: Option<String>,
    info: EngineInfo,
) -> HttpResponse {
    let max_payload = shared.config.max_payload;
    let guarded = FrameGuard::new(body, max_payload);
    let boxed: Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>> = Box::pin(guarded);
    let mut payload = actix_web::dev::Payload::from(boxed);
    let Ok(body) = web::Payload::from_request(&req, &mut payload).await else {
        return RequestError::BadRequest("unreadable request body").to_response();
    };
    let Ok((response, ws, stream)) = actix_ws::handle(&req, body) else {
        return RequestError::BadRequest("not a WebSocket upgrade").to_response();
    };
    match sid {
        None => {
            if !shared.reserve_session() {
                log::warn!("handshake refused: max_connections reached");
                return refuse(RequestError::TooManyConnections);
            }
            let Ok(sid) = random_id() else {
                shared.release_reservation();
                return refuse(RequestError::BadRequest("no randomness for a session id"));
            };
            let link = WsLink::open(ws);
            let frames = input(stream, link.id(), max_payload);
            let addr = Session::start_websocket(shared.clone(), sid.clone(), info, link, frames);
            shared.insert_session(sid, addr);
            response
        }
        Some(sid) => {
            let Some(addr) = shared.session(&sid).map(|entry| entry.addr) else {
                return refuse(RequestError::UnknownSid);
            };
            let link = WsLink::open(ws);
            let frames = input(stream, link.id(), max_payload);
            match addr.send(AttachProbe { link }).await {
                Ok(Ok(())) => {
                    actix::spawn(forward(frames, addr));
                    response
                }
                // The link was dropped with the refused message: its writer closes the socket.
                Ok(Err(ProbeRefusal::Busy)) => response,
                Ok(Err(ProbeRefusal::Gone)) | Err(_) => refuse(RequestError::UnknownSid),
            }
        }
    }
}

/// Feeds a probe's frames to a session that may live on another worker thread (the frame
/// stream cannot move between threads). `send` waits for mailbox room, which bounds the input.
async fn forward(frames: impl Stream<Item = WsInput>, addr: Addr<Session>) {
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
