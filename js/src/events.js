// Events `[id]` / `[id data]`, Sente's reserved ids and values, and their validation
// (mirrors jupyter_sente/core/events.py).

import { UsageError } from "./errors.js";
import { Keyword, brief, kw } from "./values.js";

export const RESERVED_NAMESPACE = "chsk";

export const CHSK_HANDSHAKE = kw("chsk/handshake");
export const CHSK_WS_PING = kw("chsk/ws-ping");
export const CHSK_WS_PONG = kw("chsk/ws-pong");
export const CHSK_TIMEOUT = kw("chsk/timeout");
export const CHSK_DUMMY_CB_200 = kw("chsk/dummy-cb-200");
export const CHSK_CLOSED = kw("chsk/closed");
export const CHSK_ERROR = kw("chsk/error");
export const CHSK_STATE = kw("chsk/state");
export const CHSK_RECV = kw("chsk/recv");
export const CHSK_BAD_EVENT = kw("chsk/bad-event");
export const CHSK_UIDPORT_OPEN = kw("chsk/uidport-open");
export const CHSK_UIDPORT_CLOSE = kw("chsk/uidport-close");
export const CHSK_CLOSE = kw("chsk/close");
export const AJAX = kw("ajax");
export const NIL_UID = kw("sente/nil-uid");
export const PONG = "pong";

const REPLY_ERRORS = new Set([CHSK_CLOSED, CHSK_TIMEOUT, CHSK_ERROR]);

/**
 * True for a namespace-qualified keyword such as `:my-app/req`.
 * @param {unknown} x
 * @returns {x is Keyword}
 */
export function isEventId(x) {
  if (!(x instanceof Keyword)) return false;
  const i = x.name.indexOf("/");
  return i > 0 && i < x.name.length - 1;
}

/**
 * True for a vector of length 1 or 2 whose first element is an event id.
 * @param {unknown} x
 * @returns {x is [Keyword] | [Keyword, unknown]}
 */
export function isEvent(x) {
  return Array.isArray(x) && x.length >= 1 && x.length <= 2 && isEventId(x[0]);
}

/**
 * `[:chsk/bad-event x]`: what an invalid event becomes.
 * @param {unknown} x
 * @returns {[Keyword, unknown]}
 */
export function badEvent(x) {
  return [CHSK_BAD_EVENT, x];
}

/**
 * `x` if it is a valid event, else `[:chsk/bad-event x]` (Sente's validation).
 * @param {unknown} x
 * @returns {[Keyword] | [Keyword, unknown]}
 */
export function asEvent(x) {
  return isEvent(x) ? x : badEvent(x);
}

/**
 * The data of an event, null for `[id]`.
 * @param {unknown[]} ev
 */
export function eventData(ev) {
  return ev.length > 1 ? ev[1] : null;
}

/**
 * True for ids in Sente's reserved `chsk` namespace.
 * @param {unknown} x
 */
export function isReservedId(x) {
  return x instanceof Keyword && x.name.startsWith(RESERVED_NAMESPACE + "/");
}

/**
 * Sente's `cb-error?`: one of `:chsk/closed`, `:chsk/timeout`, `:chsk/error`.
 * @param {unknown} x
 */
export function isReplyError(x) {
  return x instanceof Keyword && REPLY_ERRORS.has(x);
}

/**
 * Sente's `cb-success?`.
 * @param {unknown} x
 */
export function isReplySuccess(x) {
  return !isReplyError(x);
}

/**
 * `[id]` or `[id data]` from a keyword or an "ns/name" string; throws UsageError.
 * @param {Keyword | string} id
 * @param {...unknown} data at most one value
 * @returns {[Keyword] | [Keyword, unknown]}
 */
export function makeEvent(id, ...data) {
  const k = typeof id === "string" ? (id.startsWith(":") ? kw(id.slice(1)) : kw(id)) : id;
  if (data.length > 1) throw new UsageError(`an event carries at most one data value, got ${data.length}`);
  if (!isEventId(k)) {
    throw new UsageError(`event id must be a namespace-qualified keyword like :ns/name, got ${brief(id)}`);
  }
  return data.length === 0 ? [k] : [k, data[0]];
}

/**
 * An event to send: a valid event whose id is not reserved; strings ids are accepted.
 * @param {unknown} ev
 * @returns {[Keyword] | [Keyword, unknown]}
 */
export function checkOutgoingEvent(ev) {
  if (Array.isArray(ev) && typeof ev[0] === "string" && ev.length >= 1 && ev.length <= 2) {
    ev = makeEvent(ev[0], ...ev.slice(1));
  }
  if (!isEvent(ev)) {
    throw new UsageError(`an event is [id] or [id data] with a namespace-qualified keyword id, got ${brief(ev)}`);
  }
  if (isReservedId(ev[0])) throw new UsageError(`event id ${ev[0]} is in Sente's reserved 'chsk' namespace`);
  return ev;
}
