"""opencode's client, the Vercel AI SDK (OpenAI-compatible provider, npm), runs a tool loop
through flaregate, streamed and not, against native and emulated tool calling."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent / "clients" / "ai_sdk_agent.mjs"


def run(worker, api_key, model, steps, mode):
    prompt = "agent:" + json.dumps(steps)
    result = subprocess.run(
        ["node", str(SCRIPT), worker.base_url, api_key, model, prompt, mode],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=SCRIPT.parents[2],
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("mode", ["generate", "stream"])
@pytest.mark.parametrize(
    "model, first_step",
    [
        ("@cf/qwen/qwen3-30b-a3b-fp8", "qwen3-openai-tool-call-deltas"),
        (
            "gpt-4o-mini",
            {"text": '{"tool_calls": [{"name": "get_weather", "arguments": {"city": "Tokyo"}}]}'},
        ),
    ],
)
def test_ai_sdk_agent_loop(worker, api_key, mode, model, first_step):
    out = run(worker, api_key, model, [first_step, {"text": "Tokyo is 18C and sunny."}], mode)
    assert out["toolCalls"] == [{"toolName": "get_weather", "input": {"city": "Tokyo"}}]
    assert out["toolResults"] == ["18C and sunny in Tokyo"]
    assert out["text"] == "Tokyo is 18C and sunny."
    assert out["steps"] == 2 and out["finishReason"] == "stop"
