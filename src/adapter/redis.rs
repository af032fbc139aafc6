//! [`RedisAdapter`]: nodes meet on Redis pub/sub exactly as Node's `@socket.io/redis-adapter`
//! 8.x (classic, non-sharded) does, so a cluster may mix Rust and Node.js nodes.
//!
//! Channels, with `key` = `socket.io` by default and `nsp` the namespace name:
//! - `key#nsp#` broadcasts, `key#nsp#room#` a broadcast to exactly one room; every node
//!   `PSUBSCRIBE`s `key#nsp#*`. Message: MessagePack `[uid, packet, {rooms, except, flags}]`.
//! - `key-request#nsp#` requests (JSON; broadcast-with-ack in MessagePack), types 0–7.
//! - `key-response#nsp#` replies (and `key-response#nsp#uid#` for nodes that ask for replies on
//!   their own channel). The number of nodes is `PUBSUB NUMSUB key-request#nsp#`.
//!
//! All Redis I/O runs on one thread of its own (`socketio-redis`): a subscriber connection that
//! reconnects and resubscribes by itself, and a publishing connection fed by a queue (messages
//! queued together leave in one pipeline, in order). Local delivery never waits for Redis.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, RwLock, Weak,
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
use futures_util::{future::BoxFuture, FutureExt, StreamExt};
use redis::{aio::MultiplexedConnection, AsyncConnectionConfig, Client, Msg};
use rmpv::Value as Mp;
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};

use super::wire;
use crate::socket::{
    cluster::{
        Adapter, ClusterError, RemoteAcks, RemoteSocket, Selection, ServerAck, SocketDetails,
    },
    error::AckError,
    namespace::Namespace,
    operator::disconnect_each,
    payload::Payload,
    rooms::Selector,
};

const SOCKETS: u64 = 0;
const ALL_ROOMS: u64 = 1;
const REMOTE_JOIN: u64 = 2;
const REMOTE_LEAVE: u64 = 3;
const REMOTE_DISCONNECT: u64 = 4;
const REMOTE_FETCH: u64 = 5;
const SERVER_SIDE_EMIT: u64 = 6;
const BROADCAST: u64 = 7;
const BROADCAST_CLIENT_COUNT: u64 = 8;
const BROADCAST_ACK: u64 = 9;

/// How long a broadcast-with-ack request from another node waits for its clients when the
/// request names no timeout.
const DEFAULT_REMOTE_ACK_TIMEOUT: Duration = Duration::from_secs(5);
/// Most messages sent to Redis in one pipeline.
const MAX_BATCH: usize = 256;
/// Longest pause between two attempts to reach Redis.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// Settings of a [`RedisAdapter`]; the defaults are those of `@socket.io/redis-adapter`.
#[derive(Debug, Clone)]
pub struct RedisAdapterConfig {
    /// `redis://host:port[/db]` (`rediss://` is not built in).
    pub url: String,
    /// Channel prefix (`key` in the Node adapter): `socket.io`.
    pub key: String,
    /// How long requests to other nodes wait for every answer: 5 s.
    pub requests_timeout: Duration,
    /// Answer other nodes' requests on their own response channel (`key-response#nsp#uid#`)
    /// rather than the shared one. Every node hears both; off by default, as in Node.
    pub publish_on_specific_response_channel: bool,
}

impl RedisAdapterConfig {
    /// The defaults, for a Redis server at `url`.
    pub fn new(url: impl Into<String>) -> Self {
        RedisAdapterConfig {
            url: url.into(),
            key: "socket.io".to_owned(),
            requests_timeout: Duration::from_secs(5),
            publish_on_specific_response_channel: false,
        }
    }
}

/// A cluster adapter on Redis pub/sub, wire-compatible with Node's `@socket.io/redis-adapter`
/// 8.x. Install it with [`SocketIo::set_adapter`](crate::SocketIo::set_adapter).
///
/// ```no_run
/// use actix_socketio::{adapter::RedisAdapter, Config, SocketIo};
///
/// let io = SocketIo::new(Config::default());
/// io.set_adapter(RedisAdapter::new("redis://127.0.0.1:6379").expect("a redis:// URL"));
/// ```
#[derive(Clone)]
pub struct RedisAdapter {
    inner: Arc<Inner>,
}

enum Command {
    Publish {
        channel: String,
        message: Vec<u8>,
    },
    NumSub {
        channel: String,
        reply: oneshot::Sender<Result<usize, String>>,
    },
}

/// A reply from another node to a request of ours, decoded.
struct Reply {
    body: Value,
    attachments: Vec<Bytes>,
}

struct Inner {
    uid: String,
    config: RedisAdapterConfig,
    channel_prefix: String,
    request_prefix: String,
    response_prefix: String,
    commands: mpsc::UnboundedSender<Command>,
    subscriptions: mpsc::UnboundedSender<String>,
    namespaces: RwLock<HashMap<String, Namespace>>,
    pending: Mutex<HashMap<String, mpsc::UnboundedSender<Reply>>>,
    /// Requests that wait for answers (see `Adapter::request_counts`).
    requests: AtomicU64,
    /// Those whose answers (or Redis's count of nodes) did not all come before the deadline.
    timeouts: AtomicU64,
}

impl RedisAdapter {
    /// An adapter with the default settings for the Redis server at `url`. Connecting happens
    /// in the background (and again whenever the connection is lost).
    pub fn new(url: &str) -> Result<Self, ClusterError> {
        Self::with_config(RedisAdapterConfig::new(url))
    }

    /// An adapter with these settings.
    pub fn with_config(config: RedisAdapterConfig) -> Result<Self, ClusterError> {
        let client = Client::open(config.url.as_str())
            .map_err(|e| ClusterError::Unavailable(format!("{}: {e}", config.url)))?;
        let (commands, command_rx) = mpsc::unbounded_channel();
        let (subscriptions, subscription_rx) = mpsc::unbounded_channel();
        let inner = Arc::new(Inner {
            uid: random_id(),
            channel_prefix: format!("{}#", config.key),
            request_prefix: format!("{}-request#", config.key),
            response_prefix: format!("{}-response#", config.key),
            config,
            commands,
            subscriptions,
            namespaces: RwLock::new(HashMap::new()),
            pending: Mutex::new(HashMap::new()),
            requests: AtomicU64::new(0),
            timeouts: AtomicU64::new(0),
        });
        let weak = Arc::downgrade(&inner);
        std::thread::Builder::new()
            .name("socketio-redis".to_owned())
            .spawn(move || {
                actix_rt::System::new().block_on(async move {
                    let publisher = actix_rt::spawn(publish_loop(client.clone(), command_rx));
                    subscribe_loop(client, weak, subscription_rx).await;
                    let _ = publisher.await;
                });
            })
            .map_err(|e| {
                ClusterError::Unavailable(format!("cannot start the Redis thread: {e}"))
            })?;
        Ok(RedisAdapter { inner })
    }

    /// This node's id on the wire (6 characters, new at every start).
    pub fn uid(&self) -> &str {
        &self.inner.uid
    }
}

impl Inner {
    fn publish(&self, channel: String, message: Vec<u8>) {
        let _ = self.commands.send(Command::Publish { channel, message });
    }

    fn request_channel(&self, nsp: &str) -> String {
        format!("{}{nsp}#", self.request_prefix)
    }

    fn response_channel(&self, nsp: &str) -> String {
        format!("{}{nsp}#", self.response_prefix)
    }

    fn publish_json(&self, channel: String, body: &Value) {
        self.publish(channel, body.to_string().into_bytes());
    }

    /// One more request that waits for answers.
    fn count_request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// One more request whose deadline passed first.
    fn count_timeout(&self) {
        self.timeouts.fetch_add(1, Ordering::Relaxed);
    }

    /// The number of nodes on `nsp` (Redis's count of subscribers); a request of its own only
    /// when the caller counts it, but its timeout is counted here.
    async fn server_count(&self, nsp: &str) -> Result<usize, ClusterError> {
        let (reply, rx) = oneshot::channel();
        let _ = self.commands.send(Command::NumSub {
            channel: self.request_channel(nsp),
            reply,
        });
        match tokio::time::timeout(self.config.requests_timeout, rx).await {
            Ok(Ok(Ok(count))) => Ok(count),
            Ok(Ok(Err(err))) => Err(ClusterError::Unavailable(err)),
            Ok(Err(_)) => Err(ClusterError::Unavailable("the Redis thread is gone".into())),
            Err(_) => {
                self.count_timeout();
                Err(ClusterError::Unavailable(
                    "no answer from Redis to PUBSUB NUMSUB".into(),
                ))
            }
        }
    }

    /// Registers a request id; its replies arrive on the receiver until the guard drops.
    fn expect_replies(self: &Arc<Self>) -> (PendingGuard, mpsc::UnboundedReceiver<Reply>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let id = random_id();
        lock(&self.pending).insert(id.clone(), tx);
        (
            PendingGuard {
                inner: self.clone(),
                id,
            },
            rx,
        )
    }

    /// Sends a JSON request to the other nodes and gathers one reply from each (`count` of
    /// them), keeping what `take` extracts.
    async fn gather<T>(
        self: &Arc<Self>,
        nsp: &str,
        mut request: Value,
        mut take: impl FnMut(&Reply, &mut Vec<T>) -> bool,
    ) -> Result<Vec<T>, ClusterError> {
        self.count_request();
        let others = self.server_count(nsp).await?.saturating_sub(1);
        let mut out = Vec::new();
        if others == 0 {
            return Ok(out);
        }
        let (guard, mut replies) = self.expect_replies();
        request["uid"] = json!(self.uid);
        request["requestId"] = json!(guard.id);
        self.publish_json(self.request_channel(nsp), &request);
        let deadline = tokio::time::Instant::now() + self.config.requests_timeout;
        let mut received = 0;
        while received < others {
            match tokio::time::timeout_at(deadline, replies.recv()).await {
                Ok(Some(reply)) => {
                    if take(&reply, &mut out) {
                        received += 1;
                    }
                }
                Ok(None) | Err(_) => {
                    self.count_timeout();
                    return Err(ClusterError::Timeout {
                        expected: others,
                        received,
                    });
                }
            }
        }
        Ok(out)
    }

    fn namespace(&self, nsp: &str) -> Option<Namespace> {
        self.namespaces
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(nsp)
            .cloned()
    }

    /// Where replies to a request go: the shared response channel, or the asking node's own.
    fn reply_channel(&self, nsp: &str, request: &Value) -> String {
        match request.get("uid").and_then(Value::as_str) {
            Some(uid) if self.config.publish_on_specific_response_channel => {
                format!("{}{nsp}#{uid}#", self.response_prefix)
            }
            _ => self.response_channel(nsp),
        }
    }
}

struct PendingGuard {
    inner: Arc<Inner>,
    id: String,
}

impl Drop for PendingGuard {
    fn drop(&mut self) {
        lock(&self.inner.pending).remove(&self.id);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// Six random alphanumeric characters, like the Node adapter's `uid2(6)`.
fn random_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut raw = [0u8; 6];
    if getrandom::fill(&mut raw).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        raw = [0, 1, 2, 3, 4, 5].map(|i| (nanos >> (i * 5)) as u8);
    }
    raw.iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect()
}

/// A list of strings as MessagePack.
fn strings(items: &[String]) -> Mp {
    Mp::Array(
        items
            .iter()
            .map(|s| Mp::String(s.as_str().into()))
            .collect(),
    )
}

fn wire_opts(selection: &Selection) -> Value {
    json!({ "rooms": selection.rooms, "except": selection.except })
}

impl Adapter for RedisAdapter {
    fn attach(&self, namespace: &Namespace) {
        let name = namespace.name().to_owned();
        let fresh = self
            .inner
            .namespaces
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.clone(), namespace.clone())
            .is_none();
        if fresh {
            let _ = self.inner.subscriptions.send(name);
        }
    }

    fn broadcast(
        &self,
        namespace: &str,
        selection: &Selection,
        event: &str,
        payload: &Payload,
        volatile: bool,
    ) {
        let inner = &self.inner;
        let flags = if volatile {
            wire::map(vec![("volatile", Mp::Boolean(true))])
        } else {
            wire::map(vec![])
        };
        let message = Mp::Array(vec![
            Mp::String(inner.uid.as_str().into()),
            wire::event_packet(namespace, event, payload),
            wire::map(vec![
                ("rooms", strings(&selection.rooms)),
                ("except", strings(&selection.except)),
                ("flags", flags),
            ]),
        ]);
        let mut channel = format!("{}{namespace}#", inner.channel_prefix);
        if let [room] = selection.rooms.as_slice() {
            channel.push_str(room);
            channel.push('#');
        }
        inner.publish(channel, wire::encode_msgpack(&message));
    }

    fn broadcast_with_ack(
        &self,
        namespace: &str,
        selection: &Selection,
        event: &str,
        payload: &Payload,
        timeout: Duration,
    ) -> BoxFuture<'static, RemoteAcks> {
        let inner = self.inner.clone();
        let nsp = namespace.to_owned();
        let opts = wire::map(vec![
            ("rooms", strings(&selection.rooms)),
            ("except", strings(&selection.except)),
            (
                "flags",
                wire::map(vec![("timeout", Mp::from(timeout.as_millis() as u64))]),
            ),
        ]);
        let packet = wire::event_packet(namespace, event, payload);
        async move {
            inner.count_request();
            let mut acks = RemoteAcks::default();
            let others = match inner.server_count(&nsp).await {
                Ok(count) => count.saturating_sub(1),
                Err(err) => {
                    log::warn!("broadcast with ack stays on this node: {err}");
                    return acks;
                }
            };
            if others == 0 {
                return acks;
            }
            let (guard, mut replies) = inner.expect_replies();
            let request = wire::map(vec![
                ("uid", Mp::String(inner.uid.as_str().into())),
                ("requestId", Mp::String(guard.id.as_str().into())),
                ("type", Mp::from(BROADCAST)),
                ("packet", packet),
                ("opts", opts),
            ]);
            inner.publish(inner.request_channel(&nsp), wire::encode_msgpack(&request));
            let deadline = tokio::time::Instant::now() + timeout;
            let (mut nodes, mut expected) = (0usize, 0usize);
            while nodes < others || acks.answers.len() < expected {
                let Ok(Some(reply)) = tokio::time::timeout_at(deadline, replies.recv()).await
                else {
                    break;
                };
                match reply.body.get("type").and_then(Value::as_u64) {
                    Some(BROADCAST_CLIENT_COUNT) => {
                        nodes += 1;
                        let count = reply.body.get("clientCount").and_then(Value::as_u64);
                        expected += count.unwrap_or(0) as usize;
                    }
                    Some(BROADCAST_ACK) => {
                        let args = match reply.body.get("packet") {
                            Some(arg) => vec![arg.clone()],
                            None => Vec::new(),
                        };
                        acks.answers
                            .push(Ok(wire::payload_of(&args, &reply.attachments)));
                    }
                    _ => {}
                }
            }
            if nodes < others || acks.answers.len() < expected {
                inner.count_timeout();
            }
            while acks.answers.len() < expected {
                acks.answers.push(Err(AckError::Timeout));
            }
            acks.silent_nodes = others.saturating_sub(nodes);
            acks
        }
        .boxed()
    }

    fn fetch_sockets(
        &self,
        namespace: &Namespace,
        selection: &Selection,
    ) -> BoxFuture<'static, Result<Vec<RemoteSocket>, ClusterError>> {
        let inner = self.inner.clone();
        let ns = namespace.clone();
        let request = json!({ "type": REMOTE_FETCH, "opts": wire_opts(selection) });
        async move {
            let details = inner
                .gather(ns.name(), request, |reply, out: &mut Vec<SocketDetails>| {
                    let Some(Value::Array(sockets)) = reply.body.get("sockets") else {
                        return false;
                    };
                    out.extend(
                        sockets
                            .iter()
                            .filter_map(|s| serde_json::from_value(s.clone()).ok()),
                    );
                    true
                })
                .await?;
            Ok(details
                .into_iter()
                .map(|d| RemoteSocket::remote(d, ns.clone()))
                .collect())
        }
        .boxed()
    }

    fn add_sockets(&self, namespace: &str, selection: &Selection, rooms: &[String]) {
        let request = json!({
            "uid": self.inner.uid,
            "type": REMOTE_JOIN,
            "opts": wire_opts(selection),
            "rooms": rooms,
        });
        self.inner
            .publish_json(self.inner.request_channel(namespace), &request);
    }

    fn del_sockets(&self, namespace: &str, selection: &Selection, rooms: &[String]) {
        let request = json!({
            "uid": self.inner.uid,
            "type": REMOTE_LEAVE,
            "opts": wire_opts(selection),
            "rooms": rooms,
        });
        self.inner
            .publish_json(self.inner.request_channel(namespace), &request);
    }

    fn disconnect_sockets(&self, namespace: &str, selection: &Selection, close: bool) {
        let request = json!({
            "uid": self.inner.uid,
            "type": REMOTE_DISCONNECT,
            "opts": wire_opts(selection),
            "close": close,
        });
        self.inner
            .publish_json(self.inner.request_channel(namespace), &request);
    }

    fn server_side_emit(&self, namespace: &str, event: &str, payload: &Payload) {
        let request = json!({
            "uid": self.inner.uid,
            "type": SERVER_SIDE_EMIT,
            "data": event_data(event, payload),
        });
        self.inner
            .publish_json(self.inner.request_channel(namespace), &request);
    }

    fn server_side_emit_with_ack(
        &self,
        namespace: &str,
        event: &str,
        payload: &Payload,
        timeout: Duration,
    ) -> BoxFuture<'static, Result<Vec<Value>, ClusterError>> {
        let inner = self.inner.clone();
        let nsp = namespace.to_owned();
        let data = event_data(event, payload);
        async move {
            inner.count_request();
            let others = inner.server_count(&nsp).await?.saturating_sub(1);
            let mut responses = Vec::new();
            if others == 0 {
                return Ok(responses);
            }
            let (guard, mut replies) = inner.expect_replies();
            let request = json!({
                "uid": inner.uid,
                "requestId": guard.id,
                "type": SERVER_SIDE_EMIT,
                "data": data,
            });
            inner.publish_json(inner.request_channel(&nsp), &request);
            let deadline = tokio::time::Instant::now() + timeout;
            while responses.len() < others {
                match tokio::time::timeout_at(deadline, replies.recv()).await {
                    Ok(Some(reply)) => {
                        responses.push(reply.body.get("data").cloned().unwrap_or(Value::Null));
                    }
                    Ok(None) | Err(_) => {
                        inner.count_timeout();
                        return Err(ClusterError::Timeout {
                            expected: others,
                            received: responses.len(),
                        });
                    }
                }
            }
            Ok(responses)
        }
        .boxed()
    }

    fn all_rooms(&self, namespace: &str) -> BoxFuture<'static, Result<Vec<String>, ClusterError>> {
        let inner = self.inner.clone();
        let nsp = namespace.to_owned();
        async move {
            inner
                .gather(&nsp, json!({ "type": ALL_ROOMS }), |reply, out| {
                    if !matches!(reply.body.get("rooms"), Some(Value::Array(_))) {
                        return false;
                    }
                    out.extend(wire::rooms_of(reply.body.get("rooms")));
                    true
                })
                .await
        }
        .boxed()
    }

    fn server_count(&self, namespace: &str) -> BoxFuture<'static, Result<usize, ClusterError>> {
        let inner = self.inner.clone();
        let nsp = namespace.to_owned();
        async move {
            inner.count_request();
            inner.server_count(&nsp).await
        }
        .boxed()
    }

    fn request_counts(&self) -> (u64, u64) {
        (
            self.inner.requests.load(Ordering::Relaxed),
            self.inner.timeouts.load(Ordering::Relaxed),
        )
    }
}

/// `[event, ...args]` for a JSON request (binary arguments as Node's Buffer JSON).
fn event_data(event: &str, payload: &Payload) -> Value {
    let mut data = Vec::with_capacity(payload.len() + 1);
    data.push(Value::String(event.to_owned()));
    data.extend(
        payload
            .args()
            .iter()
            .map(|arg| wire::json_with_buffers(arg, payload.attachments())),
    );
    Value::Array(data)
}

// ------------------------------------------------------------------ the Redis thread

/// Sends queued messages to Redis, in order, in pipelines; reconnects when needed.
async fn publish_loop(client: Client, mut commands: mpsc::UnboundedReceiver<Command>) {
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(Duration::from_secs(5)));
    let mut conn: Option<MultiplexedConnection> = None;
    let mut last_failure: Option<Instant> = None;
    let mut dropped = 0usize;
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = commands.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match commands.try_recv() {
                Ok(command) => batch.push(command),
                Err(_) => break,
            }
        }
        if conn.is_none() {
            // While Redis is away, try again at most every 500 ms; what comes meanwhile is lost.
            let recently = last_failure.is_some_and(|t| t.elapsed() < Duration::from_millis(500));
            if !recently {
                match client
                    .get_multiplexed_async_connection_with_config(&config)
                    .await
                {
                    Ok(c) => {
                        if last_failure.take().is_some() {
                            log::info!(
                                "Redis publishing connection back ({dropped} messages were lost meanwhile)"
                            );
                        }
                        dropped = 0;
                        conn = Some(c);
                    }
                    Err(err) => {
                        if last_failure.is_none() {
                            log::warn!("cannot publish to Redis: {err}; retrying");
                        }
                        last_failure = Some(Instant::now());
                    }
                }
            }
        }
        let Some(connection) = conn.as_mut() else {
            for command in batch.drain(..) {
                match command {
                    Command::Publish { .. } => dropped += 1,
                    Command::NumSub { reply, .. } => {
                        let _ = reply.send(Err("Redis is unreachable".to_owned()));
                    }
                }
            }
            continue;
        };
        let mut pipe = redis::pipe();
        let mut waiting = Vec::new();
        for command in batch.drain(..) {
            match command {
                Command::Publish { channel, message } => {
                    pipe.cmd("PUBLISH").arg(channel).arg(message).ignore();
                }
                Command::NumSub { channel, reply } => {
                    pipe.cmd("PUBSUB").arg("NUMSUB").arg(channel);
                    waiting.push(reply);
                }
            }
        }
        match pipe.query_async::<Vec<redis::Value>>(connection).await {
            Ok(results) => {
                for (reply, result) in waiting.into_iter().zip(results) {
                    let _ = reply.send(
                        numsub_count(&result)
                            .ok_or_else(|| format!("unexpected PUBSUB NUMSUB reply: {result:?}")),
                    );
                }
            }
            Err(err) => {
                log::warn!("publishing to Redis failed: {err}; reconnecting");
                for reply in waiting {
                    let _ = reply.send(Err(err.to_string()));
                }
                conn = None;
                last_failure = Some(Instant::now());
            }
        }
    }
}

/// The count in a `PUBSUB NUMSUB channel` reply: `[channel, count]`.
fn numsub_count(value: &redis::Value) -> Option<usize> {
    let redis::Value::Array(items) = value else {
        return None;
    };
    match items.get(1)? {
        redis::Value::Int(n) => usize::try_from(*n).ok(),
        _ => None,
    }
}

/// Hears every channel of every attached namespace; reconnects and resubscribes forever
/// (until the adapter is dropped).
async fn subscribe_loop(
    client: Client,
    inner: Weak<Inner>,
    mut subscriptions: mpsc::UnboundedReceiver<String>,
) {
    let mut backoff = Duration::from_millis(100);
    let mut lost_since: Option<Instant> = None;
    let mut connected_once = false;
    loop {
        let Some(strong) = inner.upgrade() else {
            return;
        };
        let connected =
            tokio::time::timeout(Duration::from_secs(2), client.get_async_pubsub()).await;
        let failure = match connected {
            Ok(Ok(pubsub)) => Ok(pubsub),
            Ok(Err(err)) => Err(err.to_string()),
            Err(_) => Err("connection timed out".to_owned()),
        };
        let pubsub = match failure {
            Ok(pubsub) => pubsub,
            Err(why) => {
                if lost_since.is_none() {
                    log::warn!("cannot subscribe on Redis: {why}; retrying");
                    lost_since = Some(Instant::now());
                }
                drop(strong);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        let (mut sink, mut stream) = pubsub.split();
        let names: Vec<String> = strong
            .namespaces
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .cloned()
            .collect();
        let mut ok = true;
        for name in &names {
            ok &= subscribe_namespace(&strong, &mut sink, name).await;
        }
        drop(strong);
        if !ok {
            tokio::time::sleep(backoff).await;
            continue;
        }
        backoff = Duration::from_millis(100);
        if let Some(since) = lost_since.take() {
            log::info!(
                "Redis subscription back after {:.1} s; resubscribed {} namespace(s)",
                since.elapsed().as_secs_f64(),
                names.len()
            );
        } else if connected_once {
            log::info!("Redis subscription re-established");
        }
        connected_once = true;
        loop {
            tokio::select! {
                message = stream.next() => {
                    let Some(message) = message else { break };
                    let Some(strong) = inner.upgrade() else { return };
                    on_message(&strong, &message);
                }
                name = subscriptions.recv() => {
                    let Some(name) = name else { return };
                    let Some(strong) = inner.upgrade() else { return };
                    // A failure here shows up as the stream ending; the resubscription covers it.
                    subscribe_namespace(&strong, &mut sink, &name).await;
                }
            }
        }
        log::warn!("lost the Redis subscription; reconnecting (local delivery goes on)");
        lost_since = Some(Instant::now());
    }
}

async fn subscribe_namespace(inner: &Inner, sink: &mut redis::aio::PubSubSink, nsp: &str) -> bool {
    let pattern = format!("{}{nsp}#*", inner.channel_prefix);
    let channels = [
        inner.request_channel(nsp),
        inner.response_channel(nsp),
        format!("{}{nsp}#{}#", inner.response_prefix, inner.uid),
    ];
    let result = async {
        sink.psubscribe(&pattern).await?;
        sink.subscribe(&channels[..]).await
    }
    .await;
    if let Err(err) = &result {
        log::warn!("subscribing namespace {nsp} on Redis failed: {err}");
    }
    result.is_ok()
}

/// One message from Redis; anything malformed is logged and dropped.
fn on_message(inner: &Arc<Inner>, message: &Msg) {
    let channel = message.get_channel_name();
    let bytes = message.get_payload_bytes();
    let outcome = if channel.starts_with(&inner.response_prefix) {
        on_response(inner, bytes)
    } else if let Some(rest) = channel.strip_prefix(&inner.request_prefix) {
        match rest.strip_suffix('#') {
            Some(nsp) => on_request(inner, nsp, bytes),
            None => Err("request channel without its trailing #".to_owned()),
        }
    } else if channel.starts_with(&inner.channel_prefix) {
        on_broadcast(inner, channel, bytes)
    } else {
        Ok(())
    };
    if let Err(why) = outcome {
        log::warn!(
            "dropped a message on Redis channel {channel:?} ({} bytes): {why}",
            bytes.len()
        );
    }
}

/// `[uid, packet, opts]` on `key#nsp#` or `key#nsp#room#`.
fn on_broadcast(inner: &Inner, channel: &str, bytes: &[u8]) -> Result<(), String> {
    let value = wire::decode_msgpack(bytes).map_err(|e| e.to_string())?;
    let mut attachments = Vec::new();
    let value = wire::to_json(value, &mut attachments, 0).map_err(|e| e.to_string())?;
    let Value::Array(parts) = value else {
        return Err("a broadcast must be [uid, packet, opts]".into());
    };
    let [uid, packet, opts] = parts.as_slice() else {
        return Err("a broadcast must be [uid, packet, opts]".into());
    };
    if uid.as_str() == Some(inner.uid.as_str()) {
        return Ok(());
    }
    let nsp = match packet.get("nsp") {
        None | Some(Value::Null) => "/",
        Some(Value::String(nsp)) => nsp.as_str(),
        Some(_) => return Err("packet.nsp is not a string".into()),
    };
    let on_own_channel = channel[inner.channel_prefix.len()..]
        .strip_prefix(nsp)
        .is_some_and(|rest| rest.starts_with('#'));
    if !on_own_channel {
        return Err(format!(
            "packet for namespace {nsp:?} on another namespace's channel"
        ));
    }
    let Some(ns) = inner.namespace(nsp) else {
        return Ok(()); // not a namespace of ours
    };
    let (event, payload) =
        wire::event_of(packet, &attachments).ok_or("the packet is not an event")?;
    if !opts.is_object() {
        return Err("opts is not an object".into());
    }
    let selector = selector_of(opts);
    let volatile = opts["flags"]["volatile"].as_bool().unwrap_or(false);
    ns.deliver_from_cluster(selector, &event, payload, volatile)
        .map_err(|e| e.to_string())
}

fn rooms_arc(value: Option<&Value>) -> Vec<Arc<str>> {
    wire::rooms_of(value).into_iter().map(Arc::from).collect()
}

fn selector_of(opts: &Value) -> Selector {
    Selector {
        rooms: rooms_arc(opts.get("rooms")),
        except_rooms: rooms_arc(opts.get("except")),
        except_ids: Vec::new(),
    }
}

/// A request from another node on `key-request#nsp#`.
fn on_request(inner: &Arc<Inner>, nsp: &str, bytes: &[u8]) -> Result<(), String> {
    let (request, attachments) = wire::decode_message(bytes).map_err(|e| e.to_string())?;
    if !request.is_object() {
        return Err("a request must be an object".into());
    }
    if request.get("uid").and_then(Value::as_str) == Some(inner.uid.as_str()) {
        return Ok(()); // our own, already done locally
    }
    let kind = request
        .get("type")
        .and_then(Value::as_u64)
        .ok_or("request without a numeric type")?;
    let Some(ns) = inner.namespace(nsp) else {
        return Ok(());
    };
    let request_id = request.get("requestId").cloned();
    let needs_id = || {
        request_id
            .clone()
            .filter(Value::is_string)
            .ok_or("request without a requestId")
    };
    let reply_to = inner.reply_channel(nsp, &request);
    match kind {
        SOCKETS => {
            let id = needs_id()?;
            let selector = Selector {
                rooms: rooms_arc(request.get("rooms")),
                ..Selector::default()
            };
            let inner = inner.clone();
            actix_rt::spawn(async move {
                let sockets = ns.local_sockets(selector).await;
                let ids: Vec<&str> = sockets.iter().map(|s| s.id()).collect();
                inner.publish_json(reply_to, &json!({ "requestId": id, "sockets": ids }));
            });
        }
        ALL_ROOMS => {
            let id = needs_id()?;
            let inner = inner.clone();
            actix_rt::spawn(async move {
                let rooms = ns.local_room_names().await;
                inner.publish_json(reply_to, &json!({ "requestId": id, "rooms": rooms }));
            });
        }
        REMOTE_JOIN | REMOTE_LEAVE | REMOTE_DISCONNECT => {
            let (selector, by_sid) = match request.get("opts") {
                Some(opts) if opts.is_object() => (selector_of(opts), false),
                _ => {
                    let sid = request
                        .get("sid")
                        .and_then(Value::as_str)
                        .ok_or("request without opts or sid")?;
                    (
                        Selector {
                            rooms: vec![Arc::from(sid)],
                            ..Selector::default()
                        },
                        true,
                    )
                }
            };
            let rooms: Vec<Arc<str>> = if by_sid {
                request
                    .get("room")
                    .and_then(Value::as_str)
                    .map(|r| vec![Arc::from(r)])
                    .unwrap_or_default()
            } else {
                rooms_arc(request.get("rooms"))
            };
            let close = request
                .get("close")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let inner = inner.clone();
            actix_rt::spawn(async move {
                // Join and leave by selection need no list of the sockets; a disconnect and the
                // per-socket form (which answers only from the node that has the socket) do.
                let sockets = if kind == REMOTE_DISCONNECT || by_sid {
                    ns.local_sockets(selector.clone()).await
                } else {
                    Vec::new()
                };
                let found = !sockets.is_empty();
                match kind {
                    REMOTE_JOIN => ns.local_join(selector, rooms),
                    REMOTE_LEAVE => ns.local_leave(selector, rooms),
                    _ => disconnect_each(sockets, close),
                }
                // The older per-socket form expects an answer from the node that has it.
                if let (true, true, Some(id)) = (by_sid, found, request_id) {
                    inner.publish_json(reply_to, &json!({ "requestId": id }));
                }
            });
        }
        REMOTE_FETCH => {
            let id = needs_id()?;
            let selector = selector_of(request.get("opts").unwrap_or(&Value::Null));
            let inner = inner.clone();
            actix_rt::spawn(async move {
                let sockets: Vec<Value> = ns
                    .local_sockets(selector)
                    .await
                    .into_iter()
                    .map(|socket| {
                        let remote = RemoteSocket::local(socket);
                        json!({
                            "id": remote.id(),
                            "handshake": remote.handshake(),
                            "rooms": remote.rooms(),
                            "data": remote.data(),
                        })
                    })
                    .collect();
                inner.publish_json(reply_to, &json!({ "requestId": id, "sockets": sockets }));
            });
        }
        SERVER_SIDE_EMIT => {
            let Some(Value::Array(data)) = request.get("data") else {
                return Err("server-side emit without a data array".into());
            };
            let (event, args) = data
                .split_first()
                .ok_or("server-side emit without an event")?;
            let event = event
                .as_str()
                .ok_or("server-side event name is not a string")?;
            let payload = Payload::from_parts(args.to_vec(), Vec::new());
            let ack = match request_id {
                Some(id) => {
                    let inner = inner.clone();
                    // Acks to server-side emits go to the shared response channel, as in Node.
                    let channel = inner.response_channel(nsp);
                    Some(ServerAck::new(move |data| {
                        inner.publish_json(
                            channel,
                            &json!({ "type": SERVER_SIDE_EMIT, "requestId": id, "data": data }),
                        );
                    }))
                }
                None => None,
            };
            ns.run_server_side(event, payload, ack);
        }
        BROADCAST => {
            let id = needs_id()?;
            let packet = request
                .get("packet")
                .ok_or("broadcast request without a packet")?;
            let (event, payload) =
                wire::event_of(packet, &attachments).ok_or("the packet is not an event")?;
            let opts = request.get("opts").unwrap_or(&Value::Null);
            let selector = selector_of(opts);
            let timeout = opts["flags"]["timeout"]
                .as_u64()
                .map(Duration::from_millis)
                .unwrap_or(DEFAULT_REMOTE_ACK_TIMEOUT);
            let inner = inner.clone();
            actix_rt::spawn(async move {
                let sockets = ns.local_sockets(selector).await;
                inner.publish_json(
                    reply_to.clone(),
                    &json!({
                        "type": BROADCAST_CLIENT_COUNT,
                        "requestId": id,
                        "clientCount": sockets.len(),
                    }),
                );
                for socket in sockets {
                    let answer = socket.emit_payload_with_ack(&event, payload.clone(), timeout);
                    let inner = inner.clone();
                    let reply_to = reply_to.clone();
                    let id = id.clone();
                    actix_rt::spawn(async move {
                        let Ok(answer) = answer.await else { return };
                        let mut fields = vec![
                            ("type", Mp::from(BROADCAST_ACK)),
                            ("requestId", Mp::String(id.as_str().unwrap_or("").into())),
                        ];
                        // Only the first argument travels, as in socket.io.
                        if let Some(first) = answer.args().first() {
                            fields.push(("packet", wire::to_msgpack(first, answer.attachments())));
                        }
                        inner.publish(reply_to, wire::encode_msgpack(&wire::map(fields)));
                    });
                }
            });
        }
        _ => return Err(format!("unknown request type {kind}")),
    }
    Ok(())
}

/// A reply on `key-response#nsp#[uid#]`: handed to the request waiting for it, if any.
fn on_response(inner: &Inner, bytes: &[u8]) -> Result<(), String> {
    let (body, attachments) = wire::decode_message(bytes).map_err(|e| e.to_string())?;
    let Some(id) = body.get("requestId").and_then(Value::as_str) else {
        return Err("reply without a requestId".into());
    };
    let waiting = lock(&inner.pending).get(id).cloned();
    if let Some(tx) = waiting {
        let _ = tx.send(Reply { body, attachments });
    }
    Ok(())
}
