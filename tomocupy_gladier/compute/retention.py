"""What a run removes at the facility once its publication is verified: the decision, on the endpoint.

The retention step's compute task calls :func:`after_publish_targets` with the run's own facts
(the ``[retention]`` rules in its input, the reconstruction step's result, the publication's
transfer request and the Transfer task it ran, where the scan came from). It deletes nothing: it
returns whether to delete and the Transfer delete document's parts (the facility collection, the
paths, ``recursive``), which the flow's next state hands to Transfer's delete action provider. So
what is removed is what Transfer removes, with the run's own consents, and the run's state holds
what was decided and why.

A publication is verified when both hold:

- the publication's Transfer task copied this run's reconstruction folder, the whole of it, and
  its task document says every file is at the destination and checked: status ``SUCCEEDED``, no
  fatal error, no failed subtask, no file skipped for an error (``subtasks_skipped_errors``),
  ``verify_checksum`` true (each copied file's checksum compared at the destination), files
  skipped only by the checksum sync level (``sync_level`` 3: the destination's file has the same
  checksum), and ``files`` = ``files_transferred`` + ``files_skipped`` = the manifest's files and
  the manifest itself (the fields of the Transfer API's task document, as globus-sdk's test data
  and the local Transfer provider give them);
- the facility's folder still holds exactly the files of its ``manifest.json``, at their sizes
  (a stat of each, no byte read), and the manifest names this run.

Otherwise nothing is removed and the result says why (``unverified``). The beamline's scan is
never a target: the scan's copy at the facility is one only when this flow copied it there (the
scan transfer's source differs from its destination), and a try keeps it (the full
reconstruction that follows reads it).
"""

from __future__ import annotations

import json
import os
import pathlib
from typing import Any, Mapping

from tomocupy_gladier.compute.checksums import MANIFEST, verify_manifest
from tomocupy_gladier.compute.collections import on_collection
from tomocupy_gladier.compute.rules import output_folder

AFTER_PUBLISH = "after-publish"
#: the Transfer API's sync level that compares checksums (a file skipped at it is the same file)
SYNC_CHECKSUM = 3
#: how many problems of a folder a reason names at most (the run state stays small)
PROBLEMS_SHOWN = 3


def after_publish_targets(retention: dict | None = None, tomocupy: dict | None = None,
                          recon_result: dict | None = None, publishv2: dict | None = None,
                          published: dict | None = None, publication: dict | None = None,
                          scan_source: dict | None = None, scan_copy: dict | None = None,
                          run_id: str | None = None) -> dict:
    """Decide what this run removes at the facility now that it is published; removes nothing.

    Keyword arguments (the run's state):

    - ``retention``: the flow input's block (``raw``, ``reconstruction``: ``"after-publish"`` or
      ``"keep"``).
    - ``tomocupy``: the flow input's block; ``file_name`` is the scan as the compute nodes see it.
    - ``recon_result``: the reconstruction step's result (``output``, ``kind``, ``run_id``).
    - ``publishv2``: the flow input's block: the facility collection (``source_collection``) and
      its root on the nodes (``source_collection_basepath``).
    - ``published``: the publication's transfer request (the gather step's ``transfer``).
    - ``publication``: the publication transfer's action status (None when the run copied
      nothing to the publication collection).
    - ``scan_source``, ``scan_copy``: the scan transfer's ``source`` and ``destination``
      (collection and path; None in a flow that does not copy the scan).
    - ``run_id``: the flow run, which the folder's manifest must name.

    Returns ``delete`` (whether there is anything to remove), ``request`` (the delete document's
    ``endpoint``, ``DATA`` of ``{"path"}``, ``recursive``; None when there is nothing),
    ``targets`` (each: ``what`` -- ``raw`` or ``reconstruction`` --, its ``path`` on the facility
    collection, ``rule``, ``bytes``, ``files``), ``kept`` (each rule's data that stays: ``what``,
    ``rule``, ``reason``), ``verified`` (the published copy checked: ``published``, ``files``,
    ``bytes``; None) and ``unverified`` (why the publication is not verified; None).
    """
    rules = dict(retention or {})
    wanted = [what for what in ("raw", "reconstruction") if rules.get(what) == AFTER_PUBLISH]
    result = dict(recon_result or {})
    facility = dict(publishv2 or {})
    decision: dict[str, Any] = {"delete": False, "request": None, "targets": [], "kept": [],
                                "verified": None, "unverified": None}
    # what a rule never removes, published or not: a try's, the beamline's original
    kept = {"raw": _raw_kept(result, scan_source, scan_copy), "reconstruction": _reconstruction_kept(result)}
    decision["kept"] = [{"what": w, "rule": AFTER_PUBLISH, "reason": kept[w]} for w in wanted if kept[w]]
    candidates = [what for what in wanted if not kept[what]]
    if not candidates:
        return decision
    collection = facility.get("source_collection")
    root = facility.get("source_collection_basepath")
    folder = pathlib.Path(result["output"]) if result.get("output") else None
    if folder is None or not collection or not root:
        decision["unverified"] = ("the run names no reconstruction folder or facility collection "
                                  "(publishv2.source_collection, source_collection_basepath)")
    else:
        decision["verified"], decision["unverified"] = verify_publication(
            folder, on_collection(folder, root), collection, published, publication, run_id)
    for what in candidates:
        if decision["unverified"] or folder is None:
            target, reason = None, decision["unverified"]
        elif what == "raw":
            target, reason = _raw_target(result, facility, published, tomocupy, scan_copy or {})
        else:
            target, reason = _reconstruction_target(result, folder, facility, published)
        if target is not None:
            decision["targets"].append({"what": what, "rule": AFTER_PUBLISH, **target})
        else:
            decision["kept"].append({"what": what, "rule": AFTER_PUBLISH, "reason": reason})
    if decision["targets"]:
        decision["delete"] = True
        decision["request"] = {"endpoint": collection,
                               "DATA": [{"path": t["path"]} for t in decision["targets"]],
                               "recursive": any(t["folder"] for t in decision["targets"])}
    return decision


# --- the publication ----------------------------------------------------------------------------

def verify_publication(folder: pathlib.Path, folder_on_collection: pathlib.PurePosixPath | None,
                       collection: str, published: Mapping[str, Any] | None,
                       publication: Mapping[str, Any] | None,
                       run_id: str | None) -> tuple[dict[str, Any] | None, str | None]:
    """``(facts, None)`` when the publication copied the whole of ``folder`` (``collection``'s
    ``folder_on_collection``), every file verified, and ``folder`` still holds its manifest's
    files; ``(None, why not)`` otherwise. See the module for the rule."""
    if not isinstance(publication, Mapping):
        return None, ("the run copied nothing to the publication collection (publishv2.enable_transfer "
                      "is false): nothing is removed without a verified published copy")
    request = dict(published or {})
    items = request.get("DATA") or []
    source = items[0].get("source_path") if len(items) == 1 and isinstance(items[0], Mapping) else None
    if folder_on_collection is None:
        return None, f"{folder} is not on the facility collection {collection}"
    if (request.get("source_endpoint") != collection or source is None
            or pathlib.PurePosixPath(source) != folder_on_collection):
        return None, (f"the publication copied {source or 'something else'} (collection "
                      f"{request.get('source_endpoint')}), not the whole reconstruction "
                      f"{folder_on_collection} of collection {collection}")
    problem = _task_problem(publication)
    if problem:
        return None, f"the publication's transfer is not verified: {problem}"
    entries, problem = _manifest_of(folder, run_id)
    if problem:
        return None, problem
    details = publication.get("details") or {}
    if details.get("files") != len(entries) + 1:
        return None, (f"the publication's transfer moved {details.get('files')} files, the folder's "
                      f"manifest lists {len(entries)} and itself")
    problems = verify_manifest(folder, read=False)
    if problems:
        more = f" (and {len(problems) - PROBLEMS_SHOWN} more)" if len(problems) > PROBLEMS_SHOWN else ""
        return None, (f"{folder} no longer holds the files of its manifest: "
                      + "; ".join(problems[:PROBLEMS_SHOWN]) + more)
    destination = items[0].get("destination_path")
    return {"published": f"globus://{request.get('destination_endpoint')}{destination}",
            "files": len(entries) + 1, "bytes": sum(int(e.get("bytes", 0)) for e in entries),
            "task_id": details.get("task_id")}, None


def _task_problem(publication: Mapping[str, Any]) -> str | None:
    """What the publication's action status and Transfer task document leave unverified; None
    when every file is at the destination and checked."""
    details = publication.get("details")
    if publication.get("status") != "SUCCEEDED" or not isinstance(details, Mapping):
        return f"the action's status is {publication.get('status')}"
    if details.get("status") != "SUCCEEDED":
        return f"the task's status is {details.get('status')}"
    if details.get("fatal_error"):
        return f"the task has a fatal error ({details['fatal_error']})"
    for count in ("subtasks_failed", "subtasks_skipped_errors"):
        if details.get(count):
            return f"{details[count]} {count.replace('_', ' ')}"
    if details.get("verify_checksum") is not True:
        return "the copied files' checksums were not verified (verify_checksum is not true)"
    files, moved, skipped = (details.get(k) for k in ("files", "files_transferred", "files_skipped"))
    if not (isinstance(files, int) and isinstance(moved, int) and isinstance(skipped, int)) \
            or files != moved + skipped:
        return f"{files} files, of which {moved} transferred and {skipped} skipped"
    if skipped and details.get("sync_level") != SYNC_CHECKSUM:
        return (f"{skipped} files were skipped at sync level {details.get('sync_level')}, without "
                "comparing checksums")
    return None


def _manifest_of(folder: pathlib.Path, run_id: str | None) -> tuple[list[dict], str | None]:
    """The entries of ``folder``'s manifest, and a problem when it cannot be read or another run
    wrote it."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
        entries = list(manifest["files"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return [], f"{folder / MANIFEST} cannot be read ({exc})"
    if run_id is not None and manifest.get("run_id") != run_id:
        return [], f"{folder} now holds run {manifest.get('run_id')}'s reconstruction, not this run's"
    return entries, None


# --- the targets --------------------------------------------------------------------------------

Target = tuple[dict[str, Any] | None, str | None]


def _raw_kept(result: Mapping[str, Any], scan_source: Mapping[str, Any] | None,
              scan_copy: Mapping[str, Any] | None) -> str | None:
    """Why the scan's file at the facility is never removed by this run, if it is not: a try's
    scan (the full reconstruction that follows reads it), a file this flow did not copy, the
    beamline's own file."""
    if result.get("kind") != "full":
        return "a try: the full reconstruction that follows reads the scan"
    if not scan_source or not scan_copy:
        return "this flow did not copy the scan: the facility's file is the original, never removed"
    if (scan_source.get("id") == scan_copy.get("id") and pathlib.PurePosixPath(str(scan_source.get("path")))
            == pathlib.PurePosixPath(str(scan_copy.get("path")))):
        return "the scan's copy at the facility is the beamline's scan itself, never removed"
    return None


def _reconstruction_kept(result: Mapping[str, Any]) -> str | None:
    """Why the reconstruction is never removed by this run, if it is not: a try's."""
    return None if result.get("kind") == "full" else "a try: try reconstructions follow the tries rule"


def _raw_target(result: Mapping[str, Any], facility: Mapping[str, Any], published: Mapping[str, Any] | None,
                tomocupy: Mapping[str, Any] | None, scan_copy: Mapping[str, Any]) -> Target:
    """The scan's copy this flow made at the facility (the file reconstructed), unless another
    run reads it now; else why it stays."""
    scan = pathlib.Path(str((tomocupy or {}).get("file_name") or ""))
    path = pathlib.PurePosixPath(str(scan_copy.get("path")))
    if (scan_copy.get("id") != facility.get("source_collection")
            or on_collection(scan, facility["source_collection_basepath"]) != path):
        return None, (f"the scan was copied to {scan_copy.get('path')} on collection {scan_copy.get('id')}, "
                      f"which is not the file reconstructed ({scan})")
    busy = reconstructions_in_progress(scan, result.get("run_id"))
    if busy:
        return None, f"another reconstruction of this scan is in progress ({busy[0]})"
    return _entry(scan, path, published, facility)


def _reconstruction_target(result: Mapping[str, Any], folder: pathlib.Path, facility: Mapping[str, Any],
                           published: Mapping[str, Any] | None) -> Target:
    """The facility's full reconstruction folder (never the run logs beside it), unless another
    run reconstructs into it now; else why it stays."""
    busy = [s for s in _staging(folder) if f".{result.get('run_id')}." not in s.name]
    if busy:
        return None, f"another run is reconstructing into this folder ({busy[0]})"
    path = on_collection(folder, facility["source_collection_basepath"])
    assert path is not None  # the publication was verified from this very folder
    return _entry(folder, path, published, facility)


def _entry(local: pathlib.Path, path: pathlib.PurePosixPath, published: Mapping[str, Any] | None,
           facility: Mapping[str, Any]) -> Target:
    """A target: its path on the facility collection, size and file count; refused when it is
    gone already, or is (or holds, or lies in) the published copy on the same collection."""
    request = dict(published or {})
    if request.get("destination_endpoint") == facility.get("source_collection"):
        copy = pathlib.PurePosixPath(str((request.get("DATA") or [{}])[0].get("destination_path")))
        if copy == path or copy in path.parents or path in copy.parents:
            return None, f"the published copy {copy} is on the facility collection there: it is never removed"
    if not os.path.lexists(local):
        return None, f"{local} is not there any more"
    files = [local] if not local.is_dir() else [p for p in local.rglob("*") if p.is_file() or p.is_symlink()]
    return {"path": str(path), "folder": local.is_dir(), "files": len(files),
            "bytes": sum(p.lstat().st_size for p in files)}, None


def reconstructions_in_progress(scan: pathlib.Path, run_id: object = None) -> list[pathlib.Path]:
    """The staging folders of other runs' reconstructions of ``scan`` in tomocupy's folders (the
    full one and a campaign's parameter sets beside it, ``<scan>_rec_<set>``; the try): those
    runs read the scan now."""
    found = _staging(pathlib.Path(output_folder(str(scan), "full")), parameter_sets=True)
    found += _staging(pathlib.Path(output_folder(str(scan), "try")))
    return sorted(s for s in found if f".{run_id}." not in s.name)


def _staging(output: pathlib.Path, parameter_sets: bool = False) -> list[pathlib.Path]:
    """Staging folders of reconstructions into ``output`` (``parameter_sets``: into
    ``<output>_<set>`` too): ``.<name>.<run id>.staging`` beside it, as compute/recon.py names them."""
    if not output.parent.is_dir():
        return []
    starts = (f".{output.name}.", f".{output.name}_") if parameter_sets else (f".{output.name}.",)
    return [p for p in output.parent.iterdir()
            if p.name.startswith(starts) and p.name.endswith(".staging") and p.is_dir()]
