// The wire value model: what packers read and write, mirroring jupyter_sente/values.py.
//
//   nil -> null          vector -> Array        set -> Set
//   keyword -> Keyword   list -> EdnList        #inst -> Date, #uuid -> Uuid
//   symbol -> EdnSymbol  char -> Char           1.5M -> Decimal
//   integer -> number (bigint beyond 2^53 - 1)  float -> number
//   map -> a plain object when every key is a string, else a Map
//   any other tag -> Tagged
//
// A plain object is a map with *string* keys, as a Python dict with str keys is: `{x: 1}` is
// EDN `{"x" 1}`. Keyword keys need a Map: `new Map([[kw("x"), 1]])` is `{:x 1}`.
// Keywords are interned, so `kw("a/b") === kw("a/b")` and they work as Map keys.

/** @type {Map<string, Keyword>} */
const keywords = new Map();

export class Keyword {
  /**
   * Use `kw(name)`: keywords are interned.
   * @param {string} name the keyword without its colon, e.g. "chsk/handshake"
   */
  constructor(name) {
    /** @readonly */
    this.name = name;
    Object.freeze(this);
  }

  /** The part before "/", or null. */
  get namespace() {
    const i = this.name.indexOf("/");
    return i > 0 ? this.name.slice(0, i) : null;
  }

  toString() {
    return ":" + this.name;
  }
}

/**
 * The keyword `:name` (the same object for the same name).
 * @param {string} name
 * @returns {Keyword}
 */
export function kw(name) {
  if (typeof name !== "string" || name === "") {
    throw new TypeError(`a keyword name is a non-empty string, got ${String(name)}`);
  }
  let k = keywords.get(name);
  if (k === undefined) {
    k = new Keyword(name);
    keywords.set(name, k);
  }
  return k;
}

/**
 * @param {unknown} x
 * @returns {x is Keyword}
 */
export function isKeyword(x) {
  return x instanceof Keyword;
}

// Keywords read from a peer are interned only while the table is small, so a peer cannot grow
// it without bound (as jupyter_sente.values.wire_keyword).
const MAX_WIRE_INTERNED = 10_000;
const MAX_WIRE_INTERNED_NAME = 128;

/**
 * The keyword `:name` read from a peer: interned like `kw` while the table is small.
 * @param {string} name
 * @returns {Keyword}
 */
export function wireKeyword(name) {
  const k = keywords.get(name);
  if (k !== undefined) return k;
  if (keywords.size < MAX_WIRE_INTERNED && name.length <= MAX_WIRE_INTERNED_NAME) return kw(name);
  return new Keyword(name);
}

/** An EDN symbol such as `foo` or `my.ns/bar`. */
export class EdnSymbol {
  /** @param {string} name */
  constructor(name) {
    /** @readonly */
    this.name = name;
    Object.freeze(this);
  }

  toString() {
    return this.name;
  }
}

/** An EDN character such as `\a` (one UTF-16 code unit or one code point). */
export class Char {
  /** @param {string} char */
  constructor(char) {
    /** @readonly */
    this.char = char;
    Object.freeze(this);
  }
}

/** An EDN list `(a b)`: kept apart from vectors so it prints back as a list. */
export class EdnList {
  /** @param {unknown[]} items */
  constructor(items) {
    /** @readonly */
    this.items = items;
  }
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A `#uuid "..."`, held as its lowercase canonical text. */
export class Uuid {
  /** @param {string} text 36 characters, 8-4-4-4-12 hex digits */
  constructor(text) {
    const t = String(text).toLowerCase();
    if (!UUID_RE.test(t)) throw new TypeError(`not a UUID: ${JSON.stringify(text)}`);
    /** @readonly */
    this.text = t;
    Object.freeze(this);
  }

  toString() {
    return this.text;
  }
}

const DECIMAL_RE = /^-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?$/;

/** An exact decimal such as EDN `1.5M`, held as its text (JS has no decimal type). */
export class Decimal {
  /** @param {string} text like "-1.5" or "1.5E+3" */
  constructor(text) {
    if (!DECIMAL_RE.test(text)) throw new TypeError(`not a decimal: ${JSON.stringify(text)}`);
    /** @readonly */
    this.text = text;
    Object.freeze(this);
  }

  toString() {
    return this.text;
  }
}

/** A tagged value `#tag value` whose tag has no reader here. */
export class Tagged {
  /**
   * @param {string} tag
   * @param {unknown} value
   */
  constructor(tag, value) {
    /** @readonly */
    this.tag = tag;
    /** @readonly */
    this.value = value;
  }
}

/**
 * Structural equality over the value model (numbers and bigints compare by value).
 * @param {unknown} a
 * @param {unknown} b
 * @returns {boolean}
 */
export function equals(a, b) {
  if (a === b) return true;
  if (typeof a === "number" && typeof b === "number") return Number.isNaN(a) && Number.isNaN(b);
  if (typeof a === "bigint" || typeof b === "bigint") {
    return (typeof a === "bigint" || typeof a === "number") &&
      (typeof b === "bigint" || typeof b === "number") &&
      // eslint-disable-next-line eqeqeq
      a == b;
  }
  if (a === null || b === null || typeof a !== "object" || typeof b !== "object") return false;
  if (Array.isArray(a)) return Array.isArray(b) && seqEquals(a, b);
  if (a instanceof EdnList) return b instanceof EdnList && seqEquals(a.items, b.items);
  if (a instanceof EdnSymbol) return b instanceof EdnSymbol && a.name === b.name;
  if (a instanceof Char) return b instanceof Char && a.char === b.char;
  if (a instanceof Uuid) return b instanceof Uuid && a.text === b.text;
  if (a instanceof Decimal) return b instanceof Decimal && a.text === b.text;
  if (a instanceof Keyword) return b instanceof Keyword && a.name === b.name;
  if (a instanceof Date) return b instanceof Date && a.getTime() === b.getTime();
  if (a instanceof Tagged) return b instanceof Tagged && a.tag === b.tag && equals(a.value, b.value);
  if (a instanceof Set) {
    if (!(b instanceof Set) || a.size !== b.size) return false;
    for (const x of a) if (!setHas(b, x)) return false;
    return true;
  }
  const ea = mapEntries(a);
  const eb = mapEntries(b);
  if (ea === null || eb === null || ea.length !== eb.length) return false;
  for (const [k, v] of ea) {
    const hit = eb.find(([k2]) => equals(k, k2));
    if (hit === undefined || !equals(v, hit[1])) return false;
  }
  return true;
}

/**
 * @param {unknown[]} a
 * @param {unknown[]} b
 */
function seqEquals(a, b) {
  return a.length === b.length && a.every((x, i) => equals(x, b[i]));
}

/**
 * @param {Set<unknown>} s
 * @param {unknown} x
 */
function setHas(s, x) {
  if (s.has(x)) return true;
  for (const y of s) if (equals(x, y)) return true;
  return false;
}

/**
 * The entries of a map-like value (a Map, or a plain object whose keys are strings), else null.
 * @param {object} x
 * @returns {[unknown, unknown][] | null}
 */
export function mapEntries(x) {
  if (x instanceof Map) return [...x.entries()];
  if (isPlainObject(x)) return Object.entries(x);
  return null;
}

/**
 * A map value from entries: a plain object when every key is a string, else a Map.
 * @param {[unknown, unknown][]} entries
 * @returns {Record<string, unknown> | Map<unknown, unknown>}
 */
export function makeMap(entries) {
  if (entries.every(([k]) => typeof k === "string" && k !== "__proto__")) {
    /** @type {Record<string, unknown>} */
    const o = {};
    for (const [k, v] of entries) o[/** @type {string} */ (k)] = v;
    return o;
  }
  return new Map(entries);
}

/**
 * @param {unknown} x
 * @returns {x is Record<string, unknown>}
 */
export function isPlainObject(x) {
  if (x === null || typeof x !== "object") return false;
  const proto = Object.getPrototypeOf(x);
  return proto === Object.prototype || proto === null;
}

/**
 * A readable one-line rendering of a value, for error messages (EDN-like, cut at `limit`).
 * @param {unknown} x
 * @param {number} [limit]
 */
export function brief(x, limit = 80) {
  let s;
  try {
    s = describe(x);
  } catch {
    s = String(x);
  }
  return s.length <= limit ? s : s.slice(0, limit - 3) + "...";
}

/** @param {unknown} x @returns {string} */
function describe(x) {
  if (x === null || x === undefined) return "nil";
  if (typeof x === "string") return JSON.stringify(x);
  if (Array.isArray(x)) return "[" + x.map(describe).join(" ") + "]";
  if (x instanceof Keyword) return x.toString();
  if (typeof x === "bigint") return x.toString();
  if (x instanceof Map) return "{" + [...x].map(([k, v]) => describe(k) + " " + describe(v)).join(", ") + "}";
  if (isPlainObject(x)) return describe(new Map(mapEntries(x)));
  return String(x);
}
