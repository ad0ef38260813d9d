"""`flaregate models sync` through click's CliRunner, against the fake Cloudflare API
(tests/fake_cloudflare.py) serving the Workers AI model list and schemas in the shapes the SDK
declares. The account's catalog starts as the recorded entries of
tests/fixtures/cloudflare-api/workers-ai-models.json plus one entry per other catalog model
(what an account in step with flaregate lists); each test then changes it the way Cloudflare
does: a model added, one retired or gone, a fact changed."""

from __future__ import annotations

import copy
import json
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from pulumi import automation as auto

from flaregate.catalog import is_retired, load_catalog
from flaregate.cli import main
from tests.fake_cloudflare import ACCOUNT, FakeCloudflare, account_res, make_token, policy
from tests.fake_pulumi import FakeCommand, FakeStackFactory, fake_pulumi_binary

RECORDED = json.loads(
    (Path(__file__).parent / "fixtures" / "cloudflare-api" / "workers-ai-models.json").read_text()
)
TASKS = {
    "chat": "Text Generation",
    "embeddings": "Text Embeddings",
    "image": "Text-to-Image",
}
RESPONSES_SCHEMA = {
    "input": {
        "type": "object",
        "description": "Responses-style input",
        "additionalProperties": True,
        "properties": {"input": {}, "instructions": {}, "tools": {}, "reasoning": {}},
    },
    "output": {
        "type": "object",
        "description": "Responses-style output",
        "additionalProperties": True,
        "properties": {"output": {"type": "array"}, "usage": {"type": "object"}},
    },
}
NEW_MODEL = "@cf/acme/frontier-9b"


def props(**values) -> list[dict]:
    return [{"property_id": k, "value": v} for k, v in values.items()]


def listed_entry(facts: dict) -> dict:
    """The models-search entry of an account that agrees with the catalog about this model."""
    values = {}
    if facts.get("context_window"):
        values["context_window"] = str(facts["context_window"])
    if facts["type"] == "chat":
        values["function_calling"] = str(facts["tools"] == "native").lower()
        values["reasoning"] = str(facts["reasoning"] != "none").lower()
        if facts.get("vision"):
            values["vision"] = "true"
        if facts.get("paid_plan"):
            values["require_workers_paid"] = "true"
    return {
        "id": f"uuid-{facts['id']}",
        "source": 1,
        "name": facts["id"],
        "description": facts.get("description", ""),
        "task": {"id": "t", "name": TASKS[facts["type"]], "description": ""},
        "created_at": "2026-01-01 00:00:00.000",
        "tags": [],
        "properties": props(**values),
    }


def schema_for(facts: dict) -> dict:
    if facts.get("dialect") == "responses":
        return copy.deepcopy(RESPONSES_SCHEMA)
    return copy.deepcopy(
        RECORDED["schemas"]["openai" if facts["dialect"] == "openai" else "native"]
    )


@pytest.fixture
def cf(tmp_path, monkeypatch):
    with FakeCloudflare() as api:
        token = api.add(make_token([policy(["Workers AI Read"], account_res())]))
        recorded = {m["name"]: m for m in RECORDED["models"]}
        for facts in load_catalog()["models"]:
            if is_retired(facts):
                continue
            api.ai_models.append(copy.deepcopy(recorded.get(facts["id"])) or listed_entry(facts))
            if facts["type"] == "chat":
                api.ai_schemas[facts["id"]] = schema_for(facts)
        monkeypatch.setenv("CLOUDFLARE_BASE_URL", api.base_url)
        monkeypatch.setenv("CLOUDFLARE_API_TOKEN", token.value)
        monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", ACCOUNT)
        monkeypatch.setenv("COLUMNS", "200")
        monkeypatch.chdir(tmp_path)
        yield api


def sync(*args) -> dict:
    result = CliRunner().invoke(main, ["models", "sync", "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def remove(api: FakeCloudflare, model_id: str) -> None:
    api.ai_models = [m for m in api.ai_models if m["name"] != model_id]


def entry(api: FakeCloudflare, model_id: str) -> dict:
    return next(m for m in api.ai_models if m["name"] == model_id)


def rendered_catalog(config: Path, tmp_path: Path) -> dict:
    result = CliRunner().invoke(
        main, ["render", "--config", str(config), "--out", str(tmp_path / "dist")]
    )
    assert result.exit_code == 0, result.output
    worker = (tmp_path / "dist" / "worker.js").read_text()
    return json.loads(re.search(r"const CATALOG = (.*);", worker).group(1))


def test_an_account_in_step_reports_only_what_the_catalog_left_open(cf):
    report = sync()
    assert report["new"] == [] and report["gone"] == []
    # The catalog leaves Kimi K2.6's paid plan unconfirmed; the account's list settles it.
    assert [(d["id"], d["fact"], d["live"]) for d in report["differ"]] == [
        ("@cf/moonshotai/kimi-k2.6", "paid_plan", False)
    ]
    searches = [r for r in cf.requests if r["path"].endswith("/ai/models/search")]
    assert searches[0]["query"]["include_deprecated"] == "true"
    schemas = {r["query"]["model"] for r in cf.requests if r["path"].endswith("/ai/models/schema")}
    assert "@cf/moonshotai/kimi-k2.6" in schemas and "@cf/baai/bge-m3" not in schemas


def test_a_new_model_is_shown_with_what_its_schema_says_and_written(cf, tmp_path):
    cf.ai_models.append(
        {
            **listed_entry({"id": NEW_MODEL, "type": "chat", "tools": "none", "reasoning": "none"}),
            "description": "Acme Frontier 9B, tools and reasoning",
            "properties": props(
                context_window="524288",
                function_calling="true",
                reasoning="true",
                vision="true",
                require_workers_paid="true",
            ),
        }
    )
    cf.ai_schemas[NEW_MODEL] = copy.deepcopy(RECORDED["schemas"]["openai"])
    report = sync()
    (new,) = report["new"]
    assert new == {
        "id": NEW_MODEL,
        "task": "Text Generation",
        "type": "chat",
        "recorded": True,
        "context_window": 524288,
        "tools": "native",
        "reasoning": "field",
        "vision": True,
        "paid_plan": True,
        "dialect": "openai",
    }
    config = tmp_path / "flaregate.toml"
    config.write_text('worker_name = "my-gate"\n')
    written = sync("--config", str(config), "--write")
    assert written["written"] == str(config)
    catalog = rendered_catalog(config, tmp_path)
    facts = next(m for m in catalog["models"] if m["id"] == NEW_MODEL)
    assert facts["context_window"] == 524288 and facts["tools"] == "native"
    assert facts["dialect"] == "openai" and facts["json_mode"] is True
    assert 'worker_name = "my-gate"' in config.read_text()
    again = sync("--config", str(config))
    assert again["new"] == [] and again["gone"] == []


def test_a_new_model_without_tool_calling_or_a_context_window_gets_safe_defaults(cf):
    cf.ai_models.append(
        {
            **listed_entry({"id": NEW_MODEL, "type": "chat", "tools": "none", "reasoning": "none"}),
            "properties": [],
        }
    )
    cf.ai_schemas[NEW_MODEL] = copy.deepcopy(RECORDED["schemas"]["native"])
    (entry_,) = [m for m in sync()["overrides"]["models"] if m["id"] == NEW_MODEL]
    assert entry_["tools"] == "emulated" and entry_["dialect"] == "native"
    assert entry_["context_window"] == 8192 and "UNCONFIRMED context_window" in entry_["notes"]


def test_a_new_embeddings_model_is_shown_but_not_recorded(cf):
    cf.ai_models.append(listed_entry({"id": "@cf/pfnet/plamo-embedding-1b", "type": "embeddings"}))
    report = sync()
    assert report["new"] == [
        {
            "id": "@cf/pfnet/plamo-embedding-1b",
            "task": "Text Embeddings",
            "type": "embeddings",
            "recorded": False,
        }
    ]
    assert "@cf/pfnet/plamo-embedding-1b" not in {m["id"] for m in report["overrides"]["models"]}


def test_lora_and_non_chat_text_models_are_not_offered_as_chat_models(cf):
    lora = listed_entry(
        {"id": "@cf/acme/thing-lora", "type": "chat", "tools": "none", "reasoning": "none"}
    )
    lora["properties"] = props(lora="true")
    cf.ai_models.append(lora)
    assert sync()["new"] == []


def test_a_model_that_is_gone_is_retired_with_a_replacement_and_its_aliases_move(cf, tmp_path):
    aliases = load_catalog()["aliases"]
    target = aliases["gpt-4o-mini"]
    remove(cf, target)
    report = sync()
    (gone,) = report["gone"]
    assert gone["id"] == target and gone["reason"] == "no longer listed"
    replacement = gone["replacement"]
    facts = {m["id"]: m for m in load_catalog()["models"]}
    # Chosen by capability: tool calling and vision, like the model it replaces.
    assert facts[replacement]["tools"] == "native" and facts[replacement]["vision"]
    assert report["overrides"]["aliases"]["gpt-4o-mini"] == replacement
    config = tmp_path / "flaregate.toml"
    sync("--config", str(config), "--write")
    catalog = rendered_catalog(config, tmp_path)
    assert catalog["aliases"]["gpt-4o-mini"] == replacement
    retired = next(m for m in catalog["models"] if m["id"] == target)
    assert retired["deprecated"]["replacement"] == replacement


def test_a_planned_deprecation_is_announced_then_retires_the_model(cf):
    soon = (datetime.now(UTC) + timedelta(days=20)).date().isoformat()
    past = (datetime.now(UTC) - timedelta(days=3)).date().isoformat()
    entry(cf, "@cf/qwen/qwq-32b")["properties"].append(
        {"property_id": "planned_deprecation_date", "value": soon}
    )
    entry(cf, "@cf/meta/llama-3.2-3b-instruct")["properties"].append(
        {"property_id": "planned_deprecation_date", "value": past}
    )
    report = sync()
    assert {"id": "@cf/qwen/qwq-32b", "date": soon} in report["retiring"]
    (gone,) = report["gone"]
    assert (gone["id"], gone["reason"], gone["date"]) == (
        "@cf/meta/llama-3.2-3b-instruct",
        "retired",
        past,
    )


def test_facts_that_differ_are_recorded_where_safe_and_reported_otherwise(cf):
    llama = "@cf/meta/llama-3.3-70b-instruct-fp8-fast"
    entry(cf, llama)["properties"] = props(context_window="131072", function_calling="true")
    scout = "@cf/meta/llama-4-scout-17b-16e-instruct"
    entry(cf, scout)["properties"] = props(
        context_window="131000", function_calling="false", vision="true"
    )
    report = sync()
    found = {(d["id"], d["fact"]): d for d in report["differ"]}
    assert found[(llama, "context_window")]["live"] == 131072
    assert found[(llama, "context_window")]["recorded"] is True
    # Llama 3.3 hung with native tools: the catalog's choice stands, the difference is shown.
    assert found[(llama, "tools")]["recorded"] is False
    assert found[(scout, "tools")]["live"] == "emulated" and found[(scout, "tools")]["recorded"]
    overrides = {m["id"]: m for m in report["overrides"]["models"]}
    assert overrides[llama] == {"id": llama, "context_window": 131072}
    assert overrides[scout] == {"id": scout, "tools": "emulated"}


def test_the_table_names_each_kind_of_difference(cf):
    remove(cf, "@cf/qwen/qwq-32b")
    entry(cf, "@cf/meta/llama-3.3-70b-instruct-fp8-fast")["properties"] = props(
        context_window="131072"
    )
    result = CliRunner().invoke(main, ["models", "sync"])
    assert result.exit_code == 0, result.output
    assert "Gone from Workers AI" in result.output and "@cf/qwen/qwq-32b" in result.output
    assert "Facts that differ" in result.output and "131072" in result.output
    assert "--write" in result.output


def test_write_updates_the_stack_config(cf, tmp_path, monkeypatch):
    factory = FakeStackFactory()
    monkeypatch.setattr(auto, "select_stack", factory.select)
    monkeypatch.setenv("FLAREGATE_HOME", str(tmp_path / "fg"))
    bin_dir = fake_pulumi_binary(tmp_path / "bin").parent
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    stack = factory(
        stack_name="prod",
        project_name="flaregate",
        program=None,
        opts=auto.LocalWorkspaceOptions(
            work_dir=str(tmp_path), env_vars={}, pulumi_command=FakeCommand()
        ),
    )
    stack.config["flaregate:accountId"] = auto.ConfigValue(ACCOUNT)
    own = [
        {
            "id": "@cf/acme/private-model",
            "type": "chat",
            "dialect": "native",
            "tools": "none",
            "reasoning": "none",
            "context_window": 4096,
        }
    ]
    stack.config["flaregate:models"] = auto.ConfigValue(json.dumps(own))
    cf.ai_models.append(listed_entry({**own[0], "description": ""}))
    cf.ai_schemas[own[0]["id"]] = copy.deepcopy(RECORDED["schemas"]["native"])
    entry(cf, "@cf/meta/llama-3.3-70b-instruct-fp8-fast")["properties"] = props(
        context_window="131072"
    )
    report = sync("--write", "--stack", "prod")
    assert "stack prod" in report["written"]
    stored = {m["id"]: m for m in json.loads(stack.config["flaregate:models"].value)}
    assert stored["@cf/acme/private-model"] == own[0]  # the deployment's own entry is kept
    assert stored["@cf/meta/llama-3.3-70b-instruct-fp8-fast"]["context_window"] == 131072


def test_a_token_without_workers_ai_read_gets_one_line_with_the_fix(cf, monkeypatch):
    token = cf.add(make_token([policy(["Workers KV Storage Write"], account_res())]))
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", token.value)
    result = CliRunner().invoke(main, ["models", "sync"])
    assert result.exit_code == 1
    assert "Workers AI | Read" in result.output
    assert "Traceback" not in result.output and token.value not in result.output


def test_no_account_id_is_one_clear_error(cf, monkeypatch):
    monkeypatch.delenv("CLOUDFLARE_ACCOUNT_ID")
    result = CliRunner().invoke(main, ["models", "sync"])
    assert result.exit_code == 1 and "--account-id" in result.output


def test_the_fake_serves_the_shapes_the_sdk_declares(cf):
    from cloudflare.types.ai.models import SchemaGetResponse

    for schema in RECORDED["schemas"].values():
        SchemaGetResponse.model_validate(schema)
    client = FakeCloudflare.client(cf, cf.tokens[next(iter(cf.tokens))])
    first = client.ai.models.list(account_id=ACCOUNT, per_page=5)
    assert len(first.result) == 5 and first.result_info.total_count == len(cf.ai_models)
    assert len(list(client.ai.models.list(account_id=ACCOUNT, per_page=7))) == len(cf.ai_models)
    got = client.ai.models.schema.get(account_id=ACCOUNT, model="@cf/moonshotai/kimi-k2.6")
    assert got.output.type == "object"
