// Child processes for the cluster tests: spawned with their stderr in a log file, their
// first stdout line awaited, and stopped by PID - by the test that started them, and as
// a last resort by stopAll() / the exit hook here, so that a failing test leaves nothing
// running.

import { spawn } from "node:child_process";
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Every process started here and not yet seen to exit. */
const running = new Set();

function killRunning(signal) {
  for (const p of running) {
    try {
      process.kill(p.pid, signal);
    } catch {
      // already gone
    }
    for (const extra of p.extraPids) {
      try {
        process.kill(extra, signal);
      } catch {
        // already gone
      }
    }
  }
}

// If the test process ends early (a crash, or a signal from the runner or `timeout`),
// take the children along.
process.on("exit", () => killRunning("SIGKILL"));
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.once(sig, () => {
    killRunning("SIGKILL");
    process.exit(128 + ({ SIGINT: 2, SIGTERM: 15, SIGHUP: 1 }[sig]));
  });
}

/** Stops every process still running (SIGKILL by PID) and waits for them to exit. */
export async function stopAll() {
  await Promise.all([...running].map((p) => p.kill("SIGKILL")));
}

/** One scratch directory for the whole test file; removed by removeScratch(). */
let scratch = null;
export function scratchDir() {
  if (scratch === null) scratch = mkdtempSync(join(tmpdir(), "actix-socketio-cluster-"));
  return scratch;
}
export function removeScratch() {
  if (scratch !== null && process.env.CLUSTER_KEEP_LOGS !== "1") rmSync(scratch, { recursive: true, force: true });
  scratch = null;
}

/** A port that was free on 127.0.0.1 a moment ago. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

let serial = 0;

export class Proc {
  /**
   * @param {string} label  for messages and the log file name
   * @param {string} command
   * @param {string[]} args
   * @param {object} [options] env (merged over process.env; undefined removes), cwd
   */
  constructor(label, command, args, options = {}) {
    this.label = label;
    this.command = command;
    this.args = args;
    this.options = options;
    this.child = null;
    this.exited = null; // {code, signal} once gone
    this.exitPromise = null;
    this.extraPids = []; // processes of its own it spawned (nginx workers)
    this.recent = ""; // the end of its output, in memory (the log file may lag behind)
    serial += 1;
    this.logPath = join(scratchDir(), `${String(serial).padStart(2, "0")}-${label.replace(/[^\w.-]+/g, "_")}.log`);
  }

  get pid() {
    return this.child ? this.child.pid : null;
  }

  /**
   * Spawns the process. With `ready` (a RegExp), resolves with the match of the first
   * stdout line matching it, and fails if the process exits or `timeoutMs` passes first.
   */
  async start({ ready = null, timeoutMs = 20_000 } = {}) {
    if (this.child && this.exited === null) throw new Error(`${this.label}: already running`);
    this.exited = null;
    const log = createWriteStream(this.logPath, { flags: "a" });
    log.write(`--- ${new Date().toISOString()} ${this.command} ${this.args.join(" ")}\n`);
    const env = { ...process.env, ...(this.options.env || {}) };
    for (const [k, v] of Object.entries(env)) if (v === undefined) delete env[k];
    const child = spawn(this.command, this.args, {
      env,
      cwd: this.options.cwd,
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.child = child;
    running.add(this);
    this.exitPromise = new Promise((resolve) => {
      child.once("exit", (code, signal) => {
        this.exited = { code, signal };
        running.delete(this);
        resolve(this.exited);
      });
    });
    child.stderr.pipe(log);
    const keep = (chunk) => {
      this.recent = (this.recent + chunk.toString()).slice(-16_384);
    };
    child.stderr.on("data", keep);
    child.stdout.on("data", keep);
    child.stdout.setEncoding("utf8");

    if (!ready) {
      child.stdout.on("data", (chunk) => log.write(chunk));
      await new Promise((resolve, reject) => {
        child.once("spawn", resolve);
        child.once("error", (err) => reject(new Error(`${this.label}: cannot start ${this.command}: ${err.message}`)));
      });
      return null;
    }

    return new Promise((resolve, reject) => {
      let pending = "";
      let done = false;
      const settle = (err, value) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        if (err) reject(err);
        else resolve(value);
      };
      const timer = setTimeout(
        () => settle(new Error(`${this.label}: no line matching ${ready} on stdout within ${timeoutMs} ms\n${this.logTail()}`)),
        timeoutMs,
      );
      child.once("error", (err) => settle(new Error(`${this.label}: cannot start ${this.command}: ${err.message}`)));
      // "close" comes after the exit, once its output has been read to the end.
      child.once("close", (code, signal) =>
        settle(new Error(`${this.label}: exited before it was ready (code ${code}, signal ${signal})\n${this.logTail()}`)),
      );
      child.stdout.on("data", (chunk) => {
        log.write(chunk);
        if (done) return; // keep reading so that the pipe never fills
        pending += chunk;
        let nl;
        while ((nl = pending.indexOf("\n")) !== -1) {
          const line = pending.slice(0, nl);
          pending = pending.slice(nl + 1);
          const m = ready.exec(line);
          if (m) return settle(null, m);
        }
      });
    });
  }

  alive() {
    return this.child !== null && this.exited === null;
  }

  /** Sends `signal` to the PID (SIGKILL also to extraPids) and waits for the exit (bounded). */
  async kill(signal = "SIGKILL", waitMs = 5_000) {
    if (!this.alive()) return this.exited;
    // Its own children (nginx workers) only on SIGKILL: a gentler signal goes to the parent,
    // which stops them itself.
    for (const extra of signal === "SIGKILL" ? this.extraPids : []) {
      try {
        process.kill(extra, signal);
      } catch {
        // already gone
      }
    }
    try {
      process.kill(this.child.pid, signal);
    } catch {
      // already gone
    }
    let timer;
    const late = new Promise((r) => {
      timer = setTimeout(r, waitMs, "late");
    });
    const outcome = await Promise.race([this.exitPromise, late]);
    clearTimeout(timer);
    if (outcome === "late") throw new Error(`${this.label}: still running ${waitMs} ms after ${signal}`);
    return this.exited;
  }

  /** SIGTERM, then SIGKILL after `graceMs`. Resolves with how it exited. */
  async stop(graceMs = 3_000) {
    if (!this.alive()) return this.exited;
    try {
      return await this.kill("SIGTERM", graceMs);
    } catch {
      return this.kill("SIGKILL");
    }
  }

  /** The end of the process' output, for failure messages. */
  logTail(chars = 3_000) {
    return `--- ${this.label} (pid ${this.pid}) output tail (full log, kept with CLUSTER_KEEP_LOGS=1: ${this.logPath}):\n${this.recent.slice(-chars)}`;
  }

  /** The whole log so far. */
  logText() {
    try {
      return readFileSync(this.logPath, "utf8");
    } catch {
      return "";
    }
  }
}
