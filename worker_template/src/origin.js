// Your own OpenAI-compatible server (vLLM, llama.cpp server, Ollama behind TLS) as a second
// backend: a client asks for model "origin/<name>" and the request goes to
// <origin>/v1/chat/completions with the model renamed to <name>. The client's API key is never
// forwarded; the origin gets the gateway's shared secret (the ORIGIN_SECRET Worker secret) both as
// X-Flaregate-Origin-Secret and as a bearer token, so servers with a built-in key check
// (`vllm serve --api-key`, `llama-server --api-key`) need no proxy in front. Answers, streamed or
// not, pass through unchanged except for the secret itself, which is cut out of anything the
// origin sends back (an origin that echoes request headers would otherwise hand it to every key
// holder); a dead, slow or failing origin becomes an OpenAI error (502/504). Redirects are never
// followed: the next host would get the secret (and, for 307/308, the body), so a 3xx is a 502.
import { DeadlineExceeded, Watchdog, withDeadline } from "./deadline.js";
import { FIELD_CAPS } from "./field_checks.js";
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
  if (body.model.length > FIELD_CAPS.modelName) return null; // resolveModel answers the 400
  const origin = originSettings(ctx);
  if (!origin) return null; // no origin configured: resolveModel answers 404 model_not_found
  const name = body.model.slice(ORIGIN_PREFIX.length);
  if (!name || (origin.models.length && !origin.models.includes(name))) {
    const known = origin.models.length ? ` Origin models: ${origin.models.map((m) => ORIGIN_PREFIX + m).join(", ")}.` : "";
    throw new ApiError(404, `The model '${body.model}' does not exist on this gateway's origin server.${known}`, {
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
    redirect: "manual",
  });
  try {
    const response = await withDeadline(request, stream ? timeouts.firstTokenMs : timeouts.requestMs, "the origin's answer");
    if (!response.ok) throw await originStatusError(response, secret);
    if (stream) return new Response(originStream(ctx, response.body, abort, new SecretScrubber(secret)), { headers: SSE_HEADERS });
    const left = Math.max(1, timeouts.requestMs - (Date.now() - started));
    const text = await withDeadline(response.text(), left, "the origin's answer");
    return new Response(scrubSecret(text, secret), { headers: { "content-type": response.headers.get("content-type") ?? "application/json" } });
  } catch (err) {
    abort.abort();
    throw originFailure(err);
  }
}

// The origin's SSE bytes, unchanged. The first read waits up to firstTokenMs, later ones idleMs
// (the same Watchdog as the Workers AI streams); on expiry or a dropped connection the stream
// ends with an OpenAI error event and [DONE].
function originStream(ctx, upstream, abort, scrubber) {
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
        const tail = scrubber.end();
        if (tail.byteLength) controller.enqueue(tail);
        controller.close();
        return;
      }
      waitMs = timeouts.idleMs;
      const bytes = scrubber.push(read.value);
      if (bytes.byteLength) controller.enqueue(bytes);
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
// and the origin's message (the secret cut out); everything else is the gateway's problem and
// becomes a 502 that says nothing of what the origin answered (its detail is logged, scrubbed).
// A redirect is not followed (see the top of this file): it is a misconfigured origin.
async function originStatusError(response, secret) {
  const status = response.status;
  if (status >= 300 && status < 400) {
    response.body?.cancel().catch(() => {});
    console.error(JSON.stringify({ event: "origin_error", status, detail: "redirect (not followed)" }));
    return new ApiError(502, `The origin server answered with a redirect (HTTP ${status}), which the gateway does not follow: the shared secret must not go to another address. Point the origin URL at the server itself.`, {
      code: "origin_redirect",
    });
  }
  const text = await withDeadline(response.text(), 5000, "the origin's error body").catch(() => "");
  let detail = text;
  try {
    const parsed = JSON.parse(text);
    const message = parsed?.error?.message ?? parsed?.message ?? parsed?.detail;
    if (typeof message === "string") detail = message;
  } catch {}
  detail = scrubSecret(detail.slice(0, 500 + secret.length), secret).slice(0, 500);
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
  return new ApiError(502, `The origin server failed (HTTP ${status}). Check its logs; the gateway's log has the first 500 characters of its answer.`, { code: "upstream_error" });
}

const REDACTED = "[redacted]";

function scrubSecret(text, secret) {
  return text.includes(secret) ? text.replaceAll(secret, REDACTED) : text;
}

// Cuts the secret out of a byte stream whose reads may split it anywhere: a Knuth-Morris-Pratt
// matcher over the bytes holds back only a tail that could still be the start of the secret.
// The secret is ASCII (flaregate generates it), so bytes and characters agree.
class SecretScrubber {
  constructor(secret) {
    this.secret = SSE_ENCODER.encode(secret);
    this.redacted = SSE_ENCODER.encode(REDACTED);
    this.fallback = new Uint16Array(this.secret.length);
    for (let i = 1, k = 0; i < this.secret.length; i++) {
      while (k > 0 && this.secret[i] !== this.secret[k]) k = this.fallback[k - 1];
      if (this.secret[i] === this.secret[k]) k++;
      this.fallback[i] = k;
    }
    this.matched = 0; // bytes of the secret at the end of what was read, not yet passed on
  }

  // What a read adds to the stream, minus the secret. The bytes held from earlier reads come
  // first in a "virtual" buffer: held (the secret's first `matched` bytes), then `bytes`.
  push(bytes) {
    const secret = this.secret;
    const held = this.matched;
    const total = held + bytes.length;
    const slice = (a, b) => {
      const parts = [];
      if (a < held) parts.push(secret.subarray(a, Math.min(b, held)));
      if (b > held) parts.push(bytes.subarray(Math.max(a, held) - held, b - held));
      return parts;
    };
    const out = [];
    let from = 0;
    let k = held;
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i];
      while (k > 0 && secret[k] !== b) k = this.fallback[k - 1];
      if (secret[k] === b) k++;
      if (k === secret.length) {
        const end = held + i + 1;
        out.push(...slice(from, end - k), this.redacted);
        from = end;
        k = 0;
      }
    }
    out.push(...slice(from, total - k));
    this.matched = k;
    return concatBytes(out.filter((c) => c.byteLength));
  }

  end() {
    const tail = this.secret.subarray(0, this.matched);
    this.matched = 0;
    return tail.slice();
  }
}

function concatBytes(chunks) {
  if (chunks.length === 1) return chunks[0];
  if (chunks.length === 0) return new Uint8Array(0);
  const size = chunks.reduce((sum, c) => sum + c.byteLength, 0);
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const c of chunks) {
    bytes.set(c, offset);
    offset += c.byteLength;
  }
  return bytes;
}
