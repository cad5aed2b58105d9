"""The record of what pruning removed: one append-only JSON-lines file per experiment.

``<state_dir>/retention/deletions.jsonl`` gets a ``deleting`` line (what, where, which rule,
which runs made it) *before* anything of a target is removed, fsynced, and a ``deleted`` line
once it is gone (or ``submitted`` with the Transfer task's id on Globus, where the delete runs
as a Transfer task). A prune killed in the middle (``kill -9``) leaves each file of a target
either present or covered by that target's ``deleting`` line; the next prune finishes what
was begun before it chooses anything new (:meth:`Deletions.unfinished`). One prune at a time:
:meth:`Deletions.exclusive` holds an flock on the file's folder for the whole prune.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tomocupy_gladier.compute.disk_space import human
from tomocupy_gladier.errors import UserError
from tomocupy_gladier.tools.retention.config import describe

DELETING, DELETED, SUBMITTED = "deleting", "deleted", "submitted"


def deletions_path(state_dir: str | os.PathLike[str]) -> Path:
    """The experiment's deletion record (beside its other local state)."""
    return Path(state_dir) / "retention" / "deletions.jsonl"


@dataclass(frozen=True)
class Deletion:
    """One target of a prune: ``kind`` (the rule's name: raw, reconstruction, tries, published),
    ``rule`` (as written, ``"7d"``), ``collection`` and ``path`` (a Globus path on it),
    ``runs`` (the runs that made or used it, newest first), ``subject`` (a published
    record's search subject, when there is one), ``bytes`` (known size, or None), ``status``
    (``deleting``, ``deleted``, ``submitted``), ``began``/``ended`` (ISO times), ``files``,
    ``task_id`` (a Transfer delete task), ``note``."""

    id: str
    kind: str
    rule: str
    collection: str
    path: str
    runs: tuple[str, ...] = ()
    subject: str | None = None
    index: str | None = None
    bytes: int | None = None
    status: str = DELETING
    began: str = ""
    ended: str | None = None
    files: int | None = None
    task_id: str | None = None
    note: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        data = {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}
        data["extra"] = dict(self.extra)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Deletion:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        known["runs"] = tuple(known.get("runs") or ())
        known["extra"] = dict(known.get("extra") or {})
        return cls(**known)

    @property
    def done(self) -> bool:
        return self.status in (DELETED, SUBMITTED)

    def line(self) -> str:
        """This removal in words: what, where, its size, how it went, when, by which rule."""
        how = {DELETED: "removed", SUBMITTED: f"handed to Transfer delete task {self.task_id}",
               DELETING: "being removed (a prune was interrupted; the next one finishes it)"}
        size = f", {human(self.bytes)}" if self.bytes is not None else ""
        when = (self.ended or self.began)[:19].replace("T", " ")
        return (f"{describe(self.kind)} {self.path}{size}: {how.get(self.status, self.status)} "
                f"{when} by {self.kind} = \"{self.rule}\"")


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


class Deletions:
    """The deletion record of one experiment (:func:`deletions_path`)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def _append(self, data: Mapping[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(data, sort_keys=True) + "\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def entries(self) -> list[Deletion]:
        """Every target ever begun, each in its latest state, oldest first. A last line cut
        short by a kill is ignored (its target was not begun: nothing of it was removed)."""
        latest: dict[str, Deletion] = {}
        if not self.path.exists():
            return []
        for line in self.path.read_text().splitlines():
            try:
                data = json.loads(line)
            except json.JSONDecodeError:
                continue
            deletion = Deletion.from_dict(data)
            latest.pop(deletion.id, None)
            latest[deletion.id] = deletion
        return list(latest.values())

    def begin(self, deletion: Deletion) -> Deletion:
        """Record that ``deletion``'s target is about to be removed (before the first file)."""
        begun = Deletion.from_dict({**deletion.as_dict(), "id": deletion.id or str(uuid.uuid4()),
                                    "status": DELETING, "began": deletion.began or now_iso()})
        self._append(begun.as_dict())
        return begun

    def finish(self, deletion: Deletion, *, status: str = DELETED, files: int | None = None,
               bytes_removed: int | None = None, task_id: str | None = None, note: str | None = None) -> Deletion:
        """Record that ``deletion``'s target is gone (``deleted``), or handed to a Transfer
        delete task (``submitted``, with ``task_id``)."""
        ended = Deletion.from_dict({**deletion.as_dict(), "status": status, "ended": now_iso(),
                                    "files": files if files is not None else deletion.files,
                                    "bytes": bytes_removed if bytes_removed is not None else deletion.bytes,
                                    "task_id": task_id or deletion.task_id, "note": note or deletion.note})
        self._append(ended.as_dict())
        return ended

    def unfinished(self) -> list[Deletion]:
        """Targets begun and never finished: a prune was killed while removing them."""
        return [d for d in self.entries() if not d.done]

    def of_run(self, run_id: str) -> list[Deletion]:
        """What was removed of what ``run_id`` made or used (for its run page)."""
        return [d for d in self.entries() if run_id in d.runs]

    def removed(self) -> set[tuple[str, str]]:
        """(collection, path) of every target begun (removed, or being removed)."""
        return {(d.collection, d.path) for d in self.entries()}

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the experiment's prune lock; :class:`UserError` when another prune holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.parent / "prune.lock", "a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise UserError(f"another prune of this experiment is running (lock {handle.name}); "
                                "try again when it ends") from None
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
