"""What runs the rendered Worker on this machine, for ``flaregate dev`` and the tests.

Not Python code: ``runner.mjs`` starts workerd through Miniflare with a KV key ring and an ``AI``
binding (``stand_in_ai.js``, or real Workers AI through Miniflare's remote bindings). A package so
that the installed flaregate finds the files through the import system (:func:`runner_path`).
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent


def runner_path() -> Path:
    return HERE / "runner.mjs"


def stand_in_path() -> Path:
    return HERE / "stand_in_ai.js"
