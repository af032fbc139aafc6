//! The cluster seam of the Socket.IO layer: what a namespace asks of the other nodes
//! ([`Adapter`]) and the types that cross it. Implementations live above, in `adapter/`.

use std::{fmt, time::Duration};

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::socket::{
    error::{AckError, EmitError},
    namespace::Namespace,
    operator::IntoRooms,
    payload::Payload,
    socket::Socket,
};

/// Which sockets a cluster-wide operation addresses, as nodes tell each other: members of
/// `rooms` (every socket when empty) minus members of `except` (a socket id counts as a room).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Selection {
    /// Target rooms; empty means the whole namespace.
    #[serde(default)]
    pub rooms: Vec<String>,
    /// Rooms (and socket ids) left out.
    #[serde(default)]
    pub except: Vec<String>,
}

/// Why a cluster-wide operation did not complete.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ClusterError {
    /// Not every node answered in time (the adapter's request timeout, or the one given).
    #[error("timeout reached: only {received} responses received out of {expected}")]
    Timeout {
        /// Answers expected (other nodes, or their clients for acks).
        expected: usize,
        /// Answers that did arrive.
        received: usize,
    },
    /// The adapter could not reach its broker (e.g. Redis is down).
    #[error("adapter unavailable: {0}")]
    Unavailable(String),
}

/// A socket anywhere in the cluster, as `fetch_remote_sockets` returns it: what its node
/// reported (id, rooms, data, handshake), and the local handle when it is on this node.
/// Its methods reach it wherever it is.
#[derive(Clone)]
pub struct RemoteSocket {
    id: String,
    rooms: Vec<String>,
    data: Value,
    handshake: Value,
    namespace: Namespace,
    local: Option<Socket>,
}

impl fmt::Debug for RemoteSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteSocket")
            .field("id", &self.id)
            .field("rooms", &self.rooms)
            .field("data", &self.data)
            .field("local", &self.local.is_some())
            .finish()
    }
}

/// A socket as nodes describe it to each other (`@socket.io/redis-adapter`'s fetch reply).
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SocketDetails {
    pub(crate) id: String,
    #[serde(default)]
    pub(crate) rooms: Vec<String>,
    #[serde(default)]
    pub(crate) data: Value,
    #[serde(default)]
    pub(crate) handshake: Value,
}

impl From<Socket> for RemoteSocket {
    fn from(socket: Socket) -> Self {
        RemoteSocket::local(socket)
    }
}

impl RemoteSocket {
    /// A socket on another node of `namespace`, as that node described it (for adapters).
    pub fn new(
        id: String,
        rooms: Vec<String>,
        data: Value,
        handshake: Value,
        namespace: Namespace,
    ) -> Self {
        RemoteSocket {
            id,
            rooms,
            data,
            handshake,
            namespace,
            local: None,
        }
    }

    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn remote(mut details: SocketDetails, namespace: Namespace) -> Self {
        details.rooms.sort();
        Self::new(
            details.id,
            details.rooms,
            details.data,
            details.handshake,
            namespace,
        )
    }

    pub(crate) fn local(socket: Socket) -> Self {
        let mut rooms = socket.rooms();
        rooms.sort();
        RemoteSocket {
            id: socket.id().to_owned(),
            rooms,
            data: socket.data(),
            handshake: handshake_json(&socket),
            namespace: socket.namespace().clone(),
            local: Some(socket),
        }
    }

    /// The socket's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The rooms it was in (its own private room included), sorted.
    pub fn rooms(&self) -> &[String] {
        &self.rooms
    }

    /// Its application data (`socket.data` in Node).
    pub fn data(&self) -> &Value {
        &self.data
    }

    /// Its handshake as its node described it (`headers`, `query`, `auth`, `address`, `url`,
    /// `time`, `issued`...), in the JSON shape socket.io uses.
    pub fn handshake(&self) -> &Value {
        &self.handshake
    }

    /// The handshake's auth payload (`{}` when none).
    pub fn auth(&self) -> &Value {
        &self.handshake["auth"]
    }

    /// The local handle, when the socket is on this node.
    pub fn as_local(&self) -> Option<&Socket> {
        self.local.as_ref()
    }

    /// Emits an event to this socket, wherever it is.
    pub fn emit<T: Serialize + ?Sized>(&self, event: &str, data: &T) -> Result<(), EmitError> {
        self.namespace.to(self.id.as_str()).emit(event, data)
    }

    /// Emits an event with any arguments to this socket, wherever it is.
    pub fn emit_payload(&self, event: &str, payload: Payload) -> Result<(), EmitError> {
        self.namespace
            .to(self.id.as_str())
            .emit_payload(event, payload)
    }

    /// Makes it join rooms, wherever it is.
    pub fn join(&self, rooms: impl IntoRooms) {
        self.namespace.to(self.id.as_str()).sockets_join(rooms);
    }

    /// Makes it leave rooms, wherever it is.
    pub fn leave(&self, rooms: impl IntoRooms) {
        self.namespace.to(self.id.as_str()).sockets_leave(rooms);
    }

    /// Disconnects it from the namespace (`close`: its whole connection), wherever it is.
    pub async fn disconnect(&self, close: bool) {
        self.namespace
            .to(self.id.as_str())
            .disconnect_sockets(close)
            .await;
    }
}

/// A local socket's handshake in the shape socket.io's `socket.handshake` has, for other nodes.
pub(crate) fn handshake_json(socket: &Socket) -> Value {
    let handshake = socket.handshake();
    let mut headers = serde_json::Map::new();
    for (name, value) in handshake.headers.iter() {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        match headers.get_mut(name.as_str()) {
            // Repeated headers are joined, as Node presents them.
            Some(Value::String(existing)) => {
                existing.push_str(", ");
                existing.push_str(&value);
            }
            _ => {
                headers.insert(name.as_str().to_owned(), Value::String(value));
            }
        }
    }
    let issued = handshake
        .time
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let secure = headers
        .get("x-forwarded-proto")
        .is_some_and(|p| p.as_str() == Some("https"));
    serde_json::json!({
        "headers": headers,
        "time": actix_web::http::header::HttpDate::from(handshake.time).to_string(),
        "address": handshake.address.map(|a| a.ip().to_string()).unwrap_or_default(),
        "xdomain": handshake.headers.contains_key("origin"),
        "secure": secure,
        "issued": issued,
        "url": &*handshake.url,
        "query": &*handshake.query,
        "auth": handshake.auth,
    })
}

/// The other nodes' answers to a cluster-wide `emit_with_ack`.
#[derive(Debug, Default)]
pub struct RemoteAcks {
    /// Each remote client's answer (its first argument), in arrival order; the ones that did
    /// not answer in time as [`AckError::Timeout`].
    pub answers: Vec<Result<Payload, AckError>>,
    /// Nodes that never said how many clients they asked (dead, or too slow).
    pub silent_nodes: usize,
}

/// How a namespace reaches the other nodes of a cluster. Every method covers the OTHER nodes
/// only; the namespace has already done the local part. Implemented by `adapter::RedisAdapter`;
/// install one with [`SocketIo::set_adapter`](crate::SocketIo::set_adapter).
pub trait Adapter: Send + Sync + 'static {
    /// A namespace exists on this node: start hearing what other nodes send to it.
    fn attach(&self, namespace: &Namespace);
    /// Delivers an event to the selected sockets on the other nodes.
    fn broadcast(
        &self,
        namespace: &str,
        selection: &Selection,
        event: &str,
        payload: &Payload,
        volatile: bool,
    );
    /// Emits to the selected sockets on the other nodes and collects their clients' answers
    /// within `timeout`.
    fn broadcast_with_ack(
        &self,
        namespace: &str,
        selection: &Selection,
        event: &str,
        payload: &Payload,
        timeout: Duration,
    ) -> BoxFuture<'static, RemoteAcks>;
    /// The selected sockets on the other nodes.
    fn fetch_sockets(
        &self,
        namespace: &Namespace,
        selection: &Selection,
    ) -> BoxFuture<'static, Result<Vec<RemoteSocket>, ClusterError>>;
    /// Makes the selected sockets on the other nodes join rooms.
    fn add_sockets(&self, namespace: &str, selection: &Selection, rooms: &[String]);
    /// Makes the selected sockets on the other nodes leave rooms.
    fn del_sockets(&self, namespace: &str, selection: &Selection, rooms: &[String]);
    /// Disconnects the selected sockets on the other nodes.
    fn disconnect_sockets(&self, namespace: &str, selection: &Selection, close: bool);
    /// Sends an event to the other nodes' server-side handlers.
    fn server_side_emit(&self, namespace: &str, event: &str, payload: &Payload);
    /// Sends an event to the other nodes' server-side handlers and collects one answer from
    /// each node within `timeout`.
    fn server_side_emit_with_ack(
        &self,
        namespace: &str,
        event: &str,
        payload: &Payload,
        timeout: Duration,
    ) -> BoxFuture<'static, Result<Vec<Value>, ClusterError>>;
    /// The rooms that exist on the other nodes.
    fn all_rooms(&self, namespace: &str) -> BoxFuture<'static, Result<Vec<String>, ClusterError>>;
    /// How many nodes serve this namespace, this one included.
    fn server_count(&self, namespace: &str) -> BoxFuture<'static, Result<usize, ClusterError>>;
    /// `(requests, timeouts)` since the start, for metrics: the requests this node made that
    /// wait for answers (socket fetches, room lists, server-side emits and broadcasts with
    /// acks, server counts), and those of them whose answers did not all arrive before their
    /// deadline. An adapter that does not count them keeps this default, `(0, 0)`.
    fn request_counts(&self) -> (u64, u64) {
        (0, 0)
    }
}

/// The answer a server-side handler gives to a node that asked with `server_side_emit_with_ack`.
pub struct ServerAck {
    send: Box<dyn FnOnce(Value) + Send>,
}

impl ServerAck {
    /// An answer that calls `send` with the value (for adapters).
    pub fn new(send: impl FnOnce(Value) + Send + 'static) -> Self {
        ServerAck {
            send: Box::new(send),
        }
    }

    /// Answers with one value (only one is carried, as in socket.io).
    pub fn send<T: Serialize + ?Sized>(self, data: &T) -> Result<(), serde_json::Error> {
        let value = serde_json::to_value(data)?;
        (self.send)(value);
        Ok(())
    }
}

impl fmt::Debug for ServerAck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ServerAck")
    }
}
