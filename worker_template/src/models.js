// GET /v1/models and GET /v1/models/{id}: the catalog in OpenAI's list format. Every alias and
// every Workers AI id is listed, with what we know about it as extra fields (type, context
// window, tools, reasoning, ...), so clients can pick models without a second source.
// Built once per isolate: the catalog is rendered in and never changes at run time.
import { CATALOG } from "./build.js";
import { ALIASES, matchAlias, MODELS, PROVIDER_PREFIXES, retiredModelError, SERVE_RETIRED_BY_REPLACEMENT } from "./catalog.js";
import { forLog } from "./field_checks.js";
import { ApiError, invalidRequest, jsonResponse } from "./http.js";
import { keyAllowsModel } from "./policy.js";

const MODEL_CREATED = 0; // Workers AI publishes no creation dates; 0 says "unknown" honestly

let modelListCache = null;

function modelEntries() {
  if (modelListCache) return modelListCache;
  const entries = new Map();
  // A prefix alias ("claude-sonnet-*") is a family of names, not a model id: it is not listed,
  // and GET /v1/models/{name} answers for every name it takes.
  for (const [alias, id] of ALIASES) {
    if (!alias.endsWith("*")) entries.set(alias, modelEntry(alias, MODELS.get(id), id));
  }
  for (const facts of CATALOG.models) {
    if (!facts.deprecated) entries.set(facts.id, modelEntry(facts.id, facts, null));
  }
  modelListCache = entries;
  return entries;
}

function modelEntry(name, facts, aliasFor) {
  const entry = {
    id: name,
    object: "model",
    created: MODEL_CREATED,
    owned_by: aliasFor ? "flaregate" : ownerOf(facts.id),
    type: facts.type,
  };
  if (aliasFor) entry.alias_for = aliasFor;
  if (facts.type === "chat") {
    Object.assign(entry, {
      context_window: facts.context_window ?? null,
      max_output_tokens: facts.max_output_tokens ?? null,
      tools: facts.tools !== "none",
      tool_calling: facts.tools, // native | emulated | none
      reasoning: facts.reasoning !== "none",
      keeps_reasoning: Boolean(facts.reasoning_replay),
      vision: Boolean(facts.vision),
      json_mode: Boolean(facts.json_mode),
    });
  } else if (facts.type === "embeddings") {
    Object.assign(entry, {
      dimensions: facts.dimensions ?? null,
      max_input_tokens: facts.max_input_tokens ?? null,
      min_dimensions: facts.matryoshka_min_dimensions ?? facts.dimensions ?? null,
    });
  } else if (facts.type === "image") {
    Object.assign(entry, {
      min_size: facts.min_size ?? null,
      max_size: facts.max_size ?? null,
    });
  }
  return entry;
}

// "@cf/meta/llama-3.1-8b-instruct" is Meta's model served by Workers AI.
function ownerOf(id) {
  return id.split("/")[1] ?? "workers-ai";
}

// A key with a model allowlist sees only the models it may call.
export async function handleListModels(ctx) {
  const entries = [...modelEntries().values()];
  const data = ctx.key?.models ? entries.filter((entry) => keyAllowsModel(ctx.key, entry.id)) : entries;
  return jsonResponse({ object: "list", data });
}

// The id comes from the path, URL-encoded (%40cf%2Fmeta%2F...) or not (@cf/meta/...); the
// provider prefix agent tools add (workers-ai/@cf/...) is accepted as the endpoints accept it.
export async function handleRetrieveModel(ctx) {
  let name = ctx.params.rest ?? "";
  try {
    name = decodeURIComponent(name);
  } catch {
    throw invalidRequest(`The model id in the URL is not valid percent-encoding: ${forLog(name)}`, "model", "invalid_value");
  }
  const entries = modelEntries();
  let bare = name.trim();
  for (const prefix of PROVIDER_PREFIXES) {
    if (bare.startsWith(prefix)) bare = bare.slice(prefix.length);
  }
  const entry = entries.get(bare) ?? entries.get(bare.toLowerCase()) ?? prefixAliasEntry(bare);
  // A key with an allowlist learns nothing about a model it may not use (retired or not).
  const allowed = keyAllowsModel(ctx.key, entry?.id ?? bare);
  const retired = entry || !allowed ? null : MODELS.get(bare)?.deprecated;
  if (retired) {
    if (!SERVE_RETIRED_BY_REPLACEMENT) throw retiredModelError(name, MODELS.get(bare));
    // Served by its replacement: described as an alias of it, with the retirement.
    const served = modelEntry(bare, MODELS.get(retired.replacement), retired.replacement);
    return jsonResponse({ ...served, retired: { date: retired.date, replacement: retired.replacement } });
  }
  if (!entry || !allowed) {
    throw new ApiError(404, `The model '${forLog(name)}' does not exist or you do not have access to it. GET /v1/models lists the models this gateway serves.`, {
      param: "model", code: "model_not_found",
    });
  }
  return jsonResponse(entry);
}

function prefixAliasEntry(name) {
  const alias = matchAlias(name);
  if (!alias?.endsWith("*")) return undefined;
  const id = ALIASES.get(alias);
  return modelEntry(name, MODELS.get(id), id);
}
