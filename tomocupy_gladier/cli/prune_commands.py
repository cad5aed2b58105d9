"""``prune``: remove what the experiment's age rules (``[retention]``) allow, or list it."""

from __future__ import annotations

import json
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from tomocupy_gladier.backends import choose
from tomocupy_gladier.campaign import timers
from tomocupy_gladier.campaign.prune import Prune, run_prune
from tomocupy_gladier.cli.campaign_commands import _cli_program
from tomocupy_gladier.cli.flow_commands import backend_option, config_option, load
from tomocupy_gladier.compute.disk_space import human
from tomocupy_gladier.errors import UserError
from tomocupy_gladier.experiment.config import ExperimentConfig
from tomocupy_gladier.tools.retention.config import KINDS, describe, retention_rules

out = Console()


def _size(size: int | None) -> str:
    return "?" if size is None else human(size)


def _print_plan(prune: Prune, dry_run: bool, show_kept: bool) -> None:
    plan = prune.plan
    rules = ", ".join(f"{kind} = \"{plan.rules.rule(kind)}\"" for kind in KINDS)
    out.print(f"retention rules: {rules}")
    if plan.resume:
        out.print(f"{len(plan.resume)} removal(s) an interrupted prune began "
                  f"{'would be' if dry_run else 'are'} finished first:")
        for deletion in plan.resume:
            out.print(f"  {deletion.kind}: {deletion.path} (rule {deletion.kind} = \"{deletion.rule}\")")
    listed = plan.choices if show_kept else plan.removals
    if not listed:
        out.print("nothing to remove: " + ("the rules allow no removal now" if plan.choices else
                                           "no run of this experiment has left anything the rules name"))
        return
    table = Table(title="would be removed" if dry_run else "removed" if not show_kept else "retention")
    for column in ("what", "path", "size", "rule", "why", "runs"):
        table.add_column(column, overflow="fold")
    for choice in listed:
        holding = choice.holding
        table.add_row(("" if choice.remove else "keep: ") + describe(holding.kind), holding.path,
                      _size(choice.size), f"{holding.kind} = \"{choice.rule}\"", choice.reason,
                      ", ".join(run[:8] for run in holding.runs[:3]) + (" ..." if len(holding.runs) > 3 else ""))
    out.print(table)
    freed = sum(plan.freed().values())
    out.print(f"{len(plan.removals)} folder(s), {human(freed)} known" +
              (" would be freed" if dry_run else " freed"))


def _print_schedule(config: ExperimentConfig, every: str, backend: str | None) -> None:
    seconds = timers.parse_interval(every)  # refuses less than a minute: Timers' own limit
    command = _cli_program() + ["prune", "--config", str(config.path.resolve())]
    if backend:
        command += ["--backend", backend]
    line = timers.cron_line(seconds, command)
    if choose(config, backend).is_local:
        click.echo("# the local backend has no scheduler: add this line with `crontab -e`")
    else:
        click.echo("# a prune reads the experiment's run records (Flows) and published records (Search) "
                   "with your login and submits Transfer delete tasks; a Globus Timer can only start a "
                   "flow, so the prune is scheduled on the machine that holds the login: add this line "
                   "with `crontab -e`")
    click.echo(line)


@click.command()
@config_option
@backend_option
@click.option("--dry-run", is_flag=True, help="List what the rules allow to be removed, with sizes and "
              "rules (and, on Globus, the requests a prune would send); remove nothing.")
@click.option("--all", "show_kept", is_flag=True, help="List what is kept too, and why.")
@click.option("--every", help="Print the schedule that prunes every INTERVAL (1d, 12h, ...; at least a minute).")
@click.option("--json", "as_json", is_flag=True, help="Print the plan (and what was done) as JSON.")
def prune(config_path: str | None, backend: str | None, dry_run: bool, show_kept: bool, every: str | None,
          as_json: bool) -> None:
    """Remove what the experiment's [retention] age rules allow: try reconstructions, the
    facility's copies and reconstructions, published data, chosen from the run records.
    Every removal is recorded, and shown on its run's page and in its published record."""
    config = load(config_path)
    if every:
        _print_schedule(config, every, backend)
        return
    chosen = choose(config, backend)
    rules = retention_rules(config)
    transfer_client = search_client = None
    if not chosen.is_local and not dry_run:
        transfer_client, search_client = _globus_clients(config)
    result = run_prune(config, rules, local=chosen.is_local, dry_run=dry_run,
                       transfer_client=transfer_client, search_client=search_client)
    if as_json:
        click.echo(json.dumps(_as_json(result), indent=2))
    else:
        _print_plan(result, dry_run, show_kept)
        if dry_run and result.requests:
            out.print("requests a prune would send (Globus Transfer):")
            click.echo(json.dumps(result.requests, indent=2))
    if result.outcome and result.outcome.problems:
        raise UserError("some removals did not complete; the next prune finishes them: " +
                        "; ".join(result.outcome.problems))


def _globus_clients(config: ExperimentConfig) -> tuple[Any, Any]:
    import globus_sdk

    from tomocupy_gladier.globus.auth import login_manager_for

    transfer_scope = str(globus_sdk.TransferClient.scopes.all)
    search_scope = str(globus_sdk.SearchClient.scopes.all)
    manager = login_manager_for(config.globus.get("client_id"))
    manager.ensure_login([transfer_scope, search_scope])
    return (globus_sdk.TransferClient(authorizer=manager.authorizers[transfer_scope]),
            globus_sdk.SearchClient(authorizer=manager.authorizers[search_scope]))


def _as_json(result: Prune) -> dict[str, Any]:
    plan = result.plan
    return {
        "now": plan.now.isoformat(),
        "rules": plan.rules.as_dict(),
        "resume": [d.as_dict() for d in plan.resume],
        "choices": [{"kind": c.holding.kind, "collection": c.holding.collection, "path": c.holding.path,
                     "bytes": c.size, "rule": c.rule, "remove": c.remove, "reason": c.reason,
                     "runs": list(c.holding.runs)} for c in plan.choices],
        "requests": result.requests,
        "done": [d.as_dict() for d in result.outcome.done] if result.outcome else [],
    }


COMMANDS = [prune]
