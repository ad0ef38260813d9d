"""Who used what: per-key requests, tokens, errors and cost, read from the AI Gateway's logs.

Every Workers AI call the Worker makes goes through the deployment's AI Gateway with the
caller's key id (never the key) in the log's metadata (worker_template/src/binding.js sends
``{"key_id", "request_id", "route"}``). This module lists those logs through the official SDK
(``client.ai_gateway.logs.list``, newest first), keeps the ones inside the time range, and sums
them per key, and per day or model when asked. The range and the key are also checked here on
every row, so the answer is right whatever the API does with its own filters.

Calls to an origin server (``origin/<name>``) do not pass through the gateway and are not in
its logs; nor are requests the Worker refused before calling a model.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from .cloudflare_api import ACCOUNT_ENV, explain_api_error
from .errors import CloudflareCredentialsError, FlaregateError

if TYPE_CHECKING:
    from cloudflare import Cloudflare

GATEWAY_ENV = "FLAREGATE_GATEWAY_ID"
GroupBy = Literal["key", "day", "model"]
LOGS_PER_PAGE = 50
NO_KEY = "(none)"
"""Rows without our metadata: calls made through the gateway by something else than the Worker."""


@dataclass
class UsageRow:
    """Totals for one key (and one day or model when grouped so)."""

    key_id: str
    group: str | None
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    errors: int = 0
    cost: float | None = None
    """Sum of the gateway's recorded cost; None when it recorded none for these rows."""

    def add(self, log: Any) -> None:
        self.requests += 1
        self.input_tokens += log.tokens_in or 0
        self.output_tokens += log.tokens_out or 0
        if not log.success:
            self.errors += 1
        if log.cost is not None:
            self.cost = (self.cost or 0.0) + log.cost

    def as_json(self, by: GroupBy) -> dict[str, Any]:
        out: dict[str, Any] = {"key_id": self.key_id}
        if by != "key":
            out[by] = self.group
        out.update(
            requests=self.requests,
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            errors=self.errors,
            cost=self.cost,
        )
        return out


@dataclass
class UsageReport:
    gateway_id: str
    since: datetime
    by: GroupBy
    rows: list[UsageRow] = field(default_factory=list)
    logs_read: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "gateway_id": self.gateway_id,
            "since": self.since.isoformat(timespec="seconds"),
            "by": self.by,
            "logs_read": self.logs_read,
            "usage": [row.as_json(self.by) for row in self.rows],
        }


class NoGateway(FlaregateError):
    """The deployment has no AI Gateway, so there are no logs to read usage from."""


@dataclass(frozen=True)
class GatewayTarget:
    account_id: str
    gateway_id: str


def resolve_gateway(
    account_id: str | None, gateway_id: str | None, stack: str | None
) -> GatewayTarget:
    """The account and AI Gateway to read: --gateway-id (or $FLAREGATE_GATEWAY_ID), else the
    deployed stack's gatewayId output. Raises NoGateway when the stack was deployed without a
    gateway, CloudflareCredentialsError when nothing says which gateway."""
    import os

    from .targets import resolve_account_id

    gateway_id = gateway_id or os.environ.get(GATEWAY_ENV) or None
    if gateway_id:
        return GatewayTarget(resolve_account_id(account_id, stack=stack), gateway_id)
    from .deploy import deployed_keyring

    try:
        outputs = deployed_keyring(stack) if stack else {}
    except FlaregateError as err:
        raise CloudflareCredentialsError(
            f"no AI Gateway to read usage from: {str(err).rstrip('.')}. Pass --gateway-id (or "
            f"`export {GATEWAY_ENV}=...`) for a gateway deployed some other way"
        ) from None
    if not outputs.get("gateway_id"):
        raise NoGateway(
            f'stack {stack} has no AI Gateway (gatewayId is ""), so its Worker calls Workers AI '
            "directly and no request is logged anywhere flaregate can read: there is no usage to "
            'show. Deploy with a gateway (remove gatewayId "" from the stack config) to record '
            "usage from then on"
        )
    return GatewayTarget(
        account_id or os.environ.get(ACCOUNT_ENV) or outputs["account_id"],
        outputs["gateway_id"],
    )


def key_id_of(metadata: str | None) -> str:
    """The Worker's key id from a log's metadata (a JSON object as a string)."""
    if not metadata:
        return NO_KEY
    try:
        value = json.loads(metadata)
    except ValueError:
        return NO_KEY
    key_id = value.get("key_id") if isinstance(value, dict) else None
    return str(key_id) if key_id else NO_KEY


def summarize(
    logs: Iterable[Any], since: datetime, by: GroupBy, key_id: str | None = None
) -> tuple[list[UsageRow], int]:
    """Rows per key (and day/model), newest logs first in; stops at the first log older than
    ``since``. Returns the rows, sorted, and how many logs were read."""
    rows: dict[tuple[str, str | None], UsageRow] = {}
    read = 0
    for log in logs:
        created = log.created_at if log.created_at.tzinfo else log.created_at.replace(tzinfo=UTC)
        if created < since:
            break  # newest first: everything after this is older still
        read += 1
        owner = key_id_of(log.metadata)
        if key_id is not None and owner != key_id:
            continue
        group = None
        if by == "day":
            group = created.astimezone(UTC).date().isoformat()
        elif by == "model":
            group = log.model
        row = rows.setdefault((owner, group), UsageRow(owner, group))
        row.add(log)
    ordered = sorted(rows.values(), key=lambda r: (r.key_id == NO_KEY, r.key_id, r.group or ""))
    return ordered, read


def gateway_usage(
    client: Cloudflare,
    account_id: str,
    gateway_id: str,
    since: datetime,
    *,
    by: GroupBy = "key",
    key_id: str | None = None,
) -> UsageReport:
    """Read the gateway's logs back to ``since`` and sum them."""
    try:
        logs = client.ai_gateway.logs.list(
            gateway_id,
            account_id=account_id,
            start_date=since,
            order_by="created_at",
            order_by_direction="desc",
            per_page=LOGS_PER_PAGE,
        )
        rows, read = summarize(logs, since, by, key_id)
    except Exception as err:
        import cloudflare

        if isinstance(err, cloudflare.NotFoundError):
            raise CloudflareCredentialsError(
                f"account {account_id} has no AI Gateway {gateway_id!r}: check --gateway-id "
                "(`flaregate status` shows the deployed gateway) and --account-id"
            ) from None
        raise explain_api_error(err, f"reading the logs of AI Gateway {gateway_id!r}") from None
    return UsageReport(gateway_id, since, by, rows, read)
