// jupyter-sente's notebook widgets, as one anywidget module (built to
// jupyter_sente/static/widgets.js). The Python class says which view it wants in the synced
// trait `_sente_view`; every view on a page shares the page's one channel socket (page.js).

import { chatView } from "./chat.js";
import { showMessage } from "./dom.js";
import { eventLogView } from "./eventlog.js";
import { inspectorView } from "./inspector.js";
import { livePlotView } from "./liveplot.js";
import { acquirePage } from "./page.js";
import { presenceView } from "./presence.js";
import { ensureStyle } from "./style.js";

export { acquirePage, findServer, readCookie, MESSAGES, PageSocket } from "./page.js";

/** @type {Record<string, import("./view.js").View>} */
export const VIEWS = {
  chat: chatView,
  presence: presenceView,
  liveplot: livePlotView,
  eventlog: eventLogView,
  inspector: inspectorView,
};

/**
 * Mount `view`, or show why it failed instead of a blank box.
 * @param {import("./view.js").View} view
 * @param {import("./view.js").ViewContext} ctx
 * @returns {() => void}
 */
function mountSafely(view, ctx) {
  try {
    return view.mount(ctx);
  } catch (e) {
    console.error("jupyter-sente widget failed:", e);
    const box = ctx.doc.createElement("div");
    box.className = "jps-widget";
    ctx.el.replaceChildren(box);
    showMessage(ctx.doc, box, `jupyter-sente widget failed: ${e instanceof Error ? e.message : String(e)}`, "error");
    return () => {};
  }
}

/**
 * anywidget's render: one view of a model in `el`; returns its cleanup.
 * @param {{model: import("./view.js").Model, el: HTMLElement}} args
 */
function render({ model, el }) {
  const doc = el.ownerDocument;
  ensureStyle(doc);
  const kind = String(model.get("_sente_view"));
  const view = VIEWS[kind];
  if (view === undefined) {
    const box = doc.createElement("div");
    box.className = "jps-widget";
    el.replaceChildren(box);
    showMessage(doc, box, `jupyter-sente: no widget view named "${kind}" in this bundle (is the Python package newer than its static files?)`, "error");
    return () => {};
  }
  const page = acquirePage(/** @type {Window & typeof globalThis} */ (doc.defaultView));
  const ctx = { model, el, doc, page };
  let cleanup = mountSafely(view, ctx);
  const remount = () => {
    cleanup();
    cleanup = mountSafely(view, ctx);
  };
  for (const t of view.traits) model.on(`change:${t}`, remount);
  return () => {
    for (const t of view.traits) model.off(`change:${t}`, remount);
    cleanup();
    page.release();
  };
}

// Only the default export: anywidget (0.9+) warns about a module that exports `render` by name.
export default { render };
