"""The package's layout, kept as README's layout table describes it.

The top level is grouped by role, and the groups are layers: a module imports only from its own
group or from a group below it (:data:`LAYERS`, bottom first). Every import counts: those run
when a module loads, those inside a function and those under ``if TYPE_CHECKING:`` (a type the
checker reads is a dependency all the same). No group imports one above it, no two modules
import each other round a circle, and only the command line reaches the demo.
"""

from __future__ import annotations

import ast
from pathlib import Path

import tomocupy_gladier

PACKAGE = Path(tomocupy_gladier.__file__).parent
# modules directly in tomocupy_gladier/: shared leaves every group may use
LEAVES = {"__init__", "errors", "redaction", "action_urls", "backends"}
# the groups, bottom first: README's layout table read from its last row up
LAYERS = ("leaves", "compute", "engine", "experiment", "local", "globus", "tools", "flows",
          "clients", "runs", "planning", "demo", "campaign", "web", "cli")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, module: str) -> set[str]:
    """Every module ``module`` imports, anywhere in it, as absolute names (relative imports
    resolved; ``from package import name`` counts the submodule when ``name`` is one)."""
    tree = ast.parse(path.read_text())
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            submodules = [f"{target}.{alias.name}" for alias in node.names
                          if f"{target}.{alias.name}" in MODULES]
            found.update(submodules or [target])
    return found


def _group(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "tomocupy_gladier":
        return None
    if len(parts) == 1 or parts[1] in LEAVES or parts[1] == "__version__":
        return "leaves"
    return parts[1]


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
IMPORTS = {name: _imports(path, name) for name, path in MODULES.items()}


def test_every_group_has_its_place_in_the_layers():
    groups = {_group(module) for module in MODULES}
    assert groups == set(LAYERS), f"not in LAYERS: {groups - set(LAYERS)}; gone: {set(LAYERS) - groups}"


def test_at_most_six_modules_sit_directly_in_the_package():
    top = sorted(p.stem for p in PACKAGE.glob("*.py"))
    assert set(top) <= LEAVES and len(top) <= 6, top


def test_no_module_imports_from_a_group_above_its_own():
    rank = {group: i for i, group in enumerate(LAYERS)}
    upward = sorted((module, target) for module, targets in IMPORTS.items() for target in targets
                    if _group(target) is not None and rank[str(_group(target))] > rank[str(_group(module))])
    assert upward == [], "imports running up the layers: " + "; ".join(f"{a} -> {b}" for a, b in upward)


def test_only_the_command_line_reaches_the_demo():
    offenders = [(module, target) for module, targets in IMPORTS.items()
                 if _group(module) not in {"demo", "cli"} for target in targets if _group(target) == "demo"]
    assert offenders == []


def test_no_module_imports_itself_round_a_circle():
    graph = {m: {t for t in targets if t in MODULES and t != m} for m, targets in IMPORTS.items()}
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
            circle = visit(module)
            assert circle is None, f"import circle: {' -> '.join(circle or [])}"


def test_the_import_reader_counts_every_import(tmp_path):
    """What the checks above read: relative imports resolved, and a function's import and a
    TYPE_CHECKING import counted as much as one at the top of the module."""
    source = tmp_path / "b.py"
    source.write_text("from typing import TYPE_CHECKING\nfrom ..planning import plan\n"
                      "if TYPE_CHECKING:\n    from tomocupy_gladier.cli import main\n"
                      "def late():\n    from tomocupy_gladier.web import app\n")
    found = _imports(source, "tomocupy_gladier.runs.b")
    assert {"tomocupy_gladier.planning.plan", "tomocupy_gladier.web.app"} <= found
    assert "cli" in {_group(name) for name in found}
    assert _group("tomocupy_gladier.runs.b") == "runs" and _group("tomocupy_gladier.errors") == "leaves"


def test_the_layer_rule_would_see_an_upward_import_inside_a_function(tmp_path):
    source = tmp_path / "late.py"
    source.write_text("def build():\n    from tomocupy_gladier.clients import client_factory\n")
    [target] = _imports(source, "tomocupy_gladier.experiment.late")
    assert LAYERS.index(str(_group(target))) > LAYERS.index("experiment")
