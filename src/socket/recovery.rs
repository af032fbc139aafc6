//! Connection state recovery (socket.io's `connectionStateRecovery`): one store per namespace
//! keeps the packets sent to its sockets, each under an offset, and the state of sockets whose
//! connection dropped, so that a client reconnecting with its private id (`pid`) and the last
//! offset it received gets the same socket id, rooms, data and the packets it missed.
//!
//! Every stored packet is the very frames the broadcast sent (shared, encoded once). Packets
//! leave by age (the longest a dropped socket may still want them) or, past the byte cap, oldest
//! first; a saved socket that may have wanted an evicted packet is then no longer recoverable.
//! Nothing here exists, and nothing is done per socket, when recovery is off.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, MutexGuard,
    },
    time::{Duration, Instant},
};

use serde_json::Value;

use crate::{
    config::Recovery,
    engine::packet::Frame,
    socket::{
        rooms::{Room, Selector},
        socket::Socket,
    },
};

/// What a socket carries when recovery is on.
#[derive(Debug)]
pub(crate) struct SocketRecovery {
    /// The private session id the client presents to recover (never shown to anyone else).
    pub(crate) pid: Arc<str>,
    /// Offsets up to this one are none of this socket's business (it did not exist yet, or a
    /// recovery replayed everything up to here).
    pub(crate) joined_at: AtomicU64,
    /// The newest offset handed to this socket's connection.
    pub(crate) last_sent: AtomicU64,
    /// True when this socket is a recovered one.
    pub(crate) recovered: bool,
}

impl SocketRecovery {
    /// A socket's recovery state; its offsets are set when it gets in (`RecoveryStore::enliven`,
    /// or the replay for a recovered one).
    pub(crate) fn new(pid: Arc<str>, recovered: bool) -> Self {
        SocketRecovery {
            pid,
            joined_at: AtomicU64::new(0),
            last_sent: AtomicU64::new(0),
            recovered,
        }
    }
}

/// A dropped socket's state, kept for its client to reclaim.
struct Saved {
    sid: Arc<str>,
    rooms: Vec<Room>,
    data: Value,
    joined_at: u64,
    last_sent: u64,
    /// `cap_evicted` when the socket dropped: packets up to here may have left before it.
    watermark: u64,
    generation: u64,
}

struct StoredPacket {
    offset: u64,
    selector: Selector,
    frames: Arc<[Frame]>,
    at: Instant,
    bytes: usize,
}

/// What a client's pid turned out to be.
pub(crate) enum Claimed {
    /// A dropped socket's state, now this client's.
    Yes(Claim),
    /// The socket of that pid is still connected (or its drop is still being handled).
    Live,
    /// Nothing to recover: a fresh socket.
    No,
}

/// A claimed session, ready to be replayed onto its new socket.
pub(crate) struct Claim {
    pub(crate) sid: Arc<str>,
    pub(crate) rooms: Vec<Room>,
    pub(crate) data: Value,
    /// Packets after this offset are replayed.
    pub(crate) from: u64,
    evicted_at_claim: u64,
}

struct Store {
    /// The last offset given out (0: none yet).
    next: u64,
    packets: VecDeque<StoredPacket>,
    bytes: usize,
    sessions: HashMap<Arc<str>, Saved>,
    /// Saved sessions by time of saving, for expiry (an entry whose generation no longer
    /// matches was claimed or replaced).
    expiry: VecDeque<(Instant, Arc<str>, u64)>,
    generation: u64,
    /// Stored sessions per room, so that an eviction can tell which rooms still matter.
    room_refs: HashMap<Room, usize>,
    /// Newest offset evicted by the byte cap: whatever the addressee.
    cap_evicted: u64,
    /// Newest evicted offset of a packet to the whole namespace.
    ns_evicted: u64,
    /// Newest evicted offset per room of a stored session.
    room_evicted: HashMap<Room, u64>,
    /// Newest offset evicted for any reason.
    evicted: u64,
    /// Private session ids of sockets connected now.
    live: HashSet<Arc<str>>,
    /// Recovered sockets between their replay and their registration with the RoomManager:
    /// broadcasts in that window reach them from here.
    pending: Vec<Socket>,
}

/// One namespace's recovery store.
pub(crate) struct RecoveryStore {
    max_duration: Duration,
    packet_ttl: Duration,
    max_bytes: usize,
    pub(crate) skip_middlewares: bool,
    /// Random per store (per server process): an offset from elsewhere never parses.
    epoch: String,
    inner: Mutex<Store>,
    tally: Arc<RecoveryTally>,
}

/// How reconnections with a private id went, for the whole server: every namespace's store
/// counts into the same tally (a dynamic namespace may come and go; its counts stay).
#[derive(Debug, Default)]
pub(crate) struct RecoveryTally {
    hits: AtomicU64,
    misses: AtomicU64,
}

impl RecoveryTally {
    /// (claims that recovered a socket, claims that found nothing to recover), since the start.
    pub(crate) fn read(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }
}

/// Counts for `SocketIo::stats`.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct StoreCounts {
    pub(crate) sessions: usize,
    pub(crate) packets: usize,
    pub(crate) bytes: usize,
}

impl RecoveryStore {
    /// `heartbeat` is the ping interval plus the ping timeout: how long a dead connection may
    /// go unnoticed, during which packets sent to it may be lost.
    /// Its claims count into `tally`.
    pub(crate) fn new(config: &Recovery, heartbeat: Duration, tally: Arc<RecoveryTally>) -> Self {
        let mut raw = [0u8; 4];
        // Without randomness the epoch is fixed; offsets still work within this process.
        let _ = getrandom::fill(&mut raw);
        RecoveryStore {
            max_duration: config.max_disconnection_duration,
            packet_ttl: config.max_disconnection_duration + heartbeat,
            max_bytes: config.max_stored_bytes,
            skip_middlewares: config.skip_middlewares,
            epoch: raw.iter().map(|b| format!("{b:02x}")).collect(),
            inner: Mutex::new(Store {
                next: 0,
                packets: VecDeque::new(),
                bytes: 0,
                sessions: HashMap::new(),
                expiry: VecDeque::new(),
                generation: 0,
                room_refs: HashMap::new(),
                cap_evicted: 0,
                ns_evicted: 0,
                room_evicted: HashMap::new(),
                evicted: 0,
                live: HashSet::new(),
                pending: Vec::new(),
            }),
            tally,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Store> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The offset as the client sees it.
    fn offset_string(&self, offset: u64) -> String {
        format!("{}-{offset:x}", self.epoch)
    }

    /// An offset this store gave out, or `None`.
    fn parse_offset(&self, text: &str) -> Option<u64> {
        let (epoch, counter) = text.split_once('-')?;
        if epoch != self.epoch || counter.is_empty() || counter.len() > 16 {
            return None;
        }
        u64::from_str_radix(counter, 16).ok()
    }

    /// Stores one packet under a new offset and delivers it, all under the store's lock, so
    /// that every connection receives the packets in the order of their offsets.
    ///
    /// `encode` gets the offset (to append as the last argument) and returns the frames;
    /// `deliver` gets the frames, the offset and the recovered sockets not registered yet.
    pub(crate) fn record(
        &self,
        selector: Selector,
        encode: impl FnOnce(String) -> Arc<[Frame]>,
        deliver: impl FnOnce(&Selector, &Arc<[Frame]>, u64, &[Socket]),
    ) {
        let mut store = self.lock();
        self.push(&mut store, selector, encode, deliver);
    }

    fn push(
        &self,
        store: &mut Store,
        selector: Selector,
        encode: impl FnOnce(String) -> Arc<[Frame]>,
        deliver: impl FnOnce(&Selector, &Arc<[Frame]>, u64, &[Socket]),
    ) {
        let now = Instant::now();
        self.expire(store, now);
        store.next += 1;
        let offset = store.next;
        let frames = encode(self.offset_string(offset));
        let bytes = frames.iter().map(Frame::len).sum::<usize>() + STORED_OVERHEAD;
        deliver(&selector, &frames, offset, &store.pending);
        store.bytes += bytes;
        store.packets.push_back(StoredPacket {
            offset,
            selector,
            frames,
            at: now,
            bytes,
        });
        while store.bytes > self.max_bytes {
            let Some(oldest) = store.packets.pop_front() else {
                break;
            };
            store.bytes -= oldest.bytes;
            store.evicted = store.evicted.max(oldest.offset);
            store.cap_evicted = store.cap_evicted.max(oldest.offset);
            if oldest.selector.rooms.is_empty() {
                store.ns_evicted = store.ns_evicted.max(oldest.offset);
            } else {
                let Store {
                    room_refs,
                    room_evicted,
                    ..
                } = store;
                for room in &oldest.selector.rooms {
                    if room_refs.contains_key(room) {
                        let mark = room_evicted.entry(room.clone()).or_default();
                        *mark = (*mark).max(oldest.offset);
                    }
                }
            }
        }
    }

    /// Stores a packet for a dropped socket that is still recoverable (its own emits while it
    /// is away); false when it is not, and nothing is stored.
    pub(crate) fn record_for_saved(
        &self,
        pid: &str,
        sid: &Arc<str>,
        encode: impl FnOnce(String) -> Arc<[Frame]>,
    ) -> bool {
        let mut store = self.lock();
        if !store.sessions.contains_key(pid) {
            return false;
        }
        let selector = Selector {
            rooms: vec![sid.clone()],
            ..Selector::default()
        };
        self.push(&mut store, selector, encode, |_, _, _, _| {});
        true
    }

    /// Keeps a dropped socket's state for `max_disconnection_duration`.
    pub(crate) fn save(
        &self,
        recovery: &SocketRecovery,
        sid: Arc<str>,
        rooms: Vec<Room>,
        data: Value,
    ) {
        let mut store = self.lock();
        let now = Instant::now();
        self.expire(&mut store, now);
        // No longer connected, and saved, in one step: a reconnect sees one or the other.
        store.live.remove(&recovery.pid);
        store.generation += 1;
        let generation = store.generation;
        for room in &rooms {
            *store.room_refs.entry(room.clone()).or_default() += 1;
        }
        let saved = Saved {
            sid,
            rooms,
            data,
            joined_at: recovery.joined_at.load(Ordering::Acquire),
            last_sent: recovery.last_sent.load(Ordering::Acquire),
            watermark: store.cap_evicted,
            generation,
        };
        store
            .expiry
            .push_back((now, recovery.pid.clone(), generation));
        if let Some(old) = store.sessions.insert(recovery.pid.clone(), saved) {
            release_rooms(&mut store, &old.rooms);
        }
    }

    /// Takes the saved state for `pid` if it can be recovered from the client's `offset`
    /// (`None` when the client never received a packet). The state is gone either way: a
    /// session is recovered once, and a failed attempt does not leave it for a second one.
    /// The tally counts a hit (`Yes`) or a miss (`No`); `Live` is neither: the caller asks
    /// again.
    pub(crate) fn claim(&self, pid: &str, offset: Option<&Value>) -> Claimed {
        let claimed = self.try_claim(pid, offset);
        let counter = match claimed {
            Claimed::Yes(_) => Some(&self.tally.hits),
            Claimed::No => Some(&self.tally.misses),
            Claimed::Live => None,
        };
        if let Some(counter) = counter {
            counter.fetch_add(1, Ordering::Relaxed);
        }
        claimed
    }

    fn try_claim(&self, pid: &str, offset: Option<&Value>) -> Claimed {
        let mut store = self.lock();
        self.expire(&mut store, Instant::now());
        let Some(saved) = store.sessions.remove(pid) else {
            return if store.live.contains(pid) {
                Claimed::Live
            } else {
                Claimed::No
            };
        };
        let client = match offset {
            None => Some(saved.joined_at),
            Some(Value::String(text)) => self.parse_offset(text),
            Some(_) => None,
        };
        // Before the rooms are released: their eviction marks go with them.
        let verdict = client
            .filter(|&client| client <= store.next) // not an offset never given out
            .map(|client| client.max(saved.joined_at))
            .filter(|&from| !lost(&store, &saved, from));
        release_rooms(&mut store, &saved.rooms);
        let Some(from) = verdict else {
            log::info!("socket {}: not recoverable from that offset", saved.sid);
            return Claimed::No;
        };
        Claimed::Yes(Claim {
            sid: saved.sid,
            rooms: saved.rooms,
            data: saved.data,
            from,
            evicted_at_claim: store.evicted,
        })
    }

    /// A new socket is in: connected now, and no packet recorded so far is its concern.
    pub(crate) fn enliven(&self, recovery: &SocketRecovery) {
        let mut store = self.lock();
        recovery.joined_at.store(store.next, Ordering::Release);
        recovery.last_sent.store(store.next, Ordering::Release);
        store.live.insert(recovery.pid.clone());
    }

    /// A socket with this pid left for good (not recoverable).
    pub(crate) fn gone(&self, pid: &str) {
        self.lock().live.remove(pid);
    }

    /// Replays a claimed session onto its new socket: `send` gets the stored frames it missed,
    /// in order; the socket is then reached by broadcasts from here until it is registered.
    /// `None` (and nothing sent) when packets it needed left since the claim.
    pub(crate) fn replay(
        &self,
        claim: &Claim,
        socket: &Socket,
        send: impl FnOnce(Vec<Arc<[Frame]>>),
    ) -> Option<()> {
        let mut store = self.lock();
        if store.evicted > claim.evicted_at_claim.max(claim.from) {
            let oldest = store.packets.front().map_or(u64::MAX, |p| p.offset);
            if oldest > claim.from + 1 {
                return None;
            }
        }
        let start = store.packets.partition_point(|p| p.offset <= claim.from);
        let missed: Vec<Arc<[Frame]>> = store
            .packets
            .range(start..)
            .filter(|p| selects_saved(&p.selector, &claim.sid, &claim.rooms))
            .map(|p| p.frames.clone())
            .collect();
        if let Some(recovery) = socket.recovery() {
            recovery.joined_at.store(store.next, Ordering::Release);
            recovery.last_sent.store(store.next, Ordering::Release);
        }
        send(missed);
        if let Some(recovery) = socket.recovery() {
            store.live.insert(recovery.pid.clone());
        }
        store.pending.push(socket.clone());
        Some(())
    }

    /// The RoomManager has the recovered socket now (called from its Register handler).
    pub(crate) fn registered(&self, socket: &Socket) {
        self.lock()
            .pending
            .retain(|pending| pending.id_arc() != socket.id_arc());
    }

    /// Drops what has expired (also done on every write; the RoomManager calls this
    /// periodically so that an idle store empties too).
    pub(crate) fn sweep(&self) {
        let mut store = self.lock();
        self.expire(&mut store, Instant::now());
    }

    fn expire(&self, store: &mut Store, now: Instant) {
        while let Some((at, _, _)) = store.expiry.front() {
            if now.duration_since(*at) < self.max_duration {
                break;
            }
            let Some((_, pid, generation)) = store.expiry.pop_front() else {
                break;
            };
            if store
                .sessions
                .get(&pid)
                .is_some_and(|s| s.generation == generation)
            {
                if let Some(saved) = store.sessions.remove(&pid) {
                    release_rooms(store, &saved.rooms);
                }
            }
        }
        // A packet older than the longest disconnection plus a heartbeat is wanted by nobody:
        // a socket still connected that long after it was sent has received it (its heartbeat
        // went through behind it), and a dropped one has expired.
        while let Some(front) = store.packets.front() {
            if now.duration_since(front.at) < self.packet_ttl {
                break;
            }
            if let Some(old) = store.packets.pop_front() {
                store.bytes -= old.bytes;
                store.evicted = store.evicted.max(old.offset);
            }
        }
        if store.sessions.is_empty() {
            // Every entry left is for a session claimed since.
            store.room_evicted.clear();
            store.expiry.clear();
        }
    }

    pub(crate) fn counts(&self) -> StoreCounts {
        let store = self.lock();
        StoreCounts {
            sessions: store.sessions.len(),
            packets: store.packets.len(),
            bytes: store.bytes,
        }
    }
}

/// What one stored packet costs besides its frames (its record, selector and queue slot).
const STORED_OVERHEAD: usize = 96;

/// Did a packet after `from` that this saved socket may have wanted leave the store? Before the
/// drop, any packet evicted while it had not received everything sent to it counts; after it,
/// those to the whole namespace or to one of its rooms.
fn lost(store: &Store, saved: &Saved, from: u64) -> bool {
    (from < saved.last_sent && from < saved.watermark)
        || store.ns_evicted > from
        || saved.rooms.iter().any(|room| {
            store
                .room_evicted
                .get(room)
                .is_some_and(|&mark| mark > from)
        })
}

fn release_rooms(store: &mut Store, rooms: &[Room]) {
    for room in rooms {
        if let Some(count) = store.room_refs.get_mut(room) {
            *count -= 1;
            if *count == 0 {
                store.room_refs.remove(room);
                store.room_evicted.remove(room);
            }
        }
    }
}

/// Would `selector` have addressed a socket with this id and these rooms?
pub(crate) fn selects_saved(selector: &Selector, sid: &Arc<str>, rooms: &[Room]) -> bool {
    selects(selector, sid, |room| rooms.contains(room))
}

/// Would `selector` address the socket `sid`, whose membership `in_room` tells?
pub(crate) fn selects(
    selector: &Selector,
    sid: &Arc<str>,
    in_room: impl Fn(&Room) -> bool,
) -> bool {
    if selector.except_ids.iter().any(|id| id == sid) {
        return false;
    }
    if selector.except_rooms.iter().any(&in_room) {
        return false;
    }
    selector.rooms.is_empty() || selector.rooms.iter().any(in_room)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(max_bytes: usize, max: Duration) -> RecoveryStore {
        let config = Recovery::default()
            .max_disconnection_duration(max)
            .max_stored_bytes(max_bytes);
        RecoveryStore::new(&config, Duration::from_millis(10), Default::default())
    }

    fn to_room(room: &str) -> Selector {
        Selector {
            rooms: vec![Arc::from(room)],
            ..Selector::default()
        }
    }

    /// Stores one packet of `size` bytes for `selector`; returns its offset string.
    fn emit(store: &RecoveryStore, selector: Selector, size: usize) -> String {
        let mut seen = String::new();
        store.record(
            selector,
            |offset| {
                seen = offset;
                vec![Frame::message(&"x".repeat(size))].into()
            },
            |_, _, _, _| {},
        );
        seen
    }

    fn saved(store: &RecoveryStore, pid: &str, sid: &str, rooms: &[&str]) -> SocketRecovery {
        let recovery = SocketRecovery::new(Arc::from(pid), false);
        store.enliven(&recovery);
        let mut list: Vec<Room> = vec![Arc::from(sid)];
        list.extend(rooms.iter().map(|r| Arc::from(*r)));
        store.save(&recovery, Arc::from(sid), list, Value::Null);
        recovery
    }

    #[test]
    fn offsets_parse_only_when_this_store_gave_them_out() {
        let s = store(1 << 20, Duration::from_secs(60));
        let offset = emit(&s, to_room("a"), 1);
        assert_eq!(s.parse_offset(&offset), Some(1));
        assert_eq!(s.parse_offset("garbage"), None);
        assert_eq!(s.parse_offset("00000000-1"), None);
        assert_eq!(s.parse_offset(&format!("{}-", s.epoch)), None);
        assert_eq!(s.parse_offset(&format!("{}-zz", s.epoch)), None);
    }

    #[test]
    fn a_session_is_claimed_once_with_or_without_an_offset() {
        let s = store(1 << 20, Duration::from_secs(60));
        saved(&s, "p1", "s1", &["a"]);
        let Claimed::Yes(claim) = s.claim("p1", None) else {
            panic!("recoverable without an offset");
        };
        assert_eq!(&*claim.sid, "s1");
        assert_eq!(claim.from, 0);
        assert!(
            matches!(s.claim("p1", None), Claimed::No),
            "claimed once only"
        );
        assert!(matches!(s.claim("unknown", None), Claimed::No));
        saved(&s, "p2", "s2", &[]);
        assert!(matches!(
            s.claim("p2", Some(&Value::String("garbage".into()))),
            Claimed::No
        ));
        assert_eq!(
            s.counts().sessions,
            0,
            "a failed claim leaves nothing behind"
        );
        saved(&s, "p3", "s3", &[]);
        assert!(
            matches!(s.claim("p3", Some(&Value::from(5))), Claimed::No),
            "offsets are strings"
        );
    }

    #[test]
    fn sessions_and_packets_expire() {
        let s = store(1 << 20, Duration::from_millis(30));
        emit(&s, to_room("a"), 10);
        saved(&s, "p1", "s1", &["a"]);
        assert_eq!(s.counts().sessions, 1);
        std::thread::sleep(Duration::from_millis(35));
        s.sweep();
        assert_eq!(s.counts().sessions, 0);
        assert!(matches!(s.claim("p1", None), Claimed::No));
        std::thread::sleep(Duration::from_millis(15));
        s.sweep();
        let counts = s.counts();
        assert_eq!((counts.packets, counts.bytes), (0, 0));
    }

    #[test]
    fn eviction_loses_only_the_sockets_it_concerned() {
        let one = Frame::message(&"x".repeat(100)).len() + STORED_OVERHEAD;
        let s = store(3 * one, Duration::from_secs(60));
        let base = emit(&s, to_room("z"), 100);
        saved(&s, "pa", "sa", &["a"]);
        saved(&s, "pb", "sb", &["b"]);
        saved(&s, "pc", "sc", &["c"]);
        // Room a's packet is evicted by the three that follow it.
        emit(&s, to_room("a"), 100);
        for _ in 0..3 {
            emit(&s, to_room("b"), 100);
        }
        assert_eq!(s.counts().packets, 3);
        let base = Value::String(base);
        assert!(
            matches!(s.claim("pa", Some(&base)), Claimed::No),
            "its packet is gone"
        );
        assert!(
            matches!(s.claim("pb", Some(&base)), Claimed::Yes(_)),
            "its packets are all there"
        );
        assert!(
            matches!(s.claim("pc", Some(&base)), Claimed::Yes(_)),
            "nothing was meant for it"
        );
        saved(&s, "pd", "sd", &["d"]);
        emit(&s, Selector::default(), 100);
        emit(&s, Selector::default(), 100);
        emit(&s, Selector::default(), 100);
        emit(&s, Selector::default(), 100);
        assert!(
            matches!(s.claim("pd", None), Claimed::No),
            "a namespace-wide packet it needed is gone"
        );
    }

    #[test]
    fn a_live_pid_is_told_apart_and_its_save_ends_it() {
        let s = store(1 << 20, Duration::from_secs(60));
        let recovery = SocketRecovery::new(Arc::from("p1"), false);
        s.enliven(&recovery);
        assert!(matches!(s.claim("p1", None), Claimed::Live));
        s.save(
            &recovery,
            Arc::from("s1"),
            vec![Arc::from("s1")],
            Value::Null,
        );
        assert!(matches!(s.claim("p1", None), Claimed::Yes(_)));
        let other = SocketRecovery::new(Arc::from("p2"), false);
        s.enliven(&other);
        s.gone("p2");
        assert!(matches!(s.claim("p2", None), Claimed::No));
    }

    #[test]
    fn claims_count_hits_and_misses_but_not_live_pids() {
        let s = store(1 << 20, Duration::from_secs(60));
        saved(&s, "p1", "s1", &[]);
        assert!(matches!(s.claim("p1", None), Claimed::Yes(_)));
        assert!(matches!(s.claim("p1", None), Claimed::No));
        assert!(matches!(s.claim("unknown", None), Claimed::No));
        let live = SocketRecovery::new(Arc::from("p2"), false);
        s.enliven(&live);
        assert!(matches!(s.claim("p2", None), Claimed::Live));
        assert_eq!(s.tally.read(), (1, 2));
    }

    #[test]
    fn selection_follows_rooms_and_exclusions() {
        let sid: Arc<str> = Arc::from("s");
        let rooms: Vec<Room> = vec![sid.clone(), Arc::from("a")];
        assert!(selects_saved(&Selector::default(), &sid, &rooms));
        assert!(selects_saved(&to_room("a"), &sid, &rooms));
        assert!(!selects_saved(&to_room("b"), &sid, &rooms));
        let mut except = Selector::default();
        except.except_ids.push(sid.clone());
        assert!(!selects_saved(&except, &sid, &rooms));
        let mut except = to_room("a");
        except.except_rooms.push(Arc::from("a"));
        assert!(!selects_saved(&except, &sid, &rooms));
    }
}
