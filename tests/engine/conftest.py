"""Shared helpers: synthetic scans and an in-process runner for the tomocupy-cpu CLI."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tomocupy_gladier.engine import cli
from tomocupy_gladier.demo.synthetic import write_scan


@dataclass
class CliResult:
    code: int
    err: str


@pytest.fixture
def run_cli(capsys):
    """Run ``tomocupy-cpu`` in this process; returns exit code and stderr."""

    def _run(*args: str) -> CliResult:
        code = cli.main([str(a) for a in args])
        cap = capsys.readouterr()
        return CliResult(code, cap.err)

    return _run


@pytest.fixture
def scan(tmp_path):
    """A small noisy scan (180 x 8 x 128, axis 67.25) in its own directory."""
    return write_scan(tmp_path / "data" / "scan.h5", nproj=180, nrows=8, ncols=128, seed=1)


def ncc(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two images."""
    return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])


def ls_scale(rec: np.ndarray, ref: np.ndarray) -> float:
    """Least-squares factor s minimising |rec - s ref|."""
    return float((rec * ref).sum() / (ref * ref).sum())


def inside(n: int, frac: float = 0.9) -> np.ndarray:
    """Mask of the central disk where tomocupy reconstructs."""
    yy, xx = np.mgrid[:n, :n]
    return np.hypot(yy - n / 2, xx - n / 2) < frac * n / 2


def list_names(path: Path) -> list[str]:
    return sorted(p.name for p in path.iterdir())
