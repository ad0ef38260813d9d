"""`flaregate keys create|list|update|revoke` and `flaregate rotate-key`: the Worker's API keys."""

from __future__ import annotations

from datetime import datetime, timedelta

import click

from .cli_options import (
    account_option,
    config_option,
    echo_json,
    json_option,
    namespace_option,
    stack_option,
)
from .durations import format_duration, parse_duration

KEYS_STACK_HELP = (
    "The deployment whose key ring to use: its accountId and kvNamespaceId outputs are read "
    "when --account-id / --namespace-id (or their variables) are not given."
)


def _keyring(config, account_id: str | None, namespace_id: str | None, stack: str):
    from .cloudflare_api import make_client
    from .keyring import Keyring
    from .targets import resolve_keyring_target

    target = resolve_keyring_target(account_id, namespace_id, stack=stack)
    return Keyring(make_client(), target.account_id, target.namespace_id, config=config)


def _duration(text: str | None, option: str) -> timedelta | None:
    if text is None or text.lower() == "never":
        return None
    try:
        return parse_duration(text)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint=option) from None


def _models(text: str | None) -> tuple[str, ...] | None:
    """--models a,b,c -> ("a", "b", "c"); empty items are dropped."""
    if text is None:
        return None
    names = tuple(m.strip() for m in text.split(",") if m.strip())
    if any(any(c.isspace() for c in name) for name in names):
        raise click.BadParameter(
            "model names contain no spaces; separate them with commas, e.g. "
            "--models gpt-4o-mini,@cf/meta/*",
            param_hint="--models",
        )
    return names


def _limits_option_values(models, rpm, tokens_per_day):
    from .keyring import KeyLimits

    return KeyLimits(models=_models(models), rpm=rpm, tokens_per_day=tokens_per_day)


def models_option(func):
    return click.option(
        "--models",
        default=None,
        metavar="LIST",
        help="Comma-separated models the key may call: aliases, catalog ids, origin/<name>, or a "
        "prefix ending in * (e.g. gpt-4o-mini,@cf/meta/*). Default: every model.",
    )(func)


def rpm_option(func):
    return click.option(
        "--rpm",
        type=click.IntRange(min=0),
        default=None,
        metavar="N",
        help="At most N requests in any rolling 60 s, across all locations. Default: no limit.",
    )(func)


def tokens_option(func):
    return click.option(
        "--tokens-per-day",
        type=click.IntRange(min=0),
        default=None,
        metavar="N",
        help="At most N prompt + completion tokens per UTC day. Default: no limit.",
    )(func)


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "never"


def _show_new_key(key: str, lines: list[str]) -> None:
    """The one time the key is printed: the key alone on stdout, the rest on stderr."""
    from rich.console import Console
    from rich.panel import Panel

    err = Console(stderr=True)
    err.print(Panel("\n".join(lines), title="new API key", expand=False))
    click.echo(key)
    err.print(
        "[bold]Copy the key now.[/bold] Only its SHA-256 hash is stored; it cannot be shown again."
    )


@click.group()
def keys() -> None:
    """Create, list and revoke the API keys clients use to call your endpoint.

    Keys are stored only as SHA-256 hashes in the Worker's KEYS KV namespace (docs/keys.md).
    Needs $CLOUDFLARE_API_TOKEN with Workers KV Storage Edit. The key ring is the deployed
    stack's (--stack, default prod) unless --account-id / --namespace-id (or
    $CLOUDFLARE_ACCOUNT_ID / $FLAREGATE_KV_NAMESPACE_ID) name another.

    Example usage:

    \b
        flaregate keys create --name laptop --expires 90d
        flaregate keys create --name ci --models gpt-4o-mini,@cf/meta/* --rpm 60
        flaregate keys update 1a2b3c4d5e6f --tokens-per-day 200000
        flaregate keys list --stack staging
        flaregate keys revoke 1a2b3c4d5e6f
    """


@keys.command("create")
@click.option("--name", required=True, help="A label for humans, e.g. laptop or ci.")
@click.option(
    "--expires",
    default=None,
    metavar="DURATION",
    help="Lifetime such as 90d, 24h, 2w (default: never).",
)
@models_option
@rpm_option
@tokens_option
@account_option
@namespace_option
@stack_option(KEYS_STACK_HELP)
@json_option
@config_option
def create_key(
    config, name, expires, models, rpm, tokens_per_day, account_id, namespace_id, stack, as_json
) -> None:
    """Create an API key and print it once. Limits are optional (docs/keys.md).

    Example usage:

    \b
        flaregate keys create --name laptop --expires 90d
        flaregate keys create --name ci --models gpt-4o-mini,@cf/meta/* --rpm 60 --tokens-per-day 200000
        KEY=$(flaregate keys create --name ci --json | jq -r .key)
    """
    lifetime = _duration(expires, "--expires")
    limits = _limits_option_values(models, rpm, tokens_per_day)
    ring = _keyring(config, account_id, namespace_id, stack)
    new = ring.create(name, expires_at=ring.clock() + lifetime if lifetime else None, limits=limits)
    record = new.entry.record
    if as_json:
        echo_json({"key": new.key, **new.entry.as_json(ring.clock())})
        return
    _show_new_key(
        new.key,
        [
            f"id       {record.id}",
            f"name     {record.name}",
            f"expires  {_when(record.expires_at)}",
            f"limits   {record.limits.describe()}",
        ],
    )


@keys.command("update")
@click.argument("key_id")
@models_option
@click.option("--all-models", is_flag=True, help="Remove the model allowlist.")
@rpm_option
@click.option("--no-rpm", is_flag=True, help="Remove the rate limit.")
@tokens_option
@click.option("--no-token-limit", is_flag=True, help="Remove the daily token budget.")
@account_option
@namespace_option
@stack_option(KEYS_STACK_HELP)
@json_option
@config_option
def update_key(
    config,
    key_id,
    models,
    all_models,
    rpm,
    no_rpm,
    tokens_per_day,
    no_token_limit,
    account_id,
    namespace_id,
    stack,
    as_json,
) -> None:
    """Change a key's limits; the options not given stay as they are. The key itself, its usage
    so far and its expiry do not change.

    Example usage:

    \b
        flaregate keys update 1a2b3c4d5e6f --models gpt-4o-mini,@cf/meta/* --rpm 60
        flaregate keys update 1a2b3c4d5e6f --all-models --no-rpm --no-token-limit
    """
    changes: dict = {}
    for value, clear, field, option, clear_option in (
        (_models(models), all_models, "models", "--models", "--all-models"),
        (rpm, no_rpm, "rpm", "--rpm", "--no-rpm"),
        (tokens_per_day, no_token_limit, "tokens_per_day", "--tokens-per-day", "--no-token-limit"),
    ):
        if value is not None and clear:
            raise click.UsageError(f"{option} and {clear_option} contradict each other; give one")
        if clear or value is not None:
            changes[field] = value  # None when cleared: unlimited
    if not changes:
        raise click.UsageError(
            "nothing to change: give --models/--all-models, --rpm/--no-rpm or "
            "--tokens-per-day/--no-token-limit"
        )
    ring = _keyring(config, account_id, namespace_id, stack)
    entry = ring.update_limits(key_id, **changes)
    note = (
        f"Takes effect within the Worker's key cache time ({config.auth_cache_seconds} s) once "
        "KV has propagated the change (up to about 60 s)."
    )
    if as_json:
        echo_json({"key": entry.as_json(ring.clock()), "note": note})
        return
    click.echo(f"Updated key {entry.id} ({entry.record.name}): {entry.record.limits.describe()}.")
    click.echo(note)


@keys.command("list")
@account_option
@namespace_option
@stack_option(KEYS_STACK_HELP)
@json_option
@config_option
def list_keys(config, account_id, namespace_id, stack, as_json) -> None:
    """List keys: id, name, created, expires, status, limits. Never the keys themselves.

    Example usage:

    \b
        flaregate keys list
        flaregate keys list --json
    """
    from .keyring import status_of

    ring = _keyring(config, account_id, namespace_id, stack)
    entries = ring.entries()
    now = ring.clock()
    if as_json:
        echo_json({"keys": [e.as_json(now) for e in entries], "unreadable": len(ring.unreadable)})
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not entries:
        console.print("No keys yet. Create one with `flaregate keys create --name NAME`.")
    else:
        table = Table("ID", "Name", "Created", "Expires", "Status", "Limits")
        for e in entries:
            r = e.record
            status = status_of(r, now)
            if r.rotated_to:
                status += f" (replaced by {r.rotated_to})"
            limits = "none" if r.limits.unlimited else r.limits.describe()
            table.add_row(r.id, r.name, _when(r.created_at), _when(r.expires_at), status, limits)
        console.print(table)
    if ring.unreadable:
        Console(stderr=True).print(
            f"[yellow]{len(ring.unreadable)} KV entr{'y' if len(ring.unreadable) == 1 else 'ies'} "
            "under key: are not valid key records; the Worker refuses them. Delete them with "
            "`npx wrangler kv key delete`.[/yellow]"
        )


@keys.command("revoke")
@click.argument("key_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@account_option
@namespace_option
@stack_option(KEYS_STACK_HELP)
@json_option
@config_option
def revoke_key(config, key_id, yes, account_id, namespace_id, stack, as_json) -> None:
    """Revoke a key by id (see `keys list`). Clients using it get 401 within about a minute.

    Example usage:

    \b
        flaregate keys revoke 1a2b3c4d5e6f --yes
    """
    from .keyring import propagation_note

    ring = _keyring(config, account_id, namespace_id, stack)
    if not yes:
        entry = ring.find(key_id)
        click.confirm(
            f"Revoke key {entry.id} ({entry.record.name})? Clients using it will be refused",
            abort=True,
            err=True,
        )
    revoked = ring.revoke(key_id)
    note = propagation_note(config)
    if as_json:
        echo_json({"revoked": revoked.record.metadata(), "note": note})
        return
    click.echo(f"Revoked key {revoked.id} ({revoked.record.name}).")
    click.echo(note)


@click.command("rotate-key")
@click.option(
    "--id", "key_id", default=None, help="The key to replace (default: the only live key)."
)
@click.option(
    "--grace",
    default="24h",
    show_default=True,
    metavar="DURATION",
    help="How long the old key keeps working after the new one exists.",
)
@click.option(
    "--expires",
    default=None,
    metavar="DURATION",
    help="Lifetime of the new key (default: the old key's lifetime; 'never' for none).",
)
@account_option
@namespace_option
@stack_option(KEYS_STACK_HELP)
@json_option
@config_option
def rotate_key(config, key_id, grace, expires, account_id, namespace_id, stack, as_json) -> None:
    """Replace a key with zero downtime: the new key works at once, the old one until the grace
    period ends. Safe to re-run if interrupted.

    Example usage:

    \b
        flaregate rotate-key --grace 24h
        flaregate rotate-key --id 1a2b3c4d5e6f --grace 7d --json
    """
    grace_delta = _duration(grace, "--grace")
    if grace_delta is None:
        raise click.BadParameter("the grace period cannot be 'never'", param_hint="--grace")
    ring = _keyring(config, account_id, namespace_id, stack)
    if expires is None:
        new_expiry = "inherit"
    else:
        lifetime = _duration(expires, "--expires")
        new_expiry = ring.clock() + lifetime if lifetime else None
    rotation = ring.rotate(key_id, grace=grace_delta, expires_at=new_expiry)
    old, new = rotation.old.record, rotation.new.entry.record
    if as_json:
        echo_json(
            {
                "key": rotation.new.key,
                "new": new.metadata(),
                "old": old.metadata(),
                "removed_unfinished": list(rotation.removed_unfinished),
            }
        )
        return
    lines = [
        f"id       {new.id}  (replaces {old.id})",
        f"name     {new.name}",
        f"expires  {_when(new.expires_at)}",
        "limits   none"
        if new.limits.unlimited
        else f"limits   {new.limits.describe()} (its counters continue the old key's)",
        "",
        f"The old key {old.id} keeps working until {_when(old.expires_at)} "
        f"({format_duration(old.expires_at - ring.clock())} from now): switch your clients before then.",
    ]
    if rotation.removed_unfinished:
        lines.append(
            "Removed unused key(s) left by an interrupted rotation: "
            + ", ".join(rotation.removed_unfinished)
        )
    _show_new_key(rotation.new.key, lines)
