"use strict";
// Contract check of one benchmark peer (run by `bench/run --check`; usable alone):
//
//   node bench/node/check.js --url http://127.0.0.1:PORT [--transports websocket,polling]
//
// For each transport it tests, with socket.io-client on namespace "/": echo with an ack,
// echo without an ack (answered by an "echo" event), join's ack, and broadcast to a room with
// two members, sent by a non-member (members get it once, the sender nothing) and by a member
// (the sender is included). A binary echo is tried too but only reported (INFO), since the
// contract does not require it. Prints one line per test and "N passed, N failed"; exits 1 on any
// failure.

const { io } = require("socket.io-client");
const { isDeepStrictEqual, inspect } = require("node:util");

const QUIET_MS = 300; // how long "nothing else arrives" is watched for
const STEP_TIMEOUT_MS = 5000;

function parseArgs(argv) {
  const opts = { url: null, transports: ["websocket", "polling"] };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--url") opts.url = argv[++i];
    else if (argv[i] === "--transports") opts.transports = argv[++i].split(",");
    else throw new Error(`unknown argument ${argv[i]}`);
  }
  if (!opts.url) throw new Error("--url is required");
  return opts;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function withTimeout(promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), STEP_TIMEOUT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// A client that records every event it receives, so tests can also assert what did NOT arrive.
class Client {
  constructor(url, transport, name) {
    this.name = name;
    this.events = [];
    this.waiters = [];
    this.socket = io(url, {
      transports: [transport],
      upgrade: false,
      reconnection: false,
      forceNew: true,
      timeout: STEP_TIMEOUT_MS,
    });
    this.socket.onAny((event, ...args) => {
      this.events.push({ event, args });
      for (const waiter of this.waiters.splice(0)) waiter();
    });
  }

  connect() {
    return withTimeout(
      new Promise((resolve, reject) => {
        this.socket.once("connect", resolve);
        this.socket.once("connect_error", reject);
      }),
      `${this.name} to connect`,
    );
  }

  // Resolves with the args of the first recorded `event` not yet taken.
  async next(event) {
    const deadline = Date.now() + STEP_TIMEOUT_MS;
    for (;;) {
      const index = this.events.findIndex((e) => e.event === event);
      if (index >= 0) return this.events.splice(index, 1)[0].args;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.name}: no "${event}" event within ${STEP_TIMEOUT_MS} ms`);
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  // Fails when any event arrived (after a quiet period) that no test took.
  async expectNothing(what) {
    await sleep(QUIET_MS);
    if (this.events.length > 0) {
      const got = this.events.splice(0).map((e) => `${e.event}(${inspect(e.args, { depth: 4 })})`);
      throw new Error(`${this.name} got unexpected ${what}: ${got.join(", ")}`);
    }
  }

  ack(event, ...args) {
    return withTimeout(this.socket.emitWithAck(event, ...args), `${this.name}'s ack of "${event}"`);
  }

  close() {
    this.socket.disconnect();
  }
}

function expectEqual(got, want, what) {
  if (!isDeepStrictEqual(got, want)) {
    throw new Error(`${what}: got ${inspect(got, { depth: 6 })}, want ${inspect(want, { depth: 6 })}`);
  }
}

const PAYLOADS = {
  string: "x".repeat(64),
  object: { text: "héllo ✓ \"quoted\" \\ / \n", list: [1, 2.5, -3e-7, null, true, false], nested: { a: [] } },
};

async function runTransport(url, transport, report) {
  const tag = transport.padEnd(9);
  const test = async (name, fn, info = false) => {
    try {
      await fn();
      report(info ? "INFO" : "PASS", `${tag} ${name}${info ? " (not required): ok" : ""}`);
    } catch (err) {
      report(info ? "INFO" : "FAIL", `${tag} ${name}${info ? " (not required): " : ": "}${err.message}`);
      // Whatever this test left in flight must not be blamed on the next one.
      await sleep(QUIET_MS);
      for (const client of [a, b, c]) client.events.length = 0;
    }
  };

  const a = new Client(url, transport, "A");
  const b = new Client(url, transport, "B");
  const c = new Client(url, transport, "C");
  try {
    try {
      await Promise.all([a.connect(), b.connect(), c.connect()]);
      report("PASS", `${tag} connect 3 clients`);
    } catch (err) {
      report("FAIL", `${tag} connect 3 clients: ${err.message || err}`);
      return;
    }

    for (const [kind, payload] of Object.entries(PAYLOADS)) {
      await test(`echo with ack (${kind}) -> ack with the argument, no "echo" event`, async () => {
        expectEqual(await a.ack("echo", payload), payload, "ack");
        await a.expectNothing("events after an acked echo");
      });
      await test(`echo without ack (${kind}) -> one "echo" event with the argument`, async () => {
        a.socket.emit("echo", payload);
        expectEqual(await a.next("echo"), [payload], '"echo" event args');
        await a.expectNothing("more events");
      });
    }

    await test("join -> ack with the room name", async () => {
      expectEqual(await a.ack("join", "room-1"), "room-1", "A's join ack");
      expectEqual(await b.ack("join", "room-1"), "room-1", "B's join ack");
      expectEqual(await c.ack("join", "room-other"), "room-other", "C's join ack");
    });

    await test("broadcast by a non-member -> both members once, not the sender", async () => {
      c.socket.emit("broadcast", "room-1", PAYLOADS.object);
      expectEqual(await a.next("broadcast"), [PAYLOADS.object], "A's broadcast");
      expectEqual(await b.next("broadcast"), [PAYLOADS.object], "B's broadcast");
      await Promise.all([a.expectNothing("extra events"), b.expectNothing("extra events"), c.expectNothing("events")]);
    });

    await test("broadcast by a member -> both members including the sender", async () => {
      a.socket.emit("broadcast", "room-1", "from-a");
      expectEqual(await a.next("broadcast"), ["from-a"], "A's broadcast");
      expectEqual(await b.next("broadcast"), ["from-a"], "B's broadcast");
      await Promise.all([a.expectNothing("extra events"), b.expectNothing("extra events"), c.expectNothing("events")]);
    });

    await test("broadcast to a room nobody is in -> nothing", async () => {
      c.socket.emit("broadcast", "room-empty", "nobody");
      await Promise.all([a.expectNothing("events"), b.expectNothing("events"), c.expectNothing("events")]);
    });

    await test(
      "echo with ack (binary Buffer) -> the same bytes",
      async () => {
        const bytes = Buffer.from([0, 1, 2, 250, 255]);
        const got = await a.ack("echo", bytes);
        if (!Buffer.isBuffer(got) || !got.equals(bytes)) {
          throw new Error(`got ${inspect(got)}`);
        }
      },
      true,
    );
  } finally {
    a.close();
    b.close();
    c.close();
  }
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  let passed = 0;
  let failed = 0;
  const report = (status, line) => {
    if (status === "PASS") passed++;
    if (status === "FAIL") failed++;
    process.stdout.write(`${status.padEnd(4)} ${line}\n`);
  };
  for (const transport of opts.transports) {
    await runTransport(opts.url, transport, report);
  }
  process.stdout.write(`${passed} passed, ${failed} failed\n`);
  process.exit(failed === 0 ? 0 : 1);
}

main().catch((err) => {
  process.stderr.write(`check crashed: ${err.stack || err}\n`);
  process.exit(2);
});
