"""The package's layout, kept as README's layout table describes it.

The top level is grouped by role; imports run one way: the outer shells (cli, web, campaign)
use the core, the core never uses them, and no two groups import each other when the modules
load (a function may import a group above it lazily, where a late choice needs it: the backend
building its client, say). Only the command line reaches the demo.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import tomocupy_gladier

PACKAGE = Path(tomocupy_gladier.__file__).parent
SHELLS = {"cli", "web", "campaign"}
# modules directly in tomocupy_gladier/: shared leaves every group may use
LEAVES = {"__init__", "errors", "redaction", "action_urls", "backends"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, module: str) -> tuple[set[str], set[str]]:
    """(imported when ``module`` loads, imported anywhere in it), as absolute module names;
    imports under ``if TYPE_CHECKING:`` are for the type checker and count for neither."""
    tree = ast.parse(path.read_text())
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]

    def names(node: ast.AST) -> list[str]:
        if isinstance(node, ast.Import):
            return [alias.name for alias in node.names]
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module == "tomocupy_gladier":  # from tomocupy_gladier import x: x is a module or __version__
                return [f"tomocupy_gladier.{alias.name}" for alias in node.names]
            return [module]
        return []

    type_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If)
                 and "TYPE_CHECKING" in ast.dump(block.test) for n in ast.walk(block)}
    at_load = {name for node in tree.body if id(node) not in type_only for name in names(node)}
    anywhere = {name for node in ast.walk(tree) if id(node) not in type_only for name in names(node)}
    return at_load, anywhere


def _group(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "tomocupy_gladier":
        return None
    if len(parts) == 1 or parts[1] in LEAVES or parts[1] == "__version__":
        return "leaves"
    return parts[1]


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
IMPORTS = {name: _imports(path, name) for name, path in MODULES.items()}


def test_at_most_six_modules_sit_directly_in_the_package():
    top = sorted(p.stem for p in PACKAGE.glob("*.py"))
    assert set(top) <= LEAVES and len(top) <= 6, top


def test_the_core_never_imports_the_outer_shells():
    offenders = [(module, target) for module, (_, anywhere) in IMPORTS.items()
                 if _group(module) not in SHELLS for target in anywhere if _group(target) in SHELLS]
    assert offenders == []


def test_only_the_command_line_reaches_the_demo():
    offenders = [(module, target) for module, (_, anywhere) in IMPORTS.items()
                 if _group(module) not in {"demo", "cli"} for target in anywhere if _group(target) == "demo"]
    assert offenders == []


def test_no_two_groups_import_each_other_when_they_load():
    edges: dict[str, set[str]] = defaultdict(set)
    for module, (at_load, _) in IMPORTS.items():
        for target in at_load:
            if _group(target) not in (None, _group(module)):
                edges[str(_group(module))].add(str(_group(target)))

    def reachable(start: str) -> set[str]:
        seen: set[str] = set()
        todo = [start]
        while todo:
            for nxt in edges.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    circles = sorted((a, b) for a in edges for b in edges[a] if a in reachable(b))
    assert circles == [], f"groups importing each other: {circles}"


def test_no_module_imports_itself_round_a_circle_when_it_loads():
    graph = {m: {t for t in at_load if t in MODULES} for m, (at_load, _) in IMPORTS.items()}
    on_path: list[str] = []
    state: dict[str, str] = {}

    def visit(module: str) -> list[str] | None:
        state[module] = "open"
        on_path.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == "open":
                return on_path[on_path.index(target):] + [target]
            if target not in state and (found := visit(target)):
                return found
        state[module] = "done"
        on_path.pop()
        return None

    for module in sorted(graph):
        if module not in state:
            assert visit(module) is None, f"import circle: {' -> '.join(on_path)}"


def test_the_import_reader_tells_load_time_lazy_and_type_only_imports_apart(tmp_path):
    """What the checks above read: relative imports resolved, a function's import lazy, a
    TYPE_CHECKING import not counted."""
    source = tmp_path / "b.py"
    source.write_text("from typing import TYPE_CHECKING\nfrom ..planning import plan\n"
                      "if TYPE_CHECKING:\n    from tomocupy_gladier.cli import main\n"
                      "def late():\n    from tomocupy_gladier.web import app\n")
    at_load, anywhere = _imports(source, "tomocupy_gladier.runs.b")
    assert "tomocupy_gladier.planning" in at_load and "tomocupy_gladier.web" not in at_load
    assert "tomocupy_gladier.web" in anywhere and "tomocupy_gladier.cli" not in anywhere
    assert _group("tomocupy_gladier.runs.b") == "runs" and _group("tomocupy_gladier.errors") == "leaves"
