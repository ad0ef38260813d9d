"""flaregate.deploy: the token audit before any change and the first key after a deploy, against
the local fake Cloudflare API (tests/fake_cloudflare.py); the Automation API wrapper against a
fake stack (tests/fake_pulumi.py) running the real program under Pulumi mocks."""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rich.console import Console

from flaregate import deploy as ops
from flaregate.deploy_errors import explain_failure
from flaregate.deploy_preflight import audit_features
from flaregate.errors import CloudflareCredentialsError, ConfigError, DeployError
from flaregate.infra.program import flaregate_program
from flaregate.stack_config import load_settings
from flaregate.token_audit import TokenPermissionError
from tests.fake_cloudflare import (
    ACCOUNT,
    ZONE,
    FakeCloudflare,
    account_owned_token,
    account_res,
    full_token,
    make_token,
    policy,
    token_that_cannot_read_itself,
    token_without_ssl,
    user_res,
)
from tests.fake_pulumi import (
    FakeCommand,
    FakeStackFactory,
    command_error,
    fake_pulumi_binary,
    recorded_calls,
)
from tests.pulumi_mocks import kv_namespace_id

KV_ID = kv_namespace_id("keyring-kv")
ORIGIN = {"zoneId": ZONE, "originHostname": "llm.example.com", "originAddress": "203.0.113.7"}


@pytest.fixture
def cloudflare(monkeypatch):
    with FakeCloudflare() as api:
        api.namespaces[KV_ID] = ACCOUNT  # the key ring the (mocked) program creates
        monkeypatch.setenv("CLOUDFLARE_BASE_URL", api.base_url)
        yield api


@pytest.fixture
def token(cloudflare):
    """A token with every permission every feature needs, able to read its own policies."""
    return cloudflare.add(full_token())


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
        Console(file=out, width=200),
        stack_factory=factory,
        stack_selector=factory.select,
        pulumi_command=FakeCommand(command=str(fake_bin / "pulumi")),
    )


@pytest.fixture
def credentials(token) -> ops.Credentials:
    return ops.Credentials(token.value, ACCOUNT)


def creds(token, account_id: str | None = ACCOUNT) -> ops.Credentials:
    return ops.Credentials(token.value, account_id)


def stack_operations(factory: FakeStackFactory) -> list[str]:
    stack = factory.stacks.get("prod")
    return [c for c in (stack.calls if stack else []) if c in ("up", "preview", "destroy")]


def no_key(*_):
    return None


# --- the permission audit before any change -----------------------------------------------


@pytest.mark.parametrize(
    "values, expected",
    [
        ({}, ["core", "gateway"]),
        ({"gatewayId": ""}, ["core"]),
        ({"customDomain": "api.example.com", "zoneId": ZONE}, ["core", "gateway", "custom_domain"]),
        (ORIGIN, ["core", "gateway", "origin"]),
    ],
)
def test_the_stack_features_map_to_the_permission_table(values, expected):
    settings = load_settings({"accountId": ACCOUNT, **values})
    assert audit_features(ops.features_for(settings)) == expected


def test_a_full_token_deploys_with_every_permission_confirmed(
    deployer, factory, cloudflare, credentials, out
):
    result = ops.deploy(deployer, credentials, ORIGIN, ensure_first_key=no_key)
    report = result.token_report
    assert report.exit_ok and report.features == ["core", "gateway", "origin"]
    assert report.zone_id == ZONE  # the stack's zone was checked, not "all zones"
    assert "all 6 permissions this deployment needs are confirmed" in out.getvalue()
    assert stack_operations(factory) == ["up"]
    # Audited before anything else touched Cloudflare or Pulumi.
    assert cloudflare.paths()[0] == "/user/tokens/verify"


def test_a_token_without_ssl_and_certificates_is_refused_before_any_stack_operation(
    deployer, factory, cloudflare
):
    token = cloudflare.add(token_without_ssl())
    with pytest.raises(TokenPermissionError) as err:
        ops.deploy(deployer, creds(token), ORIGIN, ensure_first_key=no_key)
    message = str(err.value)
    assert "Zone | App Security | SSL and Certificates | Edit" in message
    assert "1016" in message and "Origin CA" in message
    assert "Nothing was changed" in message
    assert "permissionGroupKeys" in message and "ssl_and_certificates" in message
    assert f"flaregate check-token --account-id {ACCOUNT}" in message
    assert f"--feature origin --zone-id {ZONE}" in message
    assert token.value not in message
    assert stack_operations(factory) == []  # no preview, no up
    assert factory.calls == []  # checked before the stack was even opened
    assert "/accounts/" + ACCOUNT + "/workers/subdomain" not in cloudflare.paths()


def test_the_same_token_deploys_a_stack_without_an_origin(deployer, factory, cloudflare):
    token = cloudflare.add(token_without_ssl())
    ops.deploy(deployer, creds(token), ensure_first_key=no_key)
    assert stack_operations(factory) == ["up"]


def test_no_gateway_needs_no_ai_gateway_permission(deployer, factory, cloudflare):
    token = cloudflare.add(
        make_token(
            [
                policy(["Workers Scripts Write", "Workers KV Storage Write"], account_res()),
                policy(["API Tokens Read"], user_res()),
            ]
        )
    )
    with pytest.raises(TokenPermissionError, match="AI Gateway"):
        ops.deploy(deployer, creds(token), ensure_first_key=no_key)
    ops.deploy(deployer, creds(token), {"gatewayId": ""}, ensure_first_key=no_key)
    assert stack_operations(factory) == ["up"]


def test_skip_checks_goes_ahead_without_the_audit(deployer, factory, cloudflare, out):
    token = cloudflare.add(token_without_ssl())
    deployer.skip_checks = True
    result = ops.deploy(deployer, creds(token), ORIGIN, ensure_first_key=no_key)
    assert "Token check skipped (--skip-checks)" in out.getvalue()
    assert result.token_report is None
    assert stack_operations(factory) == ["up"]
    assert not any("tokens" in path for path in cloudflare.paths())


def test_a_token_that_cannot_read_itself_is_probed_and_the_deploy_goes_on(
    deployer, factory, cloudflare, out
):
    token = cloudflare.add(token_that_cannot_read_itself())
    result = ops.deploy(deployer, creds(token), ORIGIN, ensure_first_key=no_key)
    printed = out.getvalue()
    assert "nothing needed is missing, but 6 of 6 permissions could not be confirmed" in printed
    assert "may not read its own policies" in printed
    for row in result.token_report.unverified:  # every Edit permission, each on its own line
        assert f"unverified {row.permission.dashboard_path}: GET " in printed
    assert {r.permission.api_name for r in result.token_report.unverified} == {
        "Zone Read",  # its probe answers to other zone permissions too
        "Workers Scripts Write",
        "Workers KV Storage Write",
        "AI Gateway Write",
        "DNS Write",
        "SSL and Certificates Write",
    }
    assert "a read cannot prove Edit" in printed
    paths = cloudflare.paths()
    assert f"/accounts/{ACCOUNT}/workers/scripts" in paths and f"/zones/{ZONE}" in paths
    assert stack_operations(factory) == ["up"]


def test_a_token_that_cannot_read_itself_and_lacks_a_permission_is_refused(
    deployer, factory, cloudflare
):
    token = cloudflare.add(token_without_ssl(self_read=False))
    with pytest.raises(TokenPermissionError) as err:
        ops.deploy(deployer, creds(token), ORIGIN, ensure_first_key=no_key)
    assert "SSL and Certificates" in str(err.value) and "was refused" in str(err.value)
    assert stack_operations(factory) == []


def test_an_account_owned_token_is_verified_per_account(deployer, factory, cloudflare):
    token = cloudflare.add(account_owned_token())
    result = ops.deploy(deployer, creds(token), ensure_first_key=no_key)
    assert result.token_report.owner == "account" and result.token_report.exit_ok
    assert f"/accounts/{ACCOUNT}/tokens/verify" in cloudflare.paths()


def test_an_unknown_token_is_refused_without_echoing_it(deployer, factory, cloudflare):
    with pytest.raises(TokenPermissionError) as err:
        ops.deploy(deployer, ops.Credentials("sk-wrong-token-value", ACCOUNT))
    assert "does not accept the API token" in str(err.value)
    assert "sk-wrong-token-value" not in str(err.value)
    assert stack_operations(factory) == []


def test_a_disabled_token_is_refused(deployer, factory, cloudflare):
    token = cloudflare.add(full_token(status="disabled"))
    with pytest.raises(TokenPermissionError, match="disabled"):
        ops.deploy(deployer, creds(token))
    assert stack_operations(factory) == []


def test_a_token_expiring_soon_is_a_warning_not_a_failure(deployer, factory, cloudflare, out):
    soon = (datetime.now(UTC) + timedelta(days=3, hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    token = cloudflare.add(full_token(expires_on=soon))
    ops.deploy(deployer, creds(token), ensure_first_key=no_key)
    assert "Warning: the token expires in 3 days" in out.getvalue()
    assert stack_operations(factory) == ["up"]


def test_a_global_api_key_in_the_environment_is_refused_with_the_fix(
    deployer, factory, credentials, monkeypatch
):
    monkeypatch.setenv("CLOUDFLARE_API_KEY", "global-key-value")
    monkeypatch.setenv("CLOUDFLARE_EMAIL", "me@example.com")
    with pytest.raises(CloudflareCredentialsError) as err:
        ops.deploy(deployer, credentials)
    assert "unset CLOUDFLARE_API_KEY CLOUDFLARE_EMAIL" in str(err.value)
    assert "global-key-value" not in str(err.value)
    assert stack_operations(factory) == []


def test_an_unreachable_api_stops_the_deploy_and_names_skip_checks(
    deployer, factory, credentials, monkeypatch
):
    monkeypatch.setenv("CLOUDFLARE_BASE_URL", "http://127.0.0.1:9/client/v4")
    with pytest.raises(TokenPermissionError) as err:
        ops.deploy(deployer, credentials)
    assert "could not be checked" in str(err.value) and "--skip-checks" in str(err.value)
    assert "Fix the token" not in str(err.value)
    assert stack_operations(factory) == []


def test_preview_and_destroy_run_the_same_audit(deployer, factory, cloudflare, credentials):
    ops.deploy(deployer, credentials, ORIGIN, ensure_first_key=no_key)
    weak = cloudflare.add(token_without_ssl())
    with pytest.raises(TokenPermissionError, match="SSL and Certificates"):
        ops.preview(deployer, creds(weak))
    with pytest.raises(TokenPermissionError, match="SSL and Certificates"):
        ops.destroy(deployer, creds(weak), confirm=lambda outputs: True)
    assert stack_operations(factory) == ["up"]
    deployer.skip_checks = True
    assert ops.destroy(deployer, creds(weak), confirm=lambda outputs: True)["delete"] > 0


def test_workers_dev_subdomain_lookup(cloudflare, token):
    assert ops.workers_dev_subdomain(token.value, ACCOUNT) == "acme"
    cloudflare.subdomains.clear()
    with pytest.raises(DeployError, match="no workers.dev subdomain"):
        ops.workers_dev_subdomain(token.value, ACCOUNT)
    kv_only = cloudflare.add(make_token([policy(["Workers KV Storage Write"], account_res())]))
    assert ops.workers_dev_subdomain(kv_only.value, ACCOUNT) is None  # unknown URL, no failure


# --- the first key ------------------------------------------------------------------------


def test_the_first_deploy_makes_the_first_key_and_later_ones_do_not(
    deployer, cloudflare, credentials
):
    first = ops.deploy(deployer, credentials)
    key = first.first_key.key
    stored = cloudflare.kv.get("key:" + hashlib.sha256(key.encode()).hexdigest())
    assert json.loads(stored)["id"] == first.first_key.id
    again = ops.deploy(deployer, credentials)  # nothing changed: still checks the ring
    assert again.first_key is None and again.first_key_error is None
    assert len(cloudflare.kv.list("key:")) == 1


def test_a_failed_first_key_is_reported_after_a_successful_deploy(
    deployer, factory, cloudflare, credentials
):
    del cloudflare.namespaces[KV_ID]  # KV answers 404 for the new namespace
    result = ops.deploy(deployer, credentials)
    assert stack_operations(factory) == ["up"] and result.url
    assert result.first_key is None and "found nothing" in result.first_key_error


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
    assert "cf-test-" not in repr(opts.env_vars)
    assert not set(opts.env_vars) & {"CLOUDFLARE_API_KEY", "CLOUDFLARE_EMAIL"}


def test_deploy_sets_config_checks_token_installs_plugins_and_reports_outputs(
    deployer, factory, cloudflare, out, home, credentials
):
    seen = []
    result = ops.deploy(
        deployer, credentials, {"corsOrigins": "*"}, ensure_first_key=lambda *a: seen.append(a)
    )
    stack = factory.stacks["prod"]
    assert stack.config["flaregate:accountId"].value == ACCOUNT
    assert stack.config["flaregate:corsOrigins"].value == "*"
    assert stack.config["flaregate:workersDevSubdomain"].value == "acme"
    assert not any(v.secret for v in stack.config.values())
    assert "/user/tokens/verify" in cloudflare.paths()
    assert {name for name, _ in stack.workspace.plugins} == {"cloudflare", "tls"}
    assert all(
        version.startswith("v6.") or version.startswith("v5.")
        for _, version in stack.workspace.plugins
    )
    assert result.url == "https://flaregate.acme.workers.dev"
    assert result.outputs["kvNamespaceId"] == KV_ID
    assert result.outputs["accountId"] == ACCOUNT
    assert result.changed and result.changes["create"] == 8
    assert seen and seen[0][0] is result  # the first-key hook ran after a successful up
    assert stat.S_IMODE(result.log_path.stat().st_mode) == 0o600
    assert "WorkersScript" in result.log_path.read_text()
    assert "Worker script (worker-script)" in out.getvalue()


def test_secret_outputs_are_masked_in_the_result(deployer, factory, credentials):
    values = {
        "zoneId": ZONE,
        "originHostname": "llm.example.com",
        "originAddress": "203.0.113.7",
    }
    result = ops.deploy(deployer, credentials, values, ensure_first_key=no_key)
    assert result.outputs["originPrivateKey"] == "[secret]"
    assert result.outputs["originSecret"] == "[secret]"
    assert result.outputs["originHostname"] == "llm.example.com"


def test_a_second_deploy_with_nothing_changed_changes_nothing(deployer, factory, credentials):
    ops.deploy(deployer, credentials, ensure_first_key=no_key)
    asked = []
    result = ops.deploy(deployer, credentials, confirm=asked.append, ensure_first_key=no_key)
    assert factory.stacks["prod"].calls.count("up") == 1  # previewed, nothing to apply
    assert asked == [] and not result.changed
    assert result.url == "https://flaregate.acme.workers.dev"


def test_deploy_asks_before_changing_and_stops_when_told_no(deployer, factory, credentials):
    asked = []
    with pytest.raises(DeployError, match="nothing was changed"):
        ops.deploy(
            deployer,
            credentials,
            confirm=lambda changes: asked.append(changes) or False,
            ensure_first_key=no_key,
        )
    assert asked == [{"create": 8}]
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


def test_bad_config_stops_before_the_token_check_and_before_pulumi(
    deployer, factory, cloudflare, credentials
):
    with pytest.raises(ConfigError, match="flaregate:timeoutMs"):
        ops.deploy(deployer, credentials, {"timeoutMs": "soon"})
    assert cloudflare.requests == []
    assert factory.calls == []  # the stack was not even opened


def test_missing_account_id_names_the_variable(deployer, token):
    with pytest.raises(ConfigError, match="flaregate:accountId"):
        ops.deploy(deployer, creds(token, account_id=None))


def test_missing_token_says_where_to_create_one(monkeypatch):
    monkeypatch.delenv("CLOUDFLARE_API_TOKEN", raising=False)
    with pytest.raises(DeployError, match="dash.cloudflare.com/profile/api-tokens"):
        ops.credentials_from_env()


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
    deployer, factory, output, expected, credentials
):
    deployer.open()
    factory.stacks["prod"].fail_with = command_error(output)
    with pytest.raises(DeployError) as err:
        ops.deploy(deployer, credentials, ensure_first_key=no_key)
    message = str(err.value)
    assert expected in message
    log = Path(message.rsplit("Full log: ", 1)[1])
    assert output.strip().splitlines()[-1].strip() in log.read_text()
    assert len(message.splitlines()) == 2  # the explanation and where the full log is


def test_unrecognised_failures_show_the_last_error_line():
    output = "Updating (prod)\n  error: something odd happened at the edge\nResources: 3 unchanged"
    assert explain_failure(output) == "Pulumi failed: something odd happened at the edge"


def test_plugin_download_failure_is_explained(deployer, factory, credentials):
    deployer.open()
    factory.stacks["prod"].workspace.plugin_error = command_error(
        "error: failed to download plugin: cloudflare-resource-v6.23.1: 403 HTTP error fetching plugin"
    )
    with pytest.raises(DeployError, match="get.pulumi.com and github.com"):
        ops.deploy(deployer, credentials)


# --- destroy, outputs, origin files --------------------------------------------------------


def test_destroy_asks_with_the_outputs_then_deletes(deployer, factory, credentials):
    ops.deploy(deployer, credentials, ensure_first_key=no_key)
    seen = []
    with pytest.raises(DeployError, match="nothing was deleted"):
        ops.destroy(deployer, credentials, confirm=lambda outputs: seen.append(outputs) or False)
    assert seen[0]["workerName"] == "flaregate"
    assert "destroy" not in factory.stacks["prod"].calls
    changes = ops.destroy(deployer, credentials, confirm=lambda outputs: True)
    assert changes == {"delete": 8}


def test_outputs_of_a_stack_never_deployed(deployer):
    with pytest.raises(DeployError, match="has not been deployed"):
        ops.stack_outputs(deployer)


def test_origin_files_are_written_0600_and_not_overwritten(deployer, tmp_path, credentials):
    values = {"zoneId": ZONE, "originHostname": "llm.example.com", "originAddress": "1.2.3.4"}
    ops.deploy(deployer, credentials, values, ensure_first_key=no_key)
    outputs = ops.stack_outputs(deployer, reveal=True)
    written = ops.write_origin_files(outputs, tmp_path / "tls")
    assert [p.name for p in written] == ["origin.pem", "origin.key", "origin-secret.txt"]
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in written)
    assert (tmp_path / "tls" / "origin.key").read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert (tmp_path / "tls" / "origin-secret.txt").read_text().strip() == outputs["originSecret"]
    with pytest.raises(DeployError, match="--force"):
        ops.write_origin_files(outputs, tmp_path / "tls")


def test_origin_files_for_a_stack_without_origin(deployer, tmp_path, credentials):
    ops.deploy(deployer, credentials, ensure_first_key=no_key)
    with pytest.raises(DeployError, match="originHostname"):
        ops.write_origin_files(ops.stack_outputs(deployer, reveal=True), tmp_path)
