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

// Yields batches of parts as the upstream produces them. Deadlines: the first event must come
// within firstTokenMs of `startedAt` (the binding call included), every later one within idleMs;
// on expiry the upstream is cancelled and an error part ends the stream. A non-stream object
// (gpt-oss and Kimi on some paths) is replayed as a single event: a simulated stream.
async function* upstreamEvents(upstream, normalizer, timeouts, startedAt = Date.now()) {
  if (!(upstream instanceof ReadableStream)) {
    yield [...normalizer.event(upstream), ...normalizer.end({ streamed: false })];
    return;
  }
  const reader = upstream.getReader();
  const parser = new SseParser();
  const watchdog = new Watchdog(() => reader.cancel().catch(() => {}));
  let wait = { ms: timeouts.firstTokenMs, what: "the first token", from: startedAt };
  let finished = false;
  try {
    for (;;) {
      let read;
      watchdog.arm(wait.ms, wait.what, wait.from);
      try {
        read = await reader.read();
      } catch (err) {
        yield [{ type: "error", error: bindingError(err, "") }];
        return;
      } finally {
        watchdog.pause();
      }
      if (watchdog.error) {
        yield [{ type: "error", error: timeoutError(watchdog.error) }];
        return;
      }
      if (read.done) break;
      const parts = [];
      for (const data of parser.push(read.value)) parts.push(...normalizer.event(data));
      if (normalizer.sawEvent) wait = { ms: timeouts.idleMs, what: "the next token", from: undefined };
      if (parts.length) yield parts;
      if (normalizer.stopped) break; // a stop sequence: the rest of the answer is not wanted
    }
    const parts = normalizer.stopped ? [] : parser.end().flatMap((data) => normalizer.event(data));
    parts.push(...normalizer.end({ streamed: true }));
    finished = !normalizer.stopped;
    yield parts;
  } finally {
    watchdog.stop();
    if (!finished) reader.cancel().catch(() => {});
  }
}
