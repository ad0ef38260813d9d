"""The real Codex CLI (`@openai/codex`, npm devDependency, its native binary for this platform)
against the Worker: `codex exec --skip-git-repo-check --json` with a custom provider
(`wire_api = "responses"`) in a temporary CODEX_HOME, offline. Codex sends what it sends on
every turn (namespace and hosted tools, store: false, encrypted reasoning, prompt_cache_key,
client_metadata, developer messages) and validates every stream event it reads."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.model_steps import agent, native_tool_call, openai_text, openai_tool_call

REPO = Path(__file__).resolve().parent.parent
CODEX = REPO / "node_modules" / ".bin" / "codex"
NATIVE = "@cf/meta/llama-4-scout-17b-16e-instruct"
OPENAI_DIALECT = "@cf/qwen/qwen3-30b-a3b-fp8"
THOUGHT = "I should run the command the user asked for."


CATALOG = REPO / "tests" / "fixtures" / "codex" / "model-catalog-gpt-5.5.json"


def run_codex(
    worker,
    api_key,
    tmp_path: Path,
    model: str,
    prompt: str,
    gpt5_metadata: bool = False,
    sandbox: str = "read-only",
) -> list[dict]:
    home = tmp_path / "codex-home"
    home.mkdir()
    settings = ""
    if gpt5_metadata:
        # Codex's own GPT-5.5 metadata under this model's name (tests/fixtures/codex/README.md):
        # Codex then sends the freeform apply_patch custom tool, as it does to OpenAI.
        catalog = json.loads(CATALOG.read_text())
        catalog["models"][0]["slug"] = model
        (home / "catalog.json").write_text(json.dumps(catalog))
        settings = (
            f'model_catalog_json = "{home / "catalog.json"}"\nmodel_reasoning_summary = "auto"\n'
        )
    (home / "config.toml").write_text(
        f'model = "{model}"\n' + settings + 'model_provider = "flaregate"\n'
        "[model_providers.flaregate]\n"
        'name = "flaregate"\n'
        f'base_url = "{worker.base_url}"\n'
        'env_key = "FLAREGATE_KEY"\n'
        'wire_api = "responses"\n'
        # One attempt: a refused request must fail the test, not be retried into a pass.
        "request_max_retries = 0\n"
        "stream_max_retries = 0\n"
    )
    workdir = tmp_path / "project"  # Codex's working directory: where its commands and patches act
    workdir.mkdir()
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "CODEX_HOME": str(home),
        "FLAREGATE_KEY": api_key,
    }
    result = subprocess.run(
        [str(CODEX), "exec", "--skip-git-repo-check", "--json", "--sandbox", sandbox, prompt],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=workdir,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr[-3000:] + result.stdout[-3000:]
    events = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    errors = [e for e in events if e["type"] in ("error", "turn.failed")]
    assert not errors, errors
    return events


def items(events, kind):
    return [
        e["item"] for e in events if e["type"] == "item.completed" and e["item"]["type"] == kind
    ]


@pytest.mark.parametrize(
    "model, answer",
    [
        (NATIVE, {"text": "Hello from flaregate."}),
        (OPENAI_DIALECT, openai_text("Hello from flaregate.", reasoning=THOUGHT)),
    ],
)
def test_codex_plain_answer(worker, api_key, tmp_path, model, answer):
    events = run_codex(worker, api_key, tmp_path, model, agent(answer))
    assert [m["text"] for m in items(events, "agent_message")] == ["Hello from flaregate."]
    assert events[-1]["type"] == "turn.completed"
    assert events[-1]["usage"]["input_tokens"] > 0


@pytest.mark.parametrize(
    "model, call, dialect",
    [
        (NATIVE, native_tool_call("exec_command", {"cmd": "echo flaregate-ok"}), "native"),
        (
            OPENAI_DIALECT,
            openai_tool_call("exec_command", {"cmd": "echo flaregate-ok"}, reasoning=THOUGHT),
            "openai",
        ),
    ],
)
def test_codex_runs_exec_command_and_sends_the_output_back(
    worker, api_key, tmp_path, model, call, dialect
):
    # Step 1: the model calls exec_command. Step 2 (after Codex sent function_call_output back):
    # the model answers with the tool result it was given.
    prompt = agent(call, {"afterTool": "Tool said: ", "dialect": dialect})
    events = run_codex(worker, api_key, tmp_path, model, prompt)
    (command,) = items(events, "command_execution")
    assert "echo flaregate-ok" in command["command"]
    assert command["exit_code"] == 0 and command["aggregated_output"] == "flaregate-ok\n"
    (message,) = items(events, "agent_message")
    assert message["text"].startswith("Tool said: ")
    assert "flaregate-ok" in message["text"]
    if dialect == "openai":
        assert [r["text"] for r in items(events, "reasoning")] == [THOUGHT]


PATCH = "*** Begin Patch\n*** Add File: hello.txt\n+hello from flaregate\n*** End Patch\n"


@pytest.mark.parametrize(
    "model, call, dialect",
    [
        (NATIVE, native_tool_call("apply_patch", {"input": PATCH}), "native"),
        (
            OPENAI_DIALECT,
            openai_tool_call("apply_patch", {"input": PATCH}, reasoning="Create the file."),
            "openai",
        ),
    ],
)
def test_codex_applies_a_patch_through_its_custom_apply_patch_tool(
    worker, api_key, tmp_path, model, call, dialect
):
    # With GPT-5 metadata Codex offers apply_patch as a custom tool with a Lark grammar; the
    # model's call must come back as a custom_tool_call for Codex to apply it, and Codex's
    # custom_tool_call_output must reach the model on the next step.
    prompt = agent(call, {"afterTool": "Patch result: ", "dialect": dialect})
    events = run_codex(
        worker, api_key, tmp_path, model, prompt, gpt5_metadata=True, sandbox="workspace-write"
    )
    (change,) = items(events, "file_change")
    assert change["status"] == "completed"
    assert [c["kind"] for c in change["changes"]] == ["add"]
    assert (tmp_path / "project" / "hello.txt").read_text() == "hello from flaregate\n"
    (message,) = items(events, "agent_message")
    assert message["text"].startswith("Patch result: ")
    assert "A hello.txt" in message["text"]
