//! What a client presented when it connected: the handshake request's query, headers, address
//! and URL (shared by every socket of one session) plus the namespace CONNECT's auth payload.

use std::{collections::HashMap, net::SocketAddr, sync::Arc, time::SystemTime};

use serde_json::Value;

pub use crate::engine::info::Headers;

/// What the client presented when it opened its connection and joined the namespace.
#[derive(Debug, Clone)]
pub struct Handshake {
    /// The CONNECT packet's auth payload (`{}` when the client sent none).
    pub auth: Value,
    /// Query parameters of the Engine.IO handshake request.
    pub query: Arc<HashMap<String, String>>,
    /// Headers of the Engine.IO handshake request.
    pub headers: Arc<Headers>,
    /// Peer address of the handshake request, when known.
    pub address: Option<SocketAddr>,
    /// When the Engine.IO session opened.
    pub time: SystemTime,
    /// Path and query of the handshake request.
    pub url: Arc<str>,
}
