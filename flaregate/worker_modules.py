"""Assemble the Worker's ES modules (``worker_template/src/*.js``) into one self-contained module.

Each source file is a real ES module that imports what it uses by name. Workers, the Pulumi upload
and ``wrangler deploy`` want one file, and flaregate has no bundler: the modules are laid out in
import order (dependencies first) and the import/export plumbing is dropped, which is sound only
because every check below holds. Each check fails loudly with the module and name at fault:

- imports have one form, ``import { a, b } from "./module.js";`` (no renames, defaults or
  namespaces: all modules end up in one scope, so a name must mean the same thing everywhere);
- every imported name is exported by its module, and every import is used;
- no two modules define the same top-level name;
- a module uses another module's top-level name only through an import;
- the import graph has no cycles, and every module is reachable from the entry module.

``build.js`` is the one generated module: ``build.js.j2`` rendered with the version, settings and
model catalog.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from .errors import FlaregateError

ENTRY_MODULE = "router.js"

_IMPORT = re.compile(r'^import\s*\{([^}]*)\}\s*from\s*"\./([\w.-]+\.js)";?[ \t]*\n', re.M)
_REEXPORT = re.compile(r'^export\s*\{([^}]*)\}\s*from\s*"\./([\w.-]+\.js)";?[ \t]*\n', re.M)
_OTHER_MODULE_SYNTAX = re.compile(r"^(import\b|export\s*(\*|\{))", re.M)
_DECLARATION = re.compile(
    r"^(?P<export>export\s+(?P<default>default\s+)?)?(?:async\s+)?"
    r"(?P<kind>function\s*\*?|class|const|let|var)\s*(?P<name>[A-Za-z_$][\w$]*)?",
    re.M,
)
_IDENTIFIER = re.compile(r"[A-Za-z_$][\w$]*")


class WorkerModuleError(FlaregateError):
    """The Worker sources break a rule the one-file assembly depends on."""


@dataclass
class Module:
    name: str
    source: str
    imports: dict[str, list[str]] = field(default_factory=dict)  # module -> names
    reexports: dict[str, list[str]] = field(default_factory=dict)  # entry module only
    defined: set[str] = field(default_factory=set)
    exported: set[str] = field(default_factory=set)
    has_default_export: bool = False

    @property
    def body(self) -> str:
        """The source without its import/export plumbing."""
        text = _IMPORT.sub("", self.source)
        if self.name == ENTRY_MODULE:
            # What the entry module re-exports (Durable Object classes, say) is defined above it.
            return _REEXPORT.sub(lambda m: f"export {{ {m.group(1).strip()} }};\n", text).strip(
                "\n"
            )
        return re.sub(
            r"^export\s+(?=(async\s+)?(function|class|const|let|var)\b)", "", text, flags=re.M
        ).strip("\n")


def parse_module(name: str, source: str) -> Module:
    module = Module(name, source)
    for pattern, target in ((_IMPORT, module.imports), (_REEXPORT, module.reexports)):
        for match in pattern.finditer(source):
            names = [n.strip() for n in match.group(1).split(",") if n.strip()]
            for imported in names:
                if not _IDENTIFIER.fullmatch(imported):
                    raise WorkerModuleError(
                        f"{name}: `{imported}` in an import from {match.group(2)}: import names as they are "
                        "exported (no `as`): all modules share one scope once assembled."
                    )
            target.setdefault(match.group(2), []).extend(names)
    rest = _REEXPORT.sub("", _IMPORT.sub("", source))
    other = _OTHER_MODULE_SYNTAX.search(rest)
    if other:
        line = rest[other.start() :].split("\n", 1)[0]
        raise WorkerModuleError(
            f'{name}: unsupported module syntax `{line}`: use `import {{ a, b }} from "./module.js";` '
            "and `export` before a declaration."
        )
    if module.reexports and name != ENTRY_MODULE:
        raise WorkerModuleError(
            f"{name}: only the entry module ({ENTRY_MODULE}) may re-export names."
        )
    for match in _DECLARATION.finditer(rest):
        declared = match.group("name")
        if match.group("default"):
            if name != ENTRY_MODULE:
                raise WorkerModuleError(
                    f"{name}: only the entry module ({ENTRY_MODULE}) has a default export."
                )
            module.has_default_export = True
            if not declared or match.group("kind").startswith(("const", "let", "var")):
                continue
        if not declared:
            raise WorkerModuleError(
                f"{name}: a top-level `{match.group(0).strip()}` without a plain name (destructuring?): "
                "declare one name per top-level statement so the assembly can check it."
            )
        if declared in module.defined:
            raise WorkerModuleError(f"{name}: `{declared}` is declared twice at the top level.")
        module.defined.add(declared)
        if match.group("export"):
            module.exported.add(declared)
    if re.search(r"^export\s+default\b", rest, re.M):
        if name != ENTRY_MODULE:
            raise WorkerModuleError(
                f"{name}: only the entry module ({ENTRY_MODULE}) has a default export."
            )
        module.has_default_export = True
    return module


def code_identifiers(source: str) -> set[str]:
    """Identifiers used as code: comments, string and regex literals, and property names after a
    dot are skipped; the expressions inside template literals are kept."""
    found: set[str] = set()
    i, n = 0, len(source)
    template_depth: list[int] = []  # brace depth at which each open `${` returns to its template
    depth = 0
    prev = ""  # the last significant character, to tell a regex from a division
    while i < n:
        c = source[i]
        if c in " \t\r\n":
            i += 1
            continue
        if source.startswith("//", i):
            i = source.find("\n", i)
            i = n if i < 0 else i
            continue
        if source.startswith("/*", i):
            end = source.find("*/", i + 2)
            i = n if end < 0 else end + 2
            continue
        if c in "'\"":
            i = _skip_string(source, i, c)
            prev = "a"
            continue
        if c == "`" or (c == "}" and template_depth and template_depth[-1] == depth):
            if c == "}":
                template_depth.pop()
            i, opened = _skip_template(source, i + 1)
            if opened:
                template_depth.append(depth)
            prev = "a"
            continue
        if c == "/" and (not prev or prev in "(,=:[!&|?{};+-*%<>~^" or prev == "k"):
            i = _skip_regex(source, i)
            prev = "a"
            continue
        match = _IDENTIFIER.match(source, i)
        if match:
            word = match.group(0)
            if prev != ".":
                found.add(word)
            # After `return`, `typeof` & co. a slash starts a regex.
            prev = (
                "k"
                if word in {"return", "typeof", "case", "in", "of", "delete", "void", "throw"}
                else "a"
            )
            i = match.end()
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
        if c.isdigit():
            while i < n and (source[i].isalnum() or source[i] in "._"):
                i += 1
            prev = "a"
            continue
        if source.startswith("...", i):  # a spread uses the name after it
            prev, i = ",", i + 3
            continue
        prev = "." if source.startswith("?.", i) else c
        i += 2 if source.startswith("?.", i) else 1
    return found


def _skip_string(source: str, i: int, quote: str) -> int:
    i += 1
    while i < len(source) and source[i] != quote:
        i += 2 if source[i] == "\\" else 1
    return i + 1


def _skip_template(source: str, i: int) -> tuple[int, bool]:
    """From just inside a template's text to past its end (False) or past a `${` (True)."""
    while i < len(source):
        if source[i] == "\\":
            i += 2
        elif source[i] == "`":
            return i + 1, False
        elif source.startswith("${", i):
            return i + 2, True
        else:
            i += 1
    return i, False


def _skip_regex(source: str, i: int) -> int:
    i += 1
    in_class = False
    while i < len(source) and source[i] != "\n":
        c = source[i]
        if c == "\\":
            i += 2
            continue
        if c == "[":
            in_class = True
        elif c == "]":
            in_class = False
        elif c == "/" and not in_class:
            i += 1
            while i < len(source) and (source[i].isalpha()):
                i += 1
            return i
        i += 1
    return i


def assemble(read: Callable[[str], str]) -> list[Module]:
    """The modules reachable from the entry module, dependencies first, checked.

    ``read(name)`` returns a module's source (``build.js`` rendered from its template).
    """
    modules: dict[str, Module] = {}
    order: list[str] = []
    visiting: list[str] = []

    def visit(name: str, importer: str | None) -> None:
        if name in visiting:
            cycle = " -> ".join([*visiting[visiting.index(name) :], name])
            raise WorkerModuleError(
                f"Import cycle between Worker modules: {cycle}. Move the shared code down a level."
            )
        if name in modules:
            return
        try:
            source = read(name)
        except FileNotFoundError:
            raise WorkerModuleError(
                f"{importer}: imports ./{name}, which does not exist."
            ) from None
        module = parse_module(name, source)
        modules[name] = module
        visiting.append(name)
        for dependency in [*module.imports, *module.reexports]:
            visit(dependency, name)
        visiting.pop()
        order.append(name)

    visit(ENTRY_MODULE, None)
    ordered = [modules[name] for name in order]
    _check_names(ordered, modules)
    return ordered


def _check_names(ordered: list[Module], modules: dict[str, Module]) -> None:
    owner: dict[str, str] = {}
    for module in ordered:
        for name in module.defined:
            if name in owner:
                raise WorkerModuleError(
                    f"`{name}` is defined at the top level of both {owner[name]} and {module.name}; "
                    "once assembled they would share one scope. Rename one."
                )
            owner[name] = module.name
    for module in ordered:
        imported: dict[str, str] = {}
        for source_name, names in [*module.imports.items(), *module.reexports.items()]:
            for name in names:
                if name not in modules[source_name].exported:
                    raise WorkerModuleError(
                        f"{module.name}: imports `{name}` from {source_name}, which does not export it."
                    )
                imported[name] = source_name
        code = _IMPORT.sub("", _REEXPORT.sub("", module.source))
        used = code_identifiers(code)
        for name in sorted(used):
            if name in owner and owner[name] != module.name and name not in imported:
                raise WorkerModuleError(
                    f"{module.name}: uses `{name}` from {owner[name]} without importing it; add "
                    f'`import {{ {name} }} from "./{owner[name]}";`.'
                )
        reexported = {n for names in module.reexports.values() for n in names}
        for name, source_name in imported.items():
            if name not in used and name not in reexported:
                raise WorkerModuleError(
                    f"{module.name}: imports `{name}` from {source_name} but never uses it."
                )
