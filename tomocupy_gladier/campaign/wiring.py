"""Where campaigns live on disk, and how a campaign meets an experiment's backend."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tomocupy_gladier.backends import BackendChoice, choose
from tomocupy_gladier.campaign.ledger import JobRow, Ledger
from tomocupy_gladier.campaign.manifest import DEFAULT_PARAM_SET, Job, load_manifest
from tomocupy_gladier.campaign.service import RunService
from tomocupy_gladier.experiment.config import ExperimentConfig
from tomocupy_gladier.errors import UserError
from tomocupy_gladier.clients.client_factory import flow_class
from tomocupy_gladier.planning.flow_input import locate_scan
from tomocupy_gladier.flows import moves_scan
from tomocupy_gladier.planning.plan import Origin, RunRequest, plan

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
DEFAULT_FLOW = "recon"  # data already at the facility: reconstruct + publish, no transfer

BodyBuilder = Callable[[JobRow], Mapping[str, Any]]


def check_name(name: str) -> str:
    if not NAME_PATTERN.match(name):
        raise UserError(f"campaign name {name!r}: use letters, digits, '.', '_' or '-' (at most 64)")
    return name


def default_campaigns_dir(config: ExperimentConfig | None = None) -> Path:
    """The experiment's local state folder when an experiment is given, else
    ``$XDG_DATA_HOME/tomocupy-gladier/campaigns``."""
    if config is not None:
        return config.local_state_dir / "campaigns"
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "tomocupy-gladier" / "campaigns"


def ledger_path(campaigns_dir: Path, name: str) -> Path:
    return campaigns_dir / f"{check_name(name)}.sqlite"


def facility_folder(config: ExperimentConfig) -> Path | None:
    """The facility folder on this machine (where relative globs expand), if it is here."""
    folder = Path(str(config.facility.to_posix(config.facility_path)))
    return folder if folder.is_dir() else None


def canonical_dataset(config: ExperimentConfig, dataset: str, flow_name: str) -> str:
    """The scan as the compute endpoint sees it (an absolute POSIX path), so that one scan
    has one key however the manifest spells it. Scans to be transferred, or that cannot be
    located yet, are kept as written."""
    if moves_scan(flow_class(flow_name)):
        return dataset
    try:
        return str(locate_scan(config, dataset, transfer=False).posix_path)
    except UserError:
        return dataset


def watched_flow(config: ExperimentConfig, folder: Path) -> str:
    """The flow for scans appearing in ``folder``: ``recon`` when the folder is at the facility
    (the scans are where they are reconstructed), ``tomocupy`` when it is the beamline's (the
    scans are moved first)."""
    folder = folder.resolve()
    facility = Path(str(config.facility.to_posix(config.facility_path))).resolve()
    if folder == facility or facility in folder.parents:
        return "recon"
    if config.source is not None and config.source_path is not None:
        beamline = Path(str(config.source.to_posix(config.source_path))).resolve()
        if folder == beamline or beamline in folder.parents or str(config.source.posix_root) == "/":
            return "tomocupy"
    raise UserError(f"{folder} is neither under the facility folder {facility} nor the beamline's: "
                    "choose with --flow tomocupy (move scans first) or --flow recon")


def manifest_jobs(config: ExperimentConfig, manifest_path: str | os.PathLike[str], flow_name: str | None = None
                  ) -> tuple[list[Job], str]:
    """The jobs of a manifest with canonical dataset paths (duplicates merged), and the flow."""
    manifest = load_manifest(manifest_path, facility_folder(config))
    flow = flow_name or manifest.flow or DEFAULT_FLOW
    jobs: dict[str, Job] = {}
    for job in manifest.jobs:
        canonical = Job(canonical_dataset(config, job.dataset, flow), job.param_set, job.params)
        jobs.setdefault(canonical.key, canonical)
    return list(jobs.values()), flow


#: the ledger's meta key of ``campaign create --replace-decided-axes`` (and ``watch``'s)
REPLACE_DECIDED = "replace_decided_axes"


def job_request(job: JobRow, flow: Any, *, replace_decided: bool = False) -> RunRequest:
    """What a campaign's job (or a scan ``watch`` found) asks for: its scan, its parameters over
    the experiment's, its parameter set; it keeps the axis a person decided for the
    reconstruction it replaces unless its parameters name one or ``replace_decided``."""
    return RunRequest(job.dataset, flow=flow, overrides=dict(job.params),
                      param_set=None if job.param_set == DEFAULT_PARAM_SET else job.param_set,
                      origin=Origin.CAMPAIGN, replace_decided=replace_decided)


def body_builder(config: ExperimentConfig, flow_name: str, *, replace_decided: bool = False) -> BodyBuilder:
    """Flow input of a job, from its plan: the experiment's defaults overridden by the job's
    parameters, checked as ``run`` checks them (a job that cannot work fails alone)."""
    flow = flow_class(flow_name)  # an unknown flow is refused now, not at the first job

    def body_for(job: JobRow) -> dict[str, Any]:
        return plan(config, job_request(job, flow, replace_decided=replace_decided)).body

    return body_for


def with_defaults(defaults: Mapping[str, Any], body_for: BodyBuilder) -> BodyBuilder:
    """Add what Gladier's ``get_input()`` holds (function ids) under each job's input."""
    base = dict(defaults.get("input", {}))

    def merged(job: JobRow) -> dict[str, Any]:
        body = body_for(job)  # its private fields (the email account) stay beside "input"
        return {**body, "input": {**base, **body["input"]}}

    return merged


def not_deployed(flow_name: str) -> str:
    """The placeholder a dry run prints for the id of a flow never deployed from here."""
    return f"<flow id of {flow_name}: not deployed yet>"


def offline_globus_input(config: ExperimentConfig, flow_name: str, *,
                         replace_decided: bool = False) -> tuple[str, BodyBuilder]:
    """The flow id and the body builder a Globus campaign would use, known without login or
    network: what Gladier's ``get_input()`` would add (function ids, tool defaults, the stored
    overrides) from its ``~/.gladier`` storage, with a placeholder for every id not known yet."""
    from gladier.utils.name_generation import get_compute_function_name

    from tomocupy_gladier.clients.client_factory import offline_client
    from tomocupy_gladier.globus.deployment import stored_values

    flow = flow_class(flow_name)
    stored = stored_values(flow)
    defaults: dict[str, Any] = {}
    for tool in offline_client(flow).tools:
        for func in getattr(tool, "compute_functions", []) + getattr(tool, "funcx_functions", []):
            name = get_compute_function_name(func)
            defaults[name] = stored.get(name) or f"<{name} of {flow_name}: not registered yet>"
        defaults.update(tool.get_flow_input())
        keys = set(tool.get_flow_input()) | set(tool.get_required_input())
        defaults.update({k: stored[k] for k in keys if k in stored})  # as get_input() does
    flow_id = stored.get("flow_id") or not_deployed(flow_name)
    return flow_id, with_defaults({"input": defaults},
                                  body_builder(config, flow_name, replace_decided=replace_decided))


def local_run_service(config: ExperimentConfig, flow_name: str) -> RunService:
    """The local backend, its runs started in the background so several can be active."""
    from tomocupy_gladier.clients.client_factory import local_experiment_client
    from tomocupy_gladier.campaign.gladier_service import GladierClientRunService

    client = local_experiment_client(flow_name, config, background=True)
    return GladierClientRunService(client)


def globus_run_service(config: ExperimentConfig, flow_name: str, *,
                       replace_decided: bool = False) -> tuple[RunService, BodyBuilder]:
    """Globus Flows through a logged-in Gladier client (flow deployed/updated first)."""
    from tomocupy_gladier.clients.client_factory import globus_client
    from tomocupy_gladier.campaign.globus_service import GlobusRunService

    client = globus_client(flow_name, config)
    service = GlobusRunService.from_gladier_client(client)
    return service, with_defaults(client.get_input(),
                                  body_builder(config, flow_name, replace_decided=replace_decided))


def connect(config: ExperimentConfig, flow_name: str, backend: BackendChoice = None, *,
            replace_decided: bool = False) -> tuple[RunService, BodyBuilder]:
    """The run service and the body builder for a campaign on ``config``'s backend (or
    ``backend``'s: a name, as a ledger keeps it, or the backend); ``replace_decided``: the
    campaign's jobs replace an axis a person decided (its ledger's :data:`REPLACE_DECIDED`)."""
    if choose(config, backend).is_local:
        return (local_run_service(config, flow_name),
                body_builder(config, flow_name, replace_decided=replace_decided))
    return globus_run_service(config, flow_name, replace_decided=replace_decided)


def open_campaign(campaigns_dir: Path, name: str) -> Ledger:
    path = ledger_path(campaigns_dir, name)
    if not path.is_file():
        raise UserError(f"no campaign {name!r} in {campaigns_dir} (create it with `campaign create`)")
    return Ledger(path)
