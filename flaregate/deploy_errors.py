"""Pulumi and Cloudflare failures -> one clear message with the fix.

The rules are data: a pattern over the failed operation's output (Pulumi's own text and the
Cloudflare API errors the provider quotes) and the message to show. The first match wins; the
resource type found in the output names the token permission that is missing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Token permission each resource needs (dashboard wording; the API says "Write" for "Edit").
# The token audit before a deploy uses flaregate/permissions.py; this table only names the fix
# when Pulumi fails anyway (--skip-checks, or a permission a read probe could not confirm).
PERMISSION_FOR_RESOURCE = {
    "workersScript": "Account > Workers Scripts > Edit",
    "workersScriptSubdomain": "Account > Workers Scripts > Edit",
    "workersCustomDomain": "Account > Workers Scripts > Edit and Zone > Zone > Read",
    "workersKvNamespace": "Account > Workers KV Storage > Edit",
    "aiGateway": "Account > AI Gateway > Edit",
    "dnsRecord": "Zone > DNS > Edit",
    "originCaCertificate": "Zone > SSL and Certificates > Edit",
}

# What to rename when a name is taken, per resource.
NAME_KEY_FOR_RESOURCE = {
    "workersKvNamespace": "workerName (the namespace is titled <workerName>-keys)",
    "aiGateway": "gatewayId",
    "workersCustomDomain": "customDomain",
    "dnsRecord": "originHostname",
    "workersScript": "workerName",
}

TOKEN_HELP = (
    "Create or edit the token at https://dash.cloudflare.com/profile/api-tokens "
    "(docs/deploy.md lists the permissions) and export it as CLOUDFLARE_API_TOKEN."
)


@dataclass(frozen=True)
class ErrorRule:
    pattern: re.Pattern
    message: str
    """May use {resource}, {permission}, {name_key} and {detail}."""


def _rule(pattern: str, message: str) -> ErrorRule:
    return ErrorRule(re.compile(pattern, re.IGNORECASE), message)


ERROR_RULES: tuple[ErrorRule, ...] = (
    _rule(
        r"\b1016\b",
        "Cloudflare refused to issue the Origin CA certificate (error 1016): the API token lacks "
        "Zone > SSL and Certificates > Edit for the origin's zone. Add that permission to the "
        "token, or unset flaregate:originHostname. " + TOKEN_HELP,
    ),
    _rule(
        r"incorrect passphrase|passphrase must be set|failed to decrypt|PULUMI_CONFIG_PASSPHRASE",
        "The stack's secrets are encrypted with a different passphrase. Set "
        "PULUMI_CONFIG_PASSPHRASE to the passphrase used when the stack was created (flaregate "
        "keeps the one it generated in ~/.flaregate/passphrase).",
    ),
    _rule(
        r"\b(10014|81053|81057|100117)\b|already exists|already taken|already in use|"
        r"externally managed DNS",
        "{resource}: the name is already taken in this account by something this stack did not "
        "create ({detail}). Choose another flaregate:{name_key}, or delete the existing one.",
    ),
    _rule(
        r"Invalid API Token|invalid request headers|\b(1000|6003|6111)\b",
        "Cloudflare rejected the API token: it is invalid, expired or revoked. " + TOKEN_HELP,
    ),
    _rule(
        r"Authentication error|\b(10000|9109|10001)\b|Unauthorized to access|forbidden|"
        r"not authorized|permission",
        "{resource}: the API token lacks a permission: {permission}. Add it to the token (and "
        "include this account and zone in its resources). " + TOKEN_HELP,
    ),
    _rule(
        r"\b10429\b|\b971\b|too many requests|rate limit",
        "Cloudflare is rate-limiting this token; wait a minute and run the command again.",
    ),
    _rule(
        r"failed to (download|install) plugin|could not (download|install) plugin|"
        r"no resource plugin",
        "Pulumi could not download the {resource} provider plugin. Check that this machine can "
        "reach get.pulumi.com and github.com, then run the command again.",
    ),
    _rule(
        r"the stack is currently locked|currently being updated|conflict: another update",
        "Another deploy of this stack is running, or one was interrupted. Wait for it; if none "
        "is running, clear the lock with `pulumi cancel` (or delete the lock under the state "
        "directory's .pulumi/locks) and run the command again.",
    ),
    _rule(
        r"dial tcp|no such host|connection refused|i/o timeout|TLS handshake timeout",
        "A network connection failed ({detail}). Check the connection to api.cloudflare.com (and "
        "to the state backend) and run the command again; Pulumi resumes where it stopped.",
    ),
)

_TYPE = re.compile(r"cloudflare:index/(\w+):\w+|tls:index/(\w+):\w+")
_ERROR_LINE = re.compile(r"^.*\berror\b.*$", re.IGNORECASE | re.MULTILINE)
_ERROR_PREFIX = re.compile(r"^\s*error:\s*", re.IGNORECASE)


def explain_failure(output: str) -> str:
    """One message with the fix for a failed Pulumi operation's combined output."""
    detail = last_error_line(output)
    resource_type = _failed_resource_type(output)
    values = {
        "resource": _label(resource_type),
        "permission": PERMISSION_FOR_RESOURCE.get(
            resource_type, "see the permission list in docs/deploy.md"
        ),
        "name_key": NAME_KEY_FOR_RESOURCE.get(resource_type, "workerName"),
        "detail": detail,
    }
    for rule in ERROR_RULES:
        if rule.pattern.search(output):
            return rule.message.format(**values)
    return f"Pulumi failed: {detail}"


def last_error_line(output: str) -> str:
    lines = [_ERROR_PREFIX.sub("", m.group(0)).strip() for m in _ERROR_LINE.finditer(output)]
    lines = [line for line in lines if line and not line.lower().startswith("update failed")]
    text = lines[-1] if lines else (output.strip().splitlines() or ["no output"])[-1]
    return text[:300]


def _failed_resource_type(output: str) -> str:
    # The failing resource is named on the error line(s); fall back to any mention.
    for line in reversed(output.splitlines()):
        if "error" in line.lower():
            match = _TYPE.search(line)
            if match:
                return match.group(1) or match.group(2)
    match = _TYPE.search(output)
    return (match.group(1) or match.group(2)) if match else ""


def _label(resource_type: str) -> str:
    if not resource_type:
        return "Cloudflare"
    return resource_type[0].upper() + resource_type[1:]
