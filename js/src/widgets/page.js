// The page's one channel socket, shared by every jupyter-sente widget view on the page.
//
// It lives on `window` under a global symbol, not in this module: anywidget imports each
// widget class's ESM from its own Blob URL, so several copies of this module may run on one
// page, and they must all find the same socket. For the same reason everything it hands to
// views is plain data (see plain.js), and views pass plain data and "ns/name" strings in.
//
// The server is the one that served the page: `#jupyter-config-data`'s `baseUrl` (JupyterLab 4,
// Notebook 7, and under JupyterHub), authenticated as the page is (its same-origin cookies,
// with the `_xsrf` cookie as Sente's CSRF token).

import { CHSK_HANDSHAKE, CHSK_STATE, CHSK_WS_PING, ChannelSocket, PACKER_NAMES, isReplyError, kw } from "../index.js";
import { applyPresenceDiff, ednText, fromPlain, plain } from "./plain.js";

/** @typedef {import("./plain.js").PresenceState} PresenceState */
/** @typedef {import("../index.js").ChannelSocket} Chsk */

/** Where the channel socket lives under the server's base URL. */
export const CHSK_PATH = "sente/chsk";
/** The extension's entry in the page config: `{packer}` (SenteApp.publish_page_config). */
export const PAGE_CONFIG_KEY = "jupyterSente";
const PAGE_KEY = Symbol.for("jupyter-sente.page-socket");
/** After the last view goes, the socket stays this long (a re-run cell renders new views). */
const IDLE_CLOSE_MS = 30_000;
const REPLY_TIMEOUT_MS = 10_000;
const TIMELINE_MAX = 60;

const ROOM_JOIN = kw("sente.room/join");
const ROOM_LEAVE = kw("sente.room/leave");
const ROOM_PUBLISH = kw("sente.room/publish");
const ROOM_EVENT = kw("sente.room/event");
const ROOM_PRESENCE = kw("sente.room/presence");
const ROOM_PRESENCE_DIFF = kw("sente.room/presence-diff");
const K_ROOM = kw("room");
const K_EVENT = kw("event");
const K_INCLUDE_SELF = kw("include-self?");

export const MESSAGES = Object.freeze({
  noServer:
    "No Jupyter server behind this page. jupyter-sente widgets connect to the Jupyter server " +
    "that serves JupyterLab or Notebook 7 (with the jupyter_sente extension); this page " +
    "(VS Code, a static HTML export, another front end) has none, so the widget cannot go live here.",
  /** @param {string} url */
  noExtension: (url) =>
    `This Jupyter server has no jupyter_sente extension (${url} answered 404). Enable it with ` +
    "`jupyter server extension enable jupyter_sente` and restart the server.",
  /** @param {number} status */
  forbidden: (status) =>
    `The Jupyter server refused the channel socket (HTTP ${status}): not logged in any more, ` +
    "or not allowed to use jupyter_sente. Log in again and reload the page.",
  /** @param {string} packer */
  unknownPacker: (packer) =>
    `This Jupyter server's jupyter_sente uses the packer ${JSON.stringify(packer)}, which these ` +
    `widgets do not know (${PACKER_NAMES.join(", ")}): the Python package and its widget bundle ` +
    "do not match. Reinstall jupyter-sente and reload the page.",
});

/**
 * @typedef {"connecting" | "connected" | "reconnecting" | "offline" | "unavailable"} Phase
 * @typedef {object} Status
 * @property {Phase} phase
 * @property {"ws" | "ajax" | null} transport
 * @property {string} detail a sentence for a title or a message box
 * @property {number | null} retryAt Unix ms of the next reconnect attempt, when waiting for one
 */

/**
 * @typedef {object} RoomEvent an event published to a room, as views see it
 * @property {string} room
 * @property {string} id the event id, "ns/name"
 * @property {any} data plain data
 * @property {string} edn the data as EDN text
 * @property {Record<string, any>} from the sender: uid, name, display-name, color, kind, client-id...
 * @property {number} t Unix ms when it arrived
 */

/**
 * @typedef {object} RoomInfo
 * @property {string} name
 * @property {boolean} joined
 * @property {string | null} error why the last join failed
 * @property {PresenceState | null} presence
 */

/**
 * @typedef {object} RoomListener
 * @property {(ev: RoomEvent) => void} [onEvent]
 * @property {(info: RoomInfo, change: {joins: PresenceState, leaves: PresenceState} | null) => void} [onRoom]
 *   the room's join state or presence changed (`change` is the diff, when it was one)
 */

/**
 * @typedef {object} TimelineEntry
 * @property {number} t Unix ms
 * @property {string} state idle, connecting, open, retry-wait, disconnected, unavailable
 * @property {"ws" | "ajax" | null} transport
 * @property {string | null} reason the last close reason, when the change was a close
 */

/**
 * @typedef {object} RoomState
 * @property {string} name
 * @property {Set<RoomListener>} listeners
 * @property {boolean} joined
 * @property {string | null} error
 * @property {PresenceState | null} presence
 */

/**
 * Where the page's Jupyter server is: `{url, baseUrl, packer}` of its channel socket, or `{error}`.
 * The packer is the extension's (`SenteApp.packer`), from the page config: the handshake is
 * already packed with it. A page config without the entry (no extension, or an older one) means EDN.
 * @param {Document} doc
 * @returns {{url: string, baseUrl: string, packer: string} | {error: string}}
 */
export function findServer(doc) {
  const el = doc.getElementById("jupyter-config-data");
  if (el === null) return { error: MESSAGES.noServer };
  /** @type {any} */
  let cfg;
  try {
    cfg = JSON.parse(el.textContent || "{}");
  } catch {
    return { error: MESSAGES.noServer };
  }
  let baseUrl = typeof cfg?.baseUrl === "string" && cfg.baseUrl !== "" ? cfg.baseUrl : "/";
  if (!baseUrl.startsWith("/")) baseUrl = "/" + baseUrl;
  if (!baseUrl.endsWith("/")) baseUrl += "/";
  const packer = cfg?.[PAGE_CONFIG_KEY]?.packer ?? "edn";
  if (!PACKER_NAMES.includes(packer)) return { error: MESSAGES.unknownPacker(String(packer)) };
  return { url: baseUrl + CHSK_PATH, baseUrl, packer };
}

/**
 * The value of cookie `name` in `doc`, or null.
 * @param {Document} doc
 * @param {string} name
 */
export function readCookie(doc, name) {
  for (const part of (doc.cookie || "").split(";")) {
    const i = part.indexOf("=");
    // as the page's own requests send it: raw, since the server compares the raw cookie
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return null;
}

/**
 * The page's socket (created on first use); pair every call with `release()`.
 * @param {Window & typeof globalThis} [win]
 * @returns {PageSocket}
 */
export function acquirePage(win = window) {
  const w = /** @type {any} */ (win);
  /** @type {PageSocket | undefined} */
  let page = w[PAGE_KEY];
  if (page === undefined || page.disposed) {
    page = new PageSocket(win);
    w[PAGE_KEY] = page;
  }
  page.acquire();
  return page;
}

/** One channel socket for a page: rooms with reference counts, status, and what the Inspector shows. */
export class PageSocket {
  /**
   * @param {Window & typeof globalThis} win
   * @param {import("../client.js").ChannelSocketOptions} [chskOptions] for tests: fakes (WebSocket, clock...)
   */
  constructor(win, chskOptions = {}) {
    this.win = win;
    this.doc = win.document;
    this.disposed = false;
    /** @type {Status} */
    this.status = { phase: "connecting", transport: null, detail: "", retryAt: null };
    /** @type {Map<string, RoomState>} */
    this.rooms = new Map();
    /** @type {TimelineEntry[]} what the connection went through, oldest first */
    this.timeline = [];
    /** How many entries the timeline ever had (it keeps the last TIMELINE_MAX). */
    this.timelineCount = 0;
    /** @type {{uid: any, data: Record<string, any>, edn: string, first: boolean, t: number} | null} */
    this.handshake = null;
    /** Pushes counted by frame: one WebSocket message or poll response is one batch. */
    this.batches = { frames: 0, events: 0, maxPerFrame: 0, lastPerFrame: 0, serverPings: 0 };
    /** @type {{last: number | null, min: number | null, avg: number | null, count: number}} */
    this.rtt = { last: null, min: null, avg: null, count: 0 };
    /** @type {number | null} */
    this.lastHttpStatus = null;
    this.url = "";
    this._refs = 0;
    /** @type {ReturnType<typeof setTimeout> | null} */
    this._idleTimer = null;
    this._inBatch = 0;
    /** @type {Set<() => void>} */
    this._watchers = new Set();
    /** @type {Chsk | null} */
    this.chsk = null;

    const where = findServer(this.doc);
    if ("error" in where) {
      this._unavailable(where.error);
      return;
    }
    this.url = where.url;
    const pageFetch = win.fetch.bind(win);
    this.chsk = new ChannelSocket(where.url, {
      autoConnect: false,
      packer: where.packer,
      host: win.location.host,
      protocol: /** @type {"http:" | "https:"} */ (win.location.protocol),
      csrfToken: () => readCookie(this.doc, "_xsrf"),
      onlineTarget: win,
      fetchOptions: { credentials: "same-origin" },
      // remember the last HTTP status: a 404 or 403 means "stop and say why", not "retry"
      fetch: /** @type {typeof fetch} */ (
        async (url, init) => {
          const res = await pageFetch(url, init);
          this.lastHttpStatus = res.status;
          return res;
        }
      ),
      ...chskOptions,
    });
    this._wire(this.chsk);
    this.chsk.connect();
    this._onState();
  }

  // -- life --------------------------------------------------------------------------------------

  acquire() {
    this._refs++;
    if (this._idleTimer !== null) {
      clearTimeout(this._idleTimer);
      this._idleTimer = null;
    }
  }

  /** A view is gone; the last one closes the socket after a while. */
  release() {
    this._refs = Math.max(0, this._refs - 1);
    if (this._refs === 0 && this._idleTimer === null && !this.disposed) {
      this._idleTimer = setTimeout(() => this.dispose(), IDLE_CLOSE_MS);
    }
  }

  /** Close the socket for good; the next `acquirePage` makes a new one. */
  dispose() {
    this.disposed = true;
    if (this._idleTimer !== null) clearTimeout(this._idleTimer);
    this._idleTimer = null;
    this.chsk?.disconnect();
    const w = /** @type {any} */ (this.win);
    if (w[PAGE_KEY] === this) delete w[PAGE_KEY];
  }

  /**
   * Call `fn` on every change (status, rooms, handshake, stats); returns `off`.
   * @param {() => void} fn
   */
  watch(fn) {
    this._watchers.add(fn);
    return () => {
      this._watchers.delete(fn);
    };
  }

  _changed() {
    for (const fn of [...this._watchers]) {
      try {
        fn();
      } catch (e) {
        console.warn("jupyter-sente widget watcher threw:", e);
      }
    }
  }

  // -- connection controls (Inspector) ------------------------------------------------------------

  disconnect() {
    this.chsk?.disconnect();
  }

  /** Connect again (from offline, or after a refusal) with the current transport type. */
  reconnect() {
    if (this.chsk === null) return;
    this.lastHttpStatus = null;
    this.chsk.reconnect();
  }

  /** @param {"auto" | "ajax" | "ws"} type */
  switchType(type) {
    if (this.chsk === null) return;
    this.lastHttpStatus = null;
    this.chsk.switchType(type);
  }

  /** The requested transport type ("auto", "ws", "ajax"), or null without a socket. */
  get type() {
    return this.chsk?.type ?? null;
  }

  get clientId() {
    return this.chsk?.clientId ?? null;
  }

  /**
   * One round trip to the server, in ms (null when it failed): the client's ping, on whichever
   * transport is in use (a WebSocket ping and its pong, or a POST the server answers at once).
   * @returns {Promise<number | null>}
   */
  async measureRtt() {
    const chsk = this.chsk;
    if (chsk === null || !chsk.isOpen) return null;
    let ms;
    try {
      ms = await chsk.ping(REPLY_TIMEOUT_MS);
    } catch {
      return null;
    }
    const r = this.rtt;
    r.avg = r.avg === null ? ms : r.avg + (ms - r.avg) / Math.min(r.count + 1, 20);
    r.count++;
    r.last = ms;
    r.min = r.min === null ? ms : Math.min(r.min, ms);
    this._changed();
    return ms;
  }

  // -- rooms -------------------------------------------------------------------------------------

  /**
   * Listen to `room` (joining it if this is the first listener on the page); returns `leave`.
   * @param {string} name
   * @param {RoomListener} listener
   * @returns {() => void}
   */
  joinRoom(name, listener) {
    let room = this.rooms.get(name);
    if (room === undefined) {
      room = { name, listeners: new Set(), joined: false, error: null, presence: null };
      this.rooms.set(name, room);
      room.listeners.add(listener);
      if (this.chsk?.isOpen) this._sendJoin(room);
    } else {
      room.listeners.add(listener);
    }
    listener.onRoom?.(roomInfo(room), null);
    const r = room;
    return () => {
      r.listeners.delete(listener);
      if (r.listeners.size > 0 || this.rooms.get(name) !== r) return;
      this.rooms.delete(name);
      if (this.chsk?.isOpen) this.chsk.send([ROOM_LEAVE, new Map([[K_ROOM, name]])]);
    };
  }

  /**
   * Publish `[id data]` to `room` (this page's views get it too, from the server).
   * @param {string} room
   * @param {string} id "ns/name"
   * @param {unknown} data plain data (object keys that are keyword names go as keywords)
   * @returns {Promise<{ok: boolean, delivered?: number, error?: string}>}
   */
  publish(room, id, data) {
    const chsk = this.chsk;
    if (chsk === null || !chsk.isOpen) return Promise.resolve({ ok: false, error: "not connected" });
    /** @type {Map<unknown, unknown>} */
    const body = new Map();
    body.set(K_ROOM, room).set(K_EVENT, [kw(id), fromPlain(data)]).set(K_INCLUDE_SELF, true);
    return new Promise((resolve) => {
      chsk.send([ROOM_PUBLISH, body], {
        timeoutMs: REPLY_TIMEOUT_MS,
        cb: (reply) => {
          if (isReplyError(reply)) {
            resolve({ ok: false, error: String(reply) });
            return;
          }
          const r = plain(reply) ?? {};
          resolve({ ok: r["ok?"] === true, delivered: r.delivered, error: r.error });
        },
      });
    });
  }

  /** @param {RoomState} room */
  _sendJoin(room) {
    const chsk = this.chsk;
    if (chsk === null) return;
    chsk.send([ROOM_JOIN, new Map([[K_ROOM, room.name]])], {
      timeoutMs: REPLY_TIMEOUT_MS,
      cb: (reply) => {
        if (this.rooms.get(room.name) !== room) return;
        const r = isReplyError(reply) ? { "ok?": false, error: `no answer (${String(reply)})` } : plain(reply) ?? {};
        room.joined = r["ok?"] === true;
        room.error = room.joined ? null : String(r.error ?? "refused");
        if (room.joined && r.state && typeof r.state === "object") room.presence = r.state;
        this._roomChanged(room, null);
      },
    });
  }

  /**
   * @param {RoomState} room
   * @param {{joins: PresenceState, leaves: PresenceState} | null} change
   */
  _roomChanged(room, change) {
    const info = roomInfo(room);
    for (const l of [...room.listeners]) {
      try {
        l.onRoom?.(info, change);
      } catch (e) {
        console.warn("jupyter-sente room listener threw:", e);
      }
    }
    this._changed();
  }

  // -- the socket's events -----------------------------------------------------------------------

  /** @param {Chsk} chsk */
  _wire(chsk) {
    chsk.on(CHSK_STATE, ({ data }) => this._onState(/** @type {import("../state.js").StateChange} */ (data)));
    chsk.on(CHSK_HANDSHAKE, ({ data }) => {
      const [uid, , hd, first] = /** @type {unknown[]} */ (data);
      this.handshake = { uid: plain(uid), data: plain(hd) ?? {}, edn: ednText(hd), first: Boolean(first), t: Date.now() };
      // rooms survive a reconnect within the server's grace period; joining again is harmless
      for (const room of this.rooms.values()) {
        room.joined = false;
        this._sendJoin(room);
      }
      this._changed();
    });
    chsk.on(CHSK_WS_PING, () => {
      this.batches.serverPings++;
    });
    chsk.on(ROOM_EVENT, ({ data }) => this._onRoomEvent(data));
    chsk.on(ROOM_PRESENCE, ({ data }) => {
      const d = plain(data) ?? {};
      const room = this.rooms.get(d.room);
      if (room === undefined) return;
      room.presence = d.state ?? {};
      this._roomChanged(room, null);
    });
    chsk.on(ROOM_PRESENCE_DIFF, ({ data }) => {
      const d = plain(data) ?? {};
      const room = this.rooms.get(d.room);
      if (room === undefined || room.presence === null) return;
      const change = { joins: d.joins ?? {}, leaves: d.leaves ?? {} };
      room.presence = applyPresenceDiff(room.presence, change);
      this._roomChanged(room, change);
    });
    chsk.on((msg) => {
      if (msg.id.namespace === "chsk") return;
      // every push of one frame is delivered in one synchronous loop: count until the microtask
      if (this._inBatch++ === 0) queueMicrotask(() => this._closeBatch());
    });
  }

  _closeBatch() {
    const n = this._inBatch;
    this._inBatch = 0;
    const b = this.batches;
    b.frames++;
    b.events += n;
    b.lastPerFrame = n;
    b.maxPerFrame = Math.max(b.maxPerFrame, n);
    this._changed();
  }

  /** @param {unknown} data */
  _onRoomEvent(data) {
    if (!(data instanceof Map)) return;
    const room = this.rooms.get(/** @type {string} */ (data.get(K_ROOM)));
    const ev = data.get(K_EVENT);
    if (room === undefined || !Array.isArray(ev) || ev.length === 0) return;
    const [id, evData] = ev;
    /** @type {RoomEvent} */
    const out = {
      room: room.name,
      id: typeof id === "object" && id !== null && "name" in id ? String(id.name) : String(id),
      data: plain(evData),
      edn: ev.length > 1 ? ednText(evData) : "nil",
      from: plain(data.get(kw("from"))) ?? {},
      t: Date.now(),
    };
    for (const l of [...room.listeners]) {
      try {
        l.onEvent?.(out);
      } catch (e) {
        console.warn("jupyter-sente room listener threw:", e);
      }
    }
  }

  /**
   * The socket moved (or, without `change`, was just created): status, timeline, refusals.
   * @param {import("../state.js").StateChange} [change] the chsk/state event's `[old new open-changed?]`
   */
  _onState(change) {
    const chsk = this.chsk;
    if (chsk === null) return;
    const s = chsk.state;
    const st = chsk.connState;
    // stopped after a refusal: the message stays until a reconnect moves on
    if (st === "disconnected" && this.status.phase === "unavailable") return;
    const refused = this.lastHttpStatus;
    if (st === "retry-wait" && refused !== null && [401, 403, 404].includes(refused)) {
      // the server answered: this is not a network blip, retrying will not help
      chsk.disconnect();
      this._unavailable(refused === 404 ? MESSAGES.noExtension(this.url) : MESSAGES.forbidden(refused));
      return;
    }
    if (st === "open") this.lastHttpStatus = null;
    this._timeline(st, chsk.transport, change === undefined ? null : closeReason(change));
    const transport = chsk.transport;
    /** @type {Status} */
    let status;
    if (st === "open") {
      status = { phase: "connected", transport, detail: `connected over ${transport === "ws" ? "WebSocket" : "Ajax long-poll"}`, retryAt: null };
    } else if (st === "connecting") {
      const again = s["ever-opened?"] === true;
      status = { phase: again ? "reconnecting" : "connecting", transport, detail: again ? "reconnecting…" : "connecting…", retryAt: null };
    } else if (st === "retry-wait") {
      const at = typeof s["udt-next-reconnect"] === "number" ? s["udt-next-reconnect"] : null;
      status = { phase: "reconnecting", transport, detail: "connection lost; retrying", retryAt: at };
    } else {
      status = { phase: "offline", transport, detail: st === "disconnected" ? "disconnected" : "not connected", retryAt: null };
    }
    this.status = status;
    this._changed();
  }

  /** @param {string} detail */
  _unavailable(detail) {
    this.status = { phase: "unavailable", transport: null, detail, retryAt: null };
    this._timeline("unavailable", null, detail);
    this._changed();
  }

  /**
   * @param {string} state
   * @param {"ws" | "ajax" | null} transport
   * @param {string | null} reason
   */
  _timeline(state, transport, reason) {
    const last = this.timeline[this.timeline.length - 1];
    if (last !== undefined && last.state === state && last.transport === transport) return;
    this.timeline.push({ t: Date.now(), state, transport, reason });
    this.timelineCount++;
    if (this.timeline.length > TIMELINE_MAX) this.timeline.splice(0, this.timeline.length - TIMELINE_MAX);
  }
}

/**
 * Why the socket closed, when `change` is a close: Sente's reason, else the WebSocket's.
 * @param {import("../state.js").StateChange} change
 * @returns {string | null}
 */
function closeReason([before, after]) {
  if (after["last-close"] !== before["last-close"]) return String(after["last-close"]?.reason ?? "") || null;
  const ws = after["last-ws-close"];
  if (ws !== before["last-ws-close"] && ws) return String(ws.reason ?? "") || `WebSocket closed, code ${ws.code}`;
  return null;
}

/**
 * @param {RoomState} room
 * @returns {RoomInfo}
 */
function roomInfo(room) {
  return { name: room.name, joined: room.joined, error: room.error, presence: room.presence };
}
