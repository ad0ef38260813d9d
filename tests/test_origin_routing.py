"""Models named origin/<name> go to the operator's own OpenAI-compatible server (the origin).

The Worker runs in workerd; the origin is tests/origin_server.py, a real HTTP server that checks
the shared secret the way `vllm serve --api-key` or a reverse proxy would.
"""

from __future__ import annotations

import json

import openai
import pytest

from tests.origin_server import ORIGIN_SECRET


def test_non_streamed_answer_comes_from_the_origin_with_the_model_renamed(client, origin_server):
    before = len(origin_server.requests)
    answer = client.chat.completions.create(
        model="origin/echo",
        messages=[{"role": "user", "content": "hello origin"}],
        temperature=0.2,
    )
    assert answer.choices[0].message.content == "echo: hello origin"
    assert answer.usage.total_tokens == 8
    (request,) = origin_server.requests[before:]
    assert request["path"] == "/v1/chat/completions"
    assert request["body"]["model"] == "echo"
    assert request["body"]["temperature"] == 0.2
    assert request["body"]["messages"] == [{"role": "user", "content": "hello origin"}]


def test_the_origin_gets_the_shared_secret_and_never_the_clients_key(
    client, origin_server, api_key
):
    before = len(origin_server.requests)
    client.chat.completions.create(model="origin/echo", messages=[{"role": "user", "content": "x"}])
    headers = {k.lower(): v for k, v in origin_server.requests[before]["headers"].items()}
    assert headers["x-flaregate-origin-secret"] == ORIGIN_SECRET
    assert headers["authorization"] == f"Bearer {ORIGIN_SECRET}"
    assert api_key not in json.dumps(origin_server.requests[before])


def test_streamed_answer_passes_through_chunk_by_chunk(client):
    stream = client.chat.completions.create(
        model="origin/echo",
        messages=[{"role": "user", "content": "streaming"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "echo: streaming"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage.total_tokens == 8
    assert all(c.model == "echo" for c in chunks)  # the origin's bytes, unchanged


def test_stream_is_sse_with_done(http):
    with http.stream(
        "POST",
        "/v1/chat/completions",
        json={
            "model": "origin/echo",
            "messages": [{"role": "user", "content": "a"}],
            "stream": True,
        },
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        body = response.read().decode()
    assert body.rstrip().endswith("data: [DONE]")


def test_model_not_listed_for_the_origin_is_404_without_calling_it(client, origin_server):
    before = len(origin_server.requests)
    with pytest.raises(openai.NotFoundError) as err:
        client.chat.completions.create(
            model="origin/unknown", messages=[{"role": "user", "content": "x"}]
        )
    assert err.value.code == "model_not_found"
    assert "origin/echo" in err.value.message
    assert origin_server.requests[before:] == []


def test_origin_rejection_keeps_its_status_and_message(client):
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(
            model="origin/reject", messages=[{"role": "user", "content": "x"}]
        )
    assert "max_tokens is too large" in err.value.message
    assert err.value.code == "origin_rejected"


def test_origin_server_error_is_502_in_openais_envelope(http):
    response = http.post(
        "/v1/chat/completions",
        json={"model": "origin/crash", "messages": [{"role": "user", "content": "x"}]},
    )
    assert response.status_code == 502
    error = response.json()["error"]
    assert error["code"] == "upstream_error" and error["type"] == "server_error"
    assert "HTTP 500" in error["message"]


def test_dropped_connection_is_502_origin_unreachable(http):
    response = http.post(
        "/v1/chat/completions",
        json={"model": "origin/drop", "messages": [{"role": "user", "content": "x"}]},
    )
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "origin_unreachable"


def test_slow_origin_is_504(client):
    with pytest.raises(openai.InternalServerError) as err:
        client.chat.completions.create(
            model="origin/slow", messages=[{"role": "user", "content": "x"}]
        )
    assert err.value.status_code == 504
    assert err.value.code == "timeout"


def test_stalled_stream_ends_with_an_error_event_after_the_text_so_far(http):
    with http.stream(
        "POST",
        "/v1/chat/completions",
        json={
            "model": "origin/stall",
            "messages": [{"role": "user", "content": "x"}],
            "stream": True,
        },
    ) as response:
        assert response.status_code == 200
        events = [
            line[len("data: ") :] for line in response.iter_lines() if line.startswith("data: ")
        ]
    assert json.loads(events[1])["choices"][0]["delta"]["content"] == "echo"
    assert json.loads(events[-2])["error"]["code"] == "timeout"
    assert events[-1] == "[DONE]"


def test_origin_down_is_502_and_recovers_when_it_is_back(http, origin_server):
    origin_server.stop()
    try:
        response = http.post(
            "/v1/chat/completions",
            json={"model": "origin/echo", "messages": [{"role": "user", "content": "x"}]},
        )
        assert response.status_code == 502
        error = response.json()["error"]
        assert error["code"] == "origin_unreachable" and error["type"] == "server_error"
    finally:
        origin_server.start()
    response = http.post(
        "/v1/chat/completions",
        json={"model": "origin/echo", "messages": [{"role": "user", "content": "back"}]},
    )
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "echo: back"


def test_workers_ai_models_are_not_sent_to_the_origin(client, origin_server):
    before = len(origin_server.requests)
    client.chat.completions.create(
        model="@cf/meta/llama-3.1-8b-instruct-fp8", messages=[{"role": "user", "content": "hi"}]
    )
    assert origin_server.requests[before:] == []
