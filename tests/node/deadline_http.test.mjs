// Deadlines (deadline.js) and the HTTP helpers (http.js), loaded straight from the Worker's sources.
import assert from "node:assert/strict";
import { test } from "node:test";
import { DeadlineExceeded, timeoutError, Watchdog, withDeadline } from "../../worker_template/src/deadline.js";
import { ApiError, newId, readJsonBody } from "../../worker_template/src/http.js";

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

test("withDeadline passes a prompt answer through and rejects a late one with DeadlineExceeded", async () => {
  assert.equal(await withDeadline(Promise.resolve("ok"), 1000, "the answer"), "ok");
  await assert.rejects(withDeadline(sleep(200).then(() => "late"), 20, "the answer"), (err) => {
    assert.ok(err instanceof DeadlineExceeded);
    assert.equal(err.message, "the answer did not arrive within 20 ms");
    return true;
  });
});

test("timeoutError is a 504 with code timeout", () => {
  const err = timeoutError(new DeadlineExceeded("the first token", 5));
  assert.equal(err.status, 504);
  assert.equal(err.body().error.code, "timeout");
});

test("Watchdog fires while a read is pending past its deadline, never while paused", async () => {
  let fired = 0;
  const watchdog = new Watchdog(() => fired++);
  watchdog.arm(20, "the next token");
  watchdog.pause(); // the read came back in time; the client is slow to read the next one
  await sleep(60);
  assert.equal(fired, 0);
  assert.equal(watchdog.error, null);
  watchdog.arm(20, "the next token");
  await sleep(80);
  assert.equal(fired, 1);
  assert.equal(watchdog.error.what, "the next token");
  watchdog.stop();
});

test("Watchdog re-arms earlier when a shorter deadline follows a longer one", async () => {
  let fired = 0;
  const watchdog = new Watchdog(() => fired++);
  watchdog.arm(10000, "the first token");
  watchdog.pause();
  watchdog.arm(20, "the next token");
  await sleep(100);
  assert.equal(fired, 1);
  watchdog.stop();
});

test("newId: the prefix and 24 hex digits, never the same twice", () => {
  const ids = new Set();
  for (let i = 0; i < 2000; i++) {
    const id = newId("req_");
    assert.match(id, /^req_[0-9a-f]{24}$/);
    ids.add(id);
  }
  assert.equal(ids.size, 2000);
});

test("ApiError renders OpenAI's envelope with a type derived from the status", async () => {
  const response = new ApiError(429, "Slow down.", { code: "rate_limit_exceeded", headers: { "retry-after": "5" } }).toResponse();
  assert.equal(response.status, 429);
  assert.equal(response.headers.get("retry-after"), "5");
  assert.deepEqual(await response.json(), { error: { message: "Slow down.", type: "rate_limit_error", param: null, code: "rate_limit_exceeded" } });
});

function post(body, headers = {}) {
  return new Request("http://gateway/v1/chat/completions", { method: "POST", body, headers, duplex: "half" });
}

function chunked(text) {
  const bytes = new TextEncoder().encode(text);
  return new ReadableStream({
    start(controller) {
      for (let i = 0; i < bytes.length; i += 7) controller.enqueue(bytes.slice(i, i + 7));
      controller.close();
    },
  });
}

async function rejectsWith(promise, status, code) {
  await assert.rejects(promise, (err) => {
    assert.ok(err instanceof ApiError);
    assert.equal(err.status, status);
    assert.equal(err.code, code);
    return true;
  });
}

test("readJsonBody reads a JSON object, sized or chunked", async () => {
  const text = JSON.stringify({ model: "m", messages: [{ role: "user", content: "héllo" }] });
  assert.deepEqual(await readJsonBody(post(text, { "content-length": String(new TextEncoder().encode(text).length) }), 1000), JSON.parse(text));
  assert.deepEqual(await readJsonBody(post(chunked(text)), 1000), JSON.parse(text));
});

test("readJsonBody refuses bodies over the limit (declared or not), bad JSON and non-objects", async () => {
  const big = JSON.stringify({ pad: "x".repeat(200) });
  await rejectsWith(readJsonBody(post(big, { "content-length": String(big.length) }), 100), 413, "request_too_large");
  await rejectsWith(readJsonBody(post(chunked(big)), 100), 413, "request_too_large");
  await rejectsWith(readJsonBody(post("{nope"), 100), 400, "invalid_json");
  await rejectsWith(readJsonBody(post("[1, 2]"), 100), 400, "invalid_type");
  await rejectsWith(readJsonBody(new Request("http://gateway/", { method: "POST" }), 100), 400, "invalid_json");
});
