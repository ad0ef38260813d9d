// Drives the Worker's text filters (worker_template/src/quirks.js, normalize.js) outside workerd
// for tests/test_filter_work.py: reads one JSON case per stdin line and answers one JSON line
// with the filter's output and `work`, the characters it examined.
//
//   node tests/filter_work.mjs MODULE_DIR   (a copy of worker_template/src that Node loads as ESM)
//
// Case: {"filter": "control"|"think"|"tool"|"stop"|"normalizer", "pieces": [text, ...],
//        "tools": [name, ...], "stop": [seq, ...], "reasoning": "none"|"think_tags"|...}
import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";
import { join } from "node:path";

const dir = process.argv[2];
const quirks = await import(pathToFileURL(join(dir, "quirks.js")).href);
const { CompletionNormalizer } = await import(pathToFileURL(join(dir, "normalize.js")).href);

function run(c) {
  const pieces = c.pieces;
  if (c.filter === "control") {
    const f = new quirks.ControlTokenFilter();
    let text = "";
    for (const p of pieces) text += f.push(p);
    text += f.end();
    return { text, work: f.work };
  }
  if (c.filter === "think") {
    const f = new quirks.ThinkFilter(c.reasoning ?? "think_tags");
    const out = [];
    for (const p of pieces) out.push(...f.push(p));
    out.push(...f.end());
    return { out, work: f.work };
  }
  if (c.filter === "tool") {
    const f = new quirks.ToolJsonSniffer(c.tools ?? ["write_file"]);
    const out = [];
    for (const p of pieces) out.push(...f.push(p));
    out.push(...f.end());
    return { out, work: f.work };
  }
  // The whole text path of a chat answer, each piece one streamed event.
  const n = new CompletionNormalizer({ toolNames: c.tools ?? [], reasoning: c.reasoning ?? "none", stop: c.stop ?? [] });
  const parts = [];
  for (const p of pieces) parts.push(...n.event(JSON.stringify({ response: p })));
  parts.push(...n.event("[DONE]"));
  parts.push(...n.end({ streamed: true }));
  const filters = [n.controlFilter, n.thinkFilter, n.toolSniffer, n.stopFilter].filter(Boolean);
  const text = parts.filter((p) => p.type === "text").map((p) => p.text).join("");
  const calls = parts.filter((p) => p.type === "tool_call").map((p) => p.name);
  return { text, calls, finish: parts.find((p) => p.type === "finish")?.reason ?? null, work: filters.reduce((sum, f) => sum + f.work, 0) };
}

for await (const line of createInterface({ input: process.stdin })) {
  if (!line.trim()) continue;
  let answer;
  try {
    answer = run(JSON.parse(line));
  } catch (err) {
    answer = { error: String(err?.stack ?? err) };
  }
  process.stdout.write(`${JSON.stringify(answer)}\n`);
}
