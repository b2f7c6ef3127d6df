// Inspector(): the page's connection, for teaching and debugging: transport, state timeline,
// handshake data, request round trip, push batching; buttons to disconnect, reconnect and
// force Ajax. The connection is the page's, so the buttons act on every widget of the page.

import { clock, h } from "./dom.js";
import { frameScheduler, liveFrame } from "./view.js";

/**
 * "12.3 ms" (or "–").
 * @param {number | null} ms
 */
export function fmtMs(ms) {
  return ms === null ? "–" : `${ms < 10 ? ms.toFixed(1) : Math.round(ms)} ms`;
}

/** @type {import("./view.js").View} */
export const inspectorView = {
  traits: ["ping_interval"],
  mount(ctx) {
    const { doc, page, model } = ctx;
    const win = /** @type {Window} */ (doc.defaultView);
    const { f, stop } = liveFrame(ctx, "inspector", "Connection inspector", null);
    const root = f.root;

    /** @type {Record<string, HTMLElement>} */
    const dd = {};
    // divs, not dl/dt/dd: the host page's stylesheets style those (JupyterLab floats dt)
    const grid = h(doc, "div", { class: "jps-inspector-grid" });
    for (const [key, label] of [
      ["server", "server"],
      ["transport", "transport"],
      ["state", "state"],
      ["client", "client-id"],
      ["uid", "uid"],
      ["handshake", "handshake data"],
      ["rtt", "round trip"],
      ["batching", "push batching"],
      ["pings", "server pings"],
      ["rooms", "rooms on this page"],
    ]) {
      dd[key] = h(doc, "div", { class: "jps-value", "data-field": key });
      grid.append(h(doc, "div", { class: "jps-label", text: label }), dd[key]);
    }
    const timeline = h(doc, "ol", { class: "jps-timeline", "aria-label": "state timeline" });

    const button = (/** @type {string} */ text, /** @type {() => void} */ onclick, /** @type {string} */ title) =>
      h(doc, "button", { class: "jps-button", type: "button", text, title, onclick });
    const bDisconnect = button("Disconnect", () => page.disconnect(), "Close the page's connection (every jupyter-sente widget on this page goes offline)");
    const bReconnect = button("Reconnect", () => page.reconnect(), "Close and connect again at once");
    const bAjax = button(
      "Force Ajax",
      () => page.switchType(page.type === "ajax" ? "auto" : "ajax"),
      "Switch between Ajax long-polling and WebSocket (auto)",
    );
    const bPing = button("Ping", () => void page.measureRtt(), "Ping the server now: one round trip");
    f.body.append(
      grid,
      h(doc, "div", { class: "jps-section", text: "state timeline" }),
      timeline,
      h(doc, "div", { class: "jps-row jps-buttons" }, bDisconnect, bReconnect, bAjax, bPing),
    );

    /**
     * @param {string} key
     * @param {string} text
     */
    const set = (key, text) => {
      if (dd[key].textContent !== text) dd[key].textContent = text;
    };

    let shownTimeline = -1;
    const render = () => {
      const chsk = page.chsk;
      const st = page.status;
      root.dataset.transport = st.transport ?? "";
      root.dataset.rtt = page.rtt.last === null ? "" : page.rtt.last.toFixed(2);
      set("server", page.url || "none");
      set("transport", chsk === null ? "–" : `${chsk.transport ?? "–"} (requested: ${chsk.type})`);
      set("state", chsk === null ? st.phase : `${chsk.connState}${chsk.isOpen ? "" : ` — ${st.detail}`}`);
      set("client", page.clientId ?? "–");
      const hs = page.handshake;
      set("uid", hs === null ? "–" : String(hs.uid));
      set("handshake", hs === null ? "–" : `${hs.edn}  (${hs.first ? "first handshake" : "handshake"} at ${clock(hs.t)})`);
      const r = page.rtt;
      set("rtt", r.last === null ? "–" : `${fmtMs(r.last)} (min ${fmtMs(r.min)}, avg ${fmtMs(r.avg)}, ${r.count} ${r.count === 1 ? "sample" : "samples"})`);
      const b = page.batches;
      set(
        "batching",
        b.frames === 0
          ? "no pushes yet"
          : `${b.events} events in ${b.frames} frames (${(b.events / b.frames).toFixed(2)} per frame; last ${b.lastPerFrame}, max ${b.maxPerFrame})`,
      );
      set("pings", String(b.serverPings));
      set("rooms", [...page.rooms.values()].map((room) => `${room.name}${room.joined ? "" : " (not joined)"}`).join(", ") || "none");
      const open = chsk?.isOpen ?? false;
      bDisconnect.disabled = chsk === null || chsk.connState === "disconnected";
      bReconnect.disabled = chsk === null;
      bAjax.disabled = chsk === null;
      bAjax.textContent = page.type === "ajax" ? "Use WebSocket" : "Force Ajax";
      bPing.disabled = !open;
      if (shownTimeline !== page.timelineCount) {
        shownTimeline = page.timelineCount;
        timeline.replaceChildren(
          ...page.timeline.map((e) =>
            h(doc, "li", {
              "data-state": e.state,
              text: `${clock(e.t)}  ${e.state}${e.transport ? ` · ${e.transport}` : ""}${e.reason ? `  (${e.reason})` : ""}`,
            }),
          ),
        );
        timeline.scrollTop = timeline.scrollHeight;
      }
    };
    const scheduler = frameScheduler(win, render);
    const off = page.watch(() => scheduler.schedule());
    render();

    // measure the round trip now and then while open (and once right after opening)
    const every = Number(model.get("ping_interval"));
    /** @type {ReturnType<typeof setInterval> | null} */
    let pinger = null;
    let wasOpen = false;
    const offOpen = page.watch(() => {
      const open = page.chsk?.isOpen ?? false;
      if (open && !wasOpen) void page.measureRtt();
      wasOpen = open;
    });
    if (page.chsk?.isOpen) {
      wasOpen = true;
      void page.measureRtt();
    }
    if (every > 0) {
      pinger = setInterval(() => {
        if (page.chsk?.isOpen) void page.measureRtt();
      }, every * 1000);
    }
    return () => {
      if (pinger !== null) clearInterval(pinger);
      offOpen();
      off();
      scheduler.cancel();
      stop();
    };
  },
};
