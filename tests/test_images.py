"""POST /v1/images/generations through the rendered Worker in workerd, with the official openai SDK.

The fake binding answers each image model in its documented output form: FLUX models {image:
base64}, Stable Diffusion byte streams of PNG, Phoenix JPEG bytes; FLUX.2 models refuse anything
but multipart input. `reject-echo` as the prompt makes it fail with what it was sent.
"""

from __future__ import annotations

import base64
import json

import openai
import pytest

from tests.sse_fixtures import fixture_json

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"


def sent_to_model(http, body: dict) -> dict:
    """What the Worker passed to env.AI.run, read back from the fake's reject-echo error."""
    r = http.post("/v1/images/generations", json={**body, "prompt": "reject-echo"})
    assert r.status_code == 400, r.text
    message = r.json()["error"]["message"]
    return json.loads(message[message.index("{") :])


def decoded(result) -> list[bytes]:
    return [base64.b64decode(item.b64_json) for item in result.data]


def test_flux_base64_output_with_the_dall_e_2_alias(client):
    result = client.images.generate(model="dall-e-2", prompt="a lighthouse at dawn")
    assert result.created > 1_700_000_000
    (image,) = decoded(result)
    assert image.startswith(JPEG_MAGIC)
    assert result.output_format == "jpeg"
    assert result.data[0].url is None


def test_recorded_flux_1_schnell_output_is_passed_through(client):
    recorded = fixture_json("flux-1-schnell")["output"]["image"]
    result = client.images.generate(
        model="@cf/black-forest-labs/flux-1-schnell", prompt="fixture:flux-1-schnell"
    )
    assert result.data[0].b64_json == recorded
    assert result.output_format == "png"


def test_flux_1_schnell_gets_prompt_and_steps_and_no_size(http):
    call = sent_to_model(http, {"model": "dall-e-2", "size": "512x512"})
    assert call["model"] == "@cf/black-forest-labs/flux-1-schnell"
    assert call["inputs"] == {"prompt": "reject-echo", "steps": 4}


def test_stable_diffusion_byte_stream_becomes_b64_json(client):
    result = client.images.generate(
        model="@cf/bytedance/stable-diffusion-xl-lightning",
        prompt="fixture:sdxl-lightning-png-stream",
    )
    recorded = base64.b64decode(
        fixture_json("sdxl-lightning-png-stream")["output"]["$bytes_base64"]
    )
    assert decoded(result) == [recorded]
    assert result.output_format == "png"


def test_stable_diffusion_gets_num_steps_and_width_height(http):
    call = sent_to_model(
        http, {"model": "@cf/stabilityai/stable-diffusion-xl-base-1.0", "size": "768x1024"}
    )
    assert call["inputs"] == {
        "prompt": "reject-echo",
        "num_steps": 20,
        "width": 768,
        "height": 1024,
    }


def test_phoenix_jpeg_bytes(client):
    result = client.images.generate(
        model="@cf/leonardo/phoenix-1.0", prompt="fixture:phoenix-jpeg-bytes"
    )
    (image,) = decoded(result)
    assert image.startswith(JPEG_MAGIC)
    assert result.output_format == "jpeg"


def test_flux_2_models_get_multipart_form_data(http):
    # dall-e-3 -> FLUX.2 klein: steps are fixed by the model, so none are sent.
    klein = sent_to_model(http, {"model": "dall-e-3", "size": "1024x768"})
    assert klein["model"] == "@cf/black-forest-labs/flux-2-klein-4b"
    assert klein["inputs"] == {
        "multipart": {"prompt": "reject-echo", "width": "1024", "height": "768"}
    }
    dev = sent_to_model(http, {"model": "gpt-image-1", "quality": "high"})
    assert dev["model"] == "@cf/black-forest-labs/flux-2-dev"
    assert dev["inputs"] == {"multipart": {"prompt": "reject-echo", "steps": "50"}}


def test_flux_2_generates_through_the_sdk(client):
    result = client.images.generate(model="gpt-image-1", prompt="a red fox", size="1024x1024")
    assert decoded(result)[0].startswith(JPEG_MAGIC)
    assert result.size == "1024x1024"


@pytest.mark.parametrize("form", ["base64", "stream", "bytes", "buffer"])
def test_every_output_form_the_binding_returns(client, form):
    result = client.images.generate(model="dall-e-2", prompt=f"image:{form}")
    (image,) = decoded(result)
    assert image.startswith(PNG_MAGIC if form != "base64" else JPEG_MAGIC)


@pytest.mark.parametrize("form", ["empty", "not-image"])
def test_a_failed_generation_is_an_error_not_a_placeholder(http, form):
    r = http.post("/v1/images/generations", json={"model": "dall-e-2", "prompt": f"image:{form}"})
    assert r.status_code == 502, r.text
    error = r.json()["error"]
    assert error["code"] == "image_generation_failed"
    assert "data" not in r.json()
    if form == "not-image":
        assert "NSFW content detected" in error["message"]


def test_n_runs_the_model_n_times(client, worker, http):
    result = client.images.generate(model="dall-e-2", prompt="three cats", n=3)
    assert len(result.data) == 3
    r = http.post("/v1/images/generations", json={"model": "dall-e-2", "prompt": "x", "n": 2})
    lines = worker.log_lines(r.headers["x-request-id"])
    assert lines and lines[0]["images"] == 2


@pytest.mark.parametrize(
    "body, param, code",
    [
        ({"prompt": "x", "n": 5}, "n", "invalid_value"),
        ({"prompt": "x", "n": 0}, "n", "invalid_value"),
        ({"prompt": "x", "response_format": "url"}, "response_format", "unsupported_value"),
        ({"prompt": "x", "response_format": "png"}, "response_format", "invalid_value"),
        ({"prompt": "x", "size": "big"}, "size", "invalid_value"),
        ({"prompt": "x", "size": "1024"}, "size", "invalid_value"),
        ({"prompt": "x", "stream": True}, "stream", "unsupported_value"),
        ({}, "prompt", "missing_required_parameter"),
        ({"prompt": "   "}, "prompt", "invalid_value"),
        ({"prompt": "x", "model": "gpt-4o"}, "model", "model_not_supported"),
        (
            {
                "prompt": "x",
                "model": "@cf/bytedance/stable-diffusion-xl-lightning",
                "size": "4096x4096",
            },
            "size",
            "invalid_value",
        ),
    ],
)
def test_bad_requests_get_a_clear_400(http, body, param, code):
    r = http.post("/v1/images/generations", json={"model": "dall-e-2", **body})
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert (error["param"], error["code"]) == (param, code)


def test_url_response_format_explains_itself_to_the_sdk(client):
    with pytest.raises(openai.BadRequestError) as err:
        client.images.generate(model="dall-e-3", prompt="x", response_format="url")
    assert "b64_json" in err.value.body["message"]


def test_model_defaults_to_dall_e_2_like_openai(http):
    r = http.post("/v1/images/generations", json={"prompt": "no model given"})
    assert r.status_code == 200
    assert base64.b64decode(r.json()["data"][0]["b64_json"]).startswith(JPEG_MAGIC)


def test_capacity_error_is_a_429(client):
    with pytest.raises(openai.RateLimitError):
        client.images.generate(model="dall-e-2", prompt="error:3040: Capacity temporarily exceeded")
