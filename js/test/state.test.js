import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { TransitionError, UsageError } from "../src/errors.js";
import { ClientConnection, ConnInput, ConnState, closedStateMap, initialStateMap, stateChange, transition } from "../src/state.js";
import { expBackoffMs, reconnectDelayMs } from "../src/timing.js";

describe("client state machine", () => {
  test("the table moves idle -> connecting -> open -> retry-wait -> connecting", () => {
    let s = transition(ConnState.IDLE, ConnInput.CONNECT);
    assert.equal(s, ConnState.CONNECTING);
    s = transition(s, ConnInput.HANDSHAKE);
    assert.equal(s, ConnState.OPEN);
    s = transition(s, ConnInput.LOST);
    assert.equal(s, ConnState.RETRY_WAIT);
    assert.equal(transition(s, ConnInput.RETRY), ConnState.CONNECTING);
  });

  test("an illegal move raises a TransitionError naming state and input", () => {
    assert.throws(
      () => transition(ConnState.RETRY_WAIT, ConnInput.HANDSHAKE),
      (e) => e instanceof TransitionError && e instanceof UsageError && e.state === "retry-wait" && e.event === "handshake",
    );
  });

  test("the initial map has Sente's keys and rejects unknown types", () => {
    assert.deepEqual(initialStateMap("ajax", "tok"), { type: "ajax", "open?": false, "ever-opened?": false, "csrf-token": "tok" });
    assert.throws(() => initialStateMap(/** @type {any} */ ("carrier-pigeon")), UsageError);
  });

  test("closing records last-close only when it was open, and drops udt-next-reconnect", () => {
    const open = { type: "ws", "open?": true, "udt-next-reconnect": 5 };
    assert.deepEqual(closedStateMap(open, "clean", 10), { type: "ws", "open?": false, "last-close": { udt: 10, reason: "clean" } });
    assert.deepEqual(closedStateMap({ type: "ws", "open?": false }, "clean", 10), { type: "ws", "open?": false });
    assert.throws(() => closedStateMap(open, /** @type {any} */ ("bored"), 1), UsageError);
  });

  test("a state change carries transient keys only when open? flipped", () => {
    const a = initialStateMap();
    const b = { ...a, "open?": true, "ever-opened?": true };
    assert.deepEqual(stateChange(a, b), [a, { ...b, "open-changed?": true, "opened?": true, "first-open?": true }, true]);
    const c = { ...b, "open?": false };
    assert.deepEqual(stateChange(b, c), [b, { ...c, "open-changed?": true, "closed?": true }, true]);
    const d = { ...c, "udt-next-reconnect": 9 };
    assert.deepEqual(stateChange(c, d), [c, d, false]);
    assert.equal(stateChange(d, { ...d }), null);
  });

  test("the second open is not a first open", () => {
    const conn = new ClientConnection("ws");
    conn.connect();
    conn.handshake("ws", "alice", null);
    conn.lost("unexpected", 1, () => 0);
    conn.retry();
    conn.handshake("ws", "alice", null);
    const opens = conn.takeChanges().filter((c) => c[1]["opened?"]);
    assert.equal(opens.length, 2);
    assert.equal(opens[0][1]["first-open?"], true);
    assert.equal(opens[1][1]["first-open?"], undefined);
  });

  test("handshake returns [uid nil hd first-handshake?] and first? is per transport implementation", () => {
    const conn = new ClientConnection("auto");
    conn.connect({ freshTransport: true });
    assert.deepEqual(conn.handshake("ws", "alice", { a: 1 }), ["alice", null, { a: 1 }, true]);
    assert.deepEqual(conn.handshake("ws", "alice", null), ["alice", null, null, false]);
    conn.disconnect("requested-reconnect", 5);
    conn.connect({ freshTransport: true });
    assert.deepEqual(conn.handshake("ws", "alice", null), ["alice", null, null, true]);
  });

  test("reconnect attempts: the first is immediate, later ones back off and set udt-next-reconnect", () => {
    const conn = new ClientConnection("ws");
    conn.connect();
    assert.equal(conn.lost("unexpected", 100, (n) => n * 1000), 0);
    conn.retry();
    assert.equal(conn.lost("unexpected", 200, (n) => n * 1000), 2000);
    assert.equal(conn.map["udt-next-reconnect"], 2200);
    conn.retry();
    conn.handshake("ws", "u", null);
    assert.equal(conn.attempt, 0);
    assert.equal(conn.map["udt-next-reconnect"], undefined);
  });

  test("a polled Ajax connection opens without a handshake and resets the counter", () => {
    const conn = new ClientConnection("ajax");
    conn.connect();
    conn.polled();
    assert.equal(conn.state, ConnState.OPEN);
    assert.equal(conn.map["open?"], true);
  });
});

describe("timing", () => {
  test("exp backoff is uniform in [500*2^n, 1000*2^n) ms", () => {
    for (const n of [1, 2, 3, 4]) {
      assert.equal(expBackoffMs(n, 0, { capMs: null }), 500 * 2 ** n);
      assert.ok(expBackoffMs(n, 0.999999, { capMs: null }) < 1000 * 2 ** n);
    }
  });

  test("reconnect waits are capped at 30 s and the first is immediate", () => {
    assert.equal(reconnectDelayMs(1, 0.9), 0);
    assert.equal(reconnectDelayMs(2, 0), 2000);
    assert.equal(reconnectDelayMs(10, 0.5), 30_000);
    assert.equal(reconnectDelayMs(10, 0.5, { capMs: null }), 768_000);
  });

  test("rand outside [0, 1) is refused", () => {
    assert.throws(() => expBackoffMs(2, 1), RangeError);
  });
});
