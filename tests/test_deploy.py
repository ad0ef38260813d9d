"""flaregate.deploy: token preflight against a local Cloudflare API, the Automation API wrapper
against a fake stack (tests/fake_pulumi.py) running the real program under Pulumi mocks."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import pytest
from rich.console import Console

from flaregate import deploy as ops
from flaregate.deploy_errors import explain_failure
from flaregate.errors import ConfigError, DeployError
from infra.program import flaregate_program
from tests.fake_cloudflare_verify import FakeCloudflare, FakeCloudflareServer, FakeToken
from tests.fake_pulumi import (
    FakeCommand,
    FakeStackFactory,
    command_error,
    fake_pulumi_binary,
    recorded_calls,
)

ACCOUNT = "023e105f4ecef8ad9ca31a8372d0c353"
TOKEN = "cf-token-for-tests-5b2c9e"


@pytest.fixture
def cloudflare(monkeypatch):
    api = FakeCloudflare(
        tokens={
            TOKEN: FakeToken(),
            "account-token": FakeToken(owner="account", account_id=ACCOUNT),
            "disabled-token": FakeToken(status="disabled"),
        },
        subdomains={ACCOUNT: "acme"},
    )
    server = FakeCloudflareServer(api)
    monkeypatch.setenv("CLOUDFLARE_BASE_URL", server.base_url)
    yield api
    server.stop()


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "flaregate-home"
    monkeypatch.setenv("FLAREGATE_HOME", str(path))
    monkeypatch.delenv("PULUMI_BACKEND_URL", raising=False)
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE", raising=False)
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE_FILE", raising=False)
    return path


@pytest.fixture
def fake_bin(tmp_path) -> Path:
    return fake_pulumi_binary(tmp_path / "fake-bin").parent


@pytest.fixture
def factory() -> FakeStackFactory:
    return FakeStackFactory()


@pytest.fixture
def out() -> io.StringIO:
    return io.StringIO()


@pytest.fixture
def deployer(home, factory, fake_bin, cloudflare, out) -> ops.Deployer:
    return ops.Deployer(
        ops.StackOptions(stack="prod", home=home),
        Console(file=out, width=120),
        stack_factory=factory,
        pulumi_command=FakeCommand(command=str(fake_bin / "pulumi")),
    )


def credentials(account_id: str | None = ACCOUNT) -> ops.Credentials:
    return ops.Credentials(TOKEN, account_id)


# --- token preflight -----------------------------------------------------------------------


def test_preflight_accepts_an_active_user_token(cloudflare):
    check = ops.preflight(TOKEN, ACCOUNT, {"worker"})
    assert (check.status, check.owner) == ("active", "user")
    assert cloudflare.requests[-1][:2] == ("GET", "/client/v4/user/tokens/verify")


def test_preflight_verifies_account_owned_tokens_per_account(cloudflare):
    check = ops.preflight("account-token", ACCOUNT, {"worker"})
    assert check.owner == "account"
    assert [r[1] for r in cloudflare.requests] == [
        "/client/v4/user/tokens/verify",
        f"/client/v4/accounts/{ACCOUNT}/tokens/verify",
    ]


def test_preflight_rejects_an_unknown_token_without_echoing_it(cloudflare):
    with pytest.raises(DeployError) as err:
        ops.preflight("sk-wrong-token-value", ACCOUNT, {"worker"})
    assert "CLOUDFLARE_API_TOKEN" in str(err.value) and "1000" in str(err.value)
    assert "sk-wrong-token-value" not in str(err.value)


def test_preflight_rejects_a_disabled_token(cloudflare):
    with pytest.raises(DeployError, match="disabled"):
        ops.preflight("disabled-token", ACCOUNT, {"worker"})


def test_preflight_uses_the_token_even_with_a_global_key_in_the_environment(
    cloudflare, monkeypatch
):
    monkeypatch.setenv("CLOUDFLARE_API_KEY", "global-key")
    monkeypatch.setenv("CLOUDFLARE_EMAIL", "me@example.com")
    ops.preflight(TOKEN, ACCOUNT, {"worker"})
    assert cloudflare.requests[-1][2] == f"Bearer {TOKEN}"


def test_preflight_when_cloudflare_is_unreachable(monkeypatch):
    with pytest.raises(DeployError, match="Could not reach the Cloudflare API"):
        ops.preflight(TOKEN, ACCOUNT, set(), base_url="http://127.0.0.1:9/client/v4")


def test_workers_dev_subdomain_lookup(cloudflare):
    assert ops.workers_dev_subdomain(TOKEN, ACCOUNT) == "acme"
    with pytest.raises(DeployError, match="no workers.dev subdomain"):
        ops.workers_dev_subdomain(TOKEN, "f" * 32)


# --- state backend, passphrase, Pulumi CLI -------------------------------------------------


def test_default_backend_is_a_local_file_backend_under_flaregate_home(home, monkeypatch):
    assert ops.StackOptions(home=home).backend_url == f"file://{home / 'state'}"
    assert (home / "state").is_dir()
    monkeypatch.setenv("PULUMI_BACKEND_URL", "s3://team-state")
    assert ops.StackOptions(home=home).backend_url == "s3://team-state"
    assert ops.StackOptions(home=home, backend="gs://other").backend_url == "gs://other"


def test_passphrase_is_generated_once_with_mode_0600(home):
    options = ops.StackOptions(home=home)
    env = ops.passphrase_env(options)
    path = Path(env["PULUMI_CONFIG_PASSPHRASE_FILE"])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    first = path.read_text()
    assert len(first) >= 40
    assert ops.passphrase_env(options) == env and path.read_text() == first


def test_a_loosened_passphrase_file_is_tightened_again(home):
    options = ops.StackOptions(home=home)
    path = Path(ops.passphrase_env(options)["PULUMI_CONFIG_PASSPHRASE_FILE"])
    path.chmod(0o644)
    ops.passphrase_env(options)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_your_own_passphrase_or_pulumi_cloud_needs_no_generated_one(home, monkeypatch):
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "mine")
    assert ops.passphrase_env(ops.StackOptions(home=home)) == {}
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE")
    cloud = ops.StackOptions(home=home, backend="https://api.pulumi.com")
    assert ops.passphrase_env(cloud) == {}
    assert not (home / "passphrase").exists()


def test_pulumi_on_path_is_used_as_is(home, fake_bin, monkeypatch):
    monkeypatch.setenv("PATH", f"{fake_bin}{os.pathsep}{os.environ['PATH']}")
    said = []
    command = ops.ensure_pulumi_cli(ops.StackOptions(home=home), said.append)
    assert command.command == "pulumi" and str(command.version) == "3.272.0"
    assert said == []


def test_without_pulumi_the_pinned_cli_is_installed_under_flaregate_home(home):
    said, installs = [], []

    def install(root, version):
        installs.append((root, str(version)))
        return FakeCommand(command=f"{root}/bin/pulumi")

    command = ops.ensure_pulumi_cli(
        ops.StackOptions(home=home), said.append, which=lambda _: None, install=install
    )
    root = str(home / "pulumi" / ops.PULUMI_CLI_VERSION)
    assert installs == [(root, ops.PULUMI_CLI_VERSION)]
    assert command.command == f"{root}/bin/pulumi"
    assert "Installing the Pulumi CLI" in said[0]


def test_a_failed_cli_install_says_how_to_get_past_it(home):
    def install(root, version):
        raise OSError("network unreachable")

    with pytest.raises(DeployError, match="get.pulumi.com"):
        ops.ensure_pulumi_cli(
            ops.StackOptions(home=home), print, which=lambda _: None, install=install
        )


# --- the stack ----------------------------------------------------------------------------


def test_stack_runs_the_inline_program_with_file_backend_and_passphrase_file(
    deployer, factory, home
):
    deployer.open()
    (call,) = factory.calls
    assert (call["stack_name"], call["project_name"]) == ("prod", "flaregate")
    assert call["program"] is flaregate_program
    opts = call["opts"]
    assert opts.env_vars["PULUMI_BACKEND_URL"] == f"file://{home / 'state'}"
    assert opts.env_vars["PULUMI_CONFIG_PASSPHRASE_FILE"] == str(home / "passphrase")
    assert opts.secrets_provider == "passphrase"
    assert opts.work_dir == str(home / "workspace")
    # The token reaches the provider through the inherited environment, never these options.
    assert TOKEN not in repr(opts.env_vars)
    assert opts.env_vars["CLOUDFLARE_API_KEY"] == "" and opts.env_vars["CLOUDFLARE_EMAIL"] == ""


def test_deploy_sets_config_checks_token_installs_plugins_and_reports_outputs(
    deployer, factory, cloudflare, out, home
):
    seen = []
    result = ops.deploy(
        deployer, credentials(), {"corsOrigins": "*"}, ensure_first_key=lambda *a: seen.append(a)
    )
    stack = factory.stacks["prod"]
    assert stack.config["flaregate:accountId"].value == ACCOUNT
    assert stack.config["flaregate:corsOrigins"].value == "*"
    assert stack.config["flaregate:workersDevSubdomain"].value == "acme"
    assert not any(v.secret for v in stack.config.values())
    assert ("/client/v4/user/tokens/verify") in [r[1] for r in cloudflare.requests]
    assert {name for name, _ in stack.workspace.plugins} == {"cloudflare", "tls"}
    assert all(
        version.startswith("v6.") or version.startswith("v5.")
        for _, version in stack.workspace.plugins
    )
    assert result.url == "https://flaregate.acme.workers.dev"
    assert result.outputs["kvNamespaceId"] == "keyring-kv-id"
    assert result.changed and result.changes["create"] == 7
    assert seen and seen[0][0] is result  # the first-key hook ran after a successful up
    assert stat.S_IMODE(result.log_path.stat().st_mode) == 0o600
    assert "WorkersScript" in result.log_path.read_text()
    assert "Worker script (worker-script)" in out.getvalue()


def test_secret_outputs_are_masked_in_the_result(deployer, factory):
    values = {
        "zoneId": "5" * 32,
        "originHostname": "llm.example.com",
        "originAddress": "203.0.113.7",
    }
    result = ops.deploy(deployer, credentials(), values, ensure_first_key=lambda *a: None)
    assert result.outputs["originPrivateKey"] == "[secret]"
    assert result.outputs["originSecret"] == "[secret]"
    assert result.outputs["originHostname"] == "llm.example.com"


def test_a_second_deploy_with_nothing_changed_changes_nothing(deployer, factory):
    ops.deploy(deployer, credentials(), ensure_first_key=lambda *a: None)
    asked = []
    result = ops.deploy(
        deployer, credentials(), confirm=asked.append, ensure_first_key=lambda *a: None
    )
    assert factory.stacks["prod"].calls.count("up") == 1  # previewed, nothing to apply
    assert asked == [] and not result.changed
    assert result.url == "https://flaregate.acme.workers.dev"


def test_deploy_asks_before_changing_and_stops_when_told_no(deployer, factory):
    asked = []
    with pytest.raises(DeployError, match="nothing was changed"):
        ops.deploy(
            deployer,
            credentials(),
            confirm=lambda changes: asked.append(changes) or False,
            ensure_first_key=lambda *a: None,
        )
    assert asked == [{"create": 7}]
    assert "up" not in factory.stacks["prod"].calls


def test_secret_config_goes_over_stdin_never_the_command_line(deployer, factory, fake_bin):
    secret = "origin-shared-secret-" + "x" * 30
    stack = deployer.open()
    ops.configure(stack, {"originSecret": secret, "workerName": "gate"})
    (call,) = recorded_calls(fake_bin)
    assert call["argv"] == [
        "config",
        "set",
        "--secret",
        "--stack",
        "prod",
        "flaregate:originSecret",
    ]
    assert call["stdin"] == secret
    assert secret not in " ".join(call["argv"])
    assert stack.config["flaregate:workerName"].value == "gate"  # plain keys: Automation API


def test_unknown_config_key_is_refused_with_a_suggestion(deployer):
    with pytest.raises(ConfigError, match="did you mean flaregate:gatewayId"):
        ops.configure(deployer.open(), {"gatewayID": "x"})


def test_bad_config_stops_before_the_token_check_and_before_pulumi(deployer, factory, cloudflare):
    with pytest.raises(ConfigError, match="flaregate:timeoutMs"):
        ops.deploy(deployer, credentials(), {"timeoutMs": "soon"})
    assert cloudflare.requests == []
    assert "up" not in factory.stacks["prod"].calls


def test_missing_account_id_names_the_variable(deployer):
    with pytest.raises(ConfigError, match="flaregate:accountId"):
        ops.deploy(deployer, credentials(account_id=None))


def test_missing_token_says_where_to_create_one(monkeypatch):
    monkeypatch.delenv("CLOUDFLARE_API_TOKEN", raising=False)
    with pytest.raises(DeployError, match="dash.cloudflare.com/profile/api-tokens"):
        ops.credentials_from_env()


def test_invalid_token_stops_before_pulumi(deployer, factory):
    with pytest.raises(DeployError, match="rejected CLOUDFLARE_API_TOKEN"):
        ops.deploy(deployer, ops.Credentials("nope", ACCOUNT))
    assert "up" not in factory.stacks["prod"].calls


# Failure texts shaped like pulumi-cloudflare v6 (terraform-provider-cloudflare v5 underneath):
# "failed to make http request: <METHOD> <URL>: <status> {<Cloudflare error envelope>}".
ORIGIN_1016 = """\
  cloudflare:index/originCaCertificate:OriginCaCertificate (origin-certificate):
    error: sdk-v2/provider2.go:572: sdk.helper_schema: failed to make http request: POST "https://api.cloudflare.com/client/v4/certificates": 403 Forbidden {"success":false,"errors":[{"code":1016,"message":"User is not authorized to perform this action"}],"messages":[],"result":null}
"""
KV_TAKEN = """\
  cloudflare:index/workersKvNamespace:WorkersKvNamespace (keyring-kv):
    error: failed to make http request: POST "https://api.cloudflare.com/client/v4/accounts/x/storage/kv/namespaces": 400 Bad Request {"success":false,"errors":[{"code":10014,"message":"a namespace with this account ID and title already exists"}]}
"""
GATEWAY_FORBIDDEN = """\
  cloudflare:index/aiGateway:AiGateway (gateway-ai-gateway):
    error: failed to make http request: POST "https://api.cloudflare.com/client/v4/accounts/x/ai-gateway/gateways": 403 Forbidden {"success":false,"errors":[{"code":10000,"message":"Authentication error"}]}
"""
PASSPHRASE = "error: getting secrets manager: incorrect passphrase, please set PULUMI_CONFIG_PASSPHRASE to the correct passphrase"


@pytest.mark.parametrize(
    "output, expected",
    [
        (ORIGIN_1016, "Zone > SSL and Certificates > Edit"),
        (KV_TAKEN, "flaregate:workerName"),
        (GATEWAY_FORBIDDEN, "Account > AI Gateway > Edit"),
        (PASSPHRASE, "PULUMI_CONFIG_PASSPHRASE"),
    ],
)
def test_pulumi_failures_become_one_message_with_the_fix_and_the_log(
    deployer, factory, output, expected
):
    deployer.open()
    factory.stacks["prod"].fail_with = command_error(output)
    with pytest.raises(DeployError) as err:
        ops.deploy(deployer, credentials(), ensure_first_key=lambda *a: None)
    message = str(err.value)
    assert expected in message
    log = Path(message.rsplit("Full log: ", 1)[1])
    assert output.strip().splitlines()[-1].strip() in log.read_text()
    assert len(message.splitlines()) == 2  # the explanation and where the full log is


def test_unrecognised_failures_show_the_last_error_line():
    output = "Updating (prod)\n  error: something odd happened at the edge\nResources: 3 unchanged"
    assert explain_failure(output) == "Pulumi failed: something odd happened at the edge"


def test_plugin_download_failure_is_explained(deployer, factory):
    deployer.open()
    factory.stacks["prod"].workspace.plugin_error = command_error(
        "error: failed to download plugin: cloudflare-resource-v6.23.1: 403 HTTP error fetching plugin"
    )
    with pytest.raises(DeployError, match="get.pulumi.com and github.com"):
        ops.deploy(deployer, credentials())


# --- destroy, outputs, origin files --------------------------------------------------------


def test_destroy_asks_with_the_outputs_then_deletes(deployer, factory):
    ops.deploy(deployer, credentials(), ensure_first_key=lambda *a: None)
    seen = []
    with pytest.raises(DeployError, match="nothing was deleted"):
        ops.destroy(deployer, credentials(), confirm=lambda outputs: seen.append(outputs) or False)
    assert seen[0]["workerName"] == "flaregate"
    assert "destroy" not in factory.stacks["prod"].calls
    changes = ops.destroy(deployer, credentials(), confirm=lambda outputs: True)
    assert changes == {"delete": 7}


def test_outputs_of_a_stack_never_deployed(deployer):
    with pytest.raises(DeployError, match="has not been deployed"):
        ops.stack_outputs(deployer)


def test_origin_files_are_written_0600_and_not_overwritten(deployer, tmp_path):
    values = {"zoneId": "5" * 32, "originHostname": "llm.example.com", "originAddress": "1.2.3.4"}
    ops.deploy(deployer, credentials(), values, ensure_first_key=lambda *a: None)
    outputs = ops.stack_outputs(deployer, reveal=True)
    written = ops.write_origin_files(outputs, tmp_path / "tls")
    assert [p.name for p in written] == ["origin.pem", "origin.key", "origin-secret.txt"]
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in written)
    assert (tmp_path / "tls" / "origin.key").read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert (tmp_path / "tls" / "origin-secret.txt").read_text().strip() == outputs["originSecret"]
    with pytest.raises(DeployError, match="--force"):
        ops.write_origin_files(outputs, tmp_path / "tls")


def test_origin_files_for_a_stack_without_origin(deployer, tmp_path):
    ops.deploy(deployer, credentials(), ensure_first_key=lambda *a: None)
    with pytest.raises(DeployError, match="originHostname"):
        ops.write_origin_files(ops.stack_outputs(deployer, reveal=True), tmp_path)
