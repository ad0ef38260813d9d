#!/usr/bin/env node
// CPU of adversarial model outputs through the whole Worker (quirk filters, normalizer, encoder),
// at N and 2N characters, against a plain answer of the same length in the same run. Linear
// work shows as a 2N/N ratio near 2 and a small, size-independent factor over plain text; a
// filter that re-scans what it holds shows as a ratio near 4 (or worse) and a factor that grows.
//
//   node scripts/bench_filters.mjs dist/worker.js [kilobytes=16] [rounds=3]
import { createHash } from "node:crypto";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";

const [script = "dist/worker.js", kbArg = "16", roundsArg = "3"] = process.argv.slice(2);
const SIZE = Number(kbArg) * 1024;
const ROUNDS = Number(roundsArg);
const worker = (await import(pathToFileURL(resolve(script)).href)).default;
const encoder = new TextEncoder();

const WRITE_FILE = { type: "function", function: { name: "write_file", parameters: { type: "object", properties: { content: { type: "string" } } } } };
// Each case: the model's text (as a function of the size) and what the request asks for. The
// text streams as a native Workers AI answer, four characters per event.
const CASES = {
  plain: { text: (n) => "lorem ipsum dolor sit amet ".repeat(n / 27 + 1).slice(0, n) },
  plain_with_tools: { text: (n) => "lorem ipsum dolor sit amet ".repeat(n / 27 + 1).slice(0, n), tools: [WRITE_FILE] },
  write_file_call: {
    text: (n) => `{"name": "write_file", "arguments": {"content": "${"line of code\\n".repeat(n / 14 + 1).slice(0, n - 60)}"}}`,
    tools: [WRITE_FILE],
  },
  unclosed_json_fences: { text: (n) => '```json\n{"name"'.repeat(n / 16 + 1).slice(0, n), tools: [WRITE_FILE] },
  header_openers: { text: (n) => "<|start_header_id|>".repeat(n / 19 + 1).slice(0, n) },
  think_closers: { text: (n) => "</think>".repeat(n / 8 + 1).slice(0, n) },
  // Not streamed: the whole answer is one piece of text, so a search per token becomes a search
  // per occurrence over everything after it.
  unclosed_json_fences_whole: { text: (n) => '```json\n{"name"'.repeat(n / 16 + 1).slice(0, n), tools: [WRITE_FILE], whole: true },
  header_openers_whole: { text: (n) => "<|start_header_id|>".repeat(n / 19 + 1).slice(0, n), whole: true },
  think_closers_whole: { text: (n) => "</think>".repeat(n / 8 + 1).slice(0, n), whole: true },
  long_stops: {
    text: (n) => "x".repeat(n),
    stop: ["y", "z", "w", "v"].map((c) => "x".repeat(255) + c),
  },
};

function upstream(text) {
  const events = [];
  for (let i = 0; i < text.length; i += 4) events.push(encoder.encode(`data: ${JSON.stringify({ response: text.slice(i, i + 4) })}\n\n`));
  events.push(encoder.encode('data: {"response":""}\n\ndata: [DONE]\n\n'));
  let i = 0;
  return new ReadableStream({
    pull(controller) {
      if (i < events.length) controller.enqueue(events[i++]);
      else controller.close();
    },
  });
}

const KEY = "sk-fg-bench";
const record = JSON.stringify({ id: "bench", name: "bench", created_at: "2026-01-01T00:00:00Z", expires_at: null });
const hash = createHash("sha256").update(KEY).digest("hex");
let current = "";
let whole = false;
const env = { AI: { run: async () => (whole ? { response: current } : upstream(current)) }, KEYS: { get: async (k) => (k === `key:${hash}` ? record : null) } };

async function request(c, n) {
  current = c.text(n);
  whole = Boolean(c.whole);
  const body = { model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }], stream: !whole };
  if (c.tools) body.tools = c.tools;
  if (c.stop) body.stop = c.stop;
  const response = await worker.fetch(new Request("http://bench/v1/chat/completions", {
    method: "POST", headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" }, body: JSON.stringify(body),
  }), env, { waitUntil() {} });
  if (response.status !== 200) throw new Error(`status ${response.status}: ${await response.text()}`);
  const reader = response.body.getReader();
  for (;;) if ((await reader.read()).done) return;
}

async function cpuMs(c, n) {
  const times = [];
  for (let r = 0; r < ROUNDS; r++) {
    const start = process.cpuUsage();
    await request(c, n);
    const used = process.cpuUsage(start);
    times.push((used.user + used.system) / 1000);
  }
  return times.sort((a, b) => a - b)[Math.floor(times.length / 2)];
}

const realLog = console.log;
console.log = () => {};
for (const c of Object.values(CASES)) await request(c, 4096); // warm up the JIT
const plain = { n: await cpuMs(CASES.plain, SIZE), n2: await cpuMs(CASES.plain, 2 * SIZE) };
const results = {};
for (const [name, c] of Object.entries(CASES)) {
  const n = await cpuMs(c, SIZE);
  const n2 = await cpuMs(c, 2 * SIZE);
  results[name] = { cpu_ms_n: +n.toFixed(1), cpu_ms_2n: +n2.toFixed(1), ratio_2n_over_n: +(n2 / n).toFixed(2), vs_plain_at_2n: +(n2 / plain.n2).toFixed(2) };
}
console.log = realLog;
console.log(JSON.stringify({ n_chars: SIZE, rounds: ROUNDS, cases: results }, null, 1));
