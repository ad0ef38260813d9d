"""Where the account and key ring (KV namespace) ids come from: the command's options, the
environment, or the outputs of the deployed stack, in that order.

The deployed stack is read through :mod:`flaregate.deploy` (Pulumi's Automation API) only when
the options and the environment leave an id open.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from .cloudflare_api import ACCOUNT_ENV, NAMESPACE_ENV
from .errors import CloudflareCredentialsError, FlaregateError


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
