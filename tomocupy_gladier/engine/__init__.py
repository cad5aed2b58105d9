"""tomocupy-cpu: a CPU reconstruction engine that speaks tomocupy's command line.

Modules: :mod:`.options` (command line from tomocupy's option table), :mod:`.reader`
(DXchange input), :mod:`.preprocess`, :mod:`.stripes`, :mod:`.phase`, :mod:`.center`,
:mod:`.filters`, :mod:`.fbp` (Fourier-gridding FBP in tomocupy's scale), :mod:`.writer`
(tomocupy's output names, atomic), :mod:`.pipeline` (streamed run) and :mod:`.cli`.
"""

from .fbp import TOMOCUPY_SCALE, FourierRec, reconstruct

__all__ = ["FourierRec", "TOMOCUPY_SCALE", "reconstruct"]
