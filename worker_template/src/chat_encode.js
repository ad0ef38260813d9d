// Parts -> OpenAI chat completions: one chat.completion object, or a stream of
// chat.completion.chunk events.
import { SSE_ENCODER, StreamEnd } from "./sse.js";

export function assembleCompletion(meta, parts, ctx) {
  let content = "";
  let reasoning = "";
  const calls = [];
  let finish = "stop";
  let usage = null;
  for (const part of parts) {
    if (part.type === "error") throw part.error;
    if (part.type === "text") content += part.text;
    else if (part.type === "reasoning") reasoning += part.text;
    else if (part.type === "tool_call") calls[part.index] = { id: part.id, type: "function", function: { name: part.name, arguments: "" } };
    else if (part.type === "tool_args") calls[part.index].function.arguments += part.text;
    else if (part.type === "finish") finish = part.reason;
    else if (part.type === "usage") usage = part.usage;
  }
  const message = { role: "assistant", content: calls.length && !content.trim() ? null : content };
  if (reasoning) message.reasoning_content = reasoning;
  if (calls.length) message.tool_calls = calls.filter(Boolean);
  message.refusal = null;
  ctx.log.usage = usage;
  const completion = {
    id: meta.id, object: "chat.completion", created: meta.created, model: meta.model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: finish }],
  };
  completion.usage = usage ?? { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 };
  return completion;
}

// chat.completion.chunk events, one per part as it arrives: the role first, then text,
// reasoning and tool-call deltas, a chunk with finish_reason, the usage chunk if asked, [DONE].
// An error mid-stream becomes {"error": {...}} (OpenAI clients raise it) and ends the stream.
// The chunk envelope is serialized once; a text or reasoning part only adds its JSON string, and
// each upstream read becomes one write, so the per-token CPU stays small. The stream reports its
// end to the router through ctx.streamEnd.
export function chatChunkStream(meta, first, events, includeUsage, ctx) {
  const envelope = JSON.stringify({ id: meta.id, object: "chat.completion.chunk", created: meta.created, model: meta.model }).slice(0, -1);
  const head = `data: ${envelope},"choices":[{"index":0,"delta":`;
  const tail = ',"logprobs":null,"finish_reason":null}]}\n\n';
  const contentHead = `${head}{"content":`;
  const reasoningHead = `${head}{"reasoning_content":`;
  const deltaTail = `}${tail}`;
  const chunk = (delta, finish = null) => `${head}${JSON.stringify(delta)},"logprobs":null,"finish_reason":${JSON.stringify(finish)}}]}\n\n`;
  const end = (ctx.streamEnd = new StreamEnd());
  let pending = first;
  let usage = null;
  return new ReadableStream({
    start(controller) {
      controller.enqueue(SSE_ENCODER.encode(chunk({ role: "assistant", content: "" })));
    },
    async pull(controller) {
      // A batch can produce no bytes (usage alone): keep reading, or the stream would stall.
      try {
        while (!(await this.pump(controller)));
      } catch (err) {
        end.report({ stream_error: "stream_failed" });
        throw err;
      }
    },
    async pump(controller) {
      const batch = pending ?? (await events.next());
      pending = null;
      if (batch.done) {
        controller.close();
        end.report();
        return true;
      }
      let out = "";
      for (const part of batch.value) {
        switch (part.type) {
          case "text":
            out += contentHead + JSON.stringify(part.text) + deltaTail;
            break;
          case "reasoning":
            out += reasoningHead + JSON.stringify(part.text) + deltaTail;
            break;
          case "tool_call":
            out += chunk({ tool_calls: [{ index: part.index, id: part.id, type: "function", function: { name: part.name, arguments: "" } }] });
            break;
          case "tool_args":
            out += chunk({ tool_calls: [{ index: part.index, function: { arguments: part.text } }] });
            break;
          case "usage":
            usage = part.usage;
            ctx.log.usage = usage;
            break;
          case "finish":
            out += chunk({}, part.reason);
            if (includeUsage) {
              out += `data: ${envelope},"choices":[],"usage":${JSON.stringify(usage ?? { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 })}}\n\n`;
            }
            out += "data: [DONE]\n\n";
            break;
          case "error":
            ctx.log.stream_error = part.error.code;
            controller.enqueue(SSE_ENCODER.encode(`${out}data: ${JSON.stringify(part.error.body())}\n\ndata: [DONE]\n\n`));
            controller.close();
            events.return();
            end.report();
            return true;
          default:
            break;
        }
      }
      if (out) controller.enqueue(SSE_ENCODER.encode(out));
      return out !== "";
    },
    cancel() {
      events.return();
      end.report({ stream_error: "client_cancelled" });
    },
  });
}
