"""``flaregate dev``: the rendered Worker served on this machine, in workerd, until Ctrl-C.

It renders the Worker (the very file ``flaregate render`` writes) into the state directory, starts
the local runner (:mod:`flaregate.local`: Miniflare, a KV key ring persisted in the state
directory, and an ``AI`` binding), seeds a dev API key when the key ring is empty (stored as its
SHA-256 like a deployed ring, docs/keys.md; the key itself is printed once and kept nowhere), and
prints the base URL with snippets for the routes the running Worker serves.

``AI`` is the built-in stand-in (not a model; every response carries ``x-flaregate-ai``) unless
remote Workers AI is asked for, which calls the account's real models through Miniflare's remote
bindings (a proxy session wrangler opens with the API token).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from . import local
from .cloudflare_api import ACCOUNT_ENV, TOKEN_ENV
from .config import WorkerConfig
from .errors import DevServerError
from .keyring import KeyRecord, generate_key, kv_key_for
from .node_tools import MINIFLARE, ensure_packages, find_node
from .render import MAIN_MODULE, write_bundle

DEFAULT_PORT = 8787
DEFAULT_STATE_DIR = Path(".flaregate") / "dev"
STAND_IN_LABEL = (
    "flaregate dev stand-in for Workers AI, not a model: canned answers for trying clients"
)
"""The ``x-flaregate-ai`` header on every response when the stand-in answers, and the end of its
default answer (ASCII: it is a header value)."""
DEV_KEY_NAME = "flaregate dev"
STOP_TIMEOUT = 15.0


@dataclass(frozen=True)
class Snippet:
    """A ready-to-paste way to call the Worker, shown when the Worker serves ``route``."""

    title: str
    route: str
    text: str
    """With ``{base}`` (scheme, host and port), ``{v1}`` (base + /v1) and ``{key}``."""


SNIPPETS: tuple[Snippet, ...] = (
    Snippet(
        "OpenAI SDK (Python)",
        "/v1/chat/completions",
        "from openai import OpenAI\n"
        'client = OpenAI(base_url="{v1}", api_key="{key}")\n'
        "reply = client.chat.completions.create(\n"
        '    model="gpt-4o-mini", messages=[{{"role": "user", "content": "Hi"}}]\n'
        ")\n"
        "print(reply.choices[0].message.content)",
    ),
    Snippet(
        "curl",
        "/v1/chat/completions",
        "curl {v1}/chat/completions -H 'Authorization: Bearer {key}' \\\n"
        "  -H 'Content-Type: application/json' \\\n"
        '  -d \'{{"model": "gpt-4o-mini", "messages": [{{"role": "user", "content": "Hi"}}]}}\'',
    ),
    Snippet(
        "OpenAI-compatible tools (environment)",
        "/v1/chat/completions",
        "export OPENAI_BASE_URL={v1} OPENAI_API_KEY={key}",
    ),
    Snippet(
        "Anthropic clients (Claude Code, the anthropic SDK)",
        "/v1/messages",
        "export ANTHROPIC_BASE_URL={base} ANTHROPIC_API_KEY={key}",
    ),
)


@dataclass
class DevOptions:
    config: WorkerConfig = field(default_factory=WorkerConfig)
    port: int = DEFAULT_PORT
    state_dir: Path = DEFAULT_STATE_DIR
    fresh: bool = False
    remote: bool | None = None
    """True: real Workers AI; False: the stand-in; None: real when the token and account are set."""


def wants_remote(remote: bool | None, environ: Mapping[str, str]) -> bool:
    has_credentials = bool(environ.get(TOKEN_ENV) and environ.get(ACCOUNT_ENV))
    if remote and not has_credentials:
        raise DevServerError(
            f"--remote calls Workers AI on your account and needs {TOKEN_ENV} and {ACCOUNT_ENV}: "
            f"`export {TOKEN_ENV}=... {ACCOUNT_ENV}=...` (what the token needs: docs/dev.md), "
            "or leave out --remote to use the built-in stand-in"
        )
    return has_credentials if remote is None else remote


def served_routes(base_url: str, routes: set[str]) -> set[str]:
    """The routes the running Worker knows: it answers 404 (before auth) only for unknown ones."""
    known = set()
    for route in routes:
        try:
            urllib.request.urlopen(urllib.request.Request(base_url + route), timeout=10).close()
            known.add(route)
        except urllib.error.HTTPError as err:
            if err.code != 404:
                known.add(route)
        except OSError:
            continue
    return known


def snippets_for(base_url: str, key: str, routes: set[str]) -> list[tuple[str, str]]:
    return [
        (s.title, s.text.format(base=base_url, v1=f"{base_url}/v1", key=key))
        for s in SNIPPETS
        if s.route in routes
    ]


@dataclass
class DevServer:
    """The running runner process and what it reported when it started serving."""

    process: subprocess.Popen
    url: str
    ai: str
    seeded: bool
    key: str | None
    """The dev key, when this run created it (shown once); None when the ring already had keys."""
    routes: set[str] = field(default_factory=set)
    """The snippet routes the Worker serves."""

    def wait(self) -> int:
        return self.process.wait()

    def stop(self) -> None:
        _stop(self.process)


def _stop(process: subprocess.Popen) -> None:
    """Stop the runner (it stops workerd), then anything left in its process group."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pass
    # The runner was started in its own process group: nothing it started outlives it.
    if hasattr(os, "killpg"):
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    else:
        process.kill()
    process.wait()


def start(options: DevOptions, say: Callable[[str], None]) -> DevServer:
    """Render, install what is missing, start the runner; returns once the Worker serves."""
    remote = wants_remote(options.remote, os.environ)
    if options.port:
        _check_port_free(options.port)
    state = options.state_dir.resolve()
    worker_dir = state / "worker"
    try:
        if options.fresh:  # the key ring and what is kept per key (limits) go together
            for kept in ("kv", "do"):
                shutil.rmtree(state / kept, ignore_errors=True)
        write_bundle(options.config, worker_dir)
    except OSError as err:
        raise DevServerError(
            f"cannot use {str(options.state_dir)[:100]!r} as the state directory "
            f"({err.strerror or err}): pick another with --state-dir"
        ) from None
    node = find_node()
    packages = ensure_packages(remote, say, node)

    key = generate_key()
    record = KeyRecord(
        id=uuid.uuid4().hex[:12],
        name=DEV_KEY_NAME,
        created_at=datetime.now(UTC).replace(microsecond=0),
    )
    seed = {"key": kv_key_for(key), "value": record.value(), "metadata": record.metadata()}
    args = [
        node,
        str(local.runner_path()),
        "--script",
        str(worker_dir / MAIN_MODULE),
        "--port",
        str(options.port),
        "--persist",
        str(state),
        "--seed-if-empty",
        json.dumps(seed),
        "--compatibility-date",
        options.config.compatibility_date,
        "--no-control",
    ]
    args += ["--remote-ai"] if remote else ["--label", STAND_IN_LABEL]
    env = {**os.environ, "FLAREGATE_NODE_MODULES": str(packages)}
    process = subprocess.Popen(
        args,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=state,
        # Its own process group (POSIX): Ctrl-C reaches flaregate, which stops the runner in
        # order, and the group is ended after it.
        start_new_session=os.name == "posix",
    )
    probed = {s.route for s in SNIPPETS}
    try:
        info = _wait_until_serving(process, options.port, remote)
        server = DevServer(
            process,
            info["url"],
            info["ai"],
            info["seeded"],
            key if info["seeded"] else None,
            served_routes(info["url"], probed),
        )
    except BaseException:  # Ctrl-C while starting included: leave nothing running
        _stop(process)
        raise
    threading.Thread(target=_forward, args=(process, probed), daemon=True).start()
    return server


def _check_port_free(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As a server binds: a port left in TIME_WAIT by the last run is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            raise DevServerError(
                f"port {port} on 127.0.0.1 is already in use (another `flaregate dev` or "
                "`wrangler dev`?): stop it, or pick another port with --port (0: any free one)"
            ) from None


def _wait_until_serving(process: subprocess.Popen, port: int, remote: bool) -> dict:
    # Lines before the ready line are the tooling's own (wrangler's remote-session messages).
    for line in process.stdout:
        try:
            info = json.loads(line)
        except ValueError:
            sys.stderr.write(line)
            continue
        if isinstance(info, dict) and "url" in info:
            return info
        sys.stderr.write(line)
    code = process.wait()
    if remote:
        hint = (
            "see its error above; remote Workers AI needs a token that can run a Worker preview "
            "on the account (Workers Scripts Edit) and use Workers AI, or run with --stand-in"
        )
    elif port:
        hint = f"see its output above; is port {port} in use? Pick another with --port"
    else:
        hint = "see its output above"
    raise DevServerError(
        f"the local Worker runner stopped before serving (exit code {code}): {hint}"
    )


def _forward(process: subprocess.Popen, probed: set[str]) -> None:
    """The Worker's log lines (one JSON line per request) as the runner prints them, less the
    lines of the route probes made at startup (one each)."""
    unseen = set(probed)
    for line in process.stdout:
        if unseen:
            try:
                record = json.loads(line)
            except ValueError:
                record = None
            if isinstance(record, dict) and record.get("method") == "GET":
                if record.get("route") in unseen:
                    unseen.discard(record["route"])
                    continue
        sys.stdout.write(line)
        sys.stdout.flush()


def banner(server: DevServer, state_dir: Path) -> str:
    base = server.url
    key = server.key or "sk-fg-..."
    lines = [
        f"flaregate dev: the Worker is serving at {base}/v1 "
        f"(workerd via Miniflare {MINIFLARE[1]}).",
    ]
    if server.ai == "remote":
        lines.append(
            "Workers AI: REAL models on your Cloudflare account (remote binding; usage is billed "
            "like any Workers AI call)."
        )
    else:
        lines += [
            "Workers AI: a STAND-IN, not a model. Answers are canned, for trying clients and",
            "  integrations; every response carries `x-flaregate-ai: flaregate dev stand-in...`.",
            f"  For real models: `export {TOKEN_ENV}=... {ACCOUNT_ENV}=...` and run again.",
        ]
    lines.append(f"Key ring: {state_dir / 'kv'} (kept between runs; --fresh starts over).")
    if server.key:
        lines += [
            "",
            "Your dev API key (shown once; only its SHA-256 is stored):",
            "",
            f"    {server.key}",
        ]
    else:
        lines += [
            "API key: the one printed when this key ring was created (only its SHA-256 is",
            "  stored, so it cannot be shown again); `flaregate dev --fresh` makes a new one.",
        ]
    for title, text in snippets_for(base, key, server.routes):
        lines += ["", f"{title}:", *("    " + line for line in text.splitlines())]
    lines += ["", "Ctrl-C stops it. Request log lines follow.", ""]
    return "\n".join(lines)
