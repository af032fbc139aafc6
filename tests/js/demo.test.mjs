// The demo chat's realtime contract (src/bin/actix-socketio/chat.rs, namespace "/"), driven by the
// official socket.io-client against the demo binary (target/debug/actix-socketio,
// or DEMO_SERVER).
//
// Run: node --test tests/js/demo.test.mjs (`PARSER=msgpack`: every client uses
// socket.io-msgpack-parser and the demo runs with `--parser msgpack`).
//
// Every step checks exact payloads, who receives what, and - after a short
// quiet period - that nobody received anything else (every unconsumed event
// in any client's inbox fails the step).

import assert from "node:assert/strict";
import { after, before, beforeEach, describe, it } from "node:test";
import { io } from "socket.io-client";
import msgpackParser from "socket.io-msgpack-parser";

import { attachInbox, sleep, waitFor } from "./lib/inbox.mjs";
import { DemoServer } from "./lib/demo_server.mjs";

const MSGPACK = process.env.PARSER === "msgpack";

const WAIT_MS = 3_000; // for an expected event or ack
const QUIET_MS = 150; // to assert that nothing (else) arrived
const UPGRADE_MS = 3_000;
const STEP_TIMEOUT_MS = 15_000;
const GUEST = /^guest-[0-9a-f]{4}$/;
const OFFSET = /^[0-9a-f]{8}-[0-9a-f]+$/;

const WEBSOCKET = { name: "websocket-only", transports: ["websocket"], first: "websocket", final: "websocket" };
const POLLING = { name: "polling-only", transports: ["polling"], first: "polling", final: "polling" };
const UPGRADE = { name: "default (polling, upgraded)", transports: undefined, first: "polling", final: "websocket" };

// ------------------------------------------------------------------ helpers

function show(value) {
  let text;
  try {
    text = JSON.stringify(value);
  } catch {
    text = String(value);
  }
  if (text === undefined) text = String(value);
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}

/** One socket.io-client socket on its own Manager (own Engine.IO connection), with an inbox. */
class Client {
  constructor(url, label, setup) {
    this.label = label;
    this.setup = setup;
    const opts = { forceNew: true, autoConnect: false, reconnection: false, timeout: 5_000 };
    if (setup.transports) opts.transports = setup.transports;
    if (MSGPACK) opts.parser = msgpackParser;
    this.socket = io(url, opts);
    this.inbox = attachInbox(this.socket, label);
    this.firstTransport = null;
    this.socket.io.on("open", () => {
      if (this.firstTransport === null) this.firstTransport = this.socket.io.engine.transport.name;
    });
    this.welcome = null;
    this.engineId = null;
  }

  get id() {
    return this.socket.id;
  }

  /** Connects, checks the welcome (exact shape, online count) and the transport. */
  async connect(expectedOnline) {
    this.socket.connect();
    const [first, args] = await this.inbox.nextOf(["connect", "connect_error"], 5_000);
    if (first === "connect_error") throw new Error(`${this.label}: connect_error ${args[0] && args[0].message}`);
    const welcome = await this.next("welcome");
    assert.deepStrictEqual(Object.keys(welcome).sort(), ["id", "name", "online"], `${this.label}: welcome keys`);
    assert.equal(welcome.id, this.socket.id, `${this.label}: welcome.id is the socket id`);
    assert.match(welcome.name, GUEST, `${this.label}: default name`);
    assert.equal(welcome.online, expectedOnline, `${this.label}: welcome.online`);
    this.welcome = welcome;
    assert.equal(this.firstTransport, this.setup.first, `${this.label}: first transport`);
    await waitFor(
      () => this.socket.io.engine && this.socket.io.engine.transport.name === this.setup.final,
      UPGRADE_MS,
      `${this.label} to use ${this.setup.final}`,
    );
    this.engineId = this.socket.io.engine.id;
    return welcome;
  }

  /** The single argument of the next `name` event. */
  async next(name) {
    let args = await this.inbox.next(name, WAIT_MS);
    // Connection state recovery is on in the demo: each stored event ends with its offset.
    if (this.socket._pid) {
      assert.ok(args.length >= 2 && OFFSET.test(args.at(-1)), `${this.label}: "${name}" ends with an offset, got ${show(args)}`);
      args = args.slice(0, -1);
    }
    assert.equal(args.length, 1, `${this.label}: "${name}" should carry exactly one argument, got ${show(args)}`);
    return args[0];
  }

  /** Waits for the next `name` event and compares its argument exactly. */
  async expect(name, expected, what = "") {
    const got = await this.next(name);
    assert.deepStrictEqual(got, expected, `${this.label}: "${name}" payload ${what}`);
    return got;
  }

  /** Emits with an ack callback; resolves with the ack's single argument. */
  ack(event, ...args) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${this.label}: no ack for ${event}(${args.map(show).join(", ")}) within ${WAIT_MS} ms`)),
        WAIT_MS,
      );
      this.socket.emit(event, ...args, (...reply) => {
        clearTimeout(timer);
        try {
          assert.equal(reply.length, 1, `${this.label}: ${event} ack should carry one argument, got ${show(reply)}`);
          resolve(reply[0]);
        } catch (err) {
          reject(err);
        }
      });
    });
  }

  /** Sends a valid-looking-or-not request and asserts the {ok:false, error} refusal. */
  async refused(event, args, what) {
    const reply = await this.ack(event, ...args);
    const sent = `${event}(${args.map(show).join(", ")})${what ? ` [${what}]` : ""}`;
    assert.ok(reply !== null && typeof reply === "object" && !Array.isArray(reply), `${this.label}: ${sent} ack should be an object, got ${show(reply)}`);
    assert.deepStrictEqual(Object.keys(reply).sort(), ["error", "ok"], `${this.label}: ${sent} should be refused with {ok:false, error}, got ${show(reply)}`);
    assert.equal(reply.ok, false, `${this.label}: ${sent} should be refused, got ${show(reply)}`);
    assert.equal(typeof reply.error, "string", `${this.label}: ${sent} error should be a string, got ${show(reply)}`);
    assert.ok(reply.error.trim().length > 0, `${this.label}: ${sent} error should not be empty, got ${show(reply)}`);
    return reply.error;
  }

  /**
   * Sends every case (one after the other) and returns a line for each one not
   * refused properly, so that one failure does not hide the others.
   */
  async unrefused(event, cases) {
    const failures = [];
    for (const [args, what] of cases) {
      try {
        await this.refused(event, args, what);
      } catch (err) {
        failures.push(err.message.split("\n")[0]);
      }
    }
    return failures;
  }

  /** Every case must be refused with {ok:false, error}. */
  async refusedAll(event, cases) {
    const failures = await this.unrefused(event, cases);
    assert.deepStrictEqual(failures, [], `${failures.length} of ${cases.length} bad ${event} requests were not refused:\n  ${failures.join("\n  ")}`);
  }

  /** The same socket on the same Engine.IO connection, still connected. */
  assertSameSession() {
    assert.ok(this.socket.connected, `${this.label}: still connected`);
    assert.equal(this.socket.id, this.welcome.id, `${this.label}: same socket id`);
    assert.equal(this.socket.io.engine.id, this.engineId, `${this.label}: same Engine.IO session`);
    assert.equal(this.socket.io.engine.transport.name, this.setup.final, `${this.label}: same transport`);
  }

  close() {
    this.socket.disconnect();
  }
}

/** After QUIET_MS, no client has any event it did not consume (a stray event fails). */
async function quiet(clients, ms = QUIET_MS) {
  await sleep(ms);
  const strays = [];
  for (const c of clients) {
    for (const [name, queued] of c.inbox.queues) {
      for (const args of queued) strays.push(`${c.label} got "${name}" ${show(args)}`);
    }
  }
  assert.deepStrictEqual(strays, [], `unexpected events:\n  ${strays.join("\n  ")}`);
}

const byId = (list) => [...list].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
const byName = (list) => [...list].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

/** `{ok:true, room, members}` with members compared as a set of {id, name}. */
function assertJoined(reply, room, members, label) {
  assert.ok(reply && Array.isArray(reply.members), `${label}: join ${room} reply should list members, got ${show(reply)}`);
  assert.deepStrictEqual(
    { ...reply, members: byId(reply.members) },
    { ok: true, room, members: byId(members) },
    `${label}: join ${room} reply`,
  );
}

/** `{ok:true, rooms}` with rooms compared as a set of {name, members}. */
function assertRooms(reply, rooms, label) {
  assert.ok(reply && Array.isArray(reply.rooms), `${label}: rooms reply should list rooms, got ${show(reply)}`);
  assert.deepStrictEqual({ ...reply, rooms: byName(reply.rooms) }, { ok: true, rooms: byName(rooms) }, `${label}: rooms reply`);
}

function assertTs(ts, before, after, what) {
  assert.ok(Number.isInteger(ts), `${what}: ts should be an integer (ms since epoch), got ${show(ts)}`);
  assert.ok(ts >= before - 2_000 && ts <= after + 2_000, `${what}: ts ${ts} should be near now (${before}..${after})`);
}

/** Starts a demo server for one describe block; checks it is still alive at the end. */
function useServer(args = []) {
  const parser = ["--parser", MSGPACK ? "msgpack" : "json"];
  const state = { server: new DemoServer(undefined, [...args, ...parser]), url: null, clients: [] };
  before(async () => {
    state.url = await state.server.start();
  });
  after(async () => {
    for (const c of state.clients) c.close();
    await sleep(50);
    const crashed = await state.server.stop();
    assert.equal(crashed, null, `demo server died during the tests: ${show(crashed)}\n${state.server.logTail()}`);
  });
  state.client = (label, setup) => {
    const c = new Client(state.url, label, setup);
    state.clients.push(c);
    return c;
  };
  return state;
}

// ------------------------------------------------------------------ the whole contract, three transports

describe("demo chat: the whole contract with three clients on mixed transports", () => {
  const srv = useServer();
  let A; // websocket-only
  let B; // polling-only
  let C; // default: polling upgraded to websocket
  const user = (c) => ({ id: c.id, name: c.name });
  const all = () => [A, B, C];

  it("connect: welcome {id, name, online} to the newcomer, presence to everyone else", { timeout: STEP_TIMEOUT_MS }, async () => {
    A = srv.client("A(ws)", WEBSOCKET);
    B = srv.client("B(polling)", POLLING);
    C = srv.client("C(upgrade)", UPGRADE);

    const wa = await A.connect(1);
    A.name = wa.name;
    await quiet([A]);

    const wb = await B.connect(2);
    B.name = wb.name;
    await A.expect("presence", { event: "connected", user: { id: B.id, name: wb.name }, online: 2 });
    await quiet([A, B]); // B gets no presence about itself

    const wc = await C.connect(3);
    C.name = wc.name;
    await A.expect("presence", { event: "connected", user: { id: C.id, name: wc.name }, online: 3 });
    await B.expect("presence", { event: "connected", user: { id: C.id, name: wc.name }, online: 3 });
    await quiet(all());

    assert.equal(new Set([A.id, B.id, C.id]).size, 3, "distinct socket ids");
  });

  it("transports: A websocket, B polling throughout, C upgraded from polling", { timeout: STEP_TIMEOUT_MS }, async () => {
    assert.equal(A.socket.io.engine.transport.name, "websocket");
    assert.equal(B.socket.io.engine.transport.name, "polling");
    assert.equal(C.firstTransport, "polling");
    assert.equal(C.socket.io.engine.transport.name, "websocket");
  });

  it("nick: {ok:true, name} with the trimmed name, and nothing broadcast", { timeout: STEP_TIMEOUT_MS }, async () => {
    assert.deepStrictEqual(await A.ack("nick", "Alice"), { ok: true, name: "Alice" });
    A.name = "Alice";
    assert.deepStrictEqual(await B.ack("nick", "  Bob \t"), { ok: true, name: "Bob" });
    B.name = "Bob";
    assert.deepStrictEqual(await C.ack("nick", "陈 Chen 🐉"), { ok: true, name: "陈 Chen 🐉" });
    C.name = "陈 Chen 🐉";
    // A second nick replaces the first.
    assert.deepStrictEqual(await A.ack("nick", "Alicia"), { ok: true, name: "Alicia" });
    assert.deepStrictEqual(await A.ack("nick", "Alice"), { ok: true, name: "Alice" });
    await quiet(all());
  });

  it("join: members include the joiner; only the room's other members get joined", { timeout: STEP_TIMEOUT_MS }, async () => {
    assertJoined(await A.ack("join", "lobby"), "lobby", [user(A)], A.label);
    await quiet(all());

    assertJoined(await B.ack("join", "lobby"), "lobby", [user(A), user(B)], B.label);
    await A.expect("joined", { room: "lobby", user: user(B) });
    await quiet(all());

    assertJoined(await C.ack("join", "  lobby  "), "lobby", [user(A), user(B), user(C)], C.label);
    await A.expect("joined", { room: "lobby", user: user(C) });
    await B.expect("joined", { room: "lobby", user: user(C) });
    await quiet(all());

    assertJoined(await B.ack("join", "side"), "side", [user(B)], B.label);
    await quiet(all());
    assertJoined(await C.ack("join", "side"), "side", [user(B), user(C)], C.label);
    await B.expect("joined", { room: "side", user: user(C) });
    await quiet(all());
  });

  it("rooms: {ok:true, rooms:[{name, members}]} without the private per-socket rooms", { timeout: STEP_TIMEOUT_MS }, async () => {
    const expected = [
      { name: "lobby", members: 3 },
      { name: "side", members: 2 },
    ];
    for (const c of all()) assertRooms(await c.ack("rooms"), expected, c.label);
    await quiet(all());
  });

  it("message: every member but the sender receives {room, from, text, ts}", { timeout: STEP_TIMEOUT_MS }, async () => {
    let t0 = Date.now();
    const r1 = await A.ack("message", { room: "lobby", text: "hello everyone" });
    let t1 = Date.now();
    assert.deepStrictEqual(Object.keys(r1 || {}).sort(), ["ok", "room", "ts"], `A: message ack shape ${show(r1)}`);
    assert.equal(r1.ok, true);
    assert.equal(r1.room, "lobby");
    assertTs(r1.ts, t0, t1, "A: message ack");
    const m1 = { room: "lobby", from: user(A), text: "hello everyone", ts: r1.ts };
    await B.expect("message", m1);
    await C.expect("message", m1);
    await quiet(all()); // the sender gets no copy

    // From the polling client, to a room the websocket-only client is not in.
    t0 = Date.now();
    const r2 = await B.ack("message", { room: "side", text: "just us" });
    t1 = Date.now();
    assert.deepStrictEqual({ ...r2, ts: 0 }, { ok: true, room: "side", ts: 0 }, `B: message ack ${show(r2)}`);
    assertTs(r2.ts, t0, t1, "B: message ack");
    await C.expect("message", { room: "side", from: user(B), text: "just us", ts: r2.ts });
    await quiet(all());

    // From the upgraded client, several in a row, in order.
    const acks = [];
    for (let i = 0; i < 5; i += 1) acks.push(await C.ack("message", { room: "lobby", text: `n${i}` }));
    for (let i = 0; i < 5; i += 1) {
      const expected = { room: "lobby", from: user(C), text: `n${i}`, ts: acks[i].ts };
      await A.expect("message", expected, `#${i}`);
      await B.expect("message", expected, `#${i}`);
    }
    await quiet(all());

    // A non-member writing to a room is refused and nothing is delivered.
    await A.refused("message", [{ room: "side", text: "let me in" }], "sender not a member");
    await quiet(all());
  });

  it("direct: only the recipient gets {from, text, ts}; {ok:true} to the sender", { timeout: STEP_TIMEOUT_MS }, async () => {
    let t0 = Date.now();
    assert.deepStrictEqual(await A.ack("direct", { to: C.id, text: "psst, C" }), { ok: true });
    let t1 = Date.now();
    const d1 = await C.next("direct");
    assert.deepStrictEqual({ ...d1, ts: 0 }, { from: user(A), text: "psst, C", ts: 0 }, `C: direct payload ${show(d1)}`);
    assertTs(d1.ts, t0, t1, "C: direct");
    await quiet(all());

    // To the polling client, from the upgraded one.
    t0 = Date.now();
    assert.deepStrictEqual(await C.ack("direct", { to: B.id, text: "hi B 👋" }), { ok: true });
    t1 = Date.now();
    const d2 = await B.next("direct");
    assert.deepStrictEqual({ ...d2, ts: 0 }, { from: user(C), text: "hi B 👋", ts: 0 }, `B: direct payload ${show(d2)}`);
    assertTs(d2.ts, t0, t1, "B: direct");
    await quiet(all());

    // To the websocket-only client, from the polling one.
    assert.deepStrictEqual(await B.ack("direct", { to: A.id, text: "and A" }), { ok: true });
    const d3 = await A.next("direct");
    assert.deepStrictEqual({ ...d3, ts: 0 }, { from: user(B), text: "and A", ts: 0 });
    await quiet(all());

    await A.refused("direct", [{ to: "no-such-socket-id", text: "anyone?" }], "unknown id");
    await A.refused("direct", [{ to: "lobby", text: "a room is not a user" }], "room name as id");
    await quiet(all());
  });

  it("leave: {ok:true, room}; remaining members get left with reason leave", { timeout: STEP_TIMEOUT_MS }, async () => {
    assert.deepStrictEqual(await B.ack("leave", "side"), { ok: true, room: "side" });
    await C.expect("left", { room: "side", user: user(B), reason: "leave" });
    await quiet(all()); // neither the leaver nor a non-member hears about it

    await B.refused("leave", ["side"], "already left");
    await B.refused("message", [{ room: "side", text: "still here?" }], "after leaving");
    await quiet(all());

    assertRooms(await A.ack("rooms"), [{ name: "lobby", members: 3 }, { name: "side", members: 1 }], A.label);

    // Rejoining works and notifies the member that stayed.
    assertJoined(await B.ack("join", "side"), "side", [user(B), user(C)], B.label);
    await C.expect("joined", { room: "side", user: user(B) });
    assert.deepStrictEqual(await B.ack("leave", "side"), { ok: true, room: "side" });
    await C.expect("left", { room: "side", user: user(B), reason: "leave" });
    await quiet(all());
  });

  it("disconnect: left (reason disconnect) per room, then presence with the online count", { timeout: STEP_TIMEOUT_MS }, async () => {
    const cUser = user(C);
    C.close();
    await A.expect("left", { room: "lobby", user: cUser, reason: "disconnect" });
    await B.expect("left", { room: "lobby", user: cUser, reason: "disconnect" });
    await A.expect("presence", { event: "disconnected", user: cUser, online: 2 });
    await B.expect("presence", { event: "disconnected", user: cUser, online: 2 });
    assert.equal(C.inbox.pending("disconnect"), 1, "C saw its own disconnect");
    C.inbox.queues.get("disconnect").length = 0;
    await quiet(all()); // nobody was left in "side" to hear about it

    assertRooms(await A.ack("rooms"), [{ name: "lobby", members: 2 }], A.label);

    const bUser = user(B);
    B.close();
    await A.expect("left", { room: "lobby", user: bUser, reason: "disconnect" });
    await A.expect("presence", { event: "disconnected", user: bUser, online: 1 });
    B.inbox.queues.get("disconnect").length = 0;
    await quiet(all());

    assertRooms(await A.ack("rooms"), [{ name: "lobby", members: 1 }], A.label);

    // A newcomer sees the right count, and A hears about it.
    const D = srv.client("D(ws)", WEBSOCKET);
    const wd = await D.connect(2);
    await A.expect("presence", { event: "connected", user: { id: D.id, name: wd.name }, online: 2 });
    await quiet([A, D]);
  });
});

// ------------------------------------------------------------------ invalid input, per event, per transport

const LONG_NICK = "n".repeat(33);
const LONG_ROOM = "r".repeat(65);
const LONG_TEXT = "t".repeat(2001);

for (const setup of [WEBSOCKET, POLLING, UPGRADE]) {
  describe(`demo chat: invalid input from a ${setup.name} client is refused, and it is served afterwards`, () => {
    const srv = useServer();
    let S; // the client sending bad input
    let W; // a witness in the same room, which must receive nothing
    const user = (c) => ({ id: c.id, name: c.name });

    before(async () => {
      S = srv.client(`S(${setup.name})`, setup);
      W = srv.client("W(ws)", WEBSOCKET);
      S.name = (await S.connect(1)).name;
      W.name = (await W.connect(2)).name;
      await S.next("presence");
      assert.deepStrictEqual(await S.ack("nick", "sender"), { ok: true, name: "sender" });
      S.name = "sender";
      assert.deepStrictEqual(await W.ack("nick", "witness"), { ok: true, name: "witness" });
      W.name = "witness";
      assertJoined(await W.ack("join", "lobby"), "lobby", [user(W)], W.label);
      assertJoined(await S.ack("join", "lobby"), "lobby", [user(W), user(S)], S.label);
      await W.next("joined");
      await quiet([S, W]);
    });

    // A failed test must not leave its events behind for the next one.
    beforeEach(async () => {
      await sleep(QUIET_MS);
      for (const c of [S, W]) for (const queued of c.inbox.queues.values()) queued.length = 0;
    });

    /** A valid message from S still reaches W, with S's current name. */
    async function stillServed() {
      S.assertSameSession();
      const r = await S.ack("message", { room: "lobby", text: "still here" });
      assert.equal(r && r.ok, true, `S: valid message after bad input, got ${show(r)}`);
      await W.expect("message", { room: "lobby", from: user(S), text: "still here", ts: r.ts });
      await quiet([S, W]);
    }

    it("nick: wrong types, missing, empty, blank, 33 characters", { timeout: STEP_TIMEOUT_MS }, async () => {
      const cases = [
        [[42], "number"],
        [[null], "null"],
        [[true], "boolean"],
        [[{ name: "x" }], "object"],
        [[["x"]], "array"],
        [[], "no argument"],
        [[""], "empty"],
        [["   \t "], "blank after trimming"],
        [[LONG_NICK], "33 characters"],
        [[` ${"n".repeat(33)} `], "33 characters after trimming"],
      ];
      await S.refusedAll("nick", cases);
      await quiet([S, W]);
      // The name did not change: W still sees "sender".
      await stillServed();
      assert.deepStrictEqual(await S.ack("nick", "n".repeat(32)), { ok: true, name: "n".repeat(32) }, "32 characters is fine");
      assert.deepStrictEqual(await S.ack("nick", "sender"), { ok: true, name: "sender" });
      await stillServed();
    });

    it("join: wrong types, missing, empty, 65 characters, a socket id", { timeout: STEP_TIMEOUT_MS }, async () => {
      const cases = [
        [[42], "number"],
        [[null], "null"],
        [[{}], "object"],
        [[["lobby"]], "array"],
        [[], "no argument"],
        [[""], "empty"],
        [["  "], "blank"],
        [[LONG_ROOM], "65 characters"],
        [[S.id], "own socket id"],
        [[W.id], "another socket's id"],
      ];
      await S.refusedAll("join", cases);
      await quiet([S, W]);
      // The refused joins left no trace: S cannot write into W's private room, and rooms is unchanged.
      await S.refused("message", [{ room: W.id, text: "reading your mail" }], "into a socket's private room");
      assertRooms(await S.ack("rooms"), [{ name: "lobby", members: 2 }], S.label);
      await quiet([S, W]);
      const r64 = "r".repeat(64);
      assertJoined(await S.ack("join", r64), r64, [user(S)], S.label);
      assert.deepStrictEqual(await S.ack("leave", r64), { ok: true, room: r64 });
      await stillServed();
    });

    it("leave: wrong types, missing, empty, 65 characters, a room not joined, own id", { timeout: STEP_TIMEOUT_MS }, async () => {
      const cases = [
        [[42], "number"],
        [[null], "null"],
        [[{ room: "lobby" }], "object"],
        [[], "no argument"],
        [[""], "empty"],
        [[LONG_ROOM], "65 characters"],
        [["never-joined"], "not joined"],
        [["LOBBY"], "not joined (case differs)"],
        [[S.id], "own private room"],
        [[W.id], "another socket's private room"],
      ];
      await S.refusedAll("leave", cases);
      await quiet([S, W]); // in particular, W got no "left"
      await stillServed(); // S is still in lobby
    });

    it("message: non-object, missing fields, wrong types, empty, 2001 characters, not a member", { timeout: STEP_TIMEOUT_MS }, async () => {
      const cases = [
        [["hello"], "a string, not an object"],
        [[42], "a number"],
        [[null], "null"],
        [[], "no argument"],
        [[{}], "empty object"],
        [[{ room: "lobby" }], "missing text"],
        [[{ text: "hi" }], "missing room"],
        [[{ room: 42, text: "hi" }], "room a number"],
        [[{ room: ["lobby"], text: "hi" }], "room an array"],
        [[{ room: "lobby", text: 42 }], "text a number"],
        [[{ room: "lobby", text: null }], "text null"],
        [[{ room: "lobby", text: { t: "hi" } }], "text an object"],
        [[{ room: "lobby", text: "" }], "text empty"],
        [[{ room: "lobby", text: " \n " }], "text blank"],
        [[{ room: "lobby", text: LONG_TEXT }], "text 2001 characters"],
        [[{ room: "", text: "hi" }], "room empty"],
        [[{ room: LONG_ROOM, text: "hi" }], "room 65 characters"],
        [[{ room: "elsewhere", text: "hi" }], "room not joined"],
        [[{ room: S.id, text: "hi" }], "own private room"],
        [[{ room: W.id, text: "hi" }], "another socket's private room"],
      ];
      await S.refusedAll("message", cases);
      await quiet([S, W]); // nothing delivered for any of them
      const max = "m".repeat(2000);
      const r = await S.ack("message", { room: "lobby", text: max });
      assert.equal(r && r.ok, true, `2000 characters is fine, got ${show(r)}`);
      await W.expect("message", { room: "lobby", from: user(S), text: max, ts: r.ts });
      await stillServed();
    });

    it("direct: non-object, missing fields, wrong types, empty, 2001 characters, unknown id", { timeout: STEP_TIMEOUT_MS }, async () => {
      const cases = [
        [["hello"], "a string, not an object"],
        [[7], "a number"],
        [[null], "null"],
        [[], "no argument"],
        [[{}], "empty object"],
        [[{ to: W.id }], "missing text"],
        [[{ text: "hi" }], "missing to"],
        [[{ to: 42, text: "hi" }], "to a number"],
        [[{ to: null, text: "hi" }], "to null"],
        [[{ to: W.id, text: 42 }], "text a number"],
        [[{ to: W.id, text: "" }], "text empty"],
        [[{ to: W.id, text: LONG_TEXT }], "text 2001 characters"],
        [[{ to: "", text: "hi" }], "to empty"],
        [[{ to: "nobody-here", text: "hi" }], "unknown id"],
        [[{ to: "lobby", text: "hi" }], "a room name, not a socket id"],
      ];
      await S.refusedAll("direct", cases);
      await quiet([S, W]); // W got no direct
      assert.deepStrictEqual(await S.ack("direct", { to: W.id, text: "ok now" }), { ok: true });
      const d = await W.next("direct");
      assert.deepStrictEqual({ ...d, ts: 0 }, { from: user(S), text: "ok now", ts: 0 });
      await stillServed();
    });

    it("message and direct: a [room, text] / [to, text] array instead of an object is refused", { timeout: STEP_TIMEOUT_MS }, async () => {
      const failures = [
        ...(await S.unrefused("message", [
          [[["lobby", "hi from an array"]], "an array, not an object"],
          [[["lobby"]], "a one-element array"],
        ])),
        ...(await S.unrefused("direct", [
          [[[W.id, "psst from an array"]], "an array, not an object"],
          [[[W.id]], "a one-element array"],
        ])),
      ];
      await sleep(QUIET_MS);
      for (const c of [S, W]) {
        for (const [name, queued] of c.inbox.queues) {
          for (const args of queued) failures.push(`${c.label} received "${name}" ${show(args)}`);
          queued.length = 0;
        }
      }
      assert.deepStrictEqual(failures, [], `array payloads were not refused (or were delivered):\n  ${failures.join("\n  ")}`);
      await stillServed();
    });

    it("a direct to a client that has left is refused", { timeout: STEP_TIMEOUT_MS }, async () => {
      const X = srv.client("X(ws)", WEBSOCKET);
      await X.connect(3);
      await S.next("presence");
      await W.next("presence");
      const goneId = X.id;
      X.close();
      await S.next("presence");
      await W.next("presence");
      await S.refused("direct", [{ to: goneId, text: "are you there?" }], "id of a disconnected socket");
      await quiet([S, W]);
      await stillServed();
    });
  });
}

// ------------------------------------------------------------------ unicode: characters, not bytes

describe("demo chat: limits count characters, not bytes or UTF-16 units", () => {
  const srv = useServer();
  let U; // websocket-only
  let V; // polling-only
  const user = (c) => ({ id: c.id, name: c.name });

  before(async () => {
    U = srv.client("U(ws)", WEBSOCKET);
    V = srv.client("V(polling)", POLLING);
    U.name = (await U.connect(1)).name;
    V.name = (await V.connect(2)).name;
    await U.next("presence");
    await quiet([U, V]);
  });

  it("nick: 32 emoji or CJK characters are accepted, 33 are not", { timeout: STEP_TIMEOUT_MS }, async () => {
    for (const ch of ["😀", "漢", "é"]) {
      const ok = ch.repeat(32);
      assert.deepStrictEqual(await U.ack("nick", ok), { ok: true, name: ok }, `32 × ${ch}`);
      await U.refused("nick", [ch.repeat(33)], `33 × ${ch}`);
    }
    const name = "😀".repeat(32);
    assert.deepStrictEqual(await U.ack("nick", name), { ok: true, name });
    U.name = name;
    assert.deepStrictEqual(await V.ack("nick", "ヴィ 🎻"), { ok: true, name: "ヴィ 🎻" });
    V.name = "ヴィ 🎻";
    await quiet([U, V]);
  });

  it("join: a 64-character CJK or emoji room is accepted, 65 is not; names round-trip", { timeout: STEP_TIMEOUT_MS }, async () => {
    const cjk = "中".repeat(64);
    const emoji = "🎲".repeat(64);
    await U.refused("join", ["中".repeat(65)], "65 CJK");
    await U.refused("join", ["🎲".repeat(65)], "65 emoji");
    assertJoined(await U.ack("join", cjk), cjk, [user(U)], U.label);
    assertJoined(await V.ack("join", cjk), cjk, [user(U), user(V)], V.label);
    await U.expect("joined", { room: cjk, user: user(V) });
    assertJoined(await U.ack("join", emoji), emoji, [user(U)], U.label);
    assertRooms(await V.ack("rooms"), [{ name: cjk, members: 2 }, { name: emoji, members: 1 }], V.label);
    assert.deepStrictEqual(await U.ack("leave", emoji), { ok: true, room: emoji });
    await U.refused("leave", ["🎲".repeat(65)], "65 emoji");
    await quiet([U, V]);
  });

  it("message and direct: 2000 emoji are accepted and arrive intact, 2001 are not", { timeout: STEP_TIMEOUT_MS }, async () => {
    const cjk = "中".repeat(64);
    const text = "😀".repeat(2000);
    const r = await U.ack("message", { room: cjk, text });
    assert.deepStrictEqual({ ...r, ts: 0 }, { ok: true, room: cjk, ts: 0 }, `message ack ${show(r)}`);
    await V.expect("message", { room: cjk, from: user(U), text, ts: r.ts });
    await U.refused("message", [{ room: cjk, text: "😀".repeat(2001) }], "2001 emoji");

    const mixed = "字a😀".repeat(666) + "字😀"; // 2000 characters
    assert.equal([...mixed].length, 2000);
    const r2 = await V.ack("message", { room: cjk, text: mixed });
    assert.equal(r2 && r2.ok, true, `2000 mixed characters, got ${show(r2)}`);
    await U.expect("message", { room: cjk, from: user(V), text: mixed, ts: r2.ts });
    await V.refused("message", [{ room: cjk, text: `${mixed}x` }], "2001 mixed characters");

    assert.deepStrictEqual(await V.ack("direct", { to: U.id, text }), { ok: true });
    const d = await U.next("direct");
    assert.deepStrictEqual({ ...d, ts: 0 }, { from: user(V), text, ts: 0 });
    await V.refused("direct", [{ to: U.id, text: "😀".repeat(2001) }], "2001 emoji");
    await quiet([U, V]);
  });
});

// ------------------------------------------------------------------ connection state recovery

describe("demo chat: a dropped connection is recovered (id, name, rooms, missed messages)", () => {
  const srv = useServer();

  for (const setup of [WEBSOCKET, POLLING]) {
    it(`${setup.name}: back with the same id and name, the missed message once, no second joined`, { timeout: STEP_TIMEOUT_MS }, async () => {
      const A = srv.client(`A(${setup.name})`, setup);
      const B = srv.client("B(ws)", WEBSOCKET);
      await A.connect(1);
      await B.connect(2);
      await A.next("presence");
      const room = `r-${setup.name}`;
      assert.deepStrictEqual(await A.ack("nick", "alice"), { ok: true, name: "alice" });
      await A.ack("join", room);
      await B.ack("join", room);
      await A.next("joined");
      assert.ok(typeof A.socket._pid === "string" && A.socket._pid.length >= 20, "the CONNECT answer carries a pid");
      const id = A.id;

      A.socket.io.engine.close(); // the transport drops under the client
      const left = await B.next("left");
      assert.equal(left.reason, "disconnect");
      await B.next("presence");
      const sent = await B.ack("message", { room, text: "while you were away" });
      assert.equal(sent.ok, true);

      A.socket.connect();
      await A.inbox.next("connect", WAIT_MS);
      assert.equal(A.socket.id, id, "same socket id");
      assert.equal(A.socket.recovered, true, "socket.recovered");
      const missed = await A.next("message");
      assert.deepStrictEqual(missed, { room, from: { id: B.id, name: missed.from.name }, text: "while you were away", ts: sent.ts });
      const welcome = await A.next("welcome");
      assert.deepStrictEqual(welcome, { id, name: "alice", online: 2, recovered: true });
      const back = await B.next("presence");
      assert.deepStrictEqual(back, { event: "connected", recovered: true, user: { id, name: "alice" }, rooms: [room], online: 2 });
      await B.inbox.none("joined", 300);
      await A.inbox.none("message", 100);
      const rooms = await B.ack("rooms");
      assert.deepStrictEqual(rooms.rooms.find((r) => r.name === room), { name: room, members: 2 }, "still in the room");
      A.close();
      B.close();
      await sleep(100);
    });
  }
});

describe("demo chat: --no-recovery turns connection state recovery off", () => {
  const srv = useServer(["--no-recovery"]);

  it("no pid, no offsets, a fresh socket after a drop", { timeout: STEP_TIMEOUT_MS }, async () => {
    const A = srv.client("A(ws)", WEBSOCKET);
    await A.connect(1);
    assert.equal(A.socket._pid, undefined, "no pid in the CONNECT answer");
    const id = A.id;
    A.socket.io.engine.close();
    await sleep(100);
    A.socket.connect();
    await A.inbox.next("connect", WAIT_MS);
    assert.notEqual(A.socket.id, id, "a new socket");
    assert.ok(!A.socket.recovered);
    const welcome = await A.next("welcome");
    assert.equal(welcome.recovered, undefined);
  });
});
