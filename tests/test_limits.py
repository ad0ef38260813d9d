"""Per-key limits in workerd (docs/keys.md): model allowlists, rpm and daily token budgets, counted
in the KeyLimiter Durable Object (Miniflare runs it SQLite-backed, as Cloudflare does). Keys are
written straight into KV in the documented format and driven with the official openai SDK."""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import subprocess
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import openai
import pytest

from tests.conftest import LIMITS_TEST_WINDOW_MS

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def put_key(worker, **fields) -> str:
    """A key stored the documented way, with whatever extra record fields a test gives."""
    key = "sk-fg-" + secrets.token_urlsafe(32)
    record = {
        "id": uuid.uuid4().hex[:12],
        "name": "limits",
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "expires_at": None,
        **fields,
    }
    worker.kv_put(f"key:{hashlib.sha256(key.encode()).hexdigest()}", json.dumps(record))
    return key


def client_for(worker, key) -> openai.OpenAI:
    return openai.OpenAI(base_url=worker.base_url, api_key=key, max_retries=0, timeout=20)


def chat_with_usage(prompt_tokens: int, completion_tokens: int) -> dict:
    """A chat body whose (fake) model reports exactly this usage."""
    answer = {
        "response": "ok",
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }
    directive = "script:" + json.dumps({"object": answer})
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": directive}]}


def limit_headers(headers) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.startswith("x-ratelimit-")}


# --- rpm ------------------------------------------------------------------------------------


async def _burst(worker, key: str, count: int):
    client = openai.AsyncOpenAI(base_url=worker.base_url, api_key=key, max_retries=0, timeout=30)

    async def one():
        try:
            raw = await client.chat.completions.with_raw_response.create(**CHAT)
            return raw.http_response.status_code, raw.headers, None
        except openai.APIStatusError as err:
            return err.status_code, err.response.headers, err

    try:
        return await asyncio.gather(*(one() for _ in range(count)))
    finally:
        await client.close()


def test_rpm_10_under_25_concurrent_requests_admits_exactly_10(worker):
    key = put_key(worker, rpm=10)
    started = time.monotonic()
    results = asyncio.run(_burst(worker, key, 25))
    # The window must not have ended during the burst, or a slot could legitimately free up.
    assert time.monotonic() - started < LIMITS_TEST_WINDOW_MS / 1000

    ok = [r for r in results if r[0] == 200]
    refused = [r for r in results if r[0] == 429]
    assert len(ok) == 10 and len(refused) == 15
    for _, headers, err in refused:
        assert isinstance(err, openai.RateLimitError)
        assert err.code == "rate_limit_exceeded"
        retry = int(headers["retry-after"])
        assert 1 <= retry <= LIMITS_TEST_WINDOW_MS / 1000
        assert headers["x-ratelimit-limit-requests"] == "10"
        assert headers["x-ratelimit-remaining-requests"] == "0"
    # Each admitted request saw its own slot: 9, 8, ... 0 remaining.
    remaining = sorted(int(h["x-ratelimit-remaining-requests"]) for _, h, _ in ok)
    assert remaining == list(range(10))
    assert {h["x-ratelimit-limit-requests"] for _, h, _ in ok} == {"10"}
    # A key without a token budget gets no tokens headers.
    assert not any("x-ratelimit-limit-tokens" in h for _, h, _ in results)

    # Retry-After is when the oldest request leaves the window: after it, the key works again.
    wait = max(int(h["retry-after-ms"]) for _, h, _ in refused) / 1000
    time.sleep(wait + 0.3)
    client_for(worker, key).chat.completions.create(**CHAT)


def test_rate_limited_request_takes_no_slot_and_reset_header_is_openai_format(worker):
    key = put_key(worker, rpm=1)
    client = client_for(worker, key)
    raw = client.chat.completions.with_raw_response.create(**CHAT)
    assert limit_headers(raw.headers) == {
        "x-ratelimit-limit-requests": "1",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": f"{LIMITS_TEST_WINDOW_MS // 1000}s",
    }
    for _ in range(3):
        with pytest.raises(openai.RateLimitError):
            client.chat.completions.create(**CHAT)
    # Refusals did not extend the window: one window after the first request, it works again.
    time.sleep(LIMITS_TEST_WINDOW_MS / 1000 + 0.3)
    client.chat.completions.create(**CHAT)


def test_rpm_0_refuses_every_model_call(worker):
    with pytest.raises(openai.RateLimitError) as err:
        client_for(worker, put_key(worker, rpm=0)).chat.completions.create(**CHAT)
    assert err.value.code == "rate_limit_exceeded"


# --- tokens per day ---------------------------------------------------------------------------


def test_token_budget_lets_the_crossing_request_finish_then_refuses_until_midnight(worker):
    # The budget resets at 00:00 UTC: a run that crosses midnight would see it reset midway.
    now = datetime.now(UTC)
    to_midnight = datetime(now.year, now.month, now.day, tzinfo=UTC) + timedelta(days=1) - now
    if to_midnight.total_seconds() < 60:
        time.sleep(to_midnight.total_seconds() + 1)
    key = put_key(worker, tokens_per_day=1000)
    client = client_for(worker, key)

    first = client.chat.completions.with_raw_response.create(**chat_with_usage(500, 200))
    assert first.headers["x-ratelimit-limit-tokens"] == "1000"
    assert first.headers["x-ratelimit-remaining-tokens"] == "1000"
    assert "x-ratelimit-limit-requests" not in first.headers  # no rpm on this key

    # 700 used, 300 left: the next request is admitted although it will use 700 more.
    second = wait_for_remaining(client, 300, chat_with_usage(500, 200))
    assert second.parse().usage.total_tokens == 700

    with pytest.raises(openai.RateLimitError) as err:
        for _ in range(50):  # the report of the second request lands just after it
            client.chat.completions.create(**chat_with_usage(1, 1))
            time.sleep(0.1)
    assert err.value.code == "insufficient_quota"
    headers = err.value.response.headers
    now = datetime.now(UTC)
    midnight = datetime(now.year, now.month, now.day, tzinfo=UTC) + timedelta(days=1)
    assert abs(int(headers["retry-after"]) - (midnight - now).total_seconds()) < 5
    assert headers["x-ratelimit-remaining-tokens"] == "0"
    assert "resets at 00:00 UTC" in err.value.message


def wait_for_remaining(client, expected: int, body: dict):
    """The next response whose x-ratelimit-remaining-tokens is `expected`: token reports reach
    the limiter just after a response ends (waitUntil), so the very next request may not see
    them yet. The probes sent while waiting report a usage of zero tokens."""
    quiet = chat_with_usage(0, 0)
    for _ in range(50):
        probe = client.chat.completions.with_raw_response.create(**quiet)
        if probe.headers["x-ratelimit-remaining-tokens"] == str(expected):
            return client.chat.completions.with_raw_response.create(**body)
        time.sleep(0.1)
    raise AssertionError(f"remaining tokens never reached {expected}")


def test_a_stream_counts_its_tokens_at_its_end(worker):
    key = put_key(worker, tokens_per_day=10_000)
    client = client_for(worker, key)
    sse = (
        'data: {"response": "Hel"}\n\n'
        'data: {"response": "lo"}\n\n'
        'data: {"response": "", "usage": {"prompt_tokens": 1200, "completion_tokens": 34, '
        '"total_tokens": 1234}}\n\n'
        "data: [DONE]\n\n"
    )
    directive = "script:" + json.dumps({"sse": sse})
    with client.chat.completions.with_streaming_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": directive}], stream=True
    ) as response:
        assert response.headers["x-ratelimit-remaining-tokens"] == "10000"
        text = "".join(
            chunk.choices[0].delta.content or "" for chunk in response.parse() if chunk.choices
        )
    assert text == "Hello"
    wait_for_remaining(client, 10_000 - 1234, chat_with_usage(1, 1))


def test_an_answer_without_usage_counts_an_estimate(worker):
    key = put_key(worker, tokens_per_day=100_000)
    body = json.dumps(
        {
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": 'script:{"object": {"response": "ok"}}'}],
        }
    ).encode()
    headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
    response = httpx.post(f"{worker.base_url}/chat/completions", content=body, headers=headers)
    assert response.status_code == 200
    assert response.json()["usage"]["total_tokens"] == 0  # the model reported none
    # ~4 bytes of request per prompt token; nothing streamed.
    wait_for_remaining(client_for(worker, key), 100_000 - -(-len(body) // 4), chat_with_usage(1, 1))


def test_a_stream_the_client_leaves_early_still_counts(worker):
    key = put_key(worker, tokens_per_day=100_000)
    body = json.dumps(
        {
            "model": "gpt-4o-mini",
            "stream": True,
            "messages": [{"role": "user", "content": "slow:200:20"}],
        }
    ).encode()
    headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
    events = 0
    with httpx.stream(
        "POST", f"{worker.base_url}/chat/completions", content=body, headers=headers, timeout=20
    ) as response:
        for line in response.iter_lines():
            events += line.startswith("data:")
            if events == 5:
                break  # leave: the usage at the stream's end never comes
    client = client_for(worker, key)
    quiet = chat_with_usage(0, 0)
    for _ in range(50):
        remaining = int(
            client.chat.completions.with_raw_response.create(**quiet).headers[
                "x-ratelimit-remaining-tokens"
            ]
        )
        if remaining < 100_000:
            break
        time.sleep(0.1)
    used = 100_000 - remaining
    # The prompt's estimate plus one token per event sent before the client left (a few more
    # may have been in flight), far below the 200 tokens the whole answer would have been.
    assert -(-len(body) // 4) + 5 <= used <= -(-len(body) // 4) + 60


def test_embeddings_count_their_estimated_tokens(worker):
    key = put_key(worker, tokens_per_day=100_000)
    client = client_for(worker, key)
    raw = client.embeddings.with_raw_response.create(
        model="text-embedding-3-small", input=["one two three four"] * 3
    )
    used = raw.parse().usage.prompt_tokens
    assert used > 0
    wait_for_remaining(client, 100_000 - used, chat_with_usage(1, 1))


# --- model allowlists ---------------------------------------------------------------------------


ALLOWED = ["gpt-4o-mini", "@cf/baai/*", "origin/echo"]


def test_allowlisted_key_lists_only_its_models(worker, client):
    everything = [m.id for m in client.models.list().data]
    limited = client_for(worker, put_key(worker, models=ALLOWED))
    listed = [m.id for m in limited.models.list().data]
    assert "gpt-4o-mini" in listed
    assert listed == [m for m in everything if m == "gpt-4o-mini" or m.startswith("@cf/baai/")]
    assert limited.models.retrieve("gpt-4o-mini").id == "gpt-4o-mini"
    with pytest.raises(openai.NotFoundError):
        limited.models.retrieve("gpt-4o")
    # An alias is allowed by its own name only, not through the model it points to.
    target = client.models.retrieve("gpt-4o-mini").model_extra["alias_for"]
    assert target not in listed
    with pytest.raises(openai.NotFoundError):
        limited.models.retrieve(target)


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.chat.completions.create(model="gpt-4o", messages=CHAT["messages"]),
        lambda c: c.chat.completions.create(model="gpt-4o", messages=CHAT["messages"], stream=True),
        lambda c: c.responses.create(model="gpt-4o", input="hi"),
        lambda c: c.embeddings.create(model="@cf/google/embeddinggemma-300m", input="hi"),
        lambda c: c.images.generate(model="dall-e-3", prompt="a fox"),
        lambda c: c.chat.completions.create(model="origin/slow", messages=CHAT["messages"]),
    ],
    ids=["chat", "chat-stream", "responses", "embeddings", "images", "origin"],
)
def test_allowlisted_key_gets_403_model_not_allowed_on_every_route(worker, call):
    with pytest.raises(openai.PermissionDeniedError) as err:
        call(client_for(worker, put_key(worker, models=ALLOWED)))
    assert err.value.code == "model_not_allowed"
    assert err.value.body["param"] == "model"
    assert "may not use the model" in err.value.message


def test_allowlisted_key_uses_its_models_by_name_and_prefix(worker):
    client = client_for(worker, put_key(worker, models=ALLOWED))
    assert client.chat.completions.create(**CHAT).choices[0].message.content
    assert client.responses.create(model="gpt-4o-mini", input="hi").output_text
    vectors = client.embeddings.create(model="@cf/baai/bge-small-en-v1.5", input="hi")
    assert len(vectors.data[0].embedding) == 384
    answer = client.chat.completions.create(model="origin/echo", messages=CHAT["messages"])
    assert answer.choices


def test_allowlist_and_limits_combine_and_a_refused_model_takes_no_slot(worker):
    client = client_for(worker, put_key(worker, models=["gpt-4o-mini"], rpm=1))
    with pytest.raises(openai.PermissionDeniedError):
        client.chat.completions.create(model="gpt-4o", messages=CHAT["messages"])
    client.chat.completions.create(**CHAT)
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(**CHAT)


def test_empty_allowlist_allows_nothing(worker):
    client = client_for(worker, put_key(worker, models=[]))
    assert client.models.list().data == []
    with pytest.raises(openai.PermissionDeniedError):
        client.chat.completions.create(**CHAT)


# --- records without limits, and malformed ones --------------------------------------------------


def test_record_without_new_fields_behaves_as_before(worker, client, http):
    # The session key is stored with exactly the four documented fields.
    raw = client.chat.completions.with_raw_response.create(**CHAT)
    assert limit_headers(raw.headers) == {}
    assert raw.parse().choices[0].message.content
    for _ in range(30):  # no rate limit applies
        assert http.post("/v1/chat/completions", json=CHAT).status_code == 200
    listed = {m.id for m in client.models.list().data}
    assert {"gpt-4o", "gpt-4o-mini", "@cf/google/embeddinggemma-300m"} <= listed
    # Explicit nulls mean unlimited too.
    nulls = put_key(worker, models=None, rpm=None, tokens_per_day=None)
    raw = client_for(worker, nulls).chat.completions.with_raw_response.create(**CHAT)
    assert limit_headers(raw.headers) == {}


@pytest.mark.parametrize(
    "fields",
    [{"rpm": "60"}, {"rpm": -1}, {"tokens_per_day": 1.5}, {"models": "gpt-4o"}, {"models": [1]}],
    ids=["rpm-string", "rpm-negative", "tokens-fraction", "models-string", "models-number"],
)
def test_malformed_limit_never_means_unlimited(worker, fields):
    # A limit the Worker cannot read refuses the key, as any corrupt record does.
    key = put_key(worker, **fields)
    response = httpx.post(
        f"{worker.base_url}/chat/completions",
        json=CHAT,
        headers={"authorization": f"Bearer {key}"},
        timeout=20,
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"


def test_keys_sharing_a_limit_group_share_counters(worker):
    group = uuid.uuid4().hex
    first = client_for(worker, put_key(worker, rpm=2, limit_group=group))
    second = client_for(worker, put_key(worker, rpm=2, limit_group=group))
    first.chat.completions.create(**CHAT)
    second.chat.completions.create(**CHAT)
    with pytest.raises(openai.RateLimitError):
        first.chat.completions.create(**CHAT)
    # A key of its own group is untouched.
    client_for(worker, put_key(worker, rpm=2)).chat.completions.create(**CHAT)


# --- a deployment without the limiter ------------------------------------------------------------

WITHOUT_LIMITER = Path(__file__).resolve().parent / "clients" / "worker_without_limiter.mjs"


def test_without_the_limiter_limited_keys_fail_closed_and_others_never_need_it(rendered_worker):
    """A second, short-lived workerd: the rendered Worker with no KEY_LIMITER binding."""

    def record(**fields):
        return {"id": uuid.uuid4().hex[:12], "name": "x", "created_at": "2026-01-01T00:00:00Z"} | {
            "expires_at": None,
            **fields,
        }

    cases = [
        ["sk-fg-plain", record(), "gpt-4o-mini"],
        ["sk-fg-models", record(models=["gpt-4o-mini"]), "gpt-4o-mini"],
        ["sk-fg-rpm", record(rpm=100), "gpt-4o-mini"],
        ["sk-fg-tokens", record(tokens_per_day=1000), "gpt-4o-mini"],
    ]
    result = subprocess.run(
        ["node", str(WITHOUT_LIMITER), str(rendered_worker), json.dumps(cases)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=WITHOUT_LIMITER.parents[2],
    )
    assert result.returncode == 0, result.stderr[-3000:]
    plain, models, rpm, tokens = json.loads(result.stdout.strip().splitlines()[-1])
    assert plain["status"] == 200 and models["status"] == 200
    for limited in (rpm, tokens):
        assert limited["status"] == 503 and limited["code"] == "limits_unavailable"
        assert "Redeploy with `flaregate deploy`" in limited["message"]


# --- the Anthropic route passes the same check ----------------------------------------------------


def claude_for(worker, key):
    import anthropic

    return anthropic.Anthropic(base_url=worker.url, api_key=key, max_retries=0, timeout=20)


def test_anthropic_messages_get_the_allowlist_and_limits_in_anthropics_envelope(worker):
    import anthropic

    message = {"max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}
    allowlisted = claude_for(worker, put_key(worker, models=["claude-haiku-*"]))
    with pytest.raises(anthropic.PermissionDeniedError) as err:
        allowlisted.messages.create(model="claude-sonnet-4-5", **message)
    assert err.value.body["error"]["type"] == "permission_error"
    assert "claude-sonnet-4-5" in err.value.body["error"]["message"]
    assert allowlisted.messages.create(model="claude-haiku-4-5", **message).content

    limited = claude_for(worker, put_key(worker, rpm=1, tokens_per_day=10_000))
    raw = limited.messages.with_raw_response.create(model="claude-haiku-4-5", **message)
    assert raw.headers["x-ratelimit-limit-requests"] == "1"
    assert raw.headers["x-ratelimit-limit-tokens"] == "10000"
    with pytest.raises(anthropic.RateLimitError) as err:
        limited.messages.create(model="claude-haiku-4-5", **message)
    assert err.value.body["error"]["type"] == "rate_limit_error"
    assert 1 <= int(err.value.response.headers["retry-after"]) <= LIMITS_TEST_WINDOW_MS / 1000
