// The widget bundle's logic without a browser: plain data, plot data, and the page socket
// (rooms, presence, publish, batching, refusals) on a fake window, WebSocket, fetch and clock.
// The views themselves are tested in a real browser (tests/browser/).

import assert from "node:assert/strict";
import { beforeEach, describe, test } from "node:test";

import { ednPacker } from "../src/edn.js";
import { kw } from "../src/values.js";
import { messageText, senderName } from "../src/widgets/chat.js";
import { rowMatches } from "../src/widgets/eventlog.js";
import { tickLabel } from "../src/widgets/liveplot.js";
import { MESSAGES, PageSocket, findServer, readCookie } from "../src/widgets/page.js";
import { applyPresenceDiff, fromPlain, isKeywordName, plain, presenceMembers } from "../src/widgets/plain.js";
import { Ring, extent, linePoints, niceTicks, pointsOf } from "../src/widgets/plotdata.js";
import { connLabel } from "../src/widgets/presence.js";
import { FakeClock, FakeFetch, FakeWebSocket, collectingLogger, settle } from "./fakes.js";

/**
 * A document with (or without) Jupyter's page config and a cookie string.
 * @param {string | null} config the JSON text of #jupyter-config-data, null for none
 * @param {string} [cookie]
 */
function fakeDocument(config, cookie = "") {
  return /** @type {Document} */ (
    /** @type {unknown} */ ({
      cookie,
      getElementById: (/** @type {string} */ id) => (id === "jupyter-config-data" && config !== null ? { textContent: config } : null),
    })
  );
}

describe("finding the server", () => {
  test("the channel socket is under the page config's baseUrl", () => {
    assert.deepEqual(findServer(fakeDocument('{"baseUrl": "/user/ann/"}')), { url: "/user/ann/sente/chsk", baseUrl: "/user/ann/", packer: "edn" });
    assert.deepEqual(findServer(fakeDocument('{"baseUrl": "user/ann"}')), { url: "/user/ann/sente/chsk", baseUrl: "/user/ann/", packer: "edn" });
    assert.deepEqual(findServer(fakeDocument("{}")), { url: "/sente/chsk", baseUrl: "/", packer: "edn" });
  });

  test("the packer is the extension's, from the page config (EDN without the entry)", () => {
    assert.equal(/** @type {any} */ (findServer(fakeDocument('{"jupyterSente": {"packer": "json"}}'))).packer, "json");
    assert.equal(/** @type {any} */ (findServer(fakeDocument('{"jupyterSente": {}}'))).packer, "edn");
    assert.deepEqual(findServer(fakeDocument('{"jupyterSente": {"packer": "transit"}}')), { error: MESSAGES.unknownPacker("transit") });
    assert.match(MESSAGES.unknownPacker("transit"), /"transit", which these widgets do not know \(edn, json\)/);
  });

  test("a page without Jupyter's config (VS Code, a static export) has no server", () => {
    assert.deepEqual(findServer(fakeDocument(null)), { error: MESSAGES.noServer });
    assert.deepEqual(findServer(fakeDocument("{not json")), { error: MESSAGES.noServer });
  });

  test("the _xsrf cookie is read raw, as the server compares it", () => {
    const doc = fakeDocument(null, "username-x=abc; _xsrf=2|1f|e0%7C|17; other=1");
    assert.equal(readCookie(doc, "_xsrf"), "2|1f|e0%7C|17");
    assert.equal(readCookie(doc, "missing"), null);
  });
});

describe("plain data", () => {
  test("keyword keys become names, keywords elsewhere their text, sets and lists arrays", () => {
    const wire = ednPacker.unpack('{:room "r", :from {:display-name "Ann", :kind "tab"}, :ids #{:a/b}, :n 12345678901234567890, :l (1 2)}');
    assert.deepEqual(plain(wire), { room: "r", from: { "display-name": "Ann", kind: "tab" }, ids: [":a/b"], n: 12345678901234567000, l: [1, 2] });
    assert.deepEqual(plain({ text: "hi" }), { text: "hi" });
  });

  test("plain maps go out with keyword keys where the key is a keyword name, as from the kernel", () => {
    assert.equal(ednPacker.pack(fromPlain({ text: "hi", "two words": 1, n: [{ x: 1 }] })), '{:text "hi", "two words" 1, :n [{:x 1}]}');
    assert.ok(isKeywordName("chat/post"));
    assert.ok(isKeywordName("display-name"));
    assert.ok(!isKeywordName("1abc"));
    assert.ok(!isKeywordName("a b"));
    assert.ok(!isKeywordName("a::b"));
  });

  test("a presence diff removes leaving connections before adding joining ones", () => {
    const ann = { uid: "ann", name: "Ann", "display-name": "Ann", initials: "A", color: "#123456" };
    const state = { ann: { ...ann, conns: [{ "client-id": "t1", kind: "tab" }] } };
    const joined = applyPresenceDiff(state, { joins: { ann: { ...ann, conns: [{ "client-id": "k1", kind: "kernel" }] } }, leaves: {} });
    assert.deepEqual(
      joined.ann.conns.map((c) => c["client-id"]),
      ["t1", "k1"],
    );
    const left = applyPresenceDiff(joined, { joins: {}, leaves: { ann: { ...ann, conns: [{ "client-id": "t1", kind: "tab" }] } } });
    assert.deepEqual(
      left.ann.conns.map((c) => c["client-id"]),
      ["k1"],
    );
    assert.deepEqual(applyPresenceDiff(left, { leaves: { ann: { ...ann, conns: [{ "client-id": "k1", kind: "kernel" }] } } }), {});
    assert.deepEqual(state.ann.conns.length, 1); // not changed
    assert.deepEqual(
      presenceMembers({ zed: { ...ann, uid: "zed", conns: [] }, ann: state.ann }).map((m) => m.uid),
      ["ann", "zed"],
    );
  });
});

describe("plot data", () => {
  test("a ring keeps the newest points, oldest first", () => {
    const r = new Ring(3);
    for (let i = 0; i < 5; i++) r.push(i, i * 10);
    assert.equal(r.size, 3);
    assert.deepEqual([0, 1, 2].map((k) => r.xs[r.at(k)]), [2, 3, 4]);
    assert.equal(r.lastY(), 40);
    assert.throws(() => new Ring(0), RangeError);
  });

  test("points come from numbers, maps of series, named series and point lists", () => {
    assert.deepEqual(pointsOf(2.5), [{ series: "y", x: null, y: 2.5 }]);
    assert.deepEqual(pointsOf({ x: 1, a: 2, b: 3, label: "no" }), [
      { series: "a", x: 1, y: 2 },
      { series: "b", x: 1, y: 3 },
    ]);
    assert.deepEqual(pointsOf({ series: "cpu", t: 5, y: 0.5 }), [{ series: "cpu", x: 5, y: 0.5 }]);
    assert.deepEqual(pointsOf({ points: [{ x: 1, a: 1 }, { x: 2, a: 4 }] }), [
      { series: "a", x: 1, y: 1 },
      { series: "a", x: 2, y: 4 },
    ]);
    assert.deepEqual(pointsOf([7, 8]), [
      { series: "0", x: null, y: 7 },
      { series: "1", x: null, y: 8 },
    ]);
    assert.deepEqual(pointsOf("text"), []);
    assert.deepEqual(pointsOf({ a: NaN }), []);
  });

  test("the extent covers every kept point; ticks are round", () => {
    const a = new Ring(10);
    const b = new Ring(10);
    a.push(0, 5);
    a.push(1, -2);
    b.push(3, 9);
    assert.deepEqual(extent([a, b]), { xMin: 0, xMax: 3, yMin: -2, yMax: 9 });
    assert.equal(extent([new Ring(2)]), null);
    assert.deepEqual(niceTicks(0, 10, 5), [0, 2, 4, 6, 8, 10]);
    assert.deepEqual(niceTicks(-0.3, 0.3, 3), [-0.2, 0, 0.2]);
    assert.deepEqual(niceTicks(1, 1, 4), [1]);
    assert.equal(tickLabel(0.25, 0.05), "0.25");
    assert.equal(tickLabel(1200, 200), "1200");
  });

  test("a line of many points is drawn from at most four vertices per pixel column, peaks kept", () => {
    const r = new Ring(10_000);
    for (let i = 0; i < 10_000; i++) r.push(i, i === 5000 ? 100 : Math.sin(i));
    const pts = linePoints(r, 0, 9999, 500);
    assert.ok(pts.length / 2 <= 4 * 500, `${pts.length / 2} vertices`);
    assert.ok(pts.some((v, i) => i % 2 === 1 && v === 100), "the spike survives decimation");
    const few = new Ring(10);
    few.push(0, 1);
    few.push(10, 2);
    assert.deepEqual(linePoints(few, 0, 10, 11), [0, 1, 10, 2]);
  });
});

describe("view helpers", () => {
  test("chat text, sender names, connection labels, log filter", () => {
    assert.equal(messageText({ text: "hi" }), "hi");
    assert.equal(messageText("hi"), "hi");
    assert.equal(messageText({ other: 1 }), null);
    assert.equal(senderName({ uid: "u1", "display-name": "Ann" }), "Ann");
    assert.equal(senderName({ uid: "u1" }), "u1");
    assert.equal(connLabel({ "client-id": "c1", kind: "tab" }, "c1"), "this tab");
    assert.equal(connLabel({ "client-id": "c2", kind: "tab" }, "c1"), "tab");
    assert.equal(connLabel({ "client-id": "k", kind: "kernel", notebook: "work/a.ipynb" }, "c1"), "kernel · a.ipynb");
    const row = { t: 0, kind: /** @type {"event"} */ ("event"), who: "Ann", color: "", id: "chat/post", text: '{:text "Hello"}' };
    assert.ok(rowMatches(row, ""));
    assert.ok(rowMatches(row, "ann hello"));
    assert.ok(!rowMatches(row, "ann bye"));
  });
});

// -- the page socket -------------------------------------------------------------------------------

/**
 * An EDN map with keyword keys: `M({room: "r"})` is `{:room "r"}`.
 * @param {Record<string, unknown>} o
 * @returns {Map<unknown, unknown>}
 */
const M = (o) => new Map(Object.entries(o).map(([k, v]) => [kw(k), v]));
const HANDSHAKE = (/** @type {string} */ uid) => [[kw("chsk/handshake"), [uid, null, M({ kind: "tab" })]], null];

/**
 * A page socket on a fake window (Jupyter config with base URL /base/, an _xsrf cookie).
 * @param {{config?: string | null}} [opts]
 */
function setup({ config = '{"baseUrl": "/base/"}' } = {}) {
  const clock = new FakeClock();
  const fetch = new FakeFetch();
  const win = /** @type {Window & typeof globalThis} */ (
    /** @type {unknown} */ ({
      document: fakeDocument(config, "_xsrf=2|ab|cd|12"),
      location: { host: "jupyter.test:8888", protocol: "http:" },
      fetch: fetch.fetch,
    })
  );
  const page = new PageSocket(win, { WebSocket: FakeWebSocket, clock, random: () => 0.5, clientId: "tab-1", logger: collectingLogger() });
  return { page, clock, fetch };
}

/** @param {FakeWebSocket} ws */
function sentEvents(ws) {
  return ws.sentValues().map((env) => /** @type {any[]} */ (env));
}

/**
 * Answer the last request `ws` sent that has a cb, with `value`.
 * @param {FakeWebSocket} ws
 * @param {unknown} value
 */
function replyLast(ws, value) {
  const env = /** @type {any[]} */ (ws.sentValues().at(-1));
  ws.receiveValue([value, env[1]]);
}

beforeEach(() => FakeWebSocket.reset());

describe("the page socket", () => {
  test("connects to the base URL's channel socket with the _xsrf cookie, and says so", () => {
    const { page } = setup();
    const ws = FakeWebSocket.last();
    assert.equal(ws.url, "ws://jupyter.test:8888/base/sente/chsk?client-id=tab-1&csrf-token=2%7Cab%7Ccd%7C12");
    assert.equal(page.status.phase, "connecting");
    ws.receiveValue(HANDSHAKE("ann"));
    assert.deepEqual(page.status, { phase: "connected", transport: "ws", detail: "connected over WebSocket", retryAt: null });
    assert.equal(page.handshake?.uid, "ann");
    assert.equal(page.handshake?.edn, '{:kind "tab"}');
    assert.deepEqual(
      page.timeline.map((e) => [e.state, e.transport]),
      [
        ["connecting", "ws"],
        ["open", "ws"],
      ],
    );
    page.dispose();
  });

  test("with the JSON packer in the page config the socket speaks JSON", () => {
    const { page } = setup({ config: '{"baseUrl": "/base/", "jupyterSente": {"packer": "json"}}' });
    const ws = FakeWebSocket.last();
    ws.receive('[["~:chsk/handshake",["ann",null,{"~:kind":"tab"}]],null]');
    assert.equal(page.status.phase, "connected");
    assert.equal(page.handshake?.edn, '{:kind "tab"}');
    page.joinRoom("lobby", {});
    assert.match(ws.sent.at(-1) ?? "", /^\[\["~:sente.room\/join",\{"~:room":"lobby"\}\],"[0-9a-f]{6}"\]$/);
    page.dispose();
  });

  test("without Jupyter's page config there is no socket, and the status says why", () => {
    const { page } = setup({ config: null });
    assert.equal(page.chsk, null);
    assert.equal(FakeWebSocket.instances.length, 0);
    assert.deepEqual(page.status, { phase: "unavailable", transport: null, detail: MESSAGES.noServer, retryAt: null });
  });

  test("one join per room for all its views; events, presence and diffs reach them as plain data", () => {
    const { page } = setup();
    const ws = FakeWebSocket.last();
    /** @type {any[]} */
    const seen = [];
    const leaveA = page.joinRoom("lobby", { onEvent: (ev) => seen.push(["a", ev.id, ev.data, ev.from["display-name"]]), onRoom: (info, change) => seen.push(["room", info.joined, change !== null]) });
    assert.equal(ws.sent.length, 0, "not open yet: the join waits for the handshake");
    ws.receiveValue(HANDSHAKE("ann"));
    assert.deepEqual(sentEvents(ws).at(-1)?.[0], [kw("sente.room/join"), new Map([[kw("room"), "lobby"]])]);
    const state = { ann: M({ uid: "ann", conns: [M({ "client-id": "tab-1", kind: "tab" })] }) };
    replyLast(ws, M({ "ok?": true, room: "lobby", state }));
    assert.equal(page.rooms.get("lobby")?.joined, true);
    assert.deepEqual(Object.keys(page.rooms.get("lobby")?.presence ?? {}), ["ann"]);

    const leaveB = page.joinRoom("lobby", { onEvent: (ev) => seen.push(["b", ev.id]) });
    assert.equal(sentEvents(ws).filter((e) => e[0][0] === kw("sente.room/join")).length, 1, "the second view shares the join");

    const from = M({ uid: "bob", "display-name": "Bob" });
    ws.receiveValue([[[kw("sente.room/event"), M({ room: "lobby", event: [kw("chat/post"), M({ text: "hi" })], from })]], null]);
    const diff = M({ room: "lobby", joins: { bob: M({ uid: "bob", conns: [M({ "client-id": "k", kind: "kernel" })] }) }, leaves: new Map() });
    ws.receiveValue([[[kw("sente.room/presence-diff"), diff]], null]);
    assert.deepEqual(Object.keys(page.rooms.get("lobby")?.presence ?? {}).sort(), ["ann", "bob"]);
    assert.deepEqual(
      seen.filter((s) => s[0] !== "room"),
      [
        ["a", "chat/post", { text: "hi" }, "Bob"],
        ["b", "chat/post"],
      ],
    );
    assert.deepEqual(seen.filter((s) => s[0] === "room").at(-1), ["room", true, true]);

    leaveA();
    assert.ok(!sentEvents(ws).some((e) => e[0][0] === kw("sente.room/leave")), "a view is left");
    leaveB();
    assert.deepEqual(sentEvents(ws).at(-1)?.[0], [kw("sente.room/leave"), new Map([[kw("room"), "lobby"]])]);
    assert.equal(page.rooms.size, 0);
    page.dispose();
  });

  test("rooms are joined again after every handshake (a reconnect)", async () => {
    const { page, clock } = setup();
    let ws = FakeWebSocket.last();
    ws.receiveValue(HANDSHAKE("ann"));
    page.joinRoom("lobby", {});
    ws.drop();
    assert.equal(page.status.phase, "reconnecting");
    await clock.advance(1);
    ws = FakeWebSocket.last();
    ws.receiveValue(HANDSHAKE("ann"));
    assert.deepEqual(sentEvents(ws)[0][0], [kw("sente.room/join"), new Map([[kw("room"), "lobby"]])]);
    assert.equal(page.status.phase, "connected");
    page.dispose();
  });

  test("the status follows every move of the socket (no polling): retries, backoff, reopen", async () => {
    const { page, clock } = setup();
    FakeWebSocket.last().receiveValue(HANDSHAKE("ann"));
    FakeWebSocket.last().drop();
    await clock.advance(0); // the first retry, immediate
    assert.deepEqual([page.status.phase, page.status.detail, page.chsk?.connState], ["reconnecting", "reconnecting…", "connecting"]);
    FakeWebSocket.last().drop();
    assert.equal(page.status.retryAt, clock.now() + 3000);
    await clock.advance(3000);
    assert.deepEqual([page.status.detail, page.status.retryAt], ["reconnecting…", null]);
    FakeWebSocket.last().receiveValue(HANDSHAKE("ann"));
    assert.equal(page.status.phase, "connected");
    assert.deepEqual(
      page.timeline.map((e) => e.state),
      ["connecting", "open", "retry-wait", "connecting", "retry-wait", "connecting", "open"],
    );
    assert.deepEqual(
      page.timeline.map((e) => e.reason),
      [null, null, "unexpected", null, "WebSocket closed, code 1006", null, null],
    );
    page.dispose();
  });

  test("publish sends keyword keys and include-self?, and gives the server's answer", async () => {
    const { page } = setup();
    const ws = FakeWebSocket.last();
    assert.deepEqual(await page.publish("lobby", "chat/post", { text: "x" }), { ok: false, error: "not connected" });
    ws.receiveValue(HANDSHAKE("ann"));
    const done = page.publish("lobby", "chat/post", { text: "hi" });
    const [ev] = sentEvents(ws).at(-1) ?? [];
    assert.equal(ednPacker.pack(ev), '[:sente.room/publish {:room "lobby", :event [:chat/post {:text "hi"}], :include-self? true}]');
    replyLast(ws, M({ "ok?": true, delivered: 2 }));
    assert.deepEqual(await done, { ok: true, delivered: 2, error: undefined });
    const refused = page.publish("lobby", "chat/post", "x");
    replyLast(ws, M({ "ok?": false, error: "not in room" }));
    assert.deepEqual(await refused, { ok: false, delivered: undefined, error: "not in room" });
    page.dispose();
  });

  test("pushes are counted per frame (the server's batching)", async () => {
    const { page } = setup();
    const ws = FakeWebSocket.last();
    ws.receiveValue(HANDSHAKE("ann"));
    const ev = (/** @type {number} */ i) => [kw("app/x"), i];
    ws.receiveValue([[ev(1), ev(2), ev(3)], null]);
    await settle();
    ws.receiveValue([[ev(4)], null]);
    await settle();
    assert.deepEqual(page.batches, { frames: 2, events: 4, maxPerFrame: 3, lastPerFrame: 1, serverPings: 0 });
    page.dispose();
  });

  test("the round trip is the client's ping, with last, min and average", async () => {
    const { page, clock } = setup();
    const ws = FakeWebSocket.last();
    assert.equal(await page.measureRtt(), null, "not open");
    ws.receiveValue(HANDSHAKE("ann"));
    for (const ms of [8, 4]) {
      const rtt = page.measureRtt();
      assert.deepEqual(sentEvents(ws).at(-1)?.[0], [kw("chsk/ws-ping")]);
      await clock.advance(ms);
      replyLast(ws, "pong");
      assert.equal(await rtt, ms);
    }
    assert.deepEqual(page.rtt, { last: 4, min: 4, avg: 6, count: 2 });
    const lost = page.measureRtt();
    await clock.advance(10_000);
    assert.equal(await lost, null, "no pong");
    assert.equal(page.rtt.count, 2);
    page.dispose();
  });

  test("a server without the extension (404) stops the retries and says how to enable it", async () => {
    const { page, fetch, clock } = setup();
    FakeWebSocket.last().error(); // the upgrade 404s: auto falls back to Ajax
    await settle();
    const poll = fetch.open("GET")[0];
    assert.match(poll.url.pathname, /^\/base\/sente\/chsk$/);
    assert.equal(poll.headers["X-CSRF-Token"], "2|ab|cd|12");
    poll.respond(404, "Not Found");
    await settle();
    await clock.advance(60_000);
    assert.equal(page.status.phase, "unavailable");
    assert.equal(page.status.detail, MESSAGES.noExtension("/base/sente/chsk"));
    assert.equal(page.chsk?.connState, "disconnected");
    assert.equal(fetch.open().length, 0);
    page.dispose();
  });

  test("a refused login (403) stops too, with its own message", async () => {
    const { page, fetch, clock } = setup();
    FakeWebSocket.last().error();
    await settle();
    fetch.open("GET")[0].respond(403, "Forbidden");
    await clock.advance(60_000);
    assert.equal(fetch.open().length, 0, "no retry");
    assert.deepEqual([page.status.phase, page.status.detail], ["unavailable", MESSAGES.forbidden(403)]);
    page.dispose();
  });
});
