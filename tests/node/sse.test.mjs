// SseParser and the SSE helpers, loaded straight from the Worker's sources (no workerd).
import assert from "node:assert/strict";
import { test } from "node:test";
import { SseParser, encodeChunk, sseData, StreamEnd } from "../../worker_template/src/sse.js";

const encoder = new TextEncoder();

function feed(parser, byteChunks) {
  const events = [];
  for (const chunk of byteChunks) events.push(...parser.push(chunk));
  events.push(...parser.end());
  return events;
}

function splitAt(bytes, cuts) {
  const chunks = [];
  let at = 0;
  for (const cut of [...cuts, bytes.length]) {
    chunks.push(bytes.slice(at, cut));
    at = cut;
  }
  return chunks;
}

test("an event split at every byte offset, inside multi-byte characters too, comes out whole", () => {
  const payload = '{"response":"héllo wörld 😀 日本"}';
  const bytes = encoder.encode(`data: ${payload}\n\ndata: [DONE]\n\n`);
  for (let cut = 1; cut < bytes.length; cut++) {
    assert.deepEqual(feed(new SseParser(), splitAt(bytes, [cut])), [payload, "[DONE]"], `cut at byte ${cut}`);
  }
  // One byte per read: every character is split.
  assert.deepEqual(feed(new SseParser(), splitAt(bytes, [...bytes.keys()].slice(1))), [payload, "[DONE]"]);
});

test('"\\r\\n" line endings split between reads do not end the event early', () => {
  const parser = new SseParser();
  const events = feed(parser, [encoder.encode('data: {"a":1}\r'), encoder.encode('\n\r'), encoder.encode('\ndata: {"b":2}\r\n\r\n')]);
  assert.deepEqual(events, ['{"a":1}', '{"b":2}']);
});

test("bare \\r line endings work like \\n", () => {
  assert.deepEqual(feed(new SseParser(), [encoder.encode('data: {"a":1}\r\rdata: {"b":2}\r\r')]), ['{"a":1}', '{"b":2}']);
});

test("comments and event/id/retry fields carry nothing; multi-line data joins with \\n", () => {
  const text = ": keep-alive\nevent: message\nid: 7\nretry: 100\ndata: line one\ndata:line two\n\n";
  assert.deepEqual(feed(new SseParser(), [encoder.encode(text)]), ["line one\nline two"]);
});

test("two JSON data lines without the blank line between them are two events", () => {
  const text = 'data: {"response":"a"}\ndata: {"response":"b"}\n\n';
  assert.deepEqual(feed(new SseParser(), [encoder.encode(text)]), ['{"response":"a"}', '{"response":"b"}']);
});

test("an event cut off by the end of the stream is still delivered", () => {
  assert.deepEqual(feed(new SseParser(), [encoder.encode('data: {"response":"tail"}')]), ['{"response":"tail"}']);
});

test("sseData writes one data event, JSON-encoding objects", () => {
  const decode = (bytes) => new TextDecoder().decode(bytes);
  assert.equal(decode(sseData({ a: "é" })), 'data: {"a":"é"}\n\n');
  assert.equal(decode(sseData("[DONE]")), "data: [DONE]\n\n");
});

test("StreamEnd tells its listener once, whether it ended before or after listening", () => {
  const seen = [];
  const early = new StreamEnd();
  early.report({ stream_error: "client_cancelled" });
  early.report({});
  early.listen((outcome) => seen.push(["early", outcome]));
  const late = new StreamEnd();
  late.listen((outcome) => seen.push(["late", outcome]));
  late.report();
  late.report({ stream_error: "stream_failed" });
  assert.deepEqual(seen, [["early", { stream_error: "client_cancelled" }], ["late", {}]]);
});

test("encodeChunk: every chunk keeps its own bytes, across shared buffers, any text, any size", () => {
  const texts = [];
  // Enough chunks to fill several shared buffers; ASCII, multi-byte, astral and lone surrogates
  // (which TextEncoder writes as U+FFFD), an empty text, and texts too big to share a buffer.
  for (let i = 0; i < 3000; i++) {
    if (i % 500 === 7) texts.push("x".repeat(6000 + i));
    else if (i % 3 === 0) texts.push(`data: {"content":"tok${i} héllo 😀 日本"}\n\n`);
    else if (i % 97 === 0) texts.push(`lone \ud800 surrogate ${i}`);
    else if (i % 101 === 0) texts.push("");
    else texts.push(`data: {"content":"tok${i} "}\n\n`);
  }
  const chunks = texts.map((text) => encodeChunk(text));
  // Checked after all of them were made: a region written twice would show here.
  texts.forEach((text, i) => assert.deepEqual(chunks[i], encoder.encode(text), `chunk ${i}`));
});

test("decoding: chunks cut anywhere, a byte order mark only at the start, as one streaming TextDecoder reads them", () => {
  const bom = [0xef, 0xbb, 0xbf];
  const body = encoder.encode('data: {"response":"é😀 \ufeff日"}\n\ndata: [DONE]\n\n');
  for (const start of [[], bom]) {
    const bytes = new Uint8Array([...start, ...body, ...bom, ...encoder.encode("data: x\n\n")]);
    const reference = new TextDecoder().decode(bytes);
    for (let a = 0; a <= bytes.length; a += 3) {
      for (let b = a; b <= bytes.length; b += 5) {
        const parser = new SseParser();
        const text = [bytes.slice(0, a), bytes.slice(a, b), bytes.slice(b)].map((chunk) => parser.decode(chunk)).join("");
        assert.equal(text + parser.decoder.decode(), reference, `cuts ${a}, ${b}`);
      }
    }
  }
});
