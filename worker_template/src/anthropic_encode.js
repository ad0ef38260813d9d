// Parts -> Anthropic's Messages API: one `message` object, or the official stream of events
// (message_start, content_block_start/delta/stop, ping, message_delta, message_stop), and errors
// in Anthropic's envelope. One builder serves both: it turns each part into the stream events
// and keeps the message those events describe, which is the non-streamed answer.
import { ApiError, jsonResponse, newId } from "./http.js";
import { SSE_ENCODER } from "./sse.js";

const ANTHROPIC_STOP_REASONS = { tool_calls: "tool_use", length: "max_tokens", content_filter: "refusal" };

// Reasoning from a Workers AI model carries no signature of Anthropic's; the SDK types require
// one. This marks it as ours: when a client sends the block back it becomes reasoning_content and
// the signature is not checked.
const ANTHROPIC_THINKING_SIGNATURE = "flaregate-v1";

export class AnthropicMessageBuilder {
  // `thinking`: the request enabled it; otherwise the model's reasoning is left out, as Anthropic
  // sends no thinking blocks to a client that did not ask for them. `inputTokens` is the estimate
  // message_start reports until the model's own count arrives with its usage.
  constructor({ model, thinking, inputTokens }) {
    this.thinking = thinking;
    this.inputEstimate = inputTokens;
    this.message = {
      id: newId("msg_"), type: "message", role: "assistant", model, content: [],
      stop_reason: null, stop_sequence: null,
      usage: { input_tokens: inputTokens, output_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
    };
    this.open = null; // {index, block, call?} of the content block being written
    this.calls = new Map(); // part index -> {name, json, index, block} (index/block once open)
    this.waiting = []; // calls that started while the open call's arguments were incomplete
    this.space = ""; // leading whitespace held until it turns out to start text (not a tool call)
    this.pinged = false;
    this.usage = null;
    this.outputChars = 0;
  }

  start() {
    const message = { ...this.message, content: [], usage: { ...this.message.usage, output_tokens: 1 } };
    return [{ type: "message_start", message }];
  }

  push(part) {
    switch (part.type) {
      case "text":
        return this.text(part.text);
      case "reasoning":
        return this.thinking ? this.reasoning(part.text) : [];
      case "tool_call":
        return this.startCall(part);
      case "tool_args":
        return this.callArgs(part);
      case "usage":
        this.usage = part.usage;
        return [];
      case "finish":
        return this.finish(part);
      default:
        return [];
    }
  }

  text(text) {
    if (!text) return [];
    this.outputChars += text.length;
    if (this.open?.block.type !== "text") {
      if (!text.trim()) {
        this.space += text;
        return [];
      }
      // A text block starts at its first line of text: the blank lines models put after their
      // reasoning or before a call are not part of the answer.
      text = (this.space + text).replace(/^[\r\n]+/, "");
      this.space = "";
    }
    const events = this.openWaiting(true);
    events.push(...this.ensureOpen("text"));
    this.open.block.text += text;
    events.push({ type: "content_block_delta", index: this.open.index, delta: { type: "text_delta", text } });
    return events;
  }

  reasoning(text) {
    if (!text) return [];
    this.outputChars += text.length;
    const events = this.openWaiting(true);
    events.push(...this.ensureOpen("thinking"));
    this.open.block.thinking += text;
    events.push({ type: "content_block_delta", index: this.open.index, delta: { type: "thinking_delta", thinking: text } });
    return events;
  }

  // Blocks go out one after another, as Anthropic sends them, and clients finish a tool's input
  // at its content_block_stop. So a call that starts while the open call's arguments are not yet
  // whole JSON (calls streamed interleaved) waits, its arguments buffered, until they are, or
  // until the answer moves on to text or its end.
  startCall(part) {
    this.space = "";
    const call = { name: part.name, json: "", index: null, block: null };
    this.calls.set(part.index, call);
    if (this.open?.call && !anthropicWholeJson(this.open.call.json)) {
      this.waiting.push(call);
      return [];
    }
    const events = this.closeOpen();
    events.push(...this.openCall(call));
    return events;
  }

  openCall(call) {
    // Anthropic's ids are toolu_...; the upstream's own id is not needed again, because the
    // client sends this one back with the tool_result.
    const block = { type: "tool_use", id: newId("toolu_"), name: call.name, input: {} };
    const events = this.openBlock(block);
    this.open.call = call;
    call.index = this.open.index;
    call.block = block;
    if (call.json) events.push(anthropicJsonDelta(call.index, call.json));
    return events;
  }

  callArgs(part) {
    const call = this.calls.get(part.index);
    if (!call || !part.text) return [];
    this.outputChars += part.text.length;
    call.json += part.text;
    if (!call.block) return this.openWaiting(false);
    // A call closed early (text came between its fragments) still gets them at its index, which
    // the SDKs accumulate by; the message keeps the whole input.
    if (this.open?.call !== call) call.block.input = anthropicToolInput(call.json);
    const events = [anthropicJsonDelta(call.index, part.text)];
    if (this.open?.call === call) events.push(...this.openWaiting(false));
    return events;
  }

  // Opens waiting calls in order: while the open call's arguments are whole, or all of them.
  openWaiting(all) {
    const events = [];
    while (this.waiting.length && (all || !this.open?.call || anthropicWholeJson(this.open.call.json))) {
      events.push(...this.closeOpen());
      events.push(...this.openCall(this.waiting.shift()));
    }
    return events;
  }

  ensureOpen(type) {
    if (this.open?.block.type === type) return [];
    const events = this.closeOpen();
    const block = type === "text" ? { type: "text", text: "" } : { type: "thinking", thinking: "", signature: "" };
    events.push(...this.openBlock(block));
    return events;
  }

  openBlock(block) {
    const index = this.message.content.length;
    this.message.content.push(block);
    this.open = { index, block };
    const events = [{ type: "content_block_start", index, content_block: structuredClone(block) }];
    if (!this.pinged) {
      this.pinged = true;
      events.push({ type: "ping" });
    }
    return events;
  }

  closeOpen() {
    const open = this.open;
    if (!open) return [];
    this.open = null;
    const events = [];
    if (open.block.type === "thinking") {
      open.block.signature = ANTHROPIC_THINKING_SIGNATURE;
      events.push({ type: "content_block_delta", index: open.index, delta: { type: "signature_delta", signature: ANTHROPIC_THINKING_SIGNATURE } });
    } else if (open.call) {
      open.block.input = anthropicToolInput(open.call.json);
    }
    events.push({ type: "content_block_stop", index: open.index });
    return events;
  }

  finish(part) {
    const events = this.openWaiting(true);
    events.push(...this.closeOpen());
    if (!this.pinged) {
      this.pinged = true;
      events.push({ type: "ping" });
    }
    let reason = ANTHROPIC_STOP_REASONS[part.reason] ?? "end_turn";
    if (part.reason === "stop" && part.stopSequence) {
      reason = "stop_sequence";
      this.message.stop_sequence = part.stopSequence;
    }
    this.message.stop_reason = reason;
    const usage = this.finalUsage();
    Object.assign(this.message.usage, usage);
    events.push({ type: "message_delta", delta: { stop_reason: reason, stop_sequence: this.message.stop_sequence }, usage });
    events.push({ type: "message_stop" });
    return events;
  }

  // The model's counts when Workers AI reports them; otherwise the same estimate as count_tokens
  // (and 4 characters a token for the output), so a client tracking its context still gets a
  // number. `chatUsage` is the same in OpenAI's names, for the log line and key limits.
  finalUsage() {
    const input = this.usage?.prompt_tokens || this.inputEstimate;
    const output = this.usage ? this.usage.completion_tokens : Math.ceil(this.outputChars / 4);
    this.chatUsage = { prompt_tokens: input, completion_tokens: output, total_tokens: input + output };
    return { input_tokens: input, output_tokens: output, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 };
  }
}

function anthropicJsonDelta(index, json) {
  return { type: "content_block_delta", index, delta: { type: "input_json_delta", partial_json: json } };
}

function anthropicWholeJson(text) {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

// A tool's input must be an object. Arguments that are not a JSON object (a model's broken
// output) are kept as text under `_raw` rather than dropped, so the client can see what came.
function anthropicToolInput(json) {
  if (!json) return {};
  try {
    const value = JSON.parse(json);
    if (value && typeof value === "object" && !Array.isArray(value)) return value;
  } catch {
    // fall through
  }
  return { _raw: json };
}

// Named SSE events, as Anthropic sends them. An error after the stream started is an `error`
// event (its envelope as the body), and the stream ends there.
export function anthropicEventStream(builder, first, events, ctx) {
  let pending = first;
  const encode = (list) => SSE_ENCODER.encode(list.map((e) => `event: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`).join(""));
  const failWith = (controller, error) => {
    ctx.log.stream_error = error.code ?? error.type;
    controller.enqueue(encode([anthropicErrorBody(error)]));
    controller.close();
    events.return();
  };
  return new ReadableStream({
    start(controller) {
      controller.enqueue(encode(builder.start()));
    },
    async pull(controller) {
      // A batch can produce no events (usage alone, held whitespace): keep reading, or the
      // stream would stall.
      for (;;) {
        const batch = pending ?? (await events.next());
        pending = null;
        if (batch.done) {
          failWith(controller, new ApiError(502, "The model's stream ended without an answer.", { code: "upstream_truncated" }));
          return;
        }
        const out = [];
        for (const part of batch.value) {
          if (part.type === "error") {
            if (out.length) controller.enqueue(encode(out));
            failWith(controller, part.error);
            return;
          }
          out.push(...builder.push(part));
          if (part.type === "finish") {
            ctx.log.usage = builder.chatUsage;
            controller.enqueue(encode(out));
            controller.close();
            events.return();
            return;
          }
        }
        if (out.length) {
          controller.enqueue(encode(out));
          return;
        }
      }
    },
    cancel() {
      events.return();
    },
  });
}

export function anthropicMessageResponse(builder, parts, ctx) {
  const error = parts.find((p) => p.type === "error");
  if (error) throw error.error;
  for (const part of parts) builder.push(part);
  ctx.log.usage = builder.chatUsage;
  const headers = { "request-id": ctx.requestId };
  if (!builder.usage) headers["x-flaregate-usage"] = "estimated";
  return jsonResponse(builder.message, 200, headers);
}

// --- errors -----------------------------------------------------------------------------------

// Anthropic's error types by status. Workers AI being out of capacity (3040) is Anthropic's 529
// overloaded_error, which its clients (Claude Code included) retry with backoff; every other
// status is kept as it is.
const ANTHROPIC_ERROR_TYPES = {
  400: "invalid_request_error", 401: "authentication_error", 402: "billing_error", 403: "permission_error",
  404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error", 504: "timeout_error",
  529: "overloaded_error",
};

function anthropicStatus(error) {
  return error.capacity ? 529 : error.status;
}

function anthropicErrorBody(error) {
  const status = anthropicStatus(error);
  const type = ANTHROPIC_ERROR_TYPES[status] ?? (status >= 500 ? "api_error" : "invalid_request_error");
  return { type: "error", error: { type, message: error.message } };
}

// The one place an ApiError becomes Anthropic's envelope: the router calls it for every error on
// an Anthropic route (auth and body-parse failures included), the stream encoder for an error
// event. Headers (retry-after) are kept.
export function anthropicErrorResponse(error, ctx) {
  const body = { ...anthropicErrorBody(error), request_id: ctx.requestId };
  return jsonResponse(body, anthropicStatus(error), { ...error.headers, "request-id": ctx.requestId });
}
