// nginx in front of two nodes, run from docs/cluster/nginx.conf itself: the test only
// substitutes the listen port and the two upstream ports, and adds the paths an
// unprivileged, throwaway nginx needs (temp directories, access log, pid file) inside a
// scratch directory. Runs in the foreground (`daemon off`), stopped by PID.

import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";

import { repoRoot } from "./nodes.mjs";
import { Proc, freePort, scratchDir, sleep } from "./proc.mjs";

export const NGINX_CONF = join(repoRoot, "docs", "cluster", "nginx.conf");
const NGINX = process.env.NGINX || "nginx";
const READY_MS = 10_000;

/** Replaces exactly one occurrence of `from` (a string or RegExp) in `text`, or throws. */
function replaceOnce(text, from, to, what) {
  const count =
    typeof from === "string" ? text.split(from).length - 1 : (text.match(new RegExp(from.source, `${from.flags.replace("g", "")}g`)) || []).length;
  if (count !== 1) {
    throw new Error(`docs/cluster/nginx.conf: expected exactly one ${what} (${from}), found ${count}; update lib/nginx.mjs with the config`);
  }
  return text.replace(from, to);
}

/** The documented config with our ports and scratch paths. */
export function renderConfig({ listenPort, upstreamPorts, dir }) {
  let text = readFileSync(NGINX_CONF, "utf8");
  text = replaceOnce(text, /^(\s*)listen 8080;/m, `$1listen 127.0.0.1:${listenPort};`, "listen 8080 directive");
  text = replaceOnce(text, /^(\s*)server 127\.0\.0\.1:3001;/m, `$1server 127.0.0.1:${upstreamPorts[0]};`, "upstream server 127.0.0.1:3001");
  text = replaceOnce(text, /^(\s*)server 127\.0\.0\.1:3002;/m, `$1server 127.0.0.1:${upstreamPorts[1]};`, "upstream server 127.0.0.1:3002");
  const scratchPaths = [
    `client_body_temp_path ${join(dir, "client_body")};`,
    `proxy_temp_path ${join(dir, "proxy")};`,
    `fastcgi_temp_path ${join(dir, "fastcgi")};`,
    `uwsgi_temp_path ${join(dir, "uwsgi")};`,
    `scgi_temp_path ${join(dir, "scgi")};`,
    // $remote_addr and $upstream_addr: which source address went to which node.
    `log_format cluster '$remote_addr $upstream_addr $status "$request"';`,
    `access_log ${join(dir, "access.log")} cluster;`,
  ];
  text = replaceOnce(text, /^http \{$/m, `http {\n    # --- added by tests/cluster/lib/nginx.mjs\n    ${scratchPaths.join("\n    ")}\n    # ---`, "`http {` line");
  return text;
}

function accepts(port) {
  return new Promise((resolve) => {
    const sock = connect({ host: "127.0.0.1", port });
    const done = (ok) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(500, () => done(false));
    sock.once("connect", () => done(true));
    sock.once("error", () => done(false));
  });
}

/** The PIDs of a process' children (Linux /proc). */
function childPids(pid) {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

export class Nginx {
  constructor(upstreamPorts) {
    this.upstreamPorts = upstreamPorts;
    this.port = null;
    this.proc = null;
    this.dir = join(scratchDir(), `nginx-${Date.now()}`);
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  async start() {
    mkdirSync(this.dir, { recursive: true });
    this.port = await freePort();
    const confPath = join(this.dir, "nginx.conf");
    writeFileSync(confPath, renderConfig({ listenPort: this.port, upstreamPorts: this.upstreamPorts, dir: this.dir }));
    // As root, nginx would switch its workers to `nobody`, which cannot use the scratch
    // directory; as anyone else the `user` directive does not apply.
    const globals = ["daemon off;", `pid ${join(this.dir, "nginx.pid")};`, "error_log stderr notice;"];
    if (process.getuid && process.getuid() === 0) globals.push("user root;");
    this.proc = new Proc("nginx", NGINX, ["-e", "stderr", "-p", this.dir, "-c", confPath, "-g", globals.join(" ")]);
    try {
      await this.proc.start();
    } catch (err) {
      throw new Error(`${err.message} (is nginx installed? \`make test-cluster\` installs nginx-light)`);
    }
    const deadline = Date.now() + READY_MS;
    while (!(await accepts(this.port))) {
      if (!this.proc.alive()) throw new Error(`nginx exited at start\n${this.proc.logTail()}`);
      if (Date.now() > deadline) throw new Error(`nginx did not listen within ${READY_MS} ms\n${this.proc.logTail()}`);
      await sleep(50);
    }
    this.proc.extraPids = childPids(this.proc.pid);
    return this.url;
  }

  /** The access log lines so far ("remote upstream status request"). */
  accessLog() {
    try {
      return readFileSync(join(this.dir, "access.log"), "utf8");
    } catch {
      return "";
    }
  }

  async stop() {
    if (!this.proc) return null;
    // Workers may have been replaced since the start; a SIGKILL must reach the current ones.
    this.proc.extraPids = [...new Set([...this.proc.extraPids, ...childPids(this.proc.pid)])];
    return this.proc.stop(5_000);
  }

  logTail(chars) {
    return this.proc ? this.proc.logTail(chars) : "";
  }
}
