//! Socket.IO v5 on top of Engine.IO: the codec, namespaces, the per-socket API and acks.
//! The session actor's Socket.IO behaviour is in `dispatch`.

pub mod ack;
pub(crate) mod dispatch;
pub mod error;
pub mod handshake;
pub mod namespace;
pub mod operator;
pub mod packet;
pub mod payload;
#[allow(clippy::module_inception)]
pub mod socket;
