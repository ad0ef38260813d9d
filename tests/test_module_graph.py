"""The Python packages' dependency graph: one direction, no circles, every module says what it is for.

The program (``infra/``, installed as ``flaregate.infra``) uses the library; the library reaches
the program in exactly one place, where ``deploy`` hands the inline program to the Automation
API. Every import counts, including the ones inside functions and under ``TYPE_CHECKING``: a
lazy import is still a dependency a reader has to follow.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PROGRAM = "flaregate.infra"
# The one place the library reaches the program (module, the name it imports).
ENTRY = ("flaregate.deploy", "flaregate.infra.program")


def python_modules(root: Path) -> dict[str, Path]:
    """Module name -> file, for every package directory pyproject.toml installs."""
    setuptools = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    modules = {}
    for package, directory in setuptools["package-dir"].items():
        for path in sorted((root / directory).glob("*.py")):
            modules[package if path.stem == "__init__" else f"{package}.{path.stem}"] = path
    return modules


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The known modules ``name`` imports (``from . import x`` counts as importing ``x``)."""
    package = name if path.stem == "__init__" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package
                for _ in range(node.level - 1):
                    anchor = anchor.rpartition(".")[0]
                base = f"{anchor}.{base}" if base else anchor
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name and not _is_ancestor(target, name):
                found.add(target)
            if target.split(".")[0] == "infra":
                found.add(target)
    return found


def _is_ancestor(package: str, name: str) -> bool:
    """Importing a submodule runs its package's __init__: not a dependency worth a cycle."""
    return name.startswith(package + ".")


def import_graph(root: Path) -> dict[str, set[str]]:
    modules = python_modules(root)
    known = set(modules) | {"infra"}
    return {name: imports_of(name, path, known) for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle as a path that ends where it starts, or None."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == "open":
                return stack[stack.index(dep) :] + [dep]
            if dep not in state and (cycle := visit(dep)):
                return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_circles():
    cycle = find_cycle(import_graph(REPO))
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def test_the_library_reaches_the_program_only_where_deploy_hands_it_to_pulumi():
    graph = import_graph(REPO)
    reaching = {
        (name, dep)
        for name, deps in graph.items()
        if not name.startswith(PROGRAM)
        for dep in deps
        if dep.startswith(PROGRAM) and dep != PROGRAM or dep.split(".")[0] == "infra"
    }
    assert reaching == {ENTRY}


def test_the_program_never_imports_itself_by_its_repository_name():
    """``import infra`` would load a second copy of the program beside ``flaregate.infra``."""
    graph = import_graph(REPO)
    assert not [(n, d) for n, deps in graph.items() for d in deps if d.split(".")[0] == "infra"]


def test_every_module_opens_with_a_docstring_saying_what_it_is_for():
    missing = [
        name
        for name, path in python_modules(REPO).items()
        if not ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    ]
    assert missing == []


@pytest.mark.parametrize(
    ("files", "cycle"),
    [
        (
            {"a.py": "from . import b\n", "b.py": "def f():\n    from .a import x\n"},
            ["pkg.a", "pkg.b", "pkg.a"],
        ),
        ({"a.py": "import pkg.b\n", "b.py": "x = 1\n"}, None),
    ],
)
def test_the_checker_finds_a_circle_hidden_in_a_function(tmp_path, files, cycle):
    (tmp_path / "pyproject.toml").write_text('[tool.setuptools.package-dir]\npkg = "pkg"\n')
    (tmp_path / "pkg").mkdir()
    for name, text in {"__init__.py": '"""pkg"""\n', **files}.items():
        (tmp_path / "pkg" / name).write_text(text)
    assert find_cycle(import_graph(tmp_path)) == cycle
