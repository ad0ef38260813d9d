// An agent loop driven by the Vercel AI SDK's OpenAI-compatible provider, the client opencode
// uses. The SDK validates every response and stream chunk against its own schemas, runs the
// tools the model asks for, and sends the results back, step after step.
//
//   node tests/clients/ai_sdk_agent.mjs BASE_URL API_KEY MODEL PROMPT stream|generate
// Prints {"text", "toolCalls": [{toolName, input}], "toolResults": [...], "steps", "finishReason"}.
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import { generateText, stepCountIs, streamText, tool } from "ai";
import { z } from "zod";

const [baseURL, apiKey, modelId, prompt, mode] = process.argv.slice(2);
const provider = createOpenAICompatible({ name: "flaregate", baseURL, apiKey, includeUsage: true });
const tools = {
  get_weather: tool({
    description: "Current weather for a city",
    inputSchema: z.object({ city: z.string() }),
    execute: async ({ city }) => `18C and sunny in ${city}`,
  }),
};
const options = { model: provider(modelId), tools, stopWhen: stepCountIs(5), prompt, maxRetries: 0 };

let result;
if (mode === "stream") {
  const errors = [];
  const stream = streamText({ ...options, onError: ({ error }) => errors.push(String(error?.message ?? error)) });
  for await (const _part of stream.fullStream) {
    // consume every part, as an agent UI does
  }
  if (errors.length) throw new Error(errors.join("; "));
  result = { text: await stream.text, steps: await stream.steps, finishReason: await stream.finishReason };
} else {
  result = await generateText(options);
}
const calls = result.steps.flatMap((s) => s.toolCalls.map((c) => ({ toolName: c.toolName, input: c.input })));
const toolResults = result.steps.flatMap((s) => s.toolResults.map((r) => r.output));
console.log(JSON.stringify({ text: result.text, toolCalls: calls, toolResults, steps: result.steps.length, finishReason: result.finishReason }));
