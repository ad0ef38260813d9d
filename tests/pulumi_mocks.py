"""Runs the Pulumi program under ``pulumi.runtime.set_mocks`` and records what it registers.

The mocks play the providers: every resource echoes its inputs as outputs, plus the values only
a provider computes (PEMs, the Origin CA certificate, ids), shaped like the real ones. Before
that, every provider resource's inputs are checked against the provider SDK's own input types
(tests/provider_types.py): a run whose inputs a real provider would refuse fails, whichever test
ran it.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.runtime.rpc import _special_secret_sig, _special_sig_key
from pulumi.runtime.sync_await import _sync_await

from tests.provider_types import check_resource, is_checked

FAKE_PEMS = {
    "tls:index/privateKey:PrivateKey": "privateKeyPem",
    "tls:index/certRequest:CertRequest": "certRequestPem",
}


KV_NAMESPACE = "cloudflare:index/workersKvNamespace:WorkersKvNamespace"


def kv_namespace_id(resource_name: str) -> str:
    """The id the mocks give a KV namespace: 32 hex digits like Cloudflare's (the fake
    Cloudflare API serves KV for such ids)."""
    return hashlib.sha256(resource_name.encode()).hexdigest()[:32]


class RecordingMocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.resources: list[pulumi.runtime.MockResourceArgs] = []
        self.violations: list[str] = []
        self.checked = 0

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        self.resources.append(args)
        if is_checked(args.typ):
            self.checked += 1
            self.violations += check_resource(args.typ, args.inputs)
        outputs = dict(args.inputs)
        if args.typ in FAKE_PEMS:
            label = "PRIVATE KEY" if "privateKey" in args.typ else "CERTIFICATE REQUEST"
            outputs[FAKE_PEMS[args.typ]] = (
                f"-----BEGIN {label}-----\nfake-{args.name}\n-----END {label}-----\n"
            )
        if args.typ == "cloudflare:index/originCaCertificate:OriginCaCertificate":
            outputs["certificate"] = (
                "-----BEGIN CERTIFICATE-----\nfake-origin-ca\n-----END CERTIFICATE-----\n"
            )
            outputs["expiresOn"] = "2041-05-01 00:00:00 +0000 UTC"
        if args.typ == KV_NAMESPACE:
            return kv_namespace_id(args.name), outputs
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}


class ProviderInputError(AssertionError):
    """The program passed inputs the provider's own types refuse."""


@dataclass
class Deployment:
    resources: list[pulumi.runtime.MockResourceArgs]
    checked: int = 0
    """Provider resources whose inputs were checked against the provider SDK's types."""
    outputs: dict[str, Any] = field(default_factory=dict)
    secret_outputs: set[str] = field(default_factory=set)

    def of_type(self, typ: str) -> list[pulumi.runtime.MockResourceArgs]:
        return [r for r in self.resources if r.typ == typ]

    def one(self, typ: str) -> dict[str, Any]:
        """Inputs of the only resource of ``typ`` (secret markers kept, see is_secret)."""
        (found,) = self.of_type(typ)
        return found.inputs

    @property
    def types(self) -> set[str]:
        return {r.typ for r in self.resources}


def is_secret(value: Any) -> bool:
    """True for a value the program passed as a Pulumi secret (the engine's secret marker)."""
    return isinstance(value, dict) and value.get(_special_sig_key) == _special_secret_sig


def reveal(value: Any) -> Any:
    """The value with every secret marker removed, for comparing contents."""
    if is_secret(value):
        return reveal(value["value"])
    if isinstance(value, dict):
        return {k: reveal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [reveal(v) for v in value]
    return value


def run_program(config: dict[str, Any], program=None) -> Deployment:
    """Run ``program`` (default: the flaregate program) with ``flaregate:<key>`` config."""
    from flaregate.infra.program import flaregate_program

    _ensure_event_loop()
    mocks = RecordingMocks()
    pulumi.runtime.set_mocks(mocks, project="flaregate", stack="test", preview=False)
    pulumi.runtime.set_all_config({f"flaregate:{k}": v for k, v in config.items()})
    root = pulumi.runtime.settings.get_root_resource()
    root.outputs.clear()  # the mock stack outlives set_mocks: forget the previous run's exports
    pulumi.runtime.test(program or flaregate_program)()
    if mocks.violations:
        raise ProviderInputError(
            "inputs the provider's own types refuse:\n  " + "\n  ".join(mocks.violations)
        )
    deployment = Deployment(mocks.resources, mocks.checked)
    for name, value in root.outputs.items():
        output = pulumi.Output.from_input(value)
        deployment.outputs[name] = _sync_await(output.future())
        if _sync_await(output.is_secret()):
            deployment.secret_outputs.add(name)
    return deployment


def _ensure_event_loop() -> None:
    # Pulumi's runtime awaits on the thread's current loop; async tests elsewhere in the session
    # (the openai AsyncOpenAI client under asyncio.run) leave the thread without one.
    try:
        loop = asyncio.get_event_loop_policy().get_event_loop()
        if not loop.is_closed():
            return
    except RuntimeError:
        pass
    asyncio.set_event_loop(asyncio.new_event_loop())
