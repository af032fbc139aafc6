"use strict";
// socket.io (Node) peer of the actix-socketio benchmark (bench/run).
//
// Contract, namespace "/":
//   echo (one argument)       -> ack with it when the client asked for an ack,
//                                otherwise emit "echo" with it back to the sender;
//   join (room)               -> join the room, ack with the room name;
//   broadcast (room, payload) -> io.to(room).emit("broadcast", payload); the sender
//                                receives it only when it is a member of the room.
//
// Environment: HOST (127.0.0.1), PORT (3000; 0 = ephemeral). WORKERS is ignored: Node runs
// JavaScript on one thread, so this server uses one core whatever WORKERS says.
// REDIS_URL (e.g. redis://127.0.0.1:6379): when set, the server is a node of a cluster through
// @socket.io/redis-adapter 8.3 (classic pub/sub, its default options) on two node-redis v4
// clients, both connected before the server listens; io.to(room).emit then reaches the room's
// members on every node (bench/run's cluster scenario).
// The first stdout line is "LISTENING <host>:<port>" once the socket is bound.
// Server options are socket.io's defaults (pingInterval 25 s, pingTimeout 20 s,
// maxHttpBufferSize 1e6). The optional ws add-on bufferutil is installed, as socket.io's
// performance-tuning guide recommends; Node's http server sets TCP_NODELAY by default.

const { createServer } = require("node:http");
const { Server } = require("socket.io");

const host = process.env.HOST || "127.0.0.1";
const port = Number.parseInt(process.env.PORT || "3000", 10);

const redisUrl = process.env.REDIS_URL || "";

const httpServer = createServer();
const io = new Server(httpServer);

// socket.io hands the ack callback to the listener as an extra, last argument (a function)
// only when the client asked for an ack.
function splitAck(args) {
  if (args.length > 0 && typeof args[args.length - 1] === "function") {
    return [args.slice(0, -1), args[args.length - 1]];
  }
  return [args, null];
}

io.on("connection", (socket) => {
  socket.on("echo", (...raw) => {
    const [args, ack] = splitAck(raw);
    if (ack) {
      ack(args[0]);
    } else {
      socket.emit("echo", args[0]);
    }
  });

  socket.on("join", (...raw) => {
    const [args, ack] = splitAck(raw);
    const room = args[0];
    if (typeof room !== "string") return;
    socket.join(room);
    if (ack) ack(room);
  });

  socket.on("broadcast", (...raw) => {
    const [args] = splitAck(raw);
    if (args.length < 2 || typeof args[0] !== "string") return;
    io.to(args[0]).emit("broadcast", args[1]);
  });
});

httpServer.on("error", (err) => {
  process.stderr.write(`server error: ${err.stack || err}\n`);
  process.exit(1);
});

// Joins the cluster: a publishing and a subscribing connection, both up before listening.
async function useRedisAdapter(url) {
  const { createAdapter } = require("@socket.io/redis-adapter");
  const { createClient } = require("redis");
  const pubClient = createClient({ url });
  const subClient = pubClient.duplicate();
  // Without an "error" listener node-redis throws on every failed reconnect attempt.
  pubClient.on("error", (err) => process.stderr.write(`redis pub error: ${err.message}\n`));
  subClient.on("error", (err) => process.stderr.write(`redis sub error: ${err.message}\n`));
  await Promise.all([pubClient.connect(), subClient.connect()]);
  io.adapter(createAdapter(pubClient, subClient));
}

function listen() {
  httpServer.listen(port, host, () => {
    const addr = httpServer.address();
    const shown = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
    // Writes to a pipe are synchronous on Linux, so the line is out before anything else.
    process.stdout.write(`LISTENING ${shown}:${addr.port}\n`);
  });
}

if (redisUrl) {
  useRedisAdapter(redisUrl).then(listen, (err) => {
    process.stderr.write(`cannot join the cluster at ${redisUrl}: ${err.stack || err}\n`);
    process.exit(1);
  });
} else {
  listen();
}

for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => process.exit(0));
}
