"""Key checks that cannot be fooled or stalled: corrupt records, a key store that never answers,
and the health probe answered for HEAD as for GET."""

from __future__ import annotations

import hashlib
import json
import secrets
import subprocess
import time

import httpx
import pytest

from tests.esm_sources import copy_worker_sources

BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize("bad_id", ["", {}, 0, False, None, [], 7, "MISSING"])
def test_a_record_without_a_non_empty_string_id_lets_nobody_in(worker, bad_id):
    key = "sk-fg-" + secrets.token_urlsafe(24)
    record = {"name": "corrupt", "created_at": "2026-01-01T00:00:00Z", "expires_at": None}
    if bad_id != "MISSING":
        record["id"] = bad_id
    worker.kv_put(f"key:{hashlib.sha256(key.encode()).hexdigest()}", json.dumps(record))
    r = httpx.post(
        f"{worker.base_url}/chat/completions",
        json=BODY,
        headers={"authorization": f"Bearer {key}"},
        timeout=20,
    )
    assert r.status_code == 401, r.text
    assert r.json()["error"]["code"] == "invalid_api_key"


def test_head_health_is_answered_like_get_without_a_body(worker):
    get = httpx.get(f"{worker.url}/health")
    head = httpx.head(f"{worker.url}/health")
    assert head.status_code == get.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"]


def test_head_works_wherever_get_does_and_405_names_it(worker, api_key):
    head = httpx.head(f"{worker.base_url}/models", headers={"authorization": f"Bearer {api_key}"})
    assert head.status_code == 200 and head.content == b""
    r = httpx.delete(f"{worker.url}/health")
    assert r.status_code == 405
    assert r.headers["allow"] == "GET, HEAD"


# workerd's KV cannot be made to hang, so this one failure is staged in Node: auth.js alone, with
# a KEYS binding whose get() never settles (the shape of a KV outage that hangs).
HANGING_KV = """
import { authenticate, KEY_LOOKUP_DEADLINE_MS } from "./auth.js";
const env = { KEYS: { get: () => new Promise(() => {}) } };
const request = new Request("http://x/v1/models", { headers: { authorization: "Bearer sk-fg-x" } });
const started = Date.now();
const timer = setTimeout(() => {}, 60000); // keeps Node alive while the lookup is pending
try {
  await authenticate(request, env, { auth: { cacheSeconds: 5, negativeCacheSeconds: 1 } });
  console.log(JSON.stringify({ outcome: "let in" }));
} catch (err) {
  console.log(JSON.stringify({ status: err.status, code: err.code, waited: Date.now() - started, deadline: KEY_LOOKUP_DEADLINE_MS }));
}
clearTimeout(timer);
"""


def test_a_key_lookup_that_never_answers_is_a_503_after_the_deadline(tmp_path):
    src = copy_worker_sources(tmp_path)
    (src / "hang.mjs").write_text(HANGING_KV)
    started = time.monotonic()
    out = subprocess.run(
        ["node", str(src / "hang.mjs")], capture_output=True, text=True, timeout=30, check=True
    )
    answer = json.loads(out.stdout.strip().splitlines()[-1])
    assert answer["status"] == 503 and answer["code"] == "keyring_unavailable"
    assert answer["waited"] >= answer["deadline"]
    assert time.monotonic() - started < 25
    assert "keyring_unavailable" in out.stderr
