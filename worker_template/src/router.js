// The Worker's entry point: route -> CORS preflight -> auth -> handler, one JSON log line per
// request, an x-request-id on every response, and one place where unexpected errors become a
// 500 in OpenAI's envelope (Anthropic's on its routes) instead of an unhandled exception.
import { handleCountTokens, handleMessages } from "./anthropic.js";
import { anthropicErrorResponse } from "./anthropic_encode.js";
import { authenticate } from "./auth.js";
import { VERSION } from "./build.js";
import { handleChatCompletions } from "./chat.js";
import { corsHeaders, preflightResponse } from "./cors.js";
import { handleEmbeddings } from "./embeddings.js";
import { forLog } from "./field_checks.js";
import { ApiError, jsonResponse, newId } from "./http.js";
import { handleImageGenerations } from "./images.js";
import { limitedStream, reportTokens, setLimitHeaders } from "./limits.js";
import { handleListModels, handleRetrieveModel } from "./models.js";
import { handleDeleteResponse, handleResponses, handleRetrieveResponse } from "./responses.js";
import { settingsFor } from "./settings.js";

export { KeyLimiter } from "./limits.js";

const ROUTES = [
  { path: "/health", methods: { GET: handleHealth }, public: true },
  { path: "/v1/chat/completions", methods: { POST: handleChatCompletions } },
  { path: "/v1/responses", methods: { POST: handleResponses } },
  { path: "/v1/responses", prefix: true, methods: { GET: handleRetrieveResponse, DELETE: handleDeleteResponse } },
  { path: "/v1/embeddings", methods: { POST: handleEmbeddings } },
  { path: "/v1/images/generations", methods: { POST: handleImageGenerations } },
  // Anthropic's Messages API (Claude Code calls /v1/messages?beta=true: the query is ignored).
  // `errors` renders every error on the route, auth and body parsing included, in its envelope.
  { path: "/v1/messages", methods: { POST: handleMessages }, errors: anthropicErrorResponse },
  { path: "/v1/messages/count_tokens", methods: { POST: handleCountTokens }, errors: anthropicErrorResponse },
  { path: "/v1/models", methods: { GET: handleListModels } },
  // /v1/models/{id}: ids contain slashes (@cf/meta/...), so the rest of the path is the id.
  { path: "/v1/models", prefix: true, methods: { GET: handleRetrieveModel } },
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

// The request's path. A plain one (letters, digits, "/", "_", "-": every route) is read straight
// from the URL string; anything a URL parser would rewrite (dot segments, escapes) is parsed.
const PLAIN_PATH = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*(\/[A-Za-z0-9_/-]*)(?:[?#]|$)/i;

function requestPath(url) {
  return PLAIN_PATH.exec(url)?.[1] ?? new URL(url).pathname;
}

async function handleRequest(request, env, ctx) {
  const pathname = requestPath(request.url);
  const found = findRoute(pathname);
  ctx.log.route = found ? found.route.path : forLog(pathname);
  if (found?.route.errors) ctx.renderError = found.route.errors;
  if (request.method === "OPTIONS") return preflightResponse(request, ctx.settings);
  if (!found) {
    throw new ApiError(404, `Unknown request URL: ${request.method} ${forLog(pathname)}. See GET /v1/models and the OpenAI API reference for the supported routes.`, { code: "unknown_url" });
  }
  // HEAD is GET without the body, wherever GET is answered (uptime checks probe /health so).
  const head = request.method === "HEAD";
  const handler = found.route.methods[head ? "GET" : request.method];
  if (!handler) {
    const methods = Object.keys(found.route.methods);
    const allowed = (methods.includes("GET") ? [...methods, "HEAD"] : methods).join(", ");
    throw new ApiError(405, `Method ${request.method} is not allowed for ${pathname}; use ${allowed}.`, {
      code: "method_not_allowed", headers: { allow: allowed },
    });
  }
  ctx.params = found.params;
  if (!found.route.public) {
    const key = await authenticate(request, env, ctx.settings);
    ctx.key = key;
    ctx.keyId = key.id;
    ctx.log.key_id = key.id;
  }
  const response = await handler(ctx);
  return head ? new Response(null, { status: response.status, headers: response.headers }) : response;
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
      key: null,
      limits: null, // set by limits.js when the key's limiter was asked: headers, token report
      renderError: null, // the route's own error renderer, if it has one
    };
    let response;
    let errorCode = null;
    try {
      response = await handleRequest(request, env, ctx);
    } catch (err) {
      if (!(err instanceof ApiError)) {
        console.error(JSON.stringify({ event: "unhandled_error", request_id: ctx.requestId, error: String(err?.stack ?? err) }));
        err = new ApiError(500, "The gateway hit an internal error. Retry; if it persists, report it with the x-request-id.", { code: "internal_error" });
      }
      errorCode = err.code ?? err.type;
      response = ctx.renderError ? ctx.renderError(err, ctx) : err.toResponse();
    }
    response = withCommonHeaders(response, request, ctx);
    const emit = (extra) => {
      // The end of the request, a stream's included: its tokens are known now.
      if (ctx.limits) reportTokens(ctx, response.status);
      console.log(JSON.stringify(extra ? { ...logLine(ctx, request, response, errorCode, started), ...extra } : logLine(ctx, request, response, errorCode, started)));
    };
    if (ctx.log.stream && response.status === 200 && response.body) {
      // A stream's tokens are known only at its end: the line is written then. The encoders'
      // event streams say when they end (ctx.streamEnd); any other body is watched. The request
      // is kept alive until the line is written: without waitUntil, a client that hangs up ends
      // the request before the stream's cancel can report it, and its line would be lost.
      const firstByteMs = Date.now() - started;
      let written;
      executionCtx?.waitUntil?.(new Promise((resolve) => { written = resolve; }));
      const onEnd = (extra) => {
        try {
          emit({ first_byte_ms: firstByteMs, ...extra });
        } finally {
          written();
        }
      };
      if (ctx.streamEnd && !ctx.limits) {
        ctx.streamEnd.listen(onEnd);
        return response;
      }
      const source = ctx.limits ? limitedStream(response.body, ctx) : response.body;
      return new Response(withEndHook(source, onEnd), { status: response.status, headers: response.headers });
    }
    emit();
    return response;
  },
};

// Passes a body through and calls `onEnd` once: when it is finished, fails, or the client
// goes away.
function withEndHook(body, onEnd) {
  const reader = body.getReader();
  let ended = false;
  const end = (extra) => {
    if (ended) return;
    ended = true;
    onEnd(extra);
  };
  return new ReadableStream({
    async pull(controller) {
      let read;
      try {
        read = await reader.read();
      } catch (err) {
        end({ stream_error: "stream_failed" });
        controller.error(err);
        return;
      }
      if (read.done) {
        end({});
        controller.close();
        return;
      }
      controller.enqueue(read.value);
    },
    cancel(reason) {
      end({ stream_error: "client_cancelled" });
      return reader.cancel(reason);
    },
  });
}

// The one structured line per request. Names and numbers only: never a key, a prompt or a
// completion. A stream's line is written when it ends: duration_ms is the whole stream,
// first_byte_ms the time to its first byte, stream_error how a stream that had started ended badly.
function logLine(ctx, request, response, errorCode, started) {
  const log = ctx.log;
  const line = {
    request_id: ctx.requestId, route: log.route, method: request.method,
    model_requested: forLog(log.model_requested), model: forLog(log.model),
    fallback: log.fallback ?? null, key_id: log.key_id ?? null, status: response.status,
    stream: log.stream, duration_ms: Date.now() - started,
    prompt_tokens: log.usage?.prompt_tokens ?? null, completion_tokens: log.usage?.completion_tokens ?? null,
  };
  if (errorCode) line.error_code = errorCode;
  if (log.stream_error) line.stream_error = log.stream_error;
  if (log.inputs !== undefined) line.inputs = log.inputs;
  if (log.images !== undefined) line.images = log.images;
  return line;
}

function withCommonHeaders(response, request, ctx) {
  const cors = corsHeaders(request, ctx.settings);
  let headers = response.headers;
  try {
    setCommonHeaders(headers, ctx, cors);
    return response;
  } catch {
    // A response whose headers are immutable (one that fetch() returned): copy it.
    headers = new Headers(headers);
    setCommonHeaders(headers, ctx, cors);
    return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
  }
}

function setCommonHeaders(headers, ctx, cors) {
  headers.set("x-request-id", ctx.requestId);
  if (ctx.log.served_model) headers.set("x-flaregate-model", ctx.log.served_model);
  if (ctx.log.retired) {
    const { id, date, replacement } = ctx.log.retired;
    headers.set("x-flaregate-model-retired", `${id} was retired on ${date}; served by ${replacement}`);
  }
  for (const name in cors) headers.set(name, cors[name]);
  if (ctx.limits) setLimitHeaders(headers, ctx.limits);
}
