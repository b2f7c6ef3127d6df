// The esbuild bundle (what the Python package ships) exposes the same working API as src/.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { after, test } from "node:test";
import { build } from "esbuild";

import * as src from "../src/index.js";

const dir = mkdtempSync(join(tmpdir(), "sente-bundle-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Bundle src/index.js as `npm run build` does, into a temp dir, and import it. */
async function bundled() {
  const out = await build({
    entryPoints: [new URL("../src/index.js", import.meta.url).pathname],
    bundle: true,
    format: "esm",
    minify: true,
    target: "es2020",
    write: false,
    logLevel: "silent",
  });
  const file = join(dir, "sente-client.js");
  writeFileSync(file, out.outputFiles[0].text);
  return /** @type {typeof src} */ (await import(pathToFileURL(file).href));
}

test("the bundle exports what src/index.js exports, and it works", async () => {
  const b = await bundled();
  assert.deepEqual(Object.keys(b).sort(), Object.keys(src).sort());
  const text = '[[:chsk/handshake [:sente/nil-uid nil {:some "data"}]] nil]';
  assert.equal(b.ednPacker.pack(b.ednPacker.unpack(text)), text);
  assert.equal(b.jsonPacker.pack(b.ednPacker.unpack(text)), '[["~:chsk/handshake",["~:sente/nil-uid",null,{"~:some":"data"}]],null]');
  const chsk = new b.ChannelSocket("http://example.test/chsk", { autoConnect: false, WebSocket: null, logger: null });
  assert.equal(chsk.connState, "idle");
  assert.equal(b.kw("a/b"), b.kw("a/b"));
});
