// The project's own browser client (static/socket.io.js) against the Rust `interop_server`
// example, over websocket-only, polling-only and the default polling + upgrade.
//
// Run: node --test tests/js/own_client.test.mjs (INTEROP_SERVER overrides the binary path).

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { assertSameArgs, attachInbox, isBinary, waitFor } from "./lib/inbox.mjs";
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

const server = new InteropServer();
let baseUrl;

/** One test's client world: a freshly loaded io() (own Manager cache) and the sockets it made. */
class Client {
  constructor(setup) {
    this.setup = setup;
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
    const socket = this.io(baseUrl + (nsp === "/" ? "" : nsp), this.options(extra));
    socket.inbox = attachInbox(socket, `${this.setup.name} ${nsp}`);
    const mgr = socket.io;
    if (!mgr.openedWith) {
      mgr.openedWith = [];
      mgr.on("open", () => mgr.openedWith.push(mgr.engine.transport.name));
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
    const [welcome] = await socket.inbox.next("welcome");
    await this.checkTransport(socket);
    return welcome;
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

function scenario(setup, name, fn) {
  it(name, { timeout: TEST_TIMEOUT_MS }, async () => {
    assert.ok(server.alive(), "interop server is running");
    const client = new Client(setup);
    try {
      await fn(client);
    } finally {
      client.close();
    }
  });
}

describe("static/socket.io.js against actix-socketio", () => {
  before(async () => {
    baseUrl = await server.start();
  });

  after(async () => {
    const crashed = await server.stop();
    assert.equal(crashed, null, `interop server exited during the tests (log: ${server.logPath})`);
  });

  for (const setup of SETUPS) {
    describe(setup.name, () => {
      scenario(setup, "connect with auth: welcome, id, connected, transport", async (c) => {
        const auth = { token: "abc", user: { name: "zoë 🦊" }, n: 42 };
        const { socket, welcome } = await c.connect("/", { auth });
        assert.ok(socket.connected && !socket.disconnected && socket.active);
        assert.equal(typeof socket.id, "string");
        assert.deepStrictEqual(welcome, { id: socket.id, nsp: "/", auth });
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
        assert.deepStrictEqual(rootWelcome, { id: root.id, nsp: "/", auth: {} });
        assert.deepStrictEqual(adminWelcome, { id: admin.id, nsp: "/admin", auth: { token: "secret" } });
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
        assert.deepStrictEqual(again, { id: root.id, nsp: "/", auth: { token: "keep" } });
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
