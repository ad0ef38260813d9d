// POST /v1/responses (OpenAI Responses API), on top of the chat path: the request (input as a
// string or items, instructions, function tools, text.format, reasoning) becomes a chat
// completions body that parseChatRequest validates; then the same model resolution, inputs,
// fallbacks and CompletionNormalizer as chat. The parts come back out as Responses output
// items (reasoning, message, function_call), whole or as the official stream events with
// sequence numbers. Nothing is stored: previous_response_id and conversations are refused.
import { resolveModel } from "./catalog.js";
import { buildChatInputs } from "./chat_inputs.js";
import { parseChatRequest } from "./chat_request.js";
import { collectResult, openStream, runWithFallbacks } from "./completion.js";
import { invalidRequest, jsonResponse, readJsonBody, typeName } from "./http.js";
import { CompletionNormalizer } from "./normalize.js";
import { argumentsString } from "./quirks.js";
import { ResponseBuilder, responseEventStream, responseSkeleton } from "./responses_encode.js";
import { SSE_HEADERS } from "./sse.js";

const UNSUPPORTED_RESPONSE_FIELDS = {
  previous_response_id: "this gateway stores no responses; send the whole conversation in 'input'",
  conversation: "this gateway stores no conversations; send the whole conversation in 'input'",
  prompt: "stored prompts live on OpenAI's platform; send 'instructions' and 'input' instead",
};

export async function handleResponses(ctx) {
  const body = await readJsonBody(ctx.request, ctx.settings.limits.maxBodyBytes);
  ctx.log.model_requested = typeof body.model === "string" ? body.model : null;
  const chatBody = responsesToChatBody(body);
  const req = parseChatRequest(chatBody);
  const model = resolveModel(req.model, "chat");
  const { inputs, tools, maxTokens } = buildChatInputs(req, model);
  const stream = body.stream === true;
  ctx.log.model = model.id;
  ctx.log.stream = stream;
  const normalizer = new CompletionNormalizer({ toolNames: tools.names, reasoning: model.facts.reasoning, maxTokens });
  const builder = new ResponseBuilder(responseSkeleton(body, model, maxTokens));

  if (!stream) {
    const result = await runWithFallbacks(ctx, model, inputs, ctx.settings.timeouts.requestMs, "the answer");
    const parts = await collectResult(ctx, result, normalizer);
    const error = parts.find((p) => p.type === "error");
    if (error) throw error.error;
    for (const part of parts) builder.push(part);
    ctx.log.usage = builder.chatUsage();
    return jsonResponse(builder.response);
  }

  const { first, events } = await openStream(ctx, model, inputs, normalizer);
  return new Response(responseEventStream(builder, first, events, ctx), { headers: SSE_HEADERS });
}

// --- request: Responses -> chat completions body ------------------------------------------

function responsesToChatBody(body) {
  for (const [field, why] of Object.entries(UNSUPPORTED_RESPONSE_FIELDS)) {
    if (body[field] !== undefined && body[field] !== null) {
      throw invalidRequest(`'${field}' is not supported: ${why}.`, field, "unsupported_parameter");
    }
  }
  if (body.background === true) {
    throw invalidRequest("'background' is not supported: this gateway answers within the request. Send it without 'background', or with 'stream': true.", "background", "unsupported_parameter");
  }
  const messages = [];
  if (body.instructions !== undefined && body.instructions !== null) {
    if (typeof body.instructions !== "string") {
      throw invalidRequest(`Invalid type for 'instructions': expected a string, but got ${typeName(body.instructions)} instead.`, "instructions", "invalid_type");
    }
    if (body.instructions) messages.push({ role: "system", content: body.instructions });
  }
  const input = body.input;
  if (input === undefined || input === null || input === "") {
    throw invalidRequest("Missing required parameter: 'input'.", "input", "missing_required_parameter");
  }
  if (typeof input === "string") messages.push({ role: "user", content: input });
  else if (Array.isArray(input)) input.forEach((item, i) => addInputItem(messages, item, `input[${i}]`));
  else throw invalidRequest(`Invalid type for 'input': expected a string or an array of input items, but got ${typeName(input)} instead.`, "input", "invalid_type");
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
  for (const field of ["temperature", "top_p"]) if (body[field] !== undefined) chat[field] = body[field];
  if (body.reasoning !== undefined && body.reasoning !== null) {
    if (typeName(body.reasoning) !== "object") {
      throw invalidRequest(`Invalid type for 'reasoning': expected an object, but got ${typeName(body.reasoning)} instead.`, "reasoning", "invalid_type");
    }
    if (body.reasoning.effort !== undefined && body.reasoning.effort !== null) chat.reasoning_effort = body.reasoning.effort;
  }
  const format = body.text?.format;
  if (format !== undefined && format !== null) chat.response_format = chatResponseFormat(format);
  if (body.tools !== undefined && body.tools !== null) chat.tools = chatTools(body.tools);
  if (body.tool_choice !== undefined && body.tool_choice !== null) chat.tool_choice = chatToolChoice(body.tool_choice);
  return chat;
}

function addInputItem(messages, item, where) {
  if (typeName(item) !== "object") {
    throw invalidRequest(`Invalid type for '${where}': expected an input item object, but got ${typeName(item)} instead.`, where, "invalid_type");
  }
  const type = item.type ?? (item.role ? "message" : undefined);
  switch (type) {
    case "message": {
      if (!["user", "system", "developer", "assistant"].includes(item.role)) {
        throw invalidRequest(`Invalid value for '${where}.role': ${JSON.stringify(item.role ?? null)}. Supported values are: 'user', 'assistant', 'system' and 'developer'.`, `${where}.role`, "invalid_value");
      }
      messages.push({ role: item.role === "developer" ? "system" : item.role, content: messageContent(item.content, `${where}.content`, item.role) });
      return;
    }
    case "function_call": {
      for (const field of ["call_id", "name"]) {
        if (typeof item[field] !== "string" || !item[field]) {
          throw invalidRequest(`Missing required parameter: '${where}.${field}'.`, `${where}.${field}`, "missing_required_parameter");
        }
      }
      const call = { id: item.call_id, type: "function", function: { name: item.name, arguments: argumentsString(item.arguments ?? "{}") } };
      const last = messages[messages.length - 1];
      // Parallel calls arrive as consecutive items: one assistant turn, as chat models expect.
      if (last?.role === "assistant") (last.tool_calls ??= []).push(call);
      else messages.push({ role: "assistant", content: "", tool_calls: [call] });
      return;
    }
    case "function_call_output": {
      if (typeof item.call_id !== "string" || !item.call_id) {
        throw invalidRequest(`Missing required parameter: '${where}.call_id'.`, `${where}.call_id`, "missing_required_parameter");
      }
      const output = typeof item.output === "string" ? item.output : textOfParts(item.output, `${where}.output`);
      messages.push({ role: "tool", tool_call_id: item.call_id, content: output });
      return;
    }
    case "reasoning":
      return; // earlier reasoning is not sent back: chat models take only the answer
    case "item_reference":
      throw invalidRequest(`'${where}' is an item_reference: this gateway stores no items; send the item itself.`, where, "unsupported_value");
    default:
      throw invalidRequest(`Unsupported input item type ${JSON.stringify(type ?? null)} in '${where}'. Supported: message, function_call, function_call_output, reasoning.`, `${where}.type`, "invalid_value");
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
    if (["input_text", "output_text", "text", "summary_text", "reasoning_text"].includes(part.type)) return { type: "text", text: String(part.text ?? "") };
    if (part.type === "refusal") return { type: "text", text: String(part.refusal ?? "") };
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

function chatTools(tools) {
  if (!Array.isArray(tools)) {
    throw invalidRequest(`Invalid type for 'tools': expected an array, but got ${typeName(tools)} instead.`, "tools", "invalid_type");
  }
  return tools.map((tool, i) => {
    if (typeName(tool) !== "object" || tool.type !== "function") {
      throw invalidRequest(
        `Unsupported tool type ${JSON.stringify(tool?.type ?? null)} in 'tools[${i}]': this gateway runs function tools only (no hosted tools such as web_search or file_search).`,
        `tools[${i}].type`, "unsupported_value",
      );
    }
    if (typeof tool.name !== "string" || !tool.name) {
      throw invalidRequest(`Missing required parameter: 'tools[${i}].name'.`, `tools[${i}].name`, "missing_required_parameter");
    }
    const fn = { name: tool.name };
    if (tool.description !== undefined && tool.description !== null) fn.description = tool.description;
    if (tool.parameters !== undefined && tool.parameters !== null) fn.parameters = tool.parameters;
    return { type: "function", function: fn };
  });
}

function chatToolChoice(choice) {
  if (typeof choice === "string") return choice;
  if (typeName(choice) === "object" && choice.type === "function" && typeof choice.name === "string") {
    return { type: "function", function: { name: choice.name } };
  }
  throw invalidRequest("Invalid 'tool_choice': expected 'auto', 'none', 'required' or {\"type\": \"function\", \"name\": ...}.", "tool_choice", "invalid_value");
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
