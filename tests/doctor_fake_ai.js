// A Workers AI stand-in for the `flaregate doctor` tests (scripts/worker-runner.mjs --ai-module):
// every model answers like a healthy one in the documented native shape ({response, tool_calls,
// usage}; SSE `data: {"response": ...}` events; embeddings {shape, data}), except the models in
// BROKEN, each broken in one way a live deployment shows. Kept ASCII: Miniflare reads it as latin1.
//
// A healthy chat model answers by what it was sent: JSON text when JSON mode is asked for
// (response_format, or the Worker's JSON instruction for models without native JSON mode); a tool
// call when tools are offered, natively (inputs.tools -> tool_calls) or emulated (the Worker's
// tool prompt -> the {"tool_calls": [...]} JSON that prompt asks for); else a short text.

const BROKEN = {
  // Out of capacity: the binding throws as the real one does (errors.json: 3040).
  "@cf/qwen/qwq-32b": "error",
  // Never answers (a long timer: workerd cancels a request awaiting a promise that never settles).
  "@cf/aisingapore/gemma-sea-lion-v4-27b-it": "hang",
  // Answers, but never calls a tool even when asked to.
  "@cf/meta/llama-3.2-3b-instruct": "no-tool-call",
  // An embedding model that fails.
  "@cf/baai/bge-m3": "error",
  // A stream that starts, then fails (the binding's stream errors after the first read).
  "@cf/meta/llama-3.1-8b-instruct-fast": "stream-dies",
  // Calls the tool, but without the required argument.
  "@cf/ibm-granite/granite-4.0-h-micro": "bad-tool-args",
  // Asked for JSON, answers with prose.
  "@cf/qwen/qwen2.5-coder-32b-instruct": "prose-not-json",
};

const encoder = new TextEncoder();
const JPEG_BASE64 = "/9j/2wBDAAYEBQYFBAYGBQYHBwYIChAKCgkJChQODwwQFxQYGBcUFhYaHSUfGhsjHBYWICwgIyYnKSopGR8tMC0oMCUoKSj/2wBDAQcHBwoIChMKChMoGhYaKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCj/wAARCAACAAIDASIAAhEBAxEB/8QAFQABAQAAAAAAAAAAAAAAAAAAAAf/xAAcEAACAgMBAQAAAAAAAAAAAAABAgADBAUGESH/xAAVAQEBAAAAAAAAAAAAAAAAAAAGB//EAB0RAAEDBQEAAAAAAAAAAAAAAAEABLECAzM0cXL/2gAMAwEAAhEDEQA/AKxwGuwruE5u27DxrLH1uMzO1SksTUvpJ8+mIiRB/tXfRkoq6zV9Mr//2Q==";
const USAGE = { prompt_tokens: 12, completion_tokens: 4, total_tokens: 16 };

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function bindingError(message) {
  const err = new Error(message);
  err.name = "InferenceUpstreamError";
  return err;
}

function sse(events) {
  const text = events.map((e) => `data: ${JSON.stringify(e)}\n\n`).join("") + "data: [DONE]\n\n";
  return new ReadableStream({
    start(controller) {
      controller.enqueue(encoder.encode(text));
      controller.close();
    },
  });
}

function dyingStream(text) {
  let reads = 0;
  return new ReadableStream({
    pull(controller) {
      if (reads++ === 0) controller.enqueue(encoder.encode(`data: ${JSON.stringify({ response: text.slice(0, 2) })}\n\n`));
      else controller.error(bindingError("3043: Internal server error"));
    },
  });
}

function systemText(inputs) {
  return (inputs?.messages ?? [])
    .filter((m) => m.role === "system")
    .map((m) => (typeof m.content === "string" ? m.content : ""))
    .join("\n");
}

// The tool named first in what the Worker sent: native tools, or the JSON list in its prompt.
function offeredTool(inputs) {
  const native = inputs?.tools?.[0];
  if (native) return native.function?.name ?? native.name;
  const system = systemText(inputs);
  if (!system.includes('"tool_calls"')) return null;
  for (const line of system.split("\n")) {
    if (!line.startsWith("[")) continue;
    try {
      const list = JSON.parse(line);
      return list[0]?.name ?? list[0]?.function?.name ?? null;
    } catch {
      // not the tool list
    }
  }
  return null;
}

function wantsJson(inputs) {
  return Boolean(inputs?.response_format) || /\bJSON\b/.test(systemText(inputs));
}

function chatAnswer(facts, inputs, broken) {
  const tool = broken === "no-tool-call" ? null : offeredTool(inputs);
  const args = broken === "bad-tool-args" ? { town: "Paris" } : { city: "Paris" };
  let text = "pong";
  if (tool && inputs?.tools) {
    return { response: null, tool_calls: [{ name: tool, arguments: args }], usage: USAGE };
  }
  if (tool) text = JSON.stringify({ tool_calls: [{ name: tool, arguments: args }] });
  else if (broken === "no-tool-call" && offeredTool(inputs)) text = "I cannot look up the weather.";
  else if (wantsJson(inputs)) text = broken === "prose-not-json" ? "Sure! Here is your object: ok" : '{"ok": true}';
  // DeepSeek R1 distills and QwQ start thinking without an opening tag (fixture
  // deepseek-r1-think-no-open-tag.json): the answer follows the closing one.
  if (facts?.reasoning === "think_tags_no_open") text = "The user wants a short answer.</think>\n\n" + text;
  if (!inputs?.stream) return { response: text, tool_calls: [], usage: USAGE };
  if (broken === "stream-dies") return dyingStream(text);
  const pieces = text.match(/.{1,3}/gs) ?? [];
  return sse([...pieces.map((p) => ({ response: p })), { response: "", usage: USAGE }]);
}

function embeddings(inputs, facts) {
  const texts = Array.isArray(inputs.text) ? inputs.text : [inputs.text];
  const dimension = facts?.dimensions ?? 384;
  const vector = Array.from({ length: dimension }, (_, i) => (i === 0 ? 1 : 0));
  return { shape: [texts.length, dimension], data: texts.map(() => vector), pooling: "mean" };
}

export default function (env) {
  const models = env.MODELS ?? {};
  return {
    async run(model, inputs) {
      const broken = BROKEN[model];
      if (broken === "error") throw bindingError("3040: Capacity temporarily exceeded, please try again.");
      if (broken === "hang") {
        await sleep(600000);
        return { response: "too late" };
      }
      const facts = models[model];
      if (facts?.type === "embeddings" || (inputs?.text !== undefined && !inputs?.messages)) return embeddings(inputs, facts);
      if (facts?.type === "image") return { image: JPEG_BASE64 };
      return chatAnswer(facts, inputs, broken);
    },
  };
}
