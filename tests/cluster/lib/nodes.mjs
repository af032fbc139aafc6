// Cluster nodes for the tests: the Rust example (examples/cluster_node.rs, CLUSTER_NODE)
// or the Node.js reference (tests/cluster/node_node.mjs), both started with the contract's
// environment (PORT=0, REDIS_URL, NODE_NAME, REQUESTS_TIMEOUT_MS) and ready when they
// print `LISTENING 127.0.0.1:<port>`. Also the demo chat server (DEMO_SERVER).

import { accessSync, constants } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import { Proc } from "./proc.mjs";

const here = dirname(fileURLToPath(import.meta.url));
export const clusterDir = resolve(here, "..");
export const repoRoot = resolve(clusterDir, "..", "..");

export const CLUSTER_NODE = process.env.CLUSTER_NODE || join(repoRoot, "target", "debug", "examples", "cluster_node");
export const DEMO_SERVER = process.env.DEMO_SERVER || join(repoRoot, "target", "debug", "actix-socketio");
const NODE_NODE = join(clusterDir, "node_node.mjs");

const LISTENING = /^LISTENING (127\.0\.0\.1):(\d+)\s*$/;

function requireExecutable(path, hint) {
  try {
    accessSync(path, constants.X_OK);
  } catch {
    throw new Error(`not found or not executable: ${path} (${hint})`);
  }
}

/** A server process that prints `LISTENING 127.0.0.1:<port>` when ready (`this.proc`). */
class ListeningProcess {
  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  async start() {
    const m = await this.proc.start({ ready: LISTENING });
    this.port = Number(m[2]);
    return this;
  }

  alive() {
    return this.proc.alive();
  }

  stop() {
    return this.proc.stop();
  }

  logTail(chars) {
    return this.proc.logTail(chars);
  }
}

/** One cluster node process, either kind. */
export class ClusterNode extends ListeningProcess {
  /**
   * @param {"rust"|"node"} kind
   * @param {string} name  NODE_NAME
   * @param {string} redisUrl
   * @param {object} [env]  extra environment (REQUESTS_TIMEOUT_MS, ...)
   */
  constructor(kind, name, redisUrl, env = {}) {
    super();
    if (kind !== "rust" && kind !== "node") throw new Error(`unknown node kind ${kind}`);
    this.kind = kind;
    this.name = name;
    const nodeEnv = { PORT: "0", REDIS_URL: redisUrl, NODE_NAME: name, RUST_LOG: process.env.RUST_LOG || "warn", ...env };
    if (kind === "rust") {
      requireExecutable(CLUSTER_NODE, "build it with `cargo build --example cluster_node`, or point CLUSTER_NODE at it");
      this.proc = new Proc(`${name}-rust`, CLUSTER_NODE, [], { env: nodeEnv });
    } else {
      this.proc = new Proc(`${name}-node`, process.execPath, [NODE_NODE], { env: nodeEnv, cwd: clusterDir });
    }
    this.port = null;
  }

  get label() {
    return `${this.name}(${this.kind})`;
  }
}

/** The demo chat binary, clustered through Redis: `--port 0 --redis <url>`. */
export class DemoNode extends ListeningProcess {
  constructor(name, redisUrl) {
    super();
    requireExecutable(DEMO_SERVER, "build it with `cargo build`, or point DEMO_SERVER at it");
    this.name = name;
    this.proc = new Proc(`${name}-demo`, DEMO_SERVER, ["--host", "127.0.0.1", "--port", "0", "--redis", redisUrl], {
      env: { RUST_LOG: process.env.RUST_LOG || "warn", PORT: undefined }, // --port only
    });
    this.port = null;
  }
}
