"""The token check `deploy`, `preview` and `destroy` run before anything changes.

It is the full permission audit of ``flaregate check-token`` (flaregate/token_audit.py) for the
features this stack uses: something needed **missing** stops the command with the fix
(:class:`flaregate.token_audit.TokenPermissionError`); **unverified** permissions and warnings
(expiry close, IP restrictions) are printed and the command goes on.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

    from .token_audit import AuditReport

# The deploy's features (flaregate.deploy.features_for) -> the permission table's features
# (flaregate/permissions.py FEATURES). The Worker, its KEYS namespace and its workers.dev route
# are all "core".
AUDIT_FEATURE = {
    "worker": "core",
    "kv": "core",
    "workers_dev": "core",
    "gateway": "gateway",
    "custom_domain": "custom_domain",
    "origin": "origin",
}


def audit_features(features: Iterable[str]) -> list[str]:
    """The permission-table features for a deploy's features, in the table's order."""
    from .permissions import FEATURES

    wanted = {AUDIT_FEATURE[f] for f in features}
    return [f for f in FEATURES if f in wanted]


def check_token(
    token: str,
    account_id: str,
    features: Iterable[str],
    zone_id: str | None,
    console: Console,
    *,
    base_url: str | None = None,
) -> AuditReport:
    """Audit the token; raise TokenPermissionError when something needed is missing, else
    print what could not be confirmed and return the report."""
    from .token_audit import preflight

    report = preflight(token, account_id, audit_features(features), zone_id, base_url=base_url)
    for line in preflight_lines(report):
        console.print(line, soft_wrap=True)
    return report


def preflight_lines(report: AuditReport) -> list[str]:
    """What a deploy prints about a token that passed: one line when everything is confirmed,
    else the unconfirmed permissions with how far they were checked, then the warnings."""
    from rich.markup import escape

    owner = {"user": "user token", "account": "account-owned token"}.get(report.owner, "token")
    total = len(report.rows)
    unverified = report.unverified
    if not unverified:
        lines = [
            f"Token check: {owner}, {report.status}; all {total} permissions this deployment "
            "needs are confirmed."
        ]
    else:
        lines = [
            f"Token check: {owner}, {report.status}; nothing needed is missing, but "
            f"{len(unverified)} of {total} permissions could not be confirmed: "
            f"{escape(report.introspection_note)}."
        ]
        for row in unverified:
            lines.append(
                f"  [yellow]unverified[/] {escape(row.permission.dashboard_path)}: "
                f"{escape(_for_deploy(row.evidence))}"
            )
        lines.append(
            "  Going ahead: if one of them is really missing, Cloudflare refuses that resource "
            "and the error names the permission."
        )
    if report.extra_permissions:
        lines.append(
            "  Not needed by this deployment (least privilege: consider removing): "
            + escape(", ".join(report.extra_permissions))
        )
    lines += [f"[yellow]Warning:[/] {escape(w)}" for w in report.warnings]
    return lines


def _for_deploy(evidence: str) -> str:
    # check-token takes --zone-id; a deploy reads the zone from the stack config.
    return evidence.replace(
        "pass --zone-id to check zone permissions",
        "set the zone (`--set zoneId=<zone id>`) so the zone permissions can be checked",
    ).replace("pass --zone-id to check", "set zoneId to check")
