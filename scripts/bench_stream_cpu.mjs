#!/usr/bin/env node
// CPU cost of flaregate's stream transform, per 1,000 streamed tokens, against an identity
// transform over the same upstream bytes, measured in the same process (V8, as in workerd).
// Workers on the free plan get 10 ms of CPU per request; time spent awaiting the binding does not
// count. Every case streams plain text tokens (the common path) through the whole Worker (auth,
// validation, normalizer, encoder, log line), in each upstream dialect Workers AI uses:
//   native   {"response":"tok "} per token (Llama, Mistral, ...)
//   openai   {"id",...,"choices":[{"delta":{"content":"tok "}}],"usage":{...}} per token (Qwen3,
//            gpt-oss, Kimi, ...: the envelope and cumulative usage on every chunk)
// with tools offered and not (offered tools switch on the leaked-tool-call detector), written out
// as chat completions chunks and as Responses API events.
//
//   node scripts/bench_stream_cpu.mjs dist/worker.js [tokens=1000] [rounds=200] [case filter, e.g. chat/openai]
//
// Prints one line per case, then one JSON line with every figure (scripts/bench reads it).
import { createHash } from "node:crypto";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";

const [script = "dist/worker.js", tokensArg = "1000", roundsArg = "200", only = ""] = process.argv.slice(2);
const TOKENS = Number(tokensArg);
const ROUNDS = Number(roundsArg);
const worker = (await import(pathToFileURL(resolve(script)).href)).default;

const encoder = new TextEncoder();
const usage = (n) => `{"prompt_tokens":5,"completion_tokens":${n},"total_tokens":${n + 5}}`;
const DIALECTS = {
  native: {
    model: "@cf/meta/llama-3.1-8b-instruct-fp8", // native dialect, emulated tools
    events() {
      const events = [];
      for (let i = 0; i < TOKENS; i++) events.push(`data: {"response":"tok${i % 10} ","p":"abcdefgh"}\n\n`);
      events.push(`data: {"response":"","usage":${usage(TOKENS)}}\n\ndata: [DONE]\n\n`);
      return events;
    },
  },
  openai: {
    model: "@cf/qwen/qwen3-30b-a3b-fp8", // OpenAI-shaped stream, native tools
    events() {
      const head = `data: {"id":"chatcmpl-66bc193872fa4979a778bbbdee8c22f9","object":"chat.completion.chunk","created":1751559514,"model":"@cf/qwen/qwen3-30b-a3b-fp8","choices":`;
      const events = [`${head}[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}],"usage":${usage(0)}}\n\n`];
      for (let i = 0; i < TOKENS; i++) {
        events.push(`${head}[{"index":0,"delta":{"content":"tok${i % 10} "},"logprobs":null,"finish_reason":null}],"usage":${usage(i + 1)}}\n\n`);
      }
      events.push(`${head}[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop","stop_reason":null}],"usage":${usage(TOKENS)}}\n\n`);
      events.push(`${head}[],"usage":${usage(TOKENS)}}\n\ndata: [DONE]\n\n`);
      return events;
    },
  },
};
for (const dialect of Object.values(DIALECTS)) dialect.bytes = dialect.events().map((e) => encoder.encode(e));

function upstream(bytes) {
  let i = 0;
  return new ReadableStream({
    pull(controller) {
      if (i < bytes.length) controller.enqueue(bytes[i++]);
      else controller.close();
    },
  });
}

const TOOLS = [{ type: "function", function: { name: "get_weather", description: "Weather for a city", parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } } }];
const KEY = "sk-fg-bench";
const record = JSON.stringify({ id: "bench", name: "bench", created_at: "2026-01-01T00:00:00Z", expires_at: null });
const hash = createHash("sha256").update(KEY).digest("hex");
// The KEYS namespace: the key record, and somewhere for the Responses API to store responses.
const stored = new Map();
const KEYS = {
  get: async (k) => (k === `key:${hash}` ? record : stored.get(k) ?? null),
  put: async (k, v) => {
    if (!k.startsWith("key:")) stored.set(k, v);
  },
};

function request(api, dialect, tools) {
  const model = DIALECTS[dialect].model;
  const body = api === "chat"
    ? { model, messages: [{ role: "user", content: "hi" }], stream: true, ...(tools ? { tools: TOOLS } : {}) }
    : { model, input: "hi", stream: true, ...(tools ? { tools: TOOLS.map((t) => ({ type: "function", ...t.function })) } : {}) };
  return {
    url: `http://bench/v1/${api === "chat" ? "chat/completions" : "responses"}`,
    body: JSON.stringify(body),
    env: { AI: { run: async () => upstream(DIALECTS[dialect].bytes) }, KEYS },
  };
}

async function drain(stream) {
  const reader = stream.getReader();
  let bytes = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return bytes;
    bytes += value.byteLength;
  }
}

// The Request is built before the clock starts: in workerd the runtime makes it (natively), so
// it is not the Worker's CPU; in Node, undici's Request alone costs tens of microseconds.
function newRequest({ url, body }) {
  return new Request(url, {
    method: "POST",
    headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
    body,
  });
}

async function viaFlaregate(req, request) {
  const response = await worker.fetch(request, req.env, { waitUntil() {} });
  if (response.status !== 200) throw new Error(`status ${response.status}: ${await response.text()}`);
  return drain(response.body);
}

const viaIdentity = (dialect) => drain(upstream(DIALECTS[dialect].bytes).pipeThrough(new TransformStream()));

// CPU per run of `fn(input)`, the inputs made beforehand.
async function cpuMs(fn, inputs) {
  const start = process.cpuUsage();
  for (const input of inputs) await fn(input);
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000 / inputs.length;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const per1k = (ms) => +((ms * 1000) / TOKENS).toFixed(3);
const { log: realLog, error: realError, warn: realWarn } = console;
const CASES = [];
for (const api of ["chat", "responses"]) {
  for (const dialect of Object.keys(DIALECTS)) {
    for (const tools of [false, true]) {
      const name = `${api}/${dialect}/${tools ? "tools" : "no-tools"}`;
      if (name.includes(only)) CASES.push({ name, api, dialect, tools });
    }
  }
}
const results = {};
for (const c of CASES) {
  const req = request(c.api, c.dialect, c.tools);
  const ours = (request) => viaFlaregate(req, request);
  const identity = () => viaIdentity(c.dialect);
  const requests = (n) => Array.from({ length: n }, () => newRequest(req));
  const nothing = (n) => new Array(n).fill(null);
  console.log = () => {}; // the Worker's per-request log line is written, but not to the terminal
  console.error = console.warn = () => {};
  await cpuMs(identity, nothing(20)); // warm up the JIT
  await cpuMs(ours, requests(20));
  // Interleaved blocks, medians: the machine is shared, so neither side gets a quieter minute.
  const BLOCKS = 10;
  const perBlock = Math.ceil(ROUNDS / BLOCKS);
  const idMs = [];
  const fgMs = [];
  for (let b = 0; b < BLOCKS; b++) {
    idMs.push(await cpuMs(identity, nothing(perBlock)));
    fgMs.push(await cpuMs(ours, requests(perBlock)));
  }
  Object.assign(console, { log: realLog, error: realError, warn: realWarn });
  stored.clear();
  const own = fgMs.map((ms, i) => ms - idMs[i]);
  results[c.name] = {
    identity_cpu_ms_per_1k_tokens: per1k(median(idMs)),
    flaregate_cpu_ms_per_1k_tokens: per1k(median(fgMs)),
    transform_own_ms_per_1k_tokens: per1k(median(own)),
    own_spread_ms: [per1k(Math.min(...own)), per1k(Math.max(...own))],
    ratio: +(median(fgMs) / median(idMs)).toFixed(2),
  };
  const r = results[c.name];
  console.log(`${c.name.padEnd(26)} identity ${r.identity_cpu_ms_per_1k_tokens.toFixed(2)} ms  flaregate ${r.flaregate_cpu_ms_per_1k_tokens.toFixed(2)} ms  own ${r.transform_own_ms_per_1k_tokens.toFixed(2)} ms [${r.own_spread_ms.map((x) => x.toFixed(2)).join("..")}]  ratio ${r.ratio.toFixed(2)}  (per 1k tokens)`);
}
console.log(JSON.stringify({ tokens: TOKENS, rounds: ROUNDS, cases: results }));
