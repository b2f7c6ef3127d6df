// Presence(room): who is in the room, one line per user (Jupyter identity and colour), with
// their connections: browser tabs, kernels (and the notebook each runs), programs.

import { h, inkOn, safeColor } from "./dom.js";
import { presenceMembers } from "./plain.js";
import { liveFrame } from "./view.js";

const FALLBACK_COLOR = "#757575";

/**
 * A connection's label: "tab", "this tab", "kernel · nb.ipynb", "program".
 * @param {import("./plain.js").PresenceConn} conn
 * @param {string | null} ownClientId
 */
export function connLabel(conn, ownClientId) {
  const kind = String(conn.kind ?? "tab");
  if (kind === "tab") return conn["client-id"] === ownClientId ? "this tab" : "tab";
  if (kind === "kernel" && conn.notebook) return `kernel · ${basename(String(conn.notebook))}`;
  return kind;
}

/** @param {string} path */
function basename(path) {
  const i = path.lastIndexOf("/");
  return i >= 0 ? path.slice(i + 1) : path;
}

/** @type {import("./view.js").View} */
export const presenceView = {
  traits: ["room"],
  mount(ctx) {
    const { doc, page, model } = ctx;
    const room = String(model.get("room"));
    const { f, stop } = liveFrame(ctx, "presence", "Presence", room);
    const summary = h(doc, "div", { class: "jps-muted", "aria-live": "polite" });
    const list = h(doc, "ul", { class: "jps-people", "aria-label": `people in ${room}` });
    f.body.append(summary, list);

    /** @param {import("./page.js").RoomInfo} info */
    const draw = (info) => {
      if (info.error !== null) {
        summary.textContent = `cannot join ${room}: ${info.error}`;
        list.replaceChildren();
        return;
      }
      if (info.presence === null) {
        summary.textContent = `joining ${room}…`;
        return;
      }
      const members = presenceMembers(info.presence);
      const conns = members.reduce((n, m) => n + (m.conns?.length ?? 0), 0);
      summary.textContent = `${members.length} ${members.length === 1 ? "person" : "people"}, ${conns} ${conns === 1 ? "connection" : "connections"}`;
      const ownUid = page.handshake?.uid ?? null;
      list.replaceChildren(
        ...members.map((m) => {
          const color = safeColor(m.color, FALLBACK_COLOR);
          const avatar = h(doc, "span", { class: "jps-avatar", "aria-hidden": "true", text: String(m.initials ?? "?").slice(0, 2) });
          avatar.style.background = color;
          avatar.style.color = inkOn(color);
          const name = String(m["display-name"] ?? m.name ?? m.uid);
          return h(
            doc,
            "li",
            { class: "jps-person", "data-uid": String(m.uid) },
            avatar,
            h(
              doc,
              "div",
              {},
              h(doc, "span", { class: "jps-person-name", text: name }),
              m.uid === ownUid ? h(doc, "span", { class: "jps-muted", text: " (you)" }) : null,
              h(
                doc,
                "div",
                { class: "jps-conns" },
                ...(m.conns ?? []).map((c) =>
                  h(doc, "span", {
                    class: "jps-conn",
                    "data-kind": String(c.kind),
                    "data-self": String(c["client-id"] === page.clientId),
                    title: `client-id ${c["client-id"]}${c.notebook ? `, ${c.notebook}` : ""}`,
                    text: connLabel(c, page.clientId),
                  }),
                ),
              ),
            ),
          );
        }),
      );
    };

    const leave = page.joinRoom(room, { onRoom: draw });
    return () => {
      leave();
      stop();
    };
  },
};
