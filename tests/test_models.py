"""GET /v1/models and /v1/models/{id}: the catalog in OpenAI's list format, and every id it
lists accepted by the endpoint its type names."""

from __future__ import annotations

import urllib.parse

import openai
import pytest

from flaregate.catalog import load_catalog
from tests.conftest import TEST_CONFIG

# The catalog the session's Worker was rendered with: the built-in one plus the test deployment's
# own entries (tests/conftest.py), as a deployment's /v1/models lists both.
CATALOG = load_catalog(TEST_CONFIG.models, TEST_CONFIG.aliases, TEST_CONFIG.fallbacks)
FACTS = {m["id"]: m for m in CATALOG["models"]}
CURRENT = {i for i, m in FACTS.items() if not m.get("deprecated")}  # retired ids are not listed
# Prefix aliases ("claude-sonnet-*") name a family of models, not a model: they are not listed.
NAMED_ALIASES = {a: t for a, t in CATALOG["aliases"].items() if not a.endswith("*")}


def listed(client) -> dict[str, object]:
    return {m.id: m for m in client.models.list().data}


def test_list_has_every_alias_and_workers_ai_id_in_openai_format(client, http):
    models = listed(client)
    assert set(models) == set(NAMED_ALIASES) | CURRENT
    raw = http.get("/v1/models").json()
    assert raw["object"] == "list"
    for entry in raw["data"]:
        assert entry["object"] == "model"
        assert isinstance(entry["created"], int)
        assert isinstance(entry["owned_by"], str) and entry["owned_by"]


def test_entries_carry_type_and_capabilities(client):
    models = listed(client)
    for alias, target in NAMED_ALIASES.items():
        entry = models[alias].model_dump()
        assert entry["alias_for"] == target
        assert entry["type"] == FACTS[target]["type"]
    llama = models["@cf/meta/llama-3.3-70b-instruct-fp8-fast"].model_dump()
    facts = FACTS["@cf/meta/llama-3.3-70b-instruct-fp8-fast"]
    assert llama["owned_by"] == "meta"
    assert llama["context_window"] == facts["context_window"]
    assert llama["tools"] is (facts["tools"] != "none")
    assert llama["tool_calling"] == facts["tools"]
    assert models["@cf/qwen/qwq-32b"].model_dump()["reasoning"] is True
    assert models["gpt-3.5-turbo"].model_dump()["reasoning"] is False
    assert models["text-embedding-3-large"].model_dump()["dimensions"] == 1024


@pytest.mark.parametrize(
    "name",
    [
        "gpt-4o",
        "@cf/meta/llama-3.1-8b-instruct-fp8",
        "workers-ai/@cf/meta/llama-3.1-8b-instruct-fp8",
        "@cf/black-forest-labs/flux-2-dev",
    ],
)
def test_retrieve_by_any_name_form_through_the_sdk(client, name):
    model = client.models.retrieve(name)
    assert model.object == "model"
    assert model.id == name.removeprefix("workers-ai/")


@pytest.mark.parametrize("encode", [True, False], ids=["percent-encoded", "raw"])
def test_retrieve_ids_with_slashes_and_at_signs(http, encode):
    model_id = "@cf/meta/llama-3.1-8b-instruct-fp8"
    path = urllib.parse.quote(model_id, safe="") if encode else model_id
    r = http.get(f"/v1/models/{path}")
    assert r.status_code == 200, r.text
    assert r.json()["id"] == model_id
    assert r.json()["type"] == "chat"


def test_retrieve_without_the_v1_prefix(http):
    assert http.get("/models/gpt-4o").json()["alias_for"] == CATALOG["aliases"]["gpt-4o"]


@pytest.mark.parametrize("name", ["claude-sonnet-4-5-20250929", "claude-haiku-4-5"])
def test_a_name_a_prefix_alias_takes_is_retrievable_as_that_alias(client, name):
    # Claude Code and the Anthropic SDKs use dated names; /v1/messages accepts them, so
    # /v1/models/{name} must describe them too.
    prefix = max(
        (a for a in CATALOG["aliases"] if a.endswith("*") and name.startswith(a[:-1])), key=len
    )
    entry = client.models.retrieve(name).model_dump()
    assert entry["id"] == name
    assert entry["alias_for"] == CATALOG["aliases"][prefix]


def test_unknown_model_is_a_404(client):
    with pytest.raises(openai.NotFoundError) as err:
        client.models.retrieve("gpt-17-ultra")
    assert err.value.body["code"] == "model_not_found"


def test_listing_needs_a_key(worker):
    import httpx

    assert httpx.get(f"{worker.url}/v1/models").status_code == 401


def test_every_listed_id_is_accepted_by_the_endpoint_of_its_type(client):
    for model in client.models.list().data:
        kind = model.model_dump()["type"]
        if kind == "chat":
            answer = client.chat.completions.create(
                model=model.id, messages=[{"role": "user", "content": "hi"}]
            )
            assert answer.choices[0].message.content, model.id
        elif kind == "embeddings":
            result = client.embeddings.create(model=model.id, input="hi", encoding_format="float")
            assert len(result.data[0].embedding) == model.model_dump()["dimensions"], model.id
        elif kind == "image":
            result = client.images.generate(model=model.id, prompt="a small test image")
            assert result.data[0].b64_json, model.id
        else:
            pytest.fail(f"{model.id} has unknown type {kind!r}")
