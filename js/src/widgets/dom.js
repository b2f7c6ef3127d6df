// Small DOM helpers shared by the views: element building, the frame (header + status mark +
// body) every widget has, and the message box that replaces a widget that cannot go live.

/**
 * @typedef {Record<string, string | number | boolean | null | undefined | ((e: any) => void)>} Props
 * `on<event>` keys are listeners; `class`, `text`, `title` and other keys are attributes.
 */

/**
 * An element: `h("button", {class: "jps-button", onclick: fn}, "Send")`.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {Document} doc
 * @param {K} tag
 * @param {Props} [props]
 * @param {...(Node | string | null | undefined | false)} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(doc, tag, props = {}, ...children) {
  const el = doc.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = String(v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === "string" ? doc.createTextNode(c) : c);
  }
  return el;
}

/**
 * @typedef {object} Frame
 * @property {HTMLElement} root
 * @property {HTMLElement} header
 * @property {HTMLElement} status the status mark
 * @property {HTMLElement} body
 */

/**
 * A widget's frame: a header with `title` (and `room`), the status mark, and a body.
 * @param {Document} doc
 * @param {string} kind e.g. "chat"
 * @param {string} title
 * @param {string | null} room
 * @returns {Frame}
 */
export function frame(doc, kind, title, room) {
  const status = h(doc, "span", { class: "jps-status", role: "status", "aria-live": "polite" });
  const header = h(
    doc,
    "div",
    { class: "jps-header" },
    h(doc, "span", { class: "jps-title" }, title, room === null ? null : h(doc, "span", { class: "jps-room", text: ` · ${room}` })),
    status,
  );
  const body = h(doc, "div", { class: "jps-body" });
  const root = h(doc, "div", { class: `jps-widget jps-${kind}`, "data-sente-widget": kind }, header, body);
  return { root, header, status, body };
}

/**
 * Show a status on a status mark: phase as a coloured dot and a word, plus the transport.
 * @param {HTMLElement} el
 * @param {import("./page.js").Status} status
 */
export function showStatus(el, status) {
  const word = {
    connected: "connected",
    connecting: "connecting",
    reconnecting: "reconnecting",
    offline: "offline",
    unavailable: "unavailable",
  }[status.phase];
  let text = word;
  if (status.phase === "connected" && status.transport !== null) text += ` · ${status.transport}`;
  if (status.phase === "reconnecting" && status.retryAt !== null) {
    const s = Math.max(0, Math.ceil((status.retryAt - Date.now()) / 1000));
    if (s > 0) text += ` in ${s}s`;
  }
  if (el.textContent !== text) el.textContent = text;
  el.dataset.phase = status.phase;
  el.dataset.transport = status.transport ?? "";
  el.title = status.detail;
}

/**
 * A message box (why the widget is not live), replacing `body`'s content.
 * @param {Document} doc
 * @param {HTMLElement} body
 * @param {string} text
 * @param {"warning" | "error"} [kind]
 */
export function showMessage(doc, body, text, kind = "warning") {
  body.replaceChildren(h(doc, "div", { class: "jps-message", "data-kind": kind, role: "alert", text }));
}

/**
 * "HH:MM:SS" of a Unix ms time, in local time.
 * @param {number} t
 */
export function clock(t) {
  const d = new Date(t);
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, "0")).join(":");
}

/**
 * A readable text colour (black or white) on `bg` (a "#rrggbb" colour); white for anything else.
 * @param {string} bg
 */
export function inkOn(bg) {
  const m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(bg);
  if (m === null) return "#fff";
  const [r, g, b] = [m[1], m[2], m[3]].map((x) => parseInt(x, 16) / 255);
  const lum = 0.2126 * r + 0.7152 * g + 0.0722 * b;
  return lum > 0.6 ? "#000" : "#fff";
}

/**
 * A CSS colour safe to put in a style (identities come from the network): "#rgb[a]" or
 * "#rrggbb[aa]", or `var(--jp-collaborator-colorN)`-like names; else `fallback`.
 * @param {unknown} c
 * @param {string} fallback
 */
export function safeColor(c, fallback) {
  if (typeof c !== "string") return fallback;
  if (/^#(?:[0-9a-f]{3,4}|[0-9a-f]{6}|[0-9a-f]{8})$/i.test(c)) return c;
  if (/^var\(--jp-[a-z0-9-]+\)$/i.test(c)) return c;
  return fallback;
}

/**
 * An identity colour as a text colour readable on the theme's background: mixed with the
 * theme's text colour (lighter on dark themes, darker on light ones).
 * @param {unknown} c
 */
export function nameInk(c) {
  const color = safeColor(c, "");
  return color === "" ? "var(--jps-fg)" : `color-mix(in srgb, ${color} 70%, var(--jps-fg))`;
}
