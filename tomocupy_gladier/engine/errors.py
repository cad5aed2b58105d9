"""Errors that the command line reports as one clear line (no traceback)."""


class EngineError(Exception):
    """Base class: a problem the user can fix (bad input, unsupported option value)."""

    exit_code = 1


class InputError(EngineError):
    """The input file is missing, unreadable or lacks a DXchange dataset."""


class UnsupportedError(EngineError):
    """A tomocupy option value that tomocupy-cpu does not implement."""

    exit_code = 2


class DiskFullError(EngineError):
    """The output's filesystem (or the quota there) is full: the message names the folder,
    the bytes needed and the bytes free (:mod:`tomocupy_gladier.compute.disk_space`)."""
