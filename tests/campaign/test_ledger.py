"""The ledger: WAL SQLite, every transition committed before the next step."""

from __future__ import annotations

import sqlite3

from tomocupy_gladier.campaign.ledger import (
    ACTIVE,
    CANCELLED,
    FAILED,
    PENDING,
    SUBMITTING,
    SUCCEEDED,
    Ledger,
)

from .helpers import make_jobs


def test_ledger_uses_wal_and_survives_reopening(tmp_path):
    path = tmp_path / "c.sqlite"
    with Ledger(path) as ledger:
        ledger.add_jobs(make_jobs(3))
        key = ledger.jobs()[0].key
        ledger.mark_submitting(key)
        ledger.mark_active(key, "run-1")
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with Ledger(path) as again:
        assert again.job(key).state == ACTIVE and again.job(key).run_id == "run-1"
        assert again.counts()[PENDING] == 2


def test_adding_known_jobs_changes_nothing(ledger):
    first = ledger.add_jobs(make_jobs(3))
    second = ledger.add_jobs(make_jobs(5))
    assert len(first) == 3 and len(second) == 2
    assert [j.dataset for j in ledger.jobs()] == [f"raw/scan_{i:04d}.h5" for i in range(5)]


def test_transitions_follow_the_life_of_a_job(ledger):
    ledger.add_jobs(make_jobs(1))
    key = ledger.jobs()[0].key
    assert ledger.mark_submitting(key)
    assert not ledger.mark_submitting(key), "only a pending job can be submitted"
    assert ledger.job(key).state == SUBMITTING and ledger.job(key).attempts == 1
    assert ledger.mark_active(key, "r1")
    assert not ledger.mark_pending(key, "x"), "an active job is not pending again"
    assert ledger.mark_finished(key, FAILED, "ActionFailedException: boom")
    assert ledger.job(key).error == "ActionFailedException: boom"
    assert not ledger.mark_finished(key, SUCCEEDED), "a finished job stays finished"
    kinds = [kind for _, _, kind, _ in ledger.events(key)]
    assert kinds == ["submitting", "submitted", "failed"]


def test_reopen_puts_failed_and_cancelled_back_but_never_succeeded(ledger):
    ledger.add_jobs(make_jobs(3))
    a, b, c = (j.key for j in ledger.jobs())
    ledger.mark_finished(a, FAILED, "x")
    ledger.mark_finished(b, CANCELLED)
    for key in (c,):
        ledger.mark_submitting(key)
        ledger.mark_active(key, "r")
        ledger.mark_finished(key, SUCCEEDED)
    assert ledger.reopen([FAILED]) == 1
    assert ledger.job(a).state == PENDING and ledger.job(a).error is None
    assert ledger.reopen([FAILED, CANCELLED, SUCCEEDED]) == 1
    assert ledger.counts() == {PENDING: 2, SUBMITTING: 0, ACTIVE: 0, SUCCEEDED: 1, FAILED: 0, CANCELLED: 0}


def test_meta_round_trips(ledger):
    ledger.set_meta({"name": "n", "cancelled": False, "flow": "recon"})
    ledger.set_meta({"cancelled": True})
    assert ledger.meta() == {"name": "n", "cancelled": True, "flow": "recon"}
