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
from tomocupy_gladier.paths import previews_folder, reconstruction_item, tomocupy_output


def recon_parameters(config: ExperimentConfig, overrides: Mapping[str, Any] | None = None,
                     reconstruction_type: str | None = None) -> dict[str, Any]:
    """The ``recon`` block: the experiment's defaults, then per-run overrides, then --try/--full."""
    recon = dict(config.recon)
    recon.update({k: v for k, v in (overrides or {}).items() if v is not None})
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
                     previews: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The flow input for one scan (without function ids, which Gladier adds)."""
    location = locate_scan(config, scan, transfer=transfer)
    data: dict[str, Any] = {}
    if transfer:
        assert config.source is not None and location.source_path is not None
        data["source"] = {"id": config.source.id, "path": str(location.source_path)}
        data["destination"] = {"id": config.facility.id, "path": str(location.facility_path)}
        data["transfer_recursive"] = False
        data["transfer_sync_level"] = "checksum"
    tomocupy: dict[str, Any] = {"file_name": str(location.posix_path), "timeout": config.timeout}
    tomocupy["executable"] = (config.executable if isinstance(config.executable, str)
                              else list(config.executable))
    if config.env:
        tomocupy["env"] = dict(config.env)
    data.update({
        "recon": dict(recon),
        "tomocupy": tomocupy,
        "compute_endpoint": config.compute_endpoint,
        "tomocupy_endpoint_config": dict(config.pbs),
        "previews": dict(previews or {}),
    })
    data["publishv2"] = publish_input(config, location, recon, publish_metadata)
    data["return_data"] = return_input(config, location, recon, previews)
    return {"input": data}


def recon_output(location: ScanLocation, recon: Mapping[str, Any]) -> PurePosixPath:
    """POSIX path of the reconstruction of this scan with these parameters (tomocupy's convention)."""
    return tomocupy_output(location.posix_path, str(recon.get("reconstruction-type", "try")),
                           recon.get("out-path-name"))


def return_input(config: ExperimentConfig, location: ScanLocation, recon: Mapping[str, Any],
                 previews: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The ``return_data`` block: an explicit ``enable`` flag and, when enabled, what is copied where.

    The source is on the facility collection: the previews folder, or the whole reconstruction
    (``[return] what = "reconstruction"``). It lands in ``<[return] path>/<reconstruction name>/``
    (previews in its ``previews`` subfolder), so returned results keep tomocupy's names.
    """
    back = config.return_data
    if back is None:
        return {"enable": False}
    output = recon_output(location, recon)
    # try reconstructions are always TIFF slices
    fmt = "tiff" if str(recon.get("reconstruction-type", "try")).startswith("try") \
        else str(recon.get("save-format", "tiff"))
    destination = PurePosixPath("/", back.path, output.name)
    if back.what == "reconstruction":
        item, recursive = reconstruction_item(output, fmt)
        destination = destination.with_name(item.name)
    else:
        folder = str((previews or {}).get("folder", "previews"))
        item, recursive = previews_folder(output, fmt, folder), True
        destination = destination / folder
    return {
        "enable": True,
        "what": back.what,
        "source": {"id": config.facility.id, "path": str(config.facility.to_globus(item))},
        "destination": {"id": back.collection, "path": str(destination)},
        "recursive": recursive,
    }


def publish_input(config: ExperimentConfig, location: ScanLocation, recon: Mapping[str, Any],
                  extra_metadata: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Publishv2's block; every enable flag is explicit (an absent flag silently skips the step)."""
    output = recon_output(location, recon)
    metadata = {"tomography": {"experiment": config.name, "scan": location.name,
                               "parameters": dict(recon)}}
    metadata.update(extra_metadata or {})
    publish = config.publish
    if publish is None:
        # nothing to publish to: gather the metadata only (it stays in the run's output)
        return {
            "dataset": str(output), "destination": "/", "source_collection": config.facility.id,
            "source_collection_basepath": str(config.facility.posix_root),
            "destination_collection": config.facility.id, "index": config.facility.id,
            "visible_to": ["public"], "checksum_algorithms": ["sha256"], "metadata": metadata,
            "enable_transfer": False, "enable_publish": False, "enable_meta_dc": True,
        }
    return {
        "dataset": str(output),
        "destination": str(PurePosixPath("/", publish.path, config.name)),
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
    }


def run_label(config: ExperimentConfig, location_name: str, recon: Mapping[str, Any]) -> str:
    """A run label that fits Flows' 64-character limit (Gladier would cut it silently)."""
    label = f"{config.name}: {location_name} ({recon.get('reconstruction-type', 'try')})"
    return label if len(label) <= 64 else label[:61] + "..."
