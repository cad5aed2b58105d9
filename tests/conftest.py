"""Shared fixtures: an experiment on local folders, a tiny scan, tomocupy 1.1.0 as a test double."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

from typing import Iterator

import pytest
import responses

pytest_plugins = ["tests.browser", "tests.leftovers"]

SOURCE = "11111111-1111-4111-8111-111111111111"
FACILITY = "22222222-2222-4222-8222-222222222222"
ENDPOINT = "33333333-3333-4333-8333-333333333333"
INDEX = "44444444-4444-4444-8444-444444444444"
PUBLISH = "55555555-5555-4555-8555-555555555555"


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Gladier and the token store write under $HOME: keep every test away from the real one."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    for name in ("GLADIER_CLIENT_ID", "GLADIER_CLIENT_SECRET", "GLOBUS_SDK_ENVIRONMENT",
                 "TOMOCUPY_GLADIER_CONFIG", "TOMOCUPY_GLADIER_CLIENT_ID", "TOMOCUPY_GLADIER_CONFIG_DIR"):
        monkeypatch.delenv(name, raising=False)


def end_runs(state_dir: Path, timeout: float = 60.0) -> None:
    """End the runs a test left going in a local backend's ``state_dir`` (an interactive run
    waits for its choice for hours): each background worker is stopped as SIGTERM stops it
    (tomocupy_gladier/local/worker.py) and waited for; a run still open then is failed.

    :raises AssertionError: a worker did not end within ``timeout``
    """
    import os

    import psutil

    from tomocupy_gladier.local.store import RunStore

    if not (state_dir / "runs.db").exists():
        return
    store = RunStore(state_dir / "runs.db", recover=False)
    try:
        runs = [r for status in ("ACTIVE", "INACTIVE") for r in store.list_runs(status=status, limit=None)]
        workers = []
        for run in runs:
            try:
                proc = psutil.Process(run["owner_pid"])
                # the run's own worker only (a pid may have been reused since)
                if proc.pid != os.getpid() and run["run_id"] in proc.cmdline():
                    proc.terminate()
                    workers.append(proc)
            except (psutil.NoSuchProcess, TypeError, ValueError):
                continue
        _, alive = psutil.wait_procs(workers, timeout=timeout)
        assert not alive, f"workers {[p.pid for p in alive]} of {state_dir} did not end on SIGTERM"
        for run in runs:
            store.fail_run(run["run_id"], "TestOver", "the test ended")
    finally:
        store.close()


@pytest.fixture
def http() -> Iterator[responses.RequestsMock]:
    """Registered HTTP responses (globus_sdk.testing + responses); any other request fails."""
    responses.start()
    try:
        yield responses.mock
    finally:
        responses.stop()
        responses.reset()


def experiment_toml(extra: str = "", executable: str = '"tomocupy"') -> str:
    return textwrap.dedent(f"""\
        [experiment]
        name = "cells"
        backend = "local"

        [source]
        collection = "{SOURCE}"
        path = "/"

        [facility]
        collection = "{FACILITY}"
        path = "/raw"

        [compute]
        endpoint = "{ENDPOINT}"
        executable = {executable}

        [compute.pbs]
        queue = "debug"
        account = "TOMO"

        [publish]
        index = "{INDEX}"
        collection = "{PUBLISH}"
        path = "/published"

        [recon]
        rotation-axis = 256.5

        [local.collections]
        "{SOURCE}" = "beamline"
        "{FACILITY}" = "facility"
        "{PUBLISH}" = "portal"
        """) + extra


def tiny_scan(path: Path) -> Path:
    """A real DXchange file of 10 projections x 4 rows x 512 columns (plans read its shape: the
    experiment's axis, 256.5, lies on its detector)."""
    import h5py
    import numpy as np

    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as h5:
        h5["/exchange/data"] = np.ones((10, 4, 512), dtype=np.uint16)
        h5["/exchange/data_white"] = np.ones((2, 4, 512), dtype=np.uint16)
        h5["/exchange/data_dark"] = np.zeros((2, 4, 512), dtype=np.uint16)
    return path


@pytest.fixture
def experiment(tmp_path: Path) -> Path:
    """An experiment.toml with beamline/facility/portal folders and one (empty) scan."""
    for folder in ("beamline", "facility/raw", "portal"):
        (tmp_path / folder).mkdir(parents=True)
    tiny_scan(tmp_path / "beamline" / "scan1.h5")
    path = tmp_path / "experiment.toml"
    path.write_text(experiment_toml())
    return path


REAL_FAKE_TOMOCUPY = Path(__file__).with_name("fake_tomocupy.py")


@pytest.fixture
def real_fake_tomocupy(tmp_path: Path, monkeypatch):
    """tests/fake_tomocupy.py: tomocupy 1.1.0's behaviour read from its source, real images.

    ``.executable`` is the argv prefix (``[python, fake_tomocupy.py]``); ``.calls()`` the
    argv (without the program) of every call, ``.environments()`` the ``CUDA_VISIBLE_DEVICES``
    each call saw; ``.knob(name, value)`` sets ``FAKE_TOMOCUPY_<NAME>`` (``writer_fail``,
    ``nothing``, ``hang``, ``crash``, ``no_gpu``, ``found_axis``, ``sift_no_features``; see
    the fake's docstring); ``value=None`` removes it.  ``$HOME`` is the per-test home of
    ``_isolated_home``, so the log folder (``~/logs``) and ``~/tomocupyon.conf`` live there.
    """
    record = tmp_path / "real_fake_argv.jsonl"
    monkeypatch.setenv("FAKE_TOMOCUPY_RECORD", str(record))
    for name in ("WRITER_FAIL", "NOTHING", "HANG", "CRASH", "NO_GPU", "FOUND_AXIS", "SIFT_NO_FEATURES"):
        monkeypatch.delenv(f"FAKE_TOMOCUPY_{name}", raising=False)

    class RealFake:
        executable = [sys.executable, str(REAL_FAKE_TOMOCUPY)]
        script = REAL_FAKE_TOMOCUPY

        @staticmethod
        def calls() -> list[list[str]]:
            if not record.exists():
                return []
            return [json.loads(line) for line in record.read_text().splitlines()]

        @staticmethod
        def environments() -> list[dict]:
            path = Path(f"{record}.env")
            return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

        @staticmethod
        def true_centre(label: float, found_axis: float, rotation_axis: float, binning: int = 0,
                        start_column: int = 0) -> float:
            """tomocupy issue #76: the centre (full-resolution pixels, tomocupy's label units) an
            auto-axis try image labelled ``label`` was really reconstructed around;
            ``found_axis`` is A of ``set rotaion  axis A``, ``rotation_axis`` the initial
            --rotation-axis (detector width / 2 when -1)."""
            return label + found_axis * 2**binning - (rotation_axis - start_column)

        @staticmethod
        def knob(name: str, value=None) -> None:
            key = name.upper().replace("-", "_")
            key = key if key.startswith("FAKE_TOMOCUPY_") else f"FAKE_TOMOCUPY_{key}"
            if value is None:
                monkeypatch.delenv(key, raising=False)
            else:
                monkeypatch.setenv(key, str(value))

    return RealFake
