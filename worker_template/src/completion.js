// Running a chat model, shared by every API that answers with a completion (chat completions,
// Responses): fallbacks on capacity errors, deadlines for the first and every later token, and
// the CompletionNormalizer turning either dialect into parts.
// Starts a streamed answer and waits for its first output before the response is answered, so
// that an error or a timeout before any token is still a proper HTTP status (429, 504) rather
// than an error inside a 200 stream. Returns that first batch and the rest to come.
import { bindingError, isRetryLater, runModel } from "./binding.js";
import { timeoutError, Watchdog } from "./deadline.js";
import { SseParser } from "./sse.js";

export async function openStream(ctx, model, inputs, normalizer) {
  const timeouts = ctx.settings.timeouts;
  const startedAt = Date.now();
  const upstream = await runWithFallbacks(ctx, model, { ...inputs, stream: true }, timeouts.firstTokenMs, "the first token");
  const events = upstreamEvents(upstream, normalizer, timeouts, startedAt);
  const first = await events.next();
  if (first.value?.length && first.value[0].type === "error" && !first.value.some((p) => p.type === "text")) {
    events.return();
    throw first.value[0].error;
  }
  return { first, events };
}

// Capacity errors (3036/3040) move on to the alias's fallback models, in catalog order. Every
// model but the last is asked to fail at once when busy (rejectIfBusy: 429/3040 instead of a
// wait in Workers AI's capacity queue; workers-ai/features/reject-if-busy), so the fallback
// answers without the queue's delay. ctx.log says which model answered (an x-flaregate-model
// header); the response's `model` stays the name the client asked for.
export async function runWithFallbacks(ctx, model, inputs, deadlineMs, what) {
  const candidates = [model.id, ...model.fallbacks];
  if (model.retired) ctx.log.retired = model.retired;
  for (let i = 0; ; i++) {
    try {
      const extra = i < candidates.length - 1 ? { rejectIfBusy: true } : {};
      const result = await runModel(ctx, candidates[i], inputs, deadlineMs, what, extra);
      if (i > 0) ctx.log.fallback = candidates[i];
      ctx.log.served_model = candidates[i];
      return result;
    } catch (err) {
      if (!isRetryLater(err) || i === candidates.length - 1) throw err;
    }
  }
}

// A non-streamed answer is normally an object; a model that streams anyway gets read to the end.
export async function collectResult(ctx, result, normalizer) {
  if (result instanceof ReadableStream) {
    const parts = [];
    for await (const batch of upstreamEvents(result, normalizer, { firstTokenMs: ctx.settings.timeouts.requestMs, idleMs: ctx.settings.timeouts.idleMs })) {
      parts.push(...batch);
    }
    return parts;
  }
  return [...normalizer.event(result), ...normalizer.end({ streamed: false })];
}

// Batches of parts as the upstream produces them, through an async iterator's next()/return().
// Deadlines: the first event must come within firstTokenMs of `startedAt` (the binding call
// included), every later one within idleMs; on expiry the upstream is cancelled and an error part
// ends the stream. A non-stream object (gpt-oss and Kimi on some paths) is replayed as a single
// event: a simulated stream. A plain object rather than an async generator: it runs once per
// upstream read, and return() cancels the upstream at once, even while a read is pending.
function upstreamEvents(upstream, normalizer, timeouts, startedAt = Date.now()) {
  return new UpstreamBatches(upstream, normalizer, timeouts, startedAt);
}

const NO_MORE = Object.freeze({ done: true, value: undefined });

class UpstreamBatches {
  constructor(upstream, normalizer, timeouts, startedAt) {
    this.normalizer = normalizer;
    this.timeouts = timeouts;
    this.closed = false;
    this.ending = false; // a stop sequence was reached: the next batch is the last
    if (!(upstream instanceof ReadableStream)) {
      this.object = upstream;
      return;
    }
    this.reader = upstream.getReader();
    this.parser = new SseParser();
    this.watchdog = new Watchdog(() => this.reader.cancel().catch(() => {}));
    this.wait = { ms: timeouts.firstTokenMs, what: "the first token", from: startedAt };
  }

  [Symbol.asyncIterator]() {
    return this;
  }

  async next() {
    if (this.closed) return NO_MORE;
    const normalizer = this.normalizer;
    if (!this.reader) {
      this.closed = true;
      return { done: false, value: [...normalizer.event(this.object), ...normalizer.end({ streamed: false })] };
    }
    const watchdog = this.watchdog;
    while (!this.ending) {
      let read;
      watchdog.arm(this.wait.ms, this.wait.what, this.wait.from);
      try {
        read = await this.reader.read();
      } catch (err) {
        if (this.closed) return NO_MORE;
        return this.last([{ type: "error", error: bindingError(err, "") }], false);
      } finally {
        watchdog.pause();
      }
      if (this.closed) return NO_MORE; // return() was called while the read was pending
      if (watchdog.error) return this.last([{ type: "error", error: timeoutError(watchdog.error) }], false);
      if (read.done) break;
      const parts = [];
      for (const data of this.parser.push(read.value)) normalizer.event(data, parts);
      if (normalizer.sawEvent && this.wait.from !== undefined) this.wait = { ms: this.timeouts.idleMs, what: "the next token", from: undefined };
      if (normalizer.stopped) this.ending = true; // a stop sequence: the rest of the answer is not wanted
      if (parts.length) return { done: false, value: parts };
    }
    const parts = [];
    if (!normalizer.stopped) for (const data of this.parser.end()) normalizer.event(data, parts);
    parts.push(...normalizer.end({ streamed: true }));
    return this.last(parts, !normalizer.stopped);
  }

  last(parts, finished) {
    this.closed = true;
    this.watchdog.stop();
    if (!finished) this.reader.cancel().catch(() => {});
    return { done: false, value: parts };
  }

  return() {
    if (!this.closed) {
      this.closed = true;
      if (this.reader) {
        this.watchdog.stop();
        this.reader.cancel().catch(() => {});
      }
    }
    return Promise.resolve(NO_MORE);
  }
}
