"""The reconstruction run: geometry as tomocupy computes it, then streamed chunks of rows.

A reader thread reads and pre-processes a chunk of rows while the main thread reconstructs the
previous one (finufft and scipy.fft use all cores) and a writer thread stores the one before;
queues of depth one between them bound the memory to a few chunks whatever the scan size.
"""

from __future__ import annotations

import ast
import logging
import queue
import sys
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterator, NoReturn

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from tomocupy_gladier.compute.disk_space import DiskFull, free_bytes, is_full, is_quota
from tomocupy_gladier.compute.rules import axis_pixels, span, span_fits

from . import center as center_mod
from . import phase, preprocess, reader, stripes
from .errors import DiskFullError, EngineError
from .fbp import FourierRec
from .settings import Settings
from .writer import AtomicWriter, OutputLayout

log = logging.getLogger("tomocupy_gladier.engine")


@dataclass
class Geometry:
    """Sizes in tomocupy's terms; ``center`` is in binned, cropped pixels."""

    binning: int
    col0: int          # raw first column read
    col1: int          # raw end column read
    crop0: int         # binned columns dropped on the left (float16 power-of-two crop)
    n: int             # reconstructed width (binned, cropped)
    row0: int          # raw start row
    row1: int          # raw end row
    nz: int            # binned rows to reconstruct
    proj: slice
    theta: np.ndarray
    center: float      # binned, cropped
    rotation_axis: float  # raw pixels, what tomocupy reports


def compute_geometry(info: reader.ScanInfo, settings: Settings) -> Geometry:
    """Mirror tomocupy's ``Reader.init_sizes`` for the options implemented here."""
    b = int(settings.binning)
    f = 2**b
    start_row, end_row = span(settings.start_row, settings.end_row, info.nrows)
    if not span_fits(start_row, end_row, info.nrows):
        raise EngineError(f"--start-row {settings.start_row} / --end-row {settings.end_row} "
                          f"outside the {info.nrows} rows of {info.file_name}")
    start_proj, end_proj = span(settings.start_proj, settings.end_proj, info.nproj)
    if not span_fits(start_proj, end_proj, info.nproj):
        raise EngineError(f"--start-proj/--end-proj outside the {info.nproj} projections")
    proj = slice(start_proj, end_proj)
    col0, col1 = 0, info.ncols
    col1 -= (col1 - col0) % (2 ** (b + 1))  # tomocupy keeps widths a multiple of 2**(binning+1)
    centeri = axis_pixels(settings.rotation_axis, info.ncols)
    n = (col1 - col0) // f
    center = (centeri - col0) / f
    crop0 = 0
    if settings.dtype == "float16":
        p2 = 2 ** int(np.log2(n))
        crop0 = (n - p2) // 2
        center += (p2 - n) / 2
        n = p2
    nz = (end_row - start_row) // f
    if nz < 1 or n < 4:
        raise EngineError(f"nothing to reconstruct: {nz} rows x {n} columns after binning {b}")
    return Geometry(b, col0, col1, crop0, n, start_row, end_row, nz, proj, info.theta[proj],
                    center, centeri)


def try_rows(settings: Settings, geo: Geometry) -> list[int]:
    """Raw rows of the try slices: tomocupy's ``nsino`` fractions of the row range."""
    f = 2**geo.binning
    vals = ast.literal_eval(str(settings.nsino))
    vals = vals if isinstance(vals, (list, tuple)) else [vals]
    rows = []
    for v in vals:
        if not 0 <= float(v) <= 1:
            raise EngineError(f"--nsino {settings.nsino}: values must lie in [0, 1]")
        # tomocupy's id_slices count from row 0 of the --start-row/--end-row range; they name the
        # files (see _run_try).  tomocupy ``recon`` then reads raw row id_slice (ignoring
        # --start-row), ``recon_steps`` row start_row + id_slice, as tomocupy-cpu does for both
        rows.append(geo.row0 + int(float(v) * (geo.nz * f - 1) / f) * f)
    return rows


def try_centers(settings: Settings, geo: Geometry) -> tuple[np.ndarray, np.ndarray]:
    """(binned shifts, raw centres for the file names) exactly as tomocupy's ``init_sizes_try``."""
    f = 2**geo.binning
    shift = np.arange(-settings.center_search_width, settings.center_search_width,
                      settings.center_search_step * f).astype("float32") / f
    names = (np.float32(geo.rotation_axis / f) - shift) * f + geo.col0
    return shift, names


class Processor:
    """Raw rows -> minus-logged sinograms, in tomocupy's order of operations."""

    def __init__(self, info: reader.ScanInfo, geo: Geometry, settings: Settings, steps: bool):
        self.info, self.geo, self.settings, self.steps = info, geo, settings, steps

    def rows(self, r0: int, r1: int) -> np.ndarray:
        """Projections of raw rows [r0, r1) after all corrections, shape (nproj, rows, n)."""
        g, settings = self.geo, self.settings
        blk = reader.read_rows(self.info, r0, r1, g.col0, g.col1, g.binning, g.proj)
        data, flat, dark = blk.data, blk.flat, blk.dark
        if g.crop0:
            sl = (Ellipsis, slice(g.crop0, g.crop0 + g.n))
            data, flat, dark = data[sl], flat[sl], dark[sl]
        if settings.dezinger > 0:
            for a in (data, flat, dark):
                preprocess.dezinger(a, int(settings.dezinger), float(settings.dezinger_threshold))
        res = preprocess.flat_dark(data, flat, dark, bright_ratio=float(settings.bright_ratio),
                                   flat_linear=settings.flat_linear)
        del data
        stripes.remove_stripes(res, settings.remove_stripe_method, settings.as_options())
        if self.steps:
            if settings.retrieve_phase_method == "paganin":
                phase.paganin(res, pixel_size_um=float(settings.pixel_size) * 2**g.binning,
                              distance_mm=float(settings.propagation_distance),
                              energy_kev=float(settings.energy),
                              alpha=float(settings.retrieve_phase_alpha))
            phase.rotate_projections(res, float(settings.rotate_proj_angle),
                                     int(settings.rotate_proj_order))
        if settings.minus_log:
            preprocess.minus_log(res)
        return res

    @property
    def needs_whole_range(self) -> bool:
        """Phase retrieval and projection rotation mix rows, so they see the whole row range."""
        return self.steps and (self.settings.retrieve_phase_method == "paganin"
                               or self.settings.rotate_proj_angle != 0)


class _Progress:
    """Progress on stderr: a rich bar on a terminal, otherwise a plain log line every 5 s."""

    def __init__(self, what: str, total: int, unit: str) -> None:
        self.what, self.total, self.unit = what, total, unit
        self.t0 = self.last = time.time()
        console = Console(stderr=True)
        self.rich: Progress | None = None
        if console.is_terminal:
            self.rich = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn(unit), TextColumn("{task.fields[rate]}"), TimeElapsedColumn(),
                                 console=console)
            self.task = self.rich.add_task(what, total=total, rate="")

    def __enter__(self) -> "_Progress":
        if self.rich:
            self.rich.start()
        return self

    def update(self, done: int) -> None:
        rate = f"{done / max(time.time() - self.t0, 1e-9):.2f} {self.unit}/s"
        if self.rich:
            self.rich.update(self.task, completed=done, rate=rate)
        elif time.time() - self.last > 5 or done == self.total:
            self.last = time.time()
            log.info(f"{self.what}: {done}/{self.total} {self.unit} ({rate})")

    def __exit__(self, *exc) -> None:
        if self.rich:
            self.rich.stop()


def _threaded(gen: Iterator, maxsize: int = 1) -> Iterator:
    """Run a generator in a thread, handing items over through a bounded queue."""
    q: queue.Queue = queue.Queue(maxsize=maxsize)
    done = object()
    stop = threading.Event()

    def work() -> None:
        try:
            for item in gen:
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(done)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the consumer
            q.put(exc)

    t = threading.Thread(target=work, daemon=True, name="tomocupy-cpu-reader")
    t.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()


class _WriterThread:
    """Writes in the background; errors surface on the next call or at :meth:`close`."""

    def __init__(self, fn: Callable[..., None]):
        self.fn = fn
        self.q: queue.Queue = queue.Queue(maxsize=1)
        self.error: BaseException | None = None
        self.t = threading.Thread(target=self._run, daemon=True, name="tomocupy-cpu-writer")
        self.t.start()

    def _run(self) -> None:
        while True:
            item = self.q.get()
            if item is None:
                return
            if self.error is None:
                try:
                    self.fn(*item)
                except BaseException as exc:  # noqa: BLE001
                    self.error = exc

    def put(self, *args) -> None:
        if self.error:
            raise self.error
        self.q.put(args)

    def close(self) -> None:
        self.q.put(None)
        self.t.join()
        if self.error:
            raise self.error


def _command_line(settings: Settings) -> str:
    argv = list(settings.argv or sys.argv)
    return " ".join(["tomocupy-cpu"] + argv[1:]) if argv else "tomocupy-cpu"


def run(settings: Settings) -> OutputLayout:
    """Run ``recon`` or ``recon_steps`` for parsed options; returns where the output went."""
    steps = settings.command == "recon_steps"
    t0 = time.time()
    info = reader.open_scan(settings.file_name, settings.flat_file_name, settings.dark_file_name)
    geo = compute_geometry(info, settings)
    proc = Processor(info, geo, settings, steps)
    mode = settings.reconstruction_type
    layout = OutputLayout.for_run(str(settings.file_name), settings.out_path_name, mode, settings.save_format)
    log.info(f"Output: {layout.prefix}")
    f = 2**geo.binning
    whole: np.ndarray | None = None

    def slice_rows(r: int) -> np.ndarray:
        nonlocal whole
        if proc.needs_whole_range:
            if whole is None:
                whole = proc.rows(geo.row0, geo.row0 + geo.nz * f)
            i = (r - geo.row0) // f
            return whole[:, i : i + 1]
        return proc.rows(r, r + f)

    if settings.rotation_axis_auto == "auto":
        r = try_rows(settings, geo)[0]
        sino = slice_rows(r)[:, 0]
        found = center_mod.find_center_vo(sino, settings.center_search_width / f, settings.center_search_step)
        geo.center = found
        geo.rotation_axis = float(np.float32((found + geo.crop0) * f + geo.col0))
        # as tomocupy 1.1.0 (__main__.run_rec): only after a search, and in the binned frame of
        # the columns it read, so that axis * 2**binning + start-column is the full-size axis
        log.warning(f"set rotaion  axis {float(np.float32(found + geo.crop0))}")

    rec = FourierRec(geo.n, geo.theta, settings.fbp_filter)
    writer = AtomicWriter(layout, h5_shape=(info.nrows // f, geo.n, geo.n), dtype=settings.dtype,
                          command_line=_command_line(settings))
    try:
        if mode == "try":
            _run_try(settings, geo, rec, writer, slice_rows)
        else:
            _run_full(settings, geo, proc, rec, writer, slice_rows)
        writer.commit()
    except BaseException as exc:
        full = isinstance(exc, OSError) and is_full(exc, layout.directory)  # before the staged files go
        writer.abort()
        if full:
            _disk_full(exc, layout, settings, geo, mode)
        raise
    dt = time.time() - t0
    if steps:
        log.warning(f"Reconstruction time {dt:.01f}s")
    else:
        log.warning(f"Reconstruction time {dt:.1e}s")
    return layout


def _disk_full(exc: BaseException, layout: OutputLayout, settings: Settings, geo: Geometry,
               mode: str) -> NoReturn:
    """A write that failed on a full disk (or quota), told in one line: the output's folder,
    the bytes the whole output needs and what is free once this run's staged files are gone."""
    count = geo.nz if mode == "full" else len(try_rows(settings, geo)) * len(try_centers(settings, geo)[0])
    needed = count * geo.n * geo.n * np.dtype(settings.dtype).itemsize
    full = DiskFull(layout.directory, free_bytes(layout.directory), needed, "writing the reconstruction into",
                    quota=is_quota(exc))
    raise DiskFullError(str(full)) from exc


def _run_full(settings: Settings, geo: Geometry, proc: Processor, rec: FourierRec,
              writer: AtomicWriter, slice_rows) -> None:
    f = 2**geo.binning
    ncz = int(settings.nsino_per_chunk)
    out_row0 = geo.row0 // f

    def chunks() -> Iterator[tuple[int, np.ndarray]]:
        for k0 in range(0, geo.nz, ncz):
            k1 = min(geo.nz, k0 + ncz)
            r0, r1 = geo.row0 + k0 * f, geo.row0 + k1 * f
            if proc.needs_whole_range:
                sino = np.concatenate([slice_rows(r) for r in range(r0, r1, f)], axis=1)
            else:
                sino = proc.rows(r0, r1)
            yield k0, np.ascontiguousarray(sino.transpose(1, 0, 2))

    wt = _WriterThread(writer.write_rows)
    ok = False
    try:
        waits = {"input": 0.0, "compute": 0.0, "output": 0.0}
        with _Progress("reconstruction", geo.nz, "rows") as prog:
            t = time.time()
            for k0, sinos in _threaded(chunks()):
                t1 = time.time()
                out = rec.reconstruct(sinos, geo.center)
                t2 = time.time()
                wt.put(out_row0 + k0, out)
                t3 = time.time()
                waits["input"] += t1 - t
                waits["compute"] += t2 - t1
                waits["output"] += t3 - t2
                t = t3
                prog.update(k0 + len(sinos))
        log.debug("main thread: waiting for input %.1f s, reconstructing %.1f s, waiting for the writer %.1f s",
                  waits["input"], waits["compute"], waits["output"])
        ok = True
    finally:
        try:
            wt.close()
        except BaseException:
            if ok:
                raise


def _run_try(settings: Settings, geo: Geometry, rec: FourierRec, writer: AtomicWriter,
             slice_rows) -> None:
    shift, names = try_centers(settings, geo)
    ncz = max(2, int(settings.nsino_per_chunk))
    rows = try_rows(settings, geo)
    with _Progress("try centers", len(rows) * len(shift), "slices") as prog:
        done = 0
        for r in rows:
            sino = slice_rows(r)[:, 0]
            for k0 in range(0, len(shift), ncz):
                sh = shift[k0 : k0 + ncz]
                imgs = rec.reconstruct(np.broadcast_to(sino, (len(sh), *sino.shape)), geo.center - sh)
                for img, c in zip(imgs, names[k0 : k0 + ncz]):
                    writer.write_try(r - geo.row0, float(c), img)  # tomocupy's id_slice
                done += len(sh)
                prog.update(done)
