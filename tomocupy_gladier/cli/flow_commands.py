"""Commands about the flows themselves: show, export, run, follow."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Callable

import click
from rich.console import Console
from rich.table import Table

from tomocupy_gladier.backends import BACKEND_NAMES, choose as choose_backend
from tomocupy_gladier.experiment.engines import CpuEngine
from tomocupy_gladier.campaign.deletions import Deletions, deletions_path
from tomocupy_gladier.clients.client_factory import identity, make_client, offline_client
from tomocupy_gladier.experiment.compute_endpoints import check_endpoint
from tomocupy_gladier.experiment.config import ExperimentConfig
from tomocupy_gladier.tools.registry import load_config
from tomocupy_gladier.errors import UserError
from tomocupy_gladier.redaction import redact
from tomocupy_gladier.flows import FLOWS
from tomocupy_gladier.experiment.options import RECON_OPTIONS, ReconOption
from tomocupy_gladier.planning.plan import Ask, Origin, RunPlan, RunRequest, plan as make_plan
from tomocupy_gladier.runs.run_following import follow_run
from tomocupy_gladier.runs.run_record import RunRecord, run_log_entries
from tomocupy_gladier.runs.summary import summarize
from tomocupy_gladier.compute.axis import describe as describe_axis
from tomocupy_gladier.local.store import WORKER_LOST
from tomocupy_gladier.tools.choice.tool import TRY_PREVIEWS_STATE

console = Console(stderr=True)

flow_option = click.option("--flow", "flow_name", type=click.Choice(list(FLOWS)), default="tomocupy",
                           show_default=True, help="tomocupy: transfer+reconstruct+publish; "
                           "recon: reconstruct+publish data already at the facility.")
config_option = click.option("--config", "config_path", type=click.Path(dir_okay=False),
                             envvar="TOMOCUPY_GLADIER_CONFIG",
                             help="Experiment file (experiment.toml).")
backend_option = click.option("--backend", type=click.Choice(BACKEND_NAMES), default=None,
                              help="Override the backend chosen by the experiment file.")


def _print_json(data: Any) -> None:
    """Print JSON for the user, never a secret (the notification step's account)."""
    click.echo(json.dumps(redact(data), indent=2, sort_keys=False))


@click.command()
@flow_option
def definition(flow_name: str) -> None:
    """Print the flow definition Gladier generates (offline)."""
    _print_json(offline_client(flow_name).get_flow_definition())


@click.command()
@flow_option
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="Experiment file: print the schema as deployed for it (its settings as defaults).")
def schema(flow_name: str, config_path: str | None) -> None:
    """Print the flow's input schema (offline): the generic one, or with --config the one
    `deploy` sends for that experiment (function ids as registered by the last deploy or run)."""
    generic = offline_client(flow_name).get_flow_schema()
    if not config_path:
        _print_json(generic)
        return
    from tomocupy_gladier.flows.start_form import deployed_schema
    from tomocupy_gladier.globus.deployment import stored_function_ids

    config = load(config_path)
    ids = stored_function_ids(FLOWS[flow_name], client_id=None)
    _print_json(deployed_schema(generic, config, ids))


@click.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False), envvar="TOMOCUPY_GLADIER_CONFIG",
              required=True, help="Experiment file (experiment.toml).")
@click.option("--flow", "flow_name", type=click.Choice(list(FLOWS)), default=None,
              help="Deploy only this flow (default: every flow; more than one needs "
              "[globus] subscription_id).")
@click.option("--dry-run", is_flag=True,
              help="Print, as JSON, each request deploy would send and each flow's run scope; "
              "no login, no network, nothing changed.")
def deploy(config_path: str, flow_name: str | None, dry_run: bool) -> None:
    """Create or update the flows on Globus with the experiment's start form, and print the web
    app's page that starts each."""
    from tomocupy_gladier.clients.deploy import deploy_requests
    from tomocupy_gladier.globus.deployment import check_subscription, start_page

    config = load(config_path)
    names = [flow_name] if flow_name else list(FLOWS)
    check_subscription(config, names)
    # what Compute would refuse of every run: the configuration, and a single-user endpoint
    # offered to a group whose members start their own runs
    check_endpoint(config, identity(config, "globus"),
                   others_may_start=bool(config.globus.get("group")))
    if dry_run:
        _print_json(deploy_requests(config, names))
        return
    from tomocupy_gladier.clients.client_factory import globus_client
    from tomocupy_gladier.clients.deploy import deploy as deploy_flow

    for name in names:
        flow_id = deploy_flow(globus_client(name, config), config)
        click.echo(f"{name}: {flow_id}" if len(names) > 1 else flow_id)
        click.echo(f"start page: {start_page(flow_id)}")


def export_flows(out_dir: Path) -> list[Path]:
    """Write every flow's definition and input schema as JSON into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name in FLOWS:
        client = offline_client(name)
        for kind, data in (("definition", client.get_flow_definition()),
                           ("schema", client.get_flow_schema())):
            path = out_dir / f"{name}.{kind}.json"
            path.write_text(json.dumps(data, indent=2) + "\n")
            written.append(path)
    return written


@click.command()
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="flows", show_default=True)
def export(out_dir: str) -> None:
    """Write each flow's definition and input schema into a folder (the repository's flows/)."""
    for path in export_flows(Path(out_dir)):
        click.echo(str(path))


def _dest(option: ReconOption) -> str:
    return option.name.replace("-", "_")


_OPTION_BY_DEST = {_dest(o): o for o in RECON_OPTIONS}


def _cpu_engine_note(option: ReconOption) -> str:
    """What tomocupy-cpu (the local backend's CPU engine) lacks of ``option``, for ``--help``."""
    lacking = [CpuEngine().lacks(command).get(option.name, frozenset()) for command in option.commands]
    if all(values is None for values in lacking):
        return " [tomocupy only: not in tomocupy-cpu]"
    missing = sorted({str(v) for values in lacking if values for v in values}
                     & {str(c) for command in option.commands for c in option.choices(command) or []})
    return f" [not in tomocupy-cpu: {', '.join(missing)}]" if missing else ""


def _param_decorator(option: ReconOption) -> Callable:
    kind = option.json_type()
    flag = f"--{option.name}"
    help_text = f"{option.description} [tomocupy default: {option.default()}]{_cpu_engine_note(option)}"
    if kind == "boolean":
        return click.option(f"{flag}/--no-{option.name}", _dest(option), default=None, help=help_text)
    choices = [c for cmd in option.commands for c in (option.choices(cmd) or [])]
    if choices:
        click_type: Any = click.Choice(sorted(set(map(str, choices)), key=str))
    else:
        click_type = {"integer": int, "number": float}.get(kind, str)
    return click.option(flag, _dest(option), type=click_type, default=None, help=help_text)


def recon_param_options(func: Callable) -> Callable:
    """Add one command-line option per exposed tomocupy option (same names as tomocupy)."""
    for option in reversed(RECON_OPTIONS):
        func = _param_decorator(option)(func)
    return click.option("--command", "command", type=click.Choice(["recon", "recon_steps"]),
                        default=None, help="tomocupy command (recon_steps for phase retrieval).")(func)


def params_from_cli(params: dict[str, Any]) -> dict[str, Any]:
    """The options given on the command line, by tomocupy name, with tomocupy's value types."""
    given = {}
    for dest, value in params.items():
        option = _OPTION_BY_DEST[dest]
        if value is None:
            continue
        if option.json_type() == "integer" and isinstance(value, str):
            value = int(value)  # click hands integer choices (binning) back as strings
        given[option.name] = value
    return given


def load(config_path: str | None) -> ExperimentConfig:
    if not config_path:
        raise UserError("no experiment file: pass --config experiment.toml "
                        "(or set TOMOCUPY_GLADIER_CONFIG); `tomocupy-gladier demo` writes one")
    return load_config(config_path)


@click.command()
@click.argument("scan")
@config_option
@flow_option
@backend_option
@click.option("--try", "try_", is_flag=True, help="Reconstruct one slice for a range of centres.")
@click.option("--full", is_flag=True, help="Reconstruct the whole volume.")
@click.option("--from-try", "from_try", metavar="RUN_ID", default=None,
              help="Reuse a finished try run's parameters, with its suggested centre (or --center).")
@click.option("--center", type=float, default=None, help="With --from-try: the rotation axis to use.")
@click.option("--interactive", is_flag=True,
              help="One run: a try, then wait for `tomocupy-gladier choose` (or the serve page) to "
              "pick the centre, then the full reconstruction at that centre.")
@click.option("--dry-run", is_flag=True, help="Print the validated flow input; start nothing.")
@click.option("--follow/--no-follow", default=True, help="Follow the run until it ends.")
@recon_param_options
def run(scan: str, config_path: str | None, flow_name: str, backend: str | None, try_: bool, full: bool,
        from_try: str | None, center: float | None, interactive: bool, dry_run: bool, follow: bool,
        command: str | None, **params: Any) -> None:
    """Reconstruct SCAN (a path on the beamline, or at the facility with --flow recon)."""
    request = request_from_cli(scan, flow_name=flow_name, backend=backend, try_=try_, full=full,
                               from_try=from_try, center=center, interactive=interactive,
                               command=command, params=params)
    plan = make_plan(load(config_path), request)
    if dry_run:
        _print_json(plan.body)
        print_compute_states(offline_client(plan.flow).get_flow_definition(), plan.body["input"])
        return
    client = plan.client(background=True)
    started = client.run_flow(flow_input=plan.body, label=plan.label, tags=plan.tags)
    run_id = started["run_id"]
    click.echo(run_id)
    if not follow:
        return
    final = follow_run(client, run_id, delay=plan.backend.follow_delay,
                       tail=plan.log_file(run_id) if plan.backend.is_local else None)
    if not final.succeeded:
        sys.exit(1)
    report_result(plan, final, scan)


def print_compute_states(definition: dict[str, Any], flow_input: dict[str, Any]) -> None:
    """On stderr (stdout is the flow input): what the compute states send to Globus Compute,
    grouped by user endpoint (one per endpoint and configuration for one identity; on PBS each
    starts its own batch jobs)."""
    from tomocupy_gladier.flows.compute_states import compute_states, user_endpoints

    states = compute_states(definition, flow_input)
    groups = user_endpoints(states)
    count = "one user endpoint" if len(groups) == 1 else f"{len(groups)} user endpoints"
    console.print(f"{len(states)} compute states, {count} (Globus Compute starts one per endpoint and "
                  "user_endpoint_config; on PBS each submits its own batch jobs):")
    for group in groups:
        config = group["user_endpoint_config"]
        shown = "none (Compute v2)" if config is None else json.dumps(config, indent=2).replace("\n", "\n    ")
        console.print(f"  {', '.join(group['states'])}\n    endpoint {group['endpoint_id']}\n"
                      f"    user_endpoint_config {shown}", highlight=False, soft_wrap=True)


def request_from_cli(scan: str, *, flow_name: str, backend: str | None, try_: bool, full: bool,
                     from_try: str | None, center: float | None, interactive: bool,
                     command: str | None, params: dict[str, Any]) -> RunRequest:
    """What `run`'s command line asks for; contradicting options are refused by name."""
    if try_ and full:
        raise UserError("--try and --full contradict each other: give one")
    interactive = interactive or flow_name == "interactive"
    if interactive:
        if try_ or full or from_try:
            raise UserError("--interactive makes its own try and full reconstruction: drop "
                            "--try, --full and --from-try")
        if flow_name == "recon":
            raise UserError("--interactive copies the scan from the beamline first: drop --flow recon")
        flow_name = "interactive"
    if center is not None and not from_try:
        raise UserError("--center goes with --from-try; to set the axis directly use --rotation-axis")
    if from_try and try_:
        raise UserError("--from-try starts the full reconstruction chosen from a try: drop --try")
    overrides = params_from_cli(params)
    if command:
        overrides["command"] = command
    ask = (Ask.INTERACTIVE if interactive else Ask.FROM_TRY if from_try else Ask.TRY if try_
           else Ask.FULL if full else Ask.EXPERIMENT)
    return RunRequest(scan, flow=flow_name, ask=ask, overrides=overrides, backend=backend,
                      from_try=from_try, center=center, origin=Origin.COMMAND_LINE)


def report_result(plan: RunPlan, final: RunRecord, scan: str) -> None:
    """What a finished run made: the axis and where it came from, the suggestion of a try, the
    previews, where results were sent back."""
    recon = final.recon_result
    previews = final.previews_result
    if recon.get("rotation_axis") is not None:
        kept = (recon.get("axis_decided") or {}).get("reused_from")  # a person's axis, kept
        click.echo(f"rotation axis: {recon['rotation_axis']:.2f} px, "
                   f"{describe_axis(recon['axis_decided']) if kept else plan.axis_summary(recon.get('rotation_axis_source'))}")
    if recon.get("output"):
        click.echo(f"reconstruction: {recon['output']} ({recon.get('file_count')} files, "
                   f"{recon.get('bytes', 0) / 1e6:.1f} MB)")
    for warning in (recon.get("quality") or {}).get("warnings") or []:
        click.echo(f"warning: scan quality: {warning}")
    suggested = previews.get("suggested_center")
    if plan.is_try and suggested is not None:
        click.echo(f"suggested centre: {suggested:.2f} "
                   f"({previews.get('focus_metric', 'sharpest slice')})")
        if previews.get("warning"):
            click.echo(f"warning: {previews['warning']}")
        montage = previews.get("montage")
        click.echo(f"montage: {montage.get('file') if isinstance(montage, dict) else montage}")
        click.echo(f"next: tomocupy-gladier run {scan} --config {plan.config.path} --full "
                   f"--from-try {final.run_id}")
    elif previews.get("previews"):
        click.echo("previews: " + ", ".join(previews["previews"]))
    tried = final.result(TRY_PREVIEWS_STATE)  # an interactive run's try
    if tried.get("warning"):
        click.echo(f"warning: the try: {tried['warning']}")
    replaced = summarize(final).replaced
    if replaced:
        click.echo(f"replaced: the reconstruction of run {replaced} (kept as history in the record)")
    returned = plan.returned_to(final)
    if returned:
        click.echo(f"sent back to: {returned}")


@click.command()
@click.argument("run_id")
@config_option
@flow_option
@backend_option
@click.option("--json", "as_json", is_flag=True, help="Print the run record as JSON.")
def status(run_id: str, config_path: str | None, flow_name: str, backend: str | None, as_json: bool) -> None:
    """Show a run's status and its progress state by state."""
    config = load(config_path)
    client = make_client(flow_name, config, backend)
    record = client.get_status(run_id)
    user_endpoints = None
    if choose_backend(config, backend).is_local:
        # the local Compute model's account of the run: one user endpoint per identity, endpoint
        # and user_endpoint_config (on PBS each is its own batch job)
        user_endpoints = client.flows_manager.user_endpoints(run_id)
        record = {**record, "compute": {"user_endpoints": user_endpoints}}
    if as_json:
        pruned = Deletions(deletions_path(config.local_state_dir)).of_run(run_id)
        _print_json({**record, "pruned": [d.as_dict() for d in pruned]} if pruned else record)
        return
    table = Table(title=f"run {run_id}: {record.get('status')}")
    for column in ("time", "code", "description"):
        table.add_column(column)
    for entry in run_log_entries(client, run_id):
        table.add_row(str(entry.get("time", "")), str(entry.get("code", "")), str(entry.get("description", "")))
    Console().print(table)
    if user_endpoints is not None:
        click.echo("\n".join(describe_user_endpoints(user_endpoints)))
    failure = RunRecord(record).failure
    if failure:
        click.echo(f"failure: {failure}")
    for warning in RunRecord(record).warnings:
        click.echo(f"warning: {warning}")
    for deletion in Deletions(deletions_path(config.local_state_dir)).of_run(run_id):
        click.echo(f"pruned: {deletion.line()}")
    from tomocupy_gladier.runs.consents import describe as describe_consent, missing_consent

    consent = missing_consent(record)
    if consent is not None:
        click.echo("\n".join(describe_consent(consent, config.path)))
    details = record.get("details") or {}
    if record.get("status") == "INACTIVE" and details.get("code") == WORKER_LOST:
        click.echo(f"run {run_id} is INACTIVE ({WORKER_LOST}): {details.get('description', '')}; it goes on at "
                   f"state {details.get('state_name', '?')}.\n"
                   f"resume it: tomocupy-gladier resume {run_id} --config {config.path} "
                   "(serve, watch and campaign run resume it by themselves)")
    from tomocupy_gladier.runs.choice import describe, waiting_choice

    waiting = waiting_choice(client, run_id, record)  # any flow's run may wait (extended flows)
    if waiting is not None:
        click.echo("\n".join(describe(waiting)))
    if RunRecord(record).is_final:
        # what it made: the axis and how it was decided, the folder, the quality, where published
        for line in summarize(RunRecord(record)).lines():
            click.echo(_on_this_machine(line, config, backend))


def _on_this_machine(line: str, config: ExperimentConfig, backend: str | None) -> str:
    """``published to: globus://C/P`` with the folder that is ``C:P`` here (local backend)."""
    prefix = "published to: globus://"
    if not line.startswith(prefix):
        return line
    collection, _, rest = line[len(prefix):].partition("/")
    path, _, note = rest.partition(" ")
    root = config.collection_folder(collection, choose_backend(config, backend))
    return line if root is None else f"published to: {Path(root, path)} {note}".rstrip()


def describe_user_endpoints(user_endpoints: list[dict[str, Any]]) -> list[str]:
    """``status``'s lines about the Compute user endpoints a run used, with their tasks."""
    if not user_endpoints:
        return ["compute: no task has run yet"]
    count = "1 user endpoint" if len(user_endpoints) == 1 else f"{len(user_endpoints)} user endpoints"
    lines = [f"compute: {count} (one batch job each on PBS)"]
    for uep in user_endpoints:
        states = ", ".join(f"{t['state_name']} ({t['status']})" for t in uep["tasks"])
        lines += [f"  {uep['user_endpoint_id']} on endpoint {uep['endpoint_id']} as {uep['identity']}",
                  f"    user_endpoint_config {json.dumps(uep['user_endpoint_config'], sort_keys=True)}",
                  f"    tasks: {states}"]
    return lines


@click.command()
@click.argument("run_id")
@config_option
@backend_option
@click.option("--center", type=float, default=None, help="The rotation axis: the offered centre nearest it.")
@click.option("--suggested", is_flag=True, help="The centre the try suggested.")
def choose(run_id: str, config_path: str | None, backend: str | None, center: float | None,
           suggested: bool) -> None:
    """Answer an interactive run (`run --interactive`) that waits for the choice of the centre."""
    from tomocupy_gladier.runs.choice import choose as choose_option

    if (center is None) == (not suggested):
        raise UserError("give --center X or --suggested (one of them)")
    config = load(config_path)
    client = make_client("interactive", config, backend)
    option, note = choose_option(client, run_id, center=center, suggested=suggested)
    if note:
        click.echo(note)
    click.echo(f"chose {option.name} for run {run_id}: the full reconstruction goes on")


@click.command()
@click.argument("run_ids", metavar="[RUN_ID]...", nargs=-1)
@config_option
@flow_option
@backend_option
@click.option("--follow/--no-follow", default=False, help="Follow the runs until they end.")
def resume(run_ids: tuple[str, ...], config_path: str | None, flow_name: str, backend: str | None,
           follow: bool) -> None:
    """Resume INACTIVE runs: one waiting for a consent (logging in for that consent where it is
    missing, then Flows' resume), or, on the local backend, one whose worker ended before it
    (it goes on from its last completed state). Without RUN_ID: every INACTIVE run of the local
    backend."""
    from tomocupy_gladier.runs.consents import missing_consent, resume as resume_run

    config = load(config_path)
    client = make_client(flow_name, config, backend)
    if not run_ids:
        if not choose_backend(config, backend).is_local:
            raise UserError("name the run(s) to resume: RUN_ID (on Globus, see them in the web app)")
        from tomocupy_gladier.clients.client_factory import local_backend

        local = local_backend(config)
        local.store.recover_interrupted()
        run_ids = tuple(r["run_id"] for r in reversed(local.store.list_runs(status="INACTIVE", limit=None)))
        local.close()
        if not run_ids:
            click.echo("no run waits to be resumed")
            return
    records = [client.get_status(run_id) for run_id in run_ids]
    for run_id, record in zip(run_ids, records):
        if record.get("status") != "INACTIVE":
            raise UserError(f"run {run_id} is {record.get('status')}: only an INACTIVE run can be resumed")
    for run_id, record in zip(run_ids, records):
        missing = missing_consent(record)
        if missing is not None and missing.collections:
            click.echo(f"consenting to data access on {', '.join(missing.collections)}", err=True)
        resumed = resume_run(client, run_id)
        click.echo(f"run {run_id}: {resumed.get('status')}")
    if follow:
        finals = [follow_run(client, run_id, delay=choose_backend(config, backend).follow_delay)
                  for run_id in run_ids]
        if not all(final.succeeded for final in finals):
            sys.exit(1)


COMMANDS = [definition, schema, deploy, export, run, status, choose, resume]
