"""One way to reach the Cloudflare API: the official SDK with an API token, and what its errors
mean. Where the account and KV namespace ids come from is :mod:`flaregate.targets`.

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
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .errors import CloudflareApiError, CloudflareCredentialsError

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
    # Not the API's envelope: what a proxy or Cloudflare's edge answered instead.
    return readable_api_text(body if isinstance(body, str) else str(getattr(err, "message", err)))


_HTML = re.compile(r"<\s*(!doctype|html|head|body|title|div|p|h1)\b", re.IGNORECASE)
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


def readable_api_text(text: str) -> str:
    """An answer that is not the API's JSON, as a person reads it: an HTML error page (what a
    proxy or Cloudflare's edge answers when the API is down) becomes its title, on one line,
    and nothing runs on for pages."""
    found = _HTML.search(text)
    if found:
        title = _TITLE.search(text)
        page = "an HTML error page"
        if title:
            page += f" ({' '.join(title.group(1).split())[:100]})"
        head = text[: found.start()].rstrip("'\" \t\r\n")
        tail = text[text.rfind(">") + 1 :].lstrip("'\" \t\r\n")
        text = f"{head} {page}{tail}" if head else page + tail
    text = " ".join(text.split())  # one line, whatever the page's layout
    return text if len(text) <= 300 else text[:297] + "..."


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
