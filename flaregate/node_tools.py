"""The Node.js tooling ``flaregate dev`` runs the Worker with: Node 20+ from PATH, and the pinned
Miniflare (workerd), plus wrangler for remote Workers AI, installed with npm on first use.

The packages go into a per-user cache directory (``$FLAREGATE_CACHE_DIR``, else
``$XDG_CACHE_HOME/flaregate``, else ``~/.cache/flaregate``), never into the current directory, and
are installed once per pinned version. The versions are the ones package.json pins for the tests
(a test keeps them equal), so ``flaregate dev`` runs the Worker in the runtime the suite proves.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path

from .errors import DevServerError

MINIFLARE = ("miniflare", "4.20260426.0")
WRANGLER = ("wrangler", "4.86.0")
MIN_NODE_MAJOR = 20
CACHE_ENV = "FLAREGATE_CACHE_DIR"
NODE_HELP = (
    "install Node.js 20 or newer (https://nodejs.org/en/download, or your package manager: "
    "e.g. `brew install node`, `apt install nodejs npm`) and try again"
)


def cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    if env.get(CACHE_ENV):
        return Path(env[CACHE_ENV]).expanduser()
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "flaregate"


def find_node() -> str:
    """The ``node`` executable, checked to be Node 20 or newer."""
    node = shutil.which("node")
    if not node:
        raise DevServerError(
            f"flaregate dev runs the Worker in workerd through Miniflare, which needs Node.js 20 "
            f"or newer, and `node` is not on PATH: {NODE_HELP}"
        )
    try:
        version = subprocess.run(
            [node, "--version"], capture_output=True, text=True, timeout=30, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        raise DevServerError(f"`{node} --version` failed: {NODE_HELP}") from None
    match = re.match(r"v(\d+)\.", version)
    if not match or int(match.group(1)) < MIN_NODE_MAJOR:
        raise DevServerError(
            f"flaregate dev needs Node.js {MIN_NODE_MAJOR} or newer (Miniflare's requirement); "
            f"{node} is {version or 'of unknown version'}: {NODE_HELP}"
        )
    return node


def installed_version(prefix: Path, package: str) -> str | None:
    try:
        manifest = prefix / "node_modules" / package / "package.json"
        return json.loads(manifest.read_text(encoding="utf-8")).get("version")
    except (OSError, ValueError):
        return None


def ensure_packages(remote: bool, say: Callable[[str], None], node: str) -> Path:
    """The directory holding ``node_modules/`` with the pinned packages, installing what is missing."""
    prefix = cache_dir() / "node"
    wanted = [MINIFLARE, WRANGLER] if remote else [MINIFLARE]
    missing = [(name, v) for name, v in wanted if installed_version(prefix, name) != v]
    if not missing:
        return prefix
    npm = shutil.which("npm") or _npm_beside(node)
    if not npm:
        raise DevServerError(
            f"npm is not on PATH, and flaregate dev needs it once to install "
            f"{' and '.join(f'{n}@{v}' for n, v in missing)}: install npm (it comes with "
            "Node.js from https://nodejs.org) and try again"
        )
    specs = [f"{name}@{version}" for name, version in missing]
    say(f"Installing {', '.join(specs)} into {prefix} with npm (first run only)...")
    prefix.mkdir(parents=True, exist_ok=True)
    manifest = prefix / "package.json"
    if not manifest.exists():
        manifest.write_text(
            json.dumps({"name": "flaregate-dev-runtime", "private": True}, indent=2) + "\n"
        )
    result = subprocess.run(
        [npm, "install", "--prefix", str(prefix), "--save-exact", "--no-audit", "--no-fund"]
        + ["--loglevel=error", *specs],
        cwd=prefix,
        capture_output=True,
        text=True,
        env={**os.environ, "npm_config_update_notifier": "false"},
        check=False,
    )
    if result.returncode != 0 or any(installed_version(prefix, n) != v for n, v in missing):
        # npm's own words first (on stderr, like every progress line), then the one-line error.
        say("\n".join((result.stdout + result.stderr).strip().splitlines()[-15:]))
        raise DevServerError(
            f"npm could not install {', '.join(specs)} into {prefix} (its output is above): "
            "check the network or npm proxy settings (`npm config get registry`) and try again"
        )
    return prefix


def _npm_beside(node: str) -> str | None:
    candidate = Path(node).with_name("npm")
    return str(candidate) if candidate.exists() else None
