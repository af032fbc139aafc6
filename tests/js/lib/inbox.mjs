// Small helpers shared by the JS interop tests: an event inbox with bounded
// waits, a binary-aware normaliser for deep comparisons, and polling waits.

import assert from "node:assert/strict";

export const DEFAULT_WAIT_MS = 3_000;

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Collects events (name + argument list) in arrival order and lets a test
 * wait for the next one of a given name, with a timeout that names what was
 * seen so far when it expires.
 */
export class Inbox {
  constructor(label) {
    this.label = label;
    this.queues = new Map();
    this.waiters = new Map();
    this.seen = [];
  }

  #queue(name) {
    if (!this.queues.has(name)) this.queues.set(name, []);
    return this.queues.get(name);
  }

  #waiting(name) {
    if (!this.waiters.has(name)) this.waiters.set(name, []);
    return this.waiters.get(name);
  }

  push(name, args) {
    this.seen.push(name);
    const waiting = this.#waiting(name);
    if (waiting.length > 0) {
      const w = waiting.shift();
      clearTimeout(w.timer);
      w.resolve(args);
    } else {
      this.#queue(name).push(args);
    }
  }

  /** Resolves with the argument list of the next `name` event. */
  next(name, ms = DEFAULT_WAIT_MS) {
    const queued = this.#queue(name);
    if (queued.length > 0) return Promise.resolve(queued.shift());
    return new Promise((resolve, reject) => {
      const entry = { resolve, timer: null };
      entry.timer = setTimeout(() => {
        const waiting = this.#waiting(name);
        const i = waiting.indexOf(entry);
        if (i !== -1) waiting.splice(i, 1);
        reject(
          new Error(
            `${this.label}: no "${name}" event within ${ms} ms; events seen so far: [${this.seen.join(", ")}]`,
          ),
        );
      }, ms);
      this.#waiting(name).push(entry);
    });
  }

  /**
   * Resolves with `[name, args]` for whichever of `names` arrives first
   * (consuming only that one event).
   */
  async nextOf(names, ms = DEFAULT_WAIT_MS) {
    for (const name of names) {
      if (this.pending(name) > 0) return [name, this.#queue(name).shift()];
    }
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      await sleep(5);
      for (const name of names) {
        if (this.pending(name) > 0) return [name, this.#queue(name).shift()];
      }
    }
    throw new Error(
      `${this.label}: none of [${names.join(", ")}] within ${ms} ms; events seen so far: [${this.seen.join(", ")}]`,
    );
  }

  /** Number of `name` events received and not yet consumed by next(). */
  pending(name) {
    return this.#queue(name).length;
  }

  /** Waits `ms` and asserts that no (unconsumed) `name` event arrived. */
  async none(name, ms) {
    await sleep(ms);
    assert.equal(
      this.pending(name),
      0,
      `${this.label}: unexpected "${name}" event(s): ${JSON.stringify(this.#queue(name).map(describe))}`,
    );
  }
}

/** Records every incoming event of a socket.io-client Socket (and its Manager) into an Inbox. */
export function attachInbox(socket, label) {
  const inbox = new Inbox(label);
  socket.onAny((event, ...args) => inbox.push(event, args));
  socket.on("connect", () => inbox.push("connect", []));
  socket.on("disconnect", (reason, details) => inbox.push("disconnect", [reason, details]));
  socket.on("connect_error", (err) => inbox.push("connect_error", [err]));
  return inbox;
}

/**
 * Turns binary values (ArrayBuffer, Buffer, any typed array or DataView)
 * into `{ $binary: "<hex>" }` so that deepStrictEqual compares bytes, not
 * container types, and so a buffer that came back as JSON (for example
 * `{type:"Buffer",data:[...]}` or a leftover `{_placeholder:true}`) fails.
 */
export function normalize(value) {
  if (value instanceof ArrayBuffer) return { $binary: Buffer.from(value).toString("hex") };
  if (ArrayBuffer.isView(value)) {
    return { $binary: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("hex") };
  }
  if (Array.isArray(value)) return value.map(normalize);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, normalize(v)]));
  }
  return value;
}

export function assertSameArgs(actual, expected, message) {
  assert.deepStrictEqual(normalize(actual), normalize(expected), message);
}

export function isBinary(value) {
  return value instanceof ArrayBuffer || ArrayBuffer.isView(value);
}

/** Polls `predicate` every 10 ms until it is truthy or `ms` elapse. */
export async function waitFor(predicate, ms, what) {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(10);
  }
}

function describe(args) {
  try {
    return normalize(args.filter((a) => typeof a !== "function"));
  } catch {
    return String(args);
  }
}

/** Records on `mgr.connects` the payload of every CONNECT the manager writes, as JSON puts it
 * on the wire (`{nsp, data}`). */
export function recordConnects(mgr) {
  mgr.connects = [];
  const write = mgr._packet.bind(mgr);
  mgr._packet = (packet) => {
    if (packet.type === 0) {
      const data = packet.data === undefined ? undefined : JSON.parse(JSON.stringify(packet.data));
      mgr.connects.push({ nsp: packet.nsp, data });
    }
    return write(packet);
  };
}
