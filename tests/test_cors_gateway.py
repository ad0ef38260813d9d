"""CORS for browser clients, AI Gateway routing of every binding call, and the per-request log
line, through the rendered Worker in workerd.

The session Worker runs with CORS_ORIGINS=https://app.example.com and GATEWAY_ID=flaregate-test
(tests/conftest.py). A second Worker, rendered with the defaults plus a gateway that honours
clients' cache headers, shows what "configured" and "not configured" each mean.
"""

from __future__ import annotations

import json

import httpx
import pytest

from flaregate.config import WorkerConfig
from flaregate.render import write_bundle
from tests.sse_fixtures import echoed
from tests.worker_harness import start_worker

ORIGIN = "https://app.example.com"


def rejected_echo(response: httpx.Response) -> dict:
    """What the fake binding was called with, from its reject-echo error (embeddings, images)."""
    assert response.status_code == 400, response.text
    message = response.json()["error"]["message"]
    return json.loads(message[message.index("{") :])


@pytest.fixture(scope="module")
def cache_worker(tmp_path_factory):
    """A Worker with no CORS origins and a gateway that honours cf-aig-* cache headers."""
    out = tmp_path_factory.mktemp("cache-worker")
    write_bundle(WorkerConfig(gateway_id="flaregate-cached", gateway_cache_headers=True), out)
    running = start_worker(out / "worker.js", out)
    yield running
    running.stop()


# --- CORS ---------------------------------------------------------------------------------


def test_preflight_is_answered_without_a_key(worker):
    r = httpx.options(
        f"{worker.url}/v1/chat/completions",
        headers={
            "origin": ORIGIN,
            "access-control-request-method": "POST",
            "access-control-request-headers": "authorization, content-type, x-stainless-os",
        },
    )
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == ORIGIN
    assert "POST" in r.headers["access-control-allow-methods"]
    assert (
        r.headers["access-control-allow-headers"] == "authorization, content-type, x-stainless-os"
    )
    assert int(r.headers["access-control-max-age"]) > 0
    assert "Origin" in r.headers["vary"]


def test_preflight_from_an_origin_not_configured_gets_no_cors_headers(worker):
    r = httpx.options(
        f"{worker.url}/v1/chat/completions",
        headers={"origin": "https://evil.example", "access-control-request-method": "POST"},
    )
    assert r.status_code == 204
    assert "access-control-allow-origin" not in r.headers
    assert "access-control-allow-methods" not in r.headers


def test_responses_expose_the_headers_browser_clients_read(http):
    r = http.post(
        "/v1/chat/completions",
        headers={"origin": ORIGIN},
        json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == ORIGIN
    exposed = {h.strip() for h in r.headers["access-control-expose-headers"].split(",")}
    assert {"x-request-id", "retry-after"} <= exposed


def test_streams_and_errors_carry_cors_headers_too(worker, http):
    with http.stream(
        "POST",
        "/v1/responses",
        headers={"origin": ORIGIN},
        json={"model": "gpt-4o-mini", "input": "hi", "stream": True},
    ) as r:
        assert r.headers["access-control-allow-origin"] == ORIGIN
        r.read()
    # A browser must be able to read a 401 to tell the user their key is wrong.
    unauthorized = httpx.get(f"{worker.url}/v1/models", headers={"origin": ORIGIN})
    assert unauthorized.status_code == 401
    assert unauthorized.headers["access-control-allow-origin"] == ORIGIN


def test_cors_is_off_by_default(cache_worker):
    r = httpx.options(
        f"{cache_worker.url}/v1/chat/completions",
        headers={"origin": ORIGIN, "access-control-request-method": "POST"},
    )
    assert r.status_code == 204
    assert not [h for h in r.headers if h.startswith("access-control-")]


# --- AI Gateway ---------------------------------------------------------------------------


def test_chat_goes_through_the_gateway_with_the_key_id_not_the_key(worker, api_key, client):
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "echo"}]
    )
    seen = echoed(raw.parse().choices[0].message.content)
    gateway = seen["options"]["gateway"]
    assert gateway["id"] == "flaregate-test"
    assert gateway["metadata"] == {
        "key_id": worker.key_record(api_key)["id"],
        "request_id": raw.headers["x-request-id"],
        "route": "/v1/chat/completions",
    }
    assert api_key not in json.dumps(seen)


def test_responses_embeddings_and_images_go_through_the_gateway_too(worker, api_key, client, http):
    key_id = worker.key_record(api_key)["id"]
    response = client.responses.create(model="gpt-4o-mini", input="echo")
    assert (
        echoed(response.output_text)["options"]["gateway"]["metadata"]["route"] == "/v1/responses"
    )
    for path, body in [
        ("/v1/embeddings", {"model": "text-embedding-3-small", "input": ["reject-echo"]}),
        ("/v1/images/generations", {"model": "dall-e-3", "prompt": "reject-echo"}),
    ]:
        gateway = rejected_echo(http.post(path, json=body))["options"]["gateway"]
        assert gateway["id"] == "flaregate-test"
        assert gateway["metadata"]["key_id"] == key_id
        assert gateway["metadata"]["route"] == path


CACHE_HEADERS = {"cf-aig-skip-cache": "true", "cf-aig-cache-ttl": "600"}


def test_cache_headers_are_ignored_unless_configured(client):
    seen = echoed(
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "echo"}],
            extra_headers=CACHE_HEADERS,
        )
        .choices[0]
        .message.content
    )
    assert "skipCache" not in seen["options"]["gateway"]
    assert "cacheTtl" not in seen["options"]["gateway"]


def test_cache_headers_are_honoured_when_configured(cache_worker):
    key = cache_worker.add_key(name="cache")

    def gateway_for(headers):
        r = httpx.post(
            f"{cache_worker.url}/v1/chat/completions",
            headers={"authorization": f"Bearer {key}", **headers},
            json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "echo"}]},
            timeout=20,
        )
        assert r.status_code == 200, r.text
        return echoed(r.json()["choices"][0]["message"]["content"])["options"]["gateway"]

    honoured = gateway_for(CACHE_HEADERS)
    assert honoured["id"] == "flaregate-cached"
    assert honoured["skipCache"] is True
    assert honoured["cacheTtl"] == 600
    plain = gateway_for({})
    assert "skipCache" not in plain and "cacheTtl" not in plain
    nonsense = gateway_for({"cf-aig-skip-cache": "maybe", "cf-aig-cache-ttl": "-5"})
    assert "skipCache" not in nonsense and "cacheTtl" not in nonsense


# --- the log line -------------------------------------------------------------------------

LOG_FIELDS = {
    "request_id",
    "route",
    "method",
    "model_requested",
    "model",
    "key_id",
    "status",
    "stream",
    "duration_ms",
    "prompt_tokens",
    "completion_tokens",
}


def test_one_log_line_per_request_with_names_and_numbers_only(worker, api_key, http):
    secret_text = "my private document about project nightingale"
    r = http.post(
        "/v1/embeddings", json={"model": "text-embedding-3-small", "input": [secret_text, "two"]}
    )
    (line,) = worker.log_lines(r.headers["x-request-id"])
    assert LOG_FIELDS <= set(line)
    assert line["route"] == "/v1/embeddings"
    assert line["model_requested"] == "text-embedding-3-small"
    assert line["model"] == "@cf/baai/bge-base-en-v1.5"
    assert line["key_id"] == worker.key_record(api_key)["id"]
    assert line["status"] == 200 and line["stream"] is False
    assert line["prompt_tokens"] == r.json()["usage"]["prompt_tokens"]
    assert isinstance(line["duration_ms"], int)
    assert line["inputs"] == 2
    assert api_key not in json.dumps(line)
    assert "nightingale" not in json.dumps(line)


def test_a_streams_line_is_written_at_its_end_with_its_tokens(worker, http):
    with http.stream(
        "POST",
        "/v1/responses",
        json={"model": "gpt-4o", "input": "a secret question", "stream": True},
    ) as r:
        request_id = r.headers["x-request-id"]
        body = r.read().decode()
    (line,) = worker.log_lines(request_id)
    assert line["stream"] is True
    assert line["model_requested"] == "gpt-4o"
    assert line["model"] == "@cf/qwen/qwen3.8-27b"
    assert (line["prompt_tokens"], line["completion_tokens"]) == (8, 5)
    assert line["first_byte_ms"] <= line["duration_ms"]
    assert "secret question" not in json.dumps(line)
    assert "Hello from" in body and "Hello from" not in json.dumps(line)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": "slow:40:50"}]}),
        ("/v1/responses", {"input": "slow:40:50"}),
        (
            "/v1/messages",
            {"max_tokens": 100, "messages": [{"role": "user", "content": "slow:40:50"}]},
        ),
    ],
)
def test_a_stream_the_client_hangs_up_on_still_gets_its_line(worker, http, path, body):
    with http.stream("POST", path, json={"model": "gpt-4o", "stream": True, **body}) as r:
        request_id = r.headers["x-request-id"]
        next(r.iter_raw())  # the first event, then the client goes away mid-answer
    (line,) = worker.log_lines(request_id)
    assert line["status"] == 200 and line["stream"] is True
    assert line["stream_error"] == "client_cancelled"
    assert line["first_byte_ms"] <= line["duration_ms"]


def test_errors_are_logged_with_their_code(worker, http):
    r = http.post("/v1/embeddings", json={"model": "no-such-model", "input": "x"})
    assert r.status_code == 404
    (line,) = worker.log_lines(r.headers["x-request-id"])
    assert line["status"] == 404
    assert line["error_code"] == "model_not_found"
    assert line["model_requested"] == "no-such-model"
    assert line["model"] is None
