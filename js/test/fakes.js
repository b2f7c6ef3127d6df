// Fakes for unit tests: a manual clock, a scriptable WebSocket and fetch, a collecting logger.

import { ednPacker } from "../src/edn.js";

/** Timers that run only when the test advances time. */
export class FakeClock {
  constructor(start = 1_700_000_000_000) {
    this.t = start;
    this.seq = 0;
    /** @type {Map<number, {at: number, fn: () => void}>} */
    this.timers = new Map();
  }

  now() {
    return this.t;
  }

  /**
   * @param {() => void} fn
   * @param {number} ms
   */
  setTimeout(fn, ms) {
    const id = ++this.seq;
    this.timers.set(id, { at: this.t + Math.max(0, ms), fn });
    return id;
  }

  /** @param {any} id */
  clearTimeout(id) {
    this.timers.delete(id);
  }

  /**
   * Run every timer due within `ms`, in time order, letting promises settle between them.
   * @param {number} ms
   */
  async advance(ms) {
    const end = this.t + ms;
    await settle();
    for (;;) {
      /** @type {[number, {at: number, fn: () => void}] | null} */
      let next = null;
      for (const [id, tm] of this.timers) {
        if (tm.at <= end && (next === null || tm.at < next[1].at || (tm.at === next[1].at && id < next[0]))) {
          next = [id, tm];
        }
      }
      if (next === null) break;
      this.timers.delete(next[0]);
      this.t = Math.max(this.t, next[1].at);
      next[1].fn();
      await settle();
    }
    this.t = end;
  }

  /** Delays of the pending timers, from now. */
  pending() {
    return [...this.timers.values()].map((tm) => tm.at - this.t).sort((a, b) => a - b);
  }
}

/** Let queued promise callbacks and microtasks run. */
export async function settle() {
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
}

/** A WebSocket whose server side the test plays; instances are collected on the class. */
export class FakeWebSocket {
  /** @type {FakeWebSocket[]} */
  static instances = [];
  /** Throw from the constructor when set. */
  static failNext = false;

  /** @param {string} url */
  constructor(url) {
    if (FakeWebSocket.failNext) {
      FakeWebSocket.failNext = false;
      throw new Error("cannot connect");
    }
    this.url = url;
    /** @type {string[]} */
    this.sent = [];
    /** @type {{code: number, reason: string} | null} */
    this.closedWith = null;
    /** @type {any} */
    this.onmessage = null;
    /** @type {any} */
    this.onerror = null;
    /** @type {any} */
    this.onclose = null;
    /** @type {any} */
    this.onopen = null;
    this.binaryType = "blob";
    FakeWebSocket.instances.push(this);
  }

  static reset() {
    FakeWebSocket.instances = [];
    FakeWebSocket.failNext = false;
  }

  static last() {
    return FakeWebSocket.instances[FakeWebSocket.instances.length - 1];
  }

  /** @param {string} text */
  send(text) {
    if (this.closedWith) throw new Error("socket closed");
    this.sent.push(text);
  }

  /**
   * The client closes: the close event follows asynchronously, as in browsers.
   * @param {number} code
   * @param {string} reason
   */
  close(code, reason) {
    if (this.closedWith) return;
    this.closedWith = { code, reason };
    queueMicrotask(() => this.onclose?.({ code, reason, wasClean: true }));
  }

  // -- the server side --

  /** @param {string} text */
  receive(text) {
    this.onmessage?.({ data: text });
  }

  /** @param {unknown} value packed with EDN */
  receiveValue(value) {
    this.receive(ednPacker.pack(value));
  }

  /** The decoded envelopes the client sent. */
  sentValues() {
    return this.sent.map((t) => ednPacker.unpack(t));
  }

  error() {
    this.onerror?.({ type: "error" });
  }

  /**
   * @param {number} [code]
   * @param {boolean} [wasClean]
   */
  drop(code = 1006, wasClean = false) {
    this.closedWith = { code, reason: "" };
    this.onclose?.({ code, reason: "", wasClean });
  }
}

/**
 * A fetch whose responses the test gives: each call waits in `requests` until answered.
 */
export class FakeFetch {
  constructor() {
    /** @type {FakeRequest[]} */
    this.requests = [];
    this.fetch = this.fetch.bind(this);
  }

  /**
   * @param {string | URL | Request} url
   * @param {RequestInit} [init]
   * @returns {Promise<Response>}
   */
  fetch(url, init = {}) {
    return new Promise((resolve, reject) => {
      const req = new FakeRequest(String(url), init, resolve, reject);
      const signal = init.signal;
      if (signal) {
        signal.addEventListener("abort", () => {
          req.done = true;
          reject(new DOMException("aborted", "AbortError"));
        });
      }
      this.requests.push(req);
    });
  }

  /**
   * Requests not answered yet, optionally of one method.
   * @param {string} [method]
   */
  open(method) {
    return this.requests.filter((r) => !r.done && (method === undefined || r.method === method));
  }
}

export class FakeRequest {
  /**
   * @param {string} url
   * @param {RequestInit} init
   * @param {(r: Response) => void} resolve
   * @param {(e: unknown) => void} reject
   */
  constructor(url, init, resolve, reject) {
    this.url = new URL(url);
    this.init = init;
    this.method = init.method ?? "GET";
    this.headers = /** @type {Record<string, string>} */ (init.headers ?? {});
    this.body = typeof init.body === "string" ? new URLSearchParams(init.body) : null;
    this.done = false;
    this._resolve = resolve;
    this._reject = reject;
  }

  /**
   * @param {number} status
   * @param {string} text
   */
  respond(status, text) {
    if (this.done) throw new Error("request already finished");
    this.done = true;
    this._resolve(new Response(text, { status }));
  }

  /** @param {unknown} value packed with EDN as `[value nil]` */
  reply(value) {
    this.respond(200, ednPacker.pack([value, null]));
  }

  fail() {
    this.done = true;
    this._reject(new TypeError("network error"));
  }
}

/** A logger that keeps the warnings. */
export function collectingLogger() {
  /** @type {string[]} */
  const warnings = [];
  return {
    warnings,
    /** @param {...unknown} args */
    warn(...args) {
      warnings.push(args.map(String).join(" "));
    },
  };
}
