// The reference cluster node: Node.js socket.io 4.8 with @socket.io/redis-adapter 8.3
// (classic Redis Pub/Sub protocol, node-redis v4 clients), speaking the same "cluster
// node contract" as examples/cluster_node.rs so that the tests can pair either with
// either (tests/cluster/cluster.test.mjs).
//
// Environment:
//   PORT                 port to listen on, 127.0.0.1 only (0 = ephemeral; default 0)
//   REDIS_URL            e.g. redis://127.0.0.1:6390 (default redis://127.0.0.1:6379)
//   NODE_NAME            this node's name, sent in `welcome` and in `node-ask` answers
//   REQUESTS_TIMEOUT_MS  the adapter's inter-node request timeout (default 5000)
//
// First line on stdout: `LISTENING 127.0.0.1:<port>`. Diagnostics go to stderr.
//
// Clients drive the node with `ctl` events: socket.emit("ctl", {op, ...}, ack).
// The contract: tests/cluster/README.md (and the `ops` table below).

import { createServer } from "node:http";

import { RedisAdapter, createAdapter } from "@socket.io/redis-adapter";
import { createClient } from "redis";
import { Server } from "socket.io";

const port = Number.parseInt(process.env.PORT ?? "0", 10);
const redisUrl = process.env.REDIS_URL || "redis://127.0.0.1:6379";
const nodeName = process.env.NODE_NAME || `node-${process.pid}`;
const requestsTimeout = Number.parseInt(process.env.REQUESTS_TIMEOUT_MS || "5000", 10);

const log = (...parts) => console.error(`[${nodeName}]`, ...parts);

// The adapter does not guard against everything a peer (or anyone with access to Redis)
// may publish: bytes that are not msgpack on the broadcast channel throw inside node-redis'
// reply decoder (an uncaught exception that ends the process; caught at process level, the
// connection's decoder is left broken and broadcasts stop), and a request such as
// {"type":5} without `opts` rejects in its async handler (an unhandled rejection, which
// also ends the process). The test harness wants the reference node to outlive such input,
// as the Rust node must, so the adapter's three message handlers are wrapped to log and
// drop what they cannot handle. NODE_NODE_STRICT=1 runs the stock adapter unguarded.
if (process.env.NODE_NODE_STRICT !== "1") {
  const guard = (name) => {
    const original = RedisAdapter.prototype[name];
    RedisAdapter.prototype[name] = function guarded(...args) {
      const dropped = (err) => log(`GUARDED ${name}: dropped a message it could not handle:`, err && err.message);
      try {
        const result = original.apply(this, args);
        if (result && typeof result.catch === "function") return result.catch(dropped);
        return result;
      } catch (err) {
        dropped(err);
        return undefined;
      }
    };
  };
  for (const name of ["onmessage", "onrequest", "onresponse"]) guard(name);
  process.on("uncaughtException", (err) => log("GUARDED uncaughtException:", err && err.stack ? err.stack : err));
  process.on("unhandledRejection", (err) => log("GUARDED unhandledRejection:", err && err.stack ? err.stack : err));
}

const pubClient = createClient({ url: redisUrl });
const subClient = pubClient.duplicate();
// Without an "error" listener node-redis would throw on every failed reconnect attempt.
pubClient.on("error", (err) => log("redis pub error:", err.message));
subClient.on("error", (err) => log("redis sub error:", err.message));
await Promise.all([pubClient.connect(), subClient.connect()]);

const httpServer = createServer();
const io = new Server(httpServer, {
  adapter: createAdapter(pubClient, subClient, { requestsTimeout }),
});

// ------------------------------------------------------------------ server-side events

/** Every server-side event this node received, in order: {event, args}. */
const serverEvents = [];

io.on("node-hello", (...args) => {
  serverEvents.push({ event: "node-hello", args });
});

io.on("node-ask", (...args) => {
  const callback = typeof args[args.length - 1] === "function" ? args.pop() : null;
  serverEvents.push({ event: "node-ask", args });
  if (callback) callback({ node: nodeName, args });
});

// ------------------------------------------------------------------ the ctl operations

/** Empty or missing room lists mean the whole namespace. */
const roomList = (value) => {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? value : [value];
};

/** io.to(rooms).except(except), optionally with a timeout first. */
function target(cmd, timeout) {
  const base = timeout === undefined ? io : io.timeout(timeout);
  return base.to(roomList(cmd.rooms)).except(roomList(cmd.except));
}

const errorText = (err) => String(err);

const ops = {
  async join(cmd, socket) {
    await socket.join(cmd.room);
    return { ok: true };
  },

  async leave(cmd, socket) {
    await socket.leave(cmd.room);
    return { ok: true };
  },

  data(cmd, socket) {
    socket.data = cmd.data;
    return { ok: true };
  },

  emit(cmd) {
    target(cmd).emit(cmd.event, ...(cmd.args || []));
    return { ok: true };
  },

  broadcast(cmd, socket) {
    socket.broadcast.emit(cmd.event, ...(cmd.args || []));
    return { ok: true };
  },

  async emitWithAck(cmd) {
    try {
      const responses = await target(cmd, cmd.timeout ?? 5000).emitWithAck(cmd.event, ...(cmd.args || []));
      return { ok: true, responses };
    } catch (err) {
      return { ok: false, error: errorText(err), responses: Array.isArray(err.responses) ? err.responses : [] };
    }
  },

  async fetchSockets(cmd) {
    try {
      const sockets = await io.in(roomList(cmd.rooms)).except(roomList(cmd.except)).fetchSockets();
      return {
        ok: true,
        sockets: sockets.map((s) => ({
          id: s.id,
          rooms: [...s.rooms].sort(),
          data: s.data,
          auth: s.handshake.auth,
        })),
      };
    } catch (err) {
      return { ok: false, error: errorText(err) };
    }
  },

  socketsJoin(cmd) {
    io.in(roomList(cmd.rooms)).except(roomList(cmd.except)).socketsJoin(cmd.room);
    return { ok: true };
  },

  socketsLeave(cmd) {
    io.in(roomList(cmd.rooms)).except(roomList(cmd.except)).socketsLeave(cmd.room);
    return { ok: true };
  },

  disconnectSockets(cmd) {
    io.in(roomList(cmd.rooms)).except(roomList(cmd.except)).disconnectSockets(cmd.close === true);
    return { ok: true };
  },

  serverSideEmit(cmd) {
    io.serverSideEmit(cmd.event, ...(cmd.args || []));
    return { ok: true };
  },

  // socket.io has no per-call timeout for serverSideEmitWithAck (io.timeout() returns a
  // BroadcastOperator without it): the adapter's requestsTimeout applies, so cmd.timeout
  // is ignored here.
  async serverSideEmitWithAck(cmd) {
    try {
      const responses = await io.serverSideEmitWithAck(cmd.event, ...(cmd.args || []));
      return { ok: true, responses };
    } catch (err) {
      return { ok: false, error: errorText(err), responses: Array.isArray(err.responses) ? err.responses : [] };
    }
  },

  serverEvents() {
    return { ok: true, events: serverEvents };
  },

  async allRooms() {
    try {
      const rooms = await io.of("/").adapter.allRooms();
      return { ok: true, rooms: [...new Set(rooms)].sort() };
    } catch (err) {
      return { ok: false, error: errorText(err) };
    }
  },

  async serverCount() {
    try {
      return { ok: true, count: await io.of("/").adapter.serverCount() };
    } catch (err) {
      return { ok: false, error: errorText(err) };
    }
  },
};

io.on("connection", (socket) => {
  socket.emit("welcome", { id: socket.id, node: nodeName });

  socket.on("ctl", async (cmd, ack) => {
    const reply = typeof ack === "function" ? ack : () => {};
    const op = cmd && typeof cmd === "object" && Object.hasOwn(ops, cmd.op) ? ops[cmd.op] : null;
    if (!op) return reply({ ok: false, error: "unknown op" });
    try {
      reply(await op(cmd, socket));
    } catch (err) {
      log(`ctl ${cmd.op} failed:`, err);
      reply({ ok: false, error: errorText(err) });
    }
  });
});

httpServer.listen(port, "127.0.0.1", () => {
  const { port: bound } = httpServer.address();
  process.stdout.write(`LISTENING 127.0.0.1:${bound}\n`);
  log(`listening on 127.0.0.1:${bound}, redis ${redisUrl}, requestsTimeout ${requestsTimeout} ms`);
});

process.on("SIGTERM", () => {
  log("SIGTERM: closing");
  io.close();
  process.exit(0);
});
