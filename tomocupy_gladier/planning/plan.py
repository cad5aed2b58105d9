"""Plan, then run: everything about one run, computed once before anything starts.

:func:`plan` is the one entry: a :class:`RunRequest` says what the user asked (the scan, the
flow, a try, a full or an interactive reconstruction or one chosen from a try, the options,
the parameter set, the backend), built alike by ``run``, a campaign job, ``watch``, the start
page and the examples; :func:`plan` decides the parameters and where the rotation axis comes
from (:class:`~tomocupy_gladier.compute.axis.AxisDecision`) once and returns a :class:`RunPlan`: the flow class, the backend,
the validated flow input, the reconstruction folder, where each run's log goes, where results
are sent back. The shells start runs from a plan and print it; they never recompute its parts.
Everything a user can get wrong is refused here, before a scan is moved.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Mapping

from tomocupy_gladier import __version__
from tomocupy_gladier.backends import Backend, BackendChoice, choose
from tomocupy_gladier.compute import VERSION_FIELD
from tomocupy_gladier.compute.axis import AxisDecision, axis_block, give_axis, reports_search, searches
from tomocupy_gladier.compute.quality import ScanRefused, check_scan
from tomocupy_gladier.compute.rules import (
    TO_THE_END,
    axis_problem,
    is_try,
    is_middle,
    requested_span,
    span,
    span_fits,
)
from tomocupy_gladier.clients import client_factory  # its make_client read at call time (scripts and tests replace it)
from tomocupy_gladier.clients.client_factory import flow_class, identity
from tomocupy_gladier.experiment.compute_endpoints import check_endpoint
from tomocupy_gladier.experiment.config import ExperimentConfig
from tomocupy_gladier.experiment.engines import engine_of
from tomocupy_gladier.errors import UserError
from tomocupy_gladier.planning.flow_input import (
    ScanLocation,
    build_flow_input,
    locate_scan,
    recon_parameters,
    run_label,
)
from tomocupy_gladier.flows import flow_steps, moves_scan, waits_for_choice
from tomocupy_gladier.planning.space import check_space
from tomocupy_gladier.experiment.options import without_tomocupy_defaults
from tomocupy_gladier.tools.output_folders import run_logs_folder, tomocupy_output
from tomocupy_gladier.runs.run_record import PREVIEWS_STATE, RunRecord
from tomocupy_gladier.experiment.validation import validate_flow_input


class Ask(Enum):
    """Which reconstruction the user asked for."""

    EXPERIMENT = "experiment"    # the experiment file's reconstruction-type (try unless it says)
    TRY = "try"                  # one slice for a range of centres
    FULL = "full"                # the whole volume
    INTERACTIVE = "interactive"  # a try, a wait for the choice of the centre, the full volume
    FROM_TRY = "from-try"        # the full volume with a finished try run's parameters


class Origin(Enum):
    """Where a request was made: what the wording of the plan and the run's e-mails depend on."""

    COMMAND_LINE = "on the command line"
    CAMPAIGN = "in the campaign's job"      # a campaign's manifest, or a scan `watch` found
    FORM = "in the start form"
    PROGRAM = "by the program"              # a script (examples/) calling plan()


#: options with which a reprocessing run's parameter set decides the axis itself
AXIS_OPTIONS = ("rotation-axis", "rotation-axis-auto")


@dataclass(frozen=True)
class RunRequest:
    """What the user asked for one run, as the command line, a campaign job, ``watch``, a start
    form or a script says it; :func:`plan` decides the rest.

    ``flow``: a flow name of :data:`tomocupy_gladier.flows.FLOWS` or a client class (an extended
    flow). ``overrides``: tomocupy options for this run, over the experiment's ``[recon]``.
    ``param_set``: a campaign's named parameter set (None: the default one, whose
    reconstruction folder is tomocupy's own). ``from_try``/``center``: with
    :attr:`Ask.FROM_TRY`, the try run and the centre chosen from it (default: its suggestion).
    ``form``: the flow input a start form sent (``{"input": {...}}``, without function ids),
    validated against ``form_schema`` (default: the flow's) and run as sent. ``extra_input``
    and ``publish_metadata``: inputs of the steps an extended flow adds, extra published
    metadata. ``backend``: as the experiment file names it (None: the experiment's).
    """

    scan: str
    flow: Any = "tomocupy"
    ask: Ask = Ask.EXPERIMENT
    overrides: Mapping[str, Any] = field(default_factory=dict)
    param_set: str | None = None
    backend: BackendChoice = None
    from_try: str | None = None
    center: float | None = None
    origin: Origin = Origin.PROGRAM
    tags: tuple[str, ...] = ()
    form: Mapping[str, Any] | None = None
    form_schema: Mapping[str, Any] | None = None
    extra_input: Mapping[str, Any] | None = None
    publish_metadata: Mapping[str, Any] | None = None
    replace_decided: bool = False  # a campaign or watch job may replace a person's axis

    @property
    def keeps_decided_axis(self) -> bool:
        """A reprocessing run (a campaign's job, a scan ``watch`` found) keeps the axis a person
        decided for the reconstruction it replaces, unless its parameters name an axis or a
        search, or it was told to replace it (``replace_decided``)."""
        return (self.origin is Origin.CAMPAIGN and not self.replace_decided
                and not any(name in self.overrides for name in AXIS_OPTIONS))


@dataclass(frozen=True)
class RunPlan:
    """One run, decided: start it with ``client().run_flow(flow_input=plan.body, ...)``."""

    config: ExperimentConfig
    flow: Any                      # the Gladier client class
    backend: Backend
    location: ScanLocation
    recon: dict[str, Any]          # the reconstruction parameters (tomocupy's names)
    body: dict[str, Any]           # the flow input
    output: PurePosixPath          # the reconstruction folder, as the compute endpoint sees it
    logs: PurePosixPath            # the folder of per-run reconstruction logs
    label: str
    tags: list[str] = field(default_factory=list)
    axis: AxisDecision | None = None  # None: not decided (a plan made by plan_run alone)
    origin: Origin = Origin.PROGRAM
    try_run: str | None = None      # the try run the parameters were chosen from

    @property
    def axis_source(self) -> str:
        """Where this run's rotation axis comes from, in words for the run summary."""
        return self.axis.words(where=self.origin.value, try_run=self.try_run) if self.axis else ""

    def axis_summary(self, reported: str | None) -> str:
        """Where the reconstruction's axis came from: what the reconstruction step reported
        (``rotation_axis_source``) and, unless tomocupy searched for it, why that value (the
        experiment file, the command line, a try)."""
        source = reported or self.axis_source
        if reports_search(source):
            return source
        return f"{source}, {self.axis_source}"

    @property
    def is_try(self) -> bool:
        return is_try(self.recon)

    def log_file(self, run_id: str) -> Path:
        """The reconstruction log of run ``run_id`` (written by the reconstruction step)."""
        return Path(str(self.logs), f"{run_id}.log")

    def returned_to(self, record: RunRecord) -> str | None:
        """Where the return step put ``record``'s results: a local folder on the local backend,
        else ``<collection>:<path>``; None when nothing was sent back."""
        sent = record.sent_back
        if sent is None:
            return None
        dest = sent["destination"]
        root = self.config.collection_folder(dest["id"], self.backend)
        if root is not None:
            return str(Path(root, dest["path"].lstrip("/")))
        return f"{dest['id']}:{dest['path']}"

    def client(self, *, background: bool = True) -> Any:
        """The Gladier client on this plan's backend."""
        return client_factory.make_client(self.flow, self.config, self.backend, background=background)


def decide_axis(config: ExperimentConfig, overrides: Mapping[str, Any], recon: Mapping[str, Any], *,
                from_try: bool = False, center_given: bool = False) -> AxisDecision:
    """How the rotation axis of a run with ``recon`` (the experiment's ``[recon]`` and this
    run's ``overrides``) is decided; ``from_try``: taken from a try run, ``center_given``: a
    centre chosen from it rather than its suggestion."""
    if from_try:
        return AxisDecision.CHOSEN if center_given else AxisDecision.SUGGESTED
    if searches(recon):
        return AxisDecision.AUTOMATIC
    if "rotation-axis" in overrides:
        return AxisDecision.GIVEN
    if not is_middle(recon.get("rotation-axis")):
        return AxisDecision.EXPERIMENT
    return AxisDecision.MIDDLE


def interactive_parameters(config: ExperimentConfig, overrides: Mapping[str, Any] | None
                           ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The parameters of a run that waits for the choice of the centre (the interactive flow):
    the full reconstruction's (``recon``, its axis chosen during the run) and the try's, both
    from the experiment's defaults and ``overrides``."""
    return recon_parameters(config, overrides, "full"), recon_parameters(config, overrides, "try")


def plan(config: ExperimentConfig, request: RunRequest, *,
         find_run: Callable[[str], RunRecord] | None = None) -> RunPlan:
    """Decide everything about the run ``request`` asks for: its parameters, where its axis
    comes from, its flow input; checked before anything starts (see :func:`plan_run`).

    ``find_run``: how the try run of :attr:`Ask.FROM_TRY` is read (default: from the backend).
    Raises :class:`UserError`, nothing started.
    """
    flow = flow_class(request.flow)
    if request.form is not None:
        return plan_form(config, request, flow)
    interactive = waits_for_choice(flow)
    if request.ask is Ask.INTERACTIVE and not interactive:
        raise UserError(f"an interactive run needs a flow that waits for the choice of the centre, "
                        f"not {flow.__name__}")
    if interactive and request.ask in (Ask.TRY, Ask.FULL, Ask.FROM_TRY):
        raise UserError("the interactive flow makes its own try and full reconstruction: "
                        f"ask for no {request.ask.value} reconstruction")
    overrides = dict(request.overrides)
    kind = {Ask.TRY: "try", Ask.FULL: "full", Ask.FROM_TRY: "full"}.get(request.ask)
    if request.ask is Ask.FROM_TRY:
        if not request.from_try:
            raise UserError("a reconstruction from a try needs the try's run id")
        tried = (find_run or _backend_run_finder(config, flow, request.backend))(request.from_try)
        overrides = {**parameters_from_try(tried, request.scan, request.center), **overrides}
    try_recon: dict[str, Any] | None = None
    if interactive:
        recon, try_recon = interactive_parameters(config, overrides)
        axis = AxisDecision.CHOSEN  # during the run
    else:
        recon = recon_parameters(config, overrides, kind)
        axis = decide_axis(config, overrides, recon, from_try=request.ask is Ask.FROM_TRY,
                           center_given=request.center is not None)
    if request.param_set is not None and not recon.get("out-path-name"):
        # reprocessing with other parameters must not overwrite the earlier reconstruction
        scan = locate_scan(config, request.scan, transfer=moves_scan(flow)).posix_path
        default = tomocupy_output(scan, "full")
        recon["out-path-name"] = str(default.with_name(f"{default.name}_{request.param_set}"))
    extra_input = dict(request.extra_input or {})
    if request.origin is Origin.CAMPAIGN and not interactive:
        # a per-run message (the email) from each run of a campaign of hundreds would bury the
        # scientist: the campaign's report says how its runs went (the run log shows the step
        # skipped). A run that waits for a person keeps it: it is how they know.
        for step in flow_steps(flow):
            if step.off_in_campaigns and step.switch:
                extra_input[step.switch] = {"enable": False}
    planned = plan_run(config, request.scan, recon, flow=flow, backend=request.backend,
                       tags=request.tags, publish_metadata=request.publish_metadata,
                       extra_input=extra_input or None, try_recon=try_recon)
    return _decided(planned, axis, request)


def _decided(planned: RunPlan, axis: AxisDecision, request: RunRequest) -> RunPlan:
    decided = replace(planned, axis=axis, origin=request.origin,
                      try_run=request.from_try if request.ask is Ask.FROM_TRY else None)
    tomocupy = decided.body["input"].get("tomocupy")
    if isinstance(tomocupy, dict) and "axis" not in tomocupy:
        # how the axis was decided travels with the run: into the manifest and the record
        # an interactive run's person chooses during the run: nothing earlier to keep
        interactive = waits_for_choice(planned.flow)
        keep = request.keeps_decided_axis and not decided.is_try and not interactive
        tomocupy["axis"] = axis_block(axis, decided.axis_source, keep_decided=keep)
    return decided


def _backend_run_finder(config: ExperimentConfig, flow: Any, backend: BackendChoice
                        ) -> Callable[[str], RunRecord]:
    return lambda run_id: RunRecord(client_factory.make_client(flow, config, backend).get_status(run_id))


def parameters_from_try(record: RunRecord, scan: str, center: float | None) -> dict[str, Any]:
    """The try run's reconstruction parameters, for a full reconstruction at the chosen centre."""
    if not record.succeeded:
        raise UserError(f"run {record.run_id} is {record.status}; --from-try needs a finished try run")
    tried = record.flow_input
    recon = dict(tried.get("recon") or {})
    if not is_try(recon):
        raise UserError(f"run {record.run_id} was a {recon.get('reconstruction-type')} reconstruction, "
                        "not a try")
    tried_scan = PurePosixPath((tried.get("tomocupy") or {}).get("file_name", "")).name
    if tried_scan != PurePosixPath(scan).name:
        raise UserError(f"run {record.run_id} reconstructed {tried_scan}, not {PurePosixPath(scan).name}")
    if center is None:
        center = record.result(PREVIEWS_STATE).get("suggested_center")
        if center is None:
            raise UserError(f"run {record.run_id} has no suggested centre; choose one with --center")
    recon["reconstruction-type"] = "full"
    give_axis(recon, round(float(center), 2))
    return recon


def plan_run(config: ExperimentConfig, scan: str, recon: Mapping[str, Any], *, flow: Any,
             backend: BackendChoice = None, tags: tuple[str, ...] = (),
             publish_metadata: Mapping[str, Any] | None = None,
             extra_input: Mapping[str, Any] | None = None,
             try_recon: Mapping[str, Any] | None = None) -> RunPlan:
    """Check and assemble one run of ``flow`` on ``scan`` with ``recon`` (decided parameters:
    :func:`plan` decides them from a request, and where the axis comes from).

    ``extra_input``: inputs of the steps an extended flow adds (validated with the rest).
    ``try_recon``: the try's parameters of the interactive flow (``recon`` is then the full
    reconstruction's, its rotation axis chosen during the run).

    Raises :class:`UserError` (nothing started, nothing moved) for parameters that cannot
    work: row, column or projection ranges out of order or outside the scan (when the scan can
    be read here), options the configured engine cannot run, an input the flow refuses.
    """
    chosen = choose(config, backend)
    transfer = moves_scan(flow)
    location = locate_scan(config, scan, transfer=transfer)
    check_before_start(config, location, chosen, recon, try_recon)
    built = build_flow_input(config, scan, recon, flow=flow, publish_metadata=publish_metadata,
                             location=location, backend=chosen, try_recon=try_recon)
    # the inputs of an extended flow's own steps
    body: dict[str, Any] = {**built, "input": {**built["input"], **(extra_input or {})}}
    validate_flow_input(schema_without_function_ids(flow.flow_schema), body)
    output = PurePosixPath(body["input"]["tomocupy"]["output"])
    return RunPlan(config=config, flow=flow, backend=chosen, location=location, recon=dict(recon),
                   body=body, output=output, logs=run_logs_folder(output),
                   label=plan_label(config, location, recon, interactive=try_recon is not None),
                   tags=list(config.tags) + list(tags) + ["tomocupy-gladier"])


def plan_label(config: ExperimentConfig, location: ScanLocation, recon: Mapping[str, Any], *,
               interactive: bool) -> str:
    """The run's label: the experiment, the scan and what is reconstructed (``interactive`` for
    a run that waits for the choice of the centre, whose ``recon`` is the full one's)."""
    return run_label(config, location.name, {**recon, "reconstruction-type": "interactive"}
                     if interactive else recon)


def check_before_start(config: ExperimentConfig, location: ScanLocation, backend: Backend,
                       recon: Mapping[str, Any], try_recon: Mapping[str, Any] | None = None) -> None:
    """What is refused before anything starts: what the compute endpoint would refuse (its
    configuration, who may use it), and for each reconstruction a run makes (``recon``, and the
    try ``try_recon`` of an interactive run, whose full reconstruction's axis is chosen during
    the run): its ranges and axis against the scan where it can be read here, its options
    against the engine, and the scan's quality gates; on the local backend, the room at the
    facility for the scan's copy and the reconstructions (:mod:`.space`)."""
    check_endpoint(config, identity(config, backend))
    readable = readable_scan(config, location, backend)
    for params, axis_given in ((recon, try_recon is None), (try_recon, True)):
        if params is not None:
            check_ranges(params, readable, axis_given=axis_given)
            check_engine(config, params, backend)
    check_quality(readable)
    check_space(config, location, backend, readable, [p for p in (try_recon, recon) if p is not None])


def readable_scan(config: ExperimentConfig, location: ScanLocation, backend: Backend) -> Path | None:
    """The scan file when this machine can read it (always on the local backend)."""
    if location.source_path is not None and config.source is not None:
        path = Path(str(config.source.to_posix(location.source_path)))
    else:
        path = Path(str(location.posix_path))
    return path if path.is_file() else None


def check_ranges(recon: Mapping[str, Any], scan: Path | None, *, axis_given: bool = True) -> None:
    """Row, column and projection ranges in order, and inside the scan when it can be read; the
    rotation axis on the detector (a try: its centres reaching it), unless it is chosen later
    (``axis_given`` false)."""
    shape = None
    if scan is not None:
        import h5py

        try:
            with h5py.File(scan, "r") as h5:
                shape = tuple(int(v) for v in h5["/exchange/data"].shape)
        except (OSError, KeyError, ValueError, TypeError):
            raise UserError(f"{scan} is not a readable DXchange scan (no 3-D /exchange/data)") from None
        if len(shape) != 3:
            raise UserError(f"{scan}: /exchange/data has shape {shape}, expected 3-D")
    sizes = dict(zip(("proj", "row", "column"), shape)) if shape else {}
    for what in ("row", "column", "proj"):
        first, last = requested_span(recon.get(f"start-{what}"), recon.get(f"end-{what}"))
        if first < 0:
            raise UserError(f"start-{what} {first} must not be negative")
        if last is not None and last <= first:
            raise UserError(f"end-{what} {last} must be greater than start-{what} {first}")
        size = sizes.get(what)
        if size is not None and scan is not None and not span_fits(*span(first, last, size), size):
            raise UserError(f"start-{what} {first} / end-{what} {TO_THE_END if last is None else last} "
                            f"are outside the scan's {size} {what}s ({scan.name})")
    binning = 2 ** int(recon.get("binning") or 0)
    rows = sizes.get("row")
    if rows is not None:
        first, last = span(recon.get("start-row"), recon.get("end-row"), rows)
        if (last - first) // binning < 1:
            raise UserError(f"rows {first}-{last} at binning "
                            f"{recon.get('binning')} leave no slice to reconstruct")
    columns = sizes.get("column")
    if columns is not None and scan is not None:
        problem = axis_problem(recon, columns, scan.name, try_range=is_try(recon), axis_given=axis_given)
        if problem:
            raise UserError(problem)


def check_quality(scan: Path | None) -> None:
    """The scan's quality gates (:mod:`tomocupy_gladier.compute.quality`, the reconstruction
    step runs them again): an impossible scan is refused now, naming the dataset and what is
    wrong. Doubtful ones pass (the step reports them). Skipped when the scan cannot be read here
    (the flow input has no flat or dark file options: the flats are the scan's)."""
    if scan is None:
        return
    try:
        check_scan(scan).refuse(scan)
    except ScanRefused as exc:
        raise UserError(str(exc)) from None
    except OSError as exc:
        raise UserError(f"{scan} is not a readable DXchange scan ({exc})") from None


def check_engine(config: ExperimentConfig, recon: Mapping[str, Any], backend: Backend) -> None:
    """Options the configured engine cannot run are refused now, not after the transfer."""
    engine = engine_of(config, backend)
    reason = engine.unsupported(recon)
    if reason:
        raise UserError(f"{reason} (the configured engine is {engine.name})")


def schema_without_function_ids(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The flow's input schema without the function ids, which Gladier adds when it starts a run."""
    trimmed = json.loads(json.dumps(schema))
    inner = trimmed["properties"]["input"]
    inner["required"] = [r for r in inner["required"] if not r.endswith("_function_id")]
    return trimmed


def in_folder(path: str, name: str) -> PurePosixPath:
    """``path``'s folder (``path`` itself when it ends in ``/``) joined with ``name``: the rule
    the tomocupy flow's ``LocateScan`` state applies to the facility paths (tools/transfer/tool.py)."""
    folder = path if path.endswith("/") else str(PurePosixPath(path).parent)
    return PurePosixPath("/", folder.rstrip("/") or "/", name)


def form_scan_location(config: ExperimentConfig, data: Mapping[str, Any], *, transfer: bool,
                       backend: Backend) -> ScanLocation:
    """Where a start form's input puts the scan, as the flow will resolve it."""
    tomocupy = data.get("tomocupy") or {}
    if transfer:
        source_path = PurePosixPath(str((data.get("source") or {}).get("path") or "/"))
        name = source_path.name
        facility_path = in_folder(str((data.get("destination") or {}).get("path") or "/"), name)
        posix_path = in_folder(str(tomocupy.get("file_name") or "/"), name)
        readable = (config.source.to_posix(source_path)
                    if config.source is not None and data.get("source", {}).get("id") == config.source.id
                    else None)
    else:
        source_path = None
        posix_path = PurePosixPath(str(tomocupy.get("file_name") or "/"))
        name = posix_path.name
        try:
            facility_path = config.facility.to_globus(posix_path)
        except UserError:
            facility_path = posix_path  # another collection: the flow reads it as given
        readable = posix_path
    if not name.endswith((".h5", ".hdf5", ".hdf", ".nxs")):
        raise UserError(f"{name or '(no name)'!r} does not look like a DXchange HDF5 scan (expected .h5)")
    if backend.is_local and readable is not None and not Path(str(readable)).is_file():
        raise UserError(f"scan not found: {readable}")
    return ScanLocation(name, source_path, facility_path, posix_path)


def plan_form(config: ExperimentConfig, request: RunRequest, flow: Any) -> RunPlan:
    """The run a start form's input asks for (``request.form``: ``{"input": {...}}`` as the flow
    receives it, without the function ids, which Gladier adds): validated against
    ``request.form_schema`` (default: the flow's), then checked as a command-line run is (the
    scan, its ranges, the engine), and run as sent. Raises :class:`UserError`
    (``FlowInputError`` for the schema) and starts nothing."""
    chosen = choose(config, request.backend)
    body: Any = request.form
    if not isinstance(body, Mapping) or not isinstance(body.get("input"), Mapping):
        raise UserError('the form must send a JSON object {"input": {...}}')
    body = json.loads(json.dumps(body))
    data = body["input"]
    data.setdefault(VERSION_FIELD, __version__)  # a form drawn from an older schema lacks it
    if isinstance(data.get("recon"), Mapping):
        # a form sends every field: options at tomocupy's own default say nothing
        data["recon"] = without_tomocupy_defaults(data["recon"])
    validate_flow_input(request.form_schema or schema_without_function_ids(flow.flow_schema), body)
    recon = dict(data.get("recon") or {})
    location = form_scan_location(config, data, transfer=moves_scan(flow), backend=chosen)
    interactive = waits_for_choice(flow)
    try_recon = (data.get("interactive") or {}).get("try_recon") if interactive else None
    check_before_start(config, location, chosen, recon, try_recon)
    given = (data.get("tomocupy") or {}).get("output")
    output = PurePosixPath(given) if given else tomocupy_output(
        location.posix_path, str(recon.get("reconstruction-type", "try")))
    given_logs = (data.get("tomocupy") or {}).get("logs")
    # what the form sets apart from the experiment's [recon] is this run's ask
    overrides = {k: v for k, v in recon.items() if config.recon.get(k) != v}
    planned = RunPlan(config=config, flow=flow, backend=chosen, location=location, recon=recon,
                      body=body, output=output,
                      logs=PurePosixPath(given_logs) if given_logs else run_logs_folder(output),
                      label=plan_label(config, location, recon, interactive=interactive),
                      tags=list(config.tags) + list(request.tags) + ["tomocupy-gladier"])
    axis = AxisDecision.CHOSEN if interactive else decide_axis(config, overrides, recon)
    return _decided(planned, axis, request)
