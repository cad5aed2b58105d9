"""Transfer's Delete action provider, served from local folders.

The request is the Transfer API's delete document as the provider at
``https://transfer.actions.globus.org/delete`` takes it (docs.globus.org/api/transfer/
action-providers/delete; globus-sdk's ``DeleteData``): ``endpoint``, ``DATA`` (``{"path"}``
items), ``recursive`` (needed for a folder), ``ignore_missing`` (a path that is not there is no
error), ``interpret_globs`` (``*?[]`` in a path's last part, unless escaped with ``\\``),
``label``, ``deadline``, the notification flags. The retired provider at
``https://actions.globus.org/transfer/delete`` (shut down 2025-01-22; the Flows docs' examples
written before use it) took ``endpoint_id`` and ``items`` (a list of paths) instead; both shapes
are served. ``details`` is a Transfer task document of type ``DELETE``.

Paths resolve inside the collection's folder as the Transfer provider resolves them (never
outside it, symbolic links included); a collection's root itself is never deleted. A link is
removed, never followed. As on Transfer, a delete task is not atomic: it removes one file at a
time, so a task that fails or is killed leaves each file either present, whole, or gone (a file
is removed by one ``unlink``, never truncated), and folders emptied only as far as it got.
:func:`remove_paths` is that loop; it tells a caller each path *before* removing it, so a caller
that records deletions (this provider's journal, a later prune) records everything that is gone.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from ..actions import ActionRequest, ActionResult
from ..errors import ActionTimeout, InvalidRequest, request_object
from ..timestamps import now_iso
from .listing import entry_path
from .transfer import TransferFault, getpass_user

#: resolves (collection, Globus path) to a local path inside the collection, or raises TransferFault
Resolver = Callable[[str, str], Path]

_COMMON_KEYS = {"label", "recursive", "ignore_missing", "interpret_globs", "deadline",
                "notify_on_succeeded", "notify_on_failed", "notify_on_inactive", "local_user",
                "submission_id", "DATA_TYPE", "skip_activation_check"}
CURRENT_KEYS = _COMMON_KEYS | {"endpoint", "DATA"}
RETIRED_KEYS = _COMMON_KEYS | {"endpoint_id", "items"}
_GLOB = re.compile(r"(?<!\\)[*?\[]")


@dataclass
class Removal:
    """What a delete removed: ``files`` (path, bytes), ``directories``, ``missing`` (paths that
    were not there, with ``ignore_missing``)."""

    files: list[tuple[Path, int]] = field(default_factory=list)
    directories: list[Path] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    @property
    def bytes(self) -> int:
        return sum(size for _, size in self.files)


def remove_paths(targets: list[Path], *, recursive: bool, before: Callable[[Path, int], None] | None = None,
                 check: Callable[[], None] | None = None, removal: Removal | None = None) -> Removal:
    """Remove ``targets`` (existing local paths): files and links by ``unlink``, folders (with
    ``recursive``) bottom-up, each file before its folder. ``before(path, bytes)`` is called
    before each removal (``bytes`` -1 for a folder); ``check()`` between removals (a deadline).
    Raises :class:`TransferFault` for a folder without ``recursive``; what was removed before
    an error is in ``removal`` (pass one in to see it)."""
    done = removal if removal is not None else Removal()
    for target in targets:
        if target.is_dir() and not target.is_symlink():
            if not recursive:
                raise TransferFault("IS_A_DIRECTORY", f"{target.name} is a directory: set recursive to true")
            for path, size in _bottom_up(target):
                if check:
                    check()
                if before:
                    before(path, size)
                if size < 0:
                    path.rmdir()
                    done.directories.append(path)
                else:
                    path.unlink()
                    done.files.append((path, size))
        else:
            if check:
                check()
            size = target.lstat().st_size
            if before:
                before(target, size)
            target.unlink()
            done.files.append((target, size))
    return done


def _bottom_up(folder: Path) -> Iterator[tuple[Path, int]]:
    """Every file and link under ``folder`` with its size, each folder after its contents (size
    -1), ``folder`` last; links to folders are entries, never entered."""
    for dirpath, dirnames, filenames in os.walk(folder, topdown=False, followlinks=False):
        here = Path(dirpath)
        for name in sorted(filenames) + sorted(d for d in dirnames if (here / d).is_symlink()):
            path = here / name
            yield path, path.lstat().st_size
        yield here, -1


class DeleteProvider:
    """Deletes paths on local collection folders.

    :param resolve: (collection, Globus path) -> local path, the Transfer provider's rule
    :param consent: the ConsentGate of the collections' data_access consents (as transfers)
    :param journal: a folder for each task's journal (``<task_id>.jsonl``: every path, written
        before it is removed); None keeps none
    :param retired: take the retired provider's request shape (``endpoint_id``, ``items``)
    """

    def __init__(self, resolve: Resolver, consent: Any = None, journal: Path | None = None,
                 retired: bool = False) -> None:
        self.resolve, self.consent, self.journal, self.retired = resolve, consent, journal, retired

    def __call__(self, request: ActionRequest) -> ActionResult:
        endpoint, paths, opts = self._check_body(request.body)
        if self.consent is not None:
            self.consent.wait(request, [endpoint])
        details = _task_document(request.body, endpoint, len(paths), opts)
        removal = Removal()

        def check() -> None:
            if request.remaining() < 0:
                raise ActionTimeout(f"delete passed its {request.wait_time:g} s WaitTime")

        try:
            targets = self._targets(endpoint, paths, opts, removal)
            with self._journal(details["task_id"]) as record:
                remove_paths(targets, recursive=opts["recursive"], before=record, check=check,
                             removal=removal)
        except TransferFault as fault:
            return _failed(details, removal, fault)
        except OSError as exc:
            code = "PERMISSION_DENIED" if isinstance(exc, PermissionError) else "IO_ERROR"
            return _failed(details, removal, TransferFault(code, str(exc)))
        except ActionTimeout as timeout:
            details.update(_counts(removal), nice_status="Queued",
                           nice_status_short_description=timeout.cause)
            raise ActionTimeout(timeout.cause, details) from None
        details.update(_counts(removal))
        details.update(status="SUCCEEDED", completion_time=now_iso(), nice_status=None,
                       nice_status_short_description=None, is_ok=None,
                       subtasks_succeeded=len(paths), subtasks_pending=0)
        return ActionResult("SUCCEEDED", details)

    # ---------------------------------------------------------------- internals

    def _check_body(self, body: Any) -> tuple[str, list[str], dict]:
        if self.retired:
            request_object(body, RETIRED_KEYS, "a delete request")
            endpoint, items = body.get("endpoint_id"), body.get("items")
            if not isinstance(items, list) or not items or not all(isinstance(p, str) and p for p in items):
                raise InvalidRequest("items must be a non-empty list of paths")
            paths = list(items)
        else:
            request_object(body, CURRENT_KEYS, "a delete request")
            endpoint, data = body.get("endpoint"), body.get("DATA")
            if not isinstance(data, list) or not data:
                raise InvalidRequest("DATA must be a non-empty list of delete items")
            paths = []
            for i, item in enumerate(data):
                request_object(item, {"path", "DATA_TYPE"}, f"DATA[{i}]")
                if not isinstance(item.get("path"), str) or not item["path"]:
                    raise InvalidRequest(f"DATA[{i}].path must be a non-empty string")
                paths.append(item["path"])
        if not isinstance(endpoint, str) or not endpoint:
            raise InvalidRequest(f"{'endpoint_id' if self.retired else 'endpoint'} is a required string")
        opts = {}
        for key in ("recursive", "ignore_missing", "interpret_globs"):
            value = body.get(key, False)
            if not isinstance(value, bool):
                raise InvalidRequest(f"{key} must be a boolean")
            opts[key] = value
        return endpoint, paths, opts

    def _targets(self, endpoint: str, paths: list[str], opts: dict, removal: Removal) -> list[Path]:
        """The local paths to remove, each once; refuses paths outside the collection and its root."""
        root = self.resolve(endpoint, "/")
        targets: list[Path] = []
        for path in paths:
            found = self._expand(endpoint, path) if opts["interpret_globs"] else [self._local(endpoint, path)]
            for local in found:
                if local == root:
                    raise TransferFault("PERMISSION_DENIED",
                                        f"{path!r} is the root of collection {endpoint}: it is not deleted")
                if not os.path.lexists(local):
                    if not opts["ignore_missing"]:
                        raise TransferFault("FILE_NOT_FOUND", f"{path} does not exist on {endpoint}")
                    removal.missing.append(path)
                elif local not in targets:
                    targets.append(local)
        return targets

    def _local(self, endpoint: str, path: str) -> Path:
        return entry_path(self.resolve, endpoint, path)

    def _expand(self, endpoint: str, path: str) -> list[Path]:
        """``interpret_globs``: the paths a pattern in the last part of ``path`` matches (none
        matching: the pattern itself, which is then missing)."""
        parent, name = os.path.split(path.rstrip("/"))
        if not _GLOB.search(name):
            return [self._local(endpoint, path.replace("\\", ""))]
        folder = self._local(endpoint, parent or "/")
        pattern = re.sub(r"\\(.)", r"[\1]", name)  # an escaped character matches itself
        names = sorted(os.listdir(folder)) if folder.is_dir() else []
        return [folder / n for n in names if fnmatch.fnmatchcase(n, pattern)] or [folder / name]

    def _journal(self, task_id: str) -> "_Journal":
        return _Journal(self.journal / f"{task_id}.jsonl" if self.journal is not None else None)


class _Journal:
    """Each path a task removes, written (and flushed to the OS) before it is removed: a task
    killed at any point leaves every absent file listed."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.handle: Any = None

    def __enter__(self) -> Callable[[Path, int], None]:
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.handle = open(self.path, "a", encoding="utf-8")
        return self.record

    def record(self, path: Path, size: int) -> None:
        if self.handle is not None:
            kind = "directory" if size < 0 else "file"
            self.handle.write(json.dumps({"path": str(path), "type": kind, "bytes": max(size, 0),
                                          "time": now_iso()}) + "\n")
            self.handle.flush()

    def __exit__(self, *exc: Any) -> None:
        if self.handle is not None:
            self.handle.close()


def _counts(removal: Removal) -> dict[str, int]:
    return {"files": len(removal.files), "directories": len(removal.directories),
            "files_skipped": len(removal.missing)}


def _failed(details: dict, removal: Removal, fault: TransferFault) -> ActionResult:
    details.update(_counts(removal))
    details.update(status="FAILED", is_ok=None, nice_status=None, nice_status_short_description=None,
                   fatal_error={"code": fault.code, "description": fault.description}, faults=1,
                   completion_time=now_iso(), subtasks_failed=details["subtasks_pending"],
                   subtasks_pending=0)
    return ActionResult("FAILED", details, display_status=fault.code)


def _task_document(body: dict, endpoint: str, items: int, opts: dict) -> dict:
    """``details`` of a delete action: a Transfer task document of type ``DELETE``, the fields
    of the Delete action provider's documented example in its order (no destination; the
    collection deleted from is the source)."""
    return {
        "DATA_TYPE": "task", "bytes_checksummed": 0, "bytes_transferred": 0,
        "canceled_by_admin": None, "canceled_by_admin_message": None, "command": "API 0.10",
        "completion_time": None, "deadline": body.get("deadline"), "delete_destination_extra": False,
        "destination_endpoint": None, "destination_endpoint_display_name": None,
        "destination_endpoint_id": None, "directories": 0, "effective_bytes_per_second": 0,
        "encrypt_data": False, "event_list": [], "fail_on_quota_errors": False, "fatal_error": None,
        "faults": 0, "files": 0, "files_skipped": 0, "files_transferred": 0, "filter_rules": None,
        "history_deleted": False, "is_ok": True, "is_paused": False, "label": body.get("label"),
        "nice_status": "Queued", "nice_status_details": None, "nice_status_expires_in": None,
        "nice_status_short_description": "Queued", "owner_id": None, "preserve_timestamp": False,
        "recursive_symlinks": None, "request_time": now_iso(), "skip_source_errors": False,
        "source_endpoint": endpoint, "source_endpoint_display_name": endpoint,
        "source_endpoint_id": endpoint, "status": "ACTIVE", "subtasks_canceled": 0,
        "subtasks_expired": 0, "subtasks_failed": 0, "subtasks_pending": items,
        "subtasks_retrying": 0, "subtasks_skipped_errors": 0, "subtasks_succeeded": 0,
        "subtasks_total": items, "symlinks": 0, "sync_level": None, "task_id": str(uuid.uuid4()),
        "type": "DELETE", "username": getpass_user(), "verify_checksum": False,
    }

