// The async server API (issue 15): the official socket.io-client (pinned in package.json)
// against the Rust `interop_server` example's `/async`, `/hang`, `/tenant/{id}` and `/dyn-*`
// namespaces (their contract is at the top of examples/interop_server.rs), over websocket-only,
// polling-only and the default polling + upgrade.
//
// Checked: async connect middlewares run in order, may refuse (connect_error with message and
// data), and the socket receives nothing before they all passed; a middleware that never
// finishes is bounded by the connect timeout; async handlers keep a socket's events in arrival
// order (unless registered as concurrent), answer acks after an await, keep one handler's
// emit/ack order; a panicking or failing handler ends only its event; the application state is
// shared by all sockets; a packet middleware drops an event with an error; on_any_outgoing sees
// the socket's emits and the broadcasts reaching it; dynamic namespaces make one child per name
// (parameters, isolation, "Invalid namespace" for other names, cleanup when empty).
//
// Run: node --test tests/js/async_api.test.mjs (INTEROP_SERVER overrides the binary path).

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Manager } from "socket.io-client";

import { attachInbox, sleep, waitFor } from "./lib/inbox.mjs";
import { InteropServer } from "./lib/server.mjs";

const TEST_TIMEOUT_MS = 15_000;
const CONNECT_TIMEOUT_MS = 1_500;

const SETUPS = [
  { name: "websocket-only", transports: ["websocket"] },
  { name: "polling-only", transports: ["polling"] },
  { name: "default (polling + upgrade)", transports: undefined },
];

const server = new InteropServer(undefined, { env: { CONNECT_TIMEOUT_MS: String(CONNECT_TIMEOUT_MS) } });
let baseUrl;

before(async () => {
  baseUrl = await server.start();
});

after(async () => {
  await server.stop();
});

async function stats() {
  const res = await fetch(`${baseUrl}/stats`);
  return res.json();
}

function emitWithAck(socket, event, ...args) {
  return socket.timeout(3_000).emitWithAck(event, ...args);
}

for (const setup of SETUPS) {
  describe(`async API over ${setup.name}`, { timeout: 60_000 }, () => {
    const managers = [];

    const manager = () => {
      const opts = { forceNew: true, reconnection: false, timeout: 5_000 };
      if (setup.transports) opts.transports = setup.transports;
      const mgr = new Manager(baseUrl, opts);
      managers.push(mgr);
      return mgr;
    };

    const open = (nsp, auth, mgr = manager()) => {
      const socket = mgr.socket(nsp, { auth: auth ?? {} });
      socket.inbox = attachInbox(socket, `${setup.name} ${nsp}`);
      return socket;
    };

    const connect = async (nsp, auth, mgr) => {
      const socket = open(nsp, auth, mgr);
      const [first, args] = await socket.inbox.nextOf(["connect", "connect_error"], 5_000);
      if (first === "connect_error") throw new Error(`${nsp}: connect_error ${args[0].message}`);
      const [welcome] = await socket.inbox.next("welcome");
      return { socket, welcome };
    };

    after(() => {
      for (const mgr of managers) mgr.engine?.close();
    });

    it("runs the connect middlewares in order, async ones included, before anything reaches the socket", { timeout: TEST_TIMEOUT_MS }, async () => {
      const { socket, welcome } = await connect("/async", { token: "secret", delay: 80 });
      assert.deepEqual(welcome.chain, ["sync", "async"]);
      assert.equal(welcome.id, socket.id);
      // What the middleware emitted and broadcast while the socket was not connected yet.
      await socket.inbox.none("too-early", 100);
      await socket.inbox.none("too-early-bcast", 0);
      socket.disconnect();
    });

    it("refuses with an async middleware's connect_error (message and data), the connection staying", { timeout: TEST_TIMEOUT_MS }, async () => {
      const mgr = manager();
      const { socket: root } = await connect("/", {}, mgr);
      const refused = open("/async", { token: "wrong" }, mgr);
      const [err] = await refused.inbox.next("connect_error", 5_000);
      assert.equal(err.message, "unauthorized");
      assert.deepEqual(err.data, { reason: "bad token" });
      assert.equal(refused.connected, false);
      await refused.inbox.none("welcome", 100);
      // The other namespace of the same connection is untouched.
      root.emit("echo", "still here");
      assert.deepEqual(await root.inbox.next("echo-back"), ["still here"]);
      root.disconnect();
    });

    it("bounds a middleware that never finishes by the connect timeout", { timeout: TEST_TIMEOUT_MS }, async () => {
      const mgr = manager();
      const { socket: root } = await connect("/", {}, mgr);
      const started = Date.now();
      const hanging = open("/hang", {}, mgr);
      const [err] = await hanging.inbox.next("connect_error", CONNECT_TIMEOUT_MS + 3_000);
      const took = Date.now() - started;
      assert.equal(err.message, "middleware timeout");
      assert.ok(took >= CONNECT_TIMEOUT_MS - 100, `refused after ${took} ms`);
      root.emit("echo", 1);
      assert.deepEqual(await root.inbox.next("echo-back"), [1]);
      root.disconnect();
    });

    it("handles a socket's events in arrival order while async handlers await", { timeout: TEST_TIMEOUT_MS }, async () => {
      const { socket } = await connect("/async", { token: "secret" });
      const order = [];
      socket.on("seq-done", (n) => order.push(n));
      // Sent at once: a slow async one, a sync one, a fast async one, a sync one...
      socket.emit("seq", 1, 150);
      socket.emit("seq-sync", 2);
      socket.emit("seq", 3, 0);
      socket.emit("seq", 4, 60);
      socket.emit("seq-sync", 5);
      await waitFor(() => order.length === 5, 5_000, "five seq-done");
      assert.deepEqual(order, [1, 2, 3, 4, 5]);
      socket.disconnect();
    });

    it("lets a concurrent handler's events overlap", { timeout: TEST_TIMEOUT_MS }, async () => {
      const { socket } = await connect("/async", { token: "secret" });
      const order = [];
      socket.on("conc-done", (n) => order.push(n));
      socket.emit("conc", 1, 300);
      socket.emit("conc", 2, 0);
      await waitFor(() => order.length === 2, 5_000, "two conc-done");
      assert.deepEqual(order, [2, 1]);
      socket.disconnect();
    });

    it("answers an ack after an await, and keeps one handler's emit/ack order", { timeout: TEST_TIMEOUT_MS }, async () => {
      const { socket } = await connect("/async", { token: "secret" });
      assert.deepEqual(await emitWithAck(socket, "slow-ack", { x: [1, "two"] }), { x: [1, "two"] });
      const seen = [];
      socket.on("first", () => seen.push("first"));
      socket.on("second", () => seen.push("second"));
      const third = await emitWithAck(socket, "emit-then-ack");
      seen.push(third);
      assert.deepEqual(seen, ["first", "second", "third"]);
      socket.disconnect();
    });

    it("survives a panicking, an async-panicking and a failing handler", { timeout: TEST_TIMEOUT_MS }, async () => {
      const { socket } = await connect("/async", { token: "secret" });
      for (const event of ["panic", "async-panic", "fail"]) {
        socket.emit(event);
        socket.emit("ping");
        assert.deepEqual(await socket.inbox.next("pong"), [1], `pong after ${event}`);
      }
      assert.equal(socket.connected, true);
      await socket.inbox.none("disconnect", 50);
      socket.disconnect();
    });

    it("shares the application state between sockets", { timeout: TEST_TIMEOUT_MS }, async () => {
      const a = (await connect("/async", { token: "secret" })).socket;
      const b = (await connect("/async", { token: "secret" })).socket;
      const first = await emitWithAck(a, "visit");
      const second = await emitWithAck(b, "visit");
      assert.equal(second, first + 1);
      assert.equal((await stats()).visits >= second, true);
      a.disconnect();
      b.disconnect();
    });

    it("drops an event refused by a packet middleware, with the error to on_error", { timeout: TEST_TIMEOUT_MS }, async () => {
      const { socket } = await connect("/async", { token: "secret" });
      socket.emit("forbidden", 1);
      assert.deepEqual(await socket.inbox.next("refused"), ["forbidden event"]);
      await socket.inbox.none("forbidden-ran", 100);
      socket.emit("ping");
      assert.deepEqual(await socket.inbox.next("pong"), [1]);
      socket.disconnect();
    });

    it("shows on_any_outgoing the socket's emits, acked emits and the broadcasts reaching it", { timeout: TEST_TIMEOUT_MS }, async () => {
      const { socket } = await connect("/async", { token: "secret" });
      socket.on("question", (_q, ack) => ack("!"));
      socket.emit("ping");
      await socket.inbox.next("pong");
      socket.emit("bcast", "to all");
      assert.deepEqual(await socket.inbox.next("bcast-msg"), ["to all"]);
      socket.emit("ask-me");
      assert.deepEqual(await socket.inbox.next("answer"), [true]);
      const names = await emitWithAck(socket, "outgoing-log");
      // `welcome` first (the listener is registered before it), then what followed.
      assert.deepEqual(names, ["welcome", "pong", "bcast-msg", "question", "answer"]);
      socket.disconnect();
    });

    it("makes one child namespace per matching name, with its parameter, isolated from the others", { timeout: TEST_TIMEOUT_MS }, async () => {
      const a = await connect("/tenant/alpha");
      const b = await connect("/tenant/beta");
      assert.deepEqual(a.welcome, { nsp: "/tenant/alpha", id: "alpha" });
      assert.deepEqual(b.welcome, { nsp: "/tenant/beta", id: "beta" });
      a.socket.emit("tenant-bcast", "hi alpha");
      assert.deepEqual(await a.socket.inbox.next("tenant-msg"), ["hi alpha"]);
      await b.socket.inbox.none("tenant-msg", 150);
      assert.equal((await stats()).tenants >= 2, true);
      a.socket.disconnect();
      b.socket.disconnect();
    });

    it("refuses names no pattern takes with Invalid namespace", { timeout: TEST_TIMEOUT_MS }, async () => {
      for (const [nsp, auth] of [["/tenant", {}], ["/tenant/a/b", {}], ["/tenant/", {}], ["/dyn-1", { ok: false }], ["/nope", {}]]) {
        const socket = open(nsp, auth);
        const [err] = await socket.inbox.next("connect_error", 5_000);
        assert.equal(err.message, "Invalid namespace", nsp);
      }
    });

    it("takes the names a check function accepts", { timeout: TEST_TIMEOUT_MS }, async () => {
      const { socket, welcome } = await connect("/dyn-42", { ok: true });
      assert.deepEqual(welcome, { nsp: "/dyn-42" });
      socket.disconnect();
    });

    it("removes a child namespace once its last socket left", { timeout: TEST_TIMEOUT_MS }, async () => {
      const nsp = `/tenant/gone-${setup.name.length}`;
      const a = await connect(nsp);
      const before = (await stats()).tenants;
      assert.ok(before >= 1);
      a.socket.disconnect();
      let now = before;
      for (let i = 0; i < 100 && now >= before; i += 1) {
        await sleep(20);
        now = (await stats()).tenants;
      }
      assert.ok(now < before, `tenants ${before} → ${now}`);
      // A later CONNECT makes it anew.
      const again = await connect(nsp);
      assert.equal(again.welcome.nsp, nsp);
      again.socket.disconnect();
    });
  });
}
