// POST /v1/messages and /v1/messages/count_tokens: Anthropic's Messages API (what Claude Code and
// the anthropic SDKs speak) on top of the chat path. The request (system, messages with text,
// image, tool_use, tool_result and thinking blocks, tools, tool_choice, stop_sequences, thinking,
// output_config) becomes a chat completions body that parseChatRequest validates; then the same
// model resolution, inputs, emulated tools, fallbacks, deadlines and CompletionNormalizer as
// chat. Only this decoder and the encoder (anthropic_encode.js) are Anthropic's.
import { AnthropicMessageBuilder, anthropicEventStream, anthropicMessageResponse } from "./anthropic_encode.js";
import { resolveModel } from "./catalog.js";
import { buildChatInputs } from "./chat_inputs.js";
import { parseChatRequest } from "./chat_request.js";
import { collectResult, openStream, runWithFallbacks } from "./completion.js";
import { checkStopSequences } from "./field_checks.js";
import { invalidRequest, jsonResponse, readJsonBody, typeName } from "./http.js";
import { CompletionNormalizer } from "./normalize.js";
import { SSE_HEADERS } from "./sse.js";
import { estimateTokens } from "./tokens.js";

// Native Workers AI text models document top_k as an integer from 1 to 50.
const NATIVE_TOP_K_MAX = 50;

export async function handleMessages(ctx) {
  const body = await readJsonBody(ctx.request, ctx.settings.limits.maxBodyBytes);
  const { req, model, inputs, tools, maxTokens, thinking } = prepareAnthropicRequest(ctx, body, true);
  ctx.log.stream = req.stream;
  const inputTokens = estimateAnthropicInput(inputs);
  // Claude Code compacts its conversation when told "prompt is too long" in Anthropic's words;
  // a prompt the model cannot hold is refused that way instead of failing at Workers AI.
  const window = model.facts.context_window;
  if (window && inputTokens > window) {
    throw invalidRequest(`prompt is too long: ${inputTokens} tokens > ${window} maximum (an estimate; '${model.requested}' is ${model.id})`, "messages");
  }
  const normalizer = new CompletionNormalizer({ toolNames: tools.names, reasoning: model.facts.reasoning, maxTokens, stop: req.stop });
  const builder = new AnthropicMessageBuilder({ model: model.requested, thinking, inputTokens });

  if (!req.stream) {
    const result = await runWithFallbacks(ctx, model, inputs, ctx.settings.timeouts.requestMs, "the answer");
    return anthropicMessageResponse(builder, await collectResult(ctx, result, normalizer), ctx);
  }

  const { first, events } = await openStream(ctx, model, inputs, normalizer);
  const headers = Object.assign({ "request-id": ctx.requestId }, SSE_HEADERS);
  return new Response(anthropicEventStream(builder, first, events, ctx), { headers });
}

// Workers AI has no tokenizer endpoint: the count is an estimate over exactly what the model
// would be sent (system prompt, messages, tools, or the emulated-tools prompt), and says so.
export async function handleCountTokens(ctx) {
  const body = await readJsonBody(ctx.request, ctx.settings.limits.maxBodyBytes);
  const { inputs } = prepareAnthropicRequest(ctx, body, false);
  return jsonResponse({ input_tokens: estimateAnthropicInput(inputs) }, 200, { "x-flaregate-usage": "estimated", "request-id": ctx.requestId });
}

function prepareAnthropicRequest(ctx, body, answering) {
  ctx.log.model_requested = typeof body.model === "string" ? body.model : null;
  // The model comes first: whether a tool result's image can reach it depends on the model.
  const model = resolveModel(body.model, "chat");
  const decoded = anthropicToChatBody(body, { answering, vision: Boolean(model.facts.vision) });
  const req = parseChatRequest(decoded.chat);
  // Applied by the normalizer, not sent: Anthropic allows more than OpenAI's four.
  req.stop = decoded.stopSequences;
  const { inputs, tools, maxTokens } = buildChatInputs(req, model);
  if (decoded.topK !== undefined && model.facts.dialect === "native") inputs.top_k = Math.min(decoded.topK, NATIVE_TOP_K_MAX);
  ctx.log.model = model.id;
  return { req, model, inputs, tools, maxTokens, thinking: decoded.thinking };
}

function estimateAnthropicInput(inputs) {
  return estimateTokens(JSON.stringify(inputs.messages ?? inputs.input ?? []) + (inputs.tools ? JSON.stringify(inputs.tools) : ""));
}

// --- request: Anthropic Messages -> chat completions body ------------------------------------
// Errors name the field the way Anthropic's own do ("messages.1.content.0.type: ...").

function anthropicToChatBody(body, { answering, vision }) {
  const chat = { model: body.model, messages: [], stream: false };
  if (answering) chat.max_tokens = anthropicInteger(body, "max_tokens", 1);
  const system = anthropicSystemText(body.system);
  if (system) chat.messages.push({ role: "system", content: system });
  const messages = body.messages;
  if (messages === undefined || messages === null) throw invalidRequest("messages: Field required", "messages");
  if (!Array.isArray(messages)) throw invalidRequest(`messages: Input should be a valid list, not ${typeName(messages)}`, "messages");
  if (messages.length === 0) throw invalidRequest("messages: at least one message is required", "messages");
  messages.forEach((message, i) => addAnthropicMessage(chat.messages, message, `messages.${i}`, vision));

  if (answering) chat.stream = anthropicBoolean(body, "stream") ?? false;
  const temperature = anthropicNumber(body, "temperature", 0, 1);
  if (temperature !== undefined) chat.temperature = temperature;
  const topP = anthropicNumber(body, "top_p", 0, 1);
  if (topP !== undefined) chat.top_p = topP;
  const topK = body.top_k === undefined || body.top_k === null ? undefined : anthropicInteger(body, "top_k", 0);
  if (body.metadata !== undefined && body.metadata !== null && typeName(body.metadata) !== "object") {
    throw invalidRequest("metadata: Input should be a valid object", "metadata");
  }
  if (body.tools !== undefined && body.tools !== null) chat.tools = anthropicTools(body.tools);
  if (body.tool_choice !== undefined && body.tool_choice !== null) chat.tool_choice = anthropicToolChoice(body.tool_choice, chat.tools ?? []);
  const thinking = anthropicThinking(body.thinking, chat.max_tokens);
  if (thinking.effort) chat.reasoning_effort = thinking.effort;
  anthropicOutputConfig(body.output_config, chat);
  return { chat, stopSequences: anthropicStopSequences(body.stop_sequences), topK: topK || undefined, thinking: thinking.show };
}

// A string, or text blocks (cache_control and citations accepted and ignored: Workers AI caches
// prompts by itself).
function anthropicSystemText(system, where = "system") {
  if (system === undefined || system === null) return "";
  if (typeof system === "string") return system;
  if (!Array.isArray(system)) throw invalidRequest(`${where}: Input should be a valid string or a list of text blocks, not ${typeName(system)}`, where);
  return system.map((block, i) => {
    if (typeName(block) !== "object" || block.type !== "text" || typeof block.text !== "string") {
      throw invalidRequest(`${where}.${i}: expected a text block {"type": "text", "text": ...}`, `${where}.${i}`);
    }
    return block.text;
  }).join("\n\n");
}

function addAnthropicMessage(out, message, where, vision) {
  if (typeName(message) !== "object") throw invalidRequest(`${where}: Input should be a valid message object`, where);
  if (!["user", "assistant", "system"].includes(message.role)) {
    throw invalidRequest(`${where}.role: Input should be 'user', 'assistant' or 'system', not ${JSON.stringify(message.role ?? null)}`, `${where}.role`);
  }
  const content = message.content;
  // A system message in the conversation (Claude Code sends them: beta
  // mid-conversation-system-2026-04-07) stays where it is, as user text marked as the system's:
  // many models' chat templates refuse a system message anywhere but first.
  if (message.role === "system") {
    const text = anthropicSystemText(content, `${where}.content`);
    if (text) pushUserContent(out, `<system>\n${text}\n</system>`);
    return;
  }
  if (typeof content === "string") {
    if (message.role === "user") pushUserContent(out, content);
    else out.push({ role: message.role, content });
    return;
  }
  if (!Array.isArray(content)) {
    throw invalidRequest(`${where}.content: Input should be a valid string or a list of content blocks`, `${where}.content`);
  }
  content.forEach((block, j) => {
    if (typeName(block) !== "object" || typeof block.type !== "string") {
      throw invalidRequest(`${where}.content.${j}: expected a content block object with a 'type'`, `${where}.content.${j}`);
    }
  });
  if (message.role === "assistant") out.push(anthropicAssistantMessage(content, where));
  else addAnthropicUserMessage(out, content, where, vision);
}

// Text, tool calls and the thinking that led to them. Thinking goes back as reasoning_content
// (what models that need earlier reasoning read); redacted thinking is Anthropic's encrypted
// form, which no Workers AI model can read.
function anthropicAssistantMessage(content, where) {
  const texts = [];
  const reasoning = [];
  const calls = [];
  content.forEach((block, j) => {
    const at = `${where}.content.${j}`;
    switch (block.type) {
      case "text":
        texts.push(anthropicString(block, "text", at));
        break;
      case "tool_use": {
        const name = anthropicString(block, "name", at);
        const id = anthropicString(block, "id", at);
        if (block.input !== undefined && typeName(block.input) !== "object") throw invalidRequest(`${at}.input: Input should be a valid object`, `${at}.input`);
        calls.push({ id, type: "function", function: { name, arguments: JSON.stringify(block.input ?? {}) } });
        break;
      }
      case "thinking":
        reasoning.push(anthropicString(block, "thinking", at));
        break;
      case "redacted_thinking":
        break;
      default:
        throw unsupportedAnthropicBlock(block.type, at, "text, tool_use, thinking, redacted_thinking");
    }
  });
  const message = { role: "assistant", content: texts.join("") };
  if (calls.length) message.tool_calls = calls;
  if (reasoning.length) message.reasoning_content = reasoning.join("\n");
  return message;
}

// Tool results become tool messages, which chat models expect right after the assistant's
// calls; the rest of the turn (text, images, and images a tool returned, which a tool message
// cannot carry) follows as a user message.
function addAnthropicUserMessage(out, content, where, vision) {
  const parts = [];
  content.forEach((block, j) => {
    const at = `${where}.content.${j}`;
    switch (block.type) {
      case "text":
        parts.push({ type: "text", text: anthropicString(block, "text", at) });
        break;
      case "image":
        parts.push(anthropicImagePart(block, at));
        break;
      case "document":
        parts.push({ type: "text", text: anthropicDocumentText(block, at) });
        break;
      case "tool_result": {
        const { message, images } = anthropicToolResult(block, at, vision);
        out.push(message);
        if (images.length) parts.push({ type: "text", text: `Images returned by tool call ${message.tool_call_id}:` }, ...images);
        break;
      }
      default:
        throw unsupportedAnthropicBlock(block.type, at, "text, image, document (text), tool_result");
    }
  });
  if (!parts.length) return;
  pushUserContent(out, parts.every((p) => p.type === "text") ? parts.map((p) => p.text).join("\n") : parts);
}

// Consecutive user turns become one, as Anthropic's API treats them: some models' chat templates
// insist that user and assistant alternate.
function pushUserContent(out, content) {
  const last = out[out.length - 1];
  if (last?.role !== "user") {
    out.push({ role: "user", content });
    return;
  }
  if (typeof last.content === "string" && typeof content === "string") {
    last.content = `${last.content}\n\n${content}`;
    return;
  }
  const asParts = (c) => (typeof c === "string" ? [{ type: "text", text: c }] : c);
  last.content = [...asParts(last.content), ...asParts(content)];
}

// For a model that cannot see images, a tool's image becomes a note saying one was returned,
// rather than a 400 that would stop an agent whose tool happened to return a screenshot.
function anthropicToolResult(block, at, vision) {
  const id = anthropicString(block, "tool_use_id", at);
  const images = [];
  let text;
  if (block.content === undefined || block.content === null) text = "";
  else if (typeof block.content === "string") text = block.content;
  else if (Array.isArray(block.content)) {
    text = block.content.map((piece, k) => {
      const pieceAt = `${at}.content.${k}`;
      if (piece?.type === "text") return anthropicString(piece, "text", pieceAt);
      if (piece?.type === "image") {
        if (!vision) return "[the tool returned an image, which this model cannot see]";
        images.push(anthropicImagePart(piece, pieceAt));
        return "[image: see the next user message]";
      }
      throw unsupportedAnthropicBlock(piece?.type ?? null, pieceAt, "text, image");
    }).join("\n");
  } else {
    throw invalidRequest(`${at}.content: Input should be a valid string or a list of content blocks`, `${at}.content`);
  }
  // Chat models have no error flag on a tool result: the text says it.
  if (block.is_error === true) text = `Error: ${text}`;
  return { message: { role: "tool", tool_call_id: id, content: text }, images };
}

function anthropicImagePart(block, at) {
  const source = block.source;
  if (source?.type === "base64" && typeof source.data === "string" && typeof source.media_type === "string") {
    return { type: "image_url", image_url: { url: `data:${source.media_type};base64,${source.data}` } };
  }
  if (source?.type === "url" && typeof source.url === "string") return { type: "image_url", image_url: { url: source.url } };
  throw invalidRequest(`${at}.source: expected {"type": "base64", "media_type", "data"} or {"type": "url", "url"}; file ids are not supported`, `${at}.source`);
}

// Plain-text documents are text to the model; PDFs would need a reader Workers AI does not have.
function anthropicDocumentText(block, at) {
  const source = block.source;
  if (source?.type === "text" && typeof source.data === "string") return block.title ? `${block.title}\n\n${source.data}` : source.data;
  if (source?.type === "content" && Array.isArray(source.content)) return source.content.map((p) => String(p?.text ?? "")).join("\n");
  throw invalidRequest(`${at}.source: only text documents are supported (source type 'text' or 'content'); send a PDF's text instead`, `${at}.source`);
}

// Custom tools only: Anthropic's server tools (web_search_..., code_execution_...) and its
// versioned client tools (bash_..., text_editor_...) name schemas only Claude knows.
function anthropicTools(tools) {
  if (!Array.isArray(tools)) throw invalidRequest(`tools: Input should be a valid list, not ${typeName(tools)}`, "tools");
  return tools.map((tool, i) => {
    const at = `tools.${i}`;
    if (typeName(tool) !== "object") throw invalidRequest(`${at}: Input should be a valid tool object`, at);
    if (tool.type !== undefined && tool.type !== null && tool.type !== "custom") {
      throw invalidRequest(`${at}.type: '${tool.type}' is one of Anthropic's own tools, which only Claude runs; this gateway takes custom tools (name, description, input_schema)`, `${at}.type`);
    }
    const name = anthropicString(tool, "name", at);
    if (typeName(tool.input_schema) !== "object") throw invalidRequest(`${at}.input_schema: Field required (a JSON schema object)`, `${at}.input_schema`);
    return { type: "function", function: { name, description: typeof tool.description === "string" ? tool.description : "", parameters: tool.input_schema } };
  });
}

function anthropicToolChoice(choice, tools) {
  if (typeName(choice) !== "object") throw invalidRequest("tool_choice: Input should be an object such as {\"type\": \"auto\"}", "tool_choice");
  switch (choice.type) {
    case "auto":
      return "auto";
    case "any":
      return tools.length ? "required" : "auto";
    case "none":
      return "none";
    case "tool":
      if (typeof choice.name !== "string" || !tools.some((t) => t.function.name === choice.name)) {
        throw invalidRequest("tool_choice.name: must name one of the tools in 'tools'", "tool_choice.name");
      }
      return { type: "function", function: { name: choice.name } };
    default:
      throw invalidRequest(`tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none', not ${JSON.stringify(choice.type ?? null)}`, "tool_choice.type");
  }
}

// Thinking ({"type": "enabled", "budget_tokens": N}, "adaptive" or "between_tools") asks for the
// model's reasoning as thinking blocks; `display: "omitted"` asks for none. The budget, or
// output_config.effort, becomes a reasoning effort for models that take one.
const ANTHROPIC_THINKING_TYPES = ["enabled", "adaptive", "between_tools", "disabled"];
const ANTHROPIC_EFFORTS = { low: "low", medium: "medium", high: "high", xhigh: "high", max: "high" };

function anthropicThinking(thinking, maxTokens) {
  if (thinking === undefined || thinking === null) return { show: false, effort: null };
  if (typeName(thinking) !== "object") throw invalidRequest("thinking: Input should be a valid object", "thinking");
  if (!ANTHROPIC_THINKING_TYPES.includes(thinking.type)) {
    throw invalidRequest(`thinking.type: Input should be one of ${ANTHROPIC_THINKING_TYPES.map((t) => `'${t}'`).join(", ")}, not ${JSON.stringify(thinking.type ?? null)}`, "thinking.type");
  }
  if (thinking.type === "disabled") return { show: false, effort: null };
  const show = thinking.display !== "omitted";
  if (thinking.type !== "enabled") return { show, effort: null };
  const budget = anthropicInteger(thinking, "budget_tokens", 1024, "thinking.budget_tokens");
  if (maxTokens !== undefined && budget >= maxTokens) {
    throw invalidRequest("thinking.budget_tokens: must be less than max_tokens", "thinking.budget_tokens");
  }
  return { show, effort: budget < 4096 ? "low" : budget < 16384 ? "medium" : "high" };
}

// output_config: an effort, and a JSON schema the answer must follow (structured outputs).
function anthropicOutputConfig(config, chat) {
  if (config === undefined || config === null) return;
  if (typeName(config) !== "object") throw invalidRequest("output_config: Input should be a valid object", "output_config");
  if (config.effort !== undefined && config.effort !== null) {
    if (!ANTHROPIC_EFFORTS[config.effort]) {
      throw invalidRequest(`output_config.effort: Input should be one of ${Object.keys(ANTHROPIC_EFFORTS).map((e) => `'${e}'`).join(", ")}`, "output_config.effort");
    }
    chat.reasoning_effort = ANTHROPIC_EFFORTS[config.effort];
  }
  const format = config.format;
  if (format !== undefined && format !== null) {
    if (typeName(format) !== "object" || format.type !== "json_schema" || typeName(format.schema) !== "object") {
      throw invalidRequest("output_config.format: expected {\"type\": \"json_schema\", \"schema\": {...}}", "output_config.format");
    }
    chat.response_format = { type: "json_schema", json_schema: { name: "output", schema: format.schema } };
  }
}

function anthropicStopSequences(value) {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || value.some((s) => typeof s !== "string")) {
    throw invalidRequest("stop_sequences: Input should be a valid list of strings", "stop_sequences");
  }
  return checkStopSequences(value, "stop_sequences").filter((s) => s.length > 0);
}

function unsupportedAnthropicBlock(type, at, supported) {
  return invalidRequest(`${at}.type: unsupported content block type ${JSON.stringify(type)} here; supported: ${supported}`, `${at}.type`);
}

function anthropicString(object, name, at) {
  if (typeof object[name] !== "string") throw invalidRequest(`${at}.${name}: Field required (a string)`, `${at}.${name}`);
  return object[name];
}

function anthropicInteger(object, name, min, label = name) {
  const value = object[name];
  if (value === undefined || value === null) throw invalidRequest(`${label}: Field required`, label);
  if (!Number.isInteger(value) || value < min) throw invalidRequest(`${label}: Input should be an integer of at least ${min}`, label);
  return value;
}

function anthropicNumber(body, name, min, max) {
  const value = body[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "number" || !(value >= min && value <= max)) {
    throw invalidRequest(`${name}: Input should be a number from ${min} to ${max}`, name);
  }
  return value;
}

function anthropicBoolean(body, name) {
  const value = body[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "boolean") throw invalidRequest(`${name}: Input should be a valid boolean`, name);
  return value;
}
