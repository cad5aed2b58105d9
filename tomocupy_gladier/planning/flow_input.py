"""From an experiment configuration and a scan to the flow input (``{"input": {...}}``).

Data flows one way: config -> reconstruction parameters -> flow input. Function ids
are not set here: Gladier adds them when it registers the functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Mapping, cast

from tomocupy_gladier import __version__
from tomocupy_gladier.compute.axis import give_axis
from tomocupy_gladier.backends import BackendChoice, choose
from tomocupy_gladier.experiment.config import ExperimentConfig
from tomocupy_gladier.errors import UserError
from tomocupy_gladier.planning.flow_input_types import FlowInput, FlowInputData, PreviewsBlock
from tomocupy_gladier.redaction import EMAIL_CREDENTIALS_KEY
from tomocupy_gladier.tools.choice.flow_input import interactive_input
from tomocupy_gladier.tools.notify.flow_input import (
    choice_page,
    email_credentials,
    notify_input,
)
from tomocupy_gladier.tools.publish.flow_input import publish_input, published_item
from tomocupy_gladier.tools.recon.flow_input import endpoint_config_block, is_try, recon_output, tomocupy_block
from tomocupy_gladier.tools.return_data.flow_input import return_input
from tomocupy_gladier.tools.transfer.flow_input import transfer_input

# the steps' block builders, also named here for callers that build a flow input from parts
__all__ = ["ScanLocation", "build_flow_input", "choice_page", "email_credentials",
           "interactive_input", "is_try", "locate_scan", "notify_input", "publish_input", "published_item",
           "recon_output", "recon_parameters", "return_input", "run_label"]


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


@dataclass(frozen=True)
class ScanLocation:
    """One scan: where it is written (beamline) and where it is reconstructed (facility)."""

    name: str
    source_path: PurePosixPath | None  # path on the beamline collection (None: already at the facility)
    facility_path: PurePosixPath       # path on the facility collection
    posix_path: PurePosixPath          # the facility path as the compute endpoint sees it


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
                     transfer: bool = True, publish_metadata: Mapping[str, Any] | None = None,
                     previews: Mapping[str, Any] | None = None,
                     location: ScanLocation | None = None,
                     backend: BackendChoice = None) -> FlowInput:
    """The flow input for one scan (without function ids, which Gladier adds): each step's
    block, from its ``tools/<step>/flow_input.py`` (typed in :mod:`~tomocupy_gladier.planning.flow_input_types`).

    The reconstruction's folder is decided here, once (:func:`recon_output`), and travels in
    ``tomocupy.output``; every later step uses it or what the reconstruction step reports.
    ``recon``'s ``out-path-name`` is consumed here: it names that folder. ``location``: the
    scan as :func:`locate_scan` already found it (it is looked up otherwise).
    """
    location = location or locate_scan(config, scan, transfer=transfer)
    output = recon_output(location, recon)
    options = {k: v for k, v in recon.items() if k != "out-path-name"}
    publishv2 = publish_input(config, location, output, options, previews, publish_metadata)
    chosen = choose(config, backend)
    data: FlowInputData = {
        "recon": options,
        "tomocupy": tomocupy_block(config, location, output),
        "compute_endpoint": config.compute_endpoint,
        # every compute step sends it: one user endpoint (one batch job) for the whole run
        "tomocupy_endpoint_config": endpoint_config_block(config),
        # the flow's schema checks previews
        "previews": cast(PreviewsBlock, dict(previews or {})),
        "publishv2": publishv2,
        "return_data": return_input(config),
        "tomocupy_gladier_version": __version__,  # the endpoint library's must be the same
        "notify": notify_input(config, location, output, publishv2, chosen),
    }
    if transfer:
        data = {**transfer_input(config, location), **data}  # the transfer keys come first
    body: FlowInput = {"input": data}
    if data["notify"]["enable"]:
        body[EMAIL_CREDENTIALS_KEY] = email_credentials(config, chosen)  # type: ignore[literal-required]
    return body


def run_label(config: ExperimentConfig, location_name: str, recon: Mapping[str, Any]) -> str:
    """A run label that fits Flows' 64-character limit (Gladier would cut it silently)."""
    label = f"{config.name}: {location_name} ({recon.get('reconstruction-type', 'try')})"
    return label if len(label) <= 64 else label[:61] + "..."
