"""Stack config parsing: text values as Pulumi hands them in, one clear error per bad key."""

from __future__ import annotations

import pytest

from flaregate.errors import ConfigError
from flaregate.stack_config import CONFIG_KEYS, load_settings

ACCOUNT = "023e105f4ecef8ad9ca31a8372d0c353"


def test_defaults_name_everything_after_the_worker():
    s = load_settings({"accountId": ACCOUNT, "workerName": "team-gate"})
    assert s.worker.worker_name == "team-gate"
    assert s.gateway.id == "team-gate" and s.worker.gateway_id == "team-gate"
    assert s.workers_dev and s.custom_domain is None and s.origin is None
    assert s.url is None  # unknown until the workers.dev subdomain is known


@pytest.mark.parametrize(
    "raw, expected",
    [
        ('["https://a.example", "https://b.example"]', ["https://a.example", "https://b.example"]),
        ("https://a.example, https://b.example", ["https://a.example", "https://b.example"]),
        ("*", ["*"]),
        (["https://a.example"], ["https://a.example"]),
    ],
)
def test_lists_take_json_or_comma_separated_text(raw, expected):
    assert load_settings({"accountId": ACCOUNT, "corsOrigins": raw}).worker.cors_origins == expected


def test_numbers_and_booleans_from_text():
    s = load_settings(
        {
            "accountId": ACCOUNT,
            "timeoutMs": "90000",
            "idleTimeoutMs": 20000.0,  # Pulumi hands YAML numbers over as floats
            "gatewayCollectLogs": "false",
            "gatewayCacheTtl": "600",
        }
    )
    assert (s.worker.timeout_ms, s.worker.idle_timeout_ms) == (90000, 20000)
    assert s.gateway.collect_logs is False and s.gateway.cache_ttl == 600


def test_custom_domain_turns_workers_dev_off_unless_asked():
    s = load_settings({"accountId": ACCOUNT, "customDomain": "https://API.example.com/"})
    assert s.custom_domain == "api.example.com" and not s.workers_dev
    assert s.url == "https://api.example.com"
    s = load_settings(
        {"accountId": ACCOUNT, "customDomain": "api.example.com", "workersDev": "true"}
    )
    assert s.workers_dev


def test_origin_settings_reach_the_worker_config():
    s = load_settings(
        {
            "accountId": ACCOUNT,
            "zoneId": "z" * 32,
            "originHostname": "llm.example.com",
            "originAddress": "203.0.113.7",
            "originModels": '["llama-3.1-8b"]',
        }
    )
    assert s.worker.origin_url == "https://llm.example.com"
    assert s.worker.origin_models == ["llama-3.1-8b"]
    assert s.origin.dns_type == "A" and s.origin.request_type == "origin-rsa"


@pytest.mark.parametrize(
    "values, key",
    [
        ({"accountId": ACCOUNT, "gatewayRateLimitTechnique": "burst"}, "gatewayRateLimitTechnique"),
        ({"accountId": ACCOUNT, "originValidityDays": "100"}, "originValidityDays"),
        ({"accountId": ACCOUNT, "workersDev": "maybe"}, "workersDev"),
        ({"accountId": ACCOUNT, "workersDev": "false"}, "workersDev"),
        ({"accountId": ACCOUNT, "models": "{not json"}, "models"),
        ({"accountId": ACCOUNT, "authCacheSeconds": "600"}, "authCacheSeconds"),
        ({"accountId": ACCOUNT, "gatewayRateLimit": "-1"}, "gatewayRateLimit"),
        ({"accountId": ACCOUNT, "originAddress": "203.0.113.7"}, "originHostname"),
        ({"accountId": "not an id"}, "accountId"),
    ],
)
def test_each_bad_value_is_one_error_naming_its_key(values, key):
    with pytest.raises(ConfigError, match=f"flaregate:{key}"):
        load_settings(values)


def test_a_bad_secret_is_reported_without_echoing_it():
    secret = "short-but-secret-value"
    with pytest.raises(ConfigError, match="flaregate:originSecret") as err:
        load_settings(
            {
                "accountId": ACCOUNT,
                "zoneId": "z" * 32,
                "originHostname": "llm.example.com",
                "originAddress": "203.0.113.7",
                "originSecret": secret,
            }
        )
    assert secret not in str(err.value)


def test_unknown_keys_are_reported_for_a_warning():
    s = load_settings({"accountId": ACCOUNT, "gatewayID": "x"})
    assert s.unknown_keys == ("gatewayID",)


def test_every_worker_setting_has_a_stack_config_key():
    from dataclasses import fields

    from flaregate.config import WorkerConfig

    covered = {k.field for k in CONFIG_KEYS if k.field}
    # gateway_id and origin_url are derived (gatewayId / originHostname); kv_namespace_id is
    # the namespace the program creates.
    derived = {"gateway_id", "origin_url", "kv_namespace_id"}
    assert {f.name for f in fields(WorkerConfig)} - derived == covered
