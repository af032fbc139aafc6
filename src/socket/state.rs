//! What every session's Socket.IO layer shares within one server: the namespaces, the wire
//! format, the cluster adapter and the counters behind `SocketIo::stats`.

use std::{
    collections::HashMap,
    sync::{atomic::AtomicUsize, Arc, OnceLock, RwLock},
};

use std::time::Duration;

use crate::{
    config::{Config, Recovery},
    socket::{cluster::Adapter, namespace::Namespace, parser::Parser},
};

/// The Socket.IO side of one server (the engine's `SessionHandler::Shared`).
pub(crate) struct ServerState {
    pub(crate) parser: Parser,
    max_rooms_per_socket: usize,
    /// Connection state recovery and the heartbeat (ping interval + timeout), when on.
    recovery: Option<(Recovery, Duration)>,
    namespaces: RwLock<HashMap<String, Namespace>>,
    /// `emit_with_ack` calls waiting for an answer, across all sessions.
    pub(crate) pending_acks: AtomicUsize,
    /// Non-empty rooms across all namespaces (private per-socket rooms included).
    pub(crate) rooms: Arc<AtomicUsize>,
    /// The cluster adapter, when this server is one node of several.
    adapter: OnceLock<Arc<dyn Adapter>>,
}

impl ServerState {
    pub(crate) fn new(config: &Config) -> Self {
        ServerState {
            parser: config.parser,
            max_rooms_per_socket: config.max_rooms_per_socket,
            recovery: config
                .recovery
                .clone()
                .map(|r| (r, config.ping_interval + config.ping_timeout)),
            namespaces: RwLock::new(HashMap::new()),
            pending_acks: AtomicUsize::new(0),
            rooms: Arc::new(AtomicUsize::new(0)),
            adapter: OnceLock::new(),
        }
    }

    /// The namespace of that name, if the application declared it.
    pub(crate) fn namespace(&self, name: &str) -> Option<Namespace> {
        self.namespaces
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
    }

    /// The namespace of that name, created (with no handler) if it does not exist yet.
    pub(crate) fn of(&self, name: String) -> Namespace {
        let ns = self
            .namespaces
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .entry(name.clone())
            .or_insert_with(|| {
                Namespace::new(
                    &name,
                    self.parser,
                    self.max_rooms_per_socket,
                    self.rooms.clone(),
                    self.recovery.as_ref(),
                )
            })
            .clone();
        if let Some(adapter) = self.adapter.get() {
            ns.install_adapter(adapter);
        }
        ns
    }

    /// Sets the cluster adapter (once) and links every namespace to it.
    pub(crate) fn set_adapter(&self, adapter: Arc<dyn Adapter>) -> bool {
        if self.adapter.set(adapter.clone()).is_err() {
            return false;
        }
        for ns in self.namespaces() {
            ns.install_adapter(&adapter);
        }
        true
    }

    /// Every declared namespace.
    pub(crate) fn namespaces(&self) -> Vec<Namespace> {
        self.namespaces
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }
}
