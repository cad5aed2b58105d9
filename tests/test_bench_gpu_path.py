"""benchmarks/bench_gpu_path.py end to end with the CPU engine on a tiny scan."""

from __future__ import annotations

import importlib.util
import json
import os
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
    for key in ("direct_seconds", "wrapper_seconds", "overhead_percent", "flow_seconds", "r", "scale",
                "post_seconds", "post_percent_of_wall"):
        assert isinstance(summary[key], (int, float)), key
    # the step's post-processing on this machine's cores, on the engine's own slices
    post = results["post"]
    assert post["slices"] == 4 and post["workers"] >= 1 and post["files"] > post["slices"]
    assert not (Path(results["direct"]["output"]) / "volume.ome.zarr").exists(), "its Zarr is removed"
    assert summary["r"] == pytest.approx(1.0, abs=1e-6)  # tomocupy-cpu compared with itself
    assert summary["scale"] == pytest.approx(1.0, abs=1e-6)
    assert results["wrapper"]["same_command_as_direct"] is True
    assert results["flow"]["status"] == "SUCCEEDED"
    assert results["flow"]["states"]["TomocupyRecon"] > 0
    true_axis = results["scan"]["true_axis"]
    assert set(summary["rotation_axis"].values()) == {true_axis}
    assert "cuda_visible_devices" in summary
    assert sorted(p.name for p in (out / "slices").iterdir()) == ["recon_00001.tiff", "recon_00002.tiff"]
    printed = capsys.readouterr().out
    assert "[summary] r 1.00000" in printed and "post-processing" in printed and "[post]    OME-Zarr and manifest of 4" in printed


def test_missing_engine_is_one_clear_message(bench: ModuleType, tmp_path: Path, capsys) -> None:
    rc = bench.main(["--engine", "tomocupy-not-installed-here", "--out", str(tmp_path)])
    assert rc == 2
    err = capsys.readouterr().err
    assert "is not installed" in err and "Traceback" not in err
    assert "not installed" in json.loads((tmp_path / "results.json").read_text())["error"]["message"]


def test_compute_function_from_source_alone(bench: ModuleType) -> None:
    func = bench.load_compute_function()
    assert func.__name__ == "tomocupy_recon" and "gladier" not in func.__globals__


def test_the_gpu_check_with_a_tomocupy_that_behaves_as_1_1_0(bench: ModuleType, tmp_path: Path, monkeypatch,
                                                             real_fake_tomocupy, capsys) -> None:
    """The prepared device check, rehearsed: ``tomocupy`` on the PATH is tests/fake_tomocupy.py (tomocupy
    1.1.0's command line, outputs and log as its source has them), so the script finds and runs it as
    it would the real one, then times the step's post-processing beside tomocupy's own time."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "tomocupy"
    wrapper.write_text(f"#!/bin/sh\nexec {' '.join(real_fake_tomocupy.executable)} \"$@\"\n")
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    out = tmp_path / "out"
    rc = bench.main(["--engine", "tomocupy", "--shape", "90", "4", "64", "--repeat", "1", "--out", str(out),
                     "--skip", "flow", "compare"])
    assert rc == 0, capsys.readouterr()
    summary = json.loads((out / "results.json").read_text())["summary"]
    assert summary["reconstruction_seconds"] > 0 and summary["post_seconds"] > 0
    assert summary["post_percent"] == pytest.approx(100 * summary["post_seconds"] / summary["reconstruction_seconds"],
                                                    abs=0.1)
    assert real_fake_tomocupy.calls(), "the fake was what ran"
    assert "of the reconstruction" in capsys.readouterr().out
