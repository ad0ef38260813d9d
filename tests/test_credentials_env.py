"""What credentials reach Cloudflare, and when: the environment the Pulumi CLI (and so the
provider) starts with, the SDK client's headers with legacy variables in the shell, an audit that
breaks unexpectedly, and the token check that comes before any download of the Pulumi CLI.

The Pulumi CLI here is a fake executable that records the environment it was started with, run by
the real Automation API (LocalWorkspace, PulumiCommand), so the environment is the one a real CLI
would receive.
"""

from __future__ import annotations

import io
import os

import cloudflare as cloudflare_sdk
import pytest
from click.testing import CliRunner
from pulumi import automation as auto
from rich.console import Console

from flaregate import deploy as ops
from flaregate.cli import main
from flaregate.cloudflare_api import make_client
from flaregate.errors import CloudflareCredentialsError
from flaregate.token_audit import TokenAuditError, TokenPermissionError, audit_token
from tests.fake_cloudflare import ACCOUNT, FakeCloudflare, full_token, token_without_ssl
from tests.fake_pulumi import FakeCommand, FakeStackFactory, fake_pulumi_binary, recorded_calls
from tests.pulumi_mocks import kv_namespace_id

LEGACY = ("CLOUDFLARE_API_KEY", "CLOUDFLARE_EMAIL", "CLOUDFLARE_API_USER_SERVICE_KEY")


@pytest.fixture
def api(monkeypatch):
    with FakeCloudflare() as fake:
        fake.namespaces[kv_namespace_id("keyring-kv")] = ACCOUNT
        monkeypatch.setenv("CLOUDFLARE_BASE_URL", fake.base_url)
        yield fake


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("FLAREGATE_HOME", str(tmp_path / "fg"))
    for name in ("PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "fg"


# --- 1, 2: the environment Pulumi and the provider start with ----------------------------------


@pytest.mark.parametrize("legacy_value", ["", "a-global-key"])
def test_the_pulumi_cli_gets_no_legacy_credentials_and_exactly_the_audited_token(
    api, home, tmp_path, monkeypatch, legacy_value
):
    token = api.add(full_token())
    for name in LEGACY:
        monkeypatch.setenv(name, legacy_value)
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", f"  {token.value}\n")  # pasted with a newline
    credentials = ops.credentials_from_env(ACCOUNT)
    assert credentials.token == token.value

    cli_root = tmp_path / "pulumi-cli"
    fake_pulumi_binary(cli_root / "bin")
    command = auto.PulumiCommand(root=str(cli_root), skip_version_check=True)
    said: list[str] = []
    stack = ops.open_stack(
        ops.StackOptions(home=home), said.append, pulumi_command=command, token=credentials.token
    )
    stack.workspace.install_plugin("cloudflare", "v6.23.1")
    ops.set_secret_config(stack, "flaregate:originSecret", "s" * 40)

    calls = recorded_calls(cli_root / "bin")
    assert len(calls) >= 3  # stack select/init, plugin install, config set
    for call in calls:
        assert not set(call["env"]) & set(LEGACY), call["argv"]
        assert call["env"]["CLOUDFLARE_API_TOKEN"] == token.value
    if legacy_value:
        assert any("Ignoring CLOUDFLARE_API_KEY" in line for line in said)


def test_the_audited_token_is_what_the_deploy_hands_to_pulumi(api, home, monkeypatch, tmp_path):
    token = api.add(full_token())
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", token.value + "\n")
    factory = FakeStackFactory()
    deployer = ops.Deployer(
        ops.StackOptions(home=home),
        Console(file=io.StringIO()),
        stack_factory=factory,
        pulumi_command=FakeCommand(),
    )
    ops.preview(deployer, ops.credentials_from_env(ACCOUNT))
    opts = factory.calls[0]["opts"]
    seen = {**os.environ, **opts.env_vars}  # what PulumiCommand.run starts the CLI with
    assert seen["CLOUDFLARE_API_TOKEN"] == token.value


# --- 3: the SDK client with legacy variables in the shell -----------------------------------


@pytest.mark.parametrize("name", ["CLOUDFLARE_EMAIL", "CLOUDFLARE_API_KEY"])
def test_an_empty_legacy_variable_is_refused_by_presence_with_the_fix(api, monkeypatch, name):
    token = api.add(full_token())
    monkeypatch.setenv(name, "")
    with pytest.raises(CloudflareCredentialsError, match=f"{name} is set \\(empty\\).*unset"):
        make_client(token.value, base_url=api.base_url)
    assert api.requests == []


def test_the_client_sends_only_the_token_whatever_the_shell_holds(api, monkeypatch):
    """The SDK reads CLOUDFLARE_EMAIL from os.environ itself; an empty one used to replace the
    token and fail with "Could not resolve authentication method"."""
    token = api.add(full_token())
    for name in LEGACY:
        monkeypatch.setenv(name, "")
    client = make_client(token.value, base_url=api.base_url, max_retries=0, environ={})
    report = audit_token(client, ACCOUNT)
    assert report.status == "active"
    assert api.requests and all(r["authorization"] and not r["x_auth_key"] for r in api.requests)


def test_check_token_with_an_empty_email_in_the_shell_is_one_clear_line(api, monkeypatch):
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", api.add(full_token()).value)
    monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", ACCOUNT)
    monkeypatch.setenv("CLOUDFLARE_EMAIL", "")
    result = CliRunner().invoke(main, ["check-token"])
    assert result.exit_code == 1
    assert "CLOUDFLARE_EMAIL is set (empty)" in result.output
    assert "unset CLOUDFLARE_API_KEY CLOUDFLARE_EMAIL" in result.output
    assert "Traceback" not in result.output and not isinstance(result.exception, TypeError)


def test_an_unexpected_failure_inside_the_audit_is_a_clear_error_without_the_token(api):
    token = api.add(full_token())
    client = cloudflare_sdk.Cloudflare(api_token=token.value, base_url=api.base_url, max_retries=0)
    client.api_email = ""  # what CLOUDFLARE_EMAIL="" did to clients built without make_client
    with pytest.raises(TokenAuditError) as err:
        audit_token(client, ACCOUNT)
    message = str(err.value)
    assert "the token check failed unexpectedly" in message and "TypeError" in message
    assert "--skip-checks" in message and token.value not in message


# --- 7: the token before any download; reading never installs ------------------------------


def test_a_deploy_checks_the_token_before_downloading_the_pulumi_cli(
    api, home, monkeypatch, tmp_path
):
    monkeypatch.setenv("PATH", str(tmp_path / "empty-path"))  # no pulumi anywhere
    installs: list[int] = []

    def install(**_):
        installs.append(len(api.requests))  # how many API calls came before the download
        return FakeCommand()

    def deployer():
        return ops.Deployer(
            ops.StackOptions(home=home),
            Console(file=io.StringIO()),
            stack_factory=FakeStackFactory(),
            cli_installer=install,
        )

    bad = api.add(token_without_ssl())
    origin = {
        "zoneId": "aaaabbbbccccddddeeeeffff00001111",
        "originHostname": "llm.example.com",
        "originAddress": "203.0.113.7",
    }
    with pytest.raises(TokenPermissionError):
        ops.deploy(deployer(), ops.Credentials(bad.value, ACCOUNT), origin)
    assert installs == []  # refused in seconds, nothing downloaded

    good = api.add(full_token())
    ops.preview(deployer(), ops.Credentials(good.value, ACCOUNT))
    assert len(installs) == 1 and installs[0] > 0
    assert "/user/tokens/verify" in api.paths()[: installs[0]]


@pytest.mark.parametrize("command", [["status"], ["origin-cert", "--out", "certs"]])
def test_commands_that_only_read_never_install_the_pulumi_cli(home, monkeypatch, tmp_path, command):
    monkeypatch.setenv("PATH", str(tmp_path / "empty-path"))
    monkeypatch.chdir(tmp_path)
    installs = []
    monkeypatch.setattr(auto.PulumiCommand, "install", lambda *a, **k: installs.append(k))
    result = CliRunner().invoke(main, command)
    assert result.exit_code == 1
    assert "Run `flaregate deploy` first" in result.output
    assert installs == [] and not (home / "pulumi").exists()
