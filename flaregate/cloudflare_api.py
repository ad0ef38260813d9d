"""One way to reach the Cloudflare API: the official SDK with an API token, and where the
account and KV namespace ids come from.

The SDK (``cloudflare`` 5.x) picks its credential from the environment at construction and sends
``X-Auth-Email``/``X-Auth-Key`` *instead of* the token when ``CLOUDFLARE_EMAIL`` or
``CLOUDFLARE_API_KEY`` is present, even empty (``Cloudflare.auth_headers`` tests ``is None``; an
empty ``CLOUDFLARE_EMAIL`` leaves it with no credential at all: "Could not resolve authentication
method"). The Terraform provider under Pulumi checks them the same way (``os.LookupEnv``).
flaregate works with scoped API tokens only: those variables are refused here by presence, with
the fix, before any request, and the client is built so that it can only send the token.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import CloudflareApiError, CloudflareCredentialsError, FlaregateError

if TYPE_CHECKING:  # the SDK import costs ~0.5 s; commands import it when they run
    from cloudflare import Cloudflare

TOKEN_ENV = "CLOUDFLARE_API_TOKEN"
ACCOUNT_ENV = "CLOUDFLARE_ACCOUNT_ID"
NAMESPACE_ENV = "FLAREGATE_KV_NAMESPACE_ID"
BASE_URL_ENV = "CLOUDFLARE_BASE_URL"
# Legacy credentials the SDK would send instead of (or beside) the token.
GLOBAL_KEY_ENVS = ("CLOUDFLARE_API_KEY", "CLOUDFLARE_EMAIL")
# The deprecated Origin CA key: the SDK and the provider would send it as well.
LEGACY_CREDENTIAL_ENVS = (*GLOBAL_KEY_ENVS, "CLOUDFLARE_API_USER_SERVICE_KEY")

# Requests made without an SDK resource method ("METHOD /path" -> why the SDK has none). Empty:
# every call goes through a resource method of the official SDK (token verify and details,
# permission groups, the permission probes, the workers.dev subdomain, KV keys and values), so
# its request and response types are Cloudflare's own. A raw call (``client.get(path,
# cast_to=...)``) belongs here with its reason; tests/test_cloudflare_contract.py fails otherwise.
RAW_API_CALLS: dict[str, str] = {}

TOKEN_HELP = (
    "create one at https://dash.cloudflare.com/profile/api-tokens (`flaregate check-token` "
    "prints a link that pre-fills exactly the permissions flaregate needs) and "
    f"`export {TOKEN_ENV}=...`"
)


def make_client(
    token: str | None = None,
    *,
    base_url: str | None = None,
    max_retries: int = 2,
    timeout: float = 30.0,
    environ: Mapping[str, str] | None = None,
) -> Cloudflare:
    """A Cloudflare SDK client authenticated with an API token and nothing else.

    ``token`` defaults to $CLOUDFLARE_API_TOKEN, ``base_url`` to $CLOUDFLARE_BASE_URL (the SDK's
    default, https://api.cloudflare.com/client/v4, when unset). Retries: the SDK retries 408,
    409, 429 and 5xx ``max_retries`` times, honouring ``Retry-After``.
    """
    from cloudflare import Cloudflare

    env = os.environ if environ is None else environ
    # Presence, not truthiness: an empty CLOUDFLARE_EMAIL still replaces the token in the SDK.
    legacy = [name for name in GLOBAL_KEY_ENVS if name in env]
    if legacy:
        empty = not any(env[name] for name in legacy)
        raise CloudflareCredentialsError(
            f"{' and '.join(legacy)} {'is' if len(legacy) == 1 else 'are'} set"
            f"{' (empty)' if empty else ''}: the Cloudflare SDK would authenticate with a Global "
            f"API Key instead of {TOKEN_ENV}. flaregate uses scoped API tokens only; run "
            f"`unset {' '.join(GLOBAL_KEY_ENVS)}` and try again."
        )
    token = (token or env.get(TOKEN_ENV) or "").strip()
    if not token:
        raise CloudflareCredentialsError(f"no Cloudflare API token: {TOKEN_HELP}")
    client = Cloudflare(
        api_token=token,
        base_url=base_url or env.get(BASE_URL_ENV) or None,
        max_retries=max_retries,
        timeout=timeout,
    )
    # The constructor filled these from os.environ when they were present (None means "read the
    # environment" there); cleared, the token is the only credential the client can send.
    client.api_key = None
    client.api_email = None
    client.user_service_key = None
    return client


@dataclass(frozen=True)
class KeyringTarget:
    """Where the key ring lives: the account and the Worker's KEYS namespace."""

    account_id: str
    namespace_id: str


# Each source gets the explicit CLI values (and the --stack name) and returns what it knows
# (None when it knows nothing). The first source that knows a value wins; a source is only
# asked when the ones before it left something open. A source may raise FlaregateError to say
# why it knows nothing; that reason ends up in the error when no source knows the value.
TargetSource = Callable[[dict[str, str | None]], dict[str, str | None]]


def _from_options(given: dict[str, str | None]) -> dict[str, str | None]:
    return given


def _from_environment(given: dict[str, str | None]) -> dict[str, str | None]:
    return {
        "account_id": os.environ.get(ACCOUNT_ENV) or None,
        "namespace_id": os.environ.get(NAMESPACE_ENV) or None,
    }


def _from_stack(given: dict[str, str | None]) -> dict[str, str | None]:
    """accountId and kvNamespaceId from the outputs of the deployed stack (``--stack``)."""
    if not given.get("stack"):
        return {}
    from .deploy import deployed_keyring  # Pulumi's Automation API: only when needed

    return deployed_keyring(given["stack"])


TARGET_SOURCES: list[TargetSource] = [_from_options, _from_environment, _from_stack]
IDS = ("account_id", "namespace_id")


def resolve_account_id(account_id: str | None = None, *, stack: str | None = None) -> str:
    """The Cloudflare account id from --account-id, $CLOUDFLARE_ACCOUNT_ID or the stack."""
    found, reasons = _resolve({"account_id": account_id, "stack": stack}, ("account_id",))
    if not found.get("account_id"):
        raise CloudflareCredentialsError(
            f"no Cloudflare account id{_because(reasons)}: pass --account-id or `export "
            f"{ACCOUNT_ENV}=...` (the id is on the right of your account's overview page in the "
            "dashboard)" + (", or deploy first with `flaregate deploy`" if stack else "")
        )
    return found["account_id"]


def resolve_keyring_target(
    account_id: str | None = None, namespace_id: str | None = None, *, stack: str | None = None
) -> KeyringTarget:
    """Account and KEYS namespace ids, from options, the environment or the deployed stack."""
    given = {"account_id": account_id, "namespace_id": namespace_id, "stack": stack}
    found, reasons = _resolve(given, IDS)
    if found.get("account_id") and found.get("namespace_id"):
        return KeyringTarget(found["account_id"], found["namespace_id"])
    if reasons:  # nothing deployed (or the stack could not be read) and no ids given
        raise CloudflareCredentialsError(
            f"no key ring to use: {_sentence(reasons)}. A deploy creates the key ring and its "
            "first key. To use a key ring deployed some other way, pass --account-id and "
            f"--namespace-id (or `export {ACCOUNT_ENV}=... {NAMESPACE_ENV}=...`)"
        )
    if not found.get("account_id"):
        resolve_account_id(account_id)  # raises with the fix
    raise CloudflareCredentialsError(
        "no KV namespace id for the key ring: pass --namespace-id or "
        f"`export {NAMESPACE_ENV}=...` (the id of the Worker's KEYS namespace, shown by "
        "`flaregate status` after a deploy or under Storage & Databases > KV in the dashboard)"
    )


def _resolve(
    given: dict[str, str | None], wanted: tuple[str, ...]
) -> tuple[dict[str, str], list[str]]:
    found: dict[str, str] = {}
    reasons: list[str] = []
    for source in TARGET_SOURCES:
        if all(found.get(name) for name in wanted):
            break
        try:
            values = source(given)
        except FlaregateError as err:
            reasons.append(str(err))
            continue
        for name in wanted:
            if values.get(name) and not found.get(name):
                found[name] = values[name]
    return found, reasons


def _because(reasons: list[str]) -> str:
    return f" ({_sentence(reasons)})" if reasons else ""


def _sentence(reasons: list[str]) -> str:
    return "; ".join(r.rstrip(".") for r in reasons)


def error_codes(err: Any) -> list[int]:
    """Cloudflare's `errors[].code` values from an SDK APIStatusError (empty when absent)."""
    body = getattr(err, "body", None)
    if isinstance(body, dict):
        return [e["code"] for e in body.get("errors") or [] if isinstance(e, dict) and "code" in e]
    return []


def error_messages(err: Any) -> str:
    body = getattr(err, "body", None)
    if isinstance(body, dict) and body.get("errors"):
        return "; ".join(
            f"{e.get('message', '')} (code {e.get('code')})"
            for e in body["errors"]
            if isinstance(e, dict)
        )
    return str(getattr(err, "message", err))


# Cloudflare error codes for "this token may not do that" (docs: API error codes; 9109 is
# "Unauthorized to access requested resource", 10000 "Authentication error").
PERMISSION_ERROR_CODES = frozenset({9109, 10000})
INVALID_TOKEN_CODES = frozenset({1000, 1001, 6003, 6111, 9103, 9106})


def explain_api_error(
    err: Exception, doing: str
) -> CloudflareApiError | CloudflareCredentialsError:
    """Turn an SDK exception into one domain error that says what failed and what to do."""
    import cloudflare

    if isinstance(err, cloudflare.APIConnectionError):
        return CloudflareApiError(
            f"could not reach the Cloudflare API while {doing}: {err.__class__.__name__}; check "
            "your network (or $CLOUDFLARE_BASE_URL) and retry"
        )
    if not isinstance(err, cloudflare.APIStatusError):
        return CloudflareApiError(f"Cloudflare API failed while {doing}: {err}")
    detail = error_messages(err)
    status = err.status_code
    if status == 401:
        return CloudflareCredentialsError(
            f"Cloudflare refused the API token while {doing}: {detail}. The token is invalid, "
            f"expired or revoked: {TOKEN_HELP}"
        )
    if status == 403 or set(error_codes(err)) & PERMISSION_ERROR_CODES:
        return CloudflareCredentialsError(
            f"the API token may not do this ({doing}): {detail}. Run `flaregate check-token` to "
            "see which permission is missing and get a link that adds it"
        )
    if status == 404:
        return CloudflareCredentialsError(
            f"Cloudflare found nothing while {doing}: {detail}. Check the account id and the KV "
            "namespace id (--account-id / --namespace-id)"
        )
    if status == 429:
        return CloudflareApiError(
            f"Cloudflare rate-limited the API token while {doing}: {detail}. Wait a minute and retry"
        )
    if status >= 500:
        return CloudflareApiError(
            f"Cloudflare API error {status} while {doing}: {detail}. Retry in a moment "
            "(https://www.cloudflarestatus.com); flaregate's key commands are safe to re-run"
        )
    return CloudflareApiError(f"Cloudflare API error {status} while {doing}: {detail}")
