// POST /v1/embeddings: validate -> resolve model -> split the inputs into the model's per-call
// batch size -> Workers AI (a few calls at a time) -> reassemble in order -> OpenAI's list of
// embeddings, as float arrays or as base64 of little-endian float32 (what the openai SDKs ask
// for by default and decode themselves).
import { bytesToBase64 } from "./base64.js";
import { runModel } from "./binding.js";
import { resolveModel } from "./catalog.js";
import { checkTypes } from "./field_checks.js";
import { ApiError, invalidRequest, jsonResponse, readJsonBody, typeName } from "./http.js";
import { estimateTokens } from "./tokens.js";

const MAX_EMBEDDING_INPUTS = 2048; // OpenAI's own per-request limit
const EMBEDDING_CONCURRENCY = 4; // binding calls in flight at once for a large batch

export async function handleEmbeddings(ctx) {
  const body = await readJsonBody(ctx.request, ctx.settings.limits.maxBodyBytes);
  ctx.log.model_requested = typeof body.model === "string" ? body.model : null;
  const model = resolveModel(body.model, "embeddings");
  ctx.log.model = model.id;
  checkTypes(body, { user: "string", encoding_format: "string", dimensions: "integer" });
  const texts = embeddingTexts(body.input);
  const format = encodingFormat(body.encoding_format);
  const dimensions = requestedDimensions(body.dimensions, model);

  const batchSize = Math.max(1, model.facts.max_batch ?? 100);
  const batches = [];
  for (let i = 0; i < texts.length; i += batchSize) batches.push(texts.slice(i, i + batchSize));
  const results = await mapLimited(batches, EMBEDDING_CONCURRENCY, (batch) => embedBatch(ctx, model, batch));

  const vectors = results.flatMap((r) => r.vectors);
  const reported = results.every((r) => r.promptTokens !== null) ? results.reduce((sum, r) => sum + r.promptTokens, 0) : null;
  // Workers AI embeddings report no token count: estimated, and the response says so.
  const promptTokens = reported ?? texts.reduce((sum, text) => sum + estimateTokens(text), 0);
  const usage = { prompt_tokens: promptTokens, total_tokens: promptTokens };
  ctx.log.usage = { prompt_tokens: promptTokens, completion_tokens: 0 };
  ctx.log.inputs = texts.length;
  return jsonResponse({
    object: "list",
    data: vectors.map((vector, index) => ({
      object: "embedding",
      index,
      embedding: encodeVector(shorten(vector, dimensions), format),
    })),
    model: model.requested,
    usage,
  }, 200, reported === null ? { "x-flaregate-usage": "estimated" } : {});
}

// OpenAI takes a string, an array of strings, or token ids (an array of integers, or an array
// of such arrays). Workers AI embeds text only, and the token ids are from OpenAI's tokenizer,
// which no Workers AI model shares: those are refused with the fix.
function embeddingTexts(input) {
  if (input === undefined || input === null) {
    throw invalidRequest("Missing required parameter: 'input'.", "input", "missing_required_parameter");
  }
  const list = typeof input === "string" ? [input] : input;
  if (!Array.isArray(list)) {
    throw invalidRequest(`Invalid type for 'input': expected a string or an array of strings, but got ${typeName(input)} instead.`, "input", "invalid_type");
  }
  if (list.length === 0) throw invalidRequest("Invalid 'input': empty array. Send at least one string.", "input", "empty_array");
  if (list.length > MAX_EMBEDDING_INPUTS) {
    throw invalidRequest(`Invalid 'input': ${list.length} inputs; at most ${MAX_EMBEDDING_INPUTS} are allowed per request.`, "input", "array_above_max_length");
  }
  if (list.some((item) => typeof item === "number" || Array.isArray(item))) {
    throw invalidRequest(
      "Token arrays are not supported for 'input': Workers AI embeds text, and OpenAI token ids mean nothing to its models. Send the text itself "
        + "(LangChain: OpenAIEmbeddings(check_embedding_ctx_length=False); LlamaIndex/others: disable client-side tokenization).",
      "input", "unsupported_value",
    );
  }
  list.forEach((item, i) => {
    if (typeof item !== "string") {
      throw invalidRequest(`Invalid type for 'input[${i}]': expected a string, but got ${typeName(item)} instead.`, `input[${i}]`, "invalid_type");
    }
    if (item.length === 0) {
      throw invalidRequest(`Invalid 'input[${i}]': empty string. Every input must contain text.`, `input[${i}]`, "invalid_value");
    }
  });
  return list;
}

function encodingFormat(format) {
  if (format === undefined || format === null) return "float";
  if (format !== "float" && format !== "base64") {
    throw invalidRequest(`Invalid value for 'encoding_format': ${JSON.stringify(format)}. Supported values are: 'float' and 'base64'.`, "encoding_format", "invalid_value");
  }
  return format;
}

// `dimensions` can only shorten a vector when the model was trained for it (Matryoshka
// representation learning: the first N values carry the meaning). For any other model a
// shorter vector would be silently worse, so it is refused; its own size is accepted.
function requestedDimensions(value, model) {
  if (value === undefined || value === null) return null;
  if (!Number.isInteger(value) || value < 1) {
    throw invalidRequest(`Invalid 'dimensions': expected an integer of at least 1, but got ${JSON.stringify(value)}.`, "dimensions", "invalid_value");
  }
  const native = model.facts.dimensions;
  const shortest = model.facts.matryoshka_min_dimensions;
  if (value === native) return null;
  if (shortest && value >= shortest && value < native) return value;
  const allowed = shortest ? `a value from ${shortest} to ${native}` : `only its native size, ${native}`;
  throw invalidRequest(
    native
      ? `The model '${model.requested}' does not support dimensions=${value}: it takes ${allowed}. Omit 'dimensions', or pick a model that supports shorter vectors (see GET /v1/models).`
      : `The model '${model.requested}' is not in this gateway's catalog, so 'dimensions' cannot be checked; omit it.`,
    "dimensions", "unsupported_value",
  );
}

// No capacity fallbacks here, unlike chat: another model's vectors live in a different space,
// and mixing them into one index would silently break search.
async function embedBatch(ctx, model, texts) {
  const field = model.facts.input_field ?? "text";
  const result = await runModel(ctx, model.id, { [field]: texts }, ctx.settings.timeouts.requestMs, "the embeddings");
  // bge-m3's older context form answers {response: [...]}; every other model {shape, data}.
  const vectors = result?.data ?? result?.response;
  if (!Array.isArray(vectors) || vectors.length !== texts.length || !vectors.every(isNumberArray)) {
    console.error(JSON.stringify({ event: "bad_embeddings_output", model: model.id, sent: texts.length, got: Array.isArray(vectors) ? vectors.length : typeName(vectors) }));
    throw new ApiError(502, `Workers AI returned ${Array.isArray(vectors) ? vectors.length : "no"} embeddings for ${texts.length} inputs from '${model.id}'. Retry; if it persists, the model's output format may have changed.`, {
      code: "upstream_error",
    });
  }
  const tokens = Number(result?.usage?.prompt_tokens);
  return { vectors, promptTokens: Number.isInteger(tokens) && tokens >= 0 ? tokens : null };
}

function isNumberArray(value) {
  return Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === "number" && Number.isFinite(v));
}

function shorten(vector, dimensions) {
  if (!dimensions || dimensions >= vector.length) return vector;
  const head = vector.slice(0, dimensions);
  const norm = Math.sqrt(head.reduce((sum, v) => sum + v * v, 0)) || 1;
  return head.map((v) => v / norm);
}

function encodeVector(vector, format) {
  if (format === "float") return vector;
  const bytes = new Uint8Array(vector.length * 4);
  const view = new DataView(bytes.buffer);
  vector.forEach((v, i) => view.setFloat32(i * 4, v, true)); // little-endian, as OpenAI sends it
  return bytesToBase64(bytes);
}

// Runs `work` over `items` with at most `limit` in flight, keeping results in item order.
async function mapLimited(items, limit, work) {
  const results = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await work(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
