// Starts and stops the demo chat server (target/debug/actix-socketio) for the
// demo contract tests.
//
// Started with `--port 0` the binary binds 127.0.0.1 on an ephemeral port and
// prints `LISTENING 127.0.0.1:<port>` on stdout; logs go to stderr, which is
// kept in a temporary file (RUST_LOG=warn keeps it short).

import { spawn } from "node:child_process";
import { accessSync, constants, createWriteStream, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");

export const DEFAULT_DEMO_SERVER = join(repoRoot, "target", "debug", "actix-socketio");

const START_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 5_000;
const LISTENING = /^LISTENING (127\.0\.0\.1:\d+)\s*$/;

export class DemoServer {
  constructor(path = process.env.DEMO_SERVER || DEFAULT_DEMO_SERVER, args = []) {
    this.path = path;
    this.args = args; // extra command-line flags, e.g. ["--no-recovery"]
    this.child = null;
    this.url = null;
    this.logPath = null;
    this.exited = null; // { code, signal } once the process is gone
  }

  /** Spawns the server and resolves with its base URL (`http://127.0.0.1:<port>`). */
  async start() {
    try {
      accessSync(this.path, constants.X_OK);
    } catch {
      throw new Error(
        `demo server not found or not executable: ${this.path} ` +
          "(build it with `cargo build`, or point DEMO_SERVER at it)",
      );
    }
    this.logPath = join(mkdtempSync(join(tmpdir(), "actix-socketio-demo-js-")), "server.log");
    const log = createWriteStream(this.logPath);
    const env = { ...process.env, RUST_LOG: "warn" };
    delete env.PORT; // --port wins anyway; keep the command line the only source
    const child = spawn(this.path, ["--host", "127.0.0.1", "--port", "0", ...this.args], {
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.child = child;
    child.stderr.pipe(log);
    child.on("exit", (code, signal) => {
      this.exited = { code, signal };
    });

    this.url = await new Promise((resolveUrl, reject) => {
      let pending = "";
      let done = false;
      const settle = (err, url) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        if (err) reject(err);
        else resolveUrl(url);
      };
      const timer = setTimeout(
        () => settle(new Error(`demo server printed no LISTENING line within ${START_TIMEOUT_MS} ms (log: ${this.logPath})`)),
        START_TIMEOUT_MS,
      );
      child.once("error", (err) => settle(new Error(`cannot start ${this.path}: ${err.message}`)));
      child.once("exit", (code, signal) =>
        settle(new Error(`demo server exited before listening (code ${code}, signal ${signal}; log: ${this.logPath})`)),
      );
      child.stdout.setEncoding("utf8");
      child.stdout.on("data", (chunk) => {
        if (done) return; // keep reading so the pipe never fills
        pending += chunk;
        let nl;
        while ((nl = pending.indexOf("\n")) !== -1) {
          const line = pending.slice(0, nl);
          pending = pending.slice(nl + 1);
          const m = LISTENING.exec(line);
          if (m) return settle(null, `http://${m[1]}`);
        }
      });
    });
    return this.url;
  }

  /** True while the process runs. */
  alive() {
    return this.child !== null && this.exited === null;
  }

  /** The tail of the server's stderr, for failure messages. */
  logTail(chars = 4_000) {
    try {
      return readFileSync(this.logPath, "utf8").slice(-chars);
    } catch {
      return "";
    }
  }

  /**
   * Stops the process it started (SIGTERM to its PID, SIGKILL after a grace
   * period). Resolves with how it had exited on its own before, or null.
   */
  async stop() {
    if (!this.child) return null;
    const before = this.exited;
    if (this.exited === null) {
      const gone = new Promise((r) => this.child.once("exit", () => r("exited")));
      this.child.kill("SIGTERM");
      let timer;
      const late = new Promise((r) => {
        timer = setTimeout(r, STOP_TIMEOUT_MS, "late");
      });
      const outcome = await Promise.race([gone, late]);
      clearTimeout(timer);
      if (outcome === "late" && this.exited === null) {
        this.child.kill("SIGKILL");
        await gone;
      }
    }
    return before;
  }
}
