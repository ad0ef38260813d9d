"""The AI Gateway every Workers AI call goes through (logs, caching, rate limiting, analytics).

``authentication`` stays off: only the Worker's binding calls the gateway, and the binding is
already authenticated by the account it runs in; clients authenticate to the Worker.
"""

from __future__ import annotations

from typing import TypedDict

import pulumi
import pulumi_cloudflare as cloudflare

from flaregate.stack_config import GatewaySettings


class GatewayArgs(TypedDict):
    account_id: pulumi.Input[str]
    """Cloudflare account that owns the gateway."""
    settings: GatewaySettings
    """Id, logging, caching and rate limiting from stack config."""


class Gateway(pulumi.ComponentResource):
    gateway_id: pulumi.Output[str]

    def __init__(self, name: str, args: GatewayArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("flaregate:index:Gateway", name, None, opts)
        s = args["settings"]
        gateway = cloudflare.AiGateway(
            f"{name}-ai-gateway",
            account_id=args["account_id"],
            ai_gateway_id=s.id,
            authentication=False,
            collect_logs=s.collect_logs,
            cache_ttl=s.cache_ttl,
            # Cached answers are keyed by request; a config change should not serve stale ones.
            cache_invalidate_on_update=True,
            rate_limiting_limit=s.rate_limit,
            # Off is limit 0 *and* interval 0, as every public example sends it (the pinned
            # pulumi_cloudflare AiGateway docstring, the Pulumi registry, the SDK's tests).
            rate_limiting_interval=s.rate_limit_interval if s.rate_limit else 0,
            rate_limiting_technique=s.rate_limit_technique,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.gateway_id = gateway.ai_gateway_id
        self.register_outputs({"gateway_id": self.gateway_id})
