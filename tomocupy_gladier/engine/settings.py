"""The settings of one tomocupy-cpu run: tomocupy's options, parsed, checked and typed.

:func:`~tomocupy_gladier.engine.options.parse` reads tomocupy's command line (and ``--config``
file) with argparse, as tomocupy does, then hands the processing code a :class:`Settings`:
every option under its argparse name (``--minus-log`` -> ``minus_log``), with real booleans
where tomocupy passes the strings ``"True"``/``"False"``.

tomocupy's string booleans (``--minus-log``, ``--flat-linear``, ``--pre-processing``) are
tested with ``== 'True'`` in tomocupy, so any other spelling (``true``, ``1``) silently means
False there. tomocupy-cpu refuses those spellings instead (:func:`tomocupy_boolean`): the same
command line never means something else on the two engines.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping

from .errors import UnsupportedError

#: tomocupy's options whose values are the strings "True"/"False".
STRING_BOOLEANS = ("minus-log", "flat-linear", "pre-processing")


def tomocupy_boolean(name: str, value: Any) -> bool:
    """A tomocupy string boolean as a bool: ``"True"`` -> True, ``"False"`` -> False.

    :param name: the option (``minus-log``), for the message
    :raises UnsupportedError: any other value (tomocupy would read it as False)
    """
    if isinstance(value, bool):
        return value
    if value not in ("True", "False"):
        raise UnsupportedError(f"--{name} takes True or False (tomocupy's string boolean), "
                               f"got {value!r}")
    return value == "True"


@dataclass(frozen=True)
class Settings:
    """One run's options (tomocupy's names with ``_``; defaults are tomocupy's, applied by
    the parser). ``recon`` runs carry the ``recon_steps`` options at their defaults."""

    command: str  # recon or recon_steps
    # the run
    config: str | None
    logs_home: str
    verbose: bool
    max_read_threads: int
    max_write_threads: int
    # input
    file_name: str
    flat_file_name: str | None
    dark_file_name: str | None
    file_type: str
    binning: int
    start_row: int
    end_row: int  # -1: the last row
    start_proj: int
    end_proj: int  # -1: the last projection
    nsino: str  # a fraction, or a list of fractions, as tomocupy writes it
    nsino_per_chunk: int
    # pre-processing
    dezinger: int
    dezinger_threshold: int
    bright_ratio: float
    flat_linear: bool
    minus_log: bool
    pre_processing: bool
    remove_stripe_method: str
    fw_sigma: float
    fw_filter: str
    fw_level: int
    fw_pad: bool
    vo_all_snr: float
    vo_all_la_size: int
    vo_all_sm_size: int
    vo_all_dim: str  # tomocupy gives it no type
    # recon_steps
    retrieve_phase_method: str
    energy: float
    propagation_distance: float
    retrieve_phase_alpha: float
    pixel_size: float
    rotate_proj_angle: float
    rotate_proj_order: int
    # reconstruction
    reconstruction_type: str
    reconstruction_algorithm: str
    rotation_axis: float  # -1: the middle of the detector
    rotation_axis_auto: str
    rotation_axis_method: str
    center_search_width: float
    center_search_step: float
    fbp_filter: str
    dtype: str
    # output
    out_path_name: str | None
    save_format: str
    #: the command line as given (for the output's provenance)
    argv: tuple[str, ...] = ()

    @classmethod
    def from_options(cls, values: Mapping[str, Any]) -> "Settings":
        """Settings from parsed options by their argparse names (``vars(namespace)``);
        tomocupy's string booleans become bools (:func:`tomocupy_boolean`)."""
        names = {f.name for f in dataclasses.fields(cls)}
        known = {k: v for k, v in values.items() if k in names}
        for option in STRING_BOOLEANS:
            key = option.replace("-", "_")
            if key in known:
                known[key] = tomocupy_boolean(option, known[key])
        return cls(**known)

    def as_options(self) -> dict[str, Any]:
        """Every setting by its argparse name (what ``vars(namespace)`` gave tomocupy's code)."""
        return dataclasses.asdict(self)
