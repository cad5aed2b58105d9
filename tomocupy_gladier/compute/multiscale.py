"""The multiscale OME-Zarr of a full reconstruction and its compact (uint8/uint16) exports.

Written on the endpoint in one streaming pass: the finest level a stripe (a chunk's depth of
slices x a chunk's height of rows) at a time, the coarser ones a slab at a time, so memory is
bounded by level 1's slab (a quarter of a finest-level slab), never the volume. The same pass
takes the display window's percentiles from a sample and finds any NaN or inf (they reach the
coarsest level), and the sha256 of every slice read and every chunk written (compute/checksums.py).
The work is spread over a thread per core. The format is OME-NGFF 0.4 (Zarr v2 arrays), the
version neuroglancer and vizarr read; the metadata is built and validated by ome-zarr-models and
written by zarr, the chunks encoded with numcodecs' Blosc as zarr encodes them (byte for byte,
which the tests hold) and written by this module, which hashes them on the way.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import gc
import io
import math
import os
import pathlib
import shutil
import threading
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from tomocupy_gladier.compute.checksums import Digests, StreamDigest, available_cores

ZARR_NAME = "volume.ome.zarr"
EXPORT_DTYPES = ("uint8", "uint16")
FORMATS = ("tiff", "zarr")  # the forms of a full TIFF reconstruction that may be kept (volume_formats)
# z-slabs of tiles: a view of a slice reads 16 slices' worth (cubes of 64 read 64), a z step
# inside the slab reads nothing new, and there are a sixteenth as many files as 64^3 chunks
DEFAULT_CHUNKS = (16, 256, 256)
DEFAULT_PERCENTILES = (0.1, 99.9)
SMALLEST = 256  # levels halve until the largest side of a slice is at most this
SAMPLE_LIMIT = 4_000_000  # voxels sampled for the percentiles (16 MB): all of a smaller volume
DOWNSAMPLING = "each level: the mean of 2 x 2 x 2 voxels of the one before (tomocupy_gladier.compute.multiscale)"


def export_name(dtype: str) -> str:
    """The folder of the compact copy in ``dtype`` beside the full-precision Zarr."""
    return f"volume_{dtype}.ome.zarr"


def level_shapes(shape: Sequence[int], smallest: int = SMALLEST) -> list[tuple[int, ...]]:
    """The shape of each level: every axis halved (rounded up) until a slice's largest side
    is at most ``smallest``."""
    shapes = [tuple(int(s) for s in shape)]
    while max(shapes[-1][1:]) > smallest:
        shapes.append(tuple((s + 1) // 2 for s in shapes[-1]))
    return shapes


def halve(block: np.ndarray) -> np.ndarray:
    """The 2 x 2 x 2 mean of ``block`` (an odd last plane or row is averaged with itself)."""
    pad = [(0, s % 2) for s in block.shape]
    if any(p for _, p in pad):
        block = np.pad(block, pad, mode="edge")
    # pairwise sums along each axis in turn: 4x faster than a 6-D mean, in float32 throughout
    pairs = np.add(block[0::2], block[1::2], dtype=np.float32)  # no float32 copy of a float32 block
    pairs = pairs[:, 0::2] + pairs[:, 1::2]
    pairs = pairs[:, :, 0::2] + pairs[:, :, 1::2]
    pairs *= 0.125
    return pairs.astype(block.dtype, copy=False)


@dataclass
class _Level:
    """One level's Zarr v2 array: where its chunks go and how each is encoded (the values its
    ``.zarray`` holds), and the zarr array, for reading it back."""

    folder: pathlib.Path
    shape: tuple[int, ...]
    chunks: tuple[int, ...]
    dtype: np.dtype
    codec: Any  # numcodecs' Blosc, as configured in .zarray
    array: Any


def _create(target: pathlib.Path, shapes: list[tuple[int, ...]], dtype: str, chunks: Sequence[int],
            pixel_um: float | None, name: str, metadata: dict[str, Any] | None) -> list[_Level]:
    """The image group's NGFF 0.4 metadata and its empty arrays (written by zarr); returns the levels."""
    import numcodecs
    import zarr
    from ome_zarr_models.v04.axes import Axis
    from ome_zarr_models.v04.image import Image
    from pydantic_zarr.v2 import ArraySpec

    unit = "micrometer" if pixel_um else None
    size = float(pixel_um or 1.0)
    # bit shuffle: on tomocupy-cpu volumes about 0.7 of the float32 size, and faster than byte shuffle
    compressor = numcodecs.Blosc(cname="lz4", clevel=5, shuffle=numcodecs.Blosc.BITSHUFFLE)
    level_chunks = [tuple(min(c, s) for c, s in zip(chunks, shape)) for shape in shapes]
    specs: list[Any] = [ArraySpec(shape=shape, chunks=chunk, dtype=dtype, fill_value=0, order="C",
                                  filters=None, dimension_separator="/", compressor=compressor.get_config(),
                                  attributes={})
                        for shape, chunk in zip(shapes, level_chunks)]
    scales = [[size * 2 ** i] * 3 for i in range(len(shapes))]
    # a level's voxel i covers full-size voxels 2**k * i ..: its centre moves by (2**k - 1) / 2
    translations = [[size * (2 ** i - 1) / 2] * 3 for i in range(len(shapes))]
    image = Image.new(array_specs=specs, paths=[str(i) for i in range(len(shapes))],
                      axes=[Axis(name=a, type="space", unit=unit) for a in "zyx"],
                      scales=scales, translations=translations, name=name,
                      multiscale_type="mean", metadata=metadata)
    if target.exists():
        shutil.rmtree(target)
    store = zarr.storage.LocalStore(str(target))
    group = image.to_zarr(store, "")
    # the model writes absent optional fields as null; NGFF leaves them out
    group.attrs.put(image.attributes.model_dump(mode="json", exclude_none=True))
    return [_Level(target / str(i), shape, chunk, np.dtype(dtype), compressor, group[str(i)])
            for i, (shape, chunk) in enumerate(zip(shapes, level_chunks))]


def _pieces(level: _Level, block: np.ndarray, z0: int, y0: int) -> Iterator[tuple[np.ndarray, int, int, int]]:
    """The chunks of ``block`` (one chunk deep, whole chunks high, every column, at ``z0``,
    ``y0``): each part and its chunk indices."""
    cz, cy, cx = level.chunks
    for y in range(0, block.shape[1], cy):
        for x in range(0, block.shape[2], cx):
            yield block[:, y:y + cy, x:x + cx], z0 // cz, (y0 + y) // cy, x // cx


class _ChunkWriter:
    """Zarr v2 chunks written as zarr writes them (the full chunk shape, an edge chunk padded with
    the fill value 0; none for a chunk that is all fill value; Blosc as in ``.zarray``; ``/``
    between the indices), each encoded, hashed and written by a task of ``pool``: Blosc (numcodecs
    uses a context of its own outside the main thread), hashlib and the file writes release the
    GIL, so the chunks of a stripe are made on every core."""

    def __init__(self, pool: concurrent.futures.Executor, digests: Digests | None) -> None:
        self.pool, self.digests = pool, digests
        self.folders: set[pathlib.Path] = set()
        self.lock = threading.Lock()

    def submit(self, level: _Level, block: np.ndarray, z0: int, y0: int) -> list[concurrent.futures.Future]:
        """Tasks writing ``block`` (whole chunks deep and high, every column) at ``z0``, ``y0``."""
        return [self.pool.submit(self.write, level, *piece) for piece in _pieces(level, block, z0, y0)]

    def write_all(self, level: _Level, block: np.ndarray, z0: int, y0: int) -> None:
        """``submit``'s chunks, written one after the other in this thread."""
        for piece in _pieces(level, block, z0, y0):
            self.write(level, *piece)

    def write(self, level: _Level, part: np.ndarray, zi: int, yi: int, xi: int) -> None:
        if part.shape == level.chunks:
            chunk = np.ascontiguousarray(part, dtype=level.dtype)
        else:
            chunk = np.zeros(level.chunks, dtype=level.dtype)
            chunk[:part.shape[0], :part.shape[1], :part.shape[2]] = part
        bits = chunk.view(f"u{chunk.dtype.itemsize}")  # as zarr compares: -0.0 is not the fill value 0
        if not bits.flat[0] and not bits.any():
            return  # all fill value: zarr writes no chunk (a reader gives the fill value)
        data = level.codec.encode(chunk)
        folder = level.folder / str(zi) / str(yi)
        if folder not in self.folders:
            folder.mkdir(parents=True, exist_ok=True)
            with self.lock:
                self.folders.add(folder)
        if self.digests is not None:
            self.digests.write_new(folder / str(xi), data)
        else:
            with open(folder / str(xi), "xb") as fh:
                fh.write(data)


def _wait(futures: Iterable[concurrent.futures.Future]) -> None:
    """Wait for ``futures``, raising the first failure."""
    for future in list(futures):
        future.result()


class _Pyramid:
    """Levels 1 and coarser filled slab by slab: each full slab of a level is written, halved and
    passed on (level 0 is written in stripes by ``_stream`` and never held whole)."""

    def __init__(self, levels: list[_Level], depth: int, writer: _ChunkWriter) -> None:
        self.levels, self.depth, self.writer = levels, depth, writer
        self.pending: list[list[np.ndarray]] = [[] for _ in levels]
        self.written = [0 for _ in levels]
        self.tasks: dict[int, list[concurrent.futures.Future]] = {}
        self.finite = True  # so far, every slab of the coarsest level written was finite

    def check(self, level: int, block: np.ndarray) -> None:
        """A NaN or inf anywhere reaches the coarsest mean level: checking it checks the volume."""
        if level == len(self.levels) - 1:
            self.finite = self.finite and bool(np.isfinite(block).all())

    def push(self, level: int, block: np.ndarray) -> None:
        self.pending[level].append(block)
        if sum(b.shape[0] for b in self.pending[level]) >= self.depth:
            self._flush(level)

    def done_with(self, level: int) -> None:
        """Wait until the chunks of ``level`` pushed so far are written (their slab may be reused)."""
        _wait(self.tasks.pop(level, []))

    def _flush(self, level: int) -> None:
        if not self.pending[level]:
            return
        slab = np.concatenate(self.pending[level]) if len(self.pending[level]) > 1 else self.pending[level][0]
        self.pending[level] = []
        start = self.written[level]
        self.tasks.setdefault(level, []).extend(self.writer.submit(self.levels[level], slab, start, 0))
        self.written[level] += slab.shape[0]
        self.check(level, slab)
        if level + 1 < len(self.levels):
            self.push(level + 1, halve(slab))

    def finish(self) -> None:
        for level in range(1, len(self.levels)):
            self._flush(level)
        for level in list(self.tasks):
            self.done_with(level)


class _Slice:
    """One TIFF slice, read a stripe of rows at a time: straight from the file into the caller's
    buffer when its pixels are stored uncompressed in one piece (as tomocupy writes them), so
    neither the slice nor a memory map of it is held; any other TIFF is read whole, once. With
    ``digests``, the file's sha256 is taken from the bytes read (header, stripes, tail) and
    recorded when the last stripe has been read."""

    def __init__(self, path: pathlib.Path, digests: Digests | None = None) -> None:
        import tifffile

        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            self.shape, self.dtype = tuple(page.shape), np.dtype(page.dtype)
            contiguous = (bool(page.is_contiguous) and tif.byteorder == "<" and len(self.shape) == 2
                          and sum(page.databytecounts) == math.prod(self.shape) * self.dtype.itemsize)
            self.offset = int(page.dataoffsets[0]) if contiguous else 0
        self.digests = digests
        self.stream: StreamDigest | None = None
        self.whole: np.ndarray | None = None
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        self.fd: int | None = fd
        try:
            if digests is not None:
                self.stream = StreamDigest(fd, pathlib.Path(path))
            if not contiguous:
                raw = bytearray()
                for piece in iter(lambda: os.read(fd, 1 << 24), b""):
                    raw += piece
                if self.stream is not None:
                    self.stream.update(0, raw)
                self.whole = np.asarray(tifffile.imread(io.BytesIO(raw)))
                self.close()
            elif self.stream is not None:
                self.stream.read_to(self.offset)  # the header
        except BaseException:
            self.close()
            raise
        self.name = pathlib.Path(path).name

    def read_rows(self, y0: int, out: np.ndarray) -> None:
        """Rows ``y0`` to ``y0 + len(out)`` into ``out`` (contiguous, of the slice's dtype)."""
        if self.whole is not None:  # read whole when opened
            out[...] = self.whole[y0:y0 + out.shape[0]]
            return
        assert self.fd is not None, "read after close"
        row = self.shape[1] * self.dtype.itemsize
        view = out.data.cast("B")
        offset = self.offset + y0 * row
        if os.preadv(self.fd, [view], offset) != view.nbytes:
            raise OSError(f"{self.name}: shorter than its TIFF header says")
        if self.stream is not None:
            self.stream.update(offset, view)

    def close(self, finish: bool = True) -> None:
        """Done reading: the file's digest is recorded (when every byte was read in order;
        ``finish`` False: given up, nothing recorded)."""
        if self.fd is None:
            return
        try:
            if finish and self.stream is not None and self.digests is not None:
                self.stream.finish(self.digests)
        finally:
            os.close(self.fd)
            self.fd = None


def _open_slices(pool: concurrent.futures.Executor, paths: Sequence[pathlib.Path],
                 digests: Digests | None) -> list[_Slice]:
    """The slices at ``paths``, their headers read in parallel (all or none stay open)."""
    opening = [pool.submit(_Slice, path, digests) for path in paths]
    concurrent.futures.wait(opening)
    failed = [f.exception() for f in opening if f.exception() is not None]
    if failed:
        for future in opening:
            if future.exception() is None:
                future.result().close()
        raise failed[0]  # type: ignore[misc]
    return [future.result() for future in opening]


@contextlib.contextmanager
def _collector_skipping_old_objects() -> Iterator[None]:
    """zarr makes many short-lived objects a chunk, and each of the collector's full passes went
    over every object imported before: a sixth of the step's CPU time (py-spy). Frozen, those are
    skipped; new objects are still collected. Leaves alone a process that froze its own."""
    ours = gc.get_freeze_count() == 0
    if ours:
        gc.freeze()
    try:
        yield
    finally:
        if ours:
            gc.unfreeze()


class _Sample:
    """Every ``step``-th voxel along z, y and x (at most about ``SAMPLE_LIMIT`` values), kept while
    the volume streams past: the whole volume's percentiles and range without a second pass."""

    def __init__(self, shape: Sequence[int]) -> None:
        self.step = max(1, math.ceil((math.prod(shape) / SAMPLE_LIMIT) ** (1 / 3)))
        self.parts: list[np.ndarray] = []

    def add(self, block: np.ndarray, z0: int, y0: int) -> None:
        s = self.step
        part = block[(-z0) % s::s, (-y0) % s::s, ::s]
        self.parts.append(part[np.isfinite(part)].astype(np.float32, copy=False))

    def percentiles(self, percentiles: Sequence[float]) -> tuple[float, float, float, float]:
        """min, max and the two percentiles of the sample (all 0 for a volume with no finite value)."""
        values = np.concatenate(self.parts) if self.parts else np.empty(0)
        if not values.size:
            return 0.0, 0.0, 0.0, 0.0
        low, high = np.percentile(values, list(percentiles))
        return float(values.min()), float(values.max()), float(low), float(high)


def write_ome_zarr(slices: Sequence[pathlib.Path], target: pathlib.Path, pixel_um: float | None,
                   chunks: Sequence[int] = DEFAULT_CHUNKS, exports: Sequence[str] = (),
                   percentiles: Sequence[float] = DEFAULT_PERCENTILES, digests: Digests | None = None,
                   workers: int | None = None, hash_slices: bool = True) -> dict[str, Any]:
    """Write the TIFF ``slices`` (z order) as a multiscale OME-Zarr at ``target``.

    Levels are chunked ``chunks`` (z, y, x) and halve down to about 256 px; the scale is
    ``pixel_um`` microns a voxel at the finest level (none: unit-less 1). The finest level is
    read and written a stripe of a chunk's depth of slices x a chunk's height of rows at a time;
    memory is bounded by one chunk-deep slab of level 1 (a quarter of a level-0 slab) and three
    stripes, never the volume. The work (reading, halving, Blosc, hashing, writing) is shared by
    ``workers`` threads (default: one per core this process may use). The whole volume's
    ``percentiles`` (from a strided sample) are its display window (``omero``); ``exports``:
    compact copies (``uint8``/``uint16``) beside it, scaled between them, the scaling in each
    copy's metadata and in the summary returned. ``finite`` in the summary says whether every
    voxel is finite (a NaN or inf reaches the coarsest mean level). ``digests``: where the sha256
    of every chunk written (from the encoded bytes) and, with ``hash_slices``, of every slice read
    (from the bytes read) is recorded, for the manifest.
    """
    import tifffile

    if not slices:
        raise ValueError("no slices to write as OME-Zarr")
    with tifffile.TiffFile(slices[0]) as tif:
        first = tif.pages[0]
        shape = (len(slices),) + tuple(int(s) for s in first.shape)
        dtype = np.dtype(first.dtype).name
    shapes = level_shapes(shape)
    levels = _create(target, shapes, dtype, chunks, pixel_um, target.name, {"method": DOWNSAMPLING})
    workers = max(1, int(workers or available_cores()))
    sample = _Sample(shape)
    finite = _stream(slices, levels, (int(chunks[0]), int(chunks[1])), sample, digests, workers,
                     digests if hash_slices else None)
    lowest, highest, low, high = sample.percentiles(percentiles)
    step = sample.step
    del sample  # its values
    _add_window(target, lowest, highest, low, high)
    summary: dict[str, Any] = {"path": target.name, "ngff_version": "0.4", "dtype": dtype,
                               "chunks": [min(int(c), s) for c, s in zip(chunks, shape)],
                               "pixel_size_um": pixel_um,
                               "finite": finite,
                               "workers": workers,
                               "window": {"min": lowest, "max": highest, "start": low, "end": high,
                                          "percentiles": list(percentiles), "sample_step": step},
                               "levels": _level_facts(target, shapes)}
    if exports:
        summary["exports"] = write_exports(levels, target.parent, exports, chunks, pixel_um, low, high,
                                           percentiles, digests, workers)
    return summary


def _stream(slices: Sequence[pathlib.Path], levels: list[_Level], stripe: tuple[int, int], sample: _Sample,
            digests: Digests | None, workers: int, slice_digests: Digests | None) -> bool:
    """The pass over the slices that writes every level (see :func:`write_ome_zarr`): returns
    whether every voxel was finite. Its buffers are freed when it returns."""
    depth, height = stripe
    nz, ny, nx = levels[0].shape
    dtype = levels[0].dtype
    # level 1's slab: filled by two level-0 slabs (a halving task a stripe), then written and halved
    level1 = np.empty((depth,) + levels[1].shape[1:], dtype=dtype) if len(levels) > 1 else None
    filled = 0
    halvings: list[concurrent.futures.Future] = []
    # reused: a fresh buffer a stripe would cost a page fault per 4 KiB, as much as the read itself;
    # three, so that one is read while the two before are halved and written
    stripes: collections.deque[tuple[np.ndarray, list[concurrent.futures.Future]]] = collections.deque(
        (np.empty((depth, height, nx), dtype=dtype), []) for _ in range(3))
    closing: list[tuple[_Slice, concurrent.futures.Future]] = []
    with _collector_skipping_old_objects(), \
            concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="ome-zarr") as pool:
        writer = _ChunkWriter(pool, digests)
        pyramid = _Pyramid(levels, depth, writer)
        try:
            for z0 in range(0, nz, depth):
                planes = _open_slices(pool, slices[z0:z0 + depth], slice_digests)
                try:
                    for y0 in range(0, ny, height):
                        rows = min(height, ny - y0)
                        buffer, users = stripes.popleft()
                        _wait(users)  # its halving and chunk writes are done: free again
                        block = buffer[:len(planes), :rows]
                        # each slice's rows in a task; a slice's stripes in order (its digest)
                        _wait([pool.submit(plane.read_rows, y0, block[i]) for i, plane in enumerate(planes)])
                        sample.add(block, z0, y0)
                        pyramid.check(0, block)
                        users = writer.submit(levels[0], block, z0, y0)
                        if level1 is not None:
                            if filled == 0 and y0 == 0:
                                pyramid.done_with(1)  # level 1's last slab is written: the buffer is free
                            users.append(pool.submit(_halve_into, block, level1, filled, y0 // 2))
                            halvings.append(users[-1])
                        stripes.append((buffer, users))
                finally:  # done with their rows: the tails hashed and the files closed meanwhile
                    closing = _still_closing(closing) + [(plane, pool.submit(plane.close)) for plane in planes]
                if level1 is not None:
                    filled += (len(planes) + 1) // 2
                    if filled == depth or z0 + depth >= nz:
                        _wait(halvings)
                        halvings = []
                        pyramid.push(1, level1[:filled])  # a full slab is written at once
                        filled = 0
            pyramid.finish()
            for _, users in stripes:
                _wait(users)
            _wait(future for _, future in closing)
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)  # what is queued is dropped, not written
            for plane, _ in closing:
                plane.close(finish=False)
            raise
    return pyramid.finite


def _still_closing(closing: list[tuple[_Slice, concurrent.futures.Future]]) -> list[tuple[_Slice, concurrent.futures.Future]]:
    """The slices whose closing has not finished (one that failed raises)."""
    running = []
    for plane, future in closing:
        if future.done():
            future.result()
        else:
            running.append((plane, future))
    return running


def _halve_into(block: np.ndarray, out: np.ndarray, z: int, y: int) -> None:
    """The 2 x 2 x 2 mean of ``block`` into ``out`` at slice ``z``, row ``y``."""
    half = halve(block)
    out[z:z + half.shape[0], y:y + half.shape[1]] = half


def _add_window(target: pathlib.Path, lowest: float, highest: float, low: float, high: float) -> None:
    """The display window (NGFF 0.4 ``omero``: one grey channel, the range and the percentiles)."""
    import zarr
    from ome_zarr_models.v04.omero import Omero

    omero = Omero.model_validate({"channels": [{"color": "FFFFFF", "label": "volume", "active": True,
                                                "window": {"min": lowest, "max": highest,
                                                           "start": low, "end": high}}],
                                  "rdefs": {"model": "greyscale"}})
    group = zarr.open_group(str(target), mode="r+")
    group.attrs.update({"omero": omero.model_dump(mode="json", exclude_none=True)})


def _level_facts(target: pathlib.Path, shapes: list[tuple[int, ...]]) -> list[dict[str, Any]]:
    facts = []
    for i, level_shape in enumerate(shapes):
        files = [p for p in (target / str(i)).rglob("*") if p.is_file()]
        facts.append({"path": str(i), "shape": list(level_shape),
                      "bytes": sum(p.stat().st_size for p in files), "files": len(files)})
    return facts


def scaled(block: np.ndarray, dtype: str, low: float, high: float) -> np.ndarray:
    """``block`` mapped linearly from [low, high] onto the whole range of ``dtype`` (clipped);
    value = low + stored * (high - low) / max maps it back."""
    top = np.iinfo(dtype).max
    span = (high - low) or 1.0
    out = block.astype(np.float32)  # one copy, then in place
    np.nan_to_num(out, copy=False, nan=low)
    out -= low
    out *= top / span
    np.clip(np.rint(out, out=out), 0, top, out=out)
    return out.astype(dtype)


def write_exports(levels: list[_Level], folder: pathlib.Path, dtypes: Sequence[str], chunks: Sequence[int],
                  pixel_um: float | None, low: float, high: float, percentiles: Sequence[float],
                  digests: Digests | None = None, workers: int | None = None) -> list[dict[str, Any]]:
    """A copy of every level of ``levels`` in each of ``dtypes`` (``export_name`` in ``folder``),
    scaled between ``low`` and ``high``: each stripe of the full-precision levels is read once
    for all the copies, and scaled and written by ``workers`` threads (a few stripes at a time)."""
    bad = [d for d in dtypes if d not in EXPORT_DTYPES]
    if bad:
        raise ValueError(f"export {bad[0]!r}: use one of {list(EXPORT_DTYPES)}")
    shapes = [level.shape for level in levels]
    scalings, copies = [], []
    for dtype in dtypes:
        top = int(np.iinfo(dtype).max)
        scalings.append({"dtype": dtype, "low": low, "high": high, "percentiles": list(percentiles),
                         "stored_max": top, "to_value": f"value = low + stored * (high - low) / {top}"})
        copies.append(_create(folder / export_name(dtype), shapes, dtype, chunks, pixel_um,
                              export_name(dtype), {"method": DOWNSAMPLING, "scaling": scalings[-1]}))
    depth, height = (int(c) for c in chunks[:2])
    workers = max(1, int(workers or available_cores()))

    def export(block: np.ndarray, level: int, z0: int, y0: int) -> None:
        for copy, dtype in zip(copies, dtypes):
            writer.write_all(copy[level], scaled(block, dtype, low, high), z0, y0)

    with concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="ome-zarr-export") as pool:
        writer = _ChunkWriter(pool, digests)
        running: collections.deque[concurrent.futures.Future] = collections.deque()
        for level, source in enumerate(levels):  # a stripe of a chunk's depth and height at a time
            for z0 in range(0, source.shape[0], depth):
                for y0 in range(0, source.shape[1], height):
                    block = np.asarray(source.array[z0:z0 + depth, y0:y0 + height])
                    while len(running) > workers:
                        running.popleft().result()
                    running.append(pool.submit(export, block, level, z0, y0))
        _wait(running)
    return [{"path": export_name(dtype), **scaling, "levels": _level_facts(folder / export_name(dtype), shapes)}
            for dtype, scaling in zip(dtypes, scalings)]


def pixel_size_um(params: dict, scan: pathlib.Path) -> float | None:
    """The reconstruction's voxel size in microns: tomocupy's ``pixel-size`` option, else the
    scan's DXchange pixel size (what the metadata step reads), times 2**binning."""
    raw = float(params.get("pixel-size") or 0) or None
    if raw is None:
        try:
            import h5py

            from tomocupy_gladier.compute.dxchange import read_fields

            with h5py.File(scan, "r") as h5:
                raw = read_fields(h5).get("pixel_size_um")
        except (ImportError, OSError):
            raw = None
    return raw * 2 ** int(params.get("binning") or 0) if raw else None


def zarr_options(options: dict | None) -> dict[str, Any]:
    """The ``tomocupy.zarr`` settings with their defaults; refuses unknown or bad ones."""
    given = dict(options or {})
    unknown = sorted(set(given) - {"enable", "chunks", "exports", "percentiles"})
    if unknown:
        raise ValueError(f"unknown tomocupy.zarr setting(s) {unknown}; allowed: enable, chunks, "
                         "exports, percentiles")
    chunks = [int(c) for c in given.get("chunks") or DEFAULT_CHUNKS]
    exports = [str(d) for d in given.get("exports") or []]
    percentiles = [float(p) for p in given.get("percentiles") or DEFAULT_PERCENTILES]
    if (any(d not in EXPORT_DTYPES for d in exports) or len(chunks) != 3 or any(c % 2 for c in chunks)
            or not 2 <= chunks[0] <= 512 or not all(16 <= c <= 2048 for c in chunks[1:])
            or len(percentiles) != 2 or not 0 <= percentiles[0] < percentiles[1] <= 100):
        raise ValueError(f"tomocupy.zarr: exports must be among {list(EXPORT_DTYPES)}, chunks three even "
                         "numbers [z, y, x] (z 2 to 512, y and x 16 to 2048), percentiles two numbers "
                         f"0 <= low < high <= 100 (got {given})")
    settings: dict[str, Any] = {"enable": bool(given.get("enable", True)), "chunks": chunks,
                                "exports": exports, "percentiles": percentiles}
    return settings


def volume_formats(formats: Sequence[str] | None, zarr: dict[str, Any]) -> list[str]:
    """The forms a full TIFF reconstruction is kept and published in: ``tiff`` (tomocupy's
    slices), ``zarr`` (the OME-Zarr made of them), or both; ``formats`` as given (None: both, or
    ``tiff`` alone when ``zarr`` (:func:`zarr_options`) is off). Refuses anything else."""
    if formats is None:
        return ["tiff", "zarr"] if zarr["enable"] else ["tiff"]
    given = [str(f) for f in formats] if isinstance(formats, (list, tuple)) else [repr(formats)]
    if not given or any(f not in FORMATS for f in given) or len(set(given)) != len(given):
        raise ValueError(f"formats must name one or both of {list(FORMATS)}, each once (got {given})")
    if "zarr" in given and not zarr["enable"]:
        raise ValueError("formats names zarr, but the OME-Zarr is off ([zarr] enable = false): "
                         "leave zarr out of formats or turn the OME-Zarr on")
    return [f for f in FORMATS if f in given]


def open_level(target: pathlib.Path, level: int = 0) -> Any:
    """A level of an OME-Zarr as a zarr array (read only; indexing reads the chunks needed)."""
    import zarr

    return zarr.open_array(str(target / str(level)), mode="r")


def read_level(target: pathlib.Path, level: int = 0) -> np.ndarray:
    """A whole level of an OME-Zarr (for tests and small volumes: it is held in memory)."""
    return np.asarray(open_level(target, level)[...])
