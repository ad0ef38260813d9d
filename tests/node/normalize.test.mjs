// CompletionNormalizer (normalize.js): every dialect Workers AI answers in becomes the same parts.
// Loaded straight from the Worker's sources.
import assert from "node:assert/strict";
import { test } from "node:test";
import { CompletionNormalizer } from "../../worker_template/src/normalize.js";

// Feeds SSE data payloads as a stream would and returns the parts, adjacent text merged.
function run(options, payloads, { streamed = true } = {}) {
  const normalizer = new CompletionNormalizer(options);
  const parts = [];
  for (const payload of payloads) normalizer.event(payload, parts);
  parts.push(...normalizer.end({ streamed }));
  return parts;
}

function summary(parts) {
  const out = { text: "", reasoning: "", calls: [], finish: null, usage: null, errors: [] };
  for (const p of parts) {
    if (p.type === "text") out.text += p.text;
    else if (p.type === "reasoning") out.reasoning += p.text;
    else if (p.type === "tool_call") out.calls[p.index] = { name: p.name, args: "" };
    else if (p.type === "tool_args") out.calls[p.index].args += p.text;
    else if (p.type === "finish") out.finish = p.reason;
    else if (p.type === "usage") out.usage = p.usage;
    else if (p.type === "error") out.errors.push(p.error.code);
  }
  return out;
}

const native = (text) => JSON.stringify({ response: text });
const openai = (delta, finish = null) => JSON.stringify({ id: "chatcmpl-1", object: "chat.completion.chunk", created: 1, model: "m", choices: [{ index: 0, delta, finish_reason: finish }] });

test("a native stream becomes text, usage and a stop finish", () => {
  const s = summary(run({}, [native("Hel"), native("lo!"), JSON.stringify({ response: "", usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 } }), "[DONE]"]));
  assert.equal(s.text, "Hello!");
  assert.deepEqual(s.usage, { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 });
  assert.equal(s.finish, "stop");
});

test("OpenAI-shaped deltas: reasoning, text and a tool call in fragments end as tool_calls", () => {
  const s = summary(run({ toolNames: ["get_weather"] }, [
    openai({ role: "assistant", reasoning_content: "Need weather." }),
    openai({ tool_calls: [{ index: 0, id: "call_1", type: "function", function: { name: "get_weather", arguments: "" } }] }),
    openai({ tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] }),
    openai({ tool_calls: [{ index: 0, function: { arguments: '"Rome"}' } }] }),
    openai({}, "tool_calls"),
    "[DONE]",
  ]));
  assert.equal(s.reasoning, "Need weather.");
  assert.deepEqual(s.calls, [{ name: "get_weather", args: '{"city":"Rome"}' }]);
  assert.equal(s.finish, "tool_calls");
});

test("a stream that ends without [DONE] or a finish reason ends in a 502 upstream_truncated error", () => {
  const s = summary(run({}, [native("partial")]));
  assert.equal(s.text, "partial");
  assert.deepEqual(s.errors, ["upstream_truncated"]);
});

test("an error event mid-stream becomes an error part", () => {
  const parts = run({}, [native("a"), JSON.stringify({ error: "3040: Capacity temporarily exceeded" })]);
  const error = parts.find((p) => p.type === "error").error;
  assert.equal(error.status, 429);
});

test("stop sequences cut the answer, even when split across tokens", () => {
  const s = summary(run({ stop: ["END"] }, [native("one E"), native("N"), native("D two"), "[DONE]"]));
  assert.equal(s.text, "one ");
  assert.equal(s.finish, "stop");
});

// How the answer is cut into tokens must never change what the client sees: plain tokens take a
// fast path past the quirk filters, tokens with '<', '{', '[' or '`' go through them, and a
// stream switches between the two.
const TEXTS = [
  "Plain prose, nothing special at all. Second sentence!",
  "<think>Plan: add.</think>\n\nThe sum is 4. Done <b>now</b>.",
  "Use `x[0]` and {a: 1}; then <|eot_id|> ends it.",
  'Calling it. {"name": "get_weather", "arguments": {"city": "Paris"}} then more text',
  "1 < 2 and 3 > 2 <|start_header_id|>assistant<|end_header_id|>\n\nafter header STOP never seen",
];

function chop(text, seed) {
  const tokens = [];
  let x = seed;
  for (let i = 0; i < text.length; ) {
    x = (x * 1103515245 + 12345) % 2147483648;
    const n = 1 + (x % 7);
    tokens.push(text.slice(i, i + n));
    i += n;
  }
  return tokens;
}

for (const [label, options] of [
  ["no tools", {}],
  ["tools offered", { toolNames: ["get_weather"] }],
  ["stop sequence", { stop: ["STOP"] }],
  ["R1 reasoning mode", { reasoning: "think_tags_no_open" }],
]) {
  test(`token boundaries do not change the output (${label})`, () => {
    for (const text of TEXTS) {
      const whole = summary(run(options, [native(text), "[DONE]"]));
      for (let seed = 1; seed <= 25; seed++) {
        const tokens = chop(text, seed);
        const streamed = summary(run(options, [...tokens.map(native), "[DONE]"]));
        assert.deepEqual(streamed, whole, `${JSON.stringify(text)} as ${JSON.stringify(tokens)}`);
      }
    }
  });
}

test("a non-streamed answer is the same single event: native tool calls become calls", () => {
  const s = summary(run({ toolNames: ["get_weather"] }, [{ response: "", tool_calls: [{ name: "get_weather", arguments: { city: "Oslo" } }] }], { streamed: false }));
  assert.deepEqual(s.calls, [{ name: "get_weather", args: '{"city":"Oslo"}' }]);
  assert.equal(s.finish, "tool_calls");
});

// OpenAI-shaped chunks repeat one envelope per token; once seen, later chunks of that shape are
// read without a full parse. Whatever the chunks hold, the parts must be those of a full parse
// (fed here as already-parsed objects, which never take that path).
test("OpenAI-shaped chunks: the parts are those of a full parse, whatever the tokens hold", () => {
  const envelope = '{"id":"chatcmpl-9","object":"chat.completion.chunk","created":1751559514,"model":"@cf/qwen/qwen3-30b-a3b-fp8","choices":';
  const chunk = (delta, usage, extra = "") =>
    `${envelope}[{"index":0,"delta":${JSON.stringify(delta)},"logprobs":null,"finish_reason":null${extra}}]${usage ? `,"usage":${JSON.stringify(usage)}` : ""}}`;
  const u = (n) => ({ prompt_tokens: 4, completion_tokens: n, total_tokens: n + 4 });
  const stream = [
    chunk({ role: "assistant", content: "" }, u(0)),
    chunk({ reasoning_content: "Think" }, u(1)),
    chunk({ reasoning_content: " more <|eot_id|>" }, u(2)),
    chunk({ content: "Hello" }, u(3)),
    chunk({ content: " wörld 😀" }, u(4)),
    chunk({ content: 'a "quoted"\nline\ttab' }, u(5)),
    chunk({ content: "no usage here" }, null),
    chunk({ content: "raw-tab" }, u(6)).replace("raw-tab", "raw\ttab"), // invalid JSON: skipped
    chunk({ content: "<b>" }, u(7)),
    chunk({ content: "x" }, null, ',"stop_reason":"eos"'),
    chunk({ content: "plain" }, u(9)).replace('"usage":{"prompt_tokens":4', '"usage":{"prompt_tokens":40'),
    chunk({ content: "end" }, u(10)).replace('"finish_reason":null', '"finish_reason":"length"'),
    `${envelope}[],"usage":${JSON.stringify(u(11))}}`,
    chunk({ content: "broken" }, u(12)).slice(0, -2),
    "[DONE]",
  ];
  const warn = console.warn;
  console.warn = () => {}; // the broken chunks are logged and skipped either way
  try {
    for (const options of [{}, { toolNames: ["f"] }, { reasoning: "field" }]) {
      const asStrings = run(options, stream);
      const asObjects = run(options, stream.map((s) => {
        try {
          return s === "[DONE]" ? s : JSON.parse(s);
        } catch {
          return s; // the broken chunk stays a string: its parse fails the same way
        }
      }));
      assert.deepEqual(asStrings, asObjects);
      const s = summary(asStrings);
      assert.equal(s.reasoning, "Think more ");
      assert.equal(s.text, 'Hello wörld 😀a "quoted"\nline\ttabno usage here<b>xplainend');
      assert.equal(s.finish, "length");
      assert.deepEqual(s.usage, u(11));
    }
  } finally {
    console.warn = warn;
  }
});

test("OpenAI-shaped token chunks are not parsed whole once their shape is known", () => {
  const envelope = '{"id":"chatcmpl-9","object":"chat.completion.chunk","created":1,"model":"m","choices":';
  const chunk = (key, text, n) => `${envelope}[{"index":0,"delta":{"${key}":"${text}"},"logprobs":null,"finish_reason":null}],"usage":{"prompt_tokens":2,"completion_tokens":${n},"total_tokens":${n + 2}}}`;
  const normalizer = new CompletionNormalizer({});
  const parse = JSON.parse;
  let parses = 0;
  JSON.parse = (...args) => {
    parses++;
    return parse(...args);
  };
  const parts = [];
  try {
    for (let i = 0; i < 500; i++) normalizer.event(chunk("reasoning_content", `r${i} `, i), parts);
    for (let i = 500; i < 1000; i++) normalizer.event(chunk("content", `t${i} `, i), parts);
  } finally {
    JSON.parse = parse;
  }
  parts.push(...normalizer.end({ streamed: false }));
  assert.ok(parses < 10, `${parses} JSON.parse calls for 1,000 token chunks`);
  const s = summary(parts);
  assert.equal(s.text.split(" ").length - 1, 500);
  assert.equal(s.reasoning.split(" ").length - 1, 500);
  assert.deepEqual(s.usage, { prompt_tokens: 2, completion_tokens: 999, total_tokens: 1001 });
});

test("native chunks: token events read without a full parse give the parts of a full parse", () => {
  const stream = [
    '{"response":"Hello","p":"abcdefghijklmnopqrstuvw"}',
    '{"response":" wörld 😀","p":"abcdefgh"}',
    '{"response":" \\"q\\"\\n","p":"abc"}',
    '{"response":" bare"}',
    '{"response":" pad-empty","p":""}',
    '{"response":" odd pad","p":"ABC"}',
    '{"response":" <b>","p":"x"}',
    '{"response":" {x}","p":"abcd","tool_calls":[]}',
    '{"response":" raw\ttab","p":"a"}',
    '{"response":" spaced" , "p":"a"}',
    '{"response":"","p":"ab"}',
    '{"response":"","usage":{"prompt_tokens":3,"completion_tokens":9,"total_tokens":12}}',
    '{"response":"","p":"a","usage":{"prompt_tokens":3,"completion_tokens":10,"total_tokens":13},"x":"y"}',
    "[DONE]",
  ];
  const warn = console.warn;
  console.warn = () => {}; // the raw-tab chunk is invalid JSON: logged and skipped either way
  try {
    for (const options of [{}, { toolNames: ["f"] }, { stop: ["zz"] }]) {
      const asStrings = run(options, stream);
      const asObjects = run(options, stream.map((s) => {
        try {
          return s === "[DONE]" ? s : JSON.parse(s);
        } catch {
          return s;
        }
      }));
      assert.deepEqual(asStrings, asObjects);
      assert.equal(summary(asStrings).text, 'Hello wörld 😀 "q"\n bare pad-empty odd pad <b> {x} spaced');
    }
  } finally {
    console.warn = warn;
  }
  const normalizer = new CompletionNormalizer({});
  const parse = JSON.parse;
  let parses = 0;
  JSON.parse = (...args) => {
    parses++;
    return parse(...args);
  };
  try {
    for (let i = 0; i < 1000; i++) normalizer.event(`{"response":"t${i} ","p":"abcdefgh"}`);
  } finally {
    JSON.parse = parse;
  }
  assert.equal(parses, 0);
});
