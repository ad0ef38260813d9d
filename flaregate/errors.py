"""Domain errors. The core raises these; the CLI turns them into click errors in one place.

Every message says what went wrong *and* how to fix it, and never contains a secret.
"""


class FlaregateError(Exception):
    """Base class: a problem the user can fix. ``str(err)`` is the whole message."""


class ConfigError(FlaregateError):
    """Configuration is missing or invalid. The message names the key."""


class CatalogError(ConfigError):
    """The model catalog (built-in or an override) is inconsistent."""


class CloudflareCredentialsError(FlaregateError):
    """The Cloudflare token, account or namespace is missing, conflicting or refused."""


class CloudflareApiError(FlaregateError):
    """The Cloudflare API answered with an error we cannot work around (rate limit, outage)."""


class KeyringError(FlaregateError):
    """A key ring operation cannot be done as asked (unknown id, grace too short, ...)."""


class DeployError(FlaregateError):
    """Deploying, previewing or destroying failed; the message says why and what to do."""


class NotDeployedError(DeployError):
    """The stack does not exist or has no outputs yet: nothing is deployed there."""


class DevServerError(FlaregateError):
    """`flaregate dev` cannot start or keep the local Worker running (Node, npm, the port)."""
