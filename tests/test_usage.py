"""`flaregate usage` as a user runs it: the official SDK reads AI Gateway logs from the fake
Cloudflare API (each log shaped as the SDK's own LogListResponse), filtered by the key id the
Worker puts in the log metadata."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta

import pytest
from click.testing import CliRunner

from flaregate.cli import main
from tests.fake_cloudflare import (
    ACCOUNT,
    FakeCloudflare,
    account_res,
    full_token,
    make_token,
    policy,
    user_res,
)

GATEWAY = "flaregate"
NOW = datetime.now(UTC)
# Yesterday at noon: a day's requests that cannot straddle midnight, whenever the suite runs.
YESTERDAY_NOON = datetime.combine((NOW - timedelta(days=1)).date(), time(12), tzinfo=UTC)


def gateway_log(
    n: int,
    key_id: str | None,
    *,
    age: timedelta,
    model: str = "@cf/meta/llama-3.1-8b-instruct-fp8",
    tokens_in: int = 10,
    tokens_out: int = 5,
    success: bool = True,
    cost: float | None = None,
) -> dict:
    """One log as GET .../logs returns it (the fields of the SDK's LogListResponse)."""
    metadata = None
    if key_id is not None:
        metadata = json.dumps({"key_id": key_id, "request_id": f"req_{n}", "route": "/v1/chat"})
    log = {
        "id": f"01J{n:023d}",
        "cached": False,
        "created_at": (NOW - age).isoformat().replace("+00:00", "Z"),
        "duration": 420,
        "model": model,
        "path": "workers-ai/" + model,
        "provider": "workers-ai",
        "success": success,
        "tokens_in": tokens_in,
        "tokens_out": tokens_out,
        "metadata": metadata,
        "model_type": "text-generation",
        "request_content_type": "application/json",
        "response_content_type": "application/json",
        "status_code": 200 if success else 500,
    }
    if cost is not None:
        log["cost"] = cost
    return log


def sample_logs() -> list[dict]:
    logs = []
    # key "alpha": 60 requests over the last 3 days, two models; 3 failed; cost recorded.
    for i in range(60):
        model = "@cf/meta/llama-3.1-8b-instruct-fp8" if i % 2 else "@cf/baai/bge-base-en-v1.5"
        logs.append(
            gateway_log(
                i,
                "alpha",
                age=timedelta(hours=i),
                model=model,
                success=i % 20 != 0,
                cost=0.001,
            )
        )
    # key "beta": 5 requests yesterday, no cost recorded.
    logs += [
        gateway_log(100 + i, "beta", age=NOW - YESTERDAY_NOON + timedelta(minutes=i), tokens_in=100)
        for i in range(5)
    ]
    logs.append(gateway_log(200, None, age=timedelta(hours=2)))  # not the Worker's
    # Outside a 7-day window: never counted.
    logs += [gateway_log(300 + i, "alpha", age=timedelta(days=9 + i)) for i in range(4)]
    return logs


@pytest.fixture
def fake():
    with FakeCloudflare() as server:
        server.gateway_logs[(ACCOUNT, GATEWAY)] = sample_logs()
        yield server


@pytest.fixture
def env(fake, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    token = fake.add(full_token())
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", token.value)
    monkeypatch.setenv("CLOUDFLARE_BASE_URL", fake.base_url)
    monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", ACCOUNT)
    monkeypatch.setenv("FLAREGATE_GATEWAY_ID", GATEWAY)
    return token


def usage(*args: str) -> dict:
    result = CliRunner().invoke(main, ["usage", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_the_fake_logs_are_the_sdks_log_model():
    from cloudflare.types.ai_gateway import LogListResponse

    for log in sample_logs():
        parsed = LogListResponse.model_validate(log)
        assert parsed.created_at.tzinfo is not None


def test_usage_per_key_over_the_default_week(env, fake):
    report = usage()
    assert report["gateway_id"] == GATEWAY and report["by"] == "key"
    rows = {r["key_id"]: r for r in report["usage"]}
    assert rows["alpha"] == {
        "key_id": "alpha",
        "requests": 60,
        "input_tokens": 600,
        "output_tokens": 300,
        "errors": 3,
        "cost": pytest.approx(0.06),
    }
    assert rows["beta"] == {
        "key_id": "beta",
        "requests": 5,
        "input_tokens": 500,
        "output_tokens": 25,
        "errors": 0,
        "cost": None,
    }
    assert rows["(none)"]["requests"] == 1
    assert report["logs_read"] == 66
    # The logs came in pages (50 per page), newest first, and reading stopped at the window.
    pages = [r for r in fake.requests if r["path"].endswith("/logs")]
    assert len(pages) >= 2
    assert pages[0]["query"]["order_by"] == "created_at"
    assert pages[0]["query"]["order_by_direction"] == "desc"


def test_usage_for_one_key_by_day_and_by_model(env):
    by_day = usage("--key", "beta", "--by", "day")
    yesterday = YESTERDAY_NOON.date().isoformat()
    assert by_day["usage"] == [
        {
            "key_id": "beta",
            "day": yesterday,
            "requests": 5,
            "input_tokens": 500,
            "output_tokens": 25,
            "errors": 0,
            "cost": None,
        }
    ]
    by_model = usage("--key", "alpha", "--by", "model", "--since", "30d")
    models = {r["model"]: r["requests"] for r in by_model["usage"]}
    # 30 days reaches the 4 older requests too (all on the default model).
    assert models == {"@cf/meta/llama-3.1-8b-instruct-fp8": 34, "@cf/baai/bge-base-en-v1.5": 30}
    assert {r["key_id"] for r in by_model["usage"]} == {"alpha"}


def test_since_narrows_the_window(env):
    rows = {r["key_id"]: r for r in usage("--since", "12h")["usage"]}
    assert rows["alpha"]["requests"] == 12  # ages 0..11 h (12 h is just outside by now)
    assert "beta" not in rows


def test_table_output(env, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    result = CliRunner().invoke(main, ["usage"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "AI Gateway flaregate, last 7d, all keys" in text
    assert "alpha │ 60 │ 600 │ 300 │ 3 │ $0.0600" in text
    assert "beta │ 5 │ 500 │ 25 │ 0 │ —" in text


def test_a_key_with_no_requests_says_so(env):
    result = CliRunner().invoke(main, ["usage", "--key", "nobody"])
    assert result.exit_code == 0
    assert "no requests from key nobody among 66 log entries" in " ".join(result.output.split())


def test_token_without_ai_gateway_read_is_told_how_to_fix_it(env, fake, monkeypatch):
    token = fake.add(make_token([policy(["Workers KV Storage Write"], account_res())]))
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", token.value)
    result = CliRunner().invoke(main, ["usage"])
    assert result.exit_code == 1
    assert "flaregate check-token" in result.output and "Traceback" not in result.output
    assert token.value not in result.output


def test_ai_gateway_read_alone_is_enough(env, fake, monkeypatch):
    token = fake.add(make_token([policy(["AI Gateway Read"], account_res())]))
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", token.value)
    assert usage()["usage"]


def test_unknown_gateway_names_the_fix(env):
    result = CliRunner().invoke(main, ["usage", "--gateway-id", "nope"])
    assert result.exit_code == 1
    assert "no AI Gateway 'nope'" in result.output and "--gateway-id" in result.output


def test_nothing_deployed_and_no_gateway_id_says_why(env, monkeypatch):
    monkeypatch.delenv("FLAREGATE_GATEWAY_ID")
    result = CliRunner().invoke(main, ["usage"])
    assert result.exit_code == 1
    assert "no AI Gateway to read usage from" in result.output
    assert "--gateway-id" in result.output and "Traceback" not in result.output


def test_check_token_knows_the_usage_feature(env, fake, monkeypatch):
    token = fake.add(
        make_token(
            [
                policy(
                    ["Workers Scripts Write", "Workers KV Storage Write", "AI Gateway Read"],
                    account_res(),
                ),
                policy(["API Tokens Read"], user_res()),  # so Edit grants can be confirmed
            ]
        )
    )
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", token.value)
    result = CliRunner().invoke(main, ["check-token", "--feature", "usage", "--json"])
    report = json.loads(result.stdout)
    assert result.exit_code == 0, result.output
    states = {row["permission"]: row["state"] for row in report["permissions"]}
    assert states["AI Gateway Read"] == "granted"
