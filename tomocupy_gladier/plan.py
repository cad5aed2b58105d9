"""Plan, then run: everything about one run, computed once before anything starts.

``plan_run`` turns (experiment, scan, options, flow) into a :class:`RunPlan`: the flow class,
the backend, the validated flow input, the reconstruction folder, where each run's log goes,
where results are sent back and where the rotation axis comes from. ``run``, ``demo``,
campaigns and the folder watcher start runs from a plan and never recompute its parts.
Everything a user can get wrong is refused here, before a scan is moved.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Mapping

from tomocupy_gladier import __version__
from tomocupy_gladier.compute import VERSION_FIELD
from tomocupy_gladier.compute.rules import TO_THE_END, is_middle, requested_span, span, span_fits
from tomocupy_gladier.config import ExperimentConfig
from tomocupy_gladier.errors import UserError
from tomocupy_gladier.flow_input import (
    ScanLocation,
    build_flow_input,
    choice_page,
    interactive_input,
    is_try,
    locate_scan,
    recon_parameters,
    run_label,
)
from tomocupy_gladier.flows import moves_scan
from tomocupy_gladier.options import without_tomocupy_defaults
from tomocupy_gladier.output_folders import run_logs_folder
from tomocupy_gladier.run_record import RunRecord
from tomocupy_gladier.validation import validate_flow_input


@dataclass(frozen=True)
class RunPlan:
    """One run, decided: start it with ``client().run_flow(flow_input=plan.body, ...)``."""

    config: ExperimentConfig
    flow: Any                      # the Gladier client class
    backend: str                   # "local" or "globus"
    location: ScanLocation
    recon: dict[str, Any]          # the reconstruction parameters (tomocupy's names)
    body: dict[str, Any]           # the flow input
    output: PurePosixPath          # the reconstruction folder, as the compute endpoint sees it
    logs: PurePosixPath            # the folder of per-run reconstruction logs
    label: str
    tags: list[str] = field(default_factory=list)
    axis_source: str = ""

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
        root = self.config.local_collections.get(dest["id"]) if self.backend == "local" else None
        if root is not None:
            return str(Path(root, dest["path"].lstrip("/")))
        return f"{dest['id']}:{dest['path']}"

    def client(self, *, background: bool = True) -> Any:
        """The Gladier client on this plan's backend."""
        from tomocupy_gladier.client_factory import make_client

        return make_client(self.flow, self.config, self.backend, background=background)


def axis_source(config: ExperimentConfig, overrides: Mapping[str, Any], recon: Mapping[str, Any],
                from_try: str | None = None) -> str:
    """Where this run's rotation axis comes from, in words for the run summary."""
    if from_try:
        return f"chosen from try run {from_try}"
    if recon.get("rotation-axis-auto") == "auto":
        return "tomocupy's automatic search (rotation-axis-auto = auto)"
    if "rotation-axis" in overrides:
        return "given on the command line (automatic search off)"
    if not is_middle(recon.get("rotation-axis")):
        return "the experiment file's rotation-axis"
    return "the middle of the projections (tomocupy's default)"


INTERACTIVE_AXIS = "chosen during the run (interactive)"


def interactive_parameters(config: ExperimentConfig, overrides: Mapping[str, Any] | None
                           ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The parameters of a run that waits for the choice of the centre (the interactive flow):
    the full reconstruction's (``recon``, its axis chosen during the run) and the try's, both
    from the experiment's defaults and ``overrides``."""
    return recon_parameters(config, overrides, "full"), recon_parameters(config, overrides, "try")


def plan_run(config: ExperimentConfig, scan: str, recon: Mapping[str, Any], *, flow: Any,
             backend: str | None = None, tags: tuple[str, ...] = (), axis: str = "",
             publish_metadata: Mapping[str, Any] | None = None,
             extra_input: Mapping[str, Any] | None = None,
             try_recon: Mapping[str, Any] | None = None) -> RunPlan:
    """Check and decide everything about one run of ``flow`` on ``scan`` with ``recon``.

    ``extra_input``: inputs of the steps an extended flow adds (validated with the rest).
    ``try_recon``: the try's parameters of the interactive flow (``recon`` is then the full
    reconstruction's, its rotation axis chosen during the run).

    Raises :class:`UserError` (nothing started, nothing moved) for parameters that cannot
    work: row, column or projection ranges out of order or outside the scan (when the scan can
    be read here), options the configured engine cannot run, an input the flow refuses.
    """
    chosen = backend or config.backend
    transfer = moves_scan(flow)
    location = locate_scan(config, scan, transfer=transfer)
    for params in (recon, try_recon) if try_recon is not None else (recon,):
        check_ranges(params, readable_scan(config, location, chosen))
        check_engine(config, params, chosen)
    body = build_flow_input(config, scan, recon, transfer=transfer, publish_metadata=publish_metadata,
                            location=location, backend=chosen)
    if try_recon is not None:
        body["input"]["interactive"] = interactive_input(config, location, try_recon,
                                                         body["input"].get("previews"))
        # the published parameters are the chosen ones (the metadata step reads them), not these
        body["input"]["publishv2"]["metadata"]["tomography"].pop("parameters", None)
        if body["input"]["notify"].get("enable"):
            body["input"]["notify"].update(choice_page(config, chosen))
    body["input"].update(extra_input or {})
    validate_flow_input(schema_without_function_ids(flow.flow_schema), body)
    output = PurePosixPath(body["input"]["tomocupy"]["output"])
    return RunPlan(config=config, flow=flow, backend=chosen, location=location, recon=dict(recon),
                   body=body, output=output, logs=run_logs_folder(output),
                   label=run_label(config, location.name, recon if try_recon is None
                                   else {**recon, "reconstruction-type": "interactive"}),
                   tags=list(config.tags) + list(tags) + ["tomocupy-gladier"], axis_source=axis)


def readable_scan(config: ExperimentConfig, location: ScanLocation, backend: str) -> Path | None:
    """The scan file when this machine can read it (always on the local backend)."""
    if location.source_path is not None and config.source is not None:
        path = Path(str(config.source.to_posix(location.source_path)))
    else:
        path = Path(str(location.posix_path))
    return path if path.is_file() else None


def check_ranges(recon: Mapping[str, Any], scan: Path | None) -> None:
    """Row, column and projection ranges in order, and inside the scan when it can be read."""
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
        if size is not None and not span_fits(*span(first, last, size), size):
            raise UserError(f"start-{what} {first} / end-{what} {TO_THE_END if last is None else last} "
                            f"are outside the scan's {size} {what}s ({scan.name})")
    binning = 2 ** int(recon.get("binning") or 0)
    rows = sizes.get("row")
    if rows is not None:
        first, last = span(recon.get("start-row"), recon.get("end-row"), rows)
        if (last - first) // binning < 1:
            raise UserError(f"rows {first}-{last} at binning "
                            f"{recon.get('binning')} leave no slice to reconstruct")


def uses_cpu_engine(config: ExperimentConfig) -> bool:
    """Whether the configured program is this package's CPU engine."""
    words = [config.executable] if isinstance(config.executable, str) else list(config.executable)
    return any(Path(w).name == "tomocupy-cpu" or w == "tomocupy_gladier.engine" for w in words)


def check_engine(config: ExperimentConfig, recon: Mapping[str, Any], backend: str) -> None:
    """Options the configured engine cannot run are refused now, not after the transfer."""
    if backend != "local" or not uses_cpu_engine(config):
        return
    from tomocupy_gladier.engine.options import unsupported

    params = {k: v for k, v in recon.items() if k not in ("command", "out-path-name")}
    reason = unsupported(str(recon.get("command", "recon")), params)
    if reason:
        raise UserError(f"{reason} (the configured engine is tomocupy-cpu)")


def schema_without_function_ids(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The flow's input schema without the function ids, which Gladier adds when it starts a run."""
    trimmed = json.loads(json.dumps(schema))
    inner = trimmed["properties"]["input"]
    inner["required"] = [r for r in inner["required"] if not r.endswith("_function_id")]
    return trimmed


def in_folder(path: str, name: str) -> PurePosixPath:
    """``path``'s folder (``path`` itself when it ends in ``/``) joined with ``name``: the rule
    the tomocupy flow's ``LocateScan`` state applies to the facility paths (tools/transfer.py)."""
    folder = path if path.endswith("/") else str(PurePosixPath(path).parent)
    return PurePosixPath("/", folder.rstrip("/") or "/", name)


def form_scan_location(config: ExperimentConfig, data: Mapping[str, Any], *, transfer: bool,
                       backend: str) -> ScanLocation:
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
    if backend == "local" and readable is not None and not Path(str(readable)).is_file():
        raise UserError(f"scan not found: {readable}")
    return ScanLocation(name, source_path, facility_path, posix_path)


def plan_form_run(config: ExperimentConfig, body: Mapping[str, Any], *, flow: Any,
                  backend: str | None = None, schema: Mapping[str, Any] | None = None,
                  tags: tuple[str, ...] = ()) -> RunPlan:
    """A run from a start form's input (``{"input": {...}}`` as the flow receives it, without
    the function ids, which Gladier adds): validated against ``schema`` (default: the flow's),
    then checked as :func:`plan_run` checks a command-line run (the scan, its ranges, the
    engine). Raises :class:`UserError` (``FlowInputError`` for the schema) and starts nothing."""
    chosen = backend or config.backend
    if not isinstance(body, Mapping) or not isinstance(body.get("input"), Mapping):
        raise UserError('the form must send a JSON object {"input": {...}}')
    body = json.loads(json.dumps(body))
    data = body["input"]
    data.setdefault(VERSION_FIELD, __version__)  # a form drawn from an older schema lacks it
    if isinstance(data.get("recon"), Mapping):
        # a form sends every field: options at tomocupy's own default say nothing
        data["recon"] = without_tomocupy_defaults(data["recon"])
    validate_flow_input(schema or schema_without_function_ids(flow.flow_schema), body)
    recon = dict(data.get("recon") or {})
    location = form_scan_location(config, data, transfer=moves_scan(flow), backend=chosen)
    check_ranges(recon, readable_scan(config, location, chosen))
    check_engine(config, recon, chosen)
    from tomocupy_gladier.output_folders import tomocupy_output

    given = (data.get("tomocupy") or {}).get("output")
    output = PurePosixPath(given) if given else tomocupy_output(
        location.posix_path, str(recon.get("reconstruction-type", "try")))
    given_logs = (data.get("tomocupy") or {}).get("logs")
    return RunPlan(config=config, flow=flow, backend=chosen, location=location, recon=recon,
                   body=body, output=output,
                   logs=PurePosixPath(given_logs) if given_logs else run_logs_folder(output),
                   label=run_label(config, location.name, recon),
                   tags=list(config.tags) + list(tags) + ["tomocupy-gladier"],
                   axis_source=axis_source(config, {}, recon))
