// Your own OpenAI-compatible server (vLLM, llama.cpp server, Ollama behind TLS) as a second
// backend: a client asks for model "origin/<name>" and the request goes to
// <origin>/v1/chat/completions with the model renamed to <name>. The client's API key is never
// forwarded; the origin gets the gateway's shared secret (the ORIGIN_SECRET Worker secret) both as
// X-Flaregate-Origin-Secret and as a bearer token, so servers with a built-in key check
// (`vllm serve --api-key`, `llama-server --api-key`) need no proxy in front. Answers, streamed or
// not, pass through unchanged; a dead, slow or failing origin becomes an OpenAI error (502/504).
import { DeadlineExceeded, Watchdog, withDeadline } from "./deadline.js";
import { ApiError } from "./http.js";
import { admitModelCall } from "./policy.js";
import { SSE_ENCODER, SSE_HEADERS, sseData } from "./sse.js";

const ORIGIN_PREFIX = "origin/";
const ORIGIN_SECRET_HEADER = "x-flaregate-origin-secret";

// ORIGIN_URL (a Worker var) overrides the rendered URL, like the overrides in settings.js.
function originSettings(ctx) {
  const url = (typeof ctx.env?.ORIGIN_URL === "string" && ctx.env.ORIGIN_URL) || ctx.settings.origin?.url;
  return url ? { url: url.replace(/\/+$/, ""), models: ctx.settings.origin?.models ?? [] } : null;
}

// The hook at the top of handleChatCompletions: a Response for origin models, null for the rest.
export async function routeToOrigin(ctx, body) {
  if (typeof body.model !== "string" || !body.model.startsWith(ORIGIN_PREFIX)) return null;
  const origin = originSettings(ctx);
  if (!origin) return null; // no origin configured: resolveModel answers 404 model_not_found
  const name = body.model.slice(ORIGIN_PREFIX.length);
  if (!name || (origin.models.length && !origin.models.includes(name))) {
    const known = origin.models.map((m) => ORIGIN_PREFIX + m).join(", ");
    throw new ApiError(404, `The model '${body.model}' does not exist on this gateway's origin server. Origin models: ${known}.`, {
      param: "model", code: "model_not_found",
    });
  }
  if (typeof ctx.env.ORIGIN_SECRET !== "string" || !ctx.env.ORIGIN_SECRET) {
    throw new ApiError(500, "This gateway has an origin server but no ORIGIN_SECRET to authenticate to it. Redeploy with `flaregate deploy`.", {
      code: "origin_not_configured",
    });
  }
  ctx.log.model = body.model;
  ctx.log.stream = body.stream === true;
  await admitModelCall(ctx, body.model);
  return forwardToOrigin(ctx, origin.url, { ...body, model: name });
}

async function forwardToOrigin(ctx, baseUrl, body) {
  const secret = ctx.env.ORIGIN_SECRET;
  const stream = body.stream === true;
  const timeouts = ctx.settings.timeouts;
  const abort = new AbortController();
  const started = Date.now();
  const request = fetch(`${baseUrl}/v1/chat/completions`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: stream ? "text/event-stream" : "application/json",
      authorization: `Bearer ${secret}`,
      [ORIGIN_SECRET_HEADER]: secret,
      "x-request-id": ctx.requestId,
    },
    body: JSON.stringify(body),
    signal: abort.signal,
  });
  try {
    const response = await withDeadline(request, stream ? timeouts.firstTokenMs : timeouts.requestMs, "the origin's answer");
    if (!response.ok) throw await originStatusError(response);
    if (stream) return new Response(originStream(ctx, response.body, abort), { headers: SSE_HEADERS });
    const left = Math.max(1, timeouts.requestMs - (Date.now() - started));
    const text = await withDeadline(response.text(), left, "the origin's answer");
    return new Response(text, { headers: { "content-type": response.headers.get("content-type") ?? "application/json" } });
  } catch (err) {
    abort.abort();
    throw originFailure(err);
  }
}

// The origin's SSE bytes, unchanged. The first read waits up to firstTokenMs, later ones idleMs
// (the same Watchdog as the Workers AI streams); on expiry or a dropped connection the stream
// ends with an OpenAI error event and [DONE].
function originStream(ctx, upstream, abort) {
  const reader = upstream.getReader();
  const timeouts = ctx.settings.timeouts;
  const watchdog = new Watchdog(() => abort.abort());
  let waitMs = timeouts.firstTokenMs;
  return new ReadableStream({
    async pull(controller) {
      let read;
      let failure = null;
      watchdog.arm(waitMs, "the origin's next token");
      try {
        read = await reader.read();
      } catch (err) {
        failure = err;
      } finally {
        watchdog.pause();
      }
      failure = watchdog.error ?? failure;
      if (failure) {
        watchdog.stop();
        abort.abort();
        const error = originFailure(failure);
        ctx.log.stream_error = error.code;
        // A leading blank line ends any event the origin left half-written.
        controller.enqueue(SSE_ENCODER.encode("\n"));
        controller.enqueue(sseData(error.body()));
        controller.enqueue(sseData("[DONE]"));
        controller.close();
        return;
      }
      if (read.done) {
        watchdog.stop();
        controller.close();
        return;
      }
      waitMs = timeouts.idleMs;
      controller.enqueue(read.value);
    },
    cancel() {
      watchdog.stop();
      abort.abort();
    },
  });
}

function originFailure(err) {
  if (err instanceof ApiError) return err;
  if (err instanceof DeadlineExceeded) {
    return new ApiError(504, `The origin server did not answer in time: ${err.message}. Retry, or raise the gateway's timeouts.`, {
      code: "timeout",
    });
  }
  console.error(JSON.stringify({ event: "origin_unreachable", error: String(err?.message ?? err) }));
  return new ApiError(502, "The gateway could not reach its origin server (connection failed). Retry; if it persists, the origin is down.", {
    code: "origin_unreachable",
  });
}

// Non-2xx from the origin. The client's own mistakes (400, 404, 413, 422, 429) keep their status
// and the origin's message; everything else is the gateway's problem and becomes a 502.
async function originStatusError(response) {
  const status = response.status;
  const text = await withDeadline(response.text(), 5000, "the origin's error body").catch(() => "");
  let detail = text.slice(0, 500);
  try {
    const parsed = JSON.parse(text);
    detail = String(parsed?.error?.message ?? parsed?.message ?? parsed?.detail ?? detail).slice(0, 500);
  } catch {}
  console.error(JSON.stringify({ event: "origin_error", status, detail }));
  if (status === 401 || status === 403) {
    return new ApiError(502, `The origin server refused the gateway's shared secret (HTTP ${status}). Configure it with the secret from \`flaregate origin-cert\`.`, {
      code: "origin_auth_failed",
    });
  }
  // 520-530: Cloudflare's own pages for an origin that is down, refuses TLS or times out.
  if (status >= 520 && status <= 530) {
    return new ApiError(502, `Cloudflare could not reach the origin server (HTTP ${status}). Check that it is running and serves the Origin CA certificate.`, {
      code: "origin_unreachable",
    });
  }
  if (status === 429) {
    const retry = response.headers.get("retry-after");
    return new ApiError(429, `The origin server is busy: ${detail}`, {
      code: "rate_limit_exceeded", headers: retry ? { "retry-after": retry } : {},
    });
  }
  if ([400, 404, 413, 422].includes(status)) {
    return new ApiError(status === 422 ? 400 : status, `The origin server rejected the request: ${detail}`, {
      code: status === 404 ? "model_not_found" : "origin_rejected",
    });
  }
  return new ApiError(502, `The origin server failed (HTTP ${status}): ${detail}`, { code: "upstream_error" });
}
