"""``campaign`` commands (create, run, status, retry, cancel, report, schedule, timers) and ``watch``."""

from __future__ import annotations

import csv
import hashlib
import json
import re
import shlex
import shutil
import sys
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from tomocupy_gladier.backends import BACKEND_NAMES, choose
from tomocupy_gladier.campaign import timers, wiring
from tomocupy_gladier.campaign.ledger import (
    ACTIVE,
    CANCELLED,
    FAILED,
    PENDING,
    STATES,
    SUBMITTING,
    SUCCEEDED,
    Ledger,
)
from tomocupy_gladier.campaign.runner import CampaignRunner, RunnerSettings, run_tags
from tomocupy_gladier.experiment.config import ExperimentConfig
from tomocupy_gladier.tools.registry import load_config
from tomocupy_gladier.errors import UserError
from tomocupy_gladier.flows import FLOWS

console = Console(stderr=True)

state_dir_option = click.option(
    "--state-dir", type=click.Path(file_okay=False), envvar="TOMOCUPY_GLADIER_CAMPAIGNS", default=None,
    help="Folder of campaign ledgers [default: the experiment's state folder with --config, "
         "else $XDG_DATA_HOME/tomocupy-gladier/campaigns].")
config_option = click.option("--config", "config_path", type=click.Path(dir_okay=False),
                             envvar="TOMOCUPY_GLADIER_CONFIG", help="Experiment file (experiment.toml).")


def _campaigns_dir(state_dir: str | None, config_path: str | None) -> Path:
    if state_dir:
        return Path(state_dir)
    return wiring.default_campaigns_dir(load_config(config_path) if config_path else None)


def _open(name: str, state_dir: str | None, config_path: str | None) -> Ledger:
    return wiring.open_campaign(_campaigns_dir(state_dir, config_path), name)


def _config_of(ledger: Ledger) -> tuple[ExperimentConfig, Mapping[str, Any]]:
    meta = ledger.meta()
    return load_config(meta["config"]), meta


@click.group()
def campaign() -> None:
    """Reprocess many datasets with one or more parameter sets, resumably."""


Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def ledger_command(*options: Decorator) -> Callable[[Callable[..., None]], click.Command]:
    """Register a ``campaign`` command on the existing campaign NAME: its ``NAME`` argument, then
    ``options``, ``--config`` and ``--state-dir`` (``config_path``, ``state_dir``; see :func:`_open`)."""
    def register(command: Callable[..., None]) -> click.Command:
        decorators: tuple[Decorator, ...] = (click.argument("name"), *options, config_option, state_dir_option)
        decorated: Callable[..., Any] = command
        for decorator in reversed(decorators):
            decorated = decorator(decorated)
        return campaign.command()(decorated)
    return register


@campaign.command()
@click.argument("name")
@config_option
@click.option("--manifest", "manifest_path", required=True, type=click.Path(dir_okay=False),
              help="TOML or CSV: datasets (paths or globs) and parameter sets.")
@click.option("--flow", "flow_name", type=click.Choice(list(FLOWS)), default=None,
              help=f"Flow to run [default: the manifest's, else {wiring.DEFAULT_FLOW}: no transfer].")
@click.option("--backend", type=click.Choice(BACKEND_NAMES), default=None,
              help="Override the experiment's backend.")
@click.option("--replace-decided-axes", "replace_decided", is_flag=True,
              help="Replace reconstructions whose axis a person decided (chosen, given, suggested) "
              "with this campaign's axis; by default a job whose parameter set names no axis or "
              "search keeps that axis.")
@state_dir_option
def create(name: str, config_path: str | None, manifest_path: str, flow_name: str | None,
           backend: str | None, replace_decided: bool, state_dir: str | None) -> None:
    """Create campaign NAME: one job per (dataset, parameter set) of the manifest."""
    if not config_path:
        raise UserError("pass --config experiment.toml")
    config = load_config(config_path)
    wiring.check_name(name)
    jobs, flow = wiring.manifest_jobs(config, manifest_path, flow_name)
    if flow not in FLOWS:
        raise UserError(f"{manifest_path}: unknown flow {flow!r}")
    path = wiring.ledger_path(Path(state_dir) if state_dir else wiring.default_campaigns_dir(config), name)
    if path.exists():
        raise UserError(f"campaign {name!r} already exists ({path})")
    with Ledger(path) as ledger:
        ledger.set_meta({"name": name, "config": str(config.path.resolve()), "flow": flow,
                         "backend": choose(config, backend).name, "manifest": str(Path(manifest_path).resolve()),
                         "created": datetime.now(UTC).isoformat(), "cancelled": False,
                         wiring.REPLACE_DECIDED: replace_decided})
        added = ledger.add_jobs(jobs)
    click.echo(f"campaign {name}: {len(added)} job(s), flow {flow}, ledger {path}")


def _progress_printer(progress: Progress, task: Any, total: int) -> Any:
    def update(counts: Mapping[str, int], message: str) -> None:
        done = counts[SUCCEEDED] + counts[FAILED] + counts[CANCELLED]
        progress.update(task, completed=done, total=total,
                        description=f"active {counts[ACTIVE]} pending {counts[PENDING]} "
                                    f"failed {counts[FAILED]}")
    return update


@ledger_command(
    click.option("--max-active", type=click.IntRange(1, 1000), default=8, show_default=True,
                 help="At most this many runs active at once."),
    click.option("--poll-interval", type=click.FloatRange(0.01), default=15.0, show_default=True,
                 help="Seconds before the first look at a new run (it grows for long runs)."),
    click.option("--refresh", is_flag=True, help="Re-read the manifest first and add the datasets that "
                 "appeared since (for a nightly run of a glob)."),
)
def run(name: str, max_active: int, poll_interval: float, refresh: bool, config_path: str | None,
        state_dir: str | None) -> None:
    """Run (or resume) campaign NAME; succeeded jobs are never submitted again."""
    with _open(name, state_dir, config_path) as ledger:
        config, meta = _config_of(ledger)
        if refresh:
            jobs, _ = wiring.manifest_jobs(config, meta["manifest"], meta["flow"])
            added = ledger.add_jobs(jobs)
            console.print(f"{len(added)} new job(s) from {meta['manifest']}")
        service, body_for = wiring.connect(config, meta["flow"], meta.get("backend"),
                                           replace_decided=bool(meta.get(wiring.REPLACE_DECIDED)))
        from tomocupy_gladier.clients.client_factory import resume_local_runs

        resume_local_runs(config, meta.get("backend"))
        total = sum(ledger.counts().values())
        settings = RunnerSettings(max_active=max_active, poll_interval=poll_interval,
                                  max_poll_interval=max(poll_interval, 300.0))
        with Progress(TextColumn(f"[bold]{name}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
                      TimeElapsedColumn(), console=console, transient=False) as progress:
            task = progress.add_task("starting", total=total)
            runner = CampaignRunner(ledger, service, body_for, name=name, settings=settings,
                                    progress=_progress_printer(progress, task, total))
            try:
                counts = runner.run()
            except KeyboardInterrupt:
                progress.stop()
                console.print(f"interrupted: every step is recorded; `campaign run {name}` resumes")
                raise SystemExit(130) from None
    _print_counts(name, counts)
    if counts[FAILED]:
        raise SystemExit(1)


def _print_counts(name: str, counts: Mapping[str, int]) -> None:
    parts = [f"{state.lower()} {counts[state]}" for state in STATES if counts[state]]
    click.echo(f"campaign {name}: " + (", ".join(parts) or "no jobs"))


@ledger_command(
    click.option("--json", "as_json", is_flag=True, help="Print counts and jobs as JSON."),
    click.option("--only", "only", type=click.Choice(STATES, case_sensitive=False), multiple=True,
                 help="List only jobs in this state (repeatable)."),
)
def status(name: str, as_json: bool, only: tuple[str, ...], config_path: str | None, state_dir: str | None) -> None:
    """Counts by state, then the jobs (failures with their reason)."""
    with _open(name, state_dir, config_path) as ledger:
        counts, meta = ledger.counts(), ledger.meta()
        jobs = ledger.jobs([s.upper() for s in only] if only else None)
    if as_json:
        click.echo(json.dumps({"name": name, "cancelled": meta.get("cancelled", False), "counts": counts,
                               "jobs": [{"key": j.key, "dataset": j.dataset, "params": j.param_set,
                                         "state": j.state, "run_id": j.run_id, "attempts": j.attempts,
                                         "error": j.error} for j in jobs]}, indent=2))
        return
    _print_counts(name, counts)
    if meta.get("cancelled"):
        click.echo("(cancelled: `campaign retry` re-opens it)")
    table = Table(title=f"campaign {name}")
    for column in ("key", "dataset", "params", "state", "run id", "tries", "reason"):
        table.add_column(column, overflow="fold")
    colours = {SUCCEEDED: "green", FAILED: "red", CANCELLED: "yellow", ACTIVE: "cyan", SUBMITTING: "cyan"}
    for j in jobs:
        colour = colours.get(j.state, "white")
        table.add_row(j.key, j.dataset, j.param_set, f"[{colour}]{j.state}[/{colour}]", j.run_id or "",
                      str(j.attempts), j.error or "")
    Console(width=200).print(table)


@ledger_command(
    click.option("--failed", "failed_only", is_flag=True, help="Only failed jobs (not cancelled ones)."),
)
def retry(name: str, failed_only: bool, config_path: str | None, state_dir: str | None) -> None:
    """Make failed (and cancelled) jobs pending again; `campaign run` then submits them."""
    with _open(name, state_dir, config_path) as ledger:
        reopened = ledger.reopen([FAILED] if failed_only else [FAILED, CANCELLED])
        ledger.set_meta({"cancelled": False})
    click.echo(f"campaign {name}: {reopened} job(s) pending again")


@ledger_command(
    click.option("--runs/--no-runs", "cancel_runs", default=True, show_default=True,
                 help="Also cancel the active runs at the service."),
)
def cancel(name: str, cancel_runs: bool, config_path: str | None, state_dir: str | None) -> None:
    """Stop campaign NAME: no new submissions (a running `campaign run` stops submitting too),
    pending jobs cancelled, active runs cancelled at the service."""
    with _open(name, state_dir, config_path) as ledger:
        ledger.set_meta({"cancelled": True})
        pending = ledger.jobs([PENDING])
        for job in pending:
            ledger.mark_finished(job.key, CANCELLED, "campaign cancelled before submission")
        active = ledger.jobs([ACTIVE])
        failed_to_cancel = []
        if cancel_runs and active:
            config, meta = _config_of(ledger)
            service, _ = wiring.connect(config, meta["flow"], meta.get("backend"))
            for job in active:
                try:
                    service.cancel(str(job.run_id))  # type: ignore[attr-defined]
                except Exception as exc:  # noqa: BLE001 - reported, the others still cancelled
                    failed_to_cancel.append(f"{job.key} ({job.run_id}): {exc}")
    click.echo(f"campaign {name}: {len(pending)} pending job(s) cancelled, "
               f"{len(active) - len(failed_to_cancel) if cancel_runs else 0} run(s) asked to stop")
    for line in failed_to_cancel:
        click.secho(f"could not cancel {line}", fg="yellow", err=True)


@ledger_command(
    click.option("--csv", "csv_path", default=None, type=click.Path(dir_okay=False),
                 help="Also write the same columns to this CSV file (the scans' whole paths)."),
)
def report(name: str, csv_path: str | None, config_path: str | None, state_dir: str | None) -> None:
    """One row per job: scan, parameter set, status, the axis and how it was decided, the output
    folder, the scan's quality, the run id (and why a job failed)."""
    from tomocupy_gladier.campaign.report import COLUMNS, report_rows, with_full_paths

    with _open(name, state_dir, config_path) as ledger:
        jobs = ledger.jobs()
        meta = ledger.meta()
    rows = report_rows(jobs, _local_summaries(meta))
    table = Table(title=f"campaign {name}")
    for column in COLUMNS:
        table.add_column(column, overflow="fold")
    colours = {SUCCEEDED: "green", FAILED: "red", CANCELLED: "yellow", ACTIVE: "cyan", SUBMITTING: "cyan"}
    for row in rows:
        colour = colours.get(row["status"], "white")
        table.add_row(*[f"[{colour}]{value}[/{colour}]" if column == "status" else value
                        for column, value in row.items()])
    Console(width=max(120, shutil.get_terminal_size((200, 24)).columns)).print(table)
    if csv_path:
        with open(csv_path, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows(with_full_paths(rows, jobs))
        click.echo(f"{len(jobs)} job(s) written to {csv_path}")


def _local_summaries(meta: Mapping[str, Any]) -> Callable[[str], Any] | None:
    """How a run's summary is read when the ledger has none (a job that ended before ledgers
    kept them): from the local backend's run store; None on Globus (no login for a report)."""
    from tomocupy_gladier.runs.run_record import RunRecord
    from tomocupy_gladier.runs.summary import summarize

    try:
        config = load_config(meta["config"])
    except (KeyError, UserError):
        return None
    if not choose(config, meta.get("backend")).is_local:
        return None
    from tomocupy_gladier.clients.client_factory import local_backend
    from tomocupy_gladier.local.errors import UnknownRunError

    store = local_backend(config).store

    def summary_of(run_id: str) -> Any:
        try:
            return summarize(RunRecord(store.get_run(run_id)))
        except UnknownRunError:  # a run the store no longer has: no summary
            return None

    return summary_of


def timers_client_for(config: ExperimentConfig, flow_id: str | None, flow_name: str = "tomocupy") -> Any:
    """A Timers client on the flows' own login and token file (``globus/auth.py``: the
    confidential client of GLADIER_CLIENT_ID/GLADIER_CLIENT_SECRET when set, else the user's login
    with the experiment's native client), logged in for Timers first where the stored login lacks
    it: one login and one token storage for Flows, Compute and Timers. With ``flow_id``, the login
    consents to running that flow with the ``data_access`` consents of the collections the flow's
    transfers use."""
    from globus_sdk.scopes import TimersScopes

    from tomocupy_gladier.clients.client_factory import flow_class
    from tomocupy_gladier.flows import data_access_collections
    from tomocupy_gladier.globus.auth import login_manager_for

    manager = login_manager_for(config.globus.get("client_id"))
    if not flow_id:
        manager.ensure_login([str(TimersScopes.timer)])
        return timers.TimersClient(app=manager.app)
    collections = data_access_collections(flow_class(flow_name), config)
    manager.ensure_login([timers.timer_scope(flow_id, collections)])
    return timers.timers_client(manager.app, flow_id, collections)


def _cli_program() -> list[str]:
    found = shutil.which("tomocupy-gladier")
    return [found] if found else [sys.executable, "-c", "from tomocupy_gladier.cli import main; main()"]


@ledger_command(
    click.option("--every", help="Interval: 1d, 12h, 30m, 1h30m ... (at least a minute per timer)."),
    click.option("--start", help="First run (ISO 8601; local time without a zone) [default: the next "
                 "whole minute]; on Globus each further timer starts a minute later."),
    click.option("--end", help="No run after this time (ISO 8601)."),
    click.option("--at", "at", help="Run once, at this time (ISO 8601); on Globus each further timer a "
                 "minute later."),
    click.option("--max-timers", type=click.IntRange(1), default=20, show_default=True,
                 help="Globus: refuse to make more timers than this (one per job)."),
    click.option("--dry-run", is_flag=True, help="Globus: print, as JSON, each request it would send to "
                 "Globus Timers (secrets as <private>); no login, no deployment, nothing sent."),
)
def schedule(name: str, every: str | None, start: str | None, end: str | None, at: str | None,
             max_timers: int, dry_run: bool, config_path: str | None, state_dir: str | None) -> None:
    """Run campaign NAME on a schedule: Globus Timers (Globus backend; one timer per job, a minute
    apart), or the cron line to install (local backend)."""
    if bool(every) == bool(at):
        raise UserError("give either --every INTERVAL or --at TIME")
    if at and (start or end):
        raise UserError("--start/--end go with --every, not with --at")
    with _open(name, state_dir, config_path) as ledger:
        config, meta = _config_of(ledger)
        if choose(config, meta.get("backend")).is_local:
            _print_local_schedule(name, meta, every, start, end, at, state_dir)
            return
        plan = timers.once(at) if at else timers.recurring(every or "", start, end)
        jobs = ledger.jobs()
        if not jobs:
            raise UserError(f"campaign {name} has no jobs: nothing to schedule")
        if len(jobs) > max_timers:
            raise UserError(f"campaign {name} has {len(jobs)} jobs: that would be {len(jobs)} timers "
                            f"(--max-timers {max_timers})")
        plan.check(len(jobs))  # before any login: what this campaign alone cannot keep to
        replace_decided = bool(meta.get(wiring.REPLACE_DECIDED))
        if dry_run:
            flow_id, body_for = wiring.offline_globus_input(config, meta["flow"], replace_decided=replace_decided)
            client, sent = timers.offline_timers_client("<timer id: assigned by Globus Timers>")
            _make_timers(client, flow_id, name, jobs, body_for, plan)
            click.echo(json.dumps([r.to_json() for r in sent.recorded], indent=2))
            return
        service, body_for = wiring.connect(config, meta["flow"], meta.get("backend"),
                                           replace_decided=replace_decided)
        deployed = getattr(service, "flow_id", None)
        if not deployed:
            raise UserError("this backend's run service has no Globus flow id: timers need the Globus backend")
        flow_id = str(deployed)
        client = timers_client_for(config, flow_id, meta["flow"])
        existing = [dict(j) for j in client.list_jobs().get("jobs", [])]
        ours = timers.ours(existing, name)
        if ours:
            raise UserError(f"campaign {name} already has {len(ours)} timer(s): delete them first "
                            f"(`campaign timers {name} --delete-all`), or they would run beside the new ones")
        plan.check(len(jobs), existing)
        made = _make_timers(client, str(flow_id), name, jobs, body_for, plan)
        ledger.set_meta({"timers": list(ledger.meta().get("timers", [])) + made})


def _make_timers(client: Any, flow_id: str, name: str, jobs: list[Any], body_for: Any,
                 plan: timers.TimerPlan) -> list[str]:
    """One timer per job, timer ``i`` starting ``i`` minutes after the first. Every body is
    built before the first timer is made, so a job that cannot work makes none."""
    inputs = [body_for(job) for job in jobs]
    bodies = [timers.timer_body(flow_input, run_tags(name, job.key, (timers.TIMER_TAG,)))
              for job, flow_input in zip(jobs, inputs)]
    dropped = {step.section.name if step.section else step.name: step
               for flow_input in inputs for step in timers.dropped_steps(flow_input)}
    if dropped:
        console.print("warning: timer-started runs send no email: a timer's body cannot carry the "
                      "email account (Timers shows it to its owner), so "
                      f"{', '.join(f'[{section}]' for section in dropped)} is off in them")
    made = []
    for index, (job, body) in enumerate(zip(jobs, bodies)):
        made.append(timers.create_flow_timer(client, flow_id, timers.timer_name(name, job.key), body,
                                             plan.schedule(index)))
        console.print(f"timer {made[-1]}: {job.dataset} ({job.param_set}), first run "
                      f"{plan.start(index).isoformat()}")
    return made


def _print_local_schedule(name: str, meta: Mapping[str, Any], every: str | None, start: str | None,
                          end: str | None, at: str | None, state_dir: str | None) -> None:
    command = _cli_program() + ["campaign", "run", name, "--refresh", "--config", meta["config"]]
    if state_dir:
        command += ["--state-dir", str(Path(state_dir).resolve())]
    if at:
        moment = timers.parse_time(at)
        click.echo("# the local backend has no scheduler: run this once to queue it with at(1)")
        click.echo(f"echo {shlex.quote(shlex.join(command))} | at -t {moment.strftime('%Y%m%d%H%M')}")
        return
    seconds = timers.parse_interval(every or "")
    line = timers.cron_line(seconds, command, timers.parse_time(start) if start else None)
    click.echo("# the local backend has no scheduler: add this line with `crontab -e`")
    if end:
        click.echo(f"# and remove it after {timers.parse_time(end).isoformat()}")
    click.echo(line)


@campaign.command("timers")
@click.argument("name", required=False)
@click.option("--delete", "delete_ids", multiple=True, help="Delete this timer (repeatable).")
@click.option("--delete-all", is_flag=True, help="Delete every timer listed.")
@config_option
def timers_command(name: str | None, delete_ids: tuple[str, ...], delete_all: bool,
                   config_path: str | None) -> None:
    """List (and delete) the Globus Timers made by `campaign schedule` (of campaign NAME)."""
    if not config_path:
        raise UserError("pass --config experiment.toml (its Globus settings are used to log in)")
    config = load_config(config_path)
    if choose(config).is_local:
        click.echo("the local backend makes no timers: see `crontab -l`")
        return
    client = timers_client_for(config, None)
    listed = timers.list_timers(client, name)
    table = Table(title="timers")
    for column in ("id", "name", "status", "next run", "schedule"):
        table.add_column(column, overflow="fold")
    for t in listed:
        table.add_row(str(t.get("job_id")), str(t.get("name")), str(t.get("status", "")),
                      str(t.get("next_run", "")), json.dumps(t.get("schedule", {})))
    Console(width=200).print(table)
    targets = [str(t["job_id"]) for t in listed] if delete_all else list(delete_ids)
    for timer_id in timers.delete_timers(client, targets):
        click.echo(f"deleted timer {timer_id}")


def watch_campaign_name(folder: Path) -> str:
    """The campaign (ledger) a watched folder's scans are recorded in."""
    digest = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:8]
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", folder.resolve().name)[:40] or "root"
    return f"watch-{stem}-{digest}"


@click.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False))
@config_option
@click.option("--pattern", default="*.h5", show_default=True, help="Which files are scans.")
@click.option("--debounce", type=click.FloatRange(0), default=5.0, show_default=True,
              help="Seconds a closed file's size must stay the same before it counts as complete.")
@click.option("--marker-suffix", default=".done", show_default=True,
              help="A file NAME+SUFFIX marks NAME complete at once ('' to disable).")
@click.option("--no-close-events", is_flag=True,
              help="The file system reports no close events (NFS...): a stable size is enough.")
@click.option("--existing", is_flag=True, help="Also take the scans already in the folder.")
@click.option("--recursive", is_flag=True, help="Watch sub-folders too.")
@click.option("--flow", "flow_name", type=click.Choice(list(FLOWS)), default=None,
              help="Default: recon for a folder at the facility, tomocupy (transfer first) for the "
              "beamline's. interactive: a try of each scan, then a wait for the scientist's choice "
              "of its centre.")
@click.option("--max-active", type=click.IntRange(1, 1000), default=4, show_default=True,
              help="At most this many runs active at once.")
@click.option("--poll-interval", type=click.FloatRange(0.01), default=15.0, show_default=True,
              help="Seconds before the first look at a new run.")
@click.option("--replace-decided-axes", "replace_decided", is_flag=True,
              help="A scan whose reconstruction has an axis a person decided (chosen, given, "
              "suggested) gets the experiment's axis instead; by default that axis is kept.")
@state_dir_option
def watch(folder: str, config_path: str | None, pattern: str, debounce: float, marker_suffix: str,
          no_close_events: bool, existing: bool, recursive: bool, flow_name: str, max_active: int,
          poll_interval: float, replace_decided: bool, state_dir: str | None) -> None:
    """Start one flow run per newly completed scan in FOLDER, never twice for the same file.
    Ctrl-C stops watching; runs already started go on and are followed on the next start."""
    from tomocupy_gladier.campaign.watcher import FolderWatcher, ScanTracker

    if not config_path:
        raise UserError("pass --config experiment.toml")
    config = load_config(config_path)
    flow_name = flow_name or wiring.watched_flow(config, Path(folder))
    name = watch_campaign_name(Path(folder))
    path = wiring.ledger_path(Path(state_dir) if state_dir else wiring.default_campaigns_dir(config), name)
    with Ledger(path) as ledger:
        if not ledger.meta():
            ledger.set_meta({"name": name, "config": str(config.path.resolve()), "flow": flow_name,
                             "backend": config.backend, "watch": str(Path(folder).resolve()),
                             "created": datetime.now(UTC).isoformat(), "cancelled": False})
        ledger.set_meta({wiring.REPLACE_DECIDED: replace_decided})  # as this watch was told
        service, body_for = wiring.connect(config, flow_name, replace_decided=replace_decided)
        from tomocupy_gladier.clients.client_factory import resume_local_runs

        resume_local_runs(config)
        runner = CampaignRunner(ledger, service, body_for, name=name,
                                settings=RunnerSettings(max_active=max_active, poll_interval=poll_interval,
                                                        max_poll_interval=max(poll_interval, 300.0)),
                                progress=lambda counts, message: console.print(message))
        tracker = ScanTracker(pattern, debounce=debounce, marker_suffix=marker_suffix or None,
                              require_close=not no_close_events)
        watcher = FolderWatcher(folder, tracker, runner, recursive=recursive, include_existing=existing,
                                tick=min(0.5, max(debounce / 4, 0.05)))
        console.print(f"watching {folder} for {pattern} (campaign {name}); Ctrl-C to stop")
        try:
            watcher.run()
        except KeyboardInterrupt:
            counts = ledger.counts()
            console.print(f"stopped: {counts[ACTIVE] + counts[SUBMITTING]} run(s) still active, "
                          f"{counts[PENDING]} scan(s) pending; `tomocupy-gladier campaign status {name}` "
                          "shows them, the next `watch` follows them")


COMMANDS: list[click.Command] = [campaign, watch]
