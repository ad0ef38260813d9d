// POST /v1/images/generations: validate -> resolve model -> build the model's input (JSON, or
// multipart form data for FLUX.2) -> Workers AI, n times in parallel -> whatever form the image
// comes back in ({image: base64}, a byte stream, bytes) -> b64_json. Nothing stores images, so
// there are no URLs; an answer that is not an image is an error, never a placeholder.
import { bytesToBase64 } from "./base64.js";
import { bindingError, runModel } from "./binding.js";
import { resolveModel } from "./catalog.js";
import { DeadlineExceeded, timeoutError, withDeadline } from "./deadline.js";
import { checkTypes } from "./field_checks.js";
import { ApiError, invalidRequest, jsonResponse, readJsonBody, typeName } from "./http.js";

const MAX_IMAGES = 4; // per request: each image is a full model run, billed and slow
const DEFAULT_IMAGE_MODEL = "dall-e-2"; // what OpenAI uses when `model` is omitted

// The first bytes of each image format a model may return.
const IMAGE_SIGNATURES = [
  { format: "png", test: (b) => b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47 },
  { format: "jpeg", test: (b) => b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff },
  { format: "webp", test: (b) => String.fromCharCode(...b.slice(0, 4)) === "RIFF" && String.fromCharCode(...b.slice(8, 12)) === "WEBP" },
  { format: "gif", test: (b) => String.fromCharCode(...b.slice(0, 4)) === "GIF8" },
];

export async function handleImageGenerations(ctx) {
  const body = await readJsonBody(ctx.request, ctx.settings.limits.maxBodyBytes);
  const name = body.model ?? DEFAULT_IMAGE_MODEL;
  ctx.log.model_requested = typeof name === "string" ? name : null;
  const model = resolveModel(name, "image");
  ctx.log.model = model.id;
  checkTypes(body, { stream: "boolean", n: "integer", size: "string", response_format: "string" });
  const req = parseImageRequest(body, model);
  ctx.log.images = req.n;

  const deadline = ctx.settings.timeouts.requestMs;
  const images = await Promise.all(Array.from({ length: req.n }, () => generateImage(ctx, model, req, deadline)));
  const formats = new Set(images.map((i) => i.format));
  const response = {
    created: Math.floor(Date.now() / 1000),
    data: images.map((i) => ({ b64_json: i.base64 })),
  };
  if (formats.size === 1) response.output_format = images[0].format;
  if (req.size) response.size = `${req.size.width}x${req.size.height}`;
  return jsonResponse(response);
}

function parseImageRequest(body, model) {
  const prompt = body.prompt;
  if (prompt === undefined || prompt === null) {
    throw invalidRequest("Missing required parameter: 'prompt'.", "prompt", "missing_required_parameter");
  }
  if (typeof prompt !== "string") {
    throw invalidRequest(`Invalid type for 'prompt': expected a string, but got ${typeName(prompt)} instead.`, "prompt", "invalid_type");
  }
  if (!prompt.trim()) throw invalidRequest("Invalid 'prompt': empty string. Describe the image to generate.", "prompt", "invalid_value");

  let n = 1;
  if (body.n !== undefined && body.n !== null) {
    if (!Number.isInteger(body.n) || body.n < 1 || body.n > MAX_IMAGES) {
      throw invalidRequest(`Invalid 'n': ${JSON.stringify(body.n)}. This gateway generates 1 to ${MAX_IMAGES} images per request; send more requests for more.`, "n", "invalid_value");
    }
    n = body.n;
  }
  const format = body.response_format;
  if (format === "url") {
    throw invalidRequest("response_format 'url' is not supported: this gateway does not store images. Use response_format 'b64_json' (the default here) and decode the base64 data.", "response_format", "unsupported_value");
  }
  if (format !== undefined && format !== null && format !== "b64_json") {
    throw invalidRequest(`Invalid value for 'response_format': ${JSON.stringify(format)}. Supported values are: 'b64_json'.`, "response_format", "invalid_value");
  }
  if (body.stream === true) {
    throw invalidRequest("Streaming partial images is not supported; send the request without 'stream'.", "stream", "unsupported_value");
  }
  for (const field of ["quality", "style", "output_format", "background", "moderation", "user"]) {
    if (body[field] !== undefined && body[field] !== null && typeof body[field] !== "string") {
      throw invalidRequest(`Invalid type for '${field}': expected a string, but got ${typeName(body[field])} instead.`, field, "invalid_type");
    }
  }
  // "hd" / "high" quality buys the model's most steps; everything else runs its default.
  const steps = ["hd", "high"].includes(body.quality) ? model.facts.max_steps : model.facts.default_steps;
  return { prompt, n, size: parseSize(body.size, model), steps };
}

// WIDTHxHEIGHT goes to models that take width and height, checked against their range.
// Models with a fixed output size (FLUX.1 schnell) ignore it, as docs/models.md says.
function parseSize(size, model) {
  if (size === undefined || size === null || size === "auto") return null;
  const match = typeof size === "string" ? /^(\d{2,5})x(\d{2,5})$/.exec(size) : null;
  if (!match) {
    throw invalidRequest(`Invalid 'size': ${JSON.stringify(size)}. Use WIDTHxHEIGHT in pixels, like '1024x1024', or 'auto'.`, "size", "invalid_value");
  }
  const { min_size: min, max_size: max } = model.facts;
  if (!max) return null;
  const width = Number(match[1]);
  const height = Number(match[2]);
  if (width < min || width > max || height < min || height > max) {
    throw invalidRequest(`Invalid 'size': ${size}. The model '${model.requested}' makes images from ${min} to ${max} pixels on each side.`, "size", "invalid_value");
  }
  return { width, height };
}

function imageInputs(model, req) {
  const facts = model.facts;
  const fields = { prompt: req.prompt };
  // FLUX.2 klein has fixed steps (steps_field null); SD-family models call it num_steps.
  const stepsField = facts.steps_field === undefined ? "steps" : facts.steps_field;
  if (stepsField && req.steps) fields[stepsField] = req.steps;
  if (req.size) {
    fields.width = req.size.width;
    fields.height = req.size.height;
  }
  if (facts.image_input !== "multipart") return fields;
  // FLUX.2 takes multipart form data even for a prompt alone. Response serializes the form and
  // makes the content type with its boundary (Cloudflare's flux-2-dev usage example).
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) form.append(name, String(value));
  const serialized = new Response(form);
  return { multipart: { body: serialized.body, contentType: serialized.headers.get("content-type") } };
}

async function generateImage(ctx, model, req, deadlineMs) {
  const started = Date.now();
  const result = await runModel(ctx, model.id, imageInputs(model, req), deadlineMs, "the image");
  const remaining = Math.max(1, deadlineMs - (Date.now() - started));
  let image;
  try {
    image = await withDeadline(imageFromResult(result), remaining, "the image");
  } catch (err) {
    if (err instanceof DeadlineExceeded) throw timeoutError(err);
    if (err instanceof ApiError) throw err;
    throw bindingError(err, model.id);
  }
  if (!image.format) {
    console.error(JSON.stringify({ event: "bad_image_output", model: model.id, bytes: image.length }));
    const detail = image.text ? `: ${image.text.slice(0, 300)}` : "";
    throw new ApiError(502, `Workers AI returned no image from '${model.id}'${detail}. Retry, or change the prompt if the model refused it.`, {
      code: "image_generation_failed",
    });
  }
  return image;
}

// Every form an image model answers in, as {base64, format} (format null: not an image).
async function imageFromResult(result) {
  if (result instanceof ReadableStream) return imageFromBytes(new Uint8Array(await new Response(result).arrayBuffer()));
  if (result instanceof ArrayBuffer) return imageFromBytes(new Uint8Array(result));
  if (ArrayBuffer.isView(result)) return imageFromBytes(new Uint8Array(result.buffer, result.byteOffset, result.byteLength));
  const image = result?.image;
  if (typeof image === "string") {
    const base64 = image.replace(/^data:[^,]*,/, "").replace(/\s+/g, "");
    let head;
    try {
      head = Uint8Array.from(atob(base64.slice(0, 16)), (c) => c.charCodeAt(0));
    } catch {
      return { base64: "", format: null, length: base64.length, text: "the image field is not base64" };
    }
    return { base64, format: sniffImage(head), length: base64.length };
  }
  if (image instanceof ReadableStream || image instanceof ArrayBuffer || ArrayBuffer.isView(image)) return imageFromResult(image);
  const text = result && typeof result === "object" ? JSON.stringify(result) : String(result ?? "");
  return { base64: "", format: null, length: 0, text };
}

function imageFromBytes(bytes) {
  const format = sniffImage(bytes);
  if (!format) return { base64: "", format: null, length: bytes.length, text: new TextDecoder().decode(bytes.slice(0, 300)) };
  return { base64: bytesToBase64(bytes), format, length: bytes.length };
}

function sniffImage(bytes) {
  if (!bytes || bytes.length < 4) return null;
  return IMAGE_SIGNATURES.find((s) => s.test(bytes))?.format ?? null;
}
