"""Reads fixture files the way a test author reads them: independently of the Worker's code."""

from __future__ import annotations

import json
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "workers-ai"


def fixture_json(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def sse_events(name: str) -> list:
    """The JSON payloads of a .sse fixture, in order (comments, blank lines and [DONE] dropped)."""
    events = []
    for line in (FIXTURES / f"{name}.sse").read_text().splitlines():
        if line.startswith("data:"):
            data = line[5:].strip()
            if data != "[DONE]":
                events.append(json.loads(data))
    return events


def named_events(text: str) -> list[dict]:
    """The events of a named-event stream (`event:` + `data:`, as the Responses and Anthropic
    APIs send them), each `event:` name checked against its data's `type`."""
    events = []
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        lines = dict(line.split(": ", 1) for line in block.split("\n"))
        data = json.loads(lines["data"])
        assert lines["event"] == data["type"]
        events.append(data)
    return events


def echoed(content: str) -> dict:
    """Decode the fake binding's `echo` answer: what the Worker sent to Workers AI."""
    import base64

    assert content.startswith("echo:"), content
    return json.loads(base64.b64decode(content[5:]))
