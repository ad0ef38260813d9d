"""The Worker's ES modules: every import links in Node, and `flaregate render` refuses sources
that break a rule the one-file assembly depends on (flaregate/worker_modules.py), naming the
module and the name at fault."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from flaregate import render
from flaregate.config import WorkerConfig
from flaregate.worker_modules import WorkerModuleError

# Imports every module given on the command line; Node's ES-module linker fails the import when
# a module imports a name its source module does not export.
IMPORT_ALL = """
import { pathToFileURL } from "node:url";
const linked = [];
for (const file of process.argv.slice(2)) {
  await import(pathToFileURL(file).href);
  linked.push(file.split("/").pop());
}
console.log(JSON.stringify(linked));
"""


def _module_copy(tmp_path: Path) -> Path:
    """worker_template/src as real files Node can load: build.js rendered beside the others."""
    src = tmp_path / "src"
    shutil.copytree(render.TEMPLATE_DIR / "src", src)
    (src / "build.js").write_text(render.build_module(WorkerConfig()), encoding="utf-8")
    (src / "package.json").write_text('{"type": "module"}\n')
    (tmp_path / "import_all.mjs").write_text(IMPORT_ALL)
    return src


def _import_all(tmp_path: Path, src: Path) -> subprocess.CompletedProcess:
    modules = sorted(str(p) for p in src.glob("*.js"))
    return subprocess.run(
        ["node", str(tmp_path / "import_all.mjs"), *modules],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_every_worker_module_links_in_node(tmp_path):
    src = _module_copy(tmp_path)
    result = _import_all(tmp_path, src)
    assert result.returncode == 0, result.stderr
    linked = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(linked) == {p.name for p in src.glob("*.js")}
    assert {"router.js", "build.js", "normalize.js", "sse.js"} <= set(linked)


def test_node_refuses_an_import_of_a_name_that_is_not_exported(tmp_path):
    # The check above can fail: the same copy with one bad import does not link.
    src = _module_copy(tmp_path)
    sse = src / "sse.js"
    sse.write_text('import { noSuchExport } from "./http.js";\n' + sse.read_text())
    result = _import_all(tmp_path, src)
    assert result.returncode != 0
    assert "noSuchExport" in result.stderr


@pytest.fixture
def template_copy(tmp_path, monkeypatch):
    """A private copy of the Worker template that `render` reads instead of the real one."""
    copy = tmp_path / "worker_template"
    shutil.copytree(render.TEMPLATE_DIR, copy)
    monkeypatch.setattr(render, "TEMPLATE_DIR", copy)
    return copy / "src"


def _prepend(path: Path, text: str) -> None:
    path.write_text(text + path.read_text())


def _append(path: Path, text: str) -> None:
    path.write_text(path.read_text() + text)


def test_the_unchanged_copy_renders(template_copy):
    assert "class SseParser" in render.render_worker(WorkerConfig())


BROKEN = {
    "import cycle": (
        lambda src: (
            _prepend(src / "http.js", 'import { sseData } from "./sse.js";\n'),
            _prepend(src / "sse.js", 'import { typeName } from "./http.js";\n'),
        ),
        ["Import cycle", "http.js", "sse.js"],
    ),
    "import of a name not exported": (
        lambda src: _prepend(src / "sse.js", 'import { notExported } from "./http.js";\n'),
        ["sse.js", "`notExported`", "http.js", "does not export"],
    ),
    "unused import": (
        lambda src: _prepend(src / "sse.js", 'import { typeName } from "./http.js";\n'),
        ["sse.js", "`typeName`", "never uses it"],
    ),
    "duplicate top-level name": (
        lambda src: _append(
            src / "sse.js", "\nfunction typeName(value) {\n  return typeof value;\n}\n"
        ),
        ["`typeName`", "http.js", "sse.js", "both"],
    ),
    "name used without its import": (
        lambda src: _append(src / "sse.js", "\nexport const SSE_PROBE = (v) => typeName(v);\n"),
        ["sse.js", "`typeName`", "http.js", "without importing"],
    ),
    "renamed import": (
        lambda src: _prepend(src / "sse.js", 'import { typeName as kindOf } from "./http.js";\n'),
        ["sse.js", "typeName as kindOf", "no `as`"],
    ),
}


@pytest.mark.parametrize("rule", BROKEN)
def test_render_refuses_sources_that_break_a_rule(template_copy, rule):
    breaks, expected = BROKEN[rule]
    breaks(template_copy)
    with pytest.raises(WorkerModuleError) as caught:
        render.render_worker(WorkerConfig())
    for fragment in expected:
        assert fragment in str(caught.value), (rule, str(caught.value))
