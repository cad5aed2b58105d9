"""How close the try step's suggested centre lands to the true rotation axis.

For every scan of :data:`tomocupy_gladier.demo.centre_scans.SCANS` (synthetic, true axis known): the
try run of tomocupy-cpu, then ``make_previews`` run from its source text as on an endpoint; its
suggestion is compared with the truth and with the engine's automatic axis search (Vo's method,
``--rotation-axis-auto auto``) on the same scan. With ``--compare`` (the default) the other
candidate focus measures are computed on the same candidates, each with the same parabola fit,
and summarised side by side.

    python benchmarks/bench_centre.py [--cache DIR] [--only NAME ...] [--ci] [--no-compare]

Scans and try runs are cached under ``--cache`` (default ``.centre-cache``): the first run
writes about 3 GB and takes a few minutes on two cores, later runs only read.
"""

from __future__ import annotations

import argparse
import inspect
import json
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import tifffile
from scipy import ndimage

from tomocupy_gladier.demo import centre_scans
from tomocupy_gladier.tools.previews import previews as previews_module

TRY_NAME = re.compile(r"recon_slice(\d+)_center([-+0-9.]+?)\.tiff$")


def endpoint_make_previews() -> Callable[..., dict]:
    """make_previews as an endpoint gets it: its source alone, compiled without our imports."""
    namespace: dict = {}
    source = inspect.getsource(previews_module.make_previews)
    exec(compile(source, "<endpoint>", "exec", dont_inherit=True), namespace)
    return namespace["make_previews"]


# --- the candidate focus measures (lower is sharper), one value per full-resolution slice -------


def inscribed_disk(shape: tuple[int, int], fraction: float = 0.45) -> np.ndarray:
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    r2 = (yy - (shape[0] - 1) / 2) ** 2 + (xx - (shape[1] - 1) / 2) ** 2
    return r2 <= (fraction * min(shape)) ** 2


def tenengrad(image: np.ndarray, disk: np.ndarray) -> float:
    """Gradient energy (Sobel), negated: sharper = more gradient energy."""
    gx, gy = ndimage.sobel(image, 1), ndimage.sobel(image, 0)
    return -float((gx * gx + gy * gy)[disk].mean())


def negativity(image: np.ndarray, disk: np.ndarray) -> float:
    """Share of negative values (Donath et al.): a wrong centre adds negative streaks."""
    values = image[disk]
    return float(-values[values < 0].sum() / max(np.abs(values).sum(), 1e-30))


def total_variation(image: np.ndarray, disk: np.ndarray) -> float:
    gy, gx = np.gradient(image)
    return float(np.sqrt(gx * gx + gy * gy)[disk].mean())


def gradient_sparsity(image: np.ndarray, disk: np.ndarray, sigma: float = 1.5) -> float:
    """L1/L2 of the gradient magnitude after a Gaussian blur (make_previews' measure)."""
    gy, gx = np.gradient(ndimage.gaussian_filter(image, sigma))
    g2 = (gx * gx + gy * gy)[disk].astype(np.float64)
    return float(np.sqrt(g2).mean() / max(np.sqrt(g2.mean()), 1e-30))


def block_mean(image: np.ndarray, block: int) -> np.ndarray:
    h, w = image.shape[0] // block * block, image.shape[1] // block * block
    return image[:h, :w].reshape(h // block, block, w // block, block).mean(axis=(1, 3))


def histogram_entropy(smalls: list[np.ndarray]) -> np.ndarray:
    """The previous make_previews measure: grey-level entropy of block means (64 bins, common
    0.5-99.5 % window, inscribed disk)."""
    m = min(min(s.shape) for s in smalls)
    disk = inscribed_disk((m, m))
    values = np.stack([s[:m, :m][disk] for s in smalls])
    lo, hi = np.percentile(values, (0.5, 99.5))
    out = []
    for v in values:
        hist, _ = np.histogram(np.clip(v, lo, hi), bins=64, range=(lo, hi))
        p = hist[hist > 0] / max(1, hist.sum())
        out.append(float(-(p * np.log(p)).sum()))
    return np.array(out)


def vo_metric(prepared: centre_scans.Prepared, centers: np.ndarray) -> np.ndarray:
    """Vo's sinogram metric (algotom) at each candidate centre, on the sinogram the engine's
    automatic search uses."""
    from algotom.prep.calculation import calculate_center_metric, make_inverse_double_wedge_mask

    from tomocupy_gladier.engine import options, pipeline, reader

    settings = options.parse("recon", ["--file-name", str(prepared.scan), "--reconstruction-type", "try"],
                             str(prepared.scan.parent / "no-such.conf"))
    info = reader.open_scan(settings.file_name, settings.flat_file_name, settings.dark_file_name)
    geo = pipeline.compute_geometry(info, settings)
    row = pipeline.try_rows(settings, geo)[0]
    sino = pipeline.Processor(info, geo, settings, False).rows(row, row + 1)[:, 0]
    sino = ndimage.gaussian_filter(np.asarray(sino, np.float32), (2, 2), mode="reflect")  # as algotom
    nrow, ncol = sino.shape
    mask = make_inverse_double_wedge_mask(2 * nrow, ncol, 0.25 * ncol)  # ratio 0.5, as the engine
    flip, comp = np.fliplr(sino), np.flipud(sino)
    return np.array([calculate_center_metric(c, sino, flip, comp, mask) for c in centers])


MEASURES = ("entropy", "tenengrad", "negativity", "total-variation", "gradient-sparsity", "vo")
LEGEND = {
    "entropy": "the previous suggestion: grey-level entropy of 8-pixel block means",
    "tenengrad": "Sobel gradient energy (negated)",
    "negativity": "share of negative values",
    "total-variation": "mean gradient magnitude",
    "gradient-sparsity": "make_previews' measure in one full-resolution pass (no coarse pass)",
    "vo": "Vo's sinogram metric (algotom) at the candidate centres",
}


def fit_minimum(centers: np.ndarray, values: np.ndarray) -> float:
    """The minimum refined by make_previews' fit: a least-squares parabola through the
    candidates within a pixel of it (at least one each side); the best candidate at an end of
    the range or where the parabola does not hold."""
    at = int(np.argmin(values))
    step = float(np.median(np.diff(centers))) if len(centers) > 1 else 1.0
    half = max(1, round(1.0 / step))
    lo, hi = max(0, at - half), min(len(centers), at + half + 1)
    if at not in (0, len(centers) - 1) and hi - lo >= 3:
        a, b, _ = np.polyfit(centers[lo:hi] - centers[at], values[lo:hi], 2)
        if a > 0 and abs(b / (2 * a)) <= step:
            return float(centers[at] - b / (2 * a))
    return float(centers[at])


def compare_measures(prepared: centre_scans.Prepared) -> dict[str, float]:
    """Each candidate measure's fitted minimum on the scan's try candidates."""
    files = sorted((float(m.group(2)), p) for p in prepared.output.iterdir()
                   if (m := TRY_NAME.match(p.name)))
    centers = np.array([c for c, _ in files])
    curves: dict[str, list[float]] = {m: [] for m in MEASURES if m not in ("entropy", "vo")}
    smalls, disk = [], None
    for _, path in files:
        image = np.nan_to_num(tifffile.imread(path).astype(np.float32))
        if disk is None:
            disk = inscribed_disk(image.shape)
        curves["tenengrad"].append(tenengrad(image, disk))
        curves["negativity"].append(negativity(image, disk))
        curves["total-variation"].append(total_variation(image, disk))
        curves["gradient-sparsity"].append(gradient_sparsity(image, disk))
        smalls.append(block_mean(image, min(8, max(2, min(image.shape) // 64))))
    values = {name: np.asarray(curve) for name, curve in curves.items()}
    values["entropy"] = histogram_entropy(smalls)
    values["vo"] = vo_metric(prepared, centers)
    return {name: fit_minimum(centers, values[name]) for name in MEASURES}


# --- the run ------------------------------------------------------------------------------------


def summary(errors: list[float]) -> str:
    e = [abs(v) for v in errors]
    return f"max {max(e):.2f}  median {statistics.median(e):.2f}  within 0.5: {sum(v <= 0.5 for v in e)}/{len(e)}"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path(".centre-cache"))
    parser.add_argument("--only", nargs="*", default=None, help="scan names")
    parser.add_argument("--ci", action="store_true", help="only the scans the tests use")
    parser.add_argument("--no-compare", dest="compare", action="store_false",
                        help="skip the other candidate measures")
    parser.add_argument("--json", type=Path, default=None, help="write the rows here")
    args = parser.parse_args(argv)
    scans = [s for s in centre_scans.SCANS if (not args.ci or s.ci)
             and (not args.only or s.name in args.only)]
    make_previews = endpoint_make_previews()
    started = time.perf_counter()
    rows = []
    print(f"{'scan':22s} {'true':>8s} {'suggested':>9s} {'error':>6s} {'automatic':>9s} {'error':>6s}"
          f" {'previews s':>10s}  conditions")
    for spec in scans:
        prepared = centre_scans.prepare(spec, args.cache)
        t0 = time.perf_counter()
        result = make_previews(recon_result={"output": str(prepared.output),
                                             "rotation_axis": prepared.automatic_axis},
                               recon={"rotation-axis-auto": "auto"},
                               previews={"folder": str(args.cache / spec.name / "previews")})
        seconds = time.perf_counter() - t0
        row = {"scan": spec.name, "true": prepared.true_axis,
               "suggested": result["suggested_center"],
               "error": result["suggested_center"] - prepared.true_axis,
               "automatic": prepared.automatic_axis,
               "automatic_error": prepared.automatic_axis - prepared.true_axis,
               "previews_seconds": round(seconds, 2), "montage": result["montage"]["file"],
               "prepare_seconds": prepared.seconds}
        print(f"{spec.name:22s} {row['true']:8.2f} {row['suggested']:9.2f} {row['error']:+6.2f}"
              f" {row['automatic']:9.2f} {row['automatic_error']:+6.2f} {seconds:10.1f}  {spec.describe()}",
              flush=True)
        if args.compare:
            row["measures"] = {k: v - prepared.true_axis for k, v in compare_measures(prepared).items()}
        rows.append(row)

    print(f"\nsuggestion (make_previews): {summary([r['error'] for r in rows])}")
    print(f"automatic axis (engine, Vo): {summary([r['automatic_error'] for r in rows])}")
    worse = [r["scan"] for r in rows if abs(r["error"]) > abs(r["automatic_error"])]
    print(f"suggestion worse than the automatic axis on {len(worse)}/{len(rows)} scans"
          + (f": {', '.join(worse)}" if worse else ""))
    if args.compare:
        print("\ncandidate measures on every candidate, each with make_previews' parabola fit:")
        for m in MEASURES:
            print(f"  {m}: {LEGEND[m]}")
        print(f"{'scan':22s} " + " ".join(f"{m:>11s}" for m in MEASURES))
        for r in rows:
            print(f"{r['scan']:22s} " + " ".join(f"{r['measures'][m]:+11.2f}" for m in MEASURES))
        for m in MEASURES:
            print(f"{m:>18s}: {summary([r['measures'][m] for r in rows])}")
    elapsed = time.perf_counter() - started
    print(f"\n{len(rows)} scans in {elapsed:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return {"rows": rows, "seconds": elapsed}


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
