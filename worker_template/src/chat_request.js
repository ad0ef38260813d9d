// Validates an OpenAI chat completions body and returns the request flaregate works with.
// Messages say what is wrong the way OpenAI's own API does, naming the parameter, so that a
// client's BadRequestError points at the field to fix.
import { checkMaxLength, checkMetadata, checkStopSequences, checkType, checkTypes, FIELD_CAPS } from "./field_checks.js";
import { invalidRequest, typeName } from "./http.js";

const MESSAGE_ROLES = new Set(["system", "developer", "user", "assistant", "tool", "function"]);

// Fields OpenAI takes that flaregate does not act on: still checked, so a wrong type is the same
// 400 it would be at OpenAI.
const UNUSED_FIELD_TYPES = {
  user: "string", logprobs: "boolean", top_logprobs: "integer", logit_bias: "object",
  parallel_tool_calls: "boolean", store: "boolean", service_tier: "string", modalities: "array",
  prediction: "object", audio: "object", safety_identifier: "string",
  verbosity: "string", web_search_options: "object", functions: "array",
};

export function parseChatRequest(body) {
  const messages = body.messages;
  if (messages === undefined || messages === null) {
    throw invalidRequest("Missing required parameter: 'messages'.", "messages", "missing_required_parameter");
  }
  if (!Array.isArray(messages)) {
    throw invalidRequest(`Invalid type for 'messages': expected an array, but got ${typeName(messages)} instead.`, "messages", "invalid_type");
  }
  if (messages.length === 0) {
    throw invalidRequest("Invalid 'messages': empty array. Expected an array with minimum length 1.", "messages", "empty_array");
  }
  messages.forEach(checkMessage);
  checkTypes(body, UNUSED_FIELD_TYPES);
  checkMetadata(body.metadata);
  const req = {
    model: body.model,
    messages,
    stream: optional(body, "stream", "boolean") ?? false,
    includeUsage: false,
    maxTokens: optionalInteger(body, "max_completion_tokens", 1) ?? optionalInteger(body, "max_tokens", 1),
    temperature: optionalNumber(body, "temperature", 0, 2),
    topP: optionalNumber(body, "top_p", 0, 1),
    frequencyPenalty: optionalNumber(body, "frequency_penalty", -2, 2),
    presencePenalty: optionalNumber(body, "presence_penalty", -2, 2),
    seed: optionalInteger(body, "seed", Number.MIN_SAFE_INTEGER),
    stop: parseStop(body.stop),
    responseFormat: parseResponseFormat(body.response_format),
    reasoningEffort: optional(body, "reasoning_effort", "string"),
    promptCacheKey: parsePromptCacheKey(body.prompt_cache_key),
    ...parseTools(body),
  };
  const n = optionalInteger(body, "n", 1);
  if (n !== undefined && n > 1) {
    throw invalidRequest("n > 1 is not supported: Workers AI returns one choice per request. Send n separate requests.", "n", "unsupported_value");
  }
  if (body.stream_options !== undefined && body.stream_options !== null) {
    if (typeName(body.stream_options) !== "object") {
      throw invalidRequest(`Invalid type for 'stream_options': expected an object, but got ${typeName(body.stream_options)} instead.`, "stream_options", "invalid_type");
    }
    req.includeUsage = checkType(body.stream_options, "include_usage", "boolean", "stream_options.include_usage") === true;
  }
  return req;
}

function checkMessage(message, i) {
  const where = `messages[${i}]`;
  if (typeName(message) !== "object") {
    throw invalidRequest(`Invalid type for '${where}': expected an object, but got ${typeName(message)} instead.`, where, "invalid_type");
  }
  if (!MESSAGE_ROLES.has(message.role)) {
    throw invalidRequest(`Invalid value for '${where}.role': ${JSON.stringify(message.role ?? null)}. Supported values are: 'system', 'developer', 'user', 'assistant' and 'tool'.`, `${where}.role`, "invalid_value");
  }
  const content = message.content;
  const contentType = typeName(content);
  const mayBeEmpty = message.role === "assistant" || message.role === "tool" || message.role === "function";
  if (contentType === "null" || contentType === "undefined") {
    if (!mayBeEmpty) throw invalidRequest(`Missing required parameter: '${where}.content'.`, `${where}.content`, "missing_required_parameter");
  } else if (contentType === "array") {
    content.forEach((part, j) => checkContentPart(part, `${where}.content[${j}]`));
  } else if (contentType !== "string") {
    throw invalidRequest(`Invalid type for '${where}.content': expected a string or an array of content parts, but got ${contentType} instead.`, `${where}.content`, "invalid_type");
  }
  if (message.tool_calls !== undefined && message.tool_calls !== null && !Array.isArray(message.tool_calls)) {
    throw invalidRequest(`Invalid type for '${where}.tool_calls': expected an array.`, `${where}.tool_calls`, "invalid_type");
  }
  // Reasoning a client sends back on an assistant turn (reasoning_content, or reasoning as some
  // clients name it): models that need it get it back (chat_inputs.js).
  for (const field of ["reasoning_content", "reasoning"]) {
    const value = message[field];
    if (value !== undefined && value !== null && typeof value !== "string") {
      throw invalidRequest(`Invalid type for '${where}.${field}': expected a string, but got ${typeName(value)} instead.`, `${where}.${field}`, "invalid_type");
    }
  }
  if (message.role === "tool" && typeof message.tool_call_id !== "string") {
    throw invalidRequest(`Missing required parameter: '${where}.tool_call_id'.`, `${where}.tool_call_id`, "missing_required_parameter");
  }
  checkTypes(message, { name: "string", tool_call_id: "string", refusal: "string" }, `${where}.`);
  (message.tool_calls ?? []).forEach((call, k) => checkToolCall(call, `${where}.tool_calls[${k}]`));
}

// Every field of a content part that is read is of the type it is read as.
function checkContentPart(part, where) {
  if (typeName(part) !== "object" || typeof part.type !== "string") {
    throw invalidRequest(`Invalid type for '${where}': expected a content part object with a 'type'.`, where, "invalid_type");
  }
  checkTypes(part, { text: "string", refusal: "string" }, `${where}.`);
  if (part.type === "image_url" || part.type === "input_image") {
    const image = checkType(part, "image_url", ["string", "object"], `${where}.image_url`);
    if (typeName(image) === "object") checkTypes(image, { url: "string", detail: "string" }, `${where}.image_url.`);
  }
}

// An earlier assistant turn's tool call: {id, type: "function", function: {name, arguments}}.
function checkToolCall(call, where) {
  if (typeName(call) !== "object") {
    throw invalidRequest(`Invalid type for '${where}': expected a tool call object, but got ${typeName(call)} instead.`, where, "invalid_type");
  }
  checkTypes(call, { id: "string", type: "string", function: "object" }, `${where}.`);
  if (call.function) checkTypes(call.function, { name: "string", arguments: ["string", "object"] }, `${where}.function.`);
}

function optional(body, name, type) {
  const value = body[name];
  if (value === undefined || value === null) return undefined;
  if (typeName(value) !== type) {
    throw invalidRequest(`Invalid type for '${name}': expected a ${type}, but got ${typeName(value)} instead.`, name, "invalid_type");
  }
  return value;
}

function optionalNumber(body, name, min, max) {
  const value = optional(body, name, "number");
  if (value !== undefined && !(value >= min && value <= max)) {
    throw invalidRequest(`Invalid '${name}': ${value} is out of range; expected a number from ${min} to ${max}.`, name, "invalid_value");
  }
  return value;
}

function optionalInteger(body, name, min) {
  const value = optional(body, name, "number");
  if (value === undefined) return undefined;
  if (!Number.isInteger(value) || value < min) {
    throw invalidRequest(`Invalid '${name}': expected an integer${min === 1 ? " of at least 1" : ""}, but got ${value}.`, name, "invalid_value");
  }
  return value;
}

// OpenAI's prompt_cache_key groups requests that share a prompt prefix; Workers AI does the same
// with its x-session-affinity header (binding.js), which must be a plain header value.
export function parsePromptCacheKey(key) {
  if (key === undefined || key === null) return undefined;
  if (typeof key !== "string") {
    throw invalidRequest(`Invalid type for 'prompt_cache_key': expected a string, but got ${typeName(key)} instead.`, "prompt_cache_key", "invalid_type");
  }
  if (!/^[\x21-\x7e][\x20-\x7e]{0,255}$/.test(key)) {
    throw invalidRequest("Invalid 'prompt_cache_key': expected 1-256 printable ASCII characters.", "prompt_cache_key", "invalid_value");
  }
  return key;
}

function parseStop(stop) {
  if (stop === undefined || stop === null) return [];
  const list = typeof stop === "string" ? [stop] : stop;
  if (!Array.isArray(list) || list.some((s) => typeof s !== "string")) {
    throw invalidRequest("Invalid type for 'stop': expected a string or an array of strings.", "stop", "invalid_type");
  }
  return checkStopSequences(list, "stop").filter((s) => s.length > 0);
}

function parseResponseFormat(format) {
  if (format === undefined || format === null) return null;
  if (typeName(format) !== "object" || !["text", "json_object", "json_schema"].includes(format.type)) {
    throw invalidRequest("Invalid 'response_format': expected {\"type\": \"text\" | \"json_object\" | \"json_schema\"}.", "response_format", "invalid_value");
  }
  if (format.type === "text") return null;
  if (format.type === "json_schema") {
    const schema = format.json_schema?.schema;
    if (typeName(format.json_schema) !== "object" || typeName(schema) !== "object") {
      throw invalidRequest("Invalid 'response_format.json_schema': expected {\"name\": ..., \"schema\": {...}}.", "response_format.json_schema", "invalid_value");
    }
    checkTypes(format.json_schema, { name: "string", description: "string", strict: "boolean" }, "response_format.json_schema.");
    checkMaxLength(format.json_schema.name, FIELD_CAPS.schemaNameChars, "response_format.json_schema.name");
    return { type: "json_schema", schema, name: format.json_schema.name ?? "response" };
  }
  return { type: "json_object" };
}

// tools / tool_choice, and the legacy functions / function_call they replaced, become one list
// of {name, description, parameters} plus a choice: "auto" | "none" | "required" | {name}.
function parseTools(body) {
  let tools = [];
  let choice = "auto";
  if (body.tools !== undefined && body.tools !== null) {
    if (!Array.isArray(body.tools)) throw invalidRequest(`Invalid type for 'tools': expected an array, but got ${typeName(body.tools)} instead.`, "tools", "invalid_type");
    tools = body.tools.map((tool, i) => {
      if (typeName(tool) !== "object" || tool.type !== "function" || typeName(tool.function) !== "object") {
        throw invalidRequest(`Invalid 'tools[${i}]': expected {"type": "function", "function": {"name": ...}}.`, `tools[${i}]`, "invalid_value");
      }
      return checkFunction(tool.function, `tools[${i}].function`);
    });
  } else if (Array.isArray(body.functions)) {
    tools = body.functions.map((fn, i) => checkFunction(fn, `functions[${i}]`));
  }
  const rawChoice = body.tool_choice ?? body.function_call;
  const choiceParam = body.tool_choice !== undefined ? "tool_choice" : "function_call";
  if (rawChoice !== undefined && rawChoice !== null) {
    if (typeof rawChoice === "string") {
      if (!["auto", "none", "required"].includes(rawChoice)) {
        throw invalidRequest(`Invalid value for '${choiceParam}': ${JSON.stringify(rawChoice)}. Supported values are: 'none', 'auto' and 'required'.`, choiceParam, "invalid_value");
      }
      choice = rawChoice;
    } else {
      const name = rawChoice?.function?.name ?? rawChoice?.name;
      if (typeof name !== "string" || !tools.some((t) => t.name === name)) {
        throw invalidRequest(`Invalid '${choiceParam}': it must name one of the functions in 'tools'.`, choiceParam, "invalid_value");
      }
      choice = { name };
    }
  }
  if (choice === "required" && !tools.length) {
    throw invalidRequest("Invalid 'tool_choice': 'required' needs at least one tool in 'tools'.", "tool_choice", "invalid_value");
  }
  return { tools, toolChoice: choice };
}

function checkFunction(fn, where) {
  if (typeName(fn) !== "object" || typeof fn.name !== "string" || !/^[A-Za-z0-9_.:-]{1,128}$/.test(fn.name)) {
    throw invalidRequest(`Invalid '${where}.name': expected a name of letters, digits, '_', '.', ':' or '-'.`, `${where}.name`, "invalid_value");
  }
  if (fn.parameters !== undefined && typeName(fn.parameters) !== "object") {
    throw invalidRequest(`Invalid type for '${where}.parameters': expected a JSON schema object.`, `${where}.parameters`, "invalid_type");
  }
  checkTypes(fn, { description: "string", strict: "boolean" }, `${where}.`);
  return { name: fn.name, description: typeof fn.description === "string" ? fn.description : "", parameters: fn.parameters ?? { type: "object", properties: {} } };
}
