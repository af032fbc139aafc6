//! Scale-out: adapters that link a namespace's local rooms to the other nodes of a cluster.
//!
//! Every broadcast operator works on this node first (the namespace's RoomManager, unchanged);
//! when an [`Adapter`] is installed with [`SocketIo::set_adapter`](crate::SocketIo::set_adapter)
//! the same operation also goes to the other nodes through it. Without one (the default) the
//! server is a single node and nothing else happens. [`RedisAdapter`] (cargo feature `redis`)
//! speaks the protocol of Node's `@socket.io/redis-adapter`, so Rust and Node.js nodes can share
//! one cluster.

pub use crate::socket::cluster::{
    Adapter, ClusterError, RemoteAcks, RemoteSocket, Selection, ServerAck,
};

#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "redis")]
pub(crate) mod wire;

#[cfg(feature = "redis")]
pub use self::redis::{RedisAdapter, RedisAdapterConfig};
