// What every view shares: the frame, the status mark kept current, and the notice that
// replaces the body when the page has no usable server.

import { frame, showStatus } from "./dom.js";

/**
 * The slice of anywidget's model proxy the views use.
 * @typedef {object} Model
 * @property {(name: string) => any} get
 * @property {(event: string, fn: (...args: any[]) => void) => void} on
 * @property {(event?: string | null, fn?: ((...args: any[]) => void) | null) => void} off
 */

/**
 * What a view's mount function gets.
 * @typedef {object} ViewContext
 * @property {Model} model
 * @property {HTMLElement} el the output element
 * @property {Document} doc
 * @property {import("./page.js").PageSocket} page
 */

/**
 * A view: mounts into `ctx.el`, returns its cleanup. `traits` are the model traits whose change
 * mounts it again.
 * @typedef {{mount: (ctx: ViewContext) => () => void, traits: string[]}} View
 */

/**
 * A frame in `ctx.el` whose status mark follows the page, and whose body gives way to a
 * message when the page cannot connect. Returns the frame and a cleanup.
 * @param {ViewContext} ctx
 * @param {string} kind
 * @param {string} title
 * @param {string | null} room
 * @returns {{f: import("./dom.js").Frame, stop: () => void}}
 */
export function liveFrame(ctx, kind, title, room) {
  const { doc, page } = ctx;
  const f = frame(doc, kind, title, room);
  const notice = doc.createElement("div");
  notice.className = "jps-message";
  notice.dataset.kind = "error";
  notice.setAttribute("role", "alert");
  notice.hidden = true;
  f.header.after(notice);
  ctx.el.replaceChildren(f.root);

  /** @type {ReturnType<typeof setInterval> | null} */
  let ticker = null;
  const update = () => {
    const s = page.status;
    showStatus(f.status, s);
    f.root.dataset.phase = s.phase;
    const unavailable = s.phase === "unavailable";
    notice.hidden = !unavailable;
    f.body.hidden = unavailable;
    if (unavailable && notice.textContent !== s.detail) notice.textContent = s.detail;
    // the "reconnecting in Ns" countdown needs a tick while a retry is scheduled
    if (s.retryAt !== null && ticker === null) ticker = setInterval(update, 1000);
    if (s.retryAt === null && ticker !== null) {
      clearInterval(ticker);
      ticker = null;
    }
  };
  const off = page.watch(update);
  update();
  return {
    f,
    stop: () => {
      off();
      if (ticker !== null) clearInterval(ticker);
    },
  };
}

/**
 * A function that runs `fn` once in the next animation frame, however often it is called.
 * @param {Window} win
 * @param {() => void} fn
 * @returns {{schedule: () => void, cancel: () => void}}
 */
export function frameScheduler(win, fn) {
  /** @type {number | null} */
  let handle = null;
  return {
    schedule() {
      if (handle !== null) return;
      handle = win.requestAnimationFrame(() => {
        handle = null;
        fn();
      });
    },
    cancel() {
      if (handle !== null) win.cancelAnimationFrame(handle);
      handle = null;
    },
  };
}
