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

use actix::Addr;
use actix_web::{
    body::{BodySize, MessageBody},
    http::{header, Method},
    web, HttpRequest, HttpResponse,
};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;

use crate::{
    engine::{
        error::RequestError,
        handler::SessionHandler,
        info::EngineInfo,
        random_id,
        registry::Engine,
        session::{CloseSession, PollGet, PollPost, Session},
    },
    reason::DisconnectReason,
};

fn packets_response(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=UTF-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body)
}

/// `GET ?transport=polling` without sid: opens a session and answers with the OPEN packet.
pub(crate) fn handshake<H: SessionHandler>(
    req: &HttpRequest,
    engine: Arc<Engine<H>>,
    info: EngineInfo,
) -> HttpResponse {
    if req.method() != Method::GET {
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

/// GET or POST with a sid.
pub(crate) async fn request<H: SessionHandler>(
    req: HttpRequest,
    body: web::Payload,
    engine: Arc<Engine<H>>,
    sid: &str,
) -> HttpResponse {
    let Some(entry) = engine.session(sid) else {
        return RequestError::UnknownSid.to_response();
    };
    let addr = entry.addr;
    match *req.method() {
        Method::GET => match addr.send(PollGet).await {
            Ok(Ok(answer)) => match answer.await {
                Ok(Ok(packets)) => packets_response(packets),
                Ok(Err(err)) => err.to_response(),
                // The session ended without answering: tell the client it is closed.
                Err(_) => packets_response("1".to_owned()),
            },
            Ok(Err(err)) => err.to_response(),
            Err(_) => RequestError::UnknownSid.to_response(),
        },
        Method::POST => {
            if entry.posting.swap(true, Ordering::AcqRel) {
                log::warn!("session {sid}: overlapping POST requests; closing");
                addr.do_send(CloseSession {
                    reason: DisconnectReason::TransportError,
                });
                return RequestError::BadRequest("overlapping POST requests").to_response();
            }
            let _busy = PostGuard(&entry.posting);
            post(&req, body, &engine, sid, &addr).await
        }
        _ => RequestError::BadRequest("method not allowed").to_response(),
    }
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
    _unread: web::Payload,
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

fn refuse_unread(err: RequestError, unread: web::Payload) -> HttpResponse {
    HttpResponse::build(err.status())
        .content_type("application/json")
        .body(RefusalBody {
            text: Some(Bytes::from(err.body())),
            _unread: unread,
        })
}

/// Reads a POST body (at most `max_payload` bytes) and hands its packets to the session.
async fn post<H: SessionHandler>(
    req: &HttpRequest,
    mut body: web::Payload,
    engine: &Engine<H>,
    sid: &str,
    addr: &Addr<Session<H>>,
) -> HttpResponse {
    let binary = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/octet-stream"));
    if binary {
        log::warn!("session {sid}: binary POST body (v3 client?); closing");
        addr.do_send(CloseSession {
            reason: DisconnectReason::TransportError,
        });
        return RequestError::BadRequest("binary POST body").to_response();
    }
    let max = engine.config.max_payload;
    let announced = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if announced.is_some_and(|len| len > max) {
        log::warn!("session {sid}: POST body over max_payload ({max} bytes); closing");
        addr.do_send(CloseSession {
            reason: DisconnectReason::TransportError,
        });
        return RequestError::PayloadTooLarge.to_response();
    }
    let mut data = BytesMut::with_capacity(announced.unwrap_or(0));
    while let Some(chunk) = body.next().await {
        let Ok(chunk) = chunk else {
            return RequestError::BadRequest("broken request body").to_response();
        };
        if data.len() + chunk.len() > max {
            log::warn!("session {sid}: POST body over max_payload ({max} bytes); closing");
            addr.do_send(CloseSession {
                reason: DisconnectReason::TransportError,
            });
            return refuse_unread(RequestError::PayloadTooLarge, body);
        }
        data.extend_from_slice(&chunk);
    }
    match addr
        .send(PollPost {
            body: data.freeze(),
        })
        .await
    {
        Ok(Ok(())) => HttpResponse::Ok().content_type("text/html").body("ok"),
        Ok(Err(err)) => err.to_response(),
        Err(_) => RequestError::UnknownSid.to_response(),
    }
}
