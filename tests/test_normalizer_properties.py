"""Property-based: for arbitrary model output in either dialect, cut into arbitrary reads, the
Worker answers with objects the openai SDK's own types accept, whose content never holds think
tags or control tokens and carries exactly the visible text (reasoning separately)."""

from __future__ import annotations

import json

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openai.types.chat import ChatCompletion, ChatCompletionChunk

TEXT = st.text(
    alphabet=st.sampled_from(
        list("abcdefghij XYZ.,!?\n") + ["\u00e9", "\u4e16", "\U0001f600", "|", ">", "{", "}"]
    ),
    min_size=1,
    max_size=12,
)
CONTROL_TOKENS = [
    "<|eot_id|>",
    "<|im_end|>",
    "<|eom_id|>",
    "<|start_header_id|>assistant<|end_header_id|>\n\n",
    "<|im_start|>assistant\n",
]
SEGMENT = st.one_of(
    st.tuples(st.just("text"), TEXT),
    st.tuples(st.just("think"), TEXT),
    st.tuples(st.just("control"), st.sampled_from(CONTROL_TOKENS)),
)


def post_chat(worker, api_key, body: dict) -> httpx.Response:
    return httpx.post(
        f"{worker.base_url}/chat/completions",
        json=body,
        headers={"authorization": f"Bearer {api_key}"},
        timeout=20,
    )


def streamed_chunks(r: httpx.Response) -> list[ChatCompletionChunk]:
    """A 200 stream that ends with [DONE], every chunk validated by the SDK's own type."""
    assert r.status_code == 200, r.text
    payloads = [line[6:] for line in r.text.split("\n") if line.startswith("data: ")]
    assert payloads[-1] == "[DONE]"
    return [ChatCompletionChunk.model_validate(json.loads(p)) for p in payloads[:-1]]


def squash(s: str) -> str:
    return "".join(s.split())


def build(segments):
    raw, visible, thought = "", "", ""
    for kind, value in segments:
        if kind == "text":
            raw, visible = raw + value, visible + value
        elif kind == "think":
            raw, thought = raw + f"<think>{value}</think>", thought + value
        else:
            raw += value
    return raw, visible, thought


def split(raw: str, cuts: list[int]) -> list[str]:
    points = sorted({c % (len(raw) + 1) for c in cuts} | {0, len(raw)})
    return [raw[a:b] for a, b in zip(points, points[1:], strict=False) if b > a]


def sse_for(dialect: str, pieces: list[str], field_reasoning: str) -> str:
    events = []
    if dialect == "openai" and field_reasoning:
        events.append({"choices": [{"index": 0, "delta": {"reasoning_content": field_reasoning}}]})
    for piece in pieces:
        if dialect == "native":
            events.append({"response": piece, "p": "abc"})
        else:
            events.append(
                {
                    "id": "x",
                    "object": "chat.completion.chunk",
                    "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}],
                }
            )
    if dialect == "openai":
        events.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    events.append(
        {"response": "", "usage": {"prompt_tokens": 4, "completion_tokens": 9, "total_tokens": 13}}
    )
    return "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    segments=st.lists(SEGMENT, min_size=1, max_size=8),
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=10),
    byte_reads=st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=4),
    dialect=st.sampled_from(["native", "openai"]),
    field_reasoning=st.sampled_from(["", "thinking in a field"]),
)
def test_streamed_output_is_valid_and_clean(
    worker, api_key, segments, cuts, byte_reads, dialect, field_reasoning
):
    raw, visible, thought = build(segments)
    sse = sse_for(dialect, split(raw, cuts), field_reasoning if dialect == "openai" else "")
    directive = "script:" + json.dumps({"sse": sse, "chunk": byte_reads})
    body = {
        "model": "@cf/meta/llama-3.1-8b-instruct-fp8",
        "messages": [{"role": "user", "content": directive}],
        "stream": True,
    }
    chunks = streamed_chunks(post_chat(worker, api_key, body))
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    reasoning = "".join(
        (c.choices[0].delta.model_extra or {}).get("reasoning_content") or ""
        for c in chunks
        if c.choices
    )
    assert "<think>" not in content and "</think>" not in content and "<|" not in content
    assert squash(content) == squash(visible)
    assert squash(reasoning) == squash((field_reasoning if dialect == "openai" else "") + thought)
    assert [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ] == ["stop"]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    segments=st.lists(SEGMENT, min_size=1, max_size=8),
    dialect=st.sampled_from(["native", "openai"]),
)
def test_non_streamed_output_is_valid_and_clean(worker, api_key, segments, dialect):
    raw, visible, thought = build(segments)
    if dialect == "native":
        obj = {
            "response": raw,
            "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
        }
    else:
        obj = {
            "id": "x",
            "object": "chat.completion",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": raw},
                    "finish_reason": "stop",
                }
            ],
        }
    directive = "script:" + json.dumps({"object": obj})
    body = {
        "model": "@cf/meta/llama-3.1-8b-instruct-fp8",
        "messages": [{"role": "user", "content": directive}],
    }
    r = post_chat(worker, api_key, body)
    completion = ChatCompletion.model_validate(r.json())
    message = completion.choices[0].message
    assert "<think>" not in message.content and "<|" not in message.content
    assert squash(message.content) == squash(visible)
    assert squash((message.model_extra or {}).get("reasoning_content") or "") == squash(thought)


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=8,
)
FIELDS = st.sampled_from(
    [
        "model",
        "messages",
        "stream",
        "tools",
        "tool_choice",
        "max_tokens",
        "temperature",
        "stop",
        "n",
        "response_format",
        "stream_options",
        "functions",
        "function_call",
        "seed",
        "top_p",
    ]
)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    overrides=st.dictionaries(FIELDS, JSON_VALUES, max_size=4),
    message_overrides=st.dictionaries(
        st.sampled_from(["role", "content", "tool_calls", "tool_call_id", "name"]),
        JSON_VALUES,
        max_size=3,
    ),
)
def test_nothing_a_client_sends_crashes_the_worker(worker, api_key, overrides, message_overrides):
    message = {"role": "user", "content": "hi", **message_overrides}
    body = {"model": "gpt-4o-mini", "messages": [message], **overrides}
    r = post_chat(worker, api_key, body)
    assert r.status_code < 500, r.text
    if r.status_code >= 400:
        assert set(r.json()["error"]) == {"message", "type", "param", "code"}


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    args=st.dictionaries(
        st.text(alphabet="abcxyz", min_size=1, max_size=5),
        st.text(max_size=6) | st.integers(),
        max_size=4,
    ),
    cuts=st.lists(st.integers(min_value=0, max_value=500), max_size=6),
    dialect=st.sampled_from(["native", "openai"]),
    with_index=st.booleans(),
    byte_reads=st.lists(st.integers(min_value=1, max_value=30), min_size=1, max_size=3),
)
def test_tool_call_fragments_reassemble_in_either_dialect(
    worker, api_key, args, cuts, dialect, with_index, byte_reads
):
    text = json.dumps(args)
    fragments = split(text, cuts) or [""]
    deltas = [
        {
            "id": "call_prop",
            "type": "function",
            "function": {"name": "get_weather", "arguments": fragments[0]},
        }
    ]
    deltas += [{"function": {"arguments": f}} for f in fragments[1:]]
    if with_index:
        deltas = [{"index": 0, **d} for d in deltas]
    if dialect == "native":
        events = [{"response": "", "tool_calls": [d]} for d in deltas]
    else:
        events = [{"choices": [{"index": 0, "delta": {"tool_calls": [d]}}]} for d in deltas]
        events.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})
    sse = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
    body = {
        "model": "@cf/qwen/qwen3-30b-a3b-fp8",
        "messages": [
            {"role": "user", "content": "script:" + json.dumps({"sse": sse, "chunk": byte_reads})}
        ],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "parameters": {"type": "object", "properties": {}},
                },
            }
        ],
        "stream": True,
    }
    chunks = streamed_chunks(post_chat(worker, api_key, body))
    calls = [t for c in chunks if c.choices for t in c.choices[0].delta.tool_calls or []]
    assert {t.index for t in calls} == {0}
    assert [t.id for t in calls if t.id] == ["call_prop"]
    assert json.loads("".join(t.function.arguments or "" for t in calls)) == args
    assert [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ] == ["tool_calls"]
