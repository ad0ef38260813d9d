// A stand-in for the Workers AI binding (env.AI) for local runs and tests. It is loaded by
// Miniflare as a wrapped binding, so the Worker calls it exactly as it calls the real one:
// env.AI.run(model, inputs, options). It replays fixture files (tests/fixtures/workers-ai/*.json
// and *.sse, passed in as the FIXTURES binding) that reproduce what real models return.
// Kept ASCII: Miniflare reads wrapped-binding modules as latin1.
//
// What to replay is chosen by a directive in the last user message (or the embeddings text /
// image prompt), so a test says what the "model" does without a second channel:
//   fixture:NAME[?chunk=N&delay=MS]  replay NAME.sse when streaming, NAME.json otherwise
//                                     (the other one when only one exists), in N-byte reads
//   slow:COUNT:MS                     stream COUNT tokens, one every MS milliseconds
//   hang[:MS]                         never answer (a long timer: workerd cancels a request
//                                     that awaits a promise that never settles)
//   error:MESSAGE                     throw like the binding does, e.g. error:3040: Capacity...
//   error-for:MODEL|MESSAGE           throw only when called with MODEL, answer normally otherwise
//   echo                              answer "echo:" + base64 of the model, inputs and options it
//                                     was called with
//   agent:[STEP, ...]                 a multi-turn model: answers with step N, where N is the number
//                                     of assistant turns already in the conversation; a STEP is a
//                                     fixture name, {"text": "..."} or {"sse": ..., "object": ...}
//   script:JSON                       {"sse": "...", "object": {...}, "chunk": N, "delay": MS,
//                                      "error": "...", "errorAfter": N (reads, then the stream
//                                      fails), "delayFirst": MS (before run returns),
//                                      "streamDelayFirst": MS (stream returned, first read late)}
// Anything else gets a short native answer, so any client works against the runner.

const encoder = new TextEncoder();

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

const DIRECTIVE = /^(fixture:|slow:|hang|error:|error-for:|echo$|script:|agent:)/;

// The directive is the latest user message that holds one: in a tool loop with emulated tools
// the tool results arrive as later user messages.
function directiveText(inputs) {
  if (typeof inputs?.prompt === "string") return inputs.prompt;
  if (typeof inputs?.text === "string") return inputs.text;
  if (Array.isArray(inputs?.text)) return String(inputs.text[0] ?? "");
  if (typeof inputs?.input === "string") return inputs.input;
  const messages = inputs?.messages ?? (Array.isArray(inputs?.input) ? inputs.input : []);
  const texts = messages
    .filter((m) => m.role === "user")
    .map((m) => (typeof m.content === "string" ? m.content : Array.isArray(m.content) ? m.content.map((p) => p.text ?? "").join("") : ""))
    .map((t) => t.trim());
  for (let i = texts.length - 1; i >= 0; i--) if (DIRECTIVE.test(texts[i])) return texts[i];
  return texts[texts.length - 1] ?? "";
}

function base64Utf8(text) {
  let binary = "";
  for (const byte of encoder.encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary);
}

function bindingError(message) {
  const err = new Error(message);
  err.name = "InferenceUpstreamError";
  return err;
}

// Replays `text` in reads of `chunkSize` bytes; an array of sizes is used in turn (cycling), so
// a test can cut anywhere, inside a line or a multi-byte character.
function chunkedStream(text, chunkSize, delayMs, failAfter, initialDelay = 0) {
  const bytes = encoder.encode(text);
  const sizes = (Array.isArray(chunkSize) ? chunkSize : [chunkSize]).map((n) => (n > 0 ? n : bytes.length));
  let offset = 0;
  let reads = 0;
  return new ReadableStream({
    async pull(controller) {
      if (offset >= bytes.length) {
        controller.close();
        return;
      }
      if (delayMs > 0 && offset > 0) await sleep(delayMs);
      if (offset === 0 && initialDelay > 0) await sleep(initialDelay);
      if (failAfter !== undefined && reads >= failAfter) {
        controller.error(bindingError("3043: Internal server error"));
        return;
      }
      const size = sizes[reads % sizes.length];
      controller.enqueue(bytes.slice(offset, offset + size));
      offset += size;
      reads += 1;
    },
  });
}

// Streams by SSE event (one read per event) unless a chunk size is given.
function eventStream(text, delayMs) {
  const events = text.split(/(?<=\n\n)/);
  let i = 0;
  return new ReadableStream({
    async pull(controller) {
      if (i >= events.length) {
        controller.close();
        return;
      }
      if (delayMs > 0 && i > 0) await sleep(delayMs);
      controller.enqueue(encoder.encode(events[i++]));
    },
  });
}

function replay({ sse, object, streamDelayFirst = 0 }, stream, chunk, delay, failAfter) {
  if (stream && sse !== undefined) {
    if (failAfter !== undefined || streamDelayFirst) return chunkedStream(sse, chunk || 0, delay, failAfter, streamDelayFirst);
    return chunk && chunk.length !== 0 ? chunkedStream(sse, chunk, delay, failAfter) : eventStream(sse, delay);
  }
  if (object !== undefined) return structuredClone(object);
  // Asked without streaming, but only a stream exists: some models stream anyway.
  return chunk ? chunkedStream(sse, chunk, delay, failAfter) : eventStream(sse, delay);
}

function defaultAnswer(model, inputs) {
  const words = ["Hello", " from", " ", model, "."];
  const usage = { prompt_tokens: 8, completion_tokens: words.length, total_tokens: 8 + words.length };
  if (!inputs?.stream) return { response: words.join(""), tool_calls: [], usage };
  const sse = words.map((w) => `data: ${JSON.stringify({ response: w, p: "abcdef" })}\n\n`).join("")
    + `data: ${JSON.stringify({ response: "", usage })}\n\ndata: [DONE]\n\n`;
  return eventStream(sse, 0);
}

function textAnswer(text, stream) {
  const usage = { prompt_tokens: 20, completion_tokens: 7, total_tokens: 27 };
  if (!stream) return { response: text, tool_calls: [], usage };
  const pieces = text.match(/.{1,4}/gs) ?? [];
  const sse = pieces.map((p) => `data: ${JSON.stringify({ response: p })}\n\n`).join("")
    + `data: ${JSON.stringify({ response: "", usage })}\n\ndata: [DONE]\n\n`;
  return eventStream(sse, 0);
}

function slowStream(count, ms) {
  let sent = 0;
  return new ReadableStream({
    async pull(controller) {
      if (sent > 0 || ms > 0) await sleep(ms);
      if (sent < count) {
        controller.enqueue(encoder.encode(`data: ${JSON.stringify({ response: `t${sent} `, p: "ab" })}\n\n`));
        sent += 1;
        return;
      }
      const usage = { prompt_tokens: 3, completion_tokens: count, total_tokens: 3 + count };
      controller.enqueue(encoder.encode(`data: ${JSON.stringify({ response: "", usage })}\n\ndata: [DONE]\n\n`));
      controller.close();
    },
  });
}

export default function (env) {
  const fixtures = env.FIXTURES ?? {};
  return {
    async run(model, inputs, options) {
      const text = directiveText(inputs);
      const stream = inputs?.stream === true;
      if (text.startsWith("fixture:")) {
        const [name, query = ""] = text.slice(8).split("?");
        const params = new URLSearchParams(query);
        const entry = fixtures[name];
        if (!entry) throw bindingError(`5007: No such fixture ${name}`);
        return replay(entry, stream, Number(params.get("chunk") ?? 0), Number(params.get("delay") ?? 0));
      }
      if (text.startsWith("slow:")) {
        const [, count, ms] = text.split(":");
        if (stream) return slowStream(Number(count), Number(ms));
        await sleep(Number(count) * Number(ms));
        return { response: Array.from({ length: Number(count) }, (_, i) => `t${i} `).join(""), usage: { prompt_tokens: 3, completion_tokens: Number(count), total_tokens: 3 + Number(count) } };
      }
      if (text.startsWith("hang")) {
        await sleep(Number(text.split(":")[1] ?? 600000));
        return { response: "too late" };
      }
      if (text.startsWith("error:")) throw bindingError(text.slice(6));
      if (text.startsWith("error-for:")) {
        const [target, message] = text.slice(10).split("|");
        if (target === model) throw bindingError(message);
        return defaultAnswer(model, inputs);
      }
      if (text === "echo") {
        // Base64, so that the Worker's quirk filters see opaque text, not JSON that quotes tools.
        const response = "echo:" + base64Utf8(JSON.stringify({ model, inputs, options: options ?? null }));
        if (!stream) return { response, usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } };
        return eventStream(`data: ${JSON.stringify({ response })}\n\ndata: [DONE]\n\n`, 0);
      }
      if (text.startsWith("agent:")) {
        const steps = JSON.parse(text.slice(6));
        const messages = inputs?.messages ?? inputs?.input ?? [];
        const turn = messages.filter((m) => m.role === "assistant" || m.type === "function_call").length;
        const step = steps[Math.min(turn, steps.length - 1)];
        if (typeof step === "string") return replay(fixtures[step], stream, 0, 0);
        if (typeof step.text === "string") return textAnswer(step.text, stream);
        return replay(step, stream, step.chunk ?? 0, step.delay ?? 0);
      }
      if (text.startsWith("script:")) {
        const script = JSON.parse(text.slice(7));
        if (script.delayFirst) await sleep(script.delayFirst);
        if (script.error) throw bindingError(script.error);
        return replay(script, stream, script.chunk ?? 0, script.delay ?? 0, script.errorAfter);
      }
      return defaultAnswer(model, inputs);
    },
  };
}
