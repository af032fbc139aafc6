// A cluster fixture for node:test: one fresh redis-server and two nodes (any kinds), with
// the clients each test opens closed after it, and every process stopped by PID at the end
// (also when a test failed).

import assert from "node:assert/strict";
import { after, afterEach, before } from "node:test";

import { createClient } from "redis";

import { Client } from "./client.mjs";
import { ClusterNode } from "./nodes.mjs";
import { sleep } from "./proc.mjs";
import { RedisServer } from "./redis.mjs";

export const REQUEST_CHANNEL = "socket.io-request#/#";

/** Polls `probe` (async, returns a truthy value when done) every `everyMs` until `ms` pass. */
export async function eventually(probe, ms, what, everyMs = 50) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    try {
      last = await probe();
      if (last) return last;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      const detail = last instanceof Error ? last.message : JSON.stringify(last);
      throw new Error(`timed out after ${ms} ms waiting for ${what} (last: ${detail})`);
    }
    await sleep(everyMs);
  }
}

/** A plain node-redis client (for PUBSUB NUMSUB, raw publishes, a silent subscriber). */
export async function rawRedis(url) {
  const client = createClient({ url, socket: { reconnectStrategy: false } });
  client.on("error", () => {}); // reported through the failing command instead
  await client.connect();
  return client;
}

/** PUBSUB NUMSUB of the adapter's request channel: the adapter's idea of the server count. */
export async function numsub(url) {
  const client = await rawRedis(url);
  try {
    const reply = await client.sendCommand(["PUBSUB", "NUMSUB", REQUEST_CHANNEL]);
    return Number(reply[1]);
  } finally {
    await client.disconnect();
  }
}

/**
 * Registers before/after hooks for a cluster of `kinds` (e.g. ["rust", "node"]) named
 * `names`; returns a state object: redis, nodes, client(node, label, options).
 */
export function useCluster(kinds, { names = ["A", "B"], env = {} } = {}) {
  const state = { redis: new RedisServer(`redis-${kinds.join("-")}`), nodes: [], clients: [] };

  before(async () => {
    await state.redis.start();
    state.nodes = kinds.map((kind, i) => new ClusterNode(kind, names[i], state.redis.url, env));
    await Promise.all(state.nodes.map((n) => n.start()));
    // Ready when every node's adapter has subscribed to the request channel.
    await eventually(async () => (await numsub(state.redis.url)) === kinds.length, 10_000, `${kinds.length} subscribers on ${REQUEST_CHANNEL}`);
  });

  afterEach(async () => {
    await state.closeClients();
  });

  after(async () => {
    await state.closeClients();
    const dead = state.nodes.filter((n) => !n.alive());
    const tails = dead.map((n) => n.logTail()).join("\n");
    await Promise.all(state.nodes.map((n) => n.stop()));
    await state.redis.kill();
    assert.deepStrictEqual(dead.map((n) => n.label), [], `node(s) died during the tests:\n${tails}`);
  });

  /** A connected websocket client on `node` (auth {user: label} unless given). */
  state.client = async (node, label, options = {}) => {
    const c = new Client(node.url, `${label}@${node.name}`, { auth: { user: label }, ...options });
    state.clients.push(c);
    const welcome = await c.connect("welcome");
    assert.deepStrictEqual(welcome, { id: c.id, node: node.name }, `${c.label}: welcome`);
    return c;
  };

  state.closeClients = async () => {
    const open = state.clients.splice(0);
    for (const c of open) c.close();
    // Let the nodes see the disconnects (and leave the rooms) before the next test.
    if (open.length > 0) await sleep(100);
  };

  /** The logs of both nodes, for failure messages. */
  state.logs = () => state.nodes.map((n) => n.logTail(2_000)).join("\n");

  return state;
}
