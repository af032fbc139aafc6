//! Socket.IO v5 on top of Engine.IO: the codec behind its parser seam, the per-session layer
//! (`connection`), namespaces, sockets, acks, rooms (the RoomManager actor), broadcast
//! operators, and the cluster seam that adapters implement. Imports the engine, never above it.

pub mod ack;
pub mod cluster;
pub(crate) mod connection;
pub mod error;
pub mod handler;
pub mod handshake;
pub mod msgpack;
pub mod namespace;
pub(crate) mod observe;
pub mod operator;
pub mod packet;
pub mod parser;
pub mod payload;
pub(crate) mod recovery;
pub mod rooms;
#[allow(clippy::module_inception)]
pub mod socket;
pub(crate) mod state;
