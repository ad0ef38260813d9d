"""POST /v1/messages (Anthropic's Messages API) through the rendered Worker in workerd.

Driven by the official `anthropic` SDK (sync, async, its streaming helper), with every answer
validated by the SDK's own pydantic types: the message, and each raw stream event as sent."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import anthropic
import pydantic
import pytest
from anthropic.types import Message, MessageTokensCount, RawMessageStreamEvent

from flaregate.catalog import is_retired, load_catalog
from tests.sse_fixtures import echoed, fixture_json, named_events, sse_events

STREAM_EVENT = pydantic.TypeAdapter(RawMessageStreamEvent)
FIXTURES = Path(__file__).parent / "fixtures" / "anthropic"
CLAUDE_CODE = json.loads((FIXTURES / "claude-code-request.json").read_text())
CLAUDE_CODE_2_1 = json.loads((FIXTURES / "claude-code-2.1.195-tool-turn.json").read_text())

NATIVE = "@cf/meta/llama-3.1-8b-instruct-fp8"  # answers {response, tool_calls, usage}
OPENAI_SHAPED = "@cf/qwen/qwen3-30b-a3b-fp8"  # answers chat.completion(.chunk)
WEATHER = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
VN_DETAILS = {
    "name": "get_vn_details",
    "description": "Details of a visual novel",
    "input_schema": {"type": "object", "properties": {"id": {"type": "string"}}},
}
IMPLEMENTATIONS = {
    "get_weather": lambda city=None, location=None: f"18C and sunny in {city or location}",
    "get_vn_details": lambda id: f"visual novel {id}: rating 9.1",
}


@pytest.fixture
def claude(worker, api_key):
    return anthropic.Anthropic(base_url=worker.url, api_key=api_key, max_retries=0, timeout=20)


@pytest.fixture
def async_claude(worker, api_key):
    return anthropic.AsyncAnthropic(base_url=worker.url, api_key=api_key, max_retries=0, timeout=20)


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def post(http, body: dict, **kwargs):
    return http.post("/v1/messages", json=body, **kwargs)


def raw_stream(http, body: dict, path: str = "/v1/messages", headers=None) -> list[dict]:
    """The stream's events as sent, each `event:` name checked against its data's type and each
    event (ping and error aside, which the SDK handles itself) validated with the SDK's types."""
    with http.stream("POST", path, json={**body, "stream": True}, headers=headers) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"].startswith("text/event-stream")
        events = named_events("".join(r.iter_text()))
    for data in events:
        if data["type"] not in ("ping", "error"):
            STREAM_EVENT.validate_python(data)
    return events


def types(events) -> list[str]:
    return [e["type"] for e in events]


def sent(claude, model: str, messages: list[dict], max_tokens=256, **kwargs) -> dict:
    """What the Worker sent to Workers AI: the fake answers `echo` with its inputs."""
    message = claude.messages.create(
        model=model, max_tokens=max_tokens, messages=messages, **kwargs
    )
    return echoed(message.content[0].text)


# --- plain text, both dialects ---------------------------------------------------------------

# (fixture, the answer's text in its .json recording); STREAMED: the text of its .sse recording.
ANSWERS = {
    NATIVE: (
        "llama-3.1-8b-native-text",
        fixture_json("llama-3.1-8b-native-text")["output"]["response"],
    ),
    OPENAI_SHAPED: (
        "qwen3-openai-dialect",
        fixture_json("qwen3-openai-dialect")["output"]["choices"][0]["message"]["content"],
    ),
}
STREAMED = {
    NATIVE: "".join(e.get("response") or "" for e in sse_events("llama-3.1-8b-native-text")),
    # The recording's content starts with the blank lines Qwen3 writes after its reasoning; a
    # text block starts at the first line of text.
    OPENAI_SHAPED: "".join(
        e["choices"][0]["delta"].get("content") or ""
        for e in sse_events("qwen3-openai-dialect")
        if e.get("choices")
    ).lstrip("\n"),
}


@pytest.mark.parametrize("model", [NATIVE, OPENAI_SHAPED])
def test_sync_create_answers_a_message_that_validates(claude, http, model):
    fixture, text = ANSWERS[model]
    r = post(http, {"model": model, "max_tokens": 512, "messages": user(f"fixture:{fixture}")})
    assert r.status_code == 200, r.text
    Message.model_validate(r.json())
    message = claude.messages.create(
        model=model, max_tokens=512, messages=user(f"fixture:{fixture}")
    )
    assert message.type == "message" and message.role == "assistant"
    assert message.id.startswith("msg_")
    assert message.model == model
    assert [b.type for b in message.content] == ["text"]  # no thinking: it was not asked for
    assert message.content[0].text == text
    assert message.stop_reason == "end_turn" and message.stop_sequence is None
    usage = fixture_json(fixture)["output"]["usage"]
    assert message.usage.input_tokens == usage["prompt_tokens"]
    assert message.usage.output_tokens == usage["completion_tokens"]
    assert message._request_id.startswith("req_")


def test_async_create_and_stream(async_claude):
    async def run():
        message = await async_claude.messages.create(
            model=NATIVE, max_tokens=64, messages=user("fixture:llama-3.1-8b-native-text")
        )
        async with async_claude.messages.stream(
            model=OPENAI_SHAPED, max_tokens=512, messages=user("fixture:qwen3-openai-dialect")
        ) as stream:
            final = await stream.get_final_message()
        return message, final

    message, final = asyncio.run(run())
    assert message.content[0].text == "Hello! How can I help you today?"
    assert final.content[0].text == STREAMED[OPENAI_SHAPED]


@pytest.mark.parametrize("model", [NATIVE, OPENAI_SHAPED])
def test_stream_helper_final_message_matches_the_fixture(claude, model):
    fixture, text = ANSWERS[model][0], STREAMED[model]
    with claude.messages.stream(
        model=model, max_tokens=512, messages=user(f"fixture:{fixture}")
    ) as stream:
        streamed = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert streamed == text
    assert [b.type for b in final.content] == ["text"]
    assert final.content[0].text == text
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens > 0


@pytest.mark.parametrize("model", [NATIVE, OPENAI_SHAPED])
def test_stream_sends_the_official_event_sequence(http, model):
    fixture, text = ANSWERS[model][0], STREAMED[model]
    events = raw_stream(
        http, {"model": model, "max_tokens": 512, "messages": user(f"fixture:{fixture}")}
    )
    names = types(events)
    deltas = names.count("content_block_delta")
    assert deltas >= 2
    assert names == [
        "message_start",
        "content_block_start",
        "ping",
        *["content_block_delta"] * deltas,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    start = events[0]["message"]
    assert start["content"] == [] and start["stop_reason"] is None
    assert events[1]["content_block"] == {"type": "text", "text": ""}
    assert "".join(e["delta"]["text"] for e in events if e["type"] == "content_block_delta") == (
        text
    )
    assert events[-2]["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}
    assert events[-2]["usage"]["output_tokens"] > 0


def test_x_api_key_and_bearer_token_both_authenticate(worker, api_key):
    # ANTHROPIC_API_KEY sends x-api-key; ANTHROPIC_AUTH_TOKEN sends Authorization: Bearer.
    for client in (
        anthropic.Anthropic(base_url=worker.url, api_key=api_key, max_retries=0),
        anthropic.Anthropic(base_url=worker.url, auth_token=api_key, max_retries=0),
    ):
        message = client.messages.create(model=NATIVE, max_tokens=16, messages=user("hi"))
        assert message.content[0].text == f"Hello from {NATIVE}."


# --- thinking ----------------------------------------------------------------------------------

THINKING = {"type": "enabled", "budget_tokens": 2048}


def test_thinking_comes_back_as_a_thinking_block_with_a_signature(claude):
    message = claude.messages.create(
        model=OPENAI_SHAPED,
        max_tokens=4096,
        thinking=THINKING,
        messages=user("fixture:qwen3-openai-dialect"),
    )
    reasoning = fixture_json("qwen3-openai-dialect")["output"]["choices"][0]["message"]
    assert [b.type for b in message.content] == ["thinking", "text"]
    assert message.content[0].thinking == reasoning["reasoning_content"]
    assert message.content[0].signature
    assert message.content[1].text == reasoning["content"]


def test_streamed_thinking_uses_thinking_and_signature_deltas(claude, http):
    body = {
        "model": OPENAI_SHAPED,
        "max_tokens": 4096,
        "thinking": THINKING,
        "messages": user("fixture:qwen3-openai-dialect"),
    }
    events = raw_stream(http, body)
    kinds = [(e["type"], e.get("delta", {}).get("type")) for e in events]
    first_text = kinds.index(("content_block_delta", "text_delta"))
    signature = kinds.index(("content_block_delta", "signature_delta"))
    assert kinds.index(("content_block_delta", "thinking_delta")) < signature < first_text
    assert events[signature + 1] == {"type": "content_block_stop", "index": 0}
    with claude.messages.stream(**body) as stream:
        final = stream.get_final_message()
    expected = sse_events("qwen3-openai-dialect")
    thought = "".join(
        e["choices"][0]["delta"].get("reasoning_content") or "" for e in expected if e["choices"]
    )
    assert final.content[0].type == "thinking" and final.content[0].thinking == thought
    assert final.content[0].signature


def test_reasoning_from_think_tags_is_thinking_too(claude):
    message = claude.messages.create(
        model="@cf/qwen/qwq-32b",
        max_tokens=4096,
        thinking=THINKING,
        messages=user("fixture:qwq-think-tags"),
    )
    assert [b.type for b in message.content] == ["thinking", "text"]
    assert "<think>" not in message.content[0].thinking + message.content[1].text


def test_thinking_budget_becomes_a_reasoning_effort(claude):
    low = sent(claude, OPENAI_SHAPED, user("echo"), max_tokens=4096, thinking=THINKING)
    assert low["inputs"]["reasoning_effort"] == "low"
    high = claude.messages.create(
        model=OPENAI_SHAPED,
        max_tokens=32000,
        thinking={"type": "enabled", "budget_tokens": 20000},
        messages=user("echo"),
    )
    assert echoed(high.content[0].text)["inputs"]["reasoning_effort"] == "high"


HISTORY_WITH_THINKING = [
    {"role": "user", "content": "What is 2+2?"},
    {
        "role": "assistant",
        "content": [
            {"type": "thinking", "thinking": "Two plus two.", "signature": "flaregate-v1"},
            {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix/LafPsn4a"},
            {"type": "text", "text": "4"},
        ],
    },
    {"role": "user", "content": "echo"},
]


def test_thinking_blocks_sent_back_are_accepted_and_kept_out_of_the_answer_text(claude):
    inputs = sent(claude, OPENAI_SHAPED, HISTORY_WITH_THINKING)["inputs"]
    assert inputs["messages"][1]["role"] == "assistant"
    assert inputs["messages"][1]["content"] == "4"


def test_thinking_blocks_sent_back_reach_the_model_as_reasoning_content(claude):
    inputs = sent(claude, "@cf/moonshotai/kimi-k2.6", HISTORY_WITH_THINKING)["inputs"]
    assert inputs["messages"][1]["reasoning_content"] == "Two plus two."


def test_adaptive_thinking_and_output_config_effort(claude):
    inputs = sent(
        claude,
        OPENAI_SHAPED,
        user("echo"),
        thinking={"type": "adaptive"},
        output_config={"effort": "max"},
    )["inputs"]
    assert inputs["reasoning_effort"] == "high"
    message = claude.messages.create(
        model=OPENAI_SHAPED,
        max_tokens=4096,
        thinking={"type": "adaptive", "display": "omitted"},
        messages=user("fixture:qwen3-openai-dialect"),
    )
    assert [b.type for b in message.content] == ["text"]


def test_output_config_format_asks_for_json_matching_the_schema(claude):
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    inputs = sent(
        claude,
        NATIVE,
        user("echo"),
        output_config={"format": {"type": "json_schema", "schema": schema}},
    )["inputs"]
    assert inputs["response_format"] == {"type": "json_schema", "json_schema": schema}


# --- tools ---------------------------------------------------------------------------------------


def run_agent(claude, model, steps, stream, tools=(WEATHER,)):
    """The loop every Anthropic agent runs: call; while stop_reason is tool_use, execute each
    tool_use block and send the results back as tool_result blocks."""
    messages = [{"role": "user", "content": "agent:" + json.dumps(steps)}]
    for _ in range(5):
        kwargs = {"model": model, "max_tokens": 1024, "messages": messages, "tools": list(tools)}
        if stream:
            with claude.messages.stream(**kwargs) as s:
                for _event in s:
                    pass
                message = s.get_final_message()
        else:
            message = claude.messages.create(**kwargs)
        calls = [b for b in message.content if b.type == "tool_use"]
        if message.stop_reason != "tool_use":
            assert not calls
            return messages, message
        assert calls
        messages.append({"role": "assistant", "content": [b.model_dump() for b in message.content]})
        results = []
        for call in calls:
            assert call.id.startswith("toolu_")
            assert isinstance(call.input, dict)
            output = IMPLEMENTATIONS[call.name](**call.input)
            results.append({"type": "tool_result", "tool_use_id": call.id, "content": output})
        messages.append({"role": "user", "content": results})
    raise AssertionError("the agent loop did not finish")


@pytest.mark.parametrize("stream", [False, True])
def test_tool_loop_with_openai_shaped_tool_call_deltas(claude, stream):
    steps = ["qwen3-openai-tool-call-deltas", {"text": "It is 18C and sunny in Tokyo."}]
    messages, final = run_agent(claude, OPENAI_SHAPED, steps, stream)
    assert final.content[-1].text == "It is 18C and sunny in Tokyo."
    call = messages[1]["content"][-1]
    assert call["type"] == "tool_use" and call["name"] == "get_weather"
    assert call["input"] == {"city": "Tokyo"}
    assert messages[2]["content"][0]["content"] == "18C and sunny in Tokyo"


@pytest.mark.parametrize("stream", [False, True])
def test_tool_loop_with_native_llama_tool_calls(claude, stream):
    steps = ["llama-native-tool-calls", "llama-native-text-after-tool-result"]
    tools = (WEATHER, VN_DETAILS)
    messages, final = run_agent(
        claude, "@cf/meta/llama-4-scout-17b-16e-instruct", steps, stream, tools
    )
    call = messages[1]["content"][-1]
    if stream:  # the .sse recording calls get_weather, the .json one get_vn_details
        assert (call["name"], call["input"]) == ("get_weather", {"location": "SF"})
    else:
        assert (call["name"], call["input"]) == ("get_vn_details", {"id": "1054"})
    assert final.content[0].text.startswith("I cannot provide the exact rating")


@pytest.mark.parametrize("stream", [False, True])
def test_tool_loop_with_emulated_tools(claude, stream):
    steps = [
        {"text": '{"tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}]}'},
        {"text": "Oslo: 18C and sunny."},
    ]
    messages, final = run_agent(claude, "gpt-4o-mini", steps, stream)
    assert [b["type"] for b in messages[1]["content"]] == ["tool_use"]
    assert final.content[0].text == "Oslo: 18C and sunny."


def test_streamed_tool_use_sends_input_json_deltas(http):
    body = {
        "model": OPENAI_SHAPED,
        "max_tokens": 1024,
        "tools": [WEATHER],
        "messages": user("fixture:qwen3-openai-tool-call-deltas"),
    }
    events = raw_stream(http, body)
    start = next(e for e in events if e["type"] == "content_block_start")
    assert start["content_block"]["type"] == "tool_use"
    assert start["content_block"]["id"].startswith("toolu_")
    assert start["content_block"]["input"] == {}
    fragments = [
        e["delta"]["partial_json"]
        for e in events
        if e["type"] == "content_block_delta" and e["delta"]["type"] == "input_json_delta"
    ]
    assert len(fragments) > 1 and json.loads("".join(fragments)) == {"city": "Tokyo"}
    assert events[-2]["delta"]["stop_reason"] == "tool_use"


def openai_chunk(delta: dict, finish=None) -> str:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return f"data: {json.dumps({'object': 'chat.completion.chunk', 'choices': [choice]})}\n\n"


def call_delta(index: int, **function) -> dict:
    return {"tool_calls": [{"index": index, "function": function}]}


@pytest.mark.parametrize("stream", [False, True])
def test_parallel_calls_streamed_interleaved_come_out_one_block_after_another(claude, http, stream):
    sse = "".join(
        [
            openai_chunk(call_delta(0, name="get_weather", arguments="")),
            openai_chunk(call_delta(1, name="get_vn_details", arguments="")),
            openai_chunk(call_delta(0, arguments='{"city":')),
            openai_chunk(call_delta(1, arguments='{"id": "1')),
            openai_chunk(call_delta(0, arguments='"Oslo"}')),
            openai_chunk(call_delta(1, arguments='054"}')),
            openai_chunk({}, "tool_calls"),
            "data: [DONE]\n\n",
        ]
    )
    body = {
        "model": OPENAI_SHAPED,
        "max_tokens": 256,
        "tools": [WEATHER, VN_DETAILS],
        "messages": user("script:" + json.dumps({"sse": sse})),
    }
    if stream:
        events = raw_stream(http, body)
        indexed = [(e["type"], e["index"]) for e in events if "index" in e]
        # Each block's events are contiguous: start, its deltas, stop; then the next block.
        for index in (0, 1):
            mine = [i for i, (_, at) in enumerate(indexed) if at == index]
            assert mine == list(range(mine[0], mine[-1] + 1))
            assert indexed[mine[0]] == ("content_block_start", index)
            assert indexed[mine[-1]] == ("content_block_stop", index)
        with claude.messages.stream(**body) as s:
            message = s.get_final_message()
    else:
        message = claude.messages.create(**body)
    assert [(b.name, b.input) for b in message.content] == [
        ("get_weather", {"city": "Oslo"}),
        ("get_vn_details", {"id": "1054"}),
    ]
    assert message.stop_reason == "tool_use"


def test_a_conversation_with_tool_results_reaches_the_model_as_chat_messages(claude):
    messages = [
        {"role": "user", "content": "Weather in Oslo and Bergen?"},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Checking."},
                {
                    "type": "tool_use",
                    "id": "toolu_a",
                    "name": "get_weather",
                    "input": {"city": "Oslo"},
                },
                {
                    "type": "tool_use",
                    "id": "toolu_b",
                    "name": "get_weather",
                    "input": {"city": "Bergen"},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_a", "content": "18C"},
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_b",
                    "content": [{"type": "text", "text": "station offline"}],
                    "is_error": True,
                },
                {"type": "text", "text": "echo"},
            ],
        },
    ]
    inputs = sent(claude, OPENAI_SHAPED, messages, tools=[WEATHER], system="Be brief.")["inputs"]
    assert inputs["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Oslo and Bergen?"},
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [
                {
                    "id": "toolu_a",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'},
                },
                {
                    "id": "toolu_b",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Bergen"}'},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "toolu_a", "content": "18C", "name": "get_weather"},
        {
            "role": "tool",
            "tool_call_id": "toolu_b",
            "content": "Error: station offline",
            "name": "get_weather",
        },
        {"role": "user", "content": "echo"},
    ]
    assert inputs["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": WEATHER["description"],
                "parameters": WEATHER["input_schema"],
            },
        }
    ]


@pytest.mark.parametrize(
    "choice, expected",
    [
        ({"type": "any"}, {"type": "function", "function": {"name": "get_weather"}}),
        (
            {"type": "tool", "name": "get_weather"},
            {"type": "function", "function": {"name": "get_weather"}},
        ),
        ({"type": "auto"}, None),
    ],
)
def test_tool_choice_becomes_what_workers_ai_enforces(claude, choice, expected):
    inputs = sent(claude, OPENAI_SHAPED, user("echo"), tools=[WEATHER], tool_choice=choice)[
        "inputs"
    ]
    assert inputs.get("tool_choice") == expected
    assert len(inputs["tools"]) == 1


def test_tool_choice_none_sends_no_tools(claude):
    inputs = sent(
        claude, OPENAI_SHAPED, user("echo"), tools=[WEATHER], tool_choice={"type": "none"}
    )["inputs"]
    assert "tools" not in inputs


def test_anthropic_server_tools_are_refused_with_the_field_named(claude):
    with pytest.raises(anthropic.BadRequestError) as err:
        claude.messages.create(
            model=OPENAI_SHAPED,
            max_tokens=64,
            messages=user("hi"),
            tools=[{"type": "web_search_20250305", "name": "web_search", "max_uses": 3}],
        )
    assert err.value.body["error"]["type"] == "invalid_request_error"
    assert "tools.0.type" in err.value.message


# --- request fields ----------------------------------------------------------------------------


def test_system_blocks_with_cache_control_become_one_system_message(claude):
    system = [
        {"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral"}},
        {"type": "text", "text": "Answer in English.", "cache_control": {"type": "ephemeral"}},
    ]
    inputs = sent(claude, NATIVE, user("echo"), system=system, metadata={"user_id": "u-1"})[
        "inputs"
    ]
    assert inputs["messages"][0] == {
        "role": "system",
        "content": "You are terse.\n\nAnswer in English.",
    }


def test_a_system_message_inside_the_conversation_stays_in_place_as_user_text(claude):
    # Claude Code 2.1 sends role "system" messages mid-conversation; most chat templates take a
    # system message only first, and some insist that user and assistant alternate.
    messages = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "system", "content": [{"type": "text", "text": "Be terse."}]},
        {"role": "user", "content": [{"type": "text", "text": "echo"}]},
    ]
    inputs = sent(claude, NATIVE, messages, system="You help.")["inputs"]
    assert inputs["messages"] == [
        {"role": "system", "content": "You help."},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "<system>\nBe terse.\n</system>\n\necho"},
    ]


def test_a_prompt_longer_than_the_models_context_is_prompt_is_too_long(claude):
    # Anthropic's wording, on which Claude Code compacts its conversation and retries.
    with pytest.raises(anthropic.BadRequestError) as err:
        claude.messages.create(model="tiny", max_tokens=64, messages=user("word " * 4000))
    assert err.value.message.startswith("Error code: 400")
    assert err.value.body["error"]["message"].startswith("prompt is too long: ")
    assert "> 2048 maximum" in err.value.body["error"]["message"]


def test_sampling_fields_reach_the_model(claude):
    # The SDK's create() no longer names these; Claude Code and older clients still send them.
    extra = {"temperature": 0.2, "top_p": 0.9, "top_k": 200}
    inputs = sent(claude, NATIVE, user("echo"), extra_body=extra)["inputs"]
    assert (inputs["temperature"], inputs["top_p"]) == (0.2, 0.9)
    assert inputs["top_k"] == 50  # native models take at most 50
    assert inputs["max_tokens"] == 256


def test_max_tokens_is_clamped_to_the_models_limit(claude):
    # Claude Code asks for 32000-64000 output tokens; the model gets what it can produce.
    inputs = sent(claude, "claude-sonnet-4-5-20250929", user("echo"))["inputs"]
    assert inputs["max_tokens"] == 256
    message = claude.messages.create(
        model="claude-sonnet-4-5-20250929", max_tokens=64000, messages=user("echo")
    )
    assert echoed(message.content[0].text)["inputs"]["max_tokens"] == 16384


def test_base64_image_reaches_a_vision_model_as_a_data_url(claude):
    image = {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="},
    }
    content = [image, {"type": "text", "text": "echo"}]
    inputs = sent(
        claude, "@cf/meta/llama-4-scout-17b-16e-instruct", [{"role": "user", "content": content}]
    )["inputs"]
    assert inputs["messages"][0]["content"][0] == {
        "type": "image_url",
        "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="},
    }
    with pytest.raises(anthropic.BadRequestError) as err:
        claude.messages.create(
            model=NATIVE, max_tokens=64, messages=[{"role": "user", "content": content}]
        )
    assert "image" in err.value.message


@pytest.mark.parametrize("stream", [False, True])
def test_stop_sequences_end_the_answer_with_stop_sequence(claude, stream):
    kwargs = {
        "model": NATIVE,
        "max_tokens": 64,
        "messages": user("fixture:llama-3.1-8b-native-text"),
        # The recorded answer says "help" when whole, "assist" when streamed.
        "stop_sequences": ["nope", "help", "assist"],
    }
    if stream:
        with claude.messages.stream(**kwargs) as s:
            message = s.get_final_message()
    else:
        message = claude.messages.create(**kwargs)
    assert message.content[0].text == "Hello! How can I "
    assert message.stop_reason == "stop_sequence"
    assert message.stop_sequence == ("assist" if stream else "help")


def test_an_answer_cut_by_the_token_limit_stops_with_max_tokens(claude):
    message = claude.messages.create(
        model="@cf/google/gemma-4-26b-a4b-it",
        max_tokens=400,
        messages=user("fixture:reasoning-field"),
    )
    assert message.stop_reason == "max_tokens"


# --- model names -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, model_id",
    [
        ("claude-opus-4-8", "@cf/moonshotai/kimi-k2.6"),
        ("claude-mythos-5-2", "@cf/moonshotai/kimi-k2.6"),
        ("claude-sonnet-4-5-20250929", "@cf/moonshotai/kimi-k2.6"),
        ("claude-3-7-sonnet-20250219", "@cf/moonshotai/kimi-k2.6"),
        ("claude-haiku-4-5-20251001", "@cf/zai-org/glm-4.7-flash"),
        ("claude-3-5-haiku-20241022", "@cf/zai-org/glm-4.7-flash"),
        ("gpt-4o-mini", "@cf/google/gemma-4-26b-a4b-it"),
        ("workers-ai/@cf/qwen/qwq-32b", "@cf/qwen/qwq-32b"),
    ],
)
def test_claude_and_openai_model_names_resolve_through_the_catalog(claude, name, model_id):
    message = claude.messages.create(model=name, max_tokens=64, messages=user("echo"))
    assert echoed(message.content[0].text)["model"] == model_id
    assert message.model == name


# --- errors ------------------------------------------------------------------------------------


def envelope(r, status: int, error_type: str) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["type"] == "error"
    assert set(body["error"]) == {"type", "message"}
    assert body["error"]["type"] == error_type and body["error"]["message"]
    assert body["request_id"] == r.headers["request-id"] == r.headers["x-request-id"]
    return body["error"]


def test_missing_or_wrong_key_is_401_authentication_error(worker, http):
    bare = anthropic.Anthropic(base_url=worker.url, api_key="sk-fg-wrong", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as err:
        bare.messages.create(model=NATIVE, max_tokens=16, messages=user("hi"))
    assert err.value.body["error"]["type"] == "authentication_error"
    r = http.post(
        "/v1/messages",
        json={"model": NATIVE, "max_tokens": 16, "messages": user("hi")},
        headers={"authorization": ""},
    )
    envelope(r, 401, "authentication_error")


def test_unknown_model_is_404_not_found_error(claude):
    with pytest.raises(anthropic.NotFoundError) as err:
        claude.messages.create(model="no-such-model", max_tokens=16, messages=user("hi"))
    assert err.value.body["error"]["type"] == "not_found_error"
    assert "no-such-model" in err.value.message


def test_missing_max_tokens_is_400_naming_it(http):
    error = envelope(
        post(http, {"model": NATIVE, "messages": user("hi")}), 400, "invalid_request_error"
    )
    assert "max_tokens" in error["message"]


@pytest.mark.parametrize(
    "body, field",
    [
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages.0.role"),
        (
            {"messages": [{"role": "user", "content": [{"type": "video"}]}]},
            "messages.0.content.0.type",
        ),
        ({"messages": user("hi"), "temperature": 1.5}, "temperature"),
        (
            {"messages": user("hi"), "thinking": {"type": "enabled", "budget_tokens": 100}},
            "thinking.budget_tokens",
        ),
        (
            {"messages": user("hi"), "tool_choice": {"type": "tool", "name": "nope"}},
            "tool_choice.name",
        ),
        ({"messages": user("hi"), "tools": [{"name": "x"}]}, "tools.0.input_schema"),
        ({"messages": []}, "messages"),
    ],
)
def test_invalid_requests_are_400_naming_the_field(http, body, field):
    error = envelope(
        post(http, {"model": NATIVE, "max_tokens": 64, **body}), 400, "invalid_request_error"
    )
    assert error["message"].startswith(field)


def test_unparseable_body_is_400_in_anthropics_envelope(http):
    r = http.post(
        "/v1/messages", content=b'{"model": ', headers={"content-type": "application/json"}
    )
    envelope(r, 400, "invalid_request_error")


def test_body_over_the_limit_is_413_request_too_large(http):
    big = {"model": NATIVE, "max_tokens": 16, "messages": user("x" * (300 * 1024))}
    envelope(post(http, big), 413, "request_too_large")


def test_wrong_method_is_405_in_anthropics_envelope(http):
    r = http.get("/v1/messages")
    envelope(r, 405, "invalid_request_error")


CAPACITY = next(e for e in fixture_json("errors")["errors"] if e["code"] == 3040)["message"]
DAILY = next(e for e in fixture_json("errors")["errors"] if e["code"] == 4006)["message"]


@pytest.mark.parametrize("stream", [False, True])
def test_workers_ai_out_of_capacity_is_529_overloaded(claude, stream):
    with pytest.raises(anthropic.OverloadedError) as err:
        kwargs = {"model": NATIVE, "max_tokens": 16, "messages": user(f"error:{CAPACITY}")}
        if stream:
            with claude.messages.stream(**kwargs) as s:
                s.get_final_message()
        else:
            claude.messages.create(**kwargs)
    assert err.value.status_code == 529
    assert err.value.body["error"]["type"] == "overloaded_error"
    assert int(err.value.response.headers["retry-after"]) > 0


def test_daily_allocation_used_up_is_429_rate_limit_error(claude):
    with pytest.raises(anthropic.RateLimitError) as err:
        claude.messages.create(model=NATIVE, max_tokens=16, messages=user(f"error:{DAILY}"))
    assert err.value.body["error"]["type"] == "rate_limit_error"


def test_a_model_that_never_answers_is_a_504_timeout_error(claude):
    with pytest.raises(anthropic.InternalServerError) as err:
        with claude.messages.stream(model=NATIVE, max_tokens=16, messages=user("hang")) as s:
            s.get_final_message()
    assert err.value.status_code == 504
    assert err.value.body["error"]["type"] == "timeout_error"


def test_an_error_after_the_stream_started_is_an_error_event(claude, http):
    script = json.dumps(
        {"sse": 'data: {"response":"Hel"}\n\ndata: {"response":"lo"}\n\n' * 3, "errorAfter": 2}
    )
    body = {"model": NATIVE, "max_tokens": 64, "messages": user(f"script:{script}")}
    events = raw_stream(http, body)
    assert types(events)[:3] == ["message_start", "content_block_start", "ping"]
    assert events[-1]["type"] == "error"
    assert events[-1]["error"]["type"] == "api_error"
    assert "message_stop" not in types(events)
    with pytest.raises(anthropic.APIStatusError):
        with claude.messages.stream(**body) as s:
            s.get_final_message()


# --- count_tokens --------------------------------------------------------------------------------


def test_count_tokens_estimates_and_says_so(claude, http):
    count = claude.messages.count_tokens(model=NATIVE, messages=user("Hello there"))
    assert isinstance(count, MessageTokensCount) and count.input_tokens > 0
    with_tools = claude.messages.count_tokens(
        model=OPENAI_SHAPED, messages=user("Hello there"), tools=[WEATHER, VN_DETAILS]
    )
    assert with_tools.input_tokens > count.input_tokens
    r = http.post("/v1/messages/count_tokens", json={"model": NATIVE, "messages": user("hi")})
    assert r.status_code == 200 and r.headers["x-flaregate-usage"] == "estimated"
    assert set(r.json()) == {"input_tokens"}
    error = envelope(
        http.post(
            "/v1/messages/count_tokens", json={"model": "no-such-model", "messages": user("hi")}
        ),
        404,
        "not_found_error",
    )
    assert "no-such-model" in error["message"]


# --- what Claude Code sends ----------------------------------------------------------------------


def test_a_recorded_claude_code_request_is_accepted_and_answered(worker, http, api_key):
    """A real Claude Code request body (cited in the fixture): system blocks with cache_control,
    16 tools, metadata.user_id, a tool loop with is_error; sent the way Claude Code sends it."""
    body = CLAUDE_CODE["body"]
    headers = {**CLAUDE_CODE["headers"], "x-api-key": api_key, "authorization": ""}
    events = raw_stream(http, body, path=CLAUDE_CODE["url"], headers=headers)
    assert types(events)[0] == "message_start" and types(events)[-1] == "message_stop"
    text = "".join(e["delta"].get("text", "") for e in events if e["type"] == "content_block_delta")
    # claude-3-7-sonnet-20250219 resolves through the claude-3-* alias.
    assert text == "Hello from @cf/moonshotai/kimi-k2.6."
    assert events[-2]["delta"]["stop_reason"] == "end_turn"
    request_id = events[0]["message"]["id"]
    assert request_id.startswith("msg_")

    r = http.post(
        "/v1/messages/count_tokens",
        json={k: body[k] for k in ("model", "messages", "system", "tools")},
        headers=headers,
    )
    assert r.status_code == 200, r.text
    # About 110 KB of JSON: tens of thousands of tokens, not a handful.
    assert 15000 < r.json()["input_tokens"] < 60000


def test_a_claude_code_2_1_tool_turn_is_accepted_and_answered(http, api_key):
    """Claude Code 2.1.195's second request of a tool loop, recorded here (see the fixture):
    adaptive thinking, output_config, context_management, a mid-conversation system message, a
    thinking block and tool_use sent back, a tool_result with cache_control."""
    headers = {**CLAUDE_CODE_2_1["headers"], "authorization": f"Bearer {api_key}"}
    events = raw_stream(http, CLAUDE_CODE_2_1["body"], path=CLAUDE_CODE_2_1["url"], headers=headers)
    text = "".join(e["delta"].get("text", "") for e in events if e["type"] == "content_block_delta")
    # The fake model's second step: the assistant turn sent back was decoded as one turn.
    assert text == "The secret word in notes.txt is flamingo."
    assert events[-2]["delta"]["stop_reason"] == "end_turn"


def test_usage_the_model_did_not_report_is_estimated_and_says_so(http):
    script = json.dumps({"object": {"response": "Four words right here."}})
    r = post(http, {"model": NATIVE, "max_tokens": 64, "messages": user(f"script:{script}")})
    assert r.status_code == 200 and r.headers["x-flaregate-usage"] == "estimated"
    assert r.json()["usage"]["output_tokens"] == len("Four words right here.") // 4 + 1
    assert r.json()["usage"]["input_tokens"] > 0
    reported = post(http, {"model": NATIVE, "max_tokens": 64, "messages": user("hi")})
    assert "x-flaregate-usage" not in reported.headers


def test_the_log_line_names_the_route_model_and_tokens(worker, claude):
    message = claude.messages.create(
        model="claude-haiku-4-5", max_tokens=64, messages=user("fixture:qwen3-openai-dialect")
    )
    (line,) = worker.log_lines(message._request_id)
    assert line["route"] == "/v1/messages"
    assert line["model_requested"] == "claude-haiku-4-5"
    assert line["model"] == "@cf/zai-org/glm-4.7-flash"
    assert (line["prompt_tokens"], line["completion_tokens"]) == (
        message.usage.input_tokens,
        message.usage.output_tokens,
    )


# --- every recorded model output, through the Anthropic encoder ----------------------------------

WORKERS_AI = Path(__file__).parent / "fixtures" / "workers-ai"
READ_FILE = {
    "name": "read_file",
    "description": "Read a file",
    "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}},
}
# Streams recorded without their end: the answer must end in an `error` event.
CUT_STREAMS = {"native-stream-truncated", "llama4-scout-control-tokens"}


def chat_fixtures() -> list[tuple[str, str]]:
    """(fixture name, the model it was recorded from) for every chat output fixture."""
    found = {}
    for path in sorted(WORKERS_AI.glob("*.json")) + sorted(WORKERS_AI.glob("*.sse")):
        text = path.read_text()
        if path.suffix == ".json":
            data = json.loads(text)
            model, output = data.get("model"), data.get("output")
            if not isinstance(output, dict) or not (
                {"response", "choices", "output"} & set(output)
            ):
                continue
        else:
            model = next(
                (
                    line[len(": model: ") :].strip()
                    for line in text.splitlines()
                    if line.startswith(": model: ")
                ),
                None,
            )
        if model:
            # A model Cloudflare has since retired is asked for by its replacement: the fixture
            # is about the output's shape, which the catalog's facts for it must still handle.
            found.setdefault(path.stem, RETIRED.get(model, model))
    return sorted(found.items())


RETIRED = {
    m["id"]: m["deprecated"]["replacement"] for m in load_catalog()["models"] if is_retired(m)
}


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("fixture, model", chat_fixtures())
def test_every_recorded_output_makes_a_valid_anthropic_answer(claude, http, fixture, model, stream):
    body = {
        "model": model,
        "max_tokens": 4096,
        "thinking": THINKING,
        "tools": [WEATHER, VN_DETAILS, READ_FILE],
        "messages": user(f"fixture:{fixture}"),
    }
    if stream:
        events = raw_stream(http, body)
        if fixture in CUT_STREAMS:
            assert events[-1]["type"] == "error"
            return
        assert events[-1]["type"] == "message_stop"
        with claude.messages.stream(**body) as s:
            message = s.get_final_message()
    else:
        r = post(http, body)
        if fixture in CUT_STREAMS and not (WORKERS_AI / f"{fixture}.json").exists():
            envelope(r, 502, "api_error")  # read to its cut end: no answer to give
            return
        assert r.status_code == 200, r.text
        message = Message.model_validate(r.json())
    calls = [b for b in message.content if b.type == "tool_use"]
    assert (message.stop_reason == "tool_use") == bool(calls)
    for call in calls:
        assert call.id.startswith("toolu_") and isinstance(call.input, dict)
        assert call.name in {"get_weather", "get_vn_details", "read_file"}
    for block in message.content:
        text = getattr(block, "text", None) or getattr(block, "thinking", None) or ""
        assert "<think>" not in text and "</think>" not in text and "<|" not in text
        if block.type == "thinking":
            assert block.signature
    assert message.usage.output_tokens >= 0 and message.usage.input_tokens > 0
