"""Kill test: a campaign process SIGKILLed at random points, then resumed, runs each job
exactly once and loses nothing (the fake service counts submissions per job key)."""

from __future__ import annotations

import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tomocupy_gladier.campaign.fake_service import FakeFlowsService, Faults
from tomocupy_gladier.campaign.ledger import SUCCEEDED, Ledger
from tomocupy_gladier.campaign.runner import job_tag

from .helpers import make_jobs

WORKER = Path(__file__).with_name("campaign_worker.py")
JOBS = 40


def start(ledger_path: Path, url: str, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(WORKER), str(ledger_path), url, *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def resume_to_the_end(ledger_path: Path, url: str) -> None:
    final = start(ledger_path, url)
    _, err = final.communicate(timeout=60)
    assert final.returncode == 0, err.decode()[-2000:]


def check_exactly_once(fake: FakeFlowsService, ledger_path: Path) -> None:
    with Ledger(ledger_path) as ledger:
        jobs = ledger.jobs()
        assert len(jobs) == JOBS
        assert [j for j in jobs if j.state != SUCCEEDED] == []
        assert dict(fake.submissions) == {job_tag(j.key): 1 for j in jobs}
        # the run id the ledger holds is the one run the service started for the job
        by_tag = {t: r["run_id"] for r in fake.runs.values() for t in r["tags"] if t.startswith("job:")}
        assert {j.run_id for j in jobs} == {by_tag[job_tag(j.key)] for j in jobs}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sigkill_at_random_points_then_resume(tmp_path, seed):
    rng = random.Random(seed)
    ledger_path = tmp_path / "kill.sqlite"
    with Ledger(ledger_path) as ledger:
        ledger.add_jobs(make_jobs(JOBS))
    faults = Faults(rate_429=0.03, rate_500_after=0.03, rate_drop_after=0.03, rate_slow=0.05)
    with FakeFlowsService(run_seconds=0.05, faults=faults, seed=seed) as fake:
        kills, open_at_kill = 0, []
        for _ in range(4):
            process = start(ledger_path, fake.url)
            assert process.stdout is not None and process.stdout.readline() == b"ready\n"
            time.sleep(rng.uniform(0.0, 0.5))
            if process.poll() is not None:
                break  # it finished before the kill
            process.kill()
            process.wait()
            kills += 1
            with Ledger(ledger_path) as ledger:
                counts = ledger.counts()
            open_at_kill.append(counts["PENDING"] + counts["SUBMITTING"] + counts["ACTIVE"])
        resume_to_the_end(ledger_path, fake.url)
        check_exactly_once(fake, ledger_path)
    assert kills >= 1 and open_at_kill[0] > 0, "killed while work was in flight"
    print(f"seed {seed}: jobs open at each kill {open_at_kill}")


def test_sigkill_between_starting_a_run_and_recording_it(tmp_path):
    ledger_path = tmp_path / "kill.sqlite"
    with Ledger(ledger_path) as ledger:
        ledger.add_jobs(make_jobs(JOBS))
    with FakeFlowsService(run_seconds=0.02) as fake:
        for n in (3, 7, 11):
            process = start(ledger_path, fake.url, "--die-after-submit", str(n))
            process.wait(timeout=60)
            assert process.returncode == -9
        with Ledger(ledger_path) as ledger:
            assert ledger.counts()["SUBMITTING"] == 1, "the run exists, its id is not recorded"
        resume_to_the_end(ledger_path, fake.url)
        check_exactly_once(fake, ledger_path)
