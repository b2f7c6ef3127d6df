import assert from "node:assert/strict";
import { beforeEach, describe, test } from "node:test";

import { ChannelSocket, resolveUrls } from "../src/client.js";
import { ednPacker } from "../src/edn.js";
import { ReplyClosed, ReplyFailed, ReplyTimeout, UsageError } from "../src/errors.js";
import { equals, kw } from "../src/values.js";
import { FakeClock, FakeFetch, FakeWebSocket, collectingLogger, settle } from "./fakes.js";

const HANDSHAKE = (/** @type {unknown} */ uid = "alice", /** @type {unknown} */ hd = null) => [[kw("chsk/handshake"), [uid, null, hd]], null];

/**
 * A client on fakes, and the events it delivered.
 * @param {import("../src/client.js").ChannelSocketOptions} [opts]
 */
function setup(opts = {}) {
  const clock = new FakeClock();
  const fetch = new FakeFetch();
  const logger = collectingLogger();
  /** @type {unknown[][]} */
  const events = [];
  const chsk = new ChannelSocket("http://example.test/chsk", {
    clock,
    fetch: /** @type {typeof globalThis.fetch} */ (fetch.fetch),
    WebSocket: FakeWebSocket,
    random: () => 0.5,
    logger,
    csrfToken: "tok",
    clientId: "cid-1",
    autoConnect: false,
    ...opts,
  });
  chsk.on((msg) => events.push(msg.event));
  /** The events of one id. */
  const of = (/** @type {string} */ id) => events.filter((e) => e[0] === kw(id));
  return { chsk, clock, fetch, logger, events, of };
}

/** @param {ReturnType<typeof setup>} t */
function openWs(t, uid = "alice") {
  t.chsk.connect();
  const ws = FakeWebSocket.last();
  ws.receiveValue(HANDSHAKE(uid));
  return ws;
}

beforeEach(() => FakeWebSocket.reset());

describe("URLs", () => {
  test("an absolute URL gives its ws twin; a path uses host, protocol and port", () => {
    assert.deepEqual(resolveUrls("https://h.test/base/chsk"), { http: "https://h.test/base/chsk", ws: "wss://h.test/base/chsk" });
    assert.deepEqual(resolveUrls("/chsk", { host: "h.test", protocol: "https", port: 8443 }), {
      http: "https://h.test:8443/chsk",
      ws: "wss://h.test:8443/chsk",
    });
    assert.throws(() => resolveUrls("/chsk"), UsageError);
  });
});

describe("WebSocket transport", () => {
  test("the WS URL carries params, then client-id, then csrf-token, and no udt", () => {
    const t = setup({ params: { room: "r 1" } });
    t.chsk.connect();
    assert.equal(FakeWebSocket.last().url, "ws://example.test/chsk?room=r%201&client-id=cid-1&csrf-token=tok");
  });

  test("a blank csrf token is left out of the URL", () => {
    const t = setup({ csrfToken: () => "  " });
    t.chsk.connect();
    assert.equal(FakeWebSocket.last().url, "ws://example.test/chsk?client-id=cid-1");
  });

  test("the handshake opens the state and is delivered as [uid nil hd first-handshake?]", () => {
    const t = setup({ type: "ws" });
    t.chsk.connect();
    FakeWebSocket.last().receiveValue(HANDSHAKE("alice", new Map([[kw("x"), 1]])));
    assert.equal(t.chsk.isOpen, true);
    assert.equal(t.chsk.state.type, "ws");
    assert.equal(t.chsk.state.uid, "alice");
    const [hs] = t.of("chsk/handshake");
    assert.ok(equals(hs[1], ["alice", null, new Map([[kw("x"), 1]]), true]));
    const opened = t.of("chsk/state").map((e) => /** @type {any} */ (e[1]));
    const last = opened[opened.length - 1];
    assert.equal(last[2], true);
    assert.equal(last[1]["first-open?"], true);
    assert.equal(last[1]["opened?"], true);
  });

  test("a request gets the reply carrying its cb-id", async () => {
    const t = setup();
    const ws = openWs(t);
    const p = t.chsk.request(["my-app/req", new Map([[kw("x"), 1]])], { timeoutMs: 1000 });
    const [[ev, cbId]] = /** @type {any[]} */ (ws.sentValues());
    assert.equal(ednPacker.pack(ev), "[:my-app/req {:x 1}]");
    assert.match(cbId, /^[0-9a-f]{6}$/);
    ws.receive(`[{:any "reply"} "${cbId}"]`);
    assert.ok(equals(await p, new Map([[kw("any"), "reply"]])));
  });

  test("a request with no reply ends with :chsk/timeout after its timeout", async () => {
    const t = setup();
    openWs(t);
    const p = t.chsk.request(["my-app/req"], { timeoutMs: 500 });
    const outcome = p.catch((e) => e);
    await t.clock.advance(499);
    await t.clock.advance(1);
    const e = await outcome;
    assert.ok(e instanceof ReplyTimeout);
    assert.equal(e.value, kw("chsk/timeout"));
  });

  test("a late reply after the timeout is dropped with a warning, and the cb fired once", async () => {
    const t = setup();
    const ws = openWs(t);
    /** @type {unknown[]} */
    const got = [];
    t.chsk.send(["my-app/req"], { timeoutMs: 10, cb: (r) => got.push(r) });
    const cbId = /** @type {any} */ (ws.sentValues()[0])[1];
    await t.clock.advance(10);
    ws.receive(`["late" "${cbId}"]`);
    assert.deepEqual(got, [kw("chsk/timeout")]);
    assert.ok(t.logger.warnings.some((w) => w.includes("reply without a waiting cb")));
  });

  test("sending while not open returns false and the cb gets :chsk/closed at once", () => {
    const t = setup();
    /** @type {unknown[]} */
    const got = [];
    assert.equal(t.chsk.send(["my-app/req"], { timeoutMs: 10, cb: (r) => got.push(r) }), false);
    assert.deepEqual(got, [kw("chsk/closed")]);
  });

  test("request() while closed rejects with ReplyClosed", async () => {
    const t = setup();
    await assert.rejects(t.chsk.request(["my-app/req"]), ReplyClosed);
  });

  test("invalid events, reserved ids and a cb without timeout are usage errors", () => {
    const t = setup();
    openWs(t);
    assert.throws(() => t.chsk.send(["no-namespace"]), UsageError);
    assert.throws(() => t.chsk.send([kw("chsk/ws-ping")]), UsageError);
    assert.throws(() => t.chsk.send(["a/b", 1, 2]), UsageError);
    assert.throws(() => t.chsk.send(["a/b"], { cb: () => {} }), UsageError);
  });

  test("the server's bare ping is answered with [[:chsk/ws-pong] nil] and shown to the app", () => {
    const t = setup();
    const ws = openWs(t);
    ws.receive("[:chsk/ws-ping nil]");
    assert.deepEqual(ws.sent, ["[[:chsk/ws-pong] nil]"]);
    assert.equal(t.of("chsk/ws-ping").length, 1);
  });

  test("pushes are delivered one by one; non-events and chsk/* pushes are dropped with a warning", () => {
    const t = setup();
    const ws = openWs(t);
    ws.receive('[[[:my-app/alert "hi"] [:my-app/alert "yo"] [:chsk/handshake ["x" nil nil]] [1 2]] nil]');
    assert.deepEqual(t.of("my-app/alert").map((e) => e[1]), ["hi", "yo"]);
    assert.equal(t.of("chsk/handshake").length, 1);
    assert.equal(t.logger.warnings.filter((w) => w.includes("dropped a pushed")).length, 2);
    ws.receive("[:my-app/not-a-batch nil]");
    assert.ok(t.logger.warnings.some((w) => w.includes("not a vector of events")));
  });

  test("wrapRecvEvs delivers pushes as [:chsk/recv ev]", () => {
    const t = setup({ wrapRecvEvs: true });
    const ws = openWs(t);
    ws.receive('[[[:my-app/alert "hi"]] nil]');
    assert.equal(ednPacker.pack(t.of("chsk/recv")[0]), '[:chsk/recv [:my-app/alert "hi"]]');
  });

  test("an unreadable message is dropped with a warning, the socket stays open", () => {
    const t = setup();
    const ws = openWs(t);
    ws.receive("[[:my-app/x");
    assert.equal(t.chsk.isOpen, true);
    assert.ok(t.logger.warnings.some((w) => w.includes("could not read")));
  });

  test("handlers registered for one id see only that id", () => {
    const t = setup();
    /** @type {unknown[]} */
    const seen = [];
    const off = t.chsk.on("my-app/alert", (m) => seen.push(m.data));
    const ws = openWs(t);
    ws.receive('[[[:my-app/alert 1] [:my-app/other 2]] nil]');
    off();
    ws.receive("[[[:my-app/alert 3]] nil]");
    assert.deepEqual(seen, [1]);
  });
});

describe("keep-alive", () => {
  test("after 10 s of silence the client pings with a cb; a pong keeps the socket", async () => {
    const t = setup();
    const ws = openWs(t);
    await t.clock.advance(10_000);
    const [[ev, cbId]] = /** @type {any[]} */ (ws.sentValues());
    assert.deepEqual(ev, [kw("chsk/ws-ping")]);
    ws.receive(`["pong" "${cbId}"]`);
    await t.clock.advance(5_000);
    assert.equal(FakeWebSocket.instances.length, 1);
    assert.equal(t.chsk.isOpen, true);
  });

  test("traffic in the last 10 s means no ping", async () => {
    const t = setup();
    const ws = openWs(t);
    await t.clock.advance(9_000);
    ws.receive("[[[:my-app/x]] nil]");
    await t.clock.advance(1_000);
    assert.deepEqual(ws.sent, []);
  });

  test("a ping without pong within 5 s reconnects with reason ws-ping-timeout", async () => {
    const t = setup();
    const ws = openWs(t);
    await t.clock.advance(10_000);
    assert.equal(ws.sent.length, 1);
    await t.clock.advance(5_000);
    assert.deepEqual(ws.closedWith, { code: 1000, reason: "CLOSE_NORMAL" });
    assert.equal(FakeWebSocket.instances.length, 2);
    assert.equal(t.chsk.state["last-close"].reason, "ws-ping-timeout");
  });

  test("wsKaliveMs null turns pings off", async () => {
    const t = setup({ wsKaliveMs: null });
    const ws = openWs(t);
    await t.clock.advance(60_000);
    assert.deepEqual(ws.sent, []);
  });
});

describe("reconnecting", () => {
  test("first retry is immediate, then [500*2^n, 1000*2^n) ms with udt-next-reconnect", async () => {
    const t = setup({ type: "ws" });
    const ws1 = openWs(t);
    ws1.drop();
    assert.equal(t.chsk.state["last-close"].reason, "unexpected");
    assert.equal(t.chsk.state["last-ws-close"].code, 1006);
    await t.clock.advance(0);
    assert.equal(FakeWebSocket.instances.length, 2);
    FakeWebSocket.last().drop();
    // attempt 2 with random 0.5: (4 + 2) * 0.5 * 1000 = 3000 ms
    assert.equal(t.chsk.state["udt-next-reconnect"], t.clock.now() + 3000);
    await t.clock.advance(2999);
    assert.equal(FakeWebSocket.instances.length, 2);
    await t.clock.advance(1);
    assert.equal(FakeWebSocket.instances.length, 3);
    FakeWebSocket.last().receiveValue(HANDSHAKE());
    assert.equal(t.chsk.state["udt-next-reconnect"], undefined);
    assert.equal(t.chsk.isOpen, true);
  });

  test("backoff is capped at 30 s", async () => {
    // no keep-alive: its ping on a socket without handshake restarts and resets the count (Sente §5.3)
    const t = setup({ type: "ws", wsKaliveMs: null });
    t.chsk.connect();
    for (let i = 0; i < 8; i++) {
      FakeWebSocket.last().drop();
      await t.clock.advance(60_000);
    }
    FakeWebSocket.last().drop();
    assert.equal(t.chsk.state["udt-next-reconnect"] - t.clock.now(), 30_000);
  });

  test("a socket without a handshake for 10 s is restarted by the keep-alive ping", async () => {
    const t = setup({ type: "ws" });
    t.chsk.connect();
    await t.clock.advance(10_000);
    assert.equal(FakeWebSocket.instances.length, 2);
    assert.deepEqual(FakeWebSocket.instances[0].closedWith, { code: 1000, reason: "CLOSE_NORMAL" });
    assert.deepEqual(t.logger.warnings, []);
  });

  test("a socket that cannot be constructed is retried", async () => {
    const t = setup({ type: "ws" });
    FakeWebSocket.failNext = true;
    t.chsk.connect();
    assert.equal(t.chsk.connState, "retry-wait");
    await t.clock.advance(0);
    assert.equal(FakeWebSocket.instances.length, 1);
  });

  test("pending requests end with :chsk/closed when their socket closes", async () => {
    const t = setup();
    const ws = openWs(t);
    const p = t.chsk.request(["my-app/req"], { timeoutMs: 60_000 });
    ws.drop();
    await assert.rejects(p, ReplyClosed);
  });

  test("disconnect closes with 1000 CLOSE_NORMAL and stops retrying", async () => {
    const t = setup();
    const ws = openWs(t);
    t.chsk.disconnect();
    assert.deepEqual(ws.closedWith, { code: 1000, reason: "CLOSE_NORMAL" });
    assert.equal(t.chsk.state["last-close"].reason, "requested-disconnect");
    await t.clock.advance(120_000);
    assert.equal(FakeWebSocket.instances.length, 1);
    assert.equal(t.chsk.connState, "disconnected");
  });

  test("reconnect closes with reason requested-reconnect and opens a new socket", async () => {
    const t = setup();
    const ws = openWs(t);
    t.chsk.reconnect();
    assert.deepEqual(ws.closedWith, { code: 1000, reason: "CLOSE_NORMAL" });
    assert.equal(t.chsk.state["last-close"].reason, "requested-reconnect");
    assert.equal(FakeWebSocket.instances.length, 2);
    FakeWebSocket.last().receiveValue(HANDSHAKE("bob"));
    assert.equal(t.chsk.state.uid, "bob");
    // auto builds a fresh implementation on reconnect: first-handshake? again (Sente quirk 7.3.2)
    assert.equal(/** @type {any} */ (t.of("chsk/handshake")[1][1])[3], true);
  });

  test("breakConnection closes with 3000 CLOSE_ABNORMAL and the client reconnects", async () => {
    const t = setup();
    const ws = openWs(t);
    t.chsk.breakConnection();
    assert.deepEqual(ws.closedWith, { code: 3000, reason: "CLOSE_ABNORMAL" });
    await t.clock.advance(0);
    assert.equal(FakeWebSocket.instances.length, 2);
  });

  test("a forgotten dead socket is noticed at the next send: :chsk/error and reconnect ws-error", () => {
    const t = setup();
    openWs(t);
    t.chsk.breakConnection({ closeWs: false });
    /** @type {unknown[]} */
    const got = [];
    assert.equal(t.chsk.send(["my-app/x"], { timeoutMs: 100, cb: (r) => got.push(r) }), true);
    assert.deepEqual(got, [kw("chsk/error")]);
    assert.equal(t.chsk.state["last-close"].reason, "ws-error");
    assert.equal(FakeWebSocket.instances.length, 2);
  });
});

describe("chsk/state", () => {
  /**
   * A client that records, at every chsk/state, where the connection is.
   * @param {import("../src/client.js").ChannelSocketOptions} [opts]
   */
  function watched(opts = {}) {
    const t = setup(opts);
    /** @type {{state: string, transport: string | null, sameMap: boolean, change: any}[]} */
    const seen = [];
    t.chsk.on("chsk/state", ({ data, chsk }) => {
      const change = /** @type {any} */ (data);
      seen.push({ state: chsk.connState, transport: chsk.transport, sameMap: change[0] === change[1], change });
    });
    const moves = () => seen.map((e) => `${e.state} ${e.transport}${e.sameMap ? " (same map)" : ""}`);
    return { ...t, seen, moves };
  }

  /** The state map without the transient keys a chsk/state event adds. */
  const stored = (/** @type {Record<string, unknown>} */ m) => {
    const { "open-changed?": _a, "opened?": _b, "closed?": _c, "first-open?": _d, ...rest } = m;
    return rest;
  };

  test("every move fires it: connect, open, loss, a first retry, backoff, a later retry", async () => {
    const t = watched({ type: "ws" });
    t.chsk.connect();
    FakeWebSocket.last().receiveValue(HANDSHAKE());
    FakeWebSocket.last().drop();
    await t.clock.advance(0); // the first retry: immediate, Sente's map does not change
    FakeWebSocket.last().drop();
    await t.clock.advance(2999);
    const beforeRetry = t.seen.length;
    await t.clock.advance(1);
    assert.equal(t.seen.length, beforeRetry + 1, "the retry after the backoff");
    FakeWebSocket.last().receiveValue(HANDSHAKE());
    assert.deepEqual(t.moves(), [
      "connecting ws (same map)",
      "open ws",
      "retry-wait ws", // closed, last-ws-close
      "connecting ws (same map)",
      "retry-wait ws", // last-ws-close
      "retry-wait ws", // udt-next-reconnect
      "connecting ws (same map)",
      "open ws",
    ]);
    assert.equal(t.seen[5].change[1]["udt-next-reconnect"], t.clock.now());
    // each event starts from the map the previous one ended with: no change is skipped
    for (let i = 1; i < t.seen.length; i++) assert.deepEqual(t.seen[i].change[0], stored(t.seen[i - 1].change[1]));
  });

  test("a WebSocket error, the downgrade to Ajax and a failed first poll each fire it", async () => {
    const t = watched();
    t.chsk.connect();
    FakeWebSocket.last().error();
    await settle();
    t.fetch.open("GET")[0].respond(500, "boom");
    await settle();
    assert.deepEqual(t.moves(), ["connecting ws (same map)", "connecting ws", "connecting ajax (same map)", "retry-wait ajax (same map)"]);
    assert.ok(t.seen[1].change[1]["last-ws-error"], "last-ws-error recorded");
  });

  test("a handler that disconnects on a loss stops the retry", async () => {
    const t = watched({ type: "ws" });
    t.chsk.on("chsk/state", ({ chsk }) => {
      if (chsk.connState === "retry-wait") chsk.disconnect();
    });
    t.chsk.connect();
    FakeWebSocket.last().receiveValue(HANDSHAKE());
    FakeWebSocket.last().drop();
    await t.clock.advance(60_000);
    assert.equal(FakeWebSocket.instances.length, 1);
    assert.deepEqual(t.moves(), ["connecting ws (same map)", "open ws", "retry-wait ws", "disconnected ws (same map)"]);
    assert.deepEqual(t.logger.warnings, []);
  });

  test("changes a handler makes come after the one it handles, in order", () => {
    const t = watched({ type: "ws" });
    t.chsk.on("chsk/state", ({ data, chsk }) => {
      if (/** @type {any} */ (data)[1]["first-open?"]) chsk.reconnect();
    });
    t.chsk.connect();
    FakeWebSocket.last().receiveValue(HANDSHAKE());
    const maps = t.seen.map((e) => e.change);
    assert.equal(maps.length, 4);
    assert.equal(maps[1][1]["opened?"], true);
    assert.equal(maps[2][1]["last-close"].reason, "requested-reconnect");
    assert.equal(maps[3][0], maps[3][1], "connecting again");
    for (let i = 1; i < maps.length; i++) assert.deepEqual(maps[i][0], stored(maps[i - 1][1]));
    assert.equal(FakeWebSocket.instances.length, 2);
  });

  test("nothing fires when nothing moved (a poll of an open Ajax client)", async () => {
    const t = watched({ type: "ajax" });
    t.chsk.connect();
    await settle();
    t.fetch.open("GET")[0].reply([kw("chsk/handshake"), ["alice", null, null]]);
    await settle();
    const n = t.seen.length;
    t.fetch.open("GET")[0].reply(kw("chsk/timeout"));
    await settle();
    assert.equal(t.seen.length, n);
  });
});

describe("ping", () => {
  test("over WebSocket: [[:chsk/ws-ping] cb-id], the round trip until the pong", async () => {
    const t = setup();
    const ws = openWs(t);
    const rtt = t.chsk.ping(1000);
    const [[ev, cbId]] = /** @type {any[]} */ (ws.sentValues());
    assert.deepEqual(ev, [kw("chsk/ws-ping")]);
    await t.clock.advance(7);
    ws.receive(`["pong" "${cbId}"]`);
    assert.equal(await rtt, 7);
  });

  test("over WebSocket: no pong is a ReplyTimeout and leaves the socket open; another answer a ReplyFailed", async () => {
    const t = setup({ wsKaliveMs: null });
    const ws = openWs(t);
    const late = t.chsk.ping(500).catch((e) => e);
    await t.clock.advance(500);
    assert.ok((await late) instanceof ReplyTimeout);
    assert.equal(t.chsk.isOpen, true);
    assert.equal(FakeWebSocket.instances.length, 1);
    const odd = t.chsk.ping().catch((e) => e);
    ws.receive(`["ping?" "${/** @type {any} */ (ws.sentValues()[1])[1]}"]`);
    const e = await odd;
    assert.ok(e instanceof ReplyFailed && e.value === kw("chsk/error"), String(e));
    assert.match(e.message, /ping got "ping\?", not "pong"/);
  });

  test("over Ajax: a POST of [[:chsk/ws-ping] nil], answered at once with :chsk/dummy-cb-200", async () => {
    const t = setup({ type: "ajax" });
    t.chsk.connect();
    await settle();
    t.fetch.open("GET")[0].reply([kw("chsk/handshake"), ["alice", null, null]]);
    await settle();
    const rtt = t.chsk.ping(1000);
    await settle();
    const [post] = t.fetch.open("POST");
    assert.equal(post.body?.get("ppstr"), "[[:chsk/ws-ping] nil]");
    await t.clock.advance(12);
    post.respond(200, "[:chsk/dummy-cb-200 nil]");
    assert.equal(await rtt, 12);
    const slow = t.chsk.ping(1000).catch((e) => e);
    await t.clock.advance(1000);
    assert.ok((await slow) instanceof ReplyTimeout);
    assert.equal(t.chsk.isOpen, true);
  });

  test("while not open: ReplyClosed at once, nothing sent", async () => {
    const t = setup();
    await assert.rejects(t.chsk.ping(), ReplyClosed);
    assert.throws(() => t.chsk.ping(-1), UsageError);
    assert.deepEqual(t.logger.warnings, []);
  });
});

describe("back online", () => {
  /** A client whose window is a bare EventTarget, lost twice: waiting out a 3 s backoff. */
  async function waiting() {
    const win = new EventTarget();
    const t = setup({ type: "ws", onlineTarget: win });
    openWs(t);
    FakeWebSocket.last().drop();
    await t.clock.advance(0);
    FakeWebSocket.last().drop();
    assert.equal(t.chsk.connState, "retry-wait");
    assert.deepEqual(t.clock.pending(), [3000]); // the backoff
    return { ...t, win };
  }

  test("the online event ends a backoff wait: the client reconnects at once", async () => {
    const t = await waiting();
    t.win.dispatchEvent(new Event("online"));
    assert.equal(FakeWebSocket.instances.length, 3);
    assert.equal(t.chsk.connState, "connecting");
    FakeWebSocket.last().receiveValue(HANDSHAKE());
    await t.clock.advance(3000); // the cancelled backoff timer does not fire
    assert.equal(FakeWebSocket.instances.length, 3);
    assert.equal(t.chsk.isOpen, true);
  });

  test("online while connecting or open does nothing", async () => {
    const t = await waiting();
    t.win.dispatchEvent(new Event("online"));
    t.win.dispatchEvent(new Event("online")); // connecting: the attempt is under way
    assert.equal(FakeWebSocket.instances.length, 3);
    FakeWebSocket.last().receiveValue(HANDSHAKE());
    t.win.dispatchEvent(new Event("online"));
    assert.equal(FakeWebSocket.instances.length, 3);
  });

  test("after disconnect the client no longer listens; connect listens again", async () => {
    const t = await waiting();
    t.chsk.disconnect();
    t.win.dispatchEvent(new Event("online"));
    assert.equal(FakeWebSocket.instances.length, 2);
    t.chsk.connect();
    FakeWebSocket.last().drop();
    await t.clock.advance(0);
    FakeWebSocket.last().drop();
    t.win.dispatchEvent(new Event("online"));
    assert.equal(FakeWebSocket.instances.length, 5);
  });
});

describe("auto: WebSocket with Ajax fallback", () => {
  test("a WS error before any handshake downgrades to Ajax for good", async () => {
    const t = setup();
    t.chsk.connect();
    const ws = FakeWebSocket.last();
    ws.error();
    assert.ok(t.chsk.state["last-ws-error"]);
    assert.equal(t.chsk.transport, "ajax");
    await settle();
    const [poll] = t.fetch.open("GET");
    assert.equal(poll.url.searchParams.get("handshake?"), "1");
    poll.reply([kw("chsk/handshake"), ["alice", null, null]]);
    await settle();
    assert.equal(t.chsk.state.type, "ajax");
    // a later Ajax failure retries over Ajax, never WebSocket
    t.fetch.open("GET")[0].respond(500, "boom");
    await t.clock.advance(60_000);
    assert.equal(FakeWebSocket.instances.length, 1);
    assert.equal(t.chsk.transport, "ajax");
  });

  test("a WS error after a WS handshake does not downgrade", async () => {
    const t = setup();
    const ws = openWs(t);
    ws.error();
    ws.drop();
    await t.clock.advance(0);
    assert.equal(t.chsk.transport, "ws");
    assert.equal(FakeWebSocket.instances.length, 2);
  });

  test("type ws never downgrades", async () => {
    const t = setup({ type: "ws" });
    t.chsk.connect();
    FakeWebSocket.last().error();
    FakeWebSocket.last().drop();
    await t.clock.advance(0);
    assert.equal(t.chsk.transport, "ws");
    assert.equal(t.fetch.requests.length, 0);
  });

  test("without a WebSocket constructor auto uses Ajax at once", async () => {
    const t = setup({ WebSocket: null });
    t.chsk.connect();
    await settle();
    assert.equal(t.chsk.transport, "ajax");
    assert.equal(t.fetch.open("GET").length, 1);
  });

  test("switchType('ajax') reconnects over Ajax, switchType('ws') back over WebSocket", async () => {
    const t = setup();
    openWs(t);
    t.chsk.switchType("ajax");
    await settle();
    assert.equal(t.chsk.transport, "ajax");
    assert.equal(t.fetch.open("GET").length, 1);
    t.chsk.switchType("ws");
    await settle();
    assert.equal(t.chsk.transport, "ws");
    assert.equal(t.fetch.open("GET").length, 0);
    assert.throws(() => t.chsk.switchType(/** @type {any} */ ("smoke")), UsageError);
  });
});

describe("Ajax transport", () => {
  /** An Ajax client after its handshake. */
  async function openAjax(opts = {}) {
    const t = setup({ type: "ajax", ...opts });
    t.chsk.connect();
    await settle();
    t.fetch.open("GET")[0].reply([kw("chsk/handshake"), ["alice", null, null]]);
    await settle();
    return t;
  }

  test("the poll GET carries params, udt, client-id, handshake?=1 while closed and the CSRF header", async () => {
    const t = setup({ type: "ajax", params: { a: "b" } });
    t.chsk.connect();
    await settle();
    const [poll] = t.fetch.open("GET");
    assert.equal(poll.url.search, `?a=b&udt=${t.clock.now()}&client-id=cid-1&handshake%3F=1`);
    assert.equal(poll.headers["X-CSRF-Token"], "tok");
    assert.equal(poll.headers["X-Requested-With"], "XMLHTTPRequest");
  });

  test("after the handshake the client repolls at once, without handshake?", async () => {
    const t = await openAjax();
    assert.equal(t.chsk.isOpen, true);
    const [poll] = t.fetch.open("GET");
    assert.equal(poll.url.searchParams.has("handshake?"), false);
  });

  test("a poll answered [:chsk/timeout nil] just polls again; a push batch is delivered", async () => {
    const t = await openAjax();
    t.fetch.open("GET")[0].reply(kw("chsk/timeout"));
    await settle();
    t.fetch.open("GET")[0].reply([[kw("my-app/alert"), "hi"]]);
    await settle();
    assert.deepEqual(t.of("my-app/alert").map((e) => e[1]), ["hi"]);
    assert.equal(t.fetch.open("GET").length, 1);
  });

  test("the client's own poll timeout repolls at once without closing", async () => {
    const t = await openAjax({ ajaxTimeoutMs: 1000 });
    await t.clock.advance(1000);
    assert.equal(t.fetch.open("GET").length, 1);
    assert.equal(t.chsk.isOpen, true);
  });

  test("a failed poll closes with reason unexpected and retries", async () => {
    const t = await openAjax();
    t.fetch.open("GET")[0].respond(403, "Bad CSRF token");
    await settle();
    assert.equal(t.chsk.isOpen, false);
    assert.equal(t.chsk.state["last-close"].reason, "unexpected");
    await t.clock.advance(0);
    assert.equal(t.fetch.open("GET")[0].url.searchParams.get("handshake?"), "1");
  });

  test("a POST is form-encoded udt, client-id, ppstr with the :ajax cb marker", async () => {
    const t = await openAjax();
    const p = t.chsk.request(["my-app/req", new Map([[kw("x"), 1]])], { timeoutMs: 5000 });
    await settle();
    const [post] = t.fetch.open("POST");
    assert.deepEqual([...(/** @type {URLSearchParams} */ (post.body)).keys()], ["udt", "client-id", "ppstr"]);
    assert.equal(post.body?.get("ppstr"), "[[:my-app/req {:x 1}] :ajax]");
    assert.equal(post.body?.get("client-id"), "cid-1");
    assert.equal(post.headers["Content-Type"], "application/x-www-form-urlencoded;charset=UTF-8");
    assert.equal(post.headers["X-CSRF-Token"], "tok");
    post.respond(200, '[{:any "reply"} nil]');
    assert.ok(equals(await p, new Map([[kw("any"), "reply"]])));
  });

  test("a POST without cb sends nil as marker and ignores :chsk/dummy-cb-200", async () => {
    const t = await openAjax();
    t.chsk.send(["my-app/x"]);
    await settle();
    const [post] = t.fetch.open("POST");
    assert.equal(post.body?.get("ppstr"), "[[:my-app/x] nil]");
    post.respond(200, "[:chsk/dummy-cb-200 nil]");
    await settle();
    assert.deepEqual(t.logger.warnings, []);
  });

  test("POST outcomes: timeout -> :chsk/timeout, HTTP error -> :chsk/error and closed, empty body -> :chsk/error", async () => {
    const t = await openAjax();
    /** @type {any[]} */
    const got = [];
    t.chsk.send(["my-app/a"], { timeoutMs: 100, cb: (r) => got.push(r) });
    await t.clock.advance(100);
    assert.deepEqual([...got], [kw("chsk/timeout")]);
    assert.equal(t.chsk.isOpen, true);

    t.chsk.send(["my-app/b"], { timeoutMs: 100, cb: (r) => got.push(r) });
    await settle();
    t.fetch.open("POST")[0].respond(200, "");
    await settle();
    assert.deepEqual([...got.slice(1)], [kw("chsk/error")]);
    assert.equal(t.chsk.isOpen, true);

    t.chsk.send(["my-app/c"], { timeoutMs: 100, cb: (r) => got.push(r) });
    await settle();
    t.fetch.open("POST")[0].respond(403, "Bad CSRF token");
    await settle();
    assert.deepEqual(got.slice(2), [kw("chsk/error")]);
    assert.equal(t.chsk.isOpen, false);
    assert.equal(t.chsk.state["last-close"].reason, "unexpected");
  });

  test("disconnect aborts the poll and no poll follows", async () => {
    const t = await openAjax();
    const [poll] = t.fetch.open("GET");
    t.chsk.disconnect();
    await settle();
    assert.equal(poll.done, true);
    await t.clock.advance(120_000);
    assert.equal(t.fetch.open("GET").length, 0);
    assert.equal(t.chsk.state["last-close"].reason, "requested-disconnect");
  });

  test("whenOpen resolves at the handshake", async () => {
    const t = setup({ type: "ajax" });
    t.chsk.connect();
    const opened = t.chsk.whenOpen(1000);
    await settle();
    t.fetch.open("GET")[0].reply([kw("chsk/handshake"), ["alice", null, null]]);
    const state = await opened;
    assert.equal(state.uid, "alice");
  });

  test("the JSON packer is used on the wire when chosen", async () => {
    const t = setup({ type: "ajax", packer: "json" });
    t.chsk.connect();
    await settle();
    t.fetch.open("GET")[0].respond(200, '[["~:chsk/handshake",["alice",null,null]],null]');
    await settle();
    assert.equal(t.chsk.isOpen, true);
    t.chsk.send(["my-app/x", { a: 1 }]);
    await settle();
    assert.equal(t.fetch.open("POST")[0].body?.get("ppstr"), '[["~:my-app/x",{"a":1}],null]');
  });
});

describe("packing errors", () => {
  test("an event that cannot be packed throws EncodeError at send, over WS and Ajax", async () => {
    const t = setup();
    openWs(t);
    assert.throws(() => t.chsk.send(["my-app/x", () => 1]), { name: "EncodeError" });
    t.chsk.switchType("ajax");
    await settle();
    t.fetch.open("GET")[0].reply([kw("chsk/handshake"), ["alice", null, null]]);
    await settle();
    assert.throws(() => t.chsk.send(["my-app/x", Symbol("no")]), { name: "EncodeError" });
    assert.equal(t.fetch.open("POST").length, 0);
  });
});
