#!/usr/bin/env node
// Runs a rendered flaregate Worker in workerd (Miniflare) with a KEYS KV namespace and an AI
// binding, and prints one JSON line when it serves:
//   {"url": <the Worker>, "control": <a small HTTP API over the same KV namespace>,
//    "ai": "stand-in" | "remote", "seeded": <whether --seed-if-empty wrote its entry>}
// It runs until stdin closes or it gets SIGTERM/SIGINT, then stops workerd. `flaregate dev`
// (flaregate/dev_server.py) and the tests (tests/worker_harness.py) both start it.
//
//   node runner.mjs --script dist/worker.js [--port 8787] [--var NAME=VALUE ...]
//        [--ai-module PATH] [--fixtures DIR] [--persist DIR] [--seed-if-empty JSON]
//        [--label TEXT] [--remote-ai] [--no-control]
//
// env.AI is the stand-in (stand_in_ai.js beside this file; see its header for what it answers)
// unless --remote-ai. --ai-module swaps in another stand-in: an ES module (ASCII: Miniflare reads
// it as latin1) whose default export is `function (env) { return { async run(model, inputs,
// options) } }`, with env.FIXTURES (the recorded outputs in --fixtures, none by default),
// env.MODELS (catalog facts) and env.NOTE (--label) bound.
// --persist DIR        keep the KV namespace and the Durable Objects' storage (per-key limits) in
//                      DIR between runs (in memory otherwise).
// --seed-if-empty JSON {"key", "value", "metadata"}: write this KV entry when the namespace holds
//                      no `key:` entry yet. `flaregate dev` seeds its dev key this way: only the
//                      key's SHA-256 is ever passed here, never the key.
// --label TEXT         a front Worker adds `x-flaregate-ai: TEXT` to every response, and the
//                      stand-in ends its default answer with TEXT.
// --remote-ai          env.AI is real Workers AI on $CLOUDFLARE_ACCOUNT_ID, authenticated with
//                      $CLOUDFLARE_API_TOKEN, through a remote proxy session (wrangler's
//                      startRemoteProxySession, which Miniflare's `ai.remoteProxyConnectionString`
//                      connects to).
// --no-control         no control API. `flaregate dev` runs without it: it is an unauthenticated
//                      local port through which any local user could add keys to the ring.
// Packages (miniflare; wrangler for --remote-ai) come from $FLAREGATE_NODE_MODULES (a directory
// holding node_modules/) when it is set, else from node_modules above this file.
//
// Control API (for tests and `flaregate` against a local fake Cloudflare API):
//   PUT    /kv/<key>?expiration=<unix s>   body = value, header x-kv-metadata = JSON
//   GET    /kv/<key>                        value, 404 if missing
//   DELETE /kv/<key>
//   GET    /kv?prefix=<p>                   {"keys": [{name, expiration, metadata}]}
import { readFileSync, readdirSync } from "node:fs";
import { createServer } from "node:http";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

const here = dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({
  options: {
    script: { type: "string" },
    port: { type: "string", default: "0" },
    fixtures: { type: "string" },
    "ai-module": { type: "string", default: join(here, "stand_in_ai.js") },
    var: { type: "string", multiple: true, default: [] },
    "compatibility-date": { type: "string", default: "2026-04-01" },
    persist: { type: "string" },
    "seed-if-empty": { type: "string" },
    label: { type: "string" },
    "remote-ai": { type: "boolean", default: false },
    "no-control": { type: "boolean", default: false },
  },
});
if (!values.script) {
  console.error("usage: runner.mjs --script dist/worker.js [--port N] [--var NAME=VALUE]");
  process.exit(2);
}

// A package by name, from $FLAREGATE_NODE_MODULES when set (where `flaregate dev` installs the
// pinned versions), else the usual resolution from this file (a checkout's node_modules).
async function load(name) {
  const prefix = process.env.FLAREGATE_NODE_MODULES;
  if (!prefix) return import(name);
  const module = await import(pathToFileURL(createRequire(join(prefix, "package.json")).resolve(name)).href);
  // A CommonJS package imported by path: its exports may arrive only as `default`.
  return { ...module.default, ...module };
}

// The front Worker of --label: the response as the Worker made it (status, body, streaming),
// plus one header.
const LABEL_WORKER = `export default {
  async fetch(request, env) {
    const response = await env.WORKER.fetch(request);
    const labelled = new Response(response.body, response);
    labelled.headers.set("x-flaregate-ai", env.LABEL);
    return labelled;
  },
};
`;

function loadFixtures(dir) {
  const fixtures = {};
  if (!dir) return fixtures;
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
  const catalog = JSON.parse(readFileSync(join(here, "..", "data", "models.json"), "utf8"));
  const facts = {};
  for (const m of catalog.models) {
    const entry = { id: m.id, type: m.type, reasoning: m.reasoning, dimensions: m.dimensions, max_batch: m.max_batch, image_input: m.image_input, image_output: m.image_output };
    // Binding values must be plain JSON: no undefined fields.
    facts[m.id] = Object.fromEntries(Object.entries(entry).filter(([, v]) => v !== undefined));
  }
  return facts;
}

const vars = Object.fromEntries(values.var.map((v) => [v.slice(0, v.indexOf("=")), v.slice(v.indexOf("=") + 1)]));
const { Miniflare } = await load("miniflare");

const worker = {
  name: "flaregate",
  // Given as contents, not a path: workerd refuses module paths outside its working directory.
  modules: [{ type: "ESModule", path: "worker.js", contents: readFileSync(resolve(values.script), "utf8") }],
  compatibilityDate: values["compatibility-date"],
  kvNamespaces: ["KEYS"],
  // Per-key limits (worker_template/src/limits.js): a SQLite-backed Durable Object, as deployed.
  durableObjects: { KEY_LIMITER: { className: "KeyLimiter", useSQLite: true } },
  bindings: vars,
};
const workers = [worker];
let session = null;
if (values["remote-ai"]) {
  // Real Workers AI: wrangler starts a remote preview of a small proxy Worker on the account and
  // hands Miniflare a connection string for it; the Worker's env.AI then calls the account's models.
  const { startRemoteProxySession } = await load("wrangler");
  const auth = { accountId: process.env.CLOUDFLARE_ACCOUNT_ID, apiToken: { apiToken: process.env.CLOUDFLARE_API_TOKEN } };
  try {
    session = await startRemoteProxySession({ AI: { type: "ai" } }, { workerName: "flaregate-dev-ai-proxy", auth });
  } catch (err) {
    console.error(`Could not connect to Workers AI on account ${auth.accountId}: ${err?.message ?? err}`);
    process.exit(1);
  }
  worker.ai = { binding: "AI", remoteProxyConnectionString: session.remoteProxyConnectionString };
} else {
  const standIn = { FIXTURES: loadFixtures(values.fixtures), MODELS: loadModelFacts(), ...(values.label ? { NOTE: values.label } : {}) };
  worker.wrappedBindings = { AI: { scriptName: "stand-in-ai", bindings: standIn } };
  // As contents, like the Worker: the module may live outside workerd's working directory.
  workers.push({ name: "stand-in-ai", modules: [{ type: "ESModule", path: "stand_in_ai.js", contents: readFileSync(resolve(values["ai-module"]), "latin1") }] });
}
if (values.label) {
  // The first Worker is the one Miniflare serves: a front that labels every response.
  workers.unshift({
    name: "label",
    modules: [{ type: "ESModule", path: "label.js", contents: LABEL_WORKER }],
    compatibilityDate: values["compatibility-date"],
    bindings: { LABEL: values.label },
    serviceBindings: { WORKER: "flaregate" },
  });
}
const mf = new Miniflare({
  host: "127.0.0.1",
  port: Number(values.port),
  workers,
  ...(values.persist ? { kvPersist: resolve(values.persist, "kv"), durableObjectsPersist: resolve(values.persist, "do") } : {}),
});

let url;
try {
  url = await mf.ready;
} catch (err) {
  console.error(`workerd did not start: ${err?.message ?? err}`);
  await session?.dispose();
  process.exit(1);
}
const kv = await mf.getKVNamespace("KEYS", "flaregate");

let seeded = false;
if (values["seed-if-empty"]) {
  const seed = JSON.parse(values["seed-if-empty"]);
  const existing = await kv.list({ prefix: "key:", limit: 1 });
  if (existing.keys.length === 0) {
    await kv.put(seed.key, JSON.stringify(seed.value), { metadata: seed.metadata ?? seed.value });
    seeded = true;
  }
}

const control = values["no-control"] ? null : createServer(async (req, res) => {
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
if (control) await new Promise((ok) => control.listen(0, "127.0.0.1", ok));

console.log(JSON.stringify({
  url: url.href.replace(/\/$/, ""),
  control: control ? `http://127.0.0.1:${control.address().port}` : null,
  ai: session ? "remote" : "stand-in",
  seeded,
}));

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  control?.close();
  await mf.dispose();
  await session?.dispose();
  process.exit(0);
}
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
process.stdin.on("end", stop);
process.stdin.resume();
