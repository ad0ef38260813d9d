// Every error the Worker answers with is an ApiError, rendered as OpenAI's envelope
// {"error": {"message", "type", "param", "code"}} so that OpenAI clients raise their own
// typed exceptions (BadRequestError, AuthenticationError, NotFoundError, ...).
export class ApiError extends Error {
  constructor(status, message, { type, code = null, param = null, headers = {} } = {}) {
    super(message);
    this.status = status;
    this.type = type ?? errorTypeFor(status);
    this.code = code;
    this.param = param;
    this.headers = headers;
  }

  body() {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }

  toResponse() {
    return jsonResponse(this.body(), this.status, this.headers);
  }
}

function errorTypeFor(status) {
  if (status === 429) return "rate_limit_error";
  if (status >= 500) return "server_error";
  return "invalid_request_error";
}

export function invalidRequest(message, param = null, code = null) {
  return new ApiError(400, message, { param, code });
}

export function jsonResponse(body, status = 200, headers = {}) {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

const HEX_BYTE = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"));

// Bytes as lowercase hex, by table: a closure and toString(16) per byte cost more than the
// SHA-256 whose digest they print, on every authenticated request.
export function hexOf(bytes) {
  let hex = "";
  for (let i = 0; i < bytes.length; i++) hex += HEX_BYTE[bytes[i]];
  return hex;
}

// Ids are 12 random bytes in hex. The bytes come from a pool refilled 64 ids at a time: one
// getRandomValues call per 64 ids, not one per id (several ids are made per request). Filled on
// first use: Workers refuse random values at module load.
const ID_BYTES = 12;
const idPool = new Uint8Array(ID_BYTES * 64);
let idPoolAt = idPool.length;

export function newId(prefix) {
  if (idPoolAt === idPool.length) {
    crypto.getRandomValues(idPool);
    idPoolAt = 0;
  }
  let id = prefix;
  for (const end = idPoolAt + ID_BYTES; idPoolAt < end; idPoolAt++) id += HEX_BYTE[idPool[idPoolAt]];
  return id;
}

export function typeName(value) {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value;
}

// Reads a JSON object body without trusting Content-Length: the byte count is enforced while
// reading, so a chunked upload cannot grow past the limit in memory.
export async function readJsonBody(request, maxBytes) {
  const length = request.headers.get("content-length");
  const declared = length === null ? NaN : Number(length);
  if (declared > maxBytes) throw bodyTooLarge(maxBytes);
  if (!request.body) throw invalidRequest("The request body is empty; send a JSON object.", null, "invalid_json");
  // With a Content-Length within the limit the runtime reads the body in one go (HTTP framing
  // stops it there); without one (a chunked upload) the byte count is enforced chunk by chunk.
  let text;
  if (Number.isInteger(declared) && declared >= 0) {
    text = await request.text();
    if (text.length > maxBytes) throw bodyTooLarge(maxBytes); // more characters than bytes allowed
  } else {
    text = BODY_DECODER.decode(await readBounded(request.body, maxBytes));
  }
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    throw invalidRequest(
      "We could not parse the JSON body of your request. Send a JSON object with Content-Type: application/json.",
      null,
      "invalid_json",
    );
  }
  if (typeName(body) !== "object") {
    throw invalidRequest(`The request body must be a JSON object, not ${typeName(body)}.`, null, "invalid_type");
  }
  const deep = fieldNestedTooDeep(body);
  if (deep !== null) {
    throw invalidRequest(`Invalid '${deep}': nested more than ${MAX_JSON_DEPTH} levels deep.`, deep, "nested_too_deep");
  }
  return body;
}

const BODY_DECODER = new TextDecoder();

async function readBounded(stream, maxBytes) {
  const reader = stream.getReader();
  const chunks = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      reader.cancel().catch(() => {});
      throw bodyTooLarge(maxBytes);
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return chunks[0];
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

// JSON.parse takes any depth, but JSON.stringify and structuredClone recurse: a body nested a few
// thousand levels deep would overflow the stack wherever it is echoed or sent on. Walked without
// recursion; returns the top-level field that holds the too-deep value, or null.
const MAX_JSON_DEPTH = 64;

function fieldNestedTooDeep(body) {
  const stack = [];
  for (const key of Object.keys(body)) {
    const value = body[key];
    if (value !== null && typeof value === "object") stack.push([value, 2, key]);
  }
  while (stack.length) {
    const [value, depth, field] = stack.pop();
    if (depth > MAX_JSON_DEPTH) return field;
    for (const item of Array.isArray(value) ? value : Object.values(value)) {
      if (item !== null && typeof item === "object") stack.push([item, depth + 1, field]);
    }
  }
  return null;
}

function bodyTooLarge(maxBytes) {
  return new ApiError(413, `The request body is larger than this gateway accepts (${maxBytes} bytes).`, {
    code: "request_too_large",
  });
}
