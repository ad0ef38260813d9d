// POST /v1/chat/completions: request -> inputs -> Workers AI (with deadline and fallbacks) ->
// CompletionNormalizer -> an OpenAI chat.completion, or a stream of chat.completion.chunk.
async function handleChatCompletions(ctx) {
  const body = await readJsonBody(ctx.request, ctx.settings.limits.maxBodyBytes);
  const viaOrigin = await routeToOrigin(ctx, body);
  if (viaOrigin) return viaOrigin;
  const req = parseChatRequest(body);
  ctx.log.model_requested = typeof req.model === "string" ? req.model : null;
  const model = resolveModel(req.model, "chat");
  const { inputs, tools, maxTokens } = buildChatInputs(req, model);
  ctx.log.model = model.id;
  ctx.log.stream = req.stream;
  const normalizer = new CompletionNormalizer({ toolNames: tools.names, reasoning: model.facts.reasoning, maxTokens, stop: req.stop });
  const meta = { id: newId("chatcmpl-"), created: Math.floor(Date.now() / 1000), model: model.requested };
  const timeouts = ctx.settings.timeouts;

  if (!req.stream) {
    const result = await runWithFallbacks(ctx, model, inputs, timeouts.requestMs, "the answer");
    const parts = await collectResult(ctx, result, normalizer);
    return jsonResponse(assembleCompletion(meta, parts, ctx));
  }

  const { first, events } = await openStream(ctx, model, inputs, normalizer);
  return new Response(chatChunkStream(meta, first, events, req.includeUsage, ctx), { headers: SSE_HEADERS });
}

// Starts a streamed answer and waits for its first output before the response is answered, so
// that an error or a timeout before any token is still a proper HTTP status (429, 504) rather
// than an error inside a 200 stream. Returns that first batch and the rest to come.
async function openStream(ctx, model, inputs, normalizer) {
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

// Capacity errors (3036/3040) move on to the alias's fallback models, in catalog order.
async function runWithFallbacks(ctx, model, inputs, deadlineMs, what) {
  const candidates = [model.id, ...model.fallbacks];
  for (let i = 0; ; i++) {
    try {
      const result = await runModel(ctx, candidates[i], inputs, deadlineMs, what);
      if (i > 0) ctx.log.fallback = candidates[i];
      return result;
    } catch (err) {
      if (!isRetryLater(err) || i === candidates.length - 1) throw err;
    }
  }
}

// A non-streamed answer is normally an object; a model that streams anyway gets read to the end.
async function collectResult(ctx, result, normalizer) {
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

function assembleCompletion(meta, parts, ctx) {
  let content = "";
  let reasoning = "";
  const calls = [];
  let finish = "stop";
  let usage = null;
  for (const part of parts) {
    if (part.type === "error") throw part.error;
    if (part.type === "text") content += part.text;
    else if (part.type === "reasoning") reasoning += part.text;
    else if (part.type === "tool_call") calls[part.index] = { id: part.id, type: "function", function: { name: part.name, arguments: "" } };
    else if (part.type === "tool_args") calls[part.index].function.arguments += part.text;
    else if (part.type === "finish") finish = part.reason;
    else if (part.type === "usage") usage = part.usage;
  }
  const message = { role: "assistant", content: calls.length && !content.trim() ? null : content };
  if (reasoning) message.reasoning_content = reasoning;
  if (calls.length) message.tool_calls = calls.filter(Boolean);
  message.refusal = null;
  ctx.log.usage = usage;
  const completion = {
    id: meta.id, object: "chat.completion", created: meta.created, model: meta.model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: finish }],
  };
  completion.usage = usage ?? { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 };
  return completion;
}

// chat.completion.chunk events, one per part as it arrives: the role first, then text,
// reasoning and tool-call deltas, a chunk with finish_reason, the usage chunk if asked, [DONE].
// An error mid-stream becomes {"error": {...}} (OpenAI clients raise it) and ends the stream.
// The chunk envelope is serialized once; each part only adds its delta, and each upstream read
// becomes one write, so the per-token CPU stays small.
function chatChunkStream(meta, first, events, includeUsage, ctx) {
  const head = JSON.stringify({ id: meta.id, object: "chat.completion.chunk", created: meta.created, model: meta.model }).slice(0, -1);
  const chunk = (delta, finish = null) =>
    `data: ${head},"choices":[{"index":0,"delta":${JSON.stringify(delta)},"logprobs":null,"finish_reason":${JSON.stringify(finish)}}]}\n\n`;
  let pending = first;
  let usage = null;
  return new ReadableStream({
    start(controller) {
      controller.enqueue(SSE_ENCODER.encode(chunk({ role: "assistant", content: "" })));
    },
    async pull(controller) {
      // A batch can produce no bytes (usage alone): keep reading, or the stream would stall.
      for (;;) {
        if (await this.pump(controller)) return;
      }
    },
    async pump(controller) {
      const batch = pending ?? (await events.next());
      pending = null;
      if (batch.done) {
        controller.close();
        return true;
      }
      let out = "";
      for (const part of batch.value) {
        switch (part.type) {
          case "text":
            out += chunk({ content: part.text });
            break;
          case "reasoning":
            out += chunk({ reasoning_content: part.text });
            break;
          case "tool_call":
            out += chunk({ tool_calls: [{ index: part.index, id: part.id, type: "function", function: { name: part.name, arguments: "" } }] });
            break;
          case "tool_args":
            out += chunk({ tool_calls: [{ index: part.index, function: { arguments: part.text } }] });
            break;
          case "usage":
            usage = part.usage;
            ctx.log.usage = usage;
            break;
          case "finish":
            out += chunk({}, part.reason);
            if (includeUsage) {
              out += `data: ${head},"choices":[],"usage":${JSON.stringify(usage ?? { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 })}}\n\n`;
            }
            out += "data: [DONE]\n\n";
            break;
          case "error":
            ctx.log.stream_error = part.error.code;
            controller.enqueue(SSE_ENCODER.encode(`${out}data: ${JSON.stringify(part.error.body())}\n\ndata: [DONE]\n\n`));
            controller.close();
            events.return();
            return true;
          default:
            break;
        }
      }
      if (out) controller.enqueue(SSE_ENCODER.encode(out));
      return out !== "";
    },
    cancel() {
      events.return();
    },
  });
}
