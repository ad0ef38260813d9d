"""Zero-downtime rotation end to end: the CLI and the key ring write through the official SDK to
the fake Cloudflare API, whose KV routes are the Miniflare KV namespace the Worker in workerd
reads. Clients use the official openai SDK under continuous load while the key rotates."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import openai
import pytest
from click.testing import CliRunner

from flaregate.cli import main
from flaregate.keyring import Keyring
from tests.conftest import TEST_CONFIG
from tests.fake_cloudflare import ACCOUNT, NAMESPACE, FakeCloudflare, WorkerKV, full_token

BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def fake(worker):
    with FakeCloudflare(kv=WorkerKV(worker.control)) as server:
        yield server


@dataclass
class Load:
    """Requests in a loop with one key until stopped; every outcome with its time."""

    worker: object
    key: str
    results: list[tuple[float, str]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    stop_after_refusal: bool = False

    def run(self) -> None:
        client = openai.OpenAI(
            base_url=self.worker.base_url, api_key=self.key, max_retries=0, timeout=20
        )
        while not self.stop.is_set():
            try:
                client.chat.completions.create(**BODY)
                self.results.append((time.time(), "ok"))
            except openai.APIStatusError as err:
                self.results.append((time.time(), f"{err.status_code} {err.code}"))
                if self.stop_after_refusal:
                    return
            time.sleep(0.05)

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, daemon=True)
        thread.start()
        return thread

    def wait_for(self, count: int, timeout: float = 20) -> None:
        deadline = time.time() + timeout
        while len(self.results) < count:
            assert time.time() < deadline, f"only {len(self.results)} requests in {timeout}s"
            time.sleep(0.05)


def test_rotation_under_load_has_zero_failures_and_retires_the_old_key(worker, fake, monkeypatch):
    token = fake.add(full_token())
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", token.value)
    monkeypatch.setenv("CLOUDFLARE_BASE_URL", fake.base_url)
    monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", ACCOUNT)
    monkeypatch.setenv("FLAREGATE_KV_NAMESPACE_ID", NAMESPACE)

    # The CLI writes the first key; the Worker accepts it at once.
    created = CliRunner().invoke(main, ["keys", "create", "--name", "app", "--json"])
    assert created.exit_code == 0, created.output
    old = json.loads(created.stdout)

    old_load = Load(worker, old["key"], stop_after_refusal=True)
    old_thread = old_load.start()
    old_load.wait_for(5)

    # Rotate while requests keep coming. The CLI insists on >= 90 s of grace (KV propagation
    # + the Worker's cache); locally there is no propagation, so the library's floor is lowered.
    ring = Keyring(fake.client(token), ACCOUNT, NAMESPACE, config=TEST_CONFIG)
    grace = timedelta(seconds=6)
    rotation = ring.rotate(old["id"], grace=grace, min_grace=timedelta(seconds=1))
    rotated_at = time.time()
    expires_at = rotation.old.record.expires_at.timestamp()

    new_load = Load(worker, rotation.new.key)
    new_thread = new_load.start()

    # The Worker caches a found record for auth_cache_seconds, so the new expires_at is seen
    # at the latest one cache period after the rotation; expiry itself is exact from then on.
    old_thread.join(timeout=grace.total_seconds() + TEST_CONFIG.auth_cache_seconds + 15)
    assert not old_thread.is_alive(), "the old key was never refused"
    new_load.wait_for(len(new_load.results) + 5)
    new_load.stop.set()
    new_thread.join(timeout=30)

    old_outcomes = [outcome for _, outcome in old_load.results]
    refused_at, refusal = old_load.results[-1]
    assert refusal == "401 expired_api_key"
    assert set(old_outcomes[:-1]) == {"ok"}, "the old key failed before its grace ended"
    assert refused_at >= expires_at
    # ... and no later than one Worker cache period after the rotation (docs/keys.md).
    assert refused_at <= max(expires_at, rotated_at + TEST_CONFIG.auth_cache_seconds) + 3
    assert len(old_outcomes) > 20  # it really was under load through the rotation
    assert {outcome for _, outcome in new_load.results} == {"ok"}
    assert new_load.results[0][0] < expires_at  # the new key worked before the old one ended

    # And afterwards: the old key is refused, the new one works, the ring shows both.
    with pytest.raises(openai.AuthenticationError) as err:
        openai.OpenAI(
            base_url=worker.base_url, api_key=old["key"], max_retries=0
        ).chat.completions.create(**BODY)
    assert err.value.code == "expired_api_key"
    listed = json.loads(CliRunner().invoke(main, ["keys", "list", "--json"]).stdout)["keys"]
    by_id = {k["id"]: k for k in listed}
    assert by_id[old["id"]]["status"] == "expired"
    assert by_id[rotation.new.id]["status"] == "active"
    assert datetime.fromisoformat(by_id[old["id"]]["expires_at"]) <= datetime.now(UTC)


def test_revoked_key_is_refused_by_the_worker(worker, fake, monkeypatch):
    token = fake.add(full_token())
    ring = Keyring(fake.client(token), ACCOUNT, NAMESPACE, config=TEST_CONFIG)
    new = ring.create("short-lived")
    client = openai.OpenAI(base_url=worker.base_url, api_key=new.key, max_retries=0)
    ring.revoke(new.id)
    # Never used before the revocation, so nothing is cached: refused at once.
    with pytest.raises(openai.AuthenticationError) as err:
        client.chat.completions.create(**BODY)
    assert err.value.code == "invalid_api_key"
