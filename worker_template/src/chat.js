// POST /v1/chat/completions: request -> inputs -> Workers AI (with deadline and fallbacks) ->
// CompletionNormalizer -> an OpenAI chat.completion, or a stream of chat.completion.chunk.
import { resolveModel } from "./catalog.js";
import { assembleCompletion, chatChunkStream } from "./chat_encode.js";
import { buildChatInputs } from "./chat_inputs.js";
import { parseChatRequest } from "./chat_request.js";
import { collectResult, openStream, runWithFallbacks } from "./completion.js";
import { jsonResponse, newId, readJsonBody } from "./http.js";
import { CompletionNormalizer } from "./normalize.js";
import { routeToOrigin } from "./origin.js";
import { SSE_HEADERS } from "./sse.js";

export async function handleChatCompletions(ctx) {
  const body = await readJsonBody(ctx.request, ctx.settings.limits.maxBodyBytes);
  const viaOrigin = await routeToOrigin(ctx, body);
  if (viaOrigin) return viaOrigin;
  const req = parseChatRequest(body);
  ctx.promptCacheKey = req.promptCacheKey;
  ctx.log.model_requested = typeof req.model === "string" ? req.model : null;
  const model = resolveModel(req.model, "chat");
  const { inputs, tools, maxTokens } = buildChatInputs(req, model);
  ctx.log.model = model.id;
  ctx.log.stream = req.stream;
  const normalizer = new CompletionNormalizer({ toolNames: tools.names, reasoning: model.facts.reasoning, maxTokens, stop: req.stop });
  const meta = { id: newId("chatcmpl-"), created: Math.floor(Date.now() / 1000), model: model.requested };
  const timeouts = ctx.settings.timeouts;

  if (!req.stream) {
    const result = await runWithFallbacks(ctx, model, inputs, timeouts.requestMs, "the answer");
    const parts = await collectResult(ctx, result, normalizer);
    return jsonResponse(assembleCompletion(meta, parts, ctx));
  }

  const { first, events } = await openStream(ctx, model, inputs, normalizer);
  return new Response(chatChunkStream(meta, first, events, req.includeUsage, ctx), { headers: SSE_HEADERS });
}
