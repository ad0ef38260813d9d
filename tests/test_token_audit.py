"""The token audit through the official SDK against the fake Cloudflare API, per scenario."""

from __future__ import annotations

import json
import urllib.parse
from datetime import UTC, datetime, timedelta

import pytest

from flaregate.permissions import needed_for
from flaregate.token_audit import (
    TokenPermissionError,
    audit_token,
    audit_token_string,
    dashboard_links,
    preflight,
    require_deployable,
)
from tests.fake_cloudflare import (
    ACCOUNT,
    ALL_DEPLOY,
    OTHER_ACCOUNT,
    ZONE,
    ZONE_DEPLOY,
    FakeCloudflare,
    account_owned_token,
    account_res,
    expired_token,
    full_token,
    make_token,
    policy,
    token_that_cannot_read_itself,
    token_without_ssl,
    user_res,
    wrong_zone_token,
    zone_res,
)

ALL = ["core", "gateway", "custom_domain", "origin"]


@pytest.fixture
def fake():
    with FakeCloudflare() as server:
        yield server


def audit(fake, token, features=ALL, zone_id=ZONE, **kwargs):
    fake.add(token)
    return audit_token(fake.client(token), ACCOUNT, features, zone_id, **kwargs)


def states(report) -> dict[str, str]:
    return {r.permission.api_name: r.state for r in report.rows}


def test_full_token_is_confirmed_exactly_from_its_policies(fake):
    report = audit(fake, full_token())
    assert report.exit_ok and report.deployable
    assert report.introspected and report.owner == "user" and report.status == "active"
    assert set(states(report).values()) == {"granted"}
    assert {r.via for r in report.rows} == {"policy"}
    assert report.extra_permissions == []
    # Exact evaluation needs no probes.
    assert not [p for p in fake.paths() if "/workers/scripts" in p or p.startswith("/zones/")]


def test_missing_ssl_and_certificates_is_missing_and_blocks_a_deploy(fake):
    report = audit(fake, token_without_ssl())
    assert states(report)["SSL and Certificates Write"] == "missing"
    assert states(report)["DNS Write"] == "granted"
    assert not report.exit_ok and not report.deployable
    with pytest.raises(TokenPermissionError) as err:
        require_deployable(report)
    message = str(err.value)
    assert "Zone | App Security | SSL and Certificates | Edit" in message
    assert "1016" in message and "Origin CA Key" in message
    assert "ssl_and_certificates" in urllib.parse.unquote(message)
    # Without the origin feature the same token is fine.
    assert audit(fake, token_without_ssl(), features=["core", "gateway"]).exit_ok


def test_token_that_cannot_read_itself_is_probed_and_edit_stays_unverified(fake):
    report = audit(fake, token_that_cannot_read_itself())
    assert not report.introspected and "API Tokens Read" in report.introspection_note
    assert states(report) == {
        "Workers Scripts Write": "unverified",
        "Workers KV Storage Write": "unverified",
        "AI Gateway Write": "unverified",
        "Zone Read": "unverified",  # GET /zones/{id} answers to other permissions too
        "DNS Write": "unverified",
        "SSL and Certificates Write": "unverified",
    }
    assert {r.via for r in report.rows} == {"probe"}
    assert "Read access works" in report.rows[0].evidence
    assert not report.exit_ok and report.deployable  # nothing known missing: deploy may go on
    assert f"/accounts/{ACCOUNT}/workers/scripts" in fake.paths("GET")
    assert "/certificates" in fake.paths("GET")


def test_probe_refusal_is_missing(fake):
    report = audit(fake, token_without_ssl(self_read=False))
    assert states(report)["SSL and Certificates Write"] == "missing"
    assert "Unauthorized to access requested resource (code 9109)" in report.rows[-1].evidence
    assert not report.deployable


def test_expired_token_blocks_everything(fake):
    report = audit(fake, expired_token())
    assert report.status == "expired" and not report.deployable
    assert set(states(report).values()) == {"missing"}
    with pytest.raises(TokenPermissionError, match="expired on"):
        require_deployable(report)


def test_account_owned_token_is_verified_and_read_through_the_account_endpoints(fake):
    report = audit(fake, account_owned_token())
    assert report.owner == "account" and report.exit_ok
    assert "/user/tokens/verify" in fake.paths()
    assert f"/accounts/{ACCOUNT}/tokens/verify" in fake.paths()
    assert any(
        p.startswith(f"/accounts/{ACCOUNT}/tokens/") and "verify" not in p for p in fake.paths()
    )


def test_account_owned_token_without_self_read_mentions_the_account_permission(fake):
    report = audit(fake, account_owned_token(self_read=False))
    assert report.owner == "account" and "Account API Tokens Read" in report.introspection_note


def test_zone_scoped_token_for_the_wrong_zone(fake):
    report = audit(fake, wrong_zone_token())
    assert states(report)["Zone Read"] == "missing"
    assert states(report)["DNS Write"] == "missing"
    assert states(report)["Workers Scripts Write"] == "granted"
    assert f"zone {ZONE}" in report.rows[3].evidence
    probed = audit(fake, wrong_zone_token(self_read=False))
    assert states(probed)["Zone Read"] == "missing" and states(probed)["DNS Write"] == "missing"


def test_rate_limited_api_is_unverified_not_missing(fake):
    fake.fail(
        "/user/tokens/verify",
        429,
        971,
        "Please wait and consider throttling your request speed",
        times=10,
        retry_after=0,
    )
    report = audit(fake, full_token())
    assert report.status == "unknown" and "rate limited" in report.introspection_note
    assert set(states(report).values()) == {"unverified"}
    assert not report.exit_ok and not report.deployable


def test_failing_probe_endpoint_is_unverified(fake):
    fake.fail("/accounts/.*/ai-gateway/gateways", 502, 10001, "bad gateway", times=10)
    report = audit(fake, token_that_cannot_read_itself())
    assert states(report)["AI Gateway Write"] == "unverified"
    assert (
        "HTTP 502"
        in next(r for r in report.rows if r.permission.api_name == "AI Gateway Write").evidence
    )
    zone_read = next(r for r in report.rows if r.permission.api_name == "Zone Read")
    assert zone_read.via == "probe" and "succeeded" in zone_read.evidence


def test_a_zone_probe_that_succeeds_cannot_prove_zone_read(fake):
    """GET /zones/{id} also answers to DNS, SSL and Workers permissions: this token has no Zone
    Read, and its zone probe succeeds all the same."""
    token = make_token([policy(ALL_DEPLOY, account_res()), policy(["DNS Write"], zone_res())])
    report = audit(fake, token, features=["origin"])
    zone_read = next(r for r in report.rows if r.permission.api_name == "Zone Read")
    assert zone_read.state == "unverified"
    assert "cannot prove Zone Read" in zone_read.evidence
    assert f"/zones/{ZONE}" in fake.paths("GET")


def test_a_refused_zone_probe_still_proves_zone_read_missing(fake):
    token = make_token([policy(ALL_DEPLOY, account_res())])
    report = audit(fake, token, features=["origin"])
    assert states(report)["Zone Read"] == "missing"


def test_invalid_token(fake):
    client = fake.client("cf-made-up")
    report = audit_token(client, ACCOUNT, ["core"])
    assert report.status == "invalid" and not report.deployable
    assert "Invalid API Token" in report.rows[0].evidence


def test_deny_policy_wins(fake):
    token = full_token()
    token.policies.append(policy(["DNS Write"], zone_res(), effect="deny"))
    report = audit(fake, token)
    assert states(report)["DNS Write"] == "missing" and "deny" in report.rows[4].evidence
    assert states(report)["Zone Read"] == "granted"  # from the policies, not a probe


def test_wildcards_and_nested_resources(fake):
    nested = make_token(
        [
            policy(ALL_DEPLOY, {"com.cloudflare.api.account.*": "*"}),
            policy(
                ZONE_DEPLOY,
                {
                    f"com.cloudflare.api.account.{ACCOUNT}": {
                        "com.cloudflare.api.account.zone.*": "*"
                    }
                },
            ),
            policy(["API Tokens Read"], user_res()),
        ]
    )
    report = audit(fake, nested)
    assert report.exit_ok
    assert any("every account" in w for w in report.warnings)
    other_account_zones = make_token(
        [
            policy(ALL_DEPLOY, account_res()),
            policy(
                ZONE_DEPLOY,
                {
                    f"com.cloudflare.api.account.{OTHER_ACCOUNT}": {
                        "com.cloudflare.api.account.zone.*": "*"
                    }
                },
            ),
            policy(["API Tokens Read"], user_res()),
        ]
    )
    assert states(audit(fake, other_account_zones))["DNS Write"] == "missing"
    all_zones = make_token(
        [
            policy(ALL_DEPLOY, account_res()),
            policy(ZONE_DEPLOY, {"com.cloudflare.api.account.zone.*": "*"}),
            policy(["API Tokens Read"], user_res()),
        ]
    )
    assert audit(fake, all_zones).exit_ok


def test_specific_zones_without_zone_id_are_unverified(fake):
    report = audit(fake, full_token(), zone_id=None)
    assert states(report)["Zone Read"] == "unverified"
    assert "--zone-id" in report.rows[3].evidence
    assert states(report)["Workers Scripts Write"] == "granted"


def test_policies_listing_only_ids_are_resolved_by_name(fake):
    token = make_token(
        [
            policy(ALL_DEPLOY, account_res(), with_names=False),
            policy(ZONE_DEPLOY, zone_res(), with_names=False),
            policy(["API Tokens Read"], user_res(), with_names=False),
        ]
    )
    assert audit(fake, token).exit_ok


def test_edit_grant_satisfies_a_read_need_and_extras_are_reported(fake):
    token = make_token(
        [
            policy(ALL_DEPLOY + ["Billing Read", "Account Settings Read"], account_res()),
            policy(["Zone Write", "DNS Write", "SSL and Certificates Write"], zone_res()),
            policy(["API Tokens Read"], user_res()),
        ]
    )
    report = audit(fake, token)
    assert states(report)["Zone Read"] == "granted"
    assert report.extra_permissions == ["Account Settings Read", "Billing Read", "Zone Write"]


def test_expiry_soon_and_ip_restrictions_are_reported(fake):
    soon = (datetime.now(UTC) + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    token = full_token(expires_on=soon, request_ip_in=["192.0.2.0/24"])
    report = audit(fake, token)
    assert report.exit_ok
    assert report.ip_allowed == ["192.0.2.0/24"]
    assert any("expires in 2 days" in w or "expires in 3 days" in w for w in report.warnings)
    assert any("192.0.2.0/24" in w for w in report.warnings)


def test_links_prefill_exactly_the_needed_permissions():
    links = dashboard_links(needed_for(["origin"]), ACCOUNT, ZONE)
    user = urllib.parse.urlsplit(links["user_token"])
    query = urllib.parse.parse_qs(user.query)
    assert user.netloc == "dash.cloudflare.com" and user.path == "/profile/api-tokens"
    assert json.loads(query["permissionGroupKeys"][0]) == [
        {"key": "workers_scripts", "type": "edit"},
        {"key": "workers_kv_storage", "type": "edit"},
        {"key": "zone", "type": "read"},
        {"key": "dns", "type": "edit"},
        {"key": "ssl_and_certificates", "type": "edit"},
    ]
    assert query["accountId"] == [ACCOUNT] and query["zoneId"] == [ZONE]
    account = links["account_token"]
    assert account.startswith(
        "https://dash.cloudflare.com/?to=/:account/api-tokens&permissionGroupKeys="
    )
    keys = json.loads(
        urllib.parse.parse_qs(urllib.parse.urlsplit(account).query)["permissionGroupKeys"][0]
    )
    assert keys == json.loads(query["permissionGroupKeys"][0])


def test_callable_with_a_token_string(fake):
    token = fake.add(full_token())
    report = audit_token_string(token.value, ACCOUNT, ["core"], base_url=fake.base_url)
    assert report.exit_ok
    assert require_deployable(report) is report
    assert all(r["authorization"] and not r["x_auth_key"] for r in fake.requests)


def test_report_json_is_serializable_and_never_contains_the_token(fake):
    token = full_token()
    report = audit(fake, token)
    text = json.dumps(report.as_json())
    assert token.value not in text
    assert (
        json.loads(text)["permissions"][0]["dashboard"]
        == "Account | Developer Platform | Workers Scripts | Edit"
    )


def test_unknown_zone_id_is_unverified_with_a_hint_not_missing(fake):
    report = audit(fake, token_that_cannot_read_itself(), zone_id="0" * 32)
    zone_read = next(r for r in report.rows if r.permission.api_name == "Zone Read")
    assert zone_read.state == "unverified" and "check the id" in zone_read.evidence
    assert report.deployable is True


def test_preflight_for_deploy_raises_before_any_change(fake):
    ok = fake.add(full_token())
    assert preflight(ok.value, ACCOUNT, ["core", "gateway"], base_url=fake.base_url).deployable
    bad = fake.add(token_without_ssl())
    with pytest.raises(TokenPermissionError, match="SSL and Certificates") as err:
        preflight(bad.value, ACCOUNT, ["origin"], ZONE, base_url=fake.base_url)
    assert err.value.report.missing and bad.value not in str(err.value)
    assert not fake.paths("PUT") and not fake.paths("POST")
