"""The metadata step on the endpoint: the scan's DXchange metadata and the reconstruction's
facts as a Publishv2 record (DataCite ``dc`` + ``tomography``), the published dataset's
manifest, and the return transfer's request for this run."""

from __future__ import annotations

import copy
import datetime
import json
import os
import pathlib
from typing import Any

from tomocupy_gladier.compute.axis import MANUAL, give_axis
from tomocupy_gladier.compute.checksums import make_read_only, sha256_of
from tomocupy_gladier.compute.collections import on_collection
from tomocupy_gladier.compute.disk_space import full_disk
from tomocupy_gladier.compute.dxchange import number, read_acquisition

MEDIA_TYPES = {".tiff": "image/tiff", ".tif": "image/tiff", ".png": "image/png", ".h5": "application/x-hdf5",
               ".json": "application/json", ".txt": "text/plain", ".log": "text/plain"}


def scan_metadata(tomocupy: dict | None = None, recon: dict | None = None,
                  recon_result: dict | None = None, previews_result: dict | None = None,
                  publishv2: dict | None = None, return_data: dict | None = None,
                  run_id: str | None = None) -> dict:
    """Describe a scan and its reconstruction for Globus Search (DataCite ``dc`` + ``tomography``).

    Keyword arguments (all optional except ``tomocupy.file_name``):

    - ``tomocupy``: the flow input block; ``file_name`` is the DXchange HDF5 scan.
    - ``recon``: the tomocupy options used (flow input ``recon`` block).
    - ``recon_result``: TomocupyRecon's output (``$.TomocupyRecon.details.results[0].output``).
    - ``previews_result``: Previews' output (``$.MakePreviews.details.results[0].output``).
    - ``publishv2``: the flow input ``publishv2`` block; its ``metadata`` is merged on top of
      what is read here (the user's values win).
    - ``return_data``: the flow input ``return_data`` block (``enable``, ``what``, the
      ``destination`` folder). When enabled, the returned ``return_data`` is the return
      transfer's request for this run: the source is this run's previews folder, or its whole
      reconstruction for ``what = "reconstruction"``, as a path on ``publishv2``'s source
      collection (below its ``source_collection_basepath``); the destination is a subfolder
      of the chosen folder named after the reconstruction (and ``previews`` inside it), so
      two scans sent to one folder never replace each other's results.
    - ``run_id``: the flow run. The reconstruction's ``manifest.json`` must name it, and every
      file it lists must still be there with its size: a folder changed or replaced since the
      reconstruction step is refused, never published under this run's record.

    The published dataset (``publishv2.dataset``: the reconstruction folder, or a try's previews
    folder) gets a ``manifest.json`` with the sha256 and size of each of its files (the
    reconstruction's own hashes are reused, only new files are read). The record carries the
    file count, the bytes and where the manifest is published, never a per-file list: that
    would not fit in a flow's run state at 2000 slices.

    Returns ``{"metadata": {"dc": ..., "tomography": ...}}`` and, when ``publishv2`` was
    given, ``"publishv2"``: that block with ``metadata`` replaced by the merged record (a
    ready-made payload for ``publishv2_gather_metadata``). Fields the file lacks are left out
    and named in ``tomography.acquisition.missing``. Raises if the scan cannot be opened.
    """
    settings = dict(tomocupy or {})
    params = dict(recon or {})
    result = dict(recon_result or {})
    file_name = settings.get("file_name")
    if not file_name:
        raise ValueError("tomocupy.file_name (the scan) is required")
    scan = pathlib.Path(file_name)
    if not scan.is_file():
        raise FileNotFoundError(f"scan file not found: {scan}")
    acquisition = read_acquisition(scan)
    reconstruction = reconstruction_facts(params, result)
    files, entries, published_dataset = published_files(result, publishv2, run_id)
    tomography: dict[str, Any] = {"scan": scan.name, "file_name": str(scan),
                                  "parameters": params, "acquisition": acquisition,
                                  "reconstruction": reconstruction}
    if files:
        tomography["files"] = files
    if isinstance(result.get("quality"), dict):
        # the quality gates' warnings and measured figures (compute/quality.py)
        tomography["quality"] = copy.deepcopy(result["quality"])
    if previews_result:
        keep = ("kind", "folder", "previews", "suggested_center", "focus_metric", "scale_bar",
                "at_edge", "warning")
        tomography["previews"] = {k: previews_result[k] for k in keep if k in previews_result}
    metadata = {"dc": datacite(scan, acquisition, reconstruction, entries if files else None),
                "tomography": tomography}
    output: dict[str, Any] = {"metadata": metadata}
    if result.get("history"):
        # the reconstructions this one replaced in its folder, newest first ("superseded_by")
        tomography["history"] = copy.deepcopy(result["history"])
    if publishv2 is not None:
        merge(metadata, dict(publishv2.get("metadata") or {}))
    if ((result.get("axis_decided") or {}).get("reused_from") and axis_of(reconstruction) is not None
            and isinstance(tomography.get("parameters"), dict)):
        # the step kept the axis a person decided for the reconstruction it replaced
        give_axis(tomography["parameters"], axis_of(reconstruction))
    if publishv2 is not None:
        payload = copy.deepcopy(dict(publishv2))
        payload["metadata"] = copy.deepcopy(metadata)
        if not payload.get("dataset") and published_dataset:
            payload["dataset"] = published_dataset
        output["publishv2"] = payload
    if return_data is not None:
        output["return_data"] = return_request(return_data, result, previews_result, publishv2)
    return output


# --- the reconstruction and its files ----------------------------------------------------------

def reconstruction_facts(params: dict, result: dict) -> dict[str, Any]:
    """The reconstruction's facts: the log's axis first (what tomocupy really used)."""
    reconstruction: dict[str, Any] = {"type": params.get("reconstruction-type", "try")}
    axis, axis_source = number(result.get("rotation_axis")), result.get("rotation_axis_source",
                                                                          "tomocupy log")
    if axis is None:
        axis, axis_source = number(params.get("rotation-axis")), "parameters"
    if axis is not None and axis >= 0:
        reconstruction.update(rotation_axis=axis, rotation_axis_source=axis_source)
    if isinstance(result.get("axis_decided"), dict) and result["axis_decided"].get("decided"):
        # how it was decided (compute.axis): chosen, given, suggested, automatic...
        reconstruction["axis_decided"] = copy.deepcopy(result["axis_decided"])
    elif params.get("rotation-axis-auto") not in (None, MANUAL):
        reconstruction["rotation_axis_source"] = f"auto ({params['rotation-axis-auto']}), not reported"
    for key, source in (("algorithm", "reconstruction-algorithm"), ("binning", "binning"),
                        ("save_format", "save-format"), ("dtype", "dtype")):
        if params.get(source) is not None:
            reconstruction[key] = params[source]
    for key, source in (("engine", "tool"), ("engine_version", "tool_version"),
                        ("seconds", "reconstruction_seconds"), ("wall_seconds", "wall_seconds"),
                        ("output", "output"), ("file_count", "file_count"), ("bytes", "bytes"),
                        ("host", "host")):
        if result.get(source) is not None:
            reconstruction[key] = result[source]
    if result.get("worker"):  # the reconstruction's worker: Python, parsl, globus-compute-endpoint, tomocupy
        reconstruction["worker"] = result["worker"]
    return reconstruction


def axis_of(reconstruction: dict) -> float | None:
    """The rotation axis the record's ``reconstruction`` block gives."""
    return number(reconstruction.get("rotation_axis"))


def unchanged_files(result: dict, run_id: str | None) -> tuple[dict, dict[pathlib.Path, dict]]:
    """The reconstruction's manifest and its entries by path, refused unless this run made it
    and every file is still there with its size."""
    output_dir = pathlib.Path(result["output"])
    try:
        recon_manifest = json.loads(pathlib.Path(result["manifest"]).read_text())
    except (OSError, ValueError) as exc:
        raise RuntimeError(f"cannot read the reconstruction's manifest: {exc}") from None
    if run_id is not None and recon_manifest.get("run_id") != run_id:
        raise RuntimeError(f"{output_dir} was replaced by run {recon_manifest.get('run_id')} after "
                           f"this run ({run_id}) reconstructed it; nothing published")
    known = {}
    for entry in recon_manifest.get("files", []):
        path = output_dir / entry["path"]
        try:
            size = path.stat().st_size
        except OSError:
            size = None
        if size != entry["bytes"]:
            raise RuntimeError(f"{path} changed since the reconstruction step "
                               f"({entry['bytes']} bytes then, {size} now); nothing published")
        known[path] = entry
    return recon_manifest, known


def published_files(result: dict, publishv2: dict | None,
                    run_id: str | None) -> tuple[dict[str, Any], list[dict], str | None]:
    """The published dataset's ``manifest.json`` written; returns the record's ``files``, the
    manifest's entries and the dataset (what is published when the input names none)."""
    if not result.get("manifest"):
        return {}, [], None
    output_dir = pathlib.Path(result["output"])
    recon_manifest, known = unchanged_files(result, run_id)
    dataset = pathlib.Path((publishv2 or {}).get("dataset") or output_dir)
    if dataset != output_dir and output_dir not in dataset.parents:
        raise ValueError(f"the published dataset {dataset} is not inside the reconstruction "
                         f"{output_dir}")
    entries = []
    for path in sorted(p for p in dataset.rglob("*") if p.is_file()):
        if path == dataset / "manifest.json":
            continue
        entry = known.get(path) or {"bytes": path.stat().st_size, "sha256": sha256_of(path)}
        entries.append({"path": path.relative_to(dataset).as_posix(), "bytes": entry["bytes"],
                        "sha256": entry["sha256"]})
    manifest = {key: recon_manifest.get(key) for key in ("run_id", "scan", "kind", "format", "created",
                                                         "command", "rotation_axis", "axis", "parameters",
                                                         "quality", "history") if key in recon_manifest}
    manifest.update(file_count=len(entries), bytes=sum(e["bytes"] for e in entries), files=entries)
    # a new file in place of the old: a published link to the old one keeps its bytes
    temporary = dataset / f".manifest.{os.getpid()}.json"
    text = json.dumps(manifest, indent=1)
    try:
        temporary.write_text(text)
        make_read_only([temporary])
        os.replace(temporary, dataset / "manifest.json")
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        full = full_disk(exc, dataset, len(text.encode()), "writing the manifest of")
        if full is None:
            raise
        raise full from exc
    files: dict[str, Any] = {"count": len(entries) + 1, "bytes": manifest["bytes"],
                             "manifest": "manifest.json", "checksum": "sha256",
                             "formats": published_formats(entries)}
    if publishv2 and publishv2.get("destination_collection") and publishv2.get("destination"):
        published = pathlib.PurePosixPath("/", publishv2["destination"], dataset.name)
        base = f"globus://{publishv2['destination_collection']}{published}"
        files["manifest_url"] = f"{base}/manifest.json"
        files["previews"] = [f"{base}/{e['path']}" for e in entries
                             if e["path"].lower().endswith((".png", ".jpg", ".jpeg"))]
    zarr = zarr_location(dataset, entries, publishv2)
    if zarr:
        files["zarr"] = zarr
    return files, entries, str(dataset)


def published_formats(entries: list[dict]) -> list[str]:
    """The forms the published volume is in: ``tiff`` (slices), ``zarr`` (an OME-Zarr), ``h5``."""
    paths = [e["path"] for e in entries]
    found = {"tiff": any(p.count("/") == 0 and p.startswith("recon_") and p.endswith((".tiff", ".tif"))
                         for p in paths),
             "zarr": any(p.split("/")[0].endswith(".zarr") for p in paths if "/" in p),
             "h5": any(p.endswith((".h5", ".hdf5")) for p in paths)}
    return [name for name, present in found.items() if present]


def zarr_location(dataset: pathlib.Path, entries: list[dict],
                  publishv2: dict | None) -> list[dict[str, Any]]:
    """Where each published OME-Zarr is (the multiscale volume and its compact copies): its
    path in the dataset, its ``globus://`` URL on the publication collection and, when the
    input's ``metadata.tomography.publication.https`` names the collection's HTTPS address of
    the destination, the URL a browser viewer opens."""
    names = sorted({e["path"].split("/")[0] for e in entries
                    if e["path"].split("/")[0].endswith(".ome.zarr") and e["path"].endswith("/.zattrs")
                    and e["path"].count("/") == 1})
    https = (((publishv2 or {}).get("metadata") or {}).get("tomography") or {}).get("publication", {})
    https = https.get("https") if isinstance(https, dict) else None
    found = []
    for name in names:
        where: dict[str, Any] = {"path": name}
        if publishv2 and publishv2.get("destination_collection") and publishv2.get("destination"):
            published = pathlib.PurePosixPath("/", publishv2["destination"], dataset.name, name)
            where["url"] = f"globus://{publishv2['destination_collection']}{published}"
            if https:
                where["https_url"] = f"{str(https).rstrip('/')}/{dataset.name}/{name}"
        found.append(where)
    return found


# --- the record ---------------------------------------------------------------------------------

def datacite(scan: pathlib.Path, acquisition: dict, reconstruction: dict,
             entries: list[dict] | None) -> dict[str, Any]:
    """DataCite: only what is known; Publishv2 fills identifiers, formats, publisher, version.
    ``entries``: the published files (None when nothing is published)."""
    sample = acquisition.get("sample")
    kind = "trial reconstructions (rotation-axis search)" if str(reconstruction["type"]).startswith(
        "try") else "tomographic reconstruction"
    title = f"{sample}: {kind} of {scan.name}" if sample else f"{kind.capitalize()} of {scan.name}"
    subjects = ["X-ray computed tomography", "tomocupy"]
    subjects += [acquisition[k] for k in ("instrument", "facility", "sample") if k in acquisition]
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()
    dates = [{"date": now, "dateType": "Created"}]
    if "start_time" in acquisition:
        dates.append({"date": acquisition["start_time"], "dateType": "Collected"})
    facts = []
    if "shape" in acquisition:
        facts.append("{projections} projections of {rows} x {columns} pixels".format(**acquisition)
                     if "projections" in acquisition else f"data of shape {acquisition['shape']}")
    if "angles" in acquisition:
        facts.append(f"over {acquisition['angles']['range']:g} degrees")
    if "energy_kev" in acquisition:
        facts.append(f"at {acquisition['energy_kev']:g} keV")
    if "pixel_size_um" in acquisition:
        facts.append(f"pixel size {acquisition['pixel_size_um']:g} um")
    methods = f"Reconstructed with {reconstruction.get('engine', 'tomocupy')}"
    if reconstruction.get("engine_version"):
        methods += f" {reconstruction['engine_version']}"
    if "rotation_axis" in reconstruction:
        methods += f", rotation axis {reconstruction['rotation_axis']:g}"
    if "algorithm" in reconstruction:
        methods += f", algorithm {reconstruction['algorithm']}"
    descriptions = [{"description": f"Scan {scan.name}: " + (", ".join(facts) or "no acquisition "
                                                              "metadata recorded") + ".",
                     "descriptionType": "Abstract"},
                    {"description": methods + ".", "descriptionType": "Methods"}]
    if "sample_description" in acquisition:
        descriptions.append({"description": acquisition["sample_description"],
                             "descriptionType": "Other"})
    dc: dict[str, Any] = {"titles": [{"title": title}],
                          "subjects": [{"subject": s} for s in dict.fromkeys(subjects)],
                          "dates": dates, "descriptions": descriptions}
    if entries is not None:
        dc["formats"] = sorted({MEDIA_TYPES.get(pathlib.PurePosixPath(e["path"]).suffix,
                                                "application/octet-stream")
                                for e in entries} | {"application/json"})
    if "experimenter" in acquisition:
        creator: dict[str, Any] = {"name": acquisition["experimenter"], "nameType": "Personal"}
        if "institution" in acquisition:
            creator["affiliation"] = [{"name": acquisition["institution"]}]
        dc["creators"] = [creator]
    return dc


def merge(base: dict, extra: dict) -> dict:
    """``extra`` merged into ``base`` (nested objects merged, other values replaced by copies)."""
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def return_request(return_data: dict, result: dict, previews_result: dict | None,
                   publishv2: dict | None) -> dict:
    """What the return step copies, and where: from this run's own folders."""
    back = copy.deepcopy(dict(return_data))
    if back.get("enable") is not True:
        return back
    if not result.get("output"):
        raise ValueError("nothing to send back: the reconstruction step reported no output folder")
    reconstruction_dir = pathlib.PurePosixPath(result["output"])
    what = back.get("what") or "previews"
    if what == "reconstruction":
        item = reconstruction_dir
        landing = pathlib.PurePosixPath(reconstruction_dir.name)
    else:
        folder = (previews_result or {}).get("folder")
        if not folder:
            raise ValueError("nothing to send back: the previews step reported no previews folder")
        item = pathlib.PurePosixPath(folder)
        landing = pathlib.PurePosixPath(reconstruction_dir.name, item.name)
    facility = dict(publishv2 or {})
    if not facility.get("source_collection") or not facility.get("source_collection_basepath"):
        raise ValueError("publishv2.source_collection and publishv2.source_collection_basepath "
                         "are needed to name the results on the facility collection")
    base = pathlib.PurePosixPath(facility["source_collection_basepath"])
    source = on_collection(item, base)
    if source is None:
        raise ValueError(f"the results {item} are not on the facility collection (its root is "
                         f"{base} on the compute nodes); nothing sent back")
    destination = dict(back.get("destination") or {})
    if not destination.get("id") or not destination.get("path"):
        raise ValueError("return_data.destination needs a collection id and a folder")
    destination["path"] = str(pathlib.PurePosixPath("/", destination["path"], landing))
    back.update(source={"id": facility["source_collection"], "path": str(source)},
                destination=destination, recursive=True)
    return back
