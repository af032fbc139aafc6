// Connection state recovery: the official socket.io-client (pinned in package.json) against the
// Rust `interop_server` example started with RECOVERY_MS (and friends), over websocket-only,
// polling-only and the default polling + upgrade.
//
// What the protocol (socket.io 4.6+) promises, and what is checked here:
//   - with recovery on, CONNECT is answered with {sid, pid}; every event that is neither volatile
//     nor waiting for an ack carries the offset string as an extra last argument;
//   - a client that lost its connection (transport close/error, ping timeout, the server closing
//     it) and comes back within RECOVERY_MS with {pid, offset} gets the same socket id, its
//     rooms and data, and every packet it missed, once, in emission order;
//   - everything else (explicit disconnects, expiry, an unknown pid, a pid still connected, a
//     garbage offset, a gap the server no longer holds) is a fresh socket, without an error.
//
// Servers: `main` (RECOVERY_MS=1500, 300 ms heartbeat), `off` (no recovery), `capped`
// (RECOVERY_MAX_BYTES), `middlewares` (RECOVERY_MIDDLEWARES=1) and `soak` (its own, so that its
// /stats and memory are its own). RECOVERY_SOAK_CYCLES sets the soak's drop/recover cycles
// (default 2000), RECOVERY_SOAK_DELAY_MS its client's reconnection delay (default 1 ms).
//
// Run: node --test tests/js/recovery.test.mjs (INTEROP_SERVER overrides the binary path).

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Manager } from "socket.io-client";

import { attachInbox, recordConnects, sleep, waitFor } from "./lib/inbox.mjs";
import { InteropServer } from "./lib/server.mjs";

const RECOVERY_MS = 1_500;
const PING_INTERVAL_MS = 300;
const PING_TIMEOUT_MS = 300;
const CAP_BYTES = 2_000;
const SOAK_CYCLES = Number(process.env.RECOVERY_SOAK_CYCLES || 2_000);
// The client's reconnection delay in the soak (up to 5 × that with the backoff).
const SOAK_DELAY_MS = Number(process.env.RECOVERY_SOAK_DELAY_MS || 1);
const SOAK_RSS_SLACK_BYTES = 10 * 1024 * 1024;
// What /stats must show once every client left and the last stored session expired.
const IDLE_KEYS = ["sessions", "sockets", "rooms", "pending_acks", "recovery_sessions", "recovery_packets", "recovery_bytes"];

const TEST_TIMEOUT_MS = 15_000;
const UPGRADE_TIMEOUT_MS = 3_000;
// After the client saw its connection go, how long until the server surely has too.
const SERVER_NOTICES_MS = 100;
const SETTLE_MS = 200; // "nothing more arrives" windows

const SETUPS = [
  { name: "websocket-only", transports: ["websocket"], expectTransport: "websocket" },
  { name: "polling-only", transports: ["polling"], expectTransport: "polling" },
  { name: "default (polling + upgrade)", transports: undefined, expectTransport: "websocket", upgrades: true },
];

// How the client sees each kind of drop.
const DROP_REASONS = {
  "engine.close": ["forced close"],
  "drop-transport": ["transport close", "transport error"],
  "ping-timeout": ["transport close", "transport error", "ping timeout"],
  "tcp-reset": ["transport close", "transport error"],
};

const HEARTBEAT = { PING_INTERVAL_MS, PING_TIMEOUT_MS };
// Variables the suite's own environment must not leak into a server that should not have them.
const UNSET = { RECOVERY_MS: null, RECOVERY_MAX_BYTES: null, RECOVERY_MIDDLEWARES: null };
const servers = {
  main: new InteropServer(undefined, { env: { ...UNSET, ...HEARTBEAT, RECOVERY_MS } }),
  off: new InteropServer(undefined, { env: { ...UNSET, ...HEARTBEAT } }),
  capped: new InteropServer(undefined, { env: { ...UNSET, ...HEARTBEAT, RECOVERY_MS, RECOVERY_MAX_BYTES: CAP_BYTES } }),
  middlewares: new InteropServer(undefined, { env: { ...UNSET, ...HEARTBEAT, RECOVERY_MS, RECOVERY_MIDDLEWARES: 1 } }),
  soak: new InteropServer(undefined, { env: { ...UNSET, ...HEARTBEAT, RECOVERY_MS } }),
};

let roomCounter = 0;
/** A room name no other test uses. */
function uniqueRoom(label) {
  roomCounter += 1;
  return `${label}-${roomCounter}-${Math.random().toString(36).slice(2, 8)}`;
}

/** Splits an event's arguments into the application's and the trailing offset (asserted present). */
function withOffset(args, what) {
  assert.ok(args.length > 0, `${what}: no arguments at all, expected the offset as the last one`);
  const offset = args.at(-1);
  assert.equal(typeof offset, "string", `${what}: last argument ${JSON.stringify(offset)} is not an offset string`);
  assert.ok(offset.length > 0, `${what}: empty offset`);
  return { body: args.slice(0, -1), offset };
}

/** Resolves with the ack's first argument; bounded by a timeout. */
function ask(socket, event, ...args) {
  return socket.timeout(3_000).emitWithAck(event, ...args);
}

async function getStats(server) {
  const res = await fetch(`${server.url}/stats`);
  assert.equal(res.status, 200, "GET /stats");
  return res.json();
}

/** One test's clients: every Manager made here is closed when the test ends. */
class World {
  constructor(setup) {
    this.setup = setup;
    this.managers = [];
  }

  /**
   * A Manager (one Engine.IO connection). Reconnection is off unless asked for, so that a test
   * decides when a dropped socket comes back (`socket.connect()`), i.e. what it misses meanwhile.
   * `mgr.connects` records the payload of every CONNECT it writes, as it goes on the wire.
   */
  manager(server, extra = {}) {
    const opts = {
      forceNew: true,
      reconnection: false,
      reconnectionDelay: 50,
      reconnectionDelayMax: 100,
      randomizationFactor: 0,
      timeout: 5_000,
      ...extra,
    };
    // The setup's transports unless the caller picked its own (senders are websocket-only).
    const own = opts.transports !== undefined;
    if (this.setup.transports && !own) opts.transports = this.setup.transports;
    const mgr = new Manager(server.url, opts);
    mgr.expect = own
      ? { transport: opts.transports.at(-1), upgrades: false }
      : { transport: this.setup.expectTransport, upgrades: !!this.setup.upgrades };
    mgr.recovery = server !== servers.off; // welcome (and every event) carries an offset
    mgr.opened = [];
    mgr.on("open", () => mgr.opened.push(mgr.engine.transport.name));
    recordConnects(mgr);
    this.managers.push(mgr);
    return mgr;
  }

  /** A socket on `mgr`; `socket.log` lists [event, ...args] and connect/disconnect marks in order. */
  socket(mgr, nsp = "/", opts = {}) {
    const socket = mgr.socket(nsp, opts);
    socket.inbox = attachInbox(socket, `${this.setup.name} ${nsp}`);
    socket.log = [];
    socket.onAny((event, ...args) => socket.log.push([event, ...args]));
    socket.on("connect", () => socket.log.push(["#connect", socket.id, socket.recovered]));
    socket.on("disconnect", (reason) => socket.log.push(["#disconnect", reason]));
    return socket;
  }

  async connect(server, nsp = "/", opts = {}, managerExtra = {}) {
    const mgr = this.manager(server, managerExtra);
    const socket = this.socket(mgr, nsp, opts);
    const { welcome, offset } = await this.established(socket);
    return { mgr, socket, welcome, offset };
  }

  /** A second client on websocket that sends traffic while the one under test is away. */
  async sender(server, nsp = "/", opts = {}) {
    return this.connect(server, nsp, opts, { transports: ["websocket"] });
  }

  /**
   * Waits for `connect` and the server's `welcome`; returns the welcome object and its offset
   * (null when `recovery` is false, where the welcome must carry exactly one argument).
   */
  async established(socket, { recovery = socket.io.recovery } = {}) {
    const [first, args] = await socket.inbox.nextOf(["connect", "connect_error"], 5_000);
    if (first === "connect_error") {
      throw new Error(`${socket.nsp}: connect_error ${args[0].message} ${JSON.stringify(args[0].data)}`);
    }
    const welcomeArgs = await socket.inbox.next("welcome");
    let welcome;
    let offset = null;
    if (recovery) {
      const split = withOffset(welcomeArgs, "welcome");
      [welcome] = split.body;
      offset = split.offset;
      assert.equal(welcomeArgs.length, 2, "welcome carries the welcome object and the offset");
    } else {
      assert.equal(welcomeArgs.length, 1, `welcome carries exactly one argument: ${JSON.stringify(welcomeArgs)}`);
      welcome = welcomeArgs[0];
    }
    await this.checkTransport(socket.io);
    return { welcome, offset };
  }

  /** `socket.connect()` after a drop (reconnection is off): resolves like established(). */
  reconnect(socket, opts) {
    socket.connect();
    return this.established(socket, opts);
  }

  async checkTransport(mgr) {
    if (mgr.expect.upgrades) {
      assert.equal(mgr.opened.at(-1), "polling", "the default setup opens with polling");
      await waitFor(
        () => mgr.engine && mgr.engine.transport.name === "websocket",
        UPGRADE_TIMEOUT_MS,
        "the upgrade from polling to websocket",
      );
    }
    assert.equal(mgr.engine.transport.name, mgr.expect.transport, "transport in use");
  }

  close() {
    for (const mgr of this.managers) {
      for (const socket of Object.values(mgr.nsps)) socket.disconnect();
      mgr.reconnection(false);
      mgr._close();
    }
    this.managers = [];
  }
}

/**
 * Loses `socket`'s connection without telling the server it is leaving the namespace: the client
 * closes its transport (`engine.close`), the server closes it (`drop-transport`), the client
 * stops answering pings until the server gives up (`ping-timeout`), or the client's TCP socket is
 * destroyed under a WebSocket, without a close frame (`tcp-reset`). Resolves once the server has
 * surely noticed. Every socket of the Manager is dropped with it.
 */
async function drop(socket, how) {
  const mgr = socket.io;
  assert.equal(mgr.reconnection(), false, "drop() expects a Manager without automatic reconnection");
  if (how === "engine.close") {
    mgr.engine.close();
  } else if (how === "drop-transport") {
    socket.emit("drop-transport");
  } else if (how === "ping-timeout") {
    const engine = mgr.engine;
    const send = engine._sendPacket.bind(engine);
    engine._sendPacket = (type, ...rest) => (type === "pong" ? undefined : send(type, ...rest));
  } else if (how === "tcp-reset") {
    const transport = mgr.engine.transport;
    assert.equal(transport.name, "websocket", "tcp-reset needs a WebSocket");
    transport.ws._socket.destroy();
  } else {
    throw new Error(`unknown drop ${how}`);
  }
  const limit = how === "ping-timeout" ? PING_INTERVAL_MS + PING_TIMEOUT_MS + 2_000 : 3_000;
  const [reason] = await socket.inbox.next("disconnect", limit);
  assert.ok(DROP_REASONS[how].includes(reason), `${how}: disconnect reason ${JSON.stringify(reason)}`);
  assert.ok(socket.active, "a dropped socket stays active (it is not an explicit disconnect)");
  await sleep(SERVER_NOTICES_MS);
  return reason;
}

/** socket.log entries from index `mark` on whose event is one of `names`. */
function eventsSince(socket, mark, names) {
  return socket.log.slice(mark).filter((entry) => names.includes(entry[0]));
}

/**
 * Waits until `count` events named in `names` arrived since `mark`, then `SETTLE_MS` more, and
 * returns them as [event, ...args] with the offset checked and removed; fails if more arrive.
 */
async function collect(socket, mark, names, count, what) {
  await waitFor(() => eventsSince(socket, mark, names).length >= count, 3_000, `${count} × ${names.join("/")} (${what})`).catch(
    (err) => {
      throw new Error(`${err.message}; log since the mark: ${JSON.stringify(socket.log.slice(mark))}`);
    },
  );
  await sleep(SETTLE_MS);
  const got = eventsSince(socket, mark, names);
  assert.equal(got.length, count, `${what}: exactly ${count} events, got ${JSON.stringify(got)}`);
  for (const name of names) socket.inbox.queues.get(name)?.splice(0); // consumed here, not by next()
  return got.map(([event, ...args]) => [event, ...withOffset(args, `${what} ${event}`).body]);
}

function scenario(setup, name, fn, timeout = TEST_TIMEOUT_MS) {
  it(name, { timeout }, async () => {
    for (const [key, server] of Object.entries(servers)) assert.ok(server.alive(), `${key} server is running`);
    const world = new World(setup);
    try {
      await fn(world);
    } finally {
      world.close();
    }
  });
}

describe("connection state recovery with socket.io-client", () => {
  before(async () => {
    await Promise.all(Object.values(servers).map((s) => s.start()));
    for (const [key, s] of Object.entries(servers)) {
      console.log(`# ${key} server ${s.path} at ${s.url} (${JSON.stringify(s.env)}); log: ${s.logPath}`);
    }
  });

  after(async () => {
    const outcomes = await Promise.all(Object.values(servers).map((s) => s.stop()));
    Object.keys(servers).forEach((key, i) => {
      const log = servers[key].logPath;
      assert.equal(outcomes[i], null, `${key} server exited during the tests: ${JSON.stringify(outcomes[i])} (log: ${log})`);
    });
  });

  for (const setup of SETUPS) {
    describe(setup.name, () => {
      for (const how of ["engine.close", "drop-transport"]) {
        scenario(setup, `${how}: same id, rooms and data; missed room/all/direct packets once, in order`, async (w) => {
          const auth = { token: "keep", n: 1 };
          const a = await w.connect(servers.main, "/", { auth });
          const { socket } = a;
          assert.equal(typeof socket._pid, "string", "CONNECT answer carries a pid");
          assert.ok(socket._pid.length > 0);
          assert.equal(socket.recovered, false);
          assert.deepStrictEqual(a.welcome, { id: socket.id, nsp: "/", auth, recovered: false });
          assert.equal(socket._lastOffset, a.offset, "the client remembers the welcome's offset");
          assert.deepStrictEqual(a.mgr.connects, [{ nsp: "/", data: auth }], "the first CONNECT carries the auth only");

          const room = uniqueRoom("a");
          const data = { user: "zoë", list: [1, 2, 3] };
          assert.equal(await ask(socket, "join-room", room), true);
          assert.equal(await ask(socket, "set-data", data), true);
          const b = await w.sender(servers.main);
          assert.equal(await ask(b.socket, "join-room", room), true);
          const id = socket.id;
          const pid = socket._pid;

          // 1, 2: to the room; 3: this socket's own handle (fires while away); 4: to everyone.
          const laterMs = 400;
          socket.emit("later", laterMs, "direct", 3);
          const laterAt = Date.now();
          await drop(socket, how);
          const offsetAtDrop = socket._lastOffset;
          assert.ok(Date.now() - laterAt < laterMs, "the drop happened before the `later` timer fired");
          b.socket.emit("to-room", room, "room", 1);
          b.socket.emit("to-room", room, "room", 2);
          assert.deepStrictEqual(withOffset(await b.socket.inbox.next("room-msg"), "b room-msg").body, ["room", 1]);
          assert.deepStrictEqual(withOffset(await b.socket.inbox.next("room-msg"), "b room-msg").body, ["room", 2]);
          await sleep(Math.max(0, laterAt + laterMs + 150 - Date.now()));
          b.socket.emit("to-all", "all", 4);
          assert.deepStrictEqual(withOffset(await b.socket.inbox.next("all-msg"), "b all-msg").body, ["all", 4]);

          const mark = socket.log.length;
          const again = await w.reconnect(socket);
          const claim = { nsp: "/", data: { pid, offset: offsetAtDrop, ...auth } };
          assert.deepStrictEqual(a.mgr.connects.at(-1), claim, "reconnect CONNECT payload");
          assert.equal(socket.id, id, "same socket id after recovery");
          assert.equal(socket._pid, pid, "same pid after recovery");
          assert.equal(socket.recovered, true, "socket.recovered");
          const welcomeBack = { id, nsp: "/", auth, recovered: true };
          assert.deepStrictEqual(again.welcome, welcomeBack, "welcome after recovery (auth without pid/offset)");
          const missed = await collect(socket, mark, ["room-msg", "all-msg", "direct-msg"], 4, "missed packets");
          assert.deepStrictEqual(missed, [
            ["room-msg", "room", 1],
            ["room-msg", "room", 2],
            ["direct-msg", "direct", 3],
            ["all-msg", "all", 4],
          ]);
          assert.deepStrictEqual(await ask(socket, "whoami"), { id, rooms: [id, room].sort(), data, recovered: true });
          const offsets = socket.log.slice(mark).filter((e) => !e[0].startsWith("#")).map((e) => e.at(-1));
          assert.equal(new Set(offsets).size, offsets.length, `distinct offsets: ${JSON.stringify(offsets)}`);

          // a second drop: only what was sent after the recovery comes back
          await w.checkTransport(a.mgr);
          await drop(socket, how);
          b.socket.emit("to-room", room, "room", 5);
          b.socket.emit("to-all", "all", 6);
          await b.socket.inbox.next("room-msg");
          await b.socket.inbox.next("all-msg");
          const mark2 = socket.log.length;
          const third = await w.reconnect(socket);
          assert.equal(socket.id, id);
          assert.equal(socket.recovered, true);
          assert.equal(third.welcome.recovered, true);
          assert.deepStrictEqual(await collect(socket, mark2, ["room-msg", "all-msg", "direct-msg"], 2, "second gap"), [
            ["room-msg", "room", 5],
            ["all-msg", "all", 6],
          ]);
          // live traffic after recovery still works and still carries offsets
          b.socket.emit("to-room", room, "room", 7);
          assert.deepStrictEqual(withOffset(await socket.inbox.next("room-msg"), "live room-msg").body, ["room", 7]);
          socket.emit("echo", "still", { alive: true });
          assert.deepStrictEqual(withOffset(await socket.inbox.next("echo-back"), "echo-back").body, ["still", { alive: true }]);
        });
      }

      const lossy = setup.expectTransport === "websocket" ? ["ping-timeout", "tcp-reset"] : ["ping-timeout"];
      for (const how of lossy) {
        scenario(setup, `${how}: recovered, missed packet replayed`, async (w) => {
          const { socket } = await w.connect(servers.main);
          const id = socket.id;
          const room = uniqueRoom("ping");
          await ask(socket, "join-room", room);
          const b = await w.sender(servers.main);
          await drop(socket, how);
          b.socket.emit("to-room", room, "while away");
          const mark = socket.log.length;
          const { welcome } = await w.reconnect(socket);
          assert.equal(socket.id, id);
          assert.equal(socket.recovered, true);
          assert.equal(welcome.recovered, true);
          assert.deepStrictEqual(await collect(socket, mark, ["room-msg"], 1, "missed"), [["room-msg", "while away"]]);
        });
      }

      scenario(setup, "pid without offset (client never kept one): recovered, gets what was sent while away", async (w) => {
        const { socket, mgr } = await w.connect(servers.main, "/", { auth: { k: "v" } });
        const id = socket.id;
        const pid = socket._pid;
        const room = uniqueRoom("nooffset");
        await ask(socket, "join-room", room);
        const before = socket.log.filter((e) => !e[0].startsWith("#")).map(([event, ...args]) => JSON.stringify([event, ...args]));
        socket._lastOffset = undefined; // as if the welcome had never arrived
        const b = await w.sender(servers.main);
        await drop(socket, "engine.close");
        b.socket.emit("to-room", room, "away", 1);
        b.socket.emit("to-room", room, "away", 2);
        await sleep(50);
        const mark = socket.log.length;
        socket.connect();
        await socket.inbox.next("connect", 5_000);
        assert.deepStrictEqual(mgr.connects.at(-1), { nsp: "/", data: { pid, k: "v" } }, "CONNECT without offset");
        assert.equal(socket.id, id, "same id");
        assert.equal(socket.recovered, true, "recovered without an offset");
        // The new welcome is the one saying recovered: true; a replay of the old one is allowed
        // (the client claims it never got it) but nothing may come twice.
        await waitFor(
          () => socket.log.slice(mark).some((e) => e[0] === "welcome" && e[1].recovered === true),
          3_000,
          "the welcome of the recovered socket",
        );
        await sleep(SETTLE_MS);
        const since = socket.log.slice(mark).filter((e) => !e[0].startsWith("#"));
        const away = since.filter((e) => e[0] === "room-msg" && e[1] === "away").map((e) => e.slice(0, -1));
        assert.deepStrictEqual(away, [
          ["room-msg", "away", 1],
          ["room-msg", "away", 2],
        ]);
        const wire = since.map((e) => JSON.stringify(e));
        assert.equal(new Set(wire).size, wire.length, `nothing twice: ${JSON.stringify(since)}`);
        for (const e of since) {
          if (e[0] === "welcome" && e[1].recovered === true) continue;
          if (e[0] === "room-msg" && e[1] === "away") continue;
          assert.ok(before.includes(JSON.stringify(e)), `replayed ${JSON.stringify(e)} was never sent to this socket before`);
        }
        assert.equal(socket.log.slice(mark).at(-1)[0], "welcome", "the recovered socket's welcome comes after the replay");
        assert.deepStrictEqual((await ask(socket, "whoami")).rooms, [id, room].sort());
      });

      scenario(setup, "a pid whose socket is still connected: the claimant is fresh, the owner unharmed", async (w) => {
        const a = await w.connect(servers.main);
        const room = uniqueRoom("owner");
        await ask(a.socket, "join-room", room);
        await ask(a.socket, "set-data", "owner data");
        const mgr = w.manager(servers.main);
        const thief = w.socket(mgr, "/");
        thief._pid = a.socket._pid;
        thief._lastOffset = a.socket._lastOffset;
        const { welcome } = await w.established(thief);
        const claim = { pid: a.socket._pid, offset: a.socket._lastOffset };
        assert.deepStrictEqual(mgr.connects[0].data, claim, "the claim went on the wire");
        assert.notEqual(thief.id, a.socket.id, "a different socket id");
        assert.equal(thief.recovered, false);
        assert.equal(welcome.recovered, false);
        assert.equal(typeof thief._pid, "string");
        assert.notEqual(thief._pid, a.socket._pid, "a new pid");
        assert.deepStrictEqual(await ask(thief, "whoami"), { id: thief.id, rooms: [thief.id], data: null, recovered: false });

        a.socket.emit("echo", "owner", 1);
        assert.deepStrictEqual(withOffset(await a.socket.inbox.next("echo-back"), "echo-back").body, ["owner", 1]);
        assert.deepStrictEqual(await ask(a.socket, "whoami"), {
          id: a.socket.id,
          rooms: [a.socket.id, room].sort(),
          data: "owner data",
          recovered: false,
        });
        const b = await w.sender(servers.main);
        b.socket.emit("to-room", room, "for the owner");
        assert.deepStrictEqual(withOffset(await a.socket.inbox.next("room-msg"), "room-msg").body, ["for the owner"]);
        await thief.inbox.none("room-msg", SETTLE_MS);

        // the failed claim did not use up the owner's recovery
        const id = a.socket.id;
        await drop(a.socket, "engine.close");
        b.socket.emit("to-room", room, "after claim");
        const mark = a.socket.log.length;
        await w.reconnect(a.socket);
        assert.equal(a.socket.id, id);
        assert.equal(a.socket.recovered, true);
        assert.deepStrictEqual(await collect(a.socket, mark, ["room-msg"], 1, "missed"), [["room-msg", "after claim"]]);
      });

      scenario(setup, "two claimants for one drop: the first recovers, the late owner is fresh", async (w) => {
        const a = await w.connect(servers.main);
        const room = uniqueRoom("claim");
        await ask(a.socket, "join-room", room);
        const id = a.socket.id;
        const b = await w.sender(servers.main);
        await drop(a.socket, "engine.close");
        b.socket.emit("to-room", room, "missed", 1);
        await sleep(50);

        const other = w.socket(w.manager(servers.main), "/");
        other._pid = a.socket._pid;
        other._lastOffset = a.socket._lastOffset;
        await w.established(other);
        assert.equal(other.id, id, "the claimant took over the dropped session");
        assert.equal(other.recovered, true);
        assert.deepStrictEqual(await collect(other, 0, ["room-msg"], 1, "missed"), [["room-msg", "missed", 1]]);

        const { welcome } = await w.reconnect(a.socket);
        assert.notEqual(a.socket.id, id, "the session was recovered once already: a new id");
        assert.equal(a.socket.recovered, false);
        assert.equal(welcome.recovered, false);
        assert.deepStrictEqual((await ask(a.socket, "whoami")).rooms, [a.socket.id]);
        await a.socket.inbox.none("room-msg", SETTLE_MS);
      });

      scenario(setup, "explicit disconnects are not recoverable: socket.disconnect(), disconnect-me", async (w) => {
        const auth = { token: "t" };
        const { socket, mgr } = await w.connect(servers.main, "/", { auth }, { reconnection: false });
        const room = uniqueRoom("explicit");
        await ask(socket, "join-room", room);
        await ask(socket, "set-data", 42);
        const b = await w.sender(servers.main);
        const firstId = socket.id;
        const firstPid = socket._pid;

        socket.disconnect();
        assert.equal((await socket.inbox.next("disconnect"))[0], "io client disconnect");
        b.socket.emit("to-room", room, "while disconnected");
        await sleep(50);
        const offsetThen = socket._lastOffset;
        const mark = socket.log.length;
        const second = await w.reconnect(socket);
        const claim = { pid: firstPid, offset: offsetThen, ...auth };
        assert.deepStrictEqual(mgr.connects.at(-1).data, claim, "the client still presents its pid");
        assert.notEqual(socket.id, firstId, "new id after socket.disconnect()");
        assert.equal(socket.recovered, false);
        const fresh = { id: socket.id, nsp: "/", auth, recovered: false };
        assert.deepStrictEqual(second.welcome, fresh, "auth seen by the app has no pid/offset");
        assert.notEqual(socket._pid, firstPid, "a new pid");
        assert.deepStrictEqual(await ask(socket, "whoami"), { id: socket.id, rooms: [socket.id], data: null, recovered: false });
        await socket.inbox.none("room-msg", SETTLE_MS);
        assert.equal(eventsSince(socket, mark, ["room-msg"]).length, 0);

        await ask(socket, "join-room", room);
        const secondId = socket.id;
        socket.emit("disconnect-me");
        assert.equal((await socket.inbox.next("disconnect"))[0], "io server disconnect");
        b.socket.emit("to-room", room, "after disconnect-me");
        await sleep(50);
        const third = await w.reconnect(socket);
        assert.notEqual(socket.id, secondId, "new id after disconnect-me");
        assert.equal(socket.recovered, false);
        assert.equal(third.welcome.recovered, false);
        assert.deepStrictEqual((await ask(socket, "whoami")).rooms, [socket.id]);
        await socket.inbox.none("room-msg", SETTLE_MS);
      });

      scenario(setup, "recovered once: an explicit disconnect after a recovery is fresh, old rooms gone", async (w) => {
        const { socket, mgr } = await w.connect(servers.main);
        const room = uniqueRoom("once");
        await ask(socket, "join-room", room);
        const id = socket.id;
        const pidBefore = socket._pid;
        const offsetBefore = socket._lastOffset;
        await drop(socket, "drop-transport");
        await w.reconnect(socket);
        assert.equal(socket.id, id);
        assert.equal(socket.recovered, true);

        socket.disconnect();
        await socket.inbox.next("disconnect");
        assert.equal(socket._pid, pidBefore, "the client keeps its pid");
        assert.equal(typeof socket._lastOffset, "string", "and its offset");
        const offsetNow = socket._lastOffset;
        const { welcome } = await w.reconnect(socket);
        assert.deepStrictEqual(mgr.connects.at(-1).data, { pid: pidBefore, offset: offsetNow });
        assert.notEqual(socket.id, id);
        assert.equal(socket.recovered, false);
        assert.equal(welcome.recovered, false);
        assert.deepStrictEqual((await ask(socket, "whoami")).rooms, [socket.id]);

        // the pre-drop pid/offset pair, replayed by someone else, is no good either
        const replay = w.socket(w.manager(servers.main), "/");
        replay._pid = pidBefore;
        replay._lastOffset = offsetBefore;
        await w.established(replay);
        assert.notEqual(replay.id, id);
        assert.equal(replay.recovered, false);
        assert.deepStrictEqual((await ask(replay, "whoami")).rooms, [replay.id]);
      });

      scenario(setup, "expiry: back after RECOVERY_MS is fresh; back before it is recovered", async (w) => {
        const a = await w.connect(servers.main);
        const c = await w.connect(servers.main);
        const room = uniqueRoom("expiry");
        await ask(a.socket, "join-room", room);
        await ask(c.socket, "join-room", room);
        const b = await w.sender(servers.main);
        const [idA, idC] = [a.socket.id, c.socket.id];
        await Promise.all([drop(a.socket, "engine.close"), drop(c.socket, "engine.close")]);
        const droppedAt = Date.now();
        b.socket.emit("to-room", room, "gap");
        await sleep(RECOVERY_MS - 800);
        const markC = c.socket.log.length;
        await w.reconnect(c.socket);
        assert.ok(Date.now() - droppedAt < RECOVERY_MS, "c came back within RECOVERY_MS");
        assert.equal(c.socket.id, idC);
        assert.equal(c.socket.recovered, true);
        assert.deepStrictEqual(await collect(c.socket, markC, ["room-msg"], 1, "c missed"), [["room-msg", "gap"]]);

        await sleep(Math.max(0, droppedAt + RECOVERY_MS + 500 - Date.now()));
        const markA = a.socket.log.length;
        const { welcome } = await w.reconnect(a.socket);
        assert.notEqual(a.socket.id, idA, "expired: a new id");
        assert.equal(a.socket.recovered, false);
        assert.equal(welcome.recovered, false);
        assert.deepStrictEqual((await ask(a.socket, "whoami")).rooms, [a.socket.id]);
        await a.socket.inbox.none("room-msg", SETTLE_MS);
        assert.equal(eventsSince(a.socket, markA, ["room-msg"]).length, 0);
      });

      scenario(setup, "a garbage offset is a fresh socket, quietly; the app never sees pid/offset", async (w) => {
        const auth = { token: "g", nested: { ok: true } };
        const { socket, mgr } = await w.connect(servers.main, "/", { auth });
        const room = uniqueRoom("garbage");
        await ask(socket, "join-room", room);
        const id = socket.id;
        const pid = socket._pid;
        socket._lastOffset = "garbage";
        const b = await w.sender(servers.main);
        await drop(socket, "engine.close");
        b.socket.emit("to-room", room, "gap");
        const { welcome } = await w.reconnect(socket);
        assert.deepStrictEqual(mgr.connects.at(-1).data, { pid, offset: "garbage", ...auth });
        assert.equal(socket.inbox.pending("connect_error"), 0, "no error");
        assert.notEqual(socket.id, id);
        assert.equal(socket.recovered, false);
        assert.deepStrictEqual(welcome, { id: socket.id, nsp: "/", auth, recovered: false });
        assert.deepStrictEqual((await ask(socket, "whoami")).rooms, [socket.id]);
        await socket.inbox.none("room-msg", SETTLE_MS);
      });

      scenario(setup, "volatile events carry no offset, leave the client's offset alone, are not replayed", async (w) => {
        const { socket } = await w.connect(servers.main);
        const room = uniqueRoom("volatile");
        await ask(socket, "join-room", room);
        const offset = socket._lastOffset;
        // No string as last argument: the official client would take it for an offset. A volatile
        // packet may be dropped (over polling: when no GET is pending, e.g. right after a ping),
        // so try a few times.
        let attempts = 0;
        let got = null;
        while (got === null && attempts < 10) {
          attempts += 1;
          socket.emit("volatile", attempts, { v: true });
          got = await socket.inbox.next("volatile-msg", 300).catch(() => null);
        }
        assert.notEqual(got, null, `no volatile-msg in ${attempts} attempts`);
        assert.deepStrictEqual(got, [attempts, { v: true }], "no offset on a volatile event");
        await sleep(SETTLE_MS);
        assert.equal(socket.inbox.pending("volatile-msg"), 0, "a dropped volatile packet does not come later");
        assert.equal(socket._lastOffset, offset);
        const b = await w.sender(servers.main);
        await drop(socket, "engine.close");
        b.socket.emit("to-room", room, "kept");
        const mark = socket.log.length;
        await w.reconnect(socket);
        assert.equal(socket.recovered, true);
        assert.deepStrictEqual(await collect(socket, mark, ["room-msg", "volatile-msg"], 1, "replay"), [["room-msg", "kept"]]);
      });

      scenario(setup, "two namespaces on one connection recover together, each with its own pid and gap", async (w) => {
        const mgr = w.manager(servers.main);
        const root = w.socket(mgr, "/");
        const admin = w.socket(mgr, "/admin", { auth: { token: "secret" } });
        await w.established(root);
        await w.established(admin);
        assert.notEqual(root._pid, admin._pid, "one pid per namespace");
        const [rootRoom, adminRoom] = [uniqueRoom("root"), uniqueRoom("admin")];
        await ask(root, "join-room", rootRoom);
        await ask(admin, "join-room", adminRoom);
        const [rootId, adminId] = [root.id, admin.id];
        const b = await w.sender(servers.main);
        const bAdmin = await w.sender(servers.main, "/admin", { auth: { token: "secret" } });

        const adminGone = admin.inbox.next("disconnect");
        await drop(root, "drop-transport");
        await adminGone;
        b.socket.emit("to-room", rootRoom, "root gap");
        bAdmin.socket.emit("to-room", adminRoom, "admin gap");
        bAdmin.socket.emit("to-all", "admin all");
        await bAdmin.socket.inbox.next("all-msg");
        const [markRoot, markAdmin] = [root.log.length, admin.log.length];
        root.connect(); // opens the Manager; /admin is still active and reconnects with it
        await w.established(root);
        await w.established(admin);
        assert.equal(root.id, rootId);
        assert.equal(admin.id, adminId);
        assert.ok(root.recovered && admin.recovered, "both recovered");
        assert.deepStrictEqual(await collect(root, markRoot, ["room-msg", "all-msg"], 1, "root"), [["room-msg", "root gap"]]);
        assert.deepStrictEqual(await collect(admin, markAdmin, ["room-msg", "all-msg"], 2, "admin"), [
          ["room-msg", "admin gap"],
          ["all-msg", "admin all"],
        ]);
      });
    });
  }

  describe("connect middlewares on recovery", () => {
    const setup = SETUPS[0];

    scenario(setup, "skipped by default: a recovered /admin socket is not checked again", async (w) => {
      const { socket } = await w.connect(servers.main, "/admin", { auth: { token: "secret" } });
      const id = socket.id;
      await drop(socket, "engine.close");
      socket.auth = { token: "wrong" };
      const { welcome } = await w.reconnect(socket);
      assert.equal(socket.id, id);
      assert.equal(socket.recovered, true);
      assert.equal(welcome.recovered, true);
    });

    scenario(setup, "RECOVERY_MIDDLEWARES=1: they run for a recovering socket and can refuse it", async (w) => {
      const { socket } = await w.connect(servers.middlewares, "/admin", { auth: { token: "secret" } });
      const id = socket.id;
      await drop(socket, "engine.close");
      const { welcome } = await w.reconnect(socket);
      assert.equal(socket.id, id, "passes the middleware: recovered");
      assert.equal(socket.recovered, true);
      assert.equal(welcome.recovered, true);

      await drop(socket, "engine.close");
      socket.auth = { token: "wrong" };
      socket.connect();
      const [err] = await socket.inbox.next("connect_error", 5_000);
      assert.equal(err.message, "unauthorized");
      assert.deepStrictEqual(err.data, { reason: "bad token" });
      assert.ok(!socket.connected);
      assert.equal(socket.inbox.pending("welcome"), 0);
    });
  });

  describe("RECOVERY_MAX_BYTES", () => {
    for (const setup of SETUPS.slice(0, 2)) {
      scenario(setup, `${setup.name}: a gap pushed out of the store is fresh; a small gap still recovers`, async (w) => {
        const server = servers.capped;
        const a = await w.connect(server);
        const c = await w.connect(server);
        const [bigRoom, smallRoom] = [uniqueRoom("big"), uniqueRoom("small")];
        await ask(a.socket, "join-room", bigRoom);
        await ask(c.socket, "join-room", smallRoom);
        const b = await w.sender(server);
        await ask(b.socket, "join-room", bigRoom);
        const idA = a.socket.id;

        await drop(a.socket, "engine.close");
        const chunk = "x".repeat(500);
        const count = Math.ceil((2 * CAP_BYTES) / chunk.length);
        for (let i = 0; i < count; i++) b.socket.emit("to-room", bigRoom, i, chunk);
        for (let i = 0; i < count; i++) await b.socket.inbox.next("room-msg");
        const stats = await getStats(server);
        assert.ok(stats.recovery_bytes <= CAP_BYTES, `stored bytes ${stats.recovery_bytes} within the cap ${CAP_BYTES}`);
        const markA = a.socket.log.length;
        const { welcome } = await w.reconnect(a.socket);
        assert.notEqual(a.socket.id, idA, "its gap was evicted: a new id");
        assert.equal(a.socket.recovered, false);
        assert.equal(welcome.recovered, false);
        assert.equal(a.socket.inbox.pending("connect_error"), 0);
        await a.socket.inbox.none("room-msg", SETTLE_MS);
        assert.equal(eventsSince(a.socket, markA, ["room-msg"]).length, 0, "none of the evicted packets");

        const idC = c.socket.id;
        await drop(c.socket, "engine.close");
        b.socket.emit("to-room", smallRoom, "small");
        const markC = c.socket.log.length;
        await w.reconnect(c.socket);
        assert.equal(c.socket.id, idC, "a gap still stored recovers");
        assert.equal(c.socket.recovered, true);
        assert.deepStrictEqual(await collect(c.socket, markC, ["room-msg"], 1, "small gap"), [["room-msg", "small"]]);
      });
    }
  });

  describe("recovery off", () => {
    for (const setup of SETUPS) {
      scenario(setup, `${setup.name}: no pid, no offsets, a reconnect is fresh`, async (w) => {
        const auth = { token: "off" };
        const { socket, mgr, welcome } = await w.connect(servers.off, "/", { auth });
        assert.equal(socket._pid, undefined, "no pid in the CONNECT answer");
        assert.equal(socket._lastOffset, undefined);
        // the official client computes `recovered = pid && ...`: undefined without a pid
        assert.ok(!socket.recovered, `recovered is ${socket.recovered}`);
        assert.deepStrictEqual(welcome, { id: socket.id, nsp: "/", auth, recovered: false });
        const room = uniqueRoom("off");
        await ask(socket, "join-room", room);
        socket.emit("echo", "a", "b");
        assert.deepStrictEqual(await socket.inbox.next("echo-back"), ["a", "b"], "no extra argument");
        const b = await w.sender(servers.off);
        b.socket.emit("to-room", room, "live");
        assert.deepStrictEqual(await socket.inbox.next("room-msg"), ["live"]);
        const id = socket.id;
        await drop(socket, "engine.close");
        b.socket.emit("to-room", room, "gap");
        const again = await w.reconnect(socket);
        assert.deepStrictEqual(mgr.connects.at(-1).data, auth, "no pid on the wire");
        assert.notEqual(socket.id, id);
        assert.ok(!socket.recovered);
        assert.equal(again.welcome.recovered, false);
        assert.deepStrictEqual((await ask(socket, "whoami")).rooms, [socket.id]);
        await socket.inbox.none("room-msg", SETTLE_MS);
      });
    }
  });

  describe("soak", () => {
    const timeout = 60_000 + SOAK_CYCLES * 25;
    scenario(
      SETUPS[0],
      `${SOAK_CYCLES} drop/recover cycles: every packet once and in order; store and memory back to idle`,
      async (w) => {
        const server = servers.soak;
        const reconnect = { reconnection: true, reconnectionDelay: SOAK_DELAY_MS, reconnectionDelayMax: 5 * SOAK_DELAY_MS };
        const a = await w.connect(server, "/", {}, reconnect);
        const { socket } = a;
        const b = await w.sender(server);
        await ask(socket, "join-room", "soak");
        const id = socket.id;
        const got = [];
        socket.on("room-msg", (seq, offset) => {
          assert.equal(typeof offset, "string");
          got.push(seq);
        });
        const warmup = Math.min(100, Math.floor(SOAK_CYCLES / 10));
        let rssWarm = server.rssBytes();
        const started = Date.now();
        for (let i = 0; i < SOAK_CYCLES; i++) {
          const back = socket.inbox.next("connect", 3_000);
          if (i % 2 === 0) {
            b.socket.emit("to-room", "soak", i); // right before the drop: delivered, lost or stored
            socket.io.engine.close();
          } else {
            socket.io.engine.close();
            b.socket.emit("to-room", "soak", i); // while away (or already back)
          }
          await back.catch((err) => {
            throw new Error(`cycle ${i}: ${err.message}`);
          });
          if (socket.id !== id || socket.recovered !== true) {
            const now = await getStats(server);
            await sleep(SETTLE_MS);
            const later = await getStats(server);
            assert.fail(
              `cycle ${i} (${i % 2 === 0 ? "to-room right before the drop" : "to-room while away"}, ` +
                `${Date.now() - started} ms into the soak): not recovered: id ${socket.id} (was ${id}), ` +
                `recovered ${socket.recovered}, CONNECT sent ${JSON.stringify(a.mgr.connects.at(-1))}; ` +
                `/stats right after ${JSON.stringify(now)}, ${SETTLE_MS} ms later ${JSON.stringify(later)}; log: ${server.logPath}`,
            );
          }
          await waitFor(() => got.length > i, 3_000, `cycle ${i}: room-msg ${i} (got ${JSON.stringify(got.slice(-5))})`);
          if (i + 1 === warmup) rssWarm = server.rssBytes();
        }
        const elapsed = Date.now() - started;
        await sleep(SETTLE_MS);
        const expected = Array.from({ length: SOAK_CYCLES }, (_, i) => i);
        if (got.length !== SOAK_CYCLES || got.some((v, i) => v !== i)) {
          const firstBad = got.findIndex((v, i) => v !== i);
          const around = got.slice(Math.max(0, firstBad - 3), firstBad + 5);
          assert.fail(`sequence broken at index ${firstBad}: ${JSON.stringify(around)} (got ${got.length})`);
        }
        assert.deepStrictEqual(got, expected);

        // leave the socket dropped (its session stored), the sender gone, then wait for expiry
        socket.io.reconnection(false);
        socket.io.engine.close();
        await socket.inbox.next("disconnect");
        b.socket.disconnect();
        const deadline = RECOVERY_MS + PING_INTERVAL_MS + PING_TIMEOUT_MS + 3_000;
        let last;
        const until = Date.now() + deadline;
        for (;;) {
          last = await getStats(server);
          const idle = IDLE_KEYS.every((k) => last[k] === 0);
          if (idle) break;
          if (Date.now() > until) assert.fail(`/stats not idle ${deadline} ms after the last client left: ${JSON.stringify(last)}`);
          await sleep(100);
        }
        const rssAfter = server.rssBytes();
        const mib = (n) => (n / 1024 / 1024).toFixed(1);
        console.log(
          `# soak: ${SOAK_CYCLES} cycles in ${elapsed} ms; VmRSS after warmup ${mib(rssWarm)} MiB, ` +
            `after expiry ${mib(rssAfter)} MiB; /stats ${JSON.stringify(last)}`,
        );
        assert.ok(
          rssAfter <= rssWarm + SOAK_RSS_SLACK_BYTES,
          `server VmRSS grew from ${mib(rssWarm)} MiB to ${mib(rssAfter)} MiB over the soak`,
        );
      },
      timeout,
    );
  });
});
