// Parts -> Responses API output: the response object, its output items (reasoning, message,
// function_call, custom_tool_call) and the official stream events with sequence numbers.
import { ApiError, newId } from "./http.js";
import { outputItemId } from "./item_store.js";
import { CustomInputStream, customToolInput, toolForCall } from "./responses_tools.js";
import { SSE_ENCODER, StreamEnd } from "./sse.js";

const REASONING_SUMMARIES = ["auto", "concise", "detailed"];

// What the request asked for that shapes the response: `tools` echoed as declared (hosted tools
// left out), `store`, the previous response, the reasoning summary.
export function responseSkeleton(body, model, maxTokens, { tools = [], store = false, previousResponseId = null } = {}) {
  const summary = REASONING_SUMMARIES.includes(body.reasoning?.summary) ? body.reasoning.summary : null;
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
    previous_response_id: previousResponseId,
    prompt_cache_key: typeof body.prompt_cache_key === "string" ? body.prompt_cache_key : null,
    reasoning: { effort: body.reasoning?.effort ?? null, summary },
    store,
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
// calls' argument fragments may interleave. Item ids carry the response id (item_store.js).
// Options: toolMap (responses_tools.js: which calls are custom or namespaced), sealer (async
// text -> encrypted_content, when the request includes reasoning.encrypted_content).
export class ResponseBuilder {
  constructor(response, { toolMap = null, sealer = null } = {}) {
    this.response = response;
    this.open = null; // {kind: "message"|"reasoning", item, index, text}
    this.calls = new Map(); // part index -> {item, index, custom (a CustomInputStream), args}
    this.usage = null;
    this.toolMap = toolMap;
    this.sealer = sealer;
    this.summary = response.reasoning.summary !== null;
  }

  itemId(prefix) {
    return outputItemId(prefix, this.response.id, this.response.output.length);
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
        // A custom tool's input is inside the arguments JSON: decoded from it as it arrives.
        if (call.custom) {
          call.args += part.text;
          const delta = call.custom.push(part.text);
          return delta ? [{ type: "response.custom_tool_call_input.delta", item_id: call.item.id, output_index: call.index, delta }] : [];
        }
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
    } else if (this.summary) {
      events.push({ type: "response.reasoning_summary_text.delta", item_id: itemId, output_index: index, summary_index: 0, delta: text });
    } else {
      events.push({ type: "response.reasoning_text.delta", item_id: itemId, output_index: index, content_index: 0, delta: text });
    }
    return events;
  }

  openItem(kind) {
    const index = this.response.output.length;
    const item = kind === "message"
      ? { id: this.itemId("msg_"), type: "message", role: "assistant", status: "in_progress", content: [] }
      : { id: this.itemId("rs_"), type: "reasoning", summary: [], content: [], status: "in_progress" };
    this.response.output.push(item);
    this.open = { kind, item, index, text: "" };
    const added = { type: "response.output_item.added", output_index: index, item: structuredClone(item) };
    if (kind === "reasoning" && this.summary) {
      return [added, { type: "response.reasoning_summary_part.added", item_id: item.id, output_index: index, summary_index: 0, part: { type: "summary_text", text: "" } }];
    }
    const part = kind === "message" ? { type: "output_text", text: "", annotations: [], logprobs: [] } : { type: "reasoning_text", text: "" };
    return [added, { type: "response.content_part.added", item_id: item.id, output_index: index, content_index: 0, part }];
  }

  closeOpen(status) {
    const open = this.open;
    if (!open) return [];
    this.open = null;
    const { item, index, text } = open;
    const events = [];
    let part;
    // The summary asked for is the model's reasoning itself: Workers AI models expose their
    // reasoning, and there is no separate summarizer.
    if (open.kind === "reasoning" && this.summary) {
      part = { type: "summary_text", text };
      item.summary = [part];
      item.status = status;
      events.push({ type: "response.reasoning_summary_text.done", item_id: item.id, output_index: index, summary_index: 0, text });
      events.push({ type: "response.reasoning_summary_part.done", item_id: item.id, output_index: index, summary_index: 0, part: structuredClone(part) });
      events.push({ type: "response.output_item.done", output_index: index, item: structuredClone(item) });
      return events;
    }
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
    const tool = this.toolMap ? toolForCall(this.toolMap, part.name) : null;
    const custom = tool?.kind === "custom" ? new CustomInputStream() : null;
    const name = tool ? tool.name : part.name;
    const item = custom
      ? { id: this.itemId("ctc_"), type: "custom_tool_call", status: "in_progress", call_id: part.id, name, input: "" }
      : { id: this.itemId("fc_"), type: "function_call", status: "in_progress", call_id: part.id, name, arguments: "" };
    if (tool?.namespace) item.namespace = tool.namespace;
    this.response.output.push(item);
    this.calls.set(part.index, { item, index, custom, args: "" });
    events.push({ type: "response.output_item.added", output_index: index, item: structuredClone(item) });
    return events;
  }

  // Fills in encrypted_content of finished reasoning items, in the builder's response and in
  // the events about to be sent (items and response snapshots), before they go out.
  async seal(events) {
    if (!this.sealer) return;
    const sealed = new Map();
    for (const item of this.response.output) {
      if (item.type !== "reasoning" || item.status === "in_progress" || item.encrypted_content !== undefined) continue;
      const text = [...(item.content ?? []), ...item.summary].map((p) => p.text).join("");
      item.encrypted_content = await this.sealer(text);
    }
    for (const item of this.response.output) if (item.encrypted_content !== undefined) sealed.set(item.id, item.encrypted_content);
    const fill = (item) => {
      if (item?.type === "reasoning" && sealed.has(item.id)) item.encrypted_content = sealed.get(item.id);
    };
    for (const event of events) {
      fill(event.item);
      if (event.response) event.response.output.forEach(fill);
    }
  }

  finish(reason) {
    const incomplete = reason === "length" || reason === "content_filter";
    const status = incomplete ? "incomplete" : "completed";
    const events = this.closeOpen(status);
    for (const { item, index, custom, args } of this.calls.values()) {
      item.status = status;
      if (custom) {
        item.input = customToolInput(args);
        const rest = custom.rest(item.input);
        if (rest) events.push({ type: "response.custom_tool_call_input.delta", item_id: item.id, output_index: index, delta: rest });
        events.push({ type: "response.custom_tool_call_input.done", item_id: item.id, output_index: index, input: item.input });
      } else {
        events.push({ type: "response.function_call_arguments.done", item_id: item.id, output_index: index, arguments: item.arguments });
      }
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
      input_tokens_details: { cached_tokens: u.prompt_tokens_details?.cached_tokens ?? 0, cache_write_tokens: 0 },
      output_tokens: u.completion_tokens,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: u.total_tokens || u.prompt_tokens + u.completion_tokens,
    };
  }

  chatUsage() {
    return this.usage;
  }
}

// Named SSE events (`event:` + `data:`), as OpenAI sends them, numbered in order. `finalize`
// (optional, async) sees each batch of events before it is sent: it seals reasoning and stores
// the response before the final event reaches a client that may reference it right away. The
// events a batch of parts causes are written together, one write per upstream read. The stream
// reports its end to the router through ctx.streamEnd.
export function responseEventStream(builder, first, events, ctx, finalize = null) {
  let sequence = 0;
  let pending = first;
  let ended = false;
  const end = (ctx.streamEnd = new StreamEnd());
  // The event's own fields, then its sequence number: as {...event, sequence_number} would be.
  const format = (event) => `event: ${event.type}\ndata: ${JSON.stringify(event).slice(0, -1)},"sequence_number":${sequence++}}\n\n`;
  const write = (controller, list) => {
    let out = "";
    for (const event of list) out += format(event);
    if (out) controller.enqueue(SSE_ENCODER.encode(out));
  };
  return new ReadableStream({
    start(controller) {
      write(controller, builder.start());
    },
    async pull(controller) {
      try {
        await this.pump(controller);
      } catch (err) {
        end.report({ stream_error: "stream_failed" });
        throw err;
      }
    },
    async pump(controller) {
      // A batch can produce no events (usage alone): keep reading, or the stream would stall.
      for (;;) {
        const batch = pending ?? (await events.next());
        pending = null;
        if (batch.done) {
          if (!ended) {
            const error = new ApiError(502, "The model's stream ended without an answer.", { code: "upstream_truncated" });
            write(controller, builder.fail(error));
          }
          controller.close();
          end.report();
          return;
        }
        let out = "";
        for (const part of batch.value) {
          if (part.type === "error") {
            ctx.log.stream_error = part.error.code;
            const failed = builder.fail(part.error);
            if (finalize) await finalize(failed);
            for (const event of failed) out += format(event);
            controller.enqueue(SSE_ENCODER.encode(out));
            ended = true;
            controller.close();
            events.return();
            end.report();
            return;
          }
          if (part.type === "usage") ctx.log.usage = part.usage;
          const caused = builder.push(part);
          if (finalize && caused.length) await finalize(caused);
          for (const event of caused) out += format(event);
          if (part.type === "finish") ended = true;
        }
        if (out) {
          controller.enqueue(SSE_ENCODER.encode(out));
          return;
        }
      }
    },
    cancel() {
      events.return();
      end.report({ stream_error: "client_cancelled" });
    },
  });
}
