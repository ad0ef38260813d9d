// The benchmark's floor: a Worker that hands the fake binding's result back untouched (no auth,
// no validation, no normalization). scripts/bench compares flaregate against it in the same run.
// With FLOOR_LOG_LINE set (scripts/bench's log-line part) it also writes one log line per request,
// with the fields of flaregate's: what that line alone costs in the same harness.
export default {
  async fetch(request, env) {
    const body = await request.json();
    const inputs = { messages: body.messages, stream: body.stream === true };
    const result = await env.AI.run(body.model, inputs);
    if (env.FLOOR_LOG_LINE) {
      console.log(JSON.stringify({
        request_id: `req_${crypto.randomUUID().slice(0, 24)}`, route: "/v1/chat/completions", method: request.method,
        model_requested: body.model, model: body.model, fallback: null, key_id: "floor", status: 200,
        stream: inputs.stream, duration_ms: 0, prompt_tokens: result?.usage?.prompt_tokens ?? null,
        completion_tokens: result?.usage?.completion_tokens ?? null,
      }));
    }
    if (result instanceof ReadableStream) {
      return new Response(result, { headers: { "content-type": "text/event-stream" } });
    }
    return Response.json(result);
  },
};
