"""The local backend is a layer of its own: it knows nothing of Gladier (the Gladier adapter,
``tomocupy_gladier.clients.gladier_local``, depends on it, never the reverse)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import tomocupy_gladier.local

LOCAL = Path(tomocupy_gladier.local.__file__).parent


def _imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_no_module_of_the_local_backend_imports_gladier():
    for path in LOCAL.rglob("*.py"):
        for name in _imported_modules(path):
            top = name.split(".")[0]
            assert top not in ("gladier", "gladier_tools"), f"{path.name} imports {name}"
            if top == "tomocupy_gladier":
                # outside the package, only leaves of plain Python both sides share: the error
                # base class, where the SMTP account is read from, what a run keeps private,
                # the URLs the action providers answer at, and how a full disk is read and told
                assert name.startswith("tomocupy_gladier.local") or name in (
                    "tomocupy_gladier.errors", "tomocupy_gladier.experiment.smtp_account",
                    "tomocupy_gladier.redaction", "tomocupy_gladier.action_urls",
                    "tomocupy_gladier.compute.disk_space"), \
                    f"{path.name} imports {name}"


def test_the_action_urls_the_local_backend_shares_are_a_leaf():
    """The action providers' URLs, which the local backend serves and the tools put in the flow
    definitions, import nothing (so reading them never loads Gladier)."""
    assert _imported_modules(LOCAL.parent / "action_urls.py") == set()


def test_a_worker_runs_without_gladier_loaded():
    code = ("import sys, tomocupy_gladier.local, tomocupy_gladier.local.worker; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('gladier', 'gladier_tools')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_endpoint_library_imports_nothing_of_the_client():
    """tomocupy_gladier.compute runs on the compute endpoint: of this package it imports only
    itself and the package's version (no Gladier, no Globus SDK, no client module)."""
    import tomocupy_gladier.compute

    library = Path(tomocupy_gladier.compute.__file__).parent
    for path in library.rglob("*.py"):
        for name in _imported_modules(path):
            top = name.split(".")[0]
            assert top not in ("gladier", "gladier_tools", "globus_sdk", "globus_compute_sdk"), \
                f"{path.name} imports {name}"
            if top == "tomocupy_gladier":
                assert name == "tomocupy_gladier" or name.startswith("tomocupy_gladier.compute"), \
                    f"{path.name} imports {name}"


def test_the_endpoint_library_loads_no_client_module():
    code = ("import sys, tomocupy_gladier.compute.recon, tomocupy_gladier.compute.previews, "
            "tomocupy_gladier.compute.metadata; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('gladier', 'gladier_tools', "
            "'globus_sdk', 'globus_compute_sdk') or (m.startswith('tomocupy_gladier.') "
            "and not m.startswith('tomocupy_gladier.compute'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
