// Cluster tests: actix-socketio's Redis adapter (examples/cluster_node.rs, "rust") and the
// reference, Node.js socket.io 4.8 with @socket.io/redis-adapter 8.3 (node_node.mjs,
// "node"), clustered through a throwaway redis-server, driven by the official
// socket.io-client; then the demo binary clustered behind nginx with
// docs/cluster/nginx.conf.
//
// Run: make test-cluster, or (after `npm ci` here and `cargo build --bins --example
// cluster_node`) node --test tests/cluster/
// Environment: CLUSTER_NODE (the Rust example), DEMO_SERVER (the demo binary); for
// working on the tests only: CLUSTER_PAIRS (default "node+node,rust+rust,rust+node"),
// CLUSTER_FAULT_PAIRS (default "rust+rust,rust+node"; the first node is the one observed),
// CLUSTER_NGINX=0 (skips the nginx test, reported as skipped), CLUSTER_KEEP_LOGS=1.
//
// The cluster node contract (env, LISTENING line, `welcome`, the `ctl` ops, the server-side
// events) and what the reference does differently: tests/cluster/README.md.

import assert from "node:assert/strict";
import { Agent } from "node:http";
import { after, describe, it } from "node:test";

import { Client, normalize, quiet, show } from "./lib/client.mjs";
import { REQUEST_CHANNEL, eventually, numsub, rawRedis, useCluster } from "./lib/cluster.mjs";
import { Nginx } from "./lib/nginx.mjs";
import { DemoNode } from "./lib/nodes.mjs";
import { removeScratch, sleep, stopAll } from "./lib/proc.mjs";
import { RedisServer } from "./lib/redis.mjs";

const STEP_MS = 20_000; // per test
const QUIET_MS = 300; // to conclude that nothing (else) arrives

const PAIRS = (process.env.CLUSTER_PAIRS ?? "node+node,rust+rust,rust+node").split(",").filter(Boolean).map((p) => p.split("+"));
const FAULT_PAIRS = (process.env.CLUSTER_FAULT_PAIRS ?? "rust+rust,rust+node").split(",").filter(Boolean).map((p) => p.split("+"));

// Last resort: whatever a failed test left running is killed by PID.
after(async () => {
  await stopAll();
  removeScratch();
});

let counter = 0;
/** A name not used before in this run (rooms, tokens). */
const uniq = (prefix) => `${prefix}-${(counter += 1)}`;

const sameArgs = (actual, expected, message) => assert.deepStrictEqual(normalize(actual), normalize(expected), message);
const byKey = (key) => (a, b) => (String(a[key]) < String(b[key]) ? -1 : String(a[key]) > String(b[key]) ? 1 : 0);

/** Each client gets exactly one `event` with `expected` args. */
async function allGet(clients, event, expected) {
  for (const c of clients) sameArgs(await c.next(event), expected, `${c.label}: "${event}" args`);
}

/** A ctl whose reply is an {ok:false, error} refusal with a timeout message, timed. */
async function timedFailure(client, cmd) {
  const t0 = Date.now();
  const reply = await client.ctl(cmd, 6_000);
  const elapsed = Date.now() - t0;
  assert.ok(reply && reply.ok === false, `${client.label}: ${cmd.op} should fail, got ${show(reply)}`);
  assert.equal(typeof reply.error, "string", `${client.label}: ${cmd.op} error should be a string: ${show(reply)}`);
  assert.match(reply.error, /time/i, `${client.label}: ${cmd.op} error should be about a timeout: ${show(reply)}`);
  return { reply, elapsed };
}

/** The server-side events `node` recorded, through a client connected to it. */
async function serverEvents(client) {
  const reply = await client.ok({ op: "serverEvents" });
  assert.ok(Array.isArray(reply.events), `${client.label}: serverEvents.events should be an array: ${show(reply)}`);
  return reply.events;
}

/** fetchSockets through `client`, sockets sorted by id. */
async function fetchSockets(client, cmd = {}) {
  const reply = await client.ok({ op: "fetchSockets", ...cmd });
  assert.ok(Array.isArray(reply.sockets), `${client.label}: fetchSockets.sockets should be an array: ${show(reply)}`);
  return reply.sockets.sort(byKey("id"));
}

const ids = (list) => list.map((x) => x.id).sort();
const idsOf = (...clients) => clients.map((c) => c.id).sort();

// ------------------------------------------------------------------ scenarios for a pair

/**
 * The cross-node scenarios with `from` (A) initiating and `to` (B) on the far side. Every
 * scenario also checks the way back where the brief asks for both directions.
 */
/** Two official clients on node A (a1, a2) and two on node B (b1, b2). */
async function twoOnEach(cluster, A, B) {
  return [
    await cluster.client(A, "a1"),
    await cluster.client(A, "a2"),
    await cluster.client(B, "b1"),
    await cluster.client(B, "b2"),
  ];
}

function scenarios(cluster, roles) {
  const nodes = () => {
    const [A, B] = roles.map((i) => cluster.nodes[i]);
    return { A, B };
  };

  it("1. a room emit crosses nodes both ways, binary intact, and skips non-members", { timeout: STEP_MS }, async () => {
    const { A, B } = nodes();
    const R = uniq("room");
    const S = uniq("other");
    const [a1, a2, b1, b2] = await twoOnEach(cluster, A, B);
    await a1.ok({ op: "join", room: R });
    await b1.ok({ op: "join", room: R });
    await b2.ok({ op: "join", room: S });
    const everyone = [a1, a2, b1, b2];

    // B -> room R: a1 (on A) and b1 get it, a2 and b2 do not.
    const fromB = ["from B", Buffer.from([0, 1, 2, 127, 128, 254, 255]), { nested: Buffer.from("héllo"), n: 1 }];
    await b2.ok({ op: "emit", rooms: [R], event: "news", args: fromB });
    for (const c of [a1, b1]) {
      const got = await c.next("news");
      sameArgs(got, fromB, `${c.label}: "news" args`);
      assert.ok(Buffer.isBuffer(got[1]) && Buffer.isBuffer(got[2].nested), `${c.label}: binary arrives as Buffers`);
    }
    await quiet(everyone, ["news"], QUIET_MS);

    // A -> room R.
    const fromA = ["from A", Buffer.alloc(300, 7), [Buffer.from([9]), "x"]];
    await a2.ok({ op: "emit", rooms: [R], event: "news", args: fromA });
    await allGet([a1, b1], "news", fromA);
    await quiet(everyone, ["news"], QUIET_MS);

    // Several rooms at once: each member once, a member of both rooms too.
    await a1.ok({ op: "join", room: S });
    await a2.ok({ op: "emit", rooms: [R, S], event: "multi", args: [1] });
    await allGet([a1, b1, b2], "multi", [1]);
    await b1.ok({ op: "emit", rooms: [S, R], event: "multi", args: [2] });
    await allGet([a1, b1, b2], "multi", [2]);
    await quiet(everyone, ["multi"], QUIET_MS);
  });

  it("2. except skips a room's members on both nodes; broadcast reaches all but the sender", { timeout: STEP_MS }, async () => {
    const { A, B } = nodes();
    const X = uniq("x");
    const R = uniq("room");
    const [a1, a2, b1, b2] = await twoOnEach(cluster, A, B);
    const everyone = [a1, a2, b1, b2];
    for (const c of everyone) await c.ok({ op: "join", room: R });
    await a1.ok({ op: "join", room: X });
    await b1.ok({ op: "join", room: X });

    // The whole namespace except X, from B.
    await b2.ok({ op: "emit", except: [X], event: "ex", args: ["all but X"] });
    await allGet([a2, b2], "ex", ["all but X"]);
    // A room except X, from A.
    await a2.ok({ op: "emit", rooms: [R], except: [X], event: "ex", args: ["R but X"] });
    await allGet([a2, b2], "ex", ["R but X"]);
    // From B again, to R except X.
    await b1.ok({ op: "emit", rooms: [R], except: [X], event: "ex", args: ["R but X, from B"] });
    await allGet([a2, b2], "ex", ["R but X, from B"]);
    await quiet(everyone, ["ex"], QUIET_MS);

    // socket.broadcast from a socket on A: everyone else, on both nodes.
    await a1.ok({ op: "broadcast", event: "bc", args: ["from a1", Buffer.from("bin")] });
    await allGet([a2, b1, b2], "bc", ["from a1", Buffer.from("bin")]);
    // ... and from a socket on B.
    await b2.ok({ op: "broadcast", event: "bc", args: ["from b2"] });
    await allGet([a1, a2, b1], "bc", ["from b2"]);
    await quiet(everyone, ["bc"], QUIET_MS);
  });

  it("3. emitWithAck collects every member's answer across nodes; a silent one times out with the rest", { timeout: STEP_MS }, async () => {
    const { A, B } = nodes();
    const R = uniq("acks");
    const [a1, a2, b1, b2] = await twoOnEach(cluster, A, B);
    const initiator = await cluster.client(A, "ask");
    const answering = [a1, a2, b1, b2];
    for (const c of answering) {
      c.answer("ask", (args) => ({ who: c.label, args }));
      await c.ok({ op: "join", room: R });
    }
    const expected = answering.map((c) => ({ who: c.label, args: ["q", 7] })).sort(byKey("who"));

    const t0 = Date.now();
    const reply = await initiator.ok({ op: "emitWithAck", rooms: [R], event: "ask", args: ["q", 7], timeout: 3_000 });
    assert.ok(Date.now() - t0 < 2_000, `all answers were in, emitWithAck should not wait for its timeout (${Date.now() - t0} ms)`);
    assert.ok(Array.isArray(reply.responses), `responses should be an array: ${show(reply)}`);
    assert.deepStrictEqual([...reply.responses].sort(byKey("who")), expected, "one answer per member, every node");

    // A member on B that never answers: ok:false after the timeout, with the answers that came.
    const silent = await cluster.client(B, "silent");
    await silent.ok({ op: "join", room: R });
    const { reply: late, elapsed } = await timedFailure(initiator, { op: "emitWithAck", rooms: [R], event: "ask", args: ["q", 7], timeout: 1_000 });
    assert.ok(elapsed >= 900 && elapsed < 3_000, `emitWithAck with timeout 1000 should fail after ~1 s, took ${elapsed} ms`);
    assert.ok(Array.isArray(late.responses), `responses should be an array even on failure: ${show(late)}`);
    assert.deepStrictEqual([...late.responses].sort(byKey("who")), expected, "the answers that did arrive");
    assert.equal(silent.pending("ask"), 1, "the silent member got the event");
  });

  it("3b. emitWithAck: answers carrying binary come back intact, from the local node and the far one", { timeout: STEP_MS }, async () => {
    const { A, B } = nodes();
    const initiator = await cluster.client(A, "ask");
    const binFar = await cluster.client(B, "bin-far");
    const binNear = await cluster.client(A, "bin-near");
    for (const c of [binFar, binNear]) c.answer("ask-bin", (args) => ({ echo: args[0], who: c.label }));
    const failures = [];
    for (const c of [binNear, binFar]) {
      const reply = await initiator.ok({ op: "emitWithAck", rooms: [c.id], event: "ask-bin", args: [Buffer.from([1, 2, 3])], timeout: 3_000 });
      try {
        sameArgs(reply.responses, [{ echo: Buffer.from([1, 2, 3]), who: c.label }], `binary in an answer from ${c.label}`);
      } catch (err) {
        failures.push(`from ${c.label}: got ${show(reply.responses)}`);
      }
    }
    assert.deepStrictEqual(failures, [], "answers with a Buffer should come back with the Buffer");
  });

  it("4. fetchSockets sees the far node's sockets with id, rooms, data and auth", { timeout: STEP_MS }, async () => {
    const { A, B } = nodes();
    const F1 = uniq("f1");
    const F2 = uniq("f2");
    const a1 = await cluster.client(A, "a1");
    const b1 = await cluster.client(B, "b1");
    const b2 = await cluster.client(B, "b2", { auth: { user: "x" } });
    await b1.ok({ op: "join", room: F1 });
    await b1.ok({ op: "join", room: F2 });
    const bData = { name: "bee", n: 2, tags: ["t1", "t2"], nested: { ok: true, none: null } };
    await b1.ok({ op: "data", data: bData });
    await a1.ok({ op: "data", data: { name: "ay" } });
    await b2.ok({ op: "data", data: { name: "bee two" } });

    const expectB1 = { id: b1.id, rooms: [b1.id, F1, F2].sort(), data: bData, auth: { user: "b1" } };
    const expectB2 = { id: b2.id, rooms: [b2.id], data: { name: "bee two" }, auth: { user: "x" } };
    const expectA1 = { id: a1.id, rooms: [a1.id], data: { name: "ay" }, auth: { user: "a1" } };

    assert.deepStrictEqual(await fetchSockets(a1, { rooms: [F1] }), [expectB1], "fetchSockets(F1) from A");
    assert.deepStrictEqual(await fetchSockets(a1), [expectA1, expectB1, expectB2].sort(byKey("id")), "fetchSockets() from A: both nodes");
    assert.deepStrictEqual(await fetchSockets(a1, { except: [F2] }), [expectA1, expectB2].sort(byKey("id")), "fetchSockets(except F2)");
    assert.deepStrictEqual(await fetchSockets(a1, { rooms: [F1, b2.id] }), [expectB1, expectB2].sort(byKey("id")), "fetchSockets(F1 or b2's own room)");
    assert.deepStrictEqual(await fetchSockets(a1, { rooms: [uniq("nobody")] }), [], "fetchSockets(an empty room)");
    // The same from B, which sees A's socket.
    assert.deepStrictEqual(await fetchSockets(b1, { except: [F1] }), [expectA1, expectB2].sort(byKey("id")), "fetchSockets(except F1) from B");
  });

  it("5. socketsJoin / socketsLeave / disconnectSockets from A act on B's sockets", { timeout: STEP_MS }, async () => {
    const { A, B } = nodes();
    const SRC = uniq("src");
    const DST = uniq("dst");
    const OTHER = uniq("other");
    const [a1, a2, b1, b2] = await twoOnEach(cluster, A, B);
    const a3 = await cluster.client(A, "a3");
    const everyone = [a1, a2, b1, b2];
    await a2.ok({ op: "join", room: SRC });
    await b1.ok({ op: "join", room: SRC });

    // socketsJoin: the members of SRC (one per node) join DST.
    await a1.ok({ op: "socketsJoin", rooms: [SRC], room: DST });
    await eventually(async () => show(ids(await fetchSockets(a1, { rooms: [DST] }))) === show(idsOf(a2, b1)), 3_000, "a2 and b1 in DST");
    await a1.ok({ op: "emit", rooms: [DST], event: "dst", args: ["to DST"] });
    await allGet([a2, b1], "dst", ["to DST"]);
    await quiet(everyone, ["dst"], QUIET_MS);

    // except: everyone not in SRC joins OTHER.
    await a1.ok({ op: "socketsJoin", except: [SRC], room: OTHER });
    await eventually(async () => show(ids(await fetchSockets(a1, { rooms: [OTHER] }))) === show(idsOf(a1, b2, a3)), 3_000, "a1, a3 and b2 in OTHER");

    // socketsLeave: SRC's members leave DST again.
    await a1.ok({ op: "socketsLeave", rooms: [SRC], room: DST });
    await eventually(async () => (await fetchSockets(a1, { rooms: [DST] })).length === 0, 3_000, "DST empty");
    await a1.ok({ op: "emit", rooms: [DST], event: "dst", args: ["nobody"] });
    await quiet(everyone, ["dst"], QUIET_MS);
    const b1Seen = (await fetchSockets(a1, { rooms: [b1.id] }))[0];
    assert.deepStrictEqual(b1Seen && b1Seen.rooms, [b1.id, SRC].sort(), "b1 left DST only");

    // disconnectSockets: SRC's members (a2 here, b1 there) are disconnected.
    await a1.ok({ op: "disconnectSockets", rooms: [SRC] });
    for (const c of [a2, b1]) assert.deepStrictEqual(await c.next("disconnect"), ["io server disconnect"], `${c.label}: disconnect reason`);
    await quiet(everyone, ["disconnect"], QUIET_MS);
    assert.ok(a1.socket.connected && b2.socket.connected && a3.socket.connected, "the others stay connected");
    await eventually(async () => show(ids(await fetchSockets(a1))) === show(idsOf(a1, b2, a3)), 3_000, "only a1, a3 and b2 left");
  });

  it("5b. disconnectSockets(close: true) from A: the reason is still \"io server disconnect\", here and there", { timeout: STEP_MS }, async () => {
    const { A, B } = nodes();
    const OTHER = uniq("other");
    const a1 = await cluster.client(A, "a1");
    const a3 = await cluster.client(A, "a3");
    const b2 = await cluster.client(B, "b2");
    await a3.ok({ op: "join", room: OTHER });
    await b2.ok({ op: "join", room: OTHER });
    await a1.ok({ op: "join", room: OTHER });

    // close: true (OTHER except a1: a3 here, b2 there): the connections are closed too. The
    // reference sends the DISCONNECT packet first, so the client still says "io server disconnect".
    await a1.ok({ op: "disconnectSockets", rooms: [OTHER], except: [a1.id], close: true });
    const reasons = [];
    for (const c of [a3, b2]) reasons.push(`${c.label}: ${(await c.next("disconnect"))[0]}`);
    assert.deepStrictEqual(reasons, [`${a3.label}: io server disconnect`, `${b2.label}: io server disconnect`], "disconnect reasons with close:true");
    await quiet([a1], ["disconnect"], QUIET_MS);
    assert.ok(a1.socket.connected, "a1 stays connected");
  });

  it("6. serverSideEmit reaches the other node only; serverSideEmitWithAck gets its answer; both ways", { timeout: STEP_MS }, async () => {
    const { A, B } = nodes();
    const a = await cluster.client(A, "a");
    const b = await cluster.client(B, "b");

    for (const [from, fromNode, to, toNode] of [
      [a, A, b, B],
      [b, B, a, A],
    ]) {
      const token = uniq("hello");
      const args = [token, { n: 1, list: [1, "two", null] }];
      const senderBefore = (await serverEvents(from)).length;
      await from.ok({ op: "serverSideEmit", event: "node-hello", args });
      await eventually(
        async () => (await serverEvents(to)).some((e) => e.event === "node-hello" && show(e.args) === show(args)),
        3_000,
        `${toNode.label} to record node-hello ${token}`,
      );
      const toEvents = (await serverEvents(to)).filter((e) => show(e.args).includes(token));
      assert.deepStrictEqual(toEvents, [{ event: "node-hello", args }], `${toNode.label}: recorded once, as sent`);
      await sleep(QUIET_MS);
      const senderAfter = await serverEvents(from);
      assert.deepStrictEqual(senderAfter.slice(senderBefore).filter((e) => show(e.args).includes(token)), [], `${fromNode.label} does not get its own serverSideEmit`);

      const askToken = uniq("ask");
      const t0 = Date.now();
      const reply = await from.ok({ op: "serverSideEmitWithAck", event: "node-ask", args: [askToken, 42], timeout: 3_000 });
      assert.ok(Date.now() - t0 < 2_000, `the one answer was in, no need to wait for the timeout (${Date.now() - t0} ms)`);
      assert.deepStrictEqual(reply.responses, [{ node: toNode.name, args: [askToken, 42] }], `${fromNode.label} -> ${toNode.label}: answers`);
      const asked = (await serverEvents(to)).filter((e) => show(e.args).includes(askToken));
      assert.deepStrictEqual(asked, [{ event: "node-ask", args: [askToken, 42] }], `${toNode.label} recorded node-ask without the callback`);
      const self = (await serverEvents(from)).filter((e) => show(e.args).includes(askToken));
      assert.deepStrictEqual(self, [], `${fromNode.label} does not get its own node-ask`);
    }
  });

  it("7. allRooms lists a room joined only on the far node; serverCount is 2 on both", { timeout: STEP_MS }, async () => {
    const { A, B } = nodes();
    const ONLY_B = uniq("only-b");
    const ONLY_A = uniq("only-a");
    const a = await cluster.client(A, "a");
    const b = await cluster.client(B, "b");
    await b.ok({ op: "join", room: ONLY_B });
    await a.ok({ op: "join", room: ONLY_A });
    for (const c of [a, b]) {
      const { rooms } = await c.ok({ op: "allRooms" });
      assert.ok(Array.isArray(rooms), `${c.label}: allRooms.rooms should be an array`);
      assert.deepStrictEqual(rooms, [...new Set(rooms)].sort(), `${c.label}: allRooms sorted, unique`);
      assert.ok(rooms.includes(ONLY_B) && rooms.includes(ONLY_A), `${c.label}: allRooms should list ${ONLY_A} and ${ONLY_B}: ${show(rooms)}`);
    }
    await b.ok({ op: "leave", room: ONLY_B });
    const { rooms } = await a.ok({ op: "allRooms" });
    assert.ok(!rooms.includes(ONLY_B), `allRooms after the leave should not list ${ONLY_B}: ${show(rooms)}`);

    for (const c of [a, b]) assert.deepStrictEqual(await c.ok({ op: "serverCount" }), { ok: true, count: 2 }, `${c.label}: serverCount`);
    assert.deepStrictEqual(await a.ctl({ op: "no-such-op" }), { ok: false, error: "unknown op" }, "unknown op");
  });
}

for (const kinds of PAIRS) {
  describe(`cluster [${kinds.join(", ")}]`, () => {
    const cluster = useCluster(kinds);
    describe(`initiated on ${kinds[0]} (A), far side ${kinds[1]} (B)`, () => scenarios(cluster, [0, 1]));
    // A mixed pair runs every scenario from each side.
    if (kinds[0] !== kinds[1]) {
      describe(`initiated on ${kinds[1]} (B), far side ${kinds[0]} (A)`, () => scenarios(cluster, [1, 0]));
    }
  });
}

// ------------------------------------------------------------------ faults

/** Sends `event` from `from` to room `room` every 200 ms until `to` gets one sent after `since`. */
async function crossNodeWorks(from, to, room, ms, what) {
  const event = uniq("probe");
  let n = 0;
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    n += 1;
    from.ctl({ op: "emit", rooms: [room], event, args: [n] }, 1_000).catch(() => {});
    await sleep(200);
    if (to.pending(event) > 0) {
      to.drain(event);
      return n;
    }
  }
  throw new Error(`${what}: no cross-node emit arrived within ${ms} ms (${n} sent)`);
}

for (const kinds of FAULT_PAIRS) {
  describe(`faults, observed ${kinds[0]} (A), peer ${kinds[1]} (B)`, () => {
    const cluster = useCluster(kinds, { env: { REQUESTS_TIMEOUT_MS: "1000" } });
    const nodes = () => ({ A: cluster.nodes[0], B: cluster.nodes[1] });

    it("a. redis killed: local emits still work; restarted on the same port: cross-node within 10 s", { timeout: 40_000 }, async () => {
      const { A, B } = nodes();
      const R = uniq("room");
      const a1 = await cluster.client(A, "a1");
      const a2 = await cluster.client(A, "a2");
      const b1 = await cluster.client(B, "b1");
      const b2 = await cluster.client(B, "b2");
      await a1.ok({ op: "join", room: R });
      await b1.ok({ op: "join", room: R });
      await a2.ok({ op: "emit", rooms: [R], event: "before", args: ["up"] });
      await allGet([a1, b1], "before", ["up"]);

      await cluster.redis.kill();
      await sleep(300);
      assert.ok(A.alive(), `${A.label} died when redis went away\n${A.logTail()}`);

      // While redis is down: a local room emit reaches the local member.
      const acked = a2.ctl({ op: "emit", rooms: [R], event: "local", args: ["redis down", Buffer.from([1])] }, 5_000);
      sameArgs(await a1.next("local", 3_000), ["redis down", Buffer.from([1])], "a1: local emit while redis is down");
      assert.deepStrictEqual(await acked, { ok: true }, "emit acked while redis is down");
      // And a broadcast from a socket (also local part only).
      await a2.ok({ op: "broadcast", event: "local-bc", args: [2] }, 5_000);
      sameArgs(await a1.next("local-bc", 3_000), [2], "a1: broadcast while redis is down");
      await sleep(1_000); // the node keeps retrying for a while
      assert.ok(A.alive(), `${A.label} died while redis was down\n${A.logTail()}`);

      await cluster.redis.start();
      const t0 = Date.now();
      await crossNodeWorks(a2, b1, R, 10_000, `${A.label} -> ${B.label} after the restart`);
      await crossNodeWorks(b2, a1, R, Math.max(1_000, 10_000 - (Date.now() - t0)), `${B.label} -> ${A.label} after the restart`);
      await eventually(async () => (await a1.ok({ op: "serverCount" })).count === 2, 5_000, "serverCount 2 again");
      assert.deepStrictEqual(ids(await fetchSockets(a1, { rooms: [R] })), idsOf(a1, b1), "fetchSockets across nodes again");
      assert.ok(A.alive() && B.alive(), "both nodes alive");
      for (const c of [a1, a2, b1, b2]) assert.ok(c.socket.connected, `${c.label} still connected`);
    });

    it("b. malformed messages on every channel: the node survives and still works", { timeout: 30_000 }, async () => {
      const { A, B } = nodes();
      const R = uniq("room");
      const a1 = await cluster.client(A, "a1");
      const b1 = await cluster.client(B, "b1");
      await a1.ok({ op: "join", room: R });
      await b1.ok({ op: "join", room: R });

      const json = (v) => Buffer.from(JSON.stringify(v));
      const notMsgpack = Buffer.from([0xc1, 0xc1, 0xff, 0x00, 0x41]); // 0xc1 is never used in msgpack
      const truncatedArray = Buffer.from([0x93, 0xa6, 0x61, 0x62]); // [ "ab... cut short
      const truncatedMap = Buffer.from([0x85, 0xa4, 0x74, 0x79, 0x70, 0x65, 0x05, 0xa9, 0x72]); // {type:5, r... cut short
      // A msgpack array of the wrong shape: [1, "x"], and [uid, "not a packet", 7].
      const wrongShape1 = Buffer.from([0x92, 0x01, 0xa1, 0x78]);
      const wrongShape2 = Buffer.from([0x93, 0xa3, 0x75, 0x69, 0x64, 0xa1, 0x78, 0x07]);
      // [uid, {type: 2, data: "x", nsp: "/"}, 7]: a packet with data that is not an array, opts not a map.
      const wrongShape3 = Buffer.from([
        0x93, 0xa3, 0x75, 0x69, 0x64,
        0x83, 0xa4, 0x74, 0x79, 0x70, 0x65, 0x02, 0xa4, 0x64, 0x61, 0x74, 0x61, 0xa1, 0x78, 0xa3, 0x6e, 0x73, 0x70, 0xa1, 0x2f,
        0x07,
      ]);
      const fixmap1 = Buffer.from([0x81, 0xa4, 0x74, 0x79, 0x70, 0x65, 0x05]); // msgpack {type: 5}
      const common = [
        Buffer.alloc(0),
        notMsgpack,
        truncatedArray,
        truncatedMap,
        wrongShape1,
        wrongShape2,
        wrongShape3,
        fixmap1,
        Buffer.from("{"),
        Buffer.from("{\"type\":"),
        json(null),
        json([]),
        json(7),
        json("text"),
      ];
      const requests = [
        json({ type: 5 }), // REMOTE_FETCH without opts or requestId
        json({ type: 0 }),
        json({ type: 1 }),
        json({ type: 2, rooms: ["evil"] }), // REMOTE_JOIN with neither opts nor sid: nobody
        json({ type: 3 }),
        json({ type: 4 }), // REMOTE_DISCONNECT with neither opts nor sid: nobody
        json({ type: 6 }), // SERVER_SIDE_EMIT without data
        json({ type: 7 }), // BROADCAST without packet or opts
        json({ type: 9 }),
        json({ type: 99, requestId: "r" }),
        json({ type: "5", requestId: 5, opts: "rooms" }),
        json({ type: 5, requestId: 12, uid: 3, opts: { rooms: 5, except: {} } }),
        json({ type: 2, uid: [], opts: { rooms: "x", except: 7 }, rooms: "evil" }),
        json({ type: 6, uid: "u", data: "not an array" }),
        json({ type: 6, uid: "u", data: [] }),
        json({ type: 6, uid: "u", data: [7, "x"] }),
        json({ type: 7, uid: "u", requestId: "r7", packet: "x", opts: { rooms: [] } }),
        json({ type: 7, uid: "u", requestId: "r8", packet: { type: 2, data: "x" }, opts: null }),
      ];
      const responses = [
        json({ type: 5 }),
        json({ requestId: "nope", sockets: "x" }),
        json({ requestId: 5, rooms: 7 }),
        json({ type: 8, requestId: "x", clientCount: "many" }),
        json({ type: 9, requestId: "x" }),
        json({ type: 6, requestId: null, data: [1] }),
      ];
      const publishes = [
        ...common.map((m) => ["socket.io#/#", m]),
        ...common.map((m) => [`socket.io#/#${R}#`, m]),
        ...[...common, ...requests].map((m) => [REQUEST_CHANNEL, m]),
        ...[...common, ...responses].map((m) => ["socket.io-response#/#", m]),
      ];
      const raw = await rawRedis(cluster.redis.url);
      try {
        for (const [channel, message] of publishes) await raw.publish(channel, message);
      } finally {
        await raw.disconnect();
      }
      await sleep(500);
      assert.ok(A.alive(), `${A.label} died on malformed messages\n${A.logTail()}`);
      assert.ok(B.alive(), `${B.label} (peer) died on malformed messages\n${B.logTail()}`);

      // Nobody was disconnected or moved, and both directions still work.
      for (const c of [a1, b1]) assert.equal(c.pending("disconnect"), 0, `${c.label} was not disconnected`);
      await a1.ok({ op: "emit", rooms: [R], event: "after", args: ["from A", Buffer.from([0xc1])] });
      await allGet([a1, b1], "after", ["from A", Buffer.from([0xc1])]);
      await b1.ok({ op: "emit", rooms: [R], event: "after", args: ["from B"] });
      await allGet([a1, b1], "after", ["from B"]);
      assert.deepStrictEqual(await fetchSockets(a1, { rooms: ["evil"] }), [], "nobody joined a room by malformed request");
      assert.deepStrictEqual(ids(await fetchSockets(a1, { rooms: [R] })), idsOf(a1, b1), "fetchSockets across nodes");
      assert.deepStrictEqual(await a1.ok({ op: "serverCount" }), { ok: true, count: 2 });
    });

    it("c. a node that never answers: requests fail after REQUESTS_TIMEOUT_MS (1 s), then work again", { timeout: 30_000 }, async () => {
      const { A, B } = nodes();
      const a1 = await cluster.client(A, "a1");
      const b1 = await cluster.client(B, "b1");
      const ROOM = uniq("far-room");
      await b1.ok({ op: "join", room: ROOM });
      const ghost = await rawRedis(cluster.redis.url);
      try {
        await ghost.subscribe(REQUEST_CHANNEL, () => {});
        await eventually(async () => (await numsub(cluster.redis.url)) === 3, 3_000, "3 subscribers");
        assert.deepStrictEqual(await a1.ok({ op: "serverCount" }), { ok: true, count: 3 }, "the ghost counts as a server");

        for (const cmd of [{ op: "fetchSockets" }, { op: "allRooms" }]) {
          const { elapsed } = await timedFailure(a1, cmd);
          assert.ok(elapsed >= 800 && elapsed < 3_000, `${cmd.op} should fail after ~1 s, took ${elapsed} ms`);
        }
        const { reply, elapsed } = await timedFailure(a1, { op: "serverSideEmitWithAck", event: "node-ask", args: ["ghost"], timeout: 1_000 });
        assert.ok(elapsed >= 800 && elapsed < 3_000, `serverSideEmitWithAck should fail after ~1 s, took ${elapsed} ms`);
        assert.ok(Array.isArray(reply.responses), `responses should be an array: ${show(reply)}`);
        for (const r of reply.responses) assert.deepStrictEqual(r, { node: B.name, args: ["ghost"] }, "a partial answer can only be B's");
        assert.ok(A.alive(), `${A.label} alive`);
      } finally {
        await ghost.disconnect();
      }

      await eventually(async () => (await numsub(cluster.redis.url)) === 2, 3_000, "2 subscribers again");
      assert.deepStrictEqual(ids(await fetchSockets(a1)), idsOf(a1, b1), "fetchSockets works again");
      const { rooms } = await a1.ok({ op: "allRooms" });
      assert.ok(rooms.includes(ROOM), `allRooms works again: ${ROOM} in ${show(rooms)}`);
      const again = await a1.ok({ op: "serverSideEmitWithAck", event: "node-ask", args: ["back"], timeout: 3_000 });
      assert.deepStrictEqual(again.responses, [{ node: B.name, args: ["back"] }], "serverSideEmitWithAck works again");
    });
  });
}

// ------------------------------------------------------------------ nginx + demo chat

const CHAT_ROOM = "cluster-lobby";

/** Which demo node holds Engine.IO session `sid` of a WebSocket client: the one not answering code 1. */
async function ownerOf(sid, demos) {
  const owners = [];
  for (const d of demos) {
    const res = await fetch(`${d.url}/socket.io/?EIO=4&transport=polling&sid=${encodeURIComponent(sid)}`);
    const body = await res.text();
    let code = null;
    try {
      code = JSON.parse(body).code;
    } catch {
      // not JSON
    }
    // The node that made the session refuses polling on a WebSocket session (400, code 3
    // "Bad request"); the other one does not know the sid (400, code 1 "Session ID unknown").
    if (!(res.status === 400 && code === 1)) owners.push({ demo: d, status: res.status, body });
  }
  assert.equal(owners.length, 1, `exactly one node should know sid ${sid}: ${show(owners.map((o) => [o.demo.name, o.status, o.body]))}`);
  return owners[0].demo;
}

async function chatJoin(client) {
  const reply = await client.request("join", [CHAT_ROOM]);
  assert.ok(reply && reply.ok === true && reply.room === CHAT_ROOM, `${client.label}: join ${show(reply)}`);
}

/** `from` says `text` in the room; each of `to` (every other member) gets {room, from, text, ts}. */
async function chatSay(from, to, text) {
  const ack = await from.request("message", [{ room: CHAT_ROOM, text }]);
  assert.ok(ack && ack.ok === true, `${from.label}: message ${show(ack)}`);
  for (const c of to) {
    const [msg] = await c.next("message", 5_000);
    assert.deepStrictEqual(
      { room: msg.room, fromId: msg.from && msg.from.id, text: msg.text, ts: msg.ts },
      { room: CHAT_ROOM, fromId: from.id, text, ts: ack.ts },
      `${c.label}: message from ${from.label}`,
    );
  }
}

describe("nginx (docs/cluster/nginx.conf) in front of two demo servers clustered through redis", { skip: process.env.CLUSTER_NGINX === "0" ? "CLUSTER_NGINX=0" : false }, () => {
  const redis = new RedisServer("redis-nginx");
  let demos = [];
  let nginx = null;
  const clients = [];
  const agents = [];

  after(async () => {
    for (const c of clients) c.close();
    for (const a of agents) a.destroy();
    await sleep(50);
    const dead = demos.filter((d) => !d.alive());
    if (nginx) await nginx.stop();
    await Promise.all(demos.map((d) => d.stop()));
    await redis.kill();
    assert.deepStrictEqual(dead.map((d) => d.name), [], `demo node(s) died:\n${dead.map((d) => d.logTail()).join("\n")}`);
  });

  it("sticky hashing spreads clients over both nodes; chat crosses nodes; polling works through it", { timeout: 60_000 }, async () => {
    await redis.start();
    demos = [new DemoNode("demo1", redis.url), new DemoNode("demo2", redis.url)];
    await Promise.all(demos.map((d) => d.start()));
    nginx = new Nginx(demos.map((d) => d.port));
    await nginx.start();

    // The page itself is proxied too.
    const page = await fetch(`${nginx.url}/`);
    assert.equal(page.status, 200, "GET / through nginx");
    await page.arrayBuffer();

    // WebSocket clients from 127.0.0.2, .3, ... until each node holds one.
    const onNode = new Map();
    for (let i = 2; i < 40 && onNode.size < 2; i += 1) {
      const addr = `127.0.0.${i}`;
      const c = new Client(nginx.url, `ws@${addr}`, { localAddress: addr });
      clients.push(c);
      await c.connect("welcome");
      assert.equal(c.welcome.id, c.id, `${c.label}: welcome.id`);
      const owner = await ownerOf(c.sid, demos);
      c.label = `${c.label}→${owner.name}`;
      if (!onNode.has(owner)) onNode.set(owner, c);
      else c.close();
    }
    assert.equal(onNode.size, 2, `clients from 38 addresses all landed on one node:\n${nginx.accessLog()}`);

    const [c1, c2] = [onNode.get(demos[0]), onNode.get(demos[1])];
    await chatJoin(c1);
    await chatJoin(c2);
    c1.drain("joined");
    c2.drain("joined");
    await chatSay(c1, [c2], "hello from node 1");
    await chatSay(c2, [c1], "hello from node 2");

    // A polling-only client: every GET and POST is a new request through nginx (from
    // 127.0.0.99: engine.io-client hands `agent` to its XMLHttpRequest in Node).
    const pollingAddr = "127.0.0.99";
    const agent = new Agent({ keepAlive: false, localAddress: pollingAddr });
    agents.push(agent);
    const p = new Client(nginx.url, "polling", { transports: ["polling"], agent });
    clients.push(p);
    await p.connect("welcome");
    assert.equal(p.transport, "polling");
    await chatJoin(p);
    for (let i = 0; i < 5; i += 1) {
      await chatSay(p, [c1, c2], `polling says ${i}`);
      await chatSay(i % 2 ? c1 : c2, [p, i % 2 ? c2 : c1], `answer ${i}`);
    }
    assert.ok(p.socket.connected && p.transport === "polling", "the polling client is still connected, still polling");
    assert.equal(p.pending("disconnect"), 0, "no disconnect on the polling client");
    // Every request of the polling session came from its address and went to one node.
    const pollingLines = nginx
      .accessLog()
      .split("\n")
      .filter((l) => l.includes(`sid=${p.sid}`));
    assert.ok(pollingLines.length >= 10, `the polling session made requests through nginx: ${pollingLines.length}`);
    assert.deepStrictEqual([...new Set(pollingLines.map((l) => l.split(" ")[0]))], [pollingAddr], "from the agent's localAddress");
    const pollingUpstreams = new Set(pollingLines.map((l) => l.split(" ")[1]));
    assert.equal(pollingUpstreams.size, 1, `the polling session's requests all went to one upstream: ${[...pollingUpstreams]}`);

    // nginx logs a WebSocket when it closes: each client's source address (localAddress
    // reached the socket) went to the node that held its session.
    for (const c of [c1, c2]) c.close();
    const expected = [...onNode].map(([demo, c]) => [c.label.split("@")[1].split("→")[0], `127.0.0.1:${demo.port}`]);
    await eventually(
      async () => expected.every(([addr, upstream]) => nginx.accessLog().split("\n").some((l) => l.startsWith(`${addr} ${upstream} 101 `))),
      3_000,
      `nginx access log lines ${show(expected)}`,
    ).catch((err) => {
      throw new Error(`${err.message}\n${nginx.accessLog()}`);
    });
  });
});
