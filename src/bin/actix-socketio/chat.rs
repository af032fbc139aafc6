//! The demo chat's realtime contract on namespace `/`, built on the public API only: nicknames,
//! rooms, room messages, direct messages, presence. Every ack answers `{ok:false, error}` on
//! invalid input.

use std::time::{SystemTime, UNIX_EPOCH};

use std::collections::BTreeMap;

use actix_socketio::{
    adapter::RemoteSocket, AckSender, BroadcastOperator, Event, LeaveReason, Namespace, Socket,
    SocketIo,
};
use serde::Deserialize;
use serde_json::{json, Value};

const MAX_NICK: usize = 32;
const MAX_ROOM: usize = 64;
const MAX_TEXT: usize = 2000;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn name_of(socket: &Socket) -> String {
    socket.data()["name"].as_str().unwrap_or("guest").to_owned()
}

fn user(socket: &Socket) -> Value {
    json!({ "id": socket.id(), "name": name_of(socket) })
}

/// A user anywhere in the cluster (its node reported its data).
fn remote_user(socket: &RemoteSocket) -> Value {
    let name = socket.data()["name"].as_str().unwrap_or("guest");
    json!({ "id": socket.id(), "name": name })
}

/// A default nickname derived from the socket id: `guest-` and four hex digits.
fn guest_name(id: &str) -> String {
    let hash = id
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    format!("guest-{:04x}", hash & 0xffff)
}

/// The first argument as JSON (`null` when there is none).
fn first_arg(event: &Event) -> Value {
    event.data::<Value>().unwrap_or(Value::Null)
}

/// The first argument as `T`, only when it is a JSON object (serde would also take an array in
/// field order, which the contract does not allow).
fn object_arg<T: serde::de::DeserializeOwned>(event: &Event) -> Option<T> {
    match event.data::<Value>() {
        Ok(value @ Value::Object(_)) => serde_json::from_value(value).ok(),
        _ => None,
    }
}

fn ok(ack: Option<AckSender>, value: Value) {
    if let Some(ack) = ack {
        let _ = ack.send(&value);
    }
}

fn refuse(ack: Option<AckSender>, error: &str) {
    ok(ack, json!({ "ok": false, "error": error }));
}

/// A string of 1..=max characters after trimming.
fn bounded(value: &Value, what: &str, max: usize) -> Result<String, String> {
    let text = value
        .as_str()
        .ok_or_else(|| format!("{what} must be a string"))?
        .trim();
    let len = text.chars().count();
    if len == 0 || len > max {
        return Err(format!("{what} must be 1–{max} characters"));
    }
    Ok(text.to_owned())
}

/// Installs the chat on namespace `/`.
pub fn install(io: &SocketIo) {
    let ns = io.of("/");
    ns.on_join(|socket, room| {
        let _ = socket
            .to(room)
            .emit("joined", &json!({ "room": room, "user": user(socket) }));
    });
    let notices = ns.clone();
    ns.on_leave(move |socket, room, reason| {
        let reason = match reason {
            LeaveReason::Leave => "leave",
            LeaveReason::Disconnect => "disconnect",
        };
        let notice = json!({ "room": room, "user": user(socket), "reason": reason });
        let _ = notices.to(room).emit("left", &notice);
    });
    let namespace = ns.clone();
    ns.on_connect(move |socket| on_connect(&namespace, socket));
}

fn on_connect(ns: &Namespace, socket: Socket) {
    let online = ns.socket_count();
    if socket.recovered() {
        // Connection state recovery gave back its id, name, rooms and the messages it missed:
        // no fresh welcome, no "joined" again; the others learn it is back, in which rooms.
        let rooms: Vec<String> = socket
            .rooms()
            .into_iter()
            .filter(|r| r != socket.id())
            .collect();
        let _ = socket.emit(
            "welcome",
            &json!({ "id": socket.id(), "name": name_of(&socket), "online": online,
                     "recovered": true }),
        );
        let _ = socket.broadcast().emit(
            "presence",
            &json!({ "event": "connected", "recovered": true, "user": user(&socket),
                     "rooms": rooms, "online": online }),
        );
    } else {
        let name = guest_name(socket.id());
        socket.set_data(json!({ "name": name }));
        let _ = socket.emit(
            "welcome",
            &json!({ "id": socket.id(), "name": name, "online": online }),
        );
        let _ = socket.broadcast().emit(
            "presence",
            &json!({ "event": "connected", "user": user(&socket), "online": online }),
        );
    }

    socket.on("nick", on_nick);
    let namespace = ns.clone();
    socket.on("join", move |socket, event| {
        on_join(&namespace, socket, event)
    });
    socket.on("leave", on_leave);
    socket.on("message", on_message);
    let namespace = ns.clone();
    socket.on("direct", move |socket, event| {
        on_direct(&namespace, socket, event)
    });
    let namespace = ns.clone();
    socket.on("rooms", move |_, mut event| {
        let ack = event.take_ack();
        let namespace = namespace.clone();
        actix::spawn(async move {
            // Counted from every node's sockets, each one's private room left out.
            let mut counts: BTreeMap<String, usize> = BTreeMap::new();
            for socket in cluster_sockets(namespace.all()).await {
                for room in socket.rooms().iter().filter(|r| *r != socket.id()) {
                    *counts.entry(room.clone()).or_default() += 1;
                }
            }
            let rooms: Vec<Value> = counts
                .into_iter()
                .map(|(name, members)| json!({ "name": name, "members": members }))
                .collect();
            ok(ack, json!({ "ok": true, "rooms": rooms }));
        });
    });
    let namespace = ns.clone();
    socket.on_disconnect(move |socket, _reason| {
        let notice = json!({
            "event": "disconnected",
            "user": user(&socket),
            "online": namespace.socket_count(),
        });
        let _ = namespace.emit("presence", &notice);
    });
}

/// The selected sockets on every node (this node's alone if the others do not answer).
async fn cluster_sockets(target: BroadcastOperator) -> Vec<RemoteSocket> {
    match target.fetch_remote_sockets().await {
        Ok(sockets) => sockets,
        Err(err) => {
            log::warn!("other nodes did not answer ({err}); listing this node's sockets");
            target
                .local()
                .fetch_sockets()
                .await
                .into_iter()
                .map(RemoteSocket::from)
                .collect()
        }
    }
}

fn on_nick(socket: Socket, mut event: Event) {
    let ack = event.take_ack();
    match bounded(
        &event.data::<Value>().unwrap_or(Value::Null),
        "nickname",
        MAX_NICK,
    ) {
        Ok(name) => {
            let mut data = socket.data();
            data["name"] = json!(name);
            socket.set_data(data);
            ok(ack, json!({ "ok": true, "name": name }));
        }
        Err(error) => refuse(ack, &error),
    }
}

fn on_join(ns: &Namespace, socket: Socket, mut event: Event) {
    let ack = event.take_ack();
    let room = match bounded(&first_arg(&event), "room", MAX_ROOM) {
        Ok(room) => room,
        Err(error) => return refuse(ack, &error),
    };
    let ns = ns.clone();
    actix::spawn(async move {
        // A socket's private room is named by its id: joining it would read its direct messages
        // (on whichever node that socket is).
        let current = cluster_sockets(ns.to(room.as_str())).await;
        if current.iter().any(|s| s.id() == room) {
            return refuse(ack, "that room name is reserved");
        }
        socket.join(room.as_str());
        let mut members: Vec<Value> = current.iter().map(remote_user).collect();
        if !current.iter().any(|s| s.id() == socket.id()) {
            members.push(user(&socket));
        }
        ok(ack, json!({ "ok": true, "room": room, "members": members }));
    });
}

fn on_leave(socket: Socket, mut event: Event) {
    let ack = event.take_ack();
    let room = match bounded(&first_arg(&event), "room", MAX_ROOM) {
        Ok(room) => room,
        Err(error) => return refuse(ack, &error),
    };
    if room == socket.id() || !socket.in_room(&room) {
        return refuse(ack, "you are not in that room");
    }
    socket.leave(room.as_str());
    ok(ack, json!({ "ok": true, "room": room }));
}

#[derive(Deserialize)]
struct RoomMessage {
    room: Value,
    text: Value,
}

fn on_message(socket: Socket, mut event: Event) {
    let ack = event.take_ack();
    let Some(msg) = object_arg::<RoomMessage>(&event) else {
        return refuse(ack, "message must be {room, text}");
    };
    let room = match bounded(&msg.room, "room", MAX_ROOM) {
        Ok(room) => room,
        Err(error) => return refuse(ack, &error),
    };
    let text = match bounded(&msg.text, "text", MAX_TEXT) {
        Ok(text) => text,
        Err(error) => return refuse(ack, &error),
    };
    if room == socket.id() || !socket.in_room(&room) {
        return refuse(ack, "join the room before writing to it");
    }
    let ts = now_ms();
    let out = json!({ "room": room, "from": user(&socket), "text": text, "ts": ts });
    match socket.to(room.as_str()).emit("message", &out) {
        Ok(()) => ok(ack, json!({ "ok": true, "room": room, "ts": ts })),
        Err(err) => refuse(ack, &err.to_string()),
    }
}

#[derive(Deserialize)]
struct DirectMessage {
    to: Value,
    text: Value,
}

fn on_direct(ns: &Namespace, socket: Socket, mut event: Event) {
    let ack = event.take_ack();
    let Some(msg) = object_arg::<DirectMessage>(&event) else {
        return refuse(ack, "direct message must be {to, text}");
    };
    let Some(to) = msg.to.as_str().map(str::to_owned) else {
        return refuse(ack, "to must be a socket id");
    };
    let text = match bounded(&msg.text, "text", MAX_TEXT) {
        Ok(text) => text,
        Err(error) => return refuse(ack, &error),
    };
    let ns = ns.clone();
    actix::spawn(async move {
        let found = cluster_sockets(ns.to(to.as_str())).await;
        let Some(target) = found.into_iter().find(|s| s.id() == to) else {
            return refuse(ack, "no such user (they may have left)");
        };
        let out = json!({ "from": user(&socket), "text": text, "ts": now_ms() });
        match target.emit("direct", &out) {
            Ok(()) => ok(ack, json!({ "ok": true })),
            Err(_) => refuse(ack, "no such user (they may have left)"),
        }
    });
}
