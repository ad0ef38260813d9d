"""The model catalog: aliases and per-model facts, one data file (``data/models.json``).

The Worker gets it rendered in, ``/v1/models`` lists it, and ``docs/models.md`` is generated from
it (``flaregate docs``); a test fails when the doc is stale.
"""

from __future__ import annotations

import copy
import json
import re
from functools import cache
from importlib import resources
from typing import Any

from .errors import CatalogError

MODEL_TYPES = ("chat", "embeddings", "image")
TOOL_MODES = ("native", "emulated", "none")
DIALECTS = ("native", "openai", "responses")
REASONING = ("none", "think_tags", "think_tags_no_open", "field")

# Facts the Worker needs at run time; sources and notes stay in the data file and the docs.
WORKER_FIELDS = {
    "chat": (
        "context_window",
        "max_output_tokens",
        "default_max_tokens",
        "dialect",
        "tools",
        "tool_format",
        "reasoning",
        "json_mode",
        "vision",
        "reasoning_replay",
    ),
    "embeddings": (
        "dimensions",
        "max_batch",
        "max_input_tokens",
        "input_field",
        "matryoshka_min_dimensions",
    ),
    "image": (
        "image_input",
        "image_output",
        "max_steps",
        "default_steps",
        "steps_field",
        "min_size",
        "max_size",
    ),
}


@cache
def _builtin() -> dict[str, Any]:
    text = resources.files("flaregate").joinpath("data/models.json").read_text(encoding="utf-8")
    return json.loads(text)


def load_catalog(
    extra_models: list[dict[str, Any]] | None = None,
    extra_aliases: dict[str, str] | None = None,
    fallbacks: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    """The built-in catalog with a deployment's additions (models replace by id), validated."""
    data = copy.deepcopy(_builtin())
    models = {m["id"]: m for m in data["models"]}
    for model in extra_models or []:
        models[model.get("id", "")] = {**models.get(model.get("id", ""), {}), **model}
    catalog = {
        "aliases": {**data["aliases"], **(extra_aliases or {})},
        "models": list(models.values()),
        "fallbacks": {**data.get("fallbacks", {}), **(fallbacks or {})},
    }
    validate_catalog(catalog)
    return catalog


def validate_catalog(catalog: dict[str, Any]) -> None:
    ids = {}
    for model in catalog["models"]:
        model_id = model.get("id")
        if not isinstance(model_id, str) or not model_id.startswith(("@cf/", "@hf/")):
            raise CatalogError(
                f"catalog model id {model_id!r} must be a Workers AI id (@cf/... or @hf/...)"
            )
        kind = model.get("type")
        if kind not in MODEL_TYPES:
            raise CatalogError(
                f"catalog model {model_id}: type must be one of {', '.join(MODEL_TYPES)}"
            )
        if model.get("deprecated") is not None:
            _check_deprecation(model)
        elif kind == "chat":
            for field, allowed in (
                ("tools", TOOL_MODES),
                ("dialect", DIALECTS),
                ("reasoning", REASONING),
            ):
                if model.get(field) not in allowed:
                    raise CatalogError(
                        f"catalog model {model_id}: {field} must be one of {', '.join(allowed)}"
                    )
            if not isinstance(model.get("reasoning_replay", False), bool):
                raise CatalogError(
                    f"catalog model {model_id}: reasoning_replay must be true or false"
                )
            if model.get("paid_plan", False) not in (True, False, None):
                raise CatalogError(
                    f"catalog model {model_id}: paid_plan must be true, false or null (unknown)"
                )
        ids[model_id] = kind
    retired = {m["id"]: m["deprecated"] for m in catalog["models"] if m.get("deprecated")}
    for model_id, deprecation in retired.items():
        replacement = deprecation["replacement"]
        if ids.get(replacement) != ids[model_id] or replacement in retired:
            raise CatalogError(
                f"catalog model {model_id}: its replacement {replacement!r} must be a current "
                "catalog model of the same type"
            )
    for alias, target in catalog["aliases"].items():
        if target not in ids:
            raise CatalogError(f"alias {alias!r} points at {target!r}, which is not in the catalog")
        if target in retired:
            raise CatalogError(
                f"alias {alias!r} points at {target!r}, which was retired on "
                f"{retired[target]['date']}; point it at {retired[target]['replacement']!r}"
            )
    for alias, chain in catalog["fallbacks"].items():
        base = ids.get(catalog["aliases"].get(alias, alias))
        for target in chain:
            if ids.get(target) != base or target in retired:
                raise CatalogError(
                    f"fallback {target!r} for {alias!r} must be a current catalog model of the "
                    "same type"
                )


def _check_deprecation(model: dict[str, Any]) -> None:
    """A retired model: when it went and what replaces it (the Worker names both)."""
    deprecation = model["deprecated"]
    if (
        not isinstance(deprecation, dict)
        or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(deprecation.get("date", "")))
        or not isinstance(deprecation.get("replacement"), str)
    ):
        raise CatalogError(
            f"catalog model {model['id']}: deprecated must be "
            '{"date": "YYYY-MM-DD", "replacement": "@cf/..."}'
        )


def is_retired(model: dict[str, Any]) -> bool:
    return bool(model.get("deprecated"))


def worker_catalog(catalog: dict[str, Any]) -> dict[str, Any]:
    """The catalog trimmed to what the Worker reads, keeping the rendered bundle small."""
    models = []
    for model in catalog["models"]:
        slim = {"id": model["id"], "type": model["type"]}
        if is_retired(model):
            deprecation = model["deprecated"]
            slim["deprecated"] = {
                "date": deprecation["date"],
                "replacement": deprecation["replacement"],
            }
        else:
            slim.update({k: model[k] for k in WORKER_FIELDS[model["type"]] if k in model})
        models.append(slim)
    return {"aliases": catalog["aliases"], "models": models, "fallbacks": catalog["fallbacks"]}


def models_markdown(catalog: dict[str, Any]) -> str:
    """docs/models.md, generated from the catalog."""
    aliases: dict[str, list[str]] = {}
    for alias, target in sorted(catalog["aliases"].items()):
        aliases.setdefault(target, []).append(alias)
    current = [m for m in catalog["models"] if not is_retired(m)]
    by_id = {m["id"]: m for m in catalog["models"]}
    lines = [
        "# Models",
        "",
        "<!-- Generated by `flaregate docs` from flaregate/data/models.json. Do not edit. -->",
        "",
        "Any Workers AI id (`@cf/...`, `@hf/...`) works, also prefixed as `workers-ai/@cf/...`.",
        "Models not listed here are passed through with conservative defaults (tools emulated).",
        "Workers AI's catalog moves every few weeks: `flaregate models sync` compares this list",
        "with your account's and records what differs in your stack config.",
        "An alias ending in `*` matches every name that starts with the rest of it (`claude-sonnet-*`",
        "takes `claude-sonnet-4-5-20250929`); an exact alias wins, then the longest prefix. Override",
        'one with the `aliases` setting, e.g. `{"claude-sonnet-*": "@cf/openai/gpt-oss-120b"}`.',
        "",
        "## Aliases",
        "",
        "OpenAI model names point at current Workers AI models chosen by capability: the `gpt-4*`",
        "names at models with native tool calling (`gpt-4o*` also read images), the `o*` names at",
        "reasoning models; the `claude-*` names (Claude Code, the Anthropic SDKs) at the strongest",
        "tool-calling model, `*haiku*` at a small fast one. No alias points at a retired model.",
        "",
        "| Alias | Model | Tools | Reasoning | Vision | Context |",
        "|---|---|---|---|---|---|",
    ]
    for alias, target in sorted(catalog["aliases"].items(), key=lambda a: _alias_order(a[0])):
        m = by_id[target]
        if m["type"] == "chat":
            facts = f"{m['tools']} | {m['reasoning']} | {_yes(m.get('vision'))} | "
            facts += f"{m.get('context_window', '')}"
        else:
            facts = f"{m['type']} |  |  | "
        lines.append(f"| `{alias}` | `{target}` | {facts} |")
    lines += [
        "",
        "## Chat",
        "",
        "| Model | Aliases | Context | Max output | Tools | Reasoning | Keeps reasoning | "
        "JSON mode | Vision | Paid plan |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for m in (m for m in current if m["type"] == "chat"):
        paid = {True: "yes", False: "", None: "unconfirmed"}[m.get("paid_plan", False)]
        lines.append(
            f"| `{m['id']}` | {_aliases(aliases, m)} | {m.get('context_window', '')} | "
            f"{m.get('max_output_tokens', '')} | {m['tools']} | {m['reasoning']} | "
            f"{_yes(m.get('reasoning_replay'))} | {_yes(m.get('json_mode'))} | "
            f"{_yes(m.get('vision'))} | {paid} |"
        )
    lines += [
        "",
        "Keeps reasoning: the model needs the reasoning of earlier assistant turns back (Kimi K2.x",
        'fails a tool loop with "reasoning_content is missing" otherwise). Send assistant',
        "messages back with the `reasoning_content` (or `reasoning`) you received; the gateway",
        "passes it on to these models only. Paid plan: Cloudflare serves the model on Workers Paid",
        "only. The sources and caveats for every figure are in `flaregate/data/models.json`.",
    ]
    retired = _retired_markdown(catalog)
    catalog = {**catalog, "models": current}
    lines += [
        "",
        "## Embeddings",
        "",
        "| Model | Aliases | Dimensions | Shorter `dimensions` | Inputs per call |",
        "|---|---|---|---|---|",
    ]
    for m in (m for m in catalog["models"] if m["type"] == "embeddings"):
        shorter = m.get("matryoshka_min_dimensions")
        shorter_range = f"{shorter}-{m.get('dimensions')}" if shorter else "no"
        lines.append(
            f"| `{m['id']}` | {_aliases(aliases, m)} | {m.get('dimensions', '')} | "
            f"{shorter_range} | {m.get('max_batch', '')} |"
        )
    lines += [
        "",
        "## Images",
        "",
        "| Model | Aliases | Input | Output | `size` (each side) | Steps |",
        "|---|---|---|---|---|---|",
    ]
    for m in (m for m in catalog["models"] if m["type"] == "image"):
        size = f"{m['min_size']}-{m['max_size']}" if m.get("max_size") else "ignored (fixed)"
        lines.append(
            f"| `{m['id']}` | {_aliases(aliases, m)} | {m.get('image_input', '')} | "
            f"{m.get('image_output', '')} | {size} | {m.get('default_steps', '')} |"
        )
    lines += [
        "",
        "Embeddings: `dimensions` must equal the model's size, or lie in the shorter range for",
        "models trained with Matryoshka representation learning (the vector is cut and renormalized).",
        "Images: `size` WIDTHxHEIGHT is sent as width/height where the model takes them; `n` runs the",
        "model n times (at most 4); images come back as `b64_json` only.",
        "",
        "Tools: `native` sends OpenAI tools to the model; `emulated` describes them in the system",
        "prompt and parses the JSON call back into `tool_calls`; `none` answers 400.",
    ]
    lines += retired
    lines.append("")
    return "\n".join(lines)


def _retired_markdown(catalog: dict[str, Any]) -> list[str]:
    retired = [m for m in catalog["models"] if is_retired(m)]
    if not retired:
        return []
    lines = [
        "",
        "## Retired",
        "",
        "Cloudflare no longer serves these. A request for one answers 404 `model_not_found`",
        'naming the date and the replacement; with `retired_models = "replace"` (stack config',
        "`retiredModels`) the replacement answers instead and the response says so in the",
        "`x-flaregate-model-retired` header.",
        "",
        "| Model | Retired on | Replacement |",
        "|---|---|---|",
    ]
    for m in retired:
        lines.append(
            f"| `{m['id']}` | {m['deprecated']['date']} | `{m['deprecated']['replacement']}` |"
        )
    return lines


def _alias_order(alias: str) -> tuple[int, str]:
    rank = 0 if alias.startswith("gpt-") else 1 if re.match(r"o\d", alias) else 2
    return rank, alias


def _aliases(aliases: dict[str, list[str]], model: dict[str, Any]) -> str:
    return ", ".join(f"`{a}`" for a in aliases.get(model["id"], []))


def _yes(value: Any) -> str:
    return "yes" if value else ""
