"""`flaregate dev` end to end: the installed wheel's command, started from an unrelated directory,
driven with the official OpenAI SDK, stopped with SIGINT (what Ctrl-C sends).

The first run in the session installs the pinned Miniflare with npm into an empty per-user cache
(first-use install, as on a user's machine; npm's own cache, filled by `npm ci`, keeps it local),
later runs reuse that cache.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import openai
import pytest

from flaregate.dev_server import snippets_for
from flaregate.node_tools import MINIFLARE

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("flaregate-cache")


@dataclass
class Dev:
    process: subprocess.Popen
    banner: str
    stderr: list[str] = field(default_factory=list)
    stdout: list[str] = field(default_factory=list)
    readers: list[threading.Thread] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return re.search(r"serving at (http://127\.0\.0\.1:\d+/v1)", self.banner).group(1)

    @property
    def key(self) -> str | None:
        found = re.search(r"^    (sk-fg-\S+)$", self.banner, re.M)
        return found.group(1) if found else None

    def client(self, key: str) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.base_url, api_key=key, max_retries=0, timeout=20)

    def interrupt(self) -> int:
        """SIGINT, as Ctrl-C sends it; returns the exit code once all output is read."""
        self.process.send_signal(signal.SIGINT)
        code = self.process.wait(timeout=30)
        for reader in self.readers:
            reader.join(timeout=10)
        return code


def start_dev(installed, cwd: Path, cache: Path, *args: str, env: dict | None = None) -> Dev:
    environ = {**os.environ, "FLAREGATE_CACHE_DIR": str(cache), "npm_config_prefer_offline": "1"}
    process = subprocess.Popen(
        [str(installed.flaregate), "dev", "--port", "0", *args],
        cwd=cwd,
        env={**environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    dev = Dev(process, "")
    dev.readers.append(threading.Thread(target=_collect, args=(process.stderr, dev.stderr)))
    dev.readers[-1].start()
    lines = []
    for line in process.stdout:
        lines.append(line)
        if line.startswith("Ctrl-C stops it"):
            break
    else:
        process.wait(timeout=30)
        raise AssertionError("flaregate dev did not start:\n" + "".join(lines + dev.stderr))
    dev.banner = "".join(lines)
    dev.readers.append(threading.Thread(target=_collect, args=(process.stdout, dev.stdout)))
    dev.readers[-1].start()
    return dev


def _collect(stream, into: list[str]) -> None:
    for line in stream:
        into.append(line)


def process_tree(pid: int) -> set[int]:
    """``pid`` and every process below it, from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, todo = set(), [pid]
    while todo:
        current = todo.pop()
        tree.add(current)
        todo += children.get(current, [])
    return tree


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def status_of(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


def test_dev_serves_the_worker_to_the_openai_sdk_and_ctrl_c_stops_everything(
    installed, cache_dir, tmp_path
):
    (tmp_path / "flaregate.toml").write_text(
        '[aliases]\n"house-model" = "@cf/meta/llama-3.2-3b-instruct"\n'
    )
    dev = start_dev(installed, tmp_path, cache_dir, "--config", "flaregate.toml")
    try:
        # First use: the pinned Miniflare was installed into the cache, not the current directory.
        assert f"miniflare@{MINIFLARE[1]}" in "".join(dev.stderr)
        assert (cache_dir / "node" / "node_modules" / "miniflare" / "package.json").exists()
        assert not (tmp_path / "node_modules").exists()
        assert "STAND-IN, not a model" in dev.banner
        key = dev.key
        assert key and key.startswith("sk-fg-")
        assert f'OpenAI(base_url="{dev.base_url}", api_key="{key}")' in dev.banner
        assert (
            f"curl {dev.base_url}/chat/completions -H 'Authorization: Bearer {key}'" in dev.banner
        )

        client = dev.client(key)
        raw = client.chat.completions.with_raw_response.create(
            model="house-model", messages=[{"role": "user", "content": "Hi"}]
        )
        assert "not a model" in raw.headers["x-flaregate-ai"]
        answer = raw.parse().choices[0].message.content
        # The alias from --config reached its model; the answer says what it is.
        assert answer.startswith("Hello from @cf/meta/llama-3.2-3b-instruct.")
        assert "stand-in for Workers AI, not a model" in answer

        stream = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}], stream=True
        )
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        assert text.startswith("Hello from @cf/")
        assert "gpt-4o-mini" in [m.id for m in client.models.list()]
        with pytest.raises(openai.AuthenticationError):
            dev.client("sk-fg-not-a-key").models.list()

        # The Anthropic line is there exactly when the Worker serves /v1/messages.
        root = dev.base_url.removesuffix("/v1")
        has_messages = status_of(f"{root}/v1/messages") != 404
        assert ("ANTHROPIC_BASE_URL" in dev.banner) == has_messages
        if has_messages:  # what the pasted ANTHROPIC_BASE_URL / ANTHROPIC_API_KEY give
            import anthropic

            base = re.search(r"ANTHROPIC_BASE_URL=(\S+) ANTHROPIC_API_KEY=(\S+)", dev.banner)
            claude = anthropic.Anthropic(base_url=base[1], api_key=base[2], max_retries=0)
            message = claude.messages.create(
                model="claude-sonnet-4-5",
                max_tokens=64,
                messages=[{"role": "user", "content": "Hi"}],
            )
            assert message.content[0].text.startswith("Hello from @cf/")

        started = process_tree(dev.process.pid)
        assert len(started) >= 3  # flaregate, node (the runner), workerd
        runner = runner_pid(dev.process.pid)
        # The runner is the wheel's copy, not the checkout's.
        runner_args = Path(f"/proc/{runner}/cmdline").read_bytes().split(b"\0")
        assert str(installed.site_packages / "flaregate" / "local" / "runner.mjs").encode() in (
            runner_args
        )
    finally:
        code = dev.interrupt()
    assert code == 0, "".join(dev.stderr)
    assert "Stopped." in "".join(dev.stderr)
    assert not [pid for pid in started if alive(pid)]
    assert group_members(runner) == []
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(dev.base_url + "/models", timeout=5)
    # The request log: one JSON line per request; the startup's route probes are not shown, so
    # the one /v1/messages line is this test's own.
    log = "".join(dev.stdout)
    assert log.count('"route":"/v1/chat/completions"') == 2
    assert log.count('"route":"/v1/messages"') == (2 if has_messages else 1)


def test_the_key_ring_is_kept_between_runs_unless_fresh(installed, cache_dir, tmp_path):
    first = start_dev(installed, tmp_path, cache_dir)
    try:
        key = first.key
        assert key and first.client(key).models.list().data
    finally:
        assert first.interrupt() == 0
    # Only the key's SHA-256 is on disk.
    state = tmp_path / ".flaregate" / "dev"
    assert state.is_dir()
    assert not [p for p in state.rglob("*") if p.is_file() and key.encode() in p.read_bytes()]

    second = start_dev(installed, tmp_path, cache_dir)
    try:
        assert second.key is None and "cannot be shown again" in second.banner
        assert second.client(key).models.list().data
    finally:
        assert second.interrupt() == 0

    fresh = start_dev(installed, tmp_path, cache_dir, "--fresh")
    try:
        assert fresh.key and fresh.key != key
        assert fresh.client(fresh.key).models.list().data
        with pytest.raises(openai.AuthenticationError):
            fresh.client(key).models.list()
    finally:
        assert fresh.interrupt() == 0


def test_without_node_it_names_node_20(installed, tmp_path):
    result = subprocess.run(
        [str(installed.flaregate), "dev"],
        cwd=tmp_path,
        env={**os.environ, "PATH": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "Node.js 20 or newer" in result.stderr and "nodejs.org" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_old_node_is_named_with_its_version(installed, tmp_path):
    node = tmp_path / "bin" / "node"
    node.parent.mkdir()
    node.write_text("#!/bin/sh\necho v18.19.0\n")
    node.chmod(0o755)
    result = subprocess.run(
        [str(installed.flaregate), "dev"],
        cwd=tmp_path,
        env={**os.environ, "PATH": f"{node.parent}{os.pathsep}{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "Node.js 20 or newer" in result.stderr and "v18.19.0" in result.stderr


def test_remote_without_credentials_says_which_variables(installed, tmp_path):
    result = subprocess.run(
        [str(installed.flaregate), "dev", "--remote"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "CLOUDFLARE_API_TOKEN" in result.stderr and "CLOUDFLARE_ACCOUNT_ID" in result.stderr


def test_a_port_in_use_is_one_clear_line(installed, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [str(installed.flaregate), "dev", "--port", str(port)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert f"port {port} on 127.0.0.1 is already in use" in result.stderr
    assert "--port" in result.stderr and "Traceback" not in result.stderr


def test_remote_mode_opens_a_remote_session_with_the_token_and_fails_cleanly_without_it(
    installed, tmp_path
):
    """As far as it goes here: the credentials select real Workers AI and wrangler's remote
    proxy session is started with them; Cloudflare is out of reach (or refuses this made-up
    token), which must end in one clear error. The cache is the checkout's node_modules (the
    same pinned versions; the install path is the first test's), to skip a wrangler install."""
    cache_dir = tmp_path / "cache"
    (cache_dir / "node").mkdir(parents=True)
    (cache_dir / "node" / "node_modules").symlink_to(REPO / "node_modules")
    token = "flaregate-test-token-not-real-0123456789"
    result = subprocess.run(
        [str(installed.flaregate), "dev", "--port", "0"],
        cwd=tmp_path,
        env={
            **os.environ,
            "FLAREGATE_CACHE_DIR": str(cache_dir),
            "npm_config_prefer_offline": "1",
            "CLOUDFLARE_API_TOKEN": token,
            "CLOUDFLARE_ACCOUNT_ID": "023e105f4ecef8ad9ca31a8372d0c353",
        },
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1
    assert "Could not connect to Workers AI on account 023e105f4ecef8ad9ca31a8372d0c353" in (
        result.stderr
    )
    assert "--stand-in" in result.stderr
    assert token not in result.stdout + result.stderr


def test_ctrl_c_while_workerd_starts_leaves_nothing_running(installed, cache_dir, tmp_path):
    environ = {**os.environ, "FLAREGATE_CACHE_DIR": str(cache_dir)}
    process = subprocess.Popen(
        [str(installed.flaregate), "dev", "--port", "0"],
        cwd=tmp_path,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Interrupt as soon as the runner exists: usually before workerd serves.
    deadline = time.monotonic() + 120
    while (runner := runner_pid(process.pid)) is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert runner is not None
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "Stopped." in err and "Traceback" not in err
    # The runner leads its own process group, which workerd joins: none of it is left.
    assert group_members(runner) == []


def runner_pid(parent: int) -> int | None:
    for pid in process_tree(parent) - {parent}:
        try:
            if b"runner.mjs" in Path(f"/proc/{pid}/cmdline").read_bytes():
                return pid
        except OSError:
            continue
    return None


def group_members(pgid: int) -> list[int]:
    """Live processes in process group ``pgid``."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


def test_the_anthropic_line_is_shown_exactly_when_the_worker_serves_messages():
    base = "http://127.0.0.1:8787"
    openai_only = dict(snippets_for(base, "sk-fg-k", {"/v1/chat/completions"}))
    both = dict(snippets_for(base, "sk-fg-k", {"/v1/chat/completions", "/v1/messages"}))
    assert not [t for t in openai_only.values() if "ANTHROPIC_BASE_URL" in t]
    anthropic = [t for t in both.values() if "ANTHROPIC_BASE_URL" in t]
    # Anthropic clients add /v1/messages themselves: the base URL has no /v1.
    assert anthropic == [f"export ANTHROPIC_BASE_URL={base} ANTHROPIC_API_KEY=sk-fg-k"]
