// The envelope `[payload cb-id]` that carries every message (mirrors core/envelope.py).
//
// cb-id is null (no reply wanted), a 6-character hex string (WebSocket request id) or the
// keyword `:ajax` (Ajax POST that wants its reply in the response body). Legacy 1-element
// envelopes `[x]` read as cb-id null, as Sente >= 1.21 reads them.

import { ProtocolError, UsageError } from "./errors.js";
import { AJAX, CHSK_HANDSHAKE, CHSK_WS_PING, NIL_UID } from "./events.js";
import { Keyword, brief } from "./values.js";

/** @typedef {string | Keyword | null} CbId */

const CB_ID_RE = /^[0-9a-f]{6}$/;

/**
 * True for a WebSocket callback id: 6 lowercase hex characters.
 * @param {unknown} x
 * @returns {x is string}
 */
export function isWsCbId(x) {
  return typeof x === "string" && CB_ID_RE.test(x);
}

/**
 * A 6-hex cb-id from a random number in [0, 1).
 * @param {number} rand
 */
export function makeCbId(rand) {
  return Math.floor(rand * 0x1000000).toString(16).padStart(6, "0");
}

/**
 * `[payload cb-id]`, always two elements.
 * @param {unknown} payload
 * @param {CbId} [cbId]
 * @returns {[unknown, CbId]}
 */
export function envelope(payload, cbId = null) {
  if (cbId !== null && cbId !== AJAX && !isWsCbId(cbId)) {
    throw new UsageError(`cb-id must be null, :ajax or 6 hex characters, got ${brief(cbId)}`);
  }
  return [payload, cbId];
}

/**
 * Split a received envelope into `[payload, cbId]`; throws ProtocolError if it is not one.
 * @param {unknown} x
 * @returns {[unknown, CbId]}
 */
export function openEnvelope(x) {
  if (!Array.isArray(x) || x.length < 1 || x.length > 2) {
    throw new ProtocolError(`an envelope is a vector [payload cb-id], got ${brief(x)}`);
  }
  const cbId = x.length === 2 ? x[1] : null;
  if (cbId !== null && cbId !== AJAX && typeof cbId !== "string") {
    throw new ProtocolError(`cb-id must be nil, :ajax or a string, got ${brief(cbId)}`);
  }
  return [x[0], /** @type {CbId} */ (cbId)];
}

/**
 * `[:chsk/handshake [uid nil handshake-data]]`; a null uid goes out as `:sente/nil-uid`.
 * @param {unknown} uid
 * @param {unknown} [handshakeData]
 */
export function handshakePayload(uid, handshakeData = null) {
  return [CHSK_HANDSHAKE, [uid ?? NIL_UID, null, handshakeData]];
}

/**
 * True for any vector whose first element is `:chsk/handshake` (as Sente's client tests).
 * @param {unknown} payload
 * @returns {payload is unknown[]}
 */
export function isHandshake(payload) {
  return Array.isArray(payload) && payload.length >= 1 && payload[0] === CHSK_HANDSHAKE;
}

/**
 * `[uid, handshakeData]` from a handshake payload; older 2-element forms read data null.
 * @param {unknown} payload
 * @returns {[unknown, unknown]}
 */
export function readHandshake(payload) {
  if (!isHandshake(payload) || payload.length !== 2) throw new ProtocolError(`not a handshake: ${brief(payload)}`);
  const body = payload[1];
  if (!Array.isArray(body) || body.length < 1 || body.length > 3) {
    throw new ProtocolError(`handshake body must be [uid nil data], got ${brief(body)}`);
  }
  return [body[0], body.length === 3 ? body[2] : null];
}

/**
 * True for the server's keep-alive ping: the bare keyword `:chsk/ws-ping`.
 * @param {unknown} payload
 */
export function isServerPing(payload) {
  return payload === CHSK_WS_PING;
}
