// The Vercel AI SDK's default OpenAI provider (`@ai-sdk/openai`: `openai(id)` is
// `openai.responses(id)`) with `store` left at its default, so that earlier output items go back
// as {"type": "item_reference", "id": ...}. The SDK validates every response and stream chunk
// against its own schemas.
//
//   node tests/clients/ai_sdk_responses.mjs BASE_URL API_KEY MODEL loop|conversation stream|generate PROMPT [PROMPT2]
// loop: one prompt, a get_weather tool, up to 5 steps. conversation: PROMPT, then PROMPT2 with
// the first turn's messages (response.messages) before it.
// Prints {"text", "toolCalls", "toolResults", "steps", "finishReason", "requests": [input item types]}.
import { createOpenAI } from "@ai-sdk/openai";
import { generateText, stepCountIs, streamText, tool } from "ai";
import { z } from "zod";

const [baseURL, apiKey, modelId, kind, mode, prompt, prompt2] = process.argv.slice(2);
const requests = [];
// Records what the SDK sends (the input item types), then sends it unchanged.
const recordingFetch = async (url, init) => {
  const body = JSON.parse(init.body);
  requests.push({ store: body.store ?? null, input: body.input.map((i) => i.type ?? `message:${i.role}`) });
  return fetch(url, init);
};
const provider = createOpenAI({ baseURL, apiKey, fetch: recordingFetch });
const tools = {
  get_weather: tool({
    description: "Current weather for a city",
    inputSchema: z.object({ city: z.string() }),
    execute: async ({ city }) => `18C and sunny in ${city}`,
  }),
};

async function run(options) {
  if (mode !== "stream") return generateText(options);
  const errors = [];
  const stream = streamText({ ...options, onError: ({ error }) => errors.push(String(error?.message ?? error)) });
  for await (const _part of stream.fullStream) {
    // consume every part, as a chat UI does
  }
  if (errors.length) throw new Error(errors.join("; "));
  return { text: await stream.text, steps: await stream.steps, finishReason: await stream.finishReason, response: await stream.response };
}

const base = { model: provider(modelId), maxRetries: 0 };
let result;
if (kind === "loop") {
  result = await run({ ...base, tools, stopWhen: stepCountIs(5), prompt });
} else {
  const first = await run({ ...base, prompt });
  const messages = [{ role: "user", content: prompt }, ...first.response.messages, { role: "user", content: prompt2 }];
  const second = await run({ ...base, messages });
  // generateText's result has getters: read them, a spread would lose them.
  result = { text: second.text, steps: second.steps, finishReason: second.finishReason, firstText: first.text };
}
const calls = result.steps.flatMap((s) => s.toolCalls.map((c) => ({ toolName: c.toolName, input: c.input })));
const toolResults = result.steps.flatMap((s) => s.toolResults.map((r) => r.output));
console.log(JSON.stringify({
  text: result.text, firstText: result.firstText ?? null, toolCalls: calls, toolResults,
  steps: result.steps.length, finishReason: result.finishReason, requests,
}));
