"""Check a Cloudflare API token against what flaregate needs (flaregate/permissions.py).

1. Verify it: ``/user/tokens/verify``, then ``/accounts/{id}/tokens/verify`` for account-owned
   tokens (the user endpoint refuses them). Status, expiry, not-before.
2. If the token may read its own details, evaluate its policies exactly: permission groups by
   name (ids resolved through the permission-group list when a policy carries no names),
   ``allow``/``deny`` (deny wins), account and zone resources including ``*`` wildcards and the
   nested ``{account: {zone.*: "*"}}`` form. Extra permissions are reported (least privilege).
3. Whatever that could not settle is probed with a harmless GET per permission.

Each needed permission ends in one of three states: granted, missing, unverified. A read probe
proves Read access only, so an Edit permission confirmed only by a probe stays unverified.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from .cloudflare_api import (
    INVALID_TOKEN_CODES,
    PERMISSION_ERROR_CODES,
    error_codes,
    error_messages,
    make_client,
)
from .errors import FlaregateError
from .permissions import (
    CATEGORY_LABELS,
    ERROR_1016,
    FEATURES,
    SELF_READ_PERMISSIONS,
    Permission,
    needed_for,
)

if TYPE_CHECKING:
    from cloudflare import Cloudflare

State = Literal["granted", "missing", "unverified"]
Owner = Literal["user", "account"]

EXPIRY_WARNING = timedelta(days=14)
ACCOUNT_RES = "com.cloudflare.api.account."
ZONE_RES = "com.cloudflare.api.account.zone."
USER_TOKEN_URL = "https://dash.cloudflare.com/profile/api-tokens"
ACCOUNT_TOKEN_URL = "https://dash.cloudflare.com/"


class TokenAuditError(FlaregateError):
    """The audit itself broke in a way it does not know (not a verdict about the token)."""


class TokenPermissionError(FlaregateError):
    """The token cannot do what the deployment needs (raised by :func:`require_deployable`)."""

    def __init__(self, message: str, report: AuditReport) -> None:
        super().__init__(message)
        self.report = report


@dataclass
class Row:
    permission: Permission
    features: list[str]
    state: State
    evidence: str
    """How the state was established, in words a user can act on."""
    category_label: str
    via: Literal["policy", "probe", "token", "none"] = "none"

    def as_json(self) -> dict[str, Any]:
        p = self.permission
        return {
            "permission": p.api_name,
            "dashboard": f"{p.scope.title()} | {self.category_label} | {p.dashboard_name} | {p.access}",
            "scope": p.scope,
            "category": self.category_label,
            "access": p.access,
            "template_key": {"key": p.template_key, "type": p.template_type},
            "features": self.features,
            "why": {f: p.needed_by[f] for f in self.features},
            "state": self.state,
            "via": self.via,
            "evidence": self.evidence,
        }


@dataclass
class AuditReport:
    account_id: str
    zone_id: str | None
    features: list[str]
    status: str = "unknown"
    """active, disabled, expired, invalid or unknown (the API could not say)."""
    owner: Owner | None = None
    token_id: str | None = None
    expires_on: datetime | None = None
    not_before: datetime | None = None
    ip_allowed: list[str] = field(default_factory=list)
    ip_denied: list[str] = field(default_factory=list)
    introspected: bool = False
    introspection_note: str = ""
    rows: list[Row] = field(default_factory=list)
    extra_permissions: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def exit_ok(self) -> bool:
        """Everything needed is confirmed and the token is active."""
        return self.status == "active" and all(r.state == "granted" for r in self.rows)

    @property
    def missing(self) -> list[Row]:
        return [r for r in self.rows if r.state == "missing"]

    @property
    def unverified(self) -> list[Row]:
        return [r for r in self.rows if r.state == "unverified"]

    @property
    def deployable(self) -> bool:
        """Nothing is known to be missing (unverified rows are warnings for a deploy)."""
        return self.status == "active" and not self.missing

    def links(self) -> dict[str, str]:
        return dashboard_links([r.permission for r in self.rows], self.account_id, self.zone_id)

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.exit_ok,
            "deployable": self.deployable,
            "account_id": self.account_id,
            "zone_id": self.zone_id,
            "features": self.features,
            "token": {
                "id": self.token_id,
                "owner": self.owner,
                "status": self.status,
                "expires_on": _iso(self.expires_on),
                "not_before": _iso(self.not_before),
                "ip_allowed": self.ip_allowed,
                "ip_denied": self.ip_denied,
            },
            "introspected": self.introspected,
            "introspection_note": self.introspection_note,
            "permissions": [r.as_json() for r in self.rows],
            "extra_permissions": self.extra_permissions,
            "warnings": self.warnings,
            "links": self.links(),
        }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def dashboard_links(
    permissions: Iterable[Permission], account_id: str | None = None, zone_id: str | None = None
) -> dict[str, str]:
    """Links that open *Create token* pre-filled with exactly these permissions.

    Forms from https://developers.cloudflare.com/fundamentals/api/how-to/account-owned-token-template/
    """
    keys, seen = [], set()
    for p in permissions:
        if (p.template_key, p.template_type) not in seen:
            seen.add((p.template_key, p.template_type))
            keys.append({"key": p.template_key, "type": p.template_type})
    encoded = _json_compact(keys)
    user = urllib.parse.urlencode(
        {
            "permissionGroupKeys": encoded,
            "accountId": account_id or "*",
            "zoneId": zone_id or "all",
            "name": "flaregate",
        },
        quote_via=urllib.parse.quote,
    )
    # `to` keeps its slashes and colon as the documented form shows them.
    account = "to=/:account/api-tokens&" + urllib.parse.urlencode(
        {"permissionGroupKeys": encoded, "name": "flaregate"}, quote_via=urllib.parse.quote
    )
    return {
        "user_token": f"{USER_TOKEN_URL}?{user}",
        "account_token": f"{ACCOUNT_TOKEN_URL}?{account}",
    }


def _json_compact(value: Any) -> str:
    import json

    return json.dumps(value, separators=(",", ":"))


# --- entry points ----------------------------------------------------------------------------
def audit_token_string(
    token: str | None,
    account_id: str,
    features: Iterable[str] = ("core",),
    zone_id: str | None = None,
    *,
    base_url: str | None = None,
    now: datetime | None = None,
) -> AuditReport:
    """:func:`audit_token` for a token string (None: $CLOUDFLARE_API_TOKEN)."""
    return audit_token(
        make_client(token, base_url=base_url), account_id, features, zone_id, now=now
    )


def preflight(
    token: str | None,
    account_id: str,
    features: Iterable[str] = ("core",),
    zone_id: str | None = None,
    *,
    base_url: str | None = None,
) -> AuditReport:
    """The deploy's check before any change: the report when nothing needed is missing (its
    ``unverified`` rows and ``warnings`` are worth printing), else TokenPermissionError."""
    return require_deployable(
        audit_token_string(token, account_id, features, zone_id, base_url=base_url)
    )


def require_deployable(report: AuditReport) -> AuditReport:
    """For `deploy`'s preflight: raise :class:`TokenPermissionError` naming what is missing and
    the link that fixes it; return the report (its ``unverified`` rows are warnings)."""
    if report.deployable:
        return report
    links = report.links()
    if report.status != "active":
        reason = _status_problem(report)
    else:
        reason = "the API token lacks " + "; ".join(
            f"{r.permission.dashboard_path} ({r.evidence})" for r in report.missing
        )
    if any(r.permission.template_key == "ssl_and_certificates" for r in report.missing):
        reason += ". " + ERROR_1016.rstrip(".")
    if report.status == "unknown":
        # The API failed, not the token: nothing to fix in the token.
        raise TokenPermissionError(
            f"{reason}. Nothing was changed. Retry in a minute, or pass --skip-checks to go "
            "ahead without the token check",
            report,
        )
    raise TokenPermissionError(
        f"{reason}. Nothing was changed. Fix the token (a pre-filled one: {links['user_token']} "
        "; for an account-owned token: "
        f"{links['account_token']}) and retry, or run `{check_token_command(report)}` for details",
        report,
    )


def check_token_command(report: AuditReport) -> str:
    """The `flaregate check-token` command line that repeats this audit."""
    parts = ["flaregate check-token", f"--account-id {report.account_id}"]
    parts += [f"--feature {f}" for f in report.features if f != "core"]
    if report.zone_id:
        parts.append(f"--zone-id {report.zone_id}")
    return " ".join(parts)


def _status_problem(report: AuditReport) -> str:
    if report.status == "invalid":
        return "Cloudflare does not accept the API token (invalid or deleted)"
    if report.status == "expired":
        return f"the API token expired on {_iso(report.expires_on) or 'an earlier date'}"
    if report.status == "disabled":
        return "the API token is disabled (re-enable it in the dashboard or roll a new one)"
    if report.status == "not_yet_valid":
        return f"the API token is not valid before {_iso(report.not_before)}"
    return f"the API token could not be checked: {report.introspection_note or report.status}"


def audit_token(
    client: Cloudflare,
    account_id: str,
    features: Iterable[str] = ("core",),
    zone_id: str | None = None,
    *,
    now: datetime | None = None,
) -> AuditReport:
    """Audit the client's token for ``features`` on ``account_id`` (and ``zone_id``).

    Anything the audit does not expect (an SDK that cannot build its headers, an answer of a
    shape it does not know) becomes one :class:`TokenAuditError` saying so, never a traceback.
    """
    try:
        return _audit(client, account_id, features, zone_id, now)
    except FlaregateError:
        raise
    except Exception as err:
        detail = f"{err.__class__.__name__}: {err}"
        token = getattr(client, "api_token", None)
        if token:
            detail = detail.replace(token, "[token]")
        raise TokenAuditError(
            f"the token check failed unexpectedly ({detail}). Nothing was changed. Check "
            "CLOUDFLARE_API_TOKEN and CLOUDFLARE_BASE_URL, retry, and report this if it persists "
            "(a deploy can go ahead without the check: --skip-checks)"
        ) from None


def _audit(
    client: Cloudflare,
    account_id: str,
    features: Iterable[str],
    zone_id: str | None,
    now: datetime | None,
) -> AuditReport:
    features = list(dict.fromkeys(["core", *features]))
    needed = needed_for(features)
    now = now or datetime.now(UTC)
    report = AuditReport(account_id=account_id, zone_id=zone_id, features=features)
    rows = {
        p.api_name: Row(
            p,
            [f for f in FEATURES if f in features and f in p.needed_by],
            "unverified",
            "not checked",
            p.category_label,
        )
        for p in needed
    }
    report.rows = list(rows.values())

    if not _verify(client, report, now):
        return report

    policies = _read_policies(client, report)
    groups = _permission_groups(client, report) if policies is not None else None
    if groups:
        for row in report.rows:
            live = groups.by_name.get(_norm(row.permission.api_name), {}).get("category")
            if live in CATEGORY_LABELS:
                row.category_label = CATEGORY_LABELS[live]
    if policies is not None:
        _evaluate_policies(policies, groups, report)
    for row in report.rows:
        if row.via != "policy" or row.state == "unverified":
            _probe(client, row, report)
    return report


# --- 1. verify -------------------------------------------------------------------------------
def _verify(client: Cloudflare, report: AuditReport, now: datetime) -> bool:
    """Fill status/expiry; False when the token cannot be used at all (rows say why)."""
    import cloudflare

    result = None
    try:
        result = client.user.tokens.verify()
        report.owner = "user"
    except cloudflare.APIStatusError as err:
        if err.status_code >= 500 or err.status_code == 429:
            return _api_failed(report, "verifying the token", err)
        try:  # account-owned tokens are refused by the user endpoint
            result = client.accounts.tokens.verify(account_id=report.account_id)
            report.owner = "account"
        except cloudflare.APIStatusError as err2:
            if err2.status_code >= 500 or err2.status_code == 429:
                return _api_failed(report, "verifying the token", err2)
            report.status = "invalid"
            detail = error_messages(err) if err.status_code == 401 else error_messages(err2)
            _settle_all(
                report,
                "missing",
                f"Cloudflare refuses the token: {detail} (for an account-owned token, check that "
                f"it belongs to account {report.account_id})",
                "token",
            )
            return False
        except cloudflare.APIConnectionError as err2:
            return _api_failed(report, "verifying the token", err2)
    except cloudflare.APIConnectionError as err:
        return _api_failed(report, "verifying the token", err)
    if result is None:
        return _api_failed(report, "verifying the token", None)

    report.token_id = result.id
    report.status = result.status
    report.expires_on = result.expires_on
    report.not_before = result.not_before
    if report.expires_on and report.expires_on <= now:
        report.status = "expired"
    if report.status == "active" and report.not_before and report.not_before > now:
        report.status = "not_yet_valid"
    if report.status != "active":
        _settle_all(report, "missing", _status_problem(report), "token")
        return False
    if report.expires_on and report.expires_on - now <= EXPIRY_WARNING:
        days = max(0, (report.expires_on - now).days)
        report.warnings.append(
            f"the token expires in {days} day{'s' if days != 1 else ''} "
            f"({report.expires_on:%Y-%m-%d %H:%M} UTC): roll it or make a new one before then"
        )
    return True


def _api_failed(report: AuditReport, doing: str, err: Any) -> bool:
    report.status = "unknown"
    detail = _failure(err)
    report.introspection_note = f"the Cloudflare API failed while {doing}: {detail}"
    _settle_all(report, "unverified", report.introspection_note, "none")
    return False


def _failure(err: Any) -> str:
    import cloudflare

    if isinstance(err, cloudflare.APIStatusError):
        kind = "rate limited" if err.status_code == 429 else f"HTTP {err.status_code}"
        return f"{kind}: {error_messages(err)}; retry in a minute"
    if err is None:
        return "empty answer"
    return f"{err.__class__.__name__}; check the network and retry"


def _settle_all(report: AuditReport, state: State, evidence: str, via: Any) -> None:
    for row in report.rows:
        row.state, row.evidence, row.via = state, evidence, via


# --- 2. policies -----------------------------------------------------------------------------
def _read_policies(client: Cloudflare, report: AuditReport) -> list[Any] | None:
    import cloudflare

    self_read = SELF_READ_PERMISSIONS[report.owner or "user"]
    try:
        if report.owner == "account":
            token = client.accounts.tokens.get(report.token_id, account_id=report.account_id)
        else:
            try:
                token = client.user.tokens.get(report.token_id)
            except cloudflare.NotFoundError:
                # Verified as a user token but unknown there: look for it on the account.
                token = client.accounts.tokens.get(report.token_id, account_id=report.account_id)
    except cloudflare.APIStatusError as err:
        if err.status_code in (401, 403) or set(error_codes(err)) & PERMISSION_ERROR_CODES:
            report.introspection_note = (
                f"the token may not read its own policies (that needs {self_read}, which a "
                "deploy does not), so each permission was probed with a harmless read"
            )
        else:
            report.introspection_note = (
                f"reading the token's policies failed ({_failure(err)}); probed instead"
            )
        return None
    except cloudflare.APIConnectionError as err:
        report.introspection_note = f"reading the token's policies failed ({_failure(err)})"
        return None
    if token is None or token.policies is None:
        report.introspection_note = "the token's details carry no policies; probed instead"
        return None
    report.introspected = True
    report.introspection_note = "evaluated the token's own policies"
    request_ip = token.condition.request_ip if token.condition else None
    if request_ip:
        report.ip_allowed = list(request_ip.in_ or [])
        report.ip_denied = list(request_ip.not_in or [])
        if report.ip_allowed or report.ip_denied:
            report.warnings.append(
                "the token only works from certain IP addresses "
                f"(allowed: {', '.join(report.ip_allowed) or 'any'}; denied: "
                f"{', '.join(report.ip_denied) or 'none'}): run deploys from one of them"
            )
    return [p.model_dump(by_alias=False) for p in token.policies]


@dataclass
class _Groups:
    by_id: dict[str, dict[str, Any]]
    by_name: dict[str, dict[str, Any]]


def _permission_groups(client: Cloudflare, report: AuditReport) -> _Groups | None:
    """The live permission-group list (names for bare ids, live dashboard categories)."""
    try:
        if report.owner == "account":
            items = client.accounts.tokens.permission_groups.list(account_id=report.account_id)
        else:
            items = client.user.tokens.permission_groups.list()
        groups = [g.model_dump() if hasattr(g, "model_dump") else dict(g) for g in items]
    except Exception:  # optional: answers 9109 for most tokens
        return None
    return _Groups(
        by_id={g["id"]: g for g in groups if g.get("id")},
        by_name={_norm(g["name"]): g for g in groups if g.get("name")},
    )


def _norm(name: str) -> str:
    """Compare permission names as the API and dashboard both write them ("Edit" = "Write")."""
    words = " ".join(name.lower().split())
    return words[: -len(" edit")] + " write" if words.endswith(" edit") else words


def _group_names(policy: dict[str, Any], groups: _Groups | None) -> tuple[set[str], bool]:
    """Normalized names of the policy's permission groups; bool: some could not be named."""
    names, unknown = set(), False
    for group in policy.get("permission_groups") or []:
        name = group.get("name")
        if not name and groups:
            name = groups.by_id.get(group.get("id"), {}).get("name")
        if name:
            names.add(_norm(name))
        else:
            unknown = True
    return names, unknown


Coverage = Literal["yes", "no", "some", "unclear"]
_RANK = {"no": 0, "unclear": 1, "some": 2, "yes": 3}


def _covers(
    resources: dict[str, Any], scope: str, account_id: str, zone_id: str | None
) -> Coverage:
    """Whether a policy's resources include the account (or the zone) the deploy touches."""
    account_keys = {ACCOUNT_RES + account_id, ACCOUNT_RES + "*"}
    result: Coverage = "no"
    for key, value in (resources or {}).items():
        if scope == "account":
            if key.startswith(ZONE_RES):
                continue
            if key in account_keys and value == "*":
                return "yes"
            continue
        # zone scope
        if key.startswith(ZONE_RES):
            target = key[len(ZONE_RES) :]
            if value == "*" and (target == "*" or target == zone_id):
                return "yes"
            if value == "*" and zone_id is None:
                result = "some"
            continue
        if key in account_keys and isinstance(value, dict):
            inner = _covers(value, "zone", account_id, zone_id)
            if inner == "yes":
                return "yes"
            if inner in ("some", "unclear"):
                result = inner
            continue
        if key in account_keys and value == "*" and result == "no":
            # Zone permissions on a bare account resource: not a documented combination.
            result = "unclear"
    return result


def _evaluate_policies(
    policies: list[dict[str, Any]], groups: _Groups | None, report: AuditReport
) -> None:
    needed_names = set()
    for row in report.rows:
        needed_names |= {_norm(row.permission.api_name), _norm(row.permission.read_name)}
    any_unknown = False
    for row in report.rows:
        p = row.permission
        grant_names = {_norm(p.api_name)}
        if p.access == "Read":  # an Edit grant includes Read
            grant_names.add(_norm(p.api_name.rsplit(" ", 1)[0] + " Write"))
        # A deny on the Read group also blocks an Edit permission's reads (deploys read first).
        deny_names = grant_names | {_norm(p.read_name)}
        allowed: Coverage = "no"
        denied = None
        unnamed = False
        for policy in policies:
            names, unknown = _group_names(policy, groups)
            unnamed |= unknown
            coverage = _covers(
                policy.get("resources") or {}, p.scope, report.account_id, report.zone_id
            )
            if policy.get("effect") == "deny":
                if names & deny_names and coverage == "yes":
                    denied = policy
            elif names & grant_names and _RANK[coverage] > _RANK[allowed]:
                allowed = coverage
        any_unknown |= unnamed
        row.via = "policy"
        where = _where(p, report)
        if denied is not None:
            row.state = "missing"
            row.evidence = f"a deny policy ({denied.get('id', '?')}) removes it on {where}"
        elif allowed == "yes":
            row.state = "granted"
            row.evidence = f"granted on {where} by the token's policies"
        elif allowed == "some":
            row.state = "unverified"
            row.evidence = (
                "granted on specific zones only: pass --zone-id to check the zone you deploy to"
            )
        elif allowed == "unclear":
            row.state = "unverified"
            row.evidence = (
                "granted with an account resource, which zone permissions do not document; probed"
            )
        elif unnamed:
            row.state = "unverified"
            row.evidence = "some permission groups in the policies carry only ids this token cannot resolve; probed"
        else:
            row.state = "missing"
            row.evidence = f"no policy grants it on {where}"
    _least_privilege(policies, groups, needed_names, report)


def _where(p: Permission, report: AuditReport) -> str:
    if p.scope == "account":
        return f"account {report.account_id}"
    return f"zone {report.zone_id}" if report.zone_id else "all zones"


def _least_privilege(
    policies: list[dict[str, Any]], groups: _Groups | None, needed: set[str], report: AuditReport
) -> None:
    extra: dict[str, str] = {}
    for policy in policies:
        if policy.get("effect") == "deny":
            continue
        for group in policy.get("permission_groups") or []:
            name = group.get("name") or (
                groups.by_id.get(group.get("id"), {}).get("name") if groups else None
            )
            # The self-read permission is what lets this audit be exact: not counted as extra.
            if name and _norm(name) not in needed and name not in SELF_READ_PERMISSIONS.values():
                extra.setdefault(_norm(name), name)
        resources = policy.get("resources") or {}
        if ACCOUNT_RES + "*" in resources:
            report.warnings.append(
                f"policy {policy.get('id', '?')} applies to every account you can access: restrict "
                f"it to account {report.account_id}"
            )
    report.extra_permissions = sorted(extra.values())


# --- 3. probes -------------------------------------------------------------------------------
def _probe(client: Cloudflare, row: Row, report: AuditReport) -> None:
    import cloudflare

    p = row.permission
    before = row.evidence if row.via == "policy" else ""
    if p.probe.needs_zone and not report.zone_id:
        row.state, row.via = "unverified", "none"
        row.evidence = (
            before + "; " if before else ""
        ) + "pass --zone-id to check zone permissions"
        return
    shown = p.probe.describe()
    try:
        p.probe.call(client, report.account_id, report.zone_id)
    except cloudflare.APIStatusError as err:
        codes = set(error_codes(err))
        if err.status_code == 403 or codes & PERMISSION_ERROR_CODES:
            row.state, row.via = "missing", "probe"
            row.evidence = f"{shown} was refused ({error_messages(err)})"
        elif err.status_code == 404:
            # Cloudflare refuses a permission with 403; a 404 says the id (or the route) is
            # unknown, which proves nothing about the permission.
            row.state, row.via = "unverified", "probe"
            target = (
                f"zone {report.zone_id}" if p.scope == "zone" else f"account {report.account_id}"
            )
            row.evidence = f"{shown}: {target} was not found (check the id)"
        elif err.status_code == 401 or codes & INVALID_TOKEN_CODES:
            row.state, row.via = "missing", "probe"
            row.evidence = f"{shown}: the token was refused ({error_messages(err)})"
        else:
            row.state, row.via = "unverified", "none"
            row.evidence = f"{shown} failed ({_failure(err)})"
        return
    except cloudflare.APIConnectionError as err:
        row.state, row.via = "unverified", "none"
        row.evidence = f"{shown} failed ({_failure(err)})"
        return
    row.via = "probe"
    self_read = SELF_READ_PERMISSIONS[report.owner or "user"]
    if p.access == "Read" and p.probe.conclusive:
        row.state = "granted"
        row.evidence = f"{shown} succeeded"
    elif p.access == "Read":
        row.state = "unverified"
        row.evidence = (
            f"{shown} succeeded, but {p.probe.inconclusive_because}. Let the token read its own "
            f"policies ({self_read}) to confirm it"
        )
    else:
        row.state = "unverified"
        row.evidence = (
            f"{shown} succeeded, so Read access works; a read cannot prove Edit. Let the token "
            f"read its own policies ({self_read}) to confirm it"
        )
