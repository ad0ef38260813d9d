"""`flaregate doctor` against the rendered Worker in workerd, whose Workers AI binding
(tests/doctor_fake_ai.js) breaks some models: one throws "out of capacity", one hangs, one never
calls a tool, one embedding model fails. The report must say so model by model, keep going, and
exit 0 only when the core checks pass.

A second workerd (module scope): the doctor needs another AI binding and the Worker's default
deadlines, so that the doctor's own per-request deadline is what ends a hanging model.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from flaregate import doctor
from flaregate.catalog import load_catalog
from flaregate.cli import main
from flaregate.config import WorkerConfig
from flaregate.render import write_bundle
from tests.worker_harness import start_worker

FAKE_AI = Path(__file__).with_name("doctor_fake_ai.js")
ERROR_MODEL = "@cf/qwen/qwq-32b"
HANGING_MODEL = "@cf/aisingapore/gemma-sea-lion-v4-27b-it"
NO_TOOLS_MODEL = "@cf/meta/llama-3.2-3b-instruct"
BROKEN_EMBEDDINGS = "@cf/baai/bge-m3"
STREAM_DIES = "@cf/meta/llama-3.1-8b-instruct-fast"
BAD_TOOL_ARGS = "@cf/ibm-granite/granite-4.0-h-micro"
PROSE_NOT_JSON = "@cf/qwen/qwen2.5-coder-32b-instruct"
BROKEN_CHAT = {
    ERROR_MODEL,
    HANGING_MODEL,
    NO_TOOLS_MODEL,
    STREAM_DIES,
    BAD_TOOL_ARGS,
    PROSE_NOT_JSON,
}
DEFAULT_ID = load_catalog()["aliases"]["gpt-4o-mini"]  # the default model, by its id
TIMEOUT = "2"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    out = tmp_path_factory.mktemp("doctor-dist")
    write_bundle(WorkerConfig(), out)
    running = start_worker(
        out / "worker.js", tmp_path_factory.mktemp("doctor-runner"), ai_module=FAKE_AI
    )
    running.key = running.add_key(name="doctor")
    yield running
    running.stop()


def run(gateway, *args, key: str | None = None):
    env = {"FLAREGATE_API_KEY": key or gateway.key, "COLUMNS": "200"}  # rich: 80 without a tty
    return CliRunner().invoke(
        main, ["doctor", "--url", gateway.url, "--timeout", TIMEOUT, *args], env=env
    )


@pytest.fixture(scope="module")
def full_report(gateway):
    result = run(gateway, "--json")
    return result, json.loads(result.stdout)


def by_model(report: dict) -> dict[str | None, dict[str, dict]]:
    found: dict[str | None, dict[str, dict]] = {}
    for r in report["results"]:
        found.setdefault(r["model"], {})[r["check"]] = r
    return found


def test_json_has_the_documented_shape(full_report):
    result, report = full_report
    assert set(report) == {"url", "ok", "results"}
    for r in report["results"]:
        assert {"model", "check", "ok", "error", "latency_ms"} <= set(r)
        assert isinstance(r["ok"], bool)
        assert (r["error"] is None) == r["ok"]


def test_every_catalog_model_is_checked_and_healthy_ones_pass(full_report):
    _, report = full_report
    models = by_model(report)
    served = [m for m in load_catalog()["models"] if not m.get("deprecated")]  # /v1/models
    chat = {m["id"] for m in served if m["type"] == "chat"}
    embeddings = {m["id"] for m in served if m["type"] == "embeddings"}
    assert chat | embeddings == set(models) - {None}
    for model in chat - BROKEN_CHAT:
        assert set(models[model]) == {"chat", "stream", "tool call", "json mode"}
        assert all(r["ok"] for r in models[model].values()), models[model]
        assert models[model]["stream"]["first_token_ms"] is not None
    for model in embeddings - {BROKEN_EMBEDDINGS}:
        assert models[model]["embeddings"]["ok"]
    assert not any(m for m in models if m and "flux" in m)  # images only with --images


def test_health_and_auth_pass_and_are_core(full_report):
    _, report = full_report
    deployment = by_model(report)[None]
    assert set(deployment) == {"health", "no key gets 401", "wrong key gets 401", "key accepted"}
    assert all(r["ok"] and r["core"] for r in deployment.values())


def test_a_model_out_of_capacity_fails_with_the_openai_error(full_report):
    checks = by_model(full_report[1])[ERROR_MODEL]
    assert not checks["chat"]["ok"] and checks["chat"]["status"] == "failed"
    assert "Capacity temporarily exceeded" in checks["chat"]["error"]
    assert checks["chat"]["error"].startswith("HTTP ")


def test_a_hanging_model_times_out_and_is_not_asked_again(full_report):
    checks = by_model(full_report[1])[HANGING_MODEL]
    assert checks["chat"]["status"] == "timed out" and not checks["chat"]["ok"]
    assert f"within {TIMEOUT} s" in checks["chat"]["error"]
    for name in ("stream", "tool call", "json mode"):
        assert checks[name]["status"] == "not run" and "timed out on chat" in checks[name]["error"]


def test_a_model_that_never_calls_the_tool_fails_only_that_check(full_report):
    checks = by_model(full_report[1])[NO_TOOLS_MODEL]
    assert checks["tool call"]["status"] == "failed"
    assert "no tool call" in checks["tool call"]["error"]
    assert "weather" in checks["tool call"]["error"]  # what it said instead
    assert all(checks[c]["ok"] for c in ("chat", "stream", "json mode"))


@pytest.mark.parametrize(
    "model, check, says",
    [
        (STREAM_DIES, "stream", "error in the stream: upstream_error"),
        (BAD_TOOL_ARGS, "tool call", "lack the required 'city'"),
        (PROSE_NOT_JSON, "json mode", "not JSON"),
    ],
)
def test_each_way_a_model_breaks_fails_exactly_that_check(full_report, model, check, says):
    checks = by_model(full_report[1])[model]
    assert checks[check]["status"] == "failed" and says in checks[check]["error"], checks[check]
    assert all(r["ok"] for name, r in checks.items() if name != check), checks


def test_a_failing_embedding_model_is_reported(full_report):
    checks = by_model(full_report[1])[BROKEN_EMBEDDINGS]
    assert not checks["embeddings"]["ok"] and "Capacity" in checks["embeddings"]["error"]


def test_exit_code_follows_the_core_checks_only(full_report, gateway):
    result, report = full_report
    assert report["ok"] is True and result.exit_code == 0  # broken models are not core
    core = [r for r in report["results"] if r["core"]]
    assert {r["model"] for r in core} == {None, DEFAULT_ID}
    broken_default = run(gateway, "--json", "--default-model", ERROR_MODEL, "--models", DEFAULT_ID)
    assert broken_default.exit_code == 1
    assert json.loads(broken_default.stdout)["ok"] is False


def test_the_default_model_asked_for_by_alias_is_core(gateway):
    result = run(gateway, "--json", "--models", "gpt-4.1-nano", "--default-model", "gpt-4.1-nano")
    core = {r["model"] for r in json.loads(result.stdout)["results"] if r["core"]}
    assert core == {None, "gpt-4.1-nano"} and result.exit_code == 0


def test_a_wrong_key_fails_the_auth_core_check(gateway):
    result = run(gateway, "--json", "--models", DEFAULT_ID, key="sk-fg-not-a-key-of-this-gateway")
    assert result.exit_code == 1
    key = by_model(json.loads(result.stdout))[None]["key accepted"]
    assert not key["ok"] and "401" in key["error"] and "invalid_api_key" in key["error"]


def test_the_table_says_what_broke_model_by_model(gateway):
    models = ",".join([DEFAULT_ID, ERROR_MODEL, HANGING_MODEL, NO_TOOLS_MODEL])
    result = run(gateway, "--models", models)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "about 20 requests" in result.stderr  # the note, before any model is asked
    rows = [line for line in out.splitlines() if "│" in line]
    assert any(ERROR_MODEL in row and "failed" in row for row in rows)
    assert any(HANGING_MODEL in row and "timed out" in row for row in rows)
    assert any(NO_TOOLS_MODEL in row and "tool call" in row and "failed" in row for row in rows)
    assert "core checks pass" in out


def test_no_key_is_a_clear_error(gateway):
    result = CliRunner().invoke(
        main, ["doctor", "--url", gateway.url], env={"FLAREGATE_API_KEY": ""}
    )
    assert result.exit_code == 1 and "FLAREGATE_API_KEY" in result.output
    assert "Traceback" not in result.output


def test_without_url_or_deployment_it_says_to_deploy(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no Pulumi CLI: nothing deployed from here
    monkeypatch.setenv("FLAREGATE_HOME", str(tmp_path / "fg"))
    result = CliRunner().invoke(main, ["doctor"], env={"FLAREGATE_API_KEY": "sk-fg-x"})
    assert result.exit_code == 1 and "flaregate deploy" in result.output


def test_at_most_four_requests_are_in_flight():
    """Against a stand-in OpenAI server that counts concurrent requests."""
    state = {"now": 0, "max": 0}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _answer(self, body: dict, status: int = 200):
            with lock:
                state["now"] += 1
                state["max"] = max(state["max"], state["now"])
            time.sleep(0.05)
            with lock:
                state["now"] -= 1
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path == "/health":
                return self._answer({"status": "ok"})
            if self.headers.get("authorization") != "Bearer k":
                return self._answer({"error": {"message": "no", "code": "invalid_api_key"}}, 401)
            models = [{"id": f"m{i}", "type": "chat", "tools": True} for i in range(10)]
            return self._answer({"object": "list", "data": models})

        def do_POST(self):
            self.rfile.read(int(self.headers["content-length"]))
            self._answer({"choices": [{"message": {"content": "x"}}]})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        report = doctor.run_doctor(url, "k", timeout=5, models=[f"m{i}" for i in range(10)])
    finally:
        server.shutdown()
    assert len(report.results) == 4 + 11 * 4  # basics; 10 models and the default one, 4 checks each
    assert 2 <= state["max"] <= doctor.MAX_IN_FLIGHT
