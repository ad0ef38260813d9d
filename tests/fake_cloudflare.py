"""A local fake of the Cloudflare REST API, for the official `cloudflare` SDK to talk to.

The SDK reaches it through ``base_url=http://127.0.0.1:PORT/client/v4``. It answers with
Cloudflare's documented envelope ``{success, errors:[{code, message}], messages, result,
result_info}`` and error codes:

- 401 + 1000 "Invalid API Token" for an unknown token, and for an account-owned token on
  ``/user/tokens/verify`` (that endpoint only knows user tokens);
- 403 + 9109 "Unauthorized to access requested resource" / 10000 "Authentication error" when
  the token lacks a permission the endpoint accepts;
- 429 + ``Retry-After`` and 5xx, injected per test with :meth:`FakeCloudflare.fail`.

Authorization is this module's own small evaluation of the token's policies against the
"Accepted Permissions" each endpoint lists in Cloudflare's API reference, deliberately written
independently of flaregate/token_audit.py so the two check each other.

Besides the token and KV routes, it serves what `flaregate deploy` reads itself: the account's
workers.dev subdomain (``GET /accounts/{id}/workers/subdomain``), what `flaregate models
sync` reads: the Workers AI model list (``GET /accounts/{id}/ai/models/search``, paged) and a
model's schema (``GET /accounts/{id}/ai/models/schema?model=``), from :attr:`ai_models` and
:attr:`ai_schemas` (tests/fixtures/cloudflare-api/workers-ai-models.json holds recorded ones),
and the AI Gateway logs `flaregate usage` reads
(``GET /accounts/{id}/ai-gateway/gateways/{gateway}/logs``, shaped as the SDK's
``LogListResponse``, newest first, paged by ``page``/``per_page``). Pulumi's own calls never reach
it (the deploy tests fake Pulumi at the Automation API, tests/fake_pulumi.py).

KV lives either in memory or, for end-to-end tests, in the Miniflare KV namespace the Worker
reads (through the local runner's control API, flaregate/local/runner.mjs), so keys written through the SDK are
the keys the Worker accepts.
"""

from __future__ import annotations

import email.parser
import email.policy
import functools
import json
import re
import secrets
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ACCOUNT = "0123456789abcdef0123456789abcdef"
OTHER_ACCOUNT = "fedcba9876543210fedcba9876543210"
ZONE = "aaaabbbbccccddddeeeeffff00001111"
OTHER_ZONE = "9999888877776666555544443333aaaa"
NAMESPACE = "5f0e0d0c0b0a09080706050403020100"
USER_ID = "7c5dae5552338874e5053f2534d2767a"

# Permission groups as GET /user/tokens/permission_groups lists them (ids are made up here).
PERMISSION_GROUPS: list[dict[str, Any]] = [
    {"id": f"{i:032x}", "name": name, "scopes": [scope], "category": category}
    for i, (name, scope, category) in enumerate(
        [
            ("Workers Scripts Write", "com.cloudflare.api.account", "developer_platform"),
            ("Workers Scripts Read", "com.cloudflare.api.account", "developer_platform"),
            ("Workers KV Storage Write", "com.cloudflare.api.account", "developer_platform"),
            ("Workers KV Storage Read", "com.cloudflare.api.account", "developer_platform"),
            ("AI Gateway Write", "com.cloudflare.api.account", "ai_and_machine_learning"),
            ("AI Gateway Read", "com.cloudflare.api.account", "ai_and_machine_learning"),
            ("Workers AI Read", "com.cloudflare.api.account", "ai_and_machine_learning"),
            ("Workers AI Write", "com.cloudflare.api.account", "ai_and_machine_learning"),
            ("Account Settings Read", "com.cloudflare.api.account", "account_and_billing"),
            ("Account API Tokens Read", "com.cloudflare.api.account", "account_and_billing"),
            ("Billing Read", "com.cloudflare.api.account", "account_and_billing"),
            ("Zone Read", "com.cloudflare.api.account.zone", "dns_and_zones"),
            ("Zone Write", "com.cloudflare.api.account.zone", "dns_and_zones"),
            ("DNS Write", "com.cloudflare.api.account.zone", "dns_and_zones"),
            ("DNS Read", "com.cloudflare.api.account.zone", "dns_and_zones"),
            ("SSL and Certificates Write", "com.cloudflare.api.account.zone", "app_security"),
            ("SSL and Certificates Read", "com.cloudflare.api.account.zone", "app_security"),
            ("Workers Routes Write", "com.cloudflare.api.account.zone", "developer_platform"),
            ("API Tokens Read", "com.cloudflare.api.user", "account_and_billing"),
            ("API Tokens Write", "com.cloudflare.api.user", "account_and_billing"),
        ],
        start=1,
    )
]
GROUP_ID = {g["name"]: g["id"] for g in PERMISSION_GROUPS}
GROUP_NAME = {g["id"]: g["name"] for g in PERMISSION_GROUPS}

# Accepted Permissions of Zone Details (GET /zones/{zone_id}), as the API reference lists them
# (https://developers.cloudflare.com/api/resources/zones/methods/get/): besides Zone Read/Write,
# DNS, SSL and Certificates, Workers Scripts and Workers Routes, among many more not modelled.
ZONE_DETAILS_ACCEPTS = [
    "Zone Read",
    "Zone Write",
    "DNS Read",
    "DNS Write",
    "SSL and Certificates Read",
    "SSL and Certificates Write",
    "Workers Scripts Read",
    "Workers Scripts Write",
    "Workers Routes Write",
]

ALL_DEPLOY = [
    "Workers Scripts Write",
    "Workers KV Storage Write",
    "AI Gateway Write",
]
ZONE_DEPLOY = ["Zone Read", "DNS Write", "SSL and Certificates Write"]


def policy(
    names: list[str],
    resources: dict[str, Any],
    effect: str = "allow",
    with_names: bool = True,
) -> dict[str, Any]:
    groups = [{"id": GROUP_ID[n], **({"name": n} if with_names else {})} for n in names]
    return {
        "id": secrets.token_hex(16),
        "effect": effect,
        "permission_groups": groups,
        "resources": resources,
    }


def account_res(account: str = ACCOUNT) -> dict[str, str]:
    return {f"com.cloudflare.api.account.{account}": "*"}


def zone_res(zone: str = ZONE) -> dict[str, str]:
    return {f"com.cloudflare.api.account.zone.{zone}": "*"}


def user_res() -> dict[str, str]:
    return {f"com.cloudflare.api.user.{USER_ID}": "*"}


@dataclass
class FakeToken:
    value: str
    id: str
    owner: str = "user"
    """"user" or "account" (account-owned tokens are refused by /user/tokens/verify)."""
    account: str = ACCOUNT
    status: str = "active"
    expires_on: str | None = None
    not_before: str | None = None
    policies: list[dict[str, Any]] = field(default_factory=list)
    request_ip_in: list[str] = field(default_factory=list)
    request_ip_not_in: list[str] = field(default_factory=list)

    def details(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": "flaregate test token",
            "status": self.status,
            "issued_on": "2026-01-01T00:00:00Z",
            "modified_on": "2026-01-01T00:00:00Z",
            "expires_on": self.expires_on,
            "not_before": self.not_before,
            "condition": {
                "request_ip": {"in": self.request_ip_in, "not_in": self.request_ip_not_in}
            }
            if self.request_ip_in or self.request_ip_not_in
            else {},
            "policies": self.policies,
        }


def make_token(policies: list[dict[str, Any]], **kwargs: Any) -> FakeToken:
    return FakeToken(
        value="cf-test-" + secrets.token_urlsafe(24),
        id=secrets.token_hex(16),
        policies=policies,
        **kwargs,
    )


# --- scenarios -------------------------------------------------------------------------------
def full_token(self_read: bool = True, **kwargs: Any) -> FakeToken:
    """Everything every feature needs, on ACCOUNT and ZONE, and (optionally) API Tokens Read."""
    policies = [policy(ALL_DEPLOY, account_res()), policy(ZONE_DEPLOY, zone_res())]
    if self_read:
        policies.append(policy(["API Tokens Read"], user_res()))
    return make_token(policies, **kwargs)


def token_without_ssl(self_read: bool = True) -> FakeToken:
    policies = [
        policy(ALL_DEPLOY, account_res()),
        policy(["Zone Read", "DNS Write"], zone_res()),
    ]
    if self_read:
        policies.append(policy(["API Tokens Read"], user_res()))
    return make_token(policies)


def token_that_cannot_read_itself() -> FakeToken:
    return full_token(self_read=False)


def expired_token() -> FakeToken:
    past = (datetime.now(UTC) - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return full_token(status="expired", expires_on=past)


def account_owned_token(self_read: bool = True) -> FakeToken:
    policies = [policy(ALL_DEPLOY, account_res()), policy(ZONE_DEPLOY, zone_res())]
    if self_read:
        policies.append(policy(["Account API Tokens Read"], account_res()))
    return make_token(policies, owner="account")


def wrong_zone_token(self_read: bool = True) -> FakeToken:
    policies = [policy(ALL_DEPLOY, account_res()), policy(ZONE_DEPLOY, zone_res(OTHER_ZONE))]
    if self_read:
        policies.append(policy(["API Tokens Read"], user_res()))
    return make_token(policies)


# --- KV backends -----------------------------------------------------------------------------
class KVRefused(Exception):
    """A put KV itself refuses (for example an expiration less than 60 s ahead)."""


class InMemoryKV:
    def __init__(self) -> None:
        self.entries: dict[str, tuple[bytes, int | None, Any]] = {}
        self.lock = threading.Lock()

    def _live(self) -> dict[str, tuple[bytes, int | None, Any]]:
        now = time.time()
        return {k: v for k, v in self.entries.items() if v[1] is None or v[1] > now}

    def put(self, key: str, value: bytes, expiration: int | None, metadata: Any) -> None:
        if expiration is not None and expiration < time.time() + 60:
            raise KVRefused(
                f"Invalid expiration of {expiration}. Expiration times must be at least 60 "
                "seconds in the future."
            )
        with self.lock:
            self.entries[key] = (value, expiration, metadata)

    def get(self, key: str) -> bytes | None:
        with self.lock:
            entry = self._live().get(key)
        return entry[0] if entry else None

    def delete(self, key: str) -> None:
        with self.lock:
            self.entries.pop(key, None)

    def list(self, prefix: str) -> list[dict[str, Any]]:
        with self.lock:
            live = self._live()
        return [_key_item(k, e, m) for k, (_, e, m) in sorted(live.items()) if k.startswith(prefix)]


def _key_item(name: str, expiration: int | None, metadata: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"name": name}
    if expiration:
        item["expiration"] = expiration
    if metadata is not None:
        item["metadata"] = metadata
    return item


class WorkerKV:
    """The KEYS namespace of the Worker running in workerd, via worker-runner's control API."""

    def __init__(self, control: str) -> None:
        self.control = control

    def _call(self, method: str, path: str, data: bytes | None = None, headers=None) -> bytes:
        request = urllib.request.Request(
            self.control + path, data=data, method=method, headers=headers or {}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.read()

    def put(self, key: str, value: bytes, expiration: int | None, metadata: Any) -> None:
        query = f"?expiration={expiration}" if expiration else ""
        headers = {"x-kv-metadata": json.dumps(metadata)} if metadata is not None else {}
        try:
            self._call("PUT", f"/kv/{urllib.parse.quote(key, safe='')}{query}", value, headers)
        except urllib.error.HTTPError as err:
            raise KVRefused(json.loads(err.read() or b"{}").get("error", str(err))) from None

    def get(self, key: str) -> bytes | None:
        try:
            return self._call("GET", f"/kv/{urllib.parse.quote(key, safe='')}")
        except urllib.error.HTTPError as err:
            if err.code == 404:
                return None
            raise

    def delete(self, key: str) -> None:
        self._call("DELETE", f"/kv/{urllib.parse.quote(key, safe='')}")

    def list(self, prefix: str) -> list[dict[str, Any]]:
        body = json.loads(self._call("GET", f"/kv?prefix={urllib.parse.quote(prefix)}"))
        return [_key_item(k["name"], k.get("expiration"), k.get("metadata")) for k in body["keys"]]


# --- the server ------------------------------------------------------------------------------
@dataclass
class Failure:
    pattern: re.Pattern[str]
    status: int
    code: int
    message: str
    times: int
    retry_after: int | None = None
    after: bool = False
    """Apply the request, then answer with the error (a write that 'failed' but went through)."""


class ApiError(Exception):
    def __init__(self, status: int, code: int, message: str, headers: dict | None = None):
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def _unauthorized(code: int = 9109) -> ApiError:
    text = "Unauthorized to access requested resource" if code == 9109 else "Authentication error"
    return ApiError(403, code, text)


class FakeCloudflare:
    """The fake API. ``base_url`` is what the SDK's ``base_url`` must be."""

    def __init__(self, kv: InMemoryKV | WorkerKV | None = None) -> None:
        self.tokens: dict[str, FakeToken] = {}
        self.zones = {ZONE: ACCOUNT, OTHER_ZONE: ACCOUNT}
        self.namespaces = {NAMESPACE: ACCOUNT}
        self.subdomains = {ACCOUNT: "acme"}
        """account id -> its workers.dev subdomain; an account without one answers 404."""
        self.gateway_logs: dict[tuple[str, str], list[dict[str, Any]]] = {}
        """(account id, gateway id) -> its logs; a gateway not in here answers 404."""
        self.ai_models: list[dict[str, Any]] = []
        """Workers AI model list entries, as models search returns them."""
        self.ai_schemas: dict[str, dict[str, Any]] = {}
        """Model name -> its {input, output} schema."""
        self.kv = kv or InMemoryKV()
        self.kv_page_size = 1000
        self.failures: list[Failure] = []
        self.requests: list[dict[str, Any]] = []
        self.violations: list[str] = []
        """Answers that do not fit the SDK's response model for their endpoint."""
        self.unrouted: list[str] = []
        """Requests for which the fake has no route (the SDK reached an endpoint not modelled)."""
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/client/v4"

    def start(self) -> FakeCloudflare:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        if self.violations:
            raise AssertionError(
                "the fake Cloudflare API answered outside the SDK's response models:\n  "
                + "\n  ".join(self.violations)
            )

    def __enter__(self) -> FakeCloudflare:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def add(self, token: FakeToken) -> FakeToken:
        self.tokens[token.value] = token
        return token

    def fail(
        self,
        path_regex: str,
        status: int,
        code: int,
        message: str,
        times: int = 1,
        retry_after: int | None = None,
        method: str = ".*",
        after: bool = False,
    ) -> None:
        """The next ``times`` requests matching ``METHOD /path`` get this error."""
        pattern = re.compile(f"^(?:{method}) {path_regex}")
        self.failures.append(Failure(pattern, status, code, message, times, retry_after, after))

    def client(self, token: FakeToken | str, max_retries: int = 0):
        from flaregate.cloudflare_api import make_client

        value = token.value if isinstance(token, FakeToken) else token
        return make_client(value, base_url=self.base_url, max_retries=max_retries, environ={})

    def paths(self, method: str | None = None) -> list[str]:
        return [r["path"] for r in self.requests if method is None or r["method"] == method]

    # --- authorization (independent of flaregate's evaluation) ------------------------------
    def _granted(
        self,
        token: FakeToken,
        accepted: list[str],
        account: str | None = None,
        zone: str | None = None,
        user: bool = False,
    ) -> bool:
        def names(p: dict[str, Any]) -> set[str]:
            return {g.get("name") or GROUP_NAME.get(g["id"], "") for g in p["permission_groups"]}

        def matches(resources: dict[str, Any]) -> bool:
            for key, value in resources.items():
                if user and key.startswith("com.cloudflare.api.user.") and value == "*":
                    return True
                if zone is not None:
                    zone_account = self.zones.get(zone)
                    if key in (
                        f"com.cloudflare.api.account.zone.{zone}",
                        "com.cloudflare.api.account.zone.*",
                    ):
                        if value == "*":
                            return True
                    if key in (
                        f"com.cloudflare.api.account.{zone_account}",
                        "com.cloudflare.api.account.*",
                    ) and isinstance(value, dict):
                        if matches_zone_inner(value):
                            return True
                if account is not None and value == "*":
                    if key in (
                        f"com.cloudflare.api.account.{account}",
                        "com.cloudflare.api.account.*",
                    ):
                        return True
            return False

        def matches_zone_inner(inner: dict[str, Any]) -> bool:
            return any(
                k
                in (f"com.cloudflare.api.account.zone.{zone}", "com.cloudflare.api.account.zone.*")
                and v == "*"
                for k, v in inner.items()
            )

        wanted = set(accepted)
        allowed = any(
            p["effect"] == "allow" and names(p) & wanted and matches(p["resources"])
            for p in token.policies
        )
        denied = any(
            p["effect"] == "deny" and names(p) & wanted and matches(p["resources"])
            for p in token.policies
        )
        return allowed and not denied

    # --- routing ----------------------------------------------------------------------------
    def handle(self, method: str, path: str, query: dict[str, str], headers, body: bytes):
        injected = None
        with self.lock:
            for failure in self.failures:
                if failure.times > 0 and failure.pattern.match(f"{method} {path}"):
                    failure.times -= 1
                    injected = failure
                    break
        if injected is not None:
            extra = {"Retry-After": str(injected.retry_after)} if injected.retry_after else {}
            if injected.after:
                self._route(method, path, query, headers, body)
            raise ApiError(injected.status, injected.code, injected.message, extra)
        return self._route(method, path, query, headers, body)

    def check_answer(self, route: Route, payload: bytes) -> None:
        """Validate an answer against the SDK's response model for the route (strictly: types
        as the JSON gives them, required fields present); a mismatch is recorded and fails the
        test when the fake stops."""
        violation = answer_violation(route.sdk, payload)
        if violation:
            with self.lock:
                self.violations.append(f"{route.sdk} ({route.pattern}): {violation}")

    def _route(self, method: str, path: str, query: dict[str, str], headers, body: bytes):
        # Presence, as Cloudflare checks them: an empty X-Auth-Key beside the token is a 400 too.
        if "X-Auth-Key" in headers or "X-Auth-Email" in headers:
            raise ApiError(400, 6003, "Invalid request headers: Global API Key sent to the fake")
        auth = headers.get("Authorization", "")
        token = self.tokens.get(auth.removeprefix("Bearer ").strip())
        if token is None:
            raise ApiError(401, 1000, "Invalid API Token")
        for route in ROUTES:
            if method in route.methods and (m := re.fullmatch(route.pattern, path)):
                request = Request(method, token, m, query, headers, body)
                return route, route.handler(self, request)
        self.unrouted.append(f"{method} {path}")
        raise ApiError(
            404, 7003, f"Could not route to {path}, perhaps your object identifier is invalid?"
        )

    # --- handlers (one per route in ROUTES) -------------------------------------------------
    def _user_verify(self, r: Request):
        if r.token.owner != "user":
            raise ApiError(401, 1000, "Invalid API Token")
        return self._verify(r.token)

    def _account_verify(self, r: Request):
        if r.token.owner != "account" or r.token.account != r.match[1]:
            raise ApiError(401, 1000, "Invalid API Token")
        return self._verify(r.token)

    def _user_permission_groups(self, r: Request):
        if not self._granted(r.token, ["API Tokens Read", "API Tokens Write"], user=True):
            raise _unauthorized()
        return PERMISSION_GROUPS

    def _account_permission_groups(self, r: Request):
        if not self._granted(r.token, ["Account API Tokens Read"], account=r.match[1]):
            raise _unauthorized()
        return PERMISSION_GROUPS

    def _user_token(self, r: Request):
        if not self._granted(r.token, ["API Tokens Read", "API Tokens Write"], user=True):
            raise _unauthorized()
        found = [t for t in self.tokens.values() if t.id == r.match[1] and t.owner == "user"]
        if not found:
            raise ApiError(404, 1003, "Token not found")
        return found[0].details()

    def _account_token(self, r: Request):
        if not self._granted(r.token, ["Account API Tokens Read"], account=r.match[1]):
            raise _unauthorized()
        found = [t for t in self.tokens.values() if t.id == r.match[2] and t.owner == "account"]
        if not found:
            raise ApiError(404, 1003, "Token not found")
        return found[0].details()

    # Probe endpoints (Accepted Permissions as in Cloudflare's API reference).
    def _scripts(self, r: Request):
        self._require(
            r.token, ["Workers Scripts Read", "Workers Scripts Write"], r.match[1], code=10000
        )
        return []

    def _namespaces(self, r: Request):
        self._require(
            r.token, ["Workers KV Storage Read", "Workers KV Storage Write"], r.match[1], code=10000
        )
        return [
            {"id": ns, "title": "flaregate-keys", "supports_url_encoding": True}
            for ns, a in self.namespaces.items()
            if a == r.match[1]
        ]

    def _gateways(self, r: Request):
        self._require(r.token, ["AI Gateway Read", "AI Gateway Write"], r.match[1])
        return []

    def _zone(self, r: Request):
        # Zone Details accepts far more than Zone Read (API reference, Accepted Permissions).
        self._require_zone(r.token, ZONE_DETAILS_ACCEPTS, r.match[1])
        return zone_details(r.match[1], self.zones[r.match[1]])

    def _dns_records(self, r: Request):
        self._require_zone(r.token, ["DNS Read", "DNS Write"], r.match[1])
        return []

    def _certificates(self, r: Request):
        zone = r.query.get("zone_id", "")
        self._require_zone(
            r.token, ["SSL and Certificates Read", "SSL and Certificates Write"], zone
        )
        return []

    def _subdomain(self, r: Request):
        # Get Subdomain (Accepted Permissions: Workers Scripts Read or Write). The 404 for an
        # account that has not chosen a subdomain yet is an assumption (error code included):
        # flaregate relies on the status only.
        account = r.match[1]
        self._require(
            r.token, ["Workers Scripts Read", "Workers Scripts Write"], account, code=10000
        )
        if account not in self.subdomains:
            raise ApiError(404, 10007, "This account does not have a workers.dev subdomain.")
        return {"subdomain": self.subdomains[account]}

    # List Gateway Logs (Accepted Permissions: AI Gateway Read or Write). The 404 code for an
    # unknown gateway is an assumption: flaregate relies on the status only.
    def _gateway_logs_list(self, r: Request):
        self._require(r.token, ["AI Gateway Read", "AI Gateway Write"], r.match[1])
        logs = self.gateway_logs.get((r.match[1], r.match[2]))
        if logs is None:
            raise ApiError(404, 7002, "Not Found")
        return self._gateway_logs(logs, r.query)

    # Workers AI models (Accepted Permissions: Workers AI Read or Write). Search hides models
    # past their planned_deprecation_date unless include_deprecated=true (then for up to three
    # months, as the SDK's parameter documents).
    def _ai_models_search(self, r: Request):
        self._require(r.token, ["Workers AI Read", "Workers AI Write"], r.match[1], code=10000)
        return self._ai_search(r.query)

    def _ai_model_schema(self, r: Request):
        self._require(r.token, ["Workers AI Read", "Workers AI Write"], r.match[1], code=10000)
        schema = self.ai_schemas.get(r.query.get("model", ""))
        if schema is None:  # the exact code is an assumption; the SDK acts on the status
            raise ApiError(404, 7003, f"Model {r.query.get('model', '')!r} not found")
        return schema

    def _kv_keys(self, r: Request):
        self._require_namespace(r.token, r.match[1], r.match[2], write=False)
        return self._kv_list(r.query)

    def _kv_value(self, r: Request):
        self._require_namespace(r.token, r.match[1], r.match[2], write=r.method != "GET")
        key = urllib.parse.unquote(r.match[3])
        if r.method == "GET":
            value = self.kv.get(key)
            if value is None:
                raise ApiError(404, 10009, "get: 'key not found'")
            return RawBody(value)
        if r.method == "DELETE":
            self.kv.delete(key)
            return {}
        self._kv_put(key, r.query, r.headers, r.body)
        return {}

    def _require(
        self, token: FakeToken, accepted: list[str], account: str, code: int = 9109
    ) -> None:
        if not self._granted(token, accepted, account=account):
            raise _unauthorized(code)

    def _require_zone(self, token: FakeToken, accepted: list[str], zone: str) -> None:
        if zone not in self.zones:
            raise ApiError(
                404, 7003, "Could not route to /zones, perhaps your object identifier is invalid?"
            )
        if not self._granted(token, accepted, zone=zone):
            raise _unauthorized()

    def _require_namespace(
        self, token: FakeToken, account: str, namespace: str, write: bool
    ) -> None:
        accepted = ["Workers KV Storage Write"] + ([] if write else ["Workers KV Storage Read"])
        self._require(token, accepted, account, code=10000)
        if self.namespaces.get(namespace) != account:
            raise ApiError(404, 10013, "namespace not found")

    def _verify(self, token: FakeToken) -> dict[str, Any]:
        result = {"id": token.id, "status": token.status}
        if token.expires_on:
            result["expires_on"] = token.expires_on
        if token.not_before:
            result["not_before"] = token.not_before
        return result

    def _gateway_logs(self, logs: list[dict[str, Any]], query: dict[str, str]) -> Paged:
        def moment(text: str) -> datetime:
            return datetime.fromisoformat(text.replace("Z", "+00:00"))

        rows = list(logs)
        if query.get("start_date"):
            rows = [r for r in rows if moment(r["created_at"]) >= moment(query["start_date"])]
        if query.get("end_date"):
            rows = [r for r in rows if moment(r["created_at"]) <= moment(query["end_date"])]
        if query.get("order_by", "created_at") == "created_at":
            descending = query.get("order_by_direction", "desc") == "desc"
            rows.sort(key=lambda r: moment(r["created_at"]), reverse=descending)
        page, per_page = int(query.get("page") or 1), int(query.get("per_page") or 20)
        items = rows[(page - 1) * per_page : page * per_page]
        total_pages = max(1, -(-len(rows) // per_page))
        info = {"page": page, "per_page": per_page, "count": len(items)}
        return Paged(items, {**info, "total_count": len(rows), "total_pages": total_pages})

    def _ai_search(self, query: dict[str, str]) -> Paged:
        today = datetime.now(UTC).date()
        include = query.get("include_deprecated", "").lower() == "true"
        items = []
        for model in self.ai_models:
            retire = next(
                (
                    p["value"]
                    for p in model.get("properties", [])
                    if p.get("property_id") == "planned_deprecation_date"
                ),
                None,
            )
            if retire:
                when = datetime.fromisoformat(str(retire)[:10]).date()
                if when <= today and (not include or when < today - timedelta(days=92)):
                    continue
            items.append(model)
        per_page = int(query.get("per_page", "20"))
        page = int(query.get("page", "1"))
        chunk = items[(page - 1) * per_page : page * per_page]
        info = {"page": page, "per_page": per_page, "count": len(chunk), "total_count": len(items)}
        return Paged(chunk, info)

    def _kv_list(self, query: dict[str, str]) -> Paged:
        items = self.kv.list(query.get("prefix", ""))
        limit = min(int(float(query.get("limit", self.kv_page_size))), self.kv_page_size)
        start = int(query.get("cursor") or 0)
        page = items[start : start + limit]
        cursor = str(start + limit) if start + limit < len(items) else ""
        return Paged(page, {"count": len(page), "cursor": cursor})

    def _kv_put(self, key: str, query: dict[str, str], headers, body: bytes) -> None:
        content_type = headers.get("Content-Type", "")
        metadata = None
        if content_type.startswith("multipart/form-data"):
            message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
            )
            parts = {
                p.get_param("name", header="content-disposition"): p for p in message.iter_parts()
            }
            if "value" not in parts:
                raise ApiError(400, 10001, "the multipart body has no 'value' part")
            value = parts["value"].get_payload(decode=True)
            if "metadata" in parts:
                try:
                    metadata = json.loads(parts["metadata"].get_payload(decode=True))
                except ValueError:
                    raise ApiError(400, 10012, "metadata is not valid JSON") from None
        else:
            value = body
        expiration = None
        if query.get("expiration_ttl"):
            ttl = int(float(query["expiration_ttl"]))
            if ttl < 60:
                raise ApiError(
                    400,
                    10033,
                    f"Invalid expiration_ttl of {ttl}. Expiration TTL must be at least 60.",
                )
            expiration = int(time.time()) + ttl
        elif query.get("expiration"):
            expiration = int(float(query["expiration"]))
        if metadata is not None and len(json.dumps(metadata)) > 1024:
            raise ApiError(413, 10012, "metadata is larger than 1024 bytes")
        try:
            self.kv.put(key, value, expiration, metadata)
        except KVRefused as err:
            raise ApiError(400, 10033, str(err)) from None


@dataclass(frozen=True)
class Request:
    method: str
    token: FakeToken
    match: re.Match[str]
    query: dict[str, str]
    headers: Any
    body: bytes


@dataclass(frozen=True)
class Route:
    """One endpoint of the fake: what the SDK method ``sdk`` (dotted from the client) sends, and
    the handler that answers it. The answer is validated against that method's response model."""

    methods: tuple[str, ...]
    pattern: str
    sdk: str
    handler: Any


F = FakeCloudflare
ACCOUNT_ID = r"/accounts/(\w+)"
ROUTES: tuple[Route, ...] = (
    Route(("GET",), r"/user/tokens/verify", "user.tokens.verify", F._user_verify),
    Route(("GET",), ACCOUNT_ID + r"/tokens/verify", "accounts.tokens.verify", F._account_verify),
    Route(
        ("GET",),
        r"/user/tokens/permission_groups",
        "user.tokens.permission_groups.list",
        F._user_permission_groups,
    ),
    Route(
        ("GET",),
        ACCOUNT_ID + r"/tokens/permission_groups",
        "accounts.tokens.permission_groups.list",
        F._account_permission_groups,
    ),
    Route(("GET",), r"/user/tokens/(\w+)", "user.tokens.get", F._user_token),
    Route(("GET",), ACCOUNT_ID + r"/tokens/(\w+)", "accounts.tokens.get", F._account_token),
    Route(("GET",), ACCOUNT_ID + r"/workers/scripts", "workers.scripts.list", F._scripts),
    Route(("GET",), ACCOUNT_ID + r"/storage/kv/namespaces", "kv.namespaces.list", F._namespaces),
    Route(("GET",), ACCOUNT_ID + r"/ai-gateway/gateways", "ai_gateway.list", F._gateways),
    Route(
        ("GET",),
        ACCOUNT_ID + r"/ai-gateway/gateways/([\w-]+)/logs",
        "ai_gateway.logs.list",
        F._gateway_logs_list,
    ),
    Route(("GET",), r"/zones/(\w+)", "zones.get", F._zone),
    Route(("GET",), r"/zones/(\w+)/dns_records", "dns.records.list", F._dns_records),
    Route(("GET",), r"/certificates", "origin_ca_certificates.list", F._certificates),
    Route(("GET",), ACCOUNT_ID + r"/workers/subdomain", "workers.subdomains.get", F._subdomain),
    # The SDK types this page's items as `object`: only the envelope and paging are checked.
    Route(("GET",), ACCOUNT_ID + r"/ai/models/search", "ai.models.list", F._ai_models_search),
    Route(("GET",), ACCOUNT_ID + r"/ai/models/schema", "ai.models.schema.get", F._ai_model_schema),
    Route(
        ("GET",),
        ACCOUNT_ID + r"/storage/kv/namespaces/(\w+)/keys",
        "kv.namespaces.keys.list",
        F._kv_keys,
    ),
    Route(
        ("GET",),
        ACCOUNT_ID + r"/storage/kv/namespaces/(\w+)/values/(.+)",
        "kv.namespaces.values.get",
        F._kv_value,
    ),
    Route(
        ("PUT",),
        ACCOUNT_ID + r"/storage/kv/namespaces/(\w+)/values/(.+)",
        "kv.namespaces.values.update",
        F._kv_value,
    ),
    Route(
        ("DELETE",),
        ACCOUNT_ID + r"/storage/kv/namespaces/(\w+)/values/(.+)",
        "kv.namespaces.values.delete",
        F._kv_value,
    ),
)


def zone_details(zone_id: str, account_id: str) -> dict[str, Any]:
    """A zone as Zone Details returns it (the fields the SDK's Zone model requires)."""
    return {
        "id": zone_id,
        "name": "example.com",
        "account": {"id": account_id, "name": "Example account"},
        "created_on": "2026-01-01T00:00:00Z",
        "modified_on": "2026-01-01T00:00:00Z",
        "activated_on": "2026-01-01T00:00:00Z",
        "development_mode": 0,
        "meta": {"cdn_only": False, "dns_only": False, "phishing_detected": False},
        "name_servers": ["bob.ns.cloudflare.com", "lola.ns.cloudflare.com"],
        "original_name_servers": [],
        "owner": {"id": USER_ID, "type": "user"},
        "plan": {"id": "0feeeeeeeeeeeeeeeeeeeeeeeeeeeeee", "name": "Free Website"},
        "paused": False,
        "status": "active",
        "type": "full",
    }


def response_model(sdk: str):
    """The pydantic model the SDK parses ``sdk``'s answer with (from the method's return
    annotation): a page class for lists, ``ResultWrapper[T]`` for single results, None for raw
    bytes (BinaryAPIResponse)."""
    return _response_model(sdk)


@functools.cache
def _response_model(sdk: str):
    import typing

    import cloudflare
    from cloudflare._base_client import BasePage
    from cloudflare._response import BinaryAPIResponse
    from cloudflare._wrappers import ResultWrapper

    method: Any = cloudflare.Cloudflare(api_token="contract", base_url="http://127.0.0.1:9")
    for part in sdk.split("."):
        method = getattr(method, part)
    returned = typing.get_type_hints(method)["return"]
    if returned is BinaryAPIResponse:
        return None
    origin = typing.get_origin(returned) or returned
    if isinstance(origin, type) and issubclass(origin, BasePage):
        return returned
    return ResultWrapper[returned]


def answer_violation(sdk: str, payload: bytes) -> str | None:
    """Why ``payload`` does not fit ``sdk``'s response model; None when it fits."""
    import pydantic

    model = response_model(sdk)
    if model is None:
        return "a JSON answer where the SDK expects raw bytes"
    try:
        model.model_validate_json(payload, strict=True)
    except pydantic.ValidationError as err:
        return str(err)
    return None


@dataclass
class RawBody:
    data: bytes


@dataclass
class Paged:
    items: list[Any]
    info: dict[str, Any]


def _handler(fake: FakeCloudflare):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # quiet test output
            pass

        def setup(self) -> None:
            super().setup()
            # Headers and body go out as two writes: without this, Nagle + delayed ACK add 40 ms.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def _serve(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            path = url.path.removeprefix("/client/v4")
            query = dict(urllib.parse.parse_qsl(url.query))
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            with fake.lock:
                fake.requests.append(
                    {
                        "method": self.command,
                        "path": path,
                        "query": query,
                        "authorization": "Authorization" in self.headers,
                        "x_auth_key": "X-Auth-Key" in self.headers,
                    }
                )
            try:
                route, result = fake.handle(self.command, path, query, self.headers, body)
            except ApiError as err:
                self._json(
                    err.status,
                    {
                        "success": False,
                        "errors": [{"code": err.code, "message": err.message}],
                        "messages": [],
                        "result": None,
                    },
                    err.headers,
                )
                return
            if isinstance(result, RawBody):
                self._send(200, result.data, "application/octet-stream")
                return
            if isinstance(result, Paged):
                payload = _ok(result.items, result.info)
            elif isinstance(result, list):
                info = {
                    "page": 1,
                    "per_page": max(len(result), 20),
                    "count": len(result),
                    "total_count": len(result),
                    "total_pages": 1,
                }
                # Page-number lists end when a page comes back empty.
                page = int(query.get("page", "1") or 1)
                payload = _ok(result if page == 1 else [], {**info, "page": page})
            else:
                payload = _ok(result)
            data = json.dumps(payload).encode()
            fake.check_answer(route, data)
            self._send(200, data, "application/json")

        def _json(self, status: int, payload: Any, headers: dict | None = None) -> None:
            self._send(status, json.dumps(payload).encode(), "application/json", headers)

        def _send(
            self, status: int, data: bytes, content_type: str, headers: dict | None = None
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_PUT = do_DELETE = do_POST = do_PATCH = _serve

    return Handler


def _ok(result: Any, result_info: dict | None = None) -> dict[str, Any]:
    payload = {"success": True, "errors": [], "messages": [], "result": result}
    if result_info is not None:
        payload["result_info"] = result_info
    return payload
