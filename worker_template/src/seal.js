// Reasoning that leaves the gateway as `encrypted_content` (Responses API, store: false) and may
// come back in a later request: AES-GCM with a key derived from the REASONING_SECRET Worker
// secret, bound to the API key that received it (additional data; its rotate-key successors
// too: keyLineage), so a client can neither read
// it, nor write text the model would take as its own reasoning, nor replay another key's blob.
// Without the secret (a local run, a `wrangler deploy` without `wrangler secret put`) each
// isolate makes a random key: sealed reasoning then lives only as long as the isolate, and a
// blob this isolate cannot open is dropped instead of refused (it may come from another one).
import { bytesToBase64 } from "./base64.js";

const SEAL_PREFIX = "fg1.";
const SEAL_CONTEXT = "flaregate reasoning seal v1\u0000";
let sealKeyCache = { secret: undefined, key: null, ephemeral: false };

async function sealKey(env) {
  const secret = typeof env?.REASONING_SECRET === "string" && env.REASONING_SECRET ? env.REASONING_SECRET : null;
  if (sealKeyCache.key && sealKeyCache.secret === secret) return sealKeyCache;
  let key;
  if (secret) {
    const material = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(SEAL_CONTEXT + secret));
    key = await crypto.subtle.importKey("raw", material, "AES-GCM", false, ["encrypt", "decrypt"]);
  } else {
    key = await crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"]);
  }
  sealKeyCache = { secret, key, ephemeral: !secret };
  return sealKeyCache;
}

function sealAad(keyId) {
  return new TextEncoder().encode(`reasoning:${keyId ?? ""}`);
}

export async function sealReasoning(env, keyId, text) {
  const { key } = await sealKey(env);
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const plain = new TextEncoder().encode(JSON.stringify({ t: text }));
  const sealed = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: sealAad(keyId) }, key, plain));
  const out = new Uint8Array(iv.length + sealed.length);
  out.set(iv);
  out.set(sealed, iv.length);
  return SEAL_PREFIX + bytesToBase64(out).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

// -> {text} when the blob is genuine; {text: null, dropped: true} when it cannot be opened but
// the key is ephemeral (see above); {text: null} when it is forged, altered or another key's.
export async function openReasoning(env, keyId, blob) {
  const { key, ephemeral } = await sealKey(env);
  const failed = { text: null, dropped: ephemeral };
  if (typeof blob !== "string" || !blob.startsWith(SEAL_PREFIX)) return failed;
  let bytes;
  try {
    const b64 = blob.slice(SEAL_PREFIX.length).replace(/-/g, "+").replace(/_/g, "/");
    bytes = Uint8Array.from(atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4)), (c) => c.charCodeAt(0));
  } catch {
    return failed;
  }
  if (bytes.length < 12 + 16) return failed;
  try {
    const plain = await crypto.subtle.decrypt({ name: "AES-GCM", iv: bytes.subarray(0, 12), additionalData: sealAad(keyId) }, key, bytes.subarray(12));
    const text = JSON.parse(new TextDecoder().decode(plain)).t;
    return typeof text === "string" ? { text } : failed;
  } catch {
    return failed;
  }
}
