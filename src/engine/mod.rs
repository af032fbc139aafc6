//! Engine.IO v4: the packet codec, the session actor (handshake, heartbeat, upgrade, limits),
//! the polling and WebSocket transports and the HTTP entry point. It imports nothing above it:
//! decoded messages go up through `handler::SessionHandler`, encoded frames come back down.

use std::sync::Arc;

use base64::Engine as _;

pub mod error;
pub(crate) mod handler;
pub(crate) mod info;
pub mod meter;
pub mod packet;
pub(crate) mod registry;
pub(crate) mod service;
pub(crate) mod session;
pub(crate) mod transport;

/// A fresh unguessable id: 120 bits from the OS CSPRNG, as 20 URL-safe base64 characters.
pub(crate) fn random_id() -> Result<Arc<str>, getrandom::Error> {
    let mut raw = [0u8; 15];
    getrandom::fill(&mut raw)?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(raw)
        .into())
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_long_and_distinct() {
        let a = super::random_id().unwrap();
        let b = super::random_id().unwrap();
        assert_eq!(a.len(), 20);
        assert_ne!(a, b);
    }
}

/// The engine on its own: a real actix-web server on a loopback port with the [`handler::Echo`]
/// handler on top, driven over TCP. Nothing of the Socket.IO layer takes part (this module also
/// builds and runs in a crate made of `config`, `reason` and `engine` alone: `make engine-alone`).
#[cfg(test)]
mod standalone {
    use std::{sync::Arc, time::Duration};

    use actix_web::{App, HttpServer};
    use tokio::{
        io::{AsyncReadExt, AsyncWriteExt},
        net::TcpStream,
    };

    use super::{handler::Echo, registry::Engine, service};
    use crate::config::Config;

    /// One HTTP/1.1 request on a fresh connection; the status and body of the answer.
    async fn request(port: u16, method: &str, path: &str, body: &str) -> (u16, String) {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
             Content-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer))
            .await
            .expect("an answer within 5 s")
            .unwrap();
        let text = String::from_utf8(answer).unwrap();
        let status = text[9..12].parse().unwrap();
        let (_, body) = text.split_once("\r\n\r\n").unwrap();
        (status, body.to_owned())
    }

    #[actix_web::test]
    async fn echo_sessions_over_polling() {
        let engine = Arc::new(Engine::<Echo>::new(
            Config::default().with_path("/engine.io/"),
            (),
        ));
        let app_engine = engine.clone();
        let server = HttpServer::new(move || {
            let engine = app_engine.clone();
            App::new().configure(move |cfg| service::register(cfg, engine))
        })
        .workers(1)
        .disable_signals()
        .bind(("127.0.0.1", 0))
        .unwrap();
        let port = server.addrs()[0].port();
        let server = server.run();
        let handle = server.handle();
        actix_rt::spawn(server);

        let (status, open) = request(port, "GET", "/engine.io/?EIO=4&transport=polling", "").await;
        assert_eq!(status, 200, "{open}");
        assert!(open.starts_with("0{\"sid\":\""), "{open}");
        let sid = open[9..29].to_owned();
        assert_eq!(engine.session_count(), 1);

        let path = format!("/engine.io/?EIO=4&transport=polling&sid={sid}");
        assert_eq!(
            request(port, "POST", &path, "4hello\x1e4world").await,
            (200, "ok".into())
        );
        assert_eq!(
            request(port, "GET", &path, "").await,
            (200, "4hello\x1e4world".into())
        );
        // A client close ends the session: the sid is unknown afterwards.
        assert_eq!(request(port, "POST", &path, "1").await, (200, "ok".into()));
        let (status, body) = request(port, "GET", &path, "").await;
        assert!(status == 200 || status == 400, "{status} {body}");
        let (status, body) = request(port, "GET", &path, "").await;
        assert_eq!(
            (status, body.as_str()),
            (400, r#"{"code":1,"message":"Session ID unknown"}"#)
        );
        assert_eq!(engine.session_count(), 0);

        // Refusals of the HTTP entry point.
        let (status, body) = request(port, "GET", "/engine.io/?EIO=3&transport=polling", "").await;
        assert_eq!(
            (status, body.as_str()),
            (
                400,
                r#"{"code":5,"message":"Unsupported protocol version"}"#
            )
        );
        handle.stop(false).await;
    }
}
