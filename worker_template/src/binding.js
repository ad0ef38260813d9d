// The one place that calls env.AI.run. Routes through the AI Gateway when one is configured,
// with the caller's key id (never the key) as metadata, and turns the binding's errors
// ("3040: Capacity temporarily exceeded" thrown as an Error) into OpenAI errors a client can act on.
import { DeadlineExceeded, timeoutError, withDeadline } from "./deadline.js";
import { ApiError } from "./http.js";
import { admitModelCall } from "./policy.js";

function bindingOptions(ctx, extra) {
  const options = { ...extra };
  // Prompt caching: Workers AI keeps a prompt prefix cached per model instance, and requests with
  // the same x-session-affinity header reach the same instance (workers-ai/features/prompt-caching).
  const affinity = sessionAffinity(ctx);
  if (affinity) options.extraHeaders = { "x-session-affinity": affinity };
  const gateway = ctx.settings.gateway;
  if (!gateway.id) return options;
  const aig = { id: gateway.id, metadata: { key_id: ctx.keyId ?? "", request_id: ctx.requestId, route: ctx.log.route } };
  if (gateway.honorCacheHeaders) {
    const headers = ctx.request.headers;
    if (/^(1|true)$/i.test(headers.get("cf-aig-skip-cache") ?? "")) aig.skipCache = true;
    // Only a whole number of seconds: a missing header must not become cacheTtl 0.
    const ttl = headers.get("cf-aig-cache-ttl")?.trim() ?? "";
    if (/^\d{1,9}$/.test(ttl)) aig.cacheTtl = Number(ttl);
  }
  options.gateway = aig;
  return options;
}

// The body's prompt_cache_key (parsed by the route into ctx.promptCacheKey) wins over a client's
// own x-session-affinity header; either names the session whose prefix should stay warm.
function sessionAffinity(ctx) {
  if (ctx.promptCacheKey) return ctx.promptCacheKey;
  const header = ctx.request?.headers.get("x-session-affinity")?.trim();
  return header && header.length <= 256 ? header : null;
}

// `extra`: per-call binding options, e.g. {rejectIfBusy: true} (completion.js).
export async function runModel(ctx, modelId, inputs, deadlineMs, what, extra = {}) {
  if (!ctx.env.AI || typeof ctx.env.AI.run !== "function") {
    throw new ApiError(500, "This gateway has no Workers AI binding named AI. Redeploy with `flaregate deploy`.", { code: "binding_missing" });
  }
  // The key's model allowlist and limits, once per request, before Workers AI is called.
  const admission = admitModelCall(ctx, ctx.log.model_requested ?? modelId);
  if (admission) await admission;
  try {
    return await withDeadline(Promise.resolve(ctx.env.AI.run(modelId, inputs, bindingOptions(ctx, extra))).then(unwrapResponse), deadlineMs, what);
  } catch (err) {
    if (err instanceof DeadlineExceeded) throw timeoutError(err);
    throw bindingError(err, modelId);
  }
}


export function bindingError(err, modelId) {
  const text = String(err?.message ?? err ?? "unknown error");
  const match = /\b([1-9]\d{3})\s*:\s*([\s\S]*)$/.exec(text);
  const code = match ? Number(match[1]) : null;
  const detail = (match ? match[2] : text).trim().slice(0, 500);
  const upstream = code ? `Workers AI error ${code}: ${detail}` : `Workers AI error: ${detail}`;
  // 3036 is the documented daily-allocation error; 4006 is what the binding was recorded
  // throwing for it (tests/fixtures/workers-ai/errors.json).
  if (code === 3036 || code === 4006) {
    return new ApiError(429, `${upstream}. The account's daily free Workers AI allocation is used up; it resets at 00:00 UTC (or upgrade to Workers Paid).`, {
      code: "insufficient_quota", headers: { "retry-after": String(secondsUntilUtcMidnight()) },
    });
  }
  if (code === 3040) {
    // `capacity` lets an API with its own status for this (Anthropic's 529) tell it apart.
    return Object.assign(new ApiError(429, `${upstream}. The model is out of capacity right now; retry shortly.`, {
      code: "rate_limit_exceeded", headers: { "retry-after": "5" },
    }), { capacity: true });
  }
  // An AI Gateway rate limit (the gateway's own limit, configured per gateway) or a 429 from
  // the raw response path: the client should slow down, not see an upstream failure.
  if (/^429\b/.test(text) || /rate.?limit/i.test(detail)) {
    return new ApiError(429, `${upstream}. The AI Gateway's rate limit was reached; retry shortly.`, {
      code: "rate_limit_exceeded", headers: { "retry-after": "10" },
    });
  }
  if (code === 5007 || code === 3042) {
    return new ApiError(404, `${upstream}. Workers AI has no model '${modelId}'.`, { param: "model", code: "model_not_found" });
  }
  if (code === 3006) return new ApiError(413, `${upstream}. Shorten the messages or lower max_tokens.`, { code: "request_too_large" });
  if (code === 8001 || code === 8006 || code === 3010) return new ApiError(400, upstream, { code: "invalid_request" });
  if (code === 3007 || code === 3008) {
    return new ApiError(504, `${upstream}. Retry, or pick a faster model.`, { code: "timeout" });
  }
  // The account may not use this model (licence not accepted, access not granted): only the
  // gateway's operator can fix it, and retrying will not help.
  if (code === 5016 || code === 3023 || code === 3041) {
    return new ApiError(403, `${upstream}. The gateway's Cloudflare account cannot use '${modelId}' yet; its operator must fix that, or pick another model.`, {
      code: "model_not_permitted",
    });
  }
  console.error(JSON.stringify({ event: "binding_error", code, detail }));
  return new ApiError(502, upstream, { code: "upstream_error" });
}

// The binding answers with a Response when asked for the raw response (returnRawResponse) and
// through some gateway paths: its JSON or its event stream is what the rest of the Worker reads.
async function unwrapResponse(result) {
  if (!(result instanceof Response)) return result;
  if (!result.ok) throw new Error(`${result.status}: ${(await result.text()).slice(0, 500)}`);
  if ((result.headers.get("content-type") ?? "").includes("application/json")) return result.json();
  return result.body;
}

export function isRetryLater(err) {
  return err instanceof ApiError && err.status === 429;
}

function secondsUntilUtcMidnight() {
  const now = new Date();
  const midnight = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1);
  return Math.max(1, Math.ceil((midnight - now.getTime()) / 1000));
}

// An `{"error": ...}` event inside a stream: same mapping as a thrown binding error.
export function upstreamErrorFromEvent(error) {
  if (typeof error === "string") return bindingError(new Error(error), "");
  const code = error?.code ?? "";
  const message = error?.message ?? JSON.stringify(error);
  return bindingError(new Error(/^\d{4}$/.test(String(code)) ? `${code}: ${message}` : message), "");
}
