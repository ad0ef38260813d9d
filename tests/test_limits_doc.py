"""docs/api.md's limits table and docs/keys.md say what the Worker enforces: the numbers are read
from the Worker's own sources (field_checks.js FIELD_CAPS, http.js, quirks.js, auth.js)."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SRC = REPO / "worker_template" / "src"


def constant(module: str, name: str) -> int:
    match = re.search(rf"\b{name} = (\d+);", (SRC / module).read_text())
    assert match, f"{name} not found in {module}"
    return int(match.group(1))


def field_caps() -> dict[str, int]:
    block = re.search(r"FIELD_CAPS = \{(.*?)\};", (SRC / "field_checks.js").read_text(), re.S)
    return {k: int(v) for k, v in re.findall(r"(\w+): (\d+),", block.group(1))}


def limits_rows() -> dict[str, str]:
    text = (REPO / "docs" / "api.md").read_text()
    table = text[text.index("## Limits") :].split("\n\n")[2]
    rows = [line.split(" | ") for line in table.splitlines()[2:]]
    return {cells[0].lstrip("| "): " | ".join(cells[1:]) for cells in rows}


def test_the_limits_table_has_the_enforced_numbers():
    caps = field_caps()
    rows = limits_rows()
    expected = {
        "`model`": [caps["modelName"]],
        "`stop` (chat), `stop_sequences` (Messages)": [
            caps["stopSequences"],
            caps["stopSequenceChars"],
        ],
        "`metadata` (chat, Responses)": [
            caps["metadataPairs"],
            caps["metadataKeyChars"],
            caps["metadataValueChars"],
        ],
        "`user` (Responses)": [caps["userChars"]],
        "`text.format.name`, `response_format.json_schema.name`, `reasoning.effort`": [
            caps["schemaNameChars"]
        ],
        "nesting of the request body": [constant("http.js", "MAX_JSON_DEPTH")],
        "a tool call leaked as text, held back while it streams": [
            constant("quirks.js", "TOOL_JSON_LIMIT") // 1024
        ],
        "a client string in the log line or an error message (`model_requested`, an unknown URL)": [
            caps["logChars"]
        ],
    }
    for row, numbers in expected.items():
        assert row in rows, f"docs/api.md has no limits row {row!r}"
        found = [int(n) for n in re.findall(r"\b(\d+)\b", rows[row])]
        assert found[: len(numbers)] == numbers, (row, rows[row])


def test_keys_doc_gives_the_key_lookup_deadline():
    seconds = constant("auth.js", "KEY_LOOKUP_DEADLINE_MS") // 1000
    assert f"within {seconds} seconds" in (REPO / "docs" / "keys.md").read_text()
