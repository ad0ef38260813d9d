#!/usr/bin/env node
// Runs a rendered flaregate Worker in workerd (Miniflare) with a KEYS KV namespace and the fake
// Workers AI binding (scripts/fake_ai.js replaying tests/fixtures/workers-ai, and told each
// catalog model's type, embedding size and image forms from flaregate/data/models.json), and prints one JSON
// line: {"url": <the Worker>, "control": <a small HTTP API over the same KV namespace>}.
// It runs until stdin closes or it gets SIGTERM/SIGINT.
//
//   node scripts/worker-runner.mjs --script dist/worker.js [--port 8787] [--var NAME=VALUE ...]
//        [--ai-module PATH] [--fixtures DIR]
//
// --ai-module swaps in another stand-in for env.AI: an ES module (ASCII: Miniflare reads it as
// latin1) whose default export is `function (env) { return { async run(model, inputs, options) } }`,
// with env.FIXTURES (the files in --fixtures) and env.MODELS (catalog facts) bound.
//
// Control API (for tests and `flaregate` against a local fake Cloudflare API):
//   PUT    /kv/<key>?expiration=<unix s>   body = value, header x-kv-metadata = JSON
//   GET    /kv/<key>                        value, 404 if missing
//   DELETE /kv/<key>
//   GET    /kv?prefix=<p>                   {"keys": [{name, expiration, metadata}]}
import { createHash } from "node:crypto";
import { readFileSync, readdirSync } from "node:fs";
import { createServer } from "node:http";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Miniflare } from "miniflare";

const here = dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({
  options: {
    script: { type: "string" },
    port: { type: "string", default: "0" },
    fixtures: { type: "string", default: join(here, "..", "tests", "fixtures", "workers-ai") },
    "ai-module": { type: "string", default: join(here, "fake_ai.js") },
    var: { type: "string", multiple: true, default: [] },
    "compatibility-date": { type: "string", default: "2026-04-01" },
  },
});
if (!values.script) {
  console.error("usage: worker-runner.mjs --script dist/worker.js [--port N] [--var NAME=VALUE]");
  process.exit(2);
}

function loadFixtures(dir) {
  const fixtures = {};
  for (const file of readdirSync(dir)) {
    const match = /^(.*)\.(json|sse)$/.exec(file);
    if (!match || file === "errors.json") continue;
    const text = readFileSync(join(dir, file), "utf8");
    const entry = (fixtures[match[1]] ??= {});
    if (match[2] === "sse") entry.sse = text;
    else entry.object = JSON.parse(text).output;
  }
  return fixtures;
}

// What the fake needs to answer like each model: its type, how it reasons, embedding size and
// batch limit, image input and output forms (the same facts the Worker is rendered with).
function loadModelFacts() {
  const catalog = JSON.parse(readFileSync(join(here, "..", "flaregate", "data", "models.json"), "utf8"));
  const facts = {};
  for (const m of catalog.models) {
    const entry = { id: m.id, type: m.type, reasoning: m.reasoning, dimensions: m.dimensions, max_batch: m.max_batch, image_input: m.image_input, image_output: m.image_output };
    // Binding values must be plain JSON: no undefined fields.
    facts[m.id] = Object.fromEntries(Object.entries(entry).filter(([, v]) => v !== undefined));
  }
  return facts;
}

const vars = Object.fromEntries(values.var.map((v) => [v.slice(0, v.indexOf("=")), v.slice(v.indexOf("=") + 1)]));
const mf = new Miniflare({
  host: "127.0.0.1",
  port: Number(values.port),
  workers: [
    {
      name: "flaregate",
      // Given as contents, not a path: workerd refuses module paths outside its working directory.
      modules: [{ type: "ESModule", path: "worker.js", contents: readFileSync(resolve(values.script), "utf8") }],
      compatibilityDate: values["compatibility-date"],
      kvNamespaces: ["KEYS"],
      // Per-key limits (worker_template/src/limits.js): a SQLite-backed Durable Object, as deployed.
      durableObjects: { KEY_LIMITER: { className: "KeyLimiter", useSQLite: true } },
      bindings: vars,
      wrappedBindings: { AI: { scriptName: "fake-ai", bindings: { FIXTURES: loadFixtures(values.fixtures), MODELS: loadModelFacts() } } },
    },
    {
      name: "fake-ai",
      // As contents, like the Worker: the module may live outside workerd's working directory.
      modules: [{ type: "ESModule", path: "fake_ai.js", contents: readFileSync(resolve(values["ai-module"]), "latin1") }],
    },
  ],
});

const url = await mf.ready;
const kv = await mf.getKVNamespace("KEYS", "flaregate");

// For local use: FLAREGATE_DEV_KEY (an environment variable, never an argument, so it stays out
// of process listings) is stored the documented way (docs/keys.md) as a key that never expires.
if (process.env.FLAREGATE_DEV_KEY) {
  const hash = createHash("sha256").update(process.env.FLAREGATE_DEV_KEY).digest("hex");
  const record = { id: "dev", name: "local development", created_at: new Date().toISOString(), expires_at: null };
  await kv.put(`key:${hash}`, JSON.stringify(record), { metadata: record });
}

const control = createServer(async (req, res) => {
  try {
    const u = new URL(req.url, "http://control");
    const key = decodeURIComponent(u.pathname.replace(/^\/kv\/?/, ""));
    const send = (status, body, type = "application/json") => {
      res.writeHead(status, { "content-type": type });
      res.end(body);
    };
    if (!u.pathname.startsWith("/kv")) return send(404, '{"error":"not found"}');
    if (req.method === "GET" && !key) {
      const list = await kv.list({ prefix: u.searchParams.get("prefix") ?? "" });
      return send(200, JSON.stringify({ keys: list.keys }));
    }
    if (req.method === "GET") {
      const value = await kv.get(key);
      return value === null ? send(404, '{"error":"not found"}') : send(200, value, "application/octet-stream");
    }
    if (req.method === "PUT") {
      const chunks = [];
      for await (const chunk of req) chunks.push(chunk);
      const options = {};
      if (u.searchParams.get("expiration")) options.expiration = Number(u.searchParams.get("expiration"));
      if (req.headers["x-kv-metadata"]) options.metadata = JSON.parse(req.headers["x-kv-metadata"]);
      await kv.put(key, Buffer.concat(chunks).toString("utf8"), options);
      return send(200, '{"ok":true}');
    }
    if (req.method === "DELETE") {
      await kv.delete(key);
      return send(200, '{"ok":true}');
    }
    return send(405, '{"error":"method not allowed"}');
  } catch (err) {
    res.writeHead(500, { "content-type": "application/json" });
    res.end(JSON.stringify({ error: String(err?.message ?? err) }));
  }
});
await new Promise((ok) => control.listen(0, "127.0.0.1", ok));

console.log(JSON.stringify({ url: url.href.replace(/\/$/, ""), control: `http://127.0.0.1:${control.address().port}` }));

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  control.close();
  await mf.dispose();
  process.exit(0);
}
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
process.stdin.on("end", stop);
process.stdin.resume();
