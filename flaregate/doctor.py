"""`flaregate doctor`: what actually works on a live deployment, model by model.

It talks to the Worker the way any OpenAI client does (HTTP, the API key as a Bearer token) and
checks: ``/health``; that a request without a key and one with a wrong key get 401 and that the
key is accepted; then for each chat model of the deployment's own ``/v1/models`` (or the ones
asked for) a non-streamed answer, a streamed answer (time to first token), a tool call (the model
calls the given function with valid JSON arguments) and JSON mode; embeddings for each embedding
model; images only when asked (they cost more).

Small prompts, low ``max_tokens``, at most :data:`MAX_IN_FLIGHT` requests at a time. A model's
checks run one after the other, so a model that times out or is not served is not asked again:
its remaining checks are reported as not run, and a deployment with several hanging models still
finishes in a bounded time. Every request has its own deadline (``timeout``); one that passes it
is reported "timed out".

Core checks (health, auth, every check of the default chat model) decide the exit code.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

DEFAULT_MODEL = "gpt-4o-mini"
"""The model the README and docs point clients at: its checks are core."""
MAX_IN_FLIGHT = 4
DEFAULT_TIMEOUT = 30.0
WRONG_KEY = "sk-fg-doctor-this-key-does-not-exist"
MAX_TOKENS = 32
REASONING_MAX_TOKENS = 256
"""Reasoning models think before they answer; too few tokens and the answer never comes."""

Status = Literal["ok", "failed", "timed out", "not run"]

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "City name"}},
            "required": ["city"],
        },
    },
}


@dataclass
class Result:
    model: str | None
    """The model checked; None for the deployment-wide checks (health, auth)."""
    check: str
    status: Status
    error: str | None = None
    latency_ms: int | None = None
    first_token_ms: int | None = None
    core: bool = False

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def as_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "check": self.check,
            "ok": self.ok,
            "error": self.error,
            "latency_ms": self.latency_ms,
            "first_token_ms": self.first_token_ms,
            "status": self.status,
            "core": self.core,
        }


@dataclass
class Report:
    url: str
    results: list[Result] = field(default_factory=list)
    default_model: str | None = None
    """The catalog id the default model name resolved to."""

    @property
    def ok(self) -> bool:
        """Every core check passed (health, auth, the default chat model)."""
        core = [r for r in self.results if r.core]
        return bool(core) and all(r.ok for r in core)

    def as_json(self) -> dict[str, Any]:
        return {"url": self.url, "ok": self.ok, "results": [r.as_json() for r in self.results]}


class CheckFailed(Exception):
    """One check did not pass; the message says what was seen."""


class CheckTimedOut(Exception):
    pass


@dataclass(frozen=True)
class Target:
    """One model to check and what the deployment says it can do."""

    name: str
    type: str
    tools: bool = True
    reasoning: bool = False

    @property
    def checks(self) -> tuple[str, ...]:
        if self.type == "embeddings":
            return ("embeddings",)
        if self.type == "image":
            return ("image",)
        return ("chat", "stream") + (("tool call",) if self.tools else ()) + ("json mode",)


# --- HTTP ------------------------------------------------------------------------------------


@dataclass
class Client:
    """A small OpenAI-style HTTP client with a deadline per request (standard library only)."""

    url: str
    key: str | None
    timeout: float

    def request(
        self, method: str, path: str, body: Any = None, *, key: str | None = "default"
    ) -> tuple[int, Any]:
        """(status, parsed JSON body); HTTP errors are returned, not raised."""
        with self._open(method, path, body, key) as response:
            return response.getcode(), json.loads(response.read() or b"null")

    def stream(self, path: str, body: Any, on_event: Callable[[dict], None]) -> None:
        """POST with stream: true; calls ``on_event`` per SSE data object, until [DONE]."""
        deadline = time.monotonic() + self.timeout
        with self._open("POST", path, body, "default") as response:
            if response.getcode() != 200:
                raise CheckFailed(_error_text(response.getcode(), response.read()))
            done = False
            for raw in response:
                if time.monotonic() > deadline:
                    raise CheckTimedOut()
                line = raw.decode("utf-8", "replace").strip()
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    done = True
                    break
                event = json.loads(data)
                if "error" in event:
                    raise CheckFailed("error in the stream: " + _envelope_text(None, event))
                on_event(event)
            if not done:
                raise CheckFailed("the stream ended without [DONE]")

    def _open(self, method: str, path: str, body: Any, key: str | None):
        headers = {"content-type": "application/json", "user-agent": "flaregate-doctor"}
        key = self.key if key == "default" else key
        if key:
            headers["authorization"] = f"Bearer {key}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url.rstrip("/") + path, data=data, method=method, headers=headers
        )
        try:
            return urllib.request.urlopen(request, timeout=self.timeout)
        except urllib.error.HTTPError as err:
            return err  # an HTTPError is also a response: status, read(), iteration
        except TimeoutError:
            raise CheckTimedOut() from None
        except urllib.error.URLError as err:
            if isinstance(err.reason, TimeoutError):
                raise CheckTimedOut() from None
            raise CheckFailed(f"cannot reach {self.url}: {err.reason}") from None


def _error_text(status: int, body: bytes) -> str:
    try:
        return _envelope_text(status, json.loads(body))
    except ValueError:
        return f"HTTP {status}: {body[:200].decode('utf-8', 'replace')}"


def _envelope_text(status: int | None, payload: Any) -> str:
    """OpenAI's error envelope as "HTTP 429 rate_limit_exceeded: message"."""
    error = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(error, dict):
        return f"HTTP {status}: {json.dumps(payload)[:200]}"
    code = error.get("code") or error.get("type") or "error"
    prefix = f"HTTP {status} " if status else ""
    return f"{prefix}{code}: {error.get('message', '')}".strip()


# --- the checks ------------------------------------------------------------------------------


def _expect_ok(status: int, body: Any) -> Any:
    if status != 200:
        raise CheckFailed(_envelope_text(status, body))
    return body


def check_health(client: Client) -> int | None:
    status, body = client.request("GET", "/health", key=None)
    if status != 200 or not isinstance(body, dict) or body.get("status") != "ok":
        raise CheckFailed(f"HTTP {status}: {json.dumps(body)[:200]}")
    return None


def _expect_401(client: Client, key: str | None) -> int | None:
    status, body = client.request("GET", "/v1/models", key=key)
    if status != 401:
        raise CheckFailed(f"expected 401, got HTTP {status}: anyone can use this deployment")
    return None


def check_chat(client: Client, target: Target) -> int | None:
    body = _expect_ok(
        *client.request(
            "POST",
            "/v1/chat/completions",
            {
                "model": target.name,
                "messages": [{"role": "user", "content": "Reply with the single word: pong"}],
                "max_tokens": _max_tokens(target),
            },
        )
    )
    message = _first_choice(body).get("message") or {}
    if not (message.get("content") or message.get("reasoning_content")):
        raise CheckFailed("the answer is empty")
    return None


def check_stream(client: Client, target: Target) -> int | None:
    started = time.monotonic()
    first: list[float] = []

    def on_event(event: dict) -> None:
        for choice in event.get("choices") or []:
            delta = choice.get("delta") or {}
            if not first and (delta.get("content") or delta.get("reasoning_content")):
                first.append(time.monotonic())

    client.stream(
        "/v1/chat/completions",
        {
            "model": target.name,
            "messages": [{"role": "user", "content": "Count from 1 to 5."}],
            "max_tokens": _max_tokens(target),
            "stream": True,
        },
        on_event,
    )
    if not first:
        raise CheckFailed("the stream carried no tokens")
    return round((first[0] - started) * 1000)


def check_tool_call(client: Client, target: Target) -> int | None:
    body = _expect_ok(
        *client.request(
            "POST",
            "/v1/chat/completions",
            {
                "model": target.name,
                "messages": [
                    {"role": "user", "content": "What is the weather in Paris? Use the tool."}
                ],
                "tools": [WEATHER_TOOL],
                "max_tokens": max(_max_tokens(target), 128),
            },
        )
    )
    message = _first_choice(body).get("message") or {}
    calls = message.get("tool_calls") or []
    if not calls:
        said = (message.get("content") or "").strip().replace("\n", " ")
        raise CheckFailed(f"no tool call; the model answered: {said[:120]!r}")
    function = calls[0].get("function") or {}
    if function.get("name") != "get_weather":
        raise CheckFailed(f"called {function.get('name')!r} instead of 'get_weather'")
    try:
        arguments = json.loads(function.get("arguments") or "")
    except ValueError:
        raise CheckFailed(f"arguments are not JSON: {function.get('arguments')!r}") from None
    if not isinstance(arguments, dict) or not isinstance(arguments.get("city"), str):
        raise CheckFailed(f"arguments lack the required 'city': {json.dumps(arguments)}")
    return None


def check_json_mode(client: Client, target: Target) -> int | None:
    body = _expect_ok(
        *client.request(
            "POST",
            "/v1/chat/completions",
            {
                "model": target.name,
                "messages": [
                    {
                        "role": "user",
                        "content": 'Return the JSON object {"ok": true} and nothing else.',
                    }
                ],
                "response_format": {"type": "json_object"},
                "max_tokens": max(_max_tokens(target), 64),
            },
        )
    )
    content = ((_first_choice(body).get("message") or {}).get("content") or "").strip()
    try:
        parsed = json.loads(content)
    except ValueError:
        raise CheckFailed(f"not JSON: {content[:120]!r}") from None
    if not isinstance(parsed, dict):
        raise CheckFailed(f"JSON, but not an object: {content[:120]!r}")
    return None


def check_embeddings(client: Client, target: Target) -> int | None:
    body = _expect_ok(
        *client.request(
            "POST", "/v1/embeddings", {"model": target.name, "input": "flaregate doctor"}
        )
    )
    data = body.get("data") if isinstance(body, dict) else None
    vector = data[0].get("embedding") if data else None
    if not isinstance(vector, list) or not vector:
        raise CheckFailed("no embedding in the answer")
    return None


def check_image(client: Client, target: Target) -> int | None:
    body = _expect_ok(
        *client.request(
            "POST",
            "/v1/images/generations",
            {"model": target.name, "prompt": "a small red square", "n": 1},
        )
    )
    data = body.get("data") if isinstance(body, dict) else None
    if not data or not data[0].get("b64_json"):
        raise CheckFailed("no image in the answer")
    return None


MODEL_CHECKS: dict[str, Callable[[Client, Target], int | None]] = {
    "chat": check_chat,
    "stream": check_stream,
    "tool call": check_tool_call,
    "json mode": check_json_mode,
    "embeddings": check_embeddings,
    "image": check_image,
}


def _first_choice(body: Any) -> dict:
    choices = body.get("choices") if isinstance(body, dict) else None
    if not choices:
        raise CheckFailed("the answer has no choices")
    return choices[0]


def _max_tokens(target: Target) -> int:
    return REASONING_MAX_TOKENS if target.reasoning else MAX_TOKENS


def timed(model: str | None, check: str, run: Callable[[], int | None], timeout: float) -> Result:
    started = time.monotonic()
    try:
        first_token = run()
    except (CheckTimedOut, TimeoutError):  # TimeoutError: a read that waited too long
        return Result(model, check, "timed out", f"no answer within {timeout:g} s", None)
    except CheckFailed as err:
        status: Status = "failed"
        return Result(model, check, status, str(err), _ms(started))
    except Exception as err:  # an answer of a shape nobody expected: report it, keep going
        return Result(
            model,
            check,
            "failed",
            f"unexpected answer ({err.__class__.__name__}: {err})",
            _ms(started),
        )
    return Result(model, check, "ok", None, _ms(started), first_token)


def _ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


# --- planning and running --------------------------------------------------------------------


def targets_from_catalog(
    listing: Any, wanted: Iterable[str] | None, images: bool, default_model: str
) -> tuple[list[Target], str]:
    """The models to check, from the deployment's /v1/models; and the default model's id."""
    entries = {e["id"]: e for e in (listing or {}).get("data", []) if isinstance(e, dict)}
    default_entry = entries.get(default_model, {})
    default_id = default_entry.get("alias_for") or default_model
    if wanted:
        names = list(dict.fromkeys(wanted))
    else:
        names = [
            name
            for name, e in entries.items()
            if not e.get("alias_for")
            and (e.get("type") in ("chat", "embeddings") or (images and e.get("type") == "image"))
        ]
    if default_id not in names and default_model not in names:
        names.insert(0, default_id)
    targets = []
    for name in names:
        entry = entries.get(name, {})
        targets.append(
            Target(
                name=name,
                type=entry.get("type", "chat"),
                tools=entry.get("tools", True) is not False,
                reasoning=bool(entry.get("reasoning")),
            )
        )
    return targets, default_id


def request_count(targets: list[Target]) -> int:
    return sum(len(t.checks) for t in targets)


def run_model(client: Client, target: Target, core: bool, tick: Callable[[], None]) -> list[Result]:
    """One model's checks in order; after a timeout or a refusal of the model itself, the rest
    are not sent."""
    results: list[Result] = []
    stop: str | None = None
    for check in target.checks:
        if stop:
            results.append(Result(target.name, check, "not run", stop, core=core))
        else:
            result = timed(
                target.name, check, lambda c=check: MODEL_CHECKS[c](client, target), client.timeout
            )
            result.core = core
            results.append(result)
            if result.status == "timed out":
                stop = f"not sent: the model timed out on {check}"
            elif result.error and "model_not_found" in result.error:
                stop = f"not sent: the model is not served ({check} failed)"
        tick()
    return results


def run_doctor(
    url: str,
    key: str | None,
    *,
    models: Iterable[str] | None = None,
    images: bool = False,
    default_model: str = DEFAULT_MODEL,
    timeout: float = DEFAULT_TIMEOUT,
    on_plan: Callable[[list[Target], int], None] | None = None,
    on_result: Callable[[], None] | None = None,
) -> Report:
    """Check the deployment at ``url``. ``on_plan(targets, requests)`` is called once the model
    list is known, before any model is asked; ``on_result`` after each check."""
    client = Client(url, key, timeout)
    report = Report(url)
    tick = on_result or (lambda: None)
    listing: list[Any] = []

    def models_with_key() -> int | None:
        status, body = client.request("GET", "/v1/models")
        listing.append(_expect_ok(status, body))
        return None

    basics = [
        ("health", lambda: check_health(client)),
        ("no key gets 401", lambda: _expect_401(client, None)),
        ("wrong key gets 401", lambda: _expect_401(client, WRONG_KEY)),
        ("key accepted", models_with_key),
    ]
    with ThreadPoolExecutor(MAX_IN_FLIGHT) as pool:
        for result in pool.map(lambda b: timed(None, b[0], b[1], timeout), basics):
            result.core = True
            report.results.append(result)
    targets, report.default_model = targets_from_catalog(
        listing[0] if listing else None, models, images, default_model
    )
    if on_plan:
        on_plan(targets, request_count(targets))
    core = {default_model, report.default_model}  # asked for by alias or by id
    with ThreadPoolExecutor(MAX_IN_FLIGHT) as pool:
        per_model = pool.map(lambda t: run_model(client, t, t.name in core, tick), targets)
        for results in per_model:
            report.results.extend(results)
    return report
