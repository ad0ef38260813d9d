"""One configuration for a flaregate Worker: what gets rendered into worker.js and wrangler.toml.

It comes from ``flaregate.toml`` (``flaregate render --config``) or from Pulumi stack config; both
build a :class:`WorkerConfig`, so the CLI, the Pulumi program and the tests render the same Worker.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .errors import ConfigError

DEFAULT_COMPATIBILITY_DATE = "2026-04-01"
WORKER_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
ORIGIN_URL = re.compile(r"^https?://[^\s/?#]+(/[^\s?#]*)?$")
ORIGIN_MODEL = re.compile(r"^(?!origin/)[^\s]{1,200}$")


@dataclass
class WorkerConfig:
    """Everything that shapes the rendered Worker. Secrets never live here."""

    worker_name: str = "flaregate"
    """Cloudflare Worker name: lowercase letters, digits and dashes."""
    compatibility_date: str = DEFAULT_COMPATIBILITY_DATE
    gateway_id: str | None = None
    """AI Gateway every binding call goes through; None calls Workers AI directly."""
    gateway_cache_headers: bool = False
    """Honour clients' cf-aig-skip-cache / cf-aig-cache-ttl headers (off: the operator decides)."""
    cors_origins: list[str] = field(default_factory=list)
    """Browser origins allowed to call the API; ["*"] for any; empty for none."""
    max_body_bytes: int = 4 * 1024 * 1024
    timeout_ms: int = 120_000
    """Deadline for a whole non-streamed answer."""
    first_token_timeout_ms: int = 60_000
    """Deadline for a stream's first output."""
    idle_timeout_ms: int = 30_000
    """Deadline between two outputs of a stream."""
    auth_cache_seconds: int = 10
    """How long a found key is cached in the isolate (revocation takes this long plus KV's ~60 s)."""
    auth_negative_cache_seconds: int = 5
    models: list[dict[str, Any]] = field(default_factory=list)
    """Extra or replacement catalog entries (same fields as flaregate/data/models.json)."""
    aliases: dict[str, str] = field(default_factory=dict)
    fallbacks: dict[str, list[str]] = field(default_factory=dict)
    """Per alias, models to try in order when Workers AI is out of capacity (3040/3036)."""
    retired_models: str = "reject"
    """A request for a model Cloudflare retired: "reject" answers 404 naming the date and the
    replacement; "replace" has the replacement answer, saying so in a response header."""
    kv_namespace_id: str | None = None
    """Only for wrangler.toml; the Pulumi program binds the namespace it creates."""
    origin_url: str | None = None
    """Base URL of your own OpenAI-compatible server (vLLM, llama.cpp, Ollama behind TLS), e.g.
    https://llm.example.com; clients reach it as model "origin/<name>". None: no origin."""
    origin_models: list[str] = field(default_factory=list)
    """Model names the origin serves (without "origin/"); empty forwards any origin/<name>."""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        if not WORKER_NAME.match(self.worker_name or ""):
            raise ConfigError(
                f"worker_name {self.worker_name!r} is not a valid Worker name: use 1-63 lowercase "
                "letters, digits and dashes, not starting or ending with a dash"
            )
        if not re.match(r"^\d{4}-\d{2}-\d{2}$", self.compatibility_date):
            raise ConfigError("compatibility_date must be a date like 2026-04-01")
        if self.gateway_id is not None and not re.match(r"^[a-z0-9_-]{1,64}$", self.gateway_id):
            raise ConfigError(
                f"gateway_id {self.gateway_id!r} is not a valid AI Gateway id: use lowercase "
                "letters, digits, '-' and '_'"
            )
        for name in (
            "max_body_bytes",
            "timeout_ms",
            "first_token_timeout_ms",
            "idle_timeout_ms",
            "auth_cache_seconds",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ConfigError(f"{name} must be a positive whole number, got {value!r}")
        if self.auth_cache_seconds > 60:
            raise ConfigError("auth_cache_seconds must be at most 60, or revoked keys linger")
        if self.retired_models not in ("reject", "replace"):
            raise ConfigError(
                f"retired_models must be 'reject' or 'replace', got {self.retired_models!r}"
            )
        if not all(isinstance(o, str) and o for o in self.cors_origins):
            raise ConfigError("cors_origins must be a list of origins like https://app.example.com")
        self._validate_origin()

    def _validate_origin(self) -> None:
        if self.origin_url is not None and not ORIGIN_URL.match(self.origin_url):
            raise ConfigError(
                f"origin_url {self.origin_url!r} must be an http(s) URL like "
                "https://llm.example.com (the Worker appends /v1/chat/completions)"
            )
        if not isinstance(self.origin_models, list) or not all(
            isinstance(m, str) and ORIGIN_MODEL.match(m) for m in self.origin_models
        ):
            raise ConfigError(
                f"origin_models must be a list of model names like ['llama-3.1-8b'] (no spaces, "
                f"without the 'origin/' prefix), got {self.origin_models!r}"
            )
        if self.origin_models and not self.origin_url:
            raise ConfigError(
                "origin_models needs origin_url: the URL of the server that runs them"
            )

    def worker_settings(self) -> dict[str, Any]:
        """The settings object rendered into the Worker (BUILTIN_SETTINGS)."""
        return {
            "gateway": {"id": self.gateway_id, "honorCacheHeaders": self.gateway_cache_headers},
            "cors": {"origins": list(self.cors_origins)},
            "limits": {"maxBodyBytes": self.max_body_bytes},
            "timeouts": {
                "requestMs": self.timeout_ms,
                "firstTokenMs": self.first_token_timeout_ms,
                "idleMs": self.idle_timeout_ms,
            },
            "auth": {
                "cacheSeconds": self.auth_cache_seconds,
                "negativeCacheSeconds": self.auth_negative_cache_seconds,
            },
            "models": {"retired": self.retired_models},
            "origin": {
                "url": self.origin_url.rstrip("/") if self.origin_url else None,
                "models": list(self.origin_models),
            },
        }

    @classmethod
    def from_mapping(cls, data: dict[str, Any], source: str = "config") -> WorkerConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(
                f"{source}: unknown setting(s) {', '.join(unknown)}; known settings are "
                f"{', '.join(sorted(known))}"
            )
        return cls(**data)

    @classmethod
    def from_toml(cls, path: Path) -> WorkerConfig:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file {path} does not exist") from None
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(f"{path} is not valid TOML: {err}") from None
        return cls.from_mapping(data, source=str(path))
