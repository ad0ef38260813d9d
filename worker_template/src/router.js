// The Worker's entry point: route -> CORS preflight -> auth -> handler, one JSON log line per
// request, an x-request-id on every response, and one place where unexpected errors become a
// 500 in OpenAI's envelope instead of an unhandled exception.
const ROUTES = [
  { path: "/health", methods: { GET: handleHealth }, public: true },
  { path: "/v1/chat/completions", methods: { POST: handleChatCompletions } },
];

function findRoute(pathname) {
  let path = pathname.replace(/\/+$/, "") || "/";
  // Clients configured with a base URL without /v1 call /chat/completions.
  if (!path.startsWith("/v1/") && path !== "/health") path = `/v1${path}`;
  for (const route of ROUTES) {
    if (route.path === path) return { route, params: {} };
    if (route.prefix && path.startsWith(`${route.path}/`)) return { route, params: { rest: path.slice(route.path.length + 1) } };
  }
  return null;
}

async function handleHealth() {
  return jsonResponse({ status: "ok", version: VERSION });
}

async function handleRequest(request, env, ctx) {
  const url = new URL(request.url);
  const found = findRoute(url.pathname);
  ctx.log.route = found ? found.route.path : url.pathname;
  if (request.method === "OPTIONS") return preflightResponse(request, ctx.settings);
  if (!found) {
    throw new ApiError(404, `Unknown request URL: ${request.method} ${url.pathname}. See GET /v1/models and the OpenAI API reference for the supported routes.`, { code: "unknown_url" });
  }
  const handler = found.route.methods[request.method];
  if (!handler) {
    const allowed = Object.keys(found.route.methods).join(", ");
    throw new ApiError(405, `Method ${request.method} is not allowed for ${url.pathname}; use ${allowed}.`, {
      code: "method_not_allowed", headers: { allow: allowed },
    });
  }
  ctx.params = found.params;
  if (!found.route.public) {
    const key = await authenticate(request, env, ctx.settings);
    ctx.keyId = key.id;
    ctx.log.key_id = key.id;
  }
  return handler(ctx);
}

export default {
  async fetch(request, env, executionCtx) {
    const started = Date.now();
    const settings = settingsFor(env);
    const ctx = {
      request, env, executionCtx, settings,
      requestId: newId("req_"),
      log: { stream: false },
      keyId: null,
    };
    let response;
    try {
      response = await handleRequest(request, env, ctx);
    } catch (err) {
      if (!(err instanceof ApiError)) {
        console.error(JSON.stringify({ event: "unhandled_error", request_id: ctx.requestId, error: String(err?.stack ?? err) }));
        err = new ApiError(500, "The gateway hit an internal error. Retry; if it persists, report it with the x-request-id.", { code: "internal_error" });
      }
      response = err.toResponse();
    }
    response = withCommonHeaders(response, request, ctx);
    console.log(JSON.stringify({
      request_id: ctx.requestId, route: ctx.log.route, method: request.method,
      model_requested: ctx.log.model_requested ?? null, model: ctx.log.model ?? null,
      fallback: ctx.log.fallback ?? null, key_id: ctx.log.key_id ?? null, status: response.status,
      stream: ctx.log.stream, duration_ms: Date.now() - started,
      prompt_tokens: ctx.log.usage?.prompt_tokens ?? null, completion_tokens: ctx.log.usage?.completion_tokens ?? null,
    }));
    return response;
  },
};

function withCommonHeaders(response, request, ctx) {
  const headers = new Headers(response.headers);
  headers.set("x-request-id", ctx.requestId);
  for (const [name, value] of Object.entries(corsHeaders(request, ctx.settings))) headers.set(name, value);
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}
