"""The Pulumi program's inputs against the pinned providers' own input types.

Every run of the program under mocks checks each pulumi_cloudflare / pulumi_tls resource
(tests/pulumi_mocks.py with tests/provider_types.py); here every feature combination is run, and
the checker itself is shown to catch an unknown key, a missing required key and a wrong type, at
the top level and nested (Worker bindings, observability, CSR subject).
"""

from __future__ import annotations

import pytest

from tests.provider_types import check_resource, fields
from tests.pulumi_mocks import run_program

ACCOUNT = "023e105f4ecef8ad9ca31a8372d0c353"
ZONE = "593c9c94de529bbbfaac7c53ced0447d"
ORIGIN = {"zoneId": ZONE, "originHostname": "llm.example.com", "originAddress": "203.0.113.7"}
SCRIPT = "cloudflare:index/workersScript:WorkersScript"
SUBDOMAIN = "cloudflare:index/workersScriptSubdomain:WorkersScriptSubdomain"
GATEWAY = "cloudflare:index/aiGateway:AiGateway"
CSR = "tls:index/certRequest:CertRequest"

COMBINATIONS = {
    "minimal": {},
    "no gateway": {"gatewayId": ""},
    "gateway with cache and rate limits": {
        "gatewayCacheTtl": "300",
        "gatewayRateLimit": "100",
        "gatewayRateLimitTechnique": "sliding",
        "gatewayCollectLogs": "false",
    },
    "custom domain only": {"customDomain": "api.example.com", "zoneId": ZONE},
    "custom domain and workers.dev": {"customDomain": "api.example.com", "workersDev": "true"},
    "origin rsa": ORIGIN,
    "origin ecc, chosen secret": {
        **ORIGIN,
        "originRequestType": "origin-ecc",
        "originValidityDays": "90",
        "originSecret": "s" * 40,
    },
    "origin AAAA with models": {**ORIGIN, "originAddress": "2001:db8::7", "originModels": "a,b"},
    "everything": {
        **ORIGIN,
        "customDomain": "api.example.com",
        "workersDev": "true",
        "corsOrigins": "*",
        "aliases": '{"mine": "@cf/qwen/qwq-32b"}',
    },
}


@pytest.mark.parametrize("config", COMBINATIONS.values(), ids=COMBINATIONS.keys())
def test_every_feature_combination_fits_the_provider_types(config):
    deployment = run_program({"accountId": ACCOUNT, **config})  # raises on any violation
    provider = [r for r in deployment.resources if r.typ.split(":")[0] in ("cloudflare", "tls")]
    assert deployment.checked == len(provider) >= 3


def valid_script() -> dict:
    return {
        "accountId": ACCOUNT,
        "scriptName": "flaregate",
        "content": "export default {}",
        "mainModule": "worker.js",
        "compatibilityDate": "2026-04-01",
        "bindings": [
            {"name": "AI", "type": "ai"},
            {"name": "KEYS", "type": "kv_namespace", "namespaceId": "abc"},
            {
                "name": "S",
                "type": "secret_text",
                "text": {
                    "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
                    "value": "x",
                },
            },
        ],
        "observability": {"enabled": True, "headSamplingRate": 1.0},
    }


def test_valid_inputs_pass_including_secrets_and_float_numbers():
    assert check_resource(SCRIPT, valid_script()) == []


def test_an_unknown_or_misspelt_key_fails_and_names_the_right_one():
    script = valid_script()
    script["compatibilityDates"] = script.pop("compatibilityDate")
    (error,) = check_resource(SCRIPT, script)
    assert "compatibilityDates: not an input of WorkersScriptArgs" in error
    assert "did you mean 'compatibilityDate'" in error


def test_a_snake_case_key_in_a_nested_binding_fails():
    script = valid_script()
    script["bindings"][1] = {"name": "KEYS", "type": "kv_namespace", "namespace_id": "abc"}
    (error,) = check_resource(SCRIPT, script)
    assert error.startswith(f"{SCRIPT}.bindings[1].namespace_id: not an input of")
    assert "namespaceId" in error


def test_a_missing_required_key_fails_top_level_and_nested():
    assert check_resource(SUBDOMAIN, {"accountId": ACCOUNT, "scriptName": "x"}) == [
        f"{SUBDOMAIN}.enabled: required by WorkersScriptSubdomainArgs but missing"
    ]
    script = valid_script()
    del script["bindings"][0]["type"]
    assert check_resource(SCRIPT, script) == [
        f"{SCRIPT}.bindings[0].type: required by WorkersScriptBindingArgs but missing"
    ]


@pytest.mark.parametrize(
    "typ, inputs, expected",
    [
        (
            SUBDOMAIN,
            {"accountId": ACCOUNT, "scriptName": "x", "enabled": "yes"},
            "enabled: expected bool",
        ),
        (
            GATEWAY,
            {
                "accountId": ACCOUNT,
                "aiGatewayId": "g",
                "cacheTtl": 1.5,
                "collectLogs": True,
                "rateLimitingInterval": 0,
                "rateLimitingLimit": 0,
            },
            "cacheTtl: expected int",
        ),
        (
            SCRIPT,
            {**valid_script(), "observability": {"enabled": "true"}},
            "observability.enabled: expected bool",
        ),
        (SCRIPT, {**valid_script(), "bindings": {"name": "AI"}}, "bindings: expected a list"),
        (
            CSR,
            {"privateKeyPem": "k", "subject": {"commonName": 7}},
            "subject.commonName: expected str",
        ),
        (CSR, {"privateKeyPem": "k", "subject": {"common_name": "x"}}, "did you mean 'commonName'"),
    ],
)
def test_a_wrong_type_fails_with_its_path(typ, inputs, expected):
    errors = check_resource(typ, inputs)
    assert any(expected in e for e in errors), errors


def test_an_unknown_resource_type_fails():
    assert "has no NoSuchThingArgs" in check_resource("cloudflare:index/x:NoSuchThing", {})[0]


def test_the_args_classes_and_their_typed_dicts_agree():
    """The checker reads the *Args classes; their *ArgsDict TypedDicts must say the same."""
    import pulumi_cloudflare._inputs as cf_inputs
    import pulumi_tls._inputs as tls_inputs

    for module in (cf_inputs, tls_inputs):
        for name in (
            "WorkersScriptBindingArgs",
            "WorkersScriptObservabilityArgs",
            "CertRequestSubjectArgs",
        ):
            cls = getattr(module, name, None)
            if cls is not None:
                assert fields(cls)  # raises AssertionError when the TypedDict disagrees
