// The JSON packer: every EDN wire value as compact JSON with transit-like escapes.
// The encoding is jupyter-sente's own (docs/packers.md), mirroring jupyter_sente/packers/json.py:
//
//   "~:ns/name" keyword, "~$name" symbol, "~cX" char, "~~..." a string starting with "~";
//   a map whose keys are all string-like is an object ({"~:x": 1}), any other map is
//   {"~#map": [k1, v1, ...]}; other values are one-entry tagged objects {"~#TAG": payload}
//   for set, list, map, inst, uuid, M (decimal), N (integer beyond 2^53 - 1), f (NaN/Inf/-Inf)
//   and tag ([name, value]).

import { DecodeError, EncodeError } from "./errors.js";
import {
  Char,
  Decimal,
  EdnList,
  EdnSymbol,
  Keyword,
  Tagged,
  Uuid,
  isPlainObject,
  makeMap,
  wireKeyword,
} from "./values.js";

export const MAX_SAFE_INT = Number.MAX_SAFE_INTEGER;
export const DEFAULT_MAX_SIZE = 8 * 1024 * 1024;
export const DEFAULT_MAX_DEPTH = 256;

const TOO_DEEP_TO_ENCODE = "value is nested too deeply to pack (or contains itself)";

// ---------------------------------------------------------------------------------------------
// Encoding: value -> a JSON-ready tree; `left` is how many more arrays/objects may be opened.

/**
 * @param {unknown} x
 * @param {number} left
 * @returns {unknown}
 */
function enc(x, left) {
  if (x === null || x === undefined) return null;
  switch (typeof x) {
    case "boolean":
      return x;
    case "string":
      return x.startsWith("~") ? "~" + x : x;
    case "number":
      if (Number.isFinite(x)) return x;
      return tagged("~#f", Number.isNaN(x) ? "NaN" : x > 0 ? "Inf" : "-Inf", left);
    case "bigint":
      if (x >= -MAX_SAFE_INT && x <= MAX_SAFE_INT) return Number(x);
      return tagged("~#N", x.toString(), left);
    default:
      break;
  }
  const k = keyText(x);
  if (k !== null) return k;
  if (Array.isArray(x)) return encItems(x, left);
  if (x instanceof Map) return encMap([...x.entries()], left);
  if (isPlainObject(x)) return encMap(Object.entries(x), left);
  if (x instanceof Set) return tagged("~#set", encItems([...x], left - 1), left);
  if (x instanceof EdnList) return tagged("~#list", encItems(x.items, left - 1), left);
  if (x instanceof Date) {
    if (Number.isNaN(x.getTime())) throw new EncodeError("an invalid Date has no #inst");
    return tagged("~#inst", x.toISOString(), left);
  }
  if (x instanceof Uuid) return tagged("~#uuid", x.text, left);
  if (x instanceof Decimal) return tagged("~#M", x.text, left);
  if (x instanceof Tagged) {
    if (typeof x.tag !== "string" || x.tag === "") throw new EncodeError("a tagged value needs a non-empty tag");
    return tagged("~#tag", encItems([x.tag, x.value], left - 1), left);
  }
  const what = typeof x === "object" ? x.constructor?.name ?? "object" : typeof x;
  throw new EncodeError(`cannot pack a value of type ${what}`);
}

/**
 * The object name for a string-like value (string, keyword, symbol, char), else null.
 * @param {unknown} k
 * @returns {string | null}
 */
function keyText(k) {
  if (typeof k === "string") return k.startsWith("~") ? "~" + k : k;
  if (k instanceof Keyword) {
    if (k.name === "") throw new EncodeError("a keyword needs a name");
    return "~:" + k.name;
  }
  if (k instanceof EdnSymbol) {
    if (k.name === "") throw new EncodeError("a symbol needs a name");
    return "~$" + k.name;
  }
  if (k instanceof Char) {
    if ([...k.char].length !== 1) throw new EncodeError(`a char is one character, got ${JSON.stringify(k.char)}`);
    return "~c" + k.char;
  }
  return null;
}

/**
 * @param {string} tag
 * @param {unknown} payload already encoded
 * @param {number} left
 */
function tagged(tag, payload, left) {
  if (left <= 0) throw new EncodeError(TOO_DEEP_TO_ENCODE);
  return { [tag]: payload };
}

/**
 * @param {unknown[]} xs
 * @param {number} left
 */
function encItems(xs, left) {
  if (left <= 0) throw new EncodeError(TOO_DEEP_TO_ENCODE);
  return xs.map((v) => enc(v, left - 1));
}

/**
 * @param {[unknown, unknown][]} entries
 * @param {number} left
 */
function encMap(entries, left) {
  if (left <= 0) throw new EncodeError(TOO_DEEP_TO_ENCODE);
  /** @type {Record<string, unknown>} */
  const out = {};
  for (const [k, v] of entries) {
    const name = keyText(k);
    if (name === null) return tagged("~#map", encItems(entries.flat(), left - 1), left);
    // defineProperty: a "__proto__" name must become a property, not the prototype.
    Object.defineProperty(out, name, { value: enc(v, left - 1), enumerable: true, writable: true, configurable: true });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Decoding: JSON.parse, then a walk that turns escapes and tagged objects into values.

const TOO_DEEP_TO_DECODE = "text is nested too deeply";

/**
 * @param {unknown} x
 * @param {number} left
 * @returns {unknown}
 */
function dec(x, left) {
  if (typeof x === "string") return x.startsWith("~") ? decStr(x) : x;
  if (Array.isArray(x)) return decItems(x, left);
  if (x !== null && typeof x === "object") return decObject(/** @type {Record<string, unknown>} */ (x), left);
  return x;
}

/**
 * @param {unknown[]} xs
 * @param {number} left
 */
function decItems(xs, left) {
  if (left <= 0) throw new DecodeError(TOO_DEEP_TO_DECODE);
  return xs.map((v) => dec(v, left - 1));
}

/**
 * @param {Record<string, unknown>} o
 * @param {number} left
 */
function decObject(o, left) {
  if (left <= 0) throw new DecodeError(TOO_DEEP_TO_DECODE);
  const names = Object.keys(o);
  if (names.length === 1 && names[0].startsWith("~#")) return decTagged(names[0], o[names[0]], left - 1);
  /** @type {[unknown, unknown][]} */
  const entries = names.map((n) => [n.startsWith("~") ? decStr(n) : n, dec(o[n], left - 1)]);
  return makeMap(entries);
}

/** @param {string} s a string that starts with "~" */
function decStr(s) {
  const kind = s[1];
  if (kind === ":") {
    if (s.length === 2) throw new DecodeError("keyword escape '~:' needs a name");
    return wireKeyword(s.slice(2));
  }
  if (kind === "~") return s.slice(1);
  if (kind === "$") {
    if (s.length === 2) throw new DecodeError("symbol escape '~$' needs a name");
    return new EdnSymbol(s.slice(2));
  }
  if (kind === "c") {
    const rest = s.slice(2);
    if ([...rest].length !== 1) throw new DecodeError(`char escape '~c' needs exactly one character, got ${JSON.stringify(s)}`);
    return new Char(rest);
  }
  if (kind === "#") throw new DecodeError(`${JSON.stringify(s)}: '~#' names a tag only as the one key of an object`);
  throw new DecodeError(`unknown escape in string ${JSON.stringify(s)} (a literal '~' is written '~~')`);
}

const INST_RE = /^([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?(?:Z|([+-])([0-9]{2}):([0-9]{2}))$/;
const UUID_RE = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const DECIMAL_RE = /^-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$/;
const INTEGER_RE = /^-?[0-9]+$/;
/** @type {Record<string, number>} */
const SPECIAL_FLOATS = { NaN: NaN, Inf: Infinity, "-Inf": -Infinity };

/**
 * @param {string} tag
 * @param {unknown} payload
 * @param {RegExp} re
 * @param {string} what
 * @returns {string}
 */
function payloadText(tag, payload, re, what) {
  if (typeof payload !== "string" || !re.test(payload)) {
    throw new DecodeError(`${tag} needs ${what}, got ${JSON.stringify(payload)}`);
  }
  return payload;
}

/**
 * @param {string} tag
 * @param {unknown} payload
 * @param {number} left
 * @returns {unknown[]}
 */
function payloadArray(tag, payload, left) {
  if (!Array.isArray(payload)) throw new DecodeError(`${tag} needs an array`);
  return decItems(payload, left);
}

/**
 * @param {string} tag
 * @param {unknown} payload
 * @param {number} left
 */
function decTagged(tag, payload, left) {
  switch (tag) {
    case "~#set": {
      const members = payloadArray(tag, payload, left);
      const s = new Set(members);
      if (s.size !== members.length) throw new DecodeError("set has duplicate members");
      return s;
    }
    case "~#list":
      return new EdnList(payloadArray(tag, payload, left));
    case "~#map": {
      const flat = payloadArray(tag, payload, left);
      if (flat.length % 2) throw new DecodeError("~#map needs an even number of items [k1, v1, k2, v2, ...]");
      /** @type {[unknown, unknown][]} */
      const entries = [];
      for (let i = 0; i < flat.length; i += 2) entries.push([flat[i], flat[i + 1]]);
      const m = makeMap(entries);
      const size = m instanceof Map ? m.size : Object.keys(m).length;
      if (size !== entries.length) throw new DecodeError("map has duplicate keys");
      return m;
    }
    case "~#inst":
      return readInst(payloadText(tag, payload, INST_RE, "RFC 3339 text"));
    case "~#uuid":
      return new Uuid(payloadText(tag, payload, UUID_RE, "a UUID like 8-4-4-4-12 hex digits"));
    case "~#M":
      return new Decimal(payloadText(tag, payload, DECIMAL_RE, "decimal text like -1.5E+3"));
    case "~#N":
      return BigInt(payloadText(tag, payload, INTEGER_RE, "integer text"));
    case "~#f":
      if (typeof payload === "string" && Object.hasOwn(SPECIAL_FLOATS, payload)) return SPECIAL_FLOATS[payload];
      throw new DecodeError(`~#f needs "NaN", "Inf" or "-Inf", got ${JSON.stringify(payload)}`);
    case "~#tag": {
      const pair = payloadArray(tag, payload, left);
      if (pair.length !== 2 || typeof pair[0] !== "string" || pair[0] === "") {
        throw new DecodeError("~#tag needs [name, value] with a non-empty name");
      }
      return new Tagged(pair[0], pair[1]);
    }
    default:
      throw new DecodeError(`unknown tag ${JSON.stringify(tag)}`);
  }
}

/** @param {string} text */
function readInst(text) {
  const m = /** @type {RegExpExecArray} */ (INST_RE.exec(text));
  const [, y, mo, d, h, mi, s, frac = "", sign, oh, om] = m;
  let t = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s), Number((frac + "000").slice(0, 3)));
  const check = new Date(t);
  if (check.getUTCMonth() !== Number(mo) - 1 || check.getUTCDate() !== Number(d) || Number(h) > 23 || Number(mi) > 59 || Number(s) > 59) {
    throw new DecodeError(`~#inst ${JSON.stringify(text)} is not a valid time`);
  }
  if (sign !== undefined) t -= (sign === "-" ? -1 : 1) * (Number(oh) * 60 + Number(om)) * 60_000;
  const date = new Date(t);
  if (Number(y) < 100) date.setUTCFullYear(date.getUTCFullYear() - 1900);
  return date;
}

// ---------------------------------------------------------------------------------------------

/**
 * A JSON packer; `maxSize` (characters) and `maxDepth` (nesting) bound both directions.
 * @param {{maxSize?: number, maxDepth?: number}} [opts]
 * @returns {import("./packers.js").Packer}
 */
export function makeJsonPacker({ maxSize = DEFAULT_MAX_SIZE, maxDepth = DEFAULT_MAX_DEPTH } = {}) {
  return Object.freeze({
    name: "json",
    /** @param {unknown} value */
    pack(value) {
      let text;
      try {
        text = JSON.stringify(enc(value, maxDepth));
      } catch (e) {
        if (e instanceof EncodeError) throw e;
        if (e instanceof RangeError) throw new EncodeError(TOO_DEEP_TO_ENCODE);
        throw new EncodeError(`cannot pack: ${/** @type {Error} */ (e).message}`);
      }
      if (text.length > maxSize) throw new EncodeError(`packed text is ${text.length} characters, over maxSize ${maxSize}`);
      return text;
    },
    /** @param {string} text */
    unpack(text) {
      if (typeof text !== "string") throw new DecodeError(`expected JSON text, got ${typeof text}`);
      if (text.length > maxSize) throw new DecodeError(`text is ${text.length} characters, over maxSize ${maxSize}`);
      let tree;
      try {
        tree = JSON.parse(text);
      } catch (e) {
        throw new DecodeError(`invalid JSON: ${/** @type {Error} */ (e).message}`);
      }
      try {
        return dec(tree, maxDepth);
      } catch (e) {
        if (e instanceof DecodeError) throw e;
        if (e instanceof RangeError) throw new DecodeError(TOO_DEEP_TO_DECODE);
        throw new DecodeError(/** @type {Error} */ (e).message);
      }
    },
  });
}

export const jsonPacker = makeJsonPacker();
