"""The Worker's text filters do work linear in the text, whatever a model writes.

Each filter (control tokens, think tags, leaked tool-call JSON, stop sequences) and the whole
normalizer are fed adversarial text of size N and 2N, streamed in pieces of every size or given
whole, and `work` (the characters each filter examines, counted by the filters themselves) must
grow like the text: at most ~2x for 2x the text, and a bounded number of looks per character.
A filter that re-scans what it holds on each token fails here long before it burns a request's
CPU budget in production. Runs the filters in Node (tests/filter_work.mjs), outside workerd.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.esm_sources import copy_worker_sources

REPO = Path(__file__).resolve().parent.parent
SIZE = 4000
# Looks per character a filter may take: the tool sniffer re-judges a held head of at most 48
# characters per push, the control-token filter a header window of 64.
PER_CHAR = 160


@pytest.fixture(scope="module")
def filters(tmp_path_factory):
    """A Node process running the filters from a copy of worker_template/src loaded as ESM."""
    src = copy_worker_sources(tmp_path_factory.mktemp("worker_src"))
    proc = subprocess.Popen(
        ["node", str(REPO / "tests" / "filter_work.mjs"), str(src)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )

    def run(case: dict) -> dict:
        proc.stdin.write(json.dumps(case) + "\n")
        proc.stdin.flush()
        answer = json.loads(proc.stdout.readline())
        assert "error" not in answer, answer["error"]
        return answer

    yield run
    proc.stdin.close()
    proc.wait(timeout=10)


def pieces(text: str, size: int | None) -> list[str]:
    return [text] if size is None else [text[i : i + size] for i in range(0, len(text), size)]


def grown(unit: str, size: int) -> str:
    return (unit * (size // max(1, len(unit)) + 1))[:size]


def assert_linear(run, case: dict, unit: str, piece: int | None, prefix: str = "", suffix=""):
    small = run({**case, "pieces": pieces(prefix + grown(unit, SIZE) + suffix, piece)})
    large = run({**case, "pieces": pieces(prefix + grown(unit, 2 * SIZE) + suffix, piece)})
    note = f"unit={unit[:60]!r} piece={piece} work {small['work']} -> {large['work']}"
    assert large["work"] <= 2.25 * small["work"] + 2000, note
    assert large["work"] <= PER_CHAR * 2 * SIZE, note
    return small, large


PIECE = st.sampled_from([1, 2, 3, 5, 16, 64, None])
FILLER = st.text(alphabet=st.sampled_from(list('{}[]<>`"\\:, \nab|/')), max_size=6)

TOOL_UNITS = [
    '```json\n{"name"',
    '{"name": ',
    '[{"name": "x", "arguments": ',
    "<tool_call>",
    '{"na',
    "`",
    "{",
    "[ ",
    " ",
    '{"tool_calls": [{"name": "write_file", "arguments": {}}]} ',
]
CONTROL_UNITS = ["<|start_header_id|>", "<|header_start|>", "<|", "<|im_start|>", "<", "<|eot_id|>"]
THINK_UNITS = ["</think>", "<think>", "<thin", "</think> <think>", "<"]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(unit=st.sampled_from(TOOL_UNITS), filler=FILLER, piece=PIECE)
def test_tool_json_sniffer_work_is_linear(filters, unit, filler, piece):
    assert_linear(filters, {"filter": "tool"}, unit + filler, piece)


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(piece=PIECE, fence=st.booleans())
def test_a_long_emulated_write_file_call_is_read_once(filters, piece, fence):
    """The write_file call of the issue: its argument streams token by token."""
    head = ("```json\n" if fence else "") + '{"name": "write_file", "arguments": {"content": "'
    tail = '"}}' + ("\n```" if fence else "")
    small, large = assert_linear(filters, {"filter": "tool"}, "line\\n ", piece, head, tail)
    for answer in (small, large):
        assert [o["kind"] for o in answer["out"]] == ["calls"]
        assert answer["out"][0]["calls"][0]["name"] == "write_file"


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(unit=st.sampled_from(CONTROL_UNITS), filler=FILLER, piece=PIECE)
def test_control_token_filter_work_is_linear(filters, unit, filler, piece):
    assert_linear(filters, {"filter": "control"}, unit + filler, piece)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(unit=st.sampled_from(THINK_UNITS), filler=FILLER, piece=PIECE)
def test_think_filter_work_is_linear(filters, unit, filler, piece):
    assert_linear(filters, {"filter": "think"}, unit + filler, piece)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seq=st.sampled_from(["a" * 256, "ab" * 127 + "c", "x" * 255 + "y", "\nEND"]),
    unit=st.sampled_from(["a", "ab", "x", "\nEN", "aab"]),
    count=st.integers(1, 4),
    piece=PIECE,
)
def test_stop_sequence_work_is_linear(filters, seq, unit, count, piece):
    stop = [seq[: len(seq) - i] for i in range(count)]
    assert_linear(filters, {"filter": "normalizer", "stop": stop}, unit, piece)


@pytest.mark.parametrize("unit", ["ab", "x", "xxxxxxxy"])
def test_stop_sequence_work_does_not_grow_with_the_sequences_length(filters, unit):
    """Four 33,000-character stops once cost 1.5 s over 32 KB: the hold-back tried every prefix."""
    text = pieces(grown(unit, SIZE), 3)

    def work(length):
        stop = [("x" * (length - 1) + c) for c in "yzwv"]
        return filters({"filter": "normalizer", "stop": stop, "pieces": text})["work"]

    assert work(256) <= 1.25 * work(128) + 2000


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    units=st.lists(
        st.sampled_from(TOOL_UNITS + CONTROL_UNITS + THINK_UNITS), min_size=1, max_size=4
    ),
    piece=PIECE,
)
def test_the_whole_text_path_is_linear(filters, units, piece):
    case = {
        "filter": "normalizer",
        "tools": ["write_file"],
        "reasoning": "think_tags",
        "stop": ["<|x"],
    }
    assert_linear(filters, case, "".join(units), piece)


def test_a_candidate_that_turns_invalid_is_released_at_once_and_a_later_call_still_counts(filters):
    out = filters(
        {
            "filter": "tool",
            "pieces": ['```json\n{"name": oops ', '{"name":"write_file","arguments":{}}'],
        }
    )["out"]
    assert out[0] == {"kind": "text", "text": '```json\n{"name": oops '}
    assert out[1]["kind"] == "calls" and out[1]["calls"][0]["name"] == "write_file"


def test_json_that_names_no_requested_tool_is_released_whole(filters):
    text = '[{"name": "write_file", "arguments": {}}, {"name": "rm_rf", "arguments": {}}] ok'
    out = filters({"filter": "tool", "pieces": pieces(text, 3)})["out"]
    assert {o["kind"] for o in out} == {"text"}
    assert "".join(o["text"] for o in out) == text


def test_json_nested_deeper_than_the_limit_is_text_not_a_stack_overflow(filters):
    text = '{"name": "write_file", "arguments": ' + "[" * 5000 + "]" * 5000 + "}"
    out = filters({"filter": "tool", "pieces": pieces(text, 7)})["out"]
    assert "".join(o["text"] for o in out if o["kind"] == "text") == text


def test_stop_sequences_cut_at_the_first_one_completed(filters):
    answer = filters(
        {"filter": "normalizer", "stop": ["abcdef", "bc"], "pieces": ["xa", "bcdef tail"]}
    )
    assert answer["text"] == "xa" and answer["finish"] == "stop"


def test_a_header_opener_with_a_far_away_closer_drops_only_the_opener(filters):
    text = "<|start_header_id|>" + "word " * 40 + "<|end_header_id|>tail"
    assert filters({"filter": "control", "pieces": [text]})["text"] == "word " * 40 + "tail"
