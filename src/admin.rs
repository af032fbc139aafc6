//! The server side of the official Socket.IO Admin UI (npm `@socket.io/admin-ui` 0.5, hosted
//! at <https://admin.socket.io>): [`instrument`] opens its namespace (`/admin`), checks its
//! credentials, and speaks its protocol: `session`, `config`, `all_sockets`, `server_stats`
//! every 2 s with per-second aggregated events, the live socket and room events, and the
//! UI's commands (`emit`, `join`, `leave`, `_disconnect`), which go through the ordinary
//! broadcast operators and so reach every node of a cluster.
//!
//! ```no_run
//! use actix_socketio::{admin::{self, AdminAuth, AdminOptions}, SocketIo};
//!
//! let io = SocketIo::default();
//! admin::instrument(&io, AdminOptions::new(AdminAuth::basic("admin", "changeit")))
//!     .expect("a valid password");
//! ```
//!
//! Nothing is added to a server that is not instrumented. An instrumented one counts packets
//! and bytes with atomics and builds live events only while an admin is connected; in
//! [`Mode::Production`] it sends only the aggregated statistics.

use std::{
    collections::{HashMap, HashSet},
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, Mutex, Weak,
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use serde_json::{json, Map, Value};

use crate::{
    engine::meter::{MeterReading, REASONS},
    io::SocketIo,
    reason::DisconnectReason,
    socket::{
        error::ConnectError,
        namespace::Namespace,
        observe::{Change, Observer},
        operator::BroadcastOperator,
        payload::Payload,
        socket::{Event, Socket},
    },
};

/// How often `server_stats` is sent, as the reference does.
const STATS_INTERVAL: Duration = Duration::from_secs(2);

/// How the admin namespace checks who connects.
#[derive(Clone)]
pub enum AdminAuth {
    /// `auth: { username, password }` in the CONNECT (or the `sessionId` a login returned).
    Basic {
        /// The expected username.
        username: String,
        /// The expected password.
        password: Password,
    },
    /// Everyone may connect (a warning is logged): only on a trusted network.
    Disabled,
}

impl std::fmt::Debug for AdminAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AdminAuth::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .finish_non_exhaustive(),
            AdminAuth::Disabled => f.write_str("Disabled"),
        }
    }
}

/// An admin password: a bcrypt hash (as `instrument()` takes it in Node) or the plain text.
#[derive(Clone)]
pub enum Password {
    /// A bcrypt hash (`$2a$`, `$2b$` or `$2y$`).
    Bcrypt(String),
    /// The password itself (compared in constant time).
    Plain(String),
}

impl AdminAuth {
    /// Basic authentication; a password that looks like a bcrypt hash (`$2a$…`, `$2b$…`,
    /// `$2y$…`) is taken as one, anything else as the plain password.
    pub fn basic(username: impl Into<String>, password: impl Into<String>) -> Self {
        let password = password.into();
        let hashed = ["$2a$", "$2b$", "$2y$"]
            .iter()
            .any(|prefix| password.starts_with(prefix));
        AdminAuth::Basic {
            username: username.into(),
            password: if hashed {
                Password::Bcrypt(password)
            } else {
                Password::Plain(password)
            },
        }
    }
}

/// What the UI is sent: everything (development), or only the aggregated statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// `all_sockets` and every live event, as well as the statistics (the reference's default).
    #[default]
    Development,
    /// Only `server_stats` with its aggregated events: cheaper on a busy server.
    Production,
}

/// Options of [`instrument`] (the reference's `InstrumentOptions`).
#[derive(Debug, Clone)]
pub struct AdminOptions {
    /// The admin namespace (default `/admin`).
    pub namespace: String,
    /// Who may connect.
    pub auth: AdminAuth,
    /// When true, the UI can watch but not act (no emit, join, leave or disconnect).
    pub readonly: bool,
    /// The id the UI shows for this server (default: the host name).
    pub server_id: Option<String>,
    /// Development (default) or production.
    pub mode: Mode,
}

impl AdminOptions {
    /// Defaults (`/admin`, not readonly, development mode) with this authentication.
    pub fn new(auth: AdminAuth) -> Self {
        AdminOptions {
            namespace: "/admin".to_owned(),
            auth,
            readonly: false,
            server_id: None,
            mode: Mode::Development,
        }
    }
}

/// Why [`instrument`] refused its options.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The password was given as a bcrypt hash that does not parse.
    #[error("the password must be a valid bcrypt hash: {0}")]
    BadHash(String),
    /// The server is instrumented already.
    #[error("this server is instrumented already")]
    AlreadyInstrumented,
}

/// The features the UI may use, in the reference's spelling.
fn supported_features(options: &AdminOptions) -> Vec<&'static str> {
    let mut features = Vec::new();
    if !options.readonly {
        features.extend([
            "EMIT",
            "JOIN",
            "LEAVE",
            "DISCONNECT",
            "MJOIN",
            "MLEAVE",
            "MDISCONNECT",
        ]);
    }
    features.push("AGGREGATED_EVENTS");
    if options.mode == Mode::Development {
        features.push("ALL_EVENTS");
    }
    features
}

/// What the instrumentation shares between the namespace's handlers, the observer and the
/// statistics task.
struct Admin {
    io: Weak<crate::io::EngineOf>,
    namespace: Namespace,
    auth: AdminAuth,
    /// Session ids handed out by logins: each lets the UI reconnect without the password.
    sessions: Mutex<HashSet<String>>,
    /// Logins that passed the middleware and are owed their `session` after the CONNECT.
    owed: Mutex<HashMap<String, String>>,
    admins: AtomicUsize,
    ticking: AtomicBool,
    features: Vec<&'static str>,
    development: bool,
    server_id: String,
    hostname: String,
    started: Instant,
    /// Aggregated events not sent yet, and the meter reading they were counted from.
    buffer: Mutex<(Vec<Value>, MeterReading)>,
}

/// Instruments a server for the Admin UI (see the module's documentation): opens
/// `options.namespace` with its middleware and handlers, and watches every socket of every
/// namespace. Call it once, before serving.
pub fn instrument(io: &SocketIo, options: AdminOptions) -> Result<(), AdminError> {
    match &options.auth {
        AdminAuth::Basic {
            password: Password::Bcrypt(hash),
            ..
        } => {
            hash.parse::<bcrypt::HashParts>()
                .map_err(|err| AdminError::BadHash(err.to_string()))?;
        }
        AdminAuth::Basic { .. } => {}
        AdminAuth::Disabled => {
            log::warn!("admin UI: authentication is disabled, anyone can connect to it")
        }
    }
    let hostname = hostname();
    let admin = Arc::new(Admin {
        io: io.downgrade(),
        namespace: io.of(&options.namespace),
        auth: options.auth.clone(),
        sessions: Mutex::default(),
        owed: Mutex::default(),
        admins: AtomicUsize::new(0),
        ticking: AtomicBool::new(false),
        features: supported_features(&options),
        development: options.mode == Mode::Development,
        server_id: options
            .server_id
            .clone()
            .unwrap_or_else(|| hostname.clone()),
        hostname,
        started: Instant::now(),
        buffer: Mutex::new((Vec::new(), io.meter().read())),
    });
    if !io.set_observer(Arc::new(Watcher(admin.clone()))) {
        return Err(AdminError::AlreadyInstrumented);
    }
    let checker = admin.clone();
    admin.namespace.use_middleware(move |socket: &Socket| {
        let admin = checker.clone();
        let socket = socket.clone();
        async move { admin.authenticate(&socket).await }
    });
    let on_connect = Arc::downgrade(&admin);
    admin.namespace.on_connect(move |socket: Socket| {
        if let Some(admin) = on_connect.upgrade() {
            admin.admin_connected(&socket);
        }
    });
    Ok(())
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

fn invalid() -> ConnectError {
    ConnectError::new("invalid credentials")
}

impl Admin {
    fn io(&self) -> Option<SocketIo> {
        SocketIo::upgrade(&self.io)
    }

    async fn authenticate(&self, socket: &Socket) -> Result<(), ConnectError> {
        let AdminAuth::Basic { username, password } = &self.auth else {
            return Ok(());
        };
        let auth = &socket.handshake().auth;
        if let Some(id) = auth.get("sessionId").and_then(Value::as_str) {
            if lock(&self.sessions).contains(id) {
                return Ok(());
            }
        }
        let given_user = auth.get("username").and_then(Value::as_str);
        let given = auth.get("password").and_then(Value::as_str);
        let (Some(given_user), Some(given)) = (given_user, given) else {
            return Err(invalid());
        };
        if given_user != username {
            return Err(invalid());
        }
        let matches = match password {
            Password::Plain(expected) => same_bytes(given.as_bytes(), expected.as_bytes()),
            Password::Bcrypt(hash) => {
                // bcrypt is slow on purpose: off the session's worker thread.
                let (given, hash) = (given.to_owned(), hash.clone());
                tokio::task::spawn_blocking(move || bcrypt::verify(given, &hash).unwrap_or(false))
                    .await
                    .unwrap_or(false)
            }
        };
        if !matches {
            log::warn!(
                "admin UI: invalid credentials from {:?}",
                socket.handshake().address
            );
            return Err(invalid());
        }
        let session = random_hex();
        lock(&self.sessions).insert(session.clone());
        lock(&self.owed).insert(socket.id().to_owned(), session);
        Ok(())
    }

    fn admin_connected(self: &Arc<Self>, socket: &Socket) {
        if let Some(session) = lock(&self.owed).remove(socket.id()) {
            let _ = socket.emit("session", &session);
        }
        if self.admins.fetch_add(1, Ordering::AcqRel) == 0 {
            if let Some(io) = self.io() {
                io.meter().watch();
            }
        }
        let gone = Arc::downgrade(self);
        socket.on_disconnect(move |_, _| {
            if let Some(admin) = gone.upgrade() {
                if admin.admins.fetch_sub(1, Ordering::AcqRel) == 1 {
                    if let Some(io) = admin.io() {
                        io.meter().unwatch();
                    }
                }
            }
        });
        self.register_commands(socket);
        let _ = socket.emit("config", &json!({ "supportedFeatures": self.features }));
        if self.development {
            let (admin, socket) = (self.clone(), socket.clone());
            actix::spawn(async move {
                let sockets = admin.all_sockets().await;
                let _ = socket.emit("all_sockets", &sockets);
            });
        }
        self.start_ticking();
    }

    /// Every socket of every namespace, this node's with all their details, other nodes'
    /// with what their node reports.
    async fn all_sockets(&self) -> Vec<Value> {
        let Some(io) = self.io() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for ns in io.namespaces() {
            match ns.all().fetch_remote_sockets().await {
                Ok(sockets) => {
                    for remote in sockets {
                        out.push(match remote.as_local() {
                            Some(socket) => serialize(socket),
                            None => serialize_remote(ns.name(), &remote),
                        });
                    }
                }
                Err(err) => {
                    log::warn!("admin UI: the cluster did not list {}: {err}", ns.name());
                    out.extend(ns.all().fetch_sockets().await.iter().map(serialize));
                }
            }
        }
        out
    }

    fn register_commands(&self, socket: &Socket) {
        if !self.features.contains(&"EMIT") {
            return;
        }
        let io = self.io.clone();
        socket.on("emit", move |_socket, event: Event| {
            let Some(io) = SocketIo::upgrade(&io) else {
                return;
            };
            let payload = event.payload();
            let args = payload.args();
            let (Some(nsp), Some(name)) = (arg_str(args, 0), arg_str(args, 2)) else {
                log::warn!("admin UI: emit without a namespace and an event name; ignored");
                return;
            };
            let Some(target) = target(&io, nsp, args.get(1)) else {
                return;
            };
            let mut forwarded = Payload::new();
            for arg in &args[3..] {
                let arg = forwarded.adopt(arg, payload.attachments());
                forwarded = forwarded.value(arg);
            }
            if let Err(err) = target.emit_payload(name, forwarded) {
                log::warn!("admin UI: emit {name:?} refused: {err}");
            }
        });
        let io = self.io.clone();
        socket.on("join", move |_socket, event: Event| {
            rooms_command(&io, &event, true);
        });
        let io = self.io.clone();
        socket.on("leave", move |_socket, event: Event| {
            rooms_command(&io, &event, false);
        });
        let io = self.io.clone();
        socket.on("_disconnect", move |_socket, event: Event| {
            let io = SocketIo::upgrade(&io);
            async move {
                let Some(io) = io else {
                    return;
                };
                let args = event.payload().args();
                let Some(nsp) = arg_str(args, 0) else {
                    log::warn!("admin UI: _disconnect without a namespace; ignored");
                    return;
                };
                let close = match args.get(1) {
                    None | Some(Value::Null) => false,
                    Some(Value::Bool(close)) => *close,
                    Some(other) => {
                        log::warn!("admin UI: _disconnect close={other} is not a boolean; ignored");
                        return;
                    }
                };
                if let Some(target) = target(&io, nsp, args.get(2)) {
                    target.disconnect_sockets(close).await;
                }
            }
        });
    }

    /// Starts the statistics task if it is not running: it samples the counters every
    /// second and sends `server_stats` every two, until no admin is connected.
    fn start_ticking(self: &Arc<Self>) {
        if self.ticking.swap(true, Ordering::AcqRel) {
            return;
        }
        let admin = Arc::downgrade(self);
        actix::spawn(async move {
            let mut tick = tokio::time::interval(STATS_INTERVAL / 2);
            let mut n: u64 = 0;
            loop {
                tick.tick().await;
                let Some(admin) = admin.upgrade() else {
                    return;
                };
                if admin.admins.load(Ordering::Acquire) == 0 {
                    admin.ticking.store(false, Ordering::Release);
                    // An admin that came in meanwhile found the flag still set: go on for it.
                    if admin.admins.load(Ordering::Acquire) == 0
                        || admin.ticking.swap(true, Ordering::AcqRel)
                    {
                        return;
                    }
                }
                admin.sample();
                if n % 2 == 0 {
                    admin.send_stats();
                }
                n += 1;
            }
        });
    }

    /// Turns what the counters gained since the last sample into aggregated events stamped
    /// with the current second (the reference's `EventBuffer`).
    fn sample(&self) {
        let Some(io) = self.io() else {
            return;
        };
        let now = io.meter().read();
        let second = (unix_millis() / 1000) * 1000;
        let mut buffer = lock(&self.buffer);
        let (events, last) = &mut *buffer;
        let mut push = |kind: &str, sub: Option<&str>, count: u64| {
            if count == 0 {
                return;
            }
            let mut event = json!({ "timestamp": second, "type": kind, "count": count });
            if let Some(sub) = sub {
                event["subType"] = json!(sub);
            }
            events.push(event);
        };
        push(
            "rawConnection",
            None,
            now.opened.saturating_sub(last.opened),
        );
        for (i, reason) in REASONS.iter().enumerate() {
            let count = now.closed[i].saturating_sub(last.closed[i]);
            push("rawDisconnection", Some(reason.as_str()), count);
        }
        push(
            "packetsIn",
            None,
            now.packets_in.saturating_sub(last.packets_in),
        );
        push(
            "packetsOut",
            None,
            now.packets_out.saturating_sub(last.packets_out),
        );
        push("bytesIn", None, now.bytes_in.saturating_sub(last.bytes_in));
        push(
            "bytesOut",
            None,
            now.bytes_out.saturating_sub(last.bytes_out),
        );
        *last = now;
    }

    fn send_stats(&self) {
        let Some(io) = self.io() else {
            return;
        };
        let events = std::mem::take(&mut lock(&self.buffer).0);
        let namespaces: Vec<Value> = io
            .namespaces()
            .iter()
            .map(|ns| json!({ "name": ns.name(), "socketsCount": ns.socket_count() }))
            .collect();
        let stats = json!({
            "serverId": self.server_id,
            "hostname": self.hostname,
            "pid": std::process::id(),
            "uptime": self.started.elapsed().as_secs_f64(),
            "clientsCount": io.session_count(),
            "pollingClientsCount": io.meter().read().polling,
            "aggregatedEvents": events,
            "namespaces": namespaces,
        });
        let _ = self.namespace.emit("server_stats", &stats);
    }

    /// Sends a live event to the admins, built only when there is one (and never in
    /// production mode).
    fn live(&self, event: &str, build: impl FnOnce() -> Payload) {
        if !self.development || self.admins.load(Ordering::Acquire) == 0 {
            return;
        }
        if let Err(err) = self.namespace.emit_payload(event, build()) {
            log::debug!("admin UI: {event} not sent: {err}");
        }
    }

    fn is_admin_namespace(&self, socket: &Socket) -> bool {
        socket.namespace().same_as(&self.namespace)
    }
}

/// `(nsp, room, filter)` of a join or leave command, applied to the selected sockets.
fn rooms_command(io: &Weak<crate::io::EngineOf>, event: &Event, join: bool) {
    let Some(io) = SocketIo::upgrade(io) else {
        return;
    };
    let args = event.payload().args();
    let (Some(nsp), Some(room)) = (arg_str(args, 0), arg_str(args, 1)) else {
        log::warn!("admin UI: join/leave without a namespace and a room; ignored");
        return;
    };
    if let Some(target) = target(&io, nsp, args.get(2)) {
        if join {
            target.sockets_join(room);
        } else {
            target.sockets_leave(room);
        }
    }
}

fn arg_str(args: &[Value], i: usize) -> Option<&str> {
    args.get(i).and_then(Value::as_str)
}

/// The sockets a command is for: the namespace (only an existing one), narrowed to a room or
/// socket id (or a list of them) when the filter is given. A filter of another type ignores
/// the command: it must not widen to the whole namespace.
fn target(io: &SocketIo, nsp: &str, filter: Option<&Value>) -> Option<BroadcastOperator> {
    let Some(ns) = io.existing_namespace(nsp) else {
        log::warn!("admin UI: no namespace {nsp:?}; command ignored");
        return None;
    };
    let all = ns.all();
    match filter {
        None | Some(Value::Null) => Some(all),
        Some(Value::String(room)) if room.is_empty() => Some(all),
        Some(Value::String(room)) => Some(all.to(room.as_str())),
        Some(Value::Array(items)) if !items.is_empty() && items.iter().all(Value::is_string) => {
            let rooms: Vec<String> = items
                .iter()
                .filter_map(|r| r.as_str().map(str::to_owned))
                .collect();
            Some(all.to(rooms))
        }
        Some(other) => {
            log::warn!("admin UI: filter {other} is not a room or socket id; command ignored");
            None
        }
    }
}

/// The observer that turns socket lives into the UI's live events (development mode).
struct Watcher(Arc<Admin>);

impl Observer for Watcher {
    fn connected(&self, socket: &Socket) {
        let admin = &self.0;
        admin.live("socket_connected", || {
            Payload::new().value(serialize(socket)).value(now_json())
        });
        if !admin.development || admin.is_admin_namespace(socket) {
            return;
        }
        let received = Arc::downgrade(admin);
        socket.on_any(move |socket, event| {
            if let Some(admin) = received.upgrade() {
                admin.live("event_received", || {
                    event_payload(socket, event.name(), event.payload())
                });
            }
        });
        let sent = Arc::downgrade(admin);
        socket.on_any_outgoing(move |socket, name, payload| {
            if let Some(admin) = sent.upgrade() {
                admin.live("event_sent", || event_payload(socket, name, payload));
            }
        });
    }

    fn updated(&self, socket: &Socket, change: Change) {
        self.0.live("socket_updated", || {
            let mut update = json!({ "id": socket.id(), "nsp": socket.ns() });
            match change {
                Change::Transport => update["transport"] = json!(socket.transport()),
                Change::Data => update["data"] = data_json(socket),
            }
            Payload::new().value(update)
        });
    }

    fn joined(&self, socket: &Socket, room: &str) {
        self.0.live("room_joined", || room_payload(socket, room));
    }

    fn left(&self, socket: &Socket, room: &str) {
        self.0.live("room_left", || room_payload(socket, room));
    }

    fn disconnected(&self, socket: &Socket, reason: DisconnectReason) {
        self.0.live("socket_disconnected", || {
            Payload::new()
                .value(json!(socket.ns()))
                .value(json!(socket.id()))
                .value(json!(reason.as_str()))
                .value(now_json())
        });
    }
}

fn room_payload(socket: &Socket, room: &str) -> Payload {
    Payload::new()
        .value(json!(socket.ns()))
        .value(json!(room))
        .value(json!(socket.id()))
        .value(now_json())
}

/// `(nsp, id, [event, ...args], timestamp)`, binary arguments kept as binary.
fn event_payload(socket: &Socket, name: &str, payload: &Payload) -> Payload {
    let mut out = Payload::new();
    let mut args = vec![json!(name)];
    for arg in payload.args() {
        args.push(out.adopt(arg, payload.attachments()));
    }
    out.value(json!(socket.ns()))
        .value(json!(socket.id()))
        .value(Value::Array(args))
        .value(now_json())
}

/// A socket as the UI lists it (the reference's `serialize`; never the auth payload).
fn serialize(socket: &Socket) -> Value {
    let handshake = socket.handshake();
    let full = crate::socket::cluster::handshake_json(socket);
    let header = |name: &str| {
        handshake
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let address = header("cf-connecting-ip")
        .or_else(|| header("x-forwarded-for"))
        .map(Value::String)
        .unwrap_or_else(|| full["address"].clone());
    let client: String = socket.client_id().chars().take(12).collect();
    json!({
        "id": socket.id(),
        "clientId": client,
        "transport": socket.transport(),
        "nsp": socket.ns(),
        "data": data_json(socket),
        "handshake": {
            "address": address,
            "headers": full["headers"],
            "query": full["query"],
            "issued": full["issued"],
            "secure": full["secure"],
            "time": full["time"],
            "url": full["url"],
            "xdomain": full["xdomain"],
        },
        "rooms": socket.rooms(),
    })
}

/// A socket of another node, from what that node reported (its transport as its handshake
/// asked for, the upgrade unknown here).
fn serialize_remote(nsp: &str, remote: &crate::socket::cluster::RemoteSocket) -> Value {
    let mut handshake = remote.handshake().clone();
    if let Value::Object(map) = &mut handshake {
        map.remove("auth");
    }
    let transport = handshake["query"]["transport"]
        .as_str()
        .unwrap_or("websocket")
        .to_owned();
    let data = match remote.data() {
        Value::Null => json!({}),
        other => other.clone(),
    };
    json!({
        "id": remote.id(),
        "clientId": remote.id().chars().take(12).collect::<String>(),
        "transport": transport,
        "nsp": nsp,
        "data": data,
        "handshake": handshake,
        "rooms": remote.rooms(),
    })
}

/// The socket's data as the UI shows it: an object (`{}` when none was set).
fn data_json(socket: &Socket) -> Value {
    match socket.data() {
        Value::Null => Value::Object(Map::new()),
        other => other,
    }
}

fn unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Now as JavaScript's `JSON.stringify(new Date())` writes it.
fn now_json() -> Value {
    crate::socket::msgpack::iso_date(unix_millis() as i64)
}

fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn random_hex() -> String {
    let mut raw = [0u8; 8];
    if getrandom::fill(&mut raw).is_err() {
        // Without randomness no session id is safe: the UI logs in with the password again.
        return String::from("unavailable");
    }
    raw.iter().map(|b| format!("{b:02x}")).collect()
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_written_as_javascript_writes_them() {
        let iso = |ms| crate::socket::msgpack::iso_date(ms);
        assert_eq!(iso(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(iso(1_796_615_045_007), "2026-12-07T03:44:05.007Z");
        assert!(now_json().as_str().is_some_and(|s| s.ends_with('Z')));
    }

    #[test]
    fn passwords_are_hashes_or_plain() {
        assert!(matches!(
            AdminAuth::basic("a", "$2b$10$abcdefghijklmnopqrstuv"),
            AdminAuth::Basic {
                password: Password::Bcrypt(_),
                ..
            }
        ));
        assert!(matches!(
            AdminAuth::basic("a", "secret"),
            AdminAuth::Basic {
                password: Password::Plain(_),
                ..
            }
        ));
        assert!(same_bytes(b"abc", b"abc"));
        assert!(!same_bytes(b"abc", b"abd"));
        assert!(!same_bytes(b"abc", b"ab"));
    }

    #[test]
    fn readonly_drops_the_commands() {
        let mut options = AdminOptions::new(AdminAuth::Disabled);
        assert_eq!(supported_features(&options).len(), 9);
        options.readonly = true;
        options.mode = Mode::Production;
        assert_eq!(supported_features(&options), ["AGGREGATED_EVENTS"]);
    }
}
