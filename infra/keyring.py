"""The key ring: the Workers KV namespace the Worker reads API keys from (bound as ``KEYS``).

Keys are stored as SHA-256 hashes (docs/keys.md). Destroying the stack deletes the namespace and
every key in it.
"""

from __future__ import annotations

from typing import TypedDict

import pulumi
import pulumi_cloudflare as cloudflare


class KeyRingArgs(TypedDict):
    account_id: pulumi.Input[str]
    """Cloudflare account that owns the namespace."""
    title: str
    """Namespace title; Cloudflare refuses a second namespace with the same title in an account."""


class KeyRing(pulumi.ComponentResource):
    namespace_id: pulumi.Output[str]

    def __init__(self, name: str, args: KeyRingArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("flaregate:index:KeyRing", name, None, opts)
        namespace = cloudflare.WorkersKvNamespace(
            f"{name}-kv",
            account_id=args["account_id"],
            title=args["title"],
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.namespace_id = namespace.id
        self.register_outputs({"namespace_id": self.namespace_id})
