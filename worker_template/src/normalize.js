// One normalizer for everything a chat model sends back, streamed or not, in every dialect:
//   native          {"response", "tool_calls":[{name, arguments}], "usage"}   (SSE: one per token)
//   OpenAI-shaped   {"choices":[{"message"|"delta", "finish_reason"}], "usage"}
//   Responses-style {"output":[{type:"reasoning"|"message"|"function_call", ...}]} (gpt-oss),
//                   and its stream events {"type":"response.output_text.delta", ...}
// It turns them into "parts" that the chat (and Responses) encoders write out:
//   {type:"text", text} {type:"reasoning", text} {type:"tool_call", index, id, name}
//   {type:"tool_args", index, text} {type:"finish", reason} {type:"usage", usage}
//   {type:"error", error: ApiError}
// A non-streamed answer is fed in as a single event, so quirks are fixed by the same code either way.
import { upstreamErrorFromEvent } from "./binding.js";
import { ApiError, newId, typeName } from "./http.js";
import { argumentsString, ControlTokenFilter, responseFieldToParts, THINK_CLOSE, THINK_OPEN, ThinkFilter, ToolJsonSniffer } from "./quirks.js";

const QUIRK_CHARS = /[<{[`]/;

export class CompletionNormalizer {
  constructor({ toolNames = [], reasoning = "none", maxTokens = null, stop = [] } = {}) {
    this.toolNames = new Set(toolNames);
    this.stopFilter = stop.length ? new StopSequenceFilter(stop) : null;
    this.stopStarts = [...new Set(stop.map((seq) => seq[0]))]; // first UTF-16 unit of each
    this.stopped = false; // a stop sequence was reached: everything after it is dropped
    this.stopSequence = null; // which one (Anthropic's stop_sequence names it)
    this.maxTokens = maxTokens;
    this.controlFilter = new ControlTokenFilter();
    this.reasoningControlFilter = new ControlTokenFilter();
    this.thinkFilter = new ThinkFilter(reasoning);
    this.toolSniffer = this.toolNames.size ? new ToolJsonSniffer(toolNames) : null;
    this.calls = []; // our index -> {id, name, args: characters of arguments sent so far}
    this.lastDeltaKey = undefined; // the call a fragment without index or id continues
    this.upstreamCalls = new Map(); // upstream index/id -> our index, for OpenAI-shaped deltas
    this.pendingArgs = new Map(); // upstream key -> argument text that arrived before the name
    this.upstreamFinish = null;
    this.usageValue = null;
    this.usageText = null; // the latest usage, still as JSON text (see DeltaShapes)
    this.sawDone = false;
    this.sawEvent = false;
    this.textSeen = false;
    this.reasoningSeen = "";
    this.deltaShapes = new DeltaShapes();
  }

  get usage() {
    if (this.usageText !== null) {
      this.usageValue = normalizeUsage(JSON.parse(this.usageText));
      this.usageText = null;
    }
    return this.usageValue;
  }

  set usage(value) {
    this.usageText = null;
    this.usageValue = value;
  }

  // `payload` is an SSE data string or an already-parsed object (non-streamed answers). The
  // parts it causes are appended to `parts` (a stream's read collects one batch), and returned.
  event(payload, parts = []) {
    if (payload === "[DONE]") {
      this.sawDone = true;
      return parts;
    }
    if (this.stopped) return parts;
    let event = payload;
    if (typeof payload === "string") {
      const token = nativeToken(payload);
      if (token !== null) {
        this.sawEvent = true;
        this.text(token, parts);
        return parts;
      }
      const known = this.deltaShapes.read(payload);
      if (known) {
        this.sawEvent = true;
        if (known.key === "content") this.text(known.text, parts);
        else this.reasoningText(known.text, parts);
        if (known.usageText) this.usageText = known.usageText;
        else if (known.usage) this.usage = normalizeUsage(known.usage) ?? this.usage;
        return parts;
      }
      try {
        event = JSON.parse(payload);
        this.deltaShapes.learn(payload, event);
      } catch {
        console.warn(JSON.stringify({ event: "bad_upstream_chunk", length: payload.length }));
        return parts;
      }
    }
    if (typeName(event) !== "object") return parts;
    this.sawEvent = true;
    if (event.error) {
      parts.push({ type: "error", error: upstreamErrorFromEvent(event.error) });
      return parts;
    }
    // An event of a shape nothing expected (a field of the wrong type that a conversion trips
    // on) is logged and skipped like unparsable JSON: it must not break the client's stream.
    try {
      if (Array.isArray(event.choices)) this.openAiEvent(event, parts);
      else if (Array.isArray(event.output)) this.responsesObject(event, parts);
      else if (typeof event.type === "string" && event.type.startsWith("response.")) this.responsesEvent(event, parts);
      else this.nativeEvent(event, parts);
    } catch (err) {
      console.warn(JSON.stringify({ event: "bad_upstream_chunk", error: String(err?.name ?? "error") }));
      return parts;
    }
    if (event.usage) this.usage = normalizeUsage(event.usage) ?? this.usage;
    if (typeof event.finish_reason === "string") this.upstreamFinish = event.finish_reason;
    return parts;
  }

  nativeEvent(event, parts) {
    const response = responseFieldToParts(event.response, this.toolNames);
    if (response.calls) this.completeCalls(response.calls, parts);
    else this.text(response.text, parts);
    // Mistral Small 3.1 and others send `tool_calls: []` next to plain text: nothing to emit.
    // Streamed, OpenAI-shaped entries are partial (cloudflare/ai workers-ai-provider merges them
    // by index); native {name, arguments} entries are whole calls.
    if (Array.isArray(event.tool_calls)) this.structuredCalls(event.tool_calls, parts, false);
    if (typeof event.reasoning_content === "string") this.reasoningText(event.reasoning_content, parts);
    else if (typeof event.reasoning === "string") this.reasoningText(event.reasoning, parts);
  }

  openAiEvent(event, parts) {
    for (const choice of event.choices) {
      if (typeName(choice) !== "object") continue;
      const delta = choice.delta ?? choice.message ?? {};
      const reasoning = delta.reasoning_content ?? delta.reasoning;
      if (typeof reasoning === "string") this.reasoningText(reasoning, parts);
      if (typeof delta.content === "string") this.text(delta.content, parts);
      else if (Array.isArray(delta.content)) {
        // Content as parts ([{type:"text", text}]), as some OpenAI-compatible servers send it.
        for (const piece of delta.content) if (typeof piece?.text === "string") this.text(piece.text, parts);
      } else if (delta.content && typeof delta.content === "object") this.text(JSON.stringify(delta.content), parts);
      if (Array.isArray(delta.tool_calls)) this.structuredCalls(delta.tool_calls, parts, Boolean(choice.message));
      if (typeof choice.finish_reason === "string") this.upstreamFinish = choice.finish_reason;
      if (typeof choice.text === "string") this.text(choice.text, parts); // legacy completions shape
    }
  }

  // gpt-oss answers in Responses-API items even on the chat path. Fixture: gpt-oss-responses-style.json
  responsesObject(event, parts) {
    for (const item of event.output) {
      if (typeName(item) !== "object") continue;
      if (item.type === "reasoning") {
        const pieces = [...(item.content ?? []), ...(item.summary ?? [])];
        for (const piece of pieces) if (typeof piece?.text === "string") this.reasoningText(piece.text, parts);
      } else if (item.type === "message") {
        for (const piece of item.content ?? []) if (typeof piece?.text === "string") this.text(piece.text, parts);
      } else if (item.type === "function_call" && typeof item.name === "string" && item.name) {
        const id = [item.call_id, item.id].find((v) => typeof v === "string" && v) ?? null;
        this.completeCalls([{ id, name: item.name, arguments: argumentsString(item.arguments) }], parts);
      }
    }
    if (event.status === "incomplete") this.upstreamFinish = "length";
  }

  responsesEvent(event, parts) {
    switch (event.type) {
      case "response.output_text.delta":
        if (typeof event.delta === "string") this.text(event.delta, parts);
        break;
      case "response.reasoning_text.delta":
      case "response.reasoning_summary_text.delta":
        if (typeof event.delta === "string") this.reasoningText(event.delta, parts);
        break;
      case "response.output_item.added":
        if (event.item?.type === "function_call") {
          this.toolCallDeltas([{ index: event.output_index, id: event.item.call_id, function: { name: event.item.name } }], parts);
        }
        break;
      case "response.function_call_arguments.delta":
        this.toolCallDeltas([{ index: event.output_index, function: { arguments: event.delta } }], parts);
        break;
      case "response.completed":
      case "response.incomplete":
        if (event.response?.usage) this.usage = normalizeUsage(event.response.usage) ?? this.usage;
        this.upstreamFinish = event.type === "response.incomplete" ? "length" : "stop";
        break;
      default:
        break;
    }
  }

  text(text, parts) {
    if (!text) return;
    if (this.plainText(text)) {
      if (this.thinkFilter.reasoning) {
        this.reasoningSeen += text;
        parts.push({ type: "reasoning", text });
      } else this.emitText(text, parts);
      return;
    }
    for (const piece of this.thinkFilter.push(this.controlFilter.push(text))) this.routeThink(piece, parts);
  }

  // The common path: a token with none of the characters the quirk filters look for ('<' starts
  // a control token or a think tag; '{', '[', '<' and '`' a leaked tool call) while none of them
  // holds anything back passes every filter unchanged, so it skips them. The state checks are
  // strict comparisons: a filter whose state is shaped differently never takes this path.
  plainText(text) {
    if (QUIRK_CHARS.test(text)) return false;
    const control = this.controlFilter;
    const think = this.thinkFilter;
    if (control.held !== "" || control.skipNewlines !== false || think.held !== "" || think.trimNext !== false) return false;
    const sniffer = this.toolSniffer;
    return sniffer === null || (sniffer.pending === "" && sniffer.scanner === null && sniffer.afterCall === false);
  }

  reasoningText(text, parts) {
    if (!QUIRK_CHARS.test(text) && this.reasoningControlFilter.held === "" && this.reasoningControlFilter.skipNewlines === false) {
      this.reasoningSeen += text;
      parts.push({ type: "reasoning", text });
      return;
    }
    const clean = this.reasoningControlFilter.push(text).replaceAll(THINK_OPEN, "").replaceAll(THINK_CLOSE, "");
    if (clean) {
      this.reasoningSeen += clean;
      parts.push({ type: "reasoning", text: clean });
    }
  }

  routeThink(piece, parts) {
    if (piece.kind === "reasoning") {
      this.reasoningSeen += piece.text;
      parts.push({ type: "reasoning", text: piece.text });
      return;
    }
    if (!this.toolSniffer) {
      this.emitText(piece.text, parts);
      return;
    }
    this.sniffed(this.toolSniffer.push(piece.text), parts);
  }

  sniffed(results, parts) {
    for (const r of results) {
      if (r.kind === "calls") this.completeCalls(r.calls, parts);
      else if (r.text) this.emitText(r.text, parts);
    }
  }

  emitText(text, parts) {
    if (this.stopped) return;
    if (this.stopFilter && !this.passesStops(text)) {
      const { text: kept, stopped, sequence } = this.stopFilter.push(text);
      text = kept;
      this.stopped = stopped;
      if (stopped) this.stopSequence = sequence;
    }
    if (!text) return;
    this.textSeen = true;
    parts.push({ type: "text", text });
  }

  // Text that cannot touch a stop sequence passes the stop filter unchanged: the filter holds
  // nothing back and no stop sequence's first character occurs in the text (so no sequence
  // occurs in it, and no tail of it could begin one).
  passesStops(text) {
    if (this.stopFilter.held !== "") return false;
    for (const start of this.stopStarts) if (text.includes(start)) return false;
    return true;
  }

  // Calls recovered from text (a leaked JSON call, Qwen's object in `response`): always whole.
  completeCalls(calls, parts) {
    for (const call of calls) {
      const index = this.calls.length;
      const id = call.id || newId("call_");
      const args = argumentsString(call.arguments);
      this.calls.push({ id, name: call.name, args: args.length });
      parts.push({ type: "tool_call", index, id, name: call.name });
      parts.push({ type: "tool_args", index, text: args });
    }
  }

  // Calls given as data, in any of the shapes models use: native {name, arguments} (whole),
  // OpenAI-shaped {index?, id?, function: {name?, arguments?}} whole in a message or partial in
  // a stream. Each gets a key that later fragments of the same call share: its index, else its
  // id, else (a fragment with neither) the call before it; whole calls get a key of their own.
  structuredCalls(list, parts, whole) {
    const deltas = [];
    for (const call of list) {
      if (typeName(call) !== "object") continue;
      if (typeName(call.function) !== "object") {
        if (typeof call.name !== "string" || !call.name) continue;
        deltas.push({ key: `whole:${this.calls.length + deltas.length}`, id: call.id, function: { name: call.name, arguments: call.arguments ?? call.parameters } });
        continue;
      }
      let key = call.index ?? (typeof call.id === "string" && call.id ? `id:${call.id}` : undefined);
      if (whole && key === undefined) key = `whole:${this.calls.length + deltas.length}`;
      key ??= this.lastDeltaKey ?? 0;
      this.lastDeltaKey = key;
      deltas.push({ ...call, key });
    }
    this.toolCallDeltas(deltas, parts);
  }

  // OpenAI-shaped tool-call deltas: a start (index, id, name), then argument fragments, and from
  // some models an all-null "finalization" delta ({id:null, type:null, function:{name:null}})
  // that carries nothing. Fixture: qwen3-openai-tool-call-deltas.sse
  toolCallDeltas(deltas, parts) {
    for (const delta of deltas) {
      if (typeName(delta) !== "object") continue;
      const key = delta.key ?? delta.index ?? delta.id ?? 0;
      const fn = typeName(delta.function) === "object" ? delta.function : {};
      let index = this.upstreamCalls.get(key);
      let args = fn.arguments;
      if (args !== undefined && args !== null && typeof args !== "string") args = JSON.stringify(args);
      if (index === undefined) {
        if (typeof fn.name !== "string" || !fn.name) {
          if (args) this.pendingArgs.set(key, (this.pendingArgs.get(key) ?? "") + args);
          continue;
        }
        index = this.calls.length;
        const id = typeof delta.id === "string" && delta.id ? delta.id : newId("call_");
        this.calls.push({ id, name: fn.name, args: 0 });
        this.upstreamCalls.set(key, index);
        parts.push({ type: "tool_call", index, id, name: fn.name });
        args = (this.pendingArgs.get(key) ?? "") + (args ?? "");
        this.pendingArgs.delete(key);
      }
      if (args) {
        this.calls[index].args += args.length;
        parts.push({ type: "tool_args", index, text: args });
      }
    }
  }

  // Called once the upstream is finished (or given up on). `streamed` says the answer came as a
  // stream, where ending without [DONE] and without a finish reason means it was cut off.
  end({ streamed }) {
    const parts = [];
    for (const piece of this.thinkFilter.push(this.controlFilter.end())) this.routeThink(piece, parts);
    for (const piece of this.thinkFilter.end()) this.routeThink(piece, parts);
    if (this.toolSniffer) this.sniffed(this.toolSniffer.end(), parts);
    if (this.stopFilter && !this.stopped) {
      const held = this.stopFilter.end();
      if (held) {
        this.textSeen = true;
        parts.push({ type: "text", text: held });
      }
    }
    const tail = this.reasoningControlFilter.end();
    if (tail) parts.push({ type: "reasoning", text: tail });
    // An R1-style model that never closed its thinking gave its answer as "reasoning": a client
    // that shows only content would see nothing, so the answer is also given as content.
    if (!this.textSeen && !this.calls.length && this.reasoningSeen && !this.thinkFilter.sawTag && this.thinkFilter.reasoning) {
      this.emitText(this.reasoningSeen, parts);
    }
    if (streamed && !this.sawDone && !this.upstreamFinish && !this.stopped) {
      parts.push({ type: "error", error: new ApiError(502, "The model's stream ended before it finished (no [DONE] and no finish reason); the answer is incomplete.", { code: "upstream_truncated" }) });
      return parts;
    }
    // A call that never got arguments (a tool without parameters) still owes valid JSON.
    this.calls.forEach((call, index) => {
      if (!call.args) parts.push({ type: "tool_args", index, text: "{}" });
    });
    if (this.usage) parts.push({ type: "usage", usage: this.usage });
    parts.push({ type: "finish", reason: this.finishReason(), stopSequence: this.stopSequence });
    return parts;
  }

  finishReason() {
    if (this.calls.length) return "tool_calls";
    if (this.stopped) return "stop";
    const upstream = this.upstreamFinish;
    if (upstream === "length" || upstream === "max_tokens") return "length";
    if (upstream === "content_filter") return "content_filter";
    // Native answers carry no finish reason: a completion that used the whole budget was cut.
    if (!upstream && this.maxTokens && this.usage?.completion_tokens >= this.maxTokens) return "length";
    return "stop";
  }
}

// Native streams send {"response":"<token>","p":"<padding>"} per token (the padding, a-z0-9, varies
// in length: llama-3.1-8b-native-text.sse). Exactly that, with a plain token (no escape, no
// control character), is read without a full parse; anything else is parsed.
const NATIVE_HEAD = '{"response":"';
const NATIVE_PAD = '","p":"';
const UNSAFE_IN_STRING = /[\\\u0000-\u001f]/;

function nativeToken(payload) {
  if (payload.slice(0, NATIVE_HEAD.length) !== NATIVE_HEAD) return null;
  const end = payload.indexOf('"', NATIVE_HEAD.length);
  const last = payload.length - 1;
  if (end === -1 || payload.charCodeAt(last) !== 125 /* } */) return null;
  const text = payload.slice(NATIVE_HEAD.length, end);
  if (UNSAFE_IN_STRING.test(text)) return null;
  if (end === last - 1) return text;
  const pad = end + NATIVE_PAD.length;
  if (payload.slice(end, pad) !== NATIVE_PAD || payload.charCodeAt(last - 1) !== 34 /* " */) return null;
  return /^[a-z0-9]*$/.test(payload.slice(pad, last - 1)) ? text : null;
}

// OpenAI-shaped streams send one chunk per token, each repeating the same envelope:
//   {"id":...,"object":...,"created":...,"model":...,"choices":[{"index":0,"delta":{"content":"tok"},
//    "logprobs":null,"finish_reason":null}],"usage":{...}}
// Parsing all of it was the largest per-token cost. Once a chunk has been parsed whole and found
// to be exactly that (a single text or reasoning delta, no other field that means anything), the
// text around its token is remembered; a later chunk with the same text around a plain token
// (no escape, no control character) is read by parsing only its usage. Anything else, or any
// doubt, takes the full parse.
const ENVELOPE_KEYS = new Set(["id", "object", "created", "model", "system_fingerprint"]);
const DELTA_KEYS = ["content", "reasoning_content", "reasoning"];
const USAGE_FIELD = ',"usage":';
const FLAT_USAGE = /^\{"[a-z_]+":(?:0|[1-9][0-9]*)(?:,"[a-z_]+":(?:0|[1-9][0-9]*))*\}$/;

class DeltaShapes {
  constructor() {
    this.shapes = []; // {key, head, mid}: head + "token" + mid + ("}" | ',"usage":' + usage + "}")
  }

  // (Comparisons are slice-and-===: V8's startsWith walks long prefixes a character at a time.)
  read(payload) {
    for (const shape of this.shapes) {
      const start = shape.head.length;
      if (payload.slice(0, start) !== shape.head) continue;
      const end = payload.indexOf('"', start);
      const rest = end + shape.mid.length;
      if (end === -1 || payload.slice(end, rest) !== shape.mid) return null;
      const text = payload.slice(start, end);
      if (UNSAFE_IN_STRING.test(text) || payload.charCodeAt(payload.length - 1) !== 125 /* } */) return null;
      if (rest === payload.length - 1) return { key: shape.key, text, usage: null };
      if (payload.slice(rest, rest + USAGE_FIELD.length) !== USAGE_FIELD) return null;
      const usageText = payload.slice(rest + USAGE_FIELD.length, -1);
      // Usage as flat counts (what every recorded stream sends) is read only when needed.
      if (usageText.length < 512 && FLAT_USAGE.test(usageText)) return { key: shape.key, text, usageText };
      try {
        const usage = JSON.parse(usageText);
        return typeName(usage) === "object" ? { key: shape.key, text, usage } : null;
      } catch {
        return null;
      }
    }
    return null;
  }

  learn(payload, event) {
    if (this.shapes.length >= DELTA_KEYS.length || typeName(event) !== "object" || !Array.isArray(event.choices)) return;
    const keys = Object.keys(event);
    const at = keys.indexOf("choices");
    if (at === -1 || !keys.slice(0, at).every((k) => ENVELOPE_KEYS.has(k))) return;
    if (keys.length > at + 2 || (keys.length === at + 2 && keys[at + 1] !== "usage")) return;
    const choices = event.choices;
    if (!Array.isArray(choices) || choices.length !== 1 || typeName(choices[0]) !== "object") return;
    const { index, delta, logprobs, finish_reason: finish, ...other } = choices[0];
    if (index !== 0 || logprobs != null || finish != null || Object.keys(other).some((k) => other[k] != null)) return;
    const deltaKeys = typeName(delta) === "object" ? Object.keys(delta) : [];
    const key = deltaKeys[0];
    if (deltaKeys.length !== 1 || !DELTA_KEYS.includes(key) || typeof delta[key] !== "string") return;
    if (this.shapes.some((shape) => shape.key === key)) return;
    const marker = `"delta":{${JSON.stringify(key)}:"`;
    const start = payload.indexOf(marker) + marker.length;
    const end = payload.indexOf('"', start);
    if (start < marker.length || end === -1 || payload.slice(start, end) !== delta[key]) return;
    const usageAt = event.usage === undefined ? payload.length - 1 : payload.lastIndexOf(USAGE_FIELD);
    if (usageAt <= end) return;
    const shape = { key, head: payload.slice(0, start), mid: payload.slice(end, usageAt) };
    // The shape must read this very chunk back as the full parse did.
    this.shapes.push(shape);
    const check = this.read(payload);
    const usage = check?.usageText === undefined ? check?.usage : JSON.parse(check.usageText);
    if (!check || check.text !== delta[key] || JSON.stringify(usage ?? undefined) !== JSON.stringify(event.usage)) this.shapes.pop();
  }
}

function normalizeUsage(usage) {
  if (typeName(usage) !== "object") return null;
  const prompt = toCount(usage.prompt_tokens ?? usage.input_tokens);
  const completion = toCount(usage.completion_tokens ?? usage.output_tokens);
  const total = toCount(usage.total_tokens) || prompt + completion;
  const out = { prompt_tokens: prompt, completion_tokens: completion, total_tokens: total };
  // Prompt-cache hits, as Workers AI reports them (OpenAI's name; the Responses-style name for
  // gpt-oss): only when reported, so "0 cached" is never claimed for a model that says nothing.
  const cached = usage.prompt_tokens_details?.cached_tokens ?? usage.input_tokens_details?.cached_tokens;
  if (cached !== undefined && cached !== null && Number.isFinite(Number(cached))) {
    out.prompt_tokens_details = { cached_tokens: Math.min(toCount(cached), prompt || Infinity) };
  }
  return out;
}

function toCount(value) {
  const n = Number(value);
  return Number.isFinite(n) && n > 0 ? Math.round(n) : 0;
}

// `stop` sequences, applied here rather than sent: Workers AI's native models do not take them.
// The text is cut before the first stop sequence to be completed (as a model that stops when it
// has written one) and nothing after it is emitted; the longest tail that could still become a
// stop sequence is held back until it cannot. Each sequence is followed by a Knuth-Morris-Pratt
// matcher whose state survives between pushes, so a character costs the same however long the
// text before it or the sequences are (the request caps them: chat_request.js).
class StopSequenceFilter {
  constructor(sequences) {
    this.matchers = sequences.map((seq) => ({ seq, fallback: kmpFallback(seq), matched: 0 }));
    this.held = "";
    this.work = 0; // characters x sequences examined, for the tests that prove the work is linear
  }

  push(text) {
    const buf = this.held + text;
    let keep = 0;
    for (let i = this.held.length; i < buf.length; i++) {
      const c = buf.charCodeAt(i);
      let cut = -1;
      let sequence = null;
      keep = 0;
      for (const m of this.matchers) {
        let k = m.matched;
        while (k > 0 && m.seq.charCodeAt(k) !== c) k = m.fallback[k - 1];
        if (m.seq.charCodeAt(k) === c) k++;
        if (k === m.seq.length) {
          const at = i + 1 - k;
          if (cut === -1 || at < cut) {
            cut = at;
            sequence = m.seq;
          }
          k = m.fallback[k - 1];
        }
        m.matched = k;
        if (k > keep) keep = k;
      }
      this.work += this.matchers.length;
      if (cut !== -1) {
        this.held = "";
        return { text: buf.slice(0, cut), stopped: true, sequence };
      }
    }
    if (buf.length === this.held.length) keep = this.held.length;
    this.held = buf.slice(buf.length - keep);
    return { text: buf.slice(0, buf.length - keep), stopped: false };
  }

  end() {
    const held = this.held;
    this.held = "";
    return held;
  }
}

// fallback[k] = the length of the longest proper prefix of seq[0..k] that is also its suffix.
function kmpFallback(seq) {
  const fallback = new Array(seq.length).fill(0);
  for (let i = 1, k = 0; i < seq.length; i++) {
    while (k > 0 && seq[i] !== seq[k]) k = fallback[k - 1];
    if (seq[i] === seq[k]) k++;
    fallback[i] = k;
  }
  return fallback;
}
