// =============================================================================================
// MODEL QUIRKS. Everything Workers AI models do that an OpenAI client would choke on is fixed
// here and nowhere else. Each fix names the model(s), the symptom, the fix, and the fixture under
// tests/fixtures/workers-ai/ that proves it. The filters are streaming-safe: text arrives in
// arbitrary pieces, so each one holds back only the few characters that could still turn out
// to be the start of what it is looking for, and releases them as soon as they cannot. Their
// work is linear in the text: state is kept between pushes, nothing already passed is searched
// again, and every look-ahead is bounded (tests/test_filter_work.py counts `work`, the
// characters each filter examines, over adversarial text of growing size).
// =============================================================================================
import { typeName } from "./http.js";

// Llama 3.x / Llama 4 Scout / Qwen leak chat-template control tokens into the text, sometimes
// with the role header around them ("<|start_header_id|>assistant<|end_header_id|>\n\n").
// Fix: drop the tokens and whole role headers. Fixture: llama4-scout-control-tokens.*
const CONTROL_TOKEN = /<\|[A-Za-z0-9_.-]{1,40}\|>/y;
const CONTROL_TOKEN_PREFIX = /^<(\|([A-Za-z0-9_.-]{0,40}(\|)?)?)?$/;
// Llama 3 writes <|start_header_id|>role<|end_header_id|>, Llama 4 <|header_start|>role<|header_end|>;
// Scout was recorded mixing the two, so either closer ends either header. A header is a role
// name: a closer further than HEADER_MAX characters away does not end this opener (the opener
// alone is dropped), so finding it never looks further than that.
const HEADER_OPENERS = new Set(["<|start_header_id|>", "<|header_start|>"]);
const HEADER_CLOSERS = ["<|end_header_id|>", "<|header_end|>"];
const ROLE_PREFIX_TOKENS = new Set(["<|im_start|>"]);
const ROLE_NAME = /(system|user|assistant|tool)?(\n)?/y;
const HEADER_MAX = 64;
const CONTROL_TOKEN_MAX = 44; // "<|" + 40 + "|>"
const LINE_BREAKS = /[\r\n]*/y;

export class ControlTokenFilter {
  constructor() {
    this.held = "";
    this.skipNewlines = false;
    this.work = 0; // characters examined, for the tests that prove the work is linear
  }

  push(text) {
    const buf = this.held + text;
    const n = buf.length;
    this.held = "";
    this.work += n;
    let out = "";
    let i = 0;
    for (;;) {
      if (this.skipNewlines) {
        LINE_BREAKS.lastIndex = i;
        LINE_BREAKS.test(buf);
        i = LINE_BREAKS.lastIndex;
        if (i === n) return out;
        this.skipNewlines = false;
      }
      const at = buf.indexOf("<", i);
      if (at === -1) return out + buf.slice(i);
      out += buf.slice(i, at);
      CONTROL_TOKEN.lastIndex = at;
      const token = CONTROL_TOKEN.exec(buf)?.[0];
      if (!token) {
        if (n - at <= CONTROL_TOKEN_MAX && CONTROL_TOKEN_PREFIX.test(buf.slice(at))) {
          this.held = buf.slice(at);
          return out;
        }
        out += "<";
        i = at + 1;
        continue;
      }
      const after = at + token.length;
      this.work += token.length;
      if (HEADER_OPENERS.has(token)) {
        const window = buf.slice(after, after + HEADER_MAX);
        this.work += window.length;
        let end = -1;
        for (const closer of HEADER_CLOSERS) {
          const found = window.indexOf(closer);
          if (found !== -1 && (end === -1 || found + closer.length < end)) end = found + closer.length;
        }
        if (end !== -1) {
          i = after + end;
          this.skipNewlines = true;
          continue;
        }
        if (n - after < HEADER_MAX) {
          this.held = buf.slice(at); // the closer may still come
          return out;
        }
        i = after;
        continue;
      }
      if (ROLE_PREFIX_TOKENS.has(token)) {
        ROLE_NAME.lastIndex = after;
        const role = ROLE_NAME.exec(buf);
        if (n - after < 10 && !role[2]) {
          this.held = buf.slice(at);
          return out;
        }
        i = after + role[0].length;
        continue;
      }
      i = after;
    }
  }

  end() {
    const tail = this.held;
    this.held = "";
    // Whatever is still held starts a token or a role header ("<|eot_i", "<|im_start|>assi"):
    // cut off by the end of the stream, it is template debris, not text. A header opener with
    // text after it that is no role name lost its closer: the opener goes, the text stays.
    CONTROL_TOKEN.lastIndex = 0;
    const token = CONTROL_TOKEN.exec(tail)?.[0];
    if (token && HEADER_OPENERS.has(token)) {
      const rest = tail.slice(token.length);
      return /^\s*[A-Za-z_]{0,20}$/.test(rest) ? "" : this.push(rest) + this.end();
    }
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
    this.work = 0; // characters examined, for the tests that prove the work is linear
  }

  // Returns [{kind: "text"|"reasoning", text}]. Each tag is searched for from where the last
  // search ended (and not again once absent), so a push costs its own length.
  push(text) {
    const buf = this.held + text;
    const n = buf.length;
    this.held = "";
    this.work += n;
    const out = [];
    let i = 0;
    let open = -2; // -2: not searched yet; -1: absent from the rest of buf
    let close = -2;
    for (;;) {
      if (this.trimNext) {
        LEADING_SPACE.lastIndex = i;
        LEADING_SPACE.test(buf);
        i = LEADING_SPACE.lastIndex;
        if (i === n) return out;
        this.trimNext = false;
      }
      if (open !== -1 && open < i) open = buf.indexOf(THINK_OPEN, i);
      if (close !== -1 && close < i) close = buf.indexOf(THINK_CLOSE, i);
      const next = open === -1 ? close : close === -1 ? open : Math.min(open, close);
      if (next === -1) {
        const keep = partialTagLength(buf, i, [THINK_OPEN, THINK_CLOSE]);
        this.emit(out, buf.slice(i, n - keep));
        this.held = buf.slice(n - keep);
        return out;
      }
      this.emit(out, buf.slice(i, next));
      const isOpen = next === open;
      i = next + (isOpen ? THINK_OPEN.length : THINK_CLOSE.length);
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

const LEADING_SPACE = /\s*/y;

// How many characters at the end of `text` (from `from` on) could be the start of one of `tags`.
// Only the last few can: a tag is short.
function partialTagLength(text, from, tags) {
  for (let k = Math.min(THINK_CLOSE.length - 1, text.length - from); k > 0; k--) {
    if (text.charCodeAt(text.length - k) !== 60) continue; // "<"
    const tail = text.slice(text.length - k);
    if (tags.some((tag) => tag.startsWith(tail))) return k;
  }
  return 0;
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
// Cost: every character is looked at a bounded number of times. The head of a candidate (at
// most HEAD_WINDOW characters) is judged by pattern; its JSON is then read by a JsonScanner that
// keeps its state between pushes, and a candidate that stops being valid JSON, grows past
// TOOL_JSON_LIMIT or nests deeper than JSON_DEPTH_LIMIT is released as text at once.
const CALL_KEYS = ["name", "type", "function", "tool_calls", "tool_call"];
const TOOL_JSON_LIMIT = 65536;
const WRAPPER_OPEN = /^(<tool_call>|```(?:json)?)\s*/;
const WRAPPER_PARTIAL = /^(<(t(o(o(l(_(c(a(l(l)?)?)?)?)?)?)?)?)?|`{1,3}(j(s(o(n)?)?)?)?)$/;
const CALL_HEAD = /^(\[\s*)?\{\s*"([a-z_]*)("?)/;
const CANDIDATE_CHAR = /[{[<`]/g;
const HEAD_WINDOW = 48;
// What may follow a recovered call and is not text: one closing wrapper or separator.
const CALL_CLOSERS = ["</tool_call>", "```", ","];

export class ToolJsonSniffer {
  constructor(toolNames) {
    this.toolNames = new Set(toolNames);
    this.pending = ""; // a candidate's head (or a closer) still being judged: at most HEAD_WINDOW chars
    this.scanner = null; // the JsonScanner reading a candidate's JSON, once its head is judged
    this.held = []; // the candidate's text while its JSON is read
    this.heldLength = 0;
    this.prefix = 0; // length of the candidate's wrapper (<tool_call>, ```json)
    this.afterCall = false; // a call was just recovered: its closer may follow
    this.work = 0; // characters examined, for the tests that prove the work is linear
  }

  // Returns [{kind: "text", text} | {kind: "calls", calls: [{id, name, arguments}]}].
  push(text) {
    const out = [];
    this.scan(text, out, false);
    return out;
  }

  end() {
    const out = [];
    this.scan("", out, true);
    return out;
  }

  scan(text, out, final) {
    const s = this.pending + text;
    const n = s.length;
    this.pending = "";
    let i = 0;
    for (;;) {
      if (this.scanner) {
        const { end, status } = this.scanner.feed(s, i);
        this.work += end - i;
        if (end > i) this.held.push(s.slice(i, end));
        this.heldLength += end - i;
        i = end;
        if (status === "more" && !final && this.heldLength <= TOOL_JSON_LIMIT) return;
        const held = this.held.join("");
        const calls = status === "done" ? toolCallsFromJson(held.slice(this.prefix), this.toolNames) : null;
        this.scanner = null;
        this.held = [];
        this.heldLength = 0;
        if (calls) {
          out.push({ kind: "calls", calls });
          this.afterCall = true;
        } else {
          this.text(out, held);
        }
        continue;
      }
      if (this.afterCall) {
        i = this.skipCloser(s, i, final);
        if (i === -1) return;
      }
      if (i >= n) return;
      CANDIDATE_CHAR.lastIndex = i;
      const found = CANDIDATE_CHAR.exec(s);
      this.work += (found ? found.index : n) - i;
      if (!found) {
        this.text(out, s.slice(i));
        return;
      }
      const at = found.index;
      this.text(out, s.slice(i, at));
      const window = s.slice(at, at + HEAD_WINDOW);
      this.work += window.length;
      const verdict = judgeHead(window, !final && at + HEAD_WINDOW >= n);
      if (verdict.wait) {
        this.pending = s.slice(at);
        return;
      }
      if (!verdict.candidate) {
        this.text(out, s[at]);
        i = at + 1;
        continue;
      }
      this.prefix = verdict.prefix;
      this.held = [s.slice(at, at + verdict.prefix)];
      this.heldLength = verdict.prefix;
      this.scanner = new JsonScanner();
      i = at + verdict.prefix;
    }
  }

  // After a recovered call: whitespace and one closer (or comma) are not text. Returns where the
  // text goes on, or -1 when all of `s` was used up (a partial closer is kept in `pending`).
  skipCloser(s, i, final) {
    const n = s.length;
    const from = i;
    let closed = false;
    for (;;) {
      while (i < n && isJsonSpace(s.charCodeAt(i))) i++;
      this.work += i - from + 1;
      if (i === n) return -1;
      if (closed) break;
      const closer = CALL_CLOSERS.find((c) => s.startsWith(c, i));
      if (closer) {
        i += closer.length;
        closed = true;
        continue;
      }
      if (!final && n - i < 12 && CALL_CLOSERS.some((c) => c.startsWith(s.slice(i)))) {
        this.pending = s.slice(i);
        return -1;
      }
      break;
    }
    this.afterCall = false;
    return i;
  }

  text(out, text) {
    if (!text) return;
    const last = out[out.length - 1];
    if (last?.kind === "text") last.text += text;
    else out.push({ kind: "text", text });
  }
}

// Could `window` (which starts at a candidate character) be the start of a tool call? {wait} while
// that cannot be told yet (only when `atEnd`: more text may follow); {candidate, prefix} when it
// opens a JSON object or array whose first key is one a call has; else {} (plain text).
function judgeHead(window, atEnd) {
  if (atEnd && WRAPPER_PARTIAL.test(window)) return { wait: true };
  const wrapper = WRAPPER_OPEN.exec(window);
  const prefix = wrapper ? wrapper[0].length : 0;
  const body = window.slice(prefix);
  const head = CALL_HEAD.exec(body);
  if (!head) return atEnd && /^(\[\s*)?(\{\s*)?$/.test(body) ? { wait: true } : {};
  if (!head[3]) {
    const open = body.length === head[0].length && CALL_KEYS.some((k) => k.startsWith(head[2]));
    return atEnd && open ? { wait: true } : {};
  }
  return CALL_KEYS.includes(head[2]) ? { candidate: true, prefix } : {};
}

function isJsonSpace(code) {
  return code === 32 || code === 10 || code === 13 || code === 9;
}

// Reads one JSON value (an object or array) as it arrives, validating as it goes, so a push
// costs only its own characters. feed(s, i) reads from s[i] and says where it stopped: "done"
// (the value ended just before `end`), "error" (s[end] cannot continue valid JSON, or the value
// nests deeper than JSON_DEPTH_LIMIT) or "more" (all of s read, the value is still open).
const JSON_DEPTH_LIMIT = 64;
const S_VALUE = 0; // a value is expected
const S_ARRAY_FIRST = 1; // after "[": a value or "]"
const S_OBJECT_FIRST = 2; // after "{": a key or "}"
const S_KEY = 3; // after "," in an object
const S_COLON = 4;
const S_AFTER = 5; // after a value: "," or the container's closer
const S_STRING = 6;
const S_ESCAPE = 7;
const S_UNICODE = 8;
const S_NUMBER = 9;
const S_LITERAL = 10;
const ESCAPABLE = new Set([34, 92, 47, 98, 102, 110, 114, 116]); // " \ / b f n r t
const LITERALS = { 116: "true", 102: "false", 110: "null" };

class JsonScanner {
  constructor() {
    this.state = S_VALUE;
    this.stack = []; // "{" or "[" per open container
    this.isKey = false;
    this.literal = "";
    this.left = 0; // characters of a literal or \u escape still to come
  }

  feed(s, i) {
    const n = s.length;
    while (i < n) {
      const c = s.charCodeAt(i);
      switch (this.state) {
        case S_STRING: {
          // The common case, a long string, in one tight loop.
          let j = i;
          for (; j < n; j++) {
            const d = s.charCodeAt(j);
            if (d === 34 || d === 92 || d < 32) break;
          }
          if (j === n) return { end: n, status: "more" };
          const d = s.charCodeAt(j);
          if (d < 32) return { end: j, status: "error" };
          this.state = d === 92 ? S_ESCAPE : this.isKey ? S_COLON : S_AFTER;
          i = j + 1;
          continue;
        }
        case S_ESCAPE:
          if (c === 117) {
            this.state = S_UNICODE;
            this.left = 4;
          } else if (ESCAPABLE.has(c)) this.state = S_STRING;
          else return { end: i, status: "error" };
          i++;
          continue;
        case S_UNICODE:
          if (!/[0-9a-fA-F]/.test(s[i])) return { end: i, status: "error" };
          if (--this.left === 0) this.state = S_STRING;
          i++;
          continue;
        case S_NUMBER:
          if ((c >= 48 && c <= 57) || c === 43 || c === 45 || c === 46 || c === 69 || c === 101) {
            i++;
            continue;
          }
          this.state = S_AFTER; // JSON.parse judges the number itself
          continue;
        case S_LITERAL:
          if (c !== this.literal.charCodeAt(this.literal.length - this.left)) return { end: i, status: "error" };
          if (--this.left === 0) this.state = S_AFTER;
          i++;
          continue;
        default:
          break;
      }
      if (isJsonSpace(c)) {
        i++;
        continue;
      }
      const top = this.stack[this.stack.length - 1];
      switch (this.state) {
        case S_VALUE:
        case S_ARRAY_FIRST:
          if (c === 123 || c === 91) {
            if (this.stack.length >= JSON_DEPTH_LIMIT) return { end: i, status: "error" };
            this.stack.push(c === 123 ? "{" : "[");
            this.state = c === 123 ? S_OBJECT_FIRST : S_ARRAY_FIRST;
          } else if (c === 34) {
            this.state = S_STRING;
            this.isKey = false;
          } else if (c === 45 || (c >= 48 && c <= 57)) {
            this.state = S_NUMBER;
          } else if (LITERALS[c]) {
            this.literal = LITERALS[c];
            this.left = this.literal.length - 1;
            this.state = S_LITERAL;
          } else if (c === 93 && this.state === S_ARRAY_FIRST) {
            if (this.close()) return { end: i + 1, status: "done" };
          } else return { end: i, status: "error" };
          break;
        case S_OBJECT_FIRST:
        case S_KEY:
          if (c === 34) {
            this.state = S_STRING;
            this.isKey = true;
          } else if (c === 125 && this.state === S_OBJECT_FIRST) {
            if (this.close()) return { end: i + 1, status: "done" };
          } else return { end: i, status: "error" };
          break;
        case S_COLON:
          if (c !== 58) return { end: i, status: "error" };
          this.state = S_VALUE;
          break;
        default: // S_AFTER
          if (c === 44) this.state = top === "{" ? S_KEY : S_VALUE;
          else if ((c === 125 && top === "{") || (c === 93 && top === "[")) {
            if (this.close()) return { end: i + 1, status: "done" };
          } else return { end: i, status: "error" };
      }
      i++;
    }
    return { end: n, status: "more" };
  }

  // Closes the innermost container; true when that was the outermost one.
  close() {
    this.stack.pop();
    this.state = S_AFTER;
    return this.stack.length === 0;
  }
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
