"""The folder watcher: each completed scan starts one run, whatever the file system does."""

from __future__ import annotations

import _thread
import shutil
import threading
import time
from pathlib import Path

import pytest

from tomocupy_gladier.campaign.fake_service import FakeFlowsService
from tomocupy_gladier.campaign.ledger import Ledger
from tomocupy_gladier.campaign.runner import CampaignRunner, job_tag
from tomocupy_gladier.campaign.watcher import FolderWatcher, ScanTracker

from tests.conftest import tiny_scan

from .helpers import fast_policy, fast_settings, globus_service, simple_body


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def tracker(clock, **kwargs) -> ScanTracker:
    return ScanTracker("*.h5", debounce=2.0, clock=clock, **kwargs)


def test_a_growing_file_is_complete_once_closed_and_stable(tmp_path, clock):
    t = tracker(clock)
    scan = tmp_path / "a.h5"
    scan.write_bytes(b"1" * 10)
    t.seen(scan)
    assert t.complete() == []
    clock.now += 5
    assert t.complete() == [], "stable but still open: the detector may only be pausing"
    scan.write_bytes(b"1" * 20)
    t.seen(scan, closed=True)
    clock.now += 1
    assert t.complete() == [], "it just changed"
    clock.now += 2
    assert t.complete() == [scan]
    t.seen(scan, closed=True)
    clock.now += 10
    assert t.complete() == [], "each file is complete once"


def test_without_close_events_a_stable_size_is_enough(tmp_path, clock):
    t = tracker(clock, require_close=False)
    scan = tmp_path / "a.h5"
    scan.write_bytes(b"x")
    t.seen(scan)
    t.complete()
    clock.now += 2
    assert t.complete() == [scan]


def test_a_marker_file_completes_its_scan_at_once(tmp_path, clock):
    t = tracker(clock)
    scan = tmp_path / "a.h5"
    scan.write_bytes(b"x")
    t.seen(scan)
    (tmp_path / "a.h5.done").write_text("")
    t.seen(tmp_path / "a.h5.done")
    assert t.complete() == [scan]


def test_renamed_into_place_counts_as_closed_and_other_names_are_ignored(tmp_path, clock):
    t = tracker(clock)
    part = tmp_path / "b.h5.part"
    part.write_bytes(b"x")
    t.seen(part, closed=True)
    (tmp_path / "notes.txt").write_text("x")
    t.seen(tmp_path / "notes.txt", closed=True)
    part.rename(tmp_path / "b.h5")
    t.forget(part)
    t.seen(tmp_path / "b.h5", moved_in=True)
    t.complete()
    clock.now += 2
    assert t.complete() == [tmp_path / "b.h5"]


def test_a_file_deleted_before_it_completes_is_forgotten(tmp_path, clock):
    t = tracker(clock)
    scan = tmp_path / "a.h5"
    scan.write_bytes(b"x")
    t.seen(scan, closed=True)
    scan.unlink()
    clock.now += 5
    assert t.complete() == []


# -- with a real observer, a runner and the fake Flows service ---------------------------------------
def write_slowly(path: Path, chunks: int = 4, pause: float = 0.1, content: bytes | None = None) -> None:
    """Write ``content`` (default: zeros) in ``chunks`` parts, as a detector writes a scan."""
    content = content if content is not None else b"\0" * (4096 * chunks)
    size = -(-len(content) // chunks)
    with path.open("wb") as handle:
        for i in range(chunks):
            handle.write(content[i * size:(i + 1) * size])
            handle.flush()
            time.sleep(pause)


def start_watcher(folder: Path, ledger: Ledger, fake: FakeFlowsService, **kwargs):
    runner = CampaignRunner(ledger, globus_service(fake), simple_body, name="w", settings=fast_settings(),
                            policy=fast_policy())
    watcher = FolderWatcher(folder, ScanTracker("*.h5", debounce=0.3), runner, tick=0.05, **kwargs)
    thread = threading.Thread(target=watcher.run, daemon=True)
    thread.start()
    time.sleep(0.2)  # the observer is watching
    return watcher, thread


def wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_each_completed_scan_runs_once(tmp_path):
    folder = tmp_path / "raw"
    folder.mkdir()
    with FakeFlowsService(run_seconds=0.05) as fake, Ledger(tmp_path / "w.sqlite") as ledger:
        watcher, thread = start_watcher(folder, ledger, fake)
        write_slowly(folder / "a.h5")                        # appears and grows
        write_slowly(folder / "b.h5.part", chunks=2)         # written under another name ...
        (folder / "b.h5.part").rename(folder / "b.h5")       # ... and renamed into place
        (folder / "c.h5").write_bytes(b"c")                  # marked complete by its marker
        (folder / "c.h5.done").write_text("")
        (folder / "log.txt").write_text("not a scan")
        wait_for(lambda: len(fake.submissions) == 3)
        with (folder / "a.h5").open("ab") as handle:         # touched again after it ran
            handle.write(b"more")
        shutil.copy(folder / "a.h5", folder / "d.h5")        # a duplicate under a new name
        wait_for(lambda: len(fake.submissions) == 4)
        time.sleep(0.6)                                      # time for a wrong second run
        watcher.stop()
        thread.join(timeout=5)
        assert not thread.is_alive()
        jobs = ledger.jobs()
        assert sorted(Path(j.dataset).name for j in jobs) == ["a.h5", "b.h5", "c.h5", "d.h5"]
        assert dict(fake.submissions) == {job_tag(j.key): 1 for j in jobs}

        # a restarted watcher that also takes the existing scans starts nothing new
        watcher, thread = start_watcher(folder, ledger, fake, include_existing=True)
        time.sleep(0.8)
        watcher.stop()
        thread.join(timeout=5)
        assert sum(fake.submissions.values()) == 4


def test_ctrl_c_stops_the_observer_cleanly(tmp_path):
    folder = tmp_path / "raw"
    folder.mkdir()
    with FakeFlowsService() as fake, Ledger(tmp_path / "w.sqlite") as ledger:
        runner = CampaignRunner(ledger, globus_service(fake), simple_body, name="w", settings=fast_settings(),
                                policy=fast_policy())
        watcher = FolderWatcher(folder, ScanTracker("*.h5", debounce=0.1), runner, tick=0.05)
        before = set(threading.enumerate())
        timer = threading.Timer(0.5, _thread.interrupt_main)
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            watcher.run()
        time.sleep(0.1)
        assert set(threading.enumerate()) - before - {timer} == set(), "no observer thread left behind"


def test_watch_command_runs_new_scans_and_stops_on_ctrl_c(experiment, monkeypatch):
    from click.testing import CliRunner

    from tomocupy_gladier.campaign import wiring
    from tomocupy_gladier.cli import main

    raw = experiment.parent / "facility" / "raw"
    with FakeFlowsService(run_seconds=0.02) as fake:
        monkeypatch.setattr(wiring, "connect", lambda config, flow, backend=None, replace_decided=False: (
            globus_service(fake), wiring.body_builder(config, flow, replace_decided=replace_decided)))

        scan = tiny_scan(experiment.parent / "elsewhere.h5").read_bytes()  # runs are planned from the scan

        def detector() -> None:
            try:
                time.sleep(0.5)
                write_slowly(raw / "scan_007.h5", chunks=2, content=scan)
                wait_for(lambda: len(fake.submissions) == 1)
                time.sleep(0.3)
            finally:
                _thread.interrupt_main()

        threading.Thread(target=detector, daemon=True).start()
        result = CliRunner().invoke(main, ["watch", str(raw), "--config", str(experiment), "--debounce", "0.2",
                                           "--poll-interval", "0.02"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "stopped:" in result.output
    assert sum(fake.submissions.values()) == 1
    sent = next(iter(fake._bodies.values()))
    assert sent["input"]["tomocupy"]["file_name"].endswith("/raw/scan_007.h5")


def test_a_service_that_stays_down_stops_the_watcher_with_a_clear_error(tmp_path):
    from tomocupy_gladier.campaign.fake_service import Faults
    from tomocupy_gladier.campaign.runner import ServiceUnavailable

    folder = tmp_path / "raw"
    folder.mkdir()
    (folder / "a.h5").write_bytes(b"x")
    with FakeFlowsService(faults=Faults(rate_500_before=1.0)) as fake, Ledger(tmp_path / "w.sqlite") as ledger:
        runner = CampaignRunner(ledger, globus_service(fake), simple_body, name="w", settings=fast_settings(),
                                policy=fast_policy(max_attempts=3))
        watcher = FolderWatcher(folder, ScanTracker("*.h5", debounce=0.05), runner, tick=0.02,
                                include_existing=True)
        with pytest.raises(ServiceUnavailable, match="keeps failing"):
            watcher.run()
        assert ledger.counts()["SUBMITTING"] == 1, "recorded, reconciled on the next start"


def test_watch_with_the_interactive_flow_waits_for_each_scans_choice(tmp_path, monkeypatch):
    """Every new scan: a try, then the run waits for the scientist (emailed, with the page to
    choose on); the choice made, the run reconstructs at that centre and the watch records it."""
    from click.testing import CliRunner

    from tomocupy_gladier.runs.choice import choose, waiting_choice
    from tomocupy_gladier.cli import main
    from tomocupy_gladier.clients.client_factory import local_backend, make_client
    from tomocupy_gladier.tools.registry import load_config
    from tomocupy_gladier.runs.run_record import RECON_STATE, RunRecord

    from tests.tiny_experiment import isolate, tiny_experiment

    isolate(monkeypatch, tmp_path)
    path = tiny_experiment(tmp_path, '\n[notify]\nemail = ["team@lab.example"]\n')
    # a try of 4 px either side of the axis, in half pixels
    path.write_text(path.read_text().replace("[recon]\n", "[recon]\ncenter-search-width = 4\n"
                                             "center-search-step = 0.5\n", 1))
    config = load_config(path)
    client = make_client("interactive", config)
    answered: dict[str, float] = {}

    def scientist() -> None:
        try:
            deadline = time.monotonic() + 240
            while time.monotonic() < deadline and not answered:
                for run in local_backend(config).store.list_runs(limit=None):
                    if waiting_choice(client, run["run_id"]) is not None:
                        option, _ = choose(client, run["run_id"], suggested=True)
                        answered[run["run_id"]] = option.center
                time.sleep(0.3)
            while time.monotonic() < deadline and answered:
                run_id = next(iter(answered))
                if RunRecord(local_backend(config).get_run(run_id)).is_final:
                    break
                time.sleep(0.3)
        finally:
            _thread.interrupt_main()

    threading.Thread(target=scientist, daemon=True).start()
    result = CliRunner().invoke(main, ["watch", str(tmp_path / "beamline"), "--config", str(path),
                                       "--flow", "interactive", "--existing", "--debounce", "0.2",
                                       "--poll-interval", "0.2"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert len(answered) == 1, result.output
    [(run_id, center)] = answered.items()
    record = RunRecord(local_backend(config).get_run(run_id))
    assert record.succeeded, record.failure
    assert record.result(RECON_STATE)["rotation_axis"] == center
    # the scientist was told the run waits (a campaign's other flows send no email each)
    import mailbox

    subjects = [m["subject"] for m in mailbox.mbox(str(config.local_state_dir / "mailbox"))]
    assert any(s.endswith(" waits for your choice") for s in subjects), subjects
