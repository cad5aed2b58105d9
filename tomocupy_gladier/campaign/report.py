"""A campaign's report: one row per job with what its run made, for the terminal and for CSV."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

from tomocupy_gladier.campaign.ledger import JobRow
from tomocupy_gladier.runs.summary import RunSummary

COLUMNS = ("scan", "parameter set", "status", "axis", "axis decided", "output folder", "quality",
           "run id", "reason")
"""The report's columns, the same in the terminal's table and in the CSV."""

SummaryOf = Callable[[str], RunSummary | None]
"""How the summary of a run that ended before the ledger kept summaries is read (or None)."""


def report_rows(jobs: Iterable[JobRow], summary_of: SummaryOf | None = None) -> list[dict[str, str]]:
    """One row per job, by :data:`COLUMNS`: the run's axis and how it was decided (with the run
    it was kept from), its reconstruction folder and the scan's quality; a failure's reason."""
    rows = []
    for job in jobs:
        summary = RunSummary.from_dict(job.summary) if job.summary else None
        if summary is None and job.run_id and summary_of is not None:
            summary = summary_of(job.run_id)
        summary = summary or RunSummary()
        quality = summary.quality or ""
        if summary.warnings:
            quality += f" ({len(summary.warnings)} warning{'s' if len(summary.warnings) > 1 else ''})"
        rows.append(dict(zip(COLUMNS, (
            os.path.basename(job.dataset) if os.path.isabs(job.dataset) else job.dataset,
            job.param_set, job.state, f"{summary.rotation_axis:.2f}" if summary.rotation_axis is not None else "",
            summary.decided, summary.output or "", quality, job.run_id or "", job.error or ""))))
    return rows


def with_full_paths(rows: list[dict[str, str]], jobs: Iterable[JobRow]) -> list[dict[str, Any]]:
    """The rows with each scan's whole path (the CSV keeps it; the table shows the name)."""
    return [{**row, "scan": job.dataset} for row, job in zip(rows, jobs)]
