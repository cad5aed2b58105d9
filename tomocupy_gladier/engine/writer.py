"""Output naming exactly as tomocupy, written atomically.

Every file is first written under a hidden staging directory next to its destination and
moved into place (``os.replace``) only when the whole run has succeeded; a failed run removes
its staging directory, so nothing it leaves behind looks like a finished reconstruction.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import tifffile

from tomocupy_gladier.compute.rules import output_folder


@dataclass(frozen=True)
class OutputLayout:
    """Where tomocupy would write for this file name / out-path-name / mode / format.

    ``prefix`` is what tomocupy logs after ``Output:``.
    """

    mode: str
    save_format: str
    directory: Path
    prefix: str
    #: the folder tomocupy creates for every run (``<base>``, also for h5 output): staging lives
    #: there, never beside ``<base>.h5`` where a scan of the parent folder would pick it up
    base: Path | None = None

    @property
    def stage_parent(self) -> Path:
        return self.base if self.base is not None else self.directory

    @classmethod
    def for_run(cls, file_name: str, out_path_name: str | None, mode: str, save_format: str) -> "OutputLayout":
        base = str(output_folder(file_name, mode, out_path_name))
        if mode == "try":
            return cls(mode, "tiff", Path(base), f"{base}/recon")
        if save_format == "h5":
            return cls(mode, "h5", Path(base).parent, f"{base}.h5", Path(base))
        return cls(mode, "tiff", Path(base), f"{base}/recon")

    def slice_name(self, row: int) -> str:
        return f"{os.path.basename(self.prefix)}_{row:05d}.tiff"

    def try_name(self, row: int, center: float) -> str:
        return f"{os.path.basename(self.prefix)}_slice{row:04d}_center{center:05.2f}.tiff"


class AtomicWriter:
    """Stage outputs, then publish them all at once with :meth:`commit` (or :meth:`abort`)."""

    def __init__(self, layout: OutputLayout, *, h5_shape: tuple[int, int, int] | None = None,
                 dtype: str = "float32", command_line: str = "") -> None:
        self.layout = layout
        self.dtype = np.dtype(dtype)
        self.command_line = command_line
        layout.directory.mkdir(parents=True, exist_ok=True)
        layout.stage_parent.mkdir(parents=True, exist_ok=True)  # tomocupy makes <base> too
        self.stage = layout.stage_parent / f".tomocupy-cpu-{os.getpid()}.partial"
        if self.stage.exists():
            shutil.rmtree(self.stage)
        self.stage.mkdir()
        self._h5: h5py.File | None = None
        if layout.save_format == "h5":
            assert h5_shape is not None
            self._h5_name = os.path.basename(layout.prefix)
            self._h5 = h5py.File(self.stage / self._h5_name, "w")
            d = self._h5.create_dataset("/exchange/data", shape=h5_shape, dtype=self.dtype,
                                        chunks=(1, h5_shape[1], h5_shape[2]), fillvalue=0)
            d.attrs["command"] = command_line
            d.attrs["axes"] = "z:y:x"
            d.attrs["description"] = "ReconData"
            d.attrs["units"] = "counts"

    def write_rows(self, row0: int, rec: np.ndarray) -> None:
        """Write slices of absolute (binned) rows ``row0 ...``."""
        rec = rec.astype(self.dtype, copy=False)
        if self._h5 is not None:
            self._h5["/exchange/data"][row0 : row0 + len(rec)] = rec
            return
        for i, img in enumerate(rec):
            tifffile.imwrite(self.stage / self.layout.slice_name(row0 + i), img)

    def write_try(self, row: int, center: float, img: np.ndarray) -> None:
        tifffile.imwrite(self.stage / self.layout.try_name(row, center), img.astype(self.dtype, copy=False))

    def commit(self) -> None:
        """Move every staged file into place; for full tiff runs write ``rec_line.txt`` last."""
        if self._h5 is not None:
            self._h5.close()
            self._h5 = None
        for p in sorted(self.stage.iterdir()):
            os.replace(p, self.layout.directory / p.name)
        if self.layout.mode == "full" and self.layout.save_format == "tiff":
            tmp = self.stage / "rec_line.txt"
            tmp.write_text(self.command_line)
            os.replace(tmp, self.layout.directory / "rec_line.txt")
        shutil.rmtree(self.stage, ignore_errors=True)

    def abort(self) -> None:
        """Drop everything staged by this run."""
        if self._h5 is not None:
            try:
                self._h5.close()
            except Exception:  # noqa: BLE001 - best effort while failing
                pass
            self._h5 = None
        shutil.rmtree(self.stage, ignore_errors=True)
