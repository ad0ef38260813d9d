"""The Responses API as Codex speaks it (issue 16): namespace and custom tools, hosted tools the
gateway cannot run, sealed encrypted reasoning and reasoning summaries, developer messages and
Codex's extra fields — every response and stream event validated with the openai SDK's types.
Stored responses (item_reference, previous_response_id, GET/DELETE /v1/responses/{id}) too."""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid

import openai
import pydantic
import pytest
from openai.types.responses import Response, ResponseStreamEvent

from tests.model_steps import agent, native_tool_call, openai_text, openai_tool_call
from tests.sse_fixtures import echoed, named_events

STREAM_EVENT = pydantic.TypeAdapter(ResponseStreamEvent)
NATIVE = "@cf/meta/llama-4-scout-17b-16e-instruct"
OPENAI_DIALECT = "@cf/qwen/qwen3-30b-a3b-fp8"

EXEC = {
    "type": "function",
    "name": "exec_command",
    "description": "Runs a command.",
    "strict": False,
    "parameters": {
        "type": "object",
        "properties": {"cmd": {"type": "string"}},
        "required": ["cmd"],
    },
}
AGENTS = {
    "type": "namespace",
    "name": "multi_agent_v1",
    "description": "Tools for spawning and managing sub-agents.",
    "tools": [
        {
            "type": "function",
            "name": "spawn_agent",
            "description": "Spawn a sub-agent.",
            "strict": False,
            "parameters": {
                "type": "object",
                "properties": {"task": {"type": "string"}},
                "required": ["task"],
            },
        }
    ],
}
PATCH_GRAMMAR = 'start: "*** Begin Patch" LF hunk+ "*** End Patch"'
APPLY_PATCH = {
    "type": "custom",
    "name": "apply_patch",
    "description": "Edit files with a patch.",
    "format": {"type": "grammar", "syntax": "lark", "definition": PATCH_GRAMMAR},
}
PATCH = "*** Begin Patch\n*** Add File: hi.txt\n+hi\n*** End Patch"
# What Codex 0.171 sends besides tools and input (a captured first request).
CODEX_FIELDS = {
    "tool_choice": "auto",
    "parallel_tool_calls": True,
    "reasoning": {"summary": "auto"},
    "store": False,
    "include": ["reasoning.encrypted_content"],
    "prompt_cache_key": "01a233ba-ead3-71c2-9921-a240436376c1",
    "client_metadata": {"thread_id": "01a233ba-ead3-71c2-9921-a240436376c1"},
}


def post(http, body: dict):
    return http.post("/v1/responses", json=body)


def valid(body: dict) -> Response:
    return Response.model_validate(body)


def raw_stream(http, body: dict) -> tuple[list[dict], dict]:
    with http.stream("POST", "/v1/responses", json={**body, "stream": True}) as r:
        assert r.status_code == 200, r.read()
        headers = dict(r.headers)
        events = named_events("".join(r.iter_text()))
    for event in events:
        STREAM_EVENT.validate_python(event)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    return events, headers


def sent_to_model(response_json: dict) -> dict:
    text = valid(response_json).output_text
    return echoed(text)["inputs"]


# --- namespace tools ---------------------------------------------------------------------------


def test_namespace_functions_are_offered_and_hosted_tools_left_out(http):
    body = {"model": NATIVE, "input": "echo", "tools": [EXEC, AGENTS, {"type": "web_search"}]}
    r = post(http, body)
    assert r.status_code == 200, r.text
    assert r.headers["x-flaregate-ignored-tools"] == "web_search"
    offered = [t["function"]["name"] for t in sent_to_model(r.json())["tools"]]
    assert offered == ["exec_command", "multi_agent_v1__spawn_agent"]
    echoed_tools = valid(r.json()).tools
    assert [t.type for t in echoed_tools] == ["function", "namespace"]


@pytest.mark.parametrize(
    "model, step",
    [
        (NATIVE, native_tool_call("multi_agent_v1__spawn_agent", {"task": "lint"})),
        (OPENAI_DIALECT, openai_tool_call("multi_agent_v1__spawn_agent", {"task": "lint"})),
    ],
)
def test_a_namespaced_call_comes_back_with_its_namespace(http, model, step):
    body = {"model": model, "input": agent(step), "tools": [EXEC, AGENTS]}
    r = post(http, body)
    assert r.status_code == 200, r.text
    (call,) = [o for o in valid(r.json()).output if o.type == "function_call"]
    assert (call.namespace, call.name, json.loads(call.arguments)) == (
        "multi_agent_v1",
        "spawn_agent",
        {"task": "lint"},
    )
    events, _ = raw_stream(http, body)
    done = [e["item"] for e in events if e["type"] == "response.output_item.done"]
    assert done[-1]["namespace"] == "multi_agent_v1" and done[-1]["name"] == "spawn_agent"
    added = [e["item"] for e in events if e["type"] == "response.output_item.added"]
    assert added[-1]["namespace"] == "multi_agent_v1"


def test_a_namespaced_call_sent_back_reaches_the_model_under_its_offered_name(http):
    body = {
        "model": NATIVE,
        "tools": [AGENTS],
        "input": [
            {"role": "user", "content": "echo"},
            {
                "type": "function_call",
                "call_id": "call_1",
                "namespace": "multi_agent_v1",
                "name": "spawn_agent",
                "arguments": '{"task": "lint"}',
            },
            {"type": "function_call_output", "call_id": "call_1", "output": "agent 7 started"},
        ],
    }
    r = post(http, body)
    assert r.status_code == 200, r.text
    messages = sent_to_model(r.json())["messages"]
    assistant = next(m for m in messages if m["role"] == "assistant")
    assert assistant["tool_calls"][0]["function"]["name"] == "multi_agent_v1__spawn_agent"
    assert messages[-1]["role"] == "tool" and messages[-1]["content"] == "agent 7 started"


# --- custom tools ------------------------------------------------------------------------------


def test_a_custom_tool_is_offered_as_a_function_taking_one_string_with_its_grammar(http):
    r = post(http, {"model": NATIVE, "input": "echo", "tools": [APPLY_PATCH]})
    assert r.status_code == 200, r.text
    (tool,) = sent_to_model(r.json())["tools"]
    fn = tool["function"]
    assert fn["name"] == "apply_patch"
    assert fn["parameters"]["properties"] == {
        "input": {"type": "string", "description": "The tool's whole input, as free-form text."}
    }
    assert fn["parameters"]["required"] == ["input"]
    assert fn["description"].startswith("Edit files with a patch.")
    assert PATCH_GRAMMAR in fn["description"]
    assert valid(r.json()).tools[0].type == "custom"


@pytest.mark.parametrize(
    "model, step",
    [
        (NATIVE, native_tool_call("apply_patch", {"input": PATCH})),
        (OPENAI_DIALECT, openai_tool_call("apply_patch", {"input": PATCH}, reasoning="Patch it.")),
    ],
)
def test_a_custom_tool_call_comes_back_as_custom_tool_call_whole_and_streamed(
    http, client, model, step
):
    body = {"model": model, "input": agent(step), "tools": [EXEC, APPLY_PATCH]}
    r = post(http, body)
    assert r.status_code == 200, r.text
    (call,) = [o for o in valid(r.json()).output if o.type == "custom_tool_call"]
    assert (call.name, call.input) == ("apply_patch", PATCH)
    assert call.call_id and call.id.startswith("ctc_")

    events, _ = raw_stream(http, body)
    names = [e["type"] for e in events]
    assert "response.function_call_arguments.delta" not in names
    deltas = [e["delta"] for e in events if e["type"] == "response.custom_tool_call_input.delta"]
    (done,) = [e for e in events if e["type"] == "response.custom_tool_call_input.done"]
    assert "".join(deltas) == done["input"] == PATCH
    if model == OPENAI_DIALECT:  # arguments arrive in fragments: so does the input
        assert len(deltas) >= 2
    item_done = [e for e in events if e["type"] == "response.output_item.done"][-1]
    assert item_done["item"]["type"] == "custom_tool_call"
    assert item_done["item"]["input"] == PATCH
    assert names.index("response.custom_tool_call_input.done") < names.index("response.completed")

    # The SDK's own stream accumulator builds the same final response.
    with client.responses.stream(**body) as stream:
        final = stream.get_final_response()
    assert [o.input for o in final.output if o.type == "custom_tool_call"] == [PATCH]


@pytest.mark.parametrize("piece", [1, 3, 7])
def test_custom_tool_input_streams_as_it_is_decoded_even_split_inside_escapes(http, piece):
    tricky = 'line "one"\n\ttab \\ back caf\u00e9 \u2603 \U0001f600 end'
    step = openai_tool_call("apply_patch", {"input": tricky}, piece=piece)
    body = {"model": OPENAI_DIALECT, "input": agent(step), "tools": [APPLY_PATCH]}
    events, _ = raw_stream(http, body)
    deltas = [e["delta"] for e in events if e["type"] == "response.custom_tool_call_input.delta"]
    (done,) = [e for e in events if e["type"] == "response.custom_tool_call_input.done"]
    assert "".join(deltas) == done["input"] == tricky
    assert len(deltas) > 5


def test_custom_tool_call_and_output_sent_back_become_a_call_and_its_result(http):
    body = {
        "model": NATIVE,
        "tools": [APPLY_PATCH],
        "input": [
            {"role": "user", "content": "echo"},
            {"type": "custom_tool_call", "call_id": "c1", "name": "apply_patch", "input": PATCH},
            {"type": "custom_tool_call_output", "call_id": "c1", "output": "Done!"},
        ],
    }
    r = post(http, body)
    assert r.status_code == 200, r.text
    messages = sent_to_model(r.json())["messages"]
    call = next(m for m in messages if m["role"] == "assistant")["tool_calls"][0]
    assert call["function"]["name"] == "apply_patch"
    assert json.loads(call["function"]["arguments"]) == {"input": PATCH}
    assert messages[-1] == {
        "role": "tool",
        "tool_call_id": "c1",
        "content": "Done!",
        "name": "apply_patch",
    }


# --- hosted tools ------------------------------------------------------------------------------


def test_hosted_tools_are_named_in_a_header_and_the_rest_works(http):
    tools = [
        {"type": "web_search", "external_web_access": False},
        {"type": "file_search", "vector_store_ids": ["vs_1"]},
        {"type": "code_interpreter", "container": {"type": "auto"}},
        {"type": "image_generation"},
        EXEC,
    ]
    body = {
        "model": NATIVE,
        "input": agent(native_tool_call("exec_command", {"cmd": "ls"})),
        "tools": tools,
    }
    r = post(http, body)
    assert r.status_code == 200, r.text
    assert r.headers["x-flaregate-ignored-tools"] == (
        "web_search, file_search, code_interpreter, image_generation"
    )
    assert [o.name for o in valid(r.json()).output if o.type == "function_call"] == ["exec_command"]
    _, headers = raw_stream(http, body)
    assert headers["x-flaregate-ignored-tools"].startswith("web_search")


@pytest.mark.parametrize(
    "choice",
    [{"type": "web_search"}, {"type": "file_search"}, {"type": "image_generation"}, "required"],
)
def test_a_tool_choice_forcing_a_hosted_tool_is_a_clear_400(client, choice):
    tools = [{"type": "web_search"}, {"type": "file_search", "vector_store_ids": ["vs_1"]}]
    if choice != "required":
        tools.append(EXEC)
    with pytest.raises(openai.BadRequestError) as err:
        client.responses.create(model=NATIVE, input="hi", tools=tools, tool_choice=choice)
    assert err.value.status_code == 400
    assert err.value.body["param"] == "tool_choice"
    assert "cannot run" in err.value.body["message"]


def test_tool_choice_can_force_a_custom_tool(http):
    body = {
        "model": NATIVE,
        "input": "echo",
        "tools": [EXEC, APPLY_PATCH],
        "tool_choice": {"type": "custom", "name": "apply_patch"},
    }
    r = post(http, body)
    assert r.status_code == 200, r.text
    assert sent_to_model(r.json())["tool_choice"] == {
        "type": "function",
        "function": {"name": "apply_patch"},
    }


# --- encrypted reasoning, summaries ------------------------------------------------------------

THOUGHT = "The user wants a greeting; keep it short."


def reasoning_turn(http, api_key=None, **extra):
    headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
    body = {
        "model": OPENAI_DIALECT,
        "input": agent(openai_text("Hi there!", reasoning=THOUGHT), {"text": "Again."}),
        **CODEX_FIELDS,
        **extra,
    }
    r = http.post("/v1/responses", json=body, headers=headers)
    assert r.status_code == 200, r.text
    return body, r.json()


def test_reasoning_carries_opaque_encrypted_content_and_a_summary(http):
    _, answer = reasoning_turn(http)
    response = valid(answer)
    (reasoning,) = [o for o in response.output if o.type == "reasoning"]
    assert reasoning.encrypted_content.startswith("fg1.")
    assert THOUGHT not in reasoning.encrypted_content
    assert [s.text for s in reasoning.summary] == [THOUGHT]
    assert response.reasoning.summary == "auto"
    assert response.store is False
    assert response.prompt_cache_key == CODEX_FIELDS["prompt_cache_key"]
    assert response.output_text == "Hi there!"


def test_streamed_reasoning_summary_events_and_sealed_final_item(http):
    body = {
        "model": OPENAI_DIALECT,
        "input": agent(openai_text("Hi there!", reasoning=THOUGHT)),
        **CODEX_FIELDS,
    }
    events, _ = raw_stream(http, body)
    names = [e["type"] for e in events]
    for name in (
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
    ):
        assert name in names
    assert "response.reasoning_text.delta" not in names
    summary = "".join(
        e["delta"] for e in events if e["type"] == "response.reasoning_summary_text.delta"
    )
    assert summary == THOUGHT
    done = next(
        e["item"]
        for e in events
        if e["type"] == "response.output_item.done" and e["item"]["type"] == "reasoning"
    )
    assert done["encrypted_content"].startswith("fg1.")
    final = valid(events[-1]["response"])
    assert final.output[0].encrypted_content == done["encrypted_content"]


def test_without_include_there_is_no_encrypted_content(http):
    _, answer = reasoning_turn(http, include=[])
    (reasoning,) = [o for o in answer["output"] if o["type"] == "reasoning"]
    assert "encrypted_content" not in reasoning


def second_turn(body, answer, reasoning_item):
    return {
        **body,
        "input": [
            {"role": "user", "content": body["input"]},
            reasoning_item,
            *[o for o in answer["output"] if o["type"] == "message"],
            {"role": "user", "content": "And again?"},
        ],
    }


def test_encrypted_reasoning_sent_back_is_accepted(http):
    body, answer = reasoning_turn(http)
    reasoning = next(o for o in answer["output"] if o["type"] == "reasoning")
    r = post(http, second_turn(body, answer, reasoning))
    assert r.status_code == 200, r.text
    assert valid(r.json()).output_text == "Again."


@pytest.mark.parametrize(
    "tamper",
    [
        lambda blob: blob[:-6] + ("AAAAAA" if not blob.endswith("AAAAAA") else "BBBBBB"),
        lambda blob: "fg1." + "A" * 80,
        lambda blob: "not even sealed",
    ],
)
def test_altered_or_forged_encrypted_reasoning_is_refused(http, tamper):
    body, answer = reasoning_turn(http)
    reasoning = next(o for o in answer["output"] if o["type"] == "reasoning")
    forged = {**reasoning, "encrypted_content": tamper(reasoning["encrypted_content"])}
    r = post(http, second_turn(body, answer, forged))
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == "input[1].encrypted_content"
    assert r.json()["error"]["code"] == "invalid_encrypted_content"


def test_another_keys_encrypted_reasoning_is_refused(http, worker):
    other = worker.add_key(name="codex-other")
    body, answer = reasoning_turn(http, api_key=other)
    reasoning = next(o for o in answer["output"] if o["type"] == "reasoning")
    r = post(http, second_turn(body, answer, reasoning))
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "invalid_encrypted_content"


# --- developer messages and Codex's other fields -------------------------------------------------


def test_developer_messages_and_codex_fields_are_accepted(http):
    body = {
        "model": NATIVE,
        "instructions": "Base instructions.",
        "input": [
            {
                "type": "message",
                "id": "msg_x1",
                "role": "developer",
                "content": [{"type": "input_text", "text": "Be terse."}],
            },
            {
                "type": "message",
                "id": "msg_x2",
                "role": "user",
                "content": [{"type": "input_text", "text": "echo"}],
            },
        ],
        **{**CODEX_FIELDS, "include": []},
    }
    r = post(http, body)
    assert r.status_code == 200, r.text
    messages = sent_to_model(r.json())["messages"]
    assert [m["role"] for m in messages] == ["system", "system", "user"]
    assert messages[1]["content"] == "Be terse."
    assert valid(r.json()).parallel_tool_calls is True


# --- stored responses --------------------------------------------------------------------------


def test_a_stored_response_can_be_read_back_by_its_key_only(http, worker, client):
    created = client.responses.create(model=NATIVE, input="hi")
    assert created.store is True
    again = client.responses.retrieve(created.id)
    assert again.model_dump() == created.model_dump()
    other = worker.add_key(name="reader-other")
    r = http.get(f"/v1/responses/{created.id}", headers={"authorization": f"Bearer {other}"})
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "response_not_found"
    client.responses.delete(created.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(created.id)


def test_store_false_keeps_nothing(client):
    created = client.responses.create(model=NATIVE, input="hi", store=False)
    assert created.store is False
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(created.id)


def test_previous_response_id_continues_the_conversation_without_its_instructions(client):
    first = client.responses.create(model=NATIVE, input="Say hello.", instructions="Old rules.")
    second = client.responses.create(
        model=NATIVE, input="echo", previous_response_id=first.id, instructions="New rules."
    )
    assert second.previous_response_id == first.id
    messages = echoed(second.output_text)["inputs"]["messages"]
    assert [(m["role"], m["content"]) for m in messages] == [
        ("system", "New rules."),
        ("user", "Say hello."),
        ("assistant", first.output_text),
        ("user", "echo"),
    ]


def test_previous_response_id_of_another_key_or_unknown_is_a_400(http, worker, client):
    other = worker.add_key(name="prev-other")
    theirs = http.post(
        "/v1/responses",
        json={"model": NATIVE, "input": "hi"},
        headers={"authorization": f"Bearer {other}"},
    ).json()
    for rid in (theirs["id"], "resp_000000000000000000000000"):
        with pytest.raises(openai.BadRequestError) as err:
            client.responses.create(model=NATIVE, input="hi", previous_response_id=rid)
        assert err.value.body["param"] == "previous_response_id"
        assert rid in err.value.body["message"]


@pytest.mark.parametrize(
    "model, step",
    [
        (NATIVE, native_tool_call("exec_command", {"cmd": "ls"})),
        (OPENAI_DIALECT, openai_tool_call("exec_command", {"cmd": "ls"}, reasoning=THOUGHT)),
    ],
)
def test_item_references_resolve_to_stored_items(http, model, step):
    first = post(http, {"model": model, "input": agent(step), "tools": [EXEC]}).json()
    # `type` is optional on an item reference: the last one is a bare {"id": ...}.
    refs = [{"type": "item_reference", "id": o["id"]} for o in first["output"]]
    refs[-1] = {"id": refs[-1]["id"]}
    call = next(o for o in first["output"] if o["type"] == "function_call")
    body = {
        "model": model,
        "tools": [EXEC],
        "input": [
            {"role": "user", "content": "echo"},
            *refs,
            {"type": "function_call_output", "call_id": call["call_id"], "output": "a.txt"},
        ],
    }
    r = post(http, body)
    assert r.status_code == 200, r.text
    messages = sent_to_model(r.json()).get("messages") or sent_to_model(r.json())["input"]
    assistant = next(m for m in messages if m.get("role") == "assistant")
    assert assistant["tool_calls"][0]["function"]["name"] == "exec_command"
    assert json.loads(assistant["tool_calls"][0]["function"]["arguments"]) == {"cmd": "ls"}
    assert messages[-1]["content"] == "a.txt"


def test_an_unresolvable_item_reference_is_a_400_naming_it(http, worker):
    other = worker.add_key(name="ref-other")
    theirs = http.post(
        "/v1/responses",
        json={"model": NATIVE, "input": "hi"},
        headers={"authorization": f"Bearer {other}"},
    ).json()
    for ref in (theirs["output"][0]["id"], "msg_1", "msg_" + "0" * 28):
        body = {
            "model": NATIVE,
            "input": [{"role": "user", "content": "hi"}, {"type": "item_reference", "id": ref}],
        }
        r = post(http, body)
        assert r.status_code == 400, r.text
        assert r.json()["error"]["param"] == "input[1]"
        assert ref in r.json()["error"]["message"]


def test_references_to_several_earlier_responses_all_resolve(http):
    answers = [
        post(http, {"model": NATIVE, "input": agent({"text": f"Answer {n}."})}).json()
        for n in (1, 2, 3)
    ]
    conversation = []
    for n, answer in enumerate(answers, 1):
        conversation += [
            {"role": "user", "content": f"Question {n}"},
            {"type": "item_reference", "id": answer["output"][0]["id"]},
        ]
    r = post(http, {"model": NATIVE, "input": [*conversation, {"role": "user", "content": "echo"}]})
    assert r.status_code == 200, r.text
    messages = sent_to_model(r.json())["messages"]
    assert [m["content"] for m in messages if m["role"] == "assistant"] == [
        "Answer 1.",
        "Answer 2.",
        "Answer 3.",
    ]


def test_a_rotated_key_keeps_its_predecessors_conversation(http, worker):
    # rotate-key writes the new record with the old key's limit group (docs/keys.md): a client
    # that switches to the new key mid-conversation still resolves its stored items and sealed
    # reasoning; a key of its own lineage only.
    old_id = uuid.uuid4().hex[:12]
    old = put_key(worker, {"id": old_id})
    new = put_key(worker, {"id": uuid.uuid4().hex[:12], "limit_group": old_id})
    stranger = put_key(worker, {"id": uuid.uuid4().hex[:12]})
    body, answer = reasoning_turn(http, api_key=old)
    reasoning = next(o for o in answer["output"] if o["type"] == "reasoning")
    turn = second_turn(body, answer, reasoning)
    for key, status in ((new, 200), (stranger, 400)):
        r = http.post("/v1/responses", json=turn, headers={"authorization": f"Bearer {key}"})
        assert r.status_code == status, r.text
    stored = http.post(
        "/v1/responses",
        json={"model": NATIVE, "input": "hi"},
        headers={"authorization": f"Bearer {old}"},
    ).json()
    for key, status in ((new, 200), (stranger, 404)):
        r = http.get(f"/v1/responses/{stored['id']}", headers={"authorization": f"Bearer {key}"})
        assert r.status_code == status, r.text


def put_key(worker, fields: dict) -> str:
    key = "sk-fg-" + secrets.token_urlsafe(32)
    record = {"name": "lineage", "created_at": "2026-12-01T00:00:00+00:00", "expires_at": None}
    worker.kv_put(
        f"key:{hashlib.sha256(key.encode()).hexdigest()}", json.dumps({**record, **fields})
    )
    return key
