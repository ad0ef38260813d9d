"""A fake Pulumi Automation API stack, at the boundary flaregate.deploy talks to.

``FakeStackFactory`` stands in for ``auto.create_or_select_stack``: it records the workspace
options it was given and returns a ``FakeStack`` that keeps config like a stack file does. Its
``up``/``preview`` run the real inline program under ``pulumi.runtime.set_mocks`` (so outputs,
secrets and resources are the program's own) and emit engine events the way the CLI does; a
second run with the same inputs reports "same". Failures are ``auto.CommandError`` carrying the
CLI's combined output, as the Automation API raises them.

``fake_pulumi_binary`` writes an executable that records its argv and stdin, for the one command
flaregate runs itself (``pulumi config set --secret`` with the value on stdin).
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pulumi import automation as auto
from pulumi.automation._cmd import CommandResult
from pulumi.automation.events import (
    EngineEvent,
    OpType,
    ResourcePreEvent,
    ResOutputsEvent,
    StepEventMetadata,
    SummaryEvent,
)

from tests.pulumi_mocks import run_program


def fake_pulumi_binary(directory: Path) -> Path:
    """An executable `pulumi` that appends {"argv", "stdin", "env"} as a JSON line to
    calls.jsonl; ``env`` holds the CLOUDFLARE_* variables it was started with (what the provider
    it would start inherits)."""
    directory.mkdir(parents=True, exist_ok=True)
    script = directory / "pulumi"
    log = directory / "calls.jsonl"
    script.write_text(
        "#!/usr/bin/env python3\n"
        "import json, os, sys\n"
        "if sys.argv[1:] == ['version']:\n"
        "    print('v3.272.0'); sys.exit(0)\n"
        "data = sys.stdin.read() if not sys.stdin.isatty() else None\n"
        "env = {k: v for k, v in os.environ.items() if k.startswith('CLOUDFLARE_')}\n"
        f"with open({str(log)!r}, 'a') as f:\n"
        "    f.write(json.dumps({'argv': sys.argv[1:], 'stdin': data, 'env': env}) + '\\n')\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


def use_fake_pulumi(tmp_path: Path, monkeypatch, base_url: str, token: str, account: str):
    """What the CLI's deploy commands see in a test: the fake Automation API and `pulumi`
    binary, flaregate's home under ``tmp_path``, the fake Cloudflare API at ``base_url`` with
    ``token`` on ``account``, no Pulumi backend settings from the machine, and ``tmp_path`` as the
    working directory (no stray flaregate.toml). Returns (the stack factory, the binary's dir)."""
    bin_dir = fake_pulumi_binary(tmp_path / "bin").parent
    factory = FakeStackFactory()
    monkeypatch.setattr(auto, "create_or_select_stack", factory)
    monkeypatch.setattr(auto, "select_stack", factory.select)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FLAREGATE_HOME", str(tmp_path / "fg"))
    monkeypatch.setenv("CLOUDFLARE_BASE_URL", base_url)
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", token)
    monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", account)
    monkeypatch.setenv("COLUMNS", "200")  # rich wraps at 80 columns without a terminal
    monkeypatch.delenv("PULUMI_BACKEND_URL", raising=False)
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE", raising=False)
    monkeypatch.chdir(tmp_path)
    return factory, bin_dir


def recorded_calls(directory: Path) -> list[dict]:
    log = directory / "calls.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


@dataclass
class FakeCommand:
    """Stands in for auto.PulumiCommand: what LocalWorkspace and flaregate read from it."""

    command: str = "pulumi"
    version: Any = None


@dataclass
class FakeWorkspace:
    work_dir: str
    env_vars: dict[str, str]
    pulumi_command: Any
    secrets_provider: str | None
    plugins: list[tuple[str, str]] = field(default_factory=list)
    plugin_error: Exception | None = None

    def install_plugin(self, name: str, version: str, kind: str = "resource") -> None:
        if self.plugin_error:
            raise self.plugin_error
        self.plugins.append((name, version))


def command_error(output: str, code: int = 255) -> auto.CommandError:
    return auto.CommandError(CommandResult(stdout=output, stderr="", code=code))


@dataclass
class FakeStack:
    name: str
    workspace: FakeWorkspace
    config: dict[str, auto.ConfigValue] = field(default_factory=dict)
    deployed: dict[tuple[str, str], dict] | None = None
    last_outputs: dict[str, auto.OutputValue] = field(default_factory=dict)
    fail_with: Exception | None = None
    calls: list[str] = field(default_factory=list)

    # --- config, as a stack file keeps it ---
    def set_config(self, key: str, value: auto.ConfigValue, *, path: bool = False) -> None:
        self.calls.append(f"set_config {key}")
        self.config[key] = value

    def get_all_config(self) -> dict[str, auto.ConfigValue]:
        return dict(self.config)

    # --- operations ---
    def up(self, on_output=None, on_event=None, color=None, **_: Any) -> auto.UpResult:
        self.calls.append("up")
        deployment, changes = self._plan(on_output, on_event)
        self.deployed = {(r.typ, r.name): r.inputs for r in deployment.resources}
        self.last_outputs = {
            k: auto.OutputValue(v, k in deployment.secret_outputs)
            for k, v in deployment.outputs.items()
        }
        summary = auto.UpdateSummary(
            kind="update",
            start_time=datetime.now(),
            message="",
            environment={},
            config={},
            result="succeeded",
            resource_changes=changes,
        )
        return auto.UpResult("", "", summary, dict(self.last_outputs))

    def preview(self, on_output=None, on_event=None, color=None, **_: Any) -> auto.PreviewResult:
        self.calls.append("preview")
        _, changes = self._plan(on_output, on_event)
        return auto.PreviewResult("", "", changes)

    def destroy(self, on_output=None, on_event=None, color=None, **_: Any) -> auto.DestroyResult:
        self.calls.append("destroy")
        if self.fail_with:
            raise self.fail_with
        count = len(self.deployed or {})
        self.deployed, self.last_outputs = None, {}
        summary = auto.UpdateSummary(
            kind="destroy",
            start_time=datetime.now(),
            message="",
            environment={},
            config={},
            result="succeeded",
            resource_changes={OpType.DELETE: count},
        )
        return auto.DestroyResult("", "", summary)

    def outputs(self) -> dict[str, auto.OutputValue]:
        return dict(self.last_outputs)

    def _plan(self, on_output, on_event):
        if self.fail_with:
            if on_output:
                on_output(str(self.fail_with))
            raise self.fail_with
        prefix = "flaregate:"
        values = {k[len(prefix) :]: v.value for k, v in self.config.items() if k.startswith(prefix)}
        deployment = run_program(values)
        changes: dict[OpType, int] = {}
        for i, r in enumerate(deployment.resources):
            before = (self.deployed or {}).get((r.typ, r.name))
            op = (
                OpType.CREATE
                if before is None
                else (OpType.SAME if before == r.inputs else OpType.UPDATE)
            )
            changes[op] = changes.get(op, 0) + 1
            meta = StepEventMetadata(
                op, f"urn:pulumi:{self.name}::flaregate::{r.typ}::{r.name}", r.typ, ""
            )
            if on_event:
                on_event(EngineEvent(2 * i, 0, resource_pre_event=ResourcePreEvent(meta)))
                on_event(EngineEvent(2 * i + 1, 0, res_outputs_event=ResOutputsEvent(meta)))
            if on_output:
                on_output(f"    {op.value} {r.typ} {r.name}")
        if on_event:
            summary = SummaryEvent(False, 1, changes, {})
            on_event(EngineEvent(len(deployment.resources) * 2, 0, summary_event=summary))
        return deployment, changes


@dataclass
class FakeStackFactory:
    """Called like auto.create_or_select_stack; keeps one FakeStack per stack name.
    ``select`` is auto.select_stack: StackNotFoundError for a stack never created."""

    stacks: dict[str, FakeStack] = field(default_factory=dict)
    calls: list[dict] = field(default_factory=list)

    def __call__(self, stack_name, project_name=None, program=None, opts=None, **_: Any):
        self.calls.append(
            {
                "stack_name": stack_name,
                "project_name": project_name,
                "program": program,
                "opts": opts,
            }
        )
        workspace = FakeWorkspace(
            work_dir=opts.work_dir,
            env_vars=dict(opts.env_vars or {}),
            pulumi_command=opts.pulumi_command,
            secrets_provider=opts.secrets_provider,
        )
        stack = self.stacks.get(stack_name)
        if stack is None:
            stack = self.stacks[stack_name] = FakeStack(stack_name, workspace)
        else:  # reopened: a new workspace object over the same installed plugins
            workspace.plugins, workspace.plugin_error = (
                stack.workspace.plugins,
                stack.workspace.plugin_error,
            )
            stack.workspace = workspace
        return stack

    def select(self, stack_name, project_name=None, program=None, opts=None, **kwargs: Any):
        if stack_name not in self.stacks:
            # What `pulumi stack select` answers, as the Automation API raises it.
            raise auto.StackNotFoundError(
                CommandResult(
                    stdout="", stderr=f"error: no stack named '{stack_name}' found", code=255
                )
            )
        return self(stack_name, project_name, program, opts, **kwargs)
