"""The house rules (issue 13's "Done when"), checked by reading the source with `ast`.

No source file over 500 lines and no command module over 250; no import cycle between
physfoley modules, counting every `import` and `from ... import` anywhere in a file (inside
functions and `if TYPE_CHECKING:` too, relative imports resolved); `pipeline.py` and `models/`
import nothing from `physfoley.data`; `evaluation/` and `tests/` use no private (`_name`) name
of physfoley; no absolute machine path (`/work/...`) in src/, docs/, benchmarks/, configs/.
Each failure lists every offender with its file and line. The checks are plain functions of a
source folder, so the last tests run them on small fake packages to show that they do fire.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"
PACKAGE = "physfoley"
MAX_FILE_LINES = 500
MAX_COMMAND_LINES = 250
PATH_FOLDERS = ("src", "docs", "benchmarks", "configs")
MACHINE_PATH = re.compile(r"(?<![\w./~-])/work/")  # an absolute path, not a/work/ or ./work/


@dataclass(frozen=True)
class ImportRef:
    """One imported thing: `module` (absolute, dotted) and the `name` taken from it, if any."""

    path: Path
    line: int
    module: str
    name: str | None  # `from module import name`; None for `import module`


def _rel(path: Path, root: Path = REPO) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def module_files(src: Path, package: str) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file of `package` under `src`."""
    modules = {}
    for path in sorted((src / package).rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _from_base(node: ast.ImportFrom, module: str | None, is_package: bool) -> str | None:
    """Absolute module of `from X import ...`, relative levels resolved against `module`."""
    if node.level == 0:
        return node.module
    if module is None:
        return None  # a relative import outside the package (not seen in tests/)
    parts = module.split(".") if is_package else module.split(".")[:-1]
    parts = parts[: len(parts) - (node.level - 1)] if node.level > 1 else parts
    return ".".join([*parts, node.module] if node.module else parts)


def imports_in(path: Path, module: str | None = None) -> list[ImportRef]:
    """Every import in the file, wherever it is (top level, functions, TYPE_CHECKING blocks),
    and `importlib.import_module("literal")` calls. `module` : the file's dotted name."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    refs = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            refs += [ImportRef(path, node.lineno, a.name, None) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _from_base(node, module, is_package)
            if base is not None:
                refs += [ImportRef(path, node.lineno, base, a.name) for a in node.names]
        elif (
            isinstance(node, ast.Call)
            and ast.unparse(node.func) in ("importlib.import_module", "import_module")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            refs.append(ImportRef(path, node.lineno, node.args[0].value, None))
    return refs


def _known(dotted: str, modules: dict[str, Path]) -> str | None:
    """The longest prefix of `dotted` that is a module of the package, or None."""
    parts = dotted.split(".")
    for n in range(len(parts), 0, -1):
        if ".".join(parts[:n]) in modules:
            return ".".join(parts[:n])
    return None


def target_module(ref: ImportRef, modules: dict[str, Path]) -> str | None:
    """The package module an import loads (`from pkg import sub` loads pkg.sub), or None."""
    if ref.name is not None and f"{ref.module}.{ref.name}" in modules:
        return f"{ref.module}.{ref.name}"
    return _known(ref.module, modules)


def import_graph(src: Path, package: str) -> dict[str, dict[str, list[ImportRef]]]:
    """module -> {imported module: the imports that make the edge} within `package`."""
    modules = module_files(src, package)
    graph: dict[str, dict[str, list[ImportRef]]] = {m: {} for m in modules}
    for module, path in modules.items():
        for ref in imports_in(path, module):
            target = target_module(ref, modules)
            if target is not None and target != module:
                graph[module].setdefault(target, []).append(ref)
    return graph


def import_cycles(graph: dict[str, dict[str, list[ImportRef]]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, {})))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))
    return sorted(components)


def describe_cycle(component: list[str], graph: dict[str, dict[str, list[ImportRef]]]) -> str:
    """The component's modules and every import between them, as file:line."""
    members = set(component)
    lines = [f"cycle of {len(component)} modules: {', '.join(component)}"]
    for module in component:
        for target, refs in sorted(graph[module].items()):
            if target in members:
                where = ", ".join(f"{_rel(r.path)}:{r.line}" for r in refs)
                lines.append(f"  {module} -> {target}  ({where})")
    return "\n".join(lines)


def _long_files(paths: Iterable[Path], limit: int) -> list[str]:
    counts = ((p, len(p.read_text(encoding="utf-8").splitlines())) for p in paths)
    return [f"{_rel(p)}: {n} lines" for p, n in sorted(counts) if n > limit]


def forbidden_imports(
    graph: dict[str, dict[str, list[ImportRef]]], importers: Iterable[str], forbidden: str
) -> list[str]:
    """Imports by `importers` of `forbidden` or any module under it, as file:line."""
    out = []
    for module in importers:
        for target, refs in sorted(graph[module].items()):
            if target == forbidden or target.startswith(forbidden + "."):
                for r in refs:
                    what = f"from {r.module} import {r.name}" if r.name else f"import {r.module}"
                    out.append(f"{_rel(r.path)}:{r.line}: {what}")
    return out


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return None if base is None else f"{base}.{node.attr}"
    return None


def private_uses(path: Path, modules: dict[str, Path], module: str | None = None) -> list[str]:
    """Private names of the package that a file uses, as file:line: what.

    Counts `from pkg.mod import _name`, `import pkg._mod`, `mod._name` where `mod` is bound to
    a package module, and string targets such as `monkeypatch.setattr("pkg.mod._name", ...)`
    or `setattr(mod, "_name", ...)`. A module's use of its own private names is not counted.
    """
    package = next(iter(modules)).split(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    aliases: dict[str, str] = {}  # local name -> package module it is bound to
    for ref in imports_in(path, module):
        if ref.module.split(".")[0] != package:
            continue
        if ref.name is None:
            if any(_private(p) for p in ref.module.split(".")):
                found.append(f"{_rel(ref.path)}:{ref.line}: import {ref.module}")
            continue
        loaded = target_module(ref, modules)
        if loaded == module:
            continue
        if _private(ref.name) or any(_private(p) for p in ref.module.split(".")):
            found.append(f"{_rel(ref.path)}:{ref.line}: from {ref.module} import {ref.name}")
    for node in ast.walk(tree):  # names bound to package modules
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == package:
                    aliases[a.asname or a.name.split(".")[0]] = a.name if a.asname else package
        elif isinstance(node, ast.ImportFrom):
            base = _from_base(node, module, path.name == "__init__.py")
            for a in node.names:
                if base and f"{base}.{a.name}" in modules:
                    aliases[a.asname or a.name] = f"{base}.{a.name}"

    def resolve(expr: ast.AST) -> str | None:
        dotted = _dotted(expr)
        if dotted is None or dotted.split(".")[0] not in aliases:
            return None
        first, *rest = dotted.split(".")
        full = ".".join([aliases[first], *rest])
        return full if full in modules else None

    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            owner = resolve(node.value)
            if owner is not None and owner != module:
                found.append(f"{_rel(path)}:{node.lineno}: {owner}.{node.attr}")
        elif isinstance(node, ast.Call):
            strings = [
                a.value
                for a in node.args
                if isinstance(a, ast.Constant) and isinstance(a.value, str)
            ]
            for s in strings:
                parts = s.split(".")
                if parts[0] == package and len(parts) > 1 and any(_private(p) for p in parts):
                    found.append(f"{_rel(path)}:{node.lineno}: {s!r}")
            if len(node.args) >= 2 and isinstance(node.args[1], ast.Constant):
                owner, attr = resolve(node.args[0]), node.args[1].value
                if owner is not None and isinstance(attr, str) and _private(attr):
                    found.append(f"{_rel(path)}:{node.lineno}: {owner}.{attr} (by string)")
    return sorted(set(found), key=lambda s: (s.split(":")[0], int(s.split(":")[1]), s))


def machine_paths(folders: Iterable[Path]) -> Iterator[str]:
    """Lines of text files under `folders` that hold an absolute /work/ path, as file:line."""
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if not path.is_file() or "__pycache__" in path.parts:
                continue
            with path.open("rb") as f:
                if b"\0" in f.read(8192):
                    continue  # binary files (images, weights, indexes)
            try:
                text = path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                continue
            for n, line in enumerate(text.splitlines(), 1):
                if MACHINE_PATH.search(line):
                    yield f"{_rel(path)}:{n}: {line.strip()[:120]}"


def _fail_with(title: str, offenders: list[str]) -> str:
    return f"{title} ({len(offenders)}):\n" + "\n".join(offenders)


# --- the rules, on this repository ----------------------------------------------------------


def test_no_source_file_over_500_lines():
    long = _long_files(SRC.rglob("*.py"), MAX_FILE_LINES)
    assert not long, _fail_with(f"source files over {MAX_FILE_LINES} lines", long)


def test_commands_are_thin():
    long = _long_files((SRC / PACKAGE / "commands").glob("*.py"), MAX_COMMAND_LINES)
    assert not long, _fail_with(f"commands/*.py over {MAX_COMMAND_LINES} lines", long)


def test_no_import_cycles_counting_function_level_imports():
    graph = import_graph(SRC, PACKAGE)
    cycles = [describe_cycle(c, graph) for c in import_cycles(graph)]
    assert not cycles, _fail_with("import cycles between physfoley modules", cycles)


def test_pipeline_and_models_import_nothing_from_data():
    graph = import_graph(SRC, PACKAGE)
    importers = [m for m in graph if m == "physfoley.pipeline" or m.startswith("physfoley.models")]
    assert "physfoley.pipeline" in importers and len(importers) > 1
    bad = forbidden_imports(graph, sorted(importers), "physfoley.data")
    assert not bad, _fail_with("pipeline.py / models/ imports of physfoley.data", bad)


def test_web_reaches_the_library_only_through_its_backend():
    graph = import_graph(SRC, PACKAGE)
    web = sorted(m for m in graph if m.startswith("physfoley.web."))
    assert "physfoley.web.backend" in web and len(web) > 1
    bad = [
        f"{_rel(r.path)}:{r.line}: {target}"
        for module in web
        if module != "physfoley.web.backend"
        for target, refs in sorted(graph[module].items())
        if not target.startswith("physfoley.web")
        for r in refs
    ]
    assert not bad, _fail_with("web/ imports of the library outside web/backend.py", bad)


def test_evaluation_and_tests_use_no_private_names():
    modules = module_files(SRC, PACKAGE)
    found = []
    for module, path in sorted(modules.items()):
        if module.startswith("physfoley.evaluation"):
            found += private_uses(path, modules, module)
    for path in sorted((REPO / "tests").rglob("*.py")):
        found += private_uses(path, modules)
    assert not found, _fail_with("private physfoley names used by evaluation/ and tests/", found)


def test_no_absolute_machine_paths():
    found = list(machine_paths(REPO / f for f in PATH_FOLDERS if (REPO / f).is_dir()))
    assert not found, _fail_with(f"absolute /work/ paths in {', '.join(PATH_FOLDERS)}", found)


# --- the checks fire: small fake packages ---------------------------------------------------


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_cycle_check_sees_function_level_and_relative_imports(tmp_path):
    _write(
        tmp_path,
        {
            "fake/__init__.py": "",
            "fake/a.py": "from fake import b\n",
            # the edge back is a relative import inside a function: it still counts
            "fake/b.py": "def f():\n    from . import a\n    return a\n",
            "fake/c.py": "import fake.a\nfrom fake.sub.d import x\n",
            "fake/sub/__init__.py": "",
            "fake/sub/d.py": "from ..c import y\nimport numpy\n",
            "fake/e.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from fake import a\n",
        },
    )
    graph = import_graph(tmp_path, "fake")
    assert set(graph["fake.b"]) == {"fake.a"} and set(graph["fake.sub.d"]) == {"fake.c"}
    assert set(graph["fake.e"]) == {"fake.a"}
    cycles = import_cycles(graph)
    assert cycles == [["fake.a", "fake.b"], ["fake.c", "fake.sub.d"]]
    text = describe_cycle(cycles[0], graph)
    assert "fake.b -> fake.a" in text and "b.py:2" in text
    _write(tmp_path, {"fake/b.py": "def f():\n    return 1\n", "fake/sub/d.py": ""})
    assert import_cycles(import_graph(tmp_path, "fake")) == []


def test_layer_private_and_path_checks_fire(tmp_path):
    _write(
        tmp_path,
        {
            "src/fake/__init__.py": "",
            "src/fake/data.py": "_helper = 1\n",
            "src/fake/models/net.py": "def f():\n    from fake.data import _helper\n",
            "src/fake/models/ok.py": "import os\n",
            "tests/test_x.py": (
                "import fake.data as fd\nfrom fake import data\n\n"
                "def test(monkeypatch):\n    fd._helper\n    data.public\n"
                "    monkeypatch.setattr('fake.data._helper', 2)\n"
                "    monkeypatch.setattr(data, '_helper', 3)\n"
            ),
            "docs/page.md": "run it on /work/data/x\nnot this: ./work/ or a/work/b\n",
        },
    )
    src = tmp_path / "src"
    graph = import_graph(src, "fake")
    bad = forbidden_imports(graph, ["fake.models.net", "fake.models.ok"], "fake.data")
    assert len(bad) == 1 and bad[0].endswith("net.py:2: from fake.data import _helper")
    modules = module_files(src, "fake")
    found = private_uses(tmp_path / "tests/test_x.py", modules)
    assert [f.split(": ", 1)[1] for f in found] == [
        "fake.data._helper",
        "'fake.data._helper'",
        "fake.data._helper (by string)",
    ]
    assert private_uses(src / "fake/models/net.py", modules, "fake.models.net")
    assert not private_uses(src / "fake/data.py", modules, "fake.data")
    paths = list(machine_paths([tmp_path / "docs"]))
    assert len(paths) == 1 and paths[0].endswith("page.md:1: run it on /work/data/x")
