"""Stack config (namespace ``flaregate``, camelCase keys) -> one validated :class:`StackSettings`.

The keys are data (:data:`CONFIG_KEYS`): this module parses them, ``flaregate deploy --set`` checks
names against them, ``docs/stack-config.md`` is generated from them, and the Pulumi program
(:mod:`flaregate.infra.program`) reads the running stack's values through them. Keys that feed the
Worker build a :class:`flaregate.config.WorkerConfig`, so ``pulumi up`` uploads exactly what
``flaregate render`` writes. Every bad value is one :class:`ConfigError` naming the key.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .config import WorkerConfig
from .errors import ConfigError

NAMESPACE = "flaregate"
REQUIRED = object()
HOSTNAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
CLOUDFLARE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
ORIGIN_REQUEST_TYPES = ("origin-rsa", "origin-ecc")
# Validities Cloudflare's Origin CA issues, in days (POST /certificates, requested_validity).
ORIGIN_VALIDITY_DAYS = (7, 30, 90, 365, 730, 1095, 5475)
RATE_LIMIT_TECHNIQUES = ("fixed", "sliding")


@dataclass(frozen=True)
class ConfigKey:
    key: str
    """The camelCase key after ``flaregate:``."""
    kind: str
    """How the text value is parsed: string, int, bool, list (JSON or comma-separated), json."""
    help: str
    default: Any = None
    """None: unset; REQUIRED: must be set. Keys with ``field`` default to WorkerConfig's."""
    field: str | None = None
    """The WorkerConfig field this key sets, if any."""
    secret: bool = False
    """Set with ``pulumi config set --secret``; never echoed in errors."""
    choices: tuple = ()


_WORKER_DEFAULTS = WorkerConfig()

CONFIG_KEYS: tuple[ConfigKey, ...] = (
    ConfigKey(
        "accountId",
        "string",
        "Cloudflare account id (`flaregate deploy` takes it from `CLOUDFLARE_ACCOUNT_ID`).",
        REQUIRED,
    ),
    ConfigKey(
        "workerName",
        "string",
        "Worker name; also names the KV namespace (`<name>-keys`).",
        field="worker_name",
    ),
    ConfigKey(
        "compatibilityDate", "string", "Workers compatibility date.", field="compatibility_date"
    ),
    ConfigKey(
        "gatewayId",
        "string",
        'AI Gateway id; default: the Worker name; `""` calls Workers AI without a gateway.',
    ),
    ConfigKey("gatewayCollectLogs", "bool", "AI Gateway keeps request logs.", True),
    ConfigKey(
        "gatewayCacheTtl",
        "int",
        "Seconds AI Gateway caches identical requests; 0 turns caching off.",
        0,
    ),
    ConfigKey(
        "gatewayCacheHeaders",
        "bool",
        "Honour clients' `cf-aig-skip-cache` / `cf-aig-cache-ttl` headers.",
        field="gateway_cache_headers",
    ),
    ConfigKey(
        "gatewayRateLimit",
        "int",
        "Requests per interval AI Gateway lets through; 0 turns rate limiting off.",
        0,
    ),
    ConfigKey("gatewayRateLimitInterval", "int", "Rate-limit window in seconds.", 60),
    ConfigKey(
        "gatewayRateLimitTechnique",
        "string",
        "Rate-limit window: `fixed` or `sliding`.",
        "fixed",
        choices=RATE_LIMIT_TECHNIQUES,
    ),
    ConfigKey(
        "corsOrigins",
        "list",
        'Browser origins allowed to call the API (`["*"]` for any).',
        field="cors_origins",
    ),
    ConfigKey("maxBodyBytes", "int", "Largest request body accepted.", field="max_body_bytes"),
    ConfigKey("timeoutMs", "int", "Deadline for a whole non-streamed answer.", field="timeout_ms"),
    ConfigKey(
        "firstTokenTimeoutMs",
        "int",
        "Deadline for a stream's first output.",
        field="first_token_timeout_ms",
    ),
    ConfigKey(
        "idleTimeoutMs", "int", "Deadline between two outputs of a stream.", field="idle_timeout_ms"
    ),
    ConfigKey(
        "authCacheSeconds",
        "int",
        "Seconds a found key is cached in the Worker (at most 60).",
        field="auth_cache_seconds",
    ),
    ConfigKey(
        "authNegativeCacheSeconds",
        "int",
        "Seconds an unknown key is cached.",
        field="auth_negative_cache_seconds",
    ),
    ConfigKey(
        "models",
        "json",
        "Extra or replacement catalog entries (JSON list, fields as in `flaregate/data/models.json`).",
        field="models",
    ),
    ConfigKey(
        "aliases",
        "json",
        'Extra aliases (JSON object, `{"my-model": "@cf/..."}`).',
        field="aliases",
    ),
    ConfigKey(
        "fallbacks",
        "json",
        "Per alias, models to try when Workers AI is out of capacity (JSON object).",
        field="fallbacks",
    ),
    ConfigKey(
        "retiredModels",
        "string",
        "A request for a model Cloudflare retired: `reject` (404 naming the replacement) or "
        "`replace` (the replacement answers; a response header says so).",
        "reject",
        choices=("reject", "replace"),
        field="retired_models",
    ),
    ConfigKey(
        "customDomain",
        "string",
        "Serve the API on this hostname (a Workers Custom Domain) instead of workers.dev.",
    ),
    ConfigKey(
        "zoneId",
        "string",
        "Zone of `customDomain` / `originHostname`; required with `originHostname`.",
    ),
    ConfigKey(
        "workersDev",
        "bool",
        "Keep the workers.dev URL on; default: on unless `customDomain` is set.",
    ),
    ConfigKey(
        "workersDevSubdomain",
        "string",
        "Your account's workers.dev subdomain, for the `url` output (`flaregate deploy` looks it up).",
    ),
    ConfigKey(
        "originHostname",
        "string",
        "Hostname of your own OpenAI-compatible server, proxied by Cloudflare (see docs/origin.md).",
    ),
    ConfigKey(
        "originAddress",
        "string",
        "Where `originHostname` points: an IPv4/IPv6 address (A/AAAA) or a hostname (CNAME).",
    ),
    ConfigKey(
        "originModels",
        "list",
        "Models the origin serves, asked for as `origin/<name>`; empty forwards any `origin/<name>`.",
        field="origin_models",
    ),
    ConfigKey(
        "originRequestType",
        "string",
        "Origin CA key type: `origin-rsa` or `origin-ecc`.",
        "origin-rsa",
        choices=ORIGIN_REQUEST_TYPES,
    ),
    ConfigKey(
        "originValidityDays",
        "int",
        "Origin CA certificate validity in days.",
        5475,
        choices=ORIGIN_VALIDITY_DAYS,
    ),
    ConfigKey(
        "originSecret",
        "string",
        "Shared secret the Worker sends to the origin; default: generated and kept in the stack state.",
        secret=True,
    ),
)
KEYS_BY_NAME = {k.key: k for k in CONFIG_KEYS}


@dataclass(frozen=True)
class GatewaySettings:
    id: str
    collect_logs: bool
    cache_ttl: int
    rate_limit: int
    rate_limit_interval: int
    rate_limit_technique: str


@dataclass(frozen=True)
class OriginSettings:
    hostname: str
    address: str
    request_type: str
    validity_days: int
    secret: str | None = field(default=None, repr=False)
    """Operator-chosen shared secret (``originSecret``); None: the program generates one."""

    @property
    def url(self) -> str:
        return f"https://{self.hostname}"

    @property
    def dns_type(self) -> str:
        try:
            return "AAAA" if ipaddress.ip_address(self.address).version == 6 else "A"
        except ValueError:
            return "CNAME"


@dataclass(frozen=True)
class StackSettings:
    account_id: str
    worker: WorkerConfig
    gateway: GatewaySettings | None
    custom_domain: str | None
    zone_id: str | None
    workers_dev: bool
    workers_dev_subdomain: str | None
    origin: OriginSettings | None
    unknown_keys: tuple[str, ...] = ()
    """Keys under ``flaregate:`` that mean nothing here (typos); the program warns about them."""

    @property
    def url(self) -> str | None:
        """The public endpoint, when it can be known without asking Cloudflare."""
        if self.custom_domain:
            return f"https://{self.custom_domain}"
        if self.workers_dev and self.workers_dev_subdomain:
            return f"https://{self.worker.worker_name}.{self.workers_dev_subdomain}.workers.dev"
        return None


def load_settings(values: Mapping[str, Any]) -> StackSettings:
    """Build the settings from ``{camelCaseKey: value}`` (values as Pulumi hands them: text)."""
    parsed = {k.key: _parse(k, values.get(k.key)) for k in CONFIG_KEYS}
    unknown = tuple(sorted(set(values) - set(KEYS_BY_NAME)))

    def get(key: str) -> Any:
        value = parsed[key]
        spec = KEYS_BY_NAME[key]
        if value is None and spec.default is REQUIRED:
            raise ConfigError(
                f"{NAMESPACE}:{key} is required: {spec.help} "
                f"Set it with `pulumi config set {NAMESPACE}:{key} <value>`."
            )
        return spec.default if value is None else value

    account_id = _cloudflare_id("accountId", get("accountId"))
    zone_id = _cloudflare_id("zoneId", get("zoneId")) if get("zoneId") else None
    custom_domain = _hostname("customDomain", get("customDomain"))
    workers_dev = get("workersDev")
    if workers_dev is None:
        workers_dev = custom_domain is None
    if not workers_dev and not custom_domain:
        raise ConfigError(
            f"{NAMESPACE}:workersDev is false and {NAMESPACE}:customDomain is not set: the API "
            "would have no URL. Set customDomain or turn workersDev back on."
        )
    origin = _origin(get, zone_id, custom_domain)
    gateway_id = get("gatewayId")
    if gateway_id is None:  # default: a gateway named like the Worker
        gateway_id = get("workerName") or _WORKER_DEFAULTS.worker_name
    worker = _worker_config({**parsed, "gatewayId": gateway_id}, origin)
    gateway = None
    if gateway_id:
        gateway = GatewaySettings(
            id=gateway_id,
            collect_logs=get("gatewayCollectLogs"),
            cache_ttl=_non_negative("gatewayCacheTtl", get("gatewayCacheTtl")),
            rate_limit=_non_negative("gatewayRateLimit", get("gatewayRateLimit")),
            rate_limit_interval=_positive(
                "gatewayRateLimitInterval", get("gatewayRateLimitInterval")
            ),
            rate_limit_technique=get("gatewayRateLimitTechnique"),
        )
    return StackSettings(
        account_id=account_id,
        worker=worker,
        gateway=gateway,
        custom_domain=custom_domain,
        zone_id=zone_id,
        workers_dev=workers_dev,
        workers_dev_subdomain=_subdomain(get("workersDevSubdomain")),
        origin=origin,
        unknown_keys=unknown,
    )


def did_you_mean(key: str) -> str:
    close = difflib.get_close_matches(key, KEYS_BY_NAME, n=1)
    return f"; did you mean {NAMESPACE}:{close[0]}?" if close else ""


def stack_config_markdown() -> str:
    """docs/stack-config.md: every key, generated from CONFIG_KEYS."""
    lines = [
        "# Stack config",
        "",
        "<!-- Generated from flaregate/stack_config.py CONFIG_KEYS by `flaregate docs`; do not edit. -->",
        "",
        f"Keys live in the `{NAMESPACE}` namespace of the Pulumi stack: `pulumi config set "
        f"{NAMESPACE}:<key> <value>`, or `flaregate deploy --set <key>=<value>`. Lists take JSON "
        '(`["a", "b"]`) or comma-separated text. Keys that shape the Worker itself can also be set, '
        "by their `flaregate.toml` name, for `flaregate render --config flaregate.toml`.",
        "",
        "| key | `flaregate.toml` | type | default | meaning |",
        "|---|---|---|---|---|",
    ]
    for spec in CONFIG_KEYS:
        kind = spec.kind + (", secret" if spec.secret else "")
        toml = f"`{spec.field}`" if spec.field else ""
        lines.append(f"| `{spec.key}` | {toml} | {kind} | {_default_text(spec)} | {spec.help} |")
    return "\n".join(lines) + "\n"


# --- parsing ---------------------------------------------------------------------------------


def _parse(spec: ConfigKey, raw: Any) -> Any:
    if raw is None:
        return None
    shown = "a secret value" if spec.secret else repr(raw)
    where = f"{NAMESPACE}:{spec.key}"
    if spec.kind == "string":
        if not isinstance(raw, str):
            raise ConfigError(f"{where} must be text, got {shown}")
        value = raw.strip()
    elif spec.kind == "bool":
        value = _bool(where, raw, shown)
    elif spec.kind == "int":
        value = _int(where, raw, shown)
    elif spec.kind == "list":
        value = _list(where, raw, shown)
    else:
        value = _json(where, raw)
    if spec.choices and value not in spec.choices:
        options = ", ".join(str(c) for c in spec.choices)
        raise ConfigError(f"{where} must be one of {options}; got {shown}")
    return value


def _bool(where: str, raw: Any, shown: str) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("true", "yes", "1", "on"):
        return True
    if text in ("false", "no", "0", "off"):
        return False
    raise ConfigError(f"{where} must be true or false, got {shown}")


def _int(where: str, raw: Any, shown: str) -> int:
    if isinstance(raw, bool):
        raise ConfigError(f"{where} must be a whole number, got {shown}")
    if isinstance(raw, float) and raw.is_integer():
        return int(raw)
    try:
        return int(str(raw).strip())
    except ValueError:
        raise ConfigError(f"{where} must be a whole number, got {shown}") from None


def _list(where: str, raw: Any, shown: str) -> list[str]:
    if isinstance(raw, str):
        text = raw.strip()
        if text.startswith("["):
            raw = _json(where, text)
        else:
            return [part.strip() for part in text.split(",") if part.strip()]
    if not isinstance(raw, list) or not all(isinstance(v, str) for v in raw):
        raise ConfigError(f"{where} must be a list of text values, got {shown}")
    return raw


def _json(where: str, raw: Any) -> Any:
    if not isinstance(raw, str):
        return raw
    try:
        return json.loads(raw)
    except json.JSONDecodeError as err:
        raise ConfigError(f"{where} is not valid JSON: {err}") from None


def _worker_config(parsed: dict[str, Any], origin: OriginSettings | None) -> WorkerConfig:
    data = {
        spec.field: parsed[spec.key]
        for spec in CONFIG_KEYS
        if spec.field and parsed[spec.key] is not None
    }
    data["gateway_id"] = parsed.get("gatewayId") or None
    data["origin_url"] = origin.url if origin else None
    if not origin:
        data.pop("origin_models", None)
    try:
        return WorkerConfig(**data)
    except ConfigError as err:
        raise ConfigError(_camel_case_keys(str(err))) from None
    except TypeError as err:  # a JSON value of the wrong shape, e.g. models as an object
        raise ConfigError(f"{NAMESPACE} config: {err}") from None


def _camel_case_keys(message: str) -> str:
    """WorkerConfig names its snake_case fields; stack config users know the camelCase keys."""
    by_field = {spec.field: spec.key for spec in CONFIG_KEYS if spec.field}
    by_field["gateway_id"] = "gatewayId"
    by_field["origin_url"] = "originHostname"
    pattern = re.compile(r"\b(" + "|".join(sorted(by_field, key=len, reverse=True)) + r")\b")
    return pattern.sub(lambda m: f"{NAMESPACE}:{by_field[m.group(1)]}", message)


def _origin(get, zone_id: str | None, custom_domain: str | None) -> OriginSettings | None:
    hostname = _hostname("originHostname", get("originHostname"))
    address = get("originAddress")
    if not hostname:
        if address:
            raise ConfigError(
                f"{NAMESPACE}:originAddress is set but {NAMESPACE}:originHostname is not: set the "
                "hostname the Worker should reach your origin at (e.g. llm.example.com)"
            )
        return None
    if not address:
        raise ConfigError(
            f"{NAMESPACE}:originAddress is required with originHostname: the IP address or "
            "hostname of your origin server (the proxied DNS record points there)"
        )
    _address("originAddress", address)
    if not zone_id:
        raise ConfigError(
            f"{NAMESPACE}:zoneId is required with originHostname: the id of the Cloudflare zone "
            f"{hostname} is in (dashboard > your domain > Overview > Zone ID)"
        )
    if hostname == custom_domain:
        raise ConfigError(
            f"{NAMESPACE}:originHostname must differ from customDomain: the Worker serves "
            f"{hostname}, the origin needs a hostname of its own"
        )
    secret = get("originSecret")
    if secret is not None and len(secret) < 32:
        raise ConfigError(f"{NAMESPACE}:originSecret must be at least 32 characters long")
    return OriginSettings(
        hostname=hostname,
        address=address,
        request_type=get("originRequestType"),
        validity_days=get("originValidityDays"),
        secret=secret or None,
    )


def _hostname(key: str, value: str | None) -> str | None:
    if not value:
        return None
    host = value.lower().removeprefix("https://").rstrip("/")
    if not HOSTNAME.match(host):
        raise ConfigError(
            f"{NAMESPACE}:{key} {value!r} is not a hostname; use a name like api.example.com"
        )
    return host


def _address(key: str, value: str) -> None:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        if not HOSTNAME.match(value.lower()):
            raise ConfigError(
                f"{NAMESPACE}:{key} {value!r} is neither an IP address nor a hostname"
            ) from None


def _cloudflare_id(key: str, value: str) -> str:
    if not CLOUDFLARE_ID.match(value):
        raise ConfigError(
            f"{NAMESPACE}:{key} {value!r} does not look like a Cloudflare id: copy the 32 "
            "hex characters from the dashboard (Account ID / Zone ID on the Overview page)"
        )
    return value


def _subdomain(value: str | None) -> str | None:
    if not value:
        return None
    value = value.removesuffix(".workers.dev")
    if not re.match(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", value):
        raise ConfigError(
            f"{NAMESPACE}:workersDevSubdomain {value!r} is not a workers.dev subdomain"
        )
    return value


def _positive(key: str, value: int) -> int:
    if value <= 0:
        raise ConfigError(f"{NAMESPACE}:{key} must be a positive whole number, got {value}")
    return value


def _non_negative(key: str, value: int) -> int:
    if value < 0:
        raise ConfigError(f"{NAMESPACE}:{key} must be 0 or more, got {value}")
    return value


def _default_text(spec: ConfigKey) -> str:
    if spec.default is REQUIRED:
        return "**required**"
    default = getattr(_WORKER_DEFAULTS, spec.field) if spec.field else spec.default
    if default is None or default == [] or default == {}:
        return "—"
    return f"`{json.dumps(default)}`"
