"""How a request reaches a model: retired models (404 naming the date and the replacement, or
served by the replacement where the operator chose so), prompt caching through Workers AI's
x-session-affinity header and the cached tokens it reports, and capacity (rejectIfBusy when a
fallback is configured; the x-flaregate-model header names the model that answered).

The session Worker rejects retired models (the default); a second Worker, rendered with
retired_models = "replace", shows the other choice.
"""

from __future__ import annotations

import openai
import pytest

from flaregate.catalog import load_catalog
from flaregate.config import WorkerConfig
from flaregate.render import write_bundle
from tests.sse_fixtures import echoed, fixture_json, sse_events
from tests.worker_harness import start_worker

RETIRED = {m["id"]: m["deprecated"] for m in load_catalog()["models"] if m.get("deprecated")}
GEMMA3 = "@cf/google/gemma-3-12b-it"


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def sent(client, model="gpt-4o-mini", extra_headers=None, **kwargs) -> dict:
    """What the Worker passed to env.AI.run: {model, inputs, options}."""
    c = client.chat.completions.create(
        model=model, messages=user("echo"), extra_headers=extra_headers, **kwargs
    )
    return echoed(c.choices[0].message.content)


@pytest.fixture(scope="module")
def replacing_worker(tmp_path_factory):
    out = tmp_path_factory.mktemp("replacing-worker")
    write_bundle(WorkerConfig(retired_models="replace"), out)
    running = start_worker(out / "worker.js", out)
    running.key = running.add_key()
    yield running
    running.stop()


# --- retired models -------------------------------------------------------------------------


def test_the_2026_05_30_retirements_are_in_the_catalog():
    assert GEMMA3 in RETIRED and "@cf/meta/llama-3.1-70b-instruct" in RETIRED
    assert RETIRED["@cf/moonshotai/kimi-k2.5"]["replacement"] == "@cf/moonshotai/kimi-k2.6"
    assert {d["date"] for d in RETIRED.values()} == {"2026-05-30"}


@pytest.mark.parametrize("model", [GEMMA3, "workers-ai/@cf/meta/llama-3.1-8b-instruct"])
def test_a_retired_model_is_a_404_naming_the_date_and_the_replacement(client, model):
    with pytest.raises(openai.NotFoundError) as err:
        client.chat.completions.create(model=model, messages=user("hi"))
    body = err.value.body
    bare = model.removeprefix("workers-ai/")
    assert body["code"] == "model_not_found" and body["param"] == "model"
    assert RETIRED[bare]["date"] in body["message"]
    assert RETIRED[bare]["replacement"] in body["message"]


def test_retired_models_are_not_listed_and_retrieving_one_says_why(client):
    listed = {m.id for m in client.models.list().data}
    assert not listed & set(RETIRED)
    with pytest.raises(openai.NotFoundError) as err:
        client.models.retrieve(GEMMA3)
    assert RETIRED[GEMMA3]["replacement"] in err.value.body["message"]


def test_no_alias_points_at_a_retired_model_and_aliases_follow_capability():
    catalog = load_catalog()
    facts = {m["id"]: m for m in catalog["models"]}
    for alias, target in catalog["aliases"].items():
        assert target not in RETIRED, alias
        if alias.startswith("gpt-4"):
            assert facts[target]["tools"] == "native", alias
        if alias.startswith("gpt-4o"):
            assert facts[target]["vision"], alias
        if alias[0] == "o" and alias[1].isdigit():
            assert facts[target]["reasoning"] != "none", alias


@pytest.mark.parametrize("stream", [False, True])
def test_the_operator_can_have_the_replacement_answer(replacing_worker, stream):
    client = openai.OpenAI(base_url=replacing_worker.base_url, api_key=replacing_worker.key)
    raw = client.chat.completions.with_raw_response.create(
        model=GEMMA3, messages=user("hi"), stream=stream
    )
    replacement = RETIRED[GEMMA3]["replacement"]
    assert raw.headers["x-flaregate-model"] == replacement
    assert GEMMA3 in raw.headers["x-flaregate-model-retired"]
    assert replacement in raw.headers["x-flaregate-model-retired"]
    answer = raw.parse()
    if stream:
        chunks = list(answer)
        assert {c.model for c in chunks} == {GEMMA3}
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    else:
        assert answer.model == GEMMA3  # the name the client asked for
        text = answer.choices[0].message.content
    assert text == f"Hello from {replacement}."


def test_with_replacement_a_retired_model_is_described_as_an_alias(replacing_worker):
    client = openai.OpenAI(base_url=replacing_worker.base_url, api_key=replacing_worker.key)
    model = client.models.retrieve(GEMMA3).model_dump()
    assert model["id"] == GEMMA3
    assert model["alias_for"] == RETIRED[GEMMA3]["replacement"]
    assert model["retired"] == RETIRED[GEMMA3]


# --- prompt caching -------------------------------------------------------------------------


def test_prompt_cache_key_becomes_the_session_affinity_header(client):
    options = sent(client, extra_body={"prompt_cache_key": "agent-7f3a"})["options"]
    assert options["extraHeaders"] == {"x-session-affinity": "agent-7f3a"}


def test_a_client_session_affinity_header_is_passed_on(client):
    options = sent(client, extra_headers={"x-session-affinity": "ses_12345678"})["options"]
    assert options["extraHeaders"] == {"x-session-affinity": "ses_12345678"}


def test_prompt_cache_key_wins_over_the_header(client):
    options = sent(
        client,
        extra_headers={"x-session-affinity": "from-header"},
        extra_body={"prompt_cache_key": "from-body"},
    )["options"]
    assert options["extraHeaders"]["x-session-affinity"] == "from-body"


def test_without_a_session_no_affinity_header_is_sent(client):
    assert "extraHeaders" not in sent(client)["options"]


@pytest.mark.parametrize("key", ["line\nbreak", "", "x" * 300, 42])
def test_a_bad_prompt_cache_key_is_a_400_naming_it(client, key):
    with pytest.raises(openai.BadRequestError) as err:
        sent(client, extra_body={"prompt_cache_key": key})
    assert err.value.body["param"] == "prompt_cache_key"


def test_the_responses_api_takes_prompt_cache_key_and_reports_cached_tokens(client):
    out = client.responses.create(
        model="gpt-4o-mini", input="echo", extra_body={"prompt_cache_key": "resp-session-1"}
    )
    assert echoed(out.output_text)["options"]["extraHeaders"] == {
        "x-session-affinity": "resp-session-1"
    }
    name = "kimi-k2.6-cached-usage"
    usage = [e["usage"] for e in sse_events(name) if e.get("usage")][-1]
    out = client.responses.create(model="@cf/moonshotai/kimi-k2.6", input=f"fixture:{name}")
    assert (
        out.usage.input_tokens_details.cached_tokens
        == usage["prompt_tokens_details"]["cached_tokens"]
    )


def test_cached_prompt_tokens_are_reported(client):
    name = "kimi-k2.6-tool-call-with-reasoning"
    usage = fixture_json(name)["output"]["usage"]
    c = client.chat.completions.create(
        model="@cf/moonshotai/kimi-k2.6", messages=user(f"fixture:{name}")
    )
    assert c.usage.prompt_tokens == usage["prompt_tokens"]
    assert (
        c.usage.prompt_tokens_details.cached_tokens
        == usage["prompt_tokens_details"]["cached_tokens"]
    )


def test_cached_prompt_tokens_are_reported_in_the_stream_usage_chunk(client):
    name = "kimi-k2.6-cached-usage"
    usage = [e["usage"] for e in sse_events(name) if e.get("usage")][-1]
    chunks = list(
        client.chat.completions.create(
            model="@cf/moonshotai/kimi-k2.6",
            messages=user(f"fixture:{name}"),
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert (
        chunks[-1].usage.prompt_tokens_details.cached_tokens
        == usage["prompt_tokens_details"]["cached_tokens"]
    )
    assert (
        "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        == "Still sunny in Paris."
    )


def test_no_cached_tokens_are_claimed_when_the_model_reports_none(client):
    c = client.chat.completions.create(model="gpt-4o-mini", messages=user("hi"))
    assert c.usage.prompt_tokens_details is None


# --- capacity -------------------------------------------------------------------------------


def test_a_model_with_a_fallback_asks_workers_ai_not_to_queue(client):
    # tests/conftest.py gives gpt-4o a fallback.
    options = sent(client, model="gpt-4o")["options"]
    assert options["rejectIfBusy"] is True


def test_a_model_without_a_fallback_waits_its_turn(client):
    assert "rejectIfBusy" not in sent(client, model="gpt-4o-mini")["options"]


def test_the_served_model_is_named_in_a_header_and_model_stays_the_request(client, worker):
    from tests.conftest import TEST_CONFIG

    primary = load_catalog()["aliases"]["gpt-4o"]
    fallback = TEST_CONFIG.fallbacks["gpt-4o"][0]
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o", messages=user(f"error-for:{primary}|3040: Capacity temporarily exceeded")
    )
    assert raw.headers["x-flaregate-model"] == fallback
    assert raw.parse().model == "gpt-4o"
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=user("hi"))
    assert raw.headers["x-flaregate-model"] == primary


def test_the_served_model_header_is_readable_by_browsers(http):
    r = http.post(
        "/v1/chat/completions",
        json={"model": "gpt-4o-mini", "messages": user("hi")},
        headers={"origin": "https://app.example.com"},
    )
    assert r.headers["x-flaregate-model"] == load_catalog()["aliases"]["gpt-4o-mini"]
    assert "x-flaregate-model" in r.headers["access-control-expose-headers"]


def test_an_error_names_no_served_model(http):
    r = http.post("/v1/chat/completions", json={"model": GEMMA3, "messages": user("hi")})
    assert r.status_code == 404 and r.json()["error"]["code"] == "model_not_found"
    assert "x-flaregate-model" not in r.headers
