"""From an experiment configuration and a scan to the flow input (``{"input": {...}}``).

Data flows one way: config -> reconstruction parameters -> flow input. Each of the flow's steps
builds its part (``Step.flow_input``, in ``tools/<step>/flow_input.py``), in registry order;
its type is the steps' (``tools/registry.py``'s ``input_type_of``). Function ids are not set
here: Gladier adds them when it registers the functions.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any, Mapping

from tomocupy_gladier.backends import BackendChoice, choose
from tomocupy_gladier.compute.axis import give_axis
from tomocupy_gladier.errors import UserError
from tomocupy_gladier.experiment.config import ExperimentConfig
from tomocupy_gladier.flows import FLOWS, flow_steps, moves_scan
from tomocupy_gladier.redaction import is_private
from tomocupy_gladier.tools.recon.flow_input import recon_output
from tomocupy_gladier.tools.step import RunFacts, ScanLocation

__all__ = ["ScanLocation", "build_flow_input", "locate_scan", "recon_parameters", "run_label"]


def recon_parameters(config: ExperimentConfig, overrides: Mapping[str, Any] | None = None,
                     reconstruction_type: str | None = None) -> dict[str, Any]:
    """The ``recon`` block: the experiment's defaults, then per-run overrides, then --try/--full.

    An axis given for this run (``rotation-axis`` in ``overrides``) wins over an automatic
    search set in the experiment file: the search is turned off unless the run itself asks
    for it.
    """
    recon = dict(config.recon)
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    recon.update(given)
    if "rotation-axis" in given and "rotation-axis-auto" not in given:
        give_axis(recon, given["rotation-axis"])
    if reconstruction_type:
        recon["reconstruction-type"] = reconstruction_type
    recon.setdefault("command", "recon")
    return recon


def locate_scan(config: ExperimentConfig, scan: str, *, transfer: bool) -> ScanLocation:
    """Resolve a scan given as a POSIX path or as a path relative to the experiment's folder."""
    if transfer:
        if config.source is None or config.source_path is None:
            raise UserError(f"{config.path}: a transfer needs a [source] section (beamline collection)")
        source_path = _on_collection(scan, config.source, config.source_path)
        name = source_path.name
        facility_path = config.facility_path / name
        must_exist = config.source.to_posix(source_path)
    else:
        source_path = None
        facility_path = _on_collection(scan, config.facility, config.facility_path)
        name = facility_path.name
        must_exist = config.facility.to_posix(facility_path)
    if choose(config).is_local and not Path(must_exist).is_file():
        raise UserError(f"scan not found: {must_exist}")
    if not name.endswith((".h5", ".hdf5", ".hdf", ".nxs")):
        raise UserError(f"{scan!r} does not look like a DXchange HDF5 scan (expected .h5)")
    return ScanLocation(name, source_path, facility_path, config.facility.to_posix(facility_path))


def _on_collection(scan: str, collection, base: PurePosixPath) -> PurePosixPath:
    path = PurePosixPath(scan)
    if path.is_absolute():
        return collection.to_globus(Path(scan).resolve() if Path(scan).exists() else path)
    return PurePosixPath("/", base, path)


def build_flow_input(config: ExperimentConfig, scan: str, recon: Mapping[str, Any], *,
                     flow: Any = "tomocupy", publish_metadata: Mapping[str, Any] | None = None,
                     previews: Mapping[str, Any] | None = None,
                     location: ScanLocation | None = None,
                     backend: BackendChoice = None,
                     try_recon: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The flow input of ``flow`` (a name of :data:`~tomocupy_gladier.flows.FLOWS` or a client
    class) for one scan, without function ids (which Gladier adds): each of the flow's steps'
    part, in registry order.

    The reconstruction's folder is decided here, once (:func:`recon_output`), and travels in
    ``tomocupy.output``; every later step uses it or what the reconstruction step reports.
    ``recon``'s ``out-path-name`` is consumed here: it names that folder. ``location``: the
    scan as :func:`locate_scan` already found it (it is looked up otherwise). ``try_recon``:
    the try's parameters of a flow that waits for the choice of the centre. A step's keys that
    start with ``_private`` (the email account) go beside ``input``.
    """
    flow = FLOWS[flow] if isinstance(flow, str) else flow
    location = location or locate_scan(config, scan, transfer=moves_scan(flow))
    facts = RunFacts(config=config, location=location, recon=recon, output=recon_output(location, recon),
                     backend=choose(config, backend), previews=dict(previews or {}),
                     publish_metadata=publish_metadata, try_recon=try_recon)
    private: dict[str, Any] = {}
    for step in flow_steps(flow):
        if step.flow_input is None:
            continue
        for key, value in step.flow_input(facts).items():
            (private if is_private(key) else facts.blocks)[key] = value
    return {"input": facts.blocks, **private}


def run_label(config: ExperimentConfig, location_name: str, recon: Mapping[str, Any]) -> str:
    """A run label that fits Flows' 64-character limit (Gladier would cut it silently)."""
    label = f"{config.name}: {location_name} ({recon.get('reconstruction-type', 'try')})"
    return label if len(label) <= 64 else label[:61] + "..."
