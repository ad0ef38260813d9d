from __future__ import annotations

import os
from pathlib import Path

import pytest

from flaregate.config import WorkerConfig
from flaregate.render import write_bundle
from tests.origin_server import ORIGIN_MODELS, ORIGIN_SECRET, OriginServer
from tests.worker_harness import start_worker

# Short deadlines so the hang tests finish quickly; the slow fixtures stay well inside them.
TEST_CONFIG = WorkerConfig(
    timeout_ms=3000,
    first_token_timeout_ms=2000,
    idle_timeout_ms=1500,
    # Room for a real Claude Code request (tests/fixtures/anthropic/claude-code-request.json).
    max_body_bytes=256 * 1024,
    auth_cache_seconds=5,
    auth_negative_cache_seconds=1,
    fallbacks={"gpt-4o": ["@cf/meta/llama-3.3-70b-instruct-fp8-fast"]},
    # A deployment's own catalog entry: a small model that cannot call tools at all.
    models=[
        {
            "id": "@cf/tinyllama/tinyllama-1.1b-chat-v1.0",
            "type": "chat",
            "context_window": 2048,
            "max_output_tokens": 512,
            "default_max_tokens": 256,
            "dialect": "native",
            "tools": "none",
            "tool_format": "openai",
            "reasoning": "none",
            "json_mode": False,
            "vision": False,
        },
        # One that takes tools in the flat legacy form (the last built-in one, Hermes 2 Pro, was
        # retired on 2026-05-30).
        {
            "id": "@cf/test/flat-tools-7b",
            "type": "chat",
            "context_window": 4096,
            "max_output_tokens": 1024,
            "default_max_tokens": 1024,
            "dialect": "native",
            "tools": "native",
            "tool_format": "legacy",
            "reasoning": "none",
            "json_mode": False,
            "vision": False,
        },
    ],
    aliases={"tiny": "@cf/tinyllama/tinyllama-1.1b-chat-v1.0"},
    # The worker fixture points ORIGIN_URL (a Worker var) at the test origin server's port.
    origin_url="http://127.0.0.1:9",
    origin_models=ORIGIN_MODELS,
)


LIMITS_TEST_WINDOW_MS = 6000
"""The rolling rpm window in the test session (60 s when deployed): long enough that a burst of
concurrent requests lands inside one window even on a busy machine, short enough to wait out."""


@pytest.fixture(scope="session")
def rendered_worker(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    write_bundle(TEST_CONFIG, out)
    return out / "worker.js"


@pytest.fixture(scope="session")
def origin_server():
    """An OpenAI-compatible origin server (tests/origin_server.py) for origin/<name> models."""
    server = OriginServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def worker(rendered_worker, tmp_path_factory, origin_server):
    """One workerd for the whole session, running the rendered Worker with the fake AI."""
    running = start_worker(
        rendered_worker,
        tmp_path_factory.mktemp("runner"),
        vars={
            "GATEWAY_ID": "flaregate-test",
            "CORS_ORIGINS": "https://app.example.com",
            "ORIGIN_URL": origin_server.url,
            "ORIGIN_SECRET": ORIGIN_SECRET,
            # Seals Responses reasoning (encrypted_content) as a deployment's secret does.
            "REASONING_SECRET": "test-reasoning-secret",
            # Test-only knob (docs/keys.md): the rpm window shortened so a test sees it end.
            "LIMITS_TEST_WINDOW_MS": str(LIMITS_TEST_WINDOW_MS),
        },
    )
    yield running
    running.stop()


@pytest.fixture(scope="session")
def api_key(worker) -> str:
    return worker.add_key(name="session")


@pytest.fixture
def client(worker, api_key):
    import openai

    return openai.OpenAI(base_url=worker.base_url, api_key=api_key, max_retries=0, timeout=20)


@pytest.fixture
def async_client(worker, api_key):
    import openai

    return openai.AsyncOpenAI(base_url=worker.base_url, api_key=api_key, max_retries=0, timeout=20)


@pytest.fixture
def http(worker, api_key):
    import httpx

    with httpx.Client(
        base_url=worker.url, headers={"authorization": f"Bearer {api_key}"}, timeout=20
    ) as c:
        yield c


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    """No test reads or writes the real ~/.flaregate or a real Cloudflare credential."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for name in (
        "CLOUDFLARE_API_TOKEN",
        "CLOUDFLARE_ACCOUNT_ID",
        "CLOUDFLARE_API_KEY",
        "CLOUDFLARE_EMAIL",
    ):
        monkeypatch.delenv(name, raising=False)
    os.makedirs(tmp_path / "home", exist_ok=True)


@pytest.fixture(scope="session")
def installed(tmp_path_factory):
    """flaregate built into an sdist and a wheel and installed in a fresh venv (tests/installed.py)."""
    from tests.installed import build_and_install

    return build_and_install(tmp_path_factory.mktemp("installed"))
