"""`flaregate models sync`: the account's live Workers AI catalog against flaregate's.

Workers AI adds and retires models every few weeks; the catalog rendered into the Worker is a
snapshot. This module reads the live list (models search) and each text model's schema through
the official SDK, compares them with the catalog a deployment renders (built-in plus its own
``models`` / ``aliases``), and turns the differences into those same overrides, so the next
deploy serves what Cloudflare serves:

- a new text model becomes a catalog entry with what the API says about it (context window,
  tool calling, reasoning, vision, paid plan from its properties; output dialect, tools and JSON
  mode from its schema); the figures the API does not publish get conservative defaults, said so
  in its ``notes``;
- a model that left the list (or whose ``planned_deprecation_date`` has passed) is marked
  ``deprecated`` with a replacement chosen by capability, and aliases pointing at it move there;
- a fact that differs (context window, vision, paid plan; tools or reasoning where the change is
  safe to make) is recorded; the rest is reported for a human to judge.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from .catalog import is_retired, load_catalog
from .errors import CloudflareApiError

TASK_TYPES = {"Text Generation": "chat", "Text Embeddings": "embeddings", "Text-to-Image": "image"}
PERMISSION_HINT = (
    "the token needs Account | Workers AI | Read; add it to the token, or use a separate token "
    "with just that permission (docs/permissions.md, feature models_sync)"
)


@dataclass
class LiveModel:
    """One entry of the account's model list, with its schema for text models."""

    id: str
    task: str
    description: str = ""
    properties: dict[str, Any] = field(default_factory=dict)
    schema: dict[str, Any] | None = None

    @classmethod
    def from_api(cls, item: dict[str, Any]) -> LiveModel:
        properties = {}
        for prop in item.get("properties") or []:
            if isinstance(prop, dict) and "property_id" in prop:
                properties[prop["property_id"]] = prop.get("value")
        task = item.get("task") or {}
        return cls(
            id=str(item.get("name", "")),
            task=str(task.get("name", "")) if isinstance(task, dict) else "",
            description=str(item.get("description") or ""),
            properties=properties,
        )

    @property
    def type(self) -> str | None:
        return TASK_TYPES.get(self.task)

    def flag(self, name: str) -> bool:
        return str(self.properties.get(name, "")).lower() == "true"

    @property
    def context_window(self) -> int | None:
        try:
            return int(str(self.properties["context_window"]))
        except (KeyError, ValueError):
            return None

    @property
    def retirement_date(self) -> str | None:
        """``planned_deprecation_date`` as YYYY-MM-DD, if Cloudflare announced one."""
        value = str(self.properties.get("planned_deprecation_date") or "")
        match = re.match(r"\d{4}-\d{2}-\d{2}", value)
        return match.group(0) if match else None

    @property
    def is_lora(self) -> bool:
        return self.flag("lora")

    # --- what the schema says -----------------------------------------------------------
    def _keys(self, part: str) -> set[str]:
        return _property_names((self.schema or {}).get(part))

    @property
    def dialect(self) -> str:
        out = self._keys("output")
        if "choices" in out:
            return "openai"
        if "output" in out and "response" not in out:
            return "responses"
        return "native"

    @property
    def takes_tools(self) -> bool:
        return "tools" in self._keys("input") if self.schema else self.flag("function_calling")

    @property
    def json_mode(self) -> bool:
        return "response_format" in self._keys("input")

    @property
    def chat_capable(self) -> bool:
        return self.schema is None or "messages" in self._keys("input")


def _property_names(schema: Any) -> set[str]:
    """Every property name anywhere in a JSON schema (oneOf/anyOf branches and nested objects)."""
    names: set[str] = set()
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            props = node.get("properties")
            if isinstance(props, dict):
                names.update(props)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return names


def read_live_catalog(client: Any, account_id: str) -> list[LiveModel]:
    """The account's models (retired ones included while Cloudflare still lists them), with
    each text-generation model's schema."""
    from cloudflare import APIStatusError

    try:
        models = [
            LiveModel.from_api(item)
            for item in client.ai.models.list(
                account_id=account_id, per_page=100, include_deprecated=True
            )
            if isinstance(item, dict)
        ]
        for model in models:
            if model.type == "chat" and not model.is_lora:
                schema = client.ai.models.schema.get(account_id=account_id, model=model.id)
                model.schema = schema.model_dump(by_alias=True)
    except APIStatusError as err:
        raise CloudflareApiError(_api_failure(err, account_id)) from None
    return [m for m in models if m.id]


def _api_failure(err: Any, account_id: str) -> str:
    errors = (err.body or {}).get("errors") if isinstance(err.body, dict) else None
    detail = "; ".join(
        f"{e.get('code')}: {e.get('message')}" for e in errors or [] if isinstance(e, dict)
    )
    detail = detail or f"HTTP {err.status_code}"
    if err.status_code in (401, 403):
        return f"Cloudflare refused to list Workers AI models ({detail}): {PERMISSION_HINT}."
    if err.status_code == 404:
        return f"Cloudflare has no account {account_id} ({detail}): check CLOUDFLARE_ACCOUNT_ID."
    return f"Reading the Workers AI model list failed ({detail}); retry in a moment."


# --- the comparison --------------------------------------------------------------------------


@dataclass
class SyncReport:
    new: list[dict[str, Any]] = field(default_factory=list)
    gone: list[dict[str, Any]] = field(default_factory=list)
    retiring: list[dict[str, Any]] = field(default_factory=list)
    differ: list[dict[str, Any]] = field(default_factory=list)
    models: list[dict[str, Any]] = field(default_factory=list)
    """Catalog entries (overrides) that record the differences."""
    aliases: dict[str, str] = field(default_factory=dict)
    """Aliases moved off a model that is gone."""

    @property
    def in_sync(self) -> bool:
        return not (self.new or self.gone or self.differ)

    def to_json(self) -> dict[str, Any]:
        return {
            "in_sync": self.in_sync,
            "new": self.new,
            "gone": self.gone,
            "retiring": self.retiring,
            "differ": self.differ,
            "overrides": {"models": self.models, "aliases": self.aliases},
        }


def compare(
    live: Iterable[LiveModel],
    extra_models: list[dict[str, Any]] | None = None,
    extra_aliases: dict[str, str] | None = None,
    today: date | None = None,
) -> SyncReport:
    """What differs between the live list and the catalog (built-in plus a deployment's own)."""
    today = today or datetime.now(UTC).date()
    today_text = today.isoformat()
    catalog = load_catalog(extra_models, extra_aliases)
    known = {m["id"]: m for m in catalog["models"]}
    live_by_id = {m.id: m for m in live}
    report = SyncReport()

    for model in live_by_id.values():
        retire_on = model.retirement_date
        if model.id not in known and model.type in ("embeddings", "image") and not retire_on:
            # Shown, not recorded: the list does not publish what the Worker needs for these
            # (dimensions and batch size, image input and output forms).
            report.new.append(
                {"id": model.id, "task": model.task, "type": model.type, "recorded": False}
            )
            continue
        if model.id in known:
            if retire_on and retire_on > today_text and not is_retired(known[model.id]):
                report.retiring.append({"id": model.id, "date": retire_on})
            continue
        if model.type != "chat" or model.is_lora or not model.chat_capable:
            continue
        if retire_on and retire_on <= today_text:
            continue
        entry = _new_entry(model, today)
        report.new.append(
            {
                "id": model.id,
                "task": model.task,
                "type": "chat",
                "recorded": True,
                "context_window": model.context_window,
                "tools": entry["tools"],
                "reasoning": entry["reasoning"],
                "vision": entry["vision"],
                "paid_plan": entry["paid_plan"],
                "dialect": entry["dialect"],
            }
        )
        report.models.append(entry)

    current = {i: m for i, m in known.items() if not is_retired(m)}
    for entry in report.models:
        current[entry["id"]] = entry
    gone_ids = []
    for model_id in current:
        seen = live_by_id.get(model_id)
        if seen is None:
            gone_ids.append((model_id, today_text, "no longer listed"))
        elif seen.retirement_date and seen.retirement_date <= today_text:
            gone_ids.append((model_id, seen.retirement_date, "retired"))
    available = {i: m for i, m in current.items() if i not in {g[0] for g in gone_ids}}
    for model_id, when, why in gone_ids:
        replacement = pick_replacement(current[model_id], available.values())
        report.gone.append(
            {"id": model_id, "reason": why, "date": when, "replacement": replacement}
        )
        if replacement:
            report.models.append(
                {"id": model_id, "deprecated": {"date": when, "replacement": replacement}}
            )
    moved = {g["id"]: g["replacement"] for g in report.gone if g["replacement"]}
    for alias, target in catalog["aliases"].items():
        if target in moved:
            report.aliases[alias] = moved[target]
    # Models retired earlier whose replacement is now gone point at the new replacement.
    for facts in known.values():
        if is_retired(facts) and facts["deprecated"]["replacement"] in moved:
            deprecation = {
                **facts["deprecated"],
                "replacement": moved[facts["deprecated"]["replacement"]],
            }
            report.models.append({"id": facts["id"], "deprecated": deprecation})

    for model_id, facts in available.items():
        if (
            model_id in live_by_id
            and facts["type"] == "chat"
            and model_id not in {e["id"] for e in report.new}
        ):
            _compare_facts(facts, live_by_id[model_id], report)
    return report


def _new_entry(model: LiveModel, today: date) -> dict[str, Any]:
    reasons = model.flag("reasoning")
    dialect = model.dialect
    tools = "native" if model.flag("function_calling") and model.takes_tools else "emulated"
    context = model.context_window
    notes = (
        f"Recorded by `flaregate models sync` on {today.isoformat()} from the account's model "
        f"list and schema: {model.description.strip()} "
    )
    if context is None:
        notes += "UNCONFIRMED context_window: none is published; 8192 is a conservative guess. "
    notes += (
        "UNCONFIRMED output cap: none is published; 4096 is a conservative default. "
        "reasoning_replay is off until someone confirms the model needs earlier reasoning back."
    )
    return {
        "id": model.id,
        "type": "chat",
        "description": model.description.strip()[:200] or model.id,
        "context_window": context or 8192,
        "max_output_tokens": 4096,
        "default_max_tokens": 2048,
        "dialect": dialect,
        "tools": tools,
        "tool_format": "openai",
        "reasoning": ("field" if dialect != "native" else "think_tags") if reasons else "none",
        "reasoning_replay": False,
        "json_mode": model.json_mode,
        "vision": model.flag("vision"),
        "paid_plan": model.flag("require_workers_paid"),
        "sources": ["Workers AI models search and schema (flaregate models sync)"],
        "notes": notes.strip(),
    }


def _compare_facts(facts: dict[str, Any], live: LiveModel, report: SyncReport) -> None:
    update: dict[str, Any] = {}

    def differs(name: str, ours: Any, theirs: Any, write: bool, note: str = "") -> None:
        report.differ.append(
            {"id": facts["id"], "fact": name, "catalog": ours, "live": theirs, "recorded": write}
            | ({"note": note} if note else {})
        )
        if write:
            update[name] = theirs

    if live.context_window is not None and live.context_window != facts.get("context_window"):
        differs("context_window", facts.get("context_window"), live.context_window, True)
    if "vision" in live.properties and live.flag("vision") != bool(facts.get("vision")):
        differs("vision", bool(facts.get("vision")), live.flag("vision"), True)
    paid = live.flag("require_workers_paid")
    ours = facts.get("paid_plan", False)  # None: the catalog could not confirm it
    if ours is None or bool(ours) != paid:
        differs("paid_plan", ours, paid, True)
    calls = live.flag("function_calling")
    if facts["tools"] == "native" and not calls:
        differs("tools", "native", "emulated", True, "the model no longer lists function calling")
    elif facts["tools"] != "native" and calls:
        differs(
            "tools",
            facts["tools"],
            "native",
            False,
            "the catalog emulates tools on purpose where a model misbehaved with native ones; "
            "see its notes in flaregate/data/models.json",
        )
    reasons = live.flag("reasoning")
    if reasons and facts["reasoning"] == "none":
        write = live.schema is not None and live.dialect == "openai"
        differs(
            "reasoning", "none", "field" if write else "yes", write, "" if write else "check how"
        )
    elif not reasons and "reasoning" in live.properties and facts["reasoning"] != "none":
        differs(
            "reasoning", facts["reasoning"], "none", False, "reasoning tags are stripped anyway"
        )
    if update:
        report.models.append({"id": facts["id"], **update})


def pick_replacement(model: dict[str, Any], candidates: Iterable[dict[str, Any]]) -> str | None:
    """The current model closest in capability: same type; for chat, native tools, vision and
    reasoning as the old one had them, no paid plan unless the old one needed it, then the
    larger context."""
    same = [c for c in candidates if c["type"] == model["type"] and c["id"] != model["id"]]
    if not same:
        return None

    def score(c: dict[str, Any]) -> tuple:
        if model["type"] == "embeddings":
            return (c.get("dimensions") == model.get("dimensions"), c["id"])
        if model["type"] != "chat":
            return (c["id"].split("/")[1] == model["id"].split("/")[1], c["id"])
        return (
            c.get("tools") == "native" or model.get("tools") != "native",
            bool(c.get("vision")) or not model.get("vision"),
            (c.get("reasoning", "none") != "none") == (model.get("reasoning", "none") != "none"),
            not c.get("paid_plan") or bool(model.get("paid_plan")),
            c["id"].split("/")[1] == model["id"].split("/")[1],
            c.get("context_window") or 0,
            c["id"],
        )

    return max(same, key=score)["id"]


# --- writing the overrides -------------------------------------------------------------------


def merge_models(existing: list[dict[str, Any]], updates: list[dict[str, Any]]) -> list[dict]:
    """A deployment's ``models`` list with ``updates`` applied by id (later keys win)."""
    merged = {m.get("id"): dict(m) for m in existing}
    for update in updates:
        merged[update["id"]] = {**merged.get(update["id"], {}), **update}
    return list(merged.values())


def toml_text(data: dict[str, Any]) -> str:
    """A flaregate.toml for ``data`` (what tomllib read, with the overrides merged in).

    The standard library reads TOML but does not write it; this writes the shapes a flaregate
    config holds: scalars, lists, tables of strings (aliases, fallbacks) and ``[[models]]``.
    """
    lines: list[str] = []
    tables = {k: v for k, v in data.items() if isinstance(v, dict)}
    arrays = {
        k: v
        for k, v in data.items()
        if isinstance(v, list) and v and all(isinstance(i, dict) for i in v)
    }
    for key, value in data.items():
        if key not in tables and key not in arrays and value is not None:
            lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
    for key, table in tables.items():
        lines += ["", f"[{_toml_key(key)}]"]
        lines += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in table.items() if v is not None]
    for key, items in arrays.items():
        for item in items:
            lines += ["", f"[[{_toml_key(key)}]]"]
            lines += [
                f"{_toml_key(k)} = {_toml_value(v)}" for k, v in item.items() if v is not None
            ]
    return "\n".join(lines).lstrip("\n") + "\n"


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # JSON string escapes are TOML basic-string escapes
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value if v is not None) + "]"
    if isinstance(value, dict):
        items = ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items())
        return "{ " + items + " }" if items else "{}"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")
