// Responses API tools -> the chat tools a model is offered, and back. Function tools pass
// through; the functions of a `namespace` tool are offered as `<namespace>__<name>` (one flat
// list is all a chat model takes) and a call to one comes back as a function_call carrying
// `namespace`; a `custom` tool (freeform text input, optionally with a grammar) is offered as a
// function taking one string `input` and its call comes back as a custom_tool_call. Hosted tools
// (web_search, file_search, ...) run on OpenAI's side: this gateway cannot run them, so they are
// left out of what the model sees and named in the x-flaregate-ignored-tools header; a
// tool_choice that forces one is refused.
import { invalidRequest, typeName } from "./http.js";

export const IGNORED_TOOLS_HEADER = "x-flaregate-ignored-tools";
const NAMESPACE_SEPARATOR = "__";

export function planResponseTools(body) {
  const plan = { chatTools: [], toolMap: new Map(), ignored: [], echo: [], chatChoice: undefined };
  const tools = body.tools;
  if (tools !== undefined && tools !== null) {
    if (!Array.isArray(tools)) {
      throw invalidRequest(`Invalid type for 'tools': expected an array, but got ${typeName(tools)} instead.`, "tools", "invalid_type");
    }
    tools.forEach((tool, i) => addTool(plan, tool, `tools[${i}]`));
  }
  if (body.tool_choice !== undefined && body.tool_choice !== null) plan.chatChoice = chatToolChoice(plan, body.tool_choice);
  return plan;
}

function addTool(plan, tool, where, namespace = null) {
  if (typeName(tool) !== "object" || typeof tool.type !== "string") {
    throw invalidRequest(`Invalid type for '${where}': expected a tool object with a 'type'.`, where, "invalid_type");
  }
  if (tool.type === "namespace" && namespace === null) {
    requireName(tool, where);
    if (!Array.isArray(tool.tools)) {
      throw invalidRequest(`Invalid type for '${where}.tools': expected an array of function or custom tools.`, `${where}.tools`, "invalid_type");
    }
    tool.tools.forEach((inner, j) => addTool(plan, inner, `${where}.tools[${j}]`, tool.name));
    plan.echo.push({ type: "namespace", name: tool.name, description: String(tool.description ?? ""), tools: tool.tools.map(echoTool) });
    return;
  }
  if (tool.type !== "function" && tool.type !== "custom") {
    if (namespace !== null) {
      throw invalidRequest(`Unsupported tool type ${JSON.stringify(tool.type)} in '${where}': a namespace holds function and custom tools.`, `${where}.type`, "invalid_value");
    }
    if (!plan.ignored.includes(tool.type)) plan.ignored.push(tool.type);
    return;
  }
  requireName(tool, where);
  const modelName = namespace === null ? tool.name : `${namespace}${NAMESPACE_SEPARATOR}${tool.name}`;
  if (plan.toolMap.has(modelName)) {
    throw invalidRequest(`Duplicate tool name '${modelName}' in '${where}': tool names must be unique.`, `${where}.name`, "invalid_value");
  }
  plan.toolMap.set(modelName, { kind: tool.type, name: tool.name, namespace });
  const fn = { name: modelName };
  if (tool.type === "function") {
    if (tool.description !== undefined && tool.description !== null) fn.description = tool.description;
    if (tool.parameters !== undefined && tool.parameters !== null) fn.parameters = tool.parameters;
  } else {
    fn.description = customToolDescription(tool, where);
    fn.parameters = {
      type: "object",
      properties: { input: { type: "string", description: "The tool's whole input, as free-form text." } },
      required: ["input"],
      additionalProperties: false,
    };
  }
  plan.chatTools.push({ type: "function", function: fn });
  if (namespace === null) plan.echo.push(echoTool(tool));
}

function requireName(tool, where) {
  if (typeof tool.name !== "string" || !tool.name) {
    throw invalidRequest(`Missing required parameter: '${where}.name'.`, `${where}.name`, "missing_required_parameter");
  }
}

// The grammar is the model's only guide to the input's shape: it goes into the description,
// with how the free-form input travels here (descriptions written for OpenAI often say "do not
// wrap it in JSON").
function customToolDescription(tool, where) {
  const text = typeof tool.description === "string" ? tool.description : "";
  const how = "Give the tool's whole input, as plain text, in the string argument `input`.";
  const format = tool.format;
  if (format === undefined || format === null || format.type === "text") return `${text}\n\n${how}`.trim();
  if (typeName(format) !== "object" || format.type !== "grammar" || typeof format.definition !== "string") {
    throw invalidRequest(`Invalid '${where}.format': expected {"type": "text"} or {"type": "grammar", "syntax": "lark" | "regex", "definition": ...}.`, `${where}.format`, "invalid_value");
  }
  const syntax = format.syntax === "regex" ? "regular expression" : "Lark grammar";
  return `${text}\n\n${how} It must match this ${syntax} exactly:\n${format.definition}`.trim();
}

// The request's own tools, as a response echoes them (hosted tools left out: they were not used).
function echoTool(tool) {
  if (tool.type === "custom") {
    const echo = { type: "custom", name: tool.name, description: tool.description ?? null };
    if (tool.format !== undefined && tool.format !== null) echo.format = tool.format;
    return echo;
  }
  return { type: "function", name: tool.name, description: tool.description ?? null, parameters: tool.parameters ?? null, strict: tool.strict ?? true };
}

function chatToolChoice(plan, choice) {
  const offered = plan.chatTools.length > 0;
  if (typeof choice === "string") {
    if (!["auto", "none", "required"].includes(choice)) {
      throw invalidRequest(`Invalid value for 'tool_choice': ${JSON.stringify(choice)}. Supported values are: 'auto', 'none' and 'required'.`, "tool_choice", "invalid_value");
    }
    if (choice === "required" && !offered && plan.ignored.length) throw forcedHostedTool(plan.ignored.join(", "));
    return choice;
  }
  if (typeName(choice) !== "object") {
    throw invalidRequest(`Invalid type for 'tool_choice': expected a string or an object, but got ${typeName(choice)} instead.`, "tool_choice", "invalid_type");
  }
  if (choice.type === "function" || choice.type === "custom") {
    const name = typeof choice.name === "string" ? choice.name : "";
    const found = [...plan.toolMap].find(([, t]) => t.kind === choice.type && t.namespace === (choice.namespace ?? null) && t.name === name);
    if (!found) {
      throw invalidRequest(`Invalid 'tool_choice': no ${choice.type} tool named ${JSON.stringify(name)} is in 'tools'.`, "tool_choice", "invalid_value");
    }
    return { type: "function", function: { name: found[0] } };
  }
  if (choice.type === "allowed_tools") return allowedTools(plan, choice);
  throw forcedHostedTool(String(choice.type ?? "unknown"));
}

// {"type": "allowed_tools", "mode": "auto" | "required", "tools": [...]}: the model sees only
// the listed function and custom tools.
function allowedTools(plan, choice) {
  if (!Array.isArray(choice.tools) || !["auto", "required"].includes(choice.mode)) {
    throw invalidRequest("Invalid 'tool_choice': allowed_tools needs 'mode' ('auto' or 'required') and a 'tools' array.", "tool_choice", "invalid_value");
  }
  const allowed = new Set();
  const hosted = [];
  for (const t of choice.tools) {
    if (t?.type === "function" || t?.type === "custom") allowed.add(t.namespace ? `${t.namespace}${NAMESPACE_SEPARATOR}${t.name}` : t.name);
    else if (t?.type === "namespace") for (const inner of t.tools ?? []) allowed.add(`${t.name}${NAMESPACE_SEPARATOR}${inner?.name}`);
    else hosted.push(String(t?.type));
  }
  plan.chatTools = plan.chatTools.filter((t) => allowed.has(t.function.name));
  if (choice.mode === "required" && !plan.chatTools.length) throw forcedHostedTool(hosted.join(", ") || "none of the tools");
  return plan.chatTools.length ? choice.mode : "none";
}

function forcedHostedTool(type) {
  return invalidRequest(
    `'tool_choice' forces ${type}, which this gateway cannot run: hosted tools (web_search, file_search, code_interpreter, image_generation, ...) run on OpenAI's platform. Offer function or custom tools, or send 'tool_choice': 'auto'.`,
    "tool_choice", "unsupported_value",
  );
}

// A call the model made, by the name it was offered under -> the tool the client declared. A
// model that drops the namespace prefix still reaches the namespaced function when only one has
// that name.
export function toolForCall(toolMap, modelName) {
  const direct = toolMap.get(modelName);
  if (direct) return direct;
  let match = null;
  for (const tool of toolMap.values()) {
    if (tool.name !== modelName) continue;
    if (match) return null;
    match = tool;
  }
  return match;
}

// A tool call the client sends back (function_call with `namespace`, custom_tool_call) -> the
// name the model was offered it under.
export function modelToolName(name, namespace) {
  return typeof namespace === "string" && namespace ? `${namespace}${NAMESPACE_SEPARATOR}${name}` : name;
}

// A custom tool's input from the function-call arguments the model wrote: {"input": "..."}
// normally; a model that wrote the text itself, or other JSON, gets that text.
export function customToolInput(args) {
  try {
    const parsed = JSON.parse(args);
    if (typeof parsed?.input === "string") return parsed.input;
  } catch {
    // not JSON: the model wrote the input itself
  }
  return args === "{}" ? "" : args;
}

// Streams a custom tool's input while the model is still writing its arguments: decodes the
// JSON string value of `input` from `{"input": "...` as fragments arrive (escapes split across
// fragments wait for their end). Arguments of any other shape stream nothing until the end,
// when customToolInput has the last word. Linear: each character is looked at once.
const CUSTOM_INPUT_OPENING = /^\s*\{\s*"input"\s*:\s*"/;
const JSON_ESCAPE = /^\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})/;

export class CustomInputStream {
  constructor() {
    this.raw = "";
    this.pos = -1; // where the string value's undecoded part starts; -1 before the opening
    this.state = "opening"; // "opening" | "string" | "closed" | "other"
    this.sent = "";
    this.held = ""; // a high surrogate waiting for its pair
  }

  // Appends a fragment of the arguments; returns the input text it completes (may be "").
  push(fragment) {
    this.raw += fragment;
    if (this.state === "opening") {
      const match = CUSTOM_INPUT_OPENING.exec(this.raw);
      if (!match) {
        // Still possibly a prefix of the opening, unless it has grown past any such prefix.
        if (this.raw.length > 64 || /[^\s{"input:]/.test(this.raw)) this.state = "other";
        return "";
      }
      this.state = "string";
      this.pos = match[0].length;
    }
    if (this.state !== "string") return "";
    let out = "";
    let i = this.pos;
    while (i < this.raw.length) {
      const c = this.raw[i];
      if (c === '"') {
        this.state = "closed";
        i++;
        break;
      }
      if (c !== "\\") {
        out += c;
        i++;
        continue;
      }
      const escape = JSON_ESCAPE.exec(this.raw.slice(i, i + 6));
      if (!escape) {
        if (this.raw.length - i < 6) break; // the rest of the escape is still to come
        this.state = "other";
        break;
      }
      out += JSON.parse(`"${escape[0]}"`);
      i += escape[0].length;
    }
    this.pos = i;
    // A surrogate pair split across deltas would reach clients as two broken characters.
    out = this.held + out;
    this.held = "";
    const last = out.charCodeAt(out.length - 1);
    if (last >= 0xd800 && last <= 0xdbff && this.state === "string") {
      this.held = out.slice(-1);
      out = out.slice(0, -1);
    }
    this.sent += out;
    return out;
  }

  // The part of the final input not sent yet ("" when the stream already sent it all).
  rest(input) {
    return input.startsWith(this.sent) ? input.slice(this.sent.length) : "";
  }
}
