"""Keys with limits as a user manages them: `keys create --models/--rpm/--tokens-per-day`,
`keys update`, `keys list`, `rotate-key`, through the official SDK and the fake Cloudflare API
whose KV is the Miniflare namespace the Worker in workerd reads."""

from __future__ import annotations

import json
import time
import uuid
from datetime import timedelta

import openai
import pytest
from click.testing import CliRunner

from flaregate.cli import main
from flaregate.keyring import KeyLimits, Keyring, kv_key_for
from tests.conftest import TEST_CONFIG
from tests.fake_cloudflare import ACCOUNT, NAMESPACE, FakeCloudflare, WorkerKV, full_token

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def fake(worker):
    with FakeCloudflare(kv=WorkerKV(worker.control)) as server:
        yield server


@pytest.fixture
def env(fake, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no stray flaregate.toml
    token = fake.add(full_token())
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", token.value)
    monkeypatch.setenv("CLOUDFLARE_BASE_URL", fake.base_url)
    monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", ACCOUNT)
    monkeypatch.setenv("FLAREGATE_KV_NAMESPACE_ID", NAMESPACE)
    return token


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def client_for(worker, key) -> openai.OpenAI:
    return openai.OpenAI(base_url=worker.base_url, api_key=key, max_retries=0, timeout=20)


def test_create_with_limits_writes_the_documented_record_and_the_worker_enforces_it(worker, env):
    result = run(
        "keys", "create", "--name", "ci", "--models", "gpt-4o-mini, @cf/meta/*", "--rpm", "2",
        "--tokens-per-day", "200000", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    made = json.loads(result.stdout)
    assert made["models"] == ["gpt-4o-mini", "@cf/meta/*"]
    assert made["rpm"] == 2 and made["tokens_per_day"] == 200000
    record = json.loads(worker.kv_get(kv_key_for(made["key"])))
    assert record == {
        "id": made["id"],
        "name": "ci",
        "created_at": made["created_at"],
        "expires_at": None,
        "models": ["gpt-4o-mini", "@cf/meta/*"],
        "rpm": 2,
        "tokens_per_day": 200000,
    }
    client = client_for(worker, made["key"])
    raw = client.chat.completions.with_raw_response.create(**CHAT)
    assert raw.headers["x-ratelimit-limit-requests"] == "2"
    assert raw.headers["x-ratelimit-limit-tokens"] == "200000"
    with pytest.raises(openai.PermissionDeniedError):
        client.chat.completions.create(model="gpt-4o", messages=CHAT["messages"])


def test_create_without_limits_writes_exactly_the_four_fields(worker, env):
    made = json.loads(run("keys", "create", "--name", "plain", "--json").stdout)
    record = json.loads(worker.kv_get(kv_key_for(made["key"])))
    assert set(record) == {"id", "name", "created_at", "expires_at"}
    assert made["models"] is None and made["rpm"] is None and made["tokens_per_day"] is None


def test_list_shows_limits(env, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # one table row per line
    # The key ring is the session's Miniflare KV: other tests' keys are in it too.
    limited, plain = f"ci-{uuid.uuid4().hex[:8]}", f"laptop-{uuid.uuid4().hex[:8]}"
    run("keys", "create", "--name", limited, "--models", "gpt-4o-mini", "--rpm", "60")
    run("keys", "create", "--name", plain)
    listed = run("keys", "list")
    assert "Limits" in listed.output
    row = next(line for line in listed.output.splitlines() if limited in line)
    assert "models gpt-4o-mini; 60 rpm; no token limit" in row
    keys = {k["name"]: k for k in json.loads(run("keys", "list", "--json").stdout)["keys"]}
    assert keys[limited]["models"] == ["gpt-4o-mini"] and keys[limited]["rpm"] == 60
    assert keys[limited]["tokens_per_day"] is None
    assert keys[plain]["models"] is None and keys[plain]["rpm"] is None


def test_update_changes_only_what_is_given_and_the_worker_follows(worker, env):
    made = json.loads(run("keys", "create", "--name", "ci", "--rpm", "1", "--json").stdout)
    client = client_for(worker, made["key"])
    client.chat.completions.create(**CHAT)
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(**CHAT)

    result = run("keys", "update", made["id"], "--no-rpm", "--models", "gpt-4o-mini")
    assert result.exit_code == 0, result.output
    assert "models gpt-4o-mini; no rate limit; no token limit" in result.output
    assert "key cache time" in result.output
    record = json.loads(worker.kv_get(kv_key_for(made["key"])))
    assert record["models"] == ["gpt-4o-mini"] and "rpm" not in record
    assert record["created_at"] == made["created_at"] and record["id"] == made["id"]

    # Seen by the Worker within its key cache time (auth_cache_seconds).
    deadline = time.monotonic() + TEST_CONFIG.auth_cache_seconds + 5
    while True:
        try:
            client.chat.completions.create(**CHAT)
            break
        except openai.RateLimitError:
            assert time.monotonic() < deadline, "the update never reached the Worker"
            time.sleep(0.25)
    with pytest.raises(openai.PermissionDeniedError):
        client.chat.completions.create(model="gpt-4o", messages=CHAT["messages"])

    cleared = json.loads(run("keys", "update", made["id"], "--all-models", "--json").stdout)
    assert cleared["key"]["models"] is None
    assert set(json.loads(worker.kv_get(kv_key_for(made["key"])))) == {
        "id", "name", "created_at", "expires_at",
    }  # fmt: skip


def test_update_refuses_contradictions_and_nothing_to_do(env):
    made = json.loads(run("keys", "create", "--name", "ci", "--json").stdout)
    both = CliRunner().invoke(main, ["keys", "update", made["id"], "--rpm", "5", "--no-rpm"])
    assert both.exit_code != 0 and "contradict" in both.output
    nothing = CliRunner().invoke(main, ["keys", "update", made["id"]])
    assert nothing.exit_code != 0 and "nothing to change" in nothing.output
    negative = CliRunner().invoke(main, ["keys", "update", made["id"], "--rpm", "-1"])
    assert negative.exit_code != 0
    unknown = CliRunner().invoke(main, ["keys", "update", "nope", "--rpm", "5"])
    assert unknown.exit_code != 0 and "no key with id 'nope'" in unknown.output
    assert "Traceback" not in unknown.output


def test_rotation_inherits_limits_and_usage_so_far(worker, fake, env):
    ring = Keyring(fake.client(env), ACCOUNT, NAMESPACE, config=TEST_CONFIG)
    old = ring.create("app", limits=KeyLimits(rpm=3, tokens_per_day=50_000))
    old_client = client_for(worker, old.key)
    for _ in range(3):
        old_client.chat.completions.create(**CHAT)

    rotation = ring.rotate(old.id, grace=timedelta(seconds=30), min_grace=timedelta(seconds=1))
    new_record = rotation.new.entry.record
    assert new_record.limits == KeyLimits(rpm=3, tokens_per_day=50_000)
    assert new_record.limit_group == old.id
    stored = json.loads(worker.kv_get(kv_key_for(rotation.new.key)))
    assert stored["limit_group"] == old.id and stored["rpm"] == 3

    # The new key continues the old key's window: its 3 requests are still in it.
    with pytest.raises(openai.RateLimitError) as err:
        client_for(worker, rotation.new.key).chat.completions.create(**CHAT)
    assert err.value.code == "rate_limit_exceeded"

    # A second rotation keeps the same group, not the intermediate key's id.
    again = ring.rotate(new_record.id, grace=timedelta(seconds=30), min_grace=timedelta(seconds=1))
    assert again.new.entry.record.limit_group == old.id


def test_too_many_models_for_kv_metadata_is_one_clear_error(env):
    many = ",".join(f"@cf/vendor/model-number-{i}" for i in range(60))
    result = CliRunner().invoke(main, ["keys", "create", "--name", "x", "--models", many])
    assert result.exit_code != 0
    assert "too large for KV metadata" in result.output and "Traceback" not in result.output


def test_rotate_key_shows_the_inherited_limits(env, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # the panel's lines unwrapped
    made = json.loads(run("keys", "create", "--name", "ci", "--rpm", "60", "--json").stdout)
    result = CliRunner().invoke(main, ["rotate-key", "--id", made["id"], "--grace", "2h"])
    assert result.exit_code == 0, result.output
    assert "all models; 60 rpm; no token limit (its counters continue the old key's)" in " ".join(
        result.stderr.split()
    )


def test_models_with_spaces_are_refused_with_the_fix(env):
    result = CliRunner().invoke(main, ["keys", "create", "--name", "x", "--models", "gpt 4o"])
    assert result.exit_code == 2 and "separate them with commas" in result.output
