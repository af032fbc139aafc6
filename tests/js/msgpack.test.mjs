// The msgpack parser on the wire: the interop server started with PARSER=msgpack, driven by raw
// WebSockets (package `ws`) and raw polling requests, packets built with socket.io-msgpack-parser's
// encoder or byte by byte. Hostile input closes only the session that sent it; a healthy
// socket.io-client with the msgpack parser keeps working next to it.
//
// Run: INTEROP_SERVER=target/debug/examples/interop_server node --test tests/js/msgpack.test.mjs

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Manager } from "socket.io-client";
import msgpackParser from "socket.io-msgpack-parser";
import WebSocket from "ws";

import { assertSameArgs, attachInbox } from "./lib/inbox.mjs";
import { InteropServer } from "./lib/server.mjs";

const TEST_TIMEOUT_MS = 20_000;
const WAIT_MS = 3_000;

const server = new InteropServer(undefined, { env: { PARSER: "msgpack" } });
let baseUrl;

/** One packet as the npm parser's encoder writes it (one Buffer). */
function encode(packet) {
  const [buffer] = new msgpackParser.Encoder().encode(packet);
  return buffer;
}

/** Decodes with the npm parser's decoder, which also runs its `checkPacket`. */
function decode(buffer) {
  const decoder = new msgpackParser.Decoder();
  let out = null;
  decoder.on("decoded", (packet) => {
    out = packet;
  });
  decoder.add(buffer);
  return out;
}

/** A msgpack packet map `{type, nsp: "/", data: [..."e", <raw>]}` around raw data bytes. */
function eventWithRawData(dataBytes) {
  const head = Buffer.from([0x83, 0xa4, ...Buffer.from("type"), 0x02, 0xa3, ...Buffer.from("nsp"), 0xa1, 0x2f]);
  const key = Buffer.from([0xa4, ...Buffer.from("data")]);
  return Buffer.concat([head, key, Buffer.from(dataBytes)]);
}

/** A raw Engine.IO WebSocket: records every message, answers pings. */
class RawSocket {
  constructor() {
    this.messages = [];
    this.closed = null;
    this.waiters = [];
    this.ws = new WebSocket(`${baseUrl.replace("http", "ws")}/socket.io/?EIO=4&transport=websocket`);
    this.ws.on("message", (data, isBinary) => {
      if (!isBinary && data.toString() === "2") {
        this.ws.send("3");
        return;
      }
      this.messages.push(isBinary ? { binary: Buffer.from(data) } : { text: data.toString() });
      this.wake();
    });
    this.ws.on("close", (code) => {
      this.closed = { code };
      this.wake();
    });
    this.ws.on("error", () => {});
  }

  wake() {
    for (const w of this.waiters.splice(0)) w();
  }

  async until(predicate, what, ms = WAIT_MS) {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = predicate();
      if (found) return found;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
      await new Promise((r) => {
        const timer = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          r();
        });
      });
    }
  }

  /** The next binary message, decoded by the npm parser. */
  async nextPacket(what = "a binary packet") {
    const message = await this.until(() => {
      const i = this.messages.findIndex((m) => m.binary);
      return i === -1 ? null : this.messages.splice(i, 1)[0];
    }, what);
    return decode(message.binary);
  }

  /** Opens the session and joins `/`; resolves with the CONNECT packet. */
  async join() {
    const open = await this.until(() => this.messages.find((m) => m.text?.startsWith("0")), "the OPEN packet");
    this.messages.splice(this.messages.indexOf(open), 1);
    this.ws.send(encode({ type: 0, nsp: "/" }));
    const connect = await this.nextPacket("CONNECT");
    const welcome = await this.nextPacket("welcome");
    assert.deepStrictEqual(welcome.data[0], "welcome");
    return connect;
  }

  send(data, binary = true) {
    this.ws.send(data, { binary });
  }

  async closedBy(what) {
    await this.until(() => this.closed, `the server to close the session after ${what}`);
    return this.closed;
  }

  close() {
    this.ws.terminate();
  }
}

/** A healthy official client with the msgpack parser over a WebSocket. */
async function healthyClient() {
  const mgr = new Manager(baseUrl, { forceNew: true, reconnection: false, transports: ["websocket"], parser: msgpackParser });
  const socket = mgr.socket("/");
  socket.inbox = attachInbox(socket, "healthy");
  await socket.inbox.next("connect", 5_000);
  await socket.inbox.next("welcome");
  return socket;
}

async function stillHealthy(socket, id, what) {
  assert.ok(socket.connected, `healthy client still connected after ${what}`);
  assert.equal(socket.id, id, `healthy client kept its socket after ${what}`);
  socket.emit("echo", what, Buffer.from([1, 2, 3]));
  assertSameArgs(await socket.inbox.next("echo-back"), [what, Buffer.from([1, 2, 3])]);
}

// --------------------------------------------------------------- polling helpers

function b64Packet(buffer) {
  return `b${buffer.toString("base64")}`;
}

async function pollingOpen() {
  const res = await fetch(`${baseUrl}/socket.io/?EIO=4&transport=polling`);
  assert.equal(res.status, 200);
  const body = await res.text();
  assert.ok(body.startsWith("0{"), `OPEN packet, got ${body}`);
  return JSON.parse(body.slice(1)).sid;
}

async function pollingPost(sid, body) {
  const res = await fetch(`${baseUrl}/socket.io/?EIO=4&transport=polling&sid=${sid}`, {
    method: "POST",
    body,
    headers: { "content-type": "text/plain;charset=UTF-8" },
  });
  return { status: res.status, body: await res.text() };
}

/** GETs until `count` Engine.IO packets arrived (pings answered); returns them. */
async function pollingGet(sid, count = 1) {
  const packets = [];
  const deadline = Date.now() + WAIT_MS;
  while (packets.length < count) {
    assert.ok(Date.now() < deadline, `only ${packets.length} of ${count} packets arrived`);
    const res = await fetch(`${baseUrl}/socket.io/?EIO=4&transport=polling&sid=${sid}`);
    const body = await res.text();
    if (res.status !== 200) return { packets, status: res.status, body };
    for (const packet of body.split("\x1e")) {
      if (packet === "2") await pollingPost(sid, "3");
      else packets.push(packet);
    }
  }
  return { packets, status: 200 };
}

/** A `b<base64>` polling packet decoded by the npm parser. */
function decodePolled(packet) {
  assert.ok(packet.startsWith("b"), `a binary (b) packet, got ${JSON.stringify(packet.slice(0, 40))}`);
  return decode(Buffer.from(packet.slice(1), "base64"));
}

// --------------------------------------------------------------- the tests

describe("msgpack parser on the wire (interop server with PARSER=msgpack)", () => {
  before(async () => {
    baseUrl = await server.start();
    console.log(`# interop server ${server.path} at ${baseUrl} (PARSER=msgpack); stderr log: ${server.logPath}`);
  });

  after(async () => {
    const crashed = await server.stop();
    assert.equal(crashed, null, `interop server exited during the tests: ${JSON.stringify(crashed)} (log: ${server.logPath})`);
  });

  it("a raw WebSocket: CONNECT, events, acks and binary as single msgpack binary frames", { timeout: TEST_TIMEOUT_MS }, async () => {
    const raw = new RawSocket();
    try {
      const connect = await raw.join();
      assert.deepStrictEqual(Object.keys(connect), ["type", "data", "nsp"], "CONNECT: type, data, nsp and no id");
      assert.equal(connect.type, 0);
      assert.equal(connect.nsp, "/");
      assert.deepStrictEqual(Object.keys(connect.data), ["sid"]);
      assert.equal(typeof connect.data.sid, "string");

      raw.send(encode({ type: 2, nsp: "/", data: ["echo", 1, "two", { three: Buffer.from([3]) }, [Buffer.from([4, 4])]] }));
      const echoed = await raw.nextPacket("echo-back");
      assert.deepStrictEqual(Object.keys(echoed), ["type", "data", "nsp"]);
      assert.equal(echoed.type, 2);
      assertSameArgs(echoed.data, ["echo-back", 1, "two", { three: Buffer.from([3]) }, [Buffer.from([4, 4])]]);
      assert.ok(Buffer.isBuffer(echoed.data[3].three), "binary comes back as msgpack bin (a Buffer)");

      raw.send(encode({ type: 2, nsp: "/", id: 42, data: ["ack-me", Buffer.from("x")] }));
      const ack = await raw.nextPacket("ACK");
      assert.deepStrictEqual(ack, { type: 3, data: [Buffer.from("x")], nsp: "/", id: 42 });

      raw.send(encode({ type: 2, nsp: "/", data: ["ask", "q"] }));
      const question = await raw.nextPacket("question");
      assert.equal(question.type, 2);
      assert.deepStrictEqual(question.data, ["question", "q"]);
      assert.ok(Number.isInteger(question.id), "the server's question carries an ack id");
      raw.send(encode({ type: 3, nsp: "/", id: question.id, data: ["a", Buffer.from([9])] }));
      const answer = await raw.nextPacket("answer");
      assertSameArgs(answer.data, ["answer", "a", Buffer.from([9])]);

      // An unknown namespace is refused with a msgpack CONNECT_ERROR.
      raw.send(encode({ type: 0, nsp: "/nope" }));
      const refused = await raw.nextPacket("CONNECT_ERROR");
      assert.deepStrictEqual(refused, { type: 4, data: { message: "Invalid namespace" }, nsp: "/nope" });

      // The server disconnects the namespace: a DISCONNECT without data.
      raw.send(encode({ type: 2, nsp: "/", data: ["disconnect-me"] }));
      assert.deepStrictEqual(await raw.nextPacket("DISCONNECT"), { type: 1, nsp: "/" });
      assert.equal(raw.closed, null, "the Engine.IO session stays open");
    } finally {
      raw.close();
    }
  });

  it("notepack's undefined, Date, ArrayBuffer and integers reach handlers as JSON would have them", { timeout: TEST_TIMEOUT_MS }, async () => {
    const socket = await healthyClient();
    try {
      const date = new Date(Date.UTC(2024, 1, 29, 12, 34, 56, 789));
      socket.emit("echo", date, undefined, { a: undefined, b: 1 }, new Uint8Array([7, 8]).buffer, -(2 ** 40), 2 ** 53 - 1, 0.1);
      const back = await socket.inbox.next("echo-back");
      assertSameArgs(back, ["2024-02-29T12:34:56.789Z", null, { b: 1 }, Buffer.from([7, 8]), -(2 ** 40), 2 ** 53 - 1, 0.1]);
    } finally {
      socket.disconnect();
    }
  });

  const hostile = [
    ["garbage bytes", Buffer.from([0xc1, 0xff, 0x00, 0x13, 0x37])],
    ["a text frame", "42[\"echo\",1]", false],
    ["an empty binary frame", Buffer.alloc(0)],
    ["truncated msgpack", encode({ type: 2, nsp: "/", data: ["echo", "x".repeat(40)] }).subarray(0, 30)],
    ["a trailing byte", Buffer.concat([encode({ type: 2, nsp: "/", data: ["echo"] }), Buffer.from([0xc0])])],
    ["a depth bomb", eventWithRawData([0x92, 0xa4, ...Buffer.from("echo"), ...Array(100_000).fill(0x91), 0xc0])],
    ["an array32 claiming 4 billion elements", eventWithRawData([0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0])],
    ["a map key that is not a string", eventWithRawData([0x92, 0xa4, ...Buffer.from("echo"), 0x81, 0x01, 0x02])],
    ["an extension type notepack never writes", eventWithRawData([0x92, 0xa4, ...Buffer.from("echo"), 0xd4, 0x05, 0x00])],
    ["a packet that is an array", encode([2, "/", ["echo"]])],
    ["type 5 (no binary types in msgpack)", encode({ type: 5, nsp: "/", data: ["echo"] })],
    ["type as a string", encode({ type: "2", nsp: "/", data: ["echo"] })],
    ["no nsp", encode({ type: 2, data: ["echo"] })],
    ["nsp a number", encode({ type: 2, nsp: 1, data: ["echo"] })],
    ["id a string", encode({ type: 2, nsp: "/", id: "1", data: ["echo"] })],
    ["id null", encode({ type: 2, nsp: "/", id: null, data: ["echo"] })],
    ["id negative", encode({ type: 2, nsp: "/", id: -1, data: ["echo"] })],
    ["id 1.5", encode({ type: 2, nsp: "/", id: 1.5, data: ["echo"] })],
    ["EVENT data an object", encode({ type: 2, nsp: "/", data: { echo: 1 } })],
    ["EVENT data empty", encode({ type: 2, nsp: "/", data: [] })],
    ["EVENT name an object", encode({ type: 2, nsp: "/", data: [{}] })],
    ["EVENT named connect", encode({ type: 2, nsp: "/", data: ["connect"] })],
    ["ACK data a string", encode({ type: 3, nsp: "/", id: 1, data: "x" })],
    ["DISCONNECT with data", encode({ type: 1, nsp: "/", data: {} })],
    ["CONNECT with an array", encode({ type: 0, nsp: "/admin", data: [1] })],
    ["a CONNECT_ERROR from the client", encode({ type: 4, nsp: "/", data: "no" })],
    ["an EVENT for a namespace not joined", encode({ type: 2, nsp: "/admin", data: ["echo"] })],
  ];

  it("hostile input over a raw WebSocket closes only that session", { timeout: 60_000 }, async () => {
    const healthy = await healthyClient();
    const id = healthy.id;
    try {
      for (const [what, data, binary = true] of hostile) {
        const raw = new RawSocket();
        try {
          await raw.join();
          raw.send(data, binary);
          await raw.closedBy(what);
          await stillHealthy(healthy, id, what);
        } finally {
          raw.close();
        }
      }
      // Hostile input before any namespace is joined closes the session too.
      const raw = new RawSocket();
      try {
        await raw.until(() => raw.messages.find((m) => m.text?.startsWith("0")), "the OPEN packet");
        raw.send(Buffer.from([0x93, 0x01]));
        await raw.closedBy("garbage before CONNECT");
      } finally {
        raw.close();
      }
      await stillHealthy(healthy, id, "garbage before CONNECT");
      assert.ok(server.alive(), "the server survived");
    } finally {
      healthy.disconnect();
    }
  });

  it("polling: packets travel as b<base64>, and a text packet closes that session only", { timeout: TEST_TIMEOUT_MS }, async () => {
    const healthy = await healthyClient();
    const id = healthy.id;
    try {
      const sid = await pollingOpen();
      assert.deepStrictEqual(await pollingPost(sid, b64Packet(encode({ type: 0, nsp: "/" }))), { status: 200, body: "ok" });
      const { packets } = await pollingGet(sid, 2);
      const connect = decodePolled(packets[0]);
      assert.equal(connect.type, 0);
      assert.equal(typeof connect.data.sid, "string");
      assert.equal(decodePolled(packets[1]).data[0], "welcome");

      // Two packets in one POST body, binary inside, an ack id.
      const body = [
        b64Packet(encode({ type: 2, nsp: "/", data: ["echo", { blob: Buffer.from([0, 255]) }] })),
        b64Packet(encode({ type: 2, nsp: "/", id: 7, data: ["ack-me", "é😀"] })),
      ].join("\x1e");
      assert.equal((await pollingPost(sid, body)).status, 200);
      const answers = (await pollingGet(sid, 2)).packets.map(decodePolled);
      assertSameArgs(answers[0].data, ["echo-back", { blob: Buffer.from([0, 255]) }]);
      assert.deepStrictEqual(answers[1], { type: 3, data: ["é😀"], nsp: "/", id: 7 });

      // A text message packet is a protocol error under msgpack: the session closes.
      await pollingPost(sid, '42["echo",1]');
      const last = await pollingGet(sid, 1);
      assert.ok(
        last.status === 400 || last.packets.at(-1) === "1",
        `the session is closed (close packet or unknown sid), got ${last.status} ${JSON.stringify(last.packets)}`,
      );
      await stillHealthy(healthy, id, "a text packet over polling");
    } finally {
      healthy.disconnect();
    }
  });
});
