"""From an experiment configuration and a scan to the flow input (``{"input": {...}}``).

Data flows one way: config -> reconstruction parameters -> flow input. Function ids
are not set here: Gladier adds them when it registers the functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Mapping

from tomocupy_gladier.config import ExperimentConfig
from tomocupy_gladier.errors import UserError
from tomocupy_gladier.flow_input_types import (
    EndpointConfig,
    FlowInput,
    FlowInputData,
    NotifyBlock,
    PreviewsBlock,
    Publishv2Block,
    ReturnDataBlock,
    TomocupyBlock,
)
from tomocupy_gladier.output_folders import previews_folder, run_logs_folder, tomocupy_output
from tomocupy_gladier.redaction import EMAIL_CREDENTIALS_KEY
from tomocupy_gladier.tools.return_data.tool import SYNC_CHECKSUM
from tomocupy_gladier.smtp_account import account_from_environment, missing_account_variables


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
        recon["rotation-axis-auto"] = "manual"
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
    if config.backend == "local" and not Path(must_exist).is_file():
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
                     backend: str | None = None) -> FlowInput:
    """The flow input for one scan (without function ids, which Gladier adds; its blocks are
    described in :mod:`tomocupy_gladier.flow_input_types`).

    The reconstruction's folder is decided here, once (:func:`recon_output`), and travels in
    ``tomocupy.output``; every later step uses it or what the reconstruction step reports.
    ``recon``'s ``out-path-name`` is consumed here: it names that folder. ``location``: the
    scan as :func:`locate_scan` already found it (it is looked up otherwise).
    """
    location = location or locate_scan(config, scan, transfer=transfer)
    output = recon_output(location, recon)
    options = {k: v for k, v in recon.items() if k != "out-path-name"}
    tomocupy: TomocupyBlock = {"file_name": str(location.posix_path), "output": str(output),
                               "logs": str(run_logs_folder(output)), "timeout": config.timeout}
    data: FlowInputData = {
        "recon": options,
        "tomocupy": tomocupy,
        "compute_endpoint": config.compute_endpoint,
        "tomocupy_endpoint_config": EndpointConfig(**config.pbs),
        "previews": PreviewsBlock(**(previews or {})),
        "publishv2": publish_input(config, location, output, options, previews, publish_metadata),
        "return_data": return_input(config),
    }
    backend = backend or config.backend
    data["notify"] = notify_input(config, location, output, data["publishv2"], backend)
    if transfer:
        assert config.source is not None and location.source_path is not None
        data = {  # the transfer keys come first in the input
            "source": {"id": config.source.id, "path": str(location.source_path)},
            "destination": {"id": config.facility.id, "path": str(location.facility_path)},
            "transfer_recursive": False,
            "transfer_sync_level": SYNC_CHECKSUM,
            **data,
        }
    body: FlowInput = {"input": data}
    if data["notify"]["enable"]:
        body[EMAIL_CREDENTIALS_KEY] = email_credentials(config, backend)  # type: ignore[literal-required]
    return body


def is_try(recon: Mapping[str, Any]) -> bool:
    """Whether these parameters ask for a try (centre search) reconstruction."""
    return str(recon.get("reconstruction-type", "try")).startswith("try")


def recon_output(location: ScanLocation, recon: Mapping[str, Any]) -> PurePosixPath:
    """POSIX path of the reconstruction of this scan with these parameters (tomocupy's rule)."""
    output = tomocupy_output(location.posix_path, str(recon.get("reconstruction-type", "try")),
                             recon.get("out-path-name"))
    if not output.is_absolute():
        raise UserError(f"out-path-name {str(output)!r} must be an absolute path on the compute endpoint")
    return output


def published_item(output: PurePosixPath, recon: Mapping[str, Any],
                   previews: Mapping[str, Any] | None = None) -> PurePosixPath:
    """What a run publishes: the reconstruction folder; for a try, its previews (the montage)
    rather than every candidate slice."""
    if is_try(recon):
        return previews_folder(output, str((previews or {}).get("folder", "previews")))
    return output


def return_input(config: ExperimentConfig) -> ReturnDataBlock:
    """The ``return_data`` block: an explicit ``enable`` flag and, when enabled, what is sent
    (``[return] what``) to which folder (``[return] path`` on ``[return] collection``).

    Which folder of this run that is, and the subfolder it lands in (named after the
    reconstruction, so returned results keep tomocupy's names), is worked out in the flow by
    the metadata step (``tools/return_data/``), as it is for a run started from a form.
    """
    back = config.return_data
    if back is None:
        return {"enable": False}
    return {
        "enable": True,
        "what": back.what,
        "destination": {"id": back.collection, "path": str(PurePosixPath("/", back.path))},
    }


GLOBUS_RUN_PAGE = "https://app.globus.org/runs/"  # + run id: a run's page in the Globus web app


def notify_input(config: ExperimentConfig, location: ScanLocation, output: PurePosixPath,
                 publish: Mapping[str, Any], backend: str) -> NotifyBlock:
    """The ``notify`` block: an explicit ``enable`` flag and, when enabled, the message's parts
    (the sending account travels apart: :func:`email_credentials`)."""
    notify = config.notify
    if notify is None:
        return {"enable": False}
    if publish.get("enable_transfer") and publish.get("destination_collection"):
        published = PurePosixPath(publish["destination"], PurePosixPath(publish["dataset"]).name)
        record = f"globus://{publish['destination_collection']}{published}"
    else:
        record = "not published (no [publish] section)"
    return {
        "enable": True,
        # one string, as every published Send Notification Email request has it (docs/notifications.md)
        "destination": ", ".join(notify.email),
        "sender": notify.sender,
        "subject": f"[tomocupy-gladier] {config.name}: {location.name}",
        "scan": location.name,
        "output": str(output),
        "record": record,
        "run_page": notify.run_page or (GLOBUS_RUN_PAGE if backend == "globus"
                                        else serve_run_page(config)),
    }


def email_credentials(config: ExperimentConfig, backend: str) -> dict[str, Any]:
    """``credential_value`` of the notification's SMTP credential, which the flow input carries
    at its top as ``_private_email_credentials`` (private run state, see :mod:`redaction`).

    On Globus the Send Notification Email provider sends through the experiment's SMTP server
    and needs its account (``hostname``, ``port``, ``username``, ``password``); the account
    comes from the environment, never from the experiment file. Locally only the server is
    given: the local provider reads the account from its own environment, so the run store
    never holds it; without ``smtp`` it is ``{}`` and the local provider fills a mailbox file.
    """
    assert config.notify is not None
    if config.notify.smtp is None:
        if backend == "globus":
            raise UserError("[notify] on the globus backend needs smtp = \"host:port\": Globus's Send "
                            "Notification Email sends through your SMTP server")
        return {}
    host, port = config.notify.smtp
    value: dict[str, Any] = {"hostname": host, "port": port}
    if backend == "globus":
        missing = missing_account_variables()
        if missing:
            raise UserError(f"[notify] on the globus backend needs the SMTP account in {' and '.join(missing)}")
        value.update(account_from_environment())
    return value


def choice_page(config: ExperimentConfig, backend: str) -> dict[str, str]:
    """Where an interactive run's centre is chosen, as the waiting email links it: the Wait
    For User Selection provider's landing page on Globus, the run's page in ``serve`` locally
    (``choose_page`` + run id + ``choose_suffix``)."""
    from tomocupy_gladier.tools.choice.tool import LANDING_SUFFIX, WEBOPTION_LANDING_URL

    if backend == "globus":
        return {"choose_page": WEBOPTION_LANDING_URL.format(url_suffix=""),
                "choose_suffix": LANDING_SUFFIX}
    return {"choose_page": serve_run_page(config), "choose_suffix": ""}


def serve_run_page(config: ExperimentConfig) -> str:
    """``serve``'s page of a run, without the run id (which the flow appends): where the local
    Wait For User Selection provider also puts its landing page."""
    from tomocupy_gladier.local.providers.weboption import landing_page_url

    return landing_page_url(config.local_serve_url, "")


def publish_input(config: ExperimentConfig, location: ScanLocation, output: PurePosixPath,
                  options: Mapping[str, Any], previews: Mapping[str, Any] | None = None,
                  extra_metadata: Mapping[str, Any] | None = None) -> Publishv2Block:
    """Publishv2's block; every enable flag is explicit (an absent flag silently skips the step).

    ``enable_meta_files`` is off: a per-file list of a 2000-slice volume would not fit in the
    run state. The files are described by the published ``manifest.json`` instead (per-file
    sha256 and size), whose counts and location the record carries.
    """
    dataset = published_item(output, options, previews)
    metadata = {"tomography": {"experiment": config.name, "scan": location.name,
                               "parameters": dict(options)}}
    metadata.update(extra_metadata or {})
    publish = config.publish
    if publish is None:
        # nothing to publish to: gather the metadata only (it stays in the run's output)
        return {
            "dataset": str(dataset), "destination": "/", "source_collection": config.facility.id,
            "source_collection_basepath": str(config.facility.posix_root),
            "destination_collection": config.facility.id, "index": config.facility.id,
            "visible_to": ["public"], "checksum_algorithms": ["sha256"], "metadata": metadata,
            "enable_transfer": False, "enable_publish": False, "enable_meta_dc": True,
            "enable_meta_files": False,
        }
    destination = PurePosixPath("/", publish.path, config.name)
    if is_try(options):
        # the previews folder of a try lands in try_center/<scan>/previews, one per scan
        destination = destination / "try_center" / output.name
    return {
        "dataset": str(dataset),
        "destination": str(destination),
        "source_collection": config.facility.id,
        "source_collection_basepath": str(config.facility.posix_root),
        "destination_collection": publish.collection,
        "index": publish.index,
        "visible_to": list(publish.visible_to),
        "checksum_algorithms": list(publish.checksums),
        "metadata": metadata,
        "enable_transfer": publish.transfer,
        "enable_publish": publish.ingest,
        "enable_meta_dc": publish.datacite,
        "enable_meta_files": False,
    }


def run_label(config: ExperimentConfig, location_name: str, recon: Mapping[str, Any]) -> str:
    """A run label that fits Flows' 64-character limit (Gladier would cut it silently)."""
    label = f"{config.name}: {location_name} ({recon.get('reconstruction-type', 'try')})"
    return label if len(label) <= 64 else label[:61] + "..."


def interactive_input(config: ExperimentConfig, location: ScanLocation, try_recon: Mapping[str, Any],
                      previews: Mapping[str, Any] | None = None, choices: int = 8) -> dict[str, Any]:
    """The ``interactive`` block of TomocupyInteractiveFlow: the try's parameters and folder, how
    many centres are offered, and where the try's previews (the montage) are published.

    The try's folder is tomocupy's own for a try (or ``out-path-name``); its previews go where a
    try run publishes them (``<publish path>/<experiment>/try_center/<scan>/<previews folder>``).
    """
    output = recon_output(location, try_recon)
    options = {k: v for k, v in try_recon.items() if k != "out-path-name"}
    folder = str((previews or {}).get("folder", "previews"))
    montage: dict[str, Any] = {"enable": False}
    publish = config.publish
    if publish is not None and publish.transfer:
        montage = {
            "enable": True,
            "source": {"id": config.facility.id,
                       "path": str(config.facility.to_globus(previews_folder(output, folder)))},
            "destination": {"id": publish.collection,
                            "path": str(PurePosixPath("/", publish.path, config.name, "try_center",
                                                      output.name, folder))},
        }
    return {
        "try_recon": options,
        "try_tomocupy": {"file_name": str(location.posix_path), "output": str(output),
                         "logs": str(run_logs_folder(output)), "timeout": config.timeout},
        "choices": int(choices),
        "montage": montage,
        "selectable_by": list(config.choice_selectable_by),
    }
