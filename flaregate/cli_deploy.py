"""CLI commands that drive the Pulumi stack: deploy, preview, destroy, status, origin-cert.

Each command is a thin shell over flaregate.deploy; Pulumi and the Cloudflare SDK are imported
inside the commands so ``flaregate --help`` stays fast.
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import click

from .cli_options import DEFAULT_STACK, echo_json, stack_option
from .errors import ConfigError, DeployError

# The after-deploy hook that makes sure the key ring has a first API key:
# (DeployResult, Credentials) -> NewKey | None (None: keys exist already).
FIRST_KEY_HOOK = "flaregate.deploy:create_first_key"


def stack_options(func=None, *, read_only: bool = False):
    """--stack NAME and --backend URL, turned into a ``deployer`` argument. ``read_only``: the
    command only reads the stack, so it never downloads the Pulumi CLI."""
    if func is None:
        return functools.partial(stack_options, read_only=read_only)

    @stack_option("Pulumi stack name: one per deployment (e.g. prod, staging).")
    @click.option(
        "--backend",
        default=None,
        help="Pulumi state backend URL (s3://..., https://api.pulumi.com); default: "
        "$PULUMI_BACKEND_URL, else a local file backend under ~/.flaregate/state.",
    )
    @functools.wraps(func)
    def wrapper(*args, stack: str, backend: str | None, **kwargs):
        from rich.console import Console

        from .deploy import Deployer, StackOptions

        deployer = Deployer(
            StackOptions(stack=stack, backend=backend),
            Console(highlight=False),
            install_cli=not read_only,
        )
        return func(*args, deployer=deployer, **kwargs)

    return wrapper


def set_option(func):
    """--set KEY=VALUE (repeatable): stack config stored with the stack (docs/stack-config.md)."""

    @click.option(
        "--set",
        "settings",
        multiple=True,
        metavar="KEY=VALUE",
        help="Set flaregate:KEY in the stack config (kept for later runs). For a secret key "
        "give VALUE as - to read it from stdin.",
    )
    @functools.wraps(func)
    def wrapper(*args, settings: tuple[str, ...], **kwargs):
        return func(*args, values=_parse_sets(settings), **kwargs)

    return wrapper


def account_option(func):
    return click.option(
        "--account-id",
        default=None,
        help="Cloudflare account id; default: $CLOUDFLARE_ACCOUNT_ID or the stack config.",
    )(func)


def yes_option(func):
    return click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")(func)


def skip_checks_option(func):
    """--skip-checks: no token permission audit before changing anything (after stack_options)."""

    @click.option(
        "--skip-checks",
        is_flag=True,
        help="Do not check the API token's permissions first (`flaregate check-token` does the "
        "same check on its own).",
    )
    @functools.wraps(func)
    def wrapper(*args, deployer, skip_checks: bool, **kwargs):
        deployer.skip_checks = skip_checks
        return func(*args, deployer=deployer, **kwargs)

    return wrapper


def _parse_sets(settings: tuple[str, ...]) -> dict[str, str]:
    from .stack_config import KEYS_BY_NAME

    values = {}
    for item in settings:
        key, sep, value = item.partition("=")
        key = key.removeprefix("flaregate:").strip()
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: use KEY=VALUE, e.g. --set corsOrigins=*")
        spec = KEYS_BY_NAME.get(key)
        if spec is not None and spec.secret:
            if value != "-":
                raise ConfigError(
                    f"flaregate:{key} is a secret: pass it on stdin, not on the command line "
                    f"(`--set {key}=- < file`), where other users can read it."
                )
            value = sys.stdin.read().strip()
        values[key] = value
    return values


def _first_key_hook():
    import importlib

    module, _, name = FIRST_KEY_HOOK.partition(":")
    return getattr(importlib.import_module(module), name)


def _describe_changes(changes: dict[str, int]) -> str:
    parts = [f"{n} to {op}" for op, n in sorted(changes.items()) if op != "same" and n]
    return ", ".join(parts) or "no changes"


def _print_outputs(console, outputs: dict) -> None:
    from rich.table import Table

    table = Table(show_header=False, box=None)
    for key in sorted(outputs):
        if outputs[key] is not None:
            table.add_row(key, str(outputs[key]))
    console.print(table)


@click.command()
@stack_options
@skip_checks_option
@account_option
@set_option
@yes_option
@click.option("--json", "as_json", is_flag=True, help="Print the result (and a new key) as JSON.")
def deploy(deployer, account_id: str | None, values: dict[str, str], yes: bool, as_json: bool):
    """Deploy (or update) the gateway: Worker, KV key ring, AI Gateway, URL, origin.

    Needs CLOUDFLARE_API_TOKEN (and CLOUDFLARE_ACCOUNT_ID the first time). Checks the token's
    permissions first (--skip-checks to skip), shows the plan and asks before changing anything
    unless --yes; a second run with nothing changed changes nothing. The first deploy prints the
    first API key, once.

    Example usage:

    \b
        export CLOUDFLARE_API_TOKEN=... CLOUDFLARE_ACCOUNT_ID=...
        flaregate deploy --yes
        flaregate deploy --set customDomain=api.example.com --set zoneId=...
        flaregate deploy --yes --json | jq -r .first_key.key
    """
    from rich.console import Console

    from . import deploy as ops

    if as_json:  # stdout is for the JSON alone; progress and questions go to stderr
        deployer.console = Console(stderr=True, highlight=False)
    credentials = ops.credentials_from_env(account_id)

    def confirm(changes: dict[str, int]) -> bool:
        return click.confirm(
            f"Apply these changes ({_describe_changes(changes)})?", default=True, err=True
        )

    result = ops.deploy(
        deployer,
        credentials,
        values,
        confirm=None if yes else confirm,
        ensure_first_key=_first_key_hook(),
    )
    if as_json:
        echo_json(_deploy_json(result))
    else:
        _print_deploy(deployer.console, result)
    if result.first_key_error:
        raise DeployError(
            f"The deploy succeeded, but the first API key could not be made: "
            f"{result.first_key_error}. Run `flaregate deploy` again to retry, or create one "
            f"with `flaregate keys create --name NAME{_stack_flag(result.stack)}`."
        )


def _stack_flag(stack: str) -> str:
    return "" if stack == DEFAULT_STACK else f" --stack {stack}"


def _print_deploy(console, result) -> None:
    if not result.changed:
        console.print("Everything is up to date; nothing changed.")
    _print_outputs(console, result.outputs)
    if result.url:
        console.print(f"\nYour OpenAI-compatible endpoint: [bold]{result.url}/v1[/]")
    console.print(f"Full log: {result.log_path}")
    if result.first_key is not None:
        _print_first_key(console, result)
    elif not result.first_key_error:
        console.print(
            "API keys exist already in this deployment's key ring: none was made. Manage them "
            f"with `flaregate keys list{_stack_flag(result.stack)}` and `flaregate keys create`."
        )


def _print_first_key(console, result) -> None:
    """The one time the first key is shown: alone on its line, so it copies cleanly."""
    record = result.first_key.entry.record
    expires = (
        f"expires {record.expires_at:%Y-%m-%d %H:%M} UTC" if record.expires_at else "never expires"
    )
    console.print(
        f"\n[bold]Your first API key[/] (id {record.id}, name {record.name!r}, {expires}):"
    )
    console.print(f"\n    {result.first_key.key}\n", markup=False, highlight=False, soft_wrap=True)
    console.print(
        "[bold]Store it now, it is not shown again:[/] only its SHA-256 hash is kept. Use it as "
        "the API key of any OpenAI client"
        + (f" with base URL {result.url}/v1." if result.url else ".")
    )
    console.print(
        "More keys and rotation: `flaregate keys create --name NAME`, `flaregate rotate-key` "
        "(docs/keys.md)."
    )


def _deploy_json(result) -> dict:
    report = result.token_report
    data = {
        "stack": result.stack,
        "changed": result.changed,
        "changes": result.changes,
        "url": result.url,
        "outputs": result.outputs,
        "log": str(result.log_path),
        "token_check": "skipped" if report is None else report.as_json(),
        "first_key": None,
        "keys_existed": result.first_key is None and not result.first_key_error,
        "first_key_error": result.first_key_error,
    }
    if result.first_key is not None:
        data["first_key"] = {
            "key": result.first_key.key,
            **result.first_key.entry.record.metadata(),
        }
    return data


@click.command()
@stack_options
@skip_checks_option
@account_option
@set_option
def preview(deployer, account_id: str | None, values: dict[str, str]) -> None:
    """Show what `flaregate deploy` would change, without changing anything remote.

    Checks the token's permissions first, like deploy (--skip-checks to skip).

    Example usage:

    \b
        flaregate preview --set gatewayCacheTtl=300
    """
    from . import deploy as ops

    changes = ops.preview(deployer, ops.credentials_from_env(account_id), values)
    deployer.console.print(f"Plan: {_describe_changes(changes)}.")


@click.command()
@stack_options
@skip_checks_option
@yes_option
def destroy(deployer, yes: bool) -> None:
    """Delete everything the stack created, API keys included.

    Checks the token's permissions first, like deploy (--skip-checks to skip).

    Example usage:

    \b
        flaregate destroy --stack staging
    """
    from . import deploy as ops

    def confirm(outputs: dict) -> bool:
        worker = outputs.get("workerName", "the Worker")
        click.echo(
            f"This deletes the Worker {worker}, its KV namespace with every API key in it (keys "
            "cannot be recovered; clients stop working), the AI Gateway and its logs, and the "
            "custom domain, origin certificate and DNS record if any."
        )
        return click.confirm("Destroy?", default=False)

    changes = ops.destroy(deployer, ops.credentials_from_env(), confirm=None if yes else confirm)
    deployer.console.print(f"Destroyed: {changes.get('delete', 0)} resources deleted.")


@click.command()
@stack_options(read_only=True)
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def status(deployer, as_json: bool) -> None:
    """Show the stack's outputs, the live /health answer and the origin certificate expiry.

    Example usage:

    \b
        flaregate status --json
    """
    from . import deploy as ops

    outputs = ops.stack_outputs(deployer)
    report: dict = {"stack": deployer.options.stack, "outputs": outputs}
    if outputs.get("url"):
        healthy, seen = ops.check_health(outputs["url"])
        report["health"] = {"ok": healthy, "detail": seen}
    if outputs.get("originCertificateExpiresOn"):
        report["origin_certificate_expires_on"] = outputs["originCertificateExpiresOn"]
    unhealthy = not report.get("health", {}).get("ok", True)
    if as_json:
        click.echo(json.dumps(report, indent=2))
        if unhealthy:
            raise SystemExit(1)
        return
    console = deployer.console
    _print_outputs(console, outputs)
    if "health" in report:
        mark = "[green]healthy[/]" if report["health"]["ok"] else "[red]NOT healthy[/]"
        console.print(f"GET {outputs['url']}/health: {mark} ({report['health']['detail']})")
    else:
        console.print("URL unknown (set flaregate:workersDevSubdomain or customDomain).")
    if "origin_certificate_expires_on" in report:
        console.print(f"Origin certificate expires: {report['origin_certificate_expires_on']}")
    if unhealthy:
        raise SystemExit(1)


@click.command("origin-cert")
@stack_options(read_only=True)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for origin.pem, origin.key and origin-secret.txt (written mode 0600).",
)
@click.option("--force", is_flag=True, help="Overwrite files that exist.")
def origin_cert(deployer, out_dir: Path, force: bool) -> None:
    """Write the origin server's certificate, private key and shared secret.

    Copy them to the origin; docs/origin.md shows the nginx/Caddy/vLLM setup.

    Example usage:

    \b
        flaregate origin-cert --out ./origin-tls
    """
    from . import deploy as ops

    outputs = ops.stack_outputs(deployer, reveal=True)
    for path in ops.write_origin_files(outputs, out_dir, force=force):
        click.echo(f"wrote {path} (mode 0600)")
    if outputs.get("originCertificateExpiresOn"):
        click.echo(f"The certificate expires {outputs['originCertificateExpiresOn']}.")


COMMANDS = (deploy, preview, destroy, status, origin_cert)


def register(group: click.Group) -> None:
    for command in COMMANDS:
        group.add_command(command)
