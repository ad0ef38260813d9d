"""The Worker: the rendered script with its bindings, and the URL it answers on.

``content`` is exactly :func:`flaregate.render.render_worker` for the stack's WorkerConfig, the
file ``flaregate render`` writes. Bindings: ``AI`` (Workers AI), ``KEYS`` (the key ring),
``KEY_LIMITER`` (the per-key limits' Durable Object, created by the script's migration), plain
text vars that mirror the rendered settings (the Worker reads them as overrides, see
worker_template/src/settings.js, so the dashboard shows them and an operator can tune them), and
``secret_text`` for secrets, passed as Pulumi secrets so they are encrypted in the state.
"""

from __future__ import annotations

from typing import TypedDict

import pulumi
import pulumi_cloudflare as cloudflare

from flaregate import durable_objects
from flaregate.config import WorkerConfig
from flaregate.render import MAIN_MODULE, render_worker


def plain_text_vars(config: WorkerConfig) -> dict[str, str]:
    """The Worker vars for a config; GATEWAY_ID is filled from the gateway resource."""
    return {
        "CORS_ORIGINS": ",".join(config.cors_origins),
        "MAX_BODY_BYTES": str(config.max_body_bytes),
        "TIMEOUT_MS": str(config.timeout_ms),
        "FIRST_TOKEN_TIMEOUT_MS": str(config.first_token_timeout_ms),
        "IDLE_TIMEOUT_MS": str(config.idle_timeout_ms),
        **({"ORIGIN_URL": config.origin_url} if config.origin_url else {}),
    }


class WorkerArgs(TypedDict):
    account_id: pulumi.Input[str]
    """Cloudflare account the script is uploaded to."""
    config: WorkerConfig
    """What the rendered script contains."""
    kv_namespace_id: pulumi.Input[str]
    """The key ring, bound as KEYS."""
    gateway_id: pulumi.Input[str] | None
    """The AI Gateway's id (an output, so the gateway exists first); None: no gateway."""
    secrets: dict[str, pulumi.Input[str]]
    """secret_text bindings by name (e.g. ORIGIN_SECRET); each is made a Pulumi secret."""
    custom_domain: str | None
    """Serve on this hostname (WorkersCustomDomain)."""
    zone_id: pulumi.Input[str] | None
    """Zone of the custom domain; optional, Cloudflare finds it from the hostname."""
    workers_dev: bool
    """Turn the <name>.<subdomain>.workers.dev URL on or off (WorkersScriptSubdomain)."""


class Worker(pulumi.ComponentResource):
    script_name: pulumi.Output[str]
    content_sha256: str

    def __init__(self, name: str, args: WorkerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("flaregate:index:Worker", name, None, opts)
        config = args["config"]
        child = pulumi.ResourceOptions(parent=self)
        content = render_worker(config)
        bindings: list[dict] = [
            {"name": "AI", "type": "ai"},
            {"name": "KEYS", "type": "kv_namespace", "namespace_id": args["kv_namespace_id"]},
            {
                "name": durable_objects.LIMITER_BINDING,
                "type": "durable_object_namespace",
                "class_name": durable_objects.LIMITER_CLASS,
            },
            {"name": "GATEWAY_ID", "type": "plain_text", "text": args["gateway_id"] or ""},
        ]
        bindings += [
            {"name": var, "type": "plain_text", "text": value}
            for var, value in plain_text_vars(config).items()
        ]
        bindings += [
            {"name": var, "type": "secret_text", "text": pulumi.Output.secret(value)}
            for var, value in sorted(args["secrets"].items())
        ]
        script = cloudflare.WorkersScript(
            f"{name}-script",
            account_id=args["account_id"],
            script_name=config.worker_name,
            content=content,
            main_module=MAIN_MODULE,
            compatibility_date=config.compatibility_date,
            bindings=bindings,
            # Same tag on every deploy: see flaregate/durable_objects.py for why that migrates an
            # older Worker once and is a no-op afterwards.
            migrations={
                "new_tag": durable_objects.MIGRATION_TAG,
                "new_sqlite_classes": durable_objects.sqlite_classes(),
            },
            observability={"enabled": True, "head_sampling_rate": 1},
            opts=child,
        )
        # Managed in both states: a new script gets a workers.dev URL by default, so leaving the
        # resource out would not turn the URL off. Preview URLs stay off either way.
        cloudflare.WorkersScriptSubdomain(
            f"{name}-workers-dev",
            account_id=args["account_id"],
            script_name=script.script_name,
            enabled=args["workers_dev"],
            previews_enabled=False,
            opts=child,
        )
        if args["custom_domain"]:
            cloudflare.WorkersCustomDomain(
                f"{name}-domain",
                account_id=args["account_id"],
                hostname=args["custom_domain"],
                service=script.script_name,
                zone_id=args["zone_id"],
                opts=child,
            )
        self.script_name = script.script_name
        self.content_sha256 = _sha256(content)
        self.register_outputs({"script_name": self.script_name})


def _sha256(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()
