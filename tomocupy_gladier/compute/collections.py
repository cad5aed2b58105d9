"""Paths on the facility's Globus collection, from paths as the compute nodes see them.

A collection's ``/`` is a folder of the compute nodes' filesystem (the experiment's ``[facility]
posix_root``, which reaches the endpoint as Publishv2's ``source_collection_basepath``): what a
compute step finds on the nodes is named on the collection for the Transfer states that follow
it (the return copy, the removal after publication).
"""

from __future__ import annotations

import pathlib


def on_collection(path: str | pathlib.PurePath, root: str | pathlib.PurePath) -> pathlib.PurePosixPath | None:
    """``path`` (as the compute nodes see it) as a path on the collection whose ``/`` is ``root``
    there; None when ``path`` is not below ``root``."""
    try:
        return pathlib.PurePosixPath("/", pathlib.PurePosixPath(path).relative_to(pathlib.PurePosixPath(root)))
    except ValueError:
        return None
