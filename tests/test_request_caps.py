"""Nothing a client sends is echoed back or logged at a size it chose.

The model name was echoed untrimmed into every chunk (a space-padded name multiplied the
output), Responses echoed `metadata`/`user`/`text.format` whatever their size, and stop
sequences had no length limit. Each is capped the way OpenAI caps it, with a 400 naming the
field beyond.
"""

from __future__ import annotations

import json

import pytest


def chat(http, **body):
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], **body}
    return http.post("/v1/chat/completions", json=body)


def responses(http, **body):
    return http.post("/v1/responses", json={"model": "gpt-4o-mini", "input": "hi", **body})


def test_a_padded_model_name_is_echoed_trimmed_in_every_chunk(http):
    padded = " " * 200 + "gpt-4o-mini" + " " * 40
    r = chat(http, model=padded, stream=True)
    assert r.status_code == 200
    chunks = [json.loads(line[6:]) for line in r.text.splitlines() if line.startswith("data: {")]
    assert chunks and {c["model"] for c in chunks} == {"gpt-4o-mini"}
    assert chat(http, model=padded).json()["model"] == "gpt-4o-mini"
    assert responses(http, model=padded).json()["model"] == "gpt-4o-mini"


@pytest.mark.parametrize(
    "route", ["/v1/chat/completions", "/v1/responses", "/v1/embeddings", "/v1/images/generations"]
)
def test_a_model_name_over_256_characters_is_a_400(http, worker, route):
    name = "gpt-4o-mini" + " " * 300
    field = {"/v1/chat/completions": "messages", "/v1/images/generations": "prompt"}.get(
        route, "input"
    )
    value = [{"role": "user", "content": "x"}] if field == "messages" else "x"
    r = http.post(route, json={"model": name, field: value})
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert (error["param"], error["code"]) == ("model", "string_above_max_length")
    assert len(r.text) < 1000
    (line,) = worker.log_lines(r.headers["x-request-id"])
    assert len(line["model_requested"]) <= 259


def test_an_origin_model_name_over_256_characters_is_a_400(http):
    r = chat(http, model="origin/" + "e" * 5000)
    assert r.status_code == 400 and r.json()["error"]["param"] == "model"


def test_an_unknown_long_url_is_not_echoed_whole(http, worker):
    r = http.get("/v1/" + "a" * 8000)
    assert r.status_code == 404 and len(r.text) < 1000
    (line,) = worker.log_lines(r.headers["x-request-id"])
    assert len(line["route"]) <= 259


@pytest.mark.parametrize(
    ("stop", "code"),
    [(["x" * 257], "string_above_max_length"), (["a", "b", "c", "d", "e"], "invalid_value")],
)
def test_stop_sequences_are_capped(http, stop, code):
    r = chat(http, stop=stop)
    assert r.status_code == 400
    assert (r.json()["error"]["param"], r.json()["error"]["code"]) == ("stop", code)
    assert chat(http, stop=["x" * 256] * 4).status_code == 200


@pytest.mark.parametrize(
    ("metadata", "param"),
    [
        ({f"k{i}": "v" for i in range(17)}, "metadata"),
        ({"k" * 65: "v"}, "metadata"),
        ({"k": "v" * 513}, "metadata.k"),
        ({"k": 1}, "metadata.k"),
        ({"k": {"toString": 1}}, "metadata.k"),
        ("a string", "metadata"),
    ],
)
@pytest.mark.parametrize("send", [chat, responses])
def test_metadata_is_validated_as_openai_does(http, send, metadata, param):
    r = send(http, metadata=metadata)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == param


def test_valid_metadata_and_user_are_echoed_by_responses(http):
    metadata = {f"k{i}": "v" * 512 for i in range(16)}
    r = responses(http, metadata=metadata, user="u" * 256)
    assert r.status_code == 200, r.text
    assert r.json()["metadata"] == metadata and r.json()["user"] == "u" * 256


@pytest.mark.parametrize(
    ("field", "value", "param"),
    [
        ("user", "u" * 257, "user"),
        (
            "text",
            {"format": {"type": "json_schema", "name": "n" * 65, "schema": {}}},
            "text.format.name",
        ),
        ("text", {"format": {"type": "yaml"}}, "text.format.type"),
        ("text", "json", "text"),
        ("parallel_tool_calls", {"a": [1, 2, 3]}, "parallel_tool_calls"),
        ("reasoning", {"effort": "e" * 100}, "reasoning.effort"),
    ],
)
def test_echoed_responses_fields_are_bounded(http, field, value, param):
    r = responses(http, **{field: value})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == param


@pytest.mark.parametrize("stops", [["a", "b", "c", "d", "e"], ["x" * 257]])
def test_anthropic_stop_sequences_have_the_same_caps(http, stops):
    body = {
        "model": "gpt-4o-mini",
        "max_tokens": 20,
        "messages": [{"role": "user", "content": "hi"}],
        "stop_sequences": stops,
    }
    r = http.post("/v1/messages", json=body)
    assert r.status_code == 400, r.text
    assert r.json()["type"] == "error" and "stop_sequences" in r.json()["error"]["message"]
