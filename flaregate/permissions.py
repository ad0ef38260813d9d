"""The Cloudflare API token permissions flaregate needs, per feature: the one source of truth.

`flaregate check-token`, the deploy preflight, the pre-filled dashboard link and
docs/permissions.md (``flaregate docs``) all read :data:`PERMISSIONS`.

Sources (checked 2026):
- API names and dashboard names: https://developers.cloudflare.com/fundamentals/api/reference/permissions/
  (the API says "Write" where the dashboard says "Edit").
- Which permission an endpoint accepts: the "Accepted Permissions" of each endpoint in the API
  reference, e.g. Attach Domain (PUT /accounts/{id}/workers/domains): Workers Scripts Write;
  Get Subdomain (GET /accounts/{id}/workers/subdomain): Workers Scripts Read or Write.
- Dashboard categories: the ``category`` of GET /user/tokens/permission_groups (SDK 5.9
  ``PermissionGroupListResponse.category``: developer_platform, dns_and_zones, app_security, ...);
  the labels below are how the dashboard shows them. A category marked unverified was not seen
  in a public source for that permission; check-token shows the live category when the token
  may read the permission groups.
- Template keys: https://developers.cloudflare.com/fundamentals/api/how-to/account-owned-token-template/
  (documented keys; the dashboard silently drops unknown ones, so an undocumented key is marked).
- Workers AI: the model search and schema endpoints accept Workers AI Read (or Write); the
  dashboard category and the template key ``workers_ai`` were not seen in a public source.
- Origin CA: POST /certificates accepts an API token with Zone SSL and Certificates Write; the
  Origin CA Key (X-Auth-User-Service-Key) is deprecated. Cloudflare answers error 1016 "User is
  not authorized to perform this action" without it (cloudflare/origin-ca-issuer#66).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Scope = Literal["account", "zone"]
Access = Literal["Edit", "Read"]

FEATURES: dict[str, str] = {
    "core": "the Worker, its workers.dev URL and the KEYS namespace with the API keys",
    "gateway": "the AI Gateway every model call goes through (logs, caching, rate limits)",
    "custom_domain": "serving the API on your own hostname instead of workers.dev",
    "origin": "an origin server behind Cloudflare: its DNS record and Origin CA certificate",
    "usage": "`flaregate usage`: per-key requests, tokens and cost read from the AI Gateway's logs",
    "models_sync": "`flaregate models sync`: reading your account's Workers AI model list and "
    "each text model's schema (read only; a token with just this permission is enough)",
}

# The dashboard's permission categories, keyed by the API's `category` values.
CATEGORY_LABELS: dict[str, str] = {
    "developer_platform": "Developer Platform",
    "ai_and_machine_learning": "AI & Machine Learning",
    "dns_and_zones": "DNS & Zones",
    "app_security": "App Security",
    "rules_and_configuration": "Rules & Configuration",
    "cloudflare_one_and_zero_trust": "Cloudflare One / Zero Trust",
    "analytics_and_logs": "Analytics & Logs",
    "network_services": "Network Services",
    "media": "Media",
    "email_and_messaging": "Email & Messaging",
    "cache_and_performance": "Cache & Performance",
    "account_and_billing": "Account & Billing",
    "other": "Other",
}


@dataclass(frozen=True)
class Probe:
    """A harmless read that the token passes only if it holds the permission (Read or Write).

    Made through the SDK method ``sdk`` (flaregate reaches Cloudflare only through SDK resource
    methods); ``path`` and ``params`` are the request that method sends, as the API reference
    documents it (a test checks the two agree).
    """

    method: Literal["GET"]
    path: str
    """Relative to /client/v4, with {account_id} / {zone_id} placeholders."""
    params: dict[str, str] = field(default_factory=dict)
    sdk: str = ""
    """The SDK resource method, dotted from the client: "workers.scripts.list"."""
    sdk_args: dict[str, str | int] = field(default_factory=dict)
    """Its keyword arguments; text may hold {account_id} / {zone_id}."""
    conclusive: bool = True
    """False: the read also succeeds with other permissions, so success proves nothing."""
    inconclusive_because: str = ""

    @property
    def needs_zone(self) -> bool:
        return "{zone_id}" in self.path or any("{zone_id}" in v for v in self.params.values())

    def render(self, account_id: str, zone_id: str | None) -> tuple[str, dict[str, str]]:
        values = {"account_id": account_id, "zone_id": zone_id or ""}
        return self.path.format(**values), {k: v.format(**values) for k, v in self.params.items()}

    def describe(self) -> str:
        query = "&".join(f"{k}={v}" for k, v in self.params.items())
        return f"{self.method} {self.path}" + (f"?{query}" if query else "")

    def call(self, client, account_id: str, zone_id: str | None) -> None:
        """Send the probe through its SDK method; the SDK raises on a refusal."""
        values = {"account_id": account_id, "zone_id": zone_id or ""}
        method = client
        for part in self.sdk.split("."):
            method = getattr(method, part)
        method(
            **{k: v.format(**values) if isinstance(v, str) else v for k, v in self.sdk_args.items()}
        )


@dataclass(frozen=True)
class Permission:
    """One permission group, in the API's words and the dashboard's."""

    api_name: str
    """As the API and token policies name it: "Workers Scripts Write"."""
    scope: Scope
    category: str
    """The API's category key (see CATEGORY_LABELS)."""
    category_verified: bool
    dashboard_name: str
    """The permission column in the dashboard: "Workers Scripts"."""
    access: Access
    template_key: str
    """The permissionGroupKeys key of the dashboard's pre-filled token URL."""
    template_key_documented: bool
    needed_by: dict[str, str]
    """feature -> why: the resource or call that needs it."""
    probe: Probe

    @property
    def template_type(self) -> str:
        return self.access.lower()

    @property
    def category_label(self) -> str:
        return CATEGORY_LABELS.get(self.category, self.category)

    @property
    def dashboard_path(self) -> str:
        """ "Account | Developer Platform | Workers Scripts | Edit" """
        return (
            f"{self.scope.title()} | {self.category_label} | {self.dashboard_name} | {self.access}"
        )

    @property
    def read_name(self) -> str:
        """The Read variant's API name ("Workers Scripts Read"); a Write grant includes it."""
        return self.api_name.rsplit(" ", 1)[0] + " Read"


PERMISSIONS: tuple[Permission, ...] = (
    Permission(
        api_name="Workers Scripts Write",
        scope="account",
        category="developer_platform",
        category_verified=True,
        dashboard_name="Workers Scripts",
        access="Edit",
        template_key="workers_scripts",
        template_key_documented=True,
        needed_by={
            "core": "upload the Worker (WorkersScript) and turn its workers.dev URL on or off "
            "(WorkersScriptSubdomain)",
            "custom_domain": "attach the Worker to your hostname (WorkersCustomDomain; the Attach "
            "Domain call accepts only this permission)",
        },
        probe=Probe(
            "GET",
            "/accounts/{account_id}/workers/scripts",
            sdk="workers.scripts.list",
            sdk_args={"account_id": "{account_id}"},
        ),
    ),
    Permission(
        api_name="Workers KV Storage Write",
        scope="account",
        category="developer_platform",
        category_verified=True,
        dashboard_name="Workers KV Storage",
        access="Edit",
        template_key="workers_kv_storage",
        template_key_documented=True,
        needed_by={
            "core": "create the KEYS namespace (WorkersKvNamespace) and write the API key records "
            "(`flaregate keys`, `rotate-key`)",
        },
        probe=Probe(
            "GET",
            "/accounts/{account_id}/storage/kv/namespaces",
            {"per_page": "5"},
            sdk="kv.namespaces.list",
            sdk_args={"account_id": "{account_id}", "per_page": 5},
        ),
    ),
    Permission(
        api_name="AI Gateway Write",
        scope="account",
        # Not seen in a public source for this permission (the live permission-group list that
        # check-token reads, when it may, shows the real one).
        category="developer_platform",
        category_verified=False,
        dashboard_name="AI Gateway",
        access="Edit",
        template_key="ai_gateway",
        template_key_documented=False,
        needed_by={"gateway": "create and configure the AI Gateway (AiGateway)"},
        probe=Probe(
            "GET",
            "/accounts/{account_id}/ai-gateway/gateways",
            {"per_page": "5"},
            sdk="ai_gateway.list",
            sdk_args={"account_id": "{account_id}", "per_page": 5},
        ),
    ),
    Permission(
        api_name="AI Gateway Read",
        scope="account",
        category="developer_platform",
        category_verified=False,
        dashboard_name="AI Gateway",
        access="Read",
        template_key="ai_gateway",
        template_key_documented=False,
        needed_by={
            "usage": "read the gateway's request logs (List Gateway Logs accepts AI Gateway Read "
            "or Write) for `flaregate usage`",
        },
        probe=Probe(
            "GET",
            "/accounts/{account_id}/ai-gateway/gateways",
            {"per_page": "5"},
            sdk="ai_gateway.list",
            sdk_args={"account_id": "{account_id}", "per_page": 5},
        ),
    ),
    Permission(
        api_name="Workers AI Read",
        scope="account",
        category="ai_and_machine_learning",
        category_verified=False,
        dashboard_name="Workers AI",
        access="Read",
        template_key="workers_ai",
        template_key_documented=False,
        needed_by={
            "models_sync": "list the account's models (GET /accounts/{id}/ai/models/search) and "
            "read each text model's schema (GET /accounts/{id}/ai/models/schema)",
        },
        probe=Probe(
            "GET",
            "/accounts/{account_id}/ai/models/search",
            {"per_page": "1"},
            sdk="ai.models.list",
            sdk_args={"account_id": "{account_id}", "per_page": 1},
        ),
    ),
    Permission(
        api_name="Zone Read",
        scope="zone",
        category="dns_and_zones",
        category_verified=True,
        dashboard_name="Zone",
        access="Read",
        template_key="zone",
        template_key_documented=True,
        needed_by={
            "custom_domain": "check that the zone exists and holds the hostname before deploying",
            "origin": "check that the zone exists and holds the origin hostname before deploying",
        },
        probe=Probe(
            "GET",
            "/zones/{zone_id}",
            sdk="zones.get",
            sdk_args={"zone_id": "{zone_id}"},
            conclusive=False,
            # Zone Details accepts far more than Zone Read (API reference, Accepted Permissions:
            # https://developers.cloudflare.com/api/resources/zones/methods/get/).
            inconclusive_because="it also succeeds with DNS Read, SSL and Certificates, Workers "
            "Scripts and other zone permissions, so it cannot prove Zone Read",
        ),
    ),
    Permission(
        api_name="DNS Write",
        scope="zone",
        category="dns_and_zones",
        category_verified=True,
        dashboard_name="DNS",
        access="Edit",
        template_key="dns",
        template_key_documented=True,
        needed_by={"origin": "create the proxied DNS record for the origin hostname (DnsRecord)"},
        probe=Probe(
            "GET",
            "/zones/{zone_id}/dns_records",
            {"per_page": "5"},
            sdk="dns.records.list",
            sdk_args={"zone_id": "{zone_id}", "per_page": 5},
        ),
    ),
    Permission(
        api_name="SSL and Certificates Write",
        scope="zone",
        category="app_security",
        category_verified=False,
        dashboard_name="SSL and Certificates",
        access="Edit",
        template_key="ssl_and_certificates",
        template_key_documented=True,
        needed_by={
            "origin": "issue the origin server's Origin CA certificate (OriginCaCertificate, "
            "POST /certificates); without it Cloudflare answers error 1016",
        },
        probe=Probe(
            "GET",
            "/certificates",
            {"zone_id": "{zone_id}"},
            sdk="origin_ca_certificates.list",
            sdk_args={"zone_id": "{zone_id}"},
        ),
    ),
)

ERROR_1016 = (
    'Cloudflare error 1016 ("User is not authorized to perform this action") when creating an '
    "Origin CA certificate means the API token lacks Zone | SSL and Certificates | Edit on that "
    "zone. Add that permission to the token (`flaregate check-token --feature origin` prints a "
    "link); no Origin CA Key is needed, Cloudflare is retiring those."
)

# Permission groups that let a token read its own policies (user-owned / account-owned tokens).
SELF_READ_PERMISSIONS = {"user": "API Tokens Read", "account": "Account API Tokens Read"}


def needed_for(features: list[str] | tuple[str, ...]) -> list[Permission]:
    """The permissions the given features need, in table order. ``core`` is always included."""
    unknown = sorted(set(features) - set(FEATURES))
    if unknown:
        from .errors import ConfigError

        raise ConfigError(f"unknown feature(s) {', '.join(unknown)}; known: {', '.join(FEATURES)}")
    wanted = {"core", *features}
    chosen = [p for p in PERMISSIONS if wanted & set(p.needed_by)]
    # An Edit grant includes Read: asking for both would put one group twice on the token.
    edits = {p.read_name for p in chosen if p.access == "Edit"}
    return [p for p in chosen if not (p.access == "Read" and p.api_name in edits)]


def permissions_markdown() -> str:
    """docs/permissions.md, generated from PERMISSIONS."""
    lines = [
        "# Cloudflare API token permissions",
        "",
        "<!-- Generated by `flaregate docs` from flaregate/permissions.py. Do not edit. -->",
        "",
        "flaregate works with a scoped API token, never the Global API Key.",
        "`flaregate check-token` checks a token against this table and prints a dashboard link",
        "that pre-fills a token with exactly what your features need; `flaregate deploy` runs",
        "the same check before changing anything.",
        "",
        "## Features",
        "",
        "| Feature | What it is |",
        "|---|---|",
    ]
    lines += [f"| `{name}` | {text} |" for name, text in FEATURES.items()]
    lines += [
        "",
        "## Permissions",
        "",
        "Dashboard: scope | category | permission | access, as in *Create Custom Token*. API: the "
        "permission group name in token policies and API responses.",
        "",
        "| Dashboard | API name | Template key | Needed by | Why | Probe |",
        "|---|---|---|---|---|---|",
    ]
    for p in PERMISSIONS:
        # Pipes inside a table cell must be escaped.
        dashboard = p.dashboard_path.replace("|", "\\|") + (
            "" if p.category_verified else " (category unverified)"
        )
        key = f"`{p.template_key}` / `{p.template_type}`" + (
            "" if p.template_key_documented else " (undocumented)"
        )
        for feature, why in p.needed_by.items():
            lines.append(
                f"| {dashboard} | {p.api_name} | {key} | `{feature}` | {why} | "
                f"`{p.probe.describe()}` |"
            )
    lines += [
        "",
        "## How check-token decides",
        "",
        "- **granted**: the token's own policies grant it on the account (and zone), no deny "
        "policy takes it away, and it is not expired; or, for a Read permission, its probe "
        "succeeded and proves it (not Zone Read: `GET /zones/{id}` also answers to DNS Read, "
        "SSL and Certificates, Workers Scripts and other zone permissions).",
        "- **missing**: the policies do not grant it, a deny policy removes it, or its probe was "
        "refused (403, error 9109 or 10000).",
        "- **unverified**: neither could be established: the token may not read its own policies "
        "(that needs User | API Tokens | Read, or Account API Tokens Read for account-owned "
        "tokens) and a read probe cannot prove *Edit* access (nor Zone Read), no zone id was "
        "given for a zone permission, or the API failed.",
        "",
        "A deploy refuses to start when something is **missing**; **unverified** permissions "
        "are listed as warnings. `check-token` exits 0 only when everything is **granted**.",
        "",
        "## Origin CA and error 1016",
        "",
        ERROR_1016,
        "",
        "## Template keys",
        "",
        "The pre-filled link uses the dashboard's `permissionGroupKeys` parameter. Keys marked "
        "undocumented were seen only in third-party code; the dashboard silently drops a key it "
        "does not know, so check the pre-filled form before creating the token.",
        "",
    ]
    return "\n".join(lines)
