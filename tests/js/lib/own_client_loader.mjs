// Loads the project's own browser client (static/socket.io.js) into Node for the tests.
//
// The file is a plain browser script that sets `io` on the global object. It runs in this
// realm (vm.runInThisContext), not in a fresh vm context, so that ArrayBuffer, Blob and the
// values `ws` and `fetch` hand back are the same classes the client checks with instanceof.
// Every call returns a fresh copy, so no Manager cache is shared between tests.

import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import vm from "node:vm";

import WebSocket from "ws";

const here = dirname(fileURLToPath(import.meta.url));
export const CLIENT_PATH = join(resolve(here, "..", "..", ".."), "static", "socket.io.js");

/** The WebSocket class Node 20 lacks; passed to the client with the `WebSocket` option. */
export { WebSocket };

export function loadOwnClient() {
  const source = readFileSync(CLIENT_PATH, "utf8");
  const had = Object.prototype.hasOwnProperty.call(globalThis, "io");
  const previous = globalThis.io;
  vm.runInThisContext(source, { filename: CLIENT_PATH });
  const io = globalThis.io;
  if (had) globalThis.io = previous;
  else delete globalThis.io;
  if (typeof io !== "function") throw new Error(`${CLIENT_PATH} did not define io()`);
  return io;
}
