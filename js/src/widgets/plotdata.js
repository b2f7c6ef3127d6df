// LivePlot's data side, without the DOM: ring buffers of points, reading points out of event
// data, the extent of what is kept, nice axis ticks, and decimation to pixel columns.

/** A fixed-capacity buffer of (x, y) points: the oldest point goes when a new one comes. */
export class Ring {
  /** @param {number} capacity */
  constructor(capacity) {
    if (!(Number.isInteger(capacity) && capacity > 0)) throw new RangeError("a ring needs a positive integer capacity");
    this.capacity = capacity;
    this.xs = new Float64Array(capacity);
    this.ys = new Float64Array(capacity);
    this.start = 0;
    this.size = 0;
  }

  /**
   * @param {number} x
   * @param {number} y
   */
  push(x, y) {
    const i = (this.start + this.size) % this.capacity;
    this.xs[i] = x;
    this.ys[i] = y;
    if (this.size < this.capacity) this.size++;
    else this.start = (this.start + 1) % this.capacity;
  }

  /** The index in `xs`/`ys` of the `k`-th oldest point. @param {number} k */
  at(k) {
    return (this.start + k) % this.capacity;
  }

  /** The newest y, or null. */
  lastY() {
    return this.size === 0 ? null : this.ys[this.at(this.size - 1)];
  }
}

/**
 * @typedef {object} Point
 * @property {string} series
 * @property {number | null} x null: the plot uses the arrival time
 * @property {number} y
 */

const X_KEYS = new Set(["x", "t"]);

/** @param {unknown} v @returns {number | null} */
function num(v) {
  if (typeof v === "number") return Number.isFinite(v) ? v : null;
  if (typeof v === "bigint") return Number(v);
  return null;
}

/**
 * The points in an event's data (plain data):
 * - a number: one point of series "y";
 * - `{"x": 1.5, "a": 2, "b": 3}`: one point per numeric key ("x" or "t" is the x, optional);
 * - `{"series": "a", "x": 1.5, "y": 2}`: one point of the named series;
 * - `{"points": [...]}` or a list of such maps: each in turn (a list of numbers gives series "0", "1"...).
 * Anything else has no points.
 * @param {unknown} data
 * @param {number} [depth]
 * @returns {Point[]}
 */
export function pointsOf(data, depth = 0) {
  const y = num(data);
  if (y !== null) return [{ series: "y", x: null, y }];
  if (data === null || typeof data !== "object" || depth > 2) return [];
  if (Array.isArray(data)) {
    /** @type {Point[]} */
    const out = [];
    data.forEach((item, i) => {
      const v = num(item);
      if (v !== null) out.push({ series: String(i), x: null, y: v });
      else for (const p of pointsOf(item, depth + 1)) out.push(p);
    });
    return out;
  }
  const o = /** @type {Record<string, unknown>} */ (data);
  if (Array.isArray(o.points)) return pointsOf(o.points, depth + 1);
  const x = num(o.x) ?? num(o.t);
  if (typeof o.series === "string" || typeof o.series === "number") {
    const v = num(o.y);
    return v === null ? [] : [{ series: String(o.series), x, y: v }];
  }
  /** @type {Point[]} */
  const out = [];
  for (const [k, v] of Object.entries(o)) {
    if (X_KEYS.has(k)) continue;
    const n = num(v);
    if (n !== null) out.push({ series: k, x, y: n });
  }
  return out;
}

/**
 * The x and y range of every point kept; null when there is none.
 * @param {Iterable<Ring>} rings
 * @returns {{xMin: number, xMax: number, yMin: number, yMax: number} | null}
 */
export function extent(rings) {
  let xMin = Infinity;
  let xMax = -Infinity;
  let yMin = Infinity;
  let yMax = -Infinity;
  for (const r of rings) {
    const { xs, ys, capacity } = r;
    for (let k = 0, i = r.start; k < r.size; k++, i = i + 1 === capacity ? 0 : i + 1) {
      const x = xs[i];
      const y = ys[i];
      if (x < xMin) xMin = x;
      if (x > xMax) xMax = x;
      if (y < yMin) yMin = y;
      if (y > yMax) yMax = y;
    }
  }
  if (xMin === Infinity) return null;
  return { xMin, xMax, yMin, yMax };
}

/**
 * About `count` round tick values covering [min, max] (steps of 1, 2 or 5 times a power of ten).
 * @param {number} min
 * @param {number} max
 * @param {number} count
 * @returns {number[]}
 */
export function niceTicks(min, max, count) {
  if (!(Number.isFinite(min) && Number.isFinite(max)) || count < 1) return [];
  if (max === min) return [min];
  const raw = (max - min) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  const step = (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
  const out = [];
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step) {
    out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  }
  return out;
}

/**
 * The vertices to draw a ring's line on `width` pixel columns, as flat [px, y, px, y, ...]
 * (px a column from 0 to width - 1, y in data units). Every point when there are few; else per
 * column its first, lowest, highest and last point, in that order, so peaks survive and the
 * cost of drawing follows the width, not the number of points.
 * @param {Ring} ring
 * @param {number} xMin
 * @param {number} xMax
 * @param {number} width
 * @returns {number[]}
 */
export function linePoints(ring, xMin, xMax, width) {
  /** @type {number[]} */
  const out = [];
  const span = xMax - xMin;
  const scale = span > 0 ? (width - 1) / span : 0;
  const { xs, ys, capacity } = ring;
  if (ring.size <= 2 * width) {
    for (let k = 0, i = ring.start; k < ring.size; k++, i = i + 1 === capacity ? 0 : i + 1) {
      out.push((xs[i] - xMin) * scale, ys[i]);
    }
    return out;
  }
  let col = -1;
  let first = 0;
  let lo = 0;
  let hi = 0;
  let last = 0;
  const flush = () => {
    if (col < 0) return;
    out.push(col, first);
    if (lo !== first) out.push(col, lo);
    if (hi !== lo) out.push(col, hi);
    if (last !== hi) out.push(col, last);
  };
  for (let k = 0, i = ring.start; k < ring.size; k++, i = i + 1 === capacity ? 0 : i + 1) {
    const c = Math.round((xs[i] - xMin) * scale);
    const y = ys[i];
    if (c !== col) {
      flush();
      col = c;
      first = lo = hi = last = y;
    } else {
      if (y < lo) lo = y;
      if (y > hi) hi = y;
      last = y;
    }
  }
  flush();
  return out;
}
