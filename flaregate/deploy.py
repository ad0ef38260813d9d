"""`flaregate deploy` / preview / destroy / status / origin-cert, over Pulumi's Automation API.

No Pulumi account and no Pulumi install needed: a pinned Pulumi CLI is installed under
``~/.flaregate/pulumi/`` when none is on PATH, state goes to a local file backend under
``~/.flaregate/state/`` (``--backend`` / ``PULUMI_BACKEND_URL`` for S3, R2 or Pulumi Cloud), and
the state's secrets are encrypted with ``PULUMI_CONFIG_PASSPHRASE`` or a passphrase generated once
into ``~/.flaregate/passphrase`` (mode 0600). The program is :func:`infra.program.flaregate_program`,
the same one ``pulumi up`` runs from the repository root.

The Cloudflare token is read from ``CLOUDFLARE_API_TOKEN`` and reaches Pulumi only through the
environment it inherits: never a command line, a config file or a log.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from .deploy_errors import explain_failure
from .errors import ConfigError, DeployError

if TYPE_CHECKING:
    from pulumi import automation as auto

PROJECT = "flaregate"
DEFAULT_STACK = "prod"
# The Pulumi CLI flaregate installs when none is on PATH; bump with the pulumi SDK pin.
PULUMI_CLI_VERSION = "3.272.0"
PULUMI_CLOUD = ("https://api.pulumi.com", "https://app.pulumi.com")
CLOUDFLARE_API = "https://api.cloudflare.com/client/v4"


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
) -> auto.PulumiCommand:
    """The Pulumi CLI on PATH, else the pinned one under ~/.flaregate/pulumi (installed once)."""
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
    token = os.environ.get("CLOUDFLARE_API_TOKEN", "").strip()
    if not token:
        raise DeployError(
            "CLOUDFLARE_API_TOKEN is not set. Create an API token at "
            "https://dash.cloudflare.com/profile/api-tokens with the permissions in "
            "docs/deploy.md, then `export CLOUDFLARE_API_TOKEN=...`."
        )
    return Credentials(token, account_id or os.environ.get("CLOUDFLARE_ACCOUNT_ID") or None)


def cloudflare_client(token: str, base_url: str | None = None):
    """The official SDK with the token as the only credential.

    The SDK prefers CLOUDFLARE_EMAIL / CLOUDFLARE_API_KEY from the environment over an explicit
    token; a global key left in a shell must not silently replace the token we checked.
    """
    from cloudflare import Cloudflare

    client = Cloudflare(
        api_token=token,
        base_url=base_url or os.environ.get("CLOUDFLARE_BASE_URL") or CLOUDFLARE_API,
        max_retries=1,
        timeout=30,
    )
    client.api_key = None
    client.api_email = None
    client.user_service_key = None
    return client


@dataclass(frozen=True)
class TokenCheck:
    token_id: str
    status: str
    owner: str
    """"user" (a user's token) or "account" (an account-owned token)."""
    expires_on: datetime | None = None


def preflight(
    token: str, account_id: str, features: set[str], *, base_url: str | None = None
) -> TokenCheck:
    """Check the token before anything changes: it must exist and be active.

    Minimal on purpose: verify says nothing about permissions. ``features`` (workers_dev,
    custom_domain, gateway, origin) is what the full permission audit checks scopes for.
    """
    import cloudflare

    client = cloudflare_client(token, base_url)
    try:
        try:
            result, owner = client.user.tokens.verify(), "user"
        except (cloudflare.AuthenticationError, cloudflare.PermissionDeniedError):
            # Account-owned tokens cannot use the user endpoint; they verify per account.
            result, owner = client.accounts.tokens.verify(account_id=account_id), "account"
    except (cloudflare.AuthenticationError, cloudflare.PermissionDeniedError) as err:
        raise DeployError(
            f"Cloudflare rejected CLOUDFLARE_API_TOKEN ({_api_message(err)}): it is invalid, "
            "expired or revoked, or an account token for another account than "
            f"{account_id}. Create a new token at https://dash.cloudflare.com/profile/api-tokens "
            "(permissions: docs/deploy.md)."
        ) from None
    except cloudflare.APIConnectionError:
        raise DeployError(
            f"Could not reach the Cloudflare API at {client.base_url}: check the connection "
            "(and CLOUDFLARE_BASE_URL if you set it) and run the command again."
        ) from None
    except cloudflare.APIStatusError as err:
        raise DeployError(
            f"Cloudflare could not verify the token (HTTP {err.status_code}: "
            f"{_api_message(err)}); retry in a minute."
        ) from None
    if result is None or result.status != "active":
        status = getattr(result, "status", "unknown")
        raise DeployError(
            f"CLOUDFLARE_API_TOKEN is {status}, not active. Re-enable it or create a new one at "
            "https://dash.cloudflare.com/profile/api-tokens."
        )
    return TokenCheck(result.id, result.status, owner, getattr(result, "expires_on", None))


def workers_dev_subdomain(
    token: str, account_id: str, *, base_url: str | None = None
) -> str | None:
    """The account's <subdomain>.workers.dev, or None when it cannot be read.

    Raises when the account has none yet: Workers cannot be served on workers.dev until one is
    chosen, and Pulumi would fail halfway with a less helpful error.
    """
    import cloudflare

    client = cloudflare_client(token, base_url)
    try:
        return client.workers.subdomains.get(account_id=account_id).subdomain or None
    except cloudflare.NotFoundError:
        raise DeployError(
            "This account has no workers.dev subdomain yet. Choose one in the dashboard "
            "(Workers & Pages > your subdomain), or serve on your own hostname with "
            "`flaregate deploy --set customDomain=api.example.com`."
        ) from None
    except cloudflare.APIError:
        return None  # no Account Settings Read: the URL output stays unknown, nothing breaks


def _api_message(err: Exception) -> str:
    body = getattr(err, "body", None)
    if isinstance(body, dict) and body.get("errors"):
        first = body["errors"][0]
        return f"{first.get('code')}: {first.get('message')}"
    return getattr(err, "message", None) or type(err).__name__


# --- the stack --------------------------------------------------------------------------------

StackFactory = Callable[..., "auto.Stack"]


def open_stack(
    options: StackOptions,
    say: Callable[[str], None],
    *,
    stack_factory: StackFactory | None = None,
    pulumi_command: auto.PulumiCommand | None = None,
) -> auto.Stack:
    """Create or select the stack (inline program = infra.program.flaregate_program)."""
    from pulumi import automation as auto

    from infra.program import flaregate_program

    env = {
        "PULUMI_BACKEND_URL": options.backend_url,
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        # The provider would use a global API key over the token if one were in the shell.
        "CLOUDFLARE_API_KEY": "",
        "CLOUDFLARE_EMAIL": "",
        **passphrase_env(options),
    }
    workspace = auto.LocalWorkspaceOptions(
        work_dir=str(options.workspace_dir),
        env_vars=env,
        secrets_provider=None if options.uses_pulumi_cloud else "passphrase",
        project_settings=auto.ProjectSettings(name=PROJECT, runtime="python"),
        pulumi_command=pulumi_command or ensure_pulumi_cli(options, say),
    )
    factory = stack_factory or auto.create_or_select_stack
    try:
        return factory(
            stack_name=options.stack,
            project_name=PROJECT,
            program=flaregate_program,
            opts=workspace,
        )
    except Exception as err:
        raise DeployError(_failure(err, None)) from None


def configure(stack: auto.Stack, values: Mapping[str, str]) -> None:
    """Set ``flaregate:<key>`` config; secret keys go in encrypted, their value over stdin."""
    from pulumi import automation as auto

    from infra.config import KEYS_BY_NAME, did_you_mean

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


def stack_settings(stack: auto.Stack):
    """The stack's config, validated the way the program will (errors name the key)."""
    from infra.config import load_settings

    prefix = "flaregate:"
    config = stack.get_all_config()
    return load_settings(
        {k[len(prefix) :]: v.value for k, v in config.items() if k.startswith(prefix)}
    )


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

    @property
    def url(self) -> str | None:
        return self.outputs.get("url")

    @property
    def changed(self) -> bool:
        return has_changes(self.changes)


EnsureFirstKey = Callable[[DeployResult, Credentials, Console], None]


def print_next_step(result: DeployResult, credentials: Credentials, console: Console) -> None:
    """Default after-deploy hook: say how to get the first API key (the key ring plugs in here)."""
    console.print(
        "Next: create an API key (the Worker refuses every request until one exists):\n"
        f"  flaregate keys create --name my-laptop --stack {result.stack}"
    )


@dataclass
class Deployer:
    """Runs one Pulumi operation with progress on ``console`` and the full log in a file."""

    options: StackOptions
    console: Console
    stack_factory: StackFactory | None = None
    pulumi_command: Any = None
    preflight: Callable[..., TokenCheck] = preflight
    subdomain_lookup: Callable[..., str | None] = workers_dev_subdomain

    def say(self, message: str) -> None:
        self.console.print(message)

    def open(self) -> auto.Stack:
        return open_stack(
            self.options,
            self.say,
            stack_factory=self.stack_factory,
            pulumi_command=self.pulumi_command,
        )

    def log_path(self, operation: str) -> Path:
        logs = self.options.home / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        path = logs / f"{self.options.stack}-{operation}-{stamp}.log"
        path.touch(mode=0o600)
        return path

    def prepare(self, credentials: Credentials, values: Mapping[str, str]):
        """Open the stack, store config, validate it, check the token: nothing remote changes."""
        stack = self.open()
        if credentials.account_id:
            values = {"accountId": credentials.account_id, **values}
        configure(stack, values)
        settings = stack_settings(stack)
        self.preflight(credentials.token, settings.account_id, features_for(settings))
        if settings.workers_dev and "flaregate:workersDevSubdomain" not in stack.get_all_config():
            subdomain = self.subdomain_lookup(credentials.token, settings.account_id)
            if subdomain:
                configure(stack, {"workersDevSubdomain": subdomain})
        install_plugins(stack, self.say)
        return stack, settings

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
    ensure_first_key: EnsureFirstKey = print_next_step,
) -> DeployResult:
    """Create or update the stack. With ``confirm``, preview first and ask before changing.

    A stack already matching its config is left alone: the preview shows no change, and the
    outputs of the last deploy are returned.
    """
    stack, settings = deployer.prepare(credentials, values or {})
    name = settings.worker.worker_name
    if confirm is not None:
        planned, log = deployer.run("preview", stack.preview, f"Planning {name} ({stack.name})…")
        changes = _changes(planned.change_summary)
        if not has_changes(changes):
            result = DeployResult(stack.name, _plain_outputs(stack.outputs()), changes, log)
            ensure_first_key(result, credentials, deployer.console)
            return result
        if not confirm(changes):
            raise DeployError("Deploy cancelled; nothing was changed.")
    up, log = deployer.run("up", stack.up, f"Deploying {name} ({stack.name})…")
    result = DeployResult(
        stack=stack.name,
        outputs=_plain_outputs(up.outputs),
        changes=_changes(up.summary.resource_changes),
        log_path=log,
    )
    ensure_first_key(result, credentials, deployer.console)
    return result


def preview(
    deployer: Deployer, credentials: Credentials, values: Mapping[str, str] | None = None
) -> dict[str, int]:
    stack, _ = deployer.prepare(credentials, values or {})
    result, _ = deployer.run("preview", stack.preview, f"Previewing {stack.name}…")
    return _changes(result.change_summary)


def destroy(
    deployer: Deployer,
    credentials: Credentials,
    *,
    confirm: Callable[[dict[str, Any]], bool] | None = None,
) -> dict[str, int]:
    """Delete everything the stack created, after ``confirm(outputs)`` agrees."""
    stack = deployer.open()
    settings = stack_settings(stack)
    deployer.preflight(credentials.token, settings.account_id, features_for(settings))
    if confirm is not None and not confirm(_plain_outputs(stack.outputs())):
        raise DeployError("Destroy cancelled; nothing was deleted.")
    result, _ = deployer.run("destroy", stack.destroy, f"Destroying {stack.name}…")
    return _changes(result.summary.resource_changes)


def has_changes(changes: Mapping[str, int]) -> bool:
    return any(n for op, n in changes.items() if op != "same")


def stack_outputs(deployer: Deployer, *, reveal: bool = False) -> dict[str, Any]:
    """The last deploy's outputs; secret values only with ``reveal``."""
    stack = deployer.open()
    try:
        outputs = stack.outputs()
    except Exception as err:
        raise DeployError(_failure(err, None)) from None
    if not outputs:
        raise DeployError(
            f"Stack {stack.name} has not been deployed (no outputs). Run `flaregate deploy"
            f"{'' if stack.name == DEFAULT_STACK else ' --stack ' + stack.name}` first."
        )
    return {k: v.value for k, v in outputs.items()} if reveal else _plain_outputs(outputs)


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
    out_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    written = []
    for key, name in ORIGIN_FILES.items():
        path = out_dir / name
        if path.exists() and not force:
            raise DeployError(f"{path} exists; pass --force to overwrite it.")
        text = outputs[key] if outputs[key].endswith("\n") else outputs[key] + "\n"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(path, 0o600)  # O_CREAT's mode does not apply to a file that already existed
        written.append(path)
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
