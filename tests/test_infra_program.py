"""The Pulumi program under pulumi.runtime.set_mocks: resources, inputs, bindings, secrets, toggles."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from flaregate.cli import main
from flaregate.errors import ConfigError
from flaregate.infra.origin import shared_secret_from_seed
from flaregate.infra.reasoning import reasoning_secret_from_seed
from flaregate.render import render_worker
from flaregate.stack_config import load_settings
from tests.pulumi_mocks import is_secret, kv_namespace_id, reveal, run_program

ACCOUNT = "023e105f4ecef8ad9ca31a8372d0c353"
ZONE = "593c9c94de529bbbfaac7c53ced0447d"
KV = "cloudflare:index/workersKvNamespace:WorkersKvNamespace"
SCRIPT = "cloudflare:index/workersScript:WorkersScript"
GATEWAY = "cloudflare:index/aiGateway:AiGateway"
SUBDOMAIN = "cloudflare:index/workersScriptSubdomain:WorkersScriptSubdomain"
DOMAIN = "cloudflare:index/workersCustomDomain:WorkersCustomDomain"
CERT = "cloudflare:index/originCaCertificate:OriginCaCertificate"
DNS = "cloudflare:index/dnsRecord:DnsRecord"
KEY = "tls:index/privateKey:PrivateKey"
CSR = "tls:index/certRequest:CertRequest"
ORIGIN = {
    "accountId": ACCOUNT,
    "zoneId": ZONE,
    "originHostname": "llm.example.com",
    "originAddress": "203.0.113.7",
}


def bindings(deployment) -> dict[str, dict]:
    return {b["name"]: b for b in reveal(deployment.one(SCRIPT)["bindings"])}


def rendered_settings(content: str) -> dict:
    return json.loads(re.search(r"const BUILTIN_SETTINGS = (.*);", content).group(1))


def test_minimal_stack_is_key_ring_gateway_worker_on_workers_dev():
    d = run_program({"accountId": ACCOUNT})
    assert d.types == {
        "flaregate:index:KeyRing",
        "flaregate:index:Gateway",
        "flaregate:index:Worker",
        KV,
        GATEWAY,
        SCRIPT,
        SUBDOMAIN,
        KEY,  # the seed of REASONING_SECRET (infra/reasoning.py)
    }
    assert d.one(KV) == {"accountId": ACCOUNT, "title": "flaregate-keys"}
    assert d.one(SUBDOMAIN) == {
        "accountId": ACCOUNT,
        "scriptName": "flaregate",
        "enabled": True,
        "previewsEnabled": False,
    }


def test_script_upload_inputs():
    script = run_program({"accountId": ACCOUNT, "workerName": "my-gate"}).one(SCRIPT)
    assert script["accountId"] == ACCOUNT
    assert script["scriptName"] == "my-gate"
    assert script["mainModule"] == "worker.js"
    assert script["compatibilityDate"] == "2026-04-01"
    assert script["observability"]["enabled"] is True


def test_script_content_is_exactly_what_flaregate_render_writes(tmp_path):
    config = {
        "accountId": ACCOUNT,
        "workerName": "my-gate",
        "corsOrigins": '["https://app.example.com"]',
        "timeoutMs": "90000",
        "aliases": '{"my-model": "@cf/qwen/qwq-32b"}',
    }
    content = run_program(config).one(SCRIPT)["content"]
    (tmp_path / "flaregate.toml").write_text(
        'worker_name = "my-gate"\ngateway_id = "my-gate"\n'
        'cors_origins = ["https://app.example.com"]\ntimeout_ms = 90000\n'
        '[aliases]\nmy-model = "@cf/qwen/qwq-32b"\n'
    )
    result = CliRunner().invoke(
        main, ["render", "--config", str(tmp_path / "flaregate.toml"), "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert content == (tmp_path / "worker.js").read_text()
    assert content == render_worker(load_settings(config).worker)


def test_bindings_by_name_and_type():
    d = run_program({"accountId": ACCOUNT, "corsOrigins": "https://a.example, https://b.example"})
    b = bindings(d)
    assert b["AI"] == {"name": "AI", "type": "ai"}
    kv_id = kv_namespace_id("keyring-kv")
    assert b["KEYS"] == {"name": "KEYS", "type": "kv_namespace", "namespaceId": kv_id}
    plain = {name: v["text"] for name, v in b.items() if v["type"] == "plain_text"}
    assert plain == {
        "GATEWAY_ID": "flaregate",
        "CORS_ORIGINS": "https://a.example,https://b.example",
        "MAX_BODY_BYTES": "4194304",
        "TIMEOUT_MS": "120000",
        "FIRST_TOKEN_TIMEOUT_MS": "60000",
        "IDLE_TIMEOUT_MS": "30000",
    }
    secret = {name for name, v in b.items() if v["type"] == "secret_text"}
    assert secret == {"REASONING_SECRET"}


def test_ai_gateway_defaults_and_the_worker_routes_through_it():
    d = run_program({"accountId": ACCOUNT, "workerName": "gate"})
    assert d.one(GATEWAY) == {
        "accountId": ACCOUNT,
        "aiGatewayId": "gate",
        "authentication": False,
        "collectLogs": True,
        "cacheTtl": 0,
        "cacheInvalidateOnUpdate": True,
        "rateLimitingLimit": 0,
        "rateLimitingInterval": 0,  # off is 0 and 0, as the provider's own example sends it
        "rateLimitingTechnique": "fixed",
    }
    assert bindings(d)["GATEWAY_ID"]["text"] == "gate"
    assert rendered_settings(d.one(SCRIPT)["content"])["gateway"]["id"] == "gate"
    assert d.outputs["gatewayId"] == "gate"


def test_gateway_caching_and_rate_limiting_come_from_config():
    d = run_program(
        {
            "accountId": ACCOUNT,
            "gatewayId": "shared-gw",
            "gatewayCacheTtl": "300",
            "gatewayRateLimit": "100",
            "gatewayRateLimitInterval": "60",
            "gatewayRateLimitTechnique": "sliding",
            "gatewayCollectLogs": "false",
        }
    )
    gateway = d.one(GATEWAY)
    assert gateway["aiGatewayId"] == "shared-gw"
    assert (gateway["cacheTtl"], gateway["rateLimitingLimit"]) == (300, 100)
    assert gateway["rateLimitingInterval"] == 60
    assert gateway["rateLimitingTechnique"] == "sliding"
    assert gateway["collectLogs"] is False


def test_empty_gateway_id_turns_the_gateway_off():
    d = run_program({"accountId": ACCOUNT, "gatewayId": ""})
    assert d.of_type(GATEWAY) == []
    assert bindings(d)["GATEWAY_ID"]["text"] == ""
    assert rendered_settings(d.one(SCRIPT)["content"])["gateway"]["id"] is None
    assert d.outputs["gatewayId"] is None


def test_workers_dev_url_uses_the_account_subdomain():
    d = run_program({"accountId": ACCOUNT, "workersDevSubdomain": "acme"})
    assert d.outputs["url"] == "https://flaregate.acme.workers.dev"


def test_custom_domain_replaces_workers_dev():
    d = run_program({"accountId": ACCOUNT, "customDomain": "api.example.com", "zoneId": ZONE})
    # Turned off explicitly: a new script gets a workers.dev URL unless told otherwise.
    assert d.one(SUBDOMAIN) == {
        "accountId": ACCOUNT,
        "scriptName": "flaregate",
        "enabled": False,
        "previewsEnabled": False,
    }
    assert d.one(DOMAIN) == {
        "accountId": ACCOUNT,
        "hostname": "api.example.com",
        "service": "flaregate",
        "zoneId": ZONE,
    }
    assert d.outputs["url"] == "https://api.example.com"


def test_custom_domain_can_keep_workers_dev_too():
    d = run_program({"accountId": ACCOUNT, "customDomain": "api.example.com", "workersDev": "true"})
    assert len(d.of_type(DOMAIN)) == 1 and d.one(SUBDOMAIN)["enabled"] is True
    assert "zoneId" not in d.one(DOMAIN)  # optional: Cloudflare finds the zone by hostname


def test_origin_off_creates_no_certificate_dns_or_secret():
    d = run_program({"accountId": ACCOUNT, "zoneId": ZONE})
    assert not d.types & {CERT, DNS, CSR}
    assert [r.name for r in d.of_type(KEY)] == ["reasoning-seed"]
    assert "ORIGIN_SECRET" not in bindings(d) and "ORIGIN_URL" not in bindings(d)
    assert rendered_settings(d.one(SCRIPT)["content"])["origin"]["url"] is None
    assert not any(name.startswith("origin") for name in d.outputs)


def test_origin_certificate_from_a_tls_key_and_csr():
    d = run_program(ORIGIN)
    keys = {r.name: r.inputs for r in d.of_type(KEY)}
    assert keys["origin-key"] == {"algorithm": "RSA", "rsaBits": 2048}
    csr = d.one(CSR)
    assert is_secret(csr["privateKeyPem"])  # the key only travels as a secret
    assert "fake-origin-key" in reveal(csr["privateKeyPem"])
    assert csr["subject"]["commonName"] == "llm.example.com"
    assert csr["dnsNames"] == ["llm.example.com"]
    cert = d.one(CERT)
    assert cert["csr"].startswith("-----BEGIN CERTIFICATE REQUEST-----")
    assert cert["hostnames"] == ["llm.example.com"]
    assert cert["requestType"] == "origin-rsa"
    assert cert["requestedValidity"] == 5475


def test_origin_dns_record_is_proxied_to_the_origin_address():
    assert run_program(ORIGIN).one(DNS) == {
        "zoneId": ZONE,
        "name": "llm.example.com",
        "type": "A",
        "content": "203.0.113.7",
        "ttl": 1,
        "proxied": True,
        "comment": "flaregate origin server (managed by Pulumi)",
    }


@pytest.mark.parametrize(
    "address, record", [("2001:db8::7", "AAAA"), ("gpu-box.example.net", "CNAME")]
)
def test_origin_dns_record_type_follows_the_address(address, record):
    dns = run_program({**ORIGIN, "originAddress": address}).one(DNS)
    assert (dns["type"], dns["content"]) == (record, address)


def test_origin_ecc_certificate_with_chosen_validity():
    d = run_program({**ORIGIN, "originRequestType": "origin-ecc", "originValidityDays": "90"})
    keys = {r.name: r.inputs for r in d.of_type(KEY)}
    assert keys["origin-key"] == {"algorithm": "ECDSA", "ecdsaCurve": "P256"}
    cert = d.one(CERT)
    assert (cert["requestType"], cert["requestedValidity"]) == ("origin-ecc", 90)


def test_origin_shared_secret_is_a_secret_worker_binding():
    d = run_program(ORIGIN)
    script_bindings = d.one(SCRIPT)["bindings"]
    assert is_secret(script_bindings)
    b = bindings(d)
    assert b["ORIGIN_SECRET"]["type"] == "secret_text"
    seed = {r.name: r for r in d.of_type(KEY)}["origin-secret-seed"]
    assert seed.inputs == {"algorithm": "ED25519"}
    expected = shared_secret_from_seed(
        "-----BEGIN PRIVATE KEY-----\nfake-origin-secret-seed\n-----END PRIVATE KEY-----\n"
    )
    assert b["ORIGIN_SECRET"]["text"] == expected and len(expected) == 43
    assert b["ORIGIN_URL"] == {
        "name": "ORIGIN_URL",
        "type": "plain_text",
        "text": "https://llm.example.com",
    }
    content = d.one(SCRIPT)["content"]
    assert expected not in content  # the secret is a binding, never baked into the script
    assert rendered_settings(content)["origin"] == {"url": "https://llm.example.com", "models": []}


def test_origin_outputs_certificate_key_and_secret_as_secrets():
    d = run_program({**ORIGIN, "originModels": "llama-3.1-8b,qwen3"})
    assert {"originCertificate", "originPrivateKey", "originSecret"} <= d.secret_outputs
    assert "originHostname" not in d.secret_outputs
    assert d.outputs["originCertificate"].startswith("-----BEGIN CERTIFICATE-----")
    assert "PRIVATE KEY" in d.outputs["originPrivateKey"]
    assert d.outputs["originSecret"] == bindings(d)["ORIGIN_SECRET"]["text"]
    assert d.outputs["originCertificateExpiresOn"].startswith("2041")
    settings = rendered_settings(d.one(SCRIPT)["content"])
    assert settings["origin"]["models"] == ["llama-3.1-8b", "qwen3"]


def test_operator_chosen_origin_secret_replaces_the_generated_one():
    chosen = "s" * 48
    d = run_program({**ORIGIN, "originSecret": chosen})
    assert [r.name for r in d.of_type(KEY)] == ["reasoning-seed", "origin-key"]
    assert bindings(d)["ORIGIN_SECRET"]["text"] == chosen
    assert "originSecret" in d.secret_outputs


def test_a_second_run_registers_identical_inputs():
    """Nothing random or time-dependent: a redeploy with the same config changes nothing."""
    config = {**ORIGIN, "customDomain": "api.example.com", "corsOrigins": "*"}
    first, second = run_program(config), run_program(config)
    registered = [{(r.typ, r.name): r.inputs for r in d.resources} for d in (first, second)]
    assert registered[0] == registered[1]
    assert len(registered[0]) == len(first.resources) == 15


@pytest.mark.parametrize(
    "config, key",
    [
        ({}, "flaregate:accountId"),
        (
            {"accountId": ACCOUNT, "originHostname": "llm.example.com", "originAddress": "1.2.3.4"},
            "flaregate:zoneId",
        ),
        (
            {"accountId": ACCOUNT, "originHostname": "llm.example.com", "zoneId": ZONE},
            "flaregate:originAddress",
        ),
        ({"accountId": ACCOUNT, "workerName": "Not Valid"}, "flaregate:workerName"),
        ({"accountId": ACCOUNT, "timeoutMs": "soon"}, "flaregate:timeoutMs"),
        ({"accountId": ACCOUNT, "customDomain": "not a host"}, "flaregate:customDomain"),
    ],
)
def test_bad_config_fails_before_any_resource_naming_the_key(config, key):
    with pytest.raises(ConfigError, match=key):
        run_program(config)


def test_pulumi_yaml_runs_the_same_program_from_the_repo_root():
    """`pulumi up` from the root executes infra/__main__.py by path, like runpy.run_path."""
    import runpy
    from pathlib import Path

    import yaml

    root = Path(__file__).resolve().parent.parent
    project = yaml.safe_load((root / "Pulumi.yaml").read_text())
    assert project["name"] == "flaregate" and project["main"] == "infra/"
    assert project["runtime"]["name"] == "python"

    def entry_point() -> None:
        runpy.run_path(str(root / project["main"]))

    d = run_program({"accountId": ACCOUNT}, program=entry_point)
    assert d.one(SCRIPT)["content"] == render_worker(load_settings({"accountId": ACCOUNT}).worker)


def test_reasoning_secret_is_a_secret_binding_derived_from_its_own_seed():
    d = run_program({"accountId": ACCOUNT})
    assert is_secret(d.one(SCRIPT)["bindings"])
    b = bindings(d)
    assert b["REASONING_SECRET"]["type"] == "secret_text"
    (seed,) = d.of_type(KEY)
    assert seed.name == "reasoning-seed" and seed.inputs["algorithm"] == "ED25519"
    expected = reasoning_secret_from_seed(
        "-----BEGIN PRIVATE KEY-----\nfake-reasoning-seed\n-----END PRIVATE KEY-----\n"
    )
    assert b["REASONING_SECRET"]["text"] == expected
    assert expected not in d.one(SCRIPT)["content"]  # a binding, never baked into the script
    assert not any(expected in str(v) for v in d.outputs.values())
