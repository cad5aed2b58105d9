"""A small OME-Zarr (NGFF 0.4 multiscale, Zarr format 2) written from a reconstruction's TIFF
slices with zarr-python, as the viewer tests need one; the pipeline's own Zarr step writes the
real ones. Each level halves every axis of the one before (a mean of 2 x 2 x 2 voxels)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def tiff_volume(reconstruction: Path) -> np.ndarray:
    """The reconstruction's ``*.tif*`` slices as one float32 volume (z in name order)."""
    import tifffile

    slices = sorted(reconstruction.glob("*.tif*"))
    return np.stack([tifffile.imread(p) for p in slices]).astype(np.float32)


def write_ome_zarr(reconstruction: Path, name: str = "volume.ome.zarr", **options: Any) -> Path:
    """``reconstruction/name`` from its TIFF slices (see :func:`write_levels` for ``options``)."""
    return write_levels(tiff_volume(reconstruction), reconstruction / name, **options)


def write_levels(volume: np.ndarray, target: Path, *, smallest: int = 16,
                 chunks: tuple[int, int, int] = (2, 32, 32), window: tuple[float, float] | None = None,
                 pixel_size: float = 1.0, ngff: str = "0.4") -> Path:
    """``volume`` as the multiscale Zarr ``target``, levels down to ``smallest`` pixels across;
    ``window`` becomes the omero display window when given. NGFF ``0.4`` is Zarr format 2 with
    ``/`` chunk keys; ``0.5`` is Zarr format 3, its metadata under ``ome``."""
    import zarr

    zarr_format = 2 if ngff == "0.4" else 3
    group = zarr.open_group(str(target), mode="w", zarr_format=zarr_format)
    keys = {"chunk_key_encoding": {"name": "v2", "separator": "/"}} if zarr_format == 2 else {}
    datasets = []
    level, scale = volume, 1.0
    while True:
        path = str(len(datasets))
        array = group.create_array(path, shape=level.shape, dtype=level.dtype,
                                   chunks=tuple(min(c, s) for c, s in zip(chunks, level.shape)),
                                   **keys)
        array[...] = level
        datasets.append({"path": path, "coordinateTransformations": [
            {"type": "scale", "scale": [pixel_size * scale] * 3}]})
        if min(level.shape[1:]) // 2 < smallest or level.shape[0] < 2:
            break
        level = _halve(level)
        scale *= 2
    image: dict[str, Any] = {"multiscales": [{
        "name": target.stem, "datasets": datasets,
        "axes": [{"name": a, "type": "space", "unit": "micrometer"} for a in "zyx"]}]}
    if window is not None:
        image["omero"] = {"channels": [{"window": {"start": window[0], "end": window[1],
                                                   "min": window[0], "max": window[1]}}]}
    if zarr_format == 2:
        image["multiscales"][0]["version"] = ngff
        group.attrs.update(image)
    else:
        group.attrs["ome"] = {"version": ngff, **image}
    return target


def _halve(volume: np.ndarray) -> np.ndarray:
    z, y, x = (s // 2 * 2 for s in volume.shape)
    v = volume[:z, :y, :x]
    return v.reshape(z // 2, 2, y // 2, 2, x // 2, 2).mean(axis=(1, 3, 5)).astype(volume.dtype)
