// How Workers AI's errors become OpenAI errors (binding.js), loaded straight from the Worker's sources.
import assert from "node:assert/strict";
import { test } from "node:test";
import { bindingError, isRetryLater, upstreamErrorFromEvent } from "../../worker_template/src/binding.js";

const cases = [
  ["3040: Capacity temporarily exceeded, please try again.", 429, "rate_limit_exceeded"],
  ["3036: You have used up your daily free allocation of 10,000 neurons.", 429, "insufficient_quota"],
  ["5007: No such model @cf/nope/nope or task", 404, "model_not_found"],
  ["3006: Request is too large", 413, "request_too_large"],
  ["8001: Invalid input", 400, "invalid_request"],
  ["3007: Request timeout", 504, "timeout"],
  ["5016: Access denied: accept the licence first", 403, "model_not_permitted"],
  ["something unexpected", 502, "upstream_error"],
];

for (const [message, status, code] of cases) {
  test(`binding error "${message.slice(0, 30)}" -> ${status} ${code}`, () => {
    const realError = console.error;
    console.error = () => {}; // unknown errors are logged; not what this test reads
    try {
      const err = bindingError(new Error(message), "@cf/nope/nope");
      assert.equal(err.status, status);
      assert.equal(err.code, code);
      assert.equal(isRetryLater(err), status === 429);
    } finally {
      console.error = realError;
    }
  });
}

test("the daily-allocation 429 says when to retry: seconds until 00:00 UTC", () => {
  const err = bindingError(new Error("3036: daily allocation"), "m");
  const seconds = Number(err.headers["retry-after"]);
  assert.ok(seconds >= 1 && seconds <= 86400);
});

test("an error event inside a stream maps like a thrown error", () => {
  assert.equal(upstreamErrorFromEvent({ code: 3040, message: "Capacity temporarily exceeded" }).status, 429);
  assert.equal(upstreamErrorFromEvent("3040: Capacity temporarily exceeded").status, 429);
});
