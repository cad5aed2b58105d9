"""The sha256 of a reconstruction's files: taken from bytes already in hand, and checked against
the disk.

The reconstruction step hashes each file once, from the bytes it has anyway: the OME-Zarr's
chunks as they are encoded and written (:meth:`Digests.write_new`), tomocupy's TIFF slices as the
Zarr step reads them (:class:`StreamDigest`). A file it neither wrote nor read is read and hashed
for the manifest, on every core (:func:`manifest_entries`). Each digest is kept with the file's
identity when it was hashed (inode, size, modification time), and the manifest uses it only while
the file still has that identity: a file changed after it was hashed fails the step
(:class:`FileChanged`) rather than being listed with bytes it no longer has.

What makes a digest of bytes in hand a digest of the bytes on disk: a chunk is written into a new
file (``O_CREAT | O_EXCL``, never through an existing name or link) by one ``write`` loop that
checks every byte went out, in a staging folder no other process writes into; a slice is hashed
from the very bytes read from its file, header to end, the count checked against its size. What
can still differ afterwards (a disk that returns other bytes, someone writing into the folder) is
what :func:`verify_manifest` finds: it reads every file back and compares. Because the manifest's
digests were never taken from the disk after the fact, a file spoiled between its writing and
the manifest is caught too (a digest read back would have described the spoiled bytes).
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import pathlib
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

MANIFEST = "manifest.json"
BLOCK = 1 << 20  # bytes read at a time when a file must be read to be hashed


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity, e.g. under ``taskset`` or a batch
    job's binding), else the machine's count."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def sha256_of(path: pathlib.Path) -> str:
    """The sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def _identity(st: os.stat_result) -> tuple[int, int, int, int]:
    """What changes when a file's bytes are changed or replaced (a write moves the modification time)."""
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


@dataclass(frozen=True)
class Hashed:
    """A file's sha256 and size, and its identity when the bytes were hashed."""

    sha256: str
    bytes: int
    identity: tuple[int, int, int, int]


class FileChanged(RuntimeError):
    """A file changed after its bytes were hashed: something else writes into the folder."""


class Digests:
    """The digests of the files this step wrote or read whole, by path (thread-safe)."""

    def __init__(self) -> None:
        self._known: dict[pathlib.Path, Hashed] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._known)

    def add(self, path: pathlib.Path, sha256: str, st: os.stat_result) -> None:
        """Record ``sha256`` of all ``st.st_size`` bytes of ``path`` as they were when ``st`` was taken."""
        with self._lock:
            self._known[pathlib.Path(path)] = Hashed(sha256, st.st_size, _identity(st))

    def get(self, path: pathlib.Path) -> Hashed | None:
        with self._lock:
            return self._known.get(pathlib.Path(path))

    def write_new(self, path: pathlib.Path, data: bytes | bytearray | memoryview) -> int:
        """Write ``data`` into a new file at ``path`` (refused if the name exists) and record its
        sha256, taken from ``data`` itself; returns the size."""
        view = memoryview(data).cast("B")
        digest = hashlib.sha256(view).hexdigest()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o644)
        try:
            done = 0
            while done < len(view):
                done += os.write(fd, view[done:])
            st = os.fstat(fd)
        finally:
            os.close(fd)
        if st.st_size != len(view):
            raise OSError(f"{path}: {st.st_size} bytes on disk after writing {len(view)}")
        self.add(path, digest, st)
        return len(view)


class StreamDigest:
    """The sha256 of a file taken while it is read from start to end in pieces (the Zarr step's
    stripes of a TIFF slice); recorded in ``digests`` only if every byte was read, in order, and
    the file kept its identity while it was read."""

    def __init__(self, fd: int, path: pathlib.Path) -> None:
        self.fd, self.path = fd, path
        self.start = os.fstat(fd)
        self.digest = hashlib.sha256()
        self.position = 0  # the next byte expected
        self.broken = False

    def update(self, offset: int, data: bytes | bytearray | memoryview) -> None:
        """Bytes read at ``offset``; a piece out of order makes the digest unusable (the file is
        then hashed from the disk for the manifest)."""
        if offset != self.position:
            self.broken = True
            return
        self.digest.update(data)
        self.position += memoryview(data).nbytes

    def read_to(self, end: int) -> None:
        """Read and hash the bytes from where the stream is to ``end`` (a header, a tail)."""
        while not self.broken and self.position < end:
            piece = os.pread(self.fd, min(BLOCK, end - self.position), self.position)
            if not piece:
                raise OSError(f"{self.path}: shorter than its size")
            self.update(self.position, piece)

    def finish(self, digests: Digests) -> None:
        """Hash the rest of the file and record the digest, unless the stream was broken or the
        file changed while it was read."""
        if self.broken:
            return
        self.read_to(self.start.st_size)
        end = os.fstat(self.fd)
        if _identity(end) == _identity(self.start) and self.position == end.st_size:
            digests.add(self.path, self.digest.hexdigest(), self.start)


def manifest_entries(folder: pathlib.Path, files: Sequence[pathlib.Path], digests: Digests | None = None,
                     workers: int | None = None) -> list[dict]:
    """``{path, bytes, sha256}`` of each of ``files`` (paths relative to ``folder``): the digest in
    ``digests`` where the file is as it was hashed, else read from the disk, in a thread per core
    (hashlib releases the GIL). Raises :class:`FileChanged` for a file changed since it was hashed."""
    known: dict[pathlib.Path, Hashed] = {}
    unread = []
    for path in files:
        hashed = digests.get(path) if digests is not None else None
        if hashed is None:
            unread.append(path)
            continue
        now = os.stat(path)
        if _identity(now) != hashed.identity:
            raise FileChanged(f"{path} changed after its bytes were hashed ({hashed.bytes} bytes then, "
                              f"{now.st_size} now): something else writes into {folder}")
        known[path] = hashed

    def from_disk(path: pathlib.Path) -> Hashed:
        st = os.stat(path)
        return Hashed(sha256_of(path), st.st_size, _identity(st))

    with concurrent.futures.ThreadPoolExecutor(max_workers=workers or available_cores()) as pool:
        known.update(zip(unread, pool.map(from_disk, unread)))
    return [{"path": path.relative_to(folder).as_posix(), "bytes": known[path].bytes,
             "sha256": known[path].sha256} for path in files]


def files_under(folder: pathlib.Path) -> list[pathlib.Path]:
    """Every file below ``folder``, sorted (what a manifest lists)."""
    return sorted(p for p in folder.rglob("*") if p.is_file())


def verify_manifest(folder: pathlib.Path, workers: int | None = None, *, read: bool = True) -> list[str]:
    """Read every file of ``folder`` back and compare it with its ``manifest.json``: the problems
    found (a file missing, unlisted, of another size or with other bytes), none when all agree.
    Hashes on every core. ``read=False`` compares the names and sizes alone (a stat of each
    file, no byte read): whether the folder still holds what its manifest lists."""
    try:
        listed = json.loads((folder / MANIFEST).read_text())["files"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return [f"{folder / MANIFEST}: cannot be read as a manifest ({exc})"]
    expected = {str(e["path"]): e for e in listed}
    present = {p.relative_to(folder).as_posix(): p for p in files_under(folder)
               if p.relative_to(folder).as_posix() != MANIFEST}
    problems = [f"{name}: listed in the manifest, missing" for name in sorted(set(expected) - set(present))]
    problems += [f"{name}: not in the manifest" for name in sorted(set(present) - set(expected))]
    common = sorted(set(expected) & set(present))

    def check(name: str) -> str | None:
        entry, path = expected[name], present[name]
        size = path.stat().st_size
        if size != entry.get("bytes"):
            return f"{name}: {size} bytes, the manifest says {entry.get('bytes')}"
        if read and sha256_of(path) != entry.get("sha256"):
            return f"{name}: its sha256 differs from the manifest's (the bytes changed)"
        return None

    with concurrent.futures.ThreadPoolExecutor(max_workers=workers or available_cores()) as pool:
        problems += [p for p in pool.map(check, common) if p]
    return problems


def make_read_only(paths: Iterable[pathlib.Path]) -> None:
    """Take the write permission off finished files: what may be linked rather than copied
    (the local Transfer provider links a read-only file on the same filesystem)."""
    for path in paths:
        mode = os.stat(path).st_mode
        if mode & 0o222:
            os.chmod(path, mode & ~0o222)
