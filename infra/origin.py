"""Your own OpenAI-compatible server behind Cloudflare: TLS, DNS and the shared secret.

- A private key and CSR made by ``pulumi-tls`` (the key never leaves the stack state, which keeps
  it encrypted as a secret) and a Cloudflare Origin CA certificate for them, so the origin can
  serve TLS that Cloudflare trusts under SSL/TLS mode Full (strict) (docs/origin.md).
- A proxied DNS record: clients and the Worker reach the origin only through Cloudflare.
- The shared secret the Worker sends (``ORIGIN_SECRET``). Without pulumi-random it is derived from
  a dedicated ``pulumi-tls`` ED25519 key: 256 random bits created once, kept in the state as a
  secret, identical on every later ``up`` (so a second deploy changes nothing) and rotated by
  replacing that key. ``flaregate:originSecret`` overrides it with an operator-chosen value.
"""

from __future__ import annotations

import base64
import hashlib
from typing import TypedDict

import pulumi
import pulumi_cloudflare as cloudflare
import pulumi_tls as tls

from flaregate.stack_config import OriginSettings

# Origin CA request type -> the key pulumi-tls makes for it.
KEY_ALGORITHMS = {
    "origin-rsa": {"algorithm": "RSA", "rsa_bits": 2048},
    "origin-ecc": {"algorithm": "ECDSA", "ecdsa_curve": "P256"},
}
SECRET_CONTEXT = b"flaregate origin shared secret v1\0"


def shared_secret_from_seed(private_key_pem: str) -> str:
    """43 URL-safe characters (256 bits) derived from a private key's random material."""
    digest = hashlib.sha256(SECRET_CONTEXT + private_key_pem.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


class OriginArgs(TypedDict):
    zone_id: pulumi.Input[str]
    """Zone the origin hostname is in (for the DNS record)."""
    settings: OriginSettings
    """Hostname, address, certificate type and validity from stack config."""


class Origin(pulumi.ComponentResource):
    url: str
    certificate: pulumi.Output[str]
    private_key_pem: pulumi.Output[str]
    expires_on: pulumi.Output[str]
    shared_secret: pulumi.Output[str]

    def __init__(self, name: str, args: OriginArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("flaregate:index:Origin", name, None, opts)
        s = args["settings"]
        child = pulumi.ResourceOptions(parent=self)
        key = tls.PrivateKey(f"{name}-key", **KEY_ALGORITHMS[s.request_type], opts=child)
        csr = tls.CertRequest(
            f"{name}-csr",
            private_key_pem=key.private_key_pem,
            subject={"common_name": s.hostname, "organization": "flaregate origin"},
            dns_names=[s.hostname],
            opts=child,
        )
        cert = cloudflare.OriginCaCertificate(
            f"{name}-certificate",
            csr=csr.cert_request_pem,
            hostnames=[s.hostname],
            request_type=s.request_type,
            requested_validity=float(s.validity_days),
            opts=child,
        )
        cloudflare.DnsRecord(
            f"{name}-dns",
            zone_id=args["zone_id"],
            name=s.hostname,
            type=s.dns_type,
            content=s.address,
            ttl=1,  # automatic: required for proxied records
            proxied=True,
            comment="flaregate origin server (managed by Pulumi)",
            opts=child,
        )
        if s.secret:
            secret = pulumi.Output.secret(s.secret)
        else:
            seed = tls.PrivateKey(f"{name}-secret-seed", algorithm="ED25519", opts=child)
            secret = pulumi.Output.secret(seed.private_key_pem.apply(_derive))
        self.url = s.url
        self.certificate = pulumi.Output.secret(cert.certificate)
        self.private_key_pem = pulumi.Output.secret(key.private_key_pem)
        self.expires_on = cert.expires_on
        self.shared_secret = secret
        self.register_outputs(
            {
                "certificate": self.certificate,
                "private_key_pem": self.private_key_pem,
                "expires_on": self.expires_on,
                "shared_secret": self.shared_secret,
            }
        )


def _derive(pem: str | None) -> str | None:
    # None only under preview, before the key exists.
    return shared_secret_from_seed(pem) if pem else None
