"""Where a reconstruction and what goes with it are written, as POSIX paths on the machine
that runs tomocupy: tomocupy's own output rule, the run logs and the previews beside it."""

from __future__ import annotations

from pathlib import PurePosixPath

from tomocupy_gladier.compute.rules import output_folder


def tomocupy_output(scan: PurePosixPath, reconstruction_type: str,
                    out_path_name: str | None = None) -> PurePosixPath:
    """The folder of the reconstruction of ``scan``, by tomocupy 1.1.0's own rule
    (:func:`tomocupy_gladier.compute.rules.output_folder`, which the endpoint uses too)."""
    return output_folder(str(scan), reconstruction_type, out_path_name)


def run_logs_folder(output: PurePosixPath) -> PurePosixPath:
    """Where each run on ``output`` keeps its reconstruction log (``<run id>.log``), beside it."""
    return output.with_name(f"{output.name}.logs")


def previews_folder(output: PurePosixPath, folder: str = "previews") -> PurePosixPath:
    """Where the previews tool writes its PNGs for a reconstruction at ``output``."""
    return output / folder
