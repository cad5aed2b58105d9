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
