//! HTTP long-polling transport: the handshake GET, the waiting GET that carries server packets,
//! and the POST that carries client packets (bounded by `max_payload`).

use std::{
    convert::Infallible,
    pin::Pin,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    task::{Context as TaskContext, Poll},
};

use actix_http::{body::BoxBody, Request, Response};
use actix_web::{
    body::{BodySize, MessageBody},
    dev::Payload,
    http::{
        header::{self, HeaderMap, HeaderValue},
        Method, StatusCode,
    },
    HttpResponse,
};
use bytes::{Bytes, BytesMut};
use futures_util::{future::LocalBoxFuture, StreamExt};
use tokio::sync::oneshot;

use crate::{
    engine::{
        error::RequestError,
        handler::SessionHandler,
        info::EngineInfo,
        random_id,
        registry::Engine,
        service::{self, Route},
        session::{CloseSession, PollGet, PollPost, Session},
    },
    reason::DisconnectReason,
};

/// A `200` carrying packets for the client (header values static: nothing copied).
fn packets_response(body: impl Into<Bytes>) -> HttpResponse {
    let mut response = HttpResponse::with_body(StatusCode::OK, body.into()).map_into_boxed_body();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=UTF-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The `200 ok` that accepts a POST.
fn ok_response() -> HttpResponse {
    let mut response =
        HttpResponse::with_body(StatusCode::OK, Bytes::from_static(b"ok")).map_into_boxed_body();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
    response
}

/// `GET ?transport=polling` without sid: opens a session and answers with the OPEN packet.
pub(crate) fn handshake<H: SessionHandler>(
    method: &Method,
    engine: Arc<Engine<H>>,
    info: EngineInfo,
) -> HttpResponse {
    if method != Method::GET {
        return RequestError::BadHandshakeMethod.to_response();
    }
    if !engine.reserve_session() {
        log::warn!("handshake refused: max_connections reached");
        return RequestError::TooManyConnections.to_response();
    }
    let Ok(sid) = random_id() else {
        engine.release_reservation();
        return RequestError::BadRequest("no randomness for a session id").to_response();
    };
    let open = format!("0{}", engine.config.open_payload(&sid, true));
    let addr = Session::start_polling(engine.clone(), sid.clone(), info);
    engine.insert_session(sid, addr);
    packets_response(open)
}

/// GET or POST with a sid; `body` is the request's unread body.
pub(crate) async fn request<H: SessionHandler>(
    method: &Method,
    headers: &HeaderMap,
    body: Payload,
    engine: Arc<Engine<H>>,
    sid: &str,
) -> HttpResponse {
    match *method {
        Method::GET => {
            // Unbounded like every other message to a session (a bounded send would refuse a
            // GET while broadcasts fill the mailbox); a session that stops first drops `reply`.
            let (reply, answer) = oneshot::channel();
            if !engine.tell(sid, PollGet { reply }) {
                return RequestError::UnknownSid.to_response();
            }
            match answer.await {
                Ok(Ok(packets)) => packets_response(packets),
                Ok(Err(err)) => err.to_response(),
                // The session ended without answering: tell the client it is closed.
                Err(_) => packets_response(Bytes::from_static(b"1")),
            }
        }
        Method::POST => {
            let Some(posting) = engine.posting(sid) else {
                return RequestError::UnknownSid.to_response();
            };
            if posting.swap(true, Ordering::AcqRel) {
                log::warn!("session {sid}: overlapping POST requests; closing");
                close_session(&engine, sid);
                return RequestError::BadRequest("overlapping POST requests").to_response();
            }
            let _busy = PostGuard(&posting);
            post(headers, body, &engine, sid).await
        }
        _ => RequestError::BadRequest("method not allowed").to_response(),
    }
}

/// Closes a session whose client broke the polling rules.
fn close_session<H: SessionHandler>(engine: &Engine<H>, sid: &str) {
    engine.tell(
        sid,
        CloseSession {
            reason: DisconnectReason::TransportError,
        },
    );
}

/// A long-polling request that [`crate::Server`] hands to the endpoint before the app: one
/// without `Origin` (CORS has nothing to decide for it, the response only gets the headers the
/// CORS middleware adds to every response) and with a polling query. Anything else — a
/// browser's cross-origin or same-origin POST, a preflight, a WebSocket query without
/// `Upgrade` — goes back to the app, to the same endpoint behind its CORS middleware.
pub(crate) fn lean<H: SessionHandler>(
    engine: Arc<Engine<H>>,
    mut req: Request,
) -> Result<LocalBoxFuture<'static, Response<BoxBody>>, Request> {
    let head = req.head();
    if !matches!(head.method, Method::GET | Method::POST)
        || head.headers.contains_key(header::ORIGIN)
    {
        return Err(req);
    }
    let route = match service::route(&engine, &head.uri, &head.headers, head.peer_addr) {
        Ok(Route::WebSocket { .. }) => return Err(req),
        Ok(Route::PollingHandshake(info)) => Lean::Open(info),
        Ok(Route::Polling(sid)) => Lean::Session(sid),
        Err(err) => Lean::Refused(err),
    };
    log::debug!("{} {}", head.method, head.uri);
    let body = req.take_payload();
    Ok(Box::pin(async move {
        let head = req.head();
        let mut response = match route {
            Lean::Open(info) => handshake(&head.method, engine.clone(), info),
            Lean::Session(sid) => {
                request(&head.method, &head.headers, body, engine.clone(), &sid).await
            }
            Lean::Refused(err) => {
                log::debug!("request {} refused: {err:?}", head.uri);
                err.to_response()
            }
        };
        service::cors_headers(&engine.config.cors, response.headers_mut());
        Response::from(response)
    }))
}

/// What a request `lean` takes is for.
enum Lean {
    /// A new session.
    Open(EngineInfo),
    /// A GET or POST of this session.
    Session(String),
    /// A refused query.
    Refused(RequestError),
}

/// Clears the session's "POST in progress" flag, even when the request is dropped half-way.
struct PostGuard<'a>(&'a AtomicBool);

impl Drop for PostGuard<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// A refusal body that keeps the unread request body alive: actix then closes the connection
/// after answering, instead of draining a body that may never end (a chunked upload).
struct RefusalBody {
    text: Option<Bytes>,
    _unread: Payload,
}

impl MessageBody for RefusalBody {
    type Error = Infallible;

    fn size(&self) -> BodySize {
        BodySize::Sized(self.text.as_ref().map_or(0, |t| t.len() as u64))
    }

    fn poll_next(
        self: Pin<&mut Self>,
        _: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Bytes, Infallible>>> {
        Poll::Ready(self.get_mut().text.take().map(Ok))
    }
}

fn refuse_unread(err: RequestError, unread: Payload) -> HttpResponse {
    HttpResponse::build(err.status())
        .content_type("application/json")
        .body(RefusalBody {
            text: Some(Bytes::from(err.body())),
            _unread: unread,
        })
}

/// Reads a POST body (at most `max_payload` bytes) and hands its packets to the session.
async fn post<H: SessionHandler>(
    headers: &HeaderMap,
    mut body: Payload,
    engine: &Engine<H>,
    sid: &str,
) -> HttpResponse {
    let binary = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/octet-stream"));
    if binary {
        log::warn!("session {sid}: binary POST body (v3 client?); closing");
        close_session(engine, sid);
        return RequestError::BadRequest("binary POST body").to_response();
    }
    let max = engine.config.max_payload;
    let announced = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if announced.is_some_and(|len| len > max) {
        log::warn!("session {sid}: POST body over max_payload ({max} bytes); closing");
        close_session(engine, sid);
        return RequestError::PayloadTooLarge.to_response();
    }
    // A body that arrives in one chunk (the usual small POST) is handed on as it is; chunks
    // after the first are copied together with it.
    let mut total = 0;
    let mut first: Option<Bytes> = None;
    let mut joined = BytesMut::new();
    while let Some(chunk) = body.next().await {
        let Ok(chunk) = chunk else {
            return RequestError::BadRequest("broken request body").to_response();
        };
        total += chunk.len();
        if total > max {
            log::warn!("session {sid}: POST body over max_payload ({max} bytes); closing");
            close_session(engine, sid);
            return refuse_unread(RequestError::PayloadTooLarge, body);
        }
        match first.take() {
            None if joined.is_empty() => first = Some(chunk),
            earlier => {
                if let Some(earlier) = earlier {
                    joined.reserve(announced.unwrap_or(0).max(total));
                    joined.extend_from_slice(&earlier);
                }
                joined.extend_from_slice(&chunk);
            }
        }
    }
    let body = first.unwrap_or_else(|| joined.freeze());
    let (reply, answer) = oneshot::channel();
    if !engine.tell(sid, PollPost { body, reply }) {
        return RequestError::UnknownSid.to_response();
    }
    match answer.await {
        Ok(Ok(())) => ok_response(),
        Ok(Err(err)) => err.to_response(),
        Err(_) => RequestError::UnknownSid.to_response(),
    }
}
