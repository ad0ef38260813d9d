// A stand-in for the Workers AI binding (loaded with worker-runner.mjs --ai-module) that writes
// adversarial model output of any size on the fly, for tests/test_adversarial_outputs.py. The
// last user message is a JSON recipe:
//   {"prefix": "...", "unit": "...", "size": N, "suffix": "...", "piece": K,
//    "events": [extra native events sent before the text], "deepArgs": D}
// deepArgs sends a native tool call whose arguments are arrays nested D deep (written by hand,
// not through JSON.stringify, whose recursion such depth can overflow).
// The text is prefix + unit repeated to N characters + suffix, streamed as native events of K
// characters (or answered whole when not streaming). Kept ASCII: Miniflare reads it as latin1.
const encoder = new TextEncoder();

function recipeOf(inputs) {
  const messages = inputs.messages ?? [];
  for (let i = messages.length - 1; i >= 0; i--) {
    if (messages[i].role === "user" && typeof messages[i].content === "string") return JSON.parse(messages[i].content);
  }
  return JSON.parse(inputs.prompt ?? "{}");
}

function textOf(recipe) {
  const unit = recipe.unit ?? "";
  const body = unit ? unit.repeat(Math.ceil((recipe.size ?? 0) / unit.length)).slice(0, recipe.size ?? 0) : "";
  return (recipe.prefix ?? "") + body + (recipe.suffix ?? "");
}

export default function () {
  return {
    async run(model, inputs) {
      const recipe = recipeOf(inputs);
      const text = textOf(recipe);
      const deep = recipe.deepArgs ? `{"response":"","tool_calls":[{"name":"write_file","arguments":${"[".repeat(recipe.deepArgs)}${"]".repeat(recipe.deepArgs)}}]}` : null;
      if (!inputs.stream) return deep ? JSON.parse(deep) : { response: text, ...(recipe.events?.[0] ?? {}) };
      if (deep) {
        return new ReadableStream({
          start(controller) {
            controller.enqueue(encoder.encode(`data: ${deep}\n\ndata: {"response":"after"}\n\ndata: [DONE]\n\n`));
            controller.close();
          },
        });
      }
      const piece = recipe.piece ?? 4;
      let offset = 0;
      let extra = [...(recipe.events ?? [])];
      return new ReadableStream({
        pull(controller) {
          if (extra.length) {
            controller.enqueue(encoder.encode(`data: ${JSON.stringify(extra.shift())}\n\n`));
            return;
          }
          if (offset < text.length) {
            // Many events per read, as a fast upstream delivers them.
            let chunk = "";
            for (let i = 0; i < 64 && offset < text.length; i++, offset += piece) {
              chunk += `data: ${JSON.stringify({ response: text.slice(offset, offset + piece) })}\n\n`;
            }
            controller.enqueue(encoder.encode(chunk));
            return;
          }
          controller.enqueue(encoder.encode('data: {"response":"","usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}\n\ndata: [DONE]\n\n'));
          controller.close();
        },
      });
    },
  };
}
