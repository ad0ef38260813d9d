"""The AI SDK's default OpenAI provider (`@ai-sdk/openai`, the Responses API with `store` left at
its default) through flaregate: on the second step of a tool loop and the second turn of a
conversation it sends earlier output items as item_reference, which the Worker resolves from
the responses it stored (issue 13)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.model_steps import agent, native_tool_call, openai_text, openai_tool_call
from tests.sse_fixtures import echoed

SCRIPT = Path(__file__).resolve().parent / "clients" / "ai_sdk_responses.mjs"
NATIVE = "@cf/meta/llama-4-scout-17b-16e-instruct"
OPENAI_DIALECT = "@cf/qwen/qwen3-30b-a3b-fp8"


def run(worker, api_key, model, kind, mode, *prompts):
    result = subprocess.run(
        ["node", str(SCRIPT), worker.base_url, api_key, model, kind, mode, *prompts],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=SCRIPT.parents[2],
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


LOOP_FIRST_STEPS = [
    (NATIVE, native_tool_call("get_weather", {"city": "Tokyo"}, text="Let me check."), "native"),
    (
        OPENAI_DIALECT,
        openai_tool_call("get_weather", {"city": "Tokyo"}, reasoning="Look up Tokyo."),
        "openai",
    ),
]


@pytest.mark.parametrize("mode", ["generate", "stream"])
@pytest.mark.parametrize("model, first_step, dialect", LOOP_FIRST_STEPS)
def test_tool_loop_with_item_references(worker, api_key, mode, model, first_step, dialect):
    prompt = agent(first_step, {"afterTool": "Tool said: ", "dialect": dialect})
    out = run(worker, api_key, model, "loop", mode, prompt)
    assert out["toolCalls"] == [{"toolName": "get_weather", "input": {"city": "Tokyo"}}]
    assert out["toolResults"] == ["18C and sunny in Tokyo"]
    assert out["text"] == "Tool said: 18C and sunny in Tokyo"
    assert out["steps"] == 2 and out["finishReason"] == "stop"
    first, second = out["requests"]
    assert first["store"] is None  # left at its default
    # The earlier text or reasoning went back by reference, and was resolved.
    assert "item_reference" in second["input"]
    assert "function_call_output" in second["input"]


@pytest.mark.parametrize("mode", ["generate", "stream"])
@pytest.mark.parametrize(
    "model, answer",
    [
        (NATIVE, {"text": "I am flaregate."}),
        (OPENAI_DIALECT, openai_text("I am flaregate.", reasoning="Introduce myself.")),
    ],
)
def test_two_turn_conversation_with_item_references(worker, api_key, mode, model, answer):
    out = run(worker, api_key, model, "conversation", mode, agent(answer), "echo")
    assert out["firstText"] == "I am flaregate."
    assert out["requests"][1]["input"][1] == "item_reference"
    # What the model got on the second turn: the first answer, resolved from its reference.
    messages = echoed(out["text"])["inputs"]["messages"]
    assert [(m["role"], m["content"]) for m in messages[-3:]] == [
        ("user", agent(answer)),
        ("assistant", "I am flaregate."),
        ("user", "echo"),
    ]
