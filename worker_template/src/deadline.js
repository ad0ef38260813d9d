// Nothing waits on Workers AI without a deadline: a model that never answers (Llama 3.3 70B
// with tools, a stalled Llama 4 Scout stream) must turn into a 504 or an error chunk, not a
// request that hangs until the client gives up.
import { ApiError } from "./http.js";

export class DeadlineExceeded extends Error {
  constructor(what, ms) {
    super(`${what} did not arrive within ${ms} ms`);
    this.what = what;
    this.ms = ms;
  }
}

export function withDeadline(promise, ms, what) {
  let timer;
  const expiry = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new DeadlineExceeded(what, ms)), ms);
  });
  return Promise.race([promise, expiry]).finally(() => clearTimeout(timer));
}

// A stream's deadlines (first token, then idle between tokens) with one timer for the whole
// stream, not one per read: arming is an assignment unless the new deadline comes before the
// pending timer, so the per-token cost stays negligible against the free plan's 10 ms CPU
// budget. It runs only while a read is pending (arm before, pause after): a client that reads
// slowly is not an upstream that stalls. On expiry it records the error and calls `onExpire`
// (cancel the reader), which ends the pending read.
export class Watchdog {
  constructor(onExpire) {
    this.onExpire = onExpire;
    this.deadline = Infinity;
    this.timer = null;
    this.firesAt = Infinity;
    this.error = null;
  }

  arm(ms, what, from = Date.now()) {
    this.deadline = from + ms;
    this.ms = ms;
    this.what = what;
    if (this.timer === null || this.firesAt > this.deadline) this.schedule();
  }

  pause() {
    this.deadline = Infinity;
  }

  schedule() {
    clearTimeout(this.timer);
    this.firesAt = this.deadline;
    this.timer = setTimeout(() => this.check(), Math.max(0, this.deadline - Date.now()));
  }

  check() {
    this.timer = null;
    if (this.deadline === Infinity) return; // paused: the next arm schedules again
    if (this.deadline > Date.now()) return this.schedule();
    this.error = new DeadlineExceeded(this.what, this.ms);
    this.onExpire();
  }

  stop() {
    clearTimeout(this.timer);
    this.timer = null;
    this.deadline = Infinity;
  }
}

export function timeoutError(err) {
  return new ApiError(504, `The model did not answer in time: ${err.message}. Retry, pick a faster model, or raise the gateway's timeouts.`, {
    code: "timeout",
  });
}
