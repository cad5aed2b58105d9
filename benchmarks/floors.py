"""The floors of the flow's own work on this machine: what reading, writing, Blosc, sha256, the
2 x 2 x 2 mean and a hard link cost here, measured in the benchmark's own run on the same bytes
(a sample of the reconstruction's slices and of its OME-Zarr's chunks), one thread each.

A step's floor is the time its bytes take at these speeds, on one core and spread evenly over
all of them: the OME-Zarr step must read the slices, hash them, halve and Blosc-encode every
level, hash the chunks and write them; it cannot do less. ``bench_zarr`` and ``bench_scale``
print each time beside its floor and the ratio.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SAMPLE = 512 << 20  # bytes of slices (and as many of chunks) measured, spread over the volume


@dataclass
class Floors:
    """Bytes per second of one thread for each kind of work, and seconds per hard link."""

    read: float
    write: float  # new files the size of the chunks (the Zarr step's writes), into the page cache
    write_large: float  # one large new file (a copy's writes), into the page cache
    disk: float  # the disk's sustained write bandwidth (a file written and fsync'd)
    dirty_limit: float  # bytes the page cache holds unwritten before writers wait for the disk
    blosc: float
    sha256: float
    halve: float
    link: float
    cores: int
    sampled: dict[str, float] = field(default_factory=dict)

    def zarr_step(self, volume_bytes: float, chunk_bytes: float, hashing: bool = True) -> tuple[float, float]:
        """The OME-Zarr step's floor in seconds (one core, all cores) for a volume of
        ``volume_bytes`` written as ``chunk_bytes`` of chunks (every level): the slices read,
        every level halved and Blosc-encoded (8/7 of the volume), the chunks written and, with
        ``hashing``, the slices and the chunks hashed; on all cores, no less than the disk needs
        for what the page cache cannot hold (:meth:`disk_bound`)."""
        levels = volume_bytes * 8 / 7
        one = volume_bytes / self.read + levels / self.halve + levels / self.blosc + chunk_bytes / self.write
        if hashing:
            one += (volume_bytes + chunk_bytes) / self.sha256
        return one, max(one / self.cores, self.disk_bound(chunk_bytes))

    def disk_bound(self, nbytes: float) -> float:
        """Seconds the disk needs at least for ``nbytes`` written: the page cache takes up to its
        dirty limit without waiting (if nothing else is waiting to be written), the rest goes at
        the disk's sustained speed."""
        return max(0.0, nbytes - self.dirty_limit) / self.disk

    def copy(self, nbytes: float) -> float:
        """A copy's floor (read, write into one large file) on one core, or the disk's."""
        return max(nbytes / self.read + nbytes / self.write_large, self.disk_bound(nbytes))

    def describe(self) -> str:
        return (f"read {self.read / 1e9:.2f} GB/s, write {self.write / 1e9:.2f} GB/s in chunk files "
                f"({self.write_large / 1e9:.2f} GB/s in one file), Blosc {self.blosc / 1e9:.2f} GB/s, "
                f"sha256 {self.sha256 / 1e9:.2f} GB/s, 2x2x2 mean {self.halve / 1e9:.2f} GB/s (one thread each), "
                f"hard link {self.link * 1e6:.0f} us; the disk {self.disk / 1e6:.0f} MB/s sustained (fsync'd), "
                f"{self.dirty_limit / 1e9:.1f} GB of unwritten data before writers wait for it; {self.cores} cores")


def dirty_limit() -> float:
    """The page cache's limit of unwritten bytes (Linux ``vm.dirty_bytes``, else
    ``vm.dirty_ratio`` of the available memory), past which writers wait for the disk."""
    def read(name: str) -> int:
        try:
            return int(Path(f"/proc/sys/vm/{name}").read_text())
        except (OSError, ValueError):
            return 0
    if read("dirty_bytes"):
        return float(read("dirty_bytes"))
    try:
        available = next(int(line.split()[1]) * 1024 for line in Path("/proc/meminfo").read_text().splitlines()
                         if line.startswith("MemAvailable:"))
    except (OSError, StopIteration, ValueError):
        return float("inf")
    return available * (read("dirty_ratio") or 20) / 100


def _timed(work) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def measure(slices: list[Path], chunk_files: list[Path], scratch: Path, cores: int | None = None) -> Floors:
    """The floors measured on a sample of ``slices`` (TIFFs of one float32 volume, all of one
    size) and of ``chunk_files`` (the OME-Zarr's chunks); ``scratch`` is a folder on the same
    filesystem, emptied afterwards."""
    import numcodecs
    import tifffile

    from tomocupy_gladier.compute.checksums import available_cores
    from tomocupy_gladier.compute.multiscale import DEFAULT_CHUNKS, halve

    cores = cores or available_cores()
    size = slices[0].stat().st_size
    count = min(len(slices), max(16, SAMPLE // size))
    picks = [slices[int(i)] for i in np.linspace(0, len(slices) - 1, min(count, len(slices))).round()]
    buffer = bytearray(size)

    def read_all() -> None:
        for path in picks:
            with open(path, "rb", buffering=0) as fh:
                fh.readinto(buffer)

    read_all()  # from the page cache, as the step reads what tomocupy just wrote
    read_s = _timed(read_all)
    raw = [path.read_bytes() for path in picks[:16]]
    sha_s = _timed(lambda: [hashlib.sha256(b).digest() for b in raw])
    sha_bytes = sum(len(b) for b in raw)
    stack = np.stack([np.asarray(tifffile.imread(p), dtype=np.float32) for p in picks[:DEFAULT_CHUNKS[0]]])
    _, cy, cx = DEFAULT_CHUNKS
    blocks = [np.ascontiguousarray(stack[:, y:y + cy, x:x + cx]) for y in range(0, stack.shape[1] - cy + 1, cy)
              for x in range(0, stack.shape[2] - cx + 1, cx)] or [np.ascontiguousarray(stack)]
    codec = numcodecs.Blosc(cname="lz4", clevel=5, shuffle=numcodecs.Blosc.BITSHUFFLE)
    blosc_s = _timed(lambda: [codec.encode(b) for b in blocks])
    blosc_bytes = sum(b.nbytes for b in blocks)
    halve_s = _timed(lambda: [halve(stack[:, y:y + cy]) for y in range(0, stack.shape[1], cy)])
    chunk_sample = chunk_files[::max(1, len(chunk_files) // max(1, SAMPLE // max(1, chunk_files[0].stat().st_size)))]
    data = [p.read_bytes() for p in chunk_sample]
    scratch.mkdir(parents=True, exist_ok=True)
    try:
        def write_all() -> None:
            for i, piece in enumerate(data):
                with open(scratch / f"w{i}", "xb") as fh:
                    fh.write(piece)
        write_s = _timed(write_all)
        written = sum(len(d) for d in data)

        def write_one() -> None:
            with open(scratch / "large", "xb") as fh:
                for piece in data:
                    fh.write(piece)
        large_s = _timed(write_one)
        links = min(2000, len(data))
        link_s = _timed(lambda: [os.link(scratch / f"w{i}", scratch / f"l{i}") for i in range(links)])

        def to_disk() -> None:
            with open(scratch / "synced", "xb") as fh:
                for piece in data:
                    fh.write(piece)
                os.fsync(fh.fileno())
        os.sync()  # what was waiting to be written goes first, not into this measure
        disk_s = _timed(to_disk)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return Floors(read=len(picks) * size / read_s, write=written / write_s, write_large=written / large_s,
                  disk=written / disk_s, dirty_limit=dirty_limit(), blosc=blosc_bytes / blosc_s,
                  sha256=sha_bytes / sha_s, halve=stack.nbytes / halve_s, link=link_s / max(1, links), cores=cores,
                  sampled={"slices": len(picks), "chunks": len(data), "bytes_read": len(picks) * size,
                           "bytes_written": written})
