// Official socket.io-client sockets for the cluster tests, each on its own Manager, with
// an inbox of every event received (bounded waits, "nothing arrived" checks) and the
// `ctl` request of the cluster node contract.

import assert from "node:assert/strict";

import { io } from "socket.io-client";

export const WAIT_MS = 4_000;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Binary values as {$binary: hex} so that deep comparisons look at bytes only. */
export function normalize(value) {
  if (value instanceof ArrayBuffer) return { $binary: Buffer.from(value).toString("hex") };
  if (ArrayBuffer.isView(value)) return { $binary: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("hex") };
  if (Array.isArray(value)) return value.map(normalize);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, normalize(v)]));
  }
  return value;
}

export function show(value) {
  let text;
  try {
    text = JSON.stringify(normalize(value));
  } catch {
    text = String(value);
  }
  if (text === undefined) text = String(value);
  return text.length > 300 ? `${text.slice(0, 297)}...` : text;
}

/** Events in arrival order per name, with waits that time out with what was seen. */
class Inbox {
  constructor(label) {
    this.label = label;
    this.queues = new Map();
    this.waiters = new Map();
    this.seen = [];
  }

  queue(name) {
    if (!this.queues.has(name)) this.queues.set(name, []);
    return this.queues.get(name);
  }

  push(name, args) {
    this.seen.push(name);
    const waiting = this.waiters.get(name);
    if (waiting && waiting.length > 0) {
      const w = waiting.shift();
      clearTimeout(w.timer);
      w.resolve(args);
    } else {
      this.queue(name).push(args);
    }
  }

  next(name, ms) {
    const queued = this.queue(name);
    if (queued.length > 0) return Promise.resolve(queued.shift());
    return new Promise((resolve, reject) => {
      if (!this.waiters.has(name)) this.waiters.set(name, []);
      const list = this.waiters.get(name);
      const entry = { resolve, timer: null };
      entry.timer = setTimeout(() => {
        const i = list.indexOf(entry);
        if (i !== -1) list.splice(i, 1);
        const recent = this.seen.slice(-20).join(", ");
        reject(new Error(`${this.label}: no "${name}" event within ${ms} ms; last events seen: [${recent}]`));
      }, ms);
      list.push(entry);
    });
  }
}

/**
 * One client socket. `options`: transports (default websocket only), auth, localAddress
 * (websocket source address), agent (an http.Agent, used by polling and websocket).
 */
export class Client {
  constructor(url, label, options = {}) {
    this.url = url;
    this.label = label;
    const opts = {
      forceNew: true,
      autoConnect: false,
      reconnection: false,
      timeout: 5_000,
      transports: options.transports || ["websocket"],
    };
    if (options.auth !== undefined) opts.auth = options.auth;
    if (options.localAddress) opts.localAddress = options.localAddress;
    if (options.agent) opts.agent = options.agent;
    this.socket = io(url, opts);
    this.inbox = new Inbox(label);
    this.welcome = null;
    this.socket.onAny((event, ...args) => this.inbox.push(event, args));
    this.socket.on("connect", () => this.inbox.push("connect", []));
    this.socket.on("disconnect", (reason) => this.inbox.push("disconnect", [reason]));
    this.socket.on("connect_error", (err) => this.inbox.push("connect_error", [err]));
  }

  get id() {
    return this.socket.id;
  }

  /** The Engine.IO session id (what the polling endpoints know the session by). */
  get sid() {
    return this.socket.io.engine ? this.socket.io.engine.id : null;
  }

  get transport() {
    return this.socket.io.engine ? this.socket.io.engine.transport.name : null;
  }

  /** Connects; resolves once connected (and, with `welcomeEvent`, with that event's first argument). */
  async connect(welcomeEvent = "welcome") {
    this.socket.connect();
    const connected = this.inbox.next("connect", 6_000);
    const failed = this.inbox.next("connect_error", 6_000).then(([err]) => {
      throw new Error(`${this.label}: connect_error ${err && err.message} (${this.url})`);
    });
    failed.catch(() => {});
    await Promise.race([connected, failed]);
    if (welcomeEvent) {
      const [welcome] = await this.inbox.next(welcomeEvent, WAIT_MS);
      this.welcome = welcome;
      return welcome;
    }
    return null;
  }

  /** The argument list of the next `name` event. */
  next(name, ms = WAIT_MS) {
    return this.inbox.next(name, ms);
  }

  /** Number of `name` events received and not consumed. */
  pending(name) {
    return this.inbox.queue(name).length;
  }

  /** Drops every queued `name` event; returns them. */
  drain(name) {
    const q = this.inbox.queue(name);
    return q.splice(0, q.length);
  }

  /** Emits with an ack; resolves with the ack's first argument (rejects after `ms`). */
  request(event, args, ms = WAIT_MS) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${this.label}: no ack for ${event} ${show(args)} within ${ms} ms`)),
        ms,
      );
      this.socket.emit(event, ...args, (reply) => {
        clearTimeout(timer);
        resolve(reply);
      });
    });
  }

  /** The contract's ctl request; resolves with the ack object. */
  ctl(cmd, ms = WAIT_MS) {
    return this.request("ctl", [cmd], ms);
  }

  /** ctl that must succeed ({ok:true, ...}); resolves with the reply. */
  async ok(cmd, ms = WAIT_MS) {
    const reply = await this.ctl(cmd, ms);
    assert.ok(reply && reply.ok === true, `${this.label}: ctl ${show(cmd)} should answer ok:true, got ${show(reply)}`);
    return reply;
  }

  /** Answers every `event` with `answer(args)` as the ack's single argument. */
  answer(event, answer) {
    this.socket.on(event, (...args) => {
      const ack = args.pop();
      if (typeof ack === "function") ack(answer(args));
    });
  }

  close() {
    this.socket.disconnect();
  }
}

/** After `ms`, none of `clients` has an unconsumed event from `names` (a stray one fails). */
export async function quiet(clients, names, ms = 300) {
  await sleep(ms);
  const strays = [];
  for (const c of clients) {
    for (const name of names) {
      for (const args of c.inbox.queue(name)) strays.push(`${c.label} got "${name}" ${show(args)}`);
    }
  }
  assert.deepStrictEqual(strays, [], `unexpected events:\n  ${strays.join("\n  ")}`);
}
