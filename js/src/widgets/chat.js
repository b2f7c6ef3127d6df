// Chat(room): messages of one event id in a room, with sender name and colour; an input box.
//
// A message is `[event {"text": "..."}]` (a bare string is taken as the text too). The sender
// is who the server says published it (`:from`), not anything in the message.

import { clock, h, nameInk } from "./dom.js";
import { liveFrame } from "./view.js";

const MAX_MESSAGES = 500;

/**
 * The text of a chat message's data, or null if it has none.
 * @param {any} data
 * @returns {string | null}
 */
export function messageText(data) {
  if (typeof data === "string") return data;
  if (data !== null && typeof data === "object" && typeof data.text === "string") return data.text;
  return null;
}

/**
 * The name to show for a sender.
 * @param {Record<string, any>} from
 */
export function senderName(from) {
  return String(from["display-name"] ?? from.name ?? from.uid ?? "?");
}

/** @type {import("./view.js").View} */
export const chatView = {
  traits: ["room", "event", "placeholder"],
  mount(ctx) {
    const { doc, page, model } = ctx;
    const room = String(model.get("room"));
    const eventId = String(model.get("event"));
    const { f, stop } = liveFrame(ctx, "chat", "Chat", room);

    const log = h(doc, "div", { class: "jps-chat-log", role: "log", "aria-live": "polite", "aria-label": `messages in ${room}` });
    const input = h(doc, "input", {
      class: "jps-input jps-grow",
      type: "text",
      "aria-label": "message",
      placeholder: String(model.get("placeholder") || "Message (Enter sends)"),
      maxlength: 4000,
    });
    const send = h(doc, "button", { class: "jps-button jps-accept", type: "submit", text: "Send" });
    const hint = h(doc, "div", { class: "jps-muted", "aria-live": "polite" });
    const form = h(doc, "form", { class: "jps-row jps-chat-form" }, input, send);
    f.body.append(log, form, hint);
    input.addEventListener("input", () => {
      if (sendError === null) return;
      sendError = null;
      updateForm();
    });

    let joined = false;
    let sending = false;
    /** @type {string | null} */
    let joinError = null;
    /** @type {string | null} */
    let sendError = null;
    const updateForm = () => {
      const phase = page.status.phase;
      const ready = joined && phase === "connected";
      send.disabled = !ready || sending;
      let text = "";
      if (joinError !== null) text = `cannot join ${room}: ${joinError}`;
      else if (sendError !== null) text = `not sent: ${sendError}`;
      else if (phase === "unavailable") text = "";
      else if (!ready) text = phase === "connected" ? `joining ${room}…` : "offline: messages cannot be sent now";
      else if (page.handshake !== null) text = `you are ${senderName({ uid: page.handshake.uid, ...page.handshake.data })}`;
      if (hint.textContent !== text) hint.textContent = text;
    };

    /** @param {import("./page.js").RoomEvent} ev */
    const add = (ev) => {
      const text = messageText(ev.data) ?? ev.edn;
      const from = ev.from;
      const name = h(doc, "span", { class: "jps-chat-name", text: senderName(from) });
      name.style.color = nameInk(from.color);
      const line = h(
        doc,
        "div",
        { class: "jps-chat-msg", "data-kind": String(from.kind ?? "") },
        h(doc, "span", { class: "jps-chat-time", text: clock(ev.t) }),
        name,
        from.kind === "kernel" || from.kind === "program" ? h(doc, "span", { class: "jps-badge", text: String(from.kind) }) : null,
        h(doc, "span", { class: "jps-chat-text", text }),
      );
      const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 24;
      log.append(line);
      while (log.childElementCount > MAX_MESSAGES) log.firstElementChild?.remove();
      if (atBottom) log.scrollTop = log.scrollHeight;
    };

    const submit = async () => {
      const text = input.value.trim();
      if (text === "" || send.disabled) return;
      sending = true;
      updateForm();
      input.value = "";
      const r = await page.publish(room, eventId, { text });
      sending = false;
      sendError = r.ok ? null : String(r.error ?? "refused");
      if (!r.ok && input.value === "") input.value = text;
      updateForm();
    };
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      void submit();
    });
    // Enter sends by itself: implicit form submission does not happen inside JupyterLab's
    // output areas (and other hosts), so do not rely on it.
    input.addEventListener("keydown", (e) => {
      if (e.key !== "Enter" || e.shiftKey || e.isComposing) return;
      e.preventDefault();
      void submit();
    });

    const leave = page.joinRoom(room, {
      onEvent: (ev) => {
        if (ev.id === eventId) add(ev);
      },
      onRoom: (info) => {
        joined = info.joined;
        joinError = info.error;
        updateForm();
      },
    });
    const off = page.watch(updateForm);
    updateForm();
    return () => {
      off();
      leave();
      stop();
    };
  },
};
