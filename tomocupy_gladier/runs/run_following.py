"""Following a run to its end, state by state, as ``run``, ``demo``, ``resume`` and the
examples show it (on the terminal's standard error)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.text import Text

from tomocupy_gladier.flows import waits_for_choice
from tomocupy_gladier.runs.run_record import RunRecord, run_log_entries

console = Console(stderr=True)


def follow_run(client: Any, run_id: str, delay: float = 2.0, tail: Path | None = None) -> RunRecord:
    """Poll a run until it ends, printing each state as it starts and ends.

    ``tail``: a log file (the reconstruction's) whose new lines are shown while the run goes on.
    """
    seen = 0
    tail_offset = 0
    announced = False
    while True:
        status = client.get_status(run_id)
        entries = run_log_entries(client, run_id)
        for entry in entries[seen:]:
            console.print(f"[dim]{str(entry.get('time', ''))[11:19]}[/dim] {entry.get('code', '')}: "
                          f"{entry.get('description', '')}", highlight=False)
        seen = len(entries)
        if tail is not None and tail.exists():
            with tail.open("rb") as log:
                log.seek(tail_offset)
                chunk = log.read()
                tail_offset += len(chunk)
            for line in chunk.decode(errors="replace").splitlines():
                if line.strip() and not line.startswith("$ "):
                    console.print(Text("    | ", style="cyan") + Text(line.strip()), highlight=False)
        record = RunRecord(status)
        if not announced and status.get("status") == "INACTIVE":
            from tomocupy_gladier.runs.consents import describe as describe_consent, missing_consent

            consent = missing_consent(status)
            if consent is not None:
                announced = True
                for line in describe_consent(consent):
                    click.echo(line, err=True)
        if not announced and not record.is_final and waits_for_choice(client):
            from tomocupy_gladier.runs.choice import describe, waiting_choice

            waiting = waiting_choice(client, run_id, status)
            if waiting is not None:
                announced = True
                for line in describe(waiting):
                    click.echo(line, err=True)  # unwrapped: the URLs are copied from here
        if record.is_final:
            colour = "green" if record.succeeded else "red"
            console.print(f"run {run_id}: [{colour}]{record.status}[/{colour}]")
            if record.failure:
                console.print(Text(f"failure: {record.failure}", style="red"), highlight=False)
            for warning in record.warnings:
                console.print(Text(f"warning: {warning}", style="yellow"), highlight=False)
            for line in record.outcomes:
                console.print(Text(line), highlight=False)
            return record
        time.sleep(delay)
