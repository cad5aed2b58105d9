"""The tomocupy compute function: stage, verify, swap; run against the CPU engine (tomocupy's
command line and output rules) and against scripted misbehaviour."""

from __future__ import annotations

import inspect
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tomocupy_gladier.compute.disk_space import DiskFull
from tomocupy_gladier.experiment.options import tomocupy_options_for
from tomocupy_gladier.demo.synthetic import write_scan
from tomocupy_gladier.tools.recon.tomocupy_recon import tomocupy_recon

ENGINE = [sys.executable, "-m", "tomocupy_gladier.engine"]


@pytest.fixture
def scan(tmp_path: Path) -> Path:
    """A 90 x 4 x 64 scan; its true axis is at 32 + offset, so runs name it."""
    path = tmp_path / "data" / "scan1.h5"
    write_scan(path, nproj=90, nrows=4, ncols=64, seed=3)
    return path


@pytest.fixture
def program(monkeypatch):
    """Choose the endpoint's program, as TOMOCUPY_GLADIER_PROGRAM in its environment would."""
    def choose(argv: list[str]) -> None:
        monkeypatch.setenv("TOMOCUPY_GLADIER_PROGRAM", json.dumps(argv))
    choose(ENGINE)
    return choose


@pytest.fixture
def script(tmp_path: Path, program):
    """A stand-in program from Python source; it becomes the endpoint's program."""
    def make(source: str) -> Path:
        path = tmp_path / f"prog{len(list(tmp_path.glob('prog*.py')))}.py"
        path.write_text(textwrap.dedent(source))
        program([sys.executable, str(path)])
        return path
    return make


def settings(scan: Path, output: Path | None = None, **extra) -> dict:
    output = output or scan.parent.parent / "data_rec" / "scan1_rec"
    return {"file_name": str(scan), "output": str(output), "logs": str(output) + ".logs",
            "timeout": 60, **extra}


def recon(scan: Path, run_id: str = "run-1", output: Path | None = None, **params) -> dict:
    params.setdefault("reconstruction-type", "full")
    params.setdefault("rotation-axis", 32.0)
    return tomocupy_recon(recon=params, tomocupy=settings(scan, output), run_id=run_id)


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def leftovers(scan: Path) -> list[str]:
    return [n for n in names(scan.parent.parent / "data_rec") if n.endswith((".staging", ".old"))]


# --- the command line ---------------------------------------------------------------------------

RECORDER = """
    import json, os, sys
    with open(os.environ["ARGV_RECORD"], "a") as f:
        f.write(json.dumps({"argv": sys.argv[1:], "cwd": os.getcwd(),
                            "gpu": os.environ.get("CUDA_VISIBLE_DEVICES")}) + "\\n")
    sys.exit(3)
"""


@pytest.fixture
def recorder(script, tmp_path, monkeypatch):
    record = tmp_path / "argv.jsonl"
    monkeypatch.setenv("ARGV_RECORD", str(record))
    script(RECORDER)
    return lambda: [json.loads(line) for line in record.read_text().splitlines()] if record.exists() else []


def test_builds_an_argument_list_with_tomocupy_booleans_a_missing_config_and_a_staging_output(recorder, scan):
    with pytest.raises(RuntimeError, match="exited with status 3"):
        recon(scan, **{"minus-log": False, "flat-linear": True, "binning": 1, "fw-pad": True,
                       "verbose": False})
    call = recorder()[0]
    argv = call["argv"]
    assert argv[:3] == ["recon", "--file-name", str(scan)]
    assert not Path(argv[argv.index("--config") + 1]).exists(), "--config must name a missing file"
    assert argv[argv.index("--minus-log") + 1] == "False"
    assert argv[argv.index("--flat-linear") + 1] == "True"
    assert argv[argv.index("--binning") + 1] == "1"
    after = argv[argv.index("--fw-pad") + 1:]
    assert not after or after[0].startswith("--"), "a store_true flag takes no value"
    assert "--verbose" not in argv
    # tomocupy writes into a staging folder beside the output, named by the run
    assert argv[argv.index("--out-path-name") + 1] == "scan1_rec"
    assert call["cwd"].endswith("data_rec/.scan1_rec.run-1.staging")


def test_a_failed_run_leaves_no_staging_folder_and_keeps_its_log_by_run_id(recorder, scan):
    with pytest.raises(RuntimeError) as err:
        recon(scan, run_id="run-7")
    assert "exited with status 3" in str(err.value) and "--file-name" in str(err.value)
    log = scan.parent.parent / "data_rec" / "scan1_rec.logs" / "run-7.log"
    assert log.read_text().startswith("$ ")
    assert leftovers(scan) == []
    assert not (scan.parent.parent / "data_rec" / "scan1_rec").exists()


def test_tomocupy_runs_on_the_gpu_its_worker_was_given(recorder, scan, monkeypatch):
    """Globus Compute pins each worker to a GPU with CUDA_VISIBLE_DEVICES; tomocupy inherits it."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2")
    with pytest.raises(RuntimeError):
        recon(scan)
    assert recorder()[0]["gpu"] == "2"


def test_reconstructions_sharing_a_node_each_get_their_own_gpu(recorder, scan, tmp_path, monkeypatch):
    """ALCF's endpoint cannot bind workers to GPUs (its documented options have no such key) and
    runs max_workers_per_node tasks at once, all seeing every GPU: with the node's GPU count in
    the job's environment (TOMOCUPY_GLADIER_GPUS, set by its worker_init), each reconstruction
    takes the first free GPU, by a lock held while tomocupy runs, and tomocupy sees only it."""
    import tempfile

    from tomocupy_gladier.compute.recon import own_gpu

    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setenv("TOMOCUPY_GLADIER_GPUS", "2")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with own_gpu() as first:
        with own_gpu() as second:  # another reconstruction at the same time
            assert (first["CUDA_VISIBLE_DEVICES"], second["CUDA_VISIBLE_DEVICES"]) == ("0", "1")
        with pytest.raises(RuntimeError):  # GPU 0 busy: the reconstruction runs on GPU 1
            recon(scan)
        assert recorder()[-1]["gpu"] == "1"
    with own_gpu() as again:
        assert again["CUDA_VISIBLE_DEVICES"] == "0"  # released when tomocupy ended
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")  # a worker already given its GPU keeps it
    with own_gpu() as pinned:
        assert pinned["CUDA_VISIBLE_DEVICES"] == "3"


def test_a_reconstruction_in_a_warm_job_gets_what_is_left_of_it(recorder, scan, monkeypatch):
    """A job kept warm (min_blocks) serves later runs: its worker_init says when tomocupy must have
    stopped, and a late reconstruction gets what is left, or fails at once with the reason,
    instead of being killed by PBS without one."""
    import time as clock

    from tomocupy_gladier.compute.recon import within_the_job

    monkeypatch.setenv("TOMOCUPY_GLADIER_DEADLINE", str(int(clock.time()) + 600))
    assert 590 <= within_the_job(3000) <= 600 and within_the_job(60) == 60
    monkeypatch.setenv("TOMOCUPY_GLADIER_DEADLINE", str(int(clock.time()) + 20))
    with pytest.raises(TimeoutError, match="too soon to start tomocupy"):
        recon(scan)
    assert recorder() == [] and leftovers(scan) == []
    monkeypatch.delenv("TOMOCUPY_GLADIER_DEADLINE")
    assert within_the_job(3000) == 3000


def test_the_result_says_what_the_worker_ran(scan, program):
    """ALCF: the workers' Python and parsl must match its endpoint's; the result carries them."""
    import platform

    result = recon(scan)
    assert result["worker"]["python"] == platform.python_version()
    assert set(result["worker"]) == {"python", "parsl", "globus_compute_endpoint", "tomocupy", "tomocupy_gladier"}


@pytest.mark.parametrize("key", ["executable", "env"])
def test_the_flow_input_cannot_choose_the_program(recorder, scan, key):
    """Anyone allowed to start the flow could otherwise run any program on the endpoint."""
    with pytest.raises(ValueError, match="chosen by the compute endpoint"):
        tomocupy_recon(recon={}, tomocupy=settings(scan, **{key: ["/bin/sh", "-c", "id"]}))
    assert recorder() == []


@pytest.mark.parametrize("name, reason", [
    ("rotation-axes", "did you mean 'rotation-axis'"),
    ("energy", "only valid with command 'recon_steps'"),
    ("gpu-count", "not a tomocupy option"),
])
def test_refuses_options_tomocupy_does_not_know(recorder, scan, name, reason):
    with pytest.raises(ValueError, match=reason):
        recon(scan, command="recon", **{name: 1})
    assert recorder() == [], "nothing may run with a bad option"


@pytest.mark.parametrize("name", ["config", "out-path-name", "file-name"])
def test_refuses_options_it_manages_itself(recorder, scan, name):
    with pytest.raises(ValueError, match=f"'{name}' is set by tomocupy-gladier"):
        recon(scan, **{name: "/home/me/x"})


@pytest.mark.parametrize("params, problem", [
    ({"start-row": 3, "end-row": 2}, "do not fit the scan's 4 rows"),
    ({"end-row": 9}, "do not fit the scan's 4 rows"),
    ({"start-proj": 100}, "do not fit the scan's 90 projs"),
])
def test_ranges_outside_the_scan_are_refused_before_running(recorder, scan, params, problem):
    with pytest.raises(ValueError, match=problem):
        recon(scan, **params)
    assert recorder() == []


def test_a_missing_scan_fails_before_running_anything(recorder, tmp_path):
    with pytest.raises(FileNotFoundError, match="scan file not found"):
        recon(tmp_path / "nope.h5")
    assert recorder() == []


# --- a real reconstruction ----------------------------------------------------------------------

def test_a_full_reconstruction_is_verified_then_swapped_in_with_its_manifest_and_log(program, scan):
    result = recon(scan, run_id="run-1")
    output = Path(result["output"])
    assert output == scan.parent.parent / "data_rec" / "scan1_rec"
    slices = [f"recon_{i:05d}.tiff" for i in range(4)]
    assert names(output) == sorted(slices + ["manifest.json", "rec_line.txt", "tomocupy.log",
                                             "volume.ome.zarr"])
    manifest = json.loads((output / "manifest.json").read_text())
    zarr_files = [e["path"] for e in manifest["files"] if e["path"].startswith("volume.ome.zarr/")]
    assert "volume.ome.zarr/.zattrs" in zarr_files and "volume.ome.zarr/0/.zarray" in zarr_files
    assert manifest["run_id"] == "run-1" and manifest["file_count"] == 6 + len(zarr_files)
    assert all(len(e["sha256"]) == 64 and e["bytes"] > 0 for e in manifest["files"])
    assert result["file_count"] == manifest["file_count"] and result["slice_count"] == 4
    assert result["slice_shape"] == [64, 64]
    assert result["zarr"]["path"] == "volume.ome.zarr" and result["zarr"]["levels"][0]["shape"] == [4, 64, 64]
    assert result["bytes"] == manifest["bytes"]
    assert result["rotation_axis"] == 32.0 and result["rotation_axis_source"] == "rotation-axis option"
    assert Path(result["log_file"]) == output.with_name("scan1_rec.logs") / "run-1.log"
    assert "Reconstruction time" in (output / "tomocupy.log").read_text()
    assert leftovers(scan) == []
    assert len(json.dumps(result)) < 4000, "no per-file lists in the result"


def test_a_rerun_with_other_binning_and_rows_replaces_the_whole_previous_result(program, scan):
    recon(scan, run_id="first")
    result = recon(scan, run_id="second", binning=1)
    output = Path(result["output"])
    assert [n for n in names(output) if n.startswith("recon_")] == ["recon_00000.tiff", "recon_00001.tiff"]
    assert result["slice_shape"] == [32, 32]
    third = recon(scan, run_id="third", **{"start-row": 1, "end-row": 3})
    assert [n for n in names(output) if n.startswith("recon_")] == ["recon_00001.tiff", "recon_00002.tiff"]
    assert json.loads((output / "manifest.json").read_text())["run_id"] == "third"
    assert third["replaced_previous"] is True
    assert sorted(p.name for p in Path(third["log_file"]).parent.iterdir()) == [
        "first.log", "second.log", "third.log"], "each run keeps its own log"


SILENT = """
    import sys, pathlib
    args = sys.argv[1:]
    out = pathlib.Path(args[args.index("--out-path-name") + 1])
    out.mkdir(parents=True, exist_ok=True)
    mode = {mode!r}
    if mode == "writer":  # tomocupy's WRThread: the thread dies, the process exits 0
        (out / "recon_00000.tiff").write_bytes(b"II*\\x00" + bytes(200))
        print("Exception in thread Thread-3 (run):", file=sys.stderr)
        print("Traceback (most recent call last):", file=sys.stderr)
        print("OSError: [Errno 28] No space left on device", file=sys.stderr)
    if mode == "short":
        for row in range(2):
            (out / f"recon_{{row:05d}}.tiff").write_bytes(b"II*\\x00" + bytes(200))
    if mode == "red":
        print("\\x1b[91mFile Name does not exist: x\\x1b[0m", file=sys.stderr)
    print("\\x1b[33mReconstruction time 1.0e+00s\\x1b[0m", file=sys.stderr)
"""


@pytest.mark.parametrize("mode, error, problem", [
    ("nothing", RuntimeError, "4 of 4 slices missing"),
    ("short", RuntimeError, "2 of 4 slices missing"),
    # the thread's error names ENOSPC: the step says the disk is full, and where
    ("writer", DiskFull, "the disk is full: writing the reconstruction of scan1.h5 into "),
    ("red", RuntimeError, "its log reports an error ('File Name does not exist"),
])
def test_exit_zero_over_an_earlier_result_fails_and_keeps_the_earlier_result(program, script, scan, mode,
                                                                              error, problem):
    good = recon(scan, run_id="good")
    before = (Path(good["output"]) / "manifest.json").read_text()
    script(SILENT.format(mode=mode))
    with pytest.raises(error, match=problem.replace("(", r"\(")):
        recon(scan, run_id="bad")
    assert (Path(good["output"]) / "manifest.json").read_text() == before
    assert leftovers(scan) == []


def test_a_hanging_tomocupy_is_killed_at_the_timeout(script, scan):
    script("import time; time.sleep(600)")
    with pytest.raises(TimeoutError, match="did not finish within 1 s"):
        tomocupy_recon(recon={"reconstruction-type": "full"}, tomocupy=settings(scan, timeout=1))
    assert leftovers(scan) == []


def test_one_run_per_output_at_a_time(program, scan):
    import fcntl

    output = scan.parent.parent / "data_rec" / "scan1_rec"
    output.parent.mkdir()
    with open(output.parent / ".scan1_rec.lock", "a+") as lock:
        lock.write("run other on host (pid 1)")
        lock.flush()
        fcntl.flock(lock, fcntl.LOCK_EX)
        with pytest.raises(RuntimeError, match="being reconstructed by run other on host"):
            recon(scan, run_id="second")
    assert not output.exists()


KILLABLE = """
    import os, sys, pathlib, time
    args = sys.argv[1:]
    out = pathlib.Path(args[args.index("--out-path-name") + 1])
    out.mkdir(parents=True, exist_ok=True)
    (out / "recon_00000.tiff").write_bytes(b"II*\\x00" + bytes(10_000))
    pathlib.Path(os.environ["STARTED"]).write_text(str(os.getpid()))
    time.sleep(600)
"""


def start_killable_step(script, scan, tmp_path, run_id: str):
    """The reconstruction step of run ``run_id`` in a process of its own, running a tomocupy
    that writes one slice and then hangs (KILLABLE); returns the step's process and tomocupy's
    pid once tomocupy has started."""
    script(KILLABLE)
    started = tmp_path / "started"
    code = ("import json,sys; from tomocupy_gladier.tools.recon.tomocupy_recon import tomocupy_recon; "
            "tomocupy_recon(**json.loads(sys.argv[1]))")
    kwargs = {"recon": {"reconstruction-type": "full"}, "tomocupy": settings(scan), "run_id": run_id}
    wrapper = subprocess.Popen([sys.executable, "-c", code, json.dumps(kwargs)],
                               env={**os.environ, "STARTED": str(started)})
    deadline = time.monotonic() + 60
    while not started.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return wrapper, int(started.read_text())


def test_a_killed_run_leaves_nothing_that_a_later_run_publishes(program, script, scan, tmp_path):
    good = recon(scan, run_id="good")
    wrapper, tomocupy_pid = start_killable_step(script, scan, tmp_path, run_id="killed")
    wrapper.kill()  # kill -9 of the worker...
    os.kill(tomocupy_pid, signal.SIGKILL)  # ...and of tomocupy, as a lost batch job would end
    wrapper.wait()
    assert json.loads((Path(good["output"]) / "manifest.json").read_text())["run_id"] == "good"
    assert leftovers(scan) == [".scan1_rec.killed.staging"]

    program(ENGINE)
    again = recon(scan, run_id="again")
    assert leftovers(scan) == [], "the next run clears what the killed one left"
    manifest = json.loads((Path(again["output"]) / "manifest.json").read_text())
    assert manifest["run_id"] == "again" and manifest["bytes"] == again["bytes"]
    assert sum(p.stat().st_size for p in Path(again["output"]).rglob("*") if p.is_file()) == \
        again["bytes"] + (Path(again["output"]) / "manifest.json").stat().st_size


def test_a_killed_step_repeated_for_its_resumed_run_clears_what_it_left_and_succeeds(program, script, scan,
                                                                                       tmp_path):
    """kill -9 of the step's process only: tomocupy dies with it (it would otherwise go on writing
    into the staging folder of the same run id), the lock is free, and the same run's repeated
    step (a resumed run) starts afresh and swaps in its result over the earlier one."""
    good = recon(scan, run_id="good")
    wrapper, tomocupy_pid = start_killable_step(script, scan, tmp_path, run_id="resumed")
    wrapper.kill()
    wrapper.wait()
    deadline = time.monotonic() + 10
    while _running(tomocupy_pid):
        assert time.monotonic() < deadline, "tomocupy outlived the killed step"
        time.sleep(0.05)
    assert leftovers(scan) == [".scan1_rec.resumed.staging"]
    assert json.loads((Path(good["output"]) / "manifest.json").read_text())["run_id"] == "good"

    program(ENGINE)
    again = recon(scan, run_id="resumed")  # the same run, its step repeated
    assert leftovers(scan) == []
    assert again["replaced_previous"] is True
    assert json.loads((Path(again["output"]) / "manifest.json").read_text())["run_id"] == "resumed"


def _running(pid: int) -> bool:
    from tomocupy_gladier.local.store import process_alive

    return process_alive(pid, None)


def test_paths_with_spaces_and_non_ascii_letters(program, tmp_path):
    scan = tmp_path / "beam time é" / "scan 1.h5"
    write_scan(scan, nproj=90, nrows=4, ncols=64, seed=3)
    output = tmp_path / "beam time é_rec" / "scan 1_rec"
    result = recon(scan, output=output)
    assert result["output"] == str(output)
    assert len([n for n in names(output) if n.startswith("recon_")]) == 4


def test_a_try_lands_exactly_where_it_is_told(program, scan, tmp_path):
    output = tmp_path / "elsewhere" / "try_set2"
    result = recon(scan, output=output, **{"reconstruction-type": "try", "center-search-width": 4,
                                           "center-search-step": 1})
    assert result["output"] == str(output) and result["kind"] == "try"
    candidates = [n for n in names(output) if n.startswith("recon_slice")]
    assert len(candidates) == result["slice_count"] == 8
    assert "volume.ome.zarr" not in names(output) and "zarr" not in result, "a try has no OME-Zarr"


def test_the_ome_zarr_is_off_per_experiment_and_its_copies_on_request(program, scan):
    off = tomocupy_recon(recon={"reconstruction-type": "full", "rotation-axis": 32.0},
                         tomocupy=settings(scan, zarr={"enable": False}), run_id="off")
    assert not any(n.endswith(".ome.zarr") for n in names(Path(off["output"]))) and "zarr" not in off
    on = tomocupy_recon(recon={"reconstruction-type": "full", "rotation-axis": 32.0},
                        tomocupy=settings(scan, zarr={"exports": ["uint8"]}), run_id="on")
    output = Path(on["output"])
    assert {"volume.ome.zarr", "volume_uint8.ome.zarr"} <= set(names(output))
    [export] = on["zarr"]["exports"]
    assert export["dtype"] == "uint8" and export["low"] < export["high"]
    listed = {e["path"] for e in json.loads((output / "manifest.json").read_text())["files"]}
    assert "volume_uint8.ome.zarr/0/.zarray" in listed


def test_formats_keep_one_copy_of_the_voxels(program, scan):
    """[publish] formats = ["zarr"]: the slices go once the OME-Zarr is written (its finest level
    is the same voxels), so the folder, its manifest and what is published hold one copy;
    ["tiff"]: no OME-Zarr. The previews of a Zarr-only reconstruction come from the Zarr."""
    from tomocupy_gladier.compute.multiscale import read_level
    from tomocupy_gladier.compute.previews import make_previews

    import numpy as np
    import tifffile

    params = {"reconstruction-type": "full", "rotation-axis": 32.0}
    both = tomocupy_recon(recon=params, tomocupy=settings(scan, scan.parent / "both"), run_id="both")
    assert both["formats"] == ["tiff", "zarr"]
    volume = np.stack([tifffile.imread(p) for p in sorted(Path(both["output"]).glob("recon_*.tiff"))])
    zarr_only = tomocupy_recon(recon=params, tomocupy=settings(scan, scan.parent / "zarr", formats=["zarr"]),
                               run_id="zarr")
    output = Path(zarr_only["output"])
    assert zarr_only["formats"] == ["zarr"] and not list(output.glob("recon_*"))
    assert np.array_equal(read_level(output / "volume.ome.zarr"), volume)
    listed = {e["path"] for e in json.loads((output / "manifest.json").read_text())["files"]}
    assert not any(p.startswith("recon_") for p in listed) and "volume.ome.zarr/.zattrs" in listed
    assert zarr_only["bytes"] < both["bytes"] - volume.nbytes / 2
    shown = make_previews(recon_result=zarr_only, run_id="zarr")
    assert shown["source"]["format"] == "zarr" and shown["source"]["shape"] == list(volume.shape)
    assert sorted(Path(p).name for p in shown["previews"]) == ["xy.png", "xz.png", "yz.png"]
    tiff_only = tomocupy_recon(recon=params, tomocupy=settings(scan, scan.parent / "tiff", formats=["tiff"]),
                               run_id="tiff")
    assert tiff_only["formats"] == ["tiff"] and "zarr" not in tiff_only
    assert not list(Path(tiff_only["output"]).glob("*.zarr"))


@pytest.mark.parametrize("tomocupy, params, problem", [
    ({"formats": ["tif"]}, {}, r"formats must name one or both of \['tiff', 'zarr'\]"),
    ({"formats": []}, {}, "formats must name one or both"),
    ({"formats": ["zarr", "zarr"]}, {}, "each once"),
    ({"formats": ["zarr"], "zarr": {"enable": False}}, {}, "the OME-Zarr is off"),
    ({"formats": ["zarr"]}, {"save-format": "h5"}, "keeps only the OME-Zarr, which is made of full float32 TIFF"),
    ({"formats": ["zarr"]}, {"dtype": "float16"}, "dtype float16"),
])
def test_formats_that_cannot_be_kept_are_refused_before_tomocupy_runs(recorder, scan, tomocupy, params, problem):
    with pytest.raises(ValueError, match=problem):
        tomocupy_recon(recon={"reconstruction-type": "full", **params}, tomocupy=settings(scan, **tomocupy),
                       run_id="bad")
    assert recorder() == []


def test_bad_zarr_settings_fail_before_tomocupy_runs(recorder, scan):
    with pytest.raises(ValueError, match="exports must be among"):
        tomocupy_recon(recon={"reconstruction-type": "full"},
                       tomocupy=settings(scan, zarr={"exports": ["float16"]}), run_id="bad")
    assert recorder() == []


def test_a_run_started_from_the_web_form_lands_in_tomocupys_own_folders(program, scan):
    """The start form asks only for the scan: without output and logs, the full reconstruction
    goes where tomocupy itself would put it, a try to try_center/<scan>, logs beside them."""
    full = tomocupy_recon(recon={"reconstruction-type": "full", "rotation-axis": 32.0},
                          tomocupy={"file_name": str(scan), "timeout": 60}, run_id="form-1")
    assert full["output"] == str(scan.parent.parent / "data_rec" / "scan1_rec")
    assert Path(full["log_file"]) == scan.parent.parent / "data_rec" / "scan1_rec.logs" / "form-1.log"
    tried = tomocupy_recon(recon={"reconstruction-type": "try", "rotation-axis": 32.0,
                                  "center-search-width": 2, "center-search-step": 1},
                           tomocupy={"file_name": str(scan), "timeout": 60}, run_id="form-2")
    assert tried["output"] == str(scan.parent.parent / "data_rec" / "try_center" / "scan1")
    assert Path(tried["log_file"]).parent == scan.parent.parent / "data_rec" / "try_center" / "scan1.logs"


def test_the_function_is_self_contained():
    """Only the source reaches the endpoint: every import happens inside the body."""
    source = inspect.getsource(tomocupy_recon)
    namespace: dict = {}
    exec(compile(source, "<shipped>", "exec"), namespace)  # no module globals available
    assert callable(namespace["tomocupy_recon"])
    body_globals = set(tomocupy_recon.__code__.co_names) - set(dir(__builtins__))
    module_level = {"COMPUTE_V3_URL", "RECON_WAIT_TIME", "GladierBaseTool", "generate_flow_definition"}
    assert not body_globals & module_level


def test_known_option_table_matches_tomocupys_own():
    """The option names the endpoint library knows are exactly tomocupy 1.1.0's: it reads the
    table the client reads (data/tomocupy-options.json), and writes store_true options as bare
    flags and type=bool ones as ``--name True``."""
    from tomocupy_gladier.compute.tomocupy_options import option_forms

    common, steps = option_forms("recon"), option_forms("recon_steps")
    assert set(common) == set(tomocupy_options_for("recon"))
    assert set(steps) == set(tomocupy_options_for("recon_steps")) > set(common)
    flags = {name for name, form in steps.items() if form == "flag"}
    assert flags == {o for o, e in tomocupy_options_for("recon_steps").items() if e["action"] == "store_true"}
    assert {name for name, form in steps.items() if form == "bool"} == {"large-data"}


# --- against tomocupy 1.1.0's own behaviour (tests/fake_tomocupy.py, read from its source) --------

@pytest.fixture
def tomocupy_110(real_fake_tomocupy, program):
    program(real_fake_tomocupy.executable)
    return real_fake_tomocupy


@pytest.fixture
def wide_scan(tmp_path: Path):
    """180 x 8 x 128, true axis 67.25 (3.25 px right of the middle)."""
    return write_scan(tmp_path / "data" / "scan1.h5", nproj=180, nrows=8, ncols=128, seed=1)


def test_try_with_the_automatic_axis_gets_the_true_centres_despite_tomocupy_issue_76(tomocupy_110, wide_scan):
    """tomocupy 1.1.0 names auto-axis try candidates from the axis *before* its search, so
    names and images disagree; the files are renamed to the centres they really have."""
    from tomocupy_gladier.tools.previews.previews import make_previews

    tomocupy_110.knob("found_axis", 67.0)  # the search's answer, made exact for the test
    result = recon(wide_scan.path, **{"reconstruction-type": "try", "rotation-axis-auto": "auto",
                                      "rotation-axis-method": "vo", "rotation-axis": -1,
                                      "center-search-width": 6, "center-search-step": 0.5})
    assert "corrected by +3.00" in result["rotation_axis_source"]  # 67 - 128/2
    labels = sorted(float(n.split("center")[1][:-5]) for n in names(Path(result["output"]))
                    if n.startswith("recon_slice"))
    # tomocupy named them 58.5 ... 70.0 around 64 (half the width); the images are around 67
    assert len(labels) == 24 and labels[0] == 61.5 and labels[-1] == 73.0
    assert tomocupy_110.true_centre(58.5, 67.0, 64.0) == 61.5  # the fake's own formula agrees
    suggestion = make_previews(recon_result=result, recon={"reconstruction-type": "try"})
    assert suggestion["suggested_center"] == pytest.approx(wide_scan.rotation_axis, abs=0.5)


def test_tomocupys_swallowed_writer_error_fails_the_run_and_keeps_the_earlier_result(tomocupy_110, wide_scan):
    good = recon(wide_scan.path, run_id="good", **{"rotation-axis": 67.25})
    before = (Path(good["output"]) / "manifest.json").read_text()
    tomocupy_110.knob("writer_fail", 1)  # disk full in a writer thread: tomocupy still exits 0
    with pytest.raises(DiskFull, match="the disk is full: writing the reconstruction of") as failed:
        recon(wide_scan.path, run_id="bad", **{"rotation-axis": 67.25})
    # what tomocupy's log said is kept as the cause
    assert "exited 0 but its log reports an error" in str(failed.value.__cause__)
    assert (Path(good["output"]) / "manifest.json").read_text() == before
    tomocupy_110.knob("writer_fail", None)
    tomocupy_110.knob("nothing", 1)  # exit 0, nothing written
    with pytest.raises(RuntimeError, match="8 of 8 slices missing"):
        recon(wide_scan.path, run_id="silent", **{"rotation-axis": 67.25})
    assert (Path(good["output"]) / "manifest.json").read_text() == before


def test_binned_row_ranges_give_tomocupys_file_ids(tomocupy_110, wide_scan):
    result = recon(wide_scan.path, binning=1, **{"start-row": 2, "end-row": 8, "rotation-axis": 67.25})
    assert [n for n in names(Path(result["output"])) if n.startswith("recon_")] == [
        "recon_00001.tiff", "recon_00002.tiff", "recon_00003.tiff"]
    assert result["slice_shape"] == [64, 64]


@pytest.mark.parametrize("save_format", ["h5", "h5nolinks"])
def test_an_hdf5_volume_moves_into_its_folder_with_working_links(tomocupy_110, wide_scan, save_format):
    import h5py

    result = recon(wide_scan.path, **{"save-format": save_format, "rotation-axis": 67.25})
    output = Path(result["output"])
    with h5py.File(output / "scan1_rec.h5") as h5:
        volume = h5["/exchange/data"]
        assert volume.shape == (8, 128, 128)
        assert float(abs(volume[4]).max()) > 0, "the virtual dataset still finds its parts"
    assert leftovers(wide_scan.path) == []


def test_a_dot_hdf5_scan_reconstructs_where_tomocupy_would_put_it(tomocupy_110, wide_scan, tmp_path):
    from pathlib import PurePosixPath

    from tomocupy_gladier.tools.output_folders import tomocupy_output

    scan = wide_scan.path.with_name("scan1.hdf5")
    scan.write_bytes(wide_scan.path.read_bytes())
    output = Path(str(tomocupy_output(PurePosixPath(str(scan)), "full")))
    assert output.name == "scan1.h_rec", "tomocupy cuts three characters: basename[:-3]"
    result = tomocupy_recon(recon={"reconstruction-type": "full", "rotation-axis": 67.25},
                            tomocupy=settings(scan, output), run_id="r")
    assert Path(result["output"]) == output and result["slice_count"] == 8
