"""The multiscale OME-Zarr of a full reconstruction and its compact (uint8/uint16) exports.

Written on the endpoint in one streaming pass: the finest level a stripe (a chunk's depth of
slices x a chunk's height of rows) at a time, the coarser ones a slab at a time, so memory is
bounded by level 1's slab (a quarter of a finest-level slab), never the volume. The same pass
takes the display window's percentiles from a sample and finds any NaN or inf (they reach the
coarsest level). The format is OME-NGFF 0.4 (Zarr v2 arrays), the version neuroglancer and
vizarr read; the metadata is built and validated by ome-zarr-models and the arrays written by
zarr.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import gc
import math
import os
import pathlib
import shutil
from typing import Any, Iterator, Sequence

import numpy as np

ZARR_NAME = "volume.ome.zarr"
EXPORT_DTYPES = ("uint8", "uint16")
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


def _create(target: pathlib.Path, shapes: list[tuple[int, ...]], dtype: str, chunks: Sequence[int],
            pixel_um: float | None, name: str, metadata: dict[str, Any] | None) -> list[Any]:
    """The image group's NGFF 0.4 metadata and its empty arrays; returns the arrays."""
    import numcodecs
    import zarr
    from ome_zarr_models.v04.axes import Axis
    from ome_zarr_models.v04.image import Image
    from pydantic_zarr.v2 import ArraySpec

    unit = "micrometer" if pixel_um else None
    size = float(pixel_um or 1.0)
    # bit shuffle: on tomocupy-cpu volumes about 0.7 of the float32 size, and faster than byte shuffle
    compressor = numcodecs.Blosc(cname="lz4", clevel=5, shuffle=numcodecs.Blosc.BITSHUFFLE)
    specs: list[Any] = [ArraySpec(shape=shape, chunks=tuple(min(c, s) for c, s in zip(chunks, shape)),
                                  dtype=dtype, fill_value=0, order="C", filters=None,
                                  dimension_separator="/", compressor=compressor.get_config(),
                                  attributes={})
                        for shape in shapes]
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
    return [group[str(i)] for i in range(len(shapes))]


class _Pyramid:
    """Levels 1 and coarser filled slab by slab: each full slab of a level is written, halved and
    passed on (level 0 is written in stripes by ``write_ome_zarr`` and never held whole)."""

    def __init__(self, arrays: list[Any], depth: int) -> None:
        self.arrays, self.depth = arrays, depth
        self.pending: list[list[np.ndarray]] = [[] for _ in arrays]
        self.written = [0 for _ in arrays]
        self.finite = True  # so far, every slab of the coarsest level written was finite

    def check(self, level: int, block: np.ndarray) -> None:
        """A NaN or inf anywhere reaches the coarsest mean level: checking it checks the volume."""
        if level == len(self.arrays) - 1:
            self.finite = self.finite and bool(np.isfinite(block).all())

    def push(self, level: int, block: np.ndarray) -> None:
        self.pending[level].append(block)
        if sum(b.shape[0] for b in self.pending[level]) >= self.depth:
            self._flush(level)

    def _flush(self, level: int) -> None:
        if not self.pending[level]:
            return
        slab = np.concatenate(self.pending[level]) if len(self.pending[level]) > 1 else self.pending[level][0]
        self.pending[level] = []
        start = self.written[level]
        self.arrays[level][start:start + slab.shape[0]] = slab
        self.written[level] += slab.shape[0]
        self.check(level, slab)
        if level + 1 < len(self.arrays):
            self.push(level + 1, halve(slab))

    def finish(self) -> None:
        for level in range(1, len(self.arrays)):
            self._flush(level)


class _Slice:
    """One TIFF slice, read a stripe of rows at a time: straight from the file into the caller's
    buffer when its pixels are stored uncompressed in one piece (as tomocupy writes them), so
    neither the slice nor a memory map of it is held; any other TIFF is read whole, once."""

    def __init__(self, path: pathlib.Path) -> None:
        import tifffile

        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            self.shape, self.dtype = tuple(page.shape), np.dtype(page.dtype)
            contiguous = (bool(page.is_contiguous) and tif.byteorder == "<" and len(self.shape) == 2
                          and sum(page.databytecounts) == math.prod(self.shape) * self.dtype.itemsize)
            self.offset = int(page.dataoffsets[0]) if contiguous else 0
        self.whole: np.ndarray | None = None if contiguous else np.asarray(tifffile.imread(path))
        self.file = open(path, "rb") if contiguous else None

    def read_rows(self, y0: int, out: np.ndarray) -> None:
        """Rows ``y0`` to ``y0 + len(out)`` into ``out`` (contiguous, of the slice's dtype)."""
        if self.file is None:  # read whole when opened
            out[...] = np.asarray(self.whole)[y0:y0 + out.shape[0]]
            return
        row = self.shape[1] * self.dtype.itemsize
        view = out.data.cast("B")
        if os.preadv(self.file.fileno(), [view], self.offset + y0 * row) != view.nbytes:
            raise OSError(f"{self.file.name}: shorter than its TIFF header says")

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


class _Writes:
    """Level-0 stripes written by a background thread while the next ones are read and halved
    (Blosc and file writes release the GIL); at most ``waiting`` stripes wait, bounding memory."""

    def __init__(self, waiting: int = 2) -> None:
        self.pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="ome-zarr")
        self.pending: collections.deque[concurrent.futures.Future] = collections.deque()
        self.waiting = waiting

    def write(self, array: Any, selection: tuple, block: np.ndarray) -> None:
        while len(self.pending) >= self.waiting:
            self.pending.popleft().result()
        self.pending.append(self.pool.submit(array.__setitem__, selection, block))

    def close(self) -> None:
        try:
            while self.pending:
                self.pending.popleft().result()
        finally:
            self.pool.shutdown(wait=True, cancel_futures=True)


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
                   percentiles: Sequence[float] = DEFAULT_PERCENTILES) -> dict[str, Any]:
    """Write the TIFF ``slices`` (z order) as a multiscale OME-Zarr at ``target``.

    Levels are chunked ``chunks`` (z, y, x) and halve down to about 256 px; the scale is
    ``pixel_um`` microns a voxel at the finest level (none: unit-less 1). The finest level is
    read and written a stripe of a chunk's depth of slices x a chunk's height of rows at a time;
    memory is bounded by one chunk-deep slab of level 1 (a quarter of a level-0 slab), never the
    volume. The whole volume's ``percentiles`` (from a strided sample) are its display window
    (``omero``); ``exports``: compact copies (``uint8``/``uint16``) beside it, scaled between them, the
    scaling in each copy's metadata and in the summary returned. ``finite`` in the summary says
    whether every voxel is finite (a NaN or inf reaches the coarsest mean level).
    """
    import tifffile

    if not slices:
        raise ValueError("no slices to write as OME-Zarr")
    with tifffile.TiffFile(slices[0]) as tif:
        first = tif.pages[0]
        shape = (len(slices),) + tuple(int(s) for s in first.shape)
        dtype = np.dtype(first.dtype).name
    shapes = level_shapes(shape)
    depth, height = (int(c) for c in chunks[:2])
    arrays = _create(target, shapes, dtype, chunks, pixel_um, target.name, {"method": DOWNSAMPLING})
    pyramid = _Pyramid(arrays, depth)
    sample = _Sample(shape)
    nz, ny, nx = shape
    # level 1's slab: filled by two level-0 slabs, then written and halved by the pyramid
    level1 = np.empty((depth,) + shapes[1][1:], dtype=dtype) if len(shapes) > 1 else None
    filled = 0
    writes = _Writes()
    # reused: a fresh buffer a stripe would cost a page fault per 4 KiB, as much as the read itself
    stripes = [np.empty((depth, height, nx), dtype=dtype) for _ in range(writes.waiting + 1)]
    with _collector_skipping_old_objects(), contextlib.closing(writes):
        for z0 in range(0, nz, depth):
            planes = [_Slice(path) for path in slices[z0:z0 + depth]]
            try:
                for y0 in range(0, ny, height):
                    rows = min(height, ny - y0)
                    stripes.append(stripes.pop(0))  # the oldest: its write is done (``waiting`` < len)
                    block = stripes[-1][:len(planes), :rows]
                    for i, plane in enumerate(planes):
                        plane.read_rows(y0, block[i])
                    writes.write(arrays[0], (slice(z0, z0 + len(planes)), slice(y0, y0 + rows)), block)
                    sample.add(block, z0, y0)
                    pyramid.check(0, block)
                    if level1 is not None:
                        half = halve(block)
                        level1[filled:filled + half.shape[0], y0 // 2:y0 // 2 + half.shape[1]] = half
            finally:
                for plane in planes:
                    plane.close()
            if level1 is not None:
                filled += (len(planes) + 1) // 2
                if filled == depth or z0 + depth >= nz:
                    pyramid.push(1, level1[:filled])  # a full slab is written at once: the buffer is free again
                    filled = 0
        pyramid.finish()
    lowest, highest, low, high = sample.percentiles(percentiles)
    _add_window(target, lowest, highest, low, high)
    summary: dict[str, Any] = {"path": target.name, "ngff_version": "0.4", "dtype": dtype,
                               "chunks": [min(int(c), s) for c, s in zip(chunks, shape)],
                               "pixel_size_um": pixel_um,
                               "finite": pyramid.finite,
                               "window": {"min": lowest, "max": highest, "start": low, "end": high,
                                          "percentiles": list(percentiles), "sample_step": sample.step},
                               "levels": _level_facts(target, shapes)}
    if exports:
        summary["exports"] = write_exports(arrays, target.parent, exports, chunks, pixel_um, low, high,
                                           percentiles)
    return summary


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


def write_exports(arrays: list[Any], folder: pathlib.Path, dtypes: Sequence[str], chunks: Sequence[int],
                  pixel_um: float | None, low: float, high: float,
                  percentiles: Sequence[float]) -> list[dict[str, Any]]:
    """A copy of every level of ``arrays`` in each of ``dtypes`` (``export_name`` in ``folder``),
    scaled between ``low`` and ``high``: each stripe of the full-precision levels is read once
    for all the copies."""
    bad = [d for d in dtypes if d not in EXPORT_DTYPES]
    if bad:
        raise ValueError(f"export {bad[0]!r}: use one of {list(EXPORT_DTYPES)}")
    shapes = [tuple(a.shape) for a in arrays]
    scalings, copies = [], []
    for dtype in dtypes:
        top = int(np.iinfo(dtype).max)
        scalings.append({"dtype": dtype, "low": low, "high": high, "percentiles": list(percentiles),
                         "stored_max": top, "to_value": f"value = low + stored * (high - low) / {top}"})
        copies.append(_create(folder / export_name(dtype), shapes, dtype, chunks, pixel_um,
                              export_name(dtype), {"method": DOWNSAMPLING, "scaling": scalings[-1]}))
    depth, height = (int(c) for c in chunks[:2])
    for level, source in enumerate(arrays):  # a stripe of a chunk's depth and height at a time
        for z0 in range(0, source.shape[0], depth):
            for y0 in range(0, source.shape[1], height):
                part = (slice(z0, z0 + depth), slice(y0, y0 + height))
                block = np.asarray(source[part])
                for dtype, levels in zip(dtypes, copies):
                    levels[level][part] = scaled(block, dtype, low, high)
    return [{"path": export_name(dtype), **scaling, "levels": _level_facts(folder / export_name(dtype), shapes)}
            for dtype, scaling in zip(dtypes, scalings)]


def pixel_size_um(params: dict, scan: pathlib.Path) -> float | None:
    """The reconstruction's voxel size in microns: tomocupy's ``pixel-size`` option, else the
    scan's DXchange pixel size (what the metadata step reads), times 2**binning."""
    raw = float(params.get("pixel-size") or 0) or None
    if raw is None:
        try:
            import h5py

            from tomocupy_gladier.compute.metadata import read_fields

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


def read_level(target: pathlib.Path, level: int = 0) -> np.ndarray:
    """A whole level of an OME-Zarr (for tests and small volumes: it is held in memory)."""
    import zarr

    return np.asarray(zarr.open_array(str(target / str(level)), mode="r")[...])
