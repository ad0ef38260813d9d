"""`flaregate usage`: requests, tokens, errors and cost per API key, from the AI Gateway's logs."""

from __future__ import annotations

from datetime import timedelta

import click

from .cli_options import account_option, config_option, echo_json, json_option, stack_option
from .durations import parse_duration

USAGE_STACK_HELP = (
    "The deployment whose AI Gateway to read: its gatewayId and accountId outputs are used "
    "when --gateway-id is not given."
)


@click.command("usage")
@click.option(
    "--since",
    default="7d",
    show_default=True,
    metavar="DURATION",
    help="How far back to look: 24h, 7d, 30d, ...",
)
@click.option(
    "--key", "key_id", default=None, metavar="ID", help="Only this key (see `keys list`)."
)
@click.option(
    "--by",
    type=click.Choice(["key", "day", "model"]),
    default="key",
    show_default=True,
    help="One row per key, or per key and UTC day, or per key and model.",
)
@click.option(
    "--gateway-id",
    default=None,
    metavar="ID",
    help="The AI Gateway to read (default: $FLAREGATE_GATEWAY_ID, else the deployed stack's).",
)
@account_option
@stack_option(USAGE_STACK_HELP)
@json_option
@config_option
def usage(config, since, key_id, by, gateway_id, account_id, stack, as_json) -> None:
    """Show who used what: requests, input and output tokens, errors and cost per API key,
    from the AI Gateway's logs (the Worker tags every call with the key's id, never the key).

    Needs $CLOUDFLARE_API_TOKEN with AI Gateway Read (`flaregate check-token --feature usage`).
    Calls to an origin server and requests refused by the Worker are not in the gateway's logs.

    Example usage:

    \b
        flaregate usage
        flaregate usage --since 30d --by day --key 1a2b3c4d5e6f
        flaregate usage --by model --json
    """
    from datetime import UTC, datetime

    from .cloudflare_api import make_client
    from .usage import NoGateway, gateway_usage, resolve_gateway

    try:
        window = parse_duration(since)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--since") from None
    start = datetime.now(UTC) - window
    try:
        target = resolve_gateway(account_id, gateway_id, stack)
    except NoGateway as reason:
        if as_json:
            echo_json({"gateway_id": None, "usage": [], "reason": str(reason)})
        else:
            click.echo(f"Nothing to show: {reason}.")
        return
    report = gateway_usage(
        make_client(), target.account_id, target.gateway_id, start, by=by, key_id=key_id
    )
    if as_json:
        echo_json(report.as_json())
        return
    _print_report(report, window, key_id)


def _print_report(report, window: timedelta, key_id: str | None) -> None:
    from rich.console import Console
    from rich.table import Table

    from .durations import format_duration

    console = Console()
    scope = f"key {key_id}" if key_id else "all keys"
    heading = f"AI Gateway {report.gateway_id}, last {format_duration(window)}, {scope}"
    if not report.rows:
        console.print(
            f"{heading}: no requests. ({report.logs_read} log entries in the range; is the "
            "gateway's log collection on? `gatewayCollectLogs` in the stack config)"
            if not report.logs_read
            else f"{heading}: no requests from {scope} among {report.logs_read} log entries."
        )
        return
    columns = ["Key"] + ([report.by.title()] if report.by != "key" else [])
    table = Table(
        *columns, "Requests", "Input tokens", "Output tokens", "Errors", "Cost", title=heading
    )
    for row in report.rows:
        cost = "—" if row.cost is None else f"${row.cost:.4f}"
        cells = [row.key_id] + ([row.group or ""] if report.by != "key" else [])
        table.add_row(
            *cells,
            str(row.requests),
            str(row.input_tokens),
            str(row.output_tokens),
            str(row.errors),
            cost,
        )
    console.print(table)
