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
    """Where tomocupy writes the reconstruction of ``scan`` (its own naming convention)."""
    rec_root = scan.parent.with_name(f"{scan.parent.name}_rec")
    if reconstruction_type.startswith("try"):
        return rec_root / "try_center" / scan.stem
    if out_path_name:
        return PurePosixPath(out_path_name)
    return rec_root / f"{scan.stem}_rec"


def previews_folder(output: PurePosixPath, save_format: str = "tiff",
                    folder: str = "previews") -> PurePosixPath:
    """Where the previews tool writes its PNGs for a reconstruction at ``output``.

    A TIFF stack gets ``<output>/previews``; an HDF5 or Zarr volume (``<output>.h5``,
    ``<output>.zarr``) gets a sibling folder ``<output>_previews``.
    """
    if save_format == "tiff":
        return output / folder
    return output.with_name(f"{output.name}_{folder}")


def reconstruction_item(output: PurePosixPath, save_format: str = "tiff") -> tuple[PurePosixPath, bool]:
    """The reconstruction as one transferable item: ``(path, is_folder)``."""
    if save_format == "tiff":
        return output, True
    if save_format == "zarr":
        return output.with_name(f"{output.name}.zarr"), True
    return output.with_name(f"{output.name}.h5"), False
