// The JS client against the real Python demo server (`python -m jupyter_sente.demo`), started
// here as a subprocess. Node has no cookie jar: each "browser" GETs the page, keeps its cookies
// and its CSRF token, and sends them with the WebSocket upgrade and every fetch.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";
import WebSocket from "ws";

import { ChannelSocket } from "../src/client.js";
import { equals, kw } from "../src/values.js";

const REPO = fileURLToPath(new URL("../..", import.meta.url));
const PYTHON = process.env.SENTE_PYTHON ?? `${REPO}.venv/bin/python`;
/** Waits are in these units, scaled for slow machines. */
const SCALE = Number(process.env.SENTE_TEST_TIME_SCALE ?? "1") || 1;
const WAIT_MS = 10_000 * SCALE;

/** @type {ChannelSocket[]} */
const clients = [];

/**
 * @typedef {object} Demo
 * @property {string} base
 * @property {import("node:child_process").ChildProcess} proc
 * @property {() => string} log
 */

async function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const addr = /** @type {import("node:net").AddressInfo} */ (s.address());
      s.close(() => resolve(addr.port));
    });
  });
}

/**
 * Start `python -m jupyter_sente.demo` on a free port and wait until it answers.
 * @param {string[]} [args]
 * @returns {Promise<Demo>}
 */
async function startDemo(args = []) {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const proc = spawn(PYTHON, ["-m", "jupyter_sente.demo", "--port", String(port), ...args], {
    cwd: REPO,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  proc.stdout?.on("data", (d) => (out += d));
  proc.stderr?.on("data", (d) => (out += d));
  const deadline = Date.now() + 4 * WAIT_MS;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`demo server exited with ${proc.exitCode}:\n${out}`);
    try {
      if ((await fetch(base + "/")).ok) return { base, proc, log: () => out };
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  proc.kill("SIGTERM");
  throw new Error(`demo server did not answer within ${4 * WAIT_MS} ms:\n${out}`);
}

/** @param {Demo | undefined} demo */
async function stopDemo(demo) {
  if (demo === undefined || demo.proc.exitCode !== null) return;
  const exited = new Promise((r) => demo.proc.once("exit", r));
  demo.proc.kill("SIGTERM");
  await exited;
}

/**
 * A browser session on `demo`: the page's cookies and CSRF token.
 * @param {Demo} demo
 */
async function session(demo) {
  const res = await fetch(demo.base + "/");
  assert.equal(res.status, 200);
  const html = await res.text();
  const m = /id="sente-csrf-token"[^>]*data-csrf-token="([^"]*)"/.exec(html);
  assert.ok(m, "the page carries the CSRF token");
  const cookie = res.headers
    .getSetCookie()
    .map((c) => c.split(";")[0])
    .join("; ");
  return { base: demo.base, cookie, csrf: m[1] };
}

/**
 * Log the session in as `uid` (the demo's POST /login).
 * @param {{base: string, cookie: string, csrf: string}} s
 * @param {string} uid
 */
async function login(s, uid) {
  const res = await fetch(s.base + "/login", {
    method: "POST",
    headers: { Cookie: s.cookie, "X-CSRF-Token": s.csrf, "Content-Type": "application/x-www-form-urlencoded" },
    body: `user-id=${encodeURIComponent(uid)}`,
  });
  assert.equal(res.status, 200, await res.text());
}

/**
 * A client for a session, connected.
 * @param {{base: string, cookie: string, csrf: string}} s
 * @param {import("../src/client.js").ChannelSocketOptions} [opts]
 */
function client(s, opts = {}) {
  const chsk = new ChannelSocket(s.base + "/chsk", {
    csrfToken: s.csrf,
    WebSocket,
    wsOptions: { headers: { Cookie: s.cookie }, origin: s.base },
    headers: { Cookie: s.cookie },
    logger: null,
    ...opts,
  });
  clients.push(chsk);
  return chsk;
}

/**
 * The data of the next event `id` that `chsk` receives.
 * @param {ChannelSocket} chsk
 * @param {string} id
 * @param {(data: unknown) => boolean} [pred]
 * @returns {Promise<unknown>}
 */
function nextEvent(chsk, id, pred = () => true) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no ${id} event within ${WAIT_MS} ms`));
    }, WAIT_MS);
    const off = chsk.on(id, (msg) => {
      if (!pred(msg.data)) return;
      off();
      clearTimeout(timer);
      resolve(msg.data);
    });
  });
}

/** @type {Demo | undefined} */
let demo;
/** @type {Demo | undefined} */
let jsonDemo;

before(async () => {
  [demo, jsonDemo] = await Promise.all([startDemo(), startDemo(["--packer", "json"])]);
});

after(async () => {
  for (const c of clients) c.disconnect();
  await Promise.all([stopDemo(demo), stopDemo(jsonDemo)]);
});

/** The EDN demo, started in before(). */
const edn = () => /** @type {Demo} */ (demo);

describe("against the Python demo server", () => {
  test("WebSocket: handshake, then an echo request gets its data back", async () => {
    const chsk = client(await session(edn()));
    const state = await chsk.whenOpen(WAIT_MS);
    assert.equal(state.type, "ws");
    assert.equal(chsk.transport, "ws");
    const data = new Map(/** @type {[unknown, unknown][]} */ ([[kw("msg"), "hi"], ["n", [1, 2.5, null]]]));
    const reply = await chsk.request(["example/echo", data], { timeoutMs: WAIT_MS });
    assert.ok(equals(reply, data), `echo of ${String(reply)}`);
  });

  test("WebSocket: a broadcast from one client reaches another", async () => {
    const a = client(await session(edn()));
    const b = client(await session(edn()));
    await Promise.all([a.whenOpen(WAIT_MS), b.whenOpen(WAIT_MS)]);
    const tag = `ws-${Date.now()}`;
    const got = nextEvent(b, "example/broadcast", (d) => containsString(d, tag));
    a.send(["example/broadcast", tag]);
    assert.ok(containsString(await got, tag));
  });

  test("forced Ajax: echo and broadcast over long-poll and POST", async () => {
    const a = client(await session(edn()), { type: "ajax" });
    const b = client(await session(edn()));
    await Promise.all([a.whenOpen(WAIT_MS), b.whenOpen(WAIT_MS)]);
    assert.equal(a.transport, "ajax");
    assert.equal(a.state.type, "ajax");
    assert.equal(await a.request(["example/echo", "over ajax"], { timeoutMs: WAIT_MS }), "over ajax");
    // WS -> Ajax: the push must wait for the Ajax client's poll
    const tag1 = `to-ajax-${Date.now()}`;
    const got1 = nextEvent(a, "example/broadcast", (d) => containsString(d, tag1));
    b.send(["example/broadcast", tag1]);
    assert.ok(containsString(await got1, tag1));
    // Ajax -> WS: the send is a POST
    const tag2 = `from-ajax-${Date.now()}`;
    const got2 = nextEvent(b, "example/broadcast", (d) => containsString(d, tag2));
    a.send(["example/broadcast", tag2]);
    assert.ok(containsString(await got2, tag2));
  });

  test("ping: the server answers over WebSocket (pong) and over Ajax (a POST without cb)", async () => {
    const chsk = client(await session(edn()));
    await chsk.whenOpen(WAIT_MS);
    const overWs = await chsk.ping(WAIT_MS);
    chsk.switchType("ajax");
    await chsk.whenOpen(WAIT_MS);
    const overAjax = await chsk.ping(WAIT_MS);
    for (const ms of [overWs, overAjax]) assert.ok(ms > 0 && ms < WAIT_MS, `round trip of ${ms} ms`);
  });

  test("switchType moves a live client from WebSocket to Ajax and back", async () => {
    const chsk = client(await session(edn()));
    await chsk.whenOpen(WAIT_MS);
    chsk.switchType("ajax");
    await chsk.whenOpen(WAIT_MS);
    assert.equal(chsk.state.type, "ajax");
    assert.equal(await chsk.request(["example/echo", 1], { timeoutMs: WAIT_MS }), 1);
    chsk.switchType("ws");
    await chsk.whenOpen(WAIT_MS);
    assert.equal(chsk.state.type, "ws");
    assert.equal(await chsk.request(["example/echo", 2], { timeoutMs: WAIT_MS }), 2);
  });

  test("disconnect closes for good; reconnect opens again and requests work", async () => {
    const chsk = client(await session(edn()));
    await chsk.whenOpen(WAIT_MS);
    chsk.disconnect();
    assert.equal(chsk.isOpen, false);
    assert.equal(chsk.state["last-close"].reason, "requested-disconnect");
    await assert.rejects(chsk.request(["example/echo", 0], { timeoutMs: WAIT_MS }), { name: "ReplyClosed" });
    chsk.reconnect();
    await chsk.whenOpen(WAIT_MS);
    assert.equal(await chsk.request(["example/echo", "back"], { timeoutMs: WAIT_MS }), "back");
  });

  test("a wrong CSRF token is refused: auto falls back to Ajax, which stays closed", async () => {
    const s = await session(edn());
    const chsk = client({ ...s, csrf: "wrong" + s.csrf });
    await nextEvent(chsk, "chsk/state", () => chsk.transport === "ajax" && chsk.connState === "retry-wait");
    assert.equal(chsk.state["ever-opened?"], false);
    assert.ok(chsk.state["last-ws-error"], "the refused upgrade was seen as a WebSocket error");
  });

  test("after POST /login, reconnect picks up the new uid (over WebSocket and Ajax)", async () => {
    for (const type of /** @type {const} */ (["auto", "ajax"])) {
      const s = await session(edn());
      const chsk = client(s, { type });
      const first = await chsk.whenOpen(WAIT_MS);
      assert.equal(first.uid, kw("sente/nil-uid"));
      await login(s, `alice-${type}`);
      const handshake = nextEvent(chsk, "chsk/handshake");
      chsk.reconnect();
      const [uid] = /** @type {unknown[]} */ (await handshake);
      assert.equal(uid, `alice-${type}`);
      assert.equal(chsk.state.uid, `alice-${type}`);
    }
  });

  test("the broadcast loop: toggle replies {:running? true}, ticks arrive, toggle stops it", async () => {
    const chsk = client(await session(edn()));
    await chsk.whenOpen(WAIT_MS);
    const running = kw("running?");
    const tick = nextEvent(chsk, "example/tick");
    const on = /** @type {Map<unknown, unknown>} */ (await chsk.request(["example/toggle-broadcast-loop"], { timeoutMs: WAIT_MS }));
    assert.equal(on.get(running), true);
    assert.equal(typeof (/** @type {Map<unknown, unknown>} */ (await tick)).get(kw("i")), "number");
    const off = /** @type {Map<unknown, unknown>} */ (await chsk.request(["example/toggle-broadcast-loop"], { timeoutMs: WAIT_MS }));
    assert.equal(off.get(running), false);
  });
});

describe("against the demo server with the JSON packer", () => {
  for (const type of /** @type {const} */ (["ws", "ajax"])) {
    test(`${type}: echo of every kind of value, and a broadcast`, async () => {
      const chsk = client(await session(/** @type {Demo} */ (jsonDemo)), { type, packer: "json" });
      await chsk.whenOpen(WAIT_MS);
      const data = [kw("k"), "~tilde", { text: "hi" }, new Map([[kw("x"), new Set([1, 2])]]), 2n ** 60n, null, 1.5];
      assert.ok(equals(await chsk.request(["example/echo", data], { timeoutMs: WAIT_MS }), data));
      const got = nextEvent(chsk, "example/broadcast", (d) => containsString(d, `json-${type}`));
      chsk.send(["example/broadcast", `json-${type}`]);
      await got;
    });
  }
});

/**
 * True if `x` is `s` or contains it (the demo may wrap broadcast data).
 * @param {unknown} x
 * @param {string} s
 * @returns {boolean}
 */
function containsString(x, s) {
  if (x === s) return true;
  if (Array.isArray(x)) return x.some((y) => containsString(y, s));
  if (x instanceof Map) return [...x.values()].some((y) => containsString(y, s));
  if (x !== null && typeof x === "object") return Object.values(x).some((y) => containsString(y, s));
  return false;
}
