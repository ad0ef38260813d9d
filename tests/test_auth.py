"""Keys are checked exactly as docs/keys.md says: SHA-256 hash lookups in the KEYS namespace."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import httpx
import openai
import pytest

BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def post(worker, key: str | None, headers: dict | None = None) -> httpx.Response:
    h = dict(headers or {})
    if key is not None:
        h["authorization"] = f"Bearer {key}"
    return httpx.post(f"{worker.base_url}/chat/completions", json=BODY, headers=h, timeout=20)


def iso(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).isoformat(timespec="seconds")


def test_missing_key_is_401(worker):
    r = post(worker, None)
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "missing_api_key"


def test_wrong_scheme_is_401(worker, api_key):
    r = httpx.post(
        f"{worker.base_url}/chat/completions",
        json=BODY,
        headers={"authorization": f"Basic {api_key}"},
    )
    assert r.status_code == 401


def test_unknown_key_is_401_with_sdk_error(worker):
    c = openai.OpenAI(base_url=worker.base_url, api_key="sk-fg-not-a-real-key", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as err:
        c.chat.completions.create(**BODY)
    assert err.value.code == "invalid_api_key"


def test_key_is_found_by_the_sha256_of_the_full_key(worker):
    key = "sk-fg-documented-format-" + "a" * 40
    record = {"id": "k1", "name": "doc", "created_at": iso(timedelta(0)), "expires_at": None}
    worker.kv_put("key:" + hashlib.sha256(key.encode()).hexdigest(), json.dumps(record))
    assert post(worker, key).status_code == 200
    # Not the prefix, not a different case: the hash of exactly what the client sends.
    assert post(worker, key[:-1]).status_code == 401
    assert post(worker, key.upper()).status_code == 401


def test_expired_key_is_401_and_future_expiry_works(worker):
    expired = worker.add_key(expires_at=iso(timedelta(minutes=-1)))
    valid = worker.add_key(expires_at=iso(timedelta(days=1)))
    r = post(worker, expired)
    assert r.status_code == 401 and r.json()["error"]["code"] == "expired_api_key"
    assert post(worker, valid).status_code == 200


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        json.dumps(["list"]),
        json.dumps({"name": "no id"}),
        json.dumps({"id": "x", "expires_at": "someday"}),
    ],
)
def test_corrupt_key_record_never_lets_a_request_in(worker, raw):
    key = "sk-fg-corrupt-" + hashlib.sha256(raw.encode()).hexdigest()
    worker.kv_put("key:" + hashlib.sha256(key.encode()).hexdigest(), raw)
    assert post(worker, key).status_code == 401


def test_a_key_added_after_a_miss_works_within_seconds(worker):
    import time

    key = "sk-fg-late-" + "b" * 40
    assert post(worker, key).status_code == 401
    record = {"id": "late", "name": "late", "created_at": iso(timedelta(0)), "expires_at": None}
    worker.kv_put("key:" + hashlib.sha256(key.encode()).hexdigest(), json.dumps(record))
    deadline = time.monotonic() + 10
    while post(worker, key).status_code != 200:
        assert time.monotonic() < deadline, "a new key was still refused 10 s after it was stored"
        time.sleep(0.3)
