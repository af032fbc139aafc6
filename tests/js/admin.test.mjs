// The Socket.IO Admin UI's protocol (@socket.io/admin-ui 0.5), driven by the official
// socket.io-client acting as the UI does, against the demo started with `--admin`:
// credentials, the session id, config, all_sockets, server_stats, live events, commands,
// readonly mode, and that chat users never see any of it.
//
// Run: node --test tests/js/admin.test.mjs (demo binary: target/debug/actix-socketio or
// DEMO_SERVER).

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import bcrypt from "bcryptjs";
import { io } from "socket.io-client";

import { attachInbox, sleep, waitFor } from "./lib/inbox.mjs";
import { DemoServer } from "./lib/demo_server.mjs";

const USER = "admin";
const PASSWORD = "s3cret-Pa55";
const WAIT_MS = 4_000;
const STATS_WAIT_MS = 6_000;
const QUIET_MS = 200;
const ISO_DATE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const ALL_FEATURES = [
  "EMIT",
  "JOIN",
  "LEAVE",
  "DISCONNECT",
  "MJOIN",
  "MLEAVE",
  "MDISCONNECT",
  "AGGREGATED_EVENTS",
  "ALL_EVENTS",
];

const open = [];

function client(url, nsp = "/", options = {}) {
  const socket = io(`${url}${nsp}`, {
    transports: ["websocket"],
    reconnection: false,
    forceNew: true,
    ...options,
  });
  open.push(socket);
  return socket;
}

/** Connects an admin as the UI does; resolves with its socket and inbox once `config` came. */
async function admin(url, auth = { username: USER, password: PASSWORD }, options = {}) {
  const socket = client(url, "/admin", { auth, ...options });
  const inbox = attachInbox(socket, "admin");
  await inbox.nextOf(["connect", "connect_error"], WAIT_MS).then(([name, args]) => {
    if (name === "connect_error") throw new Error(`admin refused: ${args[0].message}`);
  });
  return { socket, inbox };
}

async function refused(url, auth) {
  const socket = client(url, "/admin", { auth });
  const inbox = attachInbox(socket, "refused admin");
  const [name, args] = await inbox.nextOf(["connect", "connect_error"], WAIT_MS);
  assert.equal(name, "connect_error", `credentials ${JSON.stringify(auth)} were accepted`);
  assert.equal(args[0].message, "invalid credentials");
  socket.close();
}

async function chatUser(url, options = {}) {
  const socket = client(url, "/", options);
  const inbox = attachInbox(socket, "chat user");
  await inbox.next("connect", WAIT_MS);
  const [welcome] = await inbox.next("welcome", WAIT_MS);
  return { socket, inbox, welcome };
}

/** The next event `name` whose arguments satisfy `match`, skipping others of that name. */
async function nextMatching(inbox, name, match, ms = WAIT_MS) {
  const deadline = Date.now() + ms;
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`no matching "${name}" within ${ms} ms`);
    const args = await inbox.next(name, left);
    if (match(...args)) return args;
  }
}

const ADMIN_EVENTS = [
  "session",
  "config",
  "all_sockets",
  "server_stats",
  "socket_connected",
  "socket_updated",
  "socket_disconnected",
  "room_joined",
  "room_left",
  "event_received",
  "event_sent",
];

function assertNoAdminTraffic(inbox) {
  for (const name of ADMIN_EVENTS) {
    assert.equal(inbox.pending(name), 0, `a chat user received the admin event ${name}`);
  }
  assert.ok(
    !inbox.seen.some((name) => ADMIN_EVENTS.includes(name)),
    `a chat user saw admin events: [${inbox.seen.join(", ")}]`,
  );
}

after(() => {
  for (const socket of open) socket.close();
});

describe("admin UI protocol (plain password)", () => {
  const server = new DemoServer(undefined, ["--admin", `${USER}:${PASSWORD}`]);
  let url;

  before(async () => {
    url = await server.start();
  });
  after(async () => {
    await server.stop();
  });

  it("refuses missing and wrong credentials with invalid credentials", async () => {
    await refused(url, undefined);
    await refused(url, {});
    await refused(url, { username: USER });
    await refused(url, { username: USER, password: "wrong" });
    await refused(url, { username: "root", password: PASSWORD });
    await refused(url, { username: USER, password: 12345 });
    await refused(url, { sessionId: "0123456789abcdef" });
  });

  it("logs in: session after the CONNECT, then config and all_sockets; the session id reconnects", async () => {
    const { socket, inbox } = await admin(url);
    const [session] = await inbox.next("session", WAIT_MS);
    assert.match(session, /^[0-9a-f]{16}$/);
    assert.deepEqual(inbox.seen.slice(0, 2), ["connect", "session"], "session came before the CONNECT");
    const [config] = await inbox.next("config", WAIT_MS);
    assert.deepEqual(config, { supportedFeatures: ALL_FEATURES });
    const [sockets] = await inbox.next("all_sockets", WAIT_MS);
    assert.ok(Array.isArray(sockets));
    assert.ok(sockets.some((s) => s.id === socket.id && s.nsp === "/admin"), "the admin itself is listed");
    socket.close();

    // The UI reconnects with the session id instead of the password.
    const again = await admin(url, { sessionId: session });
    await again.inbox.next("config", WAIT_MS);
    assert.equal(again.inbox.pending("session"), 0, "a session login gets no new session id");
    again.socket.close();
  });

  it("all_sockets lists a chat client with every field the UI reads, never its auth", async () => {
    const chat = await chatUser(url, { auth: { token: "do-not-leak" }, query: { room: "lobby" } });
    const { socket, inbox } = await admin(url);
    const [sockets] = await inbox.next("all_sockets", WAIT_MS);
    const entry = sockets.find((s) => s.id === chat.socket.id);
    assert.ok(entry, "the chat socket is listed");
    assert.deepEqual(Object.keys(entry).sort(), ["clientId", "data", "handshake", "id", "nsp", "rooms", "transport"]);
    assert.equal(entry.nsp, "/");
    assert.equal(entry.transport, "websocket");
    assert.equal(typeof entry.clientId, "string");
    assert.equal(entry.clientId.length, 12);
    assert.equal(entry.clientId, chat.socket.io.engine.id.slice(0, 12));
    assert.deepEqual(entry.data, { name: chat.welcome.name });
    assert.deepEqual(entry.rooms, [chat.socket.id]);
    const h = entry.handshake;
    assert.deepEqual(
      Object.keys(h).sort(),
      ["address", "headers", "issued", "query", "secure", "time", "url", "xdomain"],
    );
    assert.equal(h.address, "127.0.0.1");
    assert.equal(typeof h.headers, "object");
    assert.ok(h.headers.host.startsWith("127.0.0.1:"));
    assert.equal(h.query.room, "lobby");
    assert.equal(h.query.transport, "websocket");
    assert.equal(h.query.EIO, "4");
    assert.ok(Math.abs(h.issued - Date.now()) < 60_000, `issued ${h.issued}`);
    assert.equal(h.secure, false);
    assert.equal(h.xdomain, false);
    assert.equal(typeof h.time, "string");
    assert.ok(h.url.startsWith("/socket.io/?"), h.url);
    assert.ok(!JSON.stringify(sockets).includes("do-not-leak"), "the auth payload leaked");
    socket.close();
    chat.socket.close();
  });

  it("sends server_stats every 2 s, with counts that grow after traffic", async () => {
    const { socket, inbox } = await admin(url);
    const [first] = await inbox.next("server_stats", STATS_WAIT_MS);
    assert.deepEqual(
      Object.keys(first).sort(),
      ["aggregatedEvents", "clientsCount", "hostname", "namespaces", "pid", "pollingClientsCount", "serverId", "uptime"],
    );
    assert.equal(typeof first.serverId, "string");
    assert.equal(first.serverId, first.hostname);
    assert.equal(first.pid, server.child.pid);
    assert.equal(typeof first.uptime, "number");
    assert.ok(first.clientsCount >= 1);
    const names = first.namespaces.map((n) => n.name);
    assert.ok(names.includes("/") && names.includes("/admin"), `namespaces ${names}`);
    const adminNs = first.namespaces.find((n) => n.name === "/admin");
    assert.ok(adminNs.socketsCount >= 1);

    // Traffic: a polling user and a websocket user connect and chat.
    const started = Date.now();
    const a = await chatUser(url, { transports: ["polling"] });
    const b = await chatUser(url);
    for (let i = 0; i < 5; i++) {
      await a.socket.emitWithAck("join", "stats-room");
      await b.socket.emitWithAck("join", "stats-room");
      await a.socket.emitWithAck("message", { room: "stats-room", text: `hello ${i}` });
    }
    const totals = { rawConnection: 0, packetsIn: 0, packetsOut: 0, bytesIn: 0, bytesOut: 0 };
    let latest;
    const deadline = Date.now() + 3 * STATS_WAIT_MS;
    while (Date.now() < deadline && (totals.packetsIn < 15 || totals.rawConnection < 2)) {
      const [stats] = await inbox.next("server_stats", STATS_WAIT_MS);
      latest = stats;
      for (const event of stats.aggregatedEvents) {
        assert.deepEqual(Object.keys(event).filter((k) => k !== "subType").sort(), ["count", "timestamp", "type"]);
        assert.equal(event.timestamp % 1000, 0, "timestamps are whole seconds");
        assert.ok(event.count > 0);
        if (event.type in totals && event.timestamp >= Math.floor(started / 1000) * 1000 - 1000) {
          totals[event.type] += event.count;
        }
      }
    }
    assert.ok(totals.rawConnection >= 2, `rawConnection ${totals.rawConnection}`);
    assert.ok(totals.packetsIn >= 15, `packetsIn ${totals.packetsIn}`);
    assert.ok(totals.packetsOut >= 15, `packetsOut ${totals.packetsOut}`);
    assert.ok(totals.bytesIn > totals.packetsIn, `bytesIn ${totals.bytesIn}`);
    assert.ok(totals.bytesOut > totals.packetsOut, `bytesOut ${totals.bytesOut}`);
    assert.ok(latest.clientsCount >= first.clientsCount + 2);
    assert.ok(latest.pollingClientsCount >= 1, `pollingClientsCount ${latest.pollingClientsCount}`);
    const root = latest.namespaces.find((n) => n.name === "/");
    assert.ok(root.socketsCount >= 2);

    // A disconnection shows up with its reason.
    a.socket.close();
    let reason;
    const until = Date.now() + 3 * STATS_WAIT_MS;
    while (!reason && Date.now() < until) {
      const [stats] = await inbox.next("server_stats", STATS_WAIT_MS);
      reason = stats.aggregatedEvents.find((e) => e.type === "rawDisconnection");
    }
    assert.ok(reason, "no rawDisconnection");
    assert.equal(reason.subType, "transport close");
    b.socket.close();
    socket.close();
  });

  it("tells every live event of a chat client that connects, upgrades, renames, joins, emits, leaves and disconnects", async () => {
    const { socket, inbox } = await admin(url);
    await inbox.next("all_sockets", WAIT_MS);
    const chat = await chatUser(url, { transports: ["polling", "websocket"] });
    const id = chat.socket.id;

    const [connected, at] = await nextMatching(inbox, "socket_connected", (s) => s.id === id);
    assert.equal(connected.nsp, "/");
    assert.equal(connected.transport, "polling");
    assert.deepEqual(connected.rooms, [id]);
    assert.match(at, ISO_DATE);
    assert.ok(Math.abs(Date.parse(at) - Date.now()) < 60_000);

    const [upgraded] = await nextMatching(inbox, "socket_updated", (u) => u.id === id && "transport" in u);
    assert.deepEqual(upgraded, { id, nsp: "/", transport: "websocket" });

    await chat.socket.emitWithAck("nick", "ada-admin-test");
    const [renamed] = await nextMatching(inbox, "socket_updated", (u) => u.id === id && "data" in u);
    assert.equal(renamed.nsp, "/");
    assert.equal(renamed.data.name, "ada-admin-test");

    await chat.socket.emitWithAck("join", "live-room");
    const joined = await nextMatching(inbox, "room_joined", (nsp, room, who) => who === id);
    assert.deepEqual(joined.slice(0, 3), ["/", "live-room", id]);
    assert.match(joined[3], ISO_DATE);

    await chat.socket.emitWithAck("message", { room: "live-room", text: "hi admins" });
    const received = await nextMatching(
      inbox,
      "event_received",
      (nsp, who, args) => who === id && args[0] === "message",
    );
    assert.deepEqual(received.slice(0, 3), ["/", id, ["message", { room: "live-room", text: "hi admins" }]]);
    assert.match(received[3], ISO_DATE);
    // What the server sent it: its welcome, right after the connect.
    const sent = await nextMatching(inbox, "event_sent", (nsp, who, args) => who === id && args[0] === "welcome");
    assert.equal(sent[0], "/");
    assert.equal(sent[2][1].id, id);
    assert.match(sent[3], ISO_DATE);

    await chat.socket.emitWithAck("leave", "live-room");
    const left = await nextMatching(inbox, "room_left", (nsp, room, who) => who === id && room === "live-room");
    assert.equal(left[0], "/");

    chat.socket.disconnect();
    const gone = await nextMatching(inbox, "socket_disconnected", (nsp, who) => who === id);
    assert.deepEqual(gone.slice(0, 3), ["/", id, "client namespace disconnect"]);
    assert.match(gone[3], ISO_DATE);
    assertNoAdminTraffic(chat.inbox);
    socket.close();
  });

  it("runs the UI's commands: emit, join, leave, _disconnect, with and without a filter", async () => {
    const { socket, inbox } = await admin(url);
    await inbox.next("config", WAIT_MS);
    const a = await chatUser(url);
    const b = await chatUser(url);

    // emit to one socket (the filter is its id), with several arguments and binary.
    socket.emit("emit", "/", a.socket.id, "notice", "for a", 2, { three: 3 }, Buffer.from([1, 2, 3]));
    const args = await a.inbox.next("notice", WAIT_MS);
    assert.equal(args[0], "for a");
    assert.equal(args[1], 2);
    assert.deepEqual(args[2], { three: 3 });
    assert.deepEqual([...new Uint8Array(args[3])], [1, 2, 3]);
    await b.inbox.none("notice", QUIET_MS);

    // emit to the whole namespace (no filter).
    // (The demo keeps state for recovery: a broadcast's last argument is its offset.)
    socket.emit("emit", "/", undefined, "notice", "for all");
    assert.equal((await a.inbox.next("notice", WAIT_MS))[0], "for all");
    assert.equal((await b.inbox.next("notice", WAIT_MS))[0], "for all");

    // join: a into "ops", then a room broadcast reaches only a.
    socket.emit("join", "/", "ops", a.socket.id);
    await nextMatching(inbox, "room_joined", (nsp, room, who) => room === "ops" && who === a.socket.id);
    socket.emit("emit", "/", "ops", "ops-only", 1);
    assert.equal((await a.inbox.next("ops-only", WAIT_MS))[0], 1);
    await b.inbox.none("ops-only", QUIET_MS);

    // join everyone, then leave a's: the room holds b only.
    socket.emit("join", "/", "everyone");
    await nextMatching(inbox, "room_joined", (nsp, room, who) => room === "everyone" && who === b.socket.id);
    socket.emit("leave", "/", "everyone", a.socket.id);
    await nextMatching(inbox, "room_left", (nsp, room, who) => room === "everyone" && who === a.socket.id);
    socket.emit("emit", "/", "everyone", "everyone-but-a");
    await b.inbox.next("everyone-but-a", WAIT_MS);
    await a.inbox.none("everyone-but-a", QUIET_MS);

    // leave for the whole namespace.
    socket.emit("leave", "/", "ops");
    await nextMatching(inbox, "room_left", (nsp, room, who) => room === "ops" && who === a.socket.id);

    // _disconnect one socket (close=false: the namespace only), then the rest with close=true.
    socket.emit("_disconnect", "/", false, a.socket.id);
    assert.equal((await a.inbox.next("disconnect", WAIT_MS))[0], "io server disconnect");
    await b.inbox.none("disconnect", QUIET_MS);
    socket.emit("_disconnect", "/", true);
    assert.equal((await b.inbox.next("disconnect", WAIT_MS))[0], "io server disconnect");
    assert.ok(socket.connected, "the admin itself (another namespace) stays");

    assertNoAdminTraffic(a.inbox);
    assertNoAdminTraffic(b.inbox);
    socket.close();
  });

  it("ignores malformed commands and stays up", async () => {
    const { socket, inbox } = await admin(url);
    await inbox.next("config", WAIT_MS);
    const chat = await chatUser(url);
    socket.emit("emit");
    socket.emit("emit", 42, null, "x");
    socket.emit("emit", "/no-such-namespace", undefined, "x");
    socket.emit("emit", "/", undefined, { not: "a name" });
    socket.emit("emit", "/", undefined, "disconnect");
    socket.emit("join", "/", { room: 1 });
    socket.emit("join", null, "room");
    socket.emit("leave", "/");
    socket.emit("_disconnect", 7, true);
    socket.emit("_disconnect", "/no-such-namespace", true);
    socket.emit("_disconnect", "/", "yes", { filter: true });
    await sleep(QUIET_MS);
    assert.ok(socket.connected);
    assert.ok(chat.socket.connected);
    assert.equal(chat.inbox.pending("x"), 0);
    // Still served: a well-formed command works.
    socket.emit("emit", "/", chat.socket.id, "still-here");
    await chat.inbox.next("still-here", WAIT_MS);
    const fresh = await admin(url);
    await fresh.inbox.next("config", WAIT_MS);
    fresh.socket.close();
    chat.socket.close();
    socket.close();
  });
});

describe("admin UI protocol (bcrypt hash, readonly)", () => {
  const hash = bcrypt.hashSync(PASSWORD, 8);
  const server = new DemoServer(undefined, ["--admin", `${USER}:${hash}`, "--admin-readonly"]);
  let url;

  before(async () => {
    url = await server.start();
  });
  after(async () => {
    await server.stop();
  });

  it("checks the password against the bcrypt hash", async () => {
    await refused(url, { username: USER, password: "wrong" });
    await refused(url, { username: USER, password: hash });
    const { socket, inbox } = await admin(url);
    assert.match((await inbox.next("session", WAIT_MS))[0], /^[0-9a-f]{16}$/);
    socket.close();
  });

  it("readonly: config offers no command, and commands do nothing", async () => {
    const { socket, inbox } = await admin(url);
    const [config] = await inbox.next("config", WAIT_MS);
    assert.deepEqual(config, { supportedFeatures: ["AGGREGATED_EVENTS", "ALL_EVENTS"] });
    await inbox.next("all_sockets", WAIT_MS);
    const chat = await chatUser(url);
    socket.emit("emit", "/", undefined, "from-readonly");
    socket.emit("join", "/", "readonly-room");
    socket.emit("_disconnect", "/", true);
    await chat.inbox.none("from-readonly", 2 * QUIET_MS);
    assert.ok(chat.socket.connected, "a readonly admin disconnected a user");
    const rooms = await chat.socket.emitWithAck("rooms");
    assert.ok(!rooms.rooms.some((r) => r.name === "readonly-room"), "a readonly admin made a user join");
    await waitFor(() => chat.socket.connected, WAIT_MS, "chat still connected");
    assertNoAdminTraffic(chat.inbox);
    chat.socket.close();
    socket.close();
  });
});
