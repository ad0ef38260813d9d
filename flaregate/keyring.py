"""The key ring: API keys for the Worker, stored as SHA-256 records in its KEYS KV namespace.

The record format is docs/keys.md: KV key ``key:<sha256 hex of the full API key>``, value
``{"id", "name", "created_at", "expires_at"}`` plus, only when set, the key's limits
``models``, ``rpm``, ``tokens_per_day`` and its ``limit_group``. The same fields go into the
entry's KV *metadata*, so listing reads one page of names per 1000 keys and no values. Every
write goes through the Cloudflare API (``client.kv.namespaces.values.update``), the plaintext
key is returned once and never stored, logged or put in an exception.

Rotation is ordered so that an interruption at any point leaves a working key:

1. write the new key (metadata ``rotated_from``: the old id);
2. rewrite the old record with ``expires_at = now + grace`` (metadata ``rotated_to``: the new id);
3. hand the new key to the caller.

The new key inherits the old key's limits and its limit group, so it continues the old key's
rate window and daily token budget (the Worker's counters are per limit group).

A new key is shown only after step 2 succeeded, so a new entry whose old key does not point at
it was never shown to anyone: the next run deletes it. Step 2 only ever shortens a key's life.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from .cloudflare_api import explain_api_error
from .config import WorkerConfig
from .durations import format_duration
from .errors import FlaregateError, KeyringError

if TYPE_CHECKING:
    from cloudflare import Cloudflare

KEY_PREFIX = "sk-fg-"
KEY_ENTROPY_BYTES = 32
"""secrets.token_urlsafe(32): 256 random bits, 43 URL-safe characters after the prefix."""
KV_PREFIX = "key:"
KV_MIN_EXPIRATION_SECONDS = 60
"""Cloudflare KV refuses an ``expiration`` less than 60 s in the future (400 Invalid expiration)."""
KV_PROPAGATION_SECONDS = 60
"""KV writes and deletes reach every location within about a minute (Cloudflare KV docs)."""
MAX_NAME_LENGTH = 100
"""KV metadata is limited to 1024 bytes; names are labels, so keep them short."""
KV_METADATA_LIMIT = 1024
"""Cloudflare KV refuses metadata larger than this (serialized JSON bytes)."""

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


def minimum_grace(config: WorkerConfig | None = None) -> timedelta:
    """The shortest safe rotation grace: KV propagation plus the Worker's longest auth cache.

    Until then some location may not know the new key yet, or still serve the old record from
    its isolate cache. With the defaults: 60 s + 10 s = 70 s.
    """
    config = config or WorkerConfig()
    cache = max(config.auth_cache_seconds, config.auth_negative_cache_seconds)
    return timedelta(seconds=KV_PROPAGATION_SECONDS + cache)


def propagation_note(config: WorkerConfig | None = None) -> str:
    config = config or WorkerConfig()
    return (
        f"Revocation reaches every Cloudflare location within about {KV_PROPAGATION_SECONDS} s "
        f"(KV propagation) plus the Worker's {config.auth_cache_seconds} s key cache, so allow "
        f"about {format_duration(minimum_grace(config))} before the key stops working everywhere."
    )


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(KEY_ENTROPY_BYTES)


def kv_key_for(api_key: str) -> str:
    """The KV key of an API key: ``key:`` + lowercase hex SHA-256 of exactly what clients send."""
    return KV_PREFIX + hashlib.sha256(api_key.encode()).hexdigest()


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat(timespec="seconds")


def _parse_time(value: Any) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("not a timestamp")
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class KeyLimits:
    """A key's optional limits (docs/keys.md); None everywhere means unlimited.

    ``models``: names the key may call (aliases, catalog ids, ``origin/<name>``, or a prefix
    ending in ``*``). ``rpm``: requests in any rolling 60 s. ``tokens_per_day``: prompt +
    completion tokens per UTC day.
    """

    models: tuple[str, ...] | None = None
    rpm: int | None = None
    tokens_per_day: int | None = None

    def __post_init__(self) -> None:
        if self.models is not None:
            cleaned = tuple(m.strip() for m in self.models)
            if not all(cleaned):  # the Worker's rule too: an empty name is a broken record
                raise KeyringError(
                    "model names cannot be empty; separate them with commas, e.g. "
                    "--models gpt-4o-mini,@cf/meta/*"
                )
            object.__setattr__(self, "models", cleaned)
        for name in ("rpm", "tokens_per_day"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise KeyringError(f"{name} must be a whole number")
            if value is not None and value < 0:
                raise KeyringError(f"{name} cannot be negative")

    @property
    def unlimited(self) -> bool:
        return self.models is None and self.rpm is None and self.tokens_per_day is None

    def fields(self) -> dict[str, Any]:
        """The record fields for the limits that are set (none for an unlimited key)."""
        out: dict[str, Any] = {}
        if self.models is not None:
            out["models"] = list(self.models)
        if self.rpm is not None:
            out["rpm"] = self.rpm
        if self.tokens_per_day is not None:
            out["tokens_per_day"] = self.tokens_per_day
        return out

    def describe(self) -> str:
        """One line for humans: "models gpt-4o-mini, @cf/meta/*; 60 rpm; 200000 tokens/day"."""
        parts = [
            "all models" if self.models is None else "models " + (", ".join(self.models) or "none"),
            "no rate limit" if self.rpm is None else f"{self.rpm} rpm",
            "no token limit"
            if self.tokens_per_day is None
            else f"{self.tokens_per_day} tokens/day",
        ]
        return "; ".join(parts)

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> KeyLimits | None:
        """The limits in a record; None when a field is malformed (the Worker refuses such a
        record, since ignoring a limit would make the key unlimited)."""
        models = data.get("models")
        if models is not None and (
            not isinstance(models, list) or not all(isinstance(m, str) and m for m in models)
        ):
            return None
        numbers = {}
        for name in ("rpm", "tokens_per_day"):
            value = data.get(name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 0
            ):
                return None
            numbers[name] = value
        try:
            return cls(models=tuple(models) if models is not None else None, **numbers)
        except KeyringError:
            return None


@dataclass(frozen=True)
class KeyRecord:
    """One key as the Worker sees it (docs/keys.md), plus the rotation links flaregate keeps
    in the entry's metadata."""

    id: str
    name: str
    created_at: datetime
    expires_at: datetime | None = None
    rotated_from: str | None = None
    """Set on a key made by rotate-key: the id of the key it replaces."""
    rotated_to: str | None = None
    """Set on a key retired by rotate-key: the id of its successor."""
    limits: KeyLimits = field(default_factory=KeyLimits)
    """What the key may call and how much (all unlimited by default)."""
    limit_group: str | None = None
    """Whose counters the key uses; None: its own id. rotate-key sets it on the new key."""

    def value(self) -> dict[str, Any]:
        """The KV value: the documented fields, the limits only when set."""
        value: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "created_at": _iso(self.created_at),
            "expires_at": _iso(self.expires_at),
        }
        value.update(self.limits.fields())
        if self.limit_group:
            value["limit_group"] = self.limit_group
        return value

    def metadata(self) -> dict[str, Any]:
        meta = self.value()
        if self.rotated_from:
            meta["rotated_from"] = self.rotated_from
        if self.rotated_to:
            meta["rotated_to"] = self.rotated_to
        return meta

    @classmethod
    def from_mapping(cls, data: Any) -> KeyRecord | None:
        """A record from a KV value or metadata; None when it is not the documented shape."""
        if not isinstance(data, dict) or data.get("id") in (None, ""):
            return None
        try:
            created = _parse_time(data.get("created_at"))
            expires = _parse_time(data.get("expires_at"))
        except ValueError:
            return None
        limits = KeyLimits.from_mapping(data)
        if limits is None:
            return None
        group = data.get("limit_group")
        return cls(
            id=str(data["id"]),
            name=str(data.get("name") or ""),
            created_at=created or datetime.fromtimestamp(0, UTC),
            expires_at=expires,
            rotated_from=data.get("rotated_from"),
            rotated_to=data.get("rotated_to"),
            limits=limits,
            limit_group=str(group) if group else None,
        )

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now


@dataclass(frozen=True)
class KeyEntry:
    """A key ring entry: the record and where it lives."""

    record: KeyRecord
    kv_key: str
    kv_expiration: int | None = None

    @property
    def id(self) -> str:
        return self.record.id

    def as_json(self, now: datetime) -> dict[str, Any]:
        """What `keys list --json` prints: never the key, never its hash."""
        limits = self.record.limits
        return {
            **self.record.metadata(),
            # Always present (null: unlimited), so scripts need not guess.
            "models": list(limits.models) if limits.models is not None else None,
            "rpm": limits.rpm,
            "tokens_per_day": limits.tokens_per_day,
            "status": status_of(self.record, now),
        }


def status_of(record: KeyRecord, now: datetime) -> str:
    if record.expired(now):
        return "expired"
    if record.rotated_to:
        return "retiring"
    if record.expires_at is not None:
        return "expiring"
    return "active"


@dataclass(frozen=True)
class NewKey:
    """A freshly made key. ``key`` is the only copy of the plaintext: show it once."""

    key: str = field(repr=False)
    entry: KeyEntry

    @property
    def id(self) -> str:
        return self.entry.id


@dataclass(frozen=True)
class Rotation:
    new: NewKey
    old: KeyEntry
    """The old entry after the rotation, with its new expires_at."""
    removed_unfinished: tuple[str, ...] = ()
    """Ids of never-shown keys left by an earlier interrupted rotation, now deleted."""


class Keyring:
    """The key ring in one KV namespace, through the Cloudflare SDK."""

    def __init__(
        self,
        client: Cloudflare,
        account_id: str,
        namespace_id: str,
        *,
        config: WorkerConfig | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self.client = client
        self.account_id = account_id
        self.namespace_id = namespace_id
        self.config = config or WorkerConfig()
        self.clock = clock
        self.unreadable: list[str] = []
        """KV names under ``key:`` whose record is not the documented shape (the Worker refuses
        them); filled by :meth:`entries`."""

    # --- reading ---------------------------------------------------------------------------
    def entries(self) -> list[KeyEntry]:
        """All entries, oldest first. Reads metadata from the list; only entries written
        without metadata (for example by hand with wrangler) cost a value read."""
        found: list[KeyEntry] = []
        self.unreadable = []
        try:
            for item in self.client.kv.namespaces.keys.list(
                self.namespace_id, account_id=self.account_id, prefix=KV_PREFIX
            ):
                record = KeyRecord.from_mapping(item.metadata) or self._read_record(item.name)
                if record is None:
                    self.unreadable.append(item.name)
                    continue
                expiration = int(item.expiration) if item.expiration else None
                found.append(KeyEntry(record, item.name, expiration))
        except KeyringError:
            raise
        except Exception as err:  # SDK errors become one clear message
            raise explain_api_error(err, "listing the key ring") from None
        found.sort(key=lambda e: (e.record.created_at, e.id))
        return found

    def _read_record(self, kv_key: str) -> KeyRecord | None:
        import cloudflare

        try:
            raw = self.client.kv.namespaces.values.get(
                kv_key, account_id=self.account_id, namespace_id=self.namespace_id
            ).read()
        except cloudflare.NotFoundError:
            return None  # expired between the list and the read
        try:
            return KeyRecord.from_mapping(json.loads(raw))
        except ValueError:
            return None

    def find(self, key_id: str, entries: Iterable[KeyEntry] | None = None) -> KeyEntry:
        for entry in self.entries() if entries is None else entries:
            if entry.id == key_id:
                return entry
        raise KeyringError(
            f"no key with id {key_id!r} in the key ring (already revoked or expired?); "
            "`flaregate keys list` shows the ids"
        )

    # --- writing ---------------------------------------------------------------------------
    def create(
        self,
        name: str,
        *,
        expires_at: datetime | None = None,
        rotated_from: str | None = None,
        limits: KeyLimits | None = None,
        limit_group: str | None = None,
    ) -> NewKey:
        """Make a key, store its record, return the plaintext (the only copy)."""
        name = name.strip()
        if not name:
            raise KeyringError("a key needs a name (--name), a label like 'laptop' or 'ci'")
        if len(name) > MAX_NAME_LENGTH:
            raise KeyringError(f"key names are at most {MAX_NAME_LENGTH} characters")
        now = self.clock()
        if expires_at is not None:
            # Stored with second precision (docs/keys.md); keep the returned record identical.
            expires_at = expires_at.astimezone(UTC).replace(microsecond=0)
            if expires_at <= now:
                raise KeyringError("the expiry must be in the future")
        key = generate_key()
        record = KeyRecord(
            id=secrets.token_hex(6),
            name=name,
            created_at=now.replace(microsecond=0),
            expires_at=expires_at,
            rotated_from=rotated_from,
            limits=limits or KeyLimits(),
            limit_group=limit_group,
        )
        entry = self._write(kv_key_for(key), record, "writing the new key")
        return NewKey(key, entry)

    def update_limits(self, key_id: str, **changes: Any) -> KeyEntry:
        """Change some of a key's limits (``models``, ``rpm``, ``tokens_per_day``; None removes
        that limit). The Worker sees the change within KV propagation plus its key cache."""
        unknown = set(changes) - {"models", "rpm", "tokens_per_day"}
        if unknown:
            raise KeyringError(f"unknown limit(s): {', '.join(sorted(unknown))}")
        if not changes:
            raise KeyringError(
                "nothing to change: give --models/--all-models, --rpm/--no-rpm or "
                "--tokens-per-day/--no-token-limit"
            )
        entry = self.find(key_id)
        updated = replace(entry.record, limits=replace(entry.record.limits, **changes))
        return self._write(entry.kv_key, updated, f"updating the limits of key {key_id}")

    def revoke(self, key_id: str) -> KeyEntry:
        """Delete a key's entry. The Worker stops accepting it within KV propagation plus its
        cache (:func:`propagation_note`)."""
        entry = self.find(key_id)
        self._delete(entry, f"revoking key {key_id}")
        return entry

    def default_rotation_target(self, entries: list[KeyEntry]) -> KeyEntry:
        """The key `rotate-key` rotates without --id: the only live key not already retiring."""
        now = self.clock()
        live = [e for e in entries if not e.record.expired(now) and not e.record.rotated_to]
        if len(live) == 1:
            return live[0]
        if not live:
            raise KeyringError(
                "there is no live key to rotate; create one with `flaregate keys create --name NAME`"
            )
        ids = ", ".join(f"{e.id} ({e.record.name})" for e in live)
        raise KeyringError(f"{len(live)} keys could be rotated: {ids}; choose one with --id")

    def rotate(
        self,
        key_id: str | None = None,
        *,
        grace: timedelta = timedelta(hours=24),
        min_grace: timedelta | None = None,
        expires_at: datetime | None | Literal["inherit"] = "inherit",
    ) -> Rotation:
        """Replace a key with zero downtime: new key first, then the old one expires at
        now + ``grace``.

        ``min_grace`` defaults to :func:`minimum_grace` (KV propagation + the Worker's cache) and
        exists as a parameter only so tests against a local KV need not wait the real minimum (70 s by default).
        ``expires_at="inherit"`` gives the new key the old key's lifetime, counted from now.
        Re-running after an interruption is safe; re-running after a finished rotation says
        which key replaced this one.
        """
        floor = minimum_grace(self.config) if min_grace is None else min_grace
        if grace < floor:
            raise KeyringError(
                f"a grace of {format_duration(grace)} is too short: clients need at least "
                f"{format_duration(floor)} (KV propagation {KV_PROPAGATION_SECONDS} s + the "
                f"Worker's {self.config.auth_cache_seconds} s key cache) before the old key stops "
                "working; use e.g. --grace 24h"
            )
        entries = self.entries()
        old = self.find(key_id, entries) if key_id else self.default_rotation_target(entries)
        now = self.clock()
        if old.record.expired(now):
            raise KeyringError(
                f"key {old.id} has already expired, so there is nothing to keep alive; create a "
                "new key with `flaregate keys create --name NAME`"
            )
        by_id = {e.id: e for e in entries}
        successor = by_id.get(old.record.rotated_to or "")
        if successor is not None:
            raise KeyringError(
                f"key {old.id} was already rotated: its replacement is {successor.id} "
                f"(created {_iso(successor.record.created_at)}) and {old.id} stops working at "
                f"{_iso(old.record.expires_at)}. To rotate again, rotate the new key: "
                f"`flaregate rotate-key --id {successor.id}`"
            )

        # Step 0: entries an interrupted run wrote for this key but never showed to anyone.
        unfinished = [e for e in entries if e.record.rotated_from == old.id]
        for entry in unfinished:
            self._delete(entry, f"removing the unused key {entry.id} of an interrupted rotation")

        if expires_at == "inherit":
            lifetime = (
                old.record.expires_at - old.record.created_at if old.record.expires_at else None
            )
            expires_at = now + lifetime if lifetime else None
        # Step 1: the new key is valid before the old one is touched.
        # The new key continues the old key's counters: a rotation never resets a budget.
        new = self.create(
            old.record.name,
            expires_at=expires_at,
            rotated_from=old.id,
            limits=old.record.limits,
            limit_group=old.record.limit_group or old.id,
        )
        # Step 2: the old key gets its end. Never extend it: keep an earlier expiry.
        end = (now + grace).replace(microsecond=0)
        if old.record.expires_at is not None and old.record.expires_at < end:
            end = old.record.expires_at
        retired = replace(old.record, expires_at=end, rotated_to=new.id)
        try:
            updated = self._write(old.kv_key, retired, f"setting the expiry of key {old.id}")
        except FlaregateError as err:
            updated = self._after_failed_retire(old, new, err)
        # Step 3: the caller shows new.key.
        return Rotation(new, updated, tuple(e.id for e in unfinished))

    def _after_failed_retire(self, old: KeyEntry, new: NewKey, err: FlaregateError) -> KeyEntry:
        """Step 2 failed, but a 5xx or a timeout may still have applied it: look before undoing."""
        try:
            current = self.find(old.id)
        except FlaregateError:
            raise KeyringError(
                f"{err}. It is unclear whether key {old.id} got its expiry; it keeps working for "
                f"at least the grace period. Re-run `flaregate rotate-key --id {old.id}`: it "
                "finishes the rotation or tells you which key replaced it"
            ) from None
        if current.record.rotated_to == new.id:
            return current  # the write went through after all
        try:
            self._delete(new.entry, "removing the new key after a failed rotation")
        except FlaregateError:
            pass  # never shown and not pointed at: the next run removes it
        raise KeyringError(
            f"{err}. The rotation was undone: key {old.id} is unchanged and still works; "
            f"re-run `flaregate rotate-key --id {old.id}`"
        ) from None

    def ensure_first_key(self, name: str = "default") -> NewKey | None:
        """Create a key when the ring has no live key (first deploy); None when it has one."""
        now = self.clock()
        if any(not e.record.expired(now) for e in self.entries()):
            return None
        return self.create(name)

    # --- KV through the SDK ----------------------------------------------------------------
    def _write(self, kv_key: str, record: KeyRecord, doing: str) -> KeyEntry:
        expiration = None
        if record.expires_at is not None:
            # KV deletes the entry at `expiration`; KV refuses less than 60 s ahead, so a key
            # expiring sooner is kept a little longer in KV and refused by the Worker from
            # expires_at on (it checks expires_at on every request).
            # (plus a minute of margin for clock skew between this machine and Cloudflare)
            floor = int(self.clock().timestamp()) + KV_MIN_EXPIRATION_SECONDS + 60
            expiration = max(int(record.expires_at.timestamp()), floor)
        metadata = record.metadata()
        if len(json.dumps(metadata)) > KV_METADATA_LIMIT:
            raise KeyringError(
                f"the key's record is too large for KV metadata ({KV_METADATA_LIMIT} bytes): "
                "list fewer models, e.g. a prefix such as @cf/meta/* instead of each model"
            )
        kwargs: dict[str, Any] = {"metadata": metadata}
        if expiration is not None:
            kwargs["expiration"] = expiration
        try:
            self.client.kv.namespaces.values.update(
                kv_key,
                account_id=self.account_id,
                namespace_id=self.namespace_id,
                # bytes: SDK 5.9 refuses a str value before sending
                value=json.dumps(record.value(), separators=(",", ":")).encode(),
                **kwargs,
            )
        except Exception as err:
            raise explain_api_error(err, doing) from None
        return KeyEntry(record, kv_key, expiration)

    def _delete(self, entry: KeyEntry, doing: str) -> None:
        try:
            self.client.kv.namespaces.values.delete(
                entry.kv_key, account_id=self.account_id, namespace_id=self.namespace_id
            )
        except Exception as err:
            raise explain_api_error(err, doing) from None


def ensure_first_key(
    client: Cloudflare, account_id: str, namespace_id: str, name: str = "default"
) -> NewKey | None:
    """For `flaregate deploy`: a new key when the ring is empty (show ``.key`` once), else None."""
    return Keyring(client, account_id, namespace_id).ensure_first_key(name)
