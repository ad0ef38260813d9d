"""Options shared by several commands, as decorators: the Worker settings file (--config) and
the ones for commands that talk to Cloudflare.

The API token is read from $CLOUDFLARE_API_TOKEN only: a secret never belongs on a command line
(shell history, process list).
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

import click

from .cloudflare_api import ACCOUNT_ENV, NAMESPACE_ENV

DEFAULT_STACK = "prod"
"""The deploy's default stack (flaregate.deploy.DEFAULT_STACK; not imported: `--help` stays fast)."""
STACK_ENV = "FLAREGATE_STACK"


def account_option(func):
    """--account-id, falling back to $CLOUDFLARE_ACCOUNT_ID (resolved in the library)."""
    return click.option(
        "--account-id",
        default=None,
        metavar="ID",
        help=f"Cloudflare account id (default: ${ACCOUNT_ENV}).",
    )(func)


def namespace_option(func):
    """--namespace-id, falling back to $FLAREGATE_KV_NAMESPACE_ID (resolved in the library)."""
    return click.option(
        "--namespace-id",
        default=None,
        metavar="ID",
        help=f"The Worker's KEYS KV namespace id (default: ${NAMESPACE_ENV}).",
    )(func)


STACK_NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")
"""What Pulumi takes as a stack name (it also names files in the state backend)."""


def _check_stack(ctx, param, value: str) -> str:
    if not STACK_NAME.fullmatch(value or ""):
        raise click.BadParameter(
            f"{value[:40]!r} is not a stack name: use 1 to 100 letters, digits, '_', '.' or '-'"
        )
    return value


def stack_option(help: str):
    """--stack NAME (default prod, or $FLAREGATE_STACK): which deployment."""

    def decorate(func):
        return click.option(
            "--stack",
            default=DEFAULT_STACK,
            show_default=True,
            envvar=STACK_ENV,
            metavar="NAME",
            callback=_check_stack,
            help=help,
        )(func)

    return decorate


def json_option(func):
    """--json: machine-readable output on stdout, nothing else there."""

    @click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        return func(*args, **kwargs)

    return wrapper


def echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, default=str))


def config_option(func):
    """--config FILE: a flaregate.toml with Worker settings (docs/stack-config.md lists them)."""

    @click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="flaregate.toml with Worker settings, named as in docs/stack-config.md (default: ./flaregate.toml if present).",
    )
    @functools.wraps(func)
    def wrapper(*args, config_path: Path | None = None, **kwargs):
        from .config import WorkerConfig

        if config_path is None and Path("flaregate.toml").exists():
            config_path = Path("flaregate.toml")
        if config_path is not None and not config_path.is_file():
            raise click.BadParameter(
                f"{str(config_path)[:100]!r} is not a file", param_hint="--config"
            )
        config = WorkerConfig.from_toml(config_path) if config_path else WorkerConfig()
        return func(*args, config=config, **kwargs)

    return wrapper
