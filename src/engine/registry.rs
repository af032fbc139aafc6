//! One Engine.IO server: its configuration, the open sessions by sid, the `max_connections`
//! count, and the state the layer above shares between its sessions.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, RwLock,
    },
};

use actix::Addr;

use crate::{
    config::Config,
    engine::{
        handler::SessionHandler,
        meter::{Meter, Refusal},
        session::{CloseSession, Session},
    },
    reason::DisconnectReason,
};

/// A registered session: its actor, and whether a POST is being read for it right now.
pub(crate) struct SessionEntry<H: SessionHandler> {
    pub(crate) addr: Addr<Session<H>>,
    pub(crate) posting: Arc<AtomicBool>,
}

impl<H: SessionHandler> Clone for SessionEntry<H> {
    fn clone(&self) -> Self {
        SessionEntry {
            addr: self.addr.clone(),
            posting: self.posting.clone(),
        }
    }
}

/// The registry's hasher: foldhash (seeded per map) instead of SipHash on the hottest lookups,
/// one or two per polling request. Its keys are sids the server drew at random; a client can
/// only look one up, never insert one.
type SidHashing = foldhash::fast::RandomState;

type Sessions<H> = HashMap<Arc<str>, SessionEntry<H>, SidHashing>;

/// State shared by the HTTP entry point, the transports and every session of one server.
pub(crate) struct Engine<H: SessionHandler> {
    pub(crate) config: Config,
    /// What the layer above shares between its sessions.
    pub(crate) app: H::Shared,
    sessions: RwLock<Sessions<H>>,
    open_sessions: AtomicUsize,
    /// What operators and the admin UI read: sessions, refusals, packets and bytes.
    pub(crate) meter: Arc<Meter>,
}

impl<H: SessionHandler> Engine<H> {
    pub(crate) fn new(config: Config, app: H::Shared) -> Self {
        Engine {
            config,
            app,
            sessions: RwLock::new(Sessions::default()),
            open_sessions: AtomicUsize::new(0),
            meter: Arc::default(),
        }
    }

    /// Reserves a place for a new session; false when `max_connections` is reached.
    pub(crate) fn reserve_session(&self) -> bool {
        let previous = self.open_sessions.fetch_add(1, Ordering::AcqRel);
        if let Some(max) = self.config.max_connections {
            if previous >= max {
                self.open_sessions.fetch_sub(1, Ordering::AcqRel);
                self.meter.refused(Refusal::Full);
                return false;
            }
        }
        true
    }

    /// Registers a session started after a successful [`Engine::reserve_session`].
    pub(crate) fn insert_session(&self, sid: Arc<str>, addr: Addr<Session<H>>) {
        self.sessions
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                sid,
                SessionEntry {
                    addr,
                    posting: Arc::new(AtomicBool::new(false)),
                },
            );
    }

    /// Gives back a place taken by [`Engine::reserve_session`]; each session calls it once.
    pub(crate) fn release_reservation(&self) {
        self.open_sessions.fetch_sub(1, Ordering::AcqRel);
    }

    /// Forgets a session: its sid answers "Session ID unknown" from now on.
    pub(crate) fn remove_session(&self, sid: &str) {
        self.sessions
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(sid);
    }

    /// Hands `msg` to a running session, without cloning its address (a clone allocates);
    /// false when there is none.
    pub(crate) fn tell<M>(&self, sid: &str, msg: M) -> bool
    where
        M: actix::Message + Send + 'static,
        M::Result: Send,
        Session<H>: actix::Handler<M>,
        <Session<H> as actix::Actor>::Context: actix::dev::ToEnvelope<Session<H>, M>,
    {
        let sessions = self.sessions.read().unwrap_or_else(|p| p.into_inner());
        match sessions.get(sid) {
            Some(entry) if entry.addr.connected() => {
                entry.addr.do_send(msg);
                true
            }
            _ => false,
        }
    }

    /// The "POST in progress" flag of a session.
    pub(crate) fn posting(&self, sid: &str) -> Option<Arc<AtomicBool>> {
        self.sessions
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(sid)
            .map(|entry| entry.posting.clone())
    }

    /// The actor of an open session.
    pub(crate) fn session(&self, sid: &str) -> Option<SessionEntry<H>> {
        self.sessions
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(sid)
            .cloned()
    }

    /// Number of open sessions (each holds a place under `max_connections`).
    pub(crate) fn session_count(&self) -> usize {
        self.open_sessions.load(Ordering::Acquire)
    }

    /// Closes every session for `reason`; returns how many were told.
    pub(crate) fn close_all(&self, reason: DisconnectReason) -> usize {
        let sessions: Vec<Addr<Session<H>>> = self
            .sessions
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .map(|entry| entry.addr.clone())
            .collect();
        for addr in &sessions {
            addr.do_send(CloseSession { reason });
        }
        sessions.len()
    }

    /// Whether `path` is this server's endpoint (with or without its trailing slash).
    pub(crate) fn is_endpoint(&self, path: &str) -> bool {
        let own = self.config.path.as_str();
        path == own || (own.len() > 1 && path == own.trim_end_matches('/'))
    }
}

#[cfg(test)]
mod tests {
    use std::{collections::HashSet, hash::BuildHasher};

    use super::SidHashing;
    use crate::engine::random_id;

    #[test]
    fn sid_hashes_spread_over_buckets_and_control_bytes() {
        let build = SidHashing::default();
        let hashes: Vec<u64> = (0..4096)
            .map(|_| build.hash_one(&*random_id().expect("random")))
            .collect();
        // hashbrown picks the bucket from the low bits and the control byte from the top 7.
        let buckets: HashSet<u64> = hashes.iter().map(|h| h & 1023).collect();
        let tags: HashSet<u64> = hashes.iter().map(|h| h >> 57).collect();
        // 4096 uniform draws leave ~19 of 1024 buckets empty; every tag is seen.
        assert!(buckets.len() >= 950, "{} buckets of 1024", buckets.len());
        assert_eq!(tags.len(), 128);
        // Ids that differ in one character hash apart.
        assert_ne!(
            build.hash_one("aaaaaaaaaaaaaaaaaaaa"),
            build.hash_one("aaaaaaaaaaaaaaaaaaab")
        );
    }
}
