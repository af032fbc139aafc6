// The official Socket.IO Admin UI (@socket.io/admin-ui 0.5.1, its prebuilt files in ui/dist)
// in the system Chromium, driven by playwright-core, against the demo started with `--admin`:
// a wrong password is refused on the UI's form, the right one logs in, and a chat user who
// connects afterwards (the demo page, in a second browser context) shows up in the UI's
// dashboard, its Sockets list and its socket details. No browser is ever downloaded.
//
// Run: node --test tests/browser/admin_ui.test.mjs   (DEMO_SERVER=path/to/actix-socketio to
// pick the binary; default <repo>/target/debug/actix-socketio, so `cargo build` first).
// Screenshots land in tests/browser/screenshots/ (git-ignored), the dashboard's among them as
// admin-ui-dashboard.png; DOCS_SCREENSHOT=1 also writes it to docs/admin-ui.png (committed), so
// that ordinary runs leave the working tree clean.

import assert from "node:assert/strict";
import { existsSync, mkdirSync, statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import path from "node:path";
import { after, beforeEach, describe, it } from "node:test";
import { fileURLToPath } from "node:url";

import { CHROMIUM, launchChromium } from "./lib/chromium.mjs";
import { startDemo, stopDemo } from "./lib/demo.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, "..", "..");
const SERVER = path.resolve(process.env.DEMO_SERVER || path.join(REPO, "target", "debug", "actix-socketio"));
const UI_DIST = path.join(HERE, "node_modules", "@socket.io", "admin-ui", "ui", "dist");
const SHOTS = path.join(HERE, "screenshots");
const DOC_SHOT = path.join(REPO, "docs", "admin-ui.png");
const WRITE_DOC_SHOT = process.env.DOCS_SCREENSHOT === "1";

const SUITE_TIMEOUT_MS = 90_000;
const STEP_TIMEOUT_MS = 10_000;
// The demo sends server_stats every few seconds; the dashboard's counts come from them.
const STATS_TIMEOUT_MS = 15_000;
const DOC_SHOT_MAX_BYTES = 300 * 1024;

const USER = "admin";
const PASSWORD = "ui-Pa55word";
// Wide enough for Vuetify's lg breakpoint: the navigation drawer and the app bar's
// "Server URL / Status" block are shown.
const VIEWPORT = { width: 1280, height: 800 };

// ---------------------------------------------------------------------------- the UI's files

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".gif": "image/gif",
  ".ico": "image/x-icon",
  ".woff": "font/woff",
  ".woff2": "font/woff2",
  ".ttf": "font/ttf",
  ".eot": "application/vnd.ms-fontobject",
  ".txt": "text/plain; charset=utf-8",
};

/**
 * Serves ui/dist on 127.0.0.1 (ephemeral port): files by path, index.html for any path that is
 * not a file (the UI is a single-page app), nothing outside the directory. Resolves with
 * { server, origin, requests } once listening.
 */
function startUiServer(root) {
  const requests = [];
  const server = createServer(async (req, res) => {
    requests.push(`${req.method} ${req.url}`);
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD" }).end();
      return;
    }
    let file = path.join(root, "index.html");
    try {
      const wanted = path.normalize(path.join(root, decodeURIComponent(new URL(req.url, "http://ui").pathname)));
      if (wanted.startsWith(root + path.sep) && existsSync(wanted) && statSync(wanted).isFile()) file = wanted;
    } catch {
      // A malformed escape: fall back to the page.
    }
    try {
      const body = await readFile(file);
      res.writeHead(200, {
        "content-type": TYPES[path.extname(file).toLowerCase()] || "application/octet-stream",
        "content-length": body.length,
        "cache-control": "no-store",
      });
      res.end(req.method === "HEAD" ? undefined : body);
    } catch (err) {
      res.writeHead(500, { "content-type": "text/plain" }).end(String(err));
    }
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      resolve({ server, origin: `http://127.0.0.1:${port}`, requests });
    });
  });
}

function stopUiServer(ui) {
  if (!ui) return Promise.resolve();
  return new Promise((resolve) => {
    ui.server.close(() => resolve());
    ui.server.closeAllConnections();
  });
}

// ---------------------------------------------------------------------------- page helpers

const isLoopback = (url) => /^(https?|wss?):\/\/127\.0\.0\.1(:\d+)?\//.test(url);

/**
 * A page in a browser context of its own (so its own localStorage: the UI keeps its server
 * URL and session id there), with page errors, console errors and failed requests recorded.
 * Requests leaving the loopback (the UI's Google Fonts and Material Design Icons stylesheets,
 * from CDNs) are aborted at once: they cannot load here, and their failures are not counted.
 */
async function openPage(label, { initScript } = {}) {
  const context = await browser.newContext({ viewport: VIEWPORT });
  await context.route(
    (url) => !isLoopback(url.href),
    (route) => route.abort("internetdisconnected"),
  );
  if (initScript) await context.addInitScript(initScript);
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_TIMEOUT_MS);
  const errors = [];
  page.on("pageerror", (err) => errors.push(`${label}: pageerror: ${err.message}`));
  page.on("console", (msg) => {
    if (msg.type() !== "error") return;
    // "Failed to load resource" for an off-loopback stylesheet we aborted ourselves.
    const where = msg.location()?.url || "";
    if (/Failed to load resource/.test(msg.text()) && where && !isLoopback(where)) return;
    errors.push(`${label}: console.error: ${msg.text()}${where ? ` (${where})` : ""}`);
  });
  page.on("requestfailed", (req) => {
    const why = req.failure()?.errorText || "";
    if (!isLoopback(req.url())) return;
    // A long-poll the client (or closing the page) cancels is not a failure.
    if (closing || (why.includes("ERR_ABORTED") && req.url().includes("/socket.io/?"))) return;
    errors.push(`${label}: request failed: ${req.url()} ${why}`);
  });
  const entry = { label, context, page, errors };
  pages.push(entry);
  return entry;
}

/** The UI's connection dialog (a Vuetify v-dialog: the only active one on the page). */
const dialog = (page) => page.locator(".v-dialog--active");

/** The connection status chip in the app bar: "connected" or "disconnected". */
const statusChip = (page) => page.locator("header .v-chip").first();

/** Fills the UI's connection form by its labels and submits it with its Connect button. */
async function fillLogin(page, { serverUrl, username, password }) {
  const form = dialog(page);
  await form.waitFor({ state: "visible" });
  await form.getByLabel("Server URL").fill(serverUrl);
  await form.getByLabel("Username").fill(username);
  await form.getByLabel("Password").fill(password);
  // The advanced options are left closed: the defaults (path /socket.io, namespace /admin,
  // polling then WebSocket, the default parser) are what the demo serves.
  await form.locator('button[type="submit"]').click();
}

/**
 * The view on screen (the router-view inside v-main). During a route change the UI's slide
 * transition keeps the leaving view in the DOM for a moment, hidden: only the visible one counts.
 */
const view = (page) => page.locator("main .container > div").filter({ visible: true });

/** Goes to a top-level view through the navigation drawer. */
async function navigate(page, title, hash) {
  await page.locator("nav .v-list-item", { hasText: title }).first().click();
  // The drawer links to "#/sockets", the router's path is "/sockets/": either will do.
  await page.waitForFunction((h) => location.hash.replace(/\/$/, "") === h, hash);
  await view(page).locator(".v-breadcrumbs", { hasText: title }).waitFor();
}

const escapeRe = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
const exactly = (text) => new RegExp(`^\\s*${escapeRe(text)}\\s*$`, "i");

/** The rows of the visible view's data table; the one whose first cell is `id`. */
const tableRows = (page) => view(page).locator(".v-data-table tbody tr");
const tableRow = (page, id) => tableRows(page).filter({ has: page.locator("td:first-child", { hasText: exactly(id) }) });

/** The key cells called `key` (case-insensitive) in a detail table, and the value next to one. */
const rowsOf = (scope, key) => scope.locator("tr").filter({ has: scope.page().locator("td.key-column", { hasText: exactly(key) }) });
const valueOf = (scope, key) => rowsOf(scope, key).locator("td").nth(1);

/**
 * Runs in the demo page before its scripts: the page keeps its socket inside a closure, so the
 * global `io` the bundled client defines is wrapped to remember the socket it returns, and the
 * test reads its id from window.__chatSocket.
 */
function rememberChatSocket() {
  let io;
  Object.defineProperty(window, "io", {
    configurable: true,
    get: () => io,
    set(real) {
      if (typeof real !== "function") {
        io = real;
        return;
      }
      io = function (...args) {
        const socket = real.apply(this, args);
        window.__chatSocket = socket;
        return socket;
      };
      Object.assign(io, real);
    },
  });
}

// ---------------------------------------------------------------------------- the test

let ui;
let demo;
let browser;
let closing = false;
let setupDone = false; // beforeEach lets the setup test itself through
const pages = [];

describe("the official Socket.IO Admin UI against the demo", { timeout: SUITE_TIMEOUT_MS }, () => {
  let admin; // the logged-in UI page
  let chat; // the chat user's demo page
  let chatId; // its socket id in namespace "/"

  // Setup is a test of its own (not a hook) so that a missing browser, package or binary is
  // counted as a failure in the summary, not only as cancelled tests.
  it("finds Chromium and the UI's files, serves the UI, starts the demo with --admin", async () => {
    assert.ok(
      existsSync(CHROMIUM),
      `${CHROMIUM} is missing: install Debian's chromium package (apt-get install -y chromium); this test never downloads a browser`,
    );
    assert.ok(existsSync(SERVER), `demo server binary not found: ${SERVER} (run cargo build, or set DEMO_SERVER)`);
    assert.ok(
      existsSync(path.join(UI_DIST, "index.html")),
      `${UI_DIST}/index.html is missing: run npm ci in tests/browser (devDependency @socket.io/admin-ui)`,
    );
    mkdirSync(SHOTS, { recursive: true });
    // The UI's server first: its origin is one the demo must allow (with credentials: the UI's
    // client sets withCredentials).
    ui = await startUiServer(UI_DIST);
    demo = await startDemo(SERVER, ["--admin", `${USER}:${PASSWORD}`, "--cors-origin", ui.origin]);
    browser = await launchChromium();
  });

  beforeEach(() => {
    if (setupDone) assert.ok(browser && ui && demo, "setup failed: see the first test");
    setupDone = true;
  });

  after(async () => {
    closing = true;
    try {
      if (browser) await browser.close();
    } finally {
      try {
        await stopDemo(demo?.child);
      } finally {
        await stopUiServer(ui);
      }
    }
  });

  it("keeps the login form up with an error on a wrong password", async () => {
    const { page } = await openPage("ui (wrong password)");
    await page.goto(`${ui.origin}/`);
    await assert.doesNotReject(statusChip(page).waitFor(), "the UI did not render");
    await fillLogin(page, { serverUrl: demo.origin, username: USER, password: "not-the-password" });
    // The server answers the CONNECT with "invalid credentials", which the UI translates.
    await dialog(page).locator(".red--text", { hasText: "Invalid credentials" }).waitFor();
    assert.ok(await dialog(page).isVisible(), "the connection dialog closed");
    assert.match(await statusChip(page).textContent(), /disconnected/i);
    await page.screenshot({ path: path.join(SHOTS, "admin-ui-refused.png") });
    await page.context().close();
  });

  it("logs in with the right password", async () => {
    admin = await openPage("ui");
    const { page } = admin;
    await page.goto(`${ui.origin}/`);
    await fillLogin(page, { serverUrl: demo.origin, username: USER, password: PASSWORD });
    await dialog(page).waitFor({ state: "hidden" });
    await page.waitForFunction(() => /^\s*connected\s*$/i.test(document.querySelector("header .v-chip")?.textContent || ""));
    assert.equal((await page.locator("header code").first().textContent()).trim(), demo.origin);
    // The session id came and was kept for reconnections.
    const session = await page.evaluate(() => localStorage.getItem("session_id"));
    assert.match(session || "", /^\S+$/, "no session id in the UI's localStorage");
    // Only the admin itself so far: the dashboard's namespace table lists /admin (from server_stats).
    const namespaces = page.locator(".v-card", { hasText: "Namespaces" });
    await namespaces.locator("tbody tr", { hasText: "/admin" }).waitFor({ timeout: STATS_TIMEOUT_MS });
  });

  it("a chat user connects on the demo page", async () => {
    chat = await openPage("chat", { initScript: rememberChatSocket });
    const { page } = chat;
    await page.goto(`${demo.origin}/`);
    await page.locator('#status[data-state="connected"]').waitFor();
    await page.waitForFunction(() => document.getElementById("nick").value.startsWith("guest-"));
    chatId = await page.evaluate(() => window.__chatSocket?.id);
    assert.equal(typeof chatId, "string", "the demo page's socket was not caught");
    assert.ok(chatId.length > 0);
  });

  it("shows the chat user on the dashboard", async () => {
    const { page } = admin;
    // server_stats: the namespace "/" with one socket, one server, one client counted.
    const namespaces = page.locator(".v-card", { hasText: "Namespaces" });
    const root = namespaces.locator("tbody tr").filter({
      has: page.locator("td code", { hasText: /^\/$/ }),
    });
    await root.waitFor({ timeout: STATS_TIMEOUT_MS });
    await page.waitForFunction(
      () => {
        const card = [...document.querySelectorAll(".v-card")].find((c) => /Namespaces/.test(c.textContent));
        const row = [...(card?.querySelectorAll("tbody tr") || [])].find((r) => r.querySelector("code")?.textContent.trim() === "/");
        return row?.querySelectorAll("td")[1]?.textContent.trim() === "1";
      },
      null,
      { timeout: STATS_TIMEOUT_MS },
    );
    const servers = page.locator(".v-card", { hasText: "Servers" }).first();
    // The first count in the Servers card is the healthy ones.
    assert.equal((await servers.locator("h2").first().textContent()).trim(), "1");
    // Let the doughnuts finish their animation before the picture.
    await page.waitForTimeout(1_000);
    const shot = WRITE_DOC_SHOT ? DOC_SHOT : path.join(SHOTS, "admin-ui-dashboard.png");
    await page.screenshot({ path: shot });
    const size = statSync(shot).size;
    assert.ok(size < DOC_SHOT_MAX_BYTES, `${shot} is ${size} bytes, too big for docs/`);
  });

  it("lists the chat user's socket in the Sockets view, namespace /", async () => {
    const { page } = admin;
    await navigate(page, "Sockets", "#/sockets");
    // The UI selected /admin when it logged in (the only namespace then): pick "/".
    const selector = view(page).locator(".v-select").filter({ hasText: "Select namespace" });
    await selector.locator(".v-select__slot").click();
    await page.locator(".menuable__content__active .v-list-item", { hasText: exactly("/") }).click();
    await selector.locator(".v-select__selection", { hasText: exactly("/") }).waitFor();
    const row = tableRow(page, chatId);
    await row.waitFor();
    assert.equal(await tableRows(page).count(), 1, "one socket in namespace /");
    const cells = (await row.locator("td").allTextContents()).map((t) => t.trim());
    assert.equal(cells[0], chatId);
    assert.equal(cells[1], "127.0.0.1", "the address column");
    // The demo page's client upgrades to WebSocket; socket_updated tells the UI.
    await row.locator(".v-chip", { hasText: "WebSocket" }).waitFor();
    await page.screenshot({ path: path.join(SHOTS, "admin-ui-sockets.png") });
  });

  it("opens the socket's details: namespace, ids, data, address, creation date, headers", async () => {
    const { page } = admin;
    await tableRow(page, chatId).locator("td").first().click();
    await page.waitForFunction((id) => location.hash.startsWith("#/n/") && location.hash.endsWith(`/sockets/${id}`), chatId);
    const details = view(page).locator(".v-card").filter({ has: page.locator(".v-card__title", { hasText: exactly("Details") }) });
    await details.waitFor();
    assert.equal((await valueOf(details, "Namespace").textContent()).trim(), "/");
    // Two rows are called "ID": the client's (its Engine.IO session) and the socket's.
    const ids = rowsOf(details, "ID");
    assert.equal(await ids.count(), 2);
    const clientId = (await ids.nth(0).locator("td").nth(1).textContent()).trim();
    assert.ok(clientId.length > 0, "the client id is empty");
    assert.notEqual(clientId, chatId, "the client id is the socket id");
    assert.equal((await ids.nth(1).locator("td").nth(1).textContent()).trim(), chatId);
    const nick = await chat.page.inputValue("#nick");
    assert.deepEqual(JSON.parse(await valueOf(details, "Data").textContent()), { name: nick });
    assert.equal((await valueOf(details, "IP address").textContent()).trim(), "127.0.0.1");
    const statuses = rowsOf(details, "Status");
    assert.deepEqual((await statuses.locator("td:nth-child(2)").allTextContents()).map((t) => t.trim().toLowerCase()), [
      "connected",
      "connected",
    ]);
    const created = (await valueOf(details, "Creation date").textContent()).trim();
    assert.match(created, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.ok(Math.abs(Date.parse(created) - Date.now()) < 60_000, `creation date ${created} is not recent`);
    // The initial request's headers: the demo page's own Host among them.
    const initial = view(page).locator(".v-card", { hasText: "Initial HTTP request" });
    const host = initial.locator("tr").filter({ has: page.locator("td", { hasText: exactly("host") }) });
    assert.equal((await host.locator("td").nth(1).textContent()).trim(), new URL(demo.origin).host);
    await page.screenshot({ path: path.join(SHOTS, "admin-ui-socket.png"), fullPage: true });
  });

  it("lists the demo in the Servers view: healthy, its PID, both clients", async () => {
    const { page } = admin;
    await navigate(page, "Servers", "#/servers");
    const rows = tableRows(page);
    await rows.first().waitFor();
    assert.equal(await rows.count(), 1, "one server");
    // Columns: ID, Hostname, PID, Uptime, # of clients, Last ping, Status.
    const cells = (await rows.first().locator("td").allTextContents()).map((t) => t.trim());
    assert.ok(cells[0] && cells[1], `empty server id or hostname: ${JSON.stringify(cells)}`);
    assert.equal(cells[2], String(demo.child.pid));
    assert.match(cells[3], /^\d+s$/, "uptime");
    assert.equal(cells[4], "2", "clients: the chat user and the UI itself");
    assert.match(cells[6], /healthy/i);
  });

  it("sees the chat user leave", async () => {
    await chat.page.context().close();
    const { page } = admin;
    await navigate(page, "Sockets", "#/sockets");
    await tableRow(page, chatId).waitFor({ state: "detached" });
  });

  it("had no page errors, console errors or failed local requests", () => {
    const errors = pages.flatMap((p) => p.errors);
    if (errors.length) console.log(errors.join("\n"));
    assert.deepEqual(errors, []);
  });
});
