//! The HTTP entry point: validates the Engine.IO query in the reference server's order, applies
//! the origin policy, and hands the request to the polling or WebSocket transport.

use std::{borrow::Cow, collections::HashMap, net::SocketAddr, sync::Arc, time::SystemTime};

use actix_web::{
    http::{
        header::{self, HeaderMap, HeaderValue},
        Uri,
    },
    web, HttpRequest, HttpResponse,
};

use crate::{
    config::Cors,
    engine::{
        error::RequestError,
        handler::SessionHandler,
        info::{EngineInfo, Headers},
        meter::{Meter, Refusal},
        registry::Engine,
        transport::{polling, websocket},
    },
};

/// Registers the endpoint on an app; called by `SocketIo::service`.
pub(crate) fn register<H: SessionHandler>(cfg: &mut web::ServiceConfig, engine: Arc<Engine<H>>) {
    let path = engine.config.path.clone();
    let bare = path.trim_end_matches('/').to_owned();
    // One resource per path: a resource with two paths would match them with a regex set.
    let mut paths = vec![path];
    if !bare.is_empty() && bare != paths[0] {
        paths.push(bare);
    }
    for path in paths {
        let engine = engine.clone();
        let cors = cors_middleware(&engine.config.cors, engine.meter.clone());
        let handler = move |req: HttpRequest, body: web::Payload| {
            let engine = engine.clone();
            async move { entry(req, body, engine).await }
        };
        cfg.service(
            web::resource(path)
                .wrap(cors)
                .route(web::route().to(handler)),
        );
    }
}

fn cors_middleware(policy: &Cors, meter: Arc<Meter>) -> actix_cors::Cors {
    let base = actix_cors::Cors::default()
        .allow_any_method()
        .allow_any_header()
        .max_age(3600);
    match policy {
        Cors::Any => base.allow_any_origin().send_wildcard(),
        Cors::Allow(origins) => {
            let origins = origins.clone();
            base.supports_credentials()
                .allowed_origin_fn(move |origin, head| {
                    let allowed = origins.iter().any(|o| o.as_bytes() == origin.as_bytes())
                        || same_origin(origin, head.headers().get(header::HOST));
                    counted(allowed, &meter)
                })
        }
        Cors::SameOrigin => base.allowed_origin_fn(move |origin, head| {
            let allowed = same_origin(origin, head.headers().get(header::HOST));
            counted(allowed, &meter)
        }),
    }
}

/// The headers the CORS middleware adds to a response to a request without `Origin`, for the
/// responses that `Server` writes without it.
pub(crate) fn cors_headers(policy: &Cors, headers: &mut HeaderMap) {
    if matches!(policy, Cors::Allow(_)) {
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
    }
    headers.insert(
        header::VARY,
        HeaderValue::from_static(
            "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
        ),
    );
}

fn counted(allowed: bool, meter: &Meter) -> bool {
    if !allowed {
        meter.refused(Refusal::Cors);
    }
    allowed
}

/// True when `origin` (`scheme://host[:port]`) names the host the request was sent to.
fn same_origin(origin: &HeaderValue, host: Option<&HeaderValue>) -> bool {
    let (Ok(origin), Some(Ok(host))) = (origin.to_str(), host.map(HeaderValue::to_str)) else {
        return false;
    };
    origin
        .split_once("://")
        .is_some_and(|(_, rest)| rest.eq_ignore_ascii_case(host))
}

/// Whether a WebSocket request's `Origin` is allowed (CORS does not protect WebSockets).
fn origin_allowed(policy: &Cors, headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true; // not a browser
    };
    match policy {
        Cors::Any => true,
        Cors::Allow(origins) => {
            origin
                .to_str()
                .is_ok_and(|o| origins.iter().any(|allowed| allowed == o))
                || same_origin(origin, headers.get(header::HOST))
        }
        Cors::SameOrigin => same_origin(origin, headers.get(header::HOST)),
    }
}

/// Whether a request asks for a WebSocket (`Upgrade: websocket`).
pub(crate) fn is_websocket_upgrade(headers: &HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// Where a request to the endpoint goes.
pub(crate) enum Route {
    /// A new polling session.
    PollingHandshake(EngineInfo),
    /// A GET or POST of a polling session.
    Polling(String),
    /// A new WebSocket session (no sid) or an upgrade probe.
    WebSocket {
        sid: Option<String>,
        info: EngineInfo,
    },
}

/// Checks the Engine.IO query in the reference server's order, and the origin of WebSockets;
/// a refusal is counted.
pub(crate) fn route<H: SessionHandler>(
    engine: &Engine<H>,
    uri: &Uri,
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
) -> Result<Route, RequestError> {
    let routed = check(engine, uri, headers, peer);
    match &routed {
        Err(RequestError::BadRequest(ORIGIN_REFUSED)) => engine.meter.refused(Refusal::Cors),
        Err(_) => engine.meter.refused(Refusal::BadRequest),
        Ok(_) => {}
    }
    routed
}

const ORIGIN_REFUSED: &str = "origin not allowed";

fn check<H: SessionHandler>(
    engine: &Engine<H>,
    uri: &Uri,
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
) -> Result<Route, RequestError> {
    let raw_query = uri.query().unwrap_or_default();
    let query = EngineQuery::scan(raw_query);
    let websocket = match query.transport.as_deref() {
        Some("polling") => false,
        Some("websocket") => true,
        _ => return Err(RequestError::UnknownTransport),
    };
    let eio_is_4 = query.eio.as_deref() == Some("4");
    let sid = query.sid.map(Cow::into_owned);
    if sid.is_none() && !eio_is_4 {
        return Err(RequestError::UnsupportedProtocolVersion);
    }
    if sid.is_some() && !eio_is_4 {
        return Err(RequestError::BadRequest("wrong EIO for this session"));
    }
    if websocket && !origin_allowed(&engine.config.cors, headers) {
        log::warn!("websocket refused: origin not allowed");
        return Err(RequestError::BadRequest(ORIGIN_REFUSED));
    }
    // Only a request that opens a session keeps its whole query (for the handshake object).
    let info = || EngineInfo {
        query: Arc::new(query_map(raw_query)),
        headers: Arc::new(Headers::from(headers)),
        address: peer,
        time: SystemTime::now(),
        url: uri.to_string().into(),
    };
    Ok(match (websocket, sid) {
        (false, None) => Route::PollingHandshake(info()),
        (false, Some(sid)) => Route::Polling(sid),
        (true, sid) => Route::WebSocket { sid, info: info() },
    })
}

/// The three parameters Engine.IO routes on, from one pass over the query string; as in a map
/// of the query, a repeated key keeps its last value.
#[derive(Debug, Default, PartialEq)]
struct EngineQuery<'a> {
    transport: Option<Cow<'a, str>>,
    eio: Option<Cow<'a, str>>,
    sid: Option<Cow<'a, str>>,
}

impl<'a> EngineQuery<'a> {
    /// Borrows from `query` what needs no decoding; only a pair with `%` or `+` in it goes
    /// through the decoder (the usual query has neither: `EIO=4&transport=polling&t=…&sid=…`).
    fn scan(query: &'a str) -> Self {
        let mut found = EngineQuery::default();
        for pair in query.split('&') {
            if pair.is_empty() {
                continue;
            }
            let (key, value) = if pair.contains(['%', '+']) {
                match form_urlencoded::parse(pair.as_bytes()).next() {
                    Some(decoded) => decoded,
                    None => continue,
                }
            } else {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                (Cow::Borrowed(key), Cow::Borrowed(value))
            };
            let slot = match key.as_ref() {
                "transport" => &mut found.transport,
                "EIO" => &mut found.eio,
                "sid" => &mut found.sid,
                _ => continue,
            };
            *slot = Some(value);
        }
        found
    }
}

/// Every query parameter, decoded (`+` as space, percent escapes), the last of a repeated key.
fn query_map(query: &str) -> HashMap<String, String> {
    form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

async fn entry<H: SessionHandler>(
    req: HttpRequest,
    body: web::Payload,
    engine: Arc<Engine<H>>,
) -> HttpResponse {
    log::debug!("{} {}", req.method(), req.uri());
    let route = match route(&engine, req.uri(), req.headers(), req.peer_addr()) {
        Ok(route) => route,
        Err(err) => {
            log::debug!("request {} refused: {err:?}", req.uri());
            return if is_websocket_upgrade(req.headers()) {
                websocket::refuse(err)
            } else {
                err.to_response()
            };
        }
    };
    match route {
        Route::PollingHandshake(info) => polling::handshake(req.method(), engine, info),
        Route::Polling(sid) => {
            polling::request(req.method(), req.headers(), body.into_inner(), engine, &sid).await
        }
        Route::WebSocket { sid, info } => websocket::handle(req, body, engine, sid, info).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_scan_decodes_and_keeps_the_last_of_a_repeated_key() {
        let q = EngineQuery::scan("EIO=4&transport=polling&sid=a%2Db&t=x&sid=c+d&other");
        assert_eq!(q.eio.as_deref(), Some("4"));
        assert_eq!(q.transport.as_deref(), Some("polling"));
        assert_eq!(q.sid.as_deref(), Some("c d"));
        assert_eq!(EngineQuery::scan(""), EngineQuery::default());
        // Decoded keys count too; a key without `=` has an empty value; empty pairs are skipped.
        let q = EngineQuery::scan("&&%45IO=4&transport&sid=x%3D1&=y");
        assert_eq!(q.eio.as_deref(), Some("4"));
        assert_eq!(q.transport.as_deref(), Some(""));
        assert_eq!(q.sid.as_deref(), Some("x=1"));
        assert!(matches!(
            EngineQuery::scan("sid=abc").sid,
            Some(Cow::Borrowed("abc"))
        ));
        let map = query_map("a=1&b=%E2%9C%93&a=2&flag");
        assert_eq!(map["a"], "2");
        assert_eq!(map["b"], "\u{2713}");
        assert_eq!(map["flag"], "");
    }

    #[test]
    fn same_origin_compares_host_and_port() {
        let host = HeaderValue::from_static("127.0.0.1:8080");
        let ok = HeaderValue::from_static("http://127.0.0.1:8080");
        let other_port = HeaderValue::from_static("http://127.0.0.1:9090");
        let evil = HeaderValue::from_static("https://evil.example");
        assert!(same_origin(&ok, Some(&host)));
        assert!(!same_origin(&other_port, Some(&host)));
        assert!(!same_origin(&evil, Some(&host)));
        assert!(!same_origin(&ok, None));
    }
}
