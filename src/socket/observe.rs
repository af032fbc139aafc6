//! The seam the admin instrumentation watches sockets through: set once per server, read by
//! each namespace, called where a socket connects, changes (transport, data), joins or leaves a
//! room, and disconnects. Nothing is called while no observer is set.

use std::sync::{Arc, OnceLock};

use crate::{reason::DisconnectReason, socket::socket::Socket};

/// What changed on a connected socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    /// Its session moved from long-polling to WebSocket.
    Transport,
    /// `set_data` gave it new data.
    Data,
}

/// Told of every socket's life, on whichever thread the change happens (keep it short).
pub(crate) trait Observer: Send + Sync + 'static {
    /// Passed the middlewares; runs before the connect handler.
    fn connected(&self, socket: &Socket);
    /// Changed while connected.
    fn updated(&self, socket: &Socket, change: Change);
    /// Joined a room (not its own private room).
    fn joined(&self, socket: &Socket, room: &str);
    /// Left a room (by leaving, or by disconnecting).
    fn left(&self, socket: &Socket, room: &str);
    /// Disconnected; runs before the socket's disconnect handlers.
    fn disconnected(&self, socket: &Socket, reason: DisconnectReason);
}

/// One server's observer, shared by all its namespaces; empty until someone instruments it.
pub(crate) type ObserverSlot = Arc<OnceLock<Arc<dyn Observer>>>;
