"""`flaregate keys ...`, `rotate-key` and `check-token` as a user runs them (click's CliRunner),
with the official SDK talking to the fake Cloudflare API."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from flaregate.cli import main
from tests.fake_cloudflare import (
    ACCOUNT,
    NAMESPACE,
    ZONE,
    FakeCloudflare,
    full_token,
    token_that_cannot_read_itself,
    token_without_ssl,
)


@pytest.fixture
def fake():
    with FakeCloudflare() as server:
        yield server


@pytest.fixture
def env(fake, monkeypatch):
    token = fake.add(full_token())
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", token.value)
    monkeypatch.setenv("CLOUDFLARE_BASE_URL", fake.base_url)
    monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", ACCOUNT)
    monkeypatch.setenv("FLAREGATE_KV_NAMESPACE_ID", NAMESPACE)
    return token


@pytest.fixture(autouse=True)
def _cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no stray flaregate.toml


def run(*args: str, input: str | None = None):
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


def test_create_prints_the_key_exactly_once_and_list_never(env):
    result = run("keys", "create", "--name", "laptop", "--expires", "90d")
    assert result.exit_code == 0, result.output
    key = result.stdout.strip()
    assert key.startswith("sk-fg-") and "\n" not in key
    assert result.output.count(key) == 1
    assert "cannot be shown again" in result.stderr
    listed = run("keys", "list")
    assert "laptop" in listed.output and key not in listed.output
    as_json = json.loads(run("keys", "list", "--json").stdout)
    assert [k["name"] for k in as_json["keys"]] == ["laptop"]
    assert as_json["keys"][0]["status"] == "expiring" and key not in json.dumps(as_json)


def test_create_json_for_scripts(env):
    data = json.loads(run("keys", "create", "--name", "ci", "--json").stdout)
    assert data["key"].startswith("sk-fg-") and data["name"] == "ci" and data["expires_at"] is None


def test_bad_duration_is_a_usage_error(env):
    result = run("keys", "create", "--name", "x", "--expires", "soon")
    assert result.exit_code == 2 and "90d" in result.output


def test_revoke_asks_then_prints_the_propagation_note(env):
    key_id = json.loads(run("keys", "create", "--name", "old", "--json").stdout)["id"]
    refused = run("keys", "revoke", key_id, input="n\n")
    assert refused.exit_code == 1
    assert key_id in run("keys", "list").output
    result = run("keys", "revoke", key_id, input="y\n")
    assert result.exit_code == 0, result.output
    assert "about 60 s" in result.output and "10 s key cache" in result.output
    assert key_id not in run("keys", "list").output
    missing = run("keys", "revoke", key_id, "--yes")
    assert missing.exit_code == 1 and "no key with id" in missing.output


def test_rotate_key_prints_the_new_key_once_and_the_old_keys_deadline(env):
    old = json.loads(run("keys", "create", "--name", "laptop", "--json").stdout)
    result = run("rotate-key", "--grace", "2h")
    assert result.exit_code == 0, result.output
    new_key = result.stdout.strip()
    assert new_key.startswith("sk-fg-") and result.output.count(new_key) == 1
    assert f"old key {old['id']} keeps working until" in result.stderr
    listed = json.loads(run("keys", "list", "--json").stdout)["keys"]
    assert {k["status"] for k in listed} == {"retiring", "active"}


def test_rotate_key_refuses_a_grace_shorter_than_propagation_plus_cache(env, fake):
    run("keys", "create", "--name", "laptop")
    before = len(fake.paths("PUT"))
    result = run("rotate-key", "--grace", "60s")
    assert result.exit_code == 1
    assert "too short" in result.output and "1m10s" in result.output
    assert len(fake.paths("PUT")) == before  # nothing written


def test_rotate_key_grace_minimum_follows_the_worker_cache_setting(env, tmp_path):
    (tmp_path / "flaregate.toml").write_text("auth_cache_seconds = 60\n")
    run("keys", "create", "--name", "laptop")
    result = run("rotate-key", "--grace", "100s")
    assert result.exit_code == 1 and "2m" in result.output


def test_missing_namespace_says_how_to_set_it(env, monkeypatch):
    monkeypatch.delenv("FLAREGATE_KV_NAMESPACE_ID")
    result = run("keys", "list")
    assert result.exit_code == 1 and "--namespace-id" in result.output


def test_missing_token_says_where_to_get_one(env, monkeypatch):
    monkeypatch.delenv("CLOUDFLARE_API_TOKEN")
    result = run("keys", "list")
    assert result.exit_code == 1 and "dash.cloudflare.com/profile/api-tokens" in result.output


def test_check_token_exit_codes_and_json(env, fake, monkeypatch):
    monkeypatch.setenv("COLUMNS", "160")
    ok = run("check-token", "--feature", "origin", "--zone-id", ZONE)
    assert ok.exit_code == 0, ok.output
    assert "Account | Developer Platform" in ok.output and "Zone | DNS & Zones" in ok.output
    assert "granted" in ok.output and "AI Gateway Write" in ok.output  # not needed: extra

    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", fake.add(token_without_ssl()).value)
    bad = run("check-token", "--feature", "origin", "--zone-id", ZONE)
    assert bad.exit_code == 1
    assert "missing" in bad.output and "permissionGroupKeys" in bad.output

    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", fake.add(token_that_cannot_read_itself()).value)
    unsure = run("check-token", "--json")
    assert unsure.exit_code == 1
    data = json.loads(unsure.stdout)
    assert data["ok"] is False and data["deployable"] is True
    assert {p["state"] for p in data["permissions"]} == {"unverified"}
