// Turns a validated chat request into what the chosen Workers AI model takes: its message form,
// its tool form (OpenAI-shaped, the flat legacy form, Responses-style for gpt-oss, or tools
// described in the system prompt for models without native tool calling), and limits clamped
// to the model's.
import { toolCapableModels } from "./catalog.js";
import { invalidRequest } from "./http.js";
import { argumentsString } from "./quirks.js";

export function buildChatInputs(req, model) {
  const facts = model.facts;
  const tools = toolPlan(req, model);
  const maxTokens = Math.min(req.maxTokens ?? facts.default_max_tokens ?? 2048, facts.max_output_tokens ?? Infinity);
  const callNames = toolCallNames(req.messages);
  let messages = req.messages.map((m, i) => toModelMessage(m, i, facts, tools.mode, callNames));
  const instructions = [];
  if (tools.mode === "emulated") instructions.push(emulatedToolsPrompt(tools));
  if (req.responseFormat && !facts.json_mode) instructions.push(jsonInstruction(req.responseFormat));
  if (instructions.length) messages = withSystemText(messages, instructions.join("\n\n"));

  const sampling = {};
  if (req.temperature !== undefined) sampling.temperature = req.temperature;
  if (req.topP !== undefined) sampling.top_p = req.topP;
  if (req.seed !== undefined) sampling.seed = req.seed;
  if (req.frequencyPenalty !== undefined) sampling.frequency_penalty = req.frequencyPenalty;
  if (req.presencePenalty !== undefined) sampling.presence_penalty = req.presencePenalty;

  if (facts.dialect === "responses") return { inputs: responsesInputs(messages, req, tools, maxTokens, sampling), tools, maxTokens };

  const inputs = { messages, max_tokens: maxTokens, ...sampling };
  if (req.responseFormat && facts.json_mode) {
    inputs.response_format = req.responseFormat.type === "json_schema"
      ? { type: "json_schema", json_schema: req.responseFormat.schema }
      : { type: "json_object" };
  }
  if (tools.mode === "native") {
    inputs.tools = tools.list.map((t) => (facts.tool_format === "legacy" ? t : { type: "function", function: t }));
    const choice = nativeToolChoice(tools);
    if (choice) inputs.tool_choice = choice;
  }
  if (req.reasoningEffort && facts.reasoning !== "none") inputs.reasoning_effort = req.reasoningEffort;
  return { inputs, tools, maxTokens };
}

// Which tools the model gets, and how. A model the catalog marks `none` is refused rather than
// sent tools it would ignore or hang on (Llama 3.3 70B hung with tools: SAM journal).
function toolPlan(req, model) {
  const offered = req.toolChoice === "none" ? [] : req.tools;
  if (!offered.length) return { mode: "off", list: [], names: [], choice: req.toolChoice };
  const mode = model.facts.tools ?? "emulated";
  if (mode === "none") {
    const capable = toolCapableModels();
    throw invalidRequest(
      `The model '${model.requested}' cannot call tools. Use a tool-capable model${capable.length ? ` such as ${capable.map((m) => `'${m}'`).join(", ")}` : ""}, or send the request without 'tools'.`,
      "tools", "tools_not_supported",
    );
  }
  return { mode, list: offered, names: offered.map((t) => t.name), choice: req.toolChoice };
}

// Workers AI enforces a named function server side; "required" is advisory on its own, so with
// a single tool it becomes that tool by name. Never "any": vLLM-backed models answer 8001.
function nativeToolChoice(tools) {
  if (typeof tools.choice === "object") return { type: "function", function: { name: tools.choice.name } };
  if (tools.choice === "required") {
    return tools.list.length === 1 ? { type: "function", function: { name: tools.list[0].name } } : "required";
  }
  return null;
}

function emulatedToolsPrompt(tools) {
  const lines = [
    "You can call these tools (JSON Schema for each tool's arguments):",
    JSON.stringify(tools.list),
    "To call one or more tools, reply with ONLY this JSON and nothing before or after it:",
    '{"tool_calls": [{"name": "<tool name>", "arguments": {<arguments as an object>}}]}',
    "When a message gives you a tool's result, use it to answer.",
  ];
  if (typeof tools.choice === "object") lines.push(`You must call the tool "${tools.choice.name}" now.`);
  else if (tools.choice === "required") lines.push("You must call at least one tool now.");
  else lines.push("If no tool is needed, answer normally in plain text.");
  return lines.join("\n");
}

function jsonInstruction(format) {
  if (format.type === "json_schema") {
    return `Reply with ONLY a JSON value that matches this JSON Schema, with no other text:\n${JSON.stringify(format.schema)}`;
  }
  return "Reply with ONLY a valid JSON object, with no other text.";
}

function toModelMessage(message, i, facts, toolMode, callNames) {
  const role = message.role === "developer" ? "system" : message.role === "function" ? "tool" : message.role;
  const content = contentForModel(message.content, i, facts);
  if (role === "assistant" && Array.isArray(message.tool_calls) && message.tool_calls.length) {
    const calls = message.tool_calls.map((call) => ({
      id: String(call?.id ?? ""),
      type: "function",
      function: { name: String(call?.function?.name ?? ""), arguments: argumentsString(call?.function?.arguments) },
    }));
    if (toolMode === "emulated") {
      const asJson = { tool_calls: calls.map((c) => ({ id: c.id, name: c.function.name, arguments: safeJson(c.function.arguments) })) };
      return { role: "assistant", content: [textOf(content), JSON.stringify(asJson)].filter(Boolean).join("\n") };
    }
    return withReasoning({ role: "assistant", content: textOf(content), tool_calls: calls }, message, facts, true);
  }
  if (role === "assistant") return withReasoning({ role, content }, message, facts, false);
  if (role === "tool") {
    const result = { role: "tool", tool_call_id: String(message.tool_call_id ?? message.name ?? ""), content: textOf(content) };
    const name = typeof message.name === "string" ? message.name : callNames.get(result.tool_call_id);
    if (name) result.name = name;
    if (toolMode === "emulated") {
      return { role: "user", content: `Result of tool call ${result.tool_call_id}${name ? ` (${name})` : ""}:\n${result.content}` };
    }
    return result;
  }
  return { role, content };
}

// Models that reason across tool turns (catalog: reasoning_replay; Kimi K2.x, GLM-5, DeepSeek V4)
// need each assistant turn's reasoning back. Kimi answers 400 "thinking is enabled but
// reasoning_content is missing in assistant tool call message" without it on a tool-call turn,
// so a client that dropped it gets an empty one there, as OpenRouter-style clients send
// (earendil-works/pi#987). It goes out under both names: vLLM on Workers AI reads `reasoning`
// (cloudflare/ai workers-ai-provider 3.1.5), Kimi's own template `reasoning_content`.
// Other models never see it: their templates would render it as text or reject the field.
function withReasoning(out, message, facts, madeToolCalls) {
  if (!facts.reasoning_replay) return out;
  const reasoning = message.reasoning_content ?? message.reasoning;
  if (typeof reasoning === "string" && reasoning) {
    out.reasoning_content = reasoning;
    out.reasoning = reasoning;
  } else if (madeToolCalls) {
    out.reasoning_content = "";
    out.reasoning = "";
  }
  return out;
}

// Tool results must name their function for some models; clients often omit it, so it is taken
// from the assistant message that made the call.
function toolCallNames(messages) {
  const names = new Map();
  for (const m of messages) {
    if (m.role !== "assistant" || !Array.isArray(m.tool_calls)) continue;
    for (const call of m.tool_calls) {
      if (typeof call?.function?.name === "string") names.set(String(call.id ?? ""), call.function.name);
    }
  }
  return names;
}

// Message content may not be null for Workers AI; content-part arrays become text for text
// models and stay parts for vision models.
function contentForModel(content, i, facts) {
  if (content === null || content === undefined) return "";
  if (typeof content === "string") return content;
  const hasImage = content.some((p) => p.type === "image_url" || p.type === "input_image");
  if (hasImage) {
    if (!facts.vision) {
      throw invalidRequest(`messages[${i}] contains an image, but this model only reads text. Use a vision model (see GET /v1/models).`, `messages[${i}].content`, "image_not_supported");
    }
    return content.map((p) => (p.type === "text" ? { type: "text", text: String(p.text ?? "") } : p));
  }
  return content.map((p) => (typeof p.text === "string" ? p.text : typeof p.refusal === "string" ? p.refusal : "")).join("\n");
}

function textOf(content) {
  if (typeof content === "string") return content;
  return content.filter((p) => p.type === "text").map((p) => p.text).join("\n");
}

function safeJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function withSystemText(messages, text) {
  const first = messages[0];
  if (first?.role === "system" && typeof first.content === "string") {
    return [{ ...first, content: `${first.content}\n\n${text}` }, ...messages.slice(1)];
  }
  return [{ role: "system", content: text }, ...messages];
}

// gpt-oss takes Responses-API inputs: items instead of messages, flat function tools.
function responsesInputs(messages, req, tools, maxTokens, sampling) {
  const input = [];
  for (const m of messages) {
    if (m.role === "assistant" && m.tool_calls) {
      if (m.content) input.push({ role: "assistant", content: m.content });
      for (const c of m.tool_calls) input.push({ type: "function_call", call_id: c.id, name: c.function.name, arguments: c.function.arguments });
    } else if (m.role === "tool") {
      input.push({ type: "function_call_output", call_id: m.tool_call_id, output: m.content });
    } else {
      input.push({ role: m.role, content: m.content });
    }
  }
  const inputs = { input, max_output_tokens: maxTokens, ...sampling };
  if (tools.mode === "native") {
    inputs.tools = tools.list.map((t) => ({ type: "function", name: t.name, description: t.description, parameters: t.parameters }));
    if (typeof tools.choice === "object") inputs.tool_choice = { type: "function", name: tools.choice.name };
    else if (tools.choice === "required") inputs.tool_choice = "required";
  }
  if (req.reasoningEffort) inputs.reasoning = { effort: req.reasoningEffort };
  if (req.responseFormat?.type === "json_schema") {
    inputs.text = { format: { type: "json_schema", name: req.responseFormat.name, schema: req.responseFormat.schema } };
  } else if (req.responseFormat?.type === "json_object") {
    inputs.text = { format: { type: "json_object" } };
  }
  return inputs;
}
