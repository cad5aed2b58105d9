"""Where a reconstruction and what goes with it are written, as POSIX paths on the machine
that runs tomocupy: tomocupy's own output rule, the run logs and the previews beside it."""

from __future__ import annotations

from pathlib import PurePosixPath


def tomocupy_output(scan: PurePosixPath, reconstruction_type: str,
                    out_path_name: str | None = None) -> PurePosixPath:
    """The folder of the reconstruction of ``scan``, by tomocupy 1.1.0's own rule.

    From ``dataio/writer.py`` (``init_output_files[_try]``): ``--out-path-name`` when given (for
    try runs too), else ``dirname(file) + '_rec/'`` followed by ``try_center/<base>`` (try) or
    ``<base>_rec`` (full), where ``<base>`` is the file name without its last three characters
    (``scan1.h5`` -> ``scan1``; tomocupy assumes ``.h5``, so ``scan1.hdf5`` -> ``scan1.h``).
    Every reconstruction is this one folder: HDF5 and Zarr volumes are written inside it.
    """
    if out_path_name:
        return PurePosixPath(out_path_name)
    base = scan.name[:-3]
    rec_root = PurePosixPath(f"{scan.parent}_rec")
    if reconstruction_type.startswith("try"):
        return rec_root / "try_center" / base
    return rec_root / f"{base}_rec"


def run_logs_folder(output: PurePosixPath) -> PurePosixPath:
    """Where each run on ``output`` keeps its reconstruction log (``<run id>.log``), beside it."""
    return output.with_name(f"{output.name}.logs")


def previews_folder(output: PurePosixPath, folder: str = "previews") -> PurePosixPath:
    """Where the previews tool writes its PNGs for a reconstruction at ``output``."""
    return output / folder
