//! Server configuration: every protocol default and limit lives here, in one place.
//! Build one with [`Config::default`] and the `with_*` methods, then hand it to [`crate::SocketIo`].

use std::time::Duration;

/// Which cross-origin requests the Socket.IO endpoint accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cors {
    /// Only same-origin requests (no `Access-Control-Allow-Origin` header is sent; WebSocket
    /// upgrades whose `Origin` differs from the `Host` are refused).
    SameOrigin,
    /// Any origin (`*`), as the conformance suites and public APIs need.
    Any,
    /// These origins, e.g. `https://example.com`, and the server's own (a page it serves),
    /// with credentials.
    Allow(Vec<String>),
}

/// The wire format of Socket.IO packets inside Engine.IO messages; every client of a server must
/// use the same one ([`Config::parser`]).
///
/// The enum lives here with the rest of the configuration; its codecs are in
/// [`crate::socket::parser`], which re-exports it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Parser {
    /// The default parser of socket.io (`socket.io-parser`): a text header and JSON, each
    /// binary attachment as its own binary message after the text.
    #[default]
    Json,
    /// The msgpack parser of socket.io (npm `socket.io-msgpack-parser`): each packet is one
    /// msgpack map `{type, data, nsp, id}` in one binary Engine.IO message, binary arguments
    /// inline as msgpack `bin` values. Clients must use the same parser, e.g. socket.io-client
    /// with `parser: require("socket.io-msgpack-parser")` or python-socketio with
    /// `serializer="msgpack"`.
    ///
    /// Handlers see the same [`Payload`](crate::Payload) as with JSON: binary values become
    /// attachments behind placeholders, and are sent back as `bin`. What the JavaScript
    /// encoder (notepack.io) writes as extension type 0 is read as JavaScript means it:
    /// `undefined` as absent (`null` inside an array, a missing key inside a map, as JSON
    /// would have it), a `Date` as its ISO 8601 string (what `JSON.stringify` makes of it),
    /// an `ArrayBuffer` or typed array as binary. Other extension types, maps with keys that
    /// are not strings, truncated or trailing bytes, nesting deeper than 128 levels and text
    /// messages are decode errors: they close the session, like any malformed packet.
    ///
    /// ```
    /// use actix_socketio::{Config, Parser, SocketIo};
    ///
    /// let io = SocketIo::new(Config::default().parser(Parser::MsgPack));
    /// io.ns("/", |socket| {
    ///     socket.on("echo", |socket, event| {
    ///         // Binary arguments arrive and leave as msgpack `bin` values.
    ///         let _ = socket.emit_payload("echo", event.payload().clone());
    ///     });
    /// });
    /// ```
    MsgPack,
}

/// Configuration of the Engine.IO and Socket.IO layers.
#[derive(Debug, Clone)]
pub struct Config {
    /// Path of the endpoint, with leading and trailing slash (default `/socket.io/`).
    pub path: String,
    /// Delay between two server pings (default 25 s).
    pub ping_interval: Duration,
    /// How long the client has to answer a ping before the session is closed (default 20 s).
    pub ping_timeout: Duration,
    /// How long a WebSocket probe may take to complete the upgrade (default 10 s).
    pub upgrade_timeout: Duration,
    /// Largest HTTP body or WebSocket message accepted, in bytes (default 1 000 000).
    pub max_payload: usize,
    /// How long a client has to join a namespace after the session opens (default 45 s).
    pub connect_timeout: Duration,
    /// Cross-origin policy for HTTP requests and WebSocket upgrades (default same-origin).
    pub cors: Cors,
    /// Largest number of Engine.IO sessions open at once; past it handshakes get HTTP 503
    /// (default: no limit).
    pub max_connections: Option<usize>,
    /// Largest number of buffered outbound bytes per session before it is disconnected as a
    /// slow consumer (default 8 MiB).
    pub max_buffered_bytes: usize,
    /// Largest number of buffered outbound packets per session (default 4096).
    pub max_buffered_packets: usize,
    /// How long a session's backlog may stay over `max_buffered_*` before the session is closed
    /// as a slow consumer (default 1 s); four times the limits closes it at once.
    pub slow_consumer_grace: Duration,
    /// The latency bound of queued broadcasts (default 2 s; `None`: no bound). A broadcast that
    /// waited longer than this inside the server before its delivery began (the server is
    /// saturated: broadcasts arrive faster than it can fan them out) is dropped rather than
    /// delivered late, and counted in [`crate::Stats::broadcasts_shed`]; so past saturation
    /// the latency of what is delivered stays near the bound instead of growing with the
    /// queue. A consumer that does not keep up is handled by `max_buffered_*` and
    /// `slow_consumer_grace`, apart from the others.
    pub max_queue_delay: Option<Duration>,
    /// Most rooms one socket may be in, its own private room not counted (default 1000);
    /// further joins are refused.
    pub max_rooms_per_socket: usize,
    /// Connection state recovery (socket.io's `connectionStateRecovery`): off by default.
    pub recovery: Option<Recovery>,
    /// The wire format of Socket.IO packets (default [`Parser::Json`]).
    pub parser: Parser,
}

/// Connection state recovery: a socket whose connection dropped comes back with its id, rooms,
/// data and the packets it missed, if it reconnects within `max_disconnection_duration`.
///
/// ```
/// use std::time::Duration;
/// use actix_socketio::{Config, Recovery, SocketIo};
///
/// let config = Config::default().connection_state_recovery(
///     Recovery::default().max_disconnection_duration(Duration::from_secs(60)),
/// );
/// let io = SocketIo::new(config);
/// io.ns("/", |socket| {
///     if socket.recovered() {
///         return; // same id, rooms and data; the missed events are on their way
///     }
///     socket.join("lobby");
/// });
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// How long a dropped socket's state is kept (default 2 minutes, as socket.io).
    pub max_disconnection_duration: Duration,
    /// Skip the connect middlewares for a recovered socket (default true, as socket.io).
    pub skip_middlewares: bool,
    /// Most bytes of stored packets per namespace (default 32 MiB); past it the oldest go
    /// first, and a socket whose gap was lost reconnects as a fresh one.
    pub max_stored_bytes: usize,
}

impl Default for Recovery {
    fn default() -> Self {
        Recovery {
            max_disconnection_duration: Duration::from_secs(120),
            skip_middlewares: true,
            max_stored_bytes: 32 * 1024 * 1024,
        }
    }
}

impl Recovery {
    /// Sets how long a dropped socket's state is kept.
    pub fn max_disconnection_duration(mut self, duration: Duration) -> Self {
        self.max_disconnection_duration = duration;
        self
    }

    /// Sets whether recovered sockets skip the connect middlewares.
    pub fn skip_middlewares(mut self, skip: bool) -> Self {
        self.skip_middlewares = skip;
        self
    }

    /// Caps the bytes of stored packets per namespace.
    pub fn max_stored_bytes(mut self, bytes: usize) -> Self {
        self.max_stored_bytes = bytes;
        self
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            path: "/socket.io/".to_owned(),
            ping_interval: Duration::from_millis(25_000),
            ping_timeout: Duration::from_millis(20_000),
            upgrade_timeout: Duration::from_millis(10_000),
            max_payload: 1_000_000,
            connect_timeout: Duration::from_millis(45_000),
            cors: Cors::SameOrigin,
            max_connections: None,
            max_buffered_bytes: 8 * 1024 * 1024,
            max_buffered_packets: 4096,
            slow_consumer_grace: Duration::from_secs(1),
            max_queue_delay: Some(Duration::from_secs(2)),
            max_rooms_per_socket: 1000,
            recovery: None,
            parser: Parser::Json,
        }
    }
}

impl Config {
    /// Sets the endpoint path; a missing leading or trailing slash is added.
    pub fn with_path(mut self, path: &str) -> Self {
        let trimmed = path.trim_matches('/');
        self.path = if trimmed.is_empty() {
            "/".to_owned()
        } else {
            format!("/{trimmed}/")
        };
        self
    }

    /// Sets the ping interval.
    pub fn with_ping_interval(mut self, interval: Duration) -> Self {
        self.ping_interval = interval;
        self
    }

    /// Sets the ping timeout.
    pub fn with_ping_timeout(mut self, timeout: Duration) -> Self {
        self.ping_timeout = timeout;
        self
    }

    /// Sets the upgrade timeout.
    pub fn with_upgrade_timeout(mut self, timeout: Duration) -> Self {
        self.upgrade_timeout = timeout;
        self
    }

    /// Sets the largest accepted payload (HTTP body or WebSocket message), in bytes.
    pub fn with_max_payload(mut self, bytes: usize) -> Self {
        self.max_payload = bytes;
        self
    }

    /// Sets the namespace connect timeout.
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets the cross-origin policy.
    pub fn with_cors(mut self, cors: Cors) -> Self {
        self.cors = cors;
        self
    }

    /// Caps the number of open sessions.
    pub fn with_max_connections(mut self, max: usize) -> Self {
        self.max_connections = Some(max);
        self
    }

    /// Sets the per-session outbound buffer limits (bytes, packets).
    pub fn with_max_buffered(mut self, bytes: usize, packets: usize) -> Self {
        self.max_buffered_bytes = bytes;
        self.max_buffered_packets = packets;
        self
    }

    /// Sets how long a backlog may stay over the buffer limits.
    pub fn with_slow_consumer_grace(mut self, grace: Duration) -> Self {
        self.slow_consumer_grace = grace;
        self
    }

    /// Sets the latency bound of queued broadcasts (`None`: none); see `max_queue_delay`.
    pub fn with_max_queue_delay(mut self, bound: Option<Duration>) -> Self {
        self.max_queue_delay = bound;
        self
    }

    /// Caps the rooms one socket may join.
    pub fn with_max_rooms_per_socket(mut self, max: usize) -> Self {
        self.max_rooms_per_socket = max;
        self
    }

    /// Turns connection state recovery on (`Recovery::default()` for socket.io's defaults).
    pub fn connection_state_recovery(mut self, recovery: Recovery) -> Self {
        self.recovery = Some(recovery);
        self
    }

    /// Sets the wire format of Socket.IO packets, e.g. `Config::default().parser(Parser::MsgPack)`
    /// for clients using socket.io-msgpack-parser. All clients must use the one chosen.
    pub fn parser(mut self, parser: Parser) -> Self {
        self.parser = parser;
        self
    }

    /// The OPEN packet's JSON body for a new session.
    pub(crate) fn open_payload(&self, sid: &str, upgrades: bool) -> String {
        let upgrades = if upgrades { r#"["websocket"]"# } else { "[]" };
        format!(
            r#"{{"sid":"{sid}","upgrades":{upgrades},"pingInterval":{},"pingTimeout":{},"maxPayload":{}}}"#,
            self.ping_interval.as_millis(),
            self.ping_timeout.as_millis(),
            self.max_payload
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_reference_server() {
        let c = Config::default();
        assert_eq!(
            c.open_payload("abc", true),
            r#"{"sid":"abc","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#
        );
        assert_eq!(c.upgrade_timeout, Duration::from_secs(10));
        assert_eq!(c.connect_timeout, Duration::from_secs(45));
        assert_eq!(c.parser, Parser::Json);
        assert_eq!(
            Config::default().parser(Parser::MsgPack).parser,
            Parser::MsgPack
        );
    }

    #[test]
    fn path_is_normalised() {
        assert_eq!(Config::default().with_path("engine.io").path, "/engine.io/");
        assert_eq!(Config::default().with_path("/a/b/").path, "/a/b/");
    }
}
