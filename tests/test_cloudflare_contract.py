"""The fake Cloudflare API (tests/fake_cloudflare.py) cannot drift from the `cloudflare` SDK.

- Every route of the fake names the SDK resource method that reaches it; its answers are
  validated against that method's response model on every request of every test (the fake fails
  the test when it stops). Here: each route has a method, a model, and is the route that method's
  request lands on.
- flaregate reaches Cloudflare only through SDK resource methods: the permission probes send
  exactly the documented request through theirs, and no raw request exists in the code beyond
  the ones listed (with the reason) in flaregate.cloudflare_api.RAW_API_CALLS.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import cloudflare
import pytest

from flaregate.cloudflare_api import RAW_API_CALLS
from flaregate.permissions import PERMISSIONS
from tests.fake_cloudflare import (
    ACCOUNT,
    NAMESPACE,
    ROUTES,
    ZONE,
    FakeCloudflare,
    answer_violation,
    full_token,
    response_model,
)

SAMPLE_ARGS = {
    "account_id": ACCOUNT,
    "zone_id": ZONE,
    "namespace_id": NAMESPACE,
    "token_id": "0123456789abcdef0123456789abcdef",
    "key_name": "key:abc",
    "value": b"v",
    "model": "@cf/meta/llama-3.1-8b-instruct",
    "gateway_id": "flaregate",
}


@pytest.fixture
def fake():
    with FakeCloudflare() as server:
        yield server


def sdk_method(client, dotted: str):
    method = client
    for part in dotted.split("."):
        method = getattr(method, part)
    return method


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.methods[0]} {r.sdk}")
def test_every_route_is_the_one_its_sdk_method_reaches_and_has_a_model(fake, route):
    token = fake.add(full_token())
    client = fake.client(token)
    method = sdk_method(client, route.sdk)  # AttributeError: a route naming no SDK method
    if route.sdk != "kv.namespaces.values.get":  # raw bytes, the only answer without a model
        assert response_model(route.sdk) is not None
    needed = {
        name: SAMPLE_ARGS[name]
        for name, p in inspect.signature(method).parameters.items()
        if p.default is inspect.Parameter.empty or name in ("account_id", "zone_id")
    }
    try:
        method(**needed)
    except cloudflare.APIStatusError:
        pass  # a 404 for a sample id still shows where the request went
    sent = fake.requests[-1]
    assert sent["method"] in route.methods
    matching = [
        r for r in ROUTES if sent["method"] in r.methods and re.fullmatch(r.pattern, sent["path"])
    ]
    assert matching and matching[0] is route, f"{route.sdk} sent {sent['path']}"
    assert fake.unrouted == []


def test_an_answer_that_does_not_fit_the_sdk_model_is_caught():
    assert (
        answer_violation("user.tokens.verify", b'{"result": {"id": "a", "status": "active"}}')
        is None
    )
    wrong = answer_violation("user.tokens.verify", b'{"result": {"id": 5, "status": "on"}}')
    assert "result.id" in wrong and "result.status" in wrong
    missing = answer_violation("zones.get", b'{"result": {"id": "z", "name": "example.com"}}')
    assert "result.created_on" in missing and "Field required" in missing
    page = answer_violation("kv.namespaces.list", b'{"result": [{"id": "n"}]}')
    assert "result.0.title" in page


def test_a_fake_that_answers_outside_the_model_fails_when_it_stops():
    fake = FakeCloudflare().start()
    token = fake.add(full_token())
    fake.subdomains[ACCOUNT] = 42  # not the string the SDK's SubdomainGetResponse declares
    fake.client(token).workers.subdomains.get(account_id=ACCOUNT)
    with pytest.raises(AssertionError, match="workers.subdomains.get"):
        fake.stop()


@pytest.mark.parametrize("permission", PERMISSIONS, ids=lambda p: p.api_name)
def test_each_probe_sends_its_documented_request_through_its_sdk_method(fake, permission):
    token = fake.add(full_token())
    try:
        permission.probe.call(fake.client(token), ACCOUNT, ZONE)
    except cloudflare.PermissionDeniedError:
        pass  # a refusal still shows what was sent
    path, params = permission.probe.render(ACCOUNT, ZONE)
    (sent,) = fake.requests
    assert (sent["method"], sent["path"]) == (permission.probe.method, path)
    assert sent["query"] == params


def test_code_sends_no_raw_request_beyond_the_listed_ones():
    """A raw request is `client.get/post/...(path, cast_to=...)`: the SDK's escape hatch."""
    source = Path(__file__).resolve().parent.parent / "flaregate"
    raw = []
    for path in source.rglob("*.py"):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.lstrip().startswith("#") and re.search(
                r"\bcast_to\s*=|\.get_api_list\(", line
            ):
                raw.append(f"{path.name}:{number}")
    assert len(raw) == len(RAW_API_CALLS), (raw, RAW_API_CALLS)
