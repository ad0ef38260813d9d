"""Chat completions through the rendered Worker in workerd, driven by the official openai SDK."""

from __future__ import annotations

import asyncio
import json
import time

import openai
import pytest

from tests.sse_fixtures import echoed, fixture_json, sse_events


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def collect(stream) -> tuple[list, str]:
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return chunks, text


def text_until_error(stream) -> tuple[str, openai.APIError]:
    """Read a stream that must end in an error chunk: the text that came before, and the error."""
    received = []
    with pytest.raises(openai.APIError) as err:
        for c in stream:
            received.append(c)
    return "".join(c.choices[0].delta.content or "" for c in received if c.choices), err.value


def test_health_answers_without_a_key(worker):
    import httpx

    r = httpx.get(f"{worker.url}/health")
    assert r.status_code == 200
    assert r.json()["status"] == "ok"
    assert r.json()["version"]
    assert r.headers["x-request-id"].startswith("req_")


def test_completion_has_openai_shape_and_echoes_requested_model(client):
    completion = client.chat.completions.create(model="gpt-4o-mini", messages=user("hi"))
    assert completion.object == "chat.completion"
    assert completion.id.startswith("chatcmpl-")
    assert completion.model == "gpt-4o-mini"
    assert abs(completion.created - time.time()) < 120
    choice = completion.choices[0]
    assert choice.finish_reason == "stop"
    assert choice.message.role == "assistant"
    # The fake answers "Hello from <model it was called with>": the alias reached its target.
    assert choice.message.content == "Hello from @cf/google/gemma-4-26b-a4b-it."
    assert (
        completion.usage.total_tokens
        == completion.usage.prompt_tokens + completion.usage.completion_tokens
    )


def test_stream_has_role_first_finish_last_usage_and_done(client):
    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=user("hi"),
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks, text = collect(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert text == "Hello from @cf/google/gemma-4-26b-a4b-it."
    finish = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert len(finish) == 1 and finish[0].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 5
    assert all(c.object == "chat.completion.chunk" and c.model == "gpt-4o-mini" for c in chunks)
    assert len({c.id for c in chunks}) == 1


def test_stream_ends_with_done_on_the_wire(http):
    r = http.post(
        "/v1/chat/completions",
        json={"model": "gpt-4o-mini", "messages": user("hi"), "stream": True},
    )
    assert r.headers["content-type"].startswith("text/event-stream")
    events = [line for line in r.text.split("\n\n") if line]
    assert events[-1] == "data: [DONE]"


def test_async_client_streaming_and_not(async_client):
    async def run():
        done = await async_client.chat.completions.create(model="gpt-4o", messages=user("hi"))
        stream = await async_client.chat.completions.create(
            model="gpt-4o", messages=user("hi"), stream=True
        )
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        return done, text

    done, text = asyncio.run(run())
    assert done.choices[0].message.content == text == "Hello from @cf/qwen/qwen3.8-27b."


# --- both dialects, from recorded fixtures -------------------------------------------------


def test_native_dialect_fixture_non_streaming(client):
    fixture = fixture_json("llama-3.1-8b-native-text")["output"]
    c = client.chat.completions.create(
        model="@cf/meta/llama-3.1-8b-instruct-fp8",
        messages=user("fixture:llama-3.1-8b-native-text"),
    )
    assert c.choices[0].message.content == fixture["response"]
    assert c.usage.prompt_tokens == fixture["usage"]["prompt_tokens"]
    assert c.usage.completion_tokens == fixture["usage"]["completion_tokens"]


@pytest.mark.parametrize("chunk", [0, 1, 7, 64])
def test_native_dialect_stream_survives_any_read_split(client, chunk):
    events = sse_events("llama-3.1-8b-native-text")
    expected = "".join(e["response"] for e in events if isinstance(e.get("response"), str))
    usage = [e["usage"] for e in events if "usage" in e][-1]
    query = f"?chunk={chunk}" if chunk else ""
    stream = client.chat.completions.create(
        model="@cf/meta/llama-3.1-8b-instruct-fp8",
        messages=user(f"fixture:llama-3.1-8b-native-text{query}"),
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks, text = collect(stream)
    assert text == expected
    assert chunks[-1].usage.total_tokens == usage["total_tokens"]


def test_openai_dialect_fixture_non_streaming_keeps_reasoning(client):
    message = fixture_json("qwen3-openai-dialect")["output"]["choices"][0]["message"]
    c = client.chat.completions.create(
        model="@cf/qwen/qwen3-30b-a3b-fp8", messages=user("fixture:qwen3-openai-dialect")
    )
    assert c.choices[0].message.content == message["content"]
    assert c.choices[0].message.model_extra["reasoning_content"] == message["reasoning_content"]
    assert c.choices[0].message.tool_calls is None


@pytest.mark.parametrize("chunk", [0, 5])
def test_openai_dialect_stream(client, chunk):
    events = sse_events("qwen3-openai-dialect")
    deltas = [e["choices"][0]["delta"] for e in events if e.get("choices")]
    expected = "".join(d.get("content") or "" for d in deltas)
    reasoning_expected = "".join(d.get("reasoning_content") or "" for d in deltas)
    query = f"?chunk={chunk}" if chunk else ""
    stream = client.chat.completions.create(
        model="@cf/qwen/qwen3-30b-a3b-fp8",
        messages=user(f"fixture:qwen3-openai-dialect{query}"),
        stream=True,
    )
    chunks, text = collect(stream)
    reasoning = "".join(
        (c.choices[0].delta.model_extra or {}).get("reasoning_content") or ""
        for c in chunks
        if c.choices
    )
    assert text == expected
    assert reasoning == reasoning_expected
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_streaming_is_incremental(client):
    """A slow model (a token every 150 ms) must reach the client token by token, not at the end."""
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=user("slow:8:150"), stream=True
    )
    arrivals = []
    for c in stream:
        if c.choices and c.choices[0].delta.content:
            arrivals.append(time.monotonic())
    assert len(arrivals) == 8
    # Buffered, all eight would arrive together; streamed, they spread over ~7 x 150 ms.
    assert arrivals[-1] - arrivals[0] > 0.5 * 7 * 0.150


# --- model names -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, resolved",
    [
        ("gpt-4o", "@cf/qwen/qwen3.8-27b"),
        ("@cf/qwen/qwq-32b", "@cf/qwen/qwq-32b"),
        ("workers-ai/@cf/qwen/qwq-32b", "@cf/qwen/qwq-32b"),
        ("@cf/some-vendor/brand-new-model", "@cf/some-vendor/brand-new-model"),
    ],
)
def test_model_names_resolve(client, name, resolved):
    c = client.chat.completions.create(model=name, messages=user("echo"))
    assert echoed(c.choices[0].message.content)["model"] == resolved
    assert c.model == name


def test_unknown_model_is_404_model_not_found(client):
    with pytest.raises(openai.NotFoundError) as err:
        client.chat.completions.create(model="gpt-17-ultra", messages=user("hi"))
    assert err.value.code == "model_not_found"
    assert err.value.body["param"] == "model"


def test_embeddings_model_is_refused_for_chat(client):
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="text-embedding-3-small", messages=user("hi"))
    assert "embeddings" in err.value.message


# --- binding errors and deadlines --------------------------------------------------------------


@pytest.mark.parametrize(
    "message, error, status",
    [
        ("3040: Capacity temporarily exceeded, please try again", openai.RateLimitError, 429),
        (
            "4006: you have used up your daily free allocation of 10,000 neurons",
            openai.RateLimitError,
            429,
        ),
        ("5007: No such model @cf/x/y or task", openai.NotFoundError, 404),
        ("3006: Request is too large", openai.APIStatusError, 413),
        ("8001: Invalid input", openai.BadRequestError, 400),
        ("3043: Internal server error", openai.APIStatusError, 502),
        ("Network connection lost.", openai.APIStatusError, 502),
        ("2003: Rate limited", openai.RateLimitError, 429),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
def test_binding_errors_become_openai_errors(client, message, error, status, stream):
    with pytest.raises(error) as err:
        result = client.chat.completions.create(
            model="@cf/qwen/qwq-32b", messages=user(f"error:{message}"), stream=stream
        )
        list(result) if stream else None
    assert err.value.status_code == status
    if status == 429:
        assert int(err.value.response.headers["retry-after"]) > 0


def test_capacity_error_falls_back_to_the_next_model(client):
    c = client.chat.completions.create(
        model="gpt-4o",
        messages=user("error-for:@cf/qwen/qwen3.8-27b|3040: Capacity temporarily exceeded"),
    )
    assert c.choices[0].message.content == "Hello from @cf/meta/llama-3.3-70b-instruct-fp8-fast."


@pytest.mark.parametrize("stream", [False, True])
def test_a_model_that_never_answers_is_a_504(client, stream):
    started = time.monotonic()
    with pytest.raises(openai.APIStatusError) as err:
        result = client.chat.completions.create(
            model="gpt-4o-mini", messages=user("hang"), stream=stream
        )
        list(result) if stream else None
    assert err.value.status_code == 504
    assert err.value.code == "timeout"
    assert time.monotonic() - started < 15


def test_a_stream_that_stalls_midway_ends_with_an_error_chunk(client):
    # First token at once, then 2.5 s of silence: past the test Worker's 1.5 s idle deadline.
    sse = 'data: {"response":"first"}\n\ndata: {"response":" second"}\n\ndata: [DONE]\n\n'
    script = json.dumps({"sse": sse, "delay": 2500})
    started = time.monotonic()
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=user(f"script:{script}"), stream=True
    )
    text, err = text_until_error(stream)
    assert "did not arrive within 1500 ms" in str(err)
    assert text == "first"
    assert time.monotonic() - started < 2.4


def test_truncated_stream_ends_with_an_error_not_a_silent_cut(client):
    stream = client.chat.completions.create(
        model="@cf/meta/llama-3.1-8b-instruct-fp8",
        messages=user("fixture:native-stream-truncated"),
        stream=True,
    )
    text, err = text_until_error(stream)
    assert "incomplete" in str(err)
    assert text


def test_a_stream_returned_at_once_whose_first_token_never_comes_is_a_504(client):
    sse = 'data: {"response":"late"}\n\ndata: [DONE]\n\n'
    script = json.dumps({"sse": sse, "streamDelayFirst": 60000})
    started = time.monotonic()
    with pytest.raises(openai.APIStatusError) as err:
        client.chat.completions.create(
            model="gpt-4o-mini", messages=user(f"script:{script}"), stream=True
        )
    assert err.value.status_code == 504 and "first token" in err.value.message
    assert time.monotonic() - started < 15


def test_a_stream_that_fails_midway_ends_with_an_error_chunk(client):
    sse = "".join(f'data: {{"response":"w{i} "}}\n\n' for i in range(6)) + "data: [DONE]\n\n"
    script = json.dumps({"sse": sse, "chunk": 20, "errorAfter": 2})
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=user(f"script:{script}"), stream=True
    )
    text, err = text_until_error(stream)
    assert "3043" in str(err)
    assert text.startswith("w0 ")


@pytest.mark.parametrize("stream", [False, True])
def test_a_binding_that_answers_with_a_raw_response_is_read_through(client, stream):
    sse = 'data: {"response":"Hello"}\n\ndata: {"response":" there"}\n\ndata: [DONE]\n\n'
    script = json.dumps({"sse": sse, "object": {"response": "Hello there"}, "asResponse": True})
    result = client.chat.completions.create(
        model="gpt-4o-mini", messages=user(f"script:{script}"), stream=stream
    )
    text = collect(result)[1] if stream else result.choices[0].message.content
    assert text == "Hello there"


# Every error message recorded or documented in tests/fixtures/workers-ai/errors.json, and the
# status a client gets for it.
RECORDED_ERROR_STATUS = {
    3040: 429,
    4006: 429,
    3036: 429,
    5007: 404,
    3042: 404,
    3006: 413,
    8001: 400,
    3010: 400,
    3007: 504,
    3008: 504,
    5016: 403,
    3023: 403,
    3041: 403,
    10000: 502,
    1031: 502,
    None: 502,
}


@pytest.mark.parametrize("entry", fixture_json("errors")["errors"], ids=lambda e: e["message"][:40])
def test_recorded_binding_errors_map_to_actionable_statuses(client, entry):
    with pytest.raises(openai.APIStatusError) as err:
        client.chat.completions.create(
            model="@cf/qwen/qwq-32b", messages=user(f"error:{entry['message']}")
        )
    assert err.value.status_code == RECORDED_ERROR_STATUS[entry["code"]]
    assert set(err.value.body) >= {"message", "type", "param", "code"}
