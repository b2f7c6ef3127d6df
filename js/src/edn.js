// The EDN packer: a strict reader and a Clojure-style printer over the value model of values.js.
//
// Strict because the wire needs it: truncated or trailing input is a DecodeError, never a
// partial value. Printing follows Clojure's pr-str: maps as `{:a 1, :b 2}`, sets as `#{1 2}`.

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

// ---------------------------------------------------------------------------------------------
// Printer

const CHAR_NAMES = new Map([
  ["\n", "newline"],
  [" ", "space"],
  ["\t", "tab"],
  ["\r", "return"],
  ["\f", "formfeed"],
  ["\b", "backspace"],
]);

const STRING_ESCAPES = new Map([
  ['"', '\\"'],
  ["\\", "\\\\"],
  ["\n", "\\n"],
  ["\t", "\\t"],
  ["\r", "\\r"],
  ["\f", "\\f"],
  ["\b", "\\b"],
]);

/**
 * EDN text for `value`; throws EncodeError for values the model has no EDN for.
 * @param {unknown} value
 * @returns {string}
 */
export function printEdn(value) {
  /** @type {string[]} */
  const out = [];
  write(value, out, 0);
  return out.join("");
}

const MAX_DEPTH = 512;

/**
 * @param {unknown} x
 * @param {string[]} out
 * @param {number} depth
 */
function write(x, out, depth) {
  if (depth > MAX_DEPTH) throw new EncodeError(`value nested deeper than ${MAX_DEPTH} levels`);
  if (x === null || x === undefined) {
    out.push("nil");
  } else if (typeof x === "string") {
    out.push(printString(x));
  } else if (typeof x === "boolean") {
    out.push(x ? "true" : "false");
  } else if (typeof x === "number") {
    out.push(printNumber(x));
  } else if (typeof x === "bigint") {
    // no N suffix: Clojure reads a long literal beyond 64 bits as a BigInt by itself
    out.push(x.toString());
  } else if (x instanceof Keyword) {
    out.push(":", x.name);
  } else if (Array.isArray(x)) {
    writeSeq("[", x, "]", out, depth);
  } else if (x instanceof Map) {
    writeMap(x.entries(), out, depth);
  } else if (x instanceof Set) {
    writeSeq("#{", x, "}", out, depth);
  } else if (x instanceof EdnList) {
    writeSeq("(", x.items, ")", out, depth);
  } else if (x instanceof EdnSymbol) {
    out.push(x.name);
  } else if (x instanceof Char) {
    out.push(printChar(x.char));
  } else if (x instanceof Uuid) {
    out.push('#uuid "', x.text, '"');
  } else if (x instanceof Date) {
    out.push('#inst "', printInst(x), '"');
  } else if (x instanceof Tagged) {
    out.push("#", x.tag, " ");
    write(x.value, out, depth + 1);
  } else if (x instanceof Decimal) {
    out.push(x.text, "M");
  } else if (isPlainObject(x)) {
    writeMap(Object.entries(x), out, depth);
  } else {
    const what = typeof x === "object" ? x.constructor?.name ?? "object" : typeof x;
    throw new EncodeError(`no EDN for a value of type ${what}`);
  }
}

/**
 * @param {string} open
 * @param {Iterable<unknown>} items
 * @param {string} close
 * @param {string[]} out
 * @param {number} depth
 */
function writeSeq(open, items, close, out, depth) {
  out.push(open);
  let first = true;
  for (const item of items) {
    if (!first) out.push(" ");
    first = false;
    write(item, out, depth + 1);
  }
  out.push(close);
}

/**
 * @param {Iterable<[unknown, unknown]>} entries
 * @param {string[]} out
 * @param {number} depth
 */
function writeMap(entries, out, depth) {
  out.push("{");
  let first = true;
  for (const [k, v] of entries) {
    if (!first) out.push(", ");
    first = false;
    write(k, out, depth + 1);
    out.push(" ");
    write(v, out, depth + 1);
  }
  out.push("}");
}

/** @param {number} code */
function hex4(code) {
  return "\\u" + code.toString(16).toUpperCase().padStart(4, "0");
}

/** @param {string} s */
function printString(s) {
  let out = '"';
  for (const ch of s) {
    const esc = STRING_ESCAPES.get(ch);
    const code = /** @type {number} */ (ch.codePointAt(0));
    if (esc !== undefined) out += esc;
    // control characters, and lone surrogates (which have no UTF-8), as \uXXXX
    else if (code < 0x20 || (code >= 0xd800 && code <= 0xdfff)) out += hex4(code);
    else out += ch;
  }
  return out + '"';
}

/**
 * A character literal as the Python writer prints it: a name, the printable ASCII character,
 * or \uXXXX; characters beyond 16 bits have no EDN literal.
 * @param {string} c
 */
function printChar(c) {
  const name = CHAR_NAMES.get(c);
  if (name !== undefined) return "\\" + name;
  const code = /** @type {number} */ (c.codePointAt(0));
  if (c.length !== 1 && !(c.length === 2 && code > 0xffff)) throw new EncodeError(`a char is one character, got ${JSON.stringify(c)}`);
  if (code >= 0x21 && code <= 0x7e) return "\\" + c;
  if (code > 0xffff || (code >= 0xd800 && code <= 0xdfff)) {
    throw new EncodeError(`character U+${code.toString(16).toUpperCase()} has no EDN (UTF-16) character literal`);
  }
  return hex4(code);
}

/** @param {number} n */
function printNumber(n) {
  if (Number.isNaN(n)) return "##NaN";
  if (n === Infinity) return "##Inf";
  if (n === -Infinity) return "##-Inf";
  // Integral values print as integers, as ClojureScript prints them (JS has one number type).
  if (Object.is(n, -0)) return "-0.0";
  if (Number.isInteger(n) && Math.abs(n) <= Number.MAX_SAFE_INTEGER) return String(n);
  const s = String(n);
  return /[.eE]/.test(s) ? s : s + ".0";
}

/** @param {Date} d */
function printInst(d) {
  if (Number.isNaN(d.getTime())) throw new EncodeError("an invalid Date has no #inst");
  return d.toISOString().replace(/Z$/, "-00:00");
}

// ---------------------------------------------------------------------------------------------
// Reader

const WHITESPACE = new Set([" ", ",", "\t", "\n", "\r", "\f", "\v"]);
const DELIMITERS = new Set(["[", "]", "(", ")", "{", "}", '"', ";", "\\"]);
const INT_RE = /^[-+]?(0|[1-9][0-9]*)(N)?$/;
const FLOAT_RE = /^[-+]?(0|[1-9][0-9]*)(\.[0-9]*)?([eE][-+]?[0-9]+)?(M)?$/;
const SYMBOL_RE = /^(?:[-+.]|[-+.]?[A-Za-z*!_?$%&=<>'][\w*!?$%&=<>'.+#:-]*)(?:\/[A-Za-z*!_?$%&=<>'.+-][\w*!?$%&=<>'.+#:-]*)?$|^\/$/;
const CHAR_BY_NAME = new Map([
  ["newline", "\n"],
  ["space", " "],
  ["tab", "\t"],
  ["return", "\r"],
  ["formfeed", "\f"],
  ["backspace", "\b"],
]);
const STRING_UNESCAPES = new Map([
  ["t", "\t"],
  ["r", "\r"],
  ["n", "\n"],
  ["b", "\b"],
  ["f", "\f"],
  ["\\", "\\"],
  ['"', '"'],
]);

/** Sentinel for "the reader hit a closing delimiter" and "#_ discarded the value". */
const CLOSE = Symbol("close");
const DISCARD = Symbol("discard");

class Reader {
  /** @param {string} text */
  constructor(text) {
    this.text = text;
    this.pos = 0;
    this.depth = 0;
  }

  /**
   * @param {string} message
   * @param {number} [position]
   * @returns {never}
   */
  fail(message, position = this.pos) {
    throw new DecodeError(message, position);
  }

  skipWhitespace() {
    const t = this.text;
    while (this.pos < t.length) {
      const c = t[this.pos];
      if (WHITESPACE.has(c)) this.pos++;
      else if (c === ";") {
        while (this.pos < t.length && t[this.pos] !== "\n") this.pos++;
      } else break;
    }
  }

  /** @returns {string} */
  token() {
    const t = this.text;
    const start = this.pos;
    while (this.pos < t.length && !WHITESPACE.has(t[this.pos]) && !DELIMITERS.has(t[this.pos])) {
      this.pos++;
    }
    return t.slice(start, this.pos);
  }

  /**
   * One value, CLOSE when a closing delimiter `close` is next, or DISCARD after `#_ x`.
   * @param {string | null} close the closing delimiter that ends the enclosing collection
   * @returns {unknown}
   */
  read(close) {
    this.skipWhitespace();
    const t = this.text;
    if (this.pos >= t.length) {
      return this.fail(close === null ? "unexpected end of input" : `missing "${close}"`);
    }
    const start = this.pos;
    const c = t[this.pos];
    switch (c) {
      case "[":
        this.pos++;
        return this.readSeq("]");
      case "(":
        this.pos++;
        return new EdnList(this.readSeq(")"));
      case "{":
        this.pos++;
        return this.readMap();
      case "]":
      case ")":
      case "}":
        if (c !== close) return this.fail(`unexpected "${c}"`);
        this.pos++;
        return CLOSE;
      case '"':
        return this.readString();
      case "\\":
        return this.readChar();
      case "#":
        return this.readDispatch();
      case ":": {
        this.pos++;
        const name = this.token();
        if (!SYMBOL_RE.test(name) || name === "/" || name.startsWith(":")) {
          return this.fail(`invalid keyword ":${name}"`, start);
        }
        return wireKeyword(name);
      }
      default:
        return this.readAtom(start);
    }
  }

  /** @param {number} start */
  readAtom(start) {
    const tok = this.token();
    if (tok === "") return this.fail(`unexpected "${this.text[this.pos]}"`);
    if (tok === "nil") return null;
    if (tok === "true") return true;
    if (tok === "false") return false;
    const c = tok[0];
    if ((c >= "0" && c <= "9") || ((c === "-" || c === "+") && tok.length > 1 && tok[1] >= "0" && tok[1] <= "9")) {
      return this.readNumber(tok, start);
    }
    if (!SYMBOL_RE.test(tok)) return this.fail(`invalid symbol "${tok}"`, start);
    return new EdnSymbol(tok);
  }

  /**
   * @param {string} tok
   * @param {number} start
   */
  readNumber(tok, start) {
    const m = INT_RE.exec(tok);
    if (m) {
      const digits = m[2] ? tok.slice(0, -1) : tok;
      if (m[2]) return BigInt(digits);
      const n = Number(digits);
      return Number.isSafeInteger(n) ? n : BigInt(digits);
    }
    const f = FLOAT_RE.exec(tok);
    if (f && f[4] !== undefined) {
      const text = tok.slice(tok[0] === "+" ? 1 : 0, -1);
      return new Decimal(text.endsWith(".") ? text.slice(0, -1) : text);
    }
    if (f && (f[2] !== undefined || f[3] !== undefined)) return Number(tok);
    return this.fail(`invalid number "${tok}"`, start);
  }

  /** @param {string} close */
  readSeq(close) {
    /** @type {unknown[]} */
    const items = [];
    if (++this.depth > MAX_DEPTH) this.fail(`nested deeper than ${MAX_DEPTH} levels`);
    for (;;) {
      const x = this.read(close);
      if (x === CLOSE) break;
      if (x !== DISCARD) items.push(x);
    }
    this.depth--;
    return items;
  }

  readMap() {
    const start = this.pos - 1;
    const items = this.readSeq("}");
    if (items.length % 2 !== 0) return this.fail("a map needs an even number of forms", start);
    /** @type {[unknown, unknown][]} */
    const entries = [];
    const seen = new Set();
    for (let i = 0; i < items.length; i += 2) {
      if (seen.has(items[i])) return this.fail("duplicate map key", start);
      seen.add(items[i]);
      entries.push([items[i], items[i + 1]]);
    }
    return makeMap(entries);
  }

  readString() {
    const t = this.text;
    const start = this.pos;
    this.pos++;
    let out = "";
    for (;;) {
      if (this.pos >= t.length) return this.fail("unterminated string", start);
      const c = t[this.pos++];
      if (c === '"') return out;
      if (c !== "\\") {
        out += c;
        continue;
      }
      const e = t[this.pos++];
      if (e === "u") {
        const hex = t.slice(this.pos, this.pos + 4);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) return this.fail("invalid \\u escape", this.pos - 2);
        out += String.fromCharCode(parseInt(hex, 16));
        this.pos += 4;
        continue;
      }
      const u = e === undefined ? undefined : STRING_UNESCAPES.get(e);
      if (u === undefined) return this.fail(`invalid escape "\\${e ?? ""}"`, this.pos - 2);
      out += u;
    }
  }

  readChar() {
    const start = this.pos;
    this.pos++;
    const t = this.text;
    if (this.pos >= t.length) return this.fail("a character needs a letter after \\", start);
    // The first character is taken even if it is a delimiter: \( \" \\ are characters.
    const cp = /** @type {number} */ (t.codePointAt(this.pos));
    const first = String.fromCodePoint(cp);
    this.pos += first.length;
    const rest = this.token();
    if (rest === "") return new Char(first);
    const name = first + rest;
    const named = CHAR_BY_NAME.get(name);
    if (named !== undefined) return new Char(named);
    if (/^u[0-9a-fA-F]{4}$/.test(name)) return new Char(String.fromCharCode(parseInt(name.slice(1), 16)));
    return this.fail(`invalid character "\\${name}"`, start);
  }

  readDispatch() {
    const start = this.pos;
    const t = this.text;
    const next = t[this.pos + 1];
    if (next === "{") {
      this.pos += 2;
      const items = this.readSeq("}");
      const s = new Set(items);
      if (s.size !== items.length) return this.fail("duplicate set element", start);
      return s;
    }
    if (next === "_") {
      this.pos += 2;
      const x = this.read(null);
      if (x === CLOSE) return this.fail("#_ needs a form to discard", start);
      return DISCARD;
    }
    if (next === "#") {
      this.pos += 2;
      const tok = this.token();
      if (tok === "Inf") return Infinity;
      if (tok === "-Inf") return -Infinity;
      if (tok === "NaN") return NaN;
      return this.fail(`invalid symbolic value "##${tok}"`, start);
    }
    this.pos++;
    const tag = this.token();
    if (!/^[A-Za-z]/.test(tag) || !SYMBOL_RE.test(tag)) return this.fail(`invalid tag "#${tag}"`, start);
    let value = this.read(null);
    while (value === DISCARD) value = this.read(null);
    if (tag === "inst") {
      if (typeof value !== "string") return this.fail("#inst needs a string", start);
      const d = parseInst(value);
      if (d === null) return this.fail(`invalid #inst "${value}"`, start);
      return d;
    }
    if (tag === "uuid") {
      if (typeof value !== "string") return this.fail("#uuid needs a string", start);
      try {
        return new Uuid(value);
      } catch {
        return this.fail(`invalid #uuid "${value}"`, start);
      }
    }
    return new Tagged(tag, value);
  }
}

const INST_RE = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:[Tt](\d{2})(?::(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?)?)?)?(?:([Zz])|([-+])(\d{2}):(\d{2}))?$/;

/**
 * An RFC 3339 timestamp (the fields after the year optional, as Clojure's reader allows).
 * @param {string} s
 * @returns {Date | null}
 */
function parseInst(s) {
  const m = INST_RE.exec(s);
  if (!m) return null;
  const [, y, mo = "01", d = "01", h = "00", mi = "00", sec = "00", frac = "", , sign, oh, om] = m;
  const ms = Number((frac + "000").slice(0, 3));
  let t = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(sec), ms);
  if (sign !== undefined) t -= (sign === "-" ? -1 : 1) * (Number(oh) * 60 + Number(om)) * 60_000;
  const date = new Date(t);
  if (Number(y) < 100) date.setUTCFullYear(Number(y));
  return Number.isNaN(t) ? null : date;
}

/**
 * The value of one EDN text; empty text reads as nil, as Sente's unpack does.
 * @param {string} text
 * @returns {unknown}
 */
export function readEdn(text) {
  if (typeof text !== "string") throw new DecodeError(`EDN text must be a string, got ${typeof text}`);
  const r = new Reader(text);
  r.skipWhitespace();
  if (r.pos >= text.length) return null;
  let value = r.read(null);
  while (value === DISCARD) {
    r.skipWhitespace();
    if (r.pos >= text.length) return null;
    value = r.read(null);
  }
  r.skipWhitespace();
  if (r.pos < text.length) r.fail("trailing characters after the value");
  return value;
}

/** @type {import("./packers.js").Packer} */
export const ednPacker = Object.freeze({
  name: "edn",
  pack: printEdn,
  unpack: readEdn,
});
