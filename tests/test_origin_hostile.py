"""A hostile or careless origin never gets the shared secret to another host or to a client.

The origin (tests/origin_server.py) redirects to a second server the test controls, or echoes
every request header back in its answers (200, streamed, 4xx, 5xx). The second server must
never be contacted, and no response or log line may contain the secret.
"""

from __future__ import annotations

import json
import subprocess

import httpx
import pytest

from tests.esm_sources import copy_worker_sources
from tests.origin_server import ORIGIN_SECRET, OriginServer


@pytest.fixture(scope="module")
def elsewhere(origin_server):
    """Another host (127.0.0.2) that the origin redirects to; it records whatever reaches it."""
    server = OriginServer(host="127.0.0.2").start()
    origin_server.redirect_to = server.url
    yield server
    server.stop()


def post(worker, api_key, model: str, stream: bool = False) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    return httpx.post(
        f"{worker.base_url}/chat/completions",
        json=body,
        headers={"authorization": f"Bearer {api_key}"},
        timeout=20,
    )


def assert_secret_not_in_logs(worker, response: httpx.Response):
    lines = worker.log_lines(response.headers["x-request-id"])
    assert lines, "the request wrote no log line"
    assert ORIGIN_SECRET not in "\n".join(worker.stdout_lines)
    assert ORIGIN_SECRET not in worker.stderr_path.read_text()


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("stream", [False, True])
def test_a_redirect_is_never_followed_and_becomes_a_502(worker, api_key, elsewhere, status, stream):
    r = post(worker, api_key, f"origin/redirect-{status}", stream)
    assert r.status_code == 502, r.text
    assert r.json()["error"]["code"] == "origin_redirect"
    assert elsewhere.requests == []
    assert ORIGIN_SECRET not in r.text
    assert_secret_not_in_logs(worker, r)


@pytest.mark.parametrize("status", [400, 429, 500])
def test_an_error_body_that_echoes_the_secret_is_scrubbed(worker, api_key, status):
    r = post(worker, api_key, f"origin/headers-{status}")
    assert r.status_code == {400: 400, 429: 429, 500: 502}[status], r.text
    assert ORIGIN_SECRET not in r.text
    if status == 500:
        # A server error's detail is the gateway's business, not the client's.
        assert "upstream said" not in r.text and "x-flaregate" not in r.text.lower()
    else:
        assert "[redacted]" in r.json()["error"]["message"]
    assert_secret_not_in_logs(worker, r)


@pytest.mark.parametrize("stream", [False, True])
def test_an_answer_that_echoes_the_secret_reaches_the_client_without_it(worker, api_key, stream):
    r = post(worker, api_key, "origin/headers-200", stream)
    assert r.status_code == 200, r.text
    assert ORIGIN_SECRET not in r.text
    assert "[redacted]" in r.text and "x-request-id" in r.text.lower()
    assert_secret_not_in_logs(worker, r)


def test_an_empty_origin_model_list_is_not_printed_as_an_empty_list(tmp_path):
    """With originModels empty, any origin/<name> is passed on; only a bare 'origin/' is a 404."""
    src = copy_worker_sources(tmp_path)
    (src / "empty.mjs").write_text(
        'import { routeToOrigin } from "./origin.js";\n'
        "const ctx = { env: { ORIGIN_URL: 'http://127.0.0.1:9', ORIGIN_SECRET: 's' },"
        " settings: { origin: { models: [] } }, log: {} };\n"
        "try { await routeToOrigin(ctx, { model: 'origin/' }); console.log('{}'); }"
        " catch (err) { console.log(JSON.stringify({ status: err.status, message: err.message })); }\n"
    )
    out = subprocess.run(
        ["node", str(src / "empty.mjs")], capture_output=True, text=True, check=True
    )
    answer = json.loads(out.stdout)
    assert answer["status"] == 404
    assert "Origin models" not in answer["message"]
