"""PNG previews of a reconstruction, and the rotation-axis suggestion from a try run."""

from __future__ import annotations

from typing import Any

from gladier import GladierBaseTool, generate_flow_definition
from gladier.utils.name_generation import get_compute_flow_state_name

from tomocupy_gladier.tools.action_urls import COMPUTE_V3_URL
from tomocupy_gladier.tools.recon.tomocupy_recon import tomocupy_recon


def make_previews(tomocupy: dict | None = None, recon: dict | None = None,
                  recon_result: dict | None = None, previews: dict | None = None,
                  run_id: str | None = None, **data: object) -> dict:
    """Write PNG previews of a tomocupy reconstruction into ``<output>/previews/``.

    The reconstruction is the folder TomocupyRecon reports (``recon_result["output"]``), else
    ``previews["output"]``; nothing is guessed. With ``run_id`` (the flow run), the folder's
    ``manifest.json`` must name the same run: previews are never made of another run's result.

    - Full reconstruction (``recon_{row:05d}.tiff`` folder or HDF5 ``/exchange/data``):
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
    ``montage_max`` (overview tiles, 12). Returns a small JSON-able dict; raises when there
    is nothing to preview.
    """
    # Only this function's source reaches the endpoint: everything it needs is in here.
    import math
    import pathlib
    import re
    from typing import Any  # the nested functions' annotations are evaluated on the endpoint

    import numpy as np
    from PIL import Image, ImageDraw, ImageFont

    settings = dict(tomocupy or {})
    params = dict(recon or {})
    options = dict(previews or {})
    low_q, high_q = (float(q) for q in options.get("percentiles", (0.5, 99.5)))
    max_size = int(options.get("max_size", 1024))
    max_sections = int(options.get("max_sections", 512))
    tile_size = int(options.get("tile_size", 192))
    montage_max = int(options.get("montage_max", 64))
    binning = 2 ** int(params.get("binning") or 0)
    scan = pathlib.Path(settings["file_name"]) if settings.get("file_name") else None

    # --- where the reconstruction is: what the reconstruction step reported ----------------
    output = (recon_result or {}).get("output") or options.get("output")
    if not output:
        raise ValueError("no reconstruction to preview: give recon_result.output (the reconstruction "
                         "step's result) or previews.output")
    output = pathlib.Path(output)
    if run_id is not None and (recon_result or {}).get("manifest"):
        import json

        try:
            made_by = json.loads(pathlib.Path(recon_result["manifest"]).read_text()).get("run_id")
        except (OSError, ValueError) as exc:
            raise RuntimeError(f"cannot read the reconstruction's manifest: {exc}") from None
        if made_by != run_id:
            raise RuntimeError(f"{output} was replaced by run {made_by} after this run ({run_id}) "
                               "reconstructed it; no previews made")

    try_pattern = re.compile(r"recon_slice(\d+)_center([-+0-9.]+?)\.tiff?$")
    full_pattern = re.compile(r"recon_(\d+)\.tiff?$")
    names = [p.name for p in output.iterdir() if p.is_file()] if output.is_dir() else []
    tries = [(m, n) for n in names if (m := try_pattern.match(n))]
    fulls = sorted((int(m.group(1)), n) for n in names if (m := full_pattern.match(n)))
    h5_file = None
    for candidate in (output / f"{output.name}.h5", output):
        if candidate.is_file() and candidate.suffix in (".h5", ".hdf5", ".hdf"):
            h5_file = candidate
            break
    if tries or fulls:
        folder = output / options.get("folder", "previews")
    elif h5_file is not None:
        folder = (output if output.is_dir() else h5_file.parent) / options.get("folder", "previews")
    else:
        raise FileNotFoundError(f"no recon_*.tiff, recon_slice*_center*.tiff or HDF5 "
                                f"reconstruction at {output}")

    # --- pixel size of the reconstruction, in microns ----------------------------------------
    def scan_pixel_size() -> float | None:
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

    pixel_um = options.get("pixel_size_um")
    pixel_source = "previews.pixel_size_um"
    if not pixel_um:
        raw = float(params.get("pixel-size") or 0) or None
        pixel_source = "recon pixel-size x 2**binning"
        if raw is None:
            raw = scan_pixel_size()
            pixel_source = "scan objective/resolution x 2**binning"
        pixel_um = raw * binning if raw else None
    pixel_um = float(pixel_um) if pixel_um and float(pixel_um) > 0 else None

    # --- drawing -----------------------------------------------------------------------------
    def font(size: int) -> Any:
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

    def window(values: np.ndarray) -> tuple[float, float]:
        values = values[np.isfinite(values)]
        if values.size == 0:
            return 0.0, 1.0
        lo, hi = (float(v) for v in np.percentile(values, (low_q, high_q)))
        return (lo, hi) if hi > lo else (lo, lo + 1.0)

    def to_grey(section: np.ndarray, lo: float, hi: float) -> np.ndarray:
        scaled = (np.nan_to_num(section.astype(np.float32), nan=lo) - lo) * (255.0 / (hi - lo))
        return np.clip(scaled, 0, 255).astype(np.uint8)

    def scale_bar(image: Image.Image, um_per_px: float) -> dict:
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
        draw.rectangle((x0, y1 - thick, x0 + pixels - 1, y1), fill=(255, 220, 0))
        top = draw.textbbox((0, 0), label, font=text_font)[3]
        draw.text((x0, y1 - thick - 3 - top), label, font=text_font, fill=(255, 220, 0),
                  stroke_width=1, stroke_fill=(0, 0, 0))
        return {"length_um": length, "pixels": pixels, "label": label}

    def save_section(section: np.ndarray, name: str, z_stretch: float = 1.0) -> dict:
        lo, hi = window(section)
        image = Image.fromarray(to_grey(section, lo, hi), mode="L")
        width, height = image.size[0], max(1, round(image.size[1] * z_stretch))
        shrink = min(1.0, max_size / max(width, height))
        size = (max(1, round(width * shrink)), max(1, round(height * shrink)))
        if size != image.size:
            image = image.resize(size, Image.Resampling.BOX if shrink < 1 else Image.Resampling.BILINEAR)
        image = image.convert("RGB")
        bar = scale_bar(image, pixel_um * width / size[0]) if pixel_um else None
        folder.mkdir(parents=True, exist_ok=True)
        image.save(folder / name)
        return {"file": str(folder / name), "size": list(image.size), "window": [lo, hi],
                "scale_bar": bar}

    def read_tiff(path: pathlib.Path) -> Any:
        import tifffile

        try:
            return tifffile.memmap(path, mode="r")  # uncompressed: only the touched pages are read
        except (ValueError, OSError):
            return tifffile.imread(path)

    def block_mean(image: np.ndarray, block: int) -> np.ndarray:
        h, w = image.shape[0] // block * block, image.shape[1] // block * block
        return (np.asarray(image[:h, :w], dtype=np.float32)
                .reshape(h // block, block, w // block, block).mean(axis=(1, 3)))

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

    disks: dict[tuple[int, int], np.ndarray] = {}

    def gradient_sparsity(image: np.ndarray, sigma: float) -> float:
        """Focus measure (lower is sharper): L1 / L2 norm of the gradient magnitude of the
        blurred slice inside the inscribed disk.

        A wrong centre keeps the image's power spectrum on a 180-degree scan (it only turns the
        phases: every quadratic measure such as gradient energy is then blind to it) and
        blurs it on a 360-degree scan; both spread the gradient over more pixels, which raises
        this ratio. It does not depend on the grey-level scale, and the blur keeps noise from
        dominating the gradient.
        """
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

    def plot(x: np.ndarray, y: np.ndarray, size: tuple[int, int], title: str,
             marks: list[tuple[float, tuple[int, int, int], str]],
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
        draw.text((left, 2), title, font=small, fill=(230, 230, 230))
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
            draw.line(points, fill=(230, 230, 230), width=1)
        for a, b in points:
            draw.rectangle((a - 1, b - 1, a + 1, b + 1), fill=(230, 230, 230))
        draw.text((left, bottom + 2), f"{x[0]:.2f}", font=small, fill=(160, 160, 160))
        text = f"{x[-1]:.2f}"
        draw.text((right - draw.textlength(text, font=small), bottom + 2), text, font=small,
                  fill=(160, 160, 160))
        return image

    result: dict[str, Any] = {"output": str(output), "folder": str(folder), "pixel_size_um": pixel_um,
                              "pixel_size_source": pixel_source if pixel_um else None}

    if tries:
        rows = sorted({int(m.group(1)) for m, _ in tries})
        row = rows[len(rows) // 2]
        chosen = sorted((float(m.group(2)), n) for m, n in tries if int(m.group(1)) == row)
        centers = np.array([c for c, _ in chosen])
        crop_size = int(options.get("crop_size", 160))
        crop_count = int(options.get("crop_count", 7))
        tile_size = int(options.get("tile_size", 128))  # the overview's thumbnails
        montage_max = int(options.get("montage_max", 12))
        automatic = (recon_result or {}).get("rotation_axis")
        if str(params.get("rotation-axis-auto", "manual")) != "auto" or automatic is None:
            automatic = None  # without the automatic search it is only the centre of the range
        else:
            automatic = float(automatic)

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
            coarse.append(gradient_sparsity(block_mean(image, block), 1.0))
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
            fine.append(gradient_sparsity(image, 1.5))
            lowres[int(i)] = block_mean(image, block)
            del image
        fine_values = np.array(fine)
        at = int(np.argmin(fine_values))
        # the parabola holds within about a pixel of the minimum (farther the curve is V-shaped)
        fitted = vertex(centers[near], fine_values, at, max(1, round(binning / step)))
        suggestion = round(fitted[0] if fitted is not None else float(centers[near[at]]), 2)
        best = int(np.argmin(np.abs(centers - suggestion)))  # the candidate shown for it
        at_edge = best in (0, len(centers) - 1)
        rank_of = {int(near[j]): r + 1 for r, j in enumerate(np.argsort(fine_values))}

        # the crops: the ranked candidates nearest the suggestion, in order of centre, cut at
        # full resolution where the suggested slice has the most edges (block means: not noise
        # or fine rings), where a wrong centre shows as doubled or blurred contours
        ranked = sorted(rank_of, key=lambda i: (abs(i - best), i))[:max(1, crop_count)]
        shown_crops = sorted(ranked)
        ny, nx = shape
        size = min(crop_size, ny, nx)
        y0 = x0 = 0
        if size < min(ny, nx):
            gy, gx = np.gradient(lowres.get(best, lowres[shown_crops[0]]).astype(np.float64))
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
            y0, x0 = min(y0, ny - size), min(x0, nx - size)
        crops = {i: np.asarray(read_tiff(output / chosen[i][1])[y0:y0 + size, x0:x0 + size],
                               dtype=np.float32) for i in shown_crops}
        crop_lo, crop_hi = window(np.concatenate([c.ravel() for c in crops.values()]))

        # the overview: evenly spaced candidates over the whole range, with the suggested one
        spread = np.linspace(0, len(centers) - 1, max(1, min(len(centers), montage_max - 1)))
        shown = sorted(set(spread.round().astype(int).tolist()) | {best})
        lo, hi = window(np.concatenate([thumbs[i].ravel() for i in shown]))

        # --- drawing
        yellow, cyan, light = (255, 220, 0), (0, 200, 255), (230, 230, 230)
        pad = 4
        label_font = font(12)
        line_h = 15
        auto_tile = int(np.argmin(np.abs(centers - automatic))) if automatic is not None else None
        folder.mkdir(parents=True, exist_ok=True)
        tiles = []
        crop_w = len(shown_crops) * (size + pad) + pad
        width = max(crop_w, 640)
        plot_w = (width - 3 * pad) // 2
        marks = [(suggestion, yellow, f"suggested {suggestion:.2f}")]
        if automatic is not None:
            marks.append((automatic, cyan, f"auto {automatic:.2f}"))
        fit_curve = None
        if fitted is not None:
            _, coef, points = fitted
            xs = np.linspace(centers[near][points][0], centers[near][points][-1], 40)
            fit_curve = (xs, np.polyval(coef, xs - centers[near][at]))
        whole = plot(centers, coarse_values, (plot_w, 150), "focus, whole range (coarse)", marks)
        close = plot(centers[near], fine_values, (plot_w, 150),
                     "focus near the minimum (full resolution)", marks, fit_curve)
        focus_image = Image.new("RGB", (2 * plot_w + pad, 150), (0, 0, 0))
        focus_image.paste(whole, (0, 0))
        focus_image.paste(close, (plot_w + pad, 0))
        focus_path = folder / "try_focus.png"
        focus_image.save(focus_path)

        cols = max(1, (width - pad) // (tile_size + pad))
        grid_rows = math.ceil(len(shown) / cols)
        header_h, crop_h = 22, size + 2 * line_h + pad
        height = (header_h + crop_h + pad + 150 + pad
                  + grid_rows * (tile_size + line_h + pad) + pad)
        montage = Image.new("RGB", (width, height), (0, 0, 0))
        draw = ImageDraw.Draw(montage)
        head = f"row {row}   suggested centre {suggestion:.2f}"
        if automatic is not None:
            head += f"   automatic axis {automatic:.2f}"
        head += f"   crops at full resolution ({size} px at x {x0}, y {y0})"
        draw.text((pad, 4), head, font=font(13), fill=light)
        y = header_h
        for k, i in enumerate(shown_crops):
            x = pad + k * (size + pad)
            montage.paste(Image.fromarray(to_grey(crops[i], crop_lo, crop_hi), mode="L").convert("RGB"),
                          (x, y))
            label = f"{centers[i]:.2f}  #{rank_of[i]}"
            notes = []
            if i == best:
                notes.append(f"suggested {suggestion:.2f}")
                draw.rectangle((x - 2, y - 2, x + size + 1, y + size + 1), outline=yellow, width=2)
            if i == auto_tile:
                notes.append(f"auto {automatic:.2f}")
            draw.text((x + 2, y + size + 1), label, font=label_font, fill=yellow if i == best else light)
            if notes:
                draw.text((x + 2, y + size + 1 + line_h), "  ".join(notes), font=label_font,
                          fill=yellow if i == best else cyan)
            name = f"try_center{centers[i]:05.2f}.png"
            Image.fromarray(to_grey(crops[i], crop_lo, crop_hi), mode="L").save(folder / name)
            tiles.append({"center": float(centers[i]), "rank": rank_of[i],
                          "label": " ".join([label] + notes), "suggested": i == best,
                          "file": str(folder / name), "box": [x, y, size, size]})
        y += crop_h + pad
        montage.paste(focus_image, (pad, y))
        y += 150 + pad
        for k, i in enumerate(shown):
            tile = Image.fromarray(to_grey(thumbs[i], lo, hi), mode="L").convert("RGB")
            tile.thumbnail((tile_size, tile_size), Image.Resampling.BOX)
            x = pad + (k % cols) * (tile_size + pad)
            ty = y + (k // cols) * (tile_size + line_h + pad)
            montage.paste(tile, (x, ty))
            draw.text((x + 2, ty + tile_size + 1), f"{centers[i]:.2f}", font=label_font,
                      fill=yellow if i == best else light)
            if i == best:  # where the crops come from
                f = tile.size[0] / nx
                draw.rectangle((x + x0 * f, ty + y0 * f, x + (x0 + size) * f, ty + (y0 + size) * f),
                               outline=yellow, width=1)
        montage_path = folder / "try_montage.png"
        montage.save(montage_path)
        result.update({
            "kind": "try",
            "row": row,
            "rows": rows[:20],
            "candidates": {"count": len(centers), "first": float(centers[0]),
                           "last": float(centers[-1]), "step": step, "shown": len(shown),
                           "outside_detector": outside},
            "focus_metric": "minimum gradient sparsity (L1/L2 of the gradient magnitude, 1.5-px "
                            "blur, full resolution), parabola fit within 1 px",
            "best_candidate": float(centers[best]),
            "suggested_center": suggestion,
            "suggestion_fit": "parabola" if fitted is not None else "none (candidate)",
            "automatic_axis": automatic,
            "ranking": [{"center": float(centers[near[j]]), "focus": round(float(fine_values[j]), 6),
                         "rank": r + 1} for r, j in enumerate(np.argsort(fine_values)[:5])],
            "focus_curve": {"centers": [float(c) for c in centers],
                            "coarse": [round(float(v), 5) for v in coarse_values],
                            "fine_centers": [float(c) for c in centers[near]],
                            "fine": [round(float(v), 6) for v in fine_values]},
            "previews": [str(montage_path), str(focus_path)] + [t["file"] for t in tiles],
            "montage": {"file": str(montage_path), "size": list(montage.size),
                        "crop": {"x": x0, "y": y0, "size": size}, "tiles": tiles,
                        "suggestion_label": f"suggested {suggestion:.2f}"},
            "focus_plot": str(focus_path),
        })
        if at_edge:
            result["warning"] = ("the sharpest candidate is at an end of the searched range: "
                                 "widen --center-search-width or move --rotation-axis")
        return result

    # --- full reconstruction: three orthogonal mid-sections ---------------------------------
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
        source = {"format": "tiff", "files": count, "sections_read": len(picks),
                  "middle_row": fulls[count // 2][0]}
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
        count = nz
        source = {"format": "h5", "file": str(h5_file), "shape": [nz, ny, nx],
                  "sections_read": len(z_rows)}
    # sampled sections are stretched back so that one pixel is square in every view
    z_stretch = (z_rows[-1] - z_rows[0] + 1) / len(z_rows) if len(z_rows) > 1 else 1.0
    sections = {"xy": save_section(xy, "xy.png"),
                "xz": save_section(xz, "xz.png", z_stretch),
                "yz": save_section(yz, "yz.png", z_stretch)}
    result.update({
        "kind": "full",
        "source": source,
        "sections": sections,
        "scale_bar": sections["xy"]["scale_bar"],
        "previews": [s["file"] for s in sections.values()],
    })
    return result


@generate_flow_definition(modifiers={make_previews: {"endpoint_id": "compute_endpoint"}})
class Previews(GladierBaseTool):
    """PNG previews of the reconstruction; for a try run, the suggested rotation axis (Compute v3).

    Pass TomocupyRecon's result with a ``tasks`` modifier (see ``make_previews_tasks``);
    with the default ``$.input`` kwargs the output is found by tomocupy's naming convention.
    """

    action_url = COMPUTE_V3_URL
    compute_functions = [make_previews]
    required_input = ["tomocupy", "compute_endpoint"]


def make_previews_tasks(recon_state: str = get_compute_flow_state_name(tomocupy_recon),
                        with_options: bool = False) -> list[dict[str, Any]]:
    """The Compute v3 ``tasks`` value for ``make_previews``:
    ``modifiers={make_previews: {"tasks": make_previews_tasks()}}``.

    ``with_options`` also passes ``$.input.previews`` (the flow input must then have it).
    """
    kwargs = {
        "tomocupy.$": "$.input.tomocupy",
        "recon.$": "$.input.recon",
        "recon_result.$": f"$.{recon_state}.details.results[0].output",
        "run_id.$": "$._context.run_id",
    }
    if with_options:
        kwargs["previews.$"] = "$.input.previews"
    return [{"function_id.$": "$.input.make_previews_function_id", "kwargs": kwargs}]
