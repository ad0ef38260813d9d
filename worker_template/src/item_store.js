// Stored responses (Responses API with `store` left true): one KV entry per response in the KEYS
// namespace, `resp:<response id>` -> {owner, response, context}, expiring after
// RESPONSE_TTL_SECONDS. The ids of a response's output items carry the response id
// (`msg_<token><index>`), so an item_reference costs one KV read per earlier response, and
// storing costs one write per response. Only the API key that created a response (or a key that
// replaced it through rotate-key: keyLineage) can read it back: for any other key it does not exist. docs/api.md says why this design.
import { ApiError } from "./http.js";
import { keyLineage } from "./policy.js";

export const RESPONSE_TTL_SECONDS = 30 * 24 * 3600;
const RESPONSE_PREFIX = "resp:";
const TOKEN_LENGTH = 24; // hex digits of newId's random part
const ITEM_INDEX_DIGITS = 4;

// `resp_<token>` -> the id of its output item number `index`, e.g. `msg_<token>0001`.
export function outputItemId(prefix, responseId, index) {
  return prefix + responseId.slice(responseId.indexOf("_") + 1) + index.toString(16).padStart(ITEM_INDEX_DIGITS, "0");
}

// An output item id -> the response that produced it, or null for an id of another shape.
export function responseIdOfItem(itemId) {
  const match = /^[a-z]+_([0-9a-f]+)$/.exec(itemId);
  if (!match || match[1].length !== TOKEN_LENGTH + ITEM_INDEX_DIGITS) return null;
  return `resp_${match[1].slice(0, TOKEN_LENGTH)}`;
}

export function isResponseId(id) {
  return typeof id === "string" && new RegExp(`^resp_[0-9a-f]{${TOKEN_LENGTH}}$`).test(id);
}

function storeUnavailable() {
  return new ApiError(503, "The response store is unavailable; retry in a few seconds, or send the whole conversation with 'store': false.", { code: "store_unavailable" });
}

export async function loadStoredResponse(ctx, responseId) {
  if (!isResponseId(responseId) || !ctx.env.KEYS) return null;
  let raw;
  try {
    raw = await ctx.env.KEYS.get(RESPONSE_PREFIX + responseId);
  } catch (err) {
    console.error(JSON.stringify({ event: "response_store_unavailable", error: String(err?.message ?? err) }));
    throw storeUnavailable();
  }
  if (raw === null) return null;
  let record;
  try {
    record = JSON.parse(raw);
  } catch {
    return null;
  }
  return record?.owner === keyLineage(ctx.key) ? record : null;
}

export async function saveStoredResponse(ctx, response, context) {
  const record = { owner: keyLineage(ctx.key), response, context };
  try {
    await ctx.env.KEYS.put(RESPONSE_PREFIX + response.id, JSON.stringify(record), { expirationTtl: RESPONSE_TTL_SECONDS });
  } catch (err) {
    // The answer is still good; only later references to it will fail (400 naming them).
    console.error(JSON.stringify({ event: "response_store_failed", response_id: response.id, error: String(err?.message ?? err) }));
  }
}

export async function deleteStoredResponse(ctx, responseId) {
  try {
    await ctx.env.KEYS.delete(RESPONSE_PREFIX + responseId);
  } catch {
    throw storeUnavailable();
  }
}
