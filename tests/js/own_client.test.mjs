// The project's own browser client (static/socket.io.js) against the Rust `interop_server`
// example, over websocket-only, polling-only and the default polling + upgrade.
//
// Run: node --test tests/js/own_client.test.mjs (INTEROP_SERVER overrides the binary path).
// A second server with RECOVERY_MS on covers connection state recovery.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { assertSameArgs, attachInbox, isBinary, recordConnects, waitFor } from "./lib/inbox.mjs";
import { WebSocketServer } from "ws";

import { loadOwnClient, WebSocket } from "./lib/own_client_loader.mjs";
import { InteropServer } from "./lib/server.mjs";

const TEST_TIMEOUT_MS = 10_000;
const UPGRADE_TIMEOUT_MS = 3_000;

const SETUPS = [
  { name: "websocket-only", transports: ["websocket"], expectTransport: "websocket" },
  { name: "polling-only", transports: ["polling"], expectTransport: "polling" },
  { name: "default (polling + upgrade)", transports: undefined, expectTransport: "websocket", upgrades: true },
];

const UNSET = { RECOVERY_MS: null, RECOVERY_MAX_BYTES: null, RECOVERY_MIDDLEWARES: null };
const server = new InteropServer(undefined, { env: UNSET });
const recoveryServer = new InteropServer(undefined, {
  env: { ...UNSET, RECOVERY_MS: 1_500, PING_INTERVAL_MS: 300, PING_TIMEOUT_MS: 300 },
});
let baseUrl;

/** One test's client world: a freshly loaded io() (own Manager cache) and the sockets it made. */
class Client {
  constructor(setup, url = baseUrl) {
    this.setup = setup;
    this.url = url;
    this.io = loadOwnClient();
    this.sockets = [];
  }

  options(extra = {}) {
    const opts = {
      WebSocket,
      reconnectionDelay: 100,
      reconnectionDelayMax: 200,
      randomizationFactor: 0,
      timeout: 5_000,
      ...extra,
    };
    if (this.setup.transports && !opts.transports) opts.transports = this.setup.transports;
    return opts;
  }

  /** io(url + nsp, opts), recording every event and the transport each (re)open started with. */
  socket(nsp = "/", extra = {}) {
    const socket = this.io(this.url + (nsp === "/" ? "" : nsp), this.options(extra));
    socket.inbox = attachInbox(socket, `${this.setup.name} ${nsp}`);
    socket.log = []; // [event, ...args] of every event, in order
    socket.onAny((...entry) => socket.log.push(entry));
    const mgr = socket.io;
    if (!mgr.openedWith) {
      mgr.openedWith = [];
      mgr.on("open", () => mgr.openedWith.push(mgr.engine.transport.name));
      recordConnects(mgr); // the payload of every CONNECT written
    }
    this.sockets.push(socket);
    return socket;
  }

  async connect(nsp = "/", extra = {}) {
    const socket = this.socket(nsp, extra);
    const welcome = await this.established(socket);
    return { socket, welcome };
  }

  /** Waits for connect and welcome, then for the upgrade where the setup expects one. */
  async established(socket) {
    const [first, args] = await socket.inbox.nextOf(["connect", "connect_error"], 5_000);
    if (first === "connect_error") throw new Error(`${socket.nsp}: connect_error ${args[0].message}`);
    socket.welcomeArgs = await socket.inbox.next("welcome");
    await this.checkTransport(socket);
    return socket.welcomeArgs[0];
  }

  async checkTransport(socket, expected = this.setup.expectTransport) {
    const mgr = socket.io;
    if (this.setup.upgrades && expected === "websocket") {
      assert.equal(mgr.openedWith.at(-1), "polling", "the default setup opens with polling");
      await waitFor(() => mgr.engine.transport.name === "websocket", UPGRADE_TIMEOUT_MS, "the upgrade to websocket");
    }
    assert.equal(mgr.engine.transport.name, expected, "transport in use");
  }

  close() {
    for (const s of this.sockets) s.disconnect();
    for (const s of this.sockets) s.io.close();
  }
}

async function echoRoundTrip(socket, args) {
  socket.emit("echo", ...args);
  const back = await socket.inbox.next("echo-back");
  assertSameArgs(back, args, "echo-back carries exactly the echoed arguments");
  return back;
}

function scenario(setup, name, fn, target = server) {
  it(name, { timeout: TEST_TIMEOUT_MS }, async () => {
    assert.ok(target.alive(), "interop server is running");
    const client = new Client(setup, target.url);
    try {
      await fn(client);
    } finally {
      client.close();
    }
  });
}

describe("static/socket.io.js against actix-socketio", () => {
  before(async () => {
    [baseUrl] = await Promise.all([server.start(), recoveryServer.start()]);
  });

  after(async () => {
    const [crashed, recoveryCrashed] = await Promise.all([server.stop(), recoveryServer.stop()]);
    assert.equal(crashed, null, `interop server exited during the tests (log: ${server.logPath})`);
    assert.equal(recoveryCrashed, null, `recovery server exited during the tests (log: ${recoveryServer.logPath})`);
  });

  for (const setup of SETUPS) {
    describe(setup.name, () => {
      scenario(setup, "connect with auth: welcome, id, connected, transport", async (c) => {
        const auth = { token: "abc", user: { name: "zoë 🦊" }, n: 42 };
        const { socket, welcome } = await c.connect("/", { auth });
        assert.ok(socket.connected && !socket.disconnected && socket.active);
        assert.equal(typeof socket.id, "string");
        assert.deepStrictEqual(welcome, { id: socket.id, nsp: "/", auth, recovered: false });
        assert.notEqual(socket.id, socket.io.engine.id, "the socket id is not the Engine.IO sid");
      });

      scenario(setup, "auth as a function, and emits before connect are buffered", async (c) => {
        const socket = c.socket("/", { auth: (cb) => cb({ token: "from-fn" }) });
        socket.emit("echo", "sent before connect", 1);
        socket.emit("echo", "second", 2);
        assert.ok(!socket.connected);
        const welcome = await c.established(socket);
        assert.deepStrictEqual(welcome.auth, { token: "from-fn" });
        assert.deepStrictEqual(await socket.inbox.next("echo-back"), ["sent before connect", 1]);
        assert.deepStrictEqual(await socket.inbox.next("echo-back"), ["second", 2]);
      });

      scenario(setup, "events both ways with several arguments, in order; send() is 'message'", async (c) => {
        const { socket } = await c.connect();
        await echoRoundTrip(socket, [1, "two", { three: [3, null, true] }, ["four"], "ünï😀 \u2028\u001e"]);
        await echoRoundTrip(socket, []);
        for (let i = 0; i < 30; i++) socket.emit("echo", i, `n${i}`);
        for (let i = 0; i < 30; i++) assert.deepStrictEqual(await socket.inbox.next("echo-back"), [i, `n${i}`]);
        const seen = [];
        socket.onAny((event, ...args) => seen.push([event, ...args]));
        await echoRoundTrip(socket, ["any"]);
        assert.deepStrictEqual(seen.at(-1), ["echo-back", "any"]);
      });

      scenario(setup, "a burst larger than maxPayload (1e6) is split, not refused", async (c) => {
        const { socket } = await c.connect();
        const chunk = "é".repeat(150_000); // 300 000 bytes of UTF-8 each
        for (let i = 0; i < 5; i++) socket.emit("echo", i, chunk);
        for (let i = 0; i < 5; i++) {
          const [n, text] = await socket.inbox.next("echo-back");
          assert.equal(n, i);
          assert.equal(text, chunk);
        }
        assert.ok(socket.connected);
      });

      scenario(setup, "acks both ways: ack-me, emitWithAck, ask → question → answer", async (c) => {
        const { socket } = await c.connect();
        const acked = await new Promise((resolve) => socket.emit("ack-me", 1, { two: 2 }, "three", (...a) => resolve(a)));
        assert.deepStrictEqual(acked, [1, { two: 2 }, "three"]);
        assert.deepStrictEqual(await socket.emitWithAck("ack-me", "first", "ignored"), "first");
        const many = await Promise.all(Array.from({ length: 10 }, (_, i) => socket.emitWithAck("ack-me", i)));
        assert.deepStrictEqual(many, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
        assert.deepStrictEqual(await socket.timeout(2_000).emitWithAck("ack-me", "in time"), "in time");

        socket.on("question", (q, ack) => ack("reply", q, { ok: true }));
        socket.emit("ask", { q: "how are you?" });
        assert.deepStrictEqual(await socket.inbox.next("answer"), ["reply", { q: "how are you?" }, { ok: true }]);
      });

      scenario(setup, "timeout(200): error when the server never acks", async (c) => {
        const { socket } = await c.connect();
        const started = Date.now();
        const [err, ...rest] = await new Promise((resolve) =>
          socket.timeout(200).emit("nothing", "x", (...a) => resolve(a)),
        );
        assert.ok(err instanceof Error, "first callback argument is an Error");
        assert.deepStrictEqual(rest, []);
        assert.ok(Date.now() - started >= 190);
        await assert.rejects(socket.timeout(200).emitWithAck("nothing"), /timed out/);
        // the flag applies to one emit only; the ack-me callback gets plain arguments again
        assert.deepStrictEqual(await new Promise((r) => socket.emit("ack-me", "plain", (...a) => r(a))), ["plain"]);
        const [okErr, value] = await new Promise((r) => socket.timeout(2_000).emit("ack-me", "v", (...a) => r(a)));
        assert.equal(okErr, null);
        assert.equal(value, "v");
      });

      scenario(setup, "binary both ways: ArrayBuffer, typed arrays, nested, Blob, in acks", async (c) => {
        const { socket } = await c.connect();
        const ab = new Uint8Array([0, 1, 2, 254, 255]).buffer;
        const u8 = new Uint8Array([10, 11, 12, 13, 14, 15]).subarray(1, 4);
        const f32 = new Float32Array([1.5, -2.25]);
        const dv = new DataView(new Uint8Array([7, 8, 9]).buffer);
        const nested = { file: { name: "a.bin", data: new Uint8Array([0xde, 0xad]) }, list: [ab, [u8]] };
        const back = await echoRoundTrip(socket, [ab, "between", u8, f32, dv, nested, new ArrayBuffer(0)]);
        assert.ok(back[0] instanceof ArrayBuffer, "incoming binary is an ArrayBuffer");
        assert.ok(back[5].list[1][0] instanceof ArrayBuffer && back[5].file.data instanceof ArrayBuffer);
        assert.equal(back[6].byteLength, 0);

        const blob = new Blob([new Uint8Array([1, 2, 3]), "blob text"]);
        const blobBack = await echoRoundTrip(socket, [{ blob: new Uint8Array(await blob.arrayBuffer()) }]);
        socket.emit("echo", { blob }, "after blob");
        socket.emit("echo", "ordered after the blob");
        assertSameArgs(await socket.inbox.next("echo-back"), [blobBack[0], "after blob"]);
        assert.deepStrictEqual(await socket.inbox.next("echo-back"), ["ordered after the blob"]);

        const big = new Uint8Array(300_000).map((_, i) => (i * 31) & 0xff);
        assertSameArgs(await echoRoundTrip(socket, [big]), [big]);

        const acked = await new Promise((r) => socket.emit("ack-me", { bin: u8 }, ab, (...a) => r(a)));
        assert.ok(isBinary(acked[1]));
        assertSameArgs(acked, [{ bin: u8 }, ab]);

        socket.on("question", (q, ack) => ack({ echoed: q, extra: new Uint8Array([42]) }));
        socket.emit("ask", new Uint8Array([5, 6]));
        const [answer] = await socket.inbox.next("answer");
        assertSameArgs(answer, { echoed: new Uint8Array([5, 6]), extra: new Uint8Array([42]) });
        assert.ok(answer.extra instanceof ArrayBuffer);
      });

      scenario(setup, "two namespaces share one connection", async (c) => {
        const root = c.socket("/");
        const admin = c.socket("/admin", { auth: { token: "secret" } });
        assert.equal(root.io, admin.io, "both sockets share one Manager");
        const rootWelcome = await c.established(root);
        const adminWelcome = await c.established(admin);
        assert.deepStrictEqual(rootWelcome, { id: root.id, nsp: "/", auth: {}, recovered: false });
        assert.deepStrictEqual(adminWelcome, { id: admin.id, nsp: "/admin", auth: { token: "secret" }, recovered: false });
        const engineId = root.io.engine.id;

        root.emit("echo", "for root");
        admin.emit("echo", "for admin", new Uint8Array([2]));
        assert.deepStrictEqual(await root.inbox.next("echo-back"), ["for root"]);
        assertSameArgs(await admin.inbox.next("echo-back"), ["for admin", new Uint8Array([2])]);
        await root.inbox.none("echo-back", 100);

        // the client leaving /admin keeps / and the Engine.IO session
        admin.disconnect();
        assert.equal((await admin.inbox.next("disconnect"))[0], "io client disconnect");
        await echoRoundTrip(root, ["root still works"]);
        assert.equal(root.io.engine.id, engineId);

        // forceNew gives a separate connection
        const other = c.socket("/", { forceNew: true });
        await c.established(other);
        assert.notEqual(other.io, root.io);
        assert.notEqual(other.io.engine.id, engineId);
      });

      scenario(setup, "connect_error from /admin carries message and data", async (c) => {
        const socket = c.socket("/admin", { auth: { token: "wrong" } });
        const [err] = await socket.inbox.next("connect_error");
        assert.ok(err instanceof Error);
        assert.equal(err.message, "unauthorized");
        assert.deepStrictEqual(err.data, { reason: "bad token" });
        assert.ok(!socket.connected && !socket.active);
        await socket.inbox.none("connect", 200);

        const unknown = c.socket("/does-not-exist");
        const [err2] = await unknown.inbox.next("connect_error");
        assert.equal(err2.message, "Invalid namespace");
      });

      scenario(setup, "drop-transport: 'transport close', reconnect, connect again, events work", async (c) => {
        const root = c.socket("/", { auth: { token: "keep" } });
        const admin = c.socket("/admin", { auth: { token: "secret" } });
        await c.established(root);
        await c.established(admin);
        const firstId = root.id;
        let reconnects = 0;
        root.io.on("reconnect", () => reconnects++);
        root.emit("drop-transport");
        assert.equal((await root.inbox.next("disconnect"))[0], "transport close");
        assert.equal((await admin.inbox.next("disconnect"))[0], "transport close");
        assert.ok(root.active, "the socket plans to reconnect");

        await root.inbox.next("connect", 5_000);
        await admin.inbox.next("connect", 5_000);
        const [again] = await root.inbox.next("welcome");
        assert.deepStrictEqual(again, { id: root.id, nsp: "/", auth: { token: "keep" }, recovered: false });
        assert.notEqual(root.id, firstId);
        assert.equal(reconnects, 1);
        await c.checkTransport(root);
        await echoRoundTrip(root, ["after reconnect", new Uint8Array([42])]);
        await echoRoundTrip(admin, ["admin after reconnect"]);
      });

      scenario(setup, "disconnect-me: 'io server disconnect', no reconnect", async (c) => {
        const { socket } = await c.connect();
        let attempts = 0;
        socket.io.on("reconnect_attempt", () => attempts++);
        socket.emit("disconnect-me");
        assert.equal((await socket.inbox.next("disconnect"))[0], "io server disconnect");
        await socket.inbox.none("connect", 500);
        assert.equal(attempts, 0);
        assert.ok(!socket.connected && !socket.active);

        // connect() brings it back explicitly
        socket.connect();
        await socket.inbox.next("connect");
        await socket.inbox.next("welcome");
        await echoRoundTrip(socket, ["back"]);
      });
    });
  }

  describe("connection state recovery", () => {
    const withoutOffset = (entry, what) => {
      assert.equal(typeof entry.at(-1), "string", `${what}: the offset is the last argument of ${JSON.stringify(entry)}`);
      return entry.slice(0, -1);
    };
    const ack = (socket, ...args) => socket.timeout(3_000).emitWithAck(...args);
    let rooms = 0;
    const uniqueRoom = () => `own-${++rooms}-${Math.random().toString(36).slice(2, 8)}`;

    /** A websocket client on its own connection that sends while the socket under test is away. */
    async function sender(c) {
      const socket = c.socket("/", { forceNew: true, transports: ["websocket"] });
      await socket.inbox.nextOf(["connect"], 5_000);
      await socket.inbox.next("welcome");
      return socket;
    }

    /** The server closes the connection (recoverable); resolves once the server is surely done. */
    async function drop(socket) {
      socket.emit("drop-transport");
      assert.equal((await socket.inbox.next("disconnect"))[0], "transport close");
      assert.ok(socket.active, "still active after a lost connection");
      await new Promise((r) => setTimeout(r, 100));
    }

    for (const setup of SETUPS) {
      describe(setup.name, () => {
        scenario(
          setup,
          "pid kept; after a drop the same id, rooms and data, the missed packets once and in order",
          async (c) => {
            const auth = { token: "own" };
            const socket = c.socket("/", { auth, reconnection: false });
            const welcome = await c.established(socket);
            assert.deepStrictEqual(welcome, { id: socket.id, nsp: "/", auth, recovered: false });
            assert.equal(typeof socket._pid, "string", "pid from the CONNECT answer");
            assert.equal(socket.recovered, false);
            withoutOffset(socket.welcomeArgs, "welcome");
            assert.equal(socket._lastOffset, socket.welcomeArgs.at(-1), "the welcome's offset is kept");
            assert.deepStrictEqual(socket.io.connects, [{ nsp: "/", data: auth }]);
            const room = uniqueRoom();
            assert.equal(await ack(socket, "join-room", room), true);
            assert.equal(await ack(socket, "set-data", { n: 1 }), true);
            const b = await sender(c);
            assert.equal(await ack(b, "join-room", room), true);
            const [id, pid] = [socket.id, socket._pid];

            await drop(socket);
            const offset = socket._lastOffset;
            b.emit("to-room", room, 1);
            b.emit("to-room", room, 2);
            b.emit("to-all", 3);
            await b.inbox.next("room-msg");
            await b.inbox.next("room-msg");
            await b.inbox.next("all-msg");
            const mark = socket.log.length;
            socket.connect();
            await socket.inbox.next("connect", 5_000);
            const [again] = await socket.inbox.next("welcome");
            await c.checkTransport(socket);
            const claim = { nsp: "/", data: { pid, offset, ...auth } };
            assert.deepStrictEqual(socket.io.connects.at(-1), claim, "CONNECT {pid, offset, ...auth}");
            assert.equal(socket.id, id, "same id");
            assert.equal(socket._pid, pid);
            assert.equal(socket.recovered, true);
            assert.deepStrictEqual(again, { id, nsp: "/", auth, recovered: true });
            await new Promise((r) => setTimeout(r, 200));
            const missed = socket.log
              .slice(mark)
              .filter((e) => e[0] === "room-msg" || e[0] === "all-msg")
              .map((e) => withoutOffset(e, "missed"));
            assert.deepStrictEqual(missed, [
              ["room-msg", 1],
              ["room-msg", 2],
              ["all-msg", 3],
            ]);
            assert.notEqual(socket._lastOffset, offset, "the offset moved on with the replay");
            assert.deepStrictEqual(await ack(socket, "whoami"), { id, rooms: [id, room].sort(), data: { n: 1 }, recovered: true });

            // and again: only what came after the first recovery
            await drop(socket);
            b.emit("to-room", room, 4);
            await b.inbox.next("room-msg");
            const mark2 = socket.log.length;
            socket.connect();
            await socket.inbox.next("connect", 5_000);
            await socket.inbox.next("welcome");
            assert.equal(socket.id, id);
            assert.equal(socket.recovered, true);
            await new Promise((r) => setTimeout(r, 200));
            assert.deepStrictEqual(
              socket.log.slice(mark2).filter((e) => e[0] === "room-msg").map((e) => withoutOffset(e, "second gap")),
              [["room-msg", 4]],
            );
          },
          recoveryServer,
        );

        scenario(
          setup,
          "socket.disconnect() then connect(): a fresh socket although the pid is sent",
          async (c) => {
            const socket = c.socket("/", { reconnection: false });
            await c.established(socket);
            const room = uniqueRoom();
            await ack(socket, "join-room", room);
            const [id, pid, offset] = [socket.id, socket._pid, socket._lastOffset];
            socket.disconnect();
            assert.equal((await socket.inbox.next("disconnect"))[0], "io client disconnect");
            socket.connect();
            const welcome = await c.established(socket);
            assert.deepStrictEqual(socket.io.connects.at(-1).data, { pid, offset });
            assert.notEqual(socket.id, id);
            assert.equal(socket.recovered, false);
            assert.equal(welcome.recovered, false);
            assert.deepStrictEqual(welcome.auth, {}, "the app does not see pid/offset");
            assert.notEqual(socket._pid, pid, "a new pid");
            assert.deepStrictEqual((await ack(socket, "whoami")).rooms, [socket.id]);
          },
          recoveryServer,
        );

        scenario(setup, "recovery off: no pid, no offsets, a reconnect is fresh", async (c) => {
          const auth = { token: "off" };
          const socket = c.socket("/", { auth });
          await c.established(socket);
          assert.equal(socket.welcomeArgs.length, 1, "welcome without an offset");
          assert.equal(socket._pid, undefined);
          assert.equal(socket._lastOffset, undefined);
          assert.equal(socket.recovered, false);
          await echoRoundTrip(socket, ["exact", "args"]);
          const id = socket.id;
          socket.emit("drop-transport");
          await socket.inbox.next("disconnect");
          await socket.inbox.next("connect", 5_000);
          await socket.inbox.next("welcome");
          assert.notEqual(socket.id, id);
          assert.equal(socket.recovered, false);
          assert.deepStrictEqual(socket.io.connects.at(-1).data, auth, "no pid on the wire");
        });
      });
    }

    const scripted = "against a scripted server: events before the CONNECT answer wait for it; pid and offset go back";
    it(scripted, { timeout: TEST_TIMEOUT_MS }, async () => {
      const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
      await new Promise((r) => wss.once("listening", r));
      const connects = [];
      wss.on("connection", (ws) => {
        ws.send('0{"sid":"e","upgrades":[],"pingInterval":10000,"pingTimeout":5000,"maxPayload":1000000}');
        ws.on("message", (data) => {
          const text = data.toString();
          if (!text.startsWith("40")) return;
          connects.push(JSON.parse(text.slice(2)));
          if (connects.length === 1) {
            ws.send('42["early","before the answer","o-1"]');
            ws.send('40{"sid":"s1","pid":"p1"}');
            ws.send('42["m","x","o-2"]');
            ws.send('421["acked","y"]'); // asks for an ack: its last argument is the reply function
            setTimeout(() => ws.close(), 50);
          } else if (connects.length === 2) {
            ws.send('40{"sid":"s1","pid":"p1"}');
            ws.send('42["m","z","o-3"]');
            setTimeout(() => ws.close(), 50);
          } else {
            ws.send('40{"sid":"s2","pid":"p2"}'); // the server did not recover this time
          }
        });
      });
      const io = loadOwnClient();
      const socket = io(`http://127.0.0.1:${wss.address().port}`, {
        WebSocket,
        transports: ["websocket"],
        auth: { a: 1 },
        reconnectionDelay: 20,
        reconnectionDelayMax: 20,
        randomizationFactor: 0,
      });
      const log = [];
      socket.onAny((...entry) => log.push([...entry.filter((x) => typeof x !== "function"), socket.connected]));
      socket.on("connect", () => log.push(["#connect", socket.id, socket.recovered]));
      try {
        await waitFor(() => connects.length >= 3 && socket.connected && socket.id === "s2", 5_000, "three connections");
        assert.deepStrictEqual(connects, [{ a: 1 }, { pid: "p1", offset: "o-2", a: 1 }, { pid: "p1", offset: "o-3", a: 1 }]);
        assert.deepStrictEqual(log, [
          ["early", "before the answer", "o-1", true], // held, then dispatched once connected
          ["#connect", "s1", false],
          ["m", "x", "o-2", true],
          ["acked", "y", true],
          ["#connect", "s1", true],
          ["m", "z", "o-3", true],
          ["#connect", "s2", false],
        ]);
        assert.equal(socket._pid, "p2");
      } finally {
        socket.disconnect();
        for (const ws of wss.clients) ws.terminate();
        await new Promise((r) => wss.close(r));
      }
    });
  });

  describe("default transports with WebSocket blocked: stays on polling", () => {
    class ThrowingWebSocket {
      constructor() {
        throw new Error("WebSocket blocked by a proxy");
      }
    }
    // Connects to a loopback port that refuses, so the probe fails asynchronously.
    class RefusedWebSocket extends WebSocket {
      constructor(url) {
        super(url.replace(/:\d+\//, ":1/"));
      }
    }
    const polling = { name: "ws blocked", transports: undefined, expectTransport: "polling" };

    for (const [label, Impl] of [
      ["constructor throws", ThrowingWebSocket],
      ["connection refused", RefusedWebSocket],
    ]) {
      scenario(polling, label, async (c) => {
        const socket = c.socket("/", { WebSocket: Impl });
        await c.established(socket);
        await new Promise((r) => setTimeout(r, 300));
        assert.equal(socket.io.engine.transport.name, "polling");
        await echoRoundTrip(socket, ["still over polling", new Uint8Array([1, 2])]);
        assert.deepStrictEqual(await socket.emitWithAck("ack-me", "ok"), "ok");
      });
    }
  });

  describe("against a scripted Engine.IO server (heartbeat, malformed packets)", () => {
    // A WebSocket-only fake that hands out a short heartbeat; `behave(ws, n)` scripts the rest.
    async function fakeServer(behave) {
      const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
      await new Promise((r) => wss.once("listening", r));
      let connections = 0;
      wss.on("connection", (ws) => {
        const n = ++connections;
        ws.send(`0{"sid":"fake${n}","upgrades":[],"pingInterval":150,"pingTimeout":100,"maxPayload":1000000}`);
        ws.on("message", (data) => {
          if (data.toString() === "40") ws.send(`40{"sid":"socket${n}"}`);
        });
        behave(ws, n);
      });
      return {
        url: `http://127.0.0.1:${wss.address().port}`,
        connections: () => connections,
        close: () => {
          for (const ws of wss.clients) ws.terminate();
          return new Promise((r) => wss.close(r));
        },
      };
    }

    function fakeScenario(name, behave, fn) {
      it(name, { timeout: TEST_TIMEOUT_MS }, async () => {
        const fake = await fakeServer(behave);
        const io = loadOwnClient();
        const socket = io(fake.url, {
          WebSocket,
          transports: ["websocket"],
          reconnectionDelay: 50,
          reconnectionDelayMax: 50,
          randomizationFactor: 0,
        });
        socket.inbox = attachInbox(socket, name);
        try {
          await fn(socket, fake);
        } finally {
          socket.disconnect();
          await fake.close();
        }
      });
    }

    const pings = [];
    fakeScenario(
      "answers pings with pongs and stays connected",
      (ws) => {
        const timer = setInterval(() => ws.send("2"), 100);
        ws.on("close", () => clearInterval(timer));
        ws.on("message", (data) => pings.push(data.toString()));
      },
      async (socket) => {
        await socket.inbox.next("connect");
        await socket.inbox.none("disconnect", 700); // > 2 × (pingInterval + pingTimeout)
        assert.ok(pings.filter((p) => p === "3").length >= 4, `pongs: ${JSON.stringify(pings)}`);
        assert.ok(socket.connected);
      },
    );

    fakeScenario(
      "no ping within pingInterval + pingTimeout: 'ping timeout', then reconnect",
      () => {},
      async (socket, fake) => {
        await socket.inbox.next("connect");
        const started = Date.now();
        assert.equal((await socket.inbox.next("disconnect"))[0], "ping timeout");
        assert.ok(Date.now() - started >= 200, "not before pingInterval + pingTimeout");
        await socket.inbox.next("connect");
        assert.equal(fake.connections(), 2);
        assert.equal(socket.id, "socket2");
      },
    );

    fakeScenario(
      "a malformed packet: 'parse error', then reconnect",
      (ws, n) => {
        ws.on("message", (data) => {
          if (data.toString() === "40" && n === 1) ws.send('42{"not":"an array"}');
        });
      },
      async (socket) => {
        await socket.inbox.next("connect");
        assert.equal((await socket.inbox.next("disconnect"))[0], "parse error");
        await socket.inbox.next("connect");
        assert.equal(socket.id, "socket2");
      },
    );
  });

  describe("lifecycle without a server", () => {
    scenario(SETUPS[0], "connect_error then reconnect attempts; reserved names throw", async (c) => {
      const io = c.io;
      const socket = io("http://127.0.0.1:1", {
        WebSocket,
        transports: ["websocket"],
        reconnectionDelay: 50,
        reconnectionDelayMax: 50,
        reconnectionAttempts: 2,
      });
      c.sockets.push(socket);
      const errors = [];
      socket.on("connect_error", (e) => errors.push(e));
      const failed = new Promise((r) => socket.io.on("reconnect_failed", r));
      await failed;
      assert.equal(errors.length, 3, "initial attempt + 2 reconnection attempts");
      assert.throws(() => socket.emit("connect"), /reserved/);
    });
  });
});
