// =============================================================================================
// MODEL QUIRKS. Everything Workers AI models do that an OpenAI client would choke on is fixed
// here and nowhere else. Each fix names the model(s), the symptom, the fix, and the fixture under
// tests/fixtures/workers-ai/ that proves it. The filters are streaming-safe: text arrives in
// arbitrary pieces, so each one holds back only the few characters that could still turn out
// to be the start of what it is looking for, and releases them as soon as they cannot.
// =============================================================================================
import { typeName } from "./http.js";

// Llama 3.x / Llama 4 Scout / Qwen leak chat-template control tokens into the text, sometimes
// with the role header around them ("<|start_header_id|>assistant<|end_header_id|>\n\n").
// Fix: drop the tokens and whole role headers. Fixture: llama4-scout-control-tokens.*
const CONTROL_TOKEN = /^<\|[A-Za-z0-9_.-]{1,40}\|>/;
const CONTROL_TOKEN_PREFIX = /^<(\|([A-Za-z0-9_.-]{0,40}(\|)?)?)?$/;
// Llama 3 writes <|start_header_id|>role<|end_header_id|>, Llama 4 <|header_start|>role<|header_end|>;
// Scout was recorded mixing the two, so either closer ends either header.
const HEADER_OPENERS = new Set(["<|start_header_id|>", "<|header_start|>"]);
const HEADER_CLOSERS = ["<|end_header_id|>", "<|header_end|>"];
const ROLE_PREFIX_TOKENS = new Set(["<|im_start|>"]);
const HEADER_MAX = 64;

export class ControlTokenFilter {
  constructor() {
    this.held = "";
    this.skipNewlines = false;
  }

  push(text) {
    let buf = this.held + text;
    let out = "";
    this.held = "";
    for (;;) {
      if (this.skipNewlines) {
        buf = buf.replace(/^[\r\n]+/, "");
        if (buf === "") return out;
        this.skipNewlines = false;
      }
      const at = buf.indexOf("<");
      if (at === -1) return out + buf;
      out += buf.slice(0, at);
      const rest = buf.slice(at);
      const token = CONTROL_TOKEN.exec(rest)?.[0];
      if (!token) {
        if (CONTROL_TOKEN_PREFIX.test(rest)) {
          this.held = rest;
          return out;
        }
        out += "<";
        buf = rest.slice(1);
        continue;
      }
      if (HEADER_OPENERS.has(token)) {
        const ends = HEADER_CLOSERS.map((c) => [rest.indexOf(c), c]).filter(([i]) => i !== -1).sort((a, b) => a[0] - b[0]);
        if (!ends.length) {
          if (rest.length < HEADER_MAX) {
            this.held = rest;
            return out;
          }
          buf = rest.slice(token.length);
          continue;
        }
        buf = rest.slice(ends[0][0] + ends[0][1].length);
        this.skipNewlines = true;
        continue;
      }
      if (ROLE_PREFIX_TOKENS.has(token)) {
        const role = /^(system|user|assistant|tool)?(\n)?/.exec(rest.slice(token.length));
        if (rest.length - token.length < 10 && !role[2]) {
          this.held = rest;
          return out;
        }
        buf = rest.slice(token.length + role[0].length);
        continue;
      }
      buf = rest.slice(token.length);
    }
  }

  end() {
    const tail = this.held;
    this.held = "";
    // Whatever is still held starts a token or a role header ("<|eot_i", "<|im_start|>assi"):
    // cut off by the end of the stream, it is template debris, not text.
    return tail.startsWith("<|") ? "" : tail;
  }
}

// Reasoning models wrap their thinking in <think>...</think> inside the text (QwQ, Qwen3 on some
// paths); DeepSeek R1 distills omit the opening tag and start thinking at once
// (cloudflare/workers-ai-provider#16). Fix: the text between the tags becomes reasoning, the tags
// never reach `content`; models marked `think_tags_no_open` start in reasoning.
// Fixtures: qwq-think-tags.*, deepseek-r1-think-no-open-tag.*
export const THINK_OPEN = "<think>";
export const THINK_CLOSE = "</think>";

export class ThinkFilter {
  constructor(mode) {
    this.reasoning = mode === "think_tags_no_open";
    this.held = "";
    this.sawTag = false;
    this.trimNext = false;
  }

  // Returns [{kind: "text"|"reasoning", text}].
  push(text) {
    let buf = this.held + text;
    this.held = "";
    const out = [];
    for (;;) {
      if (this.trimNext) {
        buf = buf.replace(/^\s+/, "");
        if (buf === "") return out;
        this.trimNext = false;
      }
      const open = buf.indexOf(THINK_OPEN);
      const close = buf.indexOf(THINK_CLOSE);
      const next = [open, close].filter((i) => i !== -1).sort((a, b) => a - b)[0];
      if (next === undefined) {
        const keep = partialTagLength(buf, [THINK_OPEN, THINK_CLOSE]);
        this.emit(out, buf.slice(0, buf.length - keep));
        this.held = buf.slice(buf.length - keep);
        return out;
      }
      this.emit(out, buf.slice(0, next));
      const isOpen = next === open;
      buf = buf.slice(next + (isOpen ? THINK_OPEN.length : THINK_CLOSE.length));
      this.reasoning = isOpen;
      this.sawTag = true;
      this.trimNext = true;
    }
  }

  end() {
    const out = [];
    this.emit(out, this.held);
    this.held = "";
    return out;
  }

  emit(out, text) {
    if (text) out.push({ kind: this.reasoning ? "reasoning" : "text", text });
  }
}

// How many characters at the end of `text` could be the start of one of `tags`.
function partialTagLength(text, tags) {
  const lt = text.lastIndexOf("<");
  if (lt === -1) return 0;
  const tail = text.slice(lt);
  return tags.some((tag) => tag.length > tail.length && tag.startsWith(tail)) ? tail.length : 0;
}

// A tool call written as JSON text instead of `tool_calls`: gpt-oss and Llama leak them into the
// content with finish reason "stop", sometimes after a sentence of prose (cloudflare/ai#574,
// recovered in #575 when the name matches a requested tool); Hermes/Qwen write
// <tool_call>{...}</tool_call>; Llama 3.1 prefixes <|python_tag|> (dropped by ControlTokenFilter);
// models with emulated tools answer with the JSON our prompt asks for, often in a code fence.
// Fix: while tools are on offer, text that could be the start of such a call ('{"name"', '[{',
// '<tool_call>', a json code fence) is held back until it is complete; if it names a requested
// tool it becomes real tool calls, otherwise it is released as text. Everything else streams at
// once. Fixtures: gpt-oss-tool-call-leaked-in-content.json, llama-leaked-tool-json.json
const CALL_KEYS = ["name", "type", "function", "tool_calls", "tool_call"];
const TOOL_JSON_LIMIT = 65536;
const WRAPPER_OPEN = /^(<tool_call>|```(?:json)?)\s*/;
const WRAPPER_PARTIAL = /^(<(t(o(o(l(_(c(a(l(l)?)?)?)?)?)?)?)?)?|`{1,3}(j(s(o(n)?)?)?)?)$/;
const CANDIDATE_CHARS = new Set(["{", "[", "<", "`"]);
const HEAD_WINDOW = 48;

export class ToolJsonSniffer {
  constructor(toolNames) {
    this.toolNames = new Set(toolNames);
    this.held = "";
    this.foundCalls = false;
  }

  // Returns [{kind: "text", text} | {kind: "calls", calls: [{id, name, arguments}]}].
  push(text) {
    const out = [];
    this.held += text;
    this.scan(out, false);
    return out;
  }

  end() {
    const out = [];
    this.scan(out, true);
    return out;
  }

  scan(out, final) {
    while (this.held) {
      if (this.foundCalls) {
        // What follows a recovered call: its wrapper's closing and separators are not text.
        const close = /^\s*(<\/tool_call>|```|,)?\s*/.exec(this.held)[0];
        if (close.length === this.held.length && !final) return;
        const rest = this.held.slice(close.length);
        if (!final && ["</tool_call>", "```"].some((c) => c.startsWith(rest))) return;
        this.held = this.held.slice(close.length);
        if (!this.held) return;
      }
      const start = candidateStart(this.held);
      if (start === -1) {
        this.text(out, this.held);
        this.held = "";
        return;
      }
      this.text(out, this.held.slice(0, start));
      this.held = this.held.slice(start);
      const verdict = judgeCandidate(this.held, this.toolNames, final || this.held.length > TOOL_JSON_LIMIT);
      if (verdict.wait) return;
      if (verdict.calls) {
        out.push({ kind: "calls", calls: verdict.calls });
        this.foundCalls = true;
      } else {
        this.text(out, this.held.slice(0, verdict.length));
      }
      this.held = this.held.slice(verdict.length);
    }
  }

  text(out, text) {
    if (!text) return;
    if (text.trim()) this.foundCalls = false;
    out.push({ kind: "text", text });
  }
}

// Where in `text` a tool call could begin (or is still arriving), or -1.
function candidateStart(text) {
  for (let i = 0; i < text.length; i++) {
    if (!CANDIDATE_CHARS.has(text[i])) continue;
    const window = text.slice(i, i + HEAD_WINDOW);
    const verdict = judgeCandidate(window, null, false, i + HEAD_WINDOW < text.length);
    if (verdict.wait || verdict.candidate) return i;
  }
  return -1;
}

// Is `text`, which starts at a candidate character, a tool call? {wait} while that cannot be told
// yet; {candidate} when only the head was asked about (no toolNames); else {length, calls} with
// calls null when the first `length` characters are plain text.
function judgeCandidate(text, toolNames, final, truncated = false) {
  const plain = { length: 1, calls: null };
  const atEnd = !final && !truncated;
  if (atEnd && WRAPPER_PARTIAL.test(text)) return { wait: true };
  const wrapper = WRAPPER_OPEN.exec(text);
  const prefix = wrapper ? wrapper[0].length : 0;
  const body = text.slice(prefix);
  const head = /^(\[\s*)?\{\s*"([a-z_]*)("?)/.exec(body);
  if (!head) return atEnd && /^(\[\s*)?(\{\s*)?$/.test(body) ? { wait: true } : plain;
  if (!head[3]) {
    const open = body.length === head[0].length && CALL_KEYS.some((k) => k.startsWith(head[2]));
    return atEnd && open ? { wait: true } : plain;
  }
  if (!CALL_KEYS.includes(head[2])) return plain;
  if (!toolNames) return { candidate: true };
  const length = completeJsonLength(body);
  if (length === -1) return final ? plain : { wait: true };
  const calls = toolCallsFromJson(body.slice(0, length), toolNames);
  return calls ? { length: prefix + length, calls } : plain;
}

// Length of the first complete JSON object/array at the start of `text`, or -1.
function completeJsonLength(text) {
  let depth = 0;
  let inString = false;
  let escaped = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (escaped) escaped = false;
      else if (c === "\\") escaped = true;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === "{" || c === "[") depth++;
    else if (c === "}" || c === "]") {
      depth--;
      if (depth === 0) return i + 1;
    }
  }
  return -1;
}

// The JSON shapes models use for a call: {name, arguments}, {name, parameters},
// {type:"function", name, parameters} (Llama), {type:"function", function:{name, arguments}},
// {tool_calls:[...]} (our emulation prompt), or an array of any of these.
function toolCallsFromJson(text, toolNames) {
  let value;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  const list = Array.isArray(value) ? value : Array.isArray(value?.tool_calls) ? value.tool_calls : [value];
  const calls = [];
  for (const item of list) {
    const call = toolCallFromObject(item);
    if (!call || !toolNames.has(call.name)) return null;
    calls.push(call);
  }
  return calls.length ? calls : null;
}

function toolCallFromObject(item) {
  if (typeName(item) !== "object") return null;
  const fn = typeName(item.function) === "object" ? item.function : item;
  if (typeof fn.name !== "string" || !fn.name) return null;
  // {"type":"function","function":{"name"}} with no arguments is a tool *choice* or definition.
  if (fn !== item && fn.arguments === undefined) return null;
  let args = fn.arguments ?? fn.parameters ?? item.arguments ?? item.parameters;
  // A JSON Schema where the arguments should be is a tool definition being quoted, not a call.
  if (typeName(args) === "object" && args.type === "object" && typeName(args.properties) === "object") return null;
  if (args === undefined && fn === item) {
    // gpt-oss leaks {"name": "read_file", "path": "..."}: the arguments are the other keys.
    const { name, type, id, ...rest } = item;
    args = rest;
  }
  return { id: typeof item.id === "string" ? item.id : null, name: fn.name, arguments: argumentsString(args) };
}

// Native Workers AI tool calls carry `arguments` as an object (the OpenAI wire format wants a
// JSON string); some models send a string, some send nothing. Fixture: arguments-as-object.json
export function argumentsString(args) {
  if (args === undefined || args === null || args === "") return "{}";
  return typeof args === "string" ? args : JSON.stringify(args);
}

// Qwen 2.5 Coder puts its tool call object in the `response` string field:
// {"response": {"name": ..., "arguments": {...}}} (SAM, sam/ai-gateway-tool-calling). Other
// models put structured (JSON mode) output there as an object. Fix: a call-shaped object while
// tools are on offer becomes a tool call; any other object is stringified into the text.
// Fixtures: qwen2.5-coder-tool-call-in-response.*, json-object-in-response.json
export function responseFieldToParts(response, toolNames) {
  if (response === undefined || response === null) return { text: "" };
  if (typeof response === "string") return { text: response };
  if (typeof response === "number" || typeof response === "boolean") return { text: String(response) };
  if (toolNames.size) {
    const list = Array.isArray(response) ? response : [response];
    const calls = list.map(toolCallFromObject);
    if (calls.length && calls.every((c) => c && toolNames.has(c.name))) return { calls };
  }
  return { text: JSON.stringify(response) };
}
