// Real-browser test of the chat demo: the system Chromium (Debian's `chromium` package),
// driven by playwright-core, against the demo binary. No browser is ever downloaded.
//
// Run: node --test tests/browser/   (DEMO_SERVER=path/to/actix-socketio to pick the binary;
// default <repo>/target/debug/actix-socketio, so `cargo build` first).
// Screenshots land in tests/browser/screenshots/ (git-ignored).

import assert from "node:assert/strict";
import { existsSync, mkdirSync } from "node:fs";
import path from "node:path";
import { after, beforeEach, describe, it } from "node:test";
import { fileURLToPath } from "node:url";

import { CHROMIUM, launchChromium } from "./lib/chromium.mjs";
import { startDemo, stopDemo } from "./lib/demo.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, "..", "..");
const SERVER = path.resolve(process.env.DEMO_SERVER || path.join(REPO, "target", "debug", "actix-socketio"));
const SHOTS = path.join(HERE, "screenshots");

const SUITE_TIMEOUT_MS = 60_000;
const STEP_TIMEOUT_MS = 10_000;

const XSS = "<img src=x onerror=window.__xss=1>";
// The same attack within the 32-character nickname limit (XSS itself is 34 long, so the server
// refuses it as a name): a bare `__xss=1` in an inline handler also sets window.__xss.
const XSS_NAME = "<img src=x onerror=__xss=1>";
const DESKTOP = { width: 1000, height: 700 };
const PHONE = { width: 390, height: 800 };

// ---------------------------------------------------------------------------- page helpers

/** A page in its own browser context, with every page error and console error recorded. */
async function openUser(browser, label, viewport, extra = {}) {
  const context = await browser.newContext({ viewport, ...extra });
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_TIMEOUT_MS);
  const errors = [];
  page.on("pageerror", (err) => errors.push(`${label}: pageerror: ${err.message}`));
  page.on("console", (msg) => {
    if (msg.type() === "error") errors.push(`${label}: console.error: ${msg.text()}`);
  });
  page.on("requestfailed", (req) => {
    const why = req.failure()?.errorText || "";
    // A long-poll the client (or closing the page) cancels is not a failure.
    if (closing || (why.includes("ERR_ABORTED") && req.url().includes("/socket.io/?"))) return;
    errors.push(`${label}: request failed: ${req.url()} ${why}`);
  });
  await page.goto(baseUrl);
  await page.locator('#status[data-state="connected"]').waitFor();
  // The welcome event fills the name field with the server-given guest name.
  await page.waitForFunction(() => document.getElementById("nick").value.startsWith("guest-"));
  return { label, context, page, errors };
}

async function setNick({ page }, name) {
  await page.fill("#nick", name);
  await page.click("#nick-save");
}

async function joinByTyping({ page }, room) {
  await page.fill("#room-input", room);
  await page.click("#room-join");
  await page.locator(`.tab.active[data-conv="room:${room}"]`).waitFor();
}

async function sendWithEnter({ page }, text) {
  await page.fill("#composer", text);
  await page.press("#composer", "Enter");
}

/** The text content of every element matching `selector`. */
const texts = (page, selector) => page.locator(selector).allTextContents();

const pane = (key) => `.pane[data-conv="${key}"]`;

// ---------------------------------------------------------------------------- the test

let server;
let baseUrl;
let browser;
let closing = false;
let setupDone = false; // beforeEach lets the setup test itself through
const users = [];

describe("chat demo in a real browser", { timeout: SUITE_TIMEOUT_MS }, () => {
  let alice;
  let bob;
  let carol;

  // Setup is a test of its own (not a hook) so that a missing browser or binary is counted
  // as a failure in the summary, not only as cancelled tests.
  it("finds the system Chromium and starts the demo server", async () => {
    assert.ok(
      existsSync(CHROMIUM),
      `${CHROMIUM} is missing: install Debian's chromium package (apt-get install -y chromium); this test never downloads a browser`,
    );
    assert.ok(existsSync(SERVER), `demo server binary not found: ${SERVER} (run cargo build, or set DEMO_SERVER)`);
    mkdirSync(SHOTS, { recursive: true });
    server = await startDemo(SERVER);
    baseUrl = server.url;
    browser = await launchChromium();
  });

  beforeEach(() => {
    if (setupDone) assert.ok(browser && baseUrl, "setup failed: see the first test");
    setupDone = true;
  });

  after(async () => {
    closing = true;
    try {
      if (browser) await browser.close();
    } finally {
      await stopDemo(server?.child);
    }
  });

  it("serves the page and connects two users", async () => {
    alice = await openUser(browser, "alice", DESKTOP);
    users.push(alice);
    bob = await openUser(browser, "bob", DESKTOP);
    users.push(bob);
    assert.equal((await bob.page.textContent("#online")).trim(), "2 online");
    await alice.page.waitForFunction(() => document.getElementById("online").textContent.trim() === "2 online");
    // alice saw bob arrive (presence) in her activity pane.
    await alice.page.locator(`${pane("activity")} .notice`, { hasText: "came online" }).waitFor();
  });

  it("sets nicknames, and shows a refused one inline", async () => {
    await setNick(alice, "alice");
    await alice.page.locator(".notice", { hasText: "You are now alice." }).waitFor();
    await setNick(bob, "bob");
    await bob.page.locator(".notice", { hasText: "You are now bob." }).waitFor();

    await setNick(alice, "x".repeat(40));
    const err = alice.page.locator("#nick-error");
    await err.waitFor({ state: "visible" });
    assert.notEqual((await err.textContent()).trim(), "", "the ack's error text is shown");
    await setNick(alice, "alice");
    await err.waitFor({ state: "hidden" });
  });

  it("joins a room through the UI on both pages", async () => {
    await joinByTyping(alice, "lobby");
    await joinByTyping(bob, "lobby");
    // bob's member chips come from the join ack; alice learns of bob from `joined`.
    await bob.page.locator('#members button[data-user-name="alice"]').waitFor();
    await alice.page.locator(`${pane("room:lobby")} .notice`, { hasText: "bob joined." }).waitFor();
    await alice.page.locator('#members button[data-user-name="bob"]').waitFor();
    assert.match(await alice.page.textContent("#conv-title"), /# lobby · 2 members/);
    // The room list (the `rooms` ack) shows lobby with its two members.
    await bob.page.click("#rooms-refresh");
    await bob.page.waitForFunction(
      () => document.querySelector('#room-list [data-room="lobby"] .room-count')?.textContent === "2",
    );
  });

  it("delivers a room message typed in the composer", async () => {
    await sendWithEnter(alice, "hello bob");
    const own = alice.page.locator(`${pane("room:lobby")} .msg.own`, { hasText: "hello bob" });
    await own.waitFor();
    assert.equal(await alice.page.inputValue("#composer"), "", "the composer is cleared after the ok ack");

    const got = bob.page.locator(`${pane("room:lobby")} .msg[data-from-name="alice"]`, { hasText: "hello bob" });
    await got.waitFor();
    assert.equal((await got.locator(".msg-from").textContent()).trim(), "alice");
    assert.equal((await got.locator(".msg-text").textContent()).trim(), "hello bob");
    // The sender is not echoed: exactly one copy on each side.
    assert.equal(await alice.page.locator(".msg", { hasText: "hello bob" }).count(), 1);
    assert.equal(await bob.page.locator(".msg", { hasText: "hello bob" }).count(), 1);
  });

  it("sends a direct message from bob to alice", async () => {
    await bob.page.click('#members button[data-user-name="alice"]');
    await bob.page.locator('.tab.active[data-kind="dm"]').waitFor();
    assert.match(await bob.page.textContent("#conv-title"), /@ alice/);
    await bob.page.fill("#composer", "psst alice, bob here");
    await bob.page.click("#send");
    await bob.page.locator('.pane[data-kind="dm"] .msg.own', { hasText: "psst alice, bob here" }).waitFor();

    // alice is still in lobby: the DM opens its own tab with an unread badge.
    const tab = alice.page.locator('.tab[data-kind="dm"]');
    await tab.locator(".badge").waitFor();
    assert.equal((await tab.locator(".tab-label").textContent()).trim(), "@ bob");
    await tab.locator(".tab-main").click();
    const dm = alice.page.locator('.pane[data-kind="dm"] .msg[data-from-name="bob"]', { hasText: "psst alice, bob here" });
    await dm.waitFor({ state: "visible" });
    assert.equal(await alice.page.locator(`${pane("room:lobby")} .msg`, { hasText: "psst" }).count(), 0);

    // alice answers in the DM pane.
    await sendWithEnter(alice, "hi bob");
    await bob.page.locator('.pane[data-kind="dm"] .msg[data-from-name="alice"]', { hasText: "hi bob" }).waitFor();
    await alice.page.locator('.tab[data-conv="room:lobby"] .tab-main').click();
  });

  it("renders hostile names and messages as text", async () => {
    // Too long for a name: refused, and the refusal is shown inline.
    await setNick(bob, XSS);
    await bob.page.locator("#nick-error").waitFor({ state: "visible" });
    await setNick(bob, XSS_NAME);
    // The notice lands in bob's activity pane, which is not the one on screen.
    await bob.page.locator(".notice", { hasText: `You are now ${XSS_NAME}.` }).waitFor({ state: "attached" });
    assert.equal(await bob.page.locator("#nick-error").isVisible(), false);
    await bob.page.locator('.tab[data-conv="room:lobby"] .tab-main').click();
    await sendWithEnter(bob, XSS);
    const own = bob.page.locator(`${pane("room:lobby")} .msg.own`, { hasText: XSS });
    await own.waitFor();
    assert.equal(await own.locator(".msg-from").textContent(), XSS_NAME);

    const msg = alice.page.locator(`${pane("room:lobby")} .msg`, { hasText: XSS });
    await msg.waitFor();
    assert.equal(await msg.locator(".msg-from").textContent(), XSS_NAME);
    assert.equal(await msg.locator(".msg-text").textContent(), XSS);
    // alice's member chip and people entry for bob now carry the new name, as text.
    await alice.page.locator("#members button.member", { hasText: XSS_NAME }).waitFor();
    assert.ok((await texts(alice.page, "#people .person")).includes(XSS_NAME));

    // Give a would-be <img> time to fail loading and run its handler, then check.
    await Promise.all([alice, bob].map(({ page }) => page.waitForTimeout(300)));
    for (const { label, page } of [alice, bob]) {
      assert.equal(await page.evaluate(() => typeof window.__xss), "undefined", `${label}: window.__xss is set`);
      assert.equal(await page.locator("img").count(), 0, `${label}: an <img> element was created`);
    }
  });

  it("works on a phone-sized screen", async () => {
    carol = await openUser(browser, "carol", PHONE, { isMobile: true, hasTouch: true });
    users.push(carol);
    await setNick(carol, "carol");
    await carol.page.locator(".notice", { hasText: "You are now carol." }).waitFor();
    // The sidebar is a drawer here: open it and join lobby by clicking it in the room list.
    assert.equal(await carol.page.locator("#room-list").isVisible(), false);
    await carol.page.click("#menu-toggle");
    await carol.page.locator('#room-list [data-room="lobby"] .room-name').waitFor({ state: "visible" });
    await carol.page.screenshot({ path: path.join(SHOTS, "phone-menu.png"), animations: "disabled" });
    await carol.page.click('#room-list [data-room="lobby"] .room-name');
    await carol.page.locator('.tab.active[data-conv="room:lobby"]').waitFor();
    await carol.page.locator("#room-list").waitFor({ state: "hidden" });
    await sendWithEnter(carol, "hi all, carol on her phone");
    await alice.page.locator(`${pane("room:lobby")} .msg[data-from-name="carol"]`, { hasText: "carol on her phone" }).waitFor();
    await bob.page.locator(`${pane("room:lobby")} .msg[data-from-name="carol"]`, { hasText: "carol on her phone" }).waitFor();
    await alice.page.waitForFunction(() => document.getElementById("online").textContent.trim() === "3 online");
    // Nothing overflows sideways on a 390 px screen.
    const overflow = await carol.page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the page is ${overflow} px wider than the phone screen`);
    await carol.page.screenshot({ path: path.join(SHOTS, "phone.png"), animations: "disabled" });
  });

  it("takes desktop screenshots", async () => {
    await alice.page.screenshot({ path: path.join(SHOTS, "alice.png") });
    await bob.page.screenshot({ path: path.join(SHOTS, "bob.png") });
  });

  it("had no page errors and no console errors", () => {
    const errors = users.flatMap((u) => u.errors);
    assert.deepEqual(errors, []);
  });
});
