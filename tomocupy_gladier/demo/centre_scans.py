"""The scan set that the suggested rotation axis is judged on (benchmark and tests).

Every scan is written by :func:`tomocupy_gladier.demo.synthetic.write_scan` with a fixed seed, so its
true axis is known and the set is the same on every machine. A scan has few rows (a try run only
reconstructs the middle one) and its try run is tomocupy-cpu's ``--reconstruction-type try``
around the centre a scientist would start from: the middle of the detector, or for the wide
detectors an axis a few pixels from the truth (the one from the previous scan), with a search
half-width that keeps the true axis well inside the candidates.

:func:`prepare` writes the scan, runs the try and the engine's automatic axis search (Vo's
method, as ``--rotation-axis-auto auto`` does) once, and keeps the result in a cache folder:
later calls only read ``meta.json``.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path

#: Bumped when the way a scan or its try run is made changes (invalidates the caches).
SET_VERSION = 1
NROWS = 4


@dataclass(frozen=True)
class CentreScan:
    """One scan of the set; ``axis_offset`` is the true axis minus ``ncols / 2`` (pixels)."""

    name: str
    ncols: int
    nproj: int
    axis_offset: float
    seed: int
    angle_range: float = 180.0
    flat_counts: float = 20000.0   # dose: the noise goes as its square root
    rings: int = 0                 # detector columns with a gain drift (0: none)
    ring_strength: tuple[float, float] = (0.01, 0.04)
    zinger_every: int = 0          # one zinger per that many pixels (0: none)
    sample_radius: float = 0.7     # body radius / half detector width (> 1 overfills the field)
    sample_shift: tuple[float, float] = (0.0, 0.0)  # body centre from the axis / half width
    guess_offset: float = 0.0      # the try's --rotation-axis minus ncols / 2
    search_width: float = 10.0     # the try's --center-search-width
    ci: bool = False               # part of the fast subset run by the tests

    @property
    def true_axis(self) -> float:
        return self.ncols / 2 + self.axis_offset

    @property
    def guess(self) -> float:
        return self.ncols / 2 + self.guess_offset

    def describe(self) -> str:
        """A short line of what makes this scan hard."""
        parts = [f"{self.ncols} px", f"{self.angle_range:g} deg", f"axis {self.axis_offset:+g}",
                 f"dose {self.flat_counts:g}"]
        if self.rings:
            parts.append(f"{self.rings} rings")
        if self.zinger_every:
            parts.append(f"zingers 1/{self.zinger_every}")
        parts.append(f"sample {self.sample_radius:g}")
        return ", ".join(parts)


# Widths 512-2048; axis from 0 to tens of pixels off centre; dose from 300 to 20000 counts;
# rings and zingers; few angles; small samples off the axis and samples overfilling the field;
# 180 and 360 degrees.
SCANS: tuple[CentreScan, ...] = (
    CentreScan("demo-512", 512, 720, 3.25, seed=7, rings=12, zinger_every=20000,
               search_width=12, ci=True),
    CentreScan("lowdose-512", 512, 360, -7.6, seed=11, flat_counts=1500, sample_radius=0.6,
               zinger_every=20000, search_width=12, ci=True),
    CentreScan("rings-zingers-512", 512, 720, 21.3, seed=12, rings=20, ring_strength=(0.03, 0.08),
               zinger_every=2000, search_width=28),
    CentreScan("tiny-offaxis-512", 512, 360, 0.0, seed=13, flat_counts=800, sample_radius=0.15,
               sample_shift=(-0.5, 0.2), search_width=6, ci=True),
    CentreScan("full-turn-512", 512, 720, 2.4, seed=14, angle_range=360, flat_counts=5000,
               rings=8, search_width=8, ci=True),
    CentreScan("zingers-768", 768, 600, -3.7, seed=15, rings=10, ring_strength=(0.02, 0.06),
               zinger_every=500, search_width=8),
    CentreScan("few-angles-768", 768, 200, -9.15, seed=22, flat_counts=10000, rings=10,
               search_width=12),
    CentreScan("verylowdose-1024", 1024, 600, 14.45, seed=23, flat_counts=300, rings=25,
               ring_strength=(0.02, 0.06), zinger_every=5000, search_width=18),
    CentreScan("small-1024", 1024, 900, -12.4, seed=16, flat_counts=8000, rings=25,
               sample_radius=0.2, sample_shift=(0.3, 0.1), zinger_every=20000, search_width=16),
    CentreScan("overfill-1024", 1024, 900, 5.7, seed=17, sample_radius=1.25, rings=25,
               search_width=10),
    CentreScan("full-turn-1024", 1024, 1200, -31.8, seed=18, angle_range=360, flat_counts=3000,
               rings=25, guess_offset=-30.0, search_width=8),
    CentreScan("offset-1536", 1536, 1200, 40.6, seed=19, flat_counts=12000, rings=38,
               zinger_every=20000, guess_offset=38.0, search_width=8),
    CentreScan("wide-2048", 2048, 1500, -17.35, seed=20, rings=51, zinger_every=20000,
               guess_offset=-16.0, search_width=8),
    CentreScan("overfill-noisy-2048", 2048, 1500, 8.9, seed=21, flat_counts=2000,
               sample_radius=1.1, rings=51, guess_offset=9.5, search_width=8),
    CentreScan("full-turn-noisy-2048", 2048, 1500, 22.7, seed=24, angle_range=360,
               flat_counts=600, rings=51, zinger_every=20000, sample_radius=0.5,
               guess_offset=20.0, search_width=8),
)


def by_name(name: str) -> CentreScan:
    """The scan of the set called ``name``."""
    for scan in SCANS:
        if scan.name == name:
            return scan
    raise KeyError(f"no scan {name!r} in the centre set: {', '.join(s.name for s in SCANS)}")


@dataclass
class Prepared:
    """A scan of the set on disk with its try run and the engine's automatic axis."""

    spec: CentreScan
    scan: Path
    output: Path               # the try run's folder of recon_slice*_center*.tiff
    true_axis: float
    automatic_axis: float
    seconds: dict


def write(spec: CentreScan, path: Path):
    """Write the scan ``spec`` to ``path``; returns the :class:`~tomocupy_gladier.demo.synthetic.ScanTruth`."""
    from .synthetic import default_ellipsoids, write_scan

    half = spec.ncols / 2
    radius = spec.sample_radius * half
    # the same peak transmission (about 13 %) whatever the size of the sample
    ells = default_ellipsoids(spec.ncols, NROWS, spec.axis_offset, radius=radius,
                              x0=spec.sample_shift[0] * half, y0=spec.sample_shift[1] * half,
                              mu_scale=184.0 / radius)
    return write_scan(path, nproj=spec.nproj, nrows=NROWS, ncols=spec.ncols,
                      rotation_axis=spec.true_axis, seed=spec.seed, noise=True,
                      zingers=spec.zinger_every > 0, ring_drifts=spec.rings > 0,
                      ellipsoids=ells, angle_range=spec.angle_range, flat_counts=spec.flat_counts,
                      ring_count=max(spec.rings, 2), ring_strength=spec.ring_strength,
                      zinger_every=max(spec.zinger_every, 1))


def automatic_axis(scan: Path, search_width: float = 50.0, step: float = 0.5) -> float:
    """The engine's ``--rotation-axis-auto auto`` answer for ``scan`` (its defaults: tomocupy's
    search width 50 and step 0.5), on the row a try run reconstructs."""
    from tomocupy_gladier.engine import center, options, pipeline, reader

    ns = options.parse("recon", ["--file-name", str(scan), "--reconstruction-type", "try",
                                 "--rotation-axis-auto", "auto", "--rotation-axis-method", "vo",
                                 "--center-search-width", str(search_width),
                                 "--center-search-step", str(step)],
                       str(scan.parent / "no-such.conf"))
    info = reader.open_scan(ns.file_name, ns.flat_file_name, ns.dark_file_name)
    geo = pipeline.compute_geometry(info, ns)
    row = pipeline.try_rows(ns, geo)[0]
    sino = pipeline.Processor(info, geo, ns, False).rows(row, row + 1)[:, 0]
    return center.find_center_vo(sino, ns.center_search_width, ns.center_search_step)


def try_argv(spec: CentreScan, scan: Path, output: Path) -> list[str]:
    """tomocupy-cpu's command line for the try run of ``spec``."""
    return ["recon", "--file-name", str(scan), "--config", str(scan.parent / "no-such.conf"),
            "--reconstruction-type", "try", "--rotation-axis", f"{spec.guess:g}",
            "--center-search-width", f"{spec.search_width:g}", "--center-search-step", "0.5",
            "--out-path-name", str(output)]


def prepare(spec: CentreScan, cache: Path) -> Prepared:
    """The scan, its try run and its automatic axis, made once and kept under ``cache``."""
    folder = Path(cache) / spec.name
    meta_file = folder / "meta.json"
    key = {"version": SET_VERSION, "spec": json.loads(json.dumps(dataclasses.asdict(spec)))}
    key["spec"].pop("ci")
    if meta_file.is_file():
        meta = json.loads(meta_file.read_text())
        if meta.get("key") == key and (folder / "try").is_dir():
            return Prepared(spec, folder / "scan.h5", folder / "try", meta["true_axis"],
                            meta["automatic_axis"], meta["seconds"])
    import shutil

    from tomocupy_gladier.engine.cli import main as engine_main

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    t0 = time.perf_counter()
    truth = write(spec, folder / "scan.h5")
    t1 = time.perf_counter()
    code = engine_main(try_argv(spec, truth.path, folder / "try"))
    if code != 0:
        raise RuntimeError(f"tomocupy-cpu try run of {spec.name} failed (exit {code})")
    t2 = time.perf_counter()
    auto = automatic_axis(truth.path)
    t3 = time.perf_counter()
    seconds = {"write": round(t1 - t0, 2), "try": round(t2 - t1, 2), "automatic": round(t3 - t2, 2)}
    meta_file.write_text(json.dumps({"key": key, "true_axis": truth.rotation_axis,
                                     "automatic_axis": auto, "seconds": seconds}, indent=1))
    return Prepared(spec, truth.path, folder / "try", truth.rotation_axis, auto, seconds)
