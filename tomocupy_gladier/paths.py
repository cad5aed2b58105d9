"""Paths on Globus collections and the POSIX paths they are on disk."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

from tomocupy_gladier.errors import UserError


@dataclass(frozen=True)
class Collection:
    """A Globus collection whose ``/`` is ``posix_root`` on the machines that read it."""

    id: str
    posix_root: PurePosixPath = PurePosixPath("/")

    def to_posix(self, globus_path: str | PurePosixPath) -> PurePosixPath:
        """POSIX path of a collection path (``/raw/a.h5`` -> ``<root>/raw/a.h5``)."""
        path = PurePosixPath("/", globus_path)
        if ".." in path.parts:
            raise UserError(f"path {str(globus_path)!r} on collection {self.id} may not contain '..'")
        return self.posix_root.joinpath(*path.parts[1:])

    def to_globus(self, posix_path: str | PurePosixPath) -> PurePosixPath:
        """Collection path of a POSIX path under ``posix_root``; refuses paths outside it."""
        path = PurePosixPath(posix_path)
        if ".." in path.parts:
            raise UserError(f"path {str(posix_path)!r} may not contain '..'")
        try:
            return PurePosixPath("/") / path.relative_to(self.posix_root)
        except ValueError:
            raise UserError(
                f"{str(posix_path)!r} is outside collection {self.id}, whose root is {self.posix_root}"
            ) from None


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
