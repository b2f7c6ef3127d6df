// Wire values as plain JS data for the widget views, and presence state as plain data.
//
// Every widget class may load its own copy of the bundle (anywidget imports each class's ESM
// from its own Blob URL), so keywords interned by one copy are not those of another: only
// plain data (strings, numbers, arrays, objects) crosses from the page socket to the views.

import { Char, Decimal, EdnList, EdnSymbol, Keyword, Tagged, Uuid, kw, printEdn } from "../index.js";

/**
 * @typedef {object} PresenceConn
 * @property {string} client-id
 * @property {string} kind "tab", "kernel" or "program"
 * @property {string} [notebook] the notebook a kernel runs
 */

/**
 * @typedef {object} PresenceEntry
 * @property {string} uid
 * @property {string} name
 * @property {string} display-name
 * @property {string} initials
 * @property {string} color
 * @property {string | null} [avatar-url]
 * @property {PresenceConn[]} conns
 */

/** @typedef {Record<string, PresenceEntry>} PresenceState uid -> entry */

/**
 * A wire value as plain data: keyword map keys become their names (`:display-name` ->
 * "display-name"), keywords elsewhere become ":name" strings, sets and lists become arrays,
 * bigints become (nearest) numbers, other EDN types (symbols, chars, tagged values) their EDN text.
 * @param {unknown} x
 * @param {number} [depth]
 * @returns {any}
 */
export function plain(x, depth = 0) {
  if (depth > 64) return "…";
  if (x === null || x === undefined) return null;
  if (typeof x === "string" || typeof x === "number" || typeof x === "boolean") return x;
  if (typeof x === "bigint") return Number(x);
  if (x instanceof Keyword) return x.toString();
  if (Array.isArray(x)) return x.map((v) => plain(v, depth + 1));
  if (x instanceof EdnList || x instanceof Set) return [...(x instanceof EdnList ? x.items : x)].map((v) => plain(v, depth + 1));
  if (x instanceof Map) {
    /** @type {Record<string, any>} */
    const o = {};
    for (const [k, v] of x) o[keyName(k)] = plain(v, depth + 1);
    return o;
  }
  if (x instanceof Date) return x;
  if (x instanceof EdnSymbol || x instanceof Char || x instanceof Uuid || x instanceof Decimal || x instanceof Tagged) {
    return ednText(x);
  }
  if (typeof x === "object") {
    /** @type {Record<string, any>} */
    const o = {};
    for (const [k, v] of Object.entries(x)) o[k] = plain(v, depth + 1);
    return o;
  }
  return String(x);
}

// As jupyter_sente.packers.plain.is_keyword_name: an EDN symbol part, optionally "ns/" first.
const PART = String.raw`(?:[\p{L}_*!?$%&=<>]|[-+.](?![0-9]))[\p{L}\p{N}_.*+!\-?$%&=<>:#]*`;
const KEYWORD_NAME = new RegExp(`^(?:${PART}/)?${PART}$`, "u");

/**
 * True if `name` ("text", "chat/post") reads back as the keyword `:name`.
 * @param {string} name
 */
export function isKeywordName(name) {
  return KEYWORD_NAME.test(name) && !name.includes("::") && !name.endsWith(":");
}

/**
 * Plain data as wire data, as the kernel's `from_plain` does: object keys that are keyword
 * names become keywords (`{text: "hi"}` is `{:text "hi"}`), so a map reads the same whether a
 * tab or a kernel sent it. Arrays stay vectors; other values are unchanged.
 * @param {unknown} x
 * @param {number} [depth]
 * @returns {unknown}
 */
export function fromPlain(x, depth = 0) {
  if (depth > 64 || x === null || typeof x !== "object") return x;
  if (Array.isArray(x)) return x.map((v) => fromPlain(v, depth + 1));
  if (Object.getPrototypeOf(x) !== Object.prototype && Object.getPrototypeOf(x) !== null) return x;
  /** @type {Map<unknown, unknown>} */
  const out = new Map();
  for (const [k, v] of Object.entries(x)) out.set(isKeywordName(k) ? kw(k) : k, fromPlain(v, depth + 1));
  return out;
}

/**
 * A map key as an object key: a keyword's name without the colon, else its text.
 * @param {unknown} k
 */
function keyName(k) {
  if (k instanceof Keyword) return k.name;
  if (typeof k === "string") return k;
  return String(plain(k));
}

/**
 * The presence state after `diff` (`{joins, leaves}`, plain): leaves first, then joins, as
 * `jupyter_sente.core.rooms.apply_presence_diff`; `state` is not changed.
 * @param {PresenceState} state
 * @param {{joins?: PresenceState | null, leaves?: PresenceState | null}} diff
 * @returns {PresenceState}
 */
export function applyPresenceDiff(state, diff) {
  /** @type {PresenceState} */
  const out = { ...state };
  for (const [uid, entry] of Object.entries(diff.leaves ?? {})) {
    const old = out[uid];
    if (old === undefined) continue;
    const gone = new Set((entry.conns ?? []).map((c) => c["client-id"]));
    const conns = (old.conns ?? []).filter((c) => !gone.has(c["client-id"]));
    if (conns.length > 0) out[uid] = { ...old, conns };
    else delete out[uid];
  }
  for (const [uid, entry] of Object.entries(diff.joins ?? {})) {
    const fresh = entry.conns ?? [];
    const ids = new Set(fresh.map((c) => c["client-id"]));
    const old = out[uid];
    const kept = old === undefined ? [] : (old.conns ?? []).filter((c) => !ids.has(c["client-id"]));
    out[uid] = { ...entry, conns: [...kept, ...fresh] };
  }
  return out;
}

/**
 * The entries of a presence state in a stable order (by uid).
 * @param {PresenceState} state
 * @returns {PresenceEntry[]}
 */
export function presenceMembers(state) {
  return Object.keys(state)
    .sort()
    .map((uid) => state[uid]);
}

/**
 * EDN text of `x`, or its `String` if it has none.
 * @param {unknown} x
 */
export function ednText(x) {
  try {
    return printEdn(x);
  } catch {
    return String(x);
  }
}
