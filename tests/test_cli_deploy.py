"""The deploy commands through click's CliRunner: Pulumi faked at the Automation API boundary
(create_or_select_stack / select_stack, a fake `pulumi` binary on PATH), Cloudflare as the local
fake API (tests/fake_cloudflare.py) with its in-memory KV."""

from __future__ import annotations

import hashlib
import json
import stat

import pytest
from click.testing import CliRunner

from flaregate import deploy as ops
from flaregate.cli import main
from flaregate.cli_options import DEFAULT_STACK
from tests.fake_cloudflare import (
    ACCOUNT,
    ZONE,
    FakeCloudflare,
    full_token,
    token_that_cannot_read_itself,
    token_without_ssl,
)
from tests.fake_pulumi import recorded_calls, use_fake_pulumi
from tests.pulumi_mocks import kv_namespace_id

KV_ID = kv_namespace_id("keyring-kv")
ORIGIN = [
    "--set",
    f"zoneId={ZONE}",
    "--set",
    "originHostname=llm.example.com",
    "--set",
    "originAddress=203.0.113.7",
]


@pytest.fixture
def env(tmp_path, monkeypatch):
    with FakeCloudflare() as api:
        api.namespaces[KV_ID] = ACCOUNT  # the key ring the (mocked) program creates
        token = api.add(full_token())
        factory, bin_dir = use_fake_pulumi(
            tmp_path, monkeypatch, api.base_url, token.value, ACCOUNT
        )
        monkeypatch.delenv("FLAREGATE_KV_NAMESPACE_ID", raising=False)
        yield {
            "factory": factory,
            "bin": bin_dir,
            "api": api,
            "home": tmp_path / "fg",
            "token": token,
        }


def run(*args, input=None):
    return CliRunner().invoke(main, list(args), input=input)


def use_token(env, monkeypatch, token):
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", env["api"].add(token).value)


def operations(env, stack="prod") -> list[str]:
    found = env["factory"].stacks.get(stack)
    return [c for c in (found.calls if found else []) if c in ("up", "preview", "destroy")]


def stored_record(env, key: str) -> dict:
    """The key ring entry for ``key`` as docs/keys.md defines it: KV key ``key:<sha256>``."""
    value = env["api"].kv.get("key:" + hashlib.sha256(key.encode()).hexdigest())
    assert value is not None, "no KV entry under key:<sha256 of the printed key>"
    return json.loads(value)


def test_the_first_deploy_prints_the_endpoint_and_the_first_key_once(env):
    result = run("deploy", "--yes")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Token check: user token, active; all 3 permissions this deployment needs are " in out
    assert "https://flaregate.acme.workers.dev/v1" in out
    assert "Store it now, it is not shown again" in out
    keys = [w for w in out.split() if w.startswith("sk-fg-")]
    assert len(keys) == 1  # printed exactly once
    (key,) = keys
    record = stored_record(env, key)
    assert set(record) == {"id", "name", "created_at", "expires_at"}
    assert record["expires_at"] is None and record["id"] in out
    assert env["token"].value not in out
    assert operations(env) == ["up"]


def test_a_second_deploy_prints_no_key(env):
    assert run("deploy", "--yes").exit_code == 0
    result = run("deploy", "--yes")
    assert result.exit_code == 0, result.output
    assert "sk-fg-" not in result.output
    assert "API keys exist already" in result.output
    assert len(env["api"].kv.list("key:")) == 1


def test_deploy_json_carries_the_first_key_and_nothing_else_on_stdout(env):
    result = run("deploy", "--yes", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    key = data["first_key"]["key"]
    assert stored_record(env, key)["id"] == data["first_key"]["id"]
    assert data["url"] == "https://flaregate.acme.workers.dev"
    assert data["token_check"]["ok"] is True and data["keys_existed"] is False
    assert "Token check" in result.stderr and "Token check" not in result.stdout
    assert result.output.count(key) == 1
    again = json.loads(run("deploy", "--yes", "--json").stdout)
    assert again["first_key"] is None and again["keys_existed"] is True
    assert again["changed"] is False


def test_deploy_refuses_a_token_without_ssl_and_certificates_for_an_origin(env, monkeypatch):
    use_token(env, monkeypatch, token_without_ssl())
    result = run("deploy", "--yes", *ORIGIN)
    assert result.exit_code == 1
    assert "SSL and Certificates" in result.output and "1016" in result.output
    assert "Nothing was changed" in result.output and "Traceback" not in result.output
    assert operations(env) == []
    assert env["api"].kv.list("key:") == []


def test_skip_checks_deploys_with_that_token(env, monkeypatch):
    use_token(env, monkeypatch, token_without_ssl())
    result = run("deploy", "--yes", "--skip-checks", *ORIGIN)
    assert result.exit_code == 0, result.output
    assert "Token check skipped (--skip-checks)" in result.output
    assert operations(env) == ["up"]


def test_deploy_with_a_token_that_cannot_read_itself_lists_what_is_unconfirmed(env, monkeypatch):
    use_token(env, monkeypatch, token_that_cannot_read_itself())
    result = run("deploy", "--yes")
    assert result.exit_code == 0, result.output
    assert "3 of 3 permissions could not be confirmed" in result.output
    assert "unverified Account | Developer Platform | AI Gateway | Edit" in result.output
    assert operations(env) == ["up"]


def test_preview_and_destroy_check_the_token_unless_told_not_to(env, monkeypatch):
    assert run("deploy", "--yes", *ORIGIN).exit_code == 0
    use_token(env, monkeypatch, token_without_ssl())
    assert "1016" in run("preview").output
    assert "1016" in run("destroy", "--yes").output
    assert operations(env) == ["up"]
    result = run("destroy", "--yes", "--skip-checks")
    assert result.exit_code == 0, result.output
    assert operations(env) == ["up", "destroy"]


# --- keys commands find the deployment ---------------------------------------------------


def test_keys_commands_read_the_key_ring_from_the_deployed_stack(env, monkeypatch):
    assert run("deploy", "--yes").exit_code == 0
    monkeypatch.delenv("CLOUDFLARE_ACCOUNT_ID")  # only the stack outputs know the ids now
    listed = run("keys", "list", "--json")
    assert listed.exit_code == 0, listed.output
    assert [k["name"] for k in json.loads(listed.stdout)["keys"]] == ["default"]
    created = run("keys", "create", "--name", "laptop", "--json")
    assert created.exit_code == 0, created.output
    assert stored_record(env, json.loads(created.stdout)["key"])["name"] == "laptop"
    rotated = run("rotate-key", "--id", json.loads(created.stdout)["id"], "--json")
    assert rotated.exit_code == 0, rotated.output


def test_explicit_ids_win_over_the_stack(env, monkeypatch):
    assert run("deploy", "--yes").exit_code == 0
    result = run("keys", "list", "--namespace-id", "f" * 32)
    assert result.exit_code == 1 and "found nothing" in result.output  # not the stack's ring


def test_keys_without_a_deployment_or_ids_say_what_to_do(env, monkeypatch):
    monkeypatch.delenv("CLOUDFLARE_ACCOUNT_ID")
    result = run("keys", "list")
    assert result.exit_code == 1
    assert "has not been deployed" in result.output and "`flaregate deploy`" in result.output
    assert "--namespace-id" in result.output and "Traceback" not in result.output
    staging = run("keys", "create", "--name", "x", "--stack", "staging")
    assert staging.exit_code == 1 and "flaregate deploy --stack staging" in staging.output
    assert "staging" not in env["factory"].stacks  # reading never creates a stack


def test_default_stack_matches_the_deploy_default():
    assert DEFAULT_STACK == ops.DEFAULT_STACK


def test_deploy_shows_the_plan_and_asks_first(env):
    result = run("deploy", input="n\n")
    assert result.exit_code == 1
    assert "8 to create" in result.output and "nothing was changed" in result.output
    assert "up" not in env["factory"].stacks["prod"].calls
    result = run("deploy", input="y\n")
    assert result.exit_code == 0, result.output
    assert env["factory"].stacks["prod"].calls.count("up") == 1


def test_redeploy_without_changes_says_so_and_changes_nothing(env):
    assert run("deploy", "--yes").exit_code == 0
    result = run("deploy")  # previews, finds nothing to do, does not ask
    assert result.exit_code == 0, result.output
    assert "up to date" in result.output
    assert env["factory"].stacks["prod"].calls.count("up") == 1


def test_deploy_without_a_token_fails_with_the_fix(env, monkeypatch):
    monkeypatch.delenv("CLOUDFLARE_API_TOKEN")
    result = run("deploy", "--yes")
    assert result.exit_code == 1
    assert "CLOUDFLARE_API_TOKEN is not set" in result.output
    assert "Traceback" not in result.output


def test_secret_settings_are_refused_on_the_command_line_and_read_from_stdin(env):
    secret = "z" * 40
    result = run("deploy", "--yes", "--set", f"originSecret={secret}")
    assert result.exit_code == 1 and "stdin" in result.output
    assert secret not in result.output
    result = run("deploy", "--yes", *ORIGIN, "--set", "originSecret=-", input=secret)
    assert result.exit_code == 0, result.output
    (call,) = recorded_calls(env["bin"])
    assert call["stdin"] == secret and secret not in call["argv"]


def test_unknown_setting_suggests_the_right_one(env):
    result = run("deploy", "--yes", "--set", "gatewayid=x")
    assert result.exit_code == 1
    assert "did you mean flaregate:gatewayId" in result.output


def test_preview_reports_the_plan(env):
    result = run("preview", "--set", "customDomain=api.example.com")
    assert result.exit_code == 0, result.output
    assert "Plan: 9 to create." in result.output  # with the workers.dev URL, turned off
    assert "up" not in env["factory"].stacks["prod"].calls


def test_destroy_warns_that_keys_go_with_the_namespace(env):
    run("deploy", "--yes")
    result = run("destroy", input="n\n")
    assert result.exit_code == 1
    assert "every API key" in result.output and "cancelled" in result.output
    result = run("destroy", "--yes")
    assert result.exit_code == 0, result.output
    assert "8 resources deleted" in result.output


def test_status_shows_outputs_and_a_failing_health_check(env):
    run("deploy", "--yes", *ORIGIN)
    result = run("status", "--json")
    report = json.loads(result.output)
    assert report["outputs"]["workerName"] == "flaregate"
    assert report["outputs"]["originSecret"] == "[secret]"
    assert report["origin_certificate_expires_on"].startswith("2041")
    # acme.workers.dev is not reachable from the test machine: unhealthy, exit status 1.
    assert report["health"]["ok"] is False and result.exit_code == 1


def test_health_check_against_the_real_worker(worker):
    healthy, seen = ops.check_health(worker.url)
    assert healthy and seen.startswith("HTTP 200")
    assert ops.check_health("http://127.0.0.1:9")[0] is False


def test_status_of_a_stack_never_deployed(env):
    result = run("status", "--stack", "staging")
    assert result.exit_code == 1
    assert "flaregate deploy --stack staging" in result.output


def test_origin_cert_writes_the_files_without_printing_them(env, tmp_path):
    run("deploy", "--yes", *ORIGIN)
    out = tmp_path / "origin-tls"
    result = run("origin-cert", "--out", str(out))
    assert result.exit_code == 0, result.output
    for name in ("origin.pem", "origin.key", "origin-secret.txt"):
        assert stat.S_IMODE((out / name).stat().st_mode) == 0o600
        assert (out / name).read_text().strip() not in result.output
    assert "expires 2041" in result.output
