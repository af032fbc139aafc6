//! The RoomManager actor (one per namespace): owns room → members and socket → rooms, resolves
//! broadcasts to recipients and hands each the same encoded frames, and runs join/leave hooks.

use std::{
    collections::{HashMap, HashSet},
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        Arc, Mutex, RwLock,
    },
};

use std::time::{Duration, Instant};

use actix::prelude::*;

use crate::{
    engine::{
        packet::Frame,
        transport::websocket::{thread_mark, Write},
    },
    socket::{
        connection::Outgoing,
        namespace::Hooks,
        parser::Parser,
        payload::Payload,
        recovery::{selects, RecoveryStore},
        socket::{RoomSet, Socket},
    },
};

/// How often an idle recovery store drops what has expired.
const RECOVERY_SWEEP: Duration = Duration::from_secs(1);

/// A room name (shared, cheap to clone).
pub type Room = Arc<str>;

/// Why a socket left a room, as join/leave hooks see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaveReason {
    /// The socket (or the server on its behalf) left the room.
    Leave,
    /// The socket disconnected while in the room.
    Disconnect,
}

/// Which sockets an operation addresses: members of `rooms` (everyone when empty), minus members
/// of `except_rooms` and the sockets in `except_ids`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Selector {
    pub(crate) rooms: Vec<Room>,
    pub(crate) except_rooms: Vec<Room>,
    pub(crate) except_ids: Vec<Arc<str>>,
}

struct Member {
    socket: Socket,
    rooms: RoomSet,
}

/// A room's members. Most rooms are a socket's private room, its only member for life, so one
/// member is kept inline and a set is made for the second (a set of one costs a table of four).
enum RoomMembers {
    One(Arc<str>),
    Many(HashSet<Arc<str>>),
}

impl RoomMembers {
    fn insert(&mut self, id: Arc<str>) {
        match self {
            RoomMembers::One(first) if *first == id => {}
            RoomMembers::One(first) => {
                *self = RoomMembers::Many(HashSet::from([first.clone(), id]));
            }
            RoomMembers::Many(ids) => {
                ids.insert(id);
            }
        }
    }

    fn remove(&mut self, id: &Arc<str>) {
        match self {
            RoomMembers::One(only) if only == id => *self = RoomMembers::Many(HashSet::new()),
            RoomMembers::One(_) => {}
            RoomMembers::Many(ids) => {
                ids.remove(id);
            }
        }
    }

    fn contains(&self, id: &Arc<str>) -> bool {
        match self {
            RoomMembers::One(only) => only == id,
            RoomMembers::Many(ids) => ids.contains(id),
        }
    }

    fn len(&self) -> usize {
        match self {
            RoomMembers::One(_) => 1,
            RoomMembers::Many(ids) => ids.len(),
        }
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn iter(&self) -> impl Iterator<Item = &Arc<str>> {
        let (one, many) = match self {
            RoomMembers::One(only) => (Some(only), None),
            RoomMembers::Many(ids) => (None, Some(ids.iter())),
        };
        one.into_iter().chain(many.into_iter().flatten())
    }
}

/// With connection state recovery: the store, and how to encode a packet with its offset.
pub(crate) type Recording = (Arc<RecoveryStore>, Parser, Arc<str>);

/// Room membership and broadcast routing for one namespace's sockets on one worker thread (one
/// shard of [`Shards`]), or for all of them (when connection state recovery is on).
pub(crate) struct RoomManager {
    members: HashMap<Arc<str>, Member>,
    rooms: HashMap<Room, RoomMembers>,
    hooks: Arc<Hooks>,
    /// Most rooms per socket besides its own.
    max_rooms: usize,
    /// Non-empty rooms, shared with `SocketIo::stats`.
    room_count: Arc<AtomicUsize>,
    /// With several shards: which rooms some shard has members in (a room counts once).
    tally: Option<Arc<RoomTally>>,
    recording: Option<Recording>,
    max_queue_delay: Option<Duration>,
    shed: Arc<AtomicU64>,
    /// When shedding was last logged (a warning a second at most).
    shed_logged: Option<Instant>,
}

impl RoomManager {
    fn new(seed: &Seed, tally: Option<Arc<RoomTally>>) -> Self {
        RoomManager {
            members: HashMap::new(),
            rooms: HashMap::new(),
            hooks: seed.hooks.clone(),
            max_rooms: seed.max_rooms,
            room_count: seed.room_count.clone(),
            tally,
            recording: seed.recording.clone(),
            max_queue_delay: seed.max_queue_delay,
            shed: seed.shed.clone(),
            shed_logged: None,
        }
    }

    /// A room got its first member here. A socket's own room is only ever in its own shard
    /// (unless another socket joins a room named like it: then it may count twice), so only
    /// the others go through the tally.
    fn room_opened(&self, room: &Room, private: bool) {
        let tally = self.tally.as_ref().filter(|_| !private);
        if tally.is_none_or(|tally| tally.opened(room)) {
            self.room_count.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// A room lost its last member here.
    fn room_closed(&self, room: &Room, private: bool) {
        let tally = self.tally.as_ref().filter(|_| !private);
        if tally.is_none_or(|tally| tally.closed(room)) {
            self.room_count.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// Removes a member from every room and runs the leave hooks (`Disconnect`).
    fn remove_member(&mut self, id: &Arc<str>) {
        let Some(member) = self.members.get(id) else {
            return;
        };
        let socket = member.socket.clone();
        let rooms: Vec<Room> = member.rooms.iter().cloned().collect();
        for room in &rooms {
            self.remove_from_room(id, room);
        }
        self.members.remove(id);
        for room in rooms.iter().filter(|r| *r != id) {
            self.hooks.left(&socket, room, LeaveReason::Disconnect);
        }
    }

    /// Hands one packet's frames to a member's connection.
    fn deliver(socket: &Socket, frames: &Arc<[Frame]>, volatile: bool) {
        // A WebSocket session's outbox takes the frames directly; otherwise (polling, a
        // busy connection, a volatile packet) the session decides, as a message.
        if !volatile && socket.deliver_direct(frames, Write::Soon) {
            return;
        }
        socket.message_sent();
        socket.session().do_send(Outgoing {
            nsp: socket.ns_arc().clone(),
            socket_id: Some(socket.id_arc().clone()),
            frames: frames.clone(),
            volatile,
            counted: Some(socket.clone()),
        });
    }

    fn add_to_room(&mut self, id: &Arc<str>, room: Room) -> bool {
        let Some(member) = self.members.get_mut(id) else {
            return false;
        };
        // The private room is joined first, so it is never the one refused.
        if member.rooms.contains(&room) || member.rooms.len() > self.max_rooms {
            return false;
        }
        member.rooms.insert(room.clone());
        match self.rooms.get_mut(&room) {
            Some(ids) => {
                ids.insert(id.clone());
            }
            None => {
                self.room_opened(&room, room == *id);
                self.rooms.insert(room, RoomMembers::One(id.clone()));
            }
        }
        true
    }

    fn remove_from_room(&mut self, id: &Arc<str>, room: &Room) -> bool {
        let Some(member) = self.members.get_mut(id) else {
            return false;
        };
        if !member.rooms.remove(room) {
            return false;
        }
        if let Some(ids) = self.rooms.get_mut(room) {
            ids.remove(id);
            if ids.is_empty() {
                self.rooms.remove(room);
                self.room_closed(room, room == id);
            }
        }
        true
    }

    /// The ids a selector addresses, each once.
    fn select(&self, selector: &Selector) -> Vec<Arc<str>> {
        let mut out = Vec::new();
        self.each_selected(selector, |id, _| out.push(id.clone()));
        out
    }

    /// Calls `f` once for each selected member, without collecting them first (a broadcast
    /// to a room visits its members directly).
    fn each_selected(&self, selector: &Selector, mut f: impl FnMut(&Arc<str>, &Member)) {
        let excluded = |id: &Arc<str>| {
            selector.except_ids.iter().any(|e| e == id)
                || selector.except_rooms.iter().any(|room| {
                    self.rooms
                        .get(room)
                        .is_some_and(|members| members.contains(id))
                })
        };
        let no_exclusions = selector.except_ids.is_empty() && selector.except_rooms.is_empty();
        if selector.rooms.is_empty() {
            for (id, member) in &self.members {
                if no_exclusions || !excluded(id) {
                    f(id, member);
                }
            }
            return;
        }
        // One room has no duplicates to skip; several rooms may share members.
        let mut seen = (selector.rooms.len() > 1).then(HashSet::new);
        for room in &selector.rooms {
            for id in self.rooms.get(room).into_iter().flat_map(RoomMembers::iter) {
                if !no_exclusions && excluded(id) {
                    continue;
                }
                if let Some(seen) = seen.as_mut() {
                    if !seen.insert(id) {
                        continue;
                    }
                }
                if let Some(member) = self.members.get(id) {
                    f(id, member);
                }
            }
        }
    }

    /// Whether a broadcast queued at `queued_at` waited past the latency bound: then it is
    /// counted and dropped (the server is saturated; delivering it late would make every later
    /// one later still).
    fn too_late(&mut self, queued_at: Instant) -> bool {
        let Some(bound) = self.max_queue_delay else {
            return false;
        };
        let waited = queued_at.elapsed();
        if waited <= bound {
            return false;
        }
        self.shed.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        if self
            .shed_logged
            .is_none_or(|at| now.duration_since(at) >= Duration::from_secs(1))
        {
            self.shed_logged = Some(now);
            log::warn!(
                "broadcast dropped: it waited {waited:?} for delivery, over max_queue_delay \
                 ({bound:?}); the server is saturated (Stats::broadcasts_shed counts them)"
            );
        }
        true
    }

    fn is_private(&self, room: &Room) -> bool {
        self.members.contains_key(room)
    }
}

impl Actor for RoomManager {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        if self.recording.is_some() {
            ctx.run_interval(RECOVERY_SWEEP, |act, _| {
                if let Some((store, _, _)) = &act.recording {
                    store.sweep();
                }
            });
        }
    }
}

/// A socket joined the namespace; it is put in the room named by its own id and, when it is a
/// recovered one, back in its rooms (without join hooks: it never left them as far as the
/// application is concerned, and its connect handler sees `recovered()`).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Register {
    pub(crate) socket: Socket,
}

impl Handler<Register> for RoomManager {
    type Result = ();

    fn handle(&mut self, msg: Register, _: &mut Context<Self>) {
        let id = msg.socket.id_arc().clone();
        // A recovered socket has the id (and rooms) of one whose removal may not have come yet.
        let rooms = if msg.socket.recovered() {
            self.remove_member(&id);
            if let Some((store, _, _)) = &self.recording {
                store.registered(&msg.socket);
            }
            msg.socket.room_list()
        } else {
            vec![id.clone()]
        };
        self.members.insert(
            id.clone(),
            Member {
                socket: msg.socket,
                rooms: RoomSet::default(),
            },
        );
        for room in rooms {
            self.add_to_room(&id, room);
        }
    }
}

/// A socket left the namespace: it leaves every room (leave hooks see `Disconnect`).
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub(crate) struct Unregister {
    pub(crate) socket: Socket,
}

impl Handler<Unregister> for RoomManager {
    type Result = ();

    fn handle(&mut self, msg: Unregister, _: &mut Context<Self>) {
        let id = msg.socket.id_arc();
        // Only this very socket: a recovered one with the same id may have replaced it.
        let same = self
            .members
            .get(id)
            .is_some_and(|m| m.socket.same_as(&msg.socket));
        if same {
            self.remove_member(id);
        }
    }
}

/// Sockets join rooms.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub(crate) struct Join {
    pub(crate) selector: Selector,
    pub(crate) rooms: Vec<Room>,
}

impl Handler<Join> for RoomManager {
    type Result = ();

    fn handle(&mut self, msg: Join, _: &mut Context<Self>) {
        for id in self.select(&msg.selector) {
            for room in &msg.rooms {
                if self.add_to_room(&id, room.clone()) {
                    if let Some(member) = self.members.get(&id) {
                        member.socket.mirror_join(room);
                        let socket = member.socket.clone();
                        self.hooks.joined(&socket, room);
                    }
                }
            }
        }
    }
}

/// Sockets leave rooms.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub(crate) struct Leave {
    pub(crate) selector: Selector,
    pub(crate) rooms: Vec<Room>,
}

impl Handler<Leave> for RoomManager {
    type Result = ();

    fn handle(&mut self, msg: Leave, _: &mut Context<Self>) {
        for id in self.select(&msg.selector) {
            for room in &msg.rooms {
                if self.remove_from_room(&id, room) {
                    if let Some(member) = self.members.get(&id) {
                        member.socket.mirror_leave(room);
                        let socket = member.socket.clone();
                        self.hooks.left(&socket, room, LeaveReason::Leave);
                    }
                }
            }
        }
    }
}

/// A broadcast's packet.
#[derive(Clone)]
pub(crate) enum Outbound {
    /// Encoded once by the sender; shared by every recipient.
    Encoded(Arc<[Frame]>),
    /// Kept for connection state recovery: the RoomManager gives it its offset, encodes it
    /// once with the offset appended and stores those same frames.
    Recorded { event: String, payload: Payload },
}

/// A broadcast's event name and arguments, for the recipients' outgoing listeners.
pub(crate) type Source = Arc<(String, Payload)>;

/// One packet for every selected socket: the frames are shared, never re-encoded.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub(crate) struct Broadcast {
    /// When it was handed to the RoomManagers (for `max_queue_delay`).
    pub(crate) queued_at: Instant,
    pub(crate) selector: Selector,
    pub(crate) packet: Outbound,
    pub(crate) volatile: bool,
    /// Set only while some socket of the namespace has an outgoing listener.
    pub(crate) source: Option<Source>,
}

impl Handler<Broadcast> for RoomManager {
    type Result = ();

    fn handle(&mut self, msg: Broadcast, _: &mut Context<Self>) {
        if self.too_late(msg.queued_at) {
            return;
        }
        let volatile = msg.volatile;
        let source = msg.source;
        let notify = |socket: &Socket| {
            if let Some(source) = &source {
                socket.notify_outgoing(&source.0, &source.1);
            }
        };
        match msg.packet {
            Outbound::Encoded(frames) => self.each_selected(&msg.selector, |_, member| {
                notify(&member.socket);
                Self::deliver(&member.socket, &frames, volatile)
            }),
            Outbound::Recorded { event, payload } => {
                let Some((store, parser, nsp)) = &self.recording else {
                    return;
                };
                let encode = |offset: String| -> Arc<[Frame]> {
                    let payload = payload.value(serde_json::Value::String(offset));
                    parser.event(nsp, None, &event, payload).into()
                };
                store.record(msg.selector, encode, |selector, frames, offset, pending| {
                    self.each_selected(selector, |_, member| {
                        notify(&member.socket);
                        Self::deliver(&member.socket, frames, false);
                        if let Some(recovery) = member.socket.recovery() {
                            recovery.last_sent.store(offset, Ordering::Release);
                        }
                    });
                    // Recovered sockets whose registration is on its way.
                    for socket in pending {
                        if selects(selector, socket.id_arc(), |room| socket.in_room(room)) {
                            notify(socket);
                            Self::deliver(socket, frames, false);
                            if let Some(recovery) = socket.recovery() {
                                recovery.last_sent.store(offset, Ordering::Release);
                            }
                        }
                    }
                });
            }
        }
    }
}

/// The selected sockets' handles.
#[derive(Message, Clone)]
#[rtype(result = "Vec<Socket>")]
pub(crate) struct Fetch {
    pub(crate) selector: Selector,
}

impl Handler<Fetch> for RoomManager {
    type Result = MessageResult<Fetch>;

    fn handle(&mut self, msg: Fetch, _: &mut Context<Self>) -> Self::Result {
        let sockets = self
            .select(&msg.selector)
            .into_iter()
            .filter_map(|id| self.members.get(&id).map(|m| m.socket.clone()))
            .collect();
        MessageResult(sockets)
    }
}

/// Every room with its member count; private per-socket rooms only when asked for.
#[derive(Message, Clone)]
#[rtype(result = "Vec<(String, usize)>")]
pub(crate) struct AllRooms {
    pub(crate) private: bool,
}

impl Handler<AllRooms> for RoomManager {
    type Result = MessageResult<AllRooms>;

    fn handle(&mut self, msg: AllRooms, _: &mut Context<Self>) -> Self::Result {
        let mut rooms: Vec<(String, usize)> = self
            .rooms
            .iter()
            .filter(|(room, _)| msg.private || !self.is_private(room))
            .map(|(room, members)| (room.to_string(), members.len()))
            .collect();
        rooms.sort();
        MessageResult(rooms)
    }
}

/// What a namespace's RoomManagers are made from.
pub(crate) struct Seed {
    pub(crate) hooks: Arc<Hooks>,
    pub(crate) max_rooms: usize,
    pub(crate) room_count: Arc<AtomicUsize>,
    pub(crate) max_queue_delay: Option<Duration>,
    pub(crate) shed: Arc<AtomicU64>,
    pub(crate) recording: Option<Recording>,
}

/// Rooms with members in some shard, and in how many: a room counts once in `stats().rooms`
/// however many shards hold a part of it.
#[derive(Default)]
pub(crate) struct RoomTally {
    shards: Mutex<HashMap<Room, u32>>,
}

impl RoomTally {
    /// A shard opened `room`: true when no other shard had it.
    fn opened(&self, room: &Room) -> bool {
        let mut shards = self.shards.lock().unwrap_or_else(|p| p.into_inner());
        let count = shards.entry(room.clone()).or_insert(0);
        *count += 1;
        *count == 1
    }

    /// A shard closed `room`: true when no other shard has it any more.
    fn closed(&self, room: &Room) -> bool {
        let mut shards = self.shards.lock().unwrap_or_else(|p| p.into_inner());
        match shards.get_mut(room) {
            Some(count) if *count > 1 => {
                *count -= 1;
                false
            }
            Some(_) => {
                shards.remove(room);
                true
            }
            None => false,
        }
    }
}

/// One RoomManager and the worker thread it runs on.
#[derive(Clone)]
pub(crate) struct Shard {
    thread: usize,
    addr: Addr<RoomManager>,
}

/// A namespace's RoomManagers. Sharded (the default), each worker thread that has had a socket
/// of the namespace runs one, which owns that thread's sockets: their rooms, and the delivery
/// of broadcasts to them, so that a broadcast is one message per worker and every write to a
/// member's connection happens on the member's own thread (no cross-thread wake per delivery).
/// Membership changes and broadcasts go to every shard; each applies them to its own members,
/// which is exact because a selector speaks of each socket's own rooms. With connection state
/// recovery there is one RoomManager for the namespace: the offsets of recorded broadcasts are
/// given by one owner, in one order.
pub(crate) struct Shards {
    list: RwLock<Arc<[Shard]>>,
    sharded: bool,
    seed: Seed,
    tally: Arc<RoomTally>,
}

impl Shards {
    pub(crate) fn new(seed: Seed) -> Shards {
        Shards {
            list: RwLock::new(Arc::from(Vec::new())),
            sharded: seed.recording.is_none(),
            seed,
            tally: Arc::default(),
        }
    }

    /// Most rooms per socket besides its own.
    pub(crate) fn max_rooms(&self) -> usize {
        self.seed.max_rooms
    }

    /// Every RoomManager started so far.
    pub(crate) fn all(&self) -> Arc<[Shard]> {
        self.list.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The RoomManager for sockets of the calling thread, started on its arbiter the first
    /// time (a worker's, since sockets register from their session actors). `None` outside any
    /// arbiter when none fits yet.
    pub(crate) fn local(&self) -> Option<Addr<RoomManager>> {
        let here = thread_mark();
        let fits = |shard: &Shard| !self.sharded || shard.thread == here;
        if let Some(shard) = self.all().iter().find(|s| fits(s)) {
            return Some(shard.addr.clone());
        }
        actix::Arbiter::try_current()?;
        let mut list = self.list.write().unwrap_or_else(|p| p.into_inner());
        if let Some(shard) = list.iter().find(|s| fits(s)) {
            return Some(shard.addr.clone());
        }
        let tally = self.sharded.then(|| self.tally.clone());
        let addr = RoomManager::new(&self.seed, tally).start();
        let mut grown: Vec<Shard> = list.iter().cloned().collect();
        grown.push(Shard {
            thread: here,
            addr: addr.clone(),
        });
        *list = grown.into();
        Some(addr)
    }

    /// Sends a message to every shard.
    pub(crate) fn do_send_all<M>(&self, msg: M)
    where
        M: Message<Result = ()> + Clone + Send + 'static,
        RoomManager: Handler<M>,
    {
        send_each(&self.all(), msg);
    }

    /// A broadcast to every shard, made (encoded) only when there is some shard to take it:
    /// before any socket connected here there is nobody to deliver to.
    pub(crate) fn broadcast(&self, make: impl FnOnce() -> Broadcast) {
        let shards = self.all();
        if !shards.is_empty() {
            send_each(&shards, make());
        }
    }

    /// Asks every shard, and collects the answers (a shard that has stopped answers nothing).
    pub(crate) async fn ask_all<M, R>(&self, msg: M) -> Vec<R>
    where
        M: Message<Result = R> + Clone + Send + 'static,
        R: Send + 'static,
        RoomManager: Handler<M>,
    {
        let shards = self.all();
        let answers =
            futures_util::future::join_all(shards.iter().map(|shard| shard.addr.send(msg.clone())))
                .await;
        answers.into_iter().filter_map(Result::ok).collect()
    }

    /// The selected sockets of every shard.
    pub(crate) async fn fetch(&self, selector: Selector) -> Vec<Socket> {
        self.ask_all(Fetch { selector })
            .await
            .into_iter()
            .flatten()
            .collect()
    }

    /// Every room with its member count over all shards, sorted by name.
    pub(crate) async fn all_rooms(&self, private: bool) -> Vec<(String, usize)> {
        let mut parts = self.ask_all(AllRooms { private }).await;
        if parts.len() == 1 {
            return parts.pop().unwrap_or_default();
        }
        let mut merged: HashMap<String, usize> = HashMap::new();
        for (room, count) in parts.into_iter().flatten() {
            *merged.entry(room).or_insert(0) += count;
        }
        let mut rooms: Vec<(String, usize)> = merged.into_iter().collect();
        rooms.sort();
        rooms
    }
}

/// `msg` to each of `shards` (cloned for all but the last).
fn send_each<M>(shards: &[Shard], msg: M)
where
    M: Message<Result = ()> + Clone + Send + 'static,
    RoomManager: Handler<M>,
{
    if let Some((last, rest)) = shards.split_last() {
        for shard in rest {
            shard.addr.do_send(msg.clone());
        }
        last.addr.do_send(msg);
    }
}
