// Parts -> Responses API output: the response object, its output items (reasoning, message,
// function_call) and the official stream events with sequence numbers.
import { ApiError, newId } from "./http.js";
import { SSE_ENCODER } from "./sse.js";

export function responseSkeleton(body, model, maxTokens) {
  const tools = Array.isArray(body.tools)
    ? body.tools.map((t) => ({ type: "function", name: t.name, description: t.description ?? null, parameters: t.parameters ?? null, strict: t.strict ?? true }))
    : [];
  return {
    id: newId("resp_"),
    object: "response",
    created_at: Math.floor(Date.now() / 1000),
    status: "in_progress",
    background: false,
    error: null,
    incomplete_details: null,
    instructions: body.instructions ?? null,
    max_output_tokens: body.max_output_tokens ?? null,
    model: model.requested,
    output: [],
    parallel_tool_calls: body.parallel_tool_calls ?? true,
    previous_response_id: null,
    reasoning: { effort: body.reasoning?.effort ?? null, summary: null },
    store: false,
    temperature: body.temperature ?? null,
    text: { format: body.text?.format ?? { type: "text" } },
    tool_choice: body.tool_choice ?? "auto",
    tools,
    top_p: body.top_p ?? null,
    truncation: "disabled",
    usage: null,
    user: body.user ?? null,
    metadata: body.metadata ?? {},
  };
}

// Turns parts into Responses output items, returning the stream events each part causes. The
// non-streamed answer is built by the same code, so both always agree. At most one text or
// reasoning item is open at a time; function calls stay open until the end, because parallel
// calls' argument fragments may interleave.
export class ResponseBuilder {
  constructor(response) {
    this.response = response;
    this.open = null; // {kind: "message"|"reasoning", item, index, text}
    this.calls = new Map(); // part index -> {item, index}
    this.usage = null;
  }

  snapshot() {
    return structuredClone(this.response);
  }

  start() {
    return [
      { type: "response.created", response: this.snapshot() },
      { type: "response.in_progress", response: this.snapshot() },
    ];
  }

  push(part) {
    switch (part.type) {
      case "text":
        return this.appendText("message", part.text);
      case "reasoning":
        return this.appendText("reasoning", part.text);
      case "tool_call":
        return this.startCall(part);
      case "tool_args": {
        const call = this.calls.get(part.index);
        if (!call || !part.text) return [];
        call.item.arguments += part.text;
        return [{ type: "response.function_call_arguments.delta", item_id: call.item.id, output_index: call.index, delta: part.text }];
      }
      case "usage":
        this.usage = part.usage;
        return [];
      case "finish":
        return this.finish(part.reason);
      default:
        return [];
    }
  }

  appendText(kind, text) {
    if (!text) return [];
    const events = [];
    if (this.open?.kind !== kind) {
      events.push(...this.closeOpen("completed"));
      events.push(...this.openItem(kind));
    }
    this.open.text += text;
    const index = this.open.index;
    const itemId = this.open.item.id;
    if (kind === "message") {
      events.push({ type: "response.output_text.delta", item_id: itemId, output_index: index, content_index: 0, delta: text, logprobs: [] });
    } else {
      events.push({ type: "response.reasoning_text.delta", item_id: itemId, output_index: index, content_index: 0, delta: text });
    }
    return events;
  }

  openItem(kind) {
    const index = this.response.output.length;
    const item = kind === "message"
      ? { id: newId("msg_"), type: "message", role: "assistant", status: "in_progress", content: [] }
      : { id: newId("rs_"), type: "reasoning", summary: [], content: [], status: "in_progress" };
    this.response.output.push(item);
    this.open = { kind, item, index, text: "" };
    const part = kind === "message" ? { type: "output_text", text: "", annotations: [], logprobs: [] } : { type: "reasoning_text", text: "" };
    return [
      { type: "response.output_item.added", output_index: index, item: structuredClone(item) },
      { type: "response.content_part.added", item_id: item.id, output_index: index, content_index: 0, part },
    ];
  }

  closeOpen(status) {
    const open = this.open;
    if (!open) return [];
    this.open = null;
    const { item, index, text } = open;
    const events = [];
    let part;
    if (open.kind === "message") {
      part = { type: "output_text", text, annotations: [], logprobs: [] };
      events.push({ type: "response.output_text.done", item_id: item.id, output_index: index, content_index: 0, text, logprobs: [] });
    } else {
      part = { type: "reasoning_text", text };
      events.push({ type: "response.reasoning_text.done", item_id: item.id, output_index: index, content_index: 0, text });
    }
    item.content = [part];
    item.status = status;
    events.push({ type: "response.content_part.done", item_id: item.id, output_index: index, content_index: 0, part: structuredClone(part) });
    events.push({ type: "response.output_item.done", output_index: index, item: structuredClone(item) });
    return events;
  }

  startCall(part) {
    const events = this.closeOpen("completed");
    const index = this.response.output.length;
    const item = { id: newId("fc_"), type: "function_call", status: "in_progress", call_id: part.id, name: part.name, arguments: "" };
    this.response.output.push(item);
    this.calls.set(part.index, { item, index });
    events.push({ type: "response.output_item.added", output_index: index, item: structuredClone(item) });
    return events;
  }

  finish(reason) {
    const incomplete = reason === "length" || reason === "content_filter";
    const status = incomplete ? "incomplete" : "completed";
    const events = this.closeOpen(status);
    for (const { item, index } of this.calls.values()) {
      item.status = status;
      events.push({ type: "response.function_call_arguments.done", item_id: item.id, output_index: index, arguments: item.arguments });
      events.push({ type: "response.output_item.done", output_index: index, item: structuredClone(item) });
    }
    this.calls.clear();
    this.response.status = status;
    this.response.completed_at = Math.floor(Date.now() / 1000);
    if (incomplete) this.response.incomplete_details = { reason: reason === "length" ? "max_output_tokens" : "content_filter" };
    this.response.usage = this.responseUsage();
    events.push({ type: incomplete ? "response.incomplete" : "response.completed", response: this.snapshot() });
    return events;
  }

  // A failure mid-stream: OpenAI's `error` event, then response.failed with what was produced.
  fail(error) {
    const events = this.closeOpen("incomplete");
    for (const { item, index } of this.calls.values()) {
      item.status = "incomplete";
      events.push({ type: "response.output_item.done", output_index: index, item: structuredClone(item) });
    }
    this.calls.clear();
    const code = error.status === 429 ? "rate_limit_exceeded" : "server_error";
    this.response.status = "failed";
    this.response.error = { code, message: error.message };
    this.response.usage = this.responseUsage();
    events.push({ type: "error", code: error.code ?? code, message: error.message, param: error.param ?? null });
    events.push({ type: "response.failed", response: this.snapshot() });
    return events;
  }

  responseUsage() {
    const u = this.usage ?? { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 };
    return {
      input_tokens: u.prompt_tokens,
      input_tokens_details: { cached_tokens: 0, cache_write_tokens: 0 },
      output_tokens: u.completion_tokens,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: u.total_tokens || u.prompt_tokens + u.completion_tokens,
    };
  }

  chatUsage() {
    return this.usage;
  }
}

// Named SSE events (`event:` + `data:`), as OpenAI sends them, numbered in order.
export function responseEventStream(builder, first, events, ctx) {
  let sequence = 0;
  let pending = first;
  let ended = false;
  const encode = (event) => {
    const payload = { ...event, sequence_number: sequence++ };
    return SSE_ENCODER.encode(`event: ${event.type}\ndata: ${JSON.stringify(payload)}\n\n`);
  };
  return new ReadableStream({
    start(controller) {
      for (const event of builder.start()) controller.enqueue(encode(event));
    },
    async pull(controller) {
      // A batch can produce no events (usage alone): keep reading, or the stream would stall.
      for (let written = 0; written === 0; ) {
        const batch = pending ?? (await events.next());
        pending = null;
        if (batch.done) {
          if (!ended) {
            const error = new ApiError(502, "The model's stream ended without an answer.", { code: "upstream_truncated" });
            for (const event of builder.fail(error)) controller.enqueue(encode(event));
          }
          controller.close();
          return;
        }
        for (const part of batch.value) {
          if (part.type === "error") {
            ctx.log.stream_error = part.error.code;
            for (const event of builder.fail(part.error)) controller.enqueue(encode(event));
            ended = true;
            controller.close();
            events.return();
            return;
          }
          for (const event of builder.push(part)) {
            controller.enqueue(encode(event));
            written++;
          }
          if (part.type === "usage") ctx.log.usage = part.usage;
          if (part.type === "finish") ended = true;
        }
      }
    },
    cancel() {
      events.return();
    },
  });
}
