"""The backend is chosen once, in ``tomocupy_gladier.backends``: everything else asks the chosen
backend what it is (plain values), never its name; what differs in behaviour is mapped from the
backend where the behaviour lives (its client, its identity, its engine, its pages)."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

import tomocupy_gladier
from tomocupy_gladier.backends import BACKEND_NAMES, GLOBUS, LOCAL, choose
from tomocupy_gladier.experiment.engines import CpuEngine, Tomocupy, configured_engine, engine_of
from tomocupy_gladier.tools.registry import load_config
from tomocupy_gladier.errors import UserError

from tests.tiny_experiment import tiny_experiment

PACKAGE = Path(tomocupy_gladier.__file__).parent
# the choice itself; the local backend's own package never sees the name (test_layering.py)
CHOOSES = {PACKAGE / "backends.py"}


def _is_name(node: ast.AST) -> bool:
    """A backend name, or a list/tuple/set of them."""
    if isinstance(node, ast.Constant):
        return node.value in BACKEND_NAMES
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return bool(node.elts) and all(_is_name(e) for e in node.elts)
    return False


def _is_backend(node: ast.AST) -> bool:
    """``backend`` or ``<anything>.backend``."""
    return (isinstance(node, ast.Name) and node.id == "backend") or (
        isinstance(node, ast.Attribute) and node.attr == "backend")


def _name_compares(source: str, where: str) -> list[str]:
    """``where:line: code`` of each compare of a backend's name, and each list of the names."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            if any(_is_name(o) or _is_backend(o) for o in operands):
                found.append(f"{where}:{node.lineno}: {ast.unparse(node)}")
        elif isinstance(node, (ast.Tuple, ast.List)) and len(node.elts) > 1 and _is_name(node):
            found.append(f"{where}:{node.lineno}: the backend names again "
                         f"({ast.unparse(node)}): use backends.BACKEND_NAMES")
    return found


def test_no_module_outside_the_choice_compares_backend_names():
    modules = [p for p in PACKAGE.rglob("*.py")
               if p not in CHOOSES and (PACKAGE / "local") not in p.parents]
    found = [hit for path in modules
             for hit in _name_compares(path.read_text(), str(path.relative_to(PACKAGE.parent)))]
    assert found == []


def test_the_check_finds_the_compares_it_forbids():
    sample = ('if config.backend == "local":\n    pass\n'
              'if "globus" != chosen:\n    pass\n'
              'if plan.backend is other:\n    pass\n'
              'CHOICES = ["local", "globus"]\n'
              'SECTION = raw.get("local", {})\n')  # a section of the file is not the backend
    assert [hit.split(": ", 1)[0] for hit in _name_compares(sample, "m.py")] == [
        "m.py:1", "m.py:3", "m.py:5", "m.py:7"]


def test_the_experiment_file_chooses_and_an_override_wins(tmp_path):
    config = load_config(tiny_experiment(tmp_path))
    assert config.backend == "local"
    assert choose(config) is LOCAL
    assert choose(config, "globus") is GLOBUS
    assert choose(config, GLOBUS) is GLOBUS
    assert choose(dataclasses.replace(config, backend="globus")) is GLOBUS


def test_an_unknown_backend_is_refused_by_name(tmp_path):
    config = load_config(tiny_experiment(tmp_path))
    with pytest.raises(UserError, match="unknown backend 'cloud'; choose 'local' or 'globus'"):
        choose(config, "cloud")


@pytest.mark.parametrize("executable, engine", [
    ("tomocupy-cpu", CpuEngine()),
    ("/opt/venv/bin/tomocupy-cpu", CpuEngine()),
    (("python", "-m", "tomocupy_gladier.engine"), CpuEngine()),
    ("tomocupy", Tomocupy()),
    (("conda", "run", "-n", "tomocupy", "tomocupy"), Tomocupy()),
])
def test_the_local_engine_is_the_one_compute_executable_names(executable, engine):
    assert configured_engine(executable) == engine


def test_on_globus_the_endpoint_chooses_the_engine_so_no_option_is_refused(tmp_path):
    config = load_config(tiny_experiment(tmp_path))
    assert engine_of(config, LOCAL) == CpuEngine()
    assert engine_of(config, GLOBUS) == Tomocupy()
    searched = {"rotation-axis-auto": "auto"}  # with tomocupy's default method, sift
    assert "sift" in (engine_of(config, LOCAL).unsupported(searched) or "")
    assert engine_of(config, GLOBUS).unsupported(searched) is None


def test_local_collections_are_folders_here_and_globus_ones_are_not(tmp_path):
    config = load_config(tiny_experiment(tmp_path))
    collection, folder = next(iter(config.local_collections.items()))
    assert config.collection_folder(collection, LOCAL) == Path(folder)
    assert config.collection_folder(collection, GLOBUS) is None
