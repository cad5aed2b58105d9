"""The session's leftover-process check (tests/leftovers.py): what it counts, what it reports,
and that a session leaving a process behind fails."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil

from tests.leftovers import describe, leftover_processes

SLEEP = [sys.executable, "-c", "import sys, time; time.sleep(float(sys.argv[1]))"]


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(timeout=10)


def test_a_child_still_running_is_a_leftover_and_an_ended_one_is_not(tmp_path):
    since = time.time()
    child = subprocess.Popen(SLEEP + ["60"])
    try:
        assert child.pid in [p.pid for p in leftover_processes(tmp_path, since)]
    finally:
        _stop(child)
    assert child.pid not in [p.pid for p in leftover_processes(tmp_path, since)]


def test_a_detached_process_naming_the_session_folder_is_a_leftover_and_names_its_test(tmp_path):
    """A worker started in its own session by a process that has ended (as a CLI run's worker)
    is found by the folder in its command line; the line names the test's folder."""
    since = time.time()
    folder = tmp_path / "test_some_run0"
    folder.mkdir()
    # a shell that starts the sleeper detached and exits: the sleeper is no child of ours
    subprocess.run(["sh", "-c", f"setsid {shlex.join(SLEEP)} 60 {folder}/state >/dev/null 2>&1 &"], check=True)
    found: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 10
        while not (found := [p for p in leftover_processes(tmp_path, since)
                             if str(folder) in " ".join(p.cmdline())]) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(found) == 1 and found[0].ppid() != psutil.Process().pid
        assert "[test folder test_some_run0]" in describe(found[0], tmp_path)
    finally:
        for proc in found:
            proc.terminate()
        psutil.wait_procs(found, timeout=10)


def test_processes_of_other_folders_are_not_counted(tmp_path):
    """Another pytest session on the machine (another temporary folder) is not this one's."""
    since = time.time()
    subprocess.run(["sh", "-c", f"setsid {shlex.join(SLEEP)} 60 /elsewhere/state >/dev/null 2>&1 &"], check=True)
    time.sleep(0.3)
    others = [p for p in psutil.process_iter(["cmdline"]) if "/elsewhere/state" in " ".join(p.info["cmdline"] or ())]
    try:
        assert others and not {p.pid for p in others} & {p.pid for p in leftover_processes(tmp_path, since)}
    finally:
        for proc in others:
            proc.terminate()
        psutil.wait_procs(others, timeout=10)


def test_a_session_that_leaves_a_process_fails_and_says_which(tmp_path):
    """An inner pytest session whose test starts a sleeper and returns: exit 1, the process named;
    the check does not end it (the outer test does)."""
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["tests.leftovers"]\n')
    (tmp_path / "test_inner.py").write_text(textwrap.dedent(f"""\
        import subprocess
        def test_leaves_a_sleeper(tmp_path):
            proc = subprocess.Popen({SLEEP!r} + ["60", str(tmp_path)], start_new_session=True)
            (tmp_path.parent.parent / "pid").write_text(str(proc.pid))
        """))
    root = Path(__file__).resolve().parent.parent
    inner = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path),
         "--basetemp", str(tmp_path / "base"), "-c", "/dev/null", str(tmp_path / "test_inner.py")],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(root), "LEFTOVER_GRACE_S": "1"},
        capture_output=True, text=True, timeout=120)
    pid = int((tmp_path / "pid").read_text())
    try:
        assert inner.returncode == 1, inner.stdout + inner.stderr
        assert "1 passed" in inner.stdout
        assert "processes left running" in inner.stdout
        assert f"pid {pid} [test folder test_leaves_a_sleeper0]" in inner.stdout
        assert psutil.pid_exists(pid)  # reported, not killed
    finally:
        proc = psutil.Process(pid)
        proc.terminate()
        psutil.wait_procs([proc], timeout=10)
