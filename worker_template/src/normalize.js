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

export class CompletionNormalizer {
  constructor({ toolNames = [], reasoning = "none", maxTokens = null, stop = [] } = {}) {
    this.toolNames = new Set(toolNames);
    this.stopFilter = stop.length ? new StopSequenceFilter(stop) : null;
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
    this.usage = null;
    this.sawDone = false;
    this.sawEvent = false;
    this.textSeen = false;
    this.reasoningSeen = "";
  }

  // `payload` is an SSE data string or an already-parsed object (non-streamed answers).
  event(payload) {
    const parts = [];
    if (payload === "[DONE]") {
      this.sawDone = true;
      return parts;
    }
    if (this.stopped) return parts;
    let event = payload;
    if (typeof payload === "string") {
      try {
        event = JSON.parse(payload);
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
    for (const piece of this.thinkFilter.push(this.controlFilter.push(text))) this.routeThink(piece, parts);
  }

  reasoningText(text, parts) {
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
    if (this.stopFilter) {
      const { text: kept, stopped, sequence } = this.stopFilter.push(text);
      text = kept;
      this.stopped = stopped;
      if (stopped) this.stopSequence = sequence;
    }
    if (!text) return;
    this.textSeen = true;
    parts.push({ type: "text", text });
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
