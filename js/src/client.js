// The channel-socket client: WebSocket with Ajax long-poll fallback (Sente §5).
//
// The protocol rules live in state.js (machine + state map), envelope.js, events.js and
// timing.js; this class only moves text, owns the timers and calls the app's handlers. Every
// socket, poll and timer is tagged with a generation number, and whatever a superseded
// generation reports later is ignored.

import {
  AJAX,
  CHSK_CLOSED,
  CHSK_DUMMY_CB_200,
  CHSK_ERROR,
  CHSK_HANDSHAKE,
  CHSK_RECV,
  CHSK_STATE,
  CHSK_TIMEOUT,
  CHSK_WS_PING,
  CHSK_WS_PONG,
  PONG,
  checkOutgoingEvent,
  eventData,
  isEvent,
  isReplyError,
  isReservedId,
  makeEvent,
} from "./events.js";
import { envelope, isHandshake, isServerPing, makeCbId, openEnvelope, readHandshake } from "./envelope.js";
import { ReplyClosed, ReplyFailed, ReplyTimeout, UsageError } from "./errors.js";
import { getPacker } from "./packers.js";
import { CLIENT_TYPES, ClientConnection, ConnState } from "./state.js";
import { CLIENT_TIMING, expBackoffMs } from "./timing.js";
import { Keyword, brief } from "./values.js";

/**
 * Timers and time, injectable so tests can run a fake clock.
 * @typedef {object} Clock
 * @property {() => number} now Unix ms
 * @property {() => number} [elapsed] a monotonic ms clock for round trips (default: `now`)
 * @property {(fn: () => void, ms: number) => unknown} setTimeout
 * @property {(handle: any) => void} clearTimeout
 */

/**
 * @typedef {object} Logger
 * @property {(...args: unknown[]) => void} warn
 */

/**
 * What a handler receives for each event.
 * @typedef {object} EventMsg
 * @property {unknown[]} event the event `[id data]`
 * @property {Keyword} id
 * @property {unknown} data the event's data, null for `[id]`
 * @property {ChannelSocket} chsk the socket, to send or read its state
 */

/** @typedef {(msg: EventMsg) => void} Handler */
/** @typedef {(reply: unknown) => void} ReplyCallback */

/**
 * @typedef {object} ChannelSocketOptions
 * @property {"auto" | "ws" | "ajax"} [type] transport choice (default "auto": WebSocket, falling back to Ajax)
 * @property {string | null | (() => string | null | undefined)} [csrfToken] sent as `csrf-token` (WS) and `X-CSRF-Token` (Ajax)
 * @property {string} [host] host[:port] when `path` is not absolute (default: the page's)
 * @property {"http" | "https" | "http:" | "https:"} [protocol] (default: the page's, else http)
 * @property {number} [port] overrides the port
 * @property {Record<string, string | number | boolean>} [params] added to WS and poll URLs (not POSTs, as Sente)
 * @property {string | import("./packers.js").Packer} [packer] "edn" (default) or "json"
 * @property {string} [clientId] default: a random UUID
 * @property {number | null} [wsKaliveMs] default 20000; the client pings after half of it in silence; null: no pings
 * @property {number} [wsPingTimeoutMs] default 5000
 * @property {number} [ajaxTimeoutMs] default 60000: the long-poll and POST timeout
 * @property {number | null} [backoffCapMs] default 30000; null: uncapped, as Sente
 * @property {(attempt: number) => number} [backoffMs] wait before reconnect attempt n >= 2
 * @property {boolean} [wrapRecvEvs] deliver pushes as `[:chsk/recv ev]` (Sente < 1.18), default false
 * @property {boolean} [autoConnect] connect at construction (default true)
 * @property {any} [WebSocket] the WebSocket constructor (default: the global one); null: Ajax only
 * @property {unknown} [wsOptions] third argument to `new WebSocket(url, undefined, wsOptions)` (e.g. the `ws` package's `{headers}`)
 * @property {typeof fetch} [fetch] (default: the global one)
 * @property {Record<string, string>} [headers] extra headers on every Ajax request (e.g. a cookie outside browsers)
 * @property {RequestInit} [fetchOptions] extra fetch options (e.g. `credentials`)
 * @property {EventTarget | null} [onlineTarget] where the browser fires `online` (default: the global
 *   window, if any); on it a client waiting out a backoff reconnects at once. null: ignore it
 * @property {Clock} [clock]
 * @property {() => number} [random] uniform in [0, 1)
 * @property {Logger | null} [logger] default: console
 */

const WS_CLOSE_NORMAL = 1000;
const WS_CLOSE_ABNORMAL = 3000;
const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;

/** @type {Clock} */
const REAL_CLOCK = {
  now: () => Date.now(),
  elapsed: () => performance.now(), // sub-ms: a loopback round trip is well under 1 ms
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
  clearTimeout: (h) => globalThis.clearTimeout(h),
};

const NO_LOGGER = { warn() {} };

/**
 * A Sente channel socket: connects at once (unless `autoConnect: false`), reconnects by itself.
 *
 * `path` is an absolute http(s) URL or a path resolved against `host`/`protocol`/`port` or
 * the page's location.
 */
export class ChannelSocket {
  /**
   * @param {string} path e.g. "/chsk" or "http://127.0.0.1:8888/chsk"
   * @param {ChannelSocketOptions} [opts]
   */
  constructor(path, opts = {}) {
    const type = opts.type ?? "auto";
    if (!CLIENT_TYPES.includes(type)) {
      throw new UsageError(`type must be one of ${CLIENT_TYPES.join(", ")}, got ${JSON.stringify(type)}`);
    }
    this._clock = opts.clock ?? REAL_CLOCK;
    this._random = opts.random ?? Math.random;
    this._logger = opts.logger === null ? NO_LOGGER : opts.logger ?? console;
    this._packer = getPacker(opts.packer ?? "edn");
    this._WebSocket = opts.WebSocket === undefined ? globalThis.WebSocket : opts.WebSocket;
    this._wsOptions = opts.wsOptions;
    const f = opts.fetch ?? globalThis.fetch;
    this._fetch = f === undefined ? undefined : f.bind(globalThis);
    this._headers = opts.headers ?? {};
    this._fetchOptions = opts.fetchOptions ?? {};
    this._params = opts.params ?? {};
    this._urls = resolveUrls(path, opts);
    this._csrfToken = opts.csrfToken ?? null;
    /** The client-id sent with every request. */
    this.clientId = opts.clientId ?? randomUuid(this._random);
    if (typeof this.clientId !== "string" || this.clientId.trim() === "") {
      throw new UsageError("clientId must be a non-blank string");
    }
    const wsKaliveMs = opts.wsKaliveMs === undefined ? CLIENT_TIMING.wsKaliveMs : opts.wsKaliveMs;
    this._kaliveTickMs = wsKaliveMs === null ? null : Math.floor(wsKaliveMs / 2);
    this._wsPingTimeoutMs = opts.wsPingTimeoutMs ?? CLIENT_TIMING.wsPingTimeoutMs;
    this._ajaxTimeoutMs = opts.ajaxTimeoutMs ?? CLIENT_TIMING.ajaxTimeoutMs;
    const capMs = opts.backoffCapMs === undefined ? CLIENT_TIMING.backoffCapMs : opts.backoffCapMs;
    this._backoffMs = opts.backoffMs ?? ((/** @type {number} */ n) => expBackoffMs(n, this._random(), { capMs }));
    this._wrapRecvEvs = opts.wrapRecvEvs ?? false;
    const online = opts.onlineTarget === undefined ? /** @type {any} */ (globalThis) : opts.onlineTarget;
    /** @type {EventTarget | null} */
    this._onlineTarget = typeof online?.addEventListener === "function" ? online : null;
    this._onOnline = () => this._retryNow();

    /** @type {"auto" | "ws" | "ajax"} */
    this._type = type;
    this._conn = new ClientConnection(type, this._csrfToken);
    /** auto: the WebSocket failed before any handshake; Ajax until the app reconnects. */
    this._downgraded = false;
    /** @type {"ws" | "ajax" | null} */
    this._transport = null;
    /** `connState transport` as of the last chsk/state. */
    this._shownPhase = `${this._conn.state} null`;
    /** @type {import("./state.js").StateChange[]} chsk/state events not delivered yet */
    this._stateQueue = [];
    this._flushing = false;
    this._gen = 0;
    /** @type {any} */
    this._ws = null;
    /** @type {AbortController | null} */
    this._pollAbort = null;
    /** @type {unknown} */
    this._retryTimer = null;
    /** @type {unknown} */
    this._kaliveTimer = null;
    this._lastActivity = 0;
    this._lastKaliveCheck = 0;
    /** @type {Map<string, {cb: ReplyCallback, timer: unknown}>} */
    this._pending = new Map();
    /** @type {Set<{id: Keyword | null, fn: Handler}>} */
    this._handlers = new Set();

    if (opts.autoConnect ?? true) this.connect();
  }

  // -- reading -----------------------------------------------------------------------------------

  /** Sente's state map (replaced on every change, never mutated). */
  get state() {
    return this._conn.map;
  }

  /** True between a handshake and the next close. */
  get isOpen() {
    return this._conn.isOpen;
  }

  /** The connection's place in its life: idle, connecting, open, retry-wait or disconnected. */
  get connState() {
    return this._conn.state;
  }

  /** The transport in use now ("ws" or "ajax"), null before the first connect. */
  get transport() {
    return this._transport;
  }

  /** The requested type: "auto", "ws" or "ajax". */
  get type() {
    return this._type;
  }

  /**
   * Call `handler` for every event (or only those with id `id`); returns a function that
   * removes it. Handlers see `chsk/state`, `chsk/handshake`, `chsk/ws-ping`, `chsk/bad-event`
   * and the server's pushes.
   * @param {Handler | Keyword | string} idOrHandler
   * @param {Handler} [handler]
   * @returns {() => void}
   */
  on(idOrHandler, handler) {
    /** @type {{id: Keyword | null, fn: Handler}} */
    let entry;
    if (typeof idOrHandler === "function") entry = { id: null, fn: idOrHandler };
    else {
      if (typeof handler !== "function") throw new UsageError("on(id, handler) needs a handler function");
      entry = { id: makeEvent(idOrHandler)[0], fn: handler };
    }
    this._handlers.add(entry);
    return () => this._handlers.delete(entry);
  }

  /**
   * A promise of the state map once the socket is open (at once if it is).
   * @param {number} [timeoutMs] reject with ReplyTimeout after this long
   * @returns {Promise<Record<string, any>>}
   */
  whenOpen(timeoutMs) {
    if (this.isOpen) return Promise.resolve(this.state);
    return new Promise((resolve, reject) => {
      /** @type {unknown} */
      let timer = null;
      const off = this.on(CHSK_STATE, () => {
        if (!this.isOpen) return;
        off();
        if (timer !== null) this._clock.clearTimeout(timer);
        resolve(this.state);
      });
      if (timeoutMs !== undefined) {
        timer = this._clock.setTimeout(() => {
          off();
          reject(new ReplyTimeout(`not open after ${timeoutMs} ms`, CHSK_TIMEOUT));
        }, timeoutMs);
      }
    });
  }

  // -- sending -----------------------------------------------------------------------------------

  /**
   * Send an event; with `cb`, the reply (or `:chsk/timeout`, `:chsk/closed`, `:chsk/error`) goes
   * to `cb` once. Returns false when the socket is not open (cb gets `:chsk/closed` at once).
   * An event id may be a keyword or an "ns/name" string; `chsk/*` ids are refused.
   * @param {unknown[]} event `[id]` or `[id data]`
   * @param {{timeoutMs?: number, cb?: ReplyCallback}} [opts] a cb needs a timeoutMs
   * @returns {boolean}
   */
  send(event, { timeoutMs, cb } = {}) {
    const ev = checkOutgoingEvent(event);
    if (cb !== undefined && (typeof timeoutMs !== "number" || !(timeoutMs >= 0))) {
      throw new UsageError("a cb requires a non-negative timeoutMs");
    }
    return this._send(ev, timeoutMs, cb);
  }

  /**
   * Send an event and wait for its reply; rejects with ReplyTimeout, ReplyClosed or
   * ReplyFailed (whose `value` is Sente's reserved keyword).
   * @param {unknown[]} event
   * @param {{timeoutMs?: number}} [opts] default 10000
   * @returns {Promise<unknown>}
   */
  request(event, { timeoutMs = DEFAULT_REQUEST_TIMEOUT_MS } = {}) {
    return new Promise((resolve, reject) => {
      this.send(event, {
        timeoutMs,
        cb: (reply) => {
          const err = replyError(reply, event);
          if (err === null) resolve(reply);
          else reject(err);
        },
      });
    });
  }

  /**
   * One round trip to the server, in ms. Over WebSocket it is Sente's keep-alive ping,
   * `[[:chsk/ws-ping] cb-id]`, which the server answers `"pong"`; over Ajax (which has no ping)
   * a POST of `[[:chsk/ws-ping] nil]`, which the server answers at once with
   * `:chsk/dummy-cb-200` (and its router sees as the event `[:chsk/ws-ping]`, as from a
   * WebSocket ping). Rejects with ReplyClosed when not open, ReplyTimeout after `timeoutMs`,
   * ReplyFailed on `:chsk/error` or an unexpected answer. A failed ping does not reconnect.
   * @param {number} [timeoutMs] default: wsPingTimeoutMs (5000)
   * @returns {Promise<number>}
   */
  ping(timeoutMs = this._wsPingTimeoutMs) {
    if (typeof timeoutMs !== "number" || !(timeoutMs >= 0)) throw new UsageError("ping needs a non-negative timeoutMs");
    const ev = [CHSK_WS_PING];
    if (!this._conn.isOpen) return Promise.reject(replyError(CHSK_CLOSED, ev));
    const overAjax = this._transport === "ajax";
    const expected = overAjax ? CHSK_DUMMY_CB_200 : PONG;
    const t0 = this._elapsed();
    return new Promise((resolve, reject) => {
      /** @type {ReplyCallback} */
      const cb = (reply) => {
        const err = replyError(reply, ev);
        if (err !== null) reject(err);
        else if (reply === expected) resolve(this._elapsed() - t0);
        else reject(new ReplyFailed(`ping got ${brief(reply)}, not ${brief(expected)}`, CHSK_ERROR));
      };
      if (!overAjax) {
        this._send(ev, timeoutMs, cb);
        return;
      }
      this._post(this._packer.pack(envelope(ev, null)), timeoutMs, cb).catch((e) => {
        this._logger.warn("chsk POST failed:", e);
        cb(CHSK_ERROR);
      });
    });
  }

  /** Now, on the clock for round trips. */
  _elapsed() {
    return this._clock.elapsed ? this._clock.elapsed() : this._clock.now();
  }

  /**
   * @param {unknown[]} ev
   * @param {number | undefined} timeoutMs
   * @param {ReplyCallback | undefined} cb
   */
  _send(ev, timeoutMs, cb) {
    if (!this._conn.isOpen) {
      this._logger.warn(`chsk send while not open: ${brief(ev)}`);
      if (cb) this._callback(cb, CHSK_CLOSED);
      return false;
    }
    if (this._transport === "ajax") {
      const ppstr = this._packer.pack(envelope(ev, cb ? AJAX : null));
      this._post(ppstr, timeoutMs, cb).catch((e) => {
        this._logger.warn("chsk POST failed:", e);
        if (cb) this._callback(cb, CHSK_ERROR);
      });
      return true;
    }
    const cbId = cb ? this._newCbId() : null;
    const text = this._packer.pack(envelope(ev, cbId));
    const ws = this._ws;
    if (ws === null) {
      if (cb) this._callback(cb, CHSK_ERROR);
      this._restart("ws-error");
      return true;
    }
    if (cb && cbId !== null) {
      const timer = this._clock.setTimeout(() => {
        const entry = this._pending.get(cbId);
        if (entry === undefined) return;
        this._pending.delete(cbId);
        this._callback(entry.cb, CHSK_TIMEOUT);
      }, /** @type {number} */ (timeoutMs));
      this._pending.set(cbId, { cb, timer });
    }
    try {
      ws.send(text);
      this._lastActivity = this._clock.now();
    } catch (e) {
      this._logger.warn("chsk WebSocket send failed:", e);
      if (cbId !== null) this._resolve(cbId, CHSK_ERROR);
      this._restart("ws-error");
    }
    return true;
  }

  _newCbId() {
    for (let i = 0; i < 64; i++) {
      const id = makeCbId(this._random());
      if (!this._pending.has(id)) return id;
    }
    throw new UsageError("no free cb-id: too many pending requests");
  }

  /**
   * @param {string} cbId
   * @param {unknown} value
   */
  _resolve(cbId, value) {
    const entry = this._pending.get(cbId);
    if (entry === undefined) return false;
    this._pending.delete(cbId);
    this._clock.clearTimeout(entry.timer);
    this._callback(entry.cb, value);
    return true;
  }

  /** Fail every pending WebSocket request with `:chsk/closed`: its reply cannot come any more. */
  _closePending() {
    const entries = [...this._pending.values()];
    this._pending.clear();
    for (const { cb, timer } of entries) {
      this._clock.clearTimeout(timer);
      this._callback(cb, CHSK_CLOSED);
    }
  }

  /**
   * @param {ReplyCallback} cb
   * @param {unknown} value
   */
  _callback(cb, value) {
    try {
      cb(value);
    } catch (e) {
      this._logger.warn("chsk reply callback threw:", e);
    }
  }

  // -- connecting --------------------------------------------------------------------------------

  /** Connect (a no-op while connecting or open). */
  connect() {
    const s = this._conn.state;
    if (s !== ConnState.IDLE && s !== ConnState.DISCONNECTED) return;
    this._conn.connect({ freshTransport: this._type === "auto" });
    this._downgraded = false;
    this._onlineTarget?.addEventListener("online", this._onOnline); // once: the same listener
    this._start();
  }

  /** Close for good (code 1000 "CLOSE_NORMAL", or abort the poll); no reconnects until connect(). */
  disconnect() {
    this._onlineTarget?.removeEventListener("online", this._onOnline);
    this._teardown();
    this._conn.disconnect("requested-disconnect", this._clock.now());
    this._flushState();
  }

  /** Close and connect again at once (after a login or logout, to pick up the new uid). */
  reconnect() {
    this._teardown();
    this._conn.disconnect("requested-reconnect", this._clock.now());
    this._flushState();
    this.connect();
  }

  /**
   * Use another transport type from now on ("ajax", "ws" or "auto") and reconnect.
   * @param {"auto" | "ws" | "ajax"} type
   */
  switchType(type) {
    if (!CLIENT_TYPES.includes(type)) {
      throw new UsageError(`type must be one of ${CLIENT_TYPES.join(", ")}, got ${JSON.stringify(type)}`);
    }
    this._type = type;
    this.reconnect();
  }

  /**
   * Testing aid (Sente's `chsk-break-connection!`): close the WebSocket with code 3000
   * "CLOSE_ABNORMAL", or with `closeWs: false` forget it as a dead socket would be; abort the poll.
   * @param {{closeWs?: boolean}} [opts]
   */
  breakConnection({ closeWs = true } = {}) {
    if (this._ws !== null) {
      const ws = this._ws;
      if (closeWs) ws.close(WS_CLOSE_ABNORMAL, "CLOSE_ABNORMAL");
      else this._ws = null;
    } else if (this._pollAbort !== null) {
      this._pollAbort.abort();
    }
  }

  /** Open the transport of a connection that just moved to connecting. */
  _start() {
    const gen = ++this._gen;
    const useWs =
      this._type === "ws" ||
      (this._type === "auto" && !this._downgraded && this._WebSocket !== undefined && this._WebSocket !== null);
    this._transport = useWs ? "ws" : "ajax";
    this._flushState();
    // a chsk/state handler may have disconnected or restarted meanwhile
    if (gen !== this._gen || this._conn.state !== ConnState.CONNECTING) return;
    if (useWs) this._startWs(gen);
    else this._startAjax(gen);
  }

  /** Stop the current transport and timers; what it reports later is ignored. */
  _teardown() {
    this._gen++;
    if (this._retryTimer !== null) {
      this._clock.clearTimeout(this._retryTimer);
      this._retryTimer = null;
    }
    this._stopKalive();
    if (this._ws !== null) {
      const ws = this._ws;
      this._ws = null;
      try {
        ws.close(WS_CLOSE_NORMAL, "CLOSE_NORMAL");
      } catch (e) {
        this._logger.warn("chsk WebSocket close failed:", e);
      }
    }
    if (this._pollAbort !== null) {
      this._pollAbort.abort();
      this._pollAbort = null;
    }
    this._closePending();
  }

  /**
   * The connection went away: close the state, count the attempt and schedule the next.
   * @param {import("./state.js").CloseReason} reason
   * @param {Record<string, unknown>} [wsClose]
   */
  _lost(reason, wsClose) {
    this._teardown();
    const wait = this._conn.lost(reason, this._clock.now(), this._backoffMs, wsClose ? { wsClose } : {});
    // scheduled before the chsk/state handlers run: one that disconnects cancels it
    this._retryTimer = this._clock.setTimeout(() => this._retry(), wait);
    this._flushState();
  }

  _retry() {
    this._retryTimer = null;
    this._conn.retry();
    this._start();
  }

  /** Back online (the browser says so): stop waiting out the backoff and try now. */
  _retryNow() {
    if (this._conn.state !== ConnState.RETRY_WAIT || this._retryTimer === null) return;
    this._clock.clearTimeout(this._retryTimer);
    this._retry();
  }

  /**
   * Drop the transport and connect again at once, keeping the transport kind.
   * @param {import("./state.js").CloseReason} reason
   */
  _restart(reason) {
    const s = this._conn.state;
    if (s !== ConnState.OPEN && s !== ConnState.CONNECTING) return;
    this._teardown();
    this._conn.restart(reason, this._clock.now());
    this._start();
  }

  // -- WebSocket ---------------------------------------------------------------------------------

  /** @param {number} gen */
  _startWs(gen) {
    const url = withQuery(this._urls.ws, [...Object.entries(this._params), ["client-id", this.clientId], ["csrf-token", this._token()]]);
    let ws;
    try {
      const WS = this._WebSocket;
      if (typeof WS !== "function") throw new UsageError("no WebSocket constructor available");
      ws = this._wsOptions === undefined ? new WS(url) : new WS(url, undefined, this._wsOptions);
    } catch (e) {
      this._logger.warn("chsk WebSocket could not be created:", e);
      this._lost("unexpected");
      return;
    }
    this._ws = ws;
    try {
      ws.binaryType = "arraybuffer";
    } catch {
      // some WebSocket implementations have no binaryType; text frames do not need it
    }
    const current = () => gen === this._gen && ws === this._ws;
    ws.onmessage = (/** @type {{data: unknown}} */ e) => {
      if (current()) this._onWsMessage(e.data);
    };
    ws.onerror = (/** @type {unknown} */ e) => {
      if (current()) this._onWsError(e);
    };
    ws.onclose = (/** @type {{code: number, reason: string, wasClean: boolean}} */ e) => {
      if (gen !== this._gen) return;
      const wsClose = { udt: this._clock.now(), code: e.code, reason: e.reason, "clean?": Boolean(e.wasClean) };
      this._lost(e.wasClean ? "clean" : "unexpected", wsClose);
    };
    this._startKalive(gen);
  }

  /** @param {unknown} data */
  _onWsMessage(data) {
    this._lastActivity = this._clock.now();
    let payload;
    let cbId;
    try {
      [payload, cbId] = openEnvelope(this._packer.unpack(textOf(data)));
    } catch (e) {
      this._logger.warn("chsk dropped a WebSocket message it could not read:", e);
      return;
    }
    if (isHandshake(payload)) {
      this._handshake("ws", payload);
    } else if (isServerPing(payload)) {
      if (this._conn.isOpen) this._sendRaw([CHSK_WS_PONG]);
      this._emit([CHSK_WS_PING]);
    } else if (cbId !== null) {
      if (typeof cbId !== "string" || !this._resolve(cbId, payload)) {
        this._logger.warn(`chsk reply without a waiting cb: ${brief(cbId)}`);
      }
    } else {
      this._deliverPushes(payload);
    }
  }

  /** @param {unknown} e */
  _onWsError(e) {
    this._conn.wsError(this._clock.now(), e);
    this._flushState();
    // auto: a WebSocket error before any WebSocket handshake means Ajax from now on (§5.2).
    if (this._type === "auto" && !this._downgraded && !this._conn.transportOpened) {
      const s = this._conn.state;
      if (s !== ConnState.CONNECTING && s !== ConnState.OPEN) return;
      this._teardown();
      this._conn.downgrade(this._clock.now());
      this._downgraded = true;
      this._start();
    }
  }

  /**
   * Send an envelope without a cb, bypassing the event checks (pong).
   * @param {unknown[]} ev
   */
  _sendRaw(ev) {
    try {
      this._ws?.send(this._packer.pack(envelope(ev, null)));
      this._lastActivity = this._clock.now();
    } catch (e) {
      this._logger.warn("chsk WebSocket send failed:", e);
      this._restart("ws-error");
    }
  }

  /** @param {number} gen */
  _startKalive(gen) {
    this._stopKalive();
    const tick = this._kaliveTickMs;
    if (tick === null) return;
    this._lastActivity = this._lastKaliveCheck = this._clock.now();
    const loop = () => {
      if (gen !== this._gen) return;
      const now = this._clock.now();
      const silent = this._lastActivity <= this._lastKaliveCheck;
      this._lastKaliveCheck = now;
      this._kaliveTimer = this._clock.setTimeout(loop, tick);
      if (silent) this._ping(gen);
    };
    this._kaliveTimer = this._clock.setTimeout(loop, tick);
  }

  _stopKalive() {
    if (this._kaliveTimer !== null) {
      this._clock.clearTimeout(this._kaliveTimer);
      this._kaliveTimer = null;
    }
  }

  /** @param {number} gen */
  _ping(gen) {
    if (!this._conn.isOpen) {
      // a socket that never handshook: Sente's ping would get :chsk/closed and reconnect
      this._restart("ws-ping-timeout");
      return;
    }
    this._send([CHSK_WS_PING], this._wsPingTimeoutMs, (reply) => {
      if (gen === this._gen && reply !== PONG) this._restart("ws-ping-timeout");
    });
  }

  // -- Ajax --------------------------------------------------------------------------------------

  /** @param {number} gen */
  _startAjax(gen) {
    this._poll(gen).catch((e) => {
      // a bug, not the network (_ajax catches that): say so, and let the retry logic recover
      this._logger.warn("chsk poll loop failed:", e);
      if (gen === this._gen) this._lost("unexpected");
    });
  }

  /** @param {number} gen */
  async _poll(gen) {
    while (gen === this._gen) {
      /** @type {[string, unknown][]} */
      const query = [...Object.entries(this._params), ["udt", this._clock.now()], ["client-id", this.clientId]];
      if (!this._conn.isOpen) query.push(["handshake?", 1]);
      const abort = new AbortController();
      this._pollAbort = abort;
      const result = await this._ajax(withQuery(this._urls.http, query), {
        method: "GET",
        // Sente sends the header on polls even without a token (§7.3.3); we send it only with one.
        headers: this._ajaxHeaders(),
        timeoutMs: this._ajaxTimeoutMs,
        abort,
      });
      if (gen !== this._gen) return;
      this._pollAbort = null;
      if (result.timedOut) continue; // the client's own timeout: poll again at once
      if (result.text === null) {
        this._lost("unexpected");
        return;
      }
      let payload;
      try {
        [payload] = openEnvelope(this._packer.unpack(result.text));
      } catch (e) {
        this._logger.warn("chsk could not read a poll response:", e);
        this._lost("unexpected");
        return;
      }
      if (isHandshake(payload)) {
        // a bad handshake would be asked for again at once: back off instead
        if (!this._handshake("ajax", payload)) this._lost("unexpected");
        if (gen !== this._gen) return;
      } else {
        this._conn.polled();
        this._flushState();
        if (gen !== this._gen) return;
        if (payload !== CHSK_TIMEOUT) this._deliverPushes(payload);
      }
    }
  }

  /**
   * @param {string} ppstr the packed envelope
   * @param {number | undefined} timeoutMs
   * @param {ReplyCallback | undefined} cb
   */
  async _post(ppstr, timeoutMs, cb) {
    const gen = this._gen;
    const body = formEncode([
      ["udt", this._clock.now()],
      ["client-id", this.clientId],
      ["ppstr", ppstr],
    ]);
    const result = await this._ajax(this._urls.http, {
      method: "POST",
      headers: { ...this._ajaxHeaders(), "Content-Type": "application/x-www-form-urlencoded;charset=UTF-8" },
      body,
      timeoutMs: timeoutMs ?? this._ajaxTimeoutMs,
      abort: new AbortController(),
    });
    if (result.timedOut) {
      if (cb) this._callback(cb, CHSK_TIMEOUT);
      return;
    }
    if (result.text === null) {
      if (cb) this._callback(cb, CHSK_ERROR);
      if (gen === this._gen && this._conn.isOpen) this._lost("unexpected");
      return;
    }
    if (result.text === "") {
      if (cb) this._callback(cb, CHSK_ERROR);
      return;
    }
    let reply;
    try {
      [reply] = openEnvelope(this._packer.unpack(result.text));
    } catch (e) {
      this._logger.warn("chsk could not read a POST reply:", e);
      if (cb) this._callback(cb, CHSK_ERROR);
      return;
    }
    if (gen === this._gen && this._conn.state === ConnState.OPEN) {
      this._conn.polled();
      this._flushState();
    }
    if (cb) this._callback(cb, reply);
    else if (reply !== CHSK_DUMMY_CB_200) this._logger.warn(`chsk reply without a cb: ${brief(reply)}`);
  }

  /** @returns {Record<string, string>} */
  _ajaxHeaders() {
    /** @type {Record<string, string>} */
    const h = { "X-Requested-With": "XMLHTTPRequest", ...this._headers };
    const token = this._token();
    if (token !== null) h["X-CSRF-Token"] = token;
    return h;
  }

  /**
   * One HTTP request: `{text}` for a 2xx body, `{text: null}` for any other status or a network
   * error, `{timedOut: true}` when `timeoutMs` passed first.
   * @param {string} url
   * @param {{method: string, headers: Record<string, string>, body?: string, timeoutMs: number, abort: AbortController}} req
   * @returns {Promise<{text: string | null, timedOut: boolean}>}
   */
  async _ajax(url, { method, headers, body, timeoutMs, abort }) {
    const f = this._fetch;
    if (f === undefined) {
      this._logger.warn("chsk has no fetch function for Ajax");
      return { text: null, timedOut: false };
    }
    let timedOut = false;
    const timer = this._clock.setTimeout(() => {
      timedOut = true;
      abort.abort();
    }, timeoutMs);
    try {
      const res = await f(url, { ...this._fetchOptions, method, headers, body, signal: abort.signal });
      const text = await res.text();
      if (!res.ok) {
        this._logger.warn(`chsk ${method} got HTTP ${res.status}: ${text.slice(0, 80)}`);
        return { text: null, timedOut: false };
      }
      return { text, timedOut: false };
    } catch {
      return { text: null, timedOut };
    } finally {
      this._clock.clearTimeout(timer);
    }
  }

  // -- delivering --------------------------------------------------------------------------------

  /**
   * @param {"ws" | "ajax"} transport
   * @param {unknown[]} payload
   * @returns {boolean} false for a malformed handshake (dropped)
   */
  _handshake(transport, payload) {
    let uid;
    let data;
    try {
      [uid, data] = readHandshake(payload);
    } catch (e) {
      this._logger.warn("chsk dropped a bad handshake:", e);
      return false;
    }
    const ev = [CHSK_HANDSHAKE, this._conn.handshake(transport, uid, data)];
    this._flushState();
    this._emit(ev);
    return true;
  }

  /**
   * A push batch: a vector of events. Values that are not events, and pushes of `chsk/*` ids
   * (which only Sente itself may emit), are dropped with a warning, as the Python client does.
   * @param {unknown} batch
   */
  _deliverPushes(batch) {
    if (!Array.isArray(batch)) {
      this._logger.warn(`chsk dropped a message that is not a vector of events: ${brief(batch)}`);
      return;
    }
    for (const ev of batch) {
      if (!isEvent(ev)) this._logger.warn(`chsk dropped a pushed value that is not an event: ${brief(ev)}`);
      else if (isReservedId(ev[0])) this._logger.warn(`chsk dropped a pushed event in the reserved chsk namespace: ${brief(ev)}`);
      else this._emit(this._wrapRecvEvs ? [CHSK_RECV, ev] : ev);
    }
  }

  /**
   * Emit `chsk/state` for every change of the state map, in order, as Sente does; and, where
   * the connection moved (connState or transport) without changing the map (a first retry,
   * a restart before any handshake), once with the same map as old and new. A handler that
   * acts on the socket queues its own changes after the ones being delivered.
   */
  _flushState() {
    const changes = this._conn.takeChanges();
    const phase = `${this._conn.state} ${this._transport}`;
    if (changes.length === 0 && phase !== this._shownPhase) {
      const m = this._conn.map;
      changes.push([m, m, false]);
    }
    this._shownPhase = phase;
    this._stateQueue.push(...changes);
    if (this._flushing) return;
    this._flushing = true;
    try {
      for (let change; (change = this._stateQueue.shift()) !== undefined; ) this._emit([CHSK_STATE, change]);
    } finally {
      this._flushing = false;
    }
  }

  /** @param {unknown[]} ev */
  _emit(ev) {
    const id = /** @type {Keyword} */ (ev[0]);
    /** @type {EventMsg} */
    const msg = { event: ev, id, data: eventData(ev), chsk: this };
    for (const h of [...this._handlers]) {
      if (h.id !== null && h.id !== id) continue;
      try {
        h.fn(msg);
      } catch (e) {
        this._logger.warn(`chsk handler for ${id} threw:`, e);
      }
    }
  }

  /** @returns {string | null} */
  _token() {
    const t = typeof this._csrfToken === "function" ? this._csrfToken() : this._csrfToken;
    return typeof t === "string" && t.trim() !== "" ? t : null;
  }
}

/**
 * The error a reply callback value stands for, or null for a real reply.
 * @param {unknown} reply
 * @param {unknown} [event]
 */
export function replyError(reply, event) {
  if (!isReplyError(reply)) return null;
  const what = event === undefined ? "request" : `request ${brief(event, 60)}`;
  const k = /** @type {Keyword} */ (reply);
  if (k === CHSK_TIMEOUT) return new ReplyTimeout(`${what} ended with ${k}`, k);
  if (k === CHSK_CLOSED) return new ReplyClosed(`${what} ended with ${k}`, k);
  return new ReplyFailed(`${what} ended with ${k}`, k);
}

/**
 * Sente's `make-channel-socket-client!` shape: `(path, csrfToken, opts)`.
 * @param {string} path
 * @param {ChannelSocketOptions["csrfToken"]} csrfToken
 * @param {ChannelSocketOptions} [opts]
 */
export function makeChannelSocketClient(path, csrfToken, opts = {}) {
  return new ChannelSocket(path, { ...opts, csrfToken });
}

// -- helpers -------------------------------------------------------------------------------------

/**
 * The http(s) and ws(s) URLs of `path`.
 * @param {string} path
 * @param {ChannelSocketOptions} opts
 * @returns {{http: string, ws: string}}
 */
export function resolveUrls(path, opts = {}) {
  /** @type {{protocol?: string, host?: string, hostname?: string} | undefined} */
  const loc = /** @type {any} */ (globalThis).location;
  let http;
  if (/^https?:\/\//i.test(path)) {
    http = path;
  } else {
    let protocol = opts.protocol ?? loc?.protocol ?? "http:";
    if (!protocol.endsWith(":")) protocol += ":";
    if (protocol !== "http:" && protocol !== "https:") protocol = "http:";
    let host = opts.host ?? loc?.host;
    if (opts.port !== undefined) host = `${opts.host ?? loc?.hostname ?? "localhost"}:${opts.port}`.replace(/:\d+:/, ":");
    if (host === undefined || host === "") throw new UsageError("no host: pass an absolute URL or the host option");
    http = `${protocol}//${host.replace(/\/+$/, "")}/${path.replace(/^\/+/, "")}`;
  }
  return { http, ws: http.replace(/^http/i, "ws") };
}

/**
 * `k=v&...` with each part percent-encoded as encodeURIComponent does (as Sente's client);
 * null values are dropped.
 * @param {[string, unknown][]} params
 */
function formEncode(params) {
  return params
    .filter(([, v]) => v !== null && v !== undefined)
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
    .join("&");
}

/**
 * `url` with params appended (null values dropped), keeping any query it has.
 * @param {string} url
 * @param {[string, unknown][]} params
 */
function withQuery(url, params) {
  const s = formEncode(params);
  if (s === "") return url;
  return url + (url.includes("?") ? "&" : "?") + s;
}

/**
 * A WebSocket message as text: text packers only, binary frames are UTF-8.
 * @param {unknown} data
 * @returns {string}
 */
function textOf(data) {
  if (typeof data === "string") return data;
  if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) return new TextDecoder().decode(/** @type {ArrayBuffer} */ (data));
  return String(data);
}

/**
 * A random v4 UUID string.
 * @param {() => number} random
 */
function randomUuid(random) {
  const c = /** @type {any} */ (globalThis).crypto;
  if (random === Math.random && c?.randomUUID) return c.randomUUID();
  const hex = Array.from({ length: 32 }, () => Math.floor(random() * 16).toString(16));
  hex[12] = "4";
  hex[16] = ((Math.floor(random() * 4) + 8) >>> 0).toString(16);
  const h = hex.join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

