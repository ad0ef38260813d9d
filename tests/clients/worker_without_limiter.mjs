// The rendered Worker in workerd as a deployment without its KEY_LIMITER Durable Object binding
// would run it (an old wrangler.toml, a hand-made deploy): KV and the fake Workers AI as in
// scripts/worker-runner.mjs, no Durable Object. Stores the given key records, sends one chat
// request per key and prints [{status, code}] as one JSON line.
//
//   node tests/clients/worker_without_limiter.mjs WORKER_JS '[[KEY, RECORD, MODEL], ...]'
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";

const here = dirname(fileURLToPath(import.meta.url));
const [script, casesJson] = process.argv.slice(2);
const mf = new Miniflare({
  workers: [
    {
      name: "flaregate",
      modules: [{ type: "ESModule", path: "worker.js", contents: readFileSync(script, "utf8") }],
      compatibilityDate: "2026-04-01",
      kvNamespaces: ["KEYS"],
      wrappedBindings: { AI: { scriptName: "fake-ai", bindings: { FIXTURES: {}, MODELS: {} } } },
    },
    {
      name: "fake-ai",
      modules: [{ type: "ESModule", path: "fake_ai.js", contents: readFileSync(join(here, "..", "..", "flaregate", "local", "stand_in_ai.js"), "latin1") }],
    },
  ],
});
try {
  const kv = await mf.getKVNamespace("KEYS", "flaregate");
  const results = [];
  for (const [key, record, model] of JSON.parse(casesJson)) {
    await kv.put(`key:${createHash("sha256").update(key).digest("hex")}`, JSON.stringify(record));
    const response = await mf.dispatchFetch("http://localhost/v1/chat/completions", {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({ model, messages: [{ role: "user", content: "hi" }] }),
    });
    const body = await response.json();
    results.push({ status: response.status, code: body.error?.code ?? null, message: body.error?.message ?? null });
  }
  console.log(JSON.stringify(results));
} finally {
  await mf.dispose();
}
