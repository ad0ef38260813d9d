"""Bad requests get OpenAI's error envelope with the right status, and nothing crashes the Worker."""

from __future__ import annotations

import json

import httpx
import pytest


def assert_envelope(
    r: httpx.Response, status: int, code: str | None = None, param: str | None = None
):
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"]
    if code:
        assert error["code"] == code
    if param:
        assert error["param"] == param
    assert r.headers["x-request-id"].startswith("req_")
    return error


def chat(http, body, **kwargs):
    raw = body if isinstance(body, (bytes, str)) or hasattr(body, "__next__") else json.dumps(body)
    return http.post("/v1/chat/completions", content=raw, **kwargs)


def test_malformed_json_is_400(http):
    assert_envelope(chat(http, b'{"model": "gpt-4o", "messages": ['), 400, "invalid_json")


def test_body_that_is_not_an_object_is_400(http):
    assert_envelope(chat(http, b"[1, 2]"), 400, "invalid_type")


@pytest.mark.parametrize(
    "body, param",
    [
        ({"model": "gpt-4o"}, "messages"),
        ({"model": "gpt-4o", "messages": []}, "messages"),
        ({"model": "gpt-4o", "messages": "hi"}, "messages"),
        (
            {"model": "gpt-4o", "messages": [{"role": "wizard", "content": "hi"}]},
            "messages[0].role",
        ),
        ({"model": "gpt-4o", "messages": [{"role": "user", "content": 42}]}, "messages[0].content"),
        ({"model": "gpt-4o", "messages": [{"role": "user"}]}, "messages[0].content"),
        (
            {
                "model": "gpt-4o",
                "messages": [{"role": "user", "content": "hi"}],
                "temperature": "hot",
            },
            "temperature",
        ),
        (
            {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "temperature": 9},
            "temperature",
        ),
        (
            {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 0},
            "max_tokens",
        ),
        (
            {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "stream": "yes"},
            "stream",
        ),
        ({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "n": 2}, "n"),
        ({"messages": [{"role": "user", "content": "hi"}]}, "model"),
        ({"model": 4, "messages": [{"role": "user", "content": "hi"}]}, "model"),
    ],
)
def test_invalid_fields_are_400_naming_the_parameter(http, body, param):
    assert_envelope(chat(http, body), 400, param=param)


def test_unknown_route_is_404(http):
    assert_envelope(http.get("/v1/nothing-here"), 404, "unknown_url")


def test_wrong_method_is_405_with_allow(http):
    r = http.get("/v1/chat/completions")
    assert_envelope(r, 405, "method_not_allowed")
    assert r.headers["allow"] == "POST"


def test_body_over_the_limit_is_413(http):
    big = {"model": "gpt-4o", "messages": [{"role": "user", "content": "x" * (300 * 1024)}]}
    assert_envelope(chat(http, big), 413, "request_too_large")


def test_chunked_body_over_the_limit_is_413_without_content_length(http):
    def body():
        for _ in range(300):
            yield b"x" * 1024

    assert_envelope(chat(http, body()), 413, "request_too_large")


def test_base_url_without_v1_works(http):
    r2 = http.post(
        "/chat/completions",
        json={"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert r2.status_code == 200 and r2.json()["object"] == "chat.completion"


def test_unexpected_content_part_types_do_not_crash(http):
    body = {
        "model": "gpt-4o-mini",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "hi"},
                    {"type": "input_audio", "input_audio": {}},
                ],
            }
        ],
    }
    r = chat(http, body)
    assert r.status_code == 200
    assert r.json()["choices"][0]["message"]["content"]


def test_image_for_a_text_only_model_is_a_clear_400(http):
    body = {
        "model": "@cf/qwen/qwq-32b",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}}
                ],
            }
        ],
    }
    assert_envelope(chat(http, body), 400, "image_not_supported")
