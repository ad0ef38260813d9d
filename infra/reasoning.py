"""The Worker secret that seals Responses API reasoning (``REASONING_SECRET``, docs/api.md).

Reasoning items leave the Worker as ``encrypted_content`` (AES-GCM, key derived from this secret)
and come back in later requests; the secret must stay the same across deploys, or every sealed
item in flight stops opening. Without pulumi-random it is derived, like the origin's shared
secret, from a dedicated ``pulumi-tls`` ED25519 key: 256 random bits created once, kept in the
state as a secret, identical on every later ``up``, rotated by replacing that key.
"""

from __future__ import annotations

import base64
import hashlib

import pulumi
import pulumi_tls as tls

SECRET_CONTEXT = b"flaregate reasoning seal secret v1\0"


def reasoning_secret_from_seed(private_key_pem: str) -> str:
    """43 URL-safe characters (256 bits) derived from a private key's random material."""
    digest = hashlib.sha256(SECRET_CONTEXT + private_key_pem.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def reasoning_secret(name: str) -> pulumi.Output[str]:
    seed = tls.PrivateKey(f"{name}-seed", algorithm="ED25519")
    return pulumi.Output.secret(seed.private_key_pem.apply(_derive))


def _derive(pem: str | None) -> str | None:
    # None only under preview, before the key exists.
    return reasoning_secret_from_seed(pem) if pem else None
