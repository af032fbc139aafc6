//! What every session's Socket.IO layer shares within one server: the namespaces (declared and
//! dynamic), the wire format, the application's state, the cluster adapter and the counters
//! behind `SocketIo::stats`.

use std::{
    any::{Any, TypeId},
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        Arc, OnceLock, RwLock,
    },
    time::Duration,
};

use serde_json::Value;

use crate::{
    config::{Config, Recovery},
    socket::{
        cluster::Adapter,
        namespace::{DynNamespace, Namespace},
        observe::{Observer, ObserverSlot},
        parser::Parser,
        recovery::RecoveryTally,
    },
};

/// Values of any type the application hands to its handlers, one per type.
#[derive(Default)]
pub(crate) struct AppState {
    values: RwLock<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
}

impl AppState {
    pub(crate) fn insert<T: Send + Sync + 'static>(&self, value: Arc<T>) {
        self.values
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(TypeId::of::<T>(), value);
    }

    pub(crate) fn get<T: Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        let value = self
            .values
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&TypeId::of::<T>())
            .cloned()?;
        value.downcast::<T>().ok()
    }
}

/// What each namespace is made with.
pub(crate) struct Settings {
    pub(crate) parser: Parser,
    pub(crate) max_rooms_per_socket: usize,
    /// Non-empty rooms across all namespaces (private per-socket rooms included).
    pub(crate) rooms: Arc<AtomicUsize>,
    /// The latency bound of queued broadcasts, and how many it dropped (all namespaces).
    pub(crate) max_queue_delay: Option<Duration>,
    pub(crate) shed: Arc<AtomicU64>,
    /// Connection state recovery and the heartbeat (ping interval + timeout), when on.
    pub(crate) recovery: Option<(Recovery, Duration)>,
    /// Recovery hits and misses, all namespaces together.
    pub(crate) recovery_tally: Arc<RecoveryTally>,
    pub(crate) state: Arc<AppState>,
    /// The admin instrumentation's observer, when the server is instrumented.
    pub(crate) observer: ObserverSlot,
}

/// An application's test of a namespace name (and the CONNECT's auth).
pub(crate) type NameCheck = dyn Fn(&str, &Value) -> bool + Send + Sync;

/// Which namespace names a dynamic namespace takes.
pub(crate) enum Matcher {
    /// `/tenant/{id}`: literal segments and `{name}` segments (one non-empty segment each).
    Pattern(Vec<Segment>),
    /// The application decides from the name and the CONNECT's auth.
    Check(Box<NameCheck>),
}

/// One `/`-separated part of a pattern.
pub(crate) enum Segment {
    Literal(String),
    Param(String),
}

impl Matcher {
    /// Parses `/a/{b}/c`; a segment that opens a brace must be exactly `{name}`.
    pub(crate) fn pattern(pattern: &str) -> Result<Matcher, String> {
        let body = pattern.strip_prefix('/').unwrap_or(pattern);
        let mut segments = Vec::new();
        for part in body.split('/') {
            if let Some(name) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                if name.is_empty() || name.contains(['{', '}']) {
                    return Err(format!("bad parameter segment {part:?} in {pattern:?}"));
                }
                segments.push(Segment::Param(name.to_owned()));
            } else if part.contains(['{', '}']) {
                return Err(format!("bad segment {part:?} in {pattern:?}"));
            } else {
                segments.push(Segment::Literal(part.to_owned()));
            }
        }
        Ok(Matcher::Pattern(segments))
    }

    /// The parameters when `name` matches.
    pub(crate) fn matches(&self, name: &str, auth: &Value) -> Option<Vec<(String, String)>> {
        match self {
            Matcher::Check(check) => check(name, auth).then(Vec::new),
            Matcher::Pattern(segments) => {
                let body = name.strip_prefix('/')?;
                let parts: Vec<&str> = body.split('/').collect();
                if parts.len() != segments.len() {
                    return None;
                }
                let mut params = Vec::new();
                for (segment, part) in segments.iter().zip(parts) {
                    match segment {
                        Segment::Literal(literal) if literal == part => {}
                        Segment::Param(key) if !part.is_empty() => {
                            params.push((key.clone(), part.to_owned()))
                        }
                        _ => return None,
                    }
                }
                Some(params)
            }
        }
    }
}

/// A dynamic namespace: its matcher, and the template whose behaviour its children share.
struct Dynamic {
    matcher: Matcher,
    template: Namespace,
}

/// The namespaces by name; dynamic children come and go.
#[derive(Default)]
pub(crate) struct Registry {
    map: RwLock<HashMap<String, Namespace>>,
}

impl Registry {
    /// The live children of the dynamic namespace named `pattern`.
    pub(crate) fn children_of(&self, pattern: &str) -> Vec<Namespace> {
        self.map
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .filter(|ns| ns.is_child_of(pattern))
            .cloned()
            .collect()
    }

    /// Removes a dynamic child that nothing holds any more.
    pub(crate) fn remove_idle(&self, ns: &Namespace) {
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        let current = map.get(ns.name()).is_some_and(|n| n.same_as(ns));
        if current && ns.idle() {
            map.remove(ns.name());
            log::debug!("dynamic namespace {} removed: no socket left", ns.name());
        }
    }
}

/// The Socket.IO side of one server (the engine's `SessionHandler::Shared`).
pub(crate) struct ServerState {
    pub(crate) parser: Parser,
    settings: Settings,
    registry: Arc<Registry>,
    dynamic: RwLock<Vec<Dynamic>>,
    /// `emit_with_ack` calls waiting for an answer, across all sessions.
    pub(crate) pending_acks: AtomicUsize,
    /// Non-empty rooms across all namespaces (private per-socket rooms included).
    pub(crate) rooms: Arc<AtomicUsize>,
    /// The cluster adapter, when this server is one node of several.
    adapter: OnceLock<Arc<dyn Adapter>>,
}

impl ServerState {
    pub(crate) fn new(config: &Config) -> Self {
        let rooms = Arc::new(AtomicUsize::new(0));
        let parser = config.parser;
        ServerState {
            parser,
            settings: Settings {
                parser,
                max_rooms_per_socket: config.max_rooms_per_socket,
                rooms: rooms.clone(),
                max_queue_delay: config.max_queue_delay,
                shed: Arc::default(),
                recovery: config
                    .recovery
                    .clone()
                    .map(|r| (r, config.ping_interval + config.ping_timeout)),
                recovery_tally: Arc::default(),
                state: Arc::new(AppState::default()),
                observer: ObserverSlot::default(),
            },
            registry: Arc::new(Registry::default()),
            dynamic: RwLock::new(Vec::new()),
            pending_acks: AtomicUsize::new(0),
            rooms,
            adapter: OnceLock::new(),
        }
    }

    /// Sets the observer every namespace tells of its sockets' lives; false if one was set.
    pub(crate) fn set_observer(&self, observer: Arc<dyn Observer>) -> bool {
        self.settings.observer.set(observer).is_ok()
    }

    /// The application's state.
    pub(crate) fn app_state(&self) -> &AppState {
        &self.settings.state
    }

    /// The namespace a CONNECT asks for: a declared one, an existing dynamic child, or a new
    /// child of the first dynamic namespace whose matcher takes the name. Pinned (see
    /// `Namespace::pin`): the caller unpins it if the socket does not make it in.
    pub(crate) fn namespace_for_connect(&self, name: &str, auth: &Value) -> Option<Namespace> {
        if let Some(ns) = self
            .registry
            .map
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
        {
            ns.pin();
            return Some(ns.clone());
        }
        let dynamic = self.dynamic.read().unwrap_or_else(|p| p.into_inner());
        let (params, template) = dynamic.iter().find_map(|d| {
            d.matcher
                .matches(name, auth)
                .map(|params| (params, &d.template))
        })?;
        let ns = {
            let mut map = self.registry.map.write().unwrap_or_else(|p| p.into_inner());
            let ns = map
                .entry(name.to_owned())
                .or_insert_with(|| {
                    log::debug!("dynamic namespace {name} created from {}", template.name());
                    Namespace::new(
                        name,
                        &self.settings,
                        template.behaviour(),
                        Some((
                            template.name_arc().clone(),
                            params,
                            Arc::downgrade(&self.registry),
                        )),
                    )
                })
                .clone();
            ns.pin();
            ns
        };
        if let Some(adapter) = self.adapter.get() {
            ns.install_adapter(adapter);
        }
        Some(ns)
    }

    /// The namespace of that name, created (with no handler) if it does not exist yet.
    pub(crate) fn of(&self, name: String) -> Namespace {
        let ns = self
            .registry
            .map
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .entry(name.clone())
            .or_insert_with(|| Namespace::new(&name, &self.settings, Default::default(), None))
            .clone();
        if let Some(adapter) = self.adapter.get() {
            ns.install_adapter(adapter);
        }
        ns
    }

    /// Declares a dynamic namespace: its template (named by the pattern, or a label for a
    /// check function; never connected to itself) holds the handlers every child shares.
    pub(crate) fn add_dynamic(&self, label: Option<&str>, matcher: Matcher) -> DynNamespace {
        let mut dynamic = self.dynamic.write().unwrap_or_else(|p| p.into_inner());
        let label = match label {
            Some(pattern) => pattern.to_owned(),
            None => format!("(dynamic namespace #{})", dynamic.len() + 1),
        };
        let template = Namespace::new(&label, &self.settings, Default::default(), None);
        dynamic.push(Dynamic {
            matcher,
            template: template.clone(),
        });
        DynNamespace::new(template, self.registry.clone())
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

    /// Recovery hits and misses since the start, all namespaces together.
    /// Broadcasts dropped for waiting longer than `max_queue_delay`, since the start.
    pub(crate) fn broadcasts_shed(&self) -> u64 {
        self.settings.shed.load(Ordering::Relaxed)
    }

    pub(crate) fn recovery_tally(&self) -> (u64, u64) {
        self.settings.recovery_tally.read()
    }

    /// The cluster adapter, when one is set.
    pub(crate) fn adapter(&self) -> Option<&Arc<dyn Adapter>> {
        self.adapter.get()
    }

    /// Every namespace now in the registry (declared ones and live dynamic children).
    pub(crate) fn namespaces(&self) -> Vec<Namespace> {
        self.registry
            .map
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn patterns_match_whole_segments() {
        let m = Matcher::pattern("/tenant/{id}/room/{room}").unwrap();
        let none = json!({});
        assert_eq!(
            m.matches("/tenant/42/room/a", &none).unwrap(),
            [
                ("id".to_owned(), "42".to_owned()),
                ("room".to_owned(), "a".to_owned())
            ]
        );
        assert!(m.matches("/tenant/42/room", &none).is_none());
        assert!(m.matches("/tenant//room/a", &none).is_none());
        assert!(m.matches("/tenant/4/2/room/a", &none).is_none());
        assert!(m.matches("/other/42/room/a", &none).is_none());
        assert!(m.matches("tenant/42/room/a", &none).is_none());
        let plain = Matcher::pattern("/exact").unwrap();
        assert!(plain.matches("/exact", &none).unwrap().is_empty());
        assert!(Matcher::pattern("/a/{}").is_err());
        assert!(Matcher::pattern("/a/x{id}").is_err());
        let check = Matcher::Check(Box::new(|name, auth| {
            name.starts_with("/dyn-") && auth["ok"] == true
        }));
        assert!(check.matches("/dyn-1", &json!({"ok": true})).is_some());
        assert!(check.matches("/dyn-1", &none).is_none());
    }
}
