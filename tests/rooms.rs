//! Rooms and broadcasts seen from raw protocol packets: join/leave, `to`/`except`/`broadcast`
//! routing, ordering, encode-once, binary fan-out, acks from many sockets, `fetch_sockets` and
//! friends, join/leave hooks, socket counts, broadcasts from an HTTP route, and the limits.

mod common;

use std::{
    collections::{BTreeMap, BTreeSet, VecDeque},
    net::SocketAddr,
    time::{Duration, Instant},
};

use actix_socketio::{
    AckError, Config, DisconnectReason, Event, LeaveReason, Payload, Socket, SocketIo,
};
use actix_web::{web, HttpResponse};
use common::*;
use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio::{
    sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender},
    time::timeout,
};
use tokio_tungstenite::tungstenite::Message;

/// What an `ask` handler reports: every (socket id, answer) pair, and how long it took.
type AskOutcome = (Vec<(String, Result<Payload, AckError>)>, Duration);

/// A room name or a list of them, as a client sends it.
fn room_list(value: &Value) -> Vec<String> {
    match value {
        Value::String(room) => vec![room.clone()],
        Value::Array(rooms) => rooms
            .iter()
            .filter_map(|r| r.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

/// Argument `index` of an event as JSON (`null` when absent).
fn arg(event: &Event, index: usize) -> Value {
    event.payload().get(index).unwrap_or(Value::Null)
}

/// Argument `index` of an event as a string (empty when absent).
fn arg_str(event: &Event, index: usize) -> String {
    event.payload().get(index).unwrap_or_default()
}

/// A namespace whose clients drive the rooms API with events; each handler acts, then acks, so
/// a client that got the ack knows the action reached the RoomManager before anything it sends
/// next.
fn api_ns(
    io: &SocketIo,
    name: &str,
    sockets: UnboundedSender<Socket>,
    gone: UnboundedSender<(String, DisconnectReason)>,
    asks: UnboundedSender<AskOutcome>,
) {
    let io_handle = io.clone();
    let ns_name = name.to_owned();
    io.ns(name, move |socket| {
        // What the harness's `well_behaved_check` uses.
        socket.on("echo", |s, e| {
            let _ = s.emit_payload("echo", e.payload().clone());
        });
        socket.on("join", |s, mut e| {
            s.join(room_list(&arg(&e, 0)));
            let _ = e.ack(&s.rooms());
        });
        socket.on("leave", |s, mut e| {
            s.leave(room_list(&arg(&e, 0)));
            let _ = e.ack(&s.rooms());
        });
        socket.on("rooms", |s, mut e| {
            let _ = e.ack(&s.rooms());
        });
        socket.on("in", |s, mut e| {
            let room = arg_str(&e, 0);
            let _ = e.ack(&s.in_room(&room));
        });
        // ["to", rooms, event, data]
        socket.on("to", |s, mut e| {
            let sent = s
                .to(room_list(&arg(&e, 0)))
                .emit(&arg_str(&e, 1), &arg(&e, 2));
            let _ = e.ack(&sent.is_ok());
        });
        // ["to-except", rooms, except, event, data]
        socket.on("to-except", |s, mut e| {
            let sent = s
                .to(room_list(&arg(&e, 0)))
                .except(room_list(&arg(&e, 1)))
                .emit(&arg_str(&e, 2), &arg(&e, 3));
            let _ = e.ack(&sent.is_ok());
        });
        // ["except", rooms, event, data]
        socket.on("except", |s, mut e| {
            let sent = s
                .except(room_list(&arg(&e, 0)))
                .emit(&arg_str(&e, 1), &arg(&e, 2));
            let _ = e.ack(&sent.is_ok());
        });
        // ["broadcast", event, data]
        socket.on("broadcast", |s, mut e| {
            let sent = s.broadcast().emit(&arg_str(&e, 0), &arg(&e, 1));
            let _ = e.ack(&sent.is_ok());
        });
        // ["flood", room, count]: `count` numbered broadcasts from one handler run.
        socket.on("flood", |s, mut e| {
            let room = arg_str(&e, 0);
            let count: u64 = e.payload().get(1).unwrap_or(0);
            let to = s.to(room.as_str());
            let all_sent = (0..count).all(|n| to.emit("n", &n).is_ok());
            let _ = e.ack(&all_sent);
        });
        // ["flood-big", room, count, size, pace_ms]: `count` broadcasts of about `size` bytes
        // each, from a task spawned by the handler, `pace_ms` apart (0: all in one go).
        socket.on("flood-big", |s, e| {
            let room = arg_str(&e, 0);
            let count: u64 = e.payload().get(1).unwrap_or(0);
            let size: usize = e.payload().get(2).unwrap_or(0);
            let pace = Duration::from_millis(e.payload().get(3).unwrap_or(0));
            let to = s.to(room.as_str());
            actix::spawn(async move {
                let pad = "x".repeat(size);
                for n in 0..count {
                    let _ = to.emit("big", &json!([n, pad]));
                    if !pace.is_zero() {
                        tokio::time::sleep(pace).await;
                    }
                }
            });
        });
        // ["rich", room]: one packet with text that needs escaping and non-ASCII characters.
        socket.on("rich", |s, mut e| {
            let data = json!({
                "text": "h\u{e9}llo \"w\u{f6}rld\" \\ \u{2713} \u{1F600}\n",
                "numbers": [1, 2.5, -3, null, true],
                "nested": {"k": "v", "empty": {}},
            });
            let sent = s.to(arg_str(&e, 0)).emit("rich", &data);
            let _ = e.ack(&sent.is_ok());
        });
        socket.on("name", |s, mut e| {
            s.set_data(json!({ "name": arg_str(&e, 0) }));
            let _ = e.ack(&true);
        });
        // A volatile emit to this socket, then a normal one.
        socket.on("vol", |s, _| {
            let _ = s.volatile().emit("v", &1);
            let _ = s.emit("nv", &2);
        });
        // ["ask", room, timeout_ms]: asks every member of the room from a spawned task.
        let io = io_handle.clone();
        let ns = ns_name.clone();
        let asks = asks.clone();
        socket.on("ask", move |_, mut e| {
            let room = arg_str(&e, 0);
            let ms: u64 = e.payload().get(1).unwrap_or(300);
            let io = io.clone();
            let ns = ns.clone();
            let asks = asks.clone();
            actix::spawn(async move {
                let started = Instant::now();
                let answers = io
                    .of(&ns)
                    .to(room)
                    .timeout(Duration::from_millis(ms))
                    .emit_with_ack("q", &1)
                    .await
                    .expect("a valid emit");
                let _ = asks.send((answers, started.elapsed()));
            });
            let _ = e.ack(&true);
        });
        let gone = gone.clone();
        socket.on_disconnect(move |s, reason| {
            let _ = gone.send((s.id().to_owned(), reason));
        });
        let _ = sockets.send(socket);
    });
}

/// A server with the rooms API on `/` and `/other`, and what its handlers report.
struct Api {
    server: TestServer,
    sockets: UnboundedReceiver<Socket>,
    gone: UnboundedReceiver<(String, DisconnectReason)>,
    asks: UnboundedReceiver<AskOutcome>,
}

fn api_server(config: Config) -> Api {
    let (socket_tx, sockets) = unbounded_channel();
    let (gone_tx, gone) = unbounded_channel();
    let (ask_tx, asks) = unbounded_channel();
    let server = start(config, move |io| {
        api_ns(io, "/", socket_tx.clone(), gone_tx.clone(), ask_tx.clone());
        api_ns(io, "/other", socket_tx, gone_tx, ask_tx);
    });
    Api {
        server,
        sockets,
        gone,
        asks,
    }
}

/// One namespace socket of a WebSocket client. Packets that arrive while it waits for an ack are
/// kept, in order, for [`Client::next`].
struct Client {
    ws: Ws,
    id: String,
    /// `""` for `/`, `"/other,"` for `/other`.
    prefix: String,
    next_ack: u64,
    inbox: VecDeque<String>,
}

impl Client {
    /// A new WebSocket session joined to `nsp`.
    async fn connect_to(addr: SocketAddr, nsp: &str) -> Client {
        let (mut ws, _sid) = eio_handshake_ws(addr).await;
        let prefix = if nsp == "/" {
            String::new()
        } else {
            format!("{nsp},")
        };
        send_text(&mut ws, &format!("40{prefix}")).await;
        let id = expect_connect(&mut ws, &prefix).await;
        Client {
            ws,
            id,
            prefix,
            next_ack: 1,
            inbox: VecDeque::new(),
        }
    }

    /// A new WebSocket session joined to `/`.
    async fn connect(addr: SocketAddr) -> Client {
        Client::connect_to(addr, "/").await
    }

    /// Sends the event without an ack.
    async fn emit(&mut self, event: &str, args: &[Value]) {
        let mut items = vec![json!(event)];
        items.extend_from_slice(args);
        let text = format!("42{}{}", self.prefix, Value::Array(items));
        send_text(&mut self.ws, &text).await;
    }

    /// Sends the event with an ack id and waits for the answer; its arguments.
    async fn call(&mut self, event: &str, args: &[Value]) -> Vec<Value> {
        let id = self.next_ack;
        self.next_ack += 1;
        let mut items = vec![json!(event)];
        items.extend_from_slice(args);
        let text = format!("42{}{id}{}", self.prefix, Value::Array(items));
        send_text(&mut self.ws, &text).await;
        let answer = format!("43{}{id}[", self.prefix);
        loop {
            let text = recv_text_answering_pings(&mut self.ws).await;
            if text.starts_with(&answer) {
                let json = &text[answer.len() - 1..];
                return serde_json::from_str(json).expect("ack JSON");
            }
            self.inbox.push_back(text);
        }
    }

    /// `call` for handlers that ack with `true` when all went well.
    async fn call_ok(&mut self, event: &str, args: &[Value]) {
        let answer = self.call(event, args).await;
        assert_eq!(answer, vec![json!(true)], "{event} {args:?}");
    }

    /// Joins rooms; the socket's rooms, sorted.
    async fn join(&mut self, rooms: Value) -> Vec<String> {
        let answer = self.call("join", &[rooms]).await;
        sorted_rooms(&answer)
    }

    /// Leaves rooms; the socket's rooms, sorted.
    async fn leave(&mut self, rooms: Value) -> Vec<String> {
        let answer = self.call("leave", &[rooms]).await;
        sorted_rooms(&answer)
    }

    /// The next text packet (kept ones first; Engine.IO pings answered).
    async fn next(&mut self) -> String {
        match self.inbox.pop_front() {
            Some(text) => text,
            None => recv_text_answering_pings(&mut self.ws).await,
        }
    }

    /// Every packet up to and including the `end` marker of this client's namespace.
    async fn until_end(&mut self) -> Vec<String> {
        let end = format!(r#"42{}["end"]"#, self.prefix);
        let mut got = Vec::new();
        loop {
            let text = self.next().await;
            let done = text == end;
            got.push(text);
            if done {
                return got;
            }
        }
    }
}

/// The rooms list of an ack, sorted.
fn sorted_rooms(answer: &[Value]) -> Vec<String> {
    let mut rooms = room_list(answer.first().unwrap_or(&Value::Null));
    rooms.sort();
    rooms
}

/// Sorted owned strings.
fn sorted(items: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = items.iter().map(|s| s.to_string()).collect();
    out.sort();
    out
}

/// An event packet of `/` as the server encodes it.
fn event(name: &str, data: Value) -> String {
    format!("42{}", json!([name, data]))
}

/// The end marker of `/`.
fn end() -> String {
    r#"42["end"]"#.to_owned()
}

/// The end marker (an event without arguments) to every socket of `/` and `/other`.
fn send_end(io: &SocketIo) {
    for ns in ["/", "/other"] {
        io.of(ns).emit_payload("end", Payload::new()).unwrap();
    }
}

/// The ids of some sockets, sorted.
fn ids(sockets: &[Socket]) -> Vec<String> {
    let mut ids: Vec<String> = sockets.iter().map(|s| s.id().to_owned()).collect();
    ids.sort();
    ids
}

/// A bounded wait for a future of the server API.
async fn bounded<F: std::future::Future>(what: &str, future: F) -> F::Output {
    timeout(STEP, future)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish in {STEP:?}"))
}

/// The socket the connect handler reported next, checked against the client's id.
async fn reported(sockets: &mut UnboundedReceiver<Socket>, client_id: &str) -> Socket {
    let socket = next_seen(sockets).await;
    assert_eq!(socket.id(), client_id, "connect handler order");
    socket
}

// ---------------------------------------------------------------------------------------------
// Polling clients

/// A polling session joined to `/`, driving the API through POSTs.
struct PollClient {
    addr: SocketAddr,
    sid: String,
    id: String,
    next_ack: u64,
    /// Records received while waiting for an ack.
    inbox: VecDeque<String>,
}

impl PollClient {
    async fn connect(addr: SocketAddr) -> PollClient {
        let (sid, id) = polling_connect(addr).await;
        PollClient {
            addr,
            sid,
            id,
            next_ack: 1,
            inbox: VecDeque::new(),
        }
    }

    /// One GET: its records.
    async fn get(&mut self) -> Vec<String> {
        let res = poll_get(self.addr, &self.sid).await;
        assert_eq!(res.status, 200, "GET: {:?}", res.text());
        res.text().split('\x1e').map(str::to_owned).collect()
    }

    /// GETs until `want` records (kept ones first) have arrived.
    async fn records(&mut self, want: usize) -> Vec<String> {
        let mut got: Vec<String> = self.inbox.drain(..).collect();
        while got.len() < want {
            let more = self.get().await;
            got.extend(more);
        }
        got
    }

    async fn call(&mut self, event: &str, args: &[Value]) -> Vec<Value> {
        let id = self.next_ack;
        self.next_ack += 1;
        let mut items = vec![json!(event)];
        items.extend_from_slice(args);
        poll_post_ok(
            self.addr,
            &self.sid,
            &format!("42{id}{}", Value::Array(items)),
        )
        .await;
        let answer = format!("43{id}[");
        loop {
            for record in self.get().await {
                if record.starts_with(&answer) {
                    return serde_json::from_str(&record[answer.len() - 1..]).expect("ack JSON");
                }
                self.inbox.push_back(record);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 1. join, leave, rooms, in_room

#[tokio::test]
async fn join_leave_and_rooms() {
    let mut api = api_server(Config::default());
    let addr = api.server.addr;
    let io = api.server.io.clone();
    let mut a = Client::connect(addr).await;
    let socket_a = reported(&mut api.sockets, &a.id).await;

    // A new socket is in its own room only.
    assert_eq!(socket_a.rooms(), vec![a.id.clone()]);
    assert!(socket_a.in_room(&a.id));
    assert!(!socket_a.in_room("r"));
    assert_eq!(a.call("rooms", &[]).await, vec![json!([a.id])]);

    assert_eq!(a.join(json!("r")).await, sorted(&[&a.id, "r"]));
    assert_eq!(a.call("in", &[json!("r")]).await, vec![json!(true)]);
    assert!(socket_a.in_room("r"));
    // Several at once; joining again changes nothing.
    assert_eq!(
        a.join(json!(["s", "t", "r"])).await,
        sorted(&[&a.id, "r", "s", "t"])
    );
    assert_eq!(a.join(json!("r")).await, sorted(&[&a.id, "r", "s", "t"]));
    let members = bounded("fetch_sockets", io.of("/").to("r").fetch_sockets()).await;
    assert_eq!(ids(&members), vec![a.id.clone()]);
    assert_eq!(
        bounded("all_rooms", io.of("/").all_rooms()).await,
        vec![
            ("r".to_owned(), 1),
            ("s".to_owned(), 1),
            ("t".to_owned(), 1)
        ],
        "all_rooms leaves private rooms out"
    );

    // Leaving one room, several rooms, and a room the socket is not in.
    assert_eq!(a.leave(json!("s")).await, sorted(&[&a.id, "r", "t"]));
    assert_eq!(a.call("in", &[json!("s")]).await, vec![json!(false)]);
    assert!(!socket_a.in_room("s"));
    assert_eq!(a.leave(json!("nowhere")).await, sorted(&[&a.id, "r", "t"]));

    // A second member; rooms count members and vanish when empty.
    let mut b = Client::connect(addr).await;
    let socket_b = reported(&mut api.sockets, &b.id).await;
    assert_eq!(b.join(json!(["r"])).await, sorted(&[&b.id, "r"]));
    assert_eq!(
        bounded("all_rooms", io.of("/").all_rooms()).await,
        vec![("r".to_owned(), 2), ("t".to_owned(), 1)]
    );
    let members = bounded("fetch_sockets", io.of("/").to("r").fetch_sockets()).await;
    assert_eq!(ids(&members), sorted(&[&a.id, &b.id]));
    assert_eq!(a.leave(json!(["t", "r"])).await, vec![a.id.clone()]);
    assert_eq!(
        bounded("all_rooms", io.of("/").all_rooms()).await,
        vec![("r".to_owned(), 1)]
    );

    // The server-side handle can join and leave too, from outside any handler.
    socket_b.join(["from-test", "other"]);
    assert!(socket_b.in_room("from-test"));
    assert_eq!(
        sorted_rooms(&b.call("rooms", &[]).await),
        sorted(&[&b.id, "r", "from-test", "other"])
    );
    socket_b.leave("other");
    assert_eq!(
        bounded("all_rooms", io.of("/").all_rooms()).await,
        vec![("from-test".to_owned(), 1), ("r".to_owned(), 1)]
    );
    // Each socket's own room holds just that socket.
    let own = bounded(
        "fetch_sockets",
        io.of("/").to(b.id.as_str()).fetch_sockets(),
    )
    .await;
    assert_eq!(ids(&own), vec![b.id.clone()]);
    // Rooms are per namespace: `/other` has none of them.
    assert!(bounded("all_rooms", io.of("/other").all_rooms())
        .await
        .is_empty());
}

// ---------------------------------------------------------------------------------------------
// 2. Routing: to, to([..]), except, broadcast, io.of("/").emit, private messages, namespaces

#[tokio::test]
async fn broadcasts_reach_exactly_the_selected_sockets() {
    let api = api_server(Config::default());
    let addr = api.server.addr;
    let io = api.server.io.clone();
    // r = {A, B}, a = {A, D}, b = {C, D}, x = {B}; E is in no room; F is on /other, in
    // rooms of the same names there.
    let mut a = Client::connect(addr).await;
    let mut b = Client::connect(addr).await;
    let mut c = Client::connect(addr).await;
    let mut d = Client::connect(addr).await;
    let mut e = Client::connect(addr).await;
    let mut f = Client::connect_to(addr, "/other").await;
    a.join(json!(["a", "r"])).await;
    b.join(json!(["r", "x"])).await;
    c.join(json!(["b"])).await;
    d.join(json!(["a", "b"])).await;
    f.join(json!(["r", "a", "b", "x"])).await;

    // socket.to(room): the other members only.
    a.call_ok("to", &[json!("r"), json!("m1"), json!(1)]).await;
    // socket.to([a, b]): the union, each socket once, the sender left out.
    a.call_ok("to", &[json!(["a", "b"]), json!("m2"), json!(2)])
        .await;
    e.call_ok("to", &[json!(["a", "b"]), json!("m3"), json!(3)])
        .await;
    // socket.to(r).except(x).
    e.call_ok(
        "to-except",
        &[json!("r"), json!("x"), json!("m4"), json!(4)],
    )
    .await;
    // socket.except(x): everyone but the sender and the members of x.
    a.call_ok("except", &[json!("x"), json!("m5"), json!(5)])
        .await;
    // socket.broadcast(): everyone but the sender.
    a.call_ok("broadcast", &[json!("m6"), json!(6)]).await;
    // io.of("/").emit: everyone in the namespace.
    io.of("/").emit("m7", &7).unwrap();
    // io.of("/").to(socket id): a private message.
    io.of("/").to(c.id.as_str()).emit("m8", &8).unwrap();
    // io.of("/").to([a, b]).except(r).
    io.of("/")
        .to(["a", "b"])
        .except("r")
        .emit("m9", &9)
        .unwrap();
    send_end(&io);

    let expected = |names: &[(&str, i64)]| {
        let mut v: Vec<String> = names.iter().map(|(n, d)| event(n, json!(d))).collect();
        v.push(end());
        v
    };
    assert_eq!(
        a.until_end().await,
        expected(&[("m3", 3), ("m4", 4), ("m7", 7)]),
        "A"
    );
    assert_eq!(
        b.until_end().await,
        expected(&[("m1", 1), ("m6", 6), ("m7", 7)]),
        "B"
    );
    assert_eq!(
        c.until_end().await,
        expected(&[
            ("m2", 2),
            ("m3", 3),
            ("m5", 5),
            ("m6", 6),
            ("m7", 7),
            ("m8", 8),
            ("m9", 9)
        ]),
        "C"
    );
    assert_eq!(
        d.until_end().await,
        expected(&[
            ("m2", 2),
            ("m3", 3),
            ("m5", 5),
            ("m6", 6),
            ("m7", 7),
            ("m9", 9)
        ]),
        "D (in both a and b: one packet each)"
    );
    assert_eq!(
        e.until_end().await,
        expected(&[("m5", 5), ("m6", 6), ("m7", 7)]),
        "E"
    );
    assert_eq!(
        f.until_end().await,
        vec![r#"42/other,["end"]"#.to_owned()],
        "another namespace receives nothing"
    );
}

// ---------------------------------------------------------------------------------------------
// 3. Order per sender and recipient

#[tokio::test]
async fn broadcasts_from_one_sender_arrive_in_order() {
    let api = api_server(Config::default());
    let addr = api.server.addr;
    let mut sender = Client::connect(addr).await;
    let mut b = Client::connect(addr).await;
    let mut c = Client::connect(addr).await;
    let mut outsider = Client::connect(addr).await;
    sender.join(json!("r")).await;
    b.join(json!("r")).await;
    c.join(json!("r")).await;

    sender.call_ok("flood", &[json!("r"), json!(200)]).await;
    send_end(&api.server.io);
    let expected: Vec<String> = (0..200)
        .map(|n| event("n", json!(n)))
        .chain(std::iter::once(end()))
        .collect();
    assert_eq!(b.until_end().await, expected, "B");
    assert_eq!(c.until_end().await, expected, "C");
    assert_eq!(sender.until_end().await, vec![end()], "the sender");
    assert_eq!(outsider.until_end().await, vec![end()], "a non-member");
}

// ---------------------------------------------------------------------------------------------
// 4. One encoding for every recipient; binary fan-out over WebSocket and polling

#[tokio::test]
async fn every_recipient_gets_the_same_bytes_text_and_binary() {
    let mut api = api_server(Config::default());
    let addr = api.server.addr;
    let io = api.server.io.clone();
    let mut sender = Client::connect(addr).await;
    let mut members = Vec::new();
    for _ in 0..3 {
        let mut client = Client::connect(addr).await;
        client.join(json!("r")).await;
        members.push(client);
    }
    let mut polling = PollClient::connect(addr).await;
    let joined = polling.call("join", &[json!("r")]).await;
    assert_eq!(sorted_rooms(&joined), sorted(&[&polling.id, "r"]));
    while api.sockets.try_recv().is_ok() {}

    sender.call_ok("rich", &[json!("r")]).await;
    let expected_data = json!({
        "text": "h\u{e9}llo \"w\u{f6}rld\" \\ \u{2713} \u{1F600}\n",
        "numbers": [1, 2.5, -3, null, true],
        "nested": {"k": "v", "empty": {}},
    });
    let mut texts = Vec::new();
    for member in &mut members {
        texts.push(member.next().await);
    }
    let first = texts[0].clone();
    let json = first
        .strip_prefix("42")
        .unwrap_or_else(|| panic!("an event, got {first:?}"));
    assert_eq!(
        serde_json::from_str::<Value>(json).unwrap(),
        json!(["rich", expected_data])
    );
    for (n, text) in texts.iter().enumerate() {
        assert_eq!(text.as_bytes(), first.as_bytes(), "member {n}");
    }
    assert_eq!(
        polling.records(1).await,
        vec![first.clone()],
        "polling member"
    );

    // A binary broadcast: header then the raw attachment (no type prefix) over WebSocket,
    // `b` + base64 as its own record over polling.
    let data = vec![0u8, 1, 2, 255];
    io.of("/")
        .to("r")
        .emit_payload(
            "file",
            Payload::new().arg("name.bin").unwrap().binary(data.clone()),
        )
        .unwrap();
    let header = r#"451-["file","name.bin",{"_placeholder":true,"num":0}]"#;
    for (n, member) in members.iter_mut().enumerate() {
        assert_eq!(member.next().await, header, "member {n}");
        assert_eq!(recv_binary(&mut member.ws).await, data, "member {n}");
    }
    assert_eq!(
        polling.records(2).await,
        vec![header.to_owned(), "bAAEC/w==".to_owned()],
        "polling member"
    );

    // The sender is not a member: it only gets the end marker.
    send_end(&io);
    assert_eq!(sender.until_end().await, vec![end()]);
    for member in &mut members {
        assert_eq!(member.until_end().await, vec![end()]);
    }
    assert_eq!(polling.records(1).await, vec![end()]);
    well_behaved_check(addr).await;
}

// ---------------------------------------------------------------------------------------------
// 5. emit_with_ack to a room

/// Reads `42<id>["q",1]`; the ack id.
async fn read_question(client: &mut Client) -> u64 {
    let text = client.next().await;
    let rest = text
        .strip_prefix("42")
        .unwrap_or_else(|| panic!("a question expected, got {text:?}"));
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    assert_eq!(&rest[digits.len()..], r#"["q",1]"#, "{text:?}");
    digits.parse().expect("an ack id")
}

#[tokio::test]
async fn emit_with_ack_to_a_room_pairs_answers_with_socket_ids() {
    let mut api = api_server(Config::default());
    let addr = api.server.addr;
    let mut a = Client::connect(addr).await;
    let mut b = Client::connect(addr).await;
    let mut silent = Client::connect(addr).await;
    let mut asker = Client::connect(addr).await;
    for member in [&mut a, &mut b, &mut silent] {
        member.join(json!("r")).await;
    }

    asker.call_ok("ask", &[json!("r"), json!(300)]).await;
    let id_a = read_question(&mut a).await;
    let id_b = read_question(&mut b).await;
    read_question(&mut silent).await;
    send_text(&mut a.ws, &format!(r#"43{id_a}["yes-a"]"#)).await;
    send_text(&mut b.ws, &format!(r#"43{id_b}["yes-b",2]"#)).await;

    let (answers, took) = timeout(Duration::from_secs(3), api.asks.recv())
        .await
        .expect("the ask task reports")
        .expect("channel open");
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(2),
        "the slowest answer is the 300 ms timeout; took {took:?}"
    );
    assert_eq!(answers.len(), 3, "{answers:?}");
    let by_id: BTreeMap<String, Result<Payload, AckError>> = answers.into_iter().collect();
    assert_eq!(
        by_id
            .get(&a.id)
            .cloned()
            .map(|r| r.map(|p| p.args().to_vec())),
        Some(Ok(vec![json!("yes-a")]))
    );
    assert_eq!(
        by_id
            .get(&b.id)
            .cloned()
            .map(|r| r.map(|p| p.args().to_vec())),
        Some(Ok(vec![json!("yes-b"), json!(2)]))
    );
    assert_eq!(by_id.get(&silent.id).cloned(), Some(Err(AckError::Timeout)));

    // The asker is not in the room: no question for it. A late answer is harmless.
    send_text(&mut silent.ws, r#"430["late"]"#).await;
    send_end(&api.server.io);
    assert_eq!(asker.until_end().await, vec![end()]);
    assert_eq!(silent.until_end().await, vec![end()]);
    assert!(api.asks.try_recv().is_err());
    well_behaved_check(addr).await;
}

// ---------------------------------------------------------------------------------------------
// 6. fetch_sockets, data, sockets_join / sockets_leave, disconnect_sockets

#[tokio::test]
async fn fetch_sockets_and_room_wide_operations() {
    let mut api = api_server(Config::default());
    let addr = api.server.addr;
    let io = api.server.io.clone();
    let mut a = Client::connect(addr).await;
    let mut b = Client::connect(addr).await;
    let mut c = Client::connect(addr).await;
    for (client, name) in [(&mut a, "alice"), (&mut b, "bob"), (&mut c, "carol")] {
        client.call_ok("name", &[json!(name)]).await;
    }
    a.join(json!("r")).await;
    b.join(json!("r")).await;
    c.join(json!("s")).await;

    let members = bounded("fetch_sockets", io.of("/").to("r").fetch_sockets()).await;
    assert_eq!(ids(&members), sorted(&[&a.id, &b.id]));
    for member in &members {
        let (expected_name, id) = if member.id() == a.id {
            ("alice", &a.id)
        } else {
            ("bob", &b.id)
        };
        assert_eq!(member.rooms(), sorted(&[id, "r"]));
        assert_eq!(member.data(), json!({ "name": expected_name }));
        assert!(member.connected());
        assert_eq!(member.ns(), "/");
    }
    let everyone = bounded("fetch_sockets", io.of("/").fetch_sockets()).await;
    assert_eq!(ids(&everyone), sorted(&[&a.id, &b.id, &c.id]));
    let not_r = bounded("fetch_sockets", io.of("/").except("r").fetch_sockets()).await;
    assert_eq!(ids(&not_r), vec![c.id.clone()]);
    assert_eq!(not_r[0].data()["name"], json!("carol"));

    // The members of r join b, then leave r.
    io.of("/").to("r").sockets_join("b");
    let in_b = bounded("fetch_sockets", io.of("/").to("b").fetch_sockets()).await;
    assert_eq!(ids(&in_b), sorted(&[&a.id, &b.id]));
    for member in &in_b {
        assert!(member.in_room("b") && member.in_room("r"), "{member:?}");
    }
    assert_eq!(
        sorted_rooms(&a.call("rooms", &[]).await),
        sorted(&[&a.id, "b", "r"])
    );
    io.of("/").to("r").sockets_leave("r");
    assert!(bounded("fetch_sockets", io.of("/").to("r").fetch_sockets())
        .await
        .is_empty());
    assert_eq!(
        bounded("all_rooms", io.of("/").all_rooms()).await,
        vec![("b".to_owned(), 2), ("s".to_owned(), 1)]
    );
    assert_eq!(
        sorted_rooms(&b.call("rooms", &[]).await),
        sorted(&[&b.id, "b"])
    );
    io.of("/").to("b").emit("to-b", &1).unwrap();
    send_end(&io);
    for client in [&mut a, &mut b] {
        assert_eq!(
            client.until_end().await,
            vec![event("to-b", json!(1)), end()]
        );
    }
    assert_eq!(c.until_end().await, vec![end()]);

    // disconnect_sockets(false): the members get `41`, keep their connection, others stay.
    while api.gone.try_recv().is_ok() {}
    bounded(
        "disconnect_sockets",
        io.of("/").to("b").disconnect_sockets(false),
    )
    .await;
    assert_eq!(a.next().await, "41");
    assert_eq!(b.next().await, "41");
    let mut gone = vec![
        next_seen(&mut api.gone).await,
        next_seen(&mut api.gone).await,
    ];
    gone.sort_by(|x, y| x.0.cmp(&y.0));
    let mut expected_gone = vec![
        (a.id.clone(), DisconnectReason::ServerNamespaceDisconnect),
        (b.id.clone(), DisconnectReason::ServerNamespaceDisconnect),
    ];
    expected_gone.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(gone, expected_gone);
    assert!(
        eventually(STEP, || async { io.of("/").socket_count() == 1 }).await,
        "count {}",
        io.of("/").socket_count()
    );
    assert!(bounded("fetch_sockets", io.of("/").to("b").fetch_sockets())
        .await
        .is_empty());
    assert_eq!(
        bounded("all_rooms", io.of("/").all_rooms()).await,
        vec![("s".to_owned(), 1)]
    );
    // Their sessions are open: they join `/` again, with new ids.
    while api.sockets.try_recv().is_ok() {}
    for client in [&mut a, &mut b] {
        send_text(&mut client.ws, "40").await;
        let new_id = expect_connect(&mut client.ws, "").await;
        assert_ne!(new_id, client.id);
        client.id = new_id;
    }
    io.of("/").emit("after", &2).unwrap();
    for client in [&mut a, &mut b, &mut c] {
        assert_eq!(client.next().await, event("after", json!(2)));
    }

    // disconnect_sockets(true): as socket.io's `disconnect(true)`, each member gets its
    // namespace's DISCONNECT ("io server disconnect"), then its connection closes; the others stay.
    a.join(json!("z")).await;
    c.join(json!("z")).await;
    bounded(
        "disconnect_sockets",
        io.of("/").to("z").disconnect_sockets(true),
    )
    .await;
    for client in [&mut a, &mut c] {
        let (before, ending) = expect_closed(&mut client.ws).await;
        let texts: Vec<String> = before
            .iter()
            .filter_map(|m| m.to_text().ok().map(str::to_owned))
            .collect();
        assert_eq!(texts, ["41"], "one `41` before the close: {before:?}");
        assert!(matches!(ending, Ending::Close(_) | Ending::Eof));
    }
    assert!(
        eventually(STEP, || async { io.of("/").socket_count() == 1 }).await,
        "count {}",
        io.of("/").socket_count()
    );
    io.of("/").emit("still", &3).unwrap();
    assert_eq!(b.next().await, event("still", json!(3)));
    well_behaved_check(addr).await;
}

// ---------------------------------------------------------------------------------------------
// 7. on_join / on_leave hooks and cleanup on disconnect

/// What the hooks saw: (socket id, room, None for a join or the leave reason, the socket still
/// lists the room).
type HookSeen = (String, String, Option<LeaveReason>, bool);

#[tokio::test]
async fn join_and_leave_hooks_and_cleanup_on_disconnect() {
    let (hook_tx, mut hooks) = unbounded_channel::<HookSeen>();
    let (socket_tx, mut sockets) = unbounded_channel();
    let (gone_tx, _gone) = unbounded_channel();
    let (ask_tx, _asks) = unbounded_channel();
    let server = start(Config::default(), move |io| {
        api_ns(io, "/", socket_tx, gone_tx, ask_tx);
        let joins = hook_tx.clone();
        io.of("/").on_join(move |s, room| {
            let _ = joins.send((s.id().to_owned(), room.to_owned(), None, s.in_room(room)));
        });
        let leaves = hook_tx;
        io.of("/").on_leave(move |s, room, reason| {
            let _ = leaves.send((
                s.id().to_owned(),
                room.to_owned(),
                Some(reason),
                s.in_room(room),
            ));
        });
    });
    let addr = server.addr;
    let io = server.io.clone();
    let mut a = Client::connect(addr).await;
    let _ = reported(&mut sockets, &a.id).await;
    let mut b = Client::connect(addr).await;
    let socket_b = reported(&mut sockets, &b.id).await;

    // Joining: one hook per new room, in order; the private room never shows.
    a.join(json!(["a", "b"])).await;
    assert_eq!(
        next_seen(&mut hooks).await,
        (a.id.clone(), "a".to_owned(), None, true)
    );
    assert_eq!(
        next_seen(&mut hooks).await,
        (a.id.clone(), "b".to_owned(), None, true)
    );
    a.join(json!("a")).await; // already in: no hook
    a.leave(json!("nowhere")).await; // not in: no hook
    a.leave(json!("a")).await;
    assert_eq!(
        next_seen(&mut hooks).await,
        (
            a.id.clone(),
            "a".to_owned(),
            Some(LeaveReason::Leave),
            false
        )
    );
    a.join(json!(["c", "d"])).await;
    for room in ["c", "d"] {
        assert_eq!(
            next_seen(&mut hooks).await,
            (a.id.clone(), room.to_owned(), None, true)
        );
    }
    b.join(json!(["b", "c"])).await;
    for room in ["b", "c"] {
        assert_eq!(
            next_seen(&mut hooks).await,
            (b.id.clone(), room.to_owned(), None, true)
        );
    }
    // Server-side joins run the hooks too.
    io.of("/").to(b.id.as_str()).sockets_join("e");
    assert_eq!(
        next_seen(&mut hooks).await,
        (b.id.clone(), "e".to_owned(), None, true)
    );
    assert_eq!(
        bounded("all_rooms", io.of("/").all_rooms()).await,
        vec![
            ("b".to_owned(), 2),
            ("c".to_owned(), 2),
            ("d".to_owned(), 1),
            ("e".to_owned(), 1)
        ]
    );

    // A leaves the namespace (`41`): one Disconnect hook per room it was in (b, c, d), with the
    // socket still listing the room, and never its private room.
    send_text(&mut a.ws, "41").await;
    let mut left = BTreeSet::new();
    for _ in 0..3 {
        let (id, room, reason, still_listed) = next_seen(&mut hooks).await;
        assert_eq!(id, a.id);
        assert_eq!(reason, Some(LeaveReason::Disconnect), "room {room}");
        assert!(still_listed, "rooms() still lists {room} in the hook");
        assert!(left.insert(room.clone()), "room {room} reported twice");
    }
    assert_eq!(left, BTreeSet::from(["b", "c", "d"].map(str::to_owned)));
    assert_eq!(
        bounded("all_rooms", io.of("/").all_rooms()).await,
        vec![
            ("b".to_owned(), 1),
            ("c".to_owned(), 1),
            ("e".to_owned(), 1)
        ],
        "d emptied and disappeared"
    );
    let in_b = bounded("fetch_sockets", io.of("/").to("b").fetch_sockets()).await;
    assert_eq!(ids(&in_b), vec![b.id.clone()]);
    assert!(
        bounded(
            "fetch_sockets",
            io.of("/").to(a.id.as_str()).fetch_sockets()
        )
        .await
        .is_empty(),
        "the private room went with the socket"
    );

    // B's connection closes: the same, by transport close.
    timeout(STEP, futures_util::SinkExt::close(&mut b.ws))
        .await
        .expect("close in time")
        .expect("close");
    let mut left = BTreeSet::new();
    for _ in 0..3 {
        let (id, room, reason, _) = next_seen(&mut hooks).await;
        assert_eq!(id, b.id);
        assert_eq!(reason, Some(LeaveReason::Disconnect), "room {room}");
        assert!(left.insert(room.clone()), "room {room} reported twice");
    }
    assert_eq!(left, BTreeSet::from(["b", "c", "e"].map(str::to_owned)));
    assert!(bounded("all_rooms", io.of("/").all_rooms())
        .await
        .is_empty());
    assert!(bounded("fetch_sockets", io.of("/").fetch_sockets())
        .await
        .is_empty());
    assert!(!socket_b.connected());

    // Nothing else was reported: the next hook is a sentinel joined now.
    let mut c = Client::connect(addr).await;
    c.join(json!("sentinel")).await;
    assert_eq!(
        next_seen(&mut hooks).await,
        (c.id.clone(), "sentinel".to_owned(), None, true)
    );
    well_behaved_check(addr).await;
}

// ---------------------------------------------------------------------------------------------
// 8. socket_count

#[tokio::test]
async fn socket_count_follows_connects_and_disconnects() {
    let api = api_server(Config::default());
    let addr = api.server.addr;
    let io = api.server.io.clone();
    let root = io.of("/");
    let other = io.of("/other");
    assert_eq!((root.socket_count(), other.socket_count()), (0, 0));

    let mut a = Client::connect(addr).await;
    assert_eq!(root.socket_count(), 1);
    let mut b = Client::connect(addr).await;
    let polling = PollClient::connect(addr).await;
    assert_eq!(root.socket_count(), 3);
    // A second namespace on A's session counts in /other only.
    send_text(&mut a.ws, "40/other,").await;
    expect_connect(&mut a.ws, "/other,").await;
    assert_eq!((root.socket_count(), other.socket_count()), (3, 1));

    let counts = || (root.socket_count(), other.socket_count());
    // Leaving a namespace.
    send_text(&mut a.ws, "41").await;
    assert!(
        eventually(STEP, || async { counts() == (2, 1) }).await,
        "{:?}",
        counts()
    );
    // Closing a WebSocket.
    timeout(STEP, futures_util::SinkExt::close(&mut b.ws))
        .await
        .expect("close in time")
        .expect("close");
    assert!(
        eventually(STEP, || async { counts() == (1, 1) }).await,
        "{:?}",
        counts()
    );
    // Closing a polling session.
    poll_post_ok(addr, &polling.sid, "1").await;
    assert!(
        eventually(STEP, || async { counts() == (0, 1) }).await,
        "{:?}",
        counts()
    );
    // Closing A's session takes its /other socket.
    timeout(STEP, futures_util::SinkExt::close(&mut a.ws))
        .await
        .expect("close in time")
        .expect("close");
    assert!(
        eventually(STEP, || async { counts() == (0, 0) }).await,
        "{:?}",
        counts()
    );
    let _c = Client::connect(addr).await;
    assert_eq!(counts(), (1, 0));
}

// ---------------------------------------------------------------------------------------------
// 9. A broadcast from a plain actix-web route

async fn notify(io: web::Data<SocketIo>, body: String) -> HttpResponse {
    match io.of("/").to("r").emit("news", &body) {
        Ok(()) => HttpResponse::Ok().content_type("text/plain").body("sent"),
        Err(err) => HttpResponse::InternalServerError().body(err.to_string()),
    }
}

/// `POST /notify` next to the Socket.IO endpoint, holding the `SocketIo` as app data.
fn notify_route(cfg: &mut web::ServiceConfig, io: &SocketIo) {
    cfg.app_data(web::Data::new(io.clone()))
        .route("/notify", web::post().to(notify));
}

#[tokio::test]
async fn an_http_route_broadcasts_to_a_room() {
    let (socket_tx, _sockets) = unbounded_channel();
    let (gone_tx, _gone) = unbounded_channel();
    let (ask_tx, _asks) = unbounded_channel();
    let server = start_with_routes(
        Config::default(),
        move |io: &SocketIo| {
            api_ns(io, "/", socket_tx.clone(), gone_tx.clone(), ask_tx.clone());
            api_ns(io, "/other", socket_tx, gone_tx, ask_tx);
        },
        notify_route,
    );
    let io = server.io.clone();
    let addr = server.addr;
    let mut a = Client::connect(addr).await;
    let mut b = Client::connect(addr).await;
    let mut c = Client::connect(addr).await;
    let mut f = Client::connect_to(addr, "/other").await;
    a.join(json!("r")).await;
    b.join(json!("r")).await;
    f.join(json!("r")).await;

    let res = http_post(addr, "/notify", "breaking \u{2713}".as_bytes(), &[]).await;
    assert_eq!((res.status, res.text()), (200, "sent".to_owned()));
    send_end(&io);
    let news = event("news", json!("breaking \u{2713}"));
    assert_eq!(a.until_end().await, vec![news.clone(), end()]);
    assert_eq!(b.until_end().await, vec![news, end()]);
    assert_eq!(c.until_end().await, vec![end()], "not a member");
    assert_eq!(f.until_end().await, vec![r#"42/other,["end"]"#.to_owned()]);
}

// ---------------------------------------------------------------------------------------------
// 10. Limits: max_connections, slow consumers, volatile packets

#[tokio::test]
async fn max_connections_refuses_with_503_and_frees_slots() {
    let api = api_server(Config::default().with_max_connections(2));
    let addr = api.server.addr;
    let io = api.server.io.clone();
    let mut a = Client::connect(addr).await;
    let mut b = Client::connect(addr).await;
    a.join(json!("r")).await;
    b.join(json!("r")).await;

    // Polling handshake: 503 with a JSON body.
    let res = http_get(addr, "/socket.io/?EIO=4&transport=polling").await;
    assert_eq!(res.status, 503, "{:?}", String::from_utf8_lossy(&res.body));
    let content_type = res.header("content-type").unwrap_or("");
    assert!(
        content_type.starts_with("application/json"),
        "{content_type:?}"
    );
    let body = res.json();
    assert!(body["code"].is_number(), "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    // WebSocket handshake: 503 too.
    let err = ws_try_connect(addr, "EIO=4&transport=websocket")
        .await
        .expect_err("a refusal");
    let (status, content_type, body) = ws_refusal(err);
    assert_eq!(status, 503, "{body:?}");
    assert!(
        content_type.starts_with("application/json"),
        "{content_type:?}"
    );
    assert!(serde_json::from_str::<Value>(&body).is_ok(), "{body:?}");

    // The two connected clients keep working.
    a.call_ok("to", &[json!("r"), json!("hi"), json!(1)]).await;
    assert_eq!(b.next().await, event("hi", json!(1)));
    b.call_ok("broadcast", &[json!("hey"), json!(2)]).await;
    assert_eq!(a.next().await, event("hey", json!(2)));
    assert_eq!(io.session_count(), 2);

    // One leaves: a new handshake succeeds, and the limit holds again after it.
    timeout(STEP, futures_util::SinkExt::close(&mut b.ws))
        .await
        .expect("close in time")
        .expect("close");
    let admitted = eventually(STEP, || async {
        http_get(addr, "/socket.io/?EIO=4&transport=polling")
            .await
            .status
            == 200
    })
    .await;
    assert!(admitted, "a slot is free once a client left");
    let res = http_get(addr, "/socket.io/?EIO=4&transport=polling").await;
    assert_eq!(res.status, 503, "still two sessions open");
    a.call_ok("broadcast", &[json!("alone"), json!(3)]).await;
    assert_eq!(io.session_count(), 2);
}

/// Two members of room `r` under `with_max_buffered(64 KiB, 64)`: one stops reading, one reads
/// every packet as it comes, while a handler floods the room with 300 packets of `size` bytes.
/// The slow one must be disconnected (transport error) within 5 s; the reader must get every
/// packet, in order, and stay connected.
///
/// The flood is paced (2 ms apart) so the server's writers get to run between broadcasts: a
/// burst emitted in one handler run is queued whole before anything is written, and overflows
/// every recipient's queue, readers included (reported separately).
async fn slow_consumer_case(size: usize) {
    const COUNT: u64 = 300;
    let mut api = api_server(Config::default().with_max_buffered(64 * 1024, 64));
    let addr = api.server.addr;
    let mut slow = Client::connect(addr).await;
    let mut reader = Client::connect(addr).await;
    let mut flooder = Client::connect(addr).await;
    slow.join(json!("r")).await;
    reader.join(json!("r")).await;
    while api.gone.try_recv().is_ok() {}

    // The well-behaved member reads as the packets come, on its own task; it reports how many
    // arrived in order, and why it stopped early if it did.
    let reading = tokio::spawn(async move {
        let mut received = 0;
        while received < COUNT {
            let frame = match timeout(STEP, reader.ws.next()).await {
                Err(_) => return (received, Some("no packet for 2 s".to_owned()), reader),
                Ok(Some(Ok(frame))) => frame,
                Ok(other) => return (received, Some(format!("{other:?}")), reader),
            };
            let Message::Text(text) = frame else {
                continue; // WebSocket pings
            };
            if text.as_str() == "2" {
                send_text(&mut reader.ws, "3").await;
                continue;
            }
            let head = format!(r#"42["big",[{received},""#);
            if !text.starts_with(&head) || text.len() != head.len() + size + 3 {
                let got = format!("{:.60}", text.as_str());
                return (received, Some(format!("out of order: {got}")), reader);
            }
            received += 1;
        }
        (received, None, reader)
    });
    // The slow member stops reading: its stream is held, never polled again.
    let started = Instant::now();
    flooder
        .emit(
            "flood-big",
            &[json!("r"), json!(COUNT), json!(size), json!(2)],
        )
        .await;

    let (id, reason) = timeout(Duration::from_secs(5), api.gone.recv())
        .await
        .expect("the slow consumer is disconnected within 5 s")
        .expect("channel open");
    let who = if id == slow.id {
        "the slow consumer"
    } else {
        "the reader"
    };
    assert_eq!(
        (who, reason),
        ("the slow consumer", DisconnectReason::TransportError),
        "after {:?}",
        started.elapsed()
    );
    let (received, stopped, mut reader) = timeout(Duration::from_secs(10), reading)
        .await
        .expect("the reader finishes")
        .expect("the reader task");
    assert_eq!(
        (received, stopped),
        (COUNT, None),
        "the well-behaved reader gets every broadcast in order (server-side disconnects: {:?})",
        std::iter::from_fn(|| api.gone.try_recv().ok()).collect::<Vec<_>>()
    );
    // The reader is still connected and receives what comes next.
    api.server.io.of("/").to("r").emit("after", &1).unwrap();
    assert_eq!(reader.next().await, event("after", json!(1)));
    assert!(api.gone.try_recv().is_err(), "nobody else was disconnected");
    drop(slow);
    well_behaved_check(addr).await;
}

/// The brief's numbers: 100 KB packets, a 64 KiB queue.
#[tokio::test]
async fn a_slow_consumer_is_disconnected_and_others_keep_receiving() {
    slow_consumer_case(100 * 1024).await;
}

/// The same with packets under the byte limit.
#[tokio::test]
async fn a_slow_consumer_of_packets_under_the_limit_is_disconnected() {
    slow_consumer_case(48 * 1024).await;
}

#[tokio::test]
async fn volatile_packets_are_dropped_when_the_transport_is_busy() {
    let mut api = api_server(Config::default());
    let addr = api.server.addr;
    let io = api.server.io.clone();
    let mut polling = PollClient::connect(addr).await;
    let socket_p = reported(&mut api.sockets, &polling.id).await;
    let mut ws = Client::connect(addr).await;
    let _ = reported(&mut api.sockets, &ws.id).await;
    let joined = polling.call("join", &[json!("r")]).await;
    assert_eq!(sorted_rooms(&joined), sorted(&[&polling.id, "r"]));
    ws.join(json!("r")).await;

    // socket.volatile().emit with no GET waiting: dropped; the normal emit after it is kept.
    poll_post_ok(addr, &polling.sid, r#"42["vol"]"#).await;
    assert_eq!(polling.records(1).await, vec![event("nv", json!(2))]);
    // Over a WebSocket that reads normally, both arrive.
    ws.emit("vol", &[]).await;
    assert_eq!(
        ws.next().await,
        event("v", json!(1)),
        "socket.volatile().emit to an idle WebSocket is delivered, before the emit after it"
    );
    assert_eq!(ws.next().await, event("nv", json!(2)));

    // io.of("/").to(r).volatile().emit: the polling member (no GET waiting) misses it, the
    // WebSocket member gets it.
    io.of("/").to("r").volatile().emit("rv", &3).unwrap();
    io.of("/").to("r").emit("rn", &4).unwrap();
    assert_eq!(ws.next().await, event("rv", json!(3)));
    assert_eq!(ws.next().await, event("rn", json!(4)));
    assert_eq!(polling.records(1).await, vec![event("rn", json!(4))]);

    // With a GET waiting, a volatile packet is delivered.
    let sid = polling.sid.clone();
    let waiting = tokio::spawn(async move { poll_get(addr, &sid).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    socket_p.volatile().emit("v-waiting", &5).unwrap();
    let res = timeout(STEP, waiting)
        .await
        .expect("the waiting GET is answered")
        .expect("GET task");
    assert_eq!(
        (res.status, res.text()),
        (200, event("v-waiting", json!(5)))
    );
    well_behaved_check(addr).await;
}
