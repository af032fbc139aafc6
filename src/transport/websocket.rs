//! WebSocket transport: the upgrade handler, a writer task per socket, and the frame stream
//! the session actor consumes. Text frames carry Engine.IO packets; binary frames raw attachments.

use std::sync::{
    atomic::{AtomicU64, AtomicUsize, Ordering},
    Arc,
};

use actix::{Addr, Message};
use actix_web::{web, HttpRequest, HttpResponse};
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
    let Ok((response, ws, stream)) = actix_ws::handle(&req, body) else {
        return RequestError::BadRequest("not a WebSocket upgrade").to_response();
    };
    let max_payload = shared.config.max_payload;
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
