// SHA-256 of a string's UTF-8 bytes, as lowercase hex: how API keys are looked up in KEYS
// (docs/keys.md). Computed here rather than with crypto.subtle.digest, which costs about 30 µs per
// call in workerd (measured in-isolate: most of it the promise and buffer plumbing around a
// 50-byte hash) against a few µs for this, on every authenticated request. The result is checked
// against crypto.subtle in tests/node/sha256.test.mjs.
const SHA_ENCODER = new TextEncoder();

// The round constants and initial hash: the first 32 bits of the fractional parts of the cube
// roots of the first 64 primes, and of the square roots of the first 8 (FIPS 180-4, 4.2.2, 5.3.3).
const SHA_PRIMES = [];
for (let n = 2; SHA_PRIMES.length < 64; n++) if (SHA_PRIMES.every((p) => n % p !== 0)) SHA_PRIMES.push(n);
const fraction32 = (x) => ((x - Math.floor(x)) * 0x100000000) >>> 0;
const SHA_K = Uint32Array.from(SHA_PRIMES, (p) => fraction32(Math.cbrt(p)));
const SHA_H = Uint32Array.from(SHA_PRIMES.slice(0, 8), (p) => fraction32(Math.sqrt(p)));
const SHA_W = new Uint32Array(64);

export function sha256Hex(text) {
  const bytes = SHA_ENCODER.encode(text);
  const padded = new Uint8Array(((bytes.length + 72) >>> 6) << 6);
  padded.set(bytes);
  padded[bytes.length] = 0x80;
  const view = new DataView(padded.buffer);
  const bits = bytes.length * 8;
  view.setUint32(padded.length - 8, Math.floor(bits / 0x100000000));
  view.setUint32(padded.length - 4, bits >>> 0);
  const h = Uint32Array.from(SHA_H);
  const w = SHA_W;
  for (let offset = 0; offset < padded.length; offset += 64) {
    for (let i = 0; i < 16; i++) w[i] = view.getUint32(offset + i * 4);
    for (let i = 16; i < 64; i++) {
      const x = w[i - 15];
      const y = w[i - 2];
      const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
      const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
      w[i] = (w[i - 16] + s0 + w[i - 7] + s1) | 0;
    }
    let [a, b, c, d, e, f, g, hh] = h;
    for (let i = 0; i < 64; i++) {
      const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const t1 = (hh + S1 + ((e & f) ^ (~e & g)) + SHA_K[i] + w[i]) | 0;
      const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const t2 = (S0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
      hh = g;
      g = f;
      f = e;
      e = (d + t1) | 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + t2) | 0;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
    h[5] += f;
    h[6] += g;
    h[7] += hh;
  }
  let hex = "";
  for (let i = 0; i < 8; i++) hex += h[i].toString(16).padStart(8, "0");
  return hex;
}
