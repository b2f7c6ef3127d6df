// The client's connection state machine and Sente's client state map, without I/O
// (mirrors jupyter_sente/core/client_state.py, with the same states, inputs and map keys).
//
//   idle ──connect──▶ connecting ──handshake / polled──▶ open ──handshake / polled──┐
//                     │  ▲   ▲  ◀──restart, downgrade──┘ │  ◀─────────────────────────┘
//                     │  │   └───────── retry ───────┐   │
//                     │  └─ restart, downgrade       │   │
//                     └──────────── lost ──────▶ retry-wait ◀── lost ──┘
//   any state ──disconnect──▶ disconnected ──connect──▶ connecting
//
// The state map has Sente's keys as strings, as the Python client's does: "type", "open?",
// "ever-opened?", "uid", "handshake-data", "csrf-token", "last-ws-error", "last-ws-close",
// "last-close", "udt-next-reconnect"; a `chsk/state` event's new map may also carry the
// transient "open-changed?", "opened?", "closed?" and "first-open?".

import { TransitionError, UsageError } from "./errors.js";

/** @typedef {"auto" | "ws" | "ajax"} ChskType */
/** @typedef {"ws" | "ajax"} Transport */
/**
 * Why the client closed: Sente's close reasons without the colon.
 * @typedef {"clean" | "unexpected" | "requested-disconnect" | "requested-reconnect"
 *   | "downgrading-ws-to-ajax" | "ws-ping-timeout" | "ws-error"} CloseReason
 */
/** @typedef {Record<string, any>} StateMap */
/** @typedef {[StateMap, StateMap, boolean]} StateChange `[old new open-changed?]` */

/** `type` option values; the state map's "type" is "auto" until the first handshake. */
export const CLIENT_TYPES = Object.freeze(/** @type {ChskType[]} */ (["auto", "ws", "ajax"]));
/** The transports a handshake can arrive on. */
export const TRANSPORTS = Object.freeze(/** @type {Transport[]} */ (["ws", "ajax"]));
export const CLOSE_REASONS = Object.freeze(
  /** @type {CloseReason[]} */ ([
    "clean",
    "unexpected",
    "requested-disconnect",
    "requested-reconnect",
    "downgrading-ws-to-ajax",
    "ws-ping-timeout",
    "ws-error",
  ]),
);

/** Where a client connection is in its life. */
export const ConnState = Object.freeze({
  IDLE: "idle",
  CONNECTING: "connecting",
  OPEN: "open",
  RETRY_WAIT: "retry-wait",
  DISCONNECTED: "disconnected",
});

/** What can happen to a client connection. */
export const ConnInput = Object.freeze({
  CONNECT: "connect",
  HANDSHAKE: "handshake",
  POLLED: "polled",
  LOST: "lost",
  RETRY: "retry",
  RESTART: "restart",
  DOWNGRADE: "downgrade",
  DISCONNECT: "disconnect",
});

/** @typedef {typeof ConnState[keyof typeof ConnState]} ConnStateValue */
/** @typedef {typeof ConnInput[keyof typeof ConnInput]} ConnInputValue */

const S = ConnState;
const I = ConnInput;

/** "state input" -> next state; any pair not here is a TransitionError. */
export const TRANSITIONS = new Map(
  /** @type {[string, ConnStateValue][]} */ ([
    [`${S.IDLE} ${I.CONNECT}`, S.CONNECTING],
    [`${S.IDLE} ${I.DISCONNECT}`, S.DISCONNECTED],
    [`${S.CONNECTING} ${I.HANDSHAKE}`, S.OPEN],
    [`${S.CONNECTING} ${I.POLLED}`, S.OPEN],
    [`${S.CONNECTING} ${I.LOST}`, S.RETRY_WAIT],
    [`${S.CONNECTING} ${I.RESTART}`, S.CONNECTING],
    [`${S.CONNECTING} ${I.DOWNGRADE}`, S.CONNECTING],
    [`${S.CONNECTING} ${I.DISCONNECT}`, S.DISCONNECTED],
    [`${S.OPEN} ${I.HANDSHAKE}`, S.OPEN],
    [`${S.OPEN} ${I.POLLED}`, S.OPEN],
    [`${S.OPEN} ${I.LOST}`, S.RETRY_WAIT],
    [`${S.OPEN} ${I.RESTART}`, S.CONNECTING],
    [`${S.OPEN} ${I.DISCONNECT}`, S.DISCONNECTED],
    [`${S.RETRY_WAIT} ${I.RETRY}`, S.CONNECTING],
    [`${S.RETRY_WAIT} ${I.DISCONNECT}`, S.DISCONNECTED],
    [`${S.DISCONNECTED} ${I.CONNECT}`, S.CONNECTING],
    [`${S.DISCONNECTED} ${I.DISCONNECT}`, S.DISCONNECTED],
  ]),
);

/**
 * The state after `input` in `state`; TransitionError if the table has no such move.
 * @param {ConnStateValue} state
 * @param {ConnInputValue} input
 * @returns {ConnStateValue}
 */
export function transition(state, input) {
  const next = TRANSITIONS.get(`${state} ${input}`);
  if (next === undefined) throw new TransitionError("client connection", state, input);
  return next;
}

/**
 * Sente's initial state: `{type, open? false, ever-opened? false, csrf-token}`.
 * @param {ChskType} [type]
 * @param {unknown} [csrfToken]
 * @returns {StateMap}
 */
export function initialStateMap(type = "auto", csrfToken = null) {
  if (!CLIENT_TYPES.includes(type)) {
    throw new UsageError(`client type must be one of ${CLIENT_TYPES.join(", ")}, got ${JSON.stringify(type)}`);
  }
  return { type, "open?": false, "ever-opened?": false, "csrf-token": csrfToken };
}

/**
 * Sente's `chsk-state->closed`: not open, no next reconnect; "last-close" only if it was open.
 * @param {StateMap} m
 * @param {CloseReason} reason
 * @param {number} udt
 * @returns {StateMap}
 */
export function closedStateMap(m, reason, udt) {
  if (!CLOSE_REASONS.includes(reason)) {
    throw new UsageError(`close reason must be one of ${CLOSE_REASONS.join(", ")}, got ${JSON.stringify(reason)}`);
  }
  const { "udt-next-reconnect": _dropped, ...rest } = m;
  rest["open?"] = false;
  if (m["open?"]) rest["last-close"] = { udt, reason };
  return rest;
}

/**
 * The `chsk/state` data for old -> new, `[old, new, open-changed?]`, or null when nothing changed.
 * When "open?" flipped, new carries Sente's transient keys (only those that are true).
 * @param {StateMap} oldMap
 * @param {StateMap} newMap
 * @returns {StateChange | null}
 */
export function stateChange(oldMap, newMap) {
  if (sameMap(oldMap, newMap)) return null;
  const oldOpen = Boolean(oldMap["open?"]);
  const newOpen = Boolean(newMap["open?"]);
  if (oldOpen === newOpen) return [oldMap, newMap, false];
  /** @type {StateMap} */
  const shown = { ...newMap, "open-changed?": true };
  if (newOpen) {
    shown["opened?"] = true;
    if (!oldMap["ever-opened?"]) shown["first-open?"] = true;
  } else {
    shown["closed?"] = true;
  }
  return [oldMap, shown, true];
}

/**
 * @param {StateMap} a
 * @param {StateMap} b
 */
function sameMap(a, b) {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  // Nested records are replaced, never mutated, so identity is enough for them.
  return ka.every((k) => Object.hasOwn(b, k) && Object.is(a[k], b[k]));
}

/**
 * A client connection's machine state, Sente's state map and its reconnect counter.
 * Each method applies one input; the state-map changes it made are queued in `changes`
 * (drain them with takeChanges), one per change, as Sente emits one `chsk/state` per swap.
 */
export class ClientConnection {
  /**
   * @param {ChskType} [type]
   * @param {unknown} [csrfToken]
   */
  constructor(type = "auto", csrfToken = null) {
    this.type = type;
    /** @type {ConnStateValue} */
    this.state = S.IDLE;
    /** @type {StateMap} */
    this.map = initialStateMap(type, csrfToken);
    /** Reconnect attempts since the last success or (re)connect, counted from 1. */
    this.attempt = 0;
    /** Whether the current transport implementation ever completed a handshake. */
    this.transportOpened = false;
    /** @type {StateChange[]} */
    this.changes = [];
  }

  /** True between a handshake and the next close. */
  get isOpen() {
    return this.state === S.OPEN;
  }

  /** The state-map changes made since the last call, oldest first. */
  takeChanges() {
    const out = this.changes;
    this.changes = [];
    return out;
  }

  /** @param {ConnInputValue} input */
  _move(input) {
    this.state = transition(this.state, input);
  }

  /** @param {StateMap} next */
  _swap(next) {
    const change = stateChange(this.map, next);
    if (change !== null) {
      this.map = next;
      this.changes.push(change);
    }
  }

  /**
   * Start connecting; `freshTransport` makes the next handshake a first one again
   * (Sente's `:auto` builds a new implementation on every connect, quirk §7.3.2).
   * @param {{freshTransport?: boolean}} [opts]
   */
  connect({ freshTransport = false } = {}) {
    this._move(I.CONNECT);
    this.attempt = 0;
    if (freshTransport) this.transportOpened = false;
  }

  /**
   * Record a handshake; returns the app's handshake data `[uid nil hd first-handshake?]`.
   * @param {Transport} transport
   * @param {unknown} uid
   * @param {unknown} handshakeData
   * @returns {[unknown, null, unknown, boolean]}
   */
  handshake(transport, uid, handshakeData) {
    if (!TRANSPORTS.includes(transport)) {
      throw new UsageError(`transport must be one of ${TRANSPORTS.join(", ")}, got ${JSON.stringify(transport)}`);
    }
    this._move(I.HANDSHAKE);
    this.attempt = 0;
    const first = !this.transportOpened;
    this.transportOpened = true;
    const { "udt-next-reconnect": _dropped, ...rest } = this.map;
    this._swap({
      ...rest,
      type: transport,
      "open?": true,
      "ever-opened?": true,
      uid,
      "handshake-data": handshakeData,
    });
    return [uid, null, handshakeData, first];
  }

  /** An Ajax poll succeeded: open, and the retry counter restarts. */
  polled() {
    this._move(I.POLLED);
    this.attempt = 0;
    if (!this.map["open?"]) this._swap({ ...this.map, "open?": true });
  }

  /**
   * Record "last-ws-error" `{udt, ex}` (no move: a close or downgrade follows).
   * @param {number} udt
   * @param {unknown} error
   */
  wsError(udt, error) {
    this._swap({ ...this.map, "last-ws-error": { udt, ex: error } });
  }

  /**
   * The connection went away: close and count the attempt; returns the wait before the next.
   * The first attempt after a success is immediate; attempt n >= 2 waits backoffMs(n) and
   * records "udt-next-reconnect". `wsClose` is recorded as "last-ws-close" in the same change.
   * @param {CloseReason} reason
   * @param {number} udt
   * @param {(attempt: number) => number} backoffMs
   * @param {{wsClose?: Record<string, unknown>}} [opts]
   * @returns {number}
   */
  lost(reason, udt, backoffMs, { wsClose } = {}) {
    this._move(I.LOST);
    const next = closedStateMap(this.map, reason, udt);
    if (wsClose !== undefined) next["last-ws-close"] = { ...wsClose };
    this._swap(next);
    this.attempt += 1;
    if (this.attempt === 1) return 0;
    const wait = Math.max(0, Math.floor(backoffMs(this.attempt)));
    this._swap({ ...this.map, "udt-next-reconnect": udt + wait });
    return wait;
  }

  /** The backoff wait is over: try again. */
  retry() {
    this._move(I.RETRY);
  }

  /**
   * Drop the socket and connect again at once (Sente's internal `chsk-reconnect!`).
   * @param {CloseReason} reason
   * @param {number} udt
   */
  restart(reason, udt) {
    this._move(I.RESTART);
    this._swap(closedStateMap(this.map, reason, udt));
    this.attempt = 0;
  }

  /**
   * `auto`: give up the WebSocket for Ajax, for the rest of this connection.
   * @param {number} udt
   */
  downgrade(udt) {
    this._move(I.DOWNGRADE);
    this._swap(closedStateMap(this.map, "downgrading-ws-to-ajax", udt));
    this.transportOpened = false;
  }

  /**
   * The application disconnected ("requested-disconnect" or "requested-reconnect").
   * @param {CloseReason} reason
   * @param {number} udt
   */
  disconnect(reason, udt) {
    this._move(I.DISCONNECT);
    this._swap(closedStateMap(this.map, reason, udt));
  }
}
