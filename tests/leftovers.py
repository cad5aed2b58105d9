"""No test leaves a process running: a session-level check that fails the suite and names them.

At the end of the session every process this session started and that still runs is a leftover:
the descendants of the pytest process, and the processes started since the session began whose
command line or ``$HOME`` names this session's temporary folder (the local backend starts its
workers, ``tomocupy_gladier.local.worker STATE_DIR RUN_ID``, in a session of their own, so they
outlive the process that started them; their state folder, and the per-test ``$HOME`` of
``_isolated_home``, lie in that temporary folder). Other pytest sessions on the same machine use
other temporary folders and are not counted.

The check only reports: it never ends a process. A test that starts a run ends it at teardown.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import psutil
import pytest

# seconds a process that is ending (a worker closing its store) gets before it is a leftover
GRACE = float(os.environ.get("LEFTOVER_GRACE_S", "10"))

_FOLDER = pytest.StashKey[Path]()
_SINCE = pytest.StashKey[float]()
_LEFT = pytest.StashKey[list]()


def leftover_processes(folder: Path | None, since: float, pid: int | None = None) -> list[psutil.Process]:
    """Live processes started by process ``pid`` (default: this one) or since ``since`` (a
    ``time.time()``) naming ``folder`` in their command line or ``$HOME``; zombies excluded."""
    me = psutil.Process(pid)
    found = {p.pid: p for p in me.children(recursive=True)}
    if folder is not None:
        mark = str(folder)
        for proc in psutil.process_iter(["cmdline", "create_time"]):
            if proc.pid == me.pid or proc.pid in found or (proc.info["create_time"] or 0) < since - 1:
                continue
            try:
                named = mark in " ".join(proc.info["cmdline"] or ()) or \
                    (proc.environ().get("HOME") or "").startswith(mark)
            except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
                continue
            if named:
                found[proc.pid] = proc
    return [p for p in found.values() if _running(p)]


def _running(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def describe(proc: psutil.Process, folder: Path | None) -> str:
    """One line: pid, command line, and the test folder it names (which test left it)."""
    try:
        cmdline = " ".join(proc.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        cmdline = "?"
    test = ""
    if folder is not None and str(folder) in cmdline:
        rest = cmdline.split(str(folder), 1)[1].lstrip(os.sep)
        test = f" [test folder {rest.split(os.sep, 1)[0].split()[0]}]"
    return f"pid {proc.pid}{test}: {cmdline[:400]}"


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_LEFT] = []
    config.stash[_SINCE] = time.time()


@pytest.fixture(scope="session", autouse=True)
def _session_folder(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> None:
    """Remember this session's temporary folder (every test's ``tmp_path`` lies in it)."""
    pytestconfig.stash[_FOLDER] = tmp_path_factory.getbasetemp()


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    if hasattr(session.config, "workerinput"):  # a pytest-xdist worker: its controller checks
        return
    folder = session.config.stash.get(_FOLDER, None)
    left = leftover_processes(folder, session.config.stash[_SINCE])
    if left:
        _, alive = psutil.wait_procs(left, timeout=GRACE)
        left = [p for p in alive if _running(p)]
    if left:
        session.config.stash[_LEFT] = [describe(p, folder) for p in left]
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    left = config.stash.get(_LEFT, [])
    if left:
        terminalreporter.section("processes left running", sep="=", red=True, bold=True)
        terminalreporter.line(f"{len(left)} process(es) started by this session still run "
                              "(end them in the test's teardown):", red=True)
        for line in left:
            terminalreporter.line(f"  {line}")
