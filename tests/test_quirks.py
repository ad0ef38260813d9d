"""Every known Workers AI quirk, replayed from fixtures through workerd, streamed and not.

Tests are named after the quirk they pin. Streams are also replayed in small reads (chunk=N) so
that tags, tokens and JSON split across reads are covered.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.sse_fixtures import fixture_json, sse_events

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": name,
            "description": f"{name} tool",
            "parameters": {"type": "object", "properties": {}},
        },
    }
    for name in ("get_weather", "get_vn_details", "read_file")
]
CONTROL = re.compile(r"<\|[^|]*\|>")


def ask(client, model, directive, stream=False, **kwargs):
    messages = [{"role": "user", "content": directive}]
    if not stream:
        c = client.chat.completions.create(model=model, messages=messages, **kwargs)
        m = c.choices[0].message
        calls = [
            (t.function.name, json.loads(t.function.arguments), t.id) for t in m.tool_calls or []
        ]
        return {
            "content": m.content,
            "reasoning": (m.model_extra or {}).get("reasoning_content"),
            "calls": calls,
            "finish": c.choices[0].finish_reason,
        }
    chunks = list(
        client.chat.completions.create(model=model, messages=messages, stream=True, **kwargs)
    )
    content, reasoning, calls = "", "", {}
    for ch in chunks:
        if not ch.choices:
            continue
        d = ch.choices[0].delta
        content += d.content or ""
        reasoning += (d.model_extra or {}).get("reasoning_content") or ""
        for t in d.tool_calls or []:
            call = calls.setdefault(t.index, {"name": "", "args": "", "id": None})
            call["id"] = call["id"] or t.id
            call["name"] += (t.function.name or "") if t.function else ""
            call["args"] += (t.function.arguments or "") if t.function else ""
    finish = [
        ch.choices[0].finish_reason for ch in chunks if ch.choices and ch.choices[0].finish_reason
    ]
    assert len(finish) == 1, "exactly one chunk carries finish_reason"
    return {
        "content": content,
        "reasoning": reasoning or None,
        "calls": [(c["name"], json.loads(c["args"]), c["id"]) for c in calls.values()],
        "finish": finish[0],
    }


STREAM_MODES = [(False, ""), (True, ""), (True, "?chunk=3")]


@pytest.mark.parametrize("stream, query", STREAM_MODES)
def test_qwen_coder_tool_call_inside_response_becomes_tool_calls(client, stream, query):
    out = ask(
        client,
        "@cf/qwen/qwen2.5-coder-32b-instruct",
        f"fixture:qwen2.5-coder-tool-call-in-response{query}",
        stream,
        tools=TOOLS,
    )
    expected = fixture_json("qwen2.5-coder-tool-call-in-response")["output"]["response"]
    assert [(n, a) for n, a, _ in out["calls"]] == [(expected["name"], expected["arguments"])]
    assert out["finish"] == "tool_calls"
    assert not out["content"]


@pytest.mark.parametrize("stream", [False, True])
def test_json_object_in_response_is_stringified(client, stream):
    out = ask(
        client, "@cf/qwen/qwen2.5-coder-32b-instruct", "fixture:json-object-in-response", stream
    )
    assert (
        json.loads(out["content"]) == fixture_json("json-object-in-response")["output"]["response"]
    )
    assert out["calls"] == []


def test_json_object_in_response_with_tools_on_offer_stays_text(client):
    # {"name": "India", ...} has a "name" but is no call of a requested tool.
    out = ask(
        client,
        "@cf/qwen/qwen2.5-coder-32b-instruct",
        "fixture:json-object-in-response",
        tools=TOOLS,
    )
    assert json.loads(out["content"])["capital"] == "New Delhi"
    assert out["calls"] == [] and out["finish"] == "stop"


@pytest.mark.parametrize("stream", [False, True])
def test_arguments_as_object_become_a_json_string(client, stream):
    out = ask(
        client,
        "@cf/meta/llama-4-scout-17b-16e-instruct",
        "fixture:arguments-as-object",
        stream,
        tools=TOOLS,
    )
    call = fixture_json("arguments-as-object")["output"]["tool_calls"][0]
    assert out["calls"] == [("get_weather", call["function"]["arguments"], call["id"])]


def test_native_tool_calls_keep_a_stable_id_and_content_is_null(client):
    out = ask(
        client,
        "@cf/meta/llama-4-scout-17b-16e-instruct",
        "fixture:llama-native-tool-calls",
        tools=TOOLS,
    )
    assert out["content"] is None  # response was null: OpenAI says content null with tool calls
    assert out["calls"][0][:2] == ("get_vn_details", {"id": "1054"})
    assert re.match(r"^call_[0-9a-f]{24}$", out["calls"][0][2])


@pytest.mark.parametrize("stream", [False, True])
def test_empty_tool_calls_list_is_plain_text(client, stream):
    out = ask(
        client,
        "@cf/mistralai/mistral-small-3.1-24b-instruct",
        "fixture:empty-tool-calls",
        stream,
        tools=TOOLS,
    )
    assert out["content"] == fixture_json("empty-tool-calls")["output"]["response"]
    assert out["calls"] == [] and out["finish"] == "stop"


@pytest.mark.parametrize("stream", [False, True])
def test_gpt_oss_tool_call_leaked_in_content_is_recovered(client, stream):
    out = ask(
        client,
        "@cf/openai/gpt-oss-120b",
        "fixture:gpt-oss-tool-call-leaked-in-content",
        stream,
        tools=TOOLS,
    )
    leaked = json.loads(
        fixture_json("gpt-oss-tool-call-leaked-in-content")["output"]["choices"][0]["message"][
            "content"
        ]
    )
    assert [(n, a) for n, a, _ in out["calls"]] == [(leaked["name"], {"path": leaked["path"]})]
    assert not out["content"] and out["finish"] == "tool_calls"


def test_leaked_tool_json_is_text_when_the_name_was_not_requested(client):
    tools = [t for t in TOOLS if t["function"]["name"] != "read_file"]
    out = ask(
        client,
        "@cf/openai/gpt-oss-120b",
        "fixture:gpt-oss-tool-call-leaked-in-content",
        tools=tools,
    )
    assert out["calls"] == [] and "read_file" in out["content"]


@pytest.mark.parametrize("stream, query", STREAM_MODES)
def test_llama_tool_json_after_prose_is_recovered(client, stream, query):
    out = ask(
        client,
        "@cf/meta/llama-3.3-70b-instruct-fp8-fast",
        f"fixture:llama-leaked-tool-json{query}",
        stream,
        tools=TOOLS,
    )
    text = fixture_json("llama-leaked-tool-json")["output"]["response"]
    prose = text[: text.index('{"name"')]
    assert out["content"] == prose
    assert out["calls"][0][0] == "get_vn_details"
    assert out["finish"] == "tool_calls"


@pytest.mark.parametrize("stream, query", STREAM_MODES)
def test_think_tags_become_reasoning_content(client, stream, query):
    out = ask(client, "@cf/qwen/qwq-32b", f"fixture:qwq-think-tags{query}", stream)
    source = (
        fixture_json("qwq-think-tags")["output"]["response"]
        if not stream
        else "".join(e.get("response", "") for e in sse_events("qwq-think-tags"))
    )
    thought, answer = source.split("</think>")
    assert out["reasoning"].strip() == thought.replace("<think>", "").strip()
    assert out["content"] == answer.strip()
    assert "think>" not in out["content"]


@pytest.mark.parametrize("stream, query", STREAM_MODES)
def test_r1_reasoning_without_opening_tag(client, stream, query):
    out = ask(
        client,
        "@cf/deepseek-ai/deepseek-r1-distill-qwen-32b",
        f"fixture:deepseek-r1-think-no-open-tag{query}",
        stream,
    )
    assert "</think>" not in out["content"] and "<think>" not in out["content"]
    assert out["content"].startswith("17 x 23")
    assert out["reasoning"].startswith("Okay, so I need")


def test_explicit_think_tags_on_a_model_not_marked_as_reasoning(client):
    script = {
        "sse": 'data: {"response":"<thi"}\n\ndata: {"response":"nk>hmm</th"}\n\ndata: {"response":"ink>Answer"}\n\ndata: [DONE]\n\n'
    }
    out = ask(client, "@cf/meta/llama-3.1-8b-instruct-fp8", "script:" + json.dumps(script), True)
    assert out == {"content": "Answer", "reasoning": "hmm", "calls": [], "finish": "stop"}


@pytest.mark.parametrize("stream", [False, True])
def test_reasoning_field_becomes_reasoning_content_and_length_is_kept(client, stream):
    out = ask(
        client, "@cf/mistralai/mistral-small-3.1-24b-instruct", "fixture:reasoning-field", stream
    )
    message = fixture_json("reasoning-field")["output"]["choices"][0]["message"]
    assert out["reasoning"] == message["reasoning"]
    assert not out["content"]
    assert out["finish"] == "length"


@pytest.mark.parametrize("stream, query", [(False, ""), (True, "?chunk=2")])
def test_llama4_control_tokens_are_removed(client, stream, query):
    if stream:
        # The recorded stream stalls after the leak (no [DONE]): the client gets an error chunk,
        # and everything it got before it is clean.
        import openai

        chunks = []
        with pytest.raises(openai.APIError):
            for ch in client.chat.completions.create(
                model="@cf/meta/llama-4-scout-17b-16e-instruct",
                messages=[
                    {"role": "user", "content": f"fixture:llama4-scout-control-tokens{query}"}
                ],
                stream=True,
            ):
                chunks.append(ch)
        content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    else:
        content = ask(
            client, "@cf/meta/llama-4-scout-17b-16e-instruct", "fixture:llama4-scout-control-tokens"
        )["content"]
    assert content.startswith("The capital of France is Paris.")
    assert not CONTROL.search(content)
    assert "header" not in content and "assistant" not in content and "user" not in content


@pytest.mark.parametrize("chunk", [0, 1, 4])
def test_control_tokens_split_across_reads_are_removed(client, chunk):
    sse = (
        "".join(
            f"data: {json.dumps({'response': piece})}\n\n"
            for piece in [
                "Hi",
                " there",
                "<|eo",
                "t_id|>",
                "<|start_header_id|>assis",
                "tant<|end_header_id|>\n\n",
                "Bye",
                "<|im_end|>",
            ]
        )
        + "data: [DONE]\n\n"
    )
    out = ask(
        client,
        "@cf/meta/llama-3.1-8b-instruct-fp8",
        "script:" + json.dumps({"sse": sse, "chunk": chunk}),
        True,
    )
    assert out["content"] == "Hi thereBye"


@pytest.mark.parametrize("stream", [False, True])
def test_gpt_oss_responses_style_output(client, stream):
    out = ask(client, "@cf/openai/gpt-oss-120b", "fixture:gpt-oss-responses-style", stream)
    items = fixture_json("gpt-oss-responses-style")["output"]["output"]
    assert out["content"] == items[1]["content"][0]["text"]
    assert out["reasoning"] == items[0]["content"][0]["text"]


def test_stream_answered_with_an_object_is_simulated(client):
    out = ask(client, "@cf/openai/gpt-oss-120b", "fixture:stream-answered-as-object", True)
    assert out["content"] == "The capital of France is Paris."
    assert out["finish"] == "stop"


@pytest.mark.parametrize("query", ["", "?chunk=4"])
def test_openai_tool_call_deltas_with_null_finalization_chunk(client, query):
    out = ask(
        client,
        "@cf/qwen/qwen3-30b-a3b-fp8",
        f"fixture:qwen3-openai-tool-call-deltas{query}",
        True,
        tools=TOOLS,
    )
    starts = [
        d
        for e in sse_events("qwen3-openai-tool-call-deltas")
        if e.get("choices")
        for d in e["choices"][0].get("delta", {}).get("tool_calls") or []
        if d.get("id")
    ]
    assert len(out["calls"]) == 1
    name, args, call_id = out["calls"][0]
    assert (name, call_id) == (starts[0]["function"]["name"], starts[0]["id"])
    assert args == {"city": "Tokyo"}
    assert out["finish"] == "tool_calls"


def test_top_level_finish_reason_event(client):
    out = ask(
        client,
        "@cf/meta/llama-4-scout-17b-16e-instruct",
        "fixture:native-hybrid-tool-call-toplevel-finish",
        True,
        tools=TOOLS,
    )
    assert out["calls"][0][0] == "get_weather" and out["finish"] == "tool_calls"


def test_openai_chunks_followed_by_native_usage_line_report_the_total_once(client):
    events = sse_events("gemma4-openai-dialect-native-usage-tail")
    total = [e["usage"] for e in events if "usage" in e][-1]
    chunks = list(
        client.chat.completions.create(
            model="@cf/google/gemma-4-26b-a4b-it",
            messages=[
                {"role": "user", "content": "fixture:gemma4-openai-dialect-native-usage-tail"}
            ],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[-1].usage.total_tokens == total["total_tokens"]
    assert (
        "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        == fixture_json("gemma4-openai-dialect")["output"]["choices"][0]["message"]["content"]
    )


def test_native_stream_tool_call_fragments_without_index_are_one_call(client):
    # Native streams carry OpenAI-shaped partial calls at the top level; cloudflare/ai's
    # workers-ai-provider merges them (utils.ts mergePartialToolCalls). Fragments may omit index.
    events = [
        {
            "response": "",
            "tool_calls": [
                {
                    "id": "call_x",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": ""},
                }
            ],
        },
        {"response": "", "tool_calls": [{"function": {"arguments": '{"city":'}}]},
        {"response": "", "tool_calls": [{"function": {"arguments": '"Paris"}'}}]},
    ]
    sse = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
    out = ask(
        client,
        "@cf/meta/llama-4-scout-17b-16e-instruct",
        "script:" + json.dumps({"sse": sse}),
        True,
        tools=TOOLS,
    )
    assert out["calls"] == [("get_weather", {"city": "Paris"}, "call_x")]
    assert out["finish"] == "tool_calls"


@pytest.mark.parametrize("stream", [False, True])
def test_tool_call_without_arguments_gets_an_empty_json_object(client, stream):
    message = {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "read_file"}}],
    }
    obj = {"choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}]}
    out = ask(
        client,
        "@cf/qwen/qwen3-30b-a3b-fp8",
        "script:" + json.dumps({"object": obj}),
        stream,
        tools=TOOLS,
    )
    assert out["calls"] == [("read_file", {}, "c1")]
