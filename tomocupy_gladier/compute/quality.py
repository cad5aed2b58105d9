"""Quality gates: a raw DXchange scan checked before it is reconstructed, and a reconstructed
volume checked before it is accepted.

The same checks run at planning (when the scan is readable there) and in the reconstruction
step, before tomocupy starts. Scans are tens of GB: every check reads a bounded sample (a few
flat and dark frames, a few rows of every projection, streamed in blocks), never a whole array.

A finding is *impossible* (the scan is refused: nothing a reconstruction makes of it means
anything) or *doubtful* (it is reconstructed, and the result carries a warning and the measured
figures: the ``quality`` block of the step's summary and of the published record). The
thresholds below are tuned on synthetic scans with each fault and on clean ones (the demo,
the centre scan set, tall, noisy, ringed and zingered scans; see tests/test_quality.py and
docs/quality.md).
"""

from __future__ import annotations

import math
import pathlib
from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np

DATA, FLAT, DARK, THETA = "/exchange/data", "/exchange/data_white", "/exchange/data_dark", "/exchange/theta"

# --- how much is read --------------------------------------------------------------------------
#: flat and dark frames read (evenly spaced)
SAMPLE_FRAMES = 8
#: detector rows read of each sampled flat and dark frame (evenly spaced)
SAMPLE_ROWS = 8
#: detector rows read of every projection (evenly spaced): the beam and saturation checks
PROJECTION_ROWS = 4
#: projections read at once (memory: BLOCK x PROJECTION_ROWS x columns x 4 bytes)
BLOCK = 128
#: reconstructed slices read after the reconstruction (evenly spaced, the first and last among them)
VOLUME_SLICES = 64
#: bytes of flat and dark frames read at once by the per-pixel dead check (whole frames, in row blocks)
PIXEL_BLOCK_BYTES = 16 << 20
#: dead pixels listed by position in the figures (the count is always whole)
LISTED_PIXELS = 20

# --- impossible: refused ----------------------------------------------------------------------
#: flats (or projections) whose mean signal above the darks is at most this fraction of the
#: dark level are "no brighter than the darks"
NO_SIGNAL = 0.01

# --- doubtful: reconstructed with a warning -----------------------------------------------------
#: a projection whose signal is under this fraction of its neighbours' median (BEAM_WINDOW
#: projections around it), or under BEAM_GLOBAL of the scan's 90th percentile, lost the beam
BEAM_LOCAL = 0.5
BEAM_GLOBAL = 0.1
BEAM_WINDOW = 31
#: a pixel is dead when its flat signal is under this fraction of the detector's median
DEAD_LEVEL = 0.05
#: a pixel is saturated when it is at the detector's maximum (integer data) in more than half
#: of the sampled frames (zingers are not: they come and go)
PERSISTENT = 0.5
#: dead or saturated pixels over this fraction of the sampled detector area are a warning
REGION_FRACTION = 0.001
#: a reconstructed slice whose detail (median absolute difference of neighbouring pixels) is at
#: most this fraction of the checked slices' median detail is blank or featureless: a dead pixel's
#: NaN spread over its row's sinogram by fw ring removal, 6.0 everywhere after tomocupy's minus-log,
#: reconstructs to a smooth disc (detail 0.0006 of the other slices' at 160 columns, 0.004 at 64;
#: noisy slices of one volume stay within a factor of about 2 of each other)
BLANK_DETAIL = 0.02
#: angles spanning at most this many "degrees" over many projections are likely radians
RADIANS_SPAN = 2 * math.pi + 0.01


@dataclass(frozen=True)
class Finding:
    """One thing wrong with a scan: the dataset it is in, and what."""

    dataset: str
    problem: str

    def __str__(self) -> str:
        return f"{self.dataset} {self.problem}"


class ScanRefused(ValueError):
    """The scan cannot be reconstructed into anything meaningful (nothing was started)."""

    def __init__(self, scan: pathlib.Path, findings: list[Finding]) -> None:
        self.scan = scan
        self.findings = findings
        super().__init__(f"{scan.name} cannot be reconstructed: " + "; ".join(map(str, findings)))


@dataclass
class ScanQuality:
    """What the checks found and measured."""

    refusals: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)

    def refuse(self, scan: pathlib.Path) -> None:
        """Raise :class:`ScanRefused` when anything is impossible."""
        if self.refusals:
            raise ScanRefused(scan, self.refusals)

    def record(self) -> dict[str, Any]:
        """The ``quality`` block: ``status`` (ok | warning), the warnings in words, the figures."""
        return {"status": "warning" if self.warnings else "ok",
                "warnings": [str(w) for w in self.warnings], "figures": self.figures}


def check_scan(scan: pathlib.Path, flat_file: pathlib.Path | None = None,
               dark_file: pathlib.Path | None = None) -> ScanQuality:
    """Check the raw scan ``scan`` (flats and darks from ``flat_file``/``dark_file`` when given,
    as tomocupy's ``--flat-file-name``/``--dark-file-name``). Raises ``OSError`` when a file
    cannot be opened; everything about the contents is a finding."""
    import h5py

    quality = ScanQuality()
    with h5py.File(scan, "r") as h5, \
            h5py.File(flat_file or scan, "r") as fh, h5py.File(dark_file or scan, "r") as dh:
        data, flats, darks = h5.get(DATA), fh.get(FLAT), dh.get(DARK)
        if not _layout_ok(quality, data, flats, darks):
            return quality
        flat = _frames(flats)
        dark = _frames(darks)
        _check_angles(quality, h5.get(THETA), int(data.shape[0]))
        for name, sample in ((FLAT, flat), (DARK, dark)):
            if not np.isfinite(sample).all():
                quality.refusals.append(Finding(name, "holds NaN or infinite values"))
        if quality.refusals:
            return quality
        dark_level = float(dark.mean())
        _check_flats(quality, flat, dark, dark_level, data.dtype)
        if not quality.refusals:
            _check_dead_pixels(quality, flats, darks)
            _check_projections(quality, data, flat, dark, dark_level)
    return quality


def _layout_ok(quality: ScanQuality, data: Any, flats: Any, darks: Any) -> bool:
    """The datasets tomocupy needs, 3-D, not empty, their frames the projections' size."""
    import h5py

    for name, node in ((DATA, data), (FLAT, flats), (DARK, darks)):
        if not isinstance(node, h5py.Dataset):
            quality.refusals.append(Finding(name, "is missing"))
        elif node.ndim != 3 or 0 in node.shape:
            quality.refusals.append(Finding(name, f"has shape {node.shape}, expected 3-D frames"))
    if quality.refusals:
        return False
    for name, node in ((FLAT, flats), (DARK, darks)):
        if node.shape[1:] != data.shape[1:]:
            quality.refusals.append(Finding(name, f"frames are {node.shape[1]} x {node.shape[2]}, "
                                                  f"the projections {data.shape[1]} x {data.shape[2]}"))
    return not quality.refusals


def _spread(count: int, most: int) -> list[int]:
    """Up to ``most`` indices evenly spread over ``range(count)``, increasing, unique."""
    return sorted({int(i) for i in np.linspace(0, count - 1, min(count, most)).round()})


def _frames(node: Any) -> np.ndarray:
    """Sampled frames x sampled rows x columns of a flat or dark dataset, as float32."""
    rows = _spread(node.shape[1], SAMPLE_ROWS)
    return np.stack([np.asarray(node[i, rows, :], dtype=np.float32)
                     for i in _spread(node.shape[0], SAMPLE_FRAMES)])


def _top(dtype: np.dtype) -> float | None:
    """The detector's maximum count (integer data), else None."""
    return float(np.iinfo(dtype).max) if np.issubdtype(dtype, np.integer) else None


def _check_angles(quality: ScanQuality, theta: Any, nproj: int) -> None:
    if theta is None:
        quality.figures["angles"] = {"source": "absent: tomocupy's linspace(0, 180, nproj)"}
        return
    angles = np.asarray(theta[()], dtype=np.float64).ravel()
    if angles.size != nproj:
        quality.refusals.append(Finding(THETA, f"has {angles.size} angles for {nproj} "
                                               f"projections in {DATA}"))
        return
    if not np.isfinite(angles).all():
        quality.refusals.append(Finding(THETA, f"holds {int((~np.isfinite(angles)).sum())} "
                                               "NaN or infinite angles"))
        return
    span = float(angles.max() - angles.min())
    quality.figures["angles"] = {"count": int(angles.size), "range_deg": round(span, 4)}
    if nproj > 1 and span == 0:
        quality.refusals.append(Finding(THETA, f"is {angles[0]:g} for every projection"))
    elif nproj >= 10 and span <= RADIANS_SPAN:
        quality.warnings.append(Finding(THETA, f"spans {span:.3g} degrees over {nproj} projections: "
                                               "tomocupy reads degrees; are these radians?"))


def _check_flats(quality: ScanQuality, flat: np.ndarray, dark: np.ndarray, dark_level: float,
                 dtype: np.dtype) -> None:
    flat_level = float(flat.mean())
    signal = flat.mean(axis=0) - dark.mean(axis=0)
    median = float(np.median(signal))
    figures: dict[str, Any] = {"flat_mean": round(flat_level, 3), "dark_mean": round(dark_level, 3),
                               "flat_signal_median": round(median, 3),
                               "sampled_frames": [int(flat.shape[0]), int(dark.shape[0])],
                               "sampled_rows": int(flat.shape[1])}
    quality.figures["flats"] = figures
    if not flat.any():
        quality.refusals.append(Finding(FLAT, "is all zero (shutter closed during the flat field?)"))
        return
    if flat_level - dark_level <= NO_SIGNAL * abs(dark_level):
        quality.refusals.append(Finding(FLAT, f"is no brighter than {DARK} (mean {flat_level:.4g} "
                                              f"counts, darks {dark_level:.4g})"))
        return
    dead = float((signal < DEAD_LEVEL * median).mean())
    figures["dead_fraction"] = round(dead, 6)  # the warning comes with the per-pixel count
    top = _top(dtype)
    if top is not None:
        saturated = float(((flat >= top).mean(axis=0) > PERSISTENT).mean())
        figures["saturated_fraction"] = round(saturated, 6)
        if saturated > REGION_FRACTION:
            quality.warnings.append(Finding(FLAT, f"is saturated ({top:g} counts) on {saturated:.2%} "
                                                  "of the sampled pixels"))


def _check_dead_pixels(quality: ScanQuality, flats: Any, darks: Any) -> None:
    """Pixels whose flat is no brighter than their dark (zero in both, as a DLS I13 detector's
    pixel (0, 0)): tomocupy's dark-flat correction divides by zero there, NaN or infinite values
    that its minus-log turns into numbers only after the ring removal, which spreads them over
    the row's whole sinogram (``fw``: a featureless slice). Every pixel counts, so whole frames are
    read (the sampled frames, in row blocks); one warning with the regional fraction."""
    frames_f, frames_d = _spread(flats.shape[0], SAMPLE_FRAMES), _spread(darks.shape[0], SAMPLE_FRAMES)
    nrows, ncols = int(flats.shape[1]), int(flats.shape[2])
    step = max(1, PIXEL_BLOCK_BYTES // (4 * ncols * max(len(frames_f), len(frames_d))))
    rows: list[int] = []
    columns: list[int] = []
    count = 0
    for r0 in range(0, nrows, step):
        block = slice(r0, min(nrows, r0 + step))
        flat = np.mean([np.asarray(flats[i, block, :], dtype=np.float64) for i in frames_f], axis=0)
        dark = np.mean([np.asarray(darks[i, block, :], dtype=np.float64) for i in frames_d], axis=0)
        where = np.nonzero(flat - dark <= 0)
        count += int(where[0].size)
        rows += [r0 + int(r) for r in where[0][:LISTED_PIXELS]]
        columns += [int(c) for c in where[1][:LISTED_PIXELS]]
    figures = quality.figures["flats"]
    figures["dead_pixels"] = count
    if count:
        figures["dead_pixel_rows"] = sorted(set(rows))[:LISTED_PIXELS]
        figures["dead_pixels_at"] = [[r, c] for r, c in zip(rows, columns)][:LISTED_PIXELS]
    regional = figures.get("dead_fraction", 0.0) > REGION_FRACTION
    if not (count or regional):
        return
    named = ", ".join(f"row {r}, column {c}" for r, c in list(zip(rows, columns))[:3])
    plural = "s" if count > 1 else ""
    detail = (f"no brighter than {DARK} ({named}{', ...' if count > 3 else ''}): the dark-flat correction "
              f"divides by zero there, and with fw ring removal the slice of "
              f"{'its row' if len(set(rows)) == 1 else 'each such row'} comes out featureless")
    if regional:
        problem = (f"shows {figures['dead_fraction']:.2%} of the sampled pixels dead (flat signal under "
                   f"{DEAD_LEVEL:.0%} of the median): rings or empty slices")
        quality.warnings.append(Finding(FLAT, problem + (f"; {count} pixel{plural} {detail}" if count else "")))
    else:
        quality.warnings.append(Finding(FLAT, f"has {count} dead pixel{plural}, {detail}"))


def _check_projections(quality: ScanQuality, data: Any, flat: np.ndarray, dark: np.ndarray,
                       dark_level: float) -> None:
    """Every projection's signal on a few rows (the beam), and pixels stuck at the maximum."""
    nproj, nrows, _ = (int(v) for v in data.shape)
    rows = _spread(nrows, PROJECTION_ROWS)
    top = _top(data.dtype)
    level = np.empty(nproj, np.float64)
    at_top = np.zeros((len(rows), int(data.shape[2])), np.int64)
    finite = True
    for start in range(0, nproj, BLOCK):
        block = np.asarray(data[start:start + BLOCK, rows, :], dtype=np.float32)
        finite = finite and bool(np.isfinite(block).all())
        level[start:start + len(block)] = block.mean(axis=(1, 2), dtype=np.float64)
        if top is not None:
            at_top += (block >= top).sum(axis=0)
    if not finite:
        quality.refusals.append(Finding(DATA, "holds NaN or infinite values"))
        return
    signal = level - dark_level
    median = float(np.median(signal))
    flat_signal = float(flat.mean()) - dark_level
    figures: dict[str, Any] = {"signal_median": round(median, 3),
                               "transmission_median": round(median / flat_signal, 4),
                               "sampled_rows": len(rows)}
    quality.figures["projections"] = figures
    if median <= NO_SIGNAL * abs(dark_level):
        quality.refusals.append(Finding(DATA, f"is no brighter than {DARK} (median {median + dark_level:.4g} "
                                              f"counts, darks {dark_level:.4g}): beam off or shutter "
                                              "closed during the scan?"))
        return
    _check_beam(quality, signal, figures)
    if top is not None:
        saturated = float((at_top > PERSISTENT * nproj).mean())
        figures["saturated_fraction"] = round(saturated, 6)
        if saturated > REGION_FRACTION:
            quality.warnings.append(Finding(DATA, f"is saturated ({top:g} counts) on {saturated:.2%} "
                                                  "of the sampled pixels in most projections"))


def _check_beam(quality: ScanQuality, signal: np.ndarray, figures: dict[str, Any]) -> None:
    """Projections far darker than their neighbours (or than the scan): the beam was lost."""
    from scipy.ndimage import median_filter

    local = median_filter(signal, size=min(BEAM_WINDOW, len(signal)), mode="nearest")
    reference = np.maximum(local, 1e-12)
    ratio = signal / reference
    bright = float(np.percentile(signal, 90))
    lost = (ratio < BEAM_LOCAL) | (signal < BEAM_GLOBAL * bright)
    figures["darkest_to_neighbours"] = round(float(ratio.min()), 4)
    figures["darkest_to_scan"] = round(float(signal.min()) / bright, 4)
    figures["beam_lost"] = int(lost.sum())
    if lost.any():
        where = np.flatnonzero(lost)
        figures["beam_lost_projections"] = [int(i) for i in where[:20]]
        quality.warnings.append(Finding(DATA, f"has {len(where)} of {len(signal)} projections far darker "
                                              f"than their neighbours (from projection {where[0]}): "
                                              "beam lost during the scan?"))


# --- after the reconstruction --------------------------------------------------------------------

def check_volume(slices: list[pathlib.Path] | None = None, h5_file: pathlib.Path | None = None,
                 also: Iterable[int] = ()) -> tuple[list[str], dict[str, Any], list[str]]:
    """Problems of a reconstructed volume (NaN or infinite values, one value everywhere), its
    figures and its warnings (blank or constant slices inside it), from up to
    :data:`VOLUME_SLICES` slices read one at a time, plus the slices ``also`` names (their
    places in the volume: those of rows with dead pixels): TIFF ``slices``, or
    ``/exchange/data`` of ``h5_file``."""
    names: list[str] = []
    details: list[float] = []
    lowest, highest, bad = math.inf, -math.inf, 0
    problems: list[str] = []
    for name, image in _volume_slices(slices, h5_file, also):
        names.append(name)
        finite = np.isfinite(image)
        if not finite.all():
            bad += int((~finite).sum())
            problems.append(f"{name} holds {int((~finite).sum())} NaN or infinite values")
        if finite.any():
            lowest = min(lowest, float(image[finite].min()))
            highest = max(highest, float(image[finite].max()))
        details.append(_detail(image) if finite.all() else math.nan)
    figures: dict[str, Any] = {"checked_slices": len(names)}
    warnings: list[str] = []
    if names and math.isfinite(lowest):
        figures.update(min=float(f"{lowest:.6g}") + 0.0, max=float(f"{highest:.6g}") + 0.0)  # no -0.0
        if lowest == highest:
            problems.append(f"the volume is constant ({lowest:g} in every checked slice, "
                            f"{names[0]} to {names[-1]})")
        else:
            warnings = _blank_slices(names, details, figures)
    return problems[:3], figures, warnings


def _detail(image: np.ndarray) -> float:
    """How much a slice changes from pixel to pixel: the median absolute difference of
    horizontal neighbours (noise and edges; 0 for a constant slice, about 0 for a smooth one)."""
    image = np.asarray(image, dtype=np.float64)
    return float(np.median(np.abs(np.diff(image, axis=-1)))) if image.shape[-1] > 1 else 0.0


def _blank_slices(names: list[str], details: list[float], figures: dict[str, Any]) -> list[str]:
    """Slices with (almost) no detail inside a volume whose other slices have it."""
    known = [d for d in details if math.isfinite(d)]
    typical = float(np.median(known)) if known else 0.0
    blank = [(name, detail) for name, detail in zip(names, details)
             if math.isfinite(detail) and detail <= BLANK_DETAIL * typical]
    if not blank or typical == 0 or len(blank) == len(names):
        return []
    figures["blank_slices"] = [name for name, _ in blank][:LISTED_PIXELS]
    listed = ", ".join(f"{name} ({'constant' if detail == 0 else f'detail {detail:.2g}'})"
                       for name, detail in blank[:5])
    return [f"{len(blank)} of {len(names)} checked slices are blank, constant or featureless inside the "
            f"volume (the median slice's detail is {typical:.2g}): {listed}{', ...' if len(blank) > 5 else ''}; "
            "dead detector pixels in their rows (with fw ring removal)?"]


def _picked(count: int, also: Iterable[int]) -> list[int]:
    """The evenly spread slices and those of ``also`` inside ``range(count)``, in order."""
    return sorted(set(_spread(count, VOLUME_SLICES)) | {int(i) for i in also if 0 <= int(i) < count})


def _volume_slices(slices: list[pathlib.Path] | None, h5_file: pathlib.Path | None, also: Iterable[int]):
    if slices:
        import tifffile

        for i in _picked(len(slices), also):
            yield slices[i].name, np.asarray(tifffile.imread(slices[i]))
    elif h5_file is not None:
        import h5py

        with h5py.File(h5_file, "r") as h5:
            volume = h5["/exchange/data"]
            for i in _picked(int(volume.shape[0]), also):
                yield f"{h5_file.name}:/exchange/data[{i}]", np.asarray(volume[i])
