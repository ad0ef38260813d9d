#!/usr/bin/env node
// CPU cost of flaregate's stream transform, per 1,000 streamed tokens, against an identity
// transform over the same bytes, measured in the same process (V8, as in workerd). Workers on the
// free plan get 10 ms of CPU per request; time spent awaiting the binding does not count.
//
//   node scripts/bench_stream_cpu.mjs dist/worker.js [tokens=1000] [rounds=200]
import { createHash } from "node:crypto";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";

const [script = "dist/worker.js", tokensArg = "1000", roundsArg = "200"] = process.argv.slice(2);
const TOKENS = Number(tokensArg);
const ROUNDS = Number(roundsArg);
const worker = (await import(pathToFileURL(resolve(script)).href)).default;

const encoder = new TextEncoder();
// A native-dialect stream as Workers AI sends it: one event per token, with padding.
const EVENTS = [];
for (let i = 0; i < TOKENS; i++) EVENTS.push(encoder.encode(`data: {"response":"tok${i % 10} ","p":"abcdefgh"}\n\n`));
EVENTS.push(encoder.encode(`data: {"response":"","usage":{"prompt_tokens":5,"completion_tokens":${TOKENS},"total_tokens":${TOKENS + 5}}}\n\ndata: [DONE]\n\n`));

function upstream() {
  let i = 0;
  return new ReadableStream({
    pull(controller) {
      if (i < EVENTS.length) controller.enqueue(EVENTS[i++]);
      else controller.close();
    },
  });
}

const KEY = "sk-fg-bench";
const record = JSON.stringify({ id: "bench", name: "bench", created_at: "2026-01-01T00:00:00Z", expires_at: null });
const hash = createHash("sha256").update(KEY).digest("hex");
const env = {
  AI: { run: async () => upstream() },
  KEYS: { get: async (k) => (k === `key:${hash}` ? record : null) },
};
const body = JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }], stream: true });

async function drain(stream) {
  const reader = stream.getReader();
  let bytes = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return bytes;
    bytes += value.byteLength;
  }
}

async function viaFlaregate() {
  const request = new Request("http://bench/v1/chat/completions", {
    method: "POST",
    headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
    body,
  });
  const response = await worker.fetch(request, env, { waitUntil() {} });
  if (response.status !== 200) throw new Error(`status ${response.status}: ${await response.text()}`);
  return drain(response.body);
}

async function viaIdentity() {
  return drain(upstream().pipeThrough(new TransformStream()));
}

async function cpuMs(fn, rounds) {
  const start = process.cpuUsage();
  for (let i = 0; i < rounds; i++) await fn();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000 / rounds;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const realLog = console.log;
console.log = () => {}; // the Worker's per-request log line is not what we measure
for (let i = 0; i < 20; i++) await viaIdentity(), await viaFlaregate(); // warm up the JIT
// Interleaved blocks, medians: the machine is shared, so neither side gets a quieter minute.
const BLOCKS = 10;
const identity = [];
const flaregate = [];
for (let b = 0; b < BLOCKS; b++) {
  identity.push(await cpuMs(viaIdentity, Math.ceil(ROUNDS / BLOCKS)));
  flaregate.push(await cpuMs(viaFlaregate, Math.ceil(ROUNDS / BLOCKS)));
}
console.log = realLog;
const per1k = (ms) => +((ms * 1000) / TOKENS).toFixed(3);
console.log(JSON.stringify({
  tokens: TOKENS,
  rounds: ROUNDS,
  identity_cpu_ms_per_1k_tokens: per1k(median(identity)),
  flaregate_cpu_ms_per_1k_tokens: per1k(median(flaregate)),
  ratio: +(median(flaregate) / median(identity)).toFixed(2),
}));
