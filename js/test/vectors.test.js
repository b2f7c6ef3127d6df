// The shared golden wire vectors (tests/vectors/*.json), also read by tests/test_vectors.py.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";

import { ChannelSocket } from "../src/client.js";
import { ednPacker } from "../src/edn.js";
import { isHandshake, isServerPing, isWsCbId, openEnvelope, readHandshake } from "../src/envelope.js";
import { AJAX, CHSK_DUMMY_CB_200, CHSK_TIMEOUT, CHSK_WS_PING, CHSK_WS_PONG, PONG, isEvent } from "../src/events.js";
import { jsonPacker } from "../src/json.js";
import { equals, kw } from "../src/values.js";
import { FakeClock, FakeFetch, settle } from "./fakes.js";

const VECTORS = new URL("../../tests/vectors/", import.meta.url);
/** @param {string} name */
const load = (name) => JSON.parse(readFileSync(new URL(name, VECTORS), "utf-8"));
const WIRE = load("wire.json");
const VALUES = load("values.json");

/**
 * Where JS output differs from the canonical text: JS has one number type, so a whole float
 * prints as an integer, and JSON.stringify writes -0 as 0. The texts still read back to
 * equal values (tested below), and the list is exact (a vector that starts matching fails).
 * @type {Record<string, {edn?: true, json?: true}>}
 */
const JS_NUMBER_DEVIATIONS = {
  "whole-float": { edn: true, json: true },
  "negative-zero": { json: true },
};

/**
 * An expectation field: a value in the JSON packer's encoding ("~:ajax" is :ajax).
 * @param {unknown} field
 */
const expected = (field) => jsonPacker.unpack(JSON.stringify(field));

const PACKERS = { edn: ednPacker, json: jsonPacker };

describe("wire vectors", () => {
  test("every row of the reference table has a vector", () => {
    const rows = new Set(WIRE.vectors.map((/** @type {any} */ v) => v.row));
    assert.deepEqual([...rows].sort(), [...Array.from({ length: 14 }, (_, i) => String(i + 1)), "5b"].sort());
  });

  for (const v of WIRE.vectors) {
    for (const name of /** @type {const} */ (["edn", "json"])) {
      const packer = PACKERS[name];
      test(`${v.name} (${name}): the text packs back byte for byte`, () => {
        assert.equal(packer.pack(packer.unpack(v[name])), v[name]);
      });

      test(`${v.name} (${name}): the envelope holds the expected payload`, () => {
        const [payload, cbId] = openEnvelope(packer.unpack(v[name]));
        assert.ok(equals(cbId, expected(v.cb_id)));
        assert.ok(cbId === null || cbId === AJAX || isWsCbId(cbId));
        if (v.event_ids) {
          const events = /** @type {unknown[][]} */ (v.kind === "push-batch" ? payload : [payload]);
          assert.ok(events.every(isEvent));
          assert.deepEqual(
            events.map((ev) => ev[0]),
            v.event_ids.map(expected),
          );
        }
        assert.equal(isHandshake(payload), v.kind === "handshake");
        if (v.kind === "handshake") {
          const [uid, data] = readHandshake(payload);
          assert.ok(equals(uid, expected(v.uid)));
          assert.ok(equals(data, expected(v.handshake_data)));
        }
        assert.equal(isServerPing(payload), v.kind === "server-ping");
        if (v.kind === "client-pong") assert.deepEqual(payload, [CHSK_WS_PONG]);
        if (v.kind === "client-ping") assert.ok(equals(payload, [CHSK_WS_PING]) && cbId !== null);
        if (v.kind === "pong-reply") assert.equal(payload, PONG);
        if (v.kind === "timeout") assert.equal(payload, CHSK_TIMEOUT);
        if (v.kind === "dummy-reply") assert.equal(payload, CHSK_DUMMY_CB_200);
      });
    }

    test(`${v.name}: the EDN and JSON texts carry the same value`, () => {
      assert.ok(equals(ednPacker.unpack(v.edn), jsonPacker.unpack(v.json)));
      assert.equal(jsonPacker.pack(ednPacker.unpack(v.edn)), v.json);
      assert.equal(ednPacker.pack(jsonPacker.unpack(v.json)), v.edn);
    });
  }

  for (const v of WIRE.vectors.filter((/** @type {any} */ v) => v.form)) {
    for (const name of /** @type {const} */ (["edn", "json"])) {
      test(`${v.name} (${name}): the client's POST body is the vector's form, byte for byte`, async () => {
        const clock = new FakeClock(Number(WIRE.form_fields.udt));
        const fetch = new FakeFetch();
        const chsk = new ChannelSocket("http://example.test/chsk", {
          type: "ajax",
          packer: name,
          clock,
          fetch: /** @type {typeof globalThis.fetch} */ (fetch.fetch),
          clientId: WIRE.form_fields["client-id"],
          logger: null,
        });
        await settle();
        fetch.open("GET")[0].respond(200, PACKERS[name].pack([[kw("chsk/handshake"), ["alice", null, null]], null]));
        await settle();
        const [event, cbId] = /** @type {[unknown[], unknown]} */ (openEnvelope(PACKERS[name].unpack(v[name])));
        if (cbId === null) chsk.send(event);
        else chsk.send(event, { timeoutMs: 1000, cb: () => {} });
        await settle();
        const [post] = fetch.open("POST");
        assert.equal(post.init.body, v.form[name]);
        chsk.disconnect();
      });
    }
  }
});

describe("value vectors", () => {
  for (const v of VALUES.vectors) {
    test(`${v.name}: EDN and JSON texts read to the same value`, () => {
      assert.ok(equals(ednPacker.unpack(v.edn), jsonPacker.unpack(v.json)));
    });

    for (const name of /** @type {const} */ (["edn", "json"])) {
      const deviates = JS_NUMBER_DEVIATIONS[v.name]?.[name] === true;
      test(`${v.name} (${name}): ${deviates ? "JS text differs (one number type) but reads back equal" : "JS writes the exact text"}`, () => {
        const value = ednPacker.unpack(v.edn);
        const ours = PACKERS[name].pack(value);
        if (deviates) {
          assert.notEqual(ours, v[name]);
          assert.ok(equals(PACKERS[name].unpack(ours), PACKERS[name].unpack(v[name])));
        } else {
          assert.equal(ours, v[name]);
        }
      });
    }
  }
});
