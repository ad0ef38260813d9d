"""Starts the rendered Worker in workerd (flaregate/local/runner.mjs) and talks to its KV.

Shared by the test suite and the benchmarks, so both run the very file `flaregate render` writes.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RUNNER = REPO / "scripts" / "worker-runner.mjs"
"""The checkout's path to flaregate/local/runner.mjs, with tests/fixtures/workers-ai as fixtures."""


@dataclass
class RunningWorker:
    url: str
    control: str
    process: subprocess.Popen
    stderr_path: Path
    keys: list[str] = field(default_factory=list)
    stdout_lines: list[str] = field(default_factory=list)
    """What the Worker printed (console.log: the per-request JSON log lines), as it arrives."""

    def log_lines(self, request_id: str, timeout: float = 5.0) -> list[dict]:
        """The JSON log lines the Worker wrote for one request (waits briefly for them)."""
        deadline = time.monotonic() + timeout
        while True:
            found = []
            for line in list(self.stdout_lines):
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if isinstance(record, dict) and record.get("request_id") == request_id:
                    found.append(record)
            if found or time.monotonic() > deadline:
                return found
            time.sleep(0.05)

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    # --- KV, through the runner's control API (the same namespace the Worker reads) ---
    def kv_put(
        self, key: str, value: str, metadata: dict | None = None, expiration: int | None = None
    ):
        query = f"?expiration={expiration}" if expiration else ""
        request = urllib.request.Request(
            f"{self.control}/kv/{urllib.parse.quote(key, safe='')}{query}",
            data=value.encode(),
            method="PUT",
            headers={"x-kv-metadata": json.dumps(metadata)} if metadata else {},
        )
        urllib.request.urlopen(request, timeout=10).read()

    def kv_get(self, key: str) -> str | None:
        try:
            with urllib.request.urlopen(
                f"{self.control}/kv/{urllib.parse.quote(key, safe='')}", timeout=10
            ) as r:
                return r.read().decode()
        except urllib.error.HTTPError as err:
            if err.code == 404:
                return None
            raise

    def key_record(self, key: str) -> dict | None:
        """The stored record (docs/keys.md) of a plaintext key, found by its SHA-256."""
        value = self.kv_get(f"key:{hashlib.sha256(key.encode()).hexdigest()}")
        return json.loads(value) if value else None

    def kv_delete(self, key: str) -> None:
        request = urllib.request.Request(
            f"{self.control}/kv/{urllib.parse.quote(key, safe='')}", method="DELETE"
        )
        urllib.request.urlopen(request, timeout=10).read()

    def add_key(
        self, name: str = "test", expires_at: str | None = None, key: str | None = None
    ) -> str:
        """Store a key the documented way (docs/keys.md) and return the plaintext key."""
        key = key or "sk-fg-" + secrets.token_urlsafe(32)
        record = {
            "id": uuid.uuid4().hex[:12],
            "name": name,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "expires_at": expires_at,
        }
        self.kv_put(f"key:{hashlib.sha256(key.encode()).hexdigest()}", json.dumps(record))
        return key

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()


def start_worker(
    script: Path, workdir: Path, vars: dict[str, str] | None = None, ai_module: Path | None = None
) -> RunningWorker:
    """Start workerd with `script` as the Worker; returns once it answers. ``ai_module``: another
    stand-in for the Workers AI binding than flaregate/local/stand_in_ai.js (--ai-module)."""
    args = ["node", str(RUNNER), "--script", str(script)]
    if ai_module is not None:
        args += ["--ai-module", str(ai_module)]
    for name, value in (vars or {}).items():
        args += ["--var", f"{name}={value}"]
    stderr_path = workdir / "worker-runner.log"
    process = subprocess.Popen(
        args,
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=stderr_path.open("w"),
        text=True,
    )
    line = process.stdout.readline()
    if not line:
        process.wait(timeout=10)
        raise RuntimeError(f"worker runner failed to start:\n{stderr_path.read_text()[-3000:]}")
    info = json.loads(line)
    running = RunningWorker(info["url"], info["control"], process, stderr_path)
    # Drain stdout for the whole run: the Worker's log lines arrive there, and a pipe nobody
    # reads would eventually stall the runner.
    threading.Thread(target=_drain, args=(process, running.stdout_lines), daemon=True).start()
    return running


def _drain(process: subprocess.Popen, lines: list[str]) -> None:
    for line in process.stdout:
        lines.append(line.rstrip("\n"))
