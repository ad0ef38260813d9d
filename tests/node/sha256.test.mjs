// The Worker's SHA-256 (sha256.js), which finds API keys in KEYS: it must agree with
// crypto.subtle (and so with the hashlib digests `flaregate keys create` stores) for every input.
import assert from "node:assert/strict";
import { test } from "node:test";
import { sha256Hex } from "../../worker_template/src/sha256.js";

async function reference(text) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Buffer.from(digest).toString("hex");
}

test("FIPS 180-4 test vectors", () => {
  assert.equal(sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  assert.equal(sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  assert.equal(sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
});

test("agrees with crypto.subtle at every length around the block and padding boundaries", async () => {
  for (let n = 0; n <= 200; n++) {
    const text = Array.from({ length: n }, (_, i) => String.fromCharCode(33 + ((i * 7 + n) % 90))).join("");
    assert.equal(sha256Hex(text), await reference(text), `length ${n}`);
  }
});

test("agrees with crypto.subtle on API keys and on non-ASCII text", async () => {
  const samples = ["sk-fg-" + "A".repeat(43), "sk-fg-Zm9vYmFyLV9iYXo", "ключ-é-🔑", "x".repeat(5000)];
  for (let i = 0; i < 50; i++) samples.push(`sk-fg-${crypto.getRandomValues(new Uint8Array(32)).join("-")}`);
  for (const text of samples) assert.equal(sha256Hex(text), await reference(text), text.slice(0, 40));
});
