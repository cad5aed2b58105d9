"""The program that reconstructs, as far as the client can tell what it can do: tomocupy itself,
or this package's CPU engine (``tomocupy-cpu``), which implements a subset of its options.

On a backend whose endpoint chooses the program (Globus: ``TOMOCUPY_GLADIER_PROGRAM`` in the
endpoint's environment) the client assumes tomocupy and refuses nothing; where it knows the
program (the local backend runs ``[compute] executable``) that program is the engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Protocol

from tomocupy_gladier.backends import Backend
from tomocupy_gladier.experiment.config import ExperimentConfig

CPU_ENGINE_PROGRAMS = ("tomocupy-cpu", "tomocupy_gladier.engine")
"""How ``[compute] executable`` names this package's CPU engine: its console script
(pyproject's ``[project.scripts]``) or its module (``python -m tomocupy_gladier.engine``)."""


class Engine(Protocol):
    """The program that reconstructs, as far as the client can tell what it can do."""

    @property
    def name(self) -> str:
        """As messages name it."""

    def unsupported(self, recon: Mapping[str, Any]) -> str | None:
        """Why the engine cannot run ``recon`` (tomocupy's names), or None when it can."""

    def lacks(self, command: str) -> Mapping[str, frozenset[str] | None]:
        """What tomocupy offers for ``command`` and this engine lacks: option -> the values it
        lacks, or None for the whole option (forms leave them out, ``--help`` marks them)."""


@dataclass(frozen=True)
class Tomocupy:
    """tomocupy itself (or a program the endpoint chooses): every option is its own."""

    name: str = "tomocupy"

    def unsupported(self, recon: Mapping[str, Any]) -> str | None:
        return None

    def lacks(self, command: str) -> Mapping[str, frozenset[str] | None]:
        return {}


@dataclass(frozen=True)
class CpuEngine:
    """This package's CPU engine (``tomocupy-cpu``): a subset of tomocupy's options."""

    name: str = "tomocupy-cpu"

    def unsupported(self, recon: Mapping[str, Any]) -> str | None:
        from tomocupy_gladier.engine.options import unsupported  # the engine's numpy only when asked

        params = {k: v for k, v in recon.items() if k not in ("command", "out-path-name")}
        return unsupported(str(recon.get("command", "recon")), params)

    def lacks(self, command: str) -> Mapping[str, frozenset[str] | None]:
        from tomocupy_gladier.engine.options import lacking

        return lacking(command)


def configured_engine(executable: str | tuple[str, ...] | list[str]) -> Engine:
    """The engine ``[compute] executable`` names: the CPU engine when a word of it is one of
    :data:`CPU_ENGINE_PROGRAMS`, tomocupy otherwise."""
    words = [executable] if isinstance(executable, str) else list(executable)
    if any(Path(w).name == CPU_ENGINE_PROGRAMS[0] or w == CPU_ENGINE_PROGRAMS[1] for w in words):
        return CpuEngine()
    return Tomocupy()


def engine_of(config: ExperimentConfig, backend: Backend) -> Engine:
    """The engine that reconstructs ``config``'s scans on ``backend``, as the client knows it:
    the one ``[compute] executable`` names where the backend runs it, tomocupy otherwise (the
    endpoint's environment chooses the program, not the file)."""
    return configured_engine(config.executable) if backend.knows_program else Tomocupy()
