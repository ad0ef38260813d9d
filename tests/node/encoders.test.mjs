// The encoders (chat_encode.js, responses_encode.js) write parts out as OpenAI's wire formats.
// Loaded straight from the Worker's sources; the streams are read as a client would.
import assert from "node:assert/strict";
import { test } from "node:test";
import { assembleCompletion, chatChunkStream } from "../../worker_template/src/chat_encode.js";
import { ApiError } from "../../worker_template/src/http.js";
import { ResponseBuilder, responseEventStream, responseSkeleton } from "../../worker_template/src/responses_encode.js";

// An async iterator over batches of parts, as completion.js hands them to the encoders.
function batches(list) {
  let i = 0;
  const events = {
    returned: false,
    async next() {
      return i < list.length ? { done: false, value: list[i++] } : { done: true, value: undefined };
    },
    return() {
      events.returned = true;
      return Promise.resolve({ done: true, value: undefined });
    },
  };
  return events;
}

async function readAll(stream) {
  return new Response(stream).text();
}

function dataLines(text) {
  return text.split("\n\n").filter(Boolean).map((event) => {
    assert.match(event, /^data: /);
    return event.slice(6);
  });
}

const META = { id: "chatcmpl-test", created: 1700000000, model: "gpt-4o-mini" };
const usage = { prompt_tokens: 5, completion_tokens: 3, total_tokens: 8 };

async function chatStream(list, includeUsage = false) {
  const ctx = { log: {} };
  const events = batches(list.slice(1));
  const stream = chatChunkStream(META, { done: false, value: list[0] }, events, includeUsage, ctx);
  let outcome = null;
  ctx.streamEnd.listen((o) => (outcome = o));
  const text = await readAll(stream);
  return { text, ctx, outcome, events };
}

test("chat stream: OpenAI chunk shape on every event, content in order, [DONE] last", async () => {
  const { text, ctx, outcome } = await chatStream([
    [{ type: "reasoning", text: "hmm" }, { type: "text", text: "Hel" }],
    [{ type: "text", text: 'lo "wörld"\n' }],
    [{ type: "usage", usage }, { type: "finish", reason: "stop" }],
  ], true);
  const lines = dataLines(text);
  assert.equal(lines.at(-1), "[DONE]");
  const chunks = lines.slice(0, -1).map((l) => JSON.parse(l));
  for (const c of chunks) {
    assert.equal(c.id, META.id);
    assert.equal(c.object, "chat.completion.chunk");
    assert.equal(c.created, META.created);
    assert.equal(c.model, META.model);
  }
  const withChoices = chunks.filter((c) => c.choices.length);
  for (const c of withChoices) {
    assert.deepEqual(Object.keys(c.choices[0]), ["index", "delta", "logprobs", "finish_reason"]);
    assert.equal(c.choices[0].index, 0);
  }
  assert.deepEqual(withChoices[0].choices[0].delta, { role: "assistant", content: "" });
  assert.equal(withChoices.map((c) => c.choices[0].delta.content ?? "").join(""), 'Hello "wörld"\n');
  assert.equal(withChoices.map((c) => c.choices[0].delta.reasoning_content ?? "").join(""), "hmm");
  assert.equal(withChoices.at(-1).choices[0].finish_reason, "stop");
  assert.deepEqual(withChoices.at(-1).choices[0].delta, {});
  // include_usage: one last chunk with empty choices and the usage.
  assert.deepEqual(chunks.at(-1).choices, []);
  assert.deepEqual(chunks.at(-1).usage, usage);
  assert.deepEqual(ctx.log.usage, usage);
  assert.deepEqual(outcome, {});
});

test("chat stream: tool calls arrive as an opening delta, then argument fragments", async () => {
  const { text } = await chatStream([
    [{ type: "tool_call", index: 0, id: "call_a", name: "get_weather" }, { type: "tool_args", index: 0, text: '{"city":' }],
    [{ type: "tool_args", index: 0, text: '"Oslo"}' }, { type: "finish", reason: "tool_calls" }],
  ]);
  const chunks = dataLines(text).slice(0, -1).map((l) => JSON.parse(l));
  const deltas = chunks.map((c) => c.choices[0].delta).filter((d) => d.tool_calls);
  assert.deepEqual(deltas[0].tool_calls, [{ index: 0, id: "call_a", type: "function", function: { name: "get_weather", arguments: "" } }]);
  assert.equal(deltas.map((d) => d.tool_calls[0].function.arguments).join(""), '{"city":"Oslo"}');
  assert.equal(chunks.at(-1).choices[0].finish_reason, "tool_calls");
});

test("chat stream: an error mid-stream is OpenAI's error envelope, then [DONE], and the upstream is released", async () => {
  const error = new ApiError(504, "The model did not answer in time.", { code: "timeout" });
  const { text, ctx, events } = await chatStream([[{ type: "text", text: "par" }], [{ type: "error", error }], [{ type: "text", text: "never" }]]);
  const lines = dataLines(text);
  assert.equal(lines.at(-1), "[DONE]");
  assert.deepEqual(JSON.parse(lines.at(-2)), { error: { message: "The model did not answer in time.", type: "server_error", param: null, code: "timeout" } });
  assert.ok(!text.includes("never"));
  assert.equal(ctx.log.stream_error, "timeout");
  assert.ok(events.returned);
});

test("chat stream: a client that goes away is reported as client_cancelled", async () => {
  const ctx = { log: {} };
  const pending = { next: () => new Promise(() => {}), return() {} };
  const stream = chatChunkStream(META, { done: false, value: [{ type: "text", text: "a" }] }, pending, false, ctx);
  let outcome = null;
  ctx.streamEnd.listen((o) => (outcome = o));
  const reader = stream.getReader();
  await reader.read();
  await reader.cancel();
  assert.deepEqual(outcome, { stream_error: "client_cancelled" });
});

test("assembleCompletion: one chat.completion with content, reasoning, tool calls and usage", () => {
  const ctx = { log: {} };
  const completion = assembleCompletion(META, [
    { type: "reasoning", text: "r" },
    { type: "tool_call", index: 0, id: "call_1", name: "f" },
    { type: "tool_args", index: 0, text: "{}" },
    { type: "usage", usage },
    { type: "finish", reason: "tool_calls" },
  ], ctx);
  assert.equal(completion.object, "chat.completion");
  assert.deepEqual(completion.choices[0].message, { role: "assistant", content: null, reasoning_content: "r", tool_calls: [{ id: "call_1", type: "function", function: { name: "f", arguments: "{}" } }], refusal: null });
  assert.equal(completion.choices[0].finish_reason, "tool_calls");
  assert.deepEqual(completion.usage, usage);
});

function namedEvents(text) {
  return text.split("\n\n").filter(Boolean).map((block) => {
    const [eventLine, dataLine] = block.split("\n");
    assert.match(eventLine, /^event: /);
    const data = JSON.parse(dataLine.replace(/^data: /, ""));
    assert.equal(eventLine.slice(7), data.type, "the event name is the payload's type");
    return data;
  });
}

async function responsesStream(list) {
  const ctx = { log: {} };
  const builder = new ResponseBuilder(responseSkeleton({ input: "hi" }, { requested: "gpt-4o-mini" }, null));
  const stream = responseEventStream(builder, { done: false, value: list[0] }, batches(list.slice(1)), ctx);
  let outcome = null;
  ctx.streamEnd.listen((o) => (outcome = o));
  return { events: namedEvents(await readAll(stream)), ctx, outcome: () => outcome };
}

test("Responses stream: numbered events from 0, deltas that add up to the done text, response.completed last", async () => {
  const { events, ctx, outcome } = await responsesStream([
    [{ type: "reasoning", text: "think" }, { type: "text", text: "Hi " }],
    [{ type: "text", text: "there" }, { type: "usage", usage }],
    [{ type: "finish", reason: "stop" }],
  ]);
  assert.deepEqual(events.map((e) => e.sequence_number), events.map((_, i) => i));
  assert.equal(events[0].type, "response.created");
  const deltas = events.filter((e) => e.type === "response.output_text.delta").map((e) => e.delta).join("");
  const done = events.find((e) => e.type === "response.output_text.done");
  assert.equal(deltas, "Hi there");
  assert.equal(done.text, "Hi there");
  const last = events.at(-1);
  assert.equal(last.type, "response.completed");
  assert.equal(last.response.status, "completed");
  assert.deepEqual(last.response.output.map((item) => item.type), ["reasoning", "message"]);
  assert.equal(last.response.usage.total_tokens, 8);
  assert.deepEqual(ctx.log.usage, usage);
  assert.deepEqual(outcome(), {});
});

test("Responses stream: an upstream that ends without finishing ends in response.failed", async () => {
  const { events } = await responsesStream([[{ type: "text", text: "cut" }]]);
  assert.equal(events.at(-2).type, "error");
  assert.equal(events.at(-1).type, "response.failed");
  assert.equal(events.at(-1).response.status, "failed");
});
