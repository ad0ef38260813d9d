"""Reasoning across tool turns: models that need their earlier reasoning back (Kimi K2.x fails a
tool loop with "reasoning_content is missing" otherwise) get it from the assistant messages a
client sends back, driven by the official openai SDK.

The fake binding plays Kimi: for the models in tests/fixtures/workers-ai/kimi-reasoning-required.json
it rejects a conversation whose assistant tool-call turn lacks reasoning, with Kimi's error, and
its `echo` step shows exactly what the Worker sent.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from flaregate.catalog import load_catalog
from tests.sse_fixtures import echoed, fixture_json

KIMI = "@cf/moonshotai/kimi-k2.6"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
TURN_ONE = "kimi-k2.6-tool-call-with-reasoning"
REASONING = fixture_json(TURN_ONE)["output"]["choices"][0]["message"]["reasoning_content"]
LOOP = "agent:" + json.dumps([TURN_ONE, {"echo": True}])
REPO = Path(__file__).resolve().parent.parent


def first_turn(client, model, stream):
    messages = [{"role": "user", "content": LOOP}]
    if not stream:
        message = (
            client.chat.completions.create(model=model, messages=messages, tools=[WEATHER])
            .choices[0]
            .message
        )
        return messages, message.model_dump(exclude_none=True)
    # Streamed: the assistant message a client assembles from the deltas, reasoning included.
    calls, reasoning, content = {}, "", ""
    for chunk in client.chat.completions.create(
        model=model, messages=messages, tools=[WEATHER], stream=True
    ):
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta
        reasoning += (delta.model_extra or {}).get("reasoning_content") or ""
        content += delta.content or ""
        for call in delta.tool_calls or []:
            entry = calls.setdefault(call.index, {"id": "", "name": "", "arguments": ""})
            entry["id"] = call.id or entry["id"]
            entry["name"] += (call.function.name or "") if call.function else ""
            entry["arguments"] += (call.function.arguments or "") if call.function else ""
    message = {
        "role": "assistant",
        "content": content,
        "reasoning_content": reasoning,
        "tool_calls": [
            {
                "id": c["id"],
                "type": "function",
                "function": {"name": c["name"], "arguments": c["arguments"]},
            }
            for c in calls.values()
        ],
    }
    return messages, message


def second_turn(client, model, messages, assistant) -> dict:
    """Send the tool result back; returns what the Worker sent to Workers AI."""
    messages = [
        *messages,
        assistant,
        {
            "role": "tool",
            "tool_call_id": assistant["tool_calls"][0]["id"],
            "content": '{"temp_c": 21}',
        },
    ]
    answer = client.chat.completions.create(model=model, messages=messages, tools=[WEATHER])
    return echoed(answer.choices[0].message.content)["inputs"]


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_a_kimi_tool_loop_sends_the_reasoning_back(client, stream):
    messages, assistant = first_turn(client, KIMI, stream)
    assert assistant["tool_calls"][0]["function"]["name"] == "get_weather"
    assert assistant["reasoning_content"] == REASONING
    sent = second_turn(client, KIMI, messages, assistant)
    turn = sent["messages"][1]
    assert turn["role"] == "assistant" and turn["tool_calls"]
    assert turn["reasoning_content"] == REASONING
    assert turn["reasoning"] == REASONING  # the name vLLM on Workers AI reads


def test_reasoning_under_its_other_name_arrives_too(client):
    messages, assistant = first_turn(client, KIMI, False)
    assistant["reasoning"] = assistant.pop("reasoning_content")
    turn = second_turn(client, KIMI, messages, assistant)["messages"][1]
    assert turn["reasoning_content"] == REASONING


def test_a_client_that_dropped_the_reasoning_still_completes_the_loop(client):
    # LangChain's ChatOpenAI, for one, drops reasoning_content from history: Kimi would answer
    # 400; the tool-call turn goes out with an empty reasoning instead.
    messages, assistant = first_turn(client, KIMI, False)
    del assistant["reasoning_content"]
    turn = second_turn(client, KIMI, messages, assistant)["messages"][1]
    assert turn["reasoning_content"] == ""


def test_plain_assistant_turns_keep_their_reasoning_for_kimi(client):
    sent = echoed(
        client.chat.completions.create(
            model=KIMI,
            messages=[
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "Hello!", "reasoning_content": "Greet back."},
                {"role": "user", "content": "echo"},
            ],
        )
        .choices[0]
        .message.content
    )
    assert sent["inputs"]["messages"][1]["reasoning_content"] == "Greet back."


@pytest.mark.parametrize("model", ["@cf/qwen/qwen3-30b-a3b-fp8", "gpt-4o-mini"])
def test_models_that_do_not_keep_reasoning_never_see_it(client, model):
    messages, assistant = first_turn(client, KIMI, False)
    sent = second_turn(client, model, messages, assistant)
    assert "reasoning_content" not in sent["messages"][1]
    assert "reasoning" not in sent["messages"][1]


def test_reasoning_must_be_a_string(client):
    import openai

    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(
            model=KIMI,
            messages=[
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "x", "reasoning_content": {"text": "no"}},
                {"role": "user", "content": "again"},
            ],
        )
    assert err.value.body["param"] == "messages[1].reasoning_content"


def test_the_fake_kimi_rejects_a_tool_turn_without_reasoning():
    """The check above can fail: called directly, the fake answers Kimi's error."""
    rule = fixture_json("kimi-reasoning-required")["output"]
    script = (
        "const { default: make } = await import(process.argv[1]);\n"
        "const ai = make({ FIXTURES: { 'kimi-reasoning-required': { object: JSON.parse(process.argv[2]) } } });\n"
        "const messages = [{role: 'user', content: 'hi'}, {role: 'assistant', content: '',"
        " tool_calls: [{id: 'c1', type: 'function', function: {name: 'f', arguments: '{}'}}]},"
        " {role: 'tool', tool_call_id: 'c1', content: 'ok'}];\n"
        "try { await ai.run(process.argv[3], { messages }); console.log('accepted'); }"
        " catch (err) { console.log(err.message); }\n"
    )
    out = subprocess.run(
        [
            "node",
            "--input-type=module",
            "-e",
            script,
            str(REPO / "flaregate" / "local" / "stand_in_ai.js"),
            json.dumps(rule),
            KIMI,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert out == rule["error"].replace("{index}", "1")


def test_the_catalog_flags_every_model_the_fake_rejects_like_kimi():
    facts = {m["id"]: m for m in load_catalog()["models"]}
    for model in fixture_json("kimi-reasoning-required")["output"]["models"]:
        assert facts[model]["reasoning_replay"] is True
