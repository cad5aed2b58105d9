"""Watch a folder and start one flow run per newly completed scan.

A scan is complete when its marker file appears (``scan.h5.done`` by default), or when
it was closed after its last write (or renamed into place) and its size and mtime have
not changed for ``debounce`` seconds. Where the file system reports no close events
(network file systems, polling observers) ``require_close=False`` makes stability alone
enough. Each completed scan becomes a job in a ledger, so a scan touched again, a burst of
duplicate events or a restarted watcher never starts a second run.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from watchdog.events import (
    FileClosedEvent,
    FileCreatedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer

from tomocupy_gladier.campaign.manifest import Job
from tomocupy_gladier.campaign.runner import CampaignRunner

log = logging.getLogger(__name__)


@dataclass
class _Candidate:
    size: int = -1
    mtime: float = -1.0
    changed_at: float = 0.0
    closed: bool = False
    marked: bool = False


class ScanTracker:
    """Decide when files are complete, from file-system events and a clock (no threads)."""

    def __init__(self, pattern: str = "*.h5", *, debounce: float = 5.0, marker_suffix: str | None = ".done",
                 require_close: bool = True, clock: Callable[[], float] = time.monotonic) -> None:
        self.pattern = pattern
        self.debounce = debounce
        self.marker_suffix = marker_suffix
        self.require_close = require_close
        self.clock = clock
        self._candidates: dict[Path, _Candidate] = {}
        self._done: set[Path] = set()
        self._lock = threading.Lock()

    def matches(self, path: Path) -> bool:
        return fnmatch.fnmatch(path.name, self.pattern)

    def _marker_target(self, path: Path) -> Path | None:
        if self.marker_suffix and path.name.endswith(self.marker_suffix):
            target = path.with_name(path.name[: -len(self.marker_suffix)])
            return target if self.matches(target) else None
        return None

    def seen(self, path: str | os.PathLike[str], *, closed: bool = False, moved_in: bool = False) -> None:
        """A file was created, written, closed (``closed``) or renamed into place (``moved_in``)."""
        path = Path(path)
        with self._lock:
            target = self._marker_target(path)
            if target is not None:
                if target not in self._done:
                    self._candidates.setdefault(target, _Candidate(changed_at=self.clock())).marked = True
                return
            if not self.matches(path) or path in self._done:
                return
            candidate = self._candidates.setdefault(path, _Candidate(changed_at=self.clock()))
            if closed or moved_in:
                candidate.closed = True

    def forget(self, path: str | os.PathLike[str]) -> None:
        """The file went away (deleted or renamed elsewhere) before it was complete."""
        with self._lock:
            self._candidates.pop(Path(path), None)

    def complete(self) -> list[Path]:
        """Files that became complete since the last call (each one returned once)."""
        now = self.clock()
        ready = []
        with self._lock:
            for path, c in list(self._candidates.items()):
                try:
                    stat = path.stat()
                except FileNotFoundError:
                    del self._candidates[path]
                    continue
                if (stat.st_size, stat.st_mtime) != (c.size, c.mtime):
                    c.size, c.mtime, c.changed_at = stat.st_size, stat.st_mtime, now
                    if not c.marked:
                        continue
                if c.marked or ((c.closed or not self.require_close) and now - c.changed_at >= self.debounce):
                    ready.append(path)
                    del self._candidates[path]
                    self._done.add(path)
        return sorted(ready)


class _Handler(FileSystemEventHandler):
    def __init__(self, tracker: ScanTracker) -> None:
        self.tracker = tracker

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory:
            return
        if isinstance(event, FileMovedEvent):
            self.tracker.forget(os.fsdecode(event.src_path))
            self.tracker.seen(os.fsdecode(event.dest_path), moved_in=True)
        elif isinstance(event, FileClosedEvent):
            self.tracker.seen(os.fsdecode(event.src_path), closed=True)
        elif isinstance(event, (FileCreatedEvent, FileModifiedEvent)):
            self.tracker.seen(os.fsdecode(event.src_path))


class FolderWatcher:
    """Feed completed scans of ``folder`` to a campaign runner until :meth:`stop` (or Ctrl-C).

    ``params``: the parameters every scan is reconstructed with (on top of the experiment's).
    """

    def __init__(self, folder: str | os.PathLike[str], tracker: ScanTracker, runner: CampaignRunner, *,
                 params: Mapping[str, Any] | None = None, param_set: str = "watch", recursive: bool = False,
                 tick: float = 0.5, include_existing: bool = False,
                 on_scan: Callable[[Path, bool], None] | None = None) -> None:
        self.folder = Path(folder)
        self.tracker = tracker
        self.runner = runner
        self.params = dict(params or {})
        self.param_set = param_set
        self.recursive = recursive
        self.tick = tick
        self.include_existing = include_existing
        self.on_scan = on_scan
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def _existing(self) -> None:
        files = self.folder.rglob("*") if self.recursive else self.folder.iterdir()
        for path in files:
            if path.is_file():
                self.tracker.seen(path, closed=True)

    def _take(self, path: Path) -> None:
        job = Job(str(path.resolve()), self.param_set, self.params)
        added = self.runner.ledger.add_jobs([job])
        if added:
            self.runner.enqueue(added)
        log.info("scan %s complete (%s)", path, "queued" if added else "already in the ledger")
        if self.on_scan is not None:
            self.on_scan(path, bool(added))

    def run(self) -> None:
        """Watch until stopped; the observer thread is always stopped and joined on the way out."""
        if not self.folder.is_dir():
            raise NotADirectoryError(str(self.folder))
        with self.runner.guarded(), self.runner.ledger.exclusive():
            self._watch()

    def _watch(self) -> None:
        observer = Observer()
        observer.schedule(_Handler(self.tracker), str(self.folder), recursive=self.recursive)
        observer.start()
        try:
            self.runner.prepare()
            if self.include_existing:
                self._existing()
            while not self._stop.is_set():
                for path in self.tracker.complete():
                    self._take(path)
                wait = self.runner.step()
                self._stop.wait(self.tick if wait is None else min(self.tick, wait))
        finally:
            observer.stop()
            observer.join(timeout=5)
