// CORS for browser clients: off unless origins are configured ("*" allows any). Preflights are
// answered before auth, since browsers send them without the Authorization header.
const CORS_EXPOSED = "x-request-id, retry-after, retry-after-ms, content-type, x-flaregate-usage, x-flaregate-ignored-tools, x-flaregate-model, x-flaregate-model-retired, x-ratelimit-limit-requests, x-ratelimit-remaining-requests, x-ratelimit-reset-requests, x-ratelimit-limit-tokens, x-ratelimit-remaining-tokens, x-ratelimit-reset-tokens";

function allowedOrigin(request, settings) {
  const origin = request.headers.get("origin");
  if (!origin) return null;
  const origins = settings.cors.origins;
  if (origins.includes("*")) return "*";
  return origins.includes(origin) ? origin : null;
}

export function corsHeaders(request, settings) {
  const origin = allowedOrigin(request, settings);
  if (!origin) return {};
  const headers = { "access-control-allow-origin": origin, "access-control-expose-headers": CORS_EXPOSED };
  if (origin !== "*") headers.vary = "Origin";
  return headers;
}

export function preflightResponse(request, settings) {
  const origin = allowedOrigin(request, settings);
  if (!origin) return new Response(null, { status: 204 });
  return new Response(null, {
    status: 204,
    headers: {
      "access-control-allow-methods": "GET, POST, DELETE, OPTIONS",
      "access-control-allow-headers": request.headers.get("access-control-request-headers") ?? "authorization, content-type",
      "access-control-max-age": "86400",
    },
  });
}
