// LivePlot(room, event): a streaming line chart of the numbers published as `event` in a room.
//
// Points go into one ring buffer per series (the newest `max_points` kept); the canvas is
// redrawn at most once per animation frame, and only when something changed, with each line
// decimated to the canvas width, so the cost per frame does not grow with the points kept.
// The element's data attributes tell how it goes (data-points, data-series, data-frames,
// data-draw-ms: the mean draw time of the last 60 frames).

import { h } from "./dom.js";
import { Ring, extent, linePoints, niceTicks, pointsOf } from "./plotdata.js";
import { frameScheduler, liveFrame } from "./view.js";

/** Series colours that read on light and dark themes alike. */
export const PALETTE = ["#3b82f6", "#f97316", "#22c55e", "#ef4444", "#a855f7", "#14b8a6", "#eab308", "#ec4899"];
const MAX_SERIES = 16;
const PAD = { left: 52, right: 10, top: 8, bottom: 22 };

/**
 * A short label for an axis value.
 * @param {number} v
 * @param {number} step the tick spacing, which decides the decimals
 */
export function tickLabel(v, step) {
  if (Math.abs(v) >= 1e6 || (Math.abs(v) < 1e-3 && v !== 0)) return v.toExponential(1);
  const decimals = step >= 1 ? 0 : Math.min(6, Math.ceil(-Math.log10(step)));
  return v.toFixed(decimals);
}

/** @type {import("./view.js").View} */
export const livePlotView = {
  traits: ["room", "event", "max_points", "height", "title"],
  mount(ctx) {
    const { doc, page, model } = ctx;
    const win = /** @type {Window} */ (doc.defaultView);
    const room = String(model.get("room"));
    const eventId = String(model.get("event"));
    const capacity = Math.max(2, Math.floor(Number(model.get("max_points")) || 10_000));
    const height = Math.max(80, Math.floor(Number(model.get("height")) || 240));
    const { f, stop } = liveFrame(ctx, "liveplot", String(model.get("title") || eventId), room);

    const legend = h(doc, "div", { class: "jps-legend", "aria-live": "off" });
    const canvas = h(doc, "canvas", { class: "jps-plot-canvas", role: "img", "aria-label": `live plot of ${eventId} in ${room}` });
    canvas.style.height = `${height}px`;
    const stats = h(doc, "div", { class: "jps-muted" });
    f.body.append(legend, canvas, stats);
    const root = f.root;

    /** @type {Map<string, {ring: Ring, color: string, label: HTMLElement}>} */
    const series = new Map();
    const t0 = performance.now();
    let dropped = 0;
    let frames = 0;
    /** @type {number[]} */
    const drawTimes = [];
    /** @type {{fg: string, grid: string, font: string, at: number}} */
    const ink = { fg: "#888", grid: "#8884", font: "11px sans-serif", at: -Infinity };

    const readInk = () => {
      const css = win.getComputedStyle(root);
      ink.fg = css.getPropertyValue("--jps-fg2").trim() || ink.fg;
      ink.grid = css.getPropertyValue("--jps-border").trim() || ink.grid;
      // a canvas font cannot use var(): take the family the theme resolved to
      ink.font = `11px ${css.fontFamily || "sans-serif"}`;
      ink.at = performance.now();
    };

    const draw = () => {
      const started = performance.now();
      if (started - ink.at > 500) readInk();
      const dpr = win.devicePixelRatio || 1;
      const cssW = Math.max(100, canvas.clientWidth);
      const w = Math.round(cssW * dpr);
      const hgt = Math.round(height * dpr);
      if (canvas.width !== w || canvas.height !== hgt) {
        canvas.width = w;
        canvas.height = hgt;
      }
      const g = canvas.getContext("2d");
      if (g === null) return;
      g.setTransform(dpr, 0, 0, dpr, 0, 0);
      g.clearRect(0, 0, cssW, height);
      const plotW = cssW - PAD.left - PAD.right;
      const plotH = height - PAD.top - PAD.bottom;
      const ext = extent([...series.values()].map((s) => s.ring));
      g.font = ink.font;
      g.fillStyle = ink.fg;
      if (ext === null) {
        g.fillText(`waiting for ${eventId} in ${room}…`, PAD.left, PAD.top + 14);
      } else {
        let { xMin, xMax, yMin, yMax } = ext;
        if (xMax === xMin) xMax = xMin + 1;
        if (yMax === yMin) {
          yMin -= 1;
          yMax += 1;
        }
        const yPad = (yMax - yMin) * 0.05;
        yMin -= yPad;
        yMax += yPad;
        const sx = (/** @type {number} */ x) => PAD.left + ((x - xMin) / (xMax - xMin)) * plotW;
        const sy = (/** @type {number} */ y) => PAD.top + (1 - (y - yMin) / (yMax - yMin)) * plotH;
        g.strokeStyle = ink.grid;
        g.lineWidth = 1;
        g.textAlign = "right";
        g.textBaseline = "middle";
        const yt = niceTicks(yMin, yMax, Math.max(2, Math.floor(plotH / 40)));
        const yStep = yt.length > 1 ? yt[1] - yt[0] : 1;
        g.beginPath();
        for (const v of yt) {
          const py = Math.round(sy(v)) + 0.5;
          g.moveTo(PAD.left, py);
          g.lineTo(PAD.left + plotW, py);
          g.fillText(tickLabel(v, yStep), PAD.left - 6, py);
        }
        g.textAlign = "center";
        g.textBaseline = "top";
        const xt = niceTicks(xMin, xMax, Math.max(2, Math.floor(plotW / 90)));
        const xStep = xt.length > 1 ? xt[1] - xt[0] : 1;
        for (const v of xt) {
          const px = Math.round(sx(v)) + 0.5;
          g.moveTo(px, PAD.top);
          g.lineTo(px, PAD.top + plotH);
          g.fillText(tickLabel(v, xStep), px, PAD.top + plotH + 5);
        }
        g.stroke();
        g.save();
        g.beginPath();
        g.rect(PAD.left, PAD.top, plotW, plotH);
        g.clip();
        g.lineWidth = 1.5;
        g.lineJoin = "round";
        const cols = Math.max(2, Math.round(plotW));
        for (const s of series.values()) {
          const pts = linePoints(s.ring, xMin, xMax, cols);
          if (pts.length === 0) continue;
          g.strokeStyle = s.color;
          g.beginPath();
          g.moveTo(PAD.left + pts[0], sy(pts[1]));
          for (let i = 2; i < pts.length; i += 2) g.lineTo(PAD.left + pts[i], sy(pts[i + 1]));
          if (pts.length === 2) g.lineTo(PAD.left + pts[0] + 1, sy(pts[1]));
          g.stroke();
        }
        g.restore();
      }
      let points = 0;
      for (const s of series.values()) {
        points += s.ring.size;
        const y = s.ring.lastY();
        const text = y === null ? s.label.dataset.name ?? "" : `${s.label.dataset.name} ${tickLabel(y, 0.01)}`;
        if (s.label.textContent !== text) s.label.textContent = text;
      }
      frames++;
      drawTimes.push(performance.now() - started);
      if (drawTimes.length > 60) drawTimes.shift();
      const mean = drawTimes.reduce((a, b) => a + b, 0) / drawTimes.length;
      root.dataset.points = String(points);
      root.dataset.series = String(series.size);
      root.dataset.frames = String(frames);
      root.dataset.drawMs = mean.toFixed(2);
      stats.textContent =
        `${points} points in ${series.size} series (up to ${capacity} each)` + (dropped > 0 ? `; ${dropped} points of series beyond ${MAX_SERIES} ignored` : "");
    };
    const scheduler = frameScheduler(win, draw);

    /** @param {string} name */
    const seriesFor = (name) => {
      let s = series.get(name);
      if (s === undefined) {
        if (series.size >= MAX_SERIES) return undefined;
        const color = PALETTE[series.size % PALETTE.length];
        const label = h(doc, "span", { class: "jps-legend-item", "data-name": name, text: name });
        label.style.setProperty("--jps-swatch", color);
        legend.append(label);
        s = { ring: new Ring(capacity), color, label };
        series.set(name, s);
      }
      return s;
    };

    const leave = page.joinRoom(room, {
      onEvent: (ev) => {
        if (ev.id !== eventId) return;
        const now = (performance.now() - t0) / 1000;
        for (const p of pointsOf(ev.data)) {
          const s = seriesFor(p.series);
          if (s === undefined) dropped++;
          else s.ring.push(p.x ?? now, p.y);
        }
        scheduler.schedule();
      },
    });
    const resize = new ResizeObserver(() => scheduler.schedule());
    resize.observe(canvas);
    scheduler.schedule();
    return () => {
      resize.disconnect();
      scheduler.cancel();
      leave();
      stop();
    };
  },
};
