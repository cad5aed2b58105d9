"""The Transfer action provider, served from local folders.

Each collection UUID maps to a root folder; a Globus path (``/a/b`` or ``/~/a/b``) is resolved
inside it and may not escape it (symbolic links included). Every file lands atomically: it is
written under a temporary ``.<name>.part-<id>`` name in its destination folder, checked, then
renamed; a transfer that fails or times out removes its temporary files, so a file at its
final name is always complete, and a file already at that name is replaced, never written
into. A read-only source on the destination's filesystem (a finished result: the reconstruction
step makes its files read-only) is hard-linked: no bytes are copied, and since nothing ever writes
into such a file, the two names keep the same bytes until one is replaced. Any other source on a
filesystem with reflinks is a reflink (no data written), elsewhere a copy of its bytes.
"""

from __future__ import annotations

import concurrent.futures
import errno
import hashlib
import os
import shutil
import sys
import threading
import time
import uuid
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Mapping

from tomocupy_gladier.action_urls import TRANSFER_URL
from tomocupy_gladier.compute.disk_space import DiskFull, free_bytes, is_full, is_quota

from ..actions import ActionRequest, ActionResult
from ..errors import ActionTimeout, InvalidRequest, request_object
from ..timestamps import now_iso

# the ioctl that makes a file a reflink (copy-on-write) copy of another, from linux/fs.h
_FICLONE = 0x40049409
# a clone the filesystem cannot make (then the bytes are copied)
_NO_CLONE = {errno.EOPNOTSUPP, errno.ENOTTY, errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EPERM}

# the Transfer API's sync levels, as integers (what the Transfer AP takes, and globus-sdk sends)
SYNC_LEVELS = {"exists": 0, "size": 1, "mtime": 2, "checksum": 3}
_BODY_KEYS = {
    "source_endpoint", "source_endpoint_id", "destination_endpoint", "destination_endpoint_id",
    "DATA", "transfer_items", "label", "sync_level", "verify_checksum", "preserve_timestamp",
    "encrypt_data", "delete_destination_extra", "deadline", "skip_source_errors",
    "fail_on_quota_errors", "notify_on_succeeded", "notify_on_failed", "notify_on_inactive",
    "store_base_path_info", "filter_rules", "skip_activation_check", "source_local_user",
    "destination_local_user",
}
_ITEM_KEYS = {"source_path", "destination_path", "recursive", "external_checksum",
              "checksum_algorithm", "DATA_TYPE"}


class TransferFault(Exception):
    """A transfer that cannot complete; ``code`` mimics Transfer's fatal error codes."""

    def __init__(self, code: str, description: str) -> None:
        super().__init__(description)
        self.code, self.description = code, description


@dataclass
class _File:
    src: Path
    dst: Path
    size: int


class TransferProvider:
    """Copies between local collection folders.

    :param collections: collection UUID -> root folder
    :param chunk_size: bytes copied between two deadline checks
    :param parallel: files copied at the same time
    :param fsync: flush each copy to disk before renaming it
    """

    def __init__(self, collections: Mapping[str, str | os.PathLike],
                 chunk_size: int = 8 << 20, fsync: bool = False, parallel: int = 4,
                 consent: Any = None) -> None:
        self.collections = {str(k).lower(): Path(v) for k, v in collections.items()}
        # a ConsentGate (local/consent.py): a collection without its data_access consent makes
        # the run INACTIVE until the consent is given and the run resumed, as on Flows
        self.consent = consent
        self.chunk_size = chunk_size
        self.parallel = max(1, parallel)
        # The temporary-name-then-rename protocol already protects against a killed process;
        # fsync adds protection against power loss, at about a third of the copy time.
        self.fsync = fsync

    # ---------------------------------------------------------------- public

    def resolve(self, collection: str, path: str) -> Path:
        """Local path of ``path`` on ``collection``.

        :raises TransferFault: unknown collection, or a path outside the collection root
        """
        root = self.collections.get(str(collection).lower())
        if root is None:
            raise TransferFault("ENDPOINT_NOT_FOUND",
                                f"collection {collection} is not configured on this machine")
        if not isinstance(path, str) or not path:
            raise TransferFault("INVALID_PATH", f"invalid path {path!r}")
        rel = path.lstrip("/")
        if rel == "~" or rel.startswith("~/"):
            rel = rel[1:].lstrip("/")
        real_root = root.resolve()
        local = (real_root / rel).resolve()
        if local != real_root and real_root not in local.parents:
            raise TransferFault(
                "PERMISSION_DENIED",
                f"path {path!r} escapes the root of collection {collection} ({root})",
            )
        return local

    def __call__(self, request: ActionRequest) -> ActionResult:
        body = request.body
        items, opts = self._check_body(body)
        if self.consent is not None:
            self.consent.wait(request, [body.get("source_endpoint", body.get("source_endpoint_id")),
                                        body.get("destination_endpoint", body.get("destination_endpoint_id"))])
        details = _task_document(body, opts, len(items))
        stats = {"files": 0, "directories": 0, "files_skipped": 0, "files_transferred": 0,
                 "bytes_transferred": 0, "bytes_checksummed": 0}
        started = time.monotonic()
        plans: list[tuple[list[_File], list[Path]]] = []
        try:
            plans = [self._plan(opts, item) for item in items]
            for item, (files, dirs) in zip(items, plans):
                stats["files"] += len(files)
                stats["directories"] += len(dirs)
                for d in dirs:
                    d.mkdir(parents=True, exist_ok=True)
                self._copy_all(files, opts, request, details["task_id"], stats)
                if body.get("delete_destination_extra") and item.get("recursive"):
                    _delete_extra(dirs[0], {f.dst for f in files}, set(dirs))
        except OSError as exc:
            fault = TransferFault("PERMISSION_DENIED" if isinstance(exc, PermissionError)
                                  else "IO_ERROR", str(exc))
            if is_full(exc, self.resolve(opts["destination"], "/")):
                fault = _no_space(exc, opts["destination"], self.resolve(opts["destination"], "/"), 0)
            return self._failed(details, stats, fault)
        except TransferFault as fault:
            if fault.code in _NO_SPACE_CODES and isinstance(fault.__cause__, OSError):
                # the whole task's bytes still to copy, not only the file that failed
                left = sum(f.size for files, _ in plans for f in files) - stats["bytes_transferred"]
                fault = _no_space(fault.__cause__, opts["destination"], Path(fault.description), left)
            return self._failed(details, stats, fault)
        except ActionTimeout as timeout:
            # the task stays ACTIVE at Transfer; its last poll is what Flows reports
            details.update(stats, nice_status="Queued",
                           nice_status_short_description=timeout.cause)
            raise ActionTimeout(timeout.cause, details) from None
        elapsed = max(time.monotonic() - started, 1e-6)
        details.update(stats)
        details.update(
            status="SUCCEEDED", completion_time=now_iso(), is_ok=None, nice_status=None,
            nice_status_short_description=None,
            subtasks_succeeded=len(items), subtasks_pending=0,
            effective_bytes_per_second=int(stats["bytes_transferred"] / elapsed),
        )
        return ActionResult("SUCCEEDED", details)

    # ---------------------------------------------------------------- internals

    @staticmethod
    def _failed(details: dict, stats: dict, fault: TransferFault) -> ActionResult:
        details.update(stats)
        details.update(
            status="FAILED", is_ok=None, nice_status=None,
            nice_status_short_description=None,
            fatal_error={"code": fault.code, "description": fault.description},
            faults=1, completion_time=now_iso(), subtasks_failed=details["subtasks_pending"],
            subtasks_pending=0,
        )
        return ActionResult("FAILED", details, display_status=fault.code)

    def _check_body(self, body: Any) -> tuple[list[dict], dict]:
        request_object(body, _BODY_KEYS, "a transfer request")
        source = body.get("source_endpoint", body.get("source_endpoint_id"))
        destination = body.get("destination_endpoint", body.get("destination_endpoint_id"))
        if not isinstance(source, str) or not isinstance(destination, str):
            raise InvalidRequest("source_endpoint and destination_endpoint are required strings")
        items = body.get("DATA", body.get("transfer_items"))
        if not isinstance(items, list) or not items:
            raise InvalidRequest("DATA must be a non-empty list of transfer items")
        for i, item in enumerate(items):
            request_object(item, _ITEM_KEYS, f"DATA[{i}]")
            for key in ("source_path", "destination_path"):
                if not isinstance(item.get(key), str):
                    raise InvalidRequest(f"DATA[{i}].{key} must be a string")
            if not isinstance(item.get("recursive", False), bool):
                raise InvalidRequest(f"DATA[{i}].recursive must be a boolean")
        sync = body.get("sync_level")
        # the Transfer API's integers only (0 exists, 1 size, 2 mtime, 3 checksum): the form the
        # AP documents and globus-sdk sends (tests/fixtures/action_providers/SOURCES.md)
        if sync is not None and (isinstance(sync, bool) or sync not in SYNC_LEVELS.values()):
            raise InvalidRequest(f"sync_level {sync!r} must be one of 0, 1, 2, 3 (the Transfer API's "
                                 "integers: exists, size, mtime, checksum)")
        return items, {
            "source": source, "destination": destination, "sync_level": sync,
            "verify_checksum": bool(body.get("verify_checksum", True)),
            "preserve_timestamp": bool(body.get("preserve_timestamp", False)),
        }

    def _plan(self, opts: dict, item: dict) -> tuple[list[_File], list[Path]]:
        src = self.resolve(opts["source"], item["source_path"])
        dst = self.resolve(opts["destination"], item["destination_path"])
        recursive = item.get("recursive", False)
        if not src.exists():
            raise TransferFault("FILE_NOT_FOUND",
                                f"source {item['source_path']} does not exist on {opts['source']}")
        if src.is_dir():
            if not recursive:
                raise TransferFault("IS_A_DIRECTORY",
                                    f"source {item['source_path']} is a directory: "
                                    "set recursive to true")
            files, dirs = [], [dst]
            for dirpath, dirnames, filenames in os.walk(src):
                dirnames.sort()
                rel = Path(dirpath).relative_to(src)
                dirs.extend(dst / rel / d for d in dirnames)
                for name in sorted(filenames):
                    path = Path(dirpath) / name
                    if not path.is_file():
                        continue
                    files.append(_File(path, dst / rel / name, path.stat().st_size))
            return files, dirs
        if recursive:
            raise TransferFault("NOT_A_DIRECTORY",
                                f"source {item['source_path']} is a file: set recursive to false")
        if dst.is_dir():
            raise TransferFault("IS_A_DIRECTORY",
                                f"destination {item['destination_path']} is an existing directory")
        return [_File(src, dst, src.stat().st_size)], [dst.parent]

    def _skip(self, f: _File, level: int | None) -> bool:
        if level is None or not f.dst.is_file():
            return False
        if level == 0:
            return True
        if level == 3 and os.path.samefile(f.src, f.dst):
            return True  # the destination is a link to the source already
        if level == 3 and _linkable(f.src):
            return False  # a link costs less than the checksums that could skip it
        dst_stat = f.dst.stat()
        if dst_stat.st_size != f.size:
            return False
        if level == 1:
            return True
        if level == 2:
            return int(dst_stat.st_mtime) >= int(f.src.stat().st_mtime)
        return _digest(f.src) == _digest(f.dst)

    def _copy_all(self, files: list[_File], opts: dict, request: ActionRequest, task_id: str,
                  stats: dict) -> None:
        """Copy (or skip, by ``sync_level``) every file, a few at a time as Transfer does:
        reading, CRC32 and writing release the GIL, so a folder of 2000 slices goes faster.
        The first failure stops the rest and is raised."""
        lock = threading.Lock()

        def one(f: _File) -> None:
            if self._skip(f, opts["sync_level"]):
                with lock:
                    stats["files_skipped"] += 1
                return
            self._copy(f, opts, request, task_id, stats, lock)

        if len(files) < 2:
            for f in files:
                one(f)
            return
        with concurrent.futures.ThreadPoolExecutor(max_workers=self.parallel) as pool:
            futures = [pool.submit(one, f) for f in files]
            try:
                for future in futures:
                    future.result()
            finally:
                for future in futures:
                    future.cancel()

    def _copy(self, f: _File, opts: dict, request: ActionRequest, task_id: str,
              stats: dict, lock: threading.Lock | None = None) -> None:
        tmp = f.dst.parent / f".{f.dst.name}.part-{task_id[:8]}"
        crc = 0

        def check_deadline() -> None:
            if request.remaining() < 0:
                raise ActionTimeout(f"transfer passed its {request.wait_time:g} s WaitTime while "
                                    f"copying {f.src.name}")

        if _linkable(f.src) and _link(f.src, tmp):
            # the same bytes by construction: nothing to verify, and the times are the source's
            try:
                os.replace(tmp, f.dst)
            except OSError as exc:
                tmp.unlink(missing_ok=True)
                raise TransferFault("PERMISSION_DENIED" if isinstance(exc, PermissionError)
                                    else "IO_ERROR", f"linking {f.src.name}: {exc}") from None
            with lock or threading.Lock():
                stats["files_transferred"] += 1
                stats["bytes_transferred"] += f.size
            return
        try:
            with open(f.src, "rb") as fin, open(tmp, "wb") as fout:
                check_deadline()
                cloned = _clone(fin, fout)
                # a clone holds the data already: the source is read only for its checksum
                while not cloned or opts["verify_checksum"]:
                    check_deadline()
                    chunk = fin.read(self.chunk_size)
                    if not chunk:
                        break
                    if not cloned:
                        fout.write(chunk)
                    crc = zlib.crc32(chunk, crc)
                if self.fsync:
                    fout.flush()
                    os.fsync(fout.fileno())
            if opts["verify_checksum"]:
                # Re-read what was written and compare with what was read: a cheap CRC
                # suffices to catch a bad copy (sync_level "checksum" uses SHA-1).
                if _crc32(tmp) != crc:
                    raise TransferFault("CHECKSUM_MISMATCH",
                                        f"checksum of the copy of {f.src.name} does not match")
            if opts["preserve_timestamp"]:
                st = f.src.stat()
                os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns))
            os.replace(tmp, f.dst)
        except OSError as exc:
            if is_full(exc, f.dst.parent):  # free space is read once the partial copy is gone
                tmp.unlink(missing_ok=True)
                raise TransferFault(_NO_SPACE_CODES[is_quota(exc)], str(f.dst.parent)) from exc
            raise TransferFault("PERMISSION_DENIED" if isinstance(exc, PermissionError)
                                else "IO_ERROR", f"copying {f.src.name}: {exc}") from None
        finally:
            if tmp.exists():
                tmp.unlink()
        with lock or threading.Lock():
            stats["files_transferred"] += 1
            stats["bytes_transferred"] += f.size
            if opts["verify_checksum"]:
                stats["bytes_checksummed"] += f.size


def _linkable(path: Path) -> bool:
    """Whether ``path`` is a finished file that may be hard-linked rather than copied: no one may
    write it (its writer took the write permission off; nothing of this project writes into a
    file, it replaces it)."""
    try:
        return not os.stat(path).st_mode & 0o222
    except OSError:
        return False


def _link(src: Path, tmp: Path) -> bool:
    """Hard-link ``src`` at ``tmp``: True when done, False where it cannot be (another
    filesystem, a filesystem without hard links, too many links): then it is copied."""
    try:
        os.link(src, tmp)
    except OSError as exc:
        if exc.errno in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.EOPNOTSUPP, errno.ENOSYS):
            return False
        raise
    return True


# Transfer's event codes of a full destination (docs.globus.org/api/transfer/task_events and
# the Transfer team's list of codes): by ``is_quota``. Transfer retries them unless the task has
# ``fail_on_quota_errors``; here the task fails at once, as on every I/O error of this provider.
_NO_SPACE_CODES = ("NO_SPACE_LEFT", "QUOTA_EXCEEDED")


def _no_space(exc: OSError, collection: str, folder: Path, needed: int) -> TransferFault:
    """The fault of a copy that found its destination's filesystem (or quota) full: the
    collection, the folder, the bytes the task still needed and the bytes free now."""
    full = DiskFull(folder, free_bytes(folder), needed or None, f"copying into collection {collection} at",
                    quota=is_quota(exc))
    return TransferFault(_NO_SPACE_CODES[full.quota], str(full))


def _clone(fin: BinaryIO, fout: BinaryIO) -> bool:
    """Make ``fout`` (a new, empty file) a reflink copy of ``fin`` (Linux ``FICLONE``): the
    two share their blocks until either is written, when the filesystem copies the changed ones
    (copy on write), so the copy is independent and costs no data written. True when done;
    False where the filesystem cannot (another filesystem, or one without reflinks, as ext4):
    then the caller copies the bytes. A file that may still be written is never hard-linked: a
    change of one would change both (``_linkable``)."""
    if not sys.platform.startswith("linux") or \
            os.fstat(fin.fileno()).st_dev != os.fstat(fout.fileno()).st_dev:
        return False
    import fcntl

    try:
        fcntl.ioctl(fout.fileno(), _FICLONE, fin.fileno())
    except OSError as exc:
        if exc.errno in _NO_CLONE:
            return False
        raise
    return True


def _delete_extra(root: Path, keep_files: set[Path], keep_dirs: set[Path]) -> None:
    """``delete_destination_extra`` of a recursive item: what the destination folder holds
    and the source does not is removed, so it mirrors the source."""
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        here = Path(dirpath)
        for name in filenames:
            if here / name not in keep_files:
                (here / name).unlink()
        for name in dirnames:
            if here / name not in keep_dirs:
                shutil.rmtree(here / name, ignore_errors=True)


def _task_document(body: dict, opts: dict, items: int) -> dict:
    """``details`` of a transfer action: a Transfer task document (``GET /task/<id>``), the
    fields Transfer returns, in its order, set as this local copy knows them."""
    return {
        "bytes_checksummed": 0, "bytes_transferred": 0,
        "canceled_by_admin": None, "canceled_by_admin_message": None, "command": "API 0.10",
        "completion_time": None, "deadline": body.get("deadline"),
        "delete_destination_extra": bool(body.get("delete_destination_extra", False)),
        "destination_endpoint": opts["destination"],
        "destination_endpoint_display_name": opts["destination"],
        "destination_endpoint_id": opts["destination"],
        "directories": 0, "effective_bytes_per_second": 0,
        "encrypt_data": bool(body.get("encrypt_data", False)),
        "fail_on_quota_errors": bool(body.get("fail_on_quota_errors", False)),
        "fatal_error": None, "faults": 0, "files": 0, "files_skipped": 0,
        "files_transferred": 0, "filter_rules": body.get("filter_rules"),
        "history_deleted": False, "is_ok": True, "is_paused": False,
        "label": body.get("label"), "nice_status": "Queued", "nice_status_details": None,
        "nice_status_expires_in": None, "nice_status_short_description": "Queued",
        "owner_id": None,
        "preserve_timestamp": opts["preserve_timestamp"], "recursive_symlinks": "ignore",
        "request_time": now_iso(),
        "skip_source_errors": bool(body.get("skip_source_errors", False)),
        "source_endpoint": opts["source"], "source_endpoint_display_name": opts["source"],
        "source_endpoint_id": opts["source"], "status": "ACTIVE",
        "subtasks_canceled": 0, "subtasks_expired": 0, "subtasks_failed": 0,
        "subtasks_pending": items, "subtasks_retrying": 0, "subtasks_skipped_errors": 0,
        "subtasks_succeeded": 0, "subtasks_total": items, "symlinks": 0,
        "sync_level": opts["sync_level"], "task_id": str(uuid.uuid4()), "type": "TRANSFER",
        "username": getpass_user(), "verify_checksum": opts["verify_checksum"],
    }


def getpass_user() -> str:
    """The local user name (Transfer reports the owner's ``u_...`` username)."""
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # no user database entry (containers)
        return "local"


def _digest(path: Path) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(8 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _crc32(path: Path) -> int:
    crc = 0
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(8 << 20), b""):
            crc = zlib.crc32(chunk, crc)
    return crc
