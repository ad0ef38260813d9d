"""Adversarial model outputs of growing size, through the Worker in workerd, still answer right.

The fake Workers AI here (tests/adversarial_ai.js, via worker-runner.mjs --ai-module) writes
the output on the fly: repeated unclosed JSON fences while tools are offered, a long emulated
write_file call, role-header openers without closers, think closers, near-miss stop sequences,
and a tool call nested 200,000 deep. Each answer must be exactly
what the filters promise, streamed or not. How the CPU grows is measured by
scripts/bench_filters.mjs and counted in tests/test_filter_work.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.worker_harness import start_worker

AI_MODULE = Path(__file__).resolve().parent / "adversarial_ai.js"
SIZES = [64 * 1024, 512 * 1024]
WRITE_FILE = {
    "type": "function",
    "function": {
        "name": "write_file",
        "parameters": {"type": "object", "properties": {"content": {"type": "string"}}},
    },
}


@pytest.fixture(scope="module")
def adversarial(rendered_worker, tmp_path_factory):
    running = start_worker(
        rendered_worker, tmp_path_factory.mktemp("adversarial"), ai_module=AI_MODULE
    )
    key = running.add_key(name="adversarial")
    with httpx.Client(
        base_url=running.base_url, headers={"authorization": f"Bearer {key}"}, timeout=120
    ) as client:
        yield client
    running.stop()


def answer(client, recipe: dict, stream: bool, **body) -> dict:
    """Content, reasoning, tool calls and finish reason, from a stream or a whole answer."""
    request = {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": json.dumps(recipe)}],
        "stream": stream,
        **body,
    }
    r = client.post("/chat/completions", json=request)
    assert r.status_code == 200, r.text[:500]
    if not stream:
        choice = r.json()["choices"][0]
        calls = choice["message"].get("tool_calls") or []
        return {
            "content": choice["message"]["content"] or "",
            "calls": [(c["function"]["name"], c["function"]["arguments"]) for c in calls],
            "finish": choice["finish_reason"],
        }
    payloads = [line[6:] for line in r.text.split("\n") if line.startswith("data: ")]
    assert payloads[-1] == "[DONE]"
    chunks = [json.loads(p) for p in payloads[:-1]]
    assert not any("error" in c for c in chunks), [c for c in chunks if "error" in c]
    content, calls, finish = "", {}, None
    for c in chunks:
        for choice in c.get("choices", []):
            delta = choice["delta"]
            content += delta.get("content") or ""
            for call in delta.get("tool_calls") or []:
                entry = calls.setdefault(call["index"], ["", ""])
                entry[0] += call["function"].get("name") or ""
                entry[1] += call["function"].get("arguments") or ""
            finish = choice.get("finish_reason") or finish
    return {"content": content, "calls": [tuple(v) for v in calls.values()], "finish": finish}


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("stream", [True, False])
def test_unclosed_json_fences_come_back_as_the_text_they_are(adversarial, size, stream):
    recipe = {"unit": '```json\n{"name"', "size": size, "piece": 64}
    got = answer(adversarial, recipe, stream, tools=[WRITE_FILE])
    assert got["content"] == ('```json\n{"name"' * size)[:size]
    assert got["calls"] == [] and got["finish"] == "stop"


@pytest.mark.parametrize("stream", [True, False])
def test_a_long_emulated_write_file_call_becomes_one_tool_call(adversarial, stream):
    size = 60000
    recipe = {
        "prefix": '{"name": "write_file", "arguments": {"content": "',
        "unit": "line\\n",
        "size": size,
        "suffix": '"}}',
        "piece": 4,
    }
    got = answer(adversarial, recipe, stream, tools=[WRITE_FILE])
    assert [name for name, _ in got["calls"]] == ["write_file"]
    assert len(json.loads(got["calls"][0][1])["content"]) == size // 6 * 5
    assert got["finish"] == "tool_calls" and got["content"] == ""


def test_a_streamed_call_too_long_to_hold_is_released_as_text(adversarial):
    """Held back past 64 KB, a candidate call is given up on (docs/api.md): the client gets the
    text as it streams instead of a stall. A whole (non-streamed) answer has no such wait."""
    recipe = {
        "prefix": '{"name": "write_file", "arguments": {"content": "',
        "unit": "line\\n",
        "size": 512 * 1024,
        "suffix": '"}}',
        "piece": 64,
    }
    got = answer(adversarial, recipe, True, tools=[WRITE_FILE])
    assert got["calls"] == [] and got["content"].startswith('{"name": "write_file"')
    assert len(got["content"]) == 512 * 1024 + 52
    whole = answer(adversarial, recipe, False, tools=[WRITE_FILE])
    assert [name for name, _ in whole["calls"]] == ["write_file"]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize(
    ("unit", "expected"),
    [
        ("<|start_header_id|>", lambda k: "Hello. Bye."),
        ("<|header_start|>user", lambda k: "Hello." + "user" * k + " Bye."),
        ("</think>", lambda k: "Hello.Bye."),
    ],
    ids=["header-openers", "header-openers-with-roles", "think-closers"],
)
def test_template_debris_of_any_length_is_dropped(adversarial, size, stream, unit, expected):
    k = size // len(unit)
    recipe = {
        "prefix": "Hello.",
        "unit": unit,
        "size": k * len(unit),
        "suffix": " Bye.",
        "piece": 64,
    }
    assert answer(adversarial, recipe, stream)["content"] == expected(k)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("stream", [True, False])
def test_near_miss_stop_sequences_over_a_long_answer(adversarial, size, stream):
    stops = ["x" * 255 + "y", "x" * 255 + "z", "x" * 200 + "w", "STOP"]
    recipe = {"unit": "x", "size": size, "suffix": "STOP and more", "piece": 64}
    got = answer(adversarial, recipe, stream, stop=stops)
    assert got["content"] == "x" * size and got["finish"] == "stop"


@pytest.mark.parametrize("stream", [True, False])
def test_a_tool_call_nested_200000_deep_is_answered_whole_not_a_500(adversarial, stream):
    depth = 200000
    got = answer(adversarial, {"deepArgs": depth}, stream, tools=[WRITE_FILE])
    assert got["calls"] == [("write_file", "[" * depth + "]" * depth)]
    assert got["finish"] == "tool_calls"


@pytest.mark.parametrize(
    "event",
    [
        {"type": "response.output_text.delta", "delta": {"toString": 1}},
        {"type": "response.reasoning_text.delta", "delta": {"toString": 1}},
        {"choices": [{"delta": {"content": {"toString": 1}, "tool_calls": [{"function": 7}]}}]},
        {"output": [{"type": "function_call", "name": {"toString": 1}, "arguments": {"a": 1}}]},
        {"response": {"toString": 1}, "tool_calls": [{"name": ["x"]}]},
    ],
)
def test_a_malformed_event_never_breaks_the_stream(adversarial, event):
    got = answer(adversarial, {"events": [event], "unit": "ok", "size": 2}, True)
    assert got["content"].endswith("ok") and got["finish"] in ("stop", "tool_calls")
