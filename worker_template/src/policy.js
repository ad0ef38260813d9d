// What a key may do (docs/keys.md): which models it may call (`models`) and whether its rate
// and token limits let this request through (`rpm`, `tokens_per_day`, counted in limits.js).
// admitModelCall is the one check every model-calling route passes: binding.js runs it before
// the first Workers AI call of a request and origin.js before forwarding, so a new route that
// calls the model through them is covered without code of its own. Keys without any of these
// fields take the first `if` and nothing else.
import { ALIASES, PROVIDER_PREFIXES } from "./catalog.js";
import { ApiError, typeName } from "./http.js";
import { admitRequest } from "./limits.js";

// The key record's policy fields, checked when the record is read (auth.js): a field that is
// present but malformed makes the record invalid, since ignoring it would mean "unlimited".
// Returns null for a valid record, else what is wrong.
export function keyPolicyProblem(record) {
  const models = record.models;
  if (models !== undefined && models !== null) {
    if (!Array.isArray(models) || models.some((m) => typeof m !== "string" || !m.trim())) return "'models' must be a list of model names or null";
  }
  for (const field of ["rpm", "tokens_per_day"]) {
    const value = record[field];
    if (value !== undefined && value !== null && !(Number.isSafeInteger(value) && value >= 0)) {
      return `'${field}' must be a whole number >= 0 or null, not ${typeName(value)} ${JSON.stringify(value)}`;
    }
  }
  const group = record.limit_group;
  if (group !== undefined && group !== null && (typeof group !== "string" || !group)) return "'limit_group' must be a string or null";
  return null;
}

// Who owns what a key leaves behind (stored responses, sealed reasoning): the key and every key
// that replaced it through `rotate-key`, which hands its limit group on, so a rotation does not
// cut a client off from its own conversation.
export function keyLineage(key) {
  return key.limitGroup;
}

// The key as the rest of the Worker sees it (ctx.key), built once per cached record.
export function keyFromRecord(record) {
  const rpm = record.rpm ?? null;
  const tokensPerDay = record.tokens_per_day ?? null;
  const models = record.models ? modelMatcher(record.models) : null;
  const limited = rpm !== null || tokensPerDay !== null;
  return {
    id: String(record.id),
    name: record.name ?? null,
    models,
    rpm,
    tokensPerDay,
    limitGroup: String(record.limit_group ?? record.id),
    limited,
    restricted: limited || models !== null,
  };
}

function modelMatcher(patterns) {
  const exact = new Set();
  const prefixes = [];
  for (const raw of patterns) {
    const pattern = raw.trim();
    if (pattern.endsWith("*")) prefixes.push(pattern.slice(0, -1));
    else exact.add(pattern);
  }
  return { exact, prefixes };
}

// The name a model is allowed by: provider prefixes dropped, an alias by its own catalog
// spelling (aliases match case-insensitively, as resolveModel accepts them), anything else as
// sent. An alias is never allowed through the id it points to, nor the other way round.
function allowlistName(name) {
  let bare = name.trim();
  for (const prefix of PROVIDER_PREFIXES) {
    if (bare.startsWith(prefix)) bare = bare.slice(prefix.length);
  }
  if (ALIASES.has(bare)) return bare;
  const lower = bare.toLowerCase();
  return ALIASES.has(lower) ? lower : bare;
}

export function keyAllowsModel(key, name) {
  if (!key?.models) return true;
  if (typeof name !== "string") return false;
  const wanted = allowlistName(name);
  if (key.models.exact.has(wanted)) return true;
  return key.models.prefixes.some((prefix) => wanted.startsWith(prefix));
}

// Once per request, before the model is called: 403 for a model the key may not use, then the
// key's limits (429 / 503 from limits.js). Idempotent: a request that calls the model several
// times (fallbacks, embedding batches, n images) is checked and counted once.
export function admitModelCall(ctx, name) {
  const key = ctx.key;
  if (!key?.restricted) return null;
  ctx.admission ??= checkKeyPolicy(ctx, key, name);
  return ctx.admission;
}

async function checkKeyPolicy(ctx, key, name) {
  if (!keyAllowsModel(key, name)) {
    throw new ApiError(403, `This API key may not use the model '${name}'. GET /v1/models lists the models it may use; ask the gateway's operator to allow more (\`flaregate keys update\`).`, {
      param: "model", code: "model_not_allowed",
    });
  }
  if (key.limited) await admitRequest(ctx, key);
}
