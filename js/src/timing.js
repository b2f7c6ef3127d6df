// Sente's client timing rules as pure functions (mirrors core/timing.py); times are ms.

/** The Sente client's default XHR timeout. */
export const CLIENT_AJAX_TIMEOUT_MS = 60_000;
/** Sente's backoff has no cap; ours caps reconnect waits at 30 s. */
export const BACKOFF_CAP_MS = 30_000;

/** The client's timing defaults, with Sente's values. */
export const CLIENT_TIMING = Object.freeze({
  /** Halved internally: the client pings after 10 s of silence. */
  wsKaliveMs: 20_000,
  wsPingTimeoutMs: 5_000,
  ajaxTimeoutMs: CLIENT_AJAX_TIMEOUT_MS,
  backoffCapMs: BACKOFF_CAP_MS,
});

/**
 * Encore's `exp-backoff`: uniform in [factor/2 * 2^n, factor * 2^n) for `rand` in [0, 1), capped.
 * @param {number} attempt
 * @param {number} rand
 * @param {{factor?: number, capMs?: number | null}} [opts]
 */
export function expBackoffMs(attempt, rand, { factor = 1000, capMs = BACKOFF_CAP_MS } = {}) {
  if (!(rand >= 0 && rand < 1)) throw new RangeError(`rand must be in [0, 1), got ${rand}`);
  const b = 2 ** Math.min(Math.max(attempt, 0), 36);
  const wait = Math.floor((b + rand * b) * 0.5 * factor);
  return capMs === null ? wait : Math.min(wait, capMs);
}

/**
 * Wait before reconnect attempt `attempt` (counted from 1): the first is immediate.
 * @param {number} attempt
 * @param {number} rand
 * @param {{capMs?: number | null}} [opts]
 */
export function reconnectDelayMs(attempt, rand, { capMs = BACKOFF_CAP_MS } = {}) {
  return attempt <= 1 ? 0 : expBackoffMs(attempt, rand, { capMs });
}
