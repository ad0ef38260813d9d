"""`flaregate check-token`: does the Cloudflare API token have what the deployment needs?"""

from __future__ import annotations

import sys

import click

from .cli_options import account_option, echo_json, json_option
from .cloudflare_api import readable_api_text
from .permissions import FEATURES

STATE_STYLE = {"granted": "green", "missing": "bold red", "unverified": "yellow"}
DEFAULT_FEATURES = ("core", "gateway")


@click.command("check-token")
@click.option(
    "--feature",
    "features",
    multiple=True,
    type=click.Choice(list(FEATURES)),
    help="A feature the deployment uses (repeatable; default: core and gateway).",
)
@click.option(
    "--zone-id",
    envvar="CLOUDFLARE_ZONE_ID",
    default=None,
    metavar="ID",
    help="The zone of your custom domain / origin (default: $CLOUDFLARE_ZONE_ID).",
)
@account_option
@json_option
def check_token(features, zone_id, account_id, as_json) -> None:
    """Check $CLOUDFLARE_API_TOKEN against the permissions your features need.

    Exits 0 only when every needed permission is confirmed; prints a link that creates a token
    with exactly those permissions. See docs/permissions.md.

    Example usage:

    \b
        flaregate check-token
        flaregate check-token --feature origin --zone-id 023e105f4ecef8ad9ca31a8372d0c353 --json
    """
    from .cloudflare_api import make_client
    from .targets import resolve_account_id
    from .token_audit import audit_token

    chosen = list(features) or list(DEFAULT_FEATURES)
    report = audit_token(make_client(), resolve_account_id(account_id), chosen, zone_id)
    if as_json:
        echo_json(_readable_strings(report.as_json()))
    else:
        _print_report(report)
    sys.exit(0 if report.exit_ok else 1)


def _print_report(report) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    owner = {"user": "user token", "account": "account-owned token"}.get(report.owner, "token")
    expiry = f", expires {report.expires_on:%Y-%m-%d}" if report.expires_on else ""
    console.print(f"[bold]{owner}[/bold] {report.token_id or ''}: {report.status}{expiry}")
    note = readable_api_text(report.introspection_note) if report.introspection_note else None
    if note:
        console.print(f"How: {note}.")

    table = Table("Permission", "Needed for", "State", "How we know", show_lines=True)
    groups: dict[tuple[str, str], list] = {}
    for row in report.rows:
        groups.setdefault((row.permission.scope.title(), row.category_label), []).append(row)
    for (scope, category), rows in groups.items():
        table.add_section()
        table.add_row(f"[bold]{scope} | {category}[/bold]", "", "", "")
        for row in rows:
            p = row.permission
            table.add_row(
                f"{p.dashboard_name} | {p.access}\n[dim]{p.api_name}[/dim]",
                ", ".join(row.features),
                f"[{STATE_STYLE[row.state]}]{row.state}[/]",
                # One failed API call settles every row: its story is told once, above.
                "see How above"
                if note and row.evidence == report.introspection_note
                else readable_api_text(row.evidence),
            )
    console.print(table)

    if report.extra_permissions:
        console.print(
            "[yellow]Not needed by this deployment (least privilege: consider removing):[/yellow] "
            + ", ".join(report.extra_permissions)
        )
    for warning in report.warnings:
        console.print(f"[yellow]Warning:[/yellow] {warning}")
    text, replace_token = verdict(report)
    if replace_token:
        links = report.links()
        console.print("\nCreate a token with exactly the needed permissions:")
        console.print(f"  user token:          {links['user_token']}", soft_wrap=True)
        console.print(f"  account-owned token: {links['account_token']}", soft_wrap=True)
    console.print(text)


def _readable_strings(value):
    if isinstance(value, str):
        return readable_api_text(value)
    if isinstance(value, dict):
        return {k: _readable_strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_readable_strings(v) for v in value]
    return value


def verdict(report) -> tuple[str, bool]:
    """The last line, and whether to tell the user to make a new token. It follows the table:
    only a row known to be missing (or a token Cloudflare refuses) means a new token; rows left
    unverified because the API failed say to retry, never to replace a token that may be fine."""
    if report.exit_ok:
        return "[green]All needed permissions are confirmed.[/green]", False
    if report.missing:
        return "[red]Something needed is missing.[/red]", True
    if report.status == "unknown":
        return (
            "[yellow]The Cloudflare API failed, so nothing could be confirmed (and nothing is "
            "known to be missing). Retry in a minute.[/yellow]",
            False,
        )
    return (
        "[yellow]Nothing is known to be missing, but not everything could be confirmed.[/yellow]",
        False,
    )
