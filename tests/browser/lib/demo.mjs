// The demo binary for the browser tests: started on an ephemeral loopback port, stopped by PID.

import { spawn } from "node:child_process";
import { createInterface } from "node:readline";

/**
 * Starts `binary --port 0 ...args`; resolves once it prints `LISTENING <addr>` with
 * `{ child, origin, url, log }` (`url` is the origin with a trailing slash; `log` keeps the last
 * 200 lines of its output). Rejects with those lines when it exits first or stays silent for
 * `listenTimeoutMs`.
 */
export function startDemo(binary, args = [], { listenTimeoutMs = 15_000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, ["--port", "0", ...args], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, RUST_LOG: process.env.RUST_LOG || "warn" },
    });
    const log = [];
    const remember = (line) => {
      log.push(line);
      if (log.length > 200) log.shift();
    };
    let settled = false;
    const fail = (message) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (child.exitCode === null) child.kill("SIGKILL");
      reject(new Error(`${message}\n--- server output (last lines) ---\n${log.slice(-40).join("\n")}`));
    };
    const timer = setTimeout(() => fail(`no LISTENING line from ${binary} within ${listenTimeoutMs} ms`), listenTimeoutMs);

    createInterface({ input: child.stderr }).on("line", remember);
    createInterface({ input: child.stdout }).on("line", (line) => {
      remember(line);
      const m = /^LISTENING (\S+)\s*$/.exec(line);
      if (m && !settled) {
        settled = true;
        clearTimeout(timer);
        // Should this process die before the test stops it, do not leave the server behind.
        process.once("exit", () => {
          if (child.exitCode === null && child.signalCode === null) process.kill(child.pid, "SIGKILL");
        });
        const origin = `http://${m[1]}`;
        resolve({ child, origin, url: `${origin}/`, log });
      }
    });
    child.on("error", (err) => fail(`could not start ${binary}: ${err.message}`));
    child.on("exit", (code, signal) => fail(`${binary} exited before listening (code ${code}, signal ${signal})`));
  });
}

/** Stops the demo by its PID: SIGTERM, then SIGKILL if it lingers. */
export async function stopDemo(child) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  process.kill(child.pid, "SIGTERM");
  const timer = setTimeout(() => {
    if (child.exitCode === null && child.signalCode === null) process.kill(child.pid, "SIGKILL");
  }, 3_000);
  await exited;
  clearTimeout(timer);
}
