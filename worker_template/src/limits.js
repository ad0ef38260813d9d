// Per-key request and token limits (docs/keys.md): `rpm` (requests in any rolling 60 s) and
// `tokens_per_day` (prompt + completion tokens per UTC day). The counters of a key live in one
// KeyLimiter Durable Object (SQLite-backed), so they are exact across every Cloudflare location:
// the Worker asks it once per model call before calling the model (admitRequest) and tells it the
// tokens once the answer is complete (reportTokens, from the router's end-of-request hook).
// Keys without rpm/tokens_per_day never reach this module.
//
// The object is named by the key's limit group (`limit_group` in the record, else its id), which
// rotate-key hands on to the new key: a rotation continues the same window and the same budget.
import { ApiError } from "./http.js";

const LIMITER_BINDING = "KEY_LIMITER"; // flaregate/durable_objects.py names it for the deploy
const WINDOW_MS = 60_000;
// Test-only: the rolling window in ms, so tests see a window end without waiting a minute.
// Never set by `flaregate deploy` or wrangler.toml; docs/keys.md says so.
const TEST_WINDOW_VAR = "LIMITS_TEST_WINDOW_MS";
const LIMITER_TIMEOUT_MS = 5000;

// The Durable Object. The counters live in memory (the admitted requests of the window, oldest
// first, and the tokens of the current UTC day), so a check costs the same at rpm 10 and
// rpm 10,000, and every check runs synchronously: concurrent requests to one object cannot
// interleave between the count and the admission, so 25 requests at once against rpm 10 admit
// exactly 10. SQLite keeps them across the object being evicted or moved. Changes are written
// in one batch at most every FLUSH_MS, not per request: a write holds back every answer the
// object sends until it is confirmed (measured locally: +12 ms per request at concurrency 1,
// +110 ms at 8), and the in-memory state is already exact. What a crash can lose is the last
// FLUSH_MS of counting.
const FLUSH_MS = 1000;

export class KeyLimiter {
  constructor(state) {
    this.sql = state.storage.sql;
    this.sql.exec("CREATE TABLE IF NOT EXISTS admitted (at INTEGER NOT NULL)");
    this.sql.exec("CREATE TABLE IF NOT EXISTS tokens (day TEXT PRIMARY KEY, used INTEGER NOT NULL)");
    this.window = this.sql.exec("SELECT at FROM admitted ORDER BY at").toArray().map((row) => row.at);
    this.head = 0; // window[head] is the oldest request still inside the window
    const day = this.sql.exec("SELECT day, used FROM tokens ORDER BY day DESC LIMIT 1").toArray()[0];
    this.tokens = day ? { day: day.day, used: day.used } : { day: null, used: 0 };
    this.unsaved = { admitted: [], cutoff: null, tokens: false };
    this.flushTimer = null;
  }

  async fetch(request) {
    const body = await request.json();
    const path = new URL(request.url).pathname;
    if (path === "/admit") return Response.json(this.admit(body, Date.now()));
    if (path === "/report") return Response.json(this.report(body, Date.now()));
    return new Response("unknown limiter call", { status: 404 });
  }

  // {rpm, tokensPerDay, windowMs} -> the verdict and the numbers for the x-ratelimit headers.
  // The token budget is checked first, so a request refused for quota takes no rpm slot.
  admit({ rpm, tokensPerDay, windowMs }, now) {
    const verdict = { allowed: true, now };
    if (tokensPerDay !== null) {
      const used = this.tokensOn(utcDay(now));
      verdict.tokens = { limit: tokensPerDay, remaining: Math.max(0, tokensPerDay - used), resetMs: msUntilUtcMidnight(now) };
      if (used >= tokensPerDay) return { ...verdict, allowed: false, reason: "tokens" };
    }
    if (rpm !== null) {
      const count = this.slide(now - windowMs);
      if (count >= rpm) {
        // The oldest request leaves the window first: that is when the next one fits.
        const retryMs = count > 0 ? Math.max(1, this.window[this.head] + windowMs - now) : windowMs;
        const resetMs = count > 0 ? this.window[this.window.length - 1] + windowMs - now : 0;
        verdict.requests = { limit: rpm, remaining: 0, resetMs };
        return { ...verdict, allowed: false, reason: "requests", retryMs };
      }
      this.window.push(now);
      this.unsaved.admitted.push(now);
      this.scheduleFlush();
      verdict.requests = { limit: rpm, remaining: rpm - count - 1, resetMs: windowMs };
    }
    return verdict;
  }

  // Drops the requests at or before `cutoff`; returns how many are left in the window.
  slide(cutoff) {
    const start = this.head;
    while (this.head < this.window.length && this.window[this.head] <= cutoff) this.head++;
    if (this.head > start) {
      this.unsaved.cutoff = cutoff;
      this.scheduleFlush();
      if (this.head > 1024 && this.head * 2 > this.window.length) {
        this.window = this.window.slice(this.head);
        this.head = 0;
      }
    }
    return this.window.length - this.head;
  }

  report({ tokens }, now) {
    const day = utcDay(now);
    const count = Math.max(0, Math.round(Number(tokens) || 0));
    this.tokens = { day, used: this.tokensOn(day) + count };
    this.unsaved.tokens = true;
    this.scheduleFlush();
    return { used: this.tokens.used };
  }

  tokensOn(day) {
    return this.tokens.day === day ? this.tokens.used : 0;
  }

  scheduleFlush() {
    this.flushTimer ??= setTimeout(() => this.flush(), FLUSH_MS);
  }

  flush() {
    this.flushTimer = null;
    const { admitted, cutoff, tokens } = this.unsaved;
    this.unsaved = { admitted: [], cutoff: null, tokens: false };
    if (cutoff !== null) this.sql.exec("DELETE FROM admitted WHERE at <= ?", cutoff);
    for (const at of admitted) this.sql.exec("INSERT INTO admitted (at) VALUES (?)", at);
    if (tokens) {
      this.sql.exec("DELETE FROM tokens WHERE day <> ?", this.tokens.day);
      this.sql.exec("INSERT OR REPLACE INTO tokens (day, used) VALUES (?, ?)", this.tokens.day, this.tokens.used);
    }
  }
}

// Asks the key's limiter whether this request may run. Sets ctx.limits (for the headers and the
// token report) and throws 429 when a limit is reached, 503 when the limiter cannot answer:
// a limit that silently stops applying would be a bill nobody agreed to.
export async function admitRequest(ctx, key) {
  const namespace = ctx.env[LIMITER_BINDING];
  if (!namespace || typeof namespace.idFromName !== "function") {
    throw limiterUnavailable(`this gateway has no ${LIMITER_BINDING} Durable Object binding. Redeploy with \`flaregate deploy\``);
  }
  const stub = namespace.get(namespace.idFromName(key.limitGroup));
  const ask = { rpm: key.rpm, tokensPerDay: key.tokensPerDay, windowMs: windowMs(ctx.env) };
  let verdict;
  try {
    verdict = await callLimiter(stub, "/admit", ask);
  } catch (err) {
    console.error(JSON.stringify({ event: "limiter_unavailable", request_id: ctx.requestId, key_id: key.id, error: String(err?.message ?? err) }));
    throw limiterUnavailable("its rate limiter did not answer. Retry in a few seconds");
  }
  ctx.limits = { stub, key, verdict, events: 0, ended: null };
  if (verdict.allowed) return;
  if (verdict.reason === "tokens") {
    const seconds = Math.max(1, Math.ceil(verdict.tokens.resetMs / 1000));
    throw new ApiError(429, `This API key has used its daily budget of ${key.tokensPerDay} tokens. It resets at 00:00 UTC, in ${formatReset(verdict.tokens.resetMs)}.`, {
      code: "insufficient_quota", headers: { "retry-after": String(seconds) },
    });
  }
  const why = key.rpm === 0
    ? "This API key's rate limit is 0 requests per minute: it may not call models until its operator raises it (`flaregate keys update`)."
    : `Rate limit reached for this API key: ${key.rpm} requests per minute. Retry in ${formatReset(verdict.retryMs)}.`;
  throw new ApiError(429, why, {
    code: "rate_limit_exceeded",
    headers: { "retry-after": String(Math.max(1, Math.ceil(verdict.retryMs / 1000))), "retry-after-ms": String(verdict.retryMs) },
  });
}

// Called once per request when it has ended (a stream: at its end). Only a key with a token
// budget reports, and only an admitted request. Tokens are what the model reported; where it
// reported none (a model that sends no usage, a stream the client left early, an image), an
// estimate in the spirit of the embeddings route: ~4 bytes of request body per prompt token,
// and one token per event streamed back. A failed request without usage counts nothing.
export function reportTokens(ctx, status) {
  const limits = ctx.limits;
  sendTokenReport(ctx, limits, status);
  limits.ended?.(); // a stream's request may end now (limitedStream)
}

function sendTokenReport(ctx, limits, status) {
  if (!limits.verdict.allowed || limits.key.tokensPerDay === null) return;
  const usage = ctx.log.usage;
  let tokens = (Number(usage?.prompt_tokens) || 0) + (Number(usage?.completion_tokens) || 0);
  if (!usage && status < 400) {
    tokens = Math.ceil((Number(ctx.request.headers.get("content-length")) || 0) / 4) + limits.events;
  }
  if (!(tokens > 0)) return;
  const report = callLimiter(limits.stub, "/report", { tokens }).catch((err) => {
    console.error(JSON.stringify({ event: "limiter_report_failed", request_id: ctx.requestId, key_id: limits.key.id, tokens, error: String(err?.message ?? err) }));
  });
  ctx.executionCtx?.waitUntil?.(report);
}

// The stream of a key with a token budget. A client that disconnects mid-stream ends the request
// at once, before the end hook could run, and its tokens would never be counted: the request is
// kept alive (waitUntil) until reportTokens has run. The stream's events are counted
// (blank-line separated), so a stream that ends without usage can still be estimated.
export function limitedStream(body, ctx) {
  const limits = ctx.limits;
  if (limits.key.tokensPerDay === null) return body; // nothing to report at the end
  ctx.executionCtx?.waitUntil?.(new Promise((resolve) => { limits.ended = resolve; }));
  const reader = body.getReader();
  let last = 0;
  return new ReadableStream({
    async pull(controller) {
      const { done, value } = await reader.read();
      if (done) {
        controller.close();
        return;
      }
      for (const byte of value) {
        if (byte === 10 && last === 10) limits.events++;
        last = byte;
      }
      controller.enqueue(value);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
}

// OpenAI's x-ratelimit-* headers for a request the limiter answered: the requests trio for rpm,
// the tokens trio for the daily budget.
export function setLimitHeaders(headers, limits) {
  const { requests, tokens } = limits.verdict;
  if (requests) {
    headers.set("x-ratelimit-limit-requests", String(requests.limit));
    headers.set("x-ratelimit-remaining-requests", String(requests.remaining));
    headers.set("x-ratelimit-reset-requests", formatReset(requests.resetMs));
  }
  if (tokens) {
    headers.set("x-ratelimit-limit-tokens", String(tokens.limit));
    headers.set("x-ratelimit-remaining-tokens", String(tokens.remaining));
    headers.set("x-ratelimit-reset-tokens", formatReset(tokens.resetMs));
  }
}

async function callLimiter(stub, path, body) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${LIMITER_TIMEOUT_MS} ms`)), LIMITER_TIMEOUT_MS);
  });
  try {
    const call = stub.fetch(`https://limiter${path}`, { method: "POST", body: JSON.stringify(body) });
    const response = await Promise.race([call, timeout]);
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    return await response.json();
  } finally {
    clearTimeout(timer);
  }
}

function limiterUnavailable(why) {
  return new ApiError(503, `This API key has usage limits, but ${why}. Requests with this key are refused until the limits can be checked.`, {
    code: "limits_unavailable",
  });
}

function windowMs(env) {
  const n = Number(env[TEST_WINDOW_VAR]);
  return Number.isInteger(n) && n > 0 ? n : WINDOW_MS;
}

function utcDay(now) {
  return new Date(now).toISOString().slice(0, 10);
}

function msUntilUtcMidnight(now) {
  const d = new Date(now);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1) - now;
}

// OpenAI's duration format for x-ratelimit-reset-*: "20ms", "1s", "6m0s", "13h2m5s".
function formatReset(ms) {
  if (ms < 1000) return `${Math.max(0, Math.ceil(ms))}ms`;
  let seconds = Math.ceil(ms / 1000);
  const hours = Math.floor(seconds / 3600);
  seconds -= hours * 3600;
  const minutes = Math.floor(seconds / 60);
  seconds -= minutes * 60;
  if (hours) return `${hours}h${minutes}m${seconds}s`;
  if (minutes) return `${minutes}m${seconds}s`;
  return `${seconds}s`;
}
