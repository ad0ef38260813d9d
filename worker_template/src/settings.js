// Runtime settings: what `flaregate render` baked in, overridden by Worker vars (plain_text
// bindings set by the Pulumi program or wrangler.toml) so operators can tune a deployed Worker
// without re-rendering. Computed once per distinct env object, not per request.
import { BUILTIN_SETTINGS } from "./build.js";

const ENV_OVERRIDES = {
  GATEWAY_ID: (s, v) => { s.gateway.id = v || null; },
  CORS_ORIGINS: (s, v) => { s.cors.origins = v.split(",").map((o) => o.trim()).filter(Boolean); },
  MAX_BODY_BYTES: (s, v) => { s.limits.maxBodyBytes = positiveInt(v, s.limits.maxBodyBytes); },
  TIMEOUT_MS: (s, v) => { s.timeouts.requestMs = positiveInt(v, s.timeouts.requestMs); },
  FIRST_TOKEN_TIMEOUT_MS: (s, v) => { s.timeouts.firstTokenMs = positiveInt(v, s.timeouts.firstTokenMs); },
  IDLE_TIMEOUT_MS: (s, v) => { s.timeouts.idleMs = positiveInt(v, s.timeouts.idleMs); },
};

let settingsCache = { env: null, value: null };

export function settingsFor(env) {
  if (settingsCache.env === env && settingsCache.value) return settingsCache.value;
  const settings = structuredClone(BUILTIN_SETTINGS);
  for (const [name, apply] of Object.entries(ENV_OVERRIDES)) {
    if (typeof env?.[name] === "string") apply(settings, env[name]);
  }
  settingsCache = { env, value: settings };
  return settings;
}

function positiveInt(text, fallback) {
  const n = Number(text);
  return Number.isInteger(n) && n > 0 ? n : fallback;
}
