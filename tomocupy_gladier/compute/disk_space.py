"""Disk space where a run writes: how much is free, how much a reconstruction will take, and a
full disk told as one.

Three rules live here, for the endpoint and for everything that reuses them (the client's check
before a run starts, the local Transfer provider, a later prune or storage page):

- :func:`free_bytes`: the room a filesystem has for this user (``os.statvfs``'s available
  blocks, not the root-reserved ones), read at the nearest existing folder of a path. It is the
  one place free space is read, so a test can make a disk small by replacing it.
- :func:`reconstruction_bytes`: what one reconstruction writes, estimated from what tomocupy
  will produce (:class:`~tomocupy_gladier.compute.recon.Expected`: kind, format, slices and
  their width) and the OME-Zarr settings: float32 slices, the multiscale OME-Zarr at its
  measured stored ratio, compact exports, previews, logs and manifest.
- :func:`is_full` and :class:`DiskFull`: a write that failed because the filesystem (or the
  quota) is full is recognised (``ENOSPC``, ``EDQUOT``, or a short write on a filesystem with no
  room left: numpy's ``tofile``, which tifffile uses, reports a full disk as ``262144 requested
  and 227260 written`` without an errno) and reported in one sentence that starts with
  :data:`DISK_FULL` and names the path, the bytes free and the bytes needed.

This module imports only the standard library and :mod:`.multiscale`'s level rule (no client
code): the local backend's providers use it too.
"""

from __future__ import annotations

import errno
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Protocol

#: every message about a full disk starts so (the client recognises it and names the collection)
DISK_FULL = "the disk is full"
#: the errors a full filesystem or an exhausted quota raise
FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
#: a filesystem with less than this free after a failed write has no room left (a write of a
#: slice, a chunk or a buffer failed there): bytes
NO_ROOM = 1 << 20
# what a full disk looks like in a program's log: the OS messages of ENOSPC and EDQUOT, our own
# (tomocupy-cpu's), and numpy's short write (its tofile reports how much of a buffer it wrote,
# no errno)
_FULL_TEXT = re.compile(r"No space left on device|Disk quota exceeded|\[Errno (28|122)\]|" + DISK_FULL)
_SHORT_WRITE = re.compile(r"\b\d+ requested and \d+ written\b")

# Stored bytes of the OME-Zarr per byte of float32 slices, at each level: multiscale.py's Blosc
# lz4 + bit shuffle, measured on tomocupy-cpu reconstructions (benchmarks/bench_space.py prints
# it): at the finest level 0.78 on the demo's 32 x 512 x 512 volume and 0.74 on 64 x 1024 x 1024,
# 0.79 to 0.81 on the coarser levels. Rounded up: an estimate that refuses a run must refuse a
# run that fits by little, and let none start that cannot fit.
ZARR_STORED_RATIO = 0.85
#: bytes a TIFF slice holds besides its pixels (tifffile's header and tags: 272 measured)
TIFF_OVERHEAD = 1024
#: a run's log, manifest.json and rec_line.txt: bytes per file written, plus a fixed part
MANIFEST_PER_FILE = 200
LOGS_AND_MANIFEST = 1 << 20
PREVIEW_SIDE = 1024  # previews.py's default largest side of a section


def existing_folder(path: str | os.PathLike[str]) -> Path:
    """``path`` or its nearest existing parent (where a run's folders will be made)."""
    here = Path(path).absolute()
    while not here.exists() and here != here.parent:
        here = here.parent
    return here if here.is_dir() else here.parent


def free_bytes(path: str | os.PathLike[str]) -> int:
    """Bytes this user may still write on the filesystem that holds ``path`` (or will hold it:
    its nearest existing folder is read)."""
    stats = os.statvfs(existing_folder(path))
    return int(stats.f_bavail) * int(stats.f_frsize)


def same_filesystem(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Whether ``a`` and ``b`` (or their nearest existing folders) are on one filesystem."""
    return os.stat(existing_folder(a)).st_dev == os.stat(existing_folder(b)).st_dev


def human(count: float) -> str:
    """A byte count as people read it: ``227 kB``, ``63.5 MB``, ``8.6 GB`` (powers of 1000, as
    ``df -H`` and Globus print them)."""
    count = float(count)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(count) < 1000 or unit == "TB":
            if unit == "B":
                return f"{int(count)} B"
            return f"{count:.1f} {unit}" if abs(count) < 100 else f"{count:.0f} {unit}"
        count /= 1000
    raise AssertionError("unreachable")


def previews_bytes(kind: str, side: int = PREVIEW_SIDE) -> int:
    """At most what the previews step writes for a reconstruction whose sections are ``side``
    px (8-bit RGB PNGs never much larger than their pixels; sections at most 1024 px): a full
    one's ``xy``, ``xz``, ``yz``, a try's montage (crops, focus plots, overview) and each crop
    alone; and their copy kept beside the run's log."""
    if kind == "try":  # the montage is about 1150 x 670 px for the default 7 crops and 12 tiles
        once = (1200 * 1200 + 1200 * 150) * 3 + 8 * 160 * 160
    else:
        once = 3 * side * side * 3
    return 2 * once


class DiskFull(OSError):
    """A write failed because its filesystem (or the user's quota there) is full.

    ``str()`` is one sentence: :data:`DISK_FULL`, what was being written and where, the bytes
    free and the bytes needed. ``free`` and ``needed`` are bytes (``needed`` None when unknown).
    """

    def __init__(self, path: str | os.PathLike[str], free: int, needed: int | None,
                 what: str = "writing", quota: bool = False) -> None:
        self.path, self.free, self.needed, self.what, self.quota = str(path), free, needed, what, quota
        super().__init__(errno.EDQUOT if quota else errno.ENOSPC, self.describe())

    def describe(self) -> str:
        cause = " (the quota there is used up)" if self.quota else ""
        figures = f"{human(self.free)} free now"
        if self.needed is not None:
            figures = f"{human(self.needed)} needed, {figures}"
        return f"{DISK_FULL}: {self.what} {self.path}{cause}: {figures}"

    def __str__(self) -> str:
        return self.describe()

    def __reduce__(self) -> tuple[Any, ...]:  # crosses processes (Compute results, the local worker)
        return (DiskFull, (self.path, self.free, self.needed, self.what, self.quota))


def _chain(exc: BaseException | None) -> list[BaseException]:
    """``exc`` and the errors it was raised from or while handling, each once."""
    found: list[BaseException] = []
    while exc is not None and all(exc is not seen for seen in found):
        found.append(exc)
        exc = exc.__cause__ or exc.__context__
    return found


def is_full(exc: BaseException | None, path: str | os.PathLike[str] | None = None, *,
            text: str = "", no_room: bool = False) -> bool:
    """Whether a failure (``exc``, and/or a program's log ``text``) was a full disk: an
    ``ENOSPC``/``EDQUOT`` error, those errors' messages in the text, or a short write (numpy's
    ``N requested and M written``) while the filesystem of ``path`` has less than
    :data:`NO_ROOM` free. With ``no_room``, a filesystem of ``path`` with less than that free
    is enough (a program that swallows its writer's errors, as tomocupy does, and leaves files
    missing on a full disk)."""
    for error in _chain(exc):
        if isinstance(error, DiskFull) or (isinstance(error, OSError) and error.errno in FULL_ERRNOS):
            return True
        text += f"\n{error}"
    if _FULL_TEXT.search(text):
        return True
    if (no_room or _SHORT_WRITE.search(text)) and path is not None:
        return free_bytes(path) < NO_ROOM
    return False


def is_quota(exc: BaseException | None, text: str = "") -> bool:
    """Whether a full-disk failure was the quota (``EDQUOT``) rather than the filesystem."""
    for error in _chain(exc):
        if isinstance(error, OSError) and error.errno == errno.EDQUOT:
            return True
        text += f"\n{error}"
    return "Disk quota exceeded" in text or "[Errno 122]" in text


def full_disk(exc: BaseException | None, path: str | os.PathLike[str], needed: int | None,
              what: str = "writing", text: str = "") -> DiskFull | None:
    """The :class:`DiskFull` to raise instead of ``exc`` when it was a full disk (see
    :func:`is_full`), with the free bytes of ``path``'s filesystem now; None otherwise."""
    if not is_full(exc, path, text=text):
        return None
    if isinstance(exc, DiskFull) and needed is None:
        needed = exc.needed
    return DiskFull(path, free_bytes(path), needed, what, quota=is_quota(exc, text))


# ------------------------------------------------------------------ what a reconstruction takes


class Reconstruction(Protocol):
    """What :func:`reconstruction_bytes` reads of :class:`~tomocupy_gladier.compute.recon.Expected`."""

    kind: str         # "full" or "try"
    save_format: str  # "tiff" (try runs always), "h5", "zarr"
    n: int            # the slices' width and height (after binning)
    nz: int           # slices of a full reconstruction
    count: int        # files of a TIFF reconstruction (slices, or try candidates)
    standard: bool    # float32 standard slices (the OME-Zarr is made only of those)


@dataclass(frozen=True)
class SpaceNeeded:
    """Bytes a run will write on one filesystem, by part (``(name, bytes)``, in order)."""

    parts: tuple[tuple[str, int], ...]

    @property
    def total(self) -> int:
        return sum(size for _, size in self.parts)

    def __add__(self, other: "SpaceNeeded") -> "SpaceNeeded":
        return SpaceNeeded(self.parts + other.parts)

    def describe(self) -> str:
        """``slices 33.6 MB, OME-Zarr 28.5 MB, previews 6.3 MB, ...``: the parts that are not 0."""
        return ", ".join(f"{name} {human(size)}" for name, size in self.parts if size)


def reconstruction_bytes(expected: Reconstruction, zarr: Mapping[str, Any] | None = None,
                         params: Mapping[str, Any] | None = None) -> SpaceNeeded:
    """The bytes one reconstruction writes where it is made (staging, then swapped in: the
    previous result stays until then, so all of it is new room), estimated from ``expected``
    (:func:`~tomocupy_gladier.compute.recon.expected_output`) and ``zarr`` (the
    ``tomocupy.zarr`` settings, :func:`~tomocupy_gladier.compute.multiscale.zarr_options`).

    Parts: the slices (try candidates, or one HDF5 volume) in tomocupy's ``dtype`` of ``params``
    (float32, or float16); for a
    full float32 TIFF volume with the OME-Zarr on, the OME-Zarr (every level at
    :data:`ZARR_STORED_RATIO`) and its compact exports; the previews (each section at most
    1024 px a side, 8-bit, and their copy kept beside the run's log); logs and manifest.
    """
    from tomocupy_gladier.compute.multiscale import level_shapes

    voxels = expected.n * expected.n
    dtype_bytes = 2 if str((params or {}).get("dtype") or "float32") == "float16" else 4
    if expected.kind == "try" or expected.save_format == "tiff":
        files = expected.count
        slices = files * (voxels * dtype_bytes + TIFF_OVERHEAD)
    else:
        files = 1
        slices = expected.nz * voxels * dtype_bytes
    parts = [("try slices" if expected.kind == "try" else "slices", slices)]
    settings = dict(zarr or {})
    if (settings.get("enable", True) and expected.kind == "full" and expected.save_format == "tiff"
            and expected.standard):
        levels = sum(math.prod(shape) for shape in level_shapes((expected.nz, expected.n, expected.n)))
        stored = levels * 4 * ZARR_STORED_RATIO
        parts.append(("OME-Zarr", int(stored)))
        exports = sum({"uint8": 1, "uint16": 2}.get(str(d), 4) for d in settings.get("exports") or ())
        if exports:
            parts.append(("OME-Zarr exports", int(stored * exports / 4)))
    parts.append(("previews", previews_bytes(expected.kind, min(expected.n, PREVIEW_SIDE))))
    parts.append(("logs and manifest", LOGS_AND_MANIFEST + files * MANIFEST_PER_FILE))
    return SpaceNeeded(tuple(parts))

