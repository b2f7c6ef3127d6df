import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseEDNString } from "edn-data";

import { DecodeError, EncodeError } from "../src/errors.js";
import { ednPacker, printEdn, readEdn } from "../src/edn.js";
import { jsonPacker, makeJsonPacker } from "../src/json.js";
import { getPacker } from "../src/packers.js";
import { Char, Decimal, EdnList, EdnSymbol, Keyword, Tagged, Uuid, equals, kw } from "../src/values.js";

// Sente reference §2.2: the exact EDN text of each wire message.
const WIRE_LITERALS = [
  "[[:my-app/req {:x 1}] nil]",
  '[[:my-app/req {:x 1}] "a1b2c3"]',
  '[{:any "reply"} "a1b2c3"]',
  '[[[:my-app/alert "hi"] [:my-app/alert "yo"]] nil]',
  '[[:chsk/handshake ["alice" nil nil]] nil]',
  '[[:chsk/handshake [:sente/nil-uid nil {:some "data"}]] nil]',
  "[:chsk/ws-ping nil]",
  "[[:chsk/ws-pong] nil]",
  '[[:chsk/ws-ping] "a1b2c3"]',
  '["pong" "a1b2c3"]',
  "[:chsk/timeout nil]",
  "[:chsk/dummy-cb-200 nil]",
  "[[:my-app/req {:x 1}] :ajax]",
];

describe("EDN packer", () => {
  for (const text of WIRE_LITERALS) {
    test(`wire message ${text} reads and prints back byte for byte`, () => {
      assert.equal(printEdn(readEdn(text)), text);
    });
  }

  test("keywords stay distinct from strings and are interned", () => {
    const [payload, cb] = /** @type {any[]} */ (readEdn('[:chsk/ws-ping "pong"]'));
    assert.ok(payload instanceof Keyword);
    assert.equal(payload, kw("chsk/ws-ping"));
    assert.equal(cb, "pong");
    assert.equal(printEdn([kw("ajax"), "ajax"]), '[:ajax "ajax"]');
  });

  test("maps print Clojure-style with comma separators, keyword keys need a Map", () => {
    const m = new Map([
      [kw("a"), 1],
      [kw("b"), 2],
    ]);
    assert.equal(printEdn(m), "{:a 1, :b 2}");
    assert.equal(printEdn({ a: 1, b: [true, null] }), '{"a" 1, "b" [true nil]}');
  });

  test("a map with only string keys reads as a plain object, any other as a Map", () => {
    assert.deepEqual(readEdn('{"a" 1, "b" 2}'), { a: 1, b: 2 });
    const m = readEdn('{:a 1 "b" 2}');
    assert.ok(m instanceof Map);
    assert.equal(/** @type {Map<unknown, unknown>} */ (m).get(kw("a")), 1);
  });

  test("every EDN value type round-trips", () => {
    const text =
      '[nil true false 0 -7 1.5 -2.5E-7 9007199254740993 1.5M "s\\n\\"q\\"" \\a \\newline sym ns/sym ' +
      ':k :ns/k (1 2) #{1} #uuid "f81d4fae-7dec-11d0-a765-00a0c91e6bf6" ' +
      '#inst "1985-04-12T23:20:50.520-00:00" #my/tag [1] ##Inf ##-Inf]';
    const v = /** @type {unknown[]} */ (readEdn(text));
    assert.equal(v[7], 9007199254740993n);
    assert.ok(v[8] instanceof Decimal);
    assert.ok(v[10] instanceof Char);
    assert.ok(v[12] instanceof EdnSymbol);
    assert.ok(v[16] instanceof EdnList);
    assert.ok(v[17] instanceof Set);
    assert.ok(v[18] instanceof Uuid);
    assert.ok(v[19] instanceof Date);
    assert.ok(v[20] instanceof Tagged);
    assert.ok(equals(readEdn(printEdn(v)), v));
    assert.ok(equals(jsonPacker.unpack(jsonPacker.pack(v)), v));
  });

  test("NaN prints as ##NaN and reads back", () => {
    assert.equal(printEdn(NaN), "##NaN");
    assert.ok(Number.isNaN(readEdn("##NaN")));
  });

  test("commas, comments and #_ discards are whitespace", () => {
    assert.deepEqual(readEdn("[1,2 ; note\n #_ 3 4]"), [1, 2, 4]);
  });

  test("empty text reads as nil, as Sente's unpack does", () => {
    assert.equal(readEdn(""), null);
    assert.equal(readEdn("  "), null);
  });

  for (const bad of ["[1 2", "[1 2]]", "{:a}", "[1] 3", "}", "#{1 1}", "{:a 1 :a 2}", "::a", "1.2.3", '"abc', '"\\q"', "#inst 1", '#uuid "x"', "\\", "#"]) {
    test(`malformed text ${JSON.stringify(bad)} is a DecodeError with a position`, () => {
      assert.throws(() => readEdn(bad), (e) => e instanceof DecodeError && typeof e.position === "number");
    });
  }

  test("values without EDN are an EncodeError", () => {
    assert.throws(() => printEdn(() => 1), EncodeError);
    assert.throws(() => printEdn(Symbol("x")), EncodeError);
    assert.throws(() => printEdn(new (class Thing {})()), EncodeError);
  });

  test("edn-data reads our output to the same values (equivalence with the npm reader)", () => {
    for (const text of WIRE_LITERALS) {
      const ours = toEdnData(readEdn(printEdn(readEdn(text))));
      assert.deepEqual(parseEDNString(printEdn(readEdn(text))), ours);
    }
  });

  test("edn-data's own printer is not byte-identical (no commas), which is why we print ourselves", () => {
    const text = '[{:any "reply", :more 1} nil]';
    assert.equal(printEdn(readEdn(text)), text);
    const viaEdnData = /** @type {any} */ (parseEDNString(text));
    assert.notEqual(JSON.stringify(viaEdnData), text);
  });
});

describe("JSON packer", () => {
  const cases = /** @type {[string, unknown][]} */ ([
    ['[["~:chsk/handshake",["alice",null,null]],null]', [[kw("chsk/handshake"), ["alice", null, null]], null]],
    ['["~:chsk/ws-ping",null]', [kw("chsk/ws-ping"), null]],
    ['["pong","a1b2c3"]', ["pong", "a1b2c3"]],
    ['[["~:my-app/req",1],"~:ajax"]', [[kw("my-app/req"), 1], kw("ajax")]],
    ['{"~:x":1,"s":"~~tilde"}', new Map(/** @type {[unknown, unknown][]} */ ([[kw("x"), 1], ["s", "~tilde"]]))],
    ['{"~#map":[[1],2]}', new Map([[[1], 2]])],
    ['{"~#set":[1,2]}', new Set([1, 2])],
    ['{"~#list":["~$a"]}', new EdnList([new EdnSymbol("a")])],
    ['{"~#inst":"1985-04-12T23:20:50.520Z"}', new Date("1985-04-12T23:20:50.520Z")],
    ['{"~#uuid":"f81d4fae-7dec-11d0-a765-00a0c91e6bf6"}', new Uuid("f81d4fae-7dec-11d0-a765-00a0c91e6bf6")],
    ['{"~#M":"1.50"}', new Decimal("1.50")],
    ['{"~#N":"9007199254740993"}', 9007199254740993n],
    ['{"~#f":"-Inf"}', -Infinity],
    ['{"~#tag":["my/tag",[1]]}', new Tagged("my/tag", [1])],
    ['"~ca"', new Char("a")],
  ]);
  for (const [text, value] of cases) {
    test(`${text} packs and unpacks exactly`, () => {
      assert.equal(jsonPacker.pack(value), text);
      assert.ok(equals(jsonPacker.unpack(text), value));
    });
  }

  for (const bad of ["[1", '"~x"', '{"~#nope":1}', '{"~#map":[1]}', '{"~#set":[1,1]}', '"~:"', '"~#set"', '{"~#inst":"yesterday"}', "NaN"]) {
    test(`invalid text ${bad} is a DecodeError`, () => {
      assert.throws(() => jsonPacker.unpack(bad), DecodeError);
    });
  }

  test("size and depth limits hold both ways", () => {
    const small = makeJsonPacker({ maxSize: 10, maxDepth: 3 });
    assert.throws(() => small.pack("x".repeat(20)), EncodeError);
    assert.throws(() => small.unpack(JSON.stringify("x".repeat(20))), DecodeError);
    assert.throws(() => small.pack([[[[1]]]]), EncodeError);
    assert.throws(() => small.unpack("[[[[1]]]]"), DecodeError);
  });

  test("getPacker knows edn and json and passes packer objects through", () => {
    assert.equal(getPacker(), ednPacker);
    assert.equal(getPacker("json"), jsonPacker);
    assert.equal(getPacker(ednPacker), ednPacker);
    assert.throws(() => getPacker("msgpack"), /unknown packer/);
  });
});

/**
 * Our value model in edn-data's shapes (for comparing with its reader).
 * @param {unknown} x
 * @returns {unknown}
 */
function toEdnData(x) {
  if (Array.isArray(x)) return x.map(toEdnData);
  if (x instanceof Keyword) return { key: x.name };
  if (x instanceof Map) return { map: [...x].map(([k, v]) => [toEdnData(k), toEdnData(v)]) };
  if (x !== null && typeof x === "object" && Object.getPrototypeOf(x) === Object.prototype) {
    return { map: Object.entries(x).map(([k, v]) => [k, toEdnData(v)]) };
  }
  return x;
}
