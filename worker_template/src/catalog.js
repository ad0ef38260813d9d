// Model names a client may send: an alias from the catalog ("gpt-4o"), a Workers AI id from the
// catalog ("@cf/meta/..."), the same prefixed the way agent tools write provider/model
// ("workers-ai/@cf/..."), or any other Workers AI id (@cf/..., @hf/...), which is passed through
// with conservative facts: the catalog cannot list every model Cloudflare adds.
import { BUILTIN_SETTINGS, CATALOG } from "./build.js";
import { checkMaxLength, FIELD_CAPS } from "./field_checks.js";
import { ApiError, invalidRequest, typeName } from "./http.js";

export const MODELS = new Map(CATALOG.models.map((m) => [m.id, m]));
export const ALIASES = new Map(Object.entries(CATALOG.aliases));
export const PROVIDER_PREFIXES = ["workers-ai/", "cloudflare-workers-ai/"];

// An alias ending in "*" matches every name that starts with the rest of it, so dated and future
// names work without a catalog change: "claude-sonnet-*" takes claude-sonnet-4-5-20250929. An
// exact alias wins over a prefix, and a longer prefix over a shorter one.
const PREFIX_ALIASES = [...ALIASES.keys()]
  .filter((alias) => alias.length > 1 && alias.endsWith("*"))
  .map((alias) => ({ alias, prefix: alias.slice(0, -1).toLowerCase() }))
  .sort((a, b) => b.prefix.length - a.prefix.length);

// Unlisted models: tools are emulated (a model we know nothing about may hang on native tools),
// reasoning tags are still stripped, limits are the smallest common ones.
const UNLISTED_FACTS = {
  chat: {
    type: "chat", context_window: 8192, max_output_tokens: 4096, default_max_tokens: 2048,
    dialect: "native", tools: "emulated", tool_format: "openai", reasoning: "none",
    json_mode: false, vision: false,
  },
  embeddings: { type: "embeddings", max_batch: 100 },
  image: { type: "image", image_input: "json", image_output: "base64" },
};

const KIND_LABEL = { chat: "chat", embeddings: "embeddings", image: "image generation" };

// Retired models stay in the catalog with their date and replacement, so a client that still
// asks for one learns what to use instead; the operator may have their replacement answer.
export const SERVE_RETIRED_BY_REPLACEMENT = BUILTIN_SETTINGS.models?.retired === "replace";

export function retiredModelError(name, facts) {
  const { date, replacement } = facts.deprecated;
  return new ApiError(404, `The model '${name}' was retired by Cloudflare on ${date}. Use '${replacement}' instead; GET /v1/models lists the current models.`, {
    param: "model", code: "model_not_found",
  });
}

export function resolveModel(name, kind) {
  if (name === undefined || name === null || name === "") {
    throw invalidRequest("You must provide a model parameter.", "model", "missing_required_parameter");
  }
  if (typeof name !== "string") {
    throw invalidRequest(`Invalid type for 'model': expected a string, but got ${typeName(name)} instead.`, "model", "invalid_type");
  }
  // The name is echoed in every chunk of a stream: capped, and echoed as resolved (trimmed).
  checkMaxLength(name, FIELD_CAPS.modelName, "model");
  name = name.trim();
  let bare = name;
  for (const prefix of PROVIDER_PREFIXES) {
    if (bare.startsWith(prefix)) bare = bare.slice(prefix.length);
  }
  const alias = matchAlias(bare);
  let id = alias === null ? bare : ALIASES.get(alias);
  let facts = MODELS.get(id);
  let retired = null;
  if (facts?.deprecated) {
    if (!SERVE_RETIRED_BY_REPLACEMENT) throw retiredModelError(name, facts);
    retired = { id, ...facts.deprecated };
    id = facts.deprecated.replacement;
    facts = MODELS.get(id);
  }
  if (!facts && /^@(cf|hf)\/[\w.-]+\/[\w.:-]+$/.test(id)) {
    facts = { id, unlisted: true, ...UNLISTED_FACTS[kind] };
  }
  if (!facts) {
    throw new ApiError(404, `The model '${name}' does not exist or you do not have access to it. GET /v1/models lists the models this gateway serves.`, {
      param: "model", code: "model_not_found",
    });
  }
  if (facts.type !== kind) {
    throw invalidRequest(
      `The model '${name}' is a ${KIND_LABEL[facts.type] ?? facts.type} model and cannot be used for ${KIND_LABEL[kind]}. GET /v1/models lists each model's type.`,
      "model", "model_not_supported",
    );
  }
  return { requested: name, id, facts, retired, fallbacks: CATALOG.fallbacks?.[alias ?? bare] ?? [] };
}

// The alias a name goes by (exact, then lower case, then the longest matching prefix alias), or null.
export function matchAlias(name) {
  if (ALIASES.has(name)) return name;
  const lower = name.toLowerCase();
  if (ALIASES.has(lower)) return lower;
  return PREFIX_ALIASES.find((p) => lower.startsWith(p.prefix))?.alias ?? null;
}

export function toolCapableModels() {
  return [...ALIASES.entries()]
    .filter(([alias]) => !alias.endsWith("*"))
    .filter(([, id]) => MODELS.get(id)?.type === "chat" && MODELS.get(id)?.tools !== "none")
    .map(([alias]) => alias)
    .concat(CATALOG.models.filter((m) => m.type === "chat" && m.tools === "native").map((m) => m.id))
    .slice(0, 6);
}
