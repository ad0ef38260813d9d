"""Model answers for the fake Workers AI binding's `agent:` directive (flaregate/local/stand_in_ai.js), in the
shapes of the two response dialects, with the tool names and arguments a test needs.

The shapes are those of the cited fixtures, with only names, arguments and text changed:
- native (Llama): tests/fixtures/workers-ai/llama-native-tool-calls.sse/.json — one event with
  the whole call, arguments as an object, then usage and [DONE].
- OpenAI dialect (Qwen3): tests/fixtures/workers-ai/qwen3-openai-tool-call-deltas.sse and
  qwen3-openai-dialect.json — reasoning_content deltas, a start chunk with id and name, argument
  fragments, finish_reason tool_calls, a usage chunk.
"""

from __future__ import annotations

import hashlib
import json

USAGE = {"prompt_tokens": 40, "completion_tokens": 12, "total_tokens": 52}


def _sse(events: list[dict]) -> str:
    return "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"


def native_tool_call(name: str, arguments: dict, text: str = "") -> dict:
    """`text`: what the model says before its call (a text event first when streamed)."""
    call = {"name": name, "arguments": arguments}
    events = [{"response": text}] if text else []
    events += [{"response": "", "tool_calls": [call]}, {"response": "", "usage": USAGE}]
    return {
        "sse": _sse(events),
        "object": {"response": text, "tool_calls": [call], "usage": USAGE},
    }


def openai_tool_call(
    name: str, arguments: dict, reasoning: str = "", call_id: str = "", piece: int = 0
) -> dict:
    """`piece`: argument fragments of this many characters (default: two halves)."""
    call_id = call_id or "chatcmpl-tool-" + hashlib.sha256(name.encode()).hexdigest()[:16]
    envelope = {
        "id": "chatcmpl-3b9d7c1e",
        "created": 1751571234,
        "model": "@cf/qwen/qwen3-30b-a3b-fp8",
    }
    args = json.dumps(arguments)
    piece = piece or (len(args) + 1) // 2
    fragments = [args[i : i + piece] for i in range(0, len(args), piece)]

    def chunk(delta: dict, finish: str | None = None) -> dict:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return {**envelope, "object": "chat.completion.chunk", "choices": [choice]}

    events = [chunk({"role": "assistant", "content": ""})]
    if reasoning:
        events.append(chunk({"reasoning_content": reasoning}))
    events += [
        chunk(
            {
                "tool_calls": [
                    {"id": call_id, "type": "function", "index": 0, "function": {"name": name}}
                ]
            }
        ),
        *[chunk({"tool_calls": [{"index": 0, "function": {"arguments": f}}]}) for f in fragments],
        chunk({"content": ""}, "tool_calls"),
        {**envelope, "object": "chat.completion.chunk", "choices": [], "usage": USAGE},
    ]
    message = {
        "role": "assistant",
        "content": None,
        "reasoning_content": reasoning or None,
        "tool_calls": [
            {"id": call_id, "type": "function", "function": {"name": name, "arguments": args}}
        ],
    }
    obj = {
        **envelope,
        "object": "chat.completion",
        "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}],
        "usage": USAGE,
    }
    return {"sse": _sse(events), "object": obj}


def openai_text(text: str, reasoning: str = "") -> dict:
    envelope = {
        "id": "chatcmpl-66bc1938",
        "created": 1751559514,
        "model": "@cf/qwen/qwen3-30b-a3b-fp8",
    }

    def chunk(delta: dict, finish: str | None = None) -> dict:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return {**envelope, "object": "chat.completion.chunk", "choices": [choice]}

    events = [chunk({"role": "assistant", "content": ""})]
    if reasoning:
        events.append(chunk({"reasoning_content": reasoning}))
    events += [chunk({"content": text}), chunk({}, "stop")]
    events.append({**envelope, "object": "chat.completion.chunk", "choices": [], "usage": USAGE})
    message = {"role": "assistant", "content": text, "reasoning_content": reasoning or None}
    obj = {
        **envelope,
        "object": "chat.completion",
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        "usage": USAGE,
    }
    return {"sse": _sse(events), "object": obj}


def agent(*steps) -> str:
    """The directive: the model answers with step N after N assistant turns."""
    return "agent:" + json.dumps(list(steps))
