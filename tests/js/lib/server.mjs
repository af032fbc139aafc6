// Starts and stops the Rust `interop_server` example for the JS interop tests.
//
// Contract: started with PORT=0 the binary binds 127.0.0.1 on an ephemeral
// port and prints exactly one line `LISTENING 127.0.0.1:<port>` on stdout;
// everything else goes to stderr.
//
// `new InteropServer(path?, { env })` adds `env` to the child's environment (for example
// RECOVERY_MS for the connection state recovery suite; a null value removes an inherited
// variable); `pid` and `rssBytes()` let a test watch the child's memory.

import { spawn } from "node:child_process";
import { accessSync, constants, createWriteStream, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, "..", "..", "..");

export const DEFAULT_SERVER = join(repoRoot, "target", "debug", "examples", "interop_server");

const STARTUP_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 5_000;
const LISTENING_RE = /^LISTENING (127\.0\.0\.1:\d+)\s*$/;

export class InteropServer {
  constructor(path = process.env.INTEROP_SERVER || DEFAULT_SERVER, { env = {} } = {}) {
    this.path = path;
    this.env = env;
    this.child = null;
    this.url = null;
    this.logPath = null;
    this.exit = null; // { code, signal } once the process has exited
    this.stopping = false;
  }

  async start() {
    try {
      accessSync(this.path, constants.X_OK);
    } catch {
      throw new Error(
        `interop server binary not found or not executable: ${this.path}\n` +
          "build it with `cargo build --example interop_server` or set INTEROP_SERVER",
      );
    }
    const logDir = mkdtempSync(join(tmpdir(), "actix-socketio-interop-js-"));
    this.logPath = join(logDir, "server.log");
    const log = createWriteStream(this.logPath);

    const child = spawn(this.path, [], {
      env: { ...childEnv(this.env), PORT: "0" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.child = child;
    child.stderr.pipe(log);
    child.on("exit", (code, signal) => {
      this.exit = { code, signal };
    });

    this.url = await new Promise((resolvePromise, reject) => {
      let buffered = "";
      let settled = false;
      const finish = (err, value) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err) reject(err);
        else resolvePromise(value);
      };
      const timer = setTimeout(() => {
        finish(new Error(`interop server did not print LISTENING within ${STARTUP_TIMEOUT_MS} ms (log: ${this.logPath})`));
      }, STARTUP_TIMEOUT_MS);
      child.once("error", (err) => finish(new Error(`cannot start interop server ${this.path}: ${err.message}`)));
      child.once("exit", (code, signal) =>
        finish(new Error(`interop server exited before listening (code ${code}, signal ${signal}); log: ${this.logPath}`)),
      );
      child.stdout.setEncoding("utf8");
      child.stdout.on("data", (chunk) => {
        if (settled) return; // keep draining stdout so the pipe never fills
        buffered += chunk;
        const nl = buffered.indexOf("\n");
        if (nl === -1) return;
        const first = buffered.slice(0, nl);
        const m = LISTENING_RE.exec(first);
        if (m) finish(null, `http://${m[1]}`);
        else finish(new Error(`unexpected first stdout line from interop server: ${JSON.stringify(first)}`));
      });
    });
    return this.url;
  }

  /** The child's process id while it runs, else null. */
  get pid() {
    return this.alive() ? this.child.pid : null;
  }

  /** The child's resident set size in bytes (VmRSS from /proc/<pid>/status; Linux only). */
  rssBytes() {
    if (!this.alive()) throw new Error("interop server is not running");
    const status = readFileSync(`/proc/${this.child.pid}/status`, "utf8");
    const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
    if (!m) throw new Error(`no VmRSS line in /proc/${this.child.pid}/status`);
    return Number(m[1]) * 1024;
  }

  /** True while the server process is still running. */
  alive() {
    return this.child !== null && this.exit === null;
  }

  /** Stops the server (by PID, SIGTERM then SIGKILL). Returns how it had exited before we stopped it, if it had. */
  async stop() {
    if (!this.child) return null;
    const crashed = this.exit; // non-null: it died on its own during the run
    if (this.exit === null) {
      this.stopping = true;
      const exited = new Promise((r) => this.child.once("exit", () => r("exited")));
      this.child.kill("SIGTERM");
      let timer;
      const timeout = new Promise((r) => {
        timer = setTimeout(r, STOP_TIMEOUT_MS, "timeout");
      });
      const outcome = await Promise.race([exited, timeout]);
      clearTimeout(timer);
      if (outcome === "timeout" && this.exit === null) {
        this.child.kill("SIGKILL");
        await exited;
      }
    }
    return crashed;
  }
}

/** This process's environment plus `extra`: values become strings, null or undefined unsets. */
function childEnv(extra) {
  const env = { ...process.env };
  for (const [key, value] of Object.entries(extra)) {
    if (value === null || value === undefined) delete env[key];
    else env[key] = String(value);
  }
  return env;
}
