// The benchmark's floor: a Worker that hands the fake binding's result back untouched (no auth,
// no validation, no normalization). scripts/bench compares flaregate against it in the same run.
export default {
  async fetch(request, env) {
    const body = await request.json();
    const inputs = { messages: body.messages, stream: body.stream === true };
    const result = await env.AI.run(body.model, inputs);
    if (result instanceof ReadableStream) {
      return new Response(result, { headers: { "content-type": "text/event-stream" } });
    }
    return Response.json(result);
  },
};
