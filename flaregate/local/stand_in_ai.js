// A stand-in for the Workers AI binding (env.AI): what `flaregate dev` answers with when no
// Cloudflare account is used, and what the tests call. Not a model: it exists so clients and
// integrations can be tried against the real Worker. Miniflare loads it as a wrapped binding, so
// the Worker calls it exactly as it calls the real one: env.AI.run(model, inputs, options).
// It replays fixture files that reproduce what real models return (the FIXTURES binding: the
// tests pass tests/fixtures/workers-ai; `flaregate dev` passes none), and NOTE, when bound, is
// appended to its default answer so a person reading it knows where it came from.
// Kept ASCII: Miniflare reads wrapped-binding modules as latin1.
//
// What to replay is chosen by a directive in the last user message (or the embeddings text /
// image prompt; fixture:, script:, agent: and echo also on a line of their own inside a longer user
// message), so a test says what the "model" does without a second channel:
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
//                                     fixture name, {"text": "..."}, {"echo": true} (as echo),
//                                     {"sse": ..., "object": ...} or
//                                     {"afterTool": PREFIX, "dialect": "native"|"openai"}: PREFIX +
//                                     the latest tool result the conversation holds, in that
//                                     dialect's shape (proves the client sent the result back)
//   script:JSON                       {"sse": "...", "object": {...}, "chunk": N, "delay": MS,
//                                      "error": "...", "errorAfter": N (reads, then the stream
//                                      fails), "delayFirst": MS (before run returns),
//                                      "streamDelayFirst": MS (stream returned, first read late),
//                                      "asResponse": true (wrapped in a Response)}
//   reject-echo                       throw "8001: {model, inputs, options}" (inputs with a
//                                     multipart body shown as its form fields): a way to see
//                                     what an embeddings or image call was sent
//   image:FORM                        answer an image call as FORM: base64 ({image}), stream
//                                     (ReadableStream of bytes), bytes (Uint8Array), buffer
//                                     (ArrayBuffer), empty ({image: ""}), not-image (a byte
//                                     stream of a JSON error body)
// Fixture outputs {"$bytes_base64": "...", "$as": "stream"|"bytes"|"buffer"} replay as bytes.
// Models listed in kimi-reasoning-required.json fail like Kimi when an assistant tool-call turn
// comes back without its reasoning, whatever the directive.
// Anything else gets a short native answer, so any client works against the runner. Embeddings
// calls ({text}) get deterministic unit vectors of the model's dimension (MODELS, from
// flaregate/data/models.json) and fail like the real API beyond the model's batch limit; image
// calls get a small image in the model's output form, and multipart-input models (FLUX.2) fail
// unless sent {multipart: {body, contentType}} with a prompt field.

const encoder = new TextEncoder();

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// A 2x2 PNG and a 2x2 JPEG (made with sharp), standing in for generated images.
const PNG_BASE64 = "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAACXBIWXMAAAPoAAAD6AG1e1JrAAAAFElEQVR4nGP4z8DAAMIM////ZwAAHu8E/KPItPcAAAAASUVORK5CYII=";
const JPEG_BASE64 = "/9j/2wBDAAYEBQYFBAYGBQYHBwYIChAKCgkJChQODwwQFxQYGBcUFhYaHSUfGhsjHBYWICwgIyYnKSopGR8tMC0oMCUoKSj/2wBDAQcHBwoIChMKChMoGhYaKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCj/wAARCAACAAIDASIAAhEBAxEB/8QAFQABAQAAAAAAAAAAAAAAAAAAAAf/xAAcEAACAgMBAQAAAAAAAAAAAAABAgADBAUGESH/xAAVAQEBAAAAAAAAAAAAAAAAAAAGB//EAB0RAAEDBQEAAAAAAAAAAAAAAAEABLECAzM0cXL/2gAMAwEAAhEDEQA/AKxwGuwruE5u27DxrLH1uMzO1SksTUvpJ8+mIiRB/tXfRkoq6zV9Mr//2Q==";

function fromBase64(text) {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

function bytesAs(bytes, form) {
  if (form === "bytes") return bytes;
  if (form === "buffer") return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  return new ReadableStream({
    start(controller) {
      // Two reads, so the Worker has to join them.
      const half = Math.floor(bytes.length / 2);
      controller.enqueue(bytes.slice(0, half));
      controller.enqueue(bytes.slice(half));
      controller.close();
    },
  });
}

// A unit vector derived from the text (FNV-1a seed, xorshift32), so the same text always
// embeds the same way and a test can check that batched answers come back in order.
function embed(text, dimension) {
  let seed = 2166136261;
  for (let i = 0; i < text.length; i++) seed = Math.imul(seed ^ text.charCodeAt(i), 16777619) >>> 0;
  const vector = new Array(dimension);
  let norm = 0;
  for (let i = 0; i < dimension; i++) {
    seed ^= seed << 13;
    seed >>>= 0;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    seed >>>= 0;
    vector[i] = seed / 4294967296 - 0.5;
    norm += vector[i] * vector[i];
  }
  norm = Math.sqrt(norm) || 1;
  return vector.map((v) => Math.fround(v / norm));
}

function embeddingsAnswer(model, inputs, facts) {
  const texts = Array.isArray(inputs.text) ? inputs.text : [inputs.text];
  const maxBatch = facts?.max_batch ?? 100;
  if (texts.length > maxBatch) {
    throw bindingError(`8001: Invalid input: 'text' has ${texts.length} items; ${model} takes at most ${maxBatch}`);
  }
  if (texts.some((t) => typeof t !== "string")) throw bindingError("8001: Invalid input: 'text' must be strings");
  const dimension = facts?.dimensions ?? 384;
  return { shape: [texts.length, dimension], data: texts.map((t) => embed(t, dimension)), pooling: "mean" };
}

function imageAnswer(facts, form) {
  const jpeg = fromBase64(JPEG_BASE64);
  switch (form) {
    case "base64":
      return { image: JPEG_BASE64 };
    case "stream":
    case "bytes":
    case "buffer":
      return bytesAs(fromBase64(PNG_BASE64), form);
    case "empty":
      return { image: "" };
    case "not-image":
      return bytesAs(encoder.encode(JSON.stringify({ errors: [{ message: "NSFW content detected" }], success: false })), "stream");
    default:
      break;
  }
  // Default: the model's documented output form (Phoenix returns JPEG bytes, SD models PNG bytes).
  if (facts?.image_output === "bytes") return bytesAs(facts.id.includes("phoenix") ? jpeg : fromBase64(PNG_BASE64), "stream");
  return { image: JPEG_BASE64 };
}

// FLUX.2 models take {multipart: {body, contentType}}; read the form back into its fields.
async function multipartFields(inputs) {
  const { body, contentType } = inputs.multipart ?? {};
  if (!body || typeof contentType !== "string" || !contentType.startsWith("multipart/form-data")) {
    throw bindingError("8001: Invalid input: this model takes multipart form data: {multipart: {body, contentType}}");
  }
  const form = await new Response(body, { headers: { "content-type": contentType } }).formData();
  const fields = {};
  for (const [name, value] of form.entries()) fields[name] = typeof value === "string" ? value : `<file ${value.size} bytes>`;
  if (!fields.prompt) throw bindingError("8001: Invalid input: required field 'prompt' is missing");
  return fields;
}

const DIRECTIVE = /^(fixture:|slow:|hang|error:|error-for:|echo$|reject-echo$|image:|script:|agent:)/;
const LINE_DIRECTIVE = /^((fixture|script|agent):\S|echo$)/;

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
  for (let i = texts.length - 1; i >= 0; i--) {
    if (DIRECTIVE.test(texts[i])) return texts[i];
    // Clients such as Claude Code wrap the prompt in context blocks: a data directive on a line
    // of its own counts too.
    const line = texts[i].split("\n").find((l) => LINE_DIRECTIVE.test(l));
    if (line) return line.trim();
  }
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
  if (object !== undefined && typeof object?.$bytes_base64 === "string") return bytesAs(fromBase64(object.$bytes_base64), object.$as);
  if (object !== undefined) return structuredClone(object);
  // Asked without streaming, but only a stream exists: some models stream anyway.
  return chunk ? chunkedStream(sse, chunk, delay, failAfter) : eventStream(sse, delay);
}

function defaultAnswer(model, inputs, note) {
  const words = ["Hello", " from", " ", model, ".", ...(note ? [` [${note}]`] : [])];
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

// Base64, so that the Worker's quirk filters see opaque text, not JSON that quotes tools.
function echoAnswer(model, inputs, options, stream) {
  const response = "echo:" + base64Utf8(JSON.stringify({ model, inputs, options: options ?? null }));
  if (!stream) return { response, usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } };
  return eventStream(`data: ${JSON.stringify({ response })}\n\ndata: [DONE]\n\n`, 0);
}

// Kimi K2.x rejects a conversation whose assistant tool-call turn lost its reasoning
// (tests/fixtures/workers-ai/kimi-reasoning-required.json holds the models and the error).
function checkReasoningKept(rule, model, inputs) {
  if (!rule?.models?.includes(model) || !Array.isArray(inputs?.messages)) return;
  inputs.messages.forEach((m, index) => {
    const madeCalls = m?.role === "assistant" && Array.isArray(m.tool_calls) && m.tool_calls.length > 0;
    if (madeCalls && typeof m.reasoning_content !== "string" && typeof m.reasoning !== "string") {
      throw bindingError(rule.error.replace("{index}", String(index)));
    }
  });
}

// OpenAI-dialect answer (chat.completion / chat.completion.chunk), the shape of
// qwen3-openai-dialect.json/.sse.
function openaiTextAnswer(model, text, stream) {
  const usage = { prompt_tokens: 20, completion_tokens: 7, total_tokens: 27 };
  const envelope = { id: "chatcmpl-fake", created: 1751559514, model };
  if (!stream) {
    return { ...envelope, object: "chat.completion", choices: [{ index: 0, message: { role: "assistant", content: text, tool_calls: [] }, finish_reason: "stop" }], usage };
  }
  const chunk = (choices, extra = {}) => `data: ${JSON.stringify({ ...envelope, object: "chat.completion.chunk", choices, ...extra })}\n\n`;
  const pieces = text.match(/.{1,4}/gs) ?? [];
  const sse = chunk([{ index: 0, delta: { role: "assistant", content: "" }, finish_reason: null }])
    + pieces.map((p) => chunk([{ index: 0, delta: { content: p }, finish_reason: null }])).join("")
    + chunk([{ index: 0, delta: {}, finish_reason: "stop" }])
    + chunk([], { usage })
    + "data: [DONE]\n\n";
  return eventStream(sse, 0);
}

// The latest tool result in the model's inputs: a tool message (native tools), a
// function_call_output item (Responses-style inputs) or the user message emulated tools use.
function lastToolResult(messages) {
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i];
    const text = typeof m.content === "string" ? m.content : Array.isArray(m.content) ? m.content.map((p) => p.text ?? "").join("") : "";
    if (m.role === "tool") return text;
    if (m.type === "function_call_output") return typeof m.output === "string" ? m.output : JSON.stringify(m.output);
    if (m.role === "user" && text.startsWith("Result of tool call")) return text.slice(text.indexOf("\n") + 1);
  }
  return "(no tool result)";
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
  const models = env.MODELS ?? {};
  return {
    async run(model, inputs, options) {
      const facts = models[model];
      let shown = inputs;
      if (facts?.image_input === "multipart") {
        const fields = await multipartFields(inputs);
        inputs = { prompt: fields.prompt };
        shown = { multipart: fields };
      } else if (facts?.type === "image" && inputs?.multipart) {
        throw bindingError("8001: Invalid input: this model takes JSON input, not multipart");
      }
      checkReasoningKept(fixtures["kimi-reasoning-required"]?.object, model, inputs);
      const text = directiveText(inputs);
      const stream = inputs?.stream === true;
      if (text === "reject-echo") throw bindingError(`8001: ${JSON.stringify({ model, inputs: shown, options: options ?? null })}`);
      if (facts?.type === "image" && text.startsWith("image:")) return imageAnswer(facts, text.slice(6));
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
        return defaultAnswer(model, inputs, env.NOTE);
      }
      if (text === "echo") return echoAnswer(model, inputs, options, stream);
      if (text.startsWith("agent:")) {
        const steps = JSON.parse(text.slice(6));
        const messages = inputs?.messages ?? inputs?.input ?? [];
        const turn = messages.filter((m) => m.role === "assistant" || m.type === "function_call").length;
        const step = steps[Math.min(turn, steps.length - 1)];
        if (typeof step === "string") return replay(fixtures[step], stream, 0, 0);
        if (step.echo) return echoAnswer(model, inputs, options, stream);
        if (typeof step.text === "string") return textAnswer(step.text, stream);
        if (typeof step.afterTool === "string") {
          const text = step.afterTool + lastToolResult(messages);
          return step.dialect === "openai" ? openaiTextAnswer(model, text, stream) : textAnswer(text, stream);
        }
        return replay(step, stream, step.chunk ?? 0, step.delay ?? 0);
      }
      if (text.startsWith("script:")) {
        const script = JSON.parse(text.slice(7));
        if (script.delayFirst) await sleep(script.delayFirst);
        if (script.error) throw bindingError(script.error);
        const answer = replay(script, stream, script.chunk ?? 0, script.delay ?? 0, script.errorAfter);
        if (!script.asResponse) return answer;
        // What the binding gives with returnRawResponse: a Response around the same answer.
        return answer instanceof ReadableStream
          ? new Response(answer, { headers: { "content-type": "text/event-stream" } })
          : Response.json(answer);
      }
      if (facts?.type === "embeddings" || (inputs?.text !== undefined && !inputs?.messages)) return embeddingsAnswer(model, inputs, facts);
      if (facts?.type === "image") return imageAnswer(facts, "");
      return defaultAnswer(model, inputs, env.NOTE);
    },
  };
}
