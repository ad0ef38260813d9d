// API keys live in the KEYS namespace as `key:<sha256 hex of the full key>` -> JSON record
// {id, name, created_at, expires_at|null, and optionally models, rpm, tokens_per_day,
// limit_group} (docs/keys.md). No key in KV means nobody gets in:
// there is no fail-open mode. Lookups, found or not, are cached in the isolate for a few
// seconds so a busy client does not cost a KV read per request. Expiry is re-checked on every
// request against the cached record, so an expiry already in the record is enforced to the
// second; a record that changes (rotation, revocation) is seen within one cache period.
import { DeadlineExceeded, withDeadline } from "./deadline.js";
import { ApiError, hexOf, typeName } from "./http.js";
import { keyFromRecord, keyPolicyProblem } from "./policy.js";

const AUTH_CACHE_LIMIT = 1000;
const authCache = new Map(); // hash -> { record, until }
// A KV read normally takes milliseconds; one that never settles must not hold the request.
export const KEY_LOOKUP_DEADLINE_MS = 3000;

export async function authenticate(request, env, settings) {
  const key = presentedKey(request);
  if (!key) {
    throw new ApiError(401, "You didn't provide an API key. Send it in the Authorization header as 'Bearer YOUR_KEY' (or in the x-api-key header).", {
      code: "missing_api_key",
    });
  }
  if (!env.KEYS) {
    throw new ApiError(500, "This gateway has no KEYS namespace bound, so no key can be checked. Redeploy with `flaregate deploy`.", {
      code: "keyring_missing",
    });
  }
  const hash = await sha256Hex(key);
  const record = await lookupKey(env.KEYS, hash, settings.auth);
  if (!record) throw invalidKey();
  if (record.expires_at !== null && record.expires_at !== undefined) {
    const expiry = Date.parse(record.expires_at);
    if (!(expiry > Date.now())) {
      throw new ApiError(401, "This API key has expired. Create a new one with `flaregate keys create`.", {
        code: "expired_api_key",
      });
    }
  }
  return record.key;
}

// OpenAI clients (and Anthropic's with ANTHROPIC_AUTH_TOKEN) send `Authorization: Bearer KEY`;
// Anthropic's SDKs with an API key, and Claude Code with ANTHROPIC_API_KEY, send `x-api-key`.
function presentedKey(request) {
  const match = /^Bearer[ \t]+(\S+)\s*$/i.exec(request.headers.get("authorization") ?? "");
  if (match) return match[1];
  const apiKey = (request.headers.get("x-api-key") ?? "").trim();
  return apiKey && !/\s/.test(apiKey) ? apiKey : null;
}

async function lookupKey(kv, hash, authSettings) {
  const now = Date.now();
  const cached = authCache.get(hash);
  if (cached && cached.until > now) return cached.record;
  let raw;
  try {
    raw = await withDeadline(kv.get(`key:${hash}`), KEY_LOOKUP_DEADLINE_MS, "the key store's answer");
  } catch (err) {
    const error = err instanceof DeadlineExceeded ? err.message : String(err?.message ?? err);
    console.error(JSON.stringify({ event: "keyring_unavailable", error }));
    throw new ApiError(503, "The key store is unavailable; retry in a few seconds.", { code: "keyring_unavailable" });
  }
  const record = parseKeyRecord(raw);
  const seconds = record ? authSettings.cacheSeconds : authSettings.negativeCacheSeconds;
  if (authCache.size >= AUTH_CACHE_LIMIT) authCache.delete(authCache.keys().next().value);
  authCache.set(hash, { record, until: now + seconds * 1000 });
  return record;
}

// A record that is not the documented shape is treated as no key at all: a corrupt entry must
// never let a request through.
function parseKeyRecord(raw) {
  if (raw === null || raw === undefined) return null;
  let record;
  try {
    record = JSON.parse(raw);
  } catch {
    return null;
  }
  // docs/keys.md: the id is a non-empty string (`keys list` shows any other record as corrupt).
  if (typeName(record) !== "object" || typeof record.id !== "string" || !record.id) return null;
  if (record.expires_at !== null && record.expires_at !== undefined) {
    if (typeof record.expires_at !== "string" || Number.isNaN(Date.parse(record.expires_at))) return null;
  }
  const problem = keyPolicyProblem(record);
  if (problem) {
    console.error(JSON.stringify({ event: "key_record_invalid", key_id: String(record.id), problem }));
    return null;
  }
  // What the rest of the Worker sees as ctx.key, built once per cached record.
  return { expires_at: record.expires_at, key: keyFromRecord(record) };
}

function invalidKey() {
  return new ApiError(401, "Incorrect API key provided. Create one with `flaregate keys create`.", {
    code: "invalid_api_key",
  });
}

const KEY_ENCODER = new TextEncoder();

async function sha256Hex(text) {
  const digest = await crypto.subtle.digest("SHA-256", KEY_ENCODER.encode(text));
  return hexOf(new Uint8Array(digest));
}
