"""Request fields reach Workers AI in the form it takes (seen through the fake's `echo`)."""

from __future__ import annotations

import json

import pytest

from tests.sse_fixtures import echoed


def sent(client, model="@cf/meta/llama-3.3-70b-instruct-fp8-fast", messages=None, **kwargs) -> dict:
    messages = (messages or []) + [{"role": "user", "content": "echo"}]
    return echoed(
        client.chat.completions.create(model=model, messages=messages, **kwargs)
        .choices[0]
        .message.content
    )["inputs"]


def test_default_max_tokens_comes_from_the_catalog_not_workers_ai_256(client):
    assert sent(client)["max_tokens"] == 2048


@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens"])
def test_max_tokens_is_clamped_to_the_model_limit(client, field):
    assert sent(client, **{field: 10**6})["max_tokens"] == 8192
    assert sent(client, **{field: 77})["max_tokens"] == 77


def test_sampling_fields_are_passed_through(client):
    inputs = sent(
        client, temperature=0.3, top_p=0.9, seed=7, frequency_penalty=0.5, presence_penalty=-0.5
    )
    assert {
        k: inputs[k]
        for k in ("temperature", "top_p", "seed", "frequency_penalty", "presence_penalty")
    } == {
        "temperature": 0.3,
        "top_p": 0.9,
        "seed": 7,
        "frequency_penalty": 0.5,
        "presence_penalty": -0.5,
    }


def test_developer_role_becomes_system_and_content_parts_become_text(client):
    messages = [
        {"role": "developer", "content": "Be terse."},
        {
            "role": "user",
            "content": [{"type": "text", "text": "line one"}, {"type": "text", "text": "line two"}],
        },
        {"role": "assistant", "content": None},
    ]
    out = sent(client, messages=messages)["messages"]
    assert out[0] == {"role": "system", "content": "Be terse."}
    assert out[1] == {"role": "user", "content": "line one\nline two"}
    assert out[2] == {"role": "assistant", "content": ""}


def test_json_schema_response_format_for_a_json_mode_model(client):
    schema = {"type": "object", "properties": {"city": {"type": "string"}}}
    inputs = sent(
        client,
        response_format={"type": "json_schema", "json_schema": {"name": "c", "schema": schema}},
    )
    assert inputs["response_format"] == {"type": "json_schema", "json_schema": schema}


def test_json_object_for_a_model_without_json_mode_is_asked_for_in_the_prompt(client):
    inputs = sent(client, model="@cf/qwen/qwq-32b", response_format={"type": "json_object"})
    assert "response_format" not in inputs
    assert inputs["messages"][0]["role"] == "system" and "JSON" in inputs["messages"][0]["content"]


def test_stop_is_not_sent_to_native_models(client):
    assert "stop" not in sent(client, stop=["END"])


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("chunk", [0, 2])
def test_stop_sequences_cut_the_answer(client, stream, chunk):
    pieces = ["The answer", " is 4", "2.\nEN", "D and then more", " text."]
    sse = "".join(f"data: {json.dumps({'response': p})}\n\n" for p in pieces) + "data: [DONE]\n\n"
    directive = "script:" + json.dumps(
        {"sse": sse, "object": {"response": "".join(pieces)}, "chunk": chunk}
    )
    kwargs = {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": directive}],
        "stop": ["\nEND", "zzz"],
    }
    if stream:
        chunks = list(client.chat.completions.create(stream=True, **kwargs))
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        finish = chunks[-1].choices[0].finish_reason
    else:
        c = client.chat.completions.create(**kwargs)
        text, finish = c.choices[0].message.content, c.choices[0].finish_reason
    assert text == "The answer is 42."
    assert finish == "stop"


def test_length_finish_reason_when_the_budget_is_used(client):
    sse = 'data: {"response":"a b c"}\n\ndata: {"response":"","usage":{"prompt_tokens":3,"completion_tokens":5,"total_tokens":8}}\n\ndata: [DONE]\n\n'
    c = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "script:" + json.dumps({"sse": sse})}],
        max_tokens=5,
        stream=True,
    )
    assert [
        ch.choices[0].finish_reason for ch in c if ch.choices and ch.choices[0].finish_reason
    ] == ["length"]
