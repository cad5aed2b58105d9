"""PNG previews of a reconstruction, and the rotation-axis suggestion from a try run."""

from __future__ import annotations

from typing import Any

from gladier import GladierBaseTool, generate_flow_definition

COMPUTE_V3_URL = "https://compute.actions.globus.org/v3"


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
    - Try reconstruction (``recon_slice{row:04d}_center{c:05.2f}.tiff``): ``try_montage.png``,
      one labelled tile per candidate centre, the suggestion framed in yellow.

    Focus metric: the Shannon entropy of the grey-level histogram (64 bins on a window common
    to all candidates) inside the inscribed disk, after averaging the slice over 2-8 pixel
    blocks against noise. A wrong centre smears every edge into arcs and doubled contours,
    which spreads the histogram: the lowest entropy is the sharpest slice. The suggestion is
    refined by a parabola through the minimum and its neighbours (at most half a step away).

    Options in ``previews``: ``output``, ``folder`` ("previews"), ``percentiles``, ``max_size``
    (1024 px), ``max_sections`` (512), ``pixel_size_um`` (of the reconstruction; otherwise the
    ``pixel-size`` option or the scan's ``objective/resolution``, times ``2**binning``),
    ``tile_size`` (192 px), ``montage_max`` (64 tiles). Returns a small JSON-able dict; raises
    when there is nothing to preview.
    """
    # Only this function's source reaches the endpoint: everything it needs is in here.
    import math
    import pathlib
    import re

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

    def focus_entropy(smalls: list[np.ndarray]) -> np.ndarray:
        """Histogram entropy of each (block-averaged) candidate inside the inscribed disk."""
        m = min(min(s.shape) for s in smalls)
        small = np.stack([s[:m, :m] for s in smalls])
        yy, xx = np.mgrid[:m, :m] - (m - 1) / 2
        disk = xx ** 2 + yy ** 2 <= (0.45 * m) ** 2
        values = small[:, disk]
        lo, hi = window(values.ravel())
        scores = []
        for v in values:
            hist, _ = np.histogram(np.clip(v, lo, hi), bins=64, range=(lo, hi))
            p = hist[hist > 0] / max(1, hist.sum())
            scores.append(float(-(p * np.log(p)).sum()))
        return np.array(scores)

    result: dict[str, Any] = {"output": str(output), "folder": str(folder), "pixel_size_um": pixel_um,
                              "pixel_size_source": pixel_source if pixel_um else None}

    if tries:
        rows = sorted({int(m.group(1)) for m, _ in tries})
        row = rows[len(rows) // 2]
        chosen = sorted((float(m.group(2)), n) for m, n in tries if int(m.group(1)) == row)
        centers = [c for c, _ in chosen]
        # one candidate in memory at a time: keep a block-averaged copy for the metric and a
        # thumbnail for the montage
        smalls, thumbs = [], []
        block = shrink = 1
        for k, (_, name) in enumerate(chosen):
            image = read_tiff(output / name)
            if image.ndim != 2:
                raise ValueError(f"{name} is not a 2-D slice (shape {image.shape})")
            if k == 0:
                block = min(8, max(2, min(image.shape) // 64))
                shrink = max(1, max(image.shape) // tile_size)  # thumbnails under 2x a tile
            smalls.append(block_mean(image, block))
            thumbs.append(block_mean(image, shrink))
            del image
        scores = focus_entropy(smalls)
        best = int(np.argmin(scores))
        suggestion = centers[best]
        if 0 < best < len(centers) - 1:
            a, b, c = scores[best - 1], scores[best], scores[best + 1]
            step = (centers[best + 1] - centers[best - 1]) / 2
            curvature = a - 2 * b + c
            if curvature > 0:
                offset = 0.5 * (a - c) / curvature
                suggestion = centers[best] + float(np.clip(offset, -0.5, 0.5)) * step

        # the montage: evenly spaced candidates, always with the best and its neighbours
        neighbours = {i for i in (best - 1, best, best + 1) if 0 <= i < len(centers)}
        spread = np.linspace(0, len(centers) - 1, max(1, min(len(centers), montage_max - 3)))
        shown = sorted(set(spread.round().astype(int).tolist()) | neighbours)
        lo, hi = window(np.concatenate([thumbs[i].ravel() for i in shown]))
        label_h = max(12, tile_size // 8)
        cols = math.ceil(math.sqrt(len(shown)))
        grid_rows = math.ceil(len(shown) / cols)
        pad = 4
        montage = Image.new("RGB", (cols * (tile_size + pad) + pad,
                                    grid_rows * (tile_size + label_h + pad) + pad), (0, 0, 0))
        draw = ImageDraw.Draw(montage)
        label_font = font(max(9, label_h - 4))
        for k, i in enumerate(shown):
            tile = Image.fromarray(to_grey(thumbs[i], lo, hi), mode="L").convert("RGB")
            tile.thumbnail((tile_size, tile_size), Image.Resampling.BOX)
            x = pad + (k % cols) * (tile_size + pad)
            y = pad + (k // cols) * (tile_size + label_h + pad)
            montage.paste(tile, (x, y))
            text = f"{centers[i]:.2f}" + (" best" if i == best else "")
            colour = (255, 220, 0) if i == best else (230, 230, 230)
            draw.text((x + 2, y + tile_size + 1), text, font=label_font, fill=colour)
            if i == best:
                draw.rectangle((x - 2, y - 2, x + tile_size + 1, y + tile_size + label_h + 1),
                               outline=(255, 220, 0), width=3)
        folder.mkdir(parents=True, exist_ok=True)
        montage_path = folder / "try_montage.png"
        montage.save(montage_path)
        ranking = np.argsort(scores)[:5]
        result.update({
            "kind": "try",
            "row": row,
            "rows": rows[:20],
            "candidates": {"count": len(centers), "first": centers[0], "last": centers[-1],
                           "shown": len(shown)},
            "focus_metric": "minimum grey-level histogram entropy (64 bins, common window, "
                            f"{block}-pixel block mean, "
                            "inscribed disk)",
            "best_candidate": centers[best],
            "suggested_center": round(float(suggestion), 2),
            "ranking": [{"center": centers[i], "entropy": round(float(scores[i]), 5)}
                        for i in ranking],
            "previews": [str(montage_path)],
            "montage": {"file": str(montage_path), "size": list(montage.size)},
        })
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


def make_previews_tasks(recon_state: str = "TomocupyRecon",
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
