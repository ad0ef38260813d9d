"""POST /v1/embeddings through the rendered Worker in workerd, driven by the official openai SDK.

The fake binding embeds each text as a deterministic unit vector of the model's real dimension
and fails like Workers AI when sent more texts than the model takes per call.
"""

from __future__ import annotations

import base64
import json
import math
import struct
from pathlib import Path

import openai
import pytest

from tests.sse_fixtures import fixture_json

CATALOG = json.loads((Path(__file__).parent.parent / "flaregate/data/models.json").read_text())
DIMENSIONS = {m["id"]: m.get("dimensions") for m in CATALOG["models"]}


def assert_error(http_response, status: int, code: str, param: str | None = None) -> dict:
    assert http_response.status_code == status, http_response.text
    error = http_response.json()["error"]
    assert error["code"] == code
    if param is not None:
        assert error["param"] == param
    return error


@pytest.mark.parametrize(
    "alias", ["text-embedding-3-small", "text-embedding-3-large", "text-embedding-ada-002"]
)
def test_openai_aliases_reach_their_catalog_model(client, alias):
    result = client.embeddings.create(
        model=alias, input="The quick brown fox", encoding_format="float"
    )
    target = CATALOG["aliases"][alias]
    assert result.object == "list"
    assert result.model == alias
    assert len(result.data) == 1
    assert result.data[0].object == "embedding" and result.data[0].index == 0
    assert len(result.data[0].embedding) == DIMENSIONS[target]
    assert result.usage.prompt_tokens > 0
    assert result.usage.total_tokens == result.usage.prompt_tokens


def test_float_and_base64_encodings_carry_the_same_vectors(client, http):
    texts = ["alpha", "beta", "gamma"]
    floats = client.embeddings.create(
        model="text-embedding-3-small", input=texts, encoding_format="float"
    )
    # The SDK asks for base64 by default and decodes it itself.
    decoded_by_sdk = client.embeddings.create(model="text-embedding-3-small", input=texts)
    raw = http.post(
        "/v1/embeddings",
        json={"model": "text-embedding-3-small", "input": texts, "encoding_format": "base64"},
    )
    assert raw.status_code == 200
    for i, item in enumerate(raw.json()["data"]):
        assert isinstance(item["embedding"], str)
        packed = base64.b64decode(item["embedding"])
        little_endian = struct.unpack(f"<{len(packed) // 4}f", packed)
        assert len(little_endian) == 768
        assert little_endian == pytest.approx(floats.data[i].embedding, rel=1e-6, abs=1e-7)
        assert list(decoded_by_sdk.data[i].embedding) == pytest.approx(
            floats.data[i].embedding, rel=1e-6, abs=1e-7
        )


def test_large_batches_are_split_to_the_model_limit_and_kept_in_order(client):
    # qwen3-embedding takes at most 32 texts per call (the fake refuses more): 70 means 3 calls.
    model = "@cf/qwen/qwen3-embedding-0.6b"
    texts = [f"document number {i}" for i in range(70)]
    batched = client.embeddings.create(model=model, input=texts, encoding_format="float")
    assert [d.index for d in batched.data] == list(range(70))
    vectors = [tuple(d.embedding) for d in batched.data]
    assert len(set(vectors)) == 70
    for i in (0, 31, 32, 64, 69):
        single = client.embeddings.create(model=model, input=texts[i], encoding_format="float")
        assert single.data[0].embedding == batched.data[i].embedding


def test_hundreds_of_inputs_on_a_bge_model(client):
    texts = [f"chunk {i}" for i in range(250)]
    result = client.embeddings.create(
        model="@cf/baai/bge-small-en-v1.5", input=texts, encoding_format="float"
    )
    assert len(result.data) == 250
    assert all(len(d.embedding) == 384 for d in result.data)


def test_usage_is_an_estimate_and_says_so(http):
    r = http.post("/v1/embeddings", json={"model": "text-embedding-3-small", "input": "a" * 400})
    assert r.status_code == 200
    assert r.headers["x-flaregate-usage"] == "estimated"
    assert r.json()["usage"] == {"prompt_tokens": 100, "total_tokens": 100}


def test_recorded_output_shape_is_returned_as_is(client):
    fixture = fixture_json("embeddings-bge-small")["output"]
    result = client.embeddings.create(
        model="@cf/baai/bge-small-en-v1.5",
        input=["fixture:embeddings-bge-small", "second text"],
        encoding_format="float",
    )
    assert len(result.data) == 2
    for item, recorded in zip(result.data, fixture["data"], strict=True):
        assert item.embedding == pytest.approx(recorded)


def test_wrong_number_of_vectors_from_the_model_is_an_error_not_a_shifted_answer(http):
    # The recorded output holds two vectors; three inputs were sent.
    r = http.post(
        "/v1/embeddings",
        json={
            "model": "@cf/baai/bge-small-en-v1.5",
            "input": ["fixture:embeddings-bge-small", "b", "c"],
        },
    )
    assert_error(r, 502, "upstream_error")


@pytest.mark.parametrize(
    "tokens", [[1, 2, 3], [[1, 2, 3], [4, 5]]], ids=["token-array", "array-of-token-arrays"]
)
def test_token_arrays_are_refused_with_the_fix(http, tokens):
    r = http.post("/v1/embeddings", json={"model": "text-embedding-3-small", "input": tokens})
    error = assert_error(r, 400, "unsupported_value", "input")
    assert "check_embedding_ctx_length=False" in error["message"]


def test_dimensions_of_a_fixed_size_model(client):
    ok = client.embeddings.create(
        model="text-embedding-3-small", input="x", dimensions=768, encoding_format="float"
    )
    assert len(ok.data[0].embedding) == 768
    with pytest.raises(openai.BadRequestError) as err:
        client.embeddings.create(model="text-embedding-3-small", input="x", dimensions=256)
    assert err.value.body["param"] == "dimensions"
    assert "768" in err.value.body["message"]


def test_dimensions_shorten_a_matryoshka_model_and_renormalize(client):
    model = "@cf/qwen/qwen3-embedding-0.6b"
    full = client.embeddings.create(model=model, input="matryoshka", encoding_format="float")
    short = client.embeddings.create(
        model=model, input="matryoshka", dimensions=256, encoding_format="float"
    )
    head = full.data[0].embedding[:256]
    norm = math.sqrt(sum(v * v for v in head))
    assert len(short.data[0].embedding) == 256
    assert short.data[0].embedding == pytest.approx([v / norm for v in head], rel=1e-6)
    assert math.fsum(v * v for v in short.data[0].embedding) == pytest.approx(1.0)
    with pytest.raises(openai.BadRequestError):
        client.embeddings.create(model=model, input="x", dimensions=16)


@pytest.mark.parametrize(
    "body, param, code",
    [
        ({"model": "text-embedding-3-small"}, "input", "missing_required_parameter"),
        ({"model": "text-embedding-3-small", "input": []}, "input", "empty_array"),
        ({"model": "text-embedding-3-small", "input": ["ok", ""]}, "input[1]", "invalid_value"),
        ({"model": "text-embedding-3-small", "input": {"text": "x"}}, "input", "invalid_type"),
        ({"model": "text-embedding-3-small", "input": ["ok", None]}, "input[1]", "invalid_type"),
        (
            {"model": "text-embedding-3-small", "input": "x", "encoding_format": "int8"},
            "encoding_format",
            "invalid_value",
        ),
        ({"model": "gpt-4o-mini", "input": "x"}, "model", "model_not_supported"),
        ({"input": "x"}, "model", "missing_required_parameter"),
    ],
)
def test_bad_requests_get_a_clear_400(http, body, param, code):
    assert_error(http.post("/v1/embeddings", json=body), 400, code, param)


def test_capacity_error_is_a_429_the_sdk_recognises(client):
    with pytest.raises(openai.RateLimitError):
        client.embeddings.create(
            model="text-embedding-3-small", input=["error:3040: Capacity temporarily exceeded"]
        )
