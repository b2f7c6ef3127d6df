// Packers turn wire values into text and back: "edn" (default) or "json".

import { UsageError } from "./errors.js";
import { ednPacker } from "./edn.js";
import { jsonPacker } from "./json.js";

/**
 * A packer: `pack(value) -> string` throws EncodeError, `unpack(text) -> value` throws DecodeError.
 * @typedef {object} Packer
 * @property {string} name
 * @property {(value: unknown) => string} pack
 * @property {(text: string) => unknown} unpack
 */

/** @type {Record<string, Packer>} */
const PACKERS = { edn: ednPacker, json: jsonPacker };

export const PACKER_NAMES = Object.freeze(Object.keys(PACKERS));

/**
 * The packer called `name` ("edn" or "json"); a packer object is returned as is.
 * @param {string | Packer} [name]
 * @returns {Packer}
 */
export function getPacker(name = "edn") {
  if (typeof name !== "string") {
    if (name && typeof name.pack === "function" && typeof name.unpack === "function") return name;
    throw new UsageError(`a packer is a name in ${PACKER_NAMES.join(", ")} or a {name, pack, unpack} object`);
  }
  const p = PACKERS[name];
  if (p === undefined) throw new UsageError(`unknown packer "${name}"; choose one of ${PACKER_NAMES.join(", ")}`);
  return p;
}
