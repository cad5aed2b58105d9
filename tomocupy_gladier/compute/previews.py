"""The previews step on the endpoint: PNG sections of a reconstruction, and for a try run the
focus measure over the candidates, the suggested centre and the montage made for choosing."""

from __future__ import annotations

import json
import math
import os
import pathlib
import re
import shutil
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from tomocupy_gladier.compute.axis import searches
from tomocupy_gladier.compute.disk_space import full_disk, previews_bytes
from tomocupy_gladier.compute.multiscale import ZARR_NAME, open_level

TRY_PATTERN = re.compile(r"recon_slice(\d+)_center([-+0-9.]+?)\.tiff?$")
FULL_PATTERN = re.compile(r"recon_(\d+)\.tiff?$")
YELLOW, CYAN, LIGHT = (255, 220, 0), (0, 200, 255), (230, 230, 230)
PAD = 4
LINE_H = 15
FOCUS_H = 150  # the focus plots' height
Mark = tuple[float, tuple[int, int, int], str]


@dataclass
class Look:
    """How sections are drawn: the intensity window's percentiles, the largest side, the
    reconstruction's pixel size (for the scale bar) and the folder the PNGs go to."""

    folder: pathlib.Path
    low_q: float = 0.5
    high_q: float = 99.5
    max_size: int = 1024
    pixel_um: float | None = None

    def window(self, values: np.ndarray) -> tuple[float, float]:
        values = values[np.isfinite(values)]
        if values.size == 0:
            return 0.0, 1.0
        lo, hi = (float(v) for v in np.percentile(values, (self.low_q, self.high_q)))
        return (lo, hi) if hi > lo else (lo, lo + 1.0)


def make_previews(tomocupy: dict | None = None, recon: dict | None = None,
                  recon_result: dict | None = None, previews: dict | None = None,
                  run_id: str | None = None) -> dict:
    """Write PNG previews of a tomocupy reconstruction into ``<output>/previews/``.

    The reconstruction is the folder TomocupyRecon reports (``recon_result["output"]``), else
    ``previews["output"]``; nothing is guessed. With ``run_id`` (the flow run), the folder's
    ``manifest.json`` must name the same run: previews are never made of another run's result.

    - Full reconstruction (``recon_{row:05d}.tiff`` folder, HDF5 ``/exchange/data``, or the
      finest level of ``volume.ome.zarr`` where the slices were not kept):
      mid-sections ``xy.png``, ``xz.png``, ``yz.png`` with the intensities clipped at the
      ``percentiles`` (default 0.5, 99.5) and a scale bar when the pixel size is known. Only the
      needed data is read: the middle file for XY and one row / one column of each (at most
      ``max_sections``, evenly sampled) file for XZ / YZ.
    - Try reconstruction (``recon_slice{row:04d}_center{c:05.2f}.tiff``, the middle row):
      the suggested centre and ``try_montage.png``, made for choosing: the ranked candidates
      nearest the suggestion as crops at full resolution (1:1, cut where the candidates differ
      most, so half a pixel shows), the focus curve over the whole range and near its minimum
      (``try_focus.png``), and an overview of whole slices over the range. The suggestion is
      framed in yellow and labelled ``suggested <centre>`` on its tile (the candidate nearest
      to it) and on the curves; the automatic axis (``recon_result["rotation_axis"]`` when
      ``recon["rotation-axis-auto"]`` is ``auto``) is marked in cyan. Each crop is also saved as
      ``try_center<centre>.png`` for the browser view and the interactive choice; each crop's
      place on the montage is its tile's ``box`` (x, y, width, height in montage pixels).

    Focus measure: the L1/L2 ratio of the gradient magnitude (a sparsity measure) after a
    Gaussian blur, inside the inscribed disk; lowest is sharpest. A wrong centre turns the
    phases of a 180-degree slice without changing its power spectrum (so gradient energy is
    blind to it) and blurs a 360-degree one; both spread the gradient over more pixels. A
    coarse pass over every candidate (block means) finds the minimum, a full-resolution pass
    within 2.5 px of it places it (candidates whose axis is off the detector's columns are not
    considered), and a least-squares parabola through the candidates within a
    pixel of the minimum (at least one each side) gives the sub-candidate suggestion (the best
    candidate where the parabola does not hold). ``benchmarks/bench_centre.py`` holds the evidence.

    Options in ``previews``: ``output``, ``folder`` ("previews"), ``percentiles``, ``max_size``
    (1024 px), ``max_sections`` (512), ``pixel_size_um`` (of the reconstruction; otherwise the
    ``pixel-size`` option or the scan's ``objective/resolution``, times ``2**binning``),
    try runs: ``crop_size`` (160 px), ``crop_count`` (7), ``tile_size`` (overview, 128 px),
    ``montage_max`` (overview tiles, 12). With ``run_id``, the images are also kept beside the
    run's log (``kept``: ``<logs>/<run id>.previews``), the run's own when a later run of the
    scan replaces the folder. Returns a small JSON-able dict; raises when there is nothing to
    preview.
    """
    settings = dict(tomocupy or {})
    params = dict(recon or {})
    options = dict(previews or {})
    low_q, high_q = (float(q) for q in options.get("percentiles", (0.5, 99.5)))
    binning = 2 ** int(params.get("binning") or 0)
    scan = pathlib.Path(settings["file_name"]) if settings.get("file_name") else None
    output = _checked_output(recon_result, options, run_id)
    tries, fulls, h5_file, folder = find_reconstruction(output, options)
    pixel_um, pixel_source = pixel_size(options, params, scan, binning)
    look = Look(folder, low_q, high_q, int(options.get("max_size", 1024)), pixel_um)
    result: dict[str, Any] = {"output": str(output), "folder": str(folder), "pixel_size_um": pixel_um,
                              "pixel_size_source": pixel_source if pixel_um else None}
    try:
        if tries:
            result.update(try_previews(output, tries, params, options, recon_result, look, binning))
        else:
            result.update(full_previews(output, fulls, h5_file, int(options.get("max_sections", 512)), look))
        kept = keep_for_run(folder, result["previews"], recon_result, run_id)
    except OSError as exc:
        full = full_disk(exc, folder, previews_bytes("try" if tries else "full", look.max_size),
                         "writing the previews into")
        if full is None:
            raise
        raise full from exc
    if kept is not None:
        result["kept"] = str(kept)
    return result


def keep_for_run(folder: pathlib.Path, files: list[str], recon_result: dict | None,
                 run_id: str | None) -> pathlib.Path | None:
    """A copy of this run's preview images beside its log (``<logs>/<run id>.previews``, same
    names as in ``folder``): the reconstruction folder is the scan's, and the next run of it
    replaces the images there (tomocupy's try folder is one per scan), so the run's page shows
    its own from here. None without a run or a log to put them beside."""
    log_file = (recon_result or {}).get("log_file")
    if not run_id or not log_file:
        return None
    kept = pathlib.Path(log_file).parent / f"{run_id}.previews"
    if kept.exists():
        shutil.rmtree(kept)
    for file in files:
        source = pathlib.Path(file)
        if source.is_relative_to(folder) and source.is_file():
            target = kept / source.relative_to(folder)
            target.parent.mkdir(parents=True, exist_ok=True)
            temporary = target.with_name(f".{target.name}.part")
            shutil.copyfile(source, temporary)
            os.replace(temporary, target)
    return kept


def _checked_output(recon_result: dict | None, options: dict, run_id: str | None) -> pathlib.Path:
    """Where the reconstruction is: what the reconstruction step reported, made by this run."""
    output = (recon_result or {}).get("output") or options.get("output")
    if not output:
        raise ValueError("no reconstruction to preview: give recon_result.output (the reconstruction "
                         "step's result) or previews.output")
    output = pathlib.Path(output)
    if run_id is not None and (recon_result or {}).get("manifest"):
        try:
            made_by = json.loads(pathlib.Path(recon_result["manifest"]).read_text()).get("run_id")  # type: ignore[index]
        except (OSError, ValueError) as exc:
            raise RuntimeError(f"cannot read the reconstruction's manifest: {exc}") from None
        if made_by != run_id:
            raise RuntimeError(f"{output} was replaced by run {made_by} after this run ({run_id}) "
                               "reconstructed it; no previews made")
    return output


def find_reconstruction(output: pathlib.Path, options: dict) -> tuple[list, list, pathlib.Path | None,
                                                                        pathlib.Path]:
    """The try candidates (match, name), the full slices (row, name), the HDF5 volume and the
    previews folder of the reconstruction at ``output``."""
    names = [p.name for p in output.iterdir() if p.is_file()] if output.is_dir() else []
    tries = [(m, n) for n in names if (m := TRY_PATTERN.match(n))]
    fulls = sorted((int(m.group(1)), n) for n in names if (m := FULL_PATTERN.match(n)))
    h5_file = None
    for candidate in (output / f"{output.name}.h5", output):
        if candidate.is_file() and candidate.suffix in (".h5", ".hdf5", ".hdf"):
            h5_file = candidate
            break
    if not (tries or fulls or h5_file) and (output / ZARR_NAME / ".zattrs").is_file():
        h5_file = output / ZARR_NAME  # formats = ["zarr"]: the volume is the OME-Zarr alone
    if tries or fulls:
        folder = output / options.get("folder", "previews")
    elif h5_file is not None:
        folder = (output if output.is_dir() else h5_file.parent) / options.get("folder", "previews")
    else:
        raise FileNotFoundError(f"no recon_*.tiff, recon_slice*_center*.tiff, HDF5 or OME-Zarr "
                                f"reconstruction at {output}")
    return tries, fulls, h5_file, folder


def scan_pixel_size(scan: pathlib.Path | None) -> float | None:
    """The scan's ``objective/resolution`` in microns, when it has one."""
    if scan is None or not scan.is_file():
        return None
    import h5py

    units = {"nm": 1e-3, "um": 1.0, "microns": 1.0, "micron": 1.0, "mm": 1e3, "m": 1e6}
    try:
        with h5py.File(scan, "r") as h5:
            node = h5.get("/measurement/instrument/detection_system/objective/resolution")
            if node is None:
                return None
            value = float(np.asarray(node[()], dtype=np.float64).ravel()[0])
            unit = node.attrs.get("units", b"um")
            unit = unit.decode() if isinstance(unit, bytes) else str(unit)
            return value * units.get(unit.strip().replace("µ", "u"), 1.0)
    except (OSError, ValueError, TypeError, IndexError):
        return None


def pixel_size(options: dict, params: dict, scan: pathlib.Path | None,
               binning: int) -> tuple[float | None, str]:
    """The reconstruction's pixel size in microns and where it came from."""
    pixel_um = options.get("pixel_size_um")
    pixel_source = "previews.pixel_size_um"
    if not pixel_um:
        raw = float(params.get("pixel-size") or 0) or None
        pixel_source = "recon pixel-size x 2**binning"
        if raw is None:
            raw = scan_pixel_size(scan)
            pixel_source = "scan objective/resolution x 2**binning"
        pixel_um = raw * binning if raw else None
    return (float(pixel_um) if pixel_um and float(pixel_um) > 0 else None), pixel_source


# --- drawing ------------------------------------------------------------------------------------

def font(size: int) -> Any:
    """A scalable font of ``size`` px where one is installed, else Pillow's default."""
    for name in ("DejaVuSans.ttf", "LiberationSans-Regular.ttf", "Arial.ttf"):
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: one bitmap size only
        return ImageFont.load_default()


def micro(text_font: Any) -> str:
    """The micro sign, or 'u' where the font has no glyph for it (it would draw a box)."""
    def render(text: str) -> bytes:
        image = Image.new("L", (64, 64))
        ImageDraw.Draw(image).text((4, 4), text, font=text_font, fill=255)
        return image.tobytes()
    return "\u00b5" if render("\u00b5") != render("\u0378") else "u"


def to_grey(section: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """``section`` as 8-bit grey, ``lo``..``hi`` stretched over 0..255."""
    scaled = (np.nan_to_num(section.astype(np.float32), nan=lo) - lo) * (255.0 / (hi - lo))
    return np.clip(scaled, 0, 255).astype(np.uint8)


def scale_bar(image: Image.Image, um_per_px: float) -> dict:
    """Draw a 1-2-5 scale bar of about a fifth of the width in the lower left corner."""
    width, height = image.size
    target = 0.2 * width * um_per_px
    power = 10 ** math.floor(math.log10(target))
    length = max(m * power for m in (1, 2, 5) if m * power <= target)
    pixels = max(1, round(length / um_per_px))
    text_font = font(max(10, height // 30))
    label = f"{length / 1000:g} mm" if length >= 1000 else f"{length:g} {micro(text_font)}m"
    margin, thick = max(4, width // 40), max(2, height // 80)
    x0, y1 = margin, height - margin
    draw = ImageDraw.Draw(image)
    draw.rectangle((x0 - 1, y1 - thick - 1, x0 + pixels, y1 + 1), fill=(0, 0, 0))
    draw.rectangle((x0, y1 - thick, x0 + pixels - 1, y1), fill=YELLOW)
    top = draw.textbbox((0, 0), label, font=text_font)[3]
    draw.text((x0, y1 - thick - 3 - top), label, font=text_font, fill=YELLOW,
              stroke_width=1, stroke_fill=(0, 0, 0))
    return {"length_um": length, "pixels": pixels, "label": label}


def save_section(section: np.ndarray, name: str, look: Look, z_stretch: float = 1.0) -> dict:
    """Save one section as ``<folder>/<name>``, at most ``max_size`` px, with a scale bar."""
    lo, hi = look.window(section)
    image = Image.fromarray(to_grey(section, lo, hi), mode="L")
    width, height = image.size[0], max(1, round(image.size[1] * z_stretch))
    shrink = min(1.0, look.max_size / max(width, height))
    size = (max(1, round(width * shrink)), max(1, round(height * shrink)))
    if size != image.size:
        image = image.resize(size, Image.Resampling.BOX if shrink < 1 else Image.Resampling.BILINEAR)
    image = image.convert("RGB")
    bar = scale_bar(image, look.pixel_um * width / size[0]) if look.pixel_um else None
    look.folder.mkdir(parents=True, exist_ok=True)
    save_png(image, look.folder / name)
    return {"file": str(look.folder / name), "size": list(image.size), "window": [lo, hi],
            "scale_bar": bar}


def save_png(image: Image.Image, path: pathlib.Path) -> None:
    """``image`` as a read-only PNG at ``path``, whole or not at all: a new file written under a
    temporary name beside it, then renamed over the old one, never written into it (a copy
    published by linking the old one keeps its bytes; a full disk leaves no half image under the
    final name)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        image.save(temporary, format="PNG")
        os.chmod(temporary, 0o444)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def read_tiff(path: pathlib.Path) -> Any:
    """A TIFF slice, memory-mapped where it is uncompressed (only the touched pages are read)."""
    import tifffile

    try:
        return tifffile.memmap(path, mode="r")
    except (ValueError, OSError):
        return tifffile.imread(path)


def block_mean(image: np.ndarray, block: int) -> np.ndarray:
    """``image`` downsampled by the mean of ``block`` x ``block`` pixels."""
    h, w = image.shape[0] // block * block, image.shape[1] // block * block
    return (np.asarray(image[:h, :w], dtype=np.float32)
            .reshape(h // block, block, w // block, block).mean(axis=(1, 3)))


# --- the focus measure --------------------------------------------------------------------------

def smooth(image: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur (numpy only; edges repeated)."""
    radius = max(1, int(3 * sigma + 0.5))
    weights = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    weights /= weights.sum()
    out = np.asarray(image, dtype=np.float32)
    for axis in (0, 1):
        pad = [(0, 0), (0, 0)]
        pad[axis] = (radius, radius)
        padded = np.pad(out, pad, mode="edge")
        acc = np.zeros_like(out)
        for k, w in enumerate(weights):
            index = [slice(None), slice(None)]
            index[axis] = slice(k, k + out.shape[axis])
            acc += np.float32(w) * padded[tuple(index)]
        out = acc
    return out


def gradient_sparsity(image: np.ndarray, sigma: float, disks: dict | None = None) -> float:
    """Focus measure (lower is sharper): L1 / L2 norm of the gradient magnitude of the
    blurred slice inside the inscribed disk (``disks`` caches the disk by shape).

    A wrong centre keeps the image's power spectrum on a 180-degree scan (it only turns the
    phases: every quadratic measure such as gradient energy is then blind to it) and
    blurs it on a 360-degree scan; both spread the gradient over more pixels, which raises
    this ratio. It does not depend on the grey-level scale, and the blur keeps noise from
    dominating the gradient.
    """
    disks = {} if disks is None else disks
    image = np.nan_to_num(np.asarray(image, dtype=np.float32))
    disk = disks.get(image.shape)
    if disk is None:
        yy, xx = np.mgrid[:image.shape[0], :image.shape[1]]
        r2 = (yy - (image.shape[0] - 1) / 2) ** 2 + (xx - (image.shape[1] - 1) / 2) ** 2
        disk = disks[image.shape] = r2 <= (0.45 * min(image.shape)) ** 2
    gy, gx = np.gradient(smooth(image, sigma))
    g2 = (gx * gx + gy * gy)[disk].astype(np.float64)
    l2 = math.sqrt(float(g2.mean()))
    return float(np.sqrt(g2).mean() / l2) if l2 > 0 else 1.0


def vertex(x: np.ndarray, y: np.ndarray, at: int,
           half: int) -> tuple[float, np.ndarray, slice] | None:
    """Least-squares parabola through the points within ``half`` of ``at``: its minimum,
    coefficients (in ``x - x[at]``) and points; None at an end of ``x`` (no extrapolating),
    when it curves the wrong way or when its minimum is more than a step from ``x[at]``."""
    points = slice(max(0, at - half), min(len(x), at + half + 1))
    if at in (0, len(x) - 1) or points.stop - points.start < 3:
        return None
    coef = np.polyfit(x[points] - x[at], y[points], 2)
    a, b = float(coef[0]), float(coef[1])
    step = float(np.median(np.diff(x[points])))
    if a <= 0 or abs(b / (2 * a)) > step:
        return None
    return float(x[at] - b / (2 * a)), coef, points


def plot(x: np.ndarray, y: np.ndarray, size: tuple[int, int], title: str, marks: list[Mark],
         fit: tuple[np.ndarray, np.ndarray] | None = None) -> Image.Image:
    """A small line plot of a focus curve with vertical marks (value, colour, label)."""
    width, height = size
    image = Image.new("RGB", size, (24, 24, 24))
    draw = ImageDraw.Draw(image)
    small = font(11)
    left, right, top, bottom = 6, width - 6, 18, height - 16
    xs = [float(v) for v in x] + [m[0] for m in marks]
    x0, x1 = min(xs), max(xs)
    x1 = x1 if x1 > x0 else x0 + 1
    y0, y1 = float(np.min(y)), float(np.max(y))
    y1 = y1 if y1 > y0 else y0 + 1e-9

    def px(v: float) -> float:
        return left + (v - x0) / (x1 - x0) * (right - left)

    def py(v: float) -> float:
        return bottom - (v - y0) / (y1 - y0) * (bottom - top)

    draw.rectangle((left, top, right, bottom), outline=(90, 90, 90))
    draw.text((left, 2), title, font=small, fill=LIGHT)
    for k, (value, colour, label) in enumerate(marks):
        draw.line((px(value), top, px(value), bottom), fill=colour, width=1)
        text_w = draw.textlength(label, font=small)
        text_x = px(value) + 3 if px(value) + 3 + text_w <= right else px(value) - 3 - text_w
        draw.text((text_x, top + 2 + 12 * k), label, font=small, fill=colour)
    if fit is not None:
        draw.line([(px(a), py(float(np.clip(b, y0, y1)))) for a, b in zip(*fit)],
                  fill=(150, 150, 150), width=1)
    points = [(px(float(a)), py(float(b))) for a, b in zip(x, y)]
    if len(points) > 1:
        draw.line(points, fill=LIGHT, width=1)
    for a, b in points:
        draw.rectangle((a - 1, b - 1, a + 1, b + 1), fill=LIGHT)
    draw.text((left, bottom + 2), f"{x[0]:.2f}", font=small, fill=(160, 160, 160))
    text = f"{x[-1]:.2f}"
    draw.text((right - draw.textlength(text, font=small), bottom + 2), text, font=small,
              fill=(160, 160, 160))
    return image


# --- a try: the focus over the candidates, the suggestion, the montage ------------------------

@dataclass
class Focus:
    """The focus curve of a try's candidates and what it suggests."""

    centers: np.ndarray
    coarse: np.ndarray  # every candidate, on block means
    near: np.ndarray  # the candidates measured at full resolution
    fine: np.ndarray
    at: int  # the sharpest of ``near``
    fitted: tuple[float, np.ndarray, slice] | None
    suggestion: float
    best: int  # the candidate shown for the suggestion
    rank_of: dict[int, int]
    step: float
    outside: int  # candidates whose axis is off the detector
    shape: tuple[int, ...]
    block: int
    thumbs: list[np.ndarray] = field(default_factory=list)
    lowres: dict[int, np.ndarray] = field(default_factory=dict)


def focus(output: pathlib.Path, chosen: list[tuple[float, str]], params: dict, binning: int,
          tile_size: int) -> Focus:
    """Measure the candidates' focus in two passes and suggest the centre.

    A coarse pass over every candidate (block means) finds the minimum, a full-resolution pass
    within 2.5 px of it places it (candidates whose axis is off the detector's columns are not
    considered), and a least-squares parabola through the candidates within a pixel of the
    minimum (at least one each side) gives the sub-candidate suggestion (the best candidate
    where the parabola does not hold).
    """
    centers = np.array([c for c, _ in chosen])
    disks: dict = {}
    # pass 1, every candidate (one in memory at a time): the coarse focus curve on block
    # means, and a thumbnail of the whole slice for the overview
    coarse, thumbs = [], []
    shape: tuple[int, ...] = ()
    block = shrink = 1
    for k, (_, name) in enumerate(chosen):
        image = read_tiff(output / name)
        if image.ndim != 2:
            raise ValueError(f"{name} is not a 2-D slice (shape {image.shape})")
        if k == 0:
            shape = image.shape
            block = max(1, min(shape) // 256)
            shrink = max(1, max(shape) // tile_size)  # thumbnails under 2x a tile
        elif image.shape != shape:
            raise ValueError(f"{name} has shape {image.shape}, the other candidates {shape}")
        coarse.append(gradient_sparsity(block_mean(image, block), 1.0, disks))
        thumbs.append(block_mean(image, shrink))
        del image
    coarse_values = np.array(coarse)
    # only an axis over the detector is possible: the columns read, start-column on, in the
    # candidates' full-size frame. A range wider than a narrow detector reaches past its
    # edges, where the slice empties and the measure drops with the signal, not with focus.
    first_column = float(params.get("start-column") or 0)
    possible = (centers >= first_column) & (centers <= first_column + shape[1] * binning - 1)
    if not possible.any():
        possible = np.ones(len(centers), dtype=bool)
    outside = int(len(centers) - possible.sum())

    # pass 2, the candidates within 2.5 pixels of the coarse minimum, at full resolution:
    # a wrong centre by half a pixel only shows at the finest scale
    steps = np.diff(centers)
    step = float(np.median(steps)) if len(steps) else 1.0
    reach = max(2.5 * binning, 2.5 * step)
    coarse_min = int(np.argmin(np.where(possible, coarse_values, np.inf)))
    near = np.flatnonzero(possible & (np.abs(centers - centers[coarse_min]) <= reach + 1e-6))
    fine, lowres = [], {}
    for i in near:
        image = np.asarray(read_tiff(output / chosen[i][1]), dtype=np.float32)
        fine.append(gradient_sparsity(image, 1.5, disks))
        lowres[int(i)] = block_mean(image, block)
        del image
    fine_values = np.array(fine)
    at = int(np.argmin(fine_values))
    # the parabola holds within about a pixel of the minimum (farther the curve is V-shaped)
    fitted = vertex(centers[near], fine_values, at, max(1, round(binning / step)))
    suggestion = round(fitted[0] if fitted is not None else float(centers[near[at]]), 2)
    best = int(np.argmin(np.abs(centers - suggestion)))
    rank_of = {int(near[j]): r + 1 for r, j in enumerate(np.argsort(fine_values))}
    return Focus(centers, coarse_values, near, fine_values, at, fitted, suggestion, best, rank_of,
                 step, outside, shape, block, thumbs, lowres)


def crop_box(f: Focus, shown_crops: list[int], crop_size: int) -> tuple[int, int, int]:
    """Where the crops are cut (y0, x0, size): at full resolution where the suggested slice
    has the most edges (block means: not noise or fine rings), where a wrong centre shows as
    doubled or blurred contours, inside the reconstructed disk and off its centre."""
    ny, nx = f.shape
    size = min(crop_size, ny, nx)
    y0 = x0 = 0
    if size >= min(ny, nx):
        return y0, x0, size
    block = f.block
    gy, gx = np.gradient(f.lowres.get(f.best, f.lowres[shown_crops[0]]).astype(np.float64))
    edges = np.sqrt(gx * gx + gy * gy)
    win = max(1, size // block)
    integral = np.pad(edges.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    sums = (integral[win:, win:] - integral[:-win, win:] - integral[win:, :-win]
            + integral[:-win, :-win])
    # windows whose far corner stays inside the reconstructed disk
    ty, tx = np.mgrid[:sums.shape[0], :sums.shape[1]] * block
    cy, cx = (ny - 1) / 2, (nx - 1) / 2
    far = np.maximum(np.abs(ty - cy), np.abs(ty + size - cy)) ** 2 + \
        np.maximum(np.abs(tx - cx), np.abs(tx + size - cx)) ** 2
    near_y = np.maximum(np.maximum(ty - cy, cy - (ty + size)), 0)
    near_x = np.maximum(np.maximum(tx - cx, cx - (tx + size)), 0)
    sums[far > (0.48 * min(ny, nx)) ** 2] = -1
    # ring artefacts crowd the centre of the slice: keep the crop off it
    sums[near_y ** 2 + near_x ** 2 < (0.05 * min(ny, nx)) ** 2] = -1
    if sums.max() > 0:
        y0, x0 = (int(v) * block for v in np.unravel_index(int(np.argmax(sums)), sums.shape))
    else:
        y0, x0 = (ny - size) // 2, (nx - size) // 2
    return min(y0, ny - size), min(x0, nx - size), size


def focus_plots(f: Focus, marks: list[Mark], plot_w: int, folder: pathlib.Path) -> tuple[Image.Image, pathlib.Path]:
    """``try_focus.png``: the coarse curve over the whole range beside the fine one near its
    minimum (with the fitted parabola)."""
    fit_curve = None
    if f.fitted is not None:
        _, coef, points = f.fitted
        xs = np.linspace(f.centers[f.near][points][0], f.centers[f.near][points][-1], 40)
        fit_curve = (xs, np.polyval(coef, xs - f.centers[f.near][f.at]))
    whole = plot(f.centers, f.coarse, (plot_w, FOCUS_H), "focus, whole range (coarse)", marks)
    close = plot(f.centers[f.near], f.fine, (plot_w, FOCUS_H),
                 "focus near the minimum (full resolution)", marks, fit_curve)
    focus_image = Image.new("RGB", (2 * plot_w + PAD, FOCUS_H), (0, 0, 0))
    focus_image.paste(whole, (0, 0))
    focus_image.paste(close, (plot_w + PAD, 0))
    focus_path = folder / "try_focus.png"
    save_png(focus_image, focus_path)
    return focus_image, focus_path


@dataclass
class Montage:
    """The montage's parts: the crops (by candidate), their window and place, the overview."""

    crops: dict[int, np.ndarray]
    box: tuple[int, int, int]  # y0, x0, size
    shown: list[int]  # the overview's candidates
    automatic: float | None
    row: int
    tile_size: int


def draw_crops(montage: Image.Image, f: Focus, m: Montage, look: Look, y: int) -> list[dict]:
    """The crops in a row at ``y``, each labelled and saved as ``try_center<centre>.png``."""
    draw = ImageDraw.Draw(montage)
    label_font = font(12)
    size = m.box[2]
    auto_tile = int(np.argmin(np.abs(f.centers - m.automatic))) if m.automatic is not None else None
    folder = look.folder
    crop_lo, crop_hi = look.window(np.concatenate([c.ravel() for c in m.crops.values()]))
    tiles = []
    for k, i in enumerate(sorted(m.crops)):
        x = PAD + k * (size + PAD)
        grey = Image.fromarray(to_grey(m.crops[i], crop_lo, crop_hi), mode="L")
        montage.paste(grey.convert("RGB"), (x, y))
        label = f"{f.centers[i]:.2f}  #{f.rank_of[i]}"
        notes = []
        if i == f.best:
            notes.append(f"suggested {f.suggestion:.2f}")
            draw.rectangle((x - 2, y - 2, x + size + 1, y + size + 1), outline=YELLOW, width=2)
        if i == auto_tile:
            notes.append(f"auto {m.automatic:.2f}")
        draw.text((x + 2, y + size + 1), label, font=label_font, fill=YELLOW if i == f.best else LIGHT)
        if notes:
            draw.text((x + 2, y + size + 1 + LINE_H), "  ".join(notes), font=label_font,
                      fill=YELLOW if i == f.best else CYAN)
        name = f"try_center{f.centers[i]:05.2f}.png"
        save_png(grey, folder / name)
        tiles.append({"center": float(f.centers[i]), "rank": f.rank_of[i],
                      "label": " ".join([label] + notes), "suggested": i == f.best,
                      "file": str(folder / name), "box": [x, y, size, size]})
    return tiles


def draw_overview(montage: Image.Image, f: Focus, m: Montage, look: Look, cols: int, y: int) -> None:
    """Thumbnails of whole slices over the range at ``y``; the crops' place on the suggested one."""
    draw = ImageDraw.Draw(montage)
    label_font = font(12)
    tile_size = m.tile_size
    y0, x0, size = m.box
    lo, hi = look.window(np.concatenate([f.thumbs[i].ravel() for i in m.shown]))
    for k, i in enumerate(m.shown):
        tile = Image.fromarray(to_grey(f.thumbs[i], lo, hi), mode="L").convert("RGB")
        tile.thumbnail((tile_size, tile_size), Image.Resampling.BOX)
        x = PAD + (k % cols) * (tile_size + PAD)
        ty = y + (k // cols) * (tile_size + LINE_H + PAD)
        montage.paste(tile, (x, ty))
        draw.text((x + 2, ty + tile_size + 1), f"{f.centers[i]:.2f}", font=label_font,
                  fill=YELLOW if i == f.best else LIGHT)
        if i == f.best:  # where the crops come from
            scale = tile.size[0] / f.shape[1]
            draw.rectangle((x + x0 * scale, ty + y0 * scale, x + (x0 + size) * scale,
                            ty + (y0 + size) * scale), outline=YELLOW, width=1)


def draw_montage(f: Focus, m: Montage, look: Look) -> tuple[Image.Image, list[dict], pathlib.Path]:
    """``try_montage.png``: a header, the crops, the focus plots and the overview."""
    look.folder.mkdir(parents=True, exist_ok=True)
    size = m.box[2]
    width = max(len(m.crops) * (size + PAD) + PAD, 640)
    marks: list[Mark] = [(f.suggestion, YELLOW, f"suggested {f.suggestion:.2f}")]
    if m.automatic is not None:
        marks.append((m.automatic, CYAN, f"auto {m.automatic:.2f}"))
    focus_image, focus_path = focus_plots(f, marks, (width - 3 * PAD) // 2, look.folder)
    cols = max(1, (width - PAD) // (m.tile_size + PAD))
    grid_rows = math.ceil(len(m.shown) / cols)
    header_h, crop_h = 22, size + 2 * LINE_H + PAD
    height = (header_h + crop_h + PAD + FOCUS_H + PAD
              + grid_rows * (m.tile_size + LINE_H + PAD) + PAD)
    montage = Image.new("RGB", (width, height), (0, 0, 0))
    head = f"row {m.row}   suggested centre {f.suggestion:.2f}"
    if m.automatic is not None:
        head += f"   automatic axis {m.automatic:.2f}"
    head += f"   crops at full resolution ({size} px at x {m.box[1]}, y {m.box[0]})"
    ImageDraw.Draw(montage).text((PAD, 4), head, font=font(13), fill=LIGHT)
    tiles = draw_crops(montage, f, m, look, header_h)
    y = header_h + crop_h + PAD
    montage.paste(focus_image, (PAD, y))
    draw_overview(montage, f, m, look, cols, y + FOCUS_H + PAD)
    montage_path = look.folder / "try_montage.png"
    save_png(montage, montage_path)
    return montage, tiles, focus_path


def try_previews(output: pathlib.Path, tries: list, params: dict, options: dict,
                 recon_result: dict | None, look: Look, binning: int) -> dict:
    """The suggested centre of a try (its middle row) and the montage made for choosing."""
    rows = sorted({int(m.group(1)) for m, _ in tries})
    row = rows[len(rows) // 2]
    chosen = sorted((float(m.group(2)), n) for m, n in tries if int(m.group(1)) == row)
    crop_count = int(options.get("crop_count", 7))
    tile_size = int(options.get("tile_size", 128))  # the overview's thumbnails
    montage_max = int(options.get("montage_max", 12))
    automatic = (recon_result or {}).get("rotation_axis")
    if not searches(params) or automatic is None:
        automatic = None  # without the automatic search it is only the centre of the range
    else:
        automatic = float(automatic)
    f = focus(output, chosen, params, binning, tile_size)
    centers, best = f.centers, f.best
    # the crops: the ranked candidates nearest the suggestion, in order of centre
    shown_crops = sorted(sorted(f.rank_of, key=lambda i: (abs(i - best), i))[:max(1, crop_count)])
    y0, x0, size = crop_box(f, shown_crops, int(options.get("crop_size", 160)))
    crops = {i: np.asarray(read_tiff(output / chosen[i][1])[y0:y0 + size, x0:x0 + size],
                           dtype=np.float32) for i in shown_crops}
    # the overview: evenly spaced candidates over the whole range, with the suggested one
    spread = np.linspace(0, len(centers) - 1, max(1, min(len(centers), montage_max - 1)))
    shown = sorted(set(spread.round().astype(int).tolist()) | {best})
    m = Montage(crops, (y0, x0, size), shown, automatic, row, tile_size)
    montage, tiles, focus_path = draw_montage(f, m, look)
    montage_path = look.folder / "try_montage.png"
    result = {
        "kind": "try",
        "row": row,
        "rows": rows[:20],
        "candidates": {"count": len(centers), "first": float(centers[0]),
                       "last": float(centers[-1]), "step": f.step, "shown": len(shown),
                       "outside_detector": f.outside},
        "focus_metric": "minimum gradient sparsity (L1/L2 of the gradient magnitude, 1.5-px "
                        "blur, full resolution), parabola fit within 1 px",
        "best_candidate": float(centers[best]),
        "suggested_center": f.suggestion,
        "suggestion_fit": "parabola" if f.fitted is not None else "none (candidate)",
        "automatic_axis": automatic,
        "ranking": [{"center": float(centers[f.near[j]]), "focus": round(float(f.fine[j]), 6),
                     "rank": r + 1} for r, j in enumerate(np.argsort(f.fine)[:5])],
        "focus_curve": {"centers": [float(c) for c in centers],
                        "coarse": [round(float(v), 5) for v in f.coarse],
                        "fine_centers": [float(c) for c in centers[f.near]],
                        "fine": [round(float(v), 6) for v in f.fine]},
        "previews": [str(montage_path), str(focus_path)] + [t["file"] for t in tiles],
        "montage": {"file": str(montage_path), "size": list(montage.size),
                    "crop": {"x": x0, "y": y0, "size": size}, "tiles": tiles,
                    "suggestion_label": f"suggested {f.suggestion:.2f}"},
        "focus_plot": str(focus_path),
    }
    if best in (0, len(centers) - 1):
        # the axis may lie beyond the range searched: the suggestion is then only its nearest end
        result["at_edge"] = True
        result["warning"] = (f"the suggested centre {f.suggestion:.2f} is at the edge of the search "
                             f"({centers[0]:.2f} to {centers[-1]:.2f}): widen it (center-search-width) "
                             "or move rotation-axis")
    return result


# --- a full reconstruction: three orthogonal mid-sections -------------------------------------

def zarr_sections(zarr: pathlib.Path, max_sections: int) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                                   list[int], dict[str, Any]]:
    """The middle x-y slice and the x-z, y-z sections (every ``step``-th slice) of an OME-Zarr's
    finest level: the chunks they cross are read, not the volume."""
    volume = open_level(zarr, 0)
    nz, ny, nx = volume.shape
    step = max(1, math.ceil(nz / max_sections))
    xy = np.asarray(volume[nz // 2], dtype=np.float32)
    xz = np.asarray(volume[::step, ny // 2, :], dtype=np.float32)
    yz = np.asarray(volume[::step, :, nx // 2], dtype=np.float32)
    return xy, xz, yz, list(range(0, nz, step)), {"format": "zarr", "file": str(zarr),
                                                   "shape": [nz, ny, nx], "sections_read": len(range(0, nz, step))}


def full_previews(output: pathlib.Path, fulls: list[tuple[int, str]], h5_file: pathlib.Path | None,
                  max_sections: int, look: Look) -> dict:
    """``xy.png``, ``xz.png``, ``yz.png``: the mid-sections, read from at most ``max_sections`` slices."""
    if fulls:
        count = len(fulls)
        picks = sorted(set(np.linspace(0, count - 1, min(count, max_sections)).round().astype(int)))
        middle = read_tiff(output / fulls[count // 2][1])
        if middle.ndim != 2:
            raise ValueError(f"{fulls[count // 2][1]} is not a 2-D slice (shape {middle.shape})")
        ny, nx = middle.shape
        xy = np.array(middle, dtype=np.float32)
        xz = np.empty((len(picks), nx), dtype=np.float32)
        yz = np.empty((len(picks), ny), dtype=np.float32)
        for k, i in enumerate(picks):
            section = read_tiff(output / fulls[i][1])
            xz[k] = section[ny // 2, :]
            yz[k] = section[:, nx // 2]
            del section
        z_rows = [fulls[i][0] for i in picks]
        source: dict[str, Any] = {"format": "tiff", "files": count, "sections_read": len(picks),
                                  "middle_row": fulls[count // 2][0]}
    elif h5_file is not None and h5_file.name == ZARR_NAME:
        xy, xz, yz, z_rows, source = zarr_sections(h5_file, max_sections)
    else:
        import h5py

        with h5py.File(h5_file, "r") as h5:
            volume = h5.get("/exchange/data")
            if volume is None or getattr(volume, "ndim", 0) != 3:
                raise ValueError(f"{h5_file} has no 3-D /exchange/data")
            nz, ny, nx = volume.shape
            step = max(1, math.ceil(nz / max_sections))
            xy = np.asarray(volume[nz // 2], dtype=np.float32)
            xz = np.asarray(volume[::step, ny // 2, :], dtype=np.float32)
            yz = np.asarray(volume[::step, :, nx // 2], dtype=np.float32)
            z_rows = list(range(0, nz, step))
        source = {"format": "h5", "file": str(h5_file), "shape": [nz, ny, nx],
                  "sections_read": len(z_rows)}
    # sampled sections are stretched back so that one pixel is square in every view
    z_stretch = (z_rows[-1] - z_rows[0] + 1) / len(z_rows) if len(z_rows) > 1 else 1.0
    sections = {"xy": save_section(xy, "xy.png", look),
                "xz": save_section(xz, "xz.png", look, z_stretch),
                "yz": save_section(yz, "yz.png", look, z_stretch)}
    return {
        "kind": "full",
        "source": source,
        "sections": sections,
        "scale_bar": sections["xy"]["scale_bar"],
        "previews": [s["file"] for s in sections.values()],
    }
