"""The key ring through the official SDK against the fake Cloudflare API (in-memory KV)."""

from __future__ import annotations

import hashlib
import json
import time
from datetime import UTC, datetime, timedelta

import pytest

from flaregate.cloudflare_api import make_client
from flaregate.errors import CloudflareApiError, CloudflareCredentialsError, KeyringError
from flaregate.keyring import Keyring, ensure_first_key, kv_key_for, minimum_grace
from tests.fake_cloudflare import ACCOUNT, NAMESPACE, FakeCloudflare, full_token


@pytest.fixture
def fake():
    with FakeCloudflare() as server:
        yield server


@pytest.fixture
def token(fake):
    return fake.add(full_token())


@pytest.fixture
def ring(fake, token):
    return Keyring(fake.client(token), ACCOUNT, NAMESPACE)


def stored(fake, key: str):
    return json.loads(fake.kv.get("key:" + hashlib.sha256(key.encode()).hexdigest()))


def kv_item(fake, key_id: str) -> dict:
    return next(i for i in fake.kv.list("key:") if i["metadata"]["id"] == key_id)


def test_created_key_is_high_entropy_and_stored_only_as_its_documented_hash(fake, ring):
    new = ring.create("laptop")
    assert new.key.startswith("sk-fg-")
    assert len(new.key) - len("sk-fg-") >= 43  # 32 random bytes, URL-safe base64
    assert new.key != ring.create("laptop").key
    assert new.key not in repr(new)
    record = stored(fake, new.key)
    assert record == {
        "id": new.id,
        "name": "laptop",
        "created_at": record["created_at"],
        "expires_at": None,
    }
    datetime.fromisoformat(record["created_at"])
    # Nothing in the namespace contains the key itself.
    for item in fake.kv.list(""):
        assert new.key not in item["name"] and new.key not in json.dumps(item.get("metadata"))
        assert new.key.encode() not in fake.kv.get(item["name"])


def test_listing_reads_metadata_not_values(fake, ring):
    a = ring.create("a")
    b = ring.create("b", expires_at=datetime.now(UTC) + timedelta(days=3))
    fake.requests.clear()
    entries = ring.entries()
    by_id = {e.id: e for e in entries}
    assert set(by_id) == {a.id, b.id}
    assert by_id[b.id].record == b.entry.record
    assert not [p for p in fake.paths("GET") if "/values/" in p]


def test_hand_written_entry_without_metadata_is_listed_by_reading_its_value(fake, ring):
    record = {
        "id": "manual1",
        "name": "manual",
        "created_at": "2026-11-22T15:00:00Z",
        "expires_at": None,
    }
    fake.kv.put("key:" + "ab" * 32, json.dumps(record).encode(), None, None)
    fake.kv.put("key:" + "cd" * 32, b"not json", None, None)
    entries = ring.entries()
    assert [e.id for e in entries] == ["manual1"]
    assert ring.unreadable == ["key:" + "cd" * 32]


def test_expiry_sets_kv_expiration_so_kv_drops_the_entry(fake, ring):
    expires = datetime.now(UTC).replace(microsecond=0) + timedelta(days=90)
    new = ring.create("ci", expires_at=expires)
    assert kv_item(fake, new.id)["expiration"] == int(expires.timestamp())
    assert stored(fake, new.key)["expires_at"] == expires.isoformat()


def test_expiry_sooner_than_kv_allows_keeps_the_exact_expiry_in_the_record(fake, ring):
    soon = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=10)
    new = ring.create("short", expires_at=soon)  # KV would refuse expiration = now + 10 s
    assert kv_item(fake, new.id)["expiration"] >= time.time() + 60
    assert stored(fake, new.key)["expires_at"] == soon.isoformat()


def test_revoke_deletes_the_entry_and_unknown_ids_are_explained(fake, ring):
    keep, gone = ring.create("keep"), ring.create("gone")
    assert ring.revoke(gone.id).id == gone.id
    assert [e.id for e in ring.entries()] == [keep.id]
    with pytest.raises(KeyringError, match="no key with id 'nope'.*keys list"):
        ring.revoke("nope")


def test_rotation_writes_the_new_key_before_touching_the_old(fake, ring):
    old = ring.create("laptop")
    fake.requests.clear()
    rotation = ring.rotate(old.id, grace=timedelta(hours=24))
    puts = [p for p in fake.paths("PUT")]
    assert puts == [
        f"/accounts/{ACCOUNT}/storage/kv/namespaces/{NAMESPACE}/values/{kv_key_for(rotation.new.key)}",
        f"/accounts/{ACCOUNT}/storage/kv/namespaces/{NAMESPACE}/values/{kv_key_for(old.key)}",
    ]
    old_record = stored(fake, old.key)
    end = datetime.fromisoformat(old_record["expires_at"])
    assert timedelta(hours=23, minutes=59) < end - datetime.now(UTC) <= timedelta(hours=24)
    assert stored(fake, rotation.new.key)["expires_at"] is None
    assert kv_item(fake, old.id)["metadata"]["rotated_to"] == rotation.new.id
    assert kv_item(fake, rotation.new.id)["metadata"]["rotated_from"] == old.id
    assert rotation.new.entry.record.name == "laptop"


def test_grace_shorter_than_propagation_plus_cache_is_refused(ring):
    ring.create("laptop")
    assert minimum_grace() == timedelta(seconds=70)
    with pytest.raises(KeyringError, match=r"too short.*at least 1m10s"):
        ring.rotate(grace=timedelta(seconds=60))
    # The library lets tests (with a local KV and no propagation) go lower, explicitly.
    assert ring.rotate(grace=timedelta(seconds=5), min_grace=timedelta(seconds=1))


def test_rotating_again_names_the_replacement(ring):
    old = ring.create("laptop")
    rotation = ring.rotate(old.id)
    with pytest.raises(
        KeyringError, match=f"replacement is {rotation.new.id}.*--id {rotation.new.id}"
    ):
        ring.rotate(old.id)
    # The replacement itself can be rotated.
    assert ring.rotate(rotation.new.id).old.id == rotation.new.id


def test_rotation_never_extends_an_earlier_expiry(fake, ring):
    soon = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
    old = ring.create("ci", expires_at=soon)
    rotation = ring.rotate(old.id, grace=timedelta(days=7))
    assert rotation.old.record.expires_at == soon
    assert stored(fake, old.key)["expires_at"] == soon.isoformat()


def test_new_key_inherits_the_old_keys_lifetime(ring):
    old = ring.create("ci", expires_at=datetime.now(UTC) + timedelta(days=90))
    new_expiry = ring.rotate(old.id).new.entry.record.expires_at
    assert timedelta(days=89, hours=23) < new_expiry - datetime.now(UTC) <= timedelta(days=90)


def test_failed_second_step_is_undone_and_the_old_key_keeps_working(fake, ring):
    old = ring.create("laptop")
    fake.fail(
        f"/accounts/{ACCOUNT}/storage/kv/namespaces/{NAMESPACE}/values/{kv_key_for(old.key)}",
        500,
        10001,
        "internal error",
        method="PUT",
    )
    with pytest.raises(KeyringError, match="rotation was undone.*still works"):
        ring.rotate(old.id)
    assert [e.id for e in ring.entries()] == [old.id]
    assert stored(fake, old.key)["expires_at"] is None
    # Re-running finishes the job.
    rotation = ring.rotate(old.id)
    assert {e.id for e in ring.entries()} == {old.id, rotation.new.id}


def test_write_that_failed_but_went_through_counts_as_done(fake, ring):
    old = ring.create("laptop")
    path = f"/accounts/{ACCOUNT}/storage/kv/namespaces/{NAMESPACE}/values/{kv_key_for(old.key)}"
    fake.fail(path, 502, 10001, "bad gateway", method="PUT", after=True)
    rotation = ring.rotate(old.id)
    assert stored(fake, rotation.new.key)["id"] == rotation.new.id
    assert kv_item(fake, old.id)["metadata"]["rotated_to"] == rotation.new.id


def test_interrupted_rotation_leaves_no_lockout_and_the_rerun_cleans_up(fake, ring):
    old = ring.create("laptop")
    path = f"/accounts/{ACCOUNT}/storage/kv/namespaces/{NAMESPACE}/values/"
    fake.fail(path + kv_key_for(old.key), 500, 10001, "internal error", method="PUT")
    fake.fail(path + ".*", 500, 10001, "internal error", method="DELETE")  # rollback fails too
    with pytest.raises(KeyringError):
        ring.rotate(old.id)
    orphan = [e for e in ring.entries() if e.id != old.id]
    assert len(orphan) == 1 and orphan[0].record.rotated_from == old.id
    assert stored(fake, old.key)["expires_at"] is None  # old key untouched: nobody locked out
    rotation = ring.rotate(old.id)
    assert rotation.removed_unfinished == (orphan[0].id,)
    assert {e.id for e in ring.entries()} == {old.id, rotation.new.id}


def test_rotate_without_id_picks_the_only_live_key_or_asks(ring):
    with pytest.raises(KeyringError, match="no live key to rotate"):
        ring.rotate()
    first = ring.create("laptop")
    assert ring.rotate().old.id == first.id
    ring.create("ci")
    with pytest.raises(KeyringError, match="2 keys could be rotated.*--id"):
        ring.rotate()


def test_ensure_first_key_only_when_the_ring_is_empty(fake, token):
    client = fake.client(token)
    first = ensure_first_key(client, ACCOUNT, NAMESPACE)
    assert first is not None and first.key.startswith("sk-fg-")
    assert ensure_first_key(client, ACCOUNT, NAMESPACE) is None


def test_listing_follows_kv_cursor_pages(fake, ring):
    fake.kv_page_size = 10
    made = {ring.create(f"k{i}").id for i in range(23)}
    assert {e.id for e in ring.entries()} == made
    assert len([p for p in fake.paths("GET") if p.endswith("/keys")]) == 3


def test_global_api_key_in_the_environment_is_refused_before_any_request(fake):
    with pytest.raises(CloudflareCredentialsError, match="unset CLOUDFLARE_API_KEY"):
        make_client(
            "t",
            base_url=fake.base_url,
            environ={"CLOUDFLARE_API_KEY": "x", "CLOUDFLARE_EMAIL": "a@b"},
        )
    with pytest.raises(CloudflareCredentialsError, match="CLOUDFLARE_API_TOKEN"):
        make_client(None, environ={})
    assert fake.requests == []


def test_invalid_token_is_explained_without_leaking_it(fake):
    client = make_client("cf-not-a-real-token", base_url=fake.base_url, max_retries=0, environ={})
    with pytest.raises(CloudflareCredentialsError) as err:
        Keyring(client, ACCOUNT, NAMESPACE).entries()
    assert "Invalid API Token" in str(err.value) and "cf-not-a-real-token" not in str(err.value)


def test_token_without_kv_permission_points_to_check_token(fake):
    from tests.fake_cloudflare import account_res, make_token, policy

    token = fake.add(make_token([policy(["Workers Scripts Write"], account_res())]))
    with pytest.raises(CloudflareCredentialsError, match="check-token"):
        Keyring(fake.client(token), ACCOUNT, NAMESPACE).create("x")


def test_rate_limit_is_retried_then_explained(fake, token):
    keys_path = f"/accounts/{ACCOUNT}/storage/kv/namespaces/{NAMESPACE}/keys"
    fake.fail(
        keys_path, 429, 971, "Please wait and consider throttling your request speed", retry_after=0
    )
    assert Keyring(fake.client(token, max_retries=1), ACCOUNT, NAMESPACE).entries() == []
    fake.fail(
        keys_path,
        429,
        971,
        "Please wait and consider throttling your request speed",
        times=5,
        retry_after=0,
    )
    with pytest.raises(CloudflareApiError, match="rate-limited"):
        Keyring(fake.client(token, max_retries=1), ACCOUNT, NAMESPACE).entries()


def test_wrong_namespace_is_explained(fake, token):
    with pytest.raises(CloudflareCredentialsError, match="namespace id"):
        Keyring(fake.client(token), ACCOUNT, "0" * 32).entries()
