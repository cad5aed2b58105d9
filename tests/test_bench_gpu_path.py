"""benchmarks/bench_gpu_path.py end to end with the CPU engine on a tiny scan."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_gpu_path.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_gpu_path", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_all_phases_with_the_cpu_engine(bench: ModuleType, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    rc = bench.main(["--engine", "tomocupy-cpu", "--shape", "90", "4", "64", "--repeat", "1",
                     "--out", str(out), "--save-slices", "2"])
    assert rc == 0, capsys.readouterr()
    results = json.loads((out / "results.json").read_text())
    summary = results["summary"]
    for key in ("direct_seconds", "wrapper_seconds", "overhead_percent", "flow_seconds", "r", "scale"):
        assert isinstance(summary[key], (int, float)), key
    assert summary["r"] == pytest.approx(1.0, abs=1e-6)  # tomocupy-cpu compared with itself
    assert summary["scale"] == pytest.approx(1.0, abs=1e-6)
    assert results["wrapper"]["same_command_as_direct"] is True
    assert results["flow"]["status"] == "SUCCEEDED"
    assert results["flow"]["states"]["TomocupyRecon"] > 0
    true_axis = results["scan"]["true_axis"]
    assert set(summary["rotation_axis"].values()) == {true_axis}
    assert "cuda_visible_devices" in summary
    assert sorted(p.name for p in (out / "slices").iterdir()) == ["recon_00001.tiff", "recon_00002.tiff"]
    assert "[summary] r 1.00000" in capsys.readouterr().out


def test_missing_engine_is_one_clear_message(bench: ModuleType, tmp_path: Path, capsys) -> None:
    rc = bench.main(["--engine", "tomocupy-not-installed-here", "--out", str(tmp_path)])
    assert rc == 2
    err = capsys.readouterr().err
    assert "is not installed" in err and "Traceback" not in err
    assert "not installed" in json.loads((tmp_path / "results.json").read_text())["error"]["message"]


def test_compute_function_from_source_alone(bench: ModuleType) -> None:
    func = bench.load_compute_function()
    assert func.__name__ == "tomocupy_recon" and "gladier" not in func.__globals__
