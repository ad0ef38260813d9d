"""The flaregate stack: settings -> key ring, gateway, origin, Worker -> stack outputs.

``pulumi up`` (via ``__main__.py``) and ``flaregate deploy`` (Automation API, inline program) both
run :func:`flaregate_program`. The settings come from the running stack's config, parsed by
:mod:`flaregate.stack_config` (the same keys ``flaregate deploy --set`` checks).
"""

from __future__ import annotations

import pulumi

from flaregate.stack_config import (
    KEYS_BY_NAME,
    NAMESPACE,
    StackSettings,
    did_you_mean,
    load_settings,
)

from .gateway import Gateway
from .keyring import KeyRing
from .origin import Origin
from .reasoning import reasoning_secret
from .worker import Worker


def flaregate_program() -> None:
    settings = settings_from_pulumi()
    for key in settings.unknown_keys:
        pulumi.log.warn(
            f"flaregate:{key} is not a flaregate setting and is ignored{did_you_mean(key)}"
        )
    deploy(settings)


def settings_from_pulumi() -> StackSettings:
    """The settings of the running Pulumi stack."""
    from pulumi.runtime.config import CONFIG, get_config, get_config_env

    prefix = f"{NAMESPACE}:"
    present = {k for k in (*CONFIG.get(), *get_config_env()) if k.startswith(prefix)}
    names = {k[len(prefix) :] for k in present} | set(KEYS_BY_NAME)
    values = {name: get_config(prefix + name) for name in names}
    return load_settings({k: v for k, v in values.items() if v is not None})


def deploy(settings: StackSettings) -> None:
    config = settings.worker
    keyring = KeyRing(
        "keyring", {"account_id": settings.account_id, "title": f"{config.worker_name}-keys"}
    )
    gateway = None
    if settings.gateway:
        gateway = Gateway(
            "gateway", {"account_id": settings.account_id, "settings": settings.gateway}
        )
    origin = None
    # Seals Responses reasoning (docs/api.md): always set, so encrypted_content survives deploys.
    secrets: dict[str, pulumi.Input[str]] = {"REASONING_SECRET": reasoning_secret("reasoning")}
    if settings.origin:
        origin = Origin("origin", {"zone_id": settings.zone_id, "settings": settings.origin})
        secrets["ORIGIN_SECRET"] = origin.shared_secret
    worker = Worker(
        "worker",
        {
            "account_id": settings.account_id,
            "config": config,
            "kv_namespace_id": keyring.namespace_id,
            "gateway_id": gateway.gateway_id if gateway else None,
            "secrets": secrets,
            "custom_domain": settings.custom_domain,
            "zone_id": settings.zone_id,
            "workers_dev": settings.workers_dev,
        },
    )
    pulumi.export("url", settings.url)
    pulumi.export("workerName", worker.script_name)
    pulumi.export("workerSha256", worker.content_sha256)
    pulumi.export("accountId", settings.account_id)
    pulumi.export("kvNamespaceId", keyring.namespace_id)
    pulumi.export("gatewayId", gateway.gateway_id if gateway else None)
    pulumi.export("customDomain", settings.custom_domain)
    if origin:
        pulumi.export("originHostname", settings.origin.hostname)
        pulumi.export("originCertificate", origin.certificate)
        pulumi.export("originPrivateKey", origin.private_key_pem)
        pulumi.export("originSecret", origin.shared_secret)
        pulumi.export("originCertificateExpiresOn", origin.expires_on)
