// POST /v1/responses (OpenAI Responses API), on top of the chat path: the request (input as a
// string or items, instructions, function/custom/namespace tools, text.format, reasoning)
// becomes a chat completions body that parseChatRequest validates; then the same model
// resolution, inputs, fallbacks and CompletionNormalizer as chat. The parts come back out as
// Responses output items (reasoning, message, function_call, custom_tool_call), whole or as the
// official stream events with sequence numbers. With `store` (the default) the response is kept
// (item_store.js) so item_reference, previous_response_id and GET /v1/responses/{id} work;
// reasoning comes back to the model only from the gateway's own hands: a stored item or sealed
// encrypted_content (seal.js), as the chat assistant message's reasoning_content.
import { resolveModel } from "./catalog.js";
import { buildChatInputs } from "./chat_inputs.js";
import { parseChatRequest } from "./chat_request.js";
import { collectResult, openStream, runWithFallbacks } from "./completion.js";
import { checkType, checkTypes } from "./field_checks.js";
import { ApiError, invalidRequest, jsonResponse, readJsonBody, typeName } from "./http.js";
import { deleteStoredResponse, loadStoredResponse, responseIdOfItem, saveStoredResponse } from "./item_store.js";
import { CompletionNormalizer } from "./normalize.js";
import { keyLineage } from "./policy.js";
import { argumentsString } from "./quirks.js";
import { ResponseBuilder, responseEventStream, responseSkeleton } from "./responses_encode.js";
import { checkResponsesFields } from "./responses_fields.js";
import { IGNORED_TOOLS_HEADER, modelToolName, planResponseTools } from "./responses_tools.js";
import { openReasoning, sealReasoning } from "./seal.js";
import { SSE_HEADERS } from "./sse.js";

const UNSUPPORTED_RESPONSE_FIELDS = {
  conversation: "this gateway keeps no conversations; send 'previous_response_id' or the whole conversation in 'input'",
  prompt: "stored prompts live on OpenAI's platform; send 'instructions' and 'input' instead",
};
const ENCRYPTED_REASONING = "reasoning.encrypted_content";

export async function handleResponses(ctx) {
  const body = await readJsonBody(ctx.request, ctx.settings.limits.maxBodyBytes);
  ctx.log.model_requested = typeof body.model === "string" ? body.model : null;
  checkResponsesFields(body);
  const store = body.store !== false;
  const offered = planResponseTools(body);
  const previous = await loadPrevious(ctx, body.previous_response_id);
  const trusted = await resolveInputs(ctx, body.input);
  const { chat, context } = responsesToChatBody(body, offered, previous, trusted);
  const req = parseChatRequest(chat);
  ctx.promptCacheKey = req.promptCacheKey;
  const model = resolveModel(req.model, "chat");
  const { inputs, tools, maxTokens } = buildChatInputs(req, model);
  const stream = body.stream === true;
  ctx.log.model = model.id;
  ctx.log.stream = stream;
  const normalizer = new CompletionNormalizer({ toolNames: tools.names, reasoning: model.facts.reasoning, maxTokens });
  const skeleton = responseSkeleton(body, model, maxTokens, { tools: offered.echo, store, previousResponseId: previous ? previous.response.id : null });
  const include = Array.isArray(body.include) ? body.include : [];
  const sealer = include.includes(ENCRYPTED_REASONING) ? (text) => sealReasoning(ctx.env, keyLineage(ctx.key), text) : null;
  const builder = new ResponseBuilder(skeleton, { toolMap: offered.toolMap, sealer });
  const headers = offered.ignored.length ? { [IGNORED_TOOLS_HEADER]: offered.ignored.join(", ") } : {};
  const keep = store ? (response) => saveStoredResponse(ctx, response, [...context, ...conversationOf(response.output)]) : null;

  if (!stream) {
    const result = await runWithFallbacks(ctx, model, inputs, ctx.settings.timeouts.requestMs, "the answer");
    const parts = await collectResult(ctx, result, normalizer);
    const error = parts.find((p) => p.type === "error");
    if (error) throw error.error;
    for (const part of parts) builder.push(part);
    await builder.seal([]);
    if (keep) await keep(builder.response);
    ctx.log.usage = builder.chatUsage();
    return jsonResponse(builder.response, 200, headers);
  }

  const finalize = async (events) => {
    await builder.seal(events);
    const done = events.find((e) => e.type === "response.completed" || e.type === "response.incomplete");
    if (done && keep) await keep(done.response);
  };
  const { first, events } = await openStream(ctx, model, inputs, normalizer);
  return new Response(responseEventStream(builder, first, events, ctx, sealer || keep ? finalize : null), { headers: Object.assign({}, SSE_HEADERS, headers) });
}

// GET /v1/responses/{id}: a stored response, for the key that created it.
export async function handleRetrieveResponse(ctx) {
  const record = await storedResponseOrNotFound(ctx);
  return jsonResponse(record.response);
}

// DELETE /v1/responses/{id}
export async function handleDeleteResponse(ctx) {
  const record = await storedResponseOrNotFound(ctx);
  await deleteStoredResponse(ctx, record.response.id);
  return jsonResponse({ id: record.response.id, object: "response.deleted", deleted: true });
}

async function storedResponseOrNotFound(ctx) {
  const id = ctx.params.rest;
  const record = await loadStoredResponse(ctx, id);
  if (!record) {
    throw new ApiError(404, `Response with id '${id}' not found. Responses are kept for 30 days when created with 'store' left true, and only the API key that created one can read it.`, { code: "response_not_found", param: "response_id" });
  }
  return record;
}

async function loadPrevious(ctx, id) {
  if (id === undefined || id === null) return null;
  if (typeof id !== "string") {
    throw invalidRequest(`Invalid type for 'previous_response_id': expected a string, but got ${typeName(id)} instead.`, "previous_response_id", "invalid_type");
  }
  const record = await loadStoredResponse(ctx, id);
  if (!record) {
    throw invalidRequest(`Previous response with id '${id}' not found. Only responses created with 'store' left true are kept (30 days), for the API key that created them.`, "previous_response_id", "previous_response_not_found");
  }
  return record;
}

// What the gateway itself vouches for in the input, looked up before conversion: the stored
// items that item_references name (one KV read per earlier response), and the reasoning that
// encrypted_content holds. Anything else a client sends as reasoning is not trusted.
async function resolveInputs(ctx, input) {
  const trusted = { items: new Map(), vouched: new Set(), reasoning: new Map() };
  if (!Array.isArray(input)) return trusted;
  const isReference = (item) => typeName(item) === "object"
    // An item reference's `type` is optional: an item that is only an `id` is one too.
    && (item.type === "item_reference" || (item.type === undefined && item.role === undefined && typeof item.id === "string"));
  // Every earlier response referenced is read once, all at the same time.
  const responseIds = new Set(input.filter(isReference).map((item) => responseIdOfItem(String(item.id ?? ""))).filter(Boolean));
  const records = new Map(await Promise.all([...responseIds].map(async (id) => [id, await loadStoredResponse(ctx, id)])));
  for (const [i, item] of input.entries()) {
    if (isReference(item)) {
      const id = typeof item.id === "string" ? item.id : "";
      const found = records.get(responseIdOfItem(id))?.response.output.find((o) => o.id === id);
      if (!found) {
        throw invalidRequest(`Item with id '${id}' in 'input[${i}]' not found. Item references resolve to items of responses created with 'store' left true (kept 30 days, for the API key that created them); otherwise send the item itself.`, `input[${i}]`, "item_not_found");
      }
      trusted.items.set(item, found);
      trusted.vouched.add(found);
    } else if (typeName(item) === "object" && item.type === "reasoning" && item.encrypted_content !== undefined && item.encrypted_content !== null) {
      const opened = await openReasoning(ctx.env, keyLineage(ctx.key), item.encrypted_content);
      if (opened.text === null && !opened.dropped) {
        throw invalidRequest(`The encrypted_content of 'input[${i}]' could not be verified: it was not produced by this gateway for this API key, or it was altered. Send reasoning items back exactly as you received them.`, `input[${i}].encrypted_content`, "invalid_encrypted_content");
      }
      if (opened.text !== null) trusted.reasoning.set(item, opened.text);
    }
  }
  return trusted;
}

// --- request: Responses -> chat completions body ------------------------------------------

// Returns the chat body and the conversation it holds apart from the instructions (which a
// follow-up via previous_response_id does not inherit): what a stored response keeps.
function responsesToChatBody(body, offered, previous, trusted) {
  for (const [field, why] of Object.entries(UNSUPPORTED_RESPONSE_FIELDS)) {
    if (body[field] !== undefined && body[field] !== null) {
      throw invalidRequest(`'${field}' is not supported: ${why}.`, field, "unsupported_parameter");
    }
  }
  if (body.background === true) {
    throw invalidRequest("'background' is not supported: this gateway answers within the request. Send it without 'background', or with 'stream': true.", "background", "unsupported_parameter");
  }
  const system = [];
  if (body.instructions !== undefined && body.instructions !== null) {
    if (typeof body.instructions !== "string") {
      throw invalidRequest(`Invalid type for 'instructions': expected a string, but got ${typeName(body.instructions)} instead.`, "instructions", "invalid_type");
    }
    if (body.instructions) system.push({ role: "system", content: body.instructions });
  }
  const input = body.input;
  if ((input === undefined || input === null || input === "") && !previous) {
    throw invalidRequest("Missing required parameter: 'input'.", "input", "missing_required_parameter");
  }
  const conversation = { messages: previous ? [...previous.context] : [], reasoning: null };
  if (typeof input === "string") {
    if (input) conversation.messages.push({ role: "user", content: input });
  } else if (Array.isArray(input)) {
    input.forEach((item, i) => addInputItem(conversation, trusted.items.get(item) ?? item, `input[${i}]`, trusted));
  } else if (input !== undefined && input !== null) {
    throw invalidRequest(`Invalid type for 'input': expected a string or an array of input items, but got ${typeName(input)} instead.`, "input", "invalid_type");
  }
  const context = conversation.messages;
  const messages = [...system, ...context];
  if (!messages.some((m) => m.role !== "system")) {
    throw invalidRequest("Invalid 'input': it has no message for the model to answer.", "input", "empty_array");
  }

  const chat = { model: body.model, messages, stream: false };
  if (body.max_output_tokens !== undefined && body.max_output_tokens !== null) {
    if (!Number.isInteger(body.max_output_tokens) || body.max_output_tokens < 1) {
      throw invalidRequest(`Invalid 'max_output_tokens': expected an integer of at least 1, but got ${JSON.stringify(body.max_output_tokens)}.`, "max_output_tokens", "invalid_value");
    }
    chat.max_completion_tokens = body.max_output_tokens;
  }
  // prompt_cache_key and parallel_tool_calls mean the same in chat: whatever chat does with them.
  for (const field of ["temperature", "top_p", "prompt_cache_key", "parallel_tool_calls"]) if (body[field] !== undefined) chat[field] = body[field];
  if (body.reasoning !== undefined && body.reasoning !== null) {
    if (typeName(body.reasoning) !== "object") {
      throw invalidRequest(`Invalid type for 'reasoning': expected an object, but got ${typeName(body.reasoning)} instead.`, "reasoning", "invalid_type");
    }
    if (body.reasoning.effort !== undefined && body.reasoning.effort !== null) chat.reasoning_effort = body.reasoning.effort;
  }
  const format = body.text?.format;
  if (format !== undefined && format !== null) chat.response_format = chatResponseFormat(format);
  if (offered.chatTools.length) chat.tools = offered.chatTools;
  if (offered.chatChoice !== undefined && offered.chatTools.length) chat.tool_choice = offered.chatChoice;
  return { chat, context };
}

// A response's output items as the conversation continues them (for previous_response_id).
function conversationOf(output) {
  const conversation = { messages: [], reasoning: null };
  const vouched = { items: new Map(), vouched: new Set(output), reasoning: new Map() };
  for (const item of output) addInputItem(conversation, item, "output", vouched);
  return conversation.messages;
}

// Earlier reasoning goes on the assistant message that follows it, as reasoning_content.
function pushAssistant(conversation, message) {
  if (conversation.reasoning !== null) message.reasoning_content = conversation.reasoning;
  conversation.reasoning = null;
  conversation.messages.push(message);
}

function pushToolCall(conversation, call) {
  const last = conversation.messages[conversation.messages.length - 1];
  // Parallel calls arrive as consecutive items: one assistant turn, as chat models expect.
  if (last?.role === "assistant" && conversation.reasoning === null) (last.tool_calls ??= []).push(call);
  else pushAssistant(conversation, { role: "assistant", content: "", tool_calls: [call] });
}

function requireString(item, field, where) {
  if (typeof item[field] !== "string" || !item[field]) {
    throw invalidRequest(`Missing required parameter: '${where}.${field}'.`, `${where}.${field}`, "missing_required_parameter");
  }
}

function addInputItem(conversation, item, where, trusted) {
  const messages = conversation.messages;
  if (typeName(item) !== "object") {
    throw invalidRequest(`Invalid type for '${where}': expected an input item object, but got ${typeName(item)} instead.`, where, "invalid_type");
  }
  const type = item.type ?? (item.role ? "message" : undefined);
  switch (type) {
    case "message": {
      if (!["user", "system", "developer", "assistant"].includes(item.role)) {
        throw invalidRequest(`Invalid value for '${where}.role': ${JSON.stringify(item.role ?? null)}. Supported values are: 'user', 'assistant', 'system' and 'developer'.`, `${where}.role`, "invalid_value");
      }
      const message = { role: item.role === "developer" ? "system" : item.role, content: messageContent(item.content, `${where}.content`, item.role) };
      if (message.role === "assistant") {
        pushAssistant(conversation, message);
      } else {
        conversation.reasoning = null;
        messages.push(message);
      }
      return;
    }
    case "function_call": {
      requireString(item, "call_id", where);
      requireString(item, "name", where);
      checkType(item, "arguments", ["string", "object"], `${where}.arguments`);
      pushToolCall(conversation, { id: item.call_id, type: "function", function: { name: modelToolName(item.name, item.namespace), arguments: argumentsString(item.arguments ?? "{}") } });
      return;
    }
    case "custom_tool_call": {
      requireString(item, "call_id", where);
      requireString(item, "name", where);
      const input = typeof item.input === "string" ? item.input : "";
      pushToolCall(conversation, { id: item.call_id, type: "function", function: { name: modelToolName(item.name, item.namespace), arguments: JSON.stringify({ input }) } });
      return;
    }
    case "function_call_output":
    case "custom_tool_call_output": {
      requireString(item, "call_id", where);
      const output = typeof item.output === "string" ? item.output : textOfParts(item.output, `${where}.output`);
      conversation.reasoning = null;
      messages.push({ role: "tool", tool_call_id: item.call_id, content: output });
      return;
    }
    case "reasoning": {
      // Only reasoning the gateway vouches for reaches the model as its own: a stored item or
      // sealed encrypted_content. Summaries a client sends are its own text, not the model's.
      let text = trusted.reasoning.get(item) ?? null;
      if (text === null && trusted.vouched.has(item)) {
        text = [...(item.content ?? []), ...(item.summary ?? [])].map((p) => (typeof p?.text === "string" ? p.text : "")).join("");
      }
      if (text) conversation.reasoning = (conversation.reasoning ?? "") + text;
      return;
    }
    default:
      throw invalidRequest(`Unsupported input item type ${JSON.stringify(type ?? null)} in '${where}'. Supported: message, function_call, function_call_output, custom_tool_call, custom_tool_call_output, reasoning, item_reference.`, type === undefined ? where : `${where}.type`, "invalid_value");
  }
}

// Content parts: input_text/output_text become chat text parts, input_image an image_url part
// (for vision models; buildChatInputs refuses images for the others).
function messageContent(content, where, role) {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) {
    throw invalidRequest(`Invalid type for '${where}': expected a string or an array of content parts, but got ${typeName(content)} instead.`, where, "invalid_type");
  }
  const parts = content.map((part, i) => {
    const at = `${where}[${i}]`;
    if (typeName(part) !== "object") throw invalidRequest(`Invalid type for '${at}': expected a content part object.`, at, "invalid_type");
    checkTypes(part, { text: "string", refusal: "string", detail: "string", image_url: ["string", "object"] }, `${at}.`);
    if (["input_text", "output_text", "text", "summary_text", "reasoning_text"].includes(part.type)) return { type: "text", text: part.text ?? "" };
    if (part.type === "refusal") return { type: "text", text: part.refusal ?? "" };
    if (part.type === "input_image") {
      const url = typeof part.image_url === "string" ? part.image_url : part.image_url?.url;
      if (typeof url !== "string") {
        throw invalidRequest(`'${at}' must give the image as image_url (a URL or data: URL); file ids are not supported.`, at, "unsupported_value");
      }
      return { type: "image_url", image_url: { url, detail: part.detail ?? "auto" } };
    }
    throw invalidRequest(`Unsupported content part type ${JSON.stringify(part.type ?? null)} in '${at}'. Supported: input_text, output_text, input_image.`, `${at}.type`, "invalid_value");
  });
  // Assistant turns are text to every model; a single text part is sent as a plain string.
  if (role === "assistant" || parts.every((p) => p.type === "text")) return parts.map((p) => p.text ?? "").join("");
  return parts;
}

function textOfParts(parts, where) {
  if (!Array.isArray(parts)) {
    throw invalidRequest(`Invalid type for '${where}': expected a string or an array of content parts.`, where, "invalid_type");
  }
  return parts.map((p) => (typeof p?.text === "string" ? p.text : "")).join("");
}

function chatResponseFormat(format) {
  if (typeName(format) !== "object") {
    throw invalidRequest("Invalid 'text.format': expected {\"type\": \"text\" | \"json_object\" | \"json_schema\"}.", "text.format", "invalid_value");
  }
  if (format.type === "json_schema") {
    return { type: "json_schema", json_schema: { name: format.name ?? "response", schema: format.schema, strict: format.strict ?? null } };
  }
  return { type: format.type };
}
