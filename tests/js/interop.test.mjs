// Interop tests: the official socket.io-client (pinned in package.json)
// against the Rust `interop_server` example, over three transport setups.
//
// Run: INTEROP_SERVER=target/debug/examples/interop_server node --test tests/js/
// (the Makefile's `test-js` target does this). `PARSER=msgpack` runs the same suite with
// socket.io-msgpack-parser on every client and the server started with PARSER=msgpack.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Manager } from "socket.io-client";
import msgpackParser from "socket.io-msgpack-parser";

import { assertSameArgs, attachInbox, isBinary, waitFor } from "./lib/inbox.mjs";
import { InteropServer } from "./lib/server.mjs";

const TEST_TIMEOUT_MS = 15_000;
const UPGRADE_TIMEOUT_MS = 3_000;
const SERVER_ACK_TIMEOUT_MS = 2_000; // the server's emit_with_ack timeout for `question`

const SETUPS = [
  { name: "websocket-only", transports: ["websocket"], expectTransport: "websocket" },
  { name: "polling-only", transports: ["polling"], expectTransport: "polling" },
  { name: "default (polling + upgrade)", transports: undefined, expectTransport: "websocket", upgrades: true },
];

// The wire format under test: socket.io's default (JSON) or socket.io-msgpack-parser.
const MSGPACK = process.env.PARSER === "msgpack";
const PARSER_NAME = MSGPACK ? "msgpack" : "JSON";

// notepack.io (the msgpack parser's encoder) writes an integral number past 2^64 as a uint64 of
// garbage (1.5e300 leaves the client as 0), so with msgpack the huge number of the list is the
// largest non-integral double instead, which travels as float64.
const HUGE = MSGPACK ? 4503599627370495.5 : 1.5e300;

// Values that must survive a JSON (or msgpack) round trip unchanged.
const JSON_ARGS = [
  0,
  -1,
  42,
  3.14159,
  1e-7,
  HUGE,
  Number.MAX_SAFE_INTEGER,
  -Number.MAX_SAFE_INTEGER,
  "",
  "plain ascii",
  "unicode: héllo wörld, ñ, ß, Ελληνικά, русский, 日本語, 한국어, עברית, العربية",
  "emoji: 😀🎉👍🏽👨‍👩‍👧‍👦🏳️‍🌈 and astral 𝄞",
  'escapes: "quoted" \\ back\\slash / slash\ttab\nnewline\r\u0001\u001e\u007f\u2028\u2029',
  true,
  false,
  null,
  [],
  {},
  [1, "two", [3, [4, [5]]], { six: 6 }, null],
  { nested: { deeper: { deepest: [1, { x: null, y: "ÿ", z: [true, false] }] } }, "key with spaces": 1, "ключ": "значение", "🔑": "🗝️" },
];

const server = new InteropServer(undefined, { env: { PARSER: MSGPACK ? "msgpack" : null } });
let baseUrl;

class Session {
  constructor(setup) {
    this.setup = setup;
    this.sockets = [];
  }

  managerOptions(extra = {}) {
    const opts = {
      forceNew: true,
      reconnectionDelay: 100,
      reconnectionDelayMax: 200,
      randomizationFactor: 0,
      reconnectionAttempts: 20,
      timeout: 5_000,
      ...(MSGPACK ? { parser: msgpackParser } : {}),
      ...extra,
    };
    if (this.setup.transports) opts.transports = this.setup.transports;
    return opts;
  }

  /** A fresh Manager (one Engine.IO connection) for this setup. */
  manager(extra) {
    const mgr = new Manager(baseUrl, this.managerOptions(extra));
    mgr.firstTransports = [];
    mgr.on("open", () => mgr.firstTransports.push(mgr.engine.transport.name));
    return mgr;
  }

  /** Creates a socket for `nsp` on `mgr` and records all its events. */
  socket(mgr, nsp, auth) {
    const socket = mgr.socket(nsp, auth === undefined ? {} : { auth });
    socket.inbox = attachInbox(socket, `${this.setup.name} ${nsp}`);
    this.sockets.push(socket);
    return socket;
  }

  /** Connects to `nsp`, waits for `connect` and `welcome`, and for the upgrade in the default setup. */
  async connect(nsp = "/", auth = undefined, mgr = this.manager()) {
    const socket = this.socket(mgr, nsp, auth);
    const welcome = await this.established(socket);
    return { mgr, socket, welcome };
  }

  async established(socket) {
    const [first, args] = await socket.inbox.nextOf(["connect", "connect_error"], 5_000);
    if (first === "connect_error") {
      throw new Error(`${socket.nsp}: connect_error ${args[0].message} ${JSON.stringify(args[0].data)}`);
    }
    const welcomeArgs = await socket.inbox.next("welcome");
    assert.equal(welcomeArgs.length, 1, "welcome carries exactly one argument");
    await this.checkTransport(socket.io);
    return welcomeArgs[0];
  }

  async checkTransport(mgr) {
    if (this.setup.upgrades) {
      assert.equal(mgr.firstTransports.at(-1), "polling", "the default setup opens with polling");
      await waitFor(
        () => mgr.engine && mgr.engine.transport.name === "websocket",
        UPGRADE_TIMEOUT_MS,
        "the upgrade from polling to websocket",
      );
    }
    assert.equal(mgr.engine.transport.name, this.setup.expectTransport, "transport in use");
  }

  close() {
    for (const s of this.sockets) s.disconnect();
    this.sockets = [];
  }
}

/** Emits `event` with `args` and an ack callback; resolves with the ack's argument list. */
function emitWithAckArgs(socket, event, args, ms = 3_000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ack for "${event}" within ${ms} ms`)), ms);
    socket.emit(event, ...args, (...ackArgs) => {
      clearTimeout(timer);
      resolve(ackArgs);
    });
  });
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
    const session = new Session(setup);
    try {
      await fn(session);
    } finally {
      session.close();
    }
  });
}

describe(`actix-socketio interop with socket.io-client (${PARSER_NAME} parser)`, () => {
  before(async () => {
    baseUrl = await server.start();
    console.log(`# interop server ${server.path} at ${baseUrl}; stderr log: ${server.logPath}`);
  });

  after(async () => {
    const crashed = await server.stop();
    assert.equal(crashed, null, `interop server exited during the tests: ${JSON.stringify(crashed)} (log: ${server.logPath})`);
  });

  for (const setup of SETUPS) {
    describe(setup.name, () => {
      scenario(setup, "connect with auth: welcome has the socket id, namespace and auth", async (s) => {
        const auth = { token: "abc", user: { name: "zoë 🦊", roles: ["a", "b"] }, n: 42, ok: true, none: null };
        const { socket, welcome } = await s.connect("/", auth);
        assert.ok(socket.connected);
        assert.equal(typeof socket.id, "string");
        assert.ok(socket.id.length > 0);
        assert.deepStrictEqual(welcome, { id: socket.id, nsp: "/", auth, recovered: false });
      });

      scenario(setup, "connect without auth: welcome.auth is {}", async (s) => {
        const { socket, welcome } = await s.connect("/");
        assert.deepStrictEqual(welcome, { id: socket.id, nsp: "/", auth: {}, recovered: false });
      });

      scenario(setup, "two clients get distinct socket ids", async (s) => {
        const a = await s.connect("/");
        const b = await s.connect("/");
        assert.notEqual(a.socket.id, b.socket.id);
        assert.notEqual(a.mgr.engine.id, b.mgr.engine.id);
      });

      scenario(setup, "events both ways with many JSON arguments", async (s) => {
        const { socket } = await s.connect("/");
        await echoRoundTrip(socket, JSON_ARGS);
        await echoRoundTrip(socket, []);
        await echoRoundTrip(socket, [null]);
        await echoRoundTrip(socket, ["single"]);
        await echoRoundTrip(socket, [{ only: "object" }]);
        await echoRoundTrip(socket, [[1, 2, 3]]);
        for (const v of JSON_ARGS) await echoRoundTrip(socket, [v]);
      });

      scenario(setup, "a burst of events arrives complete and in order", async (s) => {
        const { socket } = await s.connect("/");
        const n = 50;
        for (let i = 0; i < n; i++) socket.emit("echo", i, `msg ${i} 🚀`);
        for (let i = 0; i < n; i++) {
          const back = await socket.inbox.next("echo-back");
          assert.deepStrictEqual(back, [i, `msg ${i} 🚀`]);
        }
      });

      scenario(setup, "large payloads (200 KB string, 256 KiB binary)", async (s) => {
        const { socket } = await s.connect("/");
        const big = "x😀y".repeat(50_000);
        const blob = Buffer.alloc(256 * 1024);
        for (let i = 0; i < blob.length; i++) blob[i] = (i * 31 + 7) & 0xff;
        await echoRoundTrip(socket, [big, { blob }]);
      });

      scenario(setup, "ack-me: the server acks with exactly the same arguments", async (s) => {
        const { socket } = await s.connect("/");
        assertSameArgs(await emitWithAckArgs(socket, "ack-me", JSON_ARGS), JSON_ARGS);
        assert.deepStrictEqual(await emitWithAckArgs(socket, "ack-me", []), []);
        assert.deepStrictEqual(await emitWithAckArgs(socket, "ack-me", ["one"]), ["one"]);
        const bin = [Buffer.from([1, 2, 3]), { nested: [Buffer.from("ünï", "utf8")] }, "text"];
        const acked = await emitWithAckArgs(socket, "ack-me", bin);
        assert.ok(isBinary(acked[0]), "binary ack argument arrives as binary");
        assertSameArgs(acked, bin);
        // several acks in flight at once are matched by id
        const inFlight = await Promise.all(
          Array.from({ length: 10 }, (_, i) => emitWithAckArgs(socket, "ack-me", [i, `n${i}`])),
        );
        inFlight.forEach((args, i) => assert.deepStrictEqual(args, [i, `n${i}`]));
      });

      scenario(setup, "ask: the server's question is acked by the client and answered", async (s) => {
        const { socket } = await s.connect("/");
        socket.on("question", (...args) => {
          const ack = args.pop();
          assert.equal(typeof ack, "function", "question asks for an ack");
          ack("reply", ...args, { n: 1, emoji: "✅" }, null);
        });
        const x = { q: "how are you?", list: [1, 2, 3], u: "ünï😀" };
        socket.emit("ask", x);
        const question = await socket.inbox.next("question");
        assert.equal(question.length, 2, "question carries X plus the ack callback");
        assert.deepStrictEqual(question[0], x);
        const answer = await socket.inbox.next("answer");
        assert.deepStrictEqual(answer, ["reply", x, { n: 1, emoji: "✅" }, null]);

        // binary both in the question and in the client's ack
        const bx = { bytes: Buffer.from([0, 255, 128]) };
        socket.emit("ask", bx);
        const bq = await socket.inbox.next("question");
        assertSameArgs(bq.slice(0, 1), [bx]);
        const banswer = await socket.inbox.next("answer");
        assert.ok(isBinary(banswer[1].bytes), "binary in the client's ack comes back as binary");
        assertSameArgs(banswer, ["reply", bx, { n: 1, emoji: "✅" }, null]);
        assert.equal(socket.inbox.pending("answer-error"), 0);
      });

      scenario(setup, "ask without ack: answer-error after the 2 s timeout, a late ack is ignored", async (s) => {
        const { socket } = await s.connect("/");
        let heldAck = null;
        socket.on("question", (...args) => {
          heldAck = args.pop(); // never called before the server's timeout
        });
        const started = Date.now();
        socket.emit("ask", "no answer");
        const question = await socket.inbox.next("question");
        assert.deepStrictEqual(question[0], "no answer");
        const err = await socket.inbox.next("answer-error", SERVER_ACK_TIMEOUT_MS + 2_000);
        const elapsed = Date.now() - started;
        assert.equal(err.length, 1, "answer-error has one argument");
        assert.equal(typeof err[0], "string", "answer-error's argument is a string");
        assert.ok(elapsed >= SERVER_ACK_TIMEOUT_MS - 200, `answer-error came after ${elapsed} ms, before the 2 s timeout`);
        assert.equal(socket.inbox.pending("answer"), 0);

        assert.equal(typeof heldAck, "function");
        heldAck("too late");
        await socket.inbox.none("answer", 300);
        assert.ok(socket.connected, "a late ack does not break the connection");
        await echoRoundTrip(socket, ["still alive"]);
      });

      scenario(setup, "binary both ways", async (s) => {
        const { socket } = await s.connect("/");
        const top = Buffer.from("top-level binary ✓", "utf8");
        let back = await echoRoundTrip(socket, [top]);
        assert.ok(isBinary(back[0]), "top-level Buffer comes back as binary");

        const several = [Buffer.from([1]), "between", Buffer.from([2, 2]), 7, Buffer.from([3, 3, 3])];
        back = await echoRoundTrip(socket, several);
        assert.ok(isBinary(back[0]) && isBinary(back[2]) && isBinary(back[4]));

        const nested = [
          { file: { name: "a.bin", data: Buffer.from([0xde, 0xad, 0xbe, 0xef]) }, tags: ["x"] },
          [Buffer.from([9]), [Buffer.from([10, 11]), { deep: Buffer.from([12]) }]],
        ];
        back = await echoRoundTrip(socket, nested);
        assert.ok(isBinary(back[0].file.data) && isBinary(back[1][1][1].deep));

        back = await echoRoundTrip(socket, [Buffer.alloc(0), { empty: Buffer.alloc(0) }]);
        assert.ok(isBinary(back[0]), "empty Buffer comes back as binary");
        assert.equal(back[0].byteLength, 0);

        const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
        const ab = new Uint8Array([5, 6, 7, 8]).buffer;
        const view = new Uint8Array([100, 101, 102, 103, 104]).subarray(1, 4);
        if (MSGPACK) {
          // notepack.io writes a typed array view as its whole underlying ArrayBuffer (an ext
          // of type 0), so all five bytes travel and come back.
          socket.emit("echo", all, ab, view, { mixed: [1, "a", null, all] });
          back = await socket.inbox.next("echo-back");
          assertSameArgs(back, [all, ab, new Uint8Array(view.buffer), { mixed: [1, "a", null, all] }]);
        } else {
          back = await echoRoundTrip(socket, [all, ab, view, { mixed: [1, "a", null, all] }]);
        }
        assert.ok(isBinary(back[1]) && isBinary(back[2]));

        // a JSON object that merely looks like a placeholder must stay JSON
        await echoRoundTrip(socket, [{ _placeholder: false, num: 0 }, Buffer.from([1])]);
      });

      scenario(setup, "two namespaces multiplexed on one connection", async (s) => {
        const mgr = s.manager();
        const root = s.socket(mgr, "/");
        const admin = s.socket(mgr, "/admin", { token: "secret" });
        assert.equal(root.io, admin.io, "both sockets share one Manager");
        const rootWelcome = await s.established(root);
        const adminWelcome = await s.established(admin);
        assert.deepStrictEqual(rootWelcome, { id: root.id, nsp: "/", auth: {}, recovered: false });
        assert.deepStrictEqual(adminWelcome, { id: admin.id, nsp: "/admin", auth: { token: "secret" }, recovered: false });
        assert.notEqual(root.id, admin.id, "each namespace gets its own socket id");
        const engineId = mgr.engine.id;

        root.emit("echo", "for root", 1);
        admin.emit("echo", "for admin", Buffer.from([2]));
        assertSameArgs(await root.inbox.next("echo-back"), ["for root", 1]);
        assertSameArgs(await admin.inbox.next("echo-back"), ["for admin", Buffer.from([2])]);
        assert.deepStrictEqual(await emitWithAckArgs(admin, "ack-me", ["admin ack"]), ["admin ack"]);
        assert.deepStrictEqual(await emitWithAckArgs(root, "ack-me", ["root ack"]), ["root ack"]);
        await Promise.all([root.inbox.none("echo-back", 200), admin.inbox.none("echo-back", 200)]);

        // server-side disconnect of /admin leaves / (and the Engine.IO connection) alone
        admin.emit("disconnect-me");
        assert.equal((await admin.inbox.next("disconnect"))[0], "io server disconnect");
        await echoRoundTrip(root, ["root still works"]);
        assert.ok(root.connected);
        assert.equal(mgr.engine.id, engineId, "the Engine.IO session survived");
        await admin.inbox.none("connect", 300);
      });

      scenario(setup, "/admin refuses a wrong token", async (s) => {
        const socket = s.socket(s.manager(), "/admin", { token: "wrong" });
        const [err] = await socket.inbox.next("connect_error");
        assert.equal(err.message, "unauthorized");
        assert.deepStrictEqual(err.data, { reason: "bad token" });
        assert.ok(!socket.connected);
        await socket.inbox.none("welcome", 200);
        assert.equal(socket.inbox.pending("connect"), 0);
      });

      scenario(setup, "/admin refuses a connection without auth", async (s) => {
        const socket = s.socket(s.manager(), "/admin");
        const [err] = await socket.inbox.next("connect_error");
        assert.equal(err.message, "unauthorized");
        assert.deepStrictEqual(err.data, { reason: "bad token" });
      });

      scenario(setup, "an unknown namespace is refused", async (s) => {
        const socket = s.socket(s.manager(), "/does-not-exist");
        const [err] = await socket.inbox.next("connect_error");
        assert.equal(err.message, "Invalid namespace");
        assert.ok(!socket.connected);
        await socket.inbox.none("connect", 200);
      });

      scenario(setup, "disconnect-me: server-side disconnect, no reconnect", async (s) => {
        const { mgr, socket } = await s.connect("/");
        let attempts = 0;
        mgr.on("reconnect_attempt", () => attempts++);
        socket.emit("disconnect-me");
        const [reason] = await socket.inbox.next("disconnect");
        assert.equal(reason, "io server disconnect");
        await socket.inbox.none("connect", 1_000);
        assert.equal(attempts, 0, "no reconnection attempt");
        assert.ok(!socket.connected);
        assert.ok(!socket.active, "the socket does not try to reconnect");
      });

      scenario(setup, "drop-transport: transport close, automatic reconnect, events work after", async (s) => {
        const auth = { token: "keep-me" };
        const { mgr, socket, welcome } = await s.connect("/", auth);
        const firstId = socket.id;
        let reconnects = 0;
        mgr.on("reconnect", () => reconnects++);
        socket.emit("drop-transport");
        const [reason] = await socket.inbox.next("disconnect");
        assert.equal(reason, "transport close");
        assert.ok(socket.active, "the client plans to reconnect");

        await socket.inbox.next("connect", 5_000);
        const [again] = await socket.inbox.next("welcome");
        assert.equal(reconnects, 1, "the manager reconnected once");
        assert.deepStrictEqual(again, { id: socket.id, nsp: "/", auth, recovered: false });
        assert.notEqual(again.id, welcome.id, "a new socket id after reconnecting");
        assert.notEqual(socket.id, firstId);
        await s.checkTransport(mgr);

        await echoRoundTrip(socket, ["after reconnect", { ok: true }, Buffer.from([42])]);
        assert.deepStrictEqual(await emitWithAckArgs(socket, "ack-me", [1, 2]), [1, 2]);
      });
    });
  }
});
