"""POST /v1/responses (OpenAI Responses API) through the rendered Worker in workerd.

Validated with the openai SDK's own Responses types (strict pydantic validation of the raw JSON
and of every raw stream event) and its streaming helper (client.responses.stream)."""

from __future__ import annotations

import json

import openai
import pydantic
import pytest
from openai.types.responses import Response, ResponseStreamEvent

from tests.sse_fixtures import echoed, fixture_json, named_events, sse_events

STREAM_EVENT = pydantic.TypeAdapter(ResponseStreamEvent)
WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather for a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


def raw_stream(http, body: dict) -> list[dict]:
    """The stream's events as sent: each `event:` name checked against its data's type."""
    with http.stream("POST", "/v1/responses", json={**body, "stream": True}) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"].startswith("text/event-stream")
        return named_events("".join(r.iter_text()))


def types(events) -> list[str]:
    return [e["type"] if isinstance(e, dict) else e.type for e in events]


# --- plain text ---------------------------------------------------------------------------


def test_string_input_answers_a_response_object_that_validates(http):
    r = http.post("/v1/responses", json={"model": "gpt-4o-mini", "input": "hi"})
    assert r.status_code == 200, r.text
    response = Response.model_validate(r.json(), strict=False)
    assert response.object == "response"
    assert response.id.startswith("resp_")
    assert response.status == "completed"
    assert response.model == "gpt-4o-mini"
    assert [item.type for item in response.output] == ["message"]
    assert response.output_text == "Hello from @cf/google/gemma-4-26b-a4b-it."
    assert response.usage.input_tokens == 8 and response.usage.output_tokens == 5
    assert response.usage.total_tokens == 13


def test_sdk_create_non_streaming(client):
    response = client.responses.create(model="gpt-4o", input="hi", instructions="Be brief.")
    assert response.output_text == "Hello from @cf/qwen/qwen3.8-27b."
    assert response.instructions == "Be brief."
    assert response.output[0].status == "completed"


def test_stream_has_the_official_events_in_order(http):
    events = raw_stream(http, {"model": "gpt-4o-mini", "input": "hi"})
    for event in events:
        STREAM_EVENT.validate_python(event)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    names = types(events)
    assert names[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert names[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    deltas = [e["delta"] for e in events if e["type"] == "response.output_text.delta"]
    assert len(deltas) == 5
    done = events[-4]
    assert done["text"] == "".join(deltas)
    assert events[0]["response"]["status"] == "in_progress"
    final = Response.model_validate(events[-1]["response"])
    assert final.output_text == "".join(deltas)
    assert final.usage.output_tokens == 5
    assert len({e["item_id"] for e in events if "item_id" in e}) == 1


def test_sdk_streaming_helper_assembles_the_final_response(client):
    with client.responses.stream(model="gpt-4o-mini", input="hi") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert final.output_text == "".join(deltas)
    assert final.output_text == "Hello from @cf/google/gemma-4-26b-a4b-it."


def test_async_sdk_streaming(async_client):
    import asyncio

    async def run():
        stream = await async_client.responses.create(model="gpt-4o", input="hi", stream=True)
        return [event async for event in stream]

    events = asyncio.run(run())
    assert events[-1].type == "response.completed"
    assert events[-1].response.output_text == "Hello from @cf/qwen/qwen3.8-27b."


# --- input items are translated for the model ---------------------------------------------


def test_items_instructions_and_tools_reach_the_model_as_chat(client):
    # gpt-4o is Llama 4 Scout: native tools, so tool results stay tool messages. "echo" makes
    # the fake answer with what it was called with.
    response = client.responses.create(
        model="gpt-4o",
        instructions="Be brief.",
        tools=[WEATHER_TOOL],
        input=[
            {"role": "user", "content": "Weather in Paris?"},
            {
                "type": "function_call",
                "call_id": "call_1",
                "name": "get_weather",
                "arguments": '{"city": "Paris"}',
            },
            {"type": "function_call_output", "call_id": "call_1", "output": "18C, clear"},
            {"role": "user", "content": [{"type": "input_text", "text": "echo"}]},
        ],
    )
    seen = echoed(response.output_text)
    assert seen["model"] == "@cf/qwen/qwen3.8-27b"
    messages = seen["inputs"]["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "tool", "user"]
    assert messages[0]["content"] == "Be brief."
    assert messages[2]["tool_calls"] == [
        {
            "id": "call_1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
        }
    ]
    assert messages[3]["tool_call_id"] == "call_1"
    assert messages[3]["content"] == "18C, clear"
    assert messages[3]["name"] == "get_weather"
    assert messages[4]["content"] == "echo"
    tool_names = [t["function"]["name"] for t in seen["inputs"]["tools"]]
    assert tool_names == ["get_weather"]
    assert response.tools[0].name == "get_weather"


def test_max_output_tokens_and_reasoning_effort_are_passed_on(client):
    response = client.responses.create(
        model="@cf/qwen/qwen3-30b-a3b-fp8",
        input="echo",
        max_output_tokens=321,
        reasoning={"effort": "low"},
    )
    inputs = echoed(response.output_text)["inputs"]
    assert inputs["max_tokens"] == 321
    assert inputs["reasoning_effort"] == "low"
    assert response.max_output_tokens == 321


# --- reasoning and tool calls from recorded outputs ---------------------------------------


def test_reasoning_model_gives_a_reasoning_item_then_the_message(client):
    recorded = fixture_json("qwq-think-tags")["output"]["response"]
    thinking, answer = recorded.split("</think>")
    response = client.responses.create(model="@cf/qwen/qwq-32b", input="fixture:qwq-think-tags")
    assert [item.type for item in response.output] == ["reasoning", "message"]
    reasoning = response.output[0]
    assert reasoning.content[0].type == "reasoning_text"
    assert reasoning.content[0].text.strip() == thinking.strip()
    assert response.output_text.strip() == answer.strip()


def test_reasoning_streams_as_reasoning_text_events(http):
    events = raw_stream(http, {"model": "@cf/qwen/qwq-32b", "input": "fixture:qwq-think-tags"})
    for event in events:
        STREAM_EVENT.validate_python(event)
    names = types(events)
    first_reasoning = names.index("response.reasoning_text.delta")
    first_text = names.index("response.output_text.delta")
    assert first_reasoning < names.index("response.reasoning_text.done") < first_text
    reasoning = "".join(e["delta"] for e in events if e["type"] == "response.reasoning_text.delta")
    final = Response.model_validate(events[-1]["response"])
    assert final.output[0].type == "reasoning"
    assert final.output[0].content[0].text == reasoning
    assert [e["output_index"] for e in events if e["type"] == "response.output_item.added"] == [
        0,
        1,
    ]


def test_streamed_tool_call_arrives_as_argument_deltas(client, http):
    body = {
        "model": "@cf/qwen/qwen3-30b-a3b-fp8",
        "input": "fixture:qwen3-openai-tool-call-deltas",
        "tools": [WEATHER_TOOL],
    }
    events = raw_stream(http, body)
    for event in events:
        STREAM_EVENT.validate_python(event)
    deltas = [e["delta"] for e in events if e["type"] == "response.function_call_arguments.delta"]
    assert len(deltas) >= 2
    (done,) = [e for e in events if e["type"] == "response.function_call_arguments.done"]
    assert done["arguments"] == "".join(deltas)
    assert json.loads(done["arguments"]) == {"city": "Tokyo"}

    recorded = [
        e["choices"][0]["delta"]["tool_calls"][0]
        for e in sse_events("qwen3-openai-tool-call-deltas")
        if e.get("choices") and e["choices"][0]["delta"].get("tool_calls")
    ]
    with client.responses.stream(**body) as stream:
        list(stream)
        final = stream.get_final_response()
    calls = [item for item in final.output if item.type == "function_call"]
    assert len(calls) == 1
    assert calls[0].name == "get_weather"
    assert calls[0].call_id == recorded[0]["id"]
    assert json.loads(calls[0].arguments) == {"city": "Tokyo"}
    assert final.output[0].type == "reasoning"


def test_tool_call_round_trip_with_the_sdk(client):
    first = client.responses.create(
        model="@cf/meta/llama-3.3-70b-instruct-fp8-fast",
        input="fixture:llama-native-tool-calls",
        tools=[{**WEATHER_TOOL, "name": "get_vn_details"}],
    )
    (call,) = [item for item in first.output if item.type == "function_call"]
    assert call.name == "get_vn_details"
    assert json.loads(call.arguments) == {"id": "1054"}
    assert call.call_id and call.status == "completed"
    assert first.usage.input_tokens == 623
    # The client sends the model's own output items back with the tool's result.
    second = client.responses.create(
        model="@cf/meta/llama-3.3-70b-instruct-fp8-fast",
        input=[
            {"role": "user", "content": "Details of 1054?"},
            *[item.model_dump(exclude_none=True) for item in first.output],
            {"type": "function_call_output", "call_id": call.call_id, "output": '{"title": "x"}'},
        ],
        tools=[{**WEATHER_TOOL, "name": "get_vn_details"}],
    )
    assert second.status == "completed"
    assert second.output_text


def test_gpt_oss_responses_style_output(client):
    recorded = fixture_json("gpt-oss-responses-style")["output"]["output"]
    texts = {item["type"]: item["content"][0]["text"] for item in recorded}
    response = client.responses.create(model="gpt-4.1", input="fixture:gpt-oss-responses-style")
    assert [item.type for item in response.output] == ["reasoning", "message"]
    assert response.output[0].content[0].text == texts["reasoning"]
    assert response.output_text == texts["message"]


def test_answer_cut_by_max_output_tokens_is_incomplete(client):
    script = json.dumps(
        {
            "object": {
                "response": "one two three four five",
                "usage": {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8},
            }
        }
    )
    response = client.responses.create(
        model="gpt-4o-mini", input=f"script:{script}", max_output_tokens=5
    )
    assert response.status == "incomplete"
    assert response.incomplete_details.reason == "max_output_tokens"
    assert response.output[0].status == "incomplete"


# --- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body, param",
    [
        ({"input": "hi", "previous_response_id": "resp_123"}, "previous_response_id"),
        ({"input": "hi", "conversation": "conv_1"}, "conversation"),
        ({"input": "hi", "background": True}, "background"),
        (
            {"input": "hi", "tools": [{"type": "web_search"}], "tool_choice": "required"},
            "tool_choice",
        ),
        (
            {
                "input": "hi",
                "tools": [{"type": "web_search"}],
                "tool_choice": {"type": "web_search"},
            },
            "tool_choice",
        ),
        ({"input": "hi", "tools": [{"type": "function"}]}, "tools[0].name"),
        ({}, "input"),
        ({"input": 42}, "input"),
        ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "input[0]"),
        ({"input": [{"role": "wizard", "content": "hi"}]}, "input[0].role"),
        ({"input": [{"type": "function_call_output", "output": "x"}]}, "input[0].call_id"),
        (
            {"input": [{"role": "user", "content": [{"type": "input_file"}]}]},
            "input[0].content[0].type",
        ),
        ({"input": "hi", "max_output_tokens": 0}, "max_output_tokens"),
        ({"input": "hi", "temperature": 5}, "temperature"),
        ({"input": "hi", "model": "text-embedding-3-small"}, "model"),
    ],
)
def test_bad_requests_get_a_clear_400(http, body, param):
    r = http.post("/v1/responses", json={"model": "gpt-4o-mini", **body})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == param


@pytest.mark.parametrize("stream", [False, True])
def test_capacity_error_before_any_output_is_a_429(client, stream):
    with pytest.raises(openai.RateLimitError):
        client.responses.create(
            model="@cf/qwen/qwq-32b",
            input="error:3040: Capacity temporarily exceeded",
            stream=stream,
        )


def test_stream_cut_midway_ends_with_error_and_response_failed(client):
    with client.responses.stream(
        model="@cf/meta/llama-3.1-8b-instruct-fp8", input="fixture:native-stream-truncated"
    ) as stream:
        events = list(stream)
        with pytest.raises(RuntimeError):
            stream.get_final_response()
    assert types(events)[-2:] == ["error", "response.failed"]
    failed = events[-1].response
    assert failed.status == "failed"
    assert failed.error.code == "server_error"
    assert failed.output[0].status == "incomplete"
    assert failed.output_text  # what arrived before the cut is kept
