"""`flaregate doctor`: the command line over flaregate/doctor.py (a table or --json, progress on
stderr, exit code from the core checks)."""

from __future__ import annotations

import click

from .cli_options import echo_json, json_option, stack_option
from .errors import DeployError

KEY_ENV = "FLAREGATE_API_KEY"


@click.command()
@click.option("--url", default=None, help="The gateway's URL; default: the stack's `url` output.")
@click.option(
    "--key",
    envvar=KEY_ENV,
    default=None,
    metavar="KEY",
    help=f"An API key of the gateway; default: ${KEY_ENV} (prefer the variable: a key on the "
    "command line ends up in shell history).",
)
@stack_option("The deployment whose URL to check when --url is not given.")
@click.option(
    "--models",
    default=None,
    metavar="A,B",
    help="Check only these models (names or ids); default: every chat and embedding model of "
    "the deployment's /v1/models.",
)
@click.option(
    "--images", is_flag=True, help="Also generate one image per image model (costs more)."
)
@click.option(
    "--default-model",
    default=None,
    metavar="NAME",
    help="The chat model whose checks are core (decide the exit code); default: gpt-4o-mini.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=None,
    metavar="SECONDS",
    help="Deadline for each request; one that passes it is reported timed out (default 30).",
)
@json_option
def doctor(url, key, stack, models, images, default_model, timeout, as_json) -> None:
    """Check a live deployment end to end, model by model, and print a table to paste into a bug
    report.

    Health, auth (no key and a wrong key get 401), then per chat model a plain answer, a streamed
    answer (time to first token), a tool call and JSON mode; embeddings per embedding model;
    images with --images. At most 4 requests at a time, small prompts, low max_tokens. Exits 0
    only when the core checks pass: health, auth and the default chat model.

    Example usage:

    \b
        export FLAREGATE_API_KEY=sk-fg-...
        flaregate doctor
        flaregate doctor --models gpt-4o-mini,@cf/qwen/qwq-32b --json
    """
    from rich.console import Console

    from . import doctor as checks

    err = Console(stderr=True, highlight=False)
    url = url or _stack_url(stack)
    if not key:
        raise DeployError(
            f"No API key: `export {KEY_ENV}=sk-fg-...` (or --key). `flaregate keys create "
            "--name doctor` makes one."
        )
    wanted = [m.strip() for m in models.split(",") if m.strip()] if models else None
    progress = _progress(err)
    task = None

    def on_plan(targets, count: int) -> None:
        nonlocal task
        chats = sum(t.type == "chat" for t in targets)
        others = len(targets) - chats
        err.print(
            f"Checking {url}: {chats} chat model{'s' * (chats != 1)}"
            + (f" and {others} other{'s' * (others != 1)}" if others else "")
            + f", about {count + 4} requests (at most {checks.MAX_IN_FLIGHT} at a time).",
            soft_wrap=True,
        )
        progress.start()
        task = progress.add_task("checking", total=count)

    def on_result() -> None:
        if task is not None:
            progress.advance(task)

    try:
        report = checks.run_doctor(
            url,
            key,
            models=wanted,
            images=images,
            default_model=default_model or checks.DEFAULT_MODEL,
            timeout=timeout or checks.DEFAULT_TIMEOUT,
            on_plan=on_plan,
            on_result=on_result,
        )
    finally:
        progress.stop()
    if as_json:
        echo_json(report.as_json())
    else:
        _print_report(report)
    if not report.ok:
        raise SystemExit(1)


def _stack_url(stack: str) -> str:
    from rich.console import Console

    from .deploy import Deployer, StackOptions, stack_outputs

    deployer = Deployer(StackOptions(stack=stack), Console(stderr=True), install_cli=False)
    url = stack_outputs(deployer).get("url")
    if not url:
        raise DeployError(
            f"Stack {stack} has no `url` output (set flaregate:workersDevSubdomain or "
            "customDomain and redeploy); pass --url to check a gateway directly."
        )
    return url


def _progress(console):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


STYLE = {"ok": "green", "failed": "red", "timed out": "yellow", "not run": "dim"}


def _print_report(report) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console(highlight=False)
    table = Table("model", "check", "result", "latency", "first token", "detail")
    for r in report.results:
        model = "(deployment)" if r.model is None else escape(r.model)
        if r.model and r.core:
            model += " [bold](default)[/]"
        table.add_row(
            model,
            r.check + (" *" if r.core else ""),
            f"[{STYLE[r.status]}]{r.status}[/]",
            f"{r.latency_ms} ms" if r.latency_ms is not None else "",
            f"{r.first_token_ms} ms" if r.first_token_ms is not None else "",
            escape(r.error or ""),
        )
    console.print(f"flaregate doctor: {report.url}")
    console.print(table)
    counts: dict[str, int] = {}
    for r in report.results:
        counts[r.status] = counts.get(r.status, 0) + 1
    models = {r.model for r in report.results if r.model}
    broken = {r.model for r in report.results if r.model and not r.ok}
    summary = ", ".join(f"{n} {status}" for status, n in counts.items())
    verdict = "[green]core checks pass[/]" if report.ok else "[red]core checks FAIL[/]"
    console.print(
        f"{len(report.results)} checks ({summary}); {len(models) - len(broken)} of {len(models)} "
        f"models fully working; {verdict} (* = core: health, auth, the default model).",
        soft_wrap=True,
    )
