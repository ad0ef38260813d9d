"""Every field of every endpoint, given every JSON type, gets a 4xx naming it, never a 5xx.

A field fuzzer over chat completions, Responses, embeddings and image generations: each field of
a full, valid request (and each optional field it leaves out) is replaced in turn by null, a
boolean, an integer, a float, a string, an array, an object, and objects whose `toString` is not
callable (`{"toString": 1}` made `String()` throw: a 500). The Worker must answer below 500,
and a 400 must name the field (its `param`, or a field that contains it or that it contains). A
scalar field given a value of another type must be refused, not silently taken.
"""

from __future__ import annotations

import copy
import json
import re

import httpx
import pytest

REPLACEMENTS = [None, True, 7, 2.5, "x", [], {}, {"toString": 1}, {"toString": 1, "valueOf": 1}]

CHAT = {
    "model": "gpt-4o-mini",
    "messages": [
        {"role": "system", "content": "Be brief."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "hi"},
                {
                    "type": "image_url",
                    "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"},
                },
            ],
        },
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": "{}"},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
        {"role": "function", "name": "get_weather", "content": "sunny"},
        {"role": "user", "content": "thanks", "name": "ann"},
    ],
    "tools": [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "The weather.",
                "parameters": {"type": "object", "properties": {}},
                "strict": False,
            },
        }
    ],
    "tool_choice": "auto",
    "stop": ["END"],
    "max_tokens": 50,
    "temperature": 0.5,
    "top_p": 1,
    "seed": 1,
    "frequency_penalty": 0,
    "presence_penalty": 0,
    "response_format": {
        "type": "json_schema",
        "json_schema": {"name": "r", "schema": {"type": "object"}, "strict": False},
    },
    "stream": False,
    "stream_options": {"include_usage": True},
    "user": "u",
    "metadata": {"a": "b"},
    "n": 1,
    "reasoning_effort": "low",
    "parallel_tool_calls": True,
    "logprobs": False,
}
CHAT_ABSENT = [
    "functions",
    "function_call",
    "logit_bias",
    "top_logprobs",
    "store",
    "service_tier",
    "max_completion_tokens",
]

RESPONSES = {
    "model": "gpt-4o-mini",
    "instructions": "Be brief.",
    "input": [
        {
            "role": "user",
            "content": [
                {"type": "input_text", "text": "hi"},
                {"type": "input_image", "image_url": "data:image/png;base64,AAAA", "detail": "low"},
            ],
        },
        {"type": "function_call", "call_id": "c1", "name": "get_weather", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
        {
            "role": "assistant",
            "content": [
                {"type": "output_text", "text": "ok"},
                {"type": "refusal", "refusal": "no"},
            ],
        },
        {"type": "message", "role": "user", "content": "go"},
    ],
    "tools": [
        {
            "type": "function",
            "name": "get_weather",
            "description": "The weather.",
            "parameters": {"type": "object", "properties": {}},
            "strict": False,
        }
    ],
    "tool_choice": "auto",
    "text": {
        "format": {
            "type": "json_schema",
            "name": "r",
            "schema": {"type": "object"},
            "strict": False,
        }
    },
    "reasoning": {"effort": "low"},
    "metadata": {"a": "b"},
    "user": "u",
    "max_output_tokens": 50,
    "temperature": 0.5,
    "top_p": 1,
    "parallel_tool_calls": True,
    "stream": False,
    "store": False,
}
RESPONSES_ABSENT = [
    "include",
    "truncation",
    "service_tier",
    "safety_identifier",
    "top_logprobs",
    "background",
]

EMBEDDINGS = {
    "model": "text-embedding-3-small",
    "input": ["a", "b"],
    "encoding_format": "float",
    "user": "u",
}
EMBEDDINGS_ABSENT = ["dimensions"]

IMAGES = {
    "model": "dall-e-3",
    "prompt": "a cat",
    "n": 1,
    "size": "512x512",
    "response_format": "b64_json",
    "quality": "standard",
    "user": "u",
}
IMAGES_ABSENT = ["style", "output_format", "background", "moderation", "stream"]

# Fields where more than one JSON type is valid, or whose value is opaque (JSON Schemas).
MULTI_TYPE = [
    r"^messages\[\d+\]\.content$",
    r"^stop$",
    r"^tool_choice$",
    r"\.arguments$",
    r"^input$",
    r"^input\[\d+\]\.content$",
    r"^input\[\d+\]\.output$",
    r"image_url$",
    r"^temperature$|^top_p$|^frequency_penalty$|^presence_penalty$",  # integers are numbers
]
OPAQUE = re.compile(r"(\.parameters|\.schema)\.")


def paths(value, prefix=""):
    """Every field path in `value`, written the way the Worker's `param` writes it."""
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{prefix}.{key}" if prefix else key
            if OPAQUE.search(path):
                continue
            yield path
            yield from paths(item, path)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            path = f"{prefix}[{i}]"
            yield path
            yield from paths(item, path)


def replaced(body, path, new):
    body = copy.deepcopy(body)
    steps = re.findall(r"[^.\[\]]+|\[\d+\]", path)
    target = body
    for step in steps[:-1]:
        target = target[int(step[1:-1])] if step.startswith("[") else target[step]
    last = steps[-1]
    if last.startswith("["):
        target[int(last[1:-1])] = new
    else:
        target[last] = new
    return body


def names_the_field(param, path) -> bool:
    if not isinstance(param, str):
        return False
    return (
        param == path
        or path.startswith((param + ".", param + "["))
        or param.startswith((path + ".", path + "["))
    )


def kind(value) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return type(value).__name__


CASES = [
    ("/v1/chat/completions", CHAT, CHAT_ABSENT),
    ("/v1/responses", RESPONSES, RESPONSES_ABSENT),
    ("/v1/embeddings", EMBEDDINGS, EMBEDDINGS_ABSENT),
    ("/v1/images/generations", IMAGES, IMAGES_ABSENT),
]


@pytest.mark.parametrize(("route", "base", "absent"), CASES, ids=[c[0] for c in CASES])
def test_every_field_with_every_json_type(http, route, base, absent):
    assert http.post(route, json=base).status_code == 200, "the base request must be valid"
    failures = []
    for path in [*paths(base), *absent]:
        original = None if path in absent else _get(base, path)
        for new in REPLACEMENTS:
            body = replaced(base, path, new) if path not in absent else {**base, path: new}
            r = http.post(route, json=body)
            what = f"{path} = {json.dumps(new)}: {r.status_code} {r.text[:200]}"
            if r.status_code >= 500:
                failures.append(what)
                continue
            if r.status_code == 400:
                error = r.json()["error"]
                if not names_the_field(error["param"], path):
                    failures.append(f"{what} (param {error['param']!r})")
                continue
            scalar = isinstance(original, (str, int, float, bool))
            if (
                scalar
                and new is not None
                and kind(new) != kind(original)
                and not any(re.search(p, path) for p in MULTI_TYPE)
            ):
                failures.append(f"{what} (a {kind(new)} was taken for a {kind(original)})")
    assert not failures, "\n".join(failures)


def _get(body, path):
    steps = re.findall(r"[^.\[\]]+|\[\d+\]", path)
    for step in steps:
        body = body[int(step[1:-1])] if step.startswith("[") else body[step]
    return body


@pytest.mark.parametrize(
    "model_id",
    ["%", "%ZZ", "x" * 5000, "{}", "\u00e9\u4e16", "%7B%22toString%22%3A1%7D", "..%2F..%2Fhealth"],
)
def test_a_model_id_in_the_path_is_never_a_5xx(http, model_id):
    r = http.get(f"/v1/models/{model_id}")
    assert r.status_code in (400, 404), r.text
    assert len(r.text) < 2000  # a long id is not echoed back whole


def with_raw_field(base: dict, field: str, raw: str) -> bytes:
    """`base` with `field` set to the JSON text `raw` (too deep for Python's own encoder)."""
    rest = json.dumps({k: v for k, v in base.items() if k != field})
    return (rest[:-1] + f', "{field}": {raw}}}').encode()


def test_a_body_nested_thousands_deep_is_a_400_naming_the_field(http):
    deep = '{"a": ' * 5000 + "null" + "}" * 5000
    for route, base in (("/v1/chat/completions", CHAT), ("/v1/responses", RESPONSES)):
        for field in ("metadata", "tools", "response_format", "text"):
            r = http.post(route, content=with_raw_field(base, field, deep))
            assert r.status_code == 400, (route, field, r.text[:300])
            assert r.json()["error"]["param"] == field


def test_streamed_responses_refuse_deep_input_before_the_stream(http):
    schema = '{"type": "object", "properties": {"x": ' * 1000 + "{}" + "}}" * 1000
    tools = f'[{{"type": "function", "name": "t", "parameters": {schema}}}]'
    r = http.post(
        "/v1/responses", content=with_raw_field({**RESPONSES, "stream": True}, "tools", tools)
    )
    assert r.status_code == 400 and r.json()["error"]["param"] == "tools"


def test_fuzzer_sees_through_the_http_client():
    # The fuzzer posts JSON as written: {"toString": 1} reaches the Worker as an object.
    request = httpx.Request("POST", "http://x", json={"a": {"toString": 1}})
    assert json.loads(request.content) == {"a": {"toString": 1}}


MESSAGES = {
    "model": "gpt-4o-mini",
    "max_tokens": 50,
    "system": "Be brief.",
    "messages": [
        {"role": "user", "content": [{"type": "text", "text": "hi"}]},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "t1", "name": "get_weather", "input": {}}],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "sunny"}],
        },
    ],
    "tools": [
        {
            "name": "get_weather",
            "description": "The weather.",
            "input_schema": {"type": "object", "properties": {}},
        }
    ],
    "tool_choice": {"type": "auto"},
    "stop_sequences": ["END"],
    "temperature": 0.5,
    "top_p": 1,
    "top_k": 5,
    "metadata": {"user_id": "u"},
    "stream": False,
}


def test_the_messages_api_never_answers_a_wrong_type_with_a_5xx(http):
    """Anthropic's envelope has no `param`: here the fuzzer asks only for a 4xx."""
    assert http.post("/v1/messages", json=MESSAGES).status_code == 200
    failures = []
    for path in paths(MESSAGES):
        for new in REPLACEMENTS:
            r = http.post("/v1/messages", json=replaced(MESSAGES, path, new))
            if r.status_code >= 500:
                failures.append(f"{path} = {json.dumps(new)}: {r.status_code} {r.text[:200]}")
    assert not failures, "\n".join(failures)
