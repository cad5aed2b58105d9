"""The multiscale OME-Zarr of a full reconstruction and its compact (uint8/uint16) exports.

Written on the endpoint, slab by slab: memory is bounded by one slab of ``chunk`` slices of
the finest level (plus the half-as-deep slabs of the coarser levels waiting to fill), never
the volume. The format is OME-NGFF 0.4 (Zarr v2 arrays), the version neuroglancer and vizarr
read; the metadata is built and validated by ome-zarr-models and the arrays written by zarr.
"""

from __future__ import annotations

import math
import pathlib
import shutil
from typing import Any, Iterator, Sequence

import numpy as np

ZARR_NAME = "volume.ome.zarr"
EXPORT_DTYPES = ("uint8", "uint16")
DEFAULT_CHUNK = 64  # cubic chunks: as cheap to slice through z as through x or y
DEFAULT_PERCENTILES = (0.1, 99.9)
SMALLEST = 256  # levels halve until the largest side of a slice is at most this
HISTOGRAM_BINS = 1 << 16
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
    pairs = block[0::2].astype(np.float32) + block[1::2]
    pairs = pairs[:, 0::2] + pairs[:, 1::2]
    pairs = pairs[:, :, 0::2] + pairs[:, :, 1::2]
    pairs *= 0.125
    return pairs.astype(block.dtype, copy=False)


def _create(target: pathlib.Path, shapes: list[tuple[int, ...]], dtype: str, chunk: int,
            pixel_um: float | None, name: str, metadata: dict[str, Any] | None) -> list[Any]:
    """The image group's NGFF 0.4 metadata and its empty arrays; returns the arrays."""
    import numcodecs
    import zarr
    from ome_zarr_models.v04.axes import Axis
    from ome_zarr_models.v04.image import Image
    from pydantic_zarr.v2 import ArraySpec

    unit = "micrometer" if pixel_um else None
    size = float(pixel_um or 1.0)
    compressor = numcodecs.Blosc(cname="lz4", clevel=5, shuffle=numcodecs.Blosc.SHUFFLE)
    specs: list[Any] = [ArraySpec(shape=shape, chunks=tuple(min(chunk, s) for s in shape), dtype=dtype,
                       fill_value=0, order="C", filters=None, dimension_separator="/",
                       compressor=compressor.get_config(), attributes={})
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
    """Levels filled slab by slab: each full slab of a level is written, halved and passed on."""

    def __init__(self, arrays: list[Any], chunk: int) -> None:
        self.arrays, self.chunk = arrays, chunk
        self.pending: list[list[np.ndarray]] = [[] for _ in arrays]
        self.written = [0 for _ in arrays]

    def push(self, level: int, block: np.ndarray) -> None:
        self.pending[level].append(block)
        if sum(b.shape[0] for b in self.pending[level]) >= self.chunk:
            self._flush(level)

    def _flush(self, level: int) -> None:
        if not self.pending[level]:
            return
        slab = np.concatenate(self.pending[level]) if len(self.pending[level]) > 1 else self.pending[level][0]
        self.pending[level] = []
        start = self.written[level]
        self.arrays[level][start:start + slab.shape[0]] = slab
        self.written[level] += slab.shape[0]
        if level + 1 < len(self.arrays):
            self.push(level + 1, halve(slab))

    def finish(self) -> None:
        for level in range(len(self.arrays)):
            self._flush(level)


def _slabs(slices: Sequence[pathlib.Path], depth: int, shape: tuple[int, ...],
           dtype: str) -> Iterator[np.ndarray]:
    """``depth`` slices at a time, read into one buffer used again for each slab: the finest
    level's slabs are a chunk deep, written and halved at once, never kept."""
    import tifffile

    buffer = np.empty((depth,) + shape, dtype=dtype)
    for start in range(0, len(slices), depth):
        part = slices[start:start + depth]
        for i, path in enumerate(part):
            buffer[i] = tifffile.imread(path)
        yield buffer[:len(part)]


def write_ome_zarr(slices: Sequence[pathlib.Path], target: pathlib.Path, pixel_um: float | None,
                   chunk: int = DEFAULT_CHUNK, exports: Sequence[str] = (),
                   percentiles: Sequence[float] = DEFAULT_PERCENTILES) -> dict[str, Any]:
    """Write the TIFF ``slices`` (z order) as a multiscale OME-Zarr at ``target``.

    Levels are chunked ``chunk``\\ :sup:`3` and halve down to about 256 px; the scale is
    ``pixel_um`` microns a voxel at the finest level (none: unit-less 1). ``exports``: compact
    copies (``uint8``/``uint16``) beside it, scaled between two whole-volume ``percentiles``
    estimated from a histogram accumulated slab by slab; the scaling is in each copy's
    metadata and in the summary returned.
    """
    import tifffile

    if not slices:
        raise ValueError("no slices to write as OME-Zarr")
    first = tifffile.TiffFile(slices[0]).pages[0]
    shape = (len(slices),) + tuple(int(s) for s in first.shape)
    dtype = np.dtype(first.dtype).name
    shapes = level_shapes(shape)
    arrays = _create(target, shapes, dtype, chunk, pixel_um, target.name, {"method": DOWNSAMPLING})
    pyramid = _Pyramid(arrays, chunk)
    lowest, highest = math.inf, -math.inf
    for slab in _slabs(slices, chunk, shape[1:], dtype):
        for plane in slab:  # plane by plane: no slab-sized temporaries
            finite = plane[np.isfinite(plane)]
            if finite.size:
                lowest, highest = min(lowest, float(finite.min())), max(highest, float(finite.max()))
        pyramid.push(0, slab)
    pyramid.finish()
    summary: dict[str, Any] = {"path": target.name, "ngff_version": "0.4", "dtype": dtype,
                               "chunk": [min(chunk, s) for s in shape], "pixel_size_um": pixel_um,
                               "levels": _level_facts(target, shapes)}
    if exports:
        low, high = volume_percentiles(arrays[0], chunk, (lowest, highest), percentiles)
        summary["exports"] = [write_export(arrays, target.parent / export_name(d), d, chunk, pixel_um,
                                           low, high, percentiles) for d in exports]
    return summary


def _level_facts(target: pathlib.Path, shapes: list[tuple[int, ...]]) -> list[dict[str, Any]]:
    facts = []
    for i, level_shape in enumerate(shapes):
        files = [p for p in (target / str(i)).rglob("*") if p.is_file()]
        facts.append({"path": str(i), "shape": list(level_shape),
                      "bytes": sum(p.stat().st_size for p in files), "files": len(files)})
    return facts


def volume_percentiles(array: Any, depth: int, bounds: tuple[float, float],
                       percentiles: Sequence[float]) -> tuple[float, float]:
    """Two percentiles of the whole ``array``, from a histogram of 65536 bins between
    ``bounds`` accumulated ``depth`` planes at a time (error: one bin)."""
    lowest, highest = bounds
    if not math.isfinite(lowest) or highest <= lowest:
        return (lowest, lowest) if math.isfinite(lowest) else (0.0, 0.0)
    counts = np.zeros(HISTOGRAM_BINS, dtype=np.int64)
    for start in range(0, array.shape[0], depth):
        for plane in np.asarray(array[start:start + depth]):  # np.histogram copies its input
            counts += np.histogram(plane[np.isfinite(plane)], HISTOGRAM_BINS, (lowest, highest))[0]
    cumulative = np.cumsum(counts)
    edges = np.linspace(lowest, highest, HISTOGRAM_BINS + 1)
    found = [float(edges[min(int(np.searchsorted(cumulative, cumulative[-1] * p / 100.0)),
                             HISTOGRAM_BINS - 1) + (1 if p > 50 else 0)]) for p in percentiles]
    return found[0], found[1]


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


def write_export(arrays: list[Any], target: pathlib.Path, dtype: str, chunk: int,
                 pixel_um: float | None, low: float, high: float,
                 percentiles: Sequence[float]) -> dict[str, Any]:
    """A ``dtype`` copy of every level of ``arrays`` at ``target``, slab by slab."""
    if dtype not in EXPORT_DTYPES:
        raise ValueError(f"export {dtype!r}: use one of {list(EXPORT_DTYPES)}")
    top = int(np.iinfo(dtype).max)
    scaling = {"dtype": dtype, "low": low, "high": high, "percentiles": list(percentiles),
               "stored_max": top, "to_value": f"value = low + stored * (high - low) / {top}"}
    shapes = [tuple(a.shape) for a in arrays]
    copies = _create(target, shapes, dtype, chunk, pixel_um, target.name,
                     {"method": DOWNSAMPLING, "scaling": scaling})
    for source, copy in zip(arrays, copies):
        for start in range(0, source.shape[0], chunk):
            slab = np.asarray(source[start:start + chunk])
            copy[start:start + chunk] = np.stack([scaled(plane, dtype, low, high) for plane in slab])
    return {"path": target.name, **scaling, "levels": _level_facts(target, shapes)}


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
    unknown = sorted(set(given) - {"enable", "chunk", "exports", "percentiles"})
    if unknown:
        raise ValueError(f"unknown tomocupy.zarr setting(s) {unknown}; allowed: enable, chunk, "
                         "exports, percentiles")
    chunk = int(given.get("chunk") or DEFAULT_CHUNK)
    exports = [str(d) for d in given.get("exports") or []]
    percentiles = [float(p) for p in given.get("percentiles") or DEFAULT_PERCENTILES]
    if (any(d not in EXPORT_DTYPES for d in exports) or not 8 <= chunk <= 512
            or len(percentiles) != 2 or not 0 <= percentiles[0] < percentiles[1] <= 100):
        raise ValueError(f"tomocupy.zarr: exports must be among {list(EXPORT_DTYPES)}, chunk 8 to 512, "
                         f"percentiles two numbers 0 <= low < high <= 100 (got {given})")
    settings: dict[str, Any] = {"enable": bool(given.get("enable", True)), "chunk": chunk,
                                "exports": exports, "percentiles": percentiles}
    return settings


def read_level(target: pathlib.Path, level: int = 0) -> np.ndarray:
    """A whole level of an OME-Zarr (for tests and small volumes: it is held in memory)."""
    import zarr

    return np.asarray(zarr.open_array(str(target / str(level)), mode="r")[...])
