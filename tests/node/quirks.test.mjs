// The model-quirk filters (quirks.js), loaded straight from the Worker's sources. Text arrives in
// arbitrary pieces, so every test also feeds its input split at every position.
import assert from "node:assert/strict";
import { test } from "node:test";
import { argumentsString, ControlTokenFilter, responseFieldToParts, ThinkFilter, ToolJsonSniffer } from "../../worker_template/src/quirks.js";

function* splits(text) {
  yield [text];
  for (let i = 1; i < text.length; i++) yield [text.slice(0, i), text.slice(i)];
  yield [...text];
}

// Pieces of the same kind next to each other merged, so splits can be compared.
function merged(pieces) {
  const out = [];
  for (const p of pieces) {
    const last = out[out.length - 1];
    if (last && last.kind === p.kind && p.kind !== "calls") last.text += p.text;
    else out.push({ ...p });
  }
  return out;
}

function think(mode, chunks) {
  const filter = new ThinkFilter(mode);
  const pieces = [];
  for (const chunk of chunks) pieces.push(...filter.push(chunk));
  pieces.push(...filter.end());
  return merged(pieces);
}

test("ThinkFilter separates reasoning from the answer however the tags are split across pushes", () => {
  const text = "<think>The user greets me.</think>\n\nHello there!";
  for (const chunks of splits(text)) {
    assert.deepEqual(think("none", chunks), [{ kind: "reasoning", text: "The user greets me." }, { kind: "text", text: "Hello there!" }], JSON.stringify(chunks));
  }
});

test("ThinkFilter: a model that omits the opening tag (DeepSeek R1 distills) starts in reasoning", () => {
  for (const chunks of splits("Let me think.</think>The answer is 4.")) {
    assert.deepEqual(think("think_tags_no_open", chunks), [{ kind: "reasoning", text: "Let me think." }, { kind: "text", text: "The answer is 4." }]);
  }
});

test("ThinkFilter releases a '<' that turns out not to be a tag", () => {
  for (const chunks of splits("a <b> and <thin ice")) assert.deepEqual(think("none", chunks), [{ kind: "text", text: "a <b> and <thin ice" }]);
});

function control(chunks) {
  const filter = new ControlTokenFilter();
  let out = "";
  for (const chunk of chunks) out += filter.push(chunk);
  return out + filter.end();
}

test("ControlTokenFilter drops leaked template tokens and role headers, split anywhere", () => {
  const text = "<|start_header_id|>assistant<|end_header_id|>\n\nHi! 1 < 2 and <b>bold</b>.<|eot_id|>";
  for (const chunks of splits(text)) assert.equal(control(chunks), "Hi! 1 < 2 and <b>bold</b>.", JSON.stringify(chunks));
});

test("ControlTokenFilter: a token cut off by the end of the stream is debris, not text", () => {
  assert.equal(control(["Done.<|eot_"]), "Done.");
  assert.equal(control(["x <"]), "x <");
});

function sniff(names, chunks) {
  const sniffer = new ToolJsonSniffer(names);
  const out = [];
  for (const chunk of chunks) out.push(...sniffer.push(chunk));
  out.push(...sniffer.end());
  return merged(out);
}

test("ToolJsonSniffer turns a leaked JSON call naming an offered tool into a call, split anywhere", () => {
  const text = 'Let me check. {"name": "get_weather", "arguments": {"city": "Paris"}}';
  for (const chunks of splits(text)) {
    assert.deepEqual(sniff(["get_weather"], chunks), [
      { kind: "text", text: "Let me check. " },
      { kind: "calls", calls: [{ id: null, name: "get_weather", arguments: '{"city":"Paris"}' }] },
    ], JSON.stringify(chunks));
  }
});

test("ToolJsonSniffer releases JSON that is not a call of an offered tool as text", () => {
  const text = 'Example: {"name": "other_tool", "arguments": {}} and [1, 2] and `code`';
  for (const chunks of splits(text)) assert.deepEqual(sniff(["get_weather"], chunks), [{ kind: "text", text }]);
});

test("ToolJsonSniffer reads our emulation prompt's shape inside a json code fence", () => {
  const text = '```json\n{"tool_calls": [{"name": "a", "arguments": {"x": 1}}, {"name": "b", "arguments": "{}"}]}\n```';
  assert.deepEqual(sniff(["a", "b"], [text]), [{ kind: "calls", calls: [{ id: null, name: "a", arguments: '{"x":1}' }, { id: null, name: "b", arguments: "{}" }] }]);
});

test("responseFieldToParts: Qwen's call object in `response` becomes a call only for offered tools", () => {
  const call = { name: "get_weather", arguments: { city: "Oslo" } };
  assert.deepEqual(responseFieldToParts(call, new Set(["get_weather"])), { calls: [{ id: null, name: "get_weather", arguments: '{"city":"Oslo"}' }] });
  assert.deepEqual(responseFieldToParts(call, new Set()), { text: JSON.stringify(call) });
  assert.deepEqual(responseFieldToParts(42, new Set()), { text: "42" });
  assert.deepEqual(responseFieldToParts(null, new Set()), { text: "" });
});

test("argumentsString gives OpenAI's JSON string for every shape models send", () => {
  assert.equal(argumentsString({ a: 1 }), '{"a":1}');
  assert.equal(argumentsString('{"a":1}'), '{"a":1}');
  assert.equal(argumentsString(undefined), "{}");
  assert.equal(argumentsString(""), "{}");
});
