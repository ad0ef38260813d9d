"""The catalog's rules for retired models and the new per-model facts, as a deployment's own
config meets them: one clear error naming what to change, before anything is rendered."""

from __future__ import annotations

import pytest

from flaregate.catalog import load_catalog, worker_catalog
from flaregate.config import WorkerConfig
from flaregate.errors import CatalogError, ConfigError
from flaregate.render import render_worker

GEMMA3 = "@cf/google/gemma-3-12b-it"
GEMMA4 = "@cf/google/gemma-4-26b-a4b-it"


def test_an_alias_to_a_retired_model_names_its_replacement():
    with pytest.raises(CatalogError, match=f"retired on 2026-05-30; point it at '{GEMMA4}'"):
        load_catalog(extra_aliases={"my-gemma": GEMMA3})


def test_a_fallback_to_a_retired_model_is_refused():
    with pytest.raises(CatalogError, match="current catalog model"):
        load_catalog(fallbacks={"gpt-4o": [GEMMA3]})


@pytest.mark.parametrize(
    "deprecated",
    [{"date": "May 30", "replacement": GEMMA4}, {"date": "2026-05-30"}, "2026-05-30"],
)
def test_a_malformed_deprecation_is_refused(deprecated):
    with pytest.raises(CatalogError, match="deprecated must be"):
        load_catalog([{"id": "@cf/acme/old", "type": "chat", "deprecated": deprecated}])


def test_a_replacement_must_be_current_and_of_the_same_type():
    with pytest.raises(CatalogError, match="replacement"):
        load_catalog(
            [
                {
                    "id": "@cf/acme/old",
                    "type": "chat",
                    "deprecated": {"date": "2026-01-01", "replacement": "@cf/baai/bge-m3"},
                }
            ]
        )


def test_an_operator_can_retire_a_model_and_the_worker_gets_only_what_it_needs():
    catalog = load_catalog(
        [{"id": "@cf/qwen/qwq-32b", "deprecated": {"date": "2026-12-01", "replacement": GEMMA4}}]
    )
    slim = {m["id"]: m for m in worker_catalog(catalog)["models"]}
    assert slim["@cf/qwen/qwq-32b"] == {
        "id": "@cf/qwen/qwq-32b",
        "type": "chat",
        "deprecated": {"date": "2026-12-01", "replacement": GEMMA4},
    }
    assert slim["@cf/moonshotai/kimi-k2.6"]["reasoning_replay"] is True


@pytest.mark.parametrize("field, value", [("paid_plan", "yes"), ("reasoning_replay", "sometimes")])
def test_new_facts_are_typed(field, value):
    entry = {**next(m for m in load_catalog()["models"] if m["id"] == GEMMA4), field: value}
    with pytest.raises(CatalogError, match=field):
        load_catalog([entry])


def test_retired_models_setting_is_checked_and_rendered():
    with pytest.raises(ConfigError, match="retired_models"):
        WorkerConfig(retired_models="ignore")
    assert '"retired": "replace"' in render_worker(WorkerConfig(retired_models="replace"))
