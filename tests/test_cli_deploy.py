"""The deploy commands through click's CliRunner: Pulumi faked at the Automation API boundary
(create_or_select_stack, a fake `pulumi` binary on PATH), Cloudflare as a local fake API."""

from __future__ import annotations

import json
import os
import stat

import pytest
from click.testing import CliRunner
from pulumi import automation as auto

from flaregate import deploy as ops
from flaregate.cli import main
from tests.fake_cloudflare_verify import FakeCloudflare, FakeCloudflareServer, FakeToken
from tests.fake_pulumi import FakeStackFactory, fake_pulumi_binary, recorded_calls

ACCOUNT = "023e105f4ecef8ad9ca31a8372d0c353"
TOKEN = "cf-token-for-cli-tests-77aa"
ORIGIN = [
    "--set",
    f"zoneId={'5' * 32}",
    "--set",
    "originHostname=llm.example.com",
    "--set",
    "originAddress=203.0.113.7",
]


@pytest.fixture
def env(tmp_path, monkeypatch):
    api = FakeCloudflare(tokens={TOKEN: FakeToken()}, subdomains={ACCOUNT: "acme"})
    server = FakeCloudflareServer(api)
    bin_dir = fake_pulumi_binary(tmp_path / "bin").parent
    factory = FakeStackFactory()
    monkeypatch.setattr(auto, "create_or_select_stack", factory)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FLAREGATE_HOME", str(tmp_path / "fg"))
    monkeypatch.setenv("CLOUDFLARE_BASE_URL", server.base_url)
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", TOKEN)
    monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", ACCOUNT)
    monkeypatch.delenv("PULUMI_BACKEND_URL", raising=False)
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE", raising=False)
    yield {"factory": factory, "bin": bin_dir, "api": api, "home": tmp_path / "fg"}
    server.stop()


def run(*args, input=None):
    return CliRunner().invoke(main, list(args), input=input)


def test_deploy_yes_prints_the_endpoint_and_the_next_step(env):
    result = run("deploy", "--yes")
    assert result.exit_code == 0, result.output
    assert "https://flaregate.acme.workers.dev/v1" in result.output
    assert "flaregate keys create" in result.output
    assert "Full log:" in result.output
    assert TOKEN not in result.output
    stack = env["factory"].stacks["prod"]
    assert stack.calls.count("up") == 1 and "preview" not in stack.calls


def test_deploy_shows_the_plan_and_asks_first(env):
    result = run("deploy", input="n\n")
    assert result.exit_code == 1
    assert "7 to create" in result.output and "nothing was changed" in result.output
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
    assert "Plan: 7 to create." in result.output
    assert "up" not in env["factory"].stacks["prod"].calls


def test_destroy_warns_that_keys_go_with_the_namespace(env):
    run("deploy", "--yes")
    result = run("destroy", input="n\n")
    assert result.exit_code == 1
    assert "every API key" in result.output and "cancelled" in result.output
    result = run("destroy", "--yes")
    assert result.exit_code == 0, result.output
    assert "7 resources deleted" in result.output


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
