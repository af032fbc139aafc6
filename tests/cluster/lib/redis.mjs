// A throwaway redis-server on a free 127.0.0.1 port, without persistence, that the
// fault tests can SIGKILL and start again on the same port.

import { connect } from "node:net";

import { Proc, freePort, sleep } from "./proc.mjs";

const REDIS_SERVER = process.env.REDIS_SERVER || "redis-server";
const READY_MS = 10_000;

/** Sends PING over a fresh connection; resolves true on +PONG, false otherwise. */
export function ping(port, ms = 500) {
  return new Promise((resolve) => {
    const sock = connect({ host: "127.0.0.1", port });
    let answer = "";
    const done = (ok) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), ms);
    sock.setEncoding("utf8");
    sock.once("error", () => done(false));
    sock.once("connect", () => sock.write("PING\r\n"));
    sock.on("data", (chunk) => {
      answer += chunk;
      if (answer.includes("\r\n")) done(answer.startsWith("+PONG"));
    });
  });
}

export class RedisServer {
  constructor(label = "redis") {
    this.label = label;
    this.port = null;
    this.proc = null;
    this.starts = 0;
  }

  get url() {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts redis-server (on a new free port the first time, on the same port after). */
  async start() {
    if (this.port === null) this.port = await freePort();
    this.starts += 1;
    this.proc = new Proc(`${this.label}-${this.starts}`, REDIS_SERVER, [
      "--port", String(this.port),
      "--bind", "127.0.0.1",
      "--save", "",
      "--appendonly", "no",
      "--protected-mode", "no",
      "--loglevel", "warning",
    ]);
    try {
      await this.proc.start();
    } catch (err) {
      throw new Error(`${err.message} (is redis-server installed? \`make test-cluster\` installs it)`);
    }
    const deadline = Date.now() + READY_MS;
    while (!(await ping(this.port))) {
      if (!this.proc.alive()) throw new Error(`redis-server exited at start\n${this.proc.logTail()}`);
      if (Date.now() > deadline) throw new Error(`redis-server answered no PING within ${READY_MS} ms\n${this.proc.logTail()}`);
      await sleep(50);
    }
    return this.url;
  }

  /** SIGKILL by PID (no shutdown, clients just lose the connection). */
  async kill() {
    if (this.proc) await this.proc.kill("SIGKILL");
  }

  alive() {
    return this.proc !== null && this.proc.alive();
  }
}
