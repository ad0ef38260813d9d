"""Live progress for Pulumi operations: one line per resource, driven by the engine's events.

On a terminal a rich Live table updates in place; elsewhere (CI, pipes, tests) each finished
step is printed once. The full engine output goes to the log file, never to the terminal.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

# Resource types a user recognises, by Pulumi type token.
RESOURCE_LABELS = {
    "cloudflare:index/workersKvNamespace:WorkersKvNamespace": "KV namespace (API keys)",
    "cloudflare:index/aiGateway:AiGateway": "AI Gateway",
    "cloudflare:index/workersScript:WorkersScript": "Worker script",
    "cloudflare:index/workersScriptSubdomain:WorkersScriptSubdomain": "workers.dev route",
    "cloudflare:index/workersCustomDomain:WorkersCustomDomain": "custom domain",
    "cloudflare:index/originCaCertificate:OriginCaCertificate": "Origin CA certificate",
    "cloudflare:index/dnsRecord:DnsRecord": "origin DNS record",
    "tls:index/privateKey:PrivateKey": "private key",
    "tls:index/certRequest:CertRequest": "certificate request",
}
VERBS = {
    "create": ("creating", "created"),
    "update": ("updating", "updated"),
    "delete": ("deleting", "deleted"),
    "replace": ("replacing", "replaced"),
    "create-replacement": ("replacing", "replaced"),
    "delete-replaced": ("removing old", "removed old"),
    "same": ("checking", "unchanged"),
    "read": ("reading", "read"),
    "refresh": ("refreshing", "refreshed"),
}
_ANSI = re.compile(r"\x1b\[[0-9;]*m|<\{%[^%]*%\}>")


@dataclass
class _Row:
    label: str
    op: str
    state: str = "running"  # running | done | failed


@dataclass
class ProgressView:
    """Consumes Pulumi engine events (``on_event``) and shows what is happening."""

    console: Console
    title: str
    rows: dict[str, _Row] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    changes: dict[str, int] = field(default_factory=dict)
    _live: Live | None = None

    def __enter__(self) -> ProgressView:
        if self.console.is_terminal:
            self._live = Live(self._table(), console=self.console, refresh_per_second=8)
            self._live.__enter__()
        else:
            self.console.print(self.title)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._live:
            self._live.update(self._table())
            self._live.__exit__(*exc)

    def on_event(self, event: Any) -> None:
        pre, done, failed = (
            event.resource_pre_event,
            event.res_outputs_event,
            event.res_op_failed_event,
        )
        if pre and _shown(pre.metadata):
            meta = pre.metadata
            self.rows[meta.urn] = _Row(_resource_label(meta.type, meta.urn), str(meta.op.value))
        elif done and _shown(done.metadata):
            self._finish(done.metadata, "done")
        elif failed and _shown(failed.metadata):
            self._finish(failed.metadata, "failed")
        elif event.diagnostic_event and event.diagnostic_event.severity == "error":
            self.errors.append(_ANSI.sub("", event.diagnostic_event.message).strip())
        elif event.summary_event:
            self.changes = {str(k): v for k, v in event.summary_event.resource_changes.items()}
        if self._live:
            self._live.update(self._table())

    def _finish(self, meta: Any, state: str) -> None:
        row = self.rows.setdefault(
            meta.urn, _Row(_resource_label(meta.type, meta.urn), str(meta.op.value))
        )
        row.state = state
        if not self._live and row.op != "same":
            verb = VERBS.get(row.op, (row.op, row.op))[1] if state == "done" else "FAILED"
            self.console.print(f"  {verb:>10}  {row.label}")

    def _table(self) -> Table:
        table = Table(title=self.title, show_header=False, box=None, title_justify="left")
        for row in self.rows.values():
            running, finished = VERBS.get(row.op, (row.op, row.op))
            if row.state == "running":
                status, text = "[yellow]…[/]", running
            elif row.state == "failed":
                status, text = "[red]✗[/]", "failed"
            else:
                status, text = "[green]✓[/]", finished
            table.add_row(status, text, row.label)
        return table


def _shown(meta: Any) -> bool:
    # Providers and the stack itself are bookkeeping, not something the user deploys.
    return not (meta.type.startswith("pulumi:") or meta.type == "pulumi:pulumi:Stack")


def _resource_label(type_token: str, urn: str) -> str:
    name = urn.rsplit("::", 1)[-1]
    if type_token.startswith("flaregate:index:"):
        return f"{type_token.rsplit(':', 1)[-1]} ({name})"
    return f"{RESOURCE_LABELS.get(type_token, type_token)} ({name})"


def log_writer(path) -> Callable[[str], None]:
    """An on_output callback appending Pulumi's full output to ``path``."""

    def write(line: str) -> None:
        with open(path, "a", encoding="utf-8") as log:
            log.write(_ANSI.sub("", line) + "\n")

    return write
