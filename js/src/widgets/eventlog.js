// EventLog(room): every event published in a room (and, optionally, who joined and left), as
// it arrives, newest last, with a filter box.

import { clock, h, nameInk } from "./dom.js";
import { presenceMembers } from "./plain.js";
import { frameScheduler, liveFrame } from "./view.js";

const MAX_TEXT = 400;

/**
 * @typedef {object} LogRow
 * @property {number} t
 * @property {"event" | "presence"} kind
 * @property {string} who
 * @property {string} color
 * @property {string} id
 * @property {string} text
 */

/**
 * True when `row` matches the filter text (case-insensitive, every word somewhere in the row).
 * @param {LogRow} row
 * @param {string} filter
 */
export function rowMatches(row, filter) {
  const words = filter.toLowerCase().split(/\s+/).filter(Boolean);
  if (words.length === 0) return true;
  const hay = `${row.id} ${row.who} ${row.text}`.toLowerCase();
  return words.every((w) => hay.includes(w));
}

/** @type {import("./view.js").View} */
export const eventLogView = {
  traits: ["room", "max_rows", "show_presence"],
  mount(ctx) {
    const { doc, page, model } = ctx;
    const win = /** @type {Window} */ (doc.defaultView);
    const room = String(model.get("room"));
    const maxRows = Math.max(10, Math.floor(Number(model.get("max_rows")) || 1000));
    const showPresence = model.get("show_presence") !== false;
    const { f, stop } = liveFrame(ctx, "eventlog", "Event log", room);

    const filter = h(doc, "input", { class: "jps-input jps-grow", type: "search", placeholder: "filter (id, sender, data)", "aria-label": "filter events" });
    const count = h(doc, "span", { class: "jps-muted", "aria-live": "polite" });
    const clear = h(doc, "button", { class: "jps-button", type: "button", text: "Clear" });
    const rows = h(doc, "div", { class: "jps-log-rows", role: "log", "aria-label": `events in ${room}` });
    f.body.append(h(doc, "div", { class: "jps-row" }, filter, clear, count), rows);

    /** @type {{row: LogRow, el: HTMLElement}[]} */
    let shown = [];
    /** @type {LogRow[]} */
    let pending = [];

    const updateCount = () => {
      const visible = shown.filter((s) => !s.el.hidden).length;
      count.textContent = filter.value.trim() === "" ? `${shown.length} events` : `${visible} of ${shown.length}`;
    };

    /** @param {LogRow} row */
    const rowEl = (row) => {
      const who = h(doc, "span", { text: row.who, title: row.who });
      who.style.color = row.color;
      return h(
        doc,
        "div",
        { class: "jps-log-row", "data-kind": row.kind, "data-id": row.id },
        h(doc, "span", { text: clock(row.t) }),
        who,
        h(doc, "span", { text: row.id, title: row.id }),
        h(doc, "span", { text: row.text, title: row.text }),
      );
    };

    // rows arrive in bursts: add them once per animation frame
    const flush = () => {
      if (pending.length === 0) return;
      const atBottom = rows.scrollHeight - rows.scrollTop - rows.clientHeight < 24;
      const text = filter.value;
      const frag = doc.createDocumentFragment();
      for (const row of pending) {
        const el = rowEl(row);
        el.hidden = !rowMatches(row, text);
        shown.push({ row, el });
        frag.append(el);
      }
      pending = [];
      rows.append(frag);
      if (shown.length > maxRows) {
        for (const s of shown.splice(0, shown.length - maxRows)) s.el.remove();
      }
      if (atBottom) rows.scrollTop = rows.scrollHeight;
      updateCount();
    };
    const scheduler = frameScheduler(win, flush);

    /** @param {LogRow} row */
    const add = (row) => {
      pending.push(row);
      if (pending.length > maxRows) pending.splice(0, pending.length - maxRows);
      scheduler.schedule();
    };

    filter.addEventListener("input", () => {
      for (const s of shown) s.el.hidden = !rowMatches(s.row, filter.value);
      updateCount();
    });
    clear.addEventListener("click", () => {
      for (const s of shown) s.el.remove();
      shown = [];
      pending = [];
      updateCount();
    });

    /**
     * @param {import("./plain.js").PresenceState} state
     * @param {string} what
     */
    const logPresence = (state, what) => {
      for (const m of presenceMembers(state)) {
        for (const c of m.conns ?? []) {
          add({
            t: Date.now(),
            kind: "presence",
            who: String(m["display-name"] ?? m.uid),
            color: nameInk(m.color),
            id: what,
            text: `${c.kind}${c.notebook ? ` ${c.notebook}` : ""} ${c["client-id"]}`,
          });
        }
      }
    };

    const leave = page.joinRoom(room, {
      onEvent: (ev) => {
        const text = ev.edn.length > MAX_TEXT ? ev.edn.slice(0, MAX_TEXT - 1) + "…" : ev.edn;
        add({
          t: ev.t,
          kind: "event",
          who: String(ev.from["display-name"] ?? ev.from.uid ?? "?") + (ev.from.kind && ev.from.kind !== "tab" ? ` (${ev.from.kind})` : ""),
          color: nameInk(ev.from.color),
          id: ev.id,
          text,
        });
      },
      onRoom: (_info, change) => {
        if (!showPresence || change === null) return;
        logPresence(change.leaves, "left");
        logPresence(change.joins, "joined");
      },
    });
    updateCount();
    return () => {
      scheduler.cancel();
      leave();
      stop();
    };
  },
};
