"""A tiny experiment that really runs: a 90 x 4 x 64 synthetic scan, the CPU engine, local folders.

For end-to-end tests of whole flows on the local backend (a run takes a few seconds).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.conftest import experiment_toml

RETURN = "77777777-7777-4777-8777-777777777777"
ENGINE = [sys.executable, "-m", "tomocupy_gladier.engine"]


def isolate(mp, root: Path) -> None:
    """No Gladier login or experiment of the person running the tests: HOME is ``root/home``."""
    mp.setenv("HOME", str(root / "home"))
    for name in ("GLADIER_CLIENT_ID", "GLADIER_CLIENT_SECRET", "TOMOCUPY_GLADIER_CONFIG"):
        mp.delenv(name, raising=False)


def tiny_experiment(root: Path, sections: str = "", *, return_folder: bool = True,
                    at_facility: bool = False) -> Path:
    """Write ``root/experiment.toml`` and ``scan1.h5`` (in ``beamline/``, or already in the facility's
    ``raw/`` with ``at_facility``); ``sections`` is TOML appended to the file (e.g. ``[return]``).

    ``return_folder``: map the collection :data:`RETURN` to ``root/analysis``.
    """
    from tomocupy_gladier.demo.synthetic import write_scan

    for folder in ("beamline", "facility/raw", "portal", "analysis"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    scan = root / ("facility/raw" if at_facility else "beamline") / "scan1.h5"
    truth = write_scan(scan, nproj=90, nrows=4, ncols=64, seed=3)
    folders = f'"{RETURN}" = "analysis"\n' if return_folder else ""
    # the true axis: no centre search, so a run takes a few seconds
    text = experiment_toml(folders, executable=json.dumps(ENGINE)).replace(
        "rotation-axis = 256.5", f"rotation-axis = {truth.rotation_axis}")
    path = root / "experiment.toml"
    path.write_text(text + sections)
    return path


def return_section(what: str | None = None, collection: str = RETURN) -> str:
    """A ``[return]`` section sending results to ``/incoming`` on ``collection``."""
    text = f'\n[return]\ncollection = "{collection}"\npath = "/incoming"\n'
    return text + (f'what = "{what}"\n' if what else "")


def state_names(backend, run_id: str) -> list[str]:
    """States that completed, in order, from the run's log."""
    return [e["details"].get("state_name") for e in backend.store.get_log(run_id)
            if e["code"] in ("ActionCompleted", "PassCompleted", "ChoiceCompleted")]
