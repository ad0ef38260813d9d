"""`flaregate models sync`: compare the account's Workers AI catalog with flaregate's and record
what differs as the deployment's own ``models`` / ``aliases`` (flaregate/models_sync.py)."""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path
from typing import Any

import click

from .cli_options import DEFAULT_STACK, account_option, echo_json, json_option, stack_option
from .cloudflare_api import ACCOUNT_ENV
from .errors import ConfigError


@click.group()
def models() -> None:
    """The model catalog: keep it in step with Workers AI."""


@models.command()
@account_option
@stack_option("Pulumi stack whose config --write updates.")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Compare with (and --write into) this flaregate.toml instead of the stack config.",
)
@click.option(
    "--write",
    is_flag=True,
    help="Record the differences as `models` / `aliases` overrides; the next deploy (or "
    "render) serves them.",
)
@json_option
def sync(
    account_id: str | None, stack: str, config_path: Path | None, write: bool, as_json: bool
) -> None:
    """Compare your account's Workers AI models with flaregate's catalog.

    Reads the live model list and each text model's schema (needs only Account | Workers AI |
    Read), then shows new models, models that are gone and facts that differ. With --write
    they become `models` / `aliases` overrides in the stack config (or in --config FILE);
    run `flaregate deploy` afterwards. Writing a flaregate.toml rewrites it without comments.

    Example usage:

        flaregate models sync
        flaregate models sync --write --stack prod && flaregate deploy --stack prod
        flaregate models sync --config flaregate.toml --write --json
    """
    from .cloudflare_api import make_client
    from .models_sync import compare, read_live_catalog

    target = _target(config_path, stack, write)
    existing = target.read()
    account = account_id or os.environ.get(ACCOUNT_ENV) or existing.get("accountId")
    if not account:
        raise ConfigError(
            f"no Cloudflare account id: pass --account-id or `export {ACCOUNT_ENV}=...`"
        )
    live = read_live_catalog(make_client(), account)
    report = compare(live, existing.get("models") or [], existing.get("aliases") or {})
    written = None
    if write and (report.models or report.aliases):
        written = target.write(report.models, report.aliases)
    if as_json:
        echo_json({**report.to_json(), "written": written})
        return
    _print(report, written, write)


class _Target:
    """Where the deployment's overrides live: a flaregate.toml or a stack's config."""

    def read(self) -> dict[str, Any]:
        raise NotImplementedError

    def write(self, models: list[dict], aliases: dict[str, str]) -> str:
        raise NotImplementedError


class _TomlTarget(_Target):
    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> dict[str, Any]:
        if not self.path.exists():
            return {}
        try:
            return tomllib.loads(self.path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(f"{self.path} is not valid TOML: {err}") from None

    def write(self, models: list[dict], aliases: dict[str, str]) -> str:
        from .config import WorkerConfig
        from .models_sync import merge_models, toml_text

        data = self.read()
        data["models"] = merge_models(data.get("models") or [], models)
        data["aliases"] = {**(data.get("aliases") or {}), **aliases}
        WorkerConfig.from_mapping(data, source=str(self.path))  # what render will read
        self.path.write_text(toml_text(data), encoding="utf-8")
        return str(self.path)


class _StackTarget(_Target):
    def __init__(self, stack: str) -> None:
        from rich.console import Console

        from .deploy import Deployer, StackOptions

        # The stack exists already (a deployed stack has its Pulumi CLI): never download one.
        self.deployer = Deployer(
            StackOptions(stack=stack), Console(highlight=False, stderr=True), install_cli=False
        )
        self._stack = None

    def stack(self):
        if self._stack is None:
            self._stack = self.deployer.open(create=False)
        return self._stack

    def read(self) -> dict[str, Any]:
        config = self.stack().get_all_config()
        values = {k.removeprefix("flaregate:"): v.value for k, v in config.items()}
        out: dict[str, Any] = {"accountId": values.get("accountId")}
        for key in ("models", "aliases", "fallbacks"):
            if values.get(key):
                try:
                    out[key] = json.loads(values[key])
                except ValueError:
                    raise ConfigError(
                        f"flaregate:{key} in stack {self.deployer.options.stack} is not valid JSON"
                    ) from None
        return out

    def write(self, models: list[dict], aliases: dict[str, str]) -> str:
        from .catalog import load_catalog
        from .deploy import configure
        from .models_sync import merge_models

        current = self.read()
        merged = merge_models(current.get("models") or [], models)
        merged_aliases = {**(current.get("aliases") or {}), **aliases}
        # What the next deploy will render, checked before anything is stored.
        load_catalog(merged, merged_aliases, current.get("fallbacks") or {})
        configure(
            self.stack(),
            {"models": json.dumps(merged), "aliases": json.dumps(merged_aliases)},
        )
        name = self.deployer.options.stack
        return f"stack {name} (run `flaregate deploy{'' if name == DEFAULT_STACK else ' --stack ' + name}`)"


class _BuiltinTarget(_Target):
    def read(self) -> dict[str, Any]:
        return {}


def _target(config_path: Path | None, stack: str, write: bool) -> _Target:
    if config_path is not None:
        return _TomlTarget(config_path)
    if write:
        return _StackTarget(stack)
    if Path("flaregate.toml").exists():
        return _TomlTarget(Path("flaregate.toml"))
    return _BuiltinTarget()


def _print(report, written: str | None, write: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    if report.in_sync:
        console.print("The catalog matches Workers AI: no new models, none gone, no facts differ.")
    if report.new:
        table = Table(title="New on Workers AI")
        for column in ("model", "task", "context", "tools", "reasoning", "vision", "paid plan"):
            table.add_column(column)
        for m in report.new:
            if not m["recorded"]:
                table.add_row(m["id"], m["task"], "(add by hand: facts not published)")
                continue
            table.add_row(
                m["id"],
                m["task"],
                str(m["context_window"] or "?"),
                m["tools"],
                m["reasoning"],
                "yes" if m["vision"] else "",
                "yes" if m["paid_plan"] else "",
            )
        console.print(table)
    if report.gone:
        table = Table(title="Gone from Workers AI")
        for column in ("model", "why", "since", "replacement"):
            table.add_column(column)
        for m in report.gone:
            table.add_row(m["id"], m["reason"], m["date"], m["replacement"] or "(none found)")
        console.print(table)
    if report.differ:
        table = Table(title="Facts that differ")
        for column in ("model", "fact", "catalog", "Workers AI", "recorded", "note"):
            table.add_column(column)
        for d in report.differ:
            table.add_row(
                d["id"],
                d["fact"],
                str(d["catalog"]),
                str(d["live"]),
                "yes" if d["recorded"] else "no",
                d.get("note", ""),
            )
        console.print(table)
    for r in report.retiring:
        console.print(f"{r['id']} is to be retired on {r['date']}.")
    for alias, target in report.aliases.items():
        console.print(f"alias {alias} moves to {target}")
    if written:
        console.print(f"Recorded {len(report.models)} model override(s) in {written}.")
    elif not report.in_sync and not write:
        console.print("Run again with --write to record these as overrides.")
