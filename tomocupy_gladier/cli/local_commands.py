"""Commands for runs and results: the demo, run lists, run logs, the catalogue, a result's
verification."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from rich.text import Text

from tomocupy_gladier.backends import choose
from tomocupy_gladier.tools.publish.config import publish_config
from tomocupy_gladier.clients.client_factory import local_backend, make_client
from tomocupy_gladier.runs.catalog import SearchFilters, globus_search_client, search_globus, search_local
from tomocupy_gladier.cli.flow_commands import config_option, load
from tomocupy_gladier.redaction import redact
from tomocupy_gladier.runs.run_following import follow_run
from tomocupy_gladier.runs.run_record import run_log_entries
from tomocupy_gladier.errors import UserError

out = Console()


@click.command()
@click.option("--workdir", type=click.Path(file_okay=False), default="demo-work", show_default=True,
              help="Folder for the scan, the collections, the experiment file and the run state.")
@click.option("--projections", type=click.IntRange(90, 3000), default=720, show_default=True)
@click.option("--rows", type=click.IntRange(4, 512), default=32, show_default=True)
@click.option("--columns", type=click.IntRange(64, 2048), default=512, show_default=True)
def demo(workdir: str, projections: int, rows: int, columns: int) -> None:
    """Run the whole flow on this machine with a synthetic scan (no Globus, no GPU)."""
    from tomocupy_gladier.demo.demo import prepare, summarize_run
    from tomocupy_gladier.flows import TomocupyFlow
    from tomocupy_gladier.planning.plan import RunRequest, plan

    started = time.monotonic()
    out.print(f"[bold]1.[/bold] writing a synthetic scan ({projections} projections, {rows} rows, "
              f"{columns} columns) into {Path(workdir) / 'beamline'}")
    setup = prepare(Path(workdir), nproj=projections, nrows=rows, ncols=columns)
    config = setup.config
    out.print(f"   true rotation axis {setup.true_axis:.2f} px; experiment file {config.path}")
    planned = plan(config, RunRequest(setup.scan.name, flow=TomocupyFlow, tags=("demo",)))
    backend = local_backend(config)
    client = planned.client(background=True)
    out.print("[bold]2.[/bold] running TomocupyFlow on the local backend "
              "(transfer -> reconstruction -> previews -> metadata -> publication -> return)")
    run = client.run_flow(flow_input=planned.body, label=planned.label, tags=planned.tags)
    record = follow_run(client, run["run_id"], delay=0.3, tail=planned.log_file(run["run_id"]))
    summary = summarize_run(backend, record, planned)
    _print_summary(summary, time.monotonic() - started, setup)
    if not record.succeeded:
        raise UserError(f"the demo run failed: {record.failure}")


def _print_summary(summary: dict[str, Any], seconds: float, setup: Any) -> None:
    table = Table(title=f"run {summary['run_id']}: {summary['status']} in {seconds:.1f} s")
    table.add_column("state")
    table.add_column("seconds", justify="right")
    table.add_column("outcome")
    for state in summary["states"]:
        table.add_row(state["state_name"], f"{state['seconds']:.2f}", state["code"])
    out.print(table)
    axis = summary.get("rotation_axis")
    if summary["reconstruction"]:
        made = f"{summary['reconstruction']} ({summary['files']} files, {summary['engine']})"
    else:
        made = "none (the reconstruction step did not finish)"
    if summary["returned_to"]:
        returned = f"{setup.workdir / 'analysis'}{summary['returned_to']}"
    elif summary["status"] == "SUCCEEDED":
        returned = "not sent back (no [return] section)"
    else:
        returned = "not sent back (the run ended before the return step)"
    facts = [
        ("reconstruction", made),
        ("rotation axis", f"{axis:.2f} px, {summary['axis_source']} (true {setup.true_axis:.2f})"
         if axis is not None else "not reported"),
        ("log", summary["log"]),
        ("previews", ", ".join(summary["previews"]) or "none"),
        ("published to", f"{setup.workdir / 'portal'}{summary['published_to']}" if summary["published_to"]
         else "not published"),
        ("sent back to", returned),
        ("index entry", summary["index_entry"] or "none"),
    ]
    if summary.get("failure"):
        facts.insert(0, ("failure", summary["failure"]))
    for name, value in facts:
        # plain Text: paths and reasons may hold [brackets] that console markup would eat
        out.print(Text(f"{name:>15}", style="bold") + Text(f"  {value}"), highlight=False)
    out.print(Text(f"\nnext: tomocupy-gladier run {setup.scan.name} --config {setup.config.path} --try\n"
                   f"      tomocupy-gladier search demo --config {setup.config.path}"))


@click.command()
@config_option
@click.option("--status", type=click.Choice(["ACTIVE", "INACTIVE", "SUCCEEDED", "FAILED"]), default=None)
@click.option("--limit", type=int, default=20, show_default=True)
def runs(config_path: str | None, status: str | None, limit: int) -> None:
    """List the experiment's runs (local backend), newest first."""
    config = load(config_path)
    if not choose(config).is_local:
        raise UserError("`runs` lists local runs; for Globus runs use the Globus web app or `status RUN_ID`")
    backend = local_backend(config)
    table = Table()
    for column in ("run id", "status", "label", "started", "completed"):
        table.add_column(column)
    for record in backend.store.list_runs(status=status)[:limit]:
        shown = record["status"]
        if shown == "INACTIVE":  # why it waits: a consent, or its worker ended (`resume` resumes it)
            shown += f" ({(record.get('details') or {}).get('code', '')})"
        table.add_row(record["run_id"], shown, record.get("label") or "",
                      str(record.get("start_time") or "")[:19], str(record.get("completion_time") or "")[:19])
    out.print(table)


@click.command()
@click.argument("run_id")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print the entries as JSON.")
def logs(run_id: str, config_path: str | None, as_json: bool) -> None:
    """Print a run's log entries (state by state, with their details)."""
    config = load(config_path)
    client = make_client("tomocupy", config)
    entries = run_log_entries(client, run_id)
    if as_json:
        click.echo(json.dumps(redact(entries), indent=2))
        return
    for entry in entries:
        out.print(f"[dim]{entry.get('time', '')}[/dim] [bold]{entry.get('code', '')}[/bold] "
                  f"{entry.get('description', '')}", highlight=False)


def _date(value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from None


@click.command()
@click.argument("query", default="*")
@config_option
@click.option("--index", default=None, help="Search index UUID (default: the experiment's [publish] index).")
@click.option("--sample", default=None, help="Only this sample name.")
@click.option("--since", default=None, help="Acquired on or after YYYY-MM-DD.")
@click.option("--until", default=None, help="Acquired on or before YYYY-MM-DD.")
@click.option("--energy", type=float, default=None, help="X-ray energy in keV (+- --energy-tolerance).")
@click.option("--energy-tolerance", type=float, default=0.5, show_default=True)
@click.option("--limit", type=int, default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def search(query: str, config_path: str | None, index: str | None, sample: str | None, since: str | None,
           until: str | None, energy: float | None, energy_tolerance: float, limit: int, as_json: bool) -> None:
    """Find published reconstructions (local index, or Globus Search on the globus backend)."""
    config = load(config_path)
    filters = SearchFilters(sample=sample, since=_date(since), until=_date(until), energy_kev=energy,
                            energy_tolerance=energy_tolerance)
    publish = publish_config(config)
    index = index or (publish.index if publish else None)
    if choose(config).is_local:
        records = search_local(config.local_state_dir, query, filters, index=index, limit=limit)
    else:
        if not index:
            raise UserError(f"{config.path}: no [publish] index to search; pass --index")
        records = search_globus(globus_search_client(config), index, query, filters, limit=limit)
    if as_json:
        click.echo(json.dumps([r.as_dict() for r in records], indent=2))
        return
    if not records:
        out.print("no published reconstruction matches")
        return
    for record in records:
        out.print(f"[bold]{record.title or record.subject}[/bold]", highlight=False)
        facts = [("subject", record.subject), ("scan", record.scan), ("sample", record.sample),
                 ("date", record.date), ("energy", f"{record.energy_kev:g} keV" if record.energy_kev else None),
                 ("type", record.kind),
                 ("rotation axis", f"{record.rotation_axis:g}" if record.rotation_axis is not None else None),
                 ("axis decided", record.axis_decided or None),
                 ("replaced", ", ".join(f"run {r}" for r in record.replaced) or None),
                 ("removed since", "; ".join(record.removed) or None),
                 ("suggested centre", f"{record.suggested_center:.2f}" if record.suggested_center else None),
                 ("files", f"{record.files} ({record.bytes / 1e6:.1f} MB)"),
                 ("volume as", ", ".join(record.formats) or None),
                 ("previews", "\n                   ".join(record.previews) or None)]
        for name, value in facts:
            if value:
                out.print(f"  {name:>16}  {value}", highlight=False)


@click.command()
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
def verify(folder: Path) -> None:
    """Check a reconstruction (or a published or returned copy of one) against its manifest.json:
    every file read back and its sha256 compared, on every core. Exit status 1 when a file is
    missing, unlisted or not the bytes the manifest lists."""
    from tomocupy_gladier.compute.checksums import MANIFEST, verify_manifest

    if not (folder / MANIFEST).is_file():
        raise UserError(f"{folder} has no {MANIFEST}: give a reconstruction folder (or a copy of one)")
    started = time.perf_counter()
    problems = verify_manifest(folder)
    if problems:
        for problem in problems:
            out.print(Text(problem, style="red"))
        out.print(Text(f"{folder}: {len(problems)} problem(s)", style="bold red"))
        raise SystemExit(1)
    entries = json.loads((folder / MANIFEST).read_text()).get("files", [])
    out.print(Text(f"{folder}: {len(entries)} files, {sum(e['bytes'] for e in entries) / 1e9:.2f} GB, "
                   f"as its manifest.json lists them ({time.perf_counter() - started:.1f} s)"))


COMMANDS = [demo, runs, logs, search, verify]
