"""`flaregate deploy` / preview / destroy / status / origin-cert, over Pulumi's Automation API.

No Pulumi account and no Pulumi install needed: a pinned Pulumi CLI is installed under
``~/.flaregate/pulumi/`` when none is on PATH, state goes to a local file backend under
``~/.flaregate/state/`` (``--backend`` / ``PULUMI_BACKEND_URL`` for S3, R2 or Pulumi Cloud), and
the state's secrets are encrypted with ``PULUMI_CONFIG_PASSPHRASE`` or a passphrase generated once
into ``~/.flaregate/passphrase`` (mode 0600). The program is :func:`flaregate.infra.program.flaregate_program`,
the same one ``pulumi up`` runs from the repository root.

The Cloudflare token is read from ``CLOUDFLARE_API_TOKEN`` and reaches Pulumi only through the
environment it inherits: never a command line, a config file or a log. That environment holds
exactly the token the audit checked and none of the legacy credential variables
(:func:`provider_environment`). A deploy checks the token before it downloads or changes
anything; commands that only read (``status``, ``origin-cert``) never install the Pulumi CLI.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .cloudflare_api import LEGACY_CREDENTIAL_ENVS, TOKEN_ENV
from .deploy_errors import explain_failure
from .errors import ConfigError, DeployError, FlaregateError, NotDeployedError

if TYPE_CHECKING:
    from pulumi import automation as auto
    from rich.console import Console

    from .keyring import NewKey
    from .token_audit import AuditReport

PROJECT = "flaregate"
DEFAULT_STACK = "prod"
# The Pulumi CLI flaregate installs when none is on PATH; bump with the pulumi SDK pin.
PULUMI_CLI_VERSION = "3.272.0"
PULUMI_CLOUD = ("https://api.pulumi.com", "https://app.pulumi.com")


# --- where things live ------------------------------------------------------------------------


def flaregate_home() -> Path:
    """``$FLAREGATE_HOME`` or ``~/.flaregate``: the Pulumi CLI, state, passphrase and logs."""
    return Path(os.environ.get("FLAREGATE_HOME") or Path.home() / ".flaregate").expanduser()


@dataclass(frozen=True)
class StackOptions:
    stack: str = DEFAULT_STACK
    backend: str | None = None
    """State backend URL; None: $PULUMI_BACKEND_URL, else file://~/.flaregate/state."""
    home: Path = field(default_factory=flaregate_home)

    @property
    def backend_url(self) -> str:
        url = self.backend or os.environ.get("PULUMI_BACKEND_URL")
        if url:
            return url
        state = self.home / "state"
        state.mkdir(parents=True, exist_ok=True)
        return f"file://{state}"

    @property
    def uses_pulumi_cloud(self) -> bool:
        return self.backend_url.rstrip("/") in PULUMI_CLOUD

    @property
    def workspace_dir(self) -> Path:
        """Holds Pulumi.yaml and Pulumi.<stack>.yaml (the stack config) for the CLI's stacks."""
        path = self.home / "workspace"
        path.mkdir(parents=True, exist_ok=True)
        return path


def passphrase_env(options: StackOptions) -> dict[str, str]:
    """How Pulumi gets the passphrase that encrypts the state's secrets.

    Yours (``PULUMI_CONFIG_PASSPHRASE`` / ``_FILE``) wins; with Pulumi Cloud none is needed;
    otherwise one is generated once into ``~/.flaregate/passphrase`` (0600) and passed by path,
    so the passphrase itself is never in an environment dump or an argument list.
    """
    if options.uses_pulumi_cloud:
        return {}
    if "PULUMI_CONFIG_PASSPHRASE" in os.environ or "PULUMI_CONFIG_PASSPHRASE_FILE" in os.environ:
        return {}
    path = options.home / "passphrase"
    options.home.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)  # someone loosened it; the state's secrets depend on it
    else:
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(32))
    return {"PULUMI_CONFIG_PASSPHRASE_FILE": str(path)}


# --- the Pulumi CLI ---------------------------------------------------------------------------


def ensure_pulumi_cli(
    options: StackOptions,
    say: Callable[[str], None],
    *,
    which: Callable[[str], str | None] = shutil.which,
    command: Callable[..., auto.PulumiCommand] | None = None,
    install: Callable[..., auto.PulumiCommand] | None = None,
    allow_install: bool = True,
) -> auto.PulumiCommand:
    """The Pulumi CLI on PATH, else the pinned one under ~/.flaregate/pulumi (installed once).

    ``allow_install=False``: no download; without a Pulumi CLI nothing can have been deployed
    from this machine (with its default backend), which is what the error says.
    """
    from pulumi import automation as auto
    from semver import VersionInfo

    command = command or auto.PulumiCommand
    install = install or auto.PulumiCommand.install
    if which("pulumi"):
        try:
            return command()
        except Exception as err:  # too old, broken install: say which and how to get past it
            raise DeployError(
                f"The pulumi on PATH ({which('pulumi')}) cannot be used: {err}. Upgrade it "
                "(https://www.pulumi.com/docs/install/) or remove it from PATH and flaregate "
                f"installs Pulumi {PULUMI_CLI_VERSION} under {options.home / 'pulumi'}."
            ) from None
    root = options.home / "pulumi" / PULUMI_CLI_VERSION
    version = VersionInfo.parse(PULUMI_CLI_VERSION)
    if not (root / "bin" / "pulumi").exists():
        if not allow_install:
            raise NotDeployedError(
                "No Pulumi CLI on PATH or under "
                f"{options.home / 'pulumi'}, so no flaregate deployment is known on this "
                "machine. Run `flaregate deploy` first."
            )
        say(f"Installing the Pulumi CLI {PULUMI_CLI_VERSION} into {root} (once)…")
    try:
        return install(root=str(root), version=version)
    except Exception as err:
        raise DeployError(
            f"Could not install the Pulumi CLI {PULUMI_CLI_VERSION} into {root}: {err}. Check "
            "that this machine can reach get.pulumi.com, or install Pulumi yourself "
            "(https://www.pulumi.com/docs/install/) and run the command again."
        ) from None


# --- the token --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Credentials:
    token: str = field(repr=False)
    account_id: str | None


def credentials_from_env(account_id: str | None = None) -> Credentials:
    """The token as the audit will check it (surrounding whitespace removed: a stray newline
    from a copied token is not part of it) and the account id."""
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise DeployError(
            "CLOUDFLARE_API_TOKEN is not set. Create an API token at "
            "https://dash.cloudflare.com/profile/api-tokens with the permissions in "
            "docs/deploy.md, then `export CLOUDFLARE_API_TOKEN=...`."
        )
    return Credentials(token, account_id or os.environ.get("CLOUDFLARE_ACCOUNT_ID") or None)


def workers_dev_subdomain(
    token: str, account_id: str, *, base_url: str | None = None
) -> str | None:
    """The account's <subdomain>.workers.dev, or None when it cannot be read.

    Raises when the account has none yet: Workers cannot be served on workers.dev until one is
    chosen, and Pulumi would fail halfway with a less helpful error.
    """
    import cloudflare

    from .cloudflare_api import make_client

    client = make_client(token, base_url=base_url)
    try:
        return client.workers.subdomains.get(account_id=account_id).subdomain or None
    except cloudflare.NotFoundError:
        raise DeployError(
            "This account has no workers.dev subdomain yet. Choose one in the dashboard "
            "(Workers & Pages > your subdomain), or serve on your own hostname with "
            "`flaregate deploy --set customDomain=api.example.com`."
        ) from None
    except cloudflare.APIError:
        return None  # cannot be read (permission, outage): the URL output stays unknown


def provider_environment(token: str | None, say: Callable[[str], None] | None = None) -> None:
    """Make this process's environment the one the Pulumi CLI and the Cloudflare provider get.

    The Automation API starts the CLI (which starts the provider) with ``{**os.environ,
    **env_vars}``: it can add a variable but not remove one. The provider reads the legacy
    credentials by presence (``os.LookupEnv``), so an empty ``CLOUDFLARE_API_KEY`` still sends an
    empty ``X-Auth-Key`` beside the token and Cloudflare answers 400 (6003/6103): they are removed
    here, not blanked. ``token`` (the audited one) replaces ``CLOUDFLARE_API_TOKEN``, so Pulumi
    uses exactly what was checked. Only this process changes; the shell keeps its variables.
    """
    dropped = [name for name in LEGACY_CREDENTIAL_ENVS if os.environ.pop(name, None)]
    if dropped and say is not None:
        say(
            f"[yellow]Ignoring {', '.join(dropped)}[/]: flaregate deploys with "
            f"{TOKEN_ENV} only (unset {'it' if len(dropped) == 1 else 'them'} to silence this)."
        )
    if token is not None:
        os.environ[TOKEN_ENV] = token


# --- the stack --------------------------------------------------------------------------------

StackFactory = Callable[..., "auto.Stack"]


def open_stack(
    options: StackOptions,
    say: Callable[[str], None],
    *,
    stack_factory: StackFactory | None = None,
    pulumi_command: auto.PulumiCommand | None = None,
    create: bool = True,
    install_cli: bool = True,
    installer: Callable[..., auto.PulumiCommand] | None = None,
    token: str | None = None,
) -> auto.Stack:
    """Create or select the stack (inline program = flaregate.infra.program.flaregate_program).

    ``create=False`` only selects: reading a stack never creates an empty one by mistake
    (`status --stack typo`); a stack that does not exist says how to deploy it. ``token``: the
    audited API token Pulumi and the provider will use (:func:`provider_environment`).
    """
    from pulumi import automation as auto

    from .infra.program import flaregate_program

    provider_environment(token, say)
    env = {
        "PULUMI_BACKEND_URL": options.backend_url,
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        **passphrase_env(options),
    }
    command = pulumi_command or ensure_pulumi_cli(
        options, say, install=installer, allow_install=install_cli
    )
    workspace = auto.LocalWorkspaceOptions(
        work_dir=str(options.workspace_dir),
        env_vars=env,
        secrets_provider=None if options.uses_pulumi_cloud else "passphrase",
        project_settings=auto.ProjectSettings(name=PROJECT, runtime="python"),
        pulumi_command=command,
    )
    factory = stack_factory or (auto.create_or_select_stack if create else auto.select_stack)
    try:
        return factory(
            stack_name=options.stack,
            project_name=PROJECT,
            program=flaregate_program,
            opts=workspace,
        )
    except auto.StackNotFoundError:
        raise NotDeployedError(not_deployed(options.stack, options.backend_url)) from None
    except Exception as err:
        raise DeployError(_failure(err, None)) from None


def not_deployed(stack: str, backend_url: str) -> str:
    flag = "" if stack == DEFAULT_STACK else f" --stack {stack}"
    return (
        f"Stack {stack} has not been deployed (not found in {backend_url}). Run "
        f"`flaregate deploy{flag}` first, or name the stack you deployed (--stack; and its "
        "state backend, PULUMI_BACKEND_URL, if it is not the default)."
    )


def configure(stack: auto.Stack, values: Mapping[str, str]) -> None:
    """Set ``flaregate:<key>`` config; secret keys go in encrypted, their value over stdin."""
    from pulumi import automation as auto

    from .stack_config import KEYS_BY_NAME, did_you_mean

    for key, value in values.items():
        spec = KEYS_BY_NAME.get(key)
        if spec is None:
            raise ConfigError(f"flaregate:{key} is not a setting{did_you_mean(key)}")
        if spec.secret:
            set_secret_config(stack, f"flaregate:{key}", value)
        else:
            stack.set_config(f"flaregate:{key}", auto.ConfigValue(value=value, secret=False))


def set_secret_config(stack: auto.Stack, key: str, value: str) -> None:
    """``pulumi config set --secret`` with the value on stdin (the Automation API would put it
    on the command line, where any local user can read it in the process list)."""
    workspace = stack.workspace
    result = subprocess.run(
        [workspace.pulumi_command.command, "config", "set", "--secret", "--stack", stack.name, key],
        input=value,
        text=True,
        capture_output=True,
        cwd=workspace.work_dir,
        env={**os.environ, **workspace.env_vars},
        check=False,
    )
    if result.returncode != 0:
        raise DeployError(f"Could not store {key}: {explain_failure(result.stderr)}")


def stored_config(options: StackOptions) -> dict[str, Any] | None:
    """The stack's ``flaregate:`` config as this machine stores it (``Pulumi.<stack>.yaml`` in
    the workspace), read without the Pulumi CLI; secret values left out (they are encrypted
    there). None when this machine has no config for the stack."""
    import yaml

    path = options.workspace_dir / f"Pulumi.{options.stack.rsplit('/', 1)[-1]}.yaml"
    if not path.exists():
        return None
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f"{path} cannot be read ({err}); fix or remove it") from None
    prefix = "flaregate:"
    return {
        k[len(prefix) :]: v
        for k, v in (data.get("config") or {}).items()
        if k.startswith(prefix) and not (isinstance(v, dict) and "secure" in v)
    }


def planned_settings(options: StackOptions, values: Mapping[str, str]):
    """The settings a deploy with ``values`` will have, from the stored config: what the token
    check needs, known before the Pulumi CLI is installed or the stack is opened."""
    from .stack_config import KEYS_BY_NAME, load_settings

    merged = {**(stored_config(options) or {}), **values}
    return load_settings(
        {k: v for k, v in merged.items() if not getattr(KEYS_BY_NAME.get(k), "secret", False)}
    )


def stack_settings(stack: auto.Stack):
    """The stack's config, validated the way the program will (errors name the key)."""
    from .stack_config import load_settings

    prefix = "flaregate:"
    config = stack.get_all_config()
    return load_settings(
        {k[len(prefix) :]: v.value for k, v in config.items() if k.startswith(prefix)}
    )


def audit_scope(settings) -> tuple[str, frozenset[str], str | None]:
    """What the token audit depends on: two settings with the same scope need one audit."""
    return settings.account_id, frozenset(features_for(settings)), settings.zone_id


def features_for(settings) -> set[str]:
    features = {"worker", "kv"}
    if settings.gateway:
        features.add("gateway")
    if settings.workers_dev:
        features.add("workers_dev")
    if settings.custom_domain:
        features.add("custom_domain")
    if settings.origin:
        features.add("origin")
    return features


def install_plugins(stack: auto.Stack, say: Callable[[str], None]) -> None:
    """The provider plugins matching the installed pulumi-cloudflare / pulumi-tls packages.

    Inline programs do not get plugins installed by `pulumi install`; fetching them up front
    turns a download failure into a clear message instead of a failure mid-update.
    """
    from importlib.metadata import version

    for plugin, package in (("cloudflare", "pulumi-cloudflare"), ("tls", "pulumi-tls")):
        wanted = f"v{version(package)}"
        try:
            stack.workspace.install_plugin(plugin, wanted)
        except Exception as err:
            raise DeployError(
                f"Could not install the Pulumi {plugin} plugin {wanted}: "
                f"{explain_failure(_command_output(err))}"
            ) from None


# --- operations -------------------------------------------------------------------------------


@dataclass
class DeployResult:
    stack: str
    outputs: dict[str, Any]
    """Stack outputs; secret ones hold the string "[secret]"."""
    changes: dict[str, int]
    log_path: Path
    account_id: str | None = None
    token_report: AuditReport | None = None
    """The token audit that ran before the deploy; None with --skip-checks."""
    first_key: NewKey | None = None
    """The key ring's first API key, made by this deploy (shown once); None when keys existed."""
    first_key_error: str | None = None
    """Why the first key could not be made (the deploy itself succeeded)."""

    @property
    def url(self) -> str | None:
        return self.outputs.get("url")

    @property
    def changed(self) -> bool:
        return has_changes(self.changes)


EnsureFirstKey = Callable[[DeployResult, Credentials], "NewKey | None"]


def create_first_key(result: DeployResult, credentials: Credentials) -> NewKey | None:
    """Default after-deploy hook: the first API key when the stack's key ring has no live key
    (the Worker refuses every request until one exists); None when keys exist already."""
    from .cloudflare_api import make_client
    from .keyring import ensure_first_key

    namespace_id = result.outputs.get("kvNamespaceId")
    if not namespace_id or not result.account_id:
        raise DeployError(
            f"Stack {result.stack} has no kvNamespaceId output, so no key ring to put a key in."
        )
    return ensure_first_key(make_client(credentials.token), result.account_id, namespace_id)


@dataclass
class Deployer:
    """Runs one Pulumi operation with progress on ``console`` and the full log in a file."""

    options: StackOptions
    console: Console
    stack_factory: StackFactory | None = None
    """Stands in for auto.create_or_select_stack (deploy, preview)."""
    stack_selector: StackFactory | None = None
    """Stands in for auto.select_stack (destroy, status, outputs: never creates a stack)."""
    pulumi_command: Any = None
    skip_checks: bool = False
    """--skip-checks: no token audit before changing anything."""
    install_cli: bool = True
    """False: never download the Pulumi CLI (commands that only read: status, origin-cert,
    `flaregate keys --stack`)."""
    cli_installer: Callable[..., Any] | None = None
    """Stands in for auto.PulumiCommand.install (the download of the Pulumi CLI)."""

    def say(self, message: str) -> None:
        self.console.print(message)

    def open(self, *, create: bool = True, token: str | None = None) -> auto.Stack:
        return open_stack(
            self.options,
            self.say,
            stack_factory=self.stack_factory if create else self.stack_selector,
            pulumi_command=self.pulumi_command,
            create=create,
            install_cli=self.install_cli,
            installer=self.cli_installer,
            token=token,
        )

    def log_path(self, operation: str) -> Path:
        logs = self.options.home / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        path = logs / f"{self.options.stack}-{operation}-{stamp}.log"
        path.touch(mode=0o600)
        return path

    def check_token(self, credentials: Credentials, settings) -> AuditReport | None:
        """The full permission audit for this stack's features, before anything changes."""
        if self.skip_checks:
            self.say(
                "[yellow]Token check skipped (--skip-checks).[/] A missing permission fails the "
                "resource that needs it, with Cloudflare's error."
            )
            return None
        from .deploy_preflight import check_token

        return check_token(
            credentials.token,
            settings.account_id,
            features_for(settings),
            settings.zone_id,
            self.console,
        )

    def prepare(self, credentials: Credentials, values: Mapping[str, str]):
        """Check the token, then open the stack and store its config: nothing remote changes.

        The token is checked first (seconds), from the config this machine stores plus
        ``values``, before the Pulumi CLI is downloaded or the stack is touched; should the
        stack's own config name another account, zone or feature set, it is checked again.
        """
        if credentials.account_id:
            values = {"accountId": credentials.account_id, **values}
        planned = planned_settings(self.options, values)
        report = self.check_token(credentials, planned)
        stack = self.open(token=credentials.token)
        configure(stack, values)
        settings = stack_settings(stack)
        if audit_scope(settings) != audit_scope(planned):
            report = self.check_token(credentials, settings)
        if settings.workers_dev and "flaregate:workersDevSubdomain" not in stack.get_all_config():
            subdomain = workers_dev_subdomain(credentials.token, settings.account_id)
            if subdomain:
                configure(stack, {"workersDevSubdomain": subdomain})
        install_plugins(stack, self.say)
        return stack, settings, report

    def run(self, operation: str, action: Callable[..., Any], title: str) -> tuple[Any, Path]:
        from .progress import ProgressView, log_writer

        log = self.log_path(operation)
        view = ProgressView(self.console, title)
        started = time.monotonic()
        try:
            with view:
                result = action(on_output=log_writer(log), on_event=view.on_event, color="never")
        except Exception as err:
            output = _command_output(err)
            log_writer(log)(output)
            raise DeployError(f"{_failure(err, view)}\nFull log: {log}") from None
        self.console.print(f"{title.rstrip('.…')} finished in {time.monotonic() - started:.0f} s.")
        return result, log


Confirm = Callable[[dict[str, int]], bool]


def deploy(
    deployer: Deployer,
    credentials: Credentials,
    values: Mapping[str, str] | None = None,
    *,
    confirm: Confirm | None = None,
    ensure_first_key: EnsureFirstKey = create_first_key,
) -> DeployResult:
    """Create or update the stack, then make sure its key ring has a key. With ``confirm``,
    preview first and ask before changing.

    A stack already matching its config is left alone: the preview shows no change, and the
    outputs of the last deploy are returned.
    """
    stack, settings, report = deployer.prepare(credentials, values or {})
    name = settings.worker.worker_name
    if confirm is not None:
        planned, log = deployer.run("preview", stack.preview, f"Planning {name} ({stack.name})…")
        changes = _changes(planned.change_summary)
        if not has_changes(changes):
            outputs = _plain_outputs(stack.outputs())
            result = DeployResult(stack.name, outputs, changes, log, settings.account_id, report)
            return _with_first_key(result, credentials, ensure_first_key)
        if not confirm(changes):
            raise DeployError("Deploy cancelled; nothing was changed.")
    up, log = deployer.run("up", stack.up, f"Deploying {name} ({stack.name})…")
    result = DeployResult(
        stack=stack.name,
        outputs=_plain_outputs(up.outputs),
        changes=_changes(up.summary.resource_changes),
        log_path=log,
        account_id=settings.account_id,
        token_report=report,
    )
    return _with_first_key(result, credentials, ensure_first_key)


def _with_first_key(
    result: DeployResult, credentials: Credentials, ensure_first_key: EnsureFirstKey
) -> DeployResult:
    # The deploy succeeded whatever happens here: a failure is reported, not raised, so the URL
    # and outputs are still shown (the CLI exits non-zero after them).
    try:
        result.first_key = ensure_first_key(result, credentials)
    except FlaregateError as err:
        result.first_key_error = str(err)
    return result


def preview(
    deployer: Deployer, credentials: Credentials, values: Mapping[str, str] | None = None
) -> dict[str, int]:
    stack, _, _ = deployer.prepare(credentials, values or {})
    result, _ = deployer.run("preview", stack.preview, f"Previewing {stack.name}…")
    return _changes(result.change_summary)


def destroy(
    deployer: Deployer,
    credentials: Credentials,
    *,
    confirm: Callable[[dict[str, Any]], bool] | None = None,
) -> dict[str, int]:
    """Delete everything the stack created, after ``confirm(outputs)`` agrees."""
    stored = stored_config(deployer.options)
    planned = planned_settings(deployer.options, {}) if stored else None
    if planned is not None:  # checked before the Pulumi CLI is needed
        deployer.check_token(credentials, planned)
    stack = deployer.open(create=False, token=credentials.token)
    settings = stack_settings(stack)
    if planned is None or audit_scope(settings) != audit_scope(planned):
        deployer.check_token(credentials, settings)
    if confirm is not None and not confirm(_plain_outputs(stack.outputs())):
        raise DeployError("Destroy cancelled; nothing was deleted.")
    result, _ = deployer.run("destroy", stack.destroy, f"Destroying {stack.name}…")
    return _changes(result.summary.resource_changes)


def has_changes(changes: Mapping[str, int]) -> bool:
    return any(n for op, n in changes.items() if op != "same")


def stack_outputs(deployer: Deployer, *, reveal: bool = False) -> dict[str, Any]:
    """The last deploy's outputs; secret values only with ``reveal``."""
    stack = deployer.open(create=False)
    try:
        outputs = stack.outputs()
    except Exception as err:
        raise DeployError(_failure(err, None)) from None
    if not outputs:
        raise NotDeployedError(
            f"Stack {stack.name} has not been deployed (no outputs). Run `flaregate deploy"
            f"{'' if stack.name == DEFAULT_STACK else ' --stack ' + stack.name}` first."
        )
    return {k: v.value for k, v in outputs.items()} if reveal else _plain_outputs(outputs)


def deployed_keyring(stack: str) -> dict[str, str | None]:
    """The key ring of a deployed stack, from its outputs: ``account_id`` (accountId) and
    ``namespace_id`` (kvNamespaceId), and ``gateway_id`` (gatewayId, None without a gateway) for
    `flaregate usage`. For `flaregate keys --stack` (never installs Pulumi, never creates a
    stack); raises NotDeployedError when the stack has no deployment."""
    from rich.console import Console

    deployer = Deployer(StackOptions(stack=stack), Console(stderr=True), install_cli=False)
    outputs = stack_outputs(deployer)
    return {
        "account_id": outputs.get("accountId"),
        "namespace_id": outputs.get("kvNamespaceId"),
        "gateway_id": outputs.get("gatewayId") or None,
    }


# --- health and certificates -----------------------------------------------------------------


def check_health(url: str, timeout: float = 10) -> tuple[bool, str]:
    """GET <url>/health: (healthy, what was seen)."""
    import json
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/health", timeout=timeout) as response:
            body = json.loads(response.read() or b"{}")
            return body.get(
                "status"
            ) == "ok", f"HTTP {response.status}, version {body.get('version')}"
    except urllib.error.HTTPError as err:
        return False, f"HTTP {err.code}"
    except (urllib.error.URLError, OSError, ValueError) as err:
        return False, str(getattr(err, "reason", err))


ORIGIN_FILES = {
    "originCertificate": "origin.pem",
    "originPrivateKey": "origin.key",
    "originSecret": "origin-secret.txt",
}


def write_origin_files(
    outputs: Mapping[str, Any], out_dir: Path, *, force: bool = False
) -> list[Path]:
    """Write the origin certificate, key and shared secret, each mode 0600."""
    missing = [k for k in ORIGIN_FILES if not outputs.get(k)]
    if missing:
        raise DeployError(
            "This stack has no origin server. Set flaregate:originHostname, originAddress and "
            "zoneId (docs/origin.md), run `flaregate deploy`, then `flaregate origin-cert`."
        )
    from .private_files import private_directory, write_private_file

    directory = private_directory(out_dir)
    written = []
    for name in ORIGIN_FILES.values():
        if os.path.lexists(directory / name) and not force:
            raise DeployError(f"{directory / name} exists; pass --force to overwrite it.")
    for key, name in ORIGIN_FILES.items():
        text = outputs[key] if outputs[key].endswith("\n") else outputs[key] + "\n"
        written.append(write_private_file(directory, name, text, force=force))
    return written


# --- helpers ----------------------------------------------------------------------------------


def _plain_outputs(outputs: Mapping[str, Any]) -> dict[str, Any]:
    return {k: "[secret]" if v.secret else v.value for k, v in outputs.items()}


def _changes(op_map: Mapping[Any, int] | None) -> dict[str, int]:
    return {str(getattr(op, "value", op)): n for op, n in (op_map or {}).items()}


def _command_output(err: Exception) -> str:
    result = getattr(err, "command_result", None) if not hasattr(err, "stderr") else err
    if result is not None and (getattr(result, "stderr", None) or getattr(result, "stdout", None)):
        return f"{result.stdout or ''}\n{result.stderr or ''}"
    return str(err)


def _failure(err: Exception, view) -> str:
    from pulumi import automation as auto

    if isinstance(err, auto.ConcurrentUpdateError):
        return explain_failure("the stack is currently locked")
    if isinstance(err, FileNotFoundError):
        return "The Pulumi CLI was not found. Install it (https://www.pulumi.com/docs/install/)."
    output = _command_output(err)
    if view is not None and view.errors:
        output = output + "\n" + "\n".join(view.errors)
    return explain_failure(output)
