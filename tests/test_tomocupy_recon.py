"""The tomocupy compute function, run against a fake tomocupy that records its argv."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest

from tomocupy_gladier.options import tomocupy_options_for
from tomocupy_gladier.tools.tomocupy_recon import tomocupy_recon


@pytest.fixture
def scan(tmp_path: Path) -> Path:
    path = tmp_path / "data" / "scan1.h5"
    path.parent.mkdir()
    path.write_bytes(b"\x89HDF")
    return path


def recon(fake, scan, **params):
    settings = {"file_name": str(scan), "executable": fake.executable, "timeout": 30}
    return tomocupy_recon(recon=params, tomocupy=settings, compute_endpoint="ignored")


def test_builds_an_argument_list_with_tomocupy_booleans_and_a_missing_config(fake_tomocupy, scan):
    recon(fake_tomocupy, scan, command="recon", **{"reconstruction-type": "full", "rotation-axis": 250.5,
                                                   "minus-log": False, "flat-linear": True, "binning": 1})
    argv = fake_tomocupy.calls()[0]
    assert argv[:3] == ["recon", "--file-name", str(scan)]
    config = argv[argv.index("--config") + 1]
    assert not Path(config).exists(), "--config must name a file that does not exist"
    assert argv[argv.index("--minus-log") + 1] == "False"
    assert argv[argv.index("--flat-linear") + 1] == "True"
    assert argv[argv.index("--rotation-axis") + 1] == "250.5"
    assert argv[argv.index("--binning") + 1] == "1"


def test_store_true_flags_are_passed_bare_and_false_flags_left_out(fake_tomocupy, scan):
    recon(fake_tomocupy, scan, **{"reconstruction-type": "full", "fw-pad": True, "verbose": False})
    argv = fake_tomocupy.calls()[0]
    after = argv[argv.index("--fw-pad") + 1:]
    assert not after or after[0].startswith("--"), "a store_true flag takes no value"
    assert "--verbose" not in argv


def test_returns_a_small_json_summary_of_the_outputs(fake_tomocupy, scan):
    result = recon(fake_tomocupy, scan, **{"reconstruction-type": "full", "rotation-axis": 250.5})
    expected = scan.parent.parent / "data_rec" / "scan1_rec"
    assert result["output"] == str(expected)
    assert result["file_count"] == 3
    assert result["files"] == ["recon_00000.tiff", "recon_00001.tiff", "recon_00002.tiff"]
    assert result["rotation_axis"] == 250.5
    assert result["reconstruction_seconds"] == 1.2
    assert result["command"][0] == fake_tomocupy.executable[0]
    assert len(json.dumps(result)) < 10_000


def test_writes_the_full_log_next_to_the_outputs(fake_tomocupy, scan):
    result = recon(fake_tomocupy, scan, **{"reconstruction-type": "full"})
    log = Path(result["log_file"])
    assert log.parent == Path(result["output"]).parent
    text = log.read_text()
    assert text.startswith("$ ") and "Reconstruction time" in text


def test_try_reconstructions_land_in_try_center(fake_tomocupy, scan):
    result = recon(fake_tomocupy, scan, **{"reconstruction-type": "try"})
    assert result["output"].endswith("data_rec/try_center/scan1")


@pytest.mark.parametrize("name, reason", [
    ("rotation-axes", "did you mean 'rotation-axis'"),
    ("energy", "only valid with command 'recon_steps'"),
    ("gpu-count", "not a tomocupy option"),
])
def test_refuses_options_tomocupy_does_not_know(fake_tomocupy, scan, name, reason):
    with pytest.raises(ValueError, match=reason):
        recon(fake_tomocupy, scan, command="recon", **{name: 1})
    assert fake_tomocupy.calls() == [], "nothing may run with a bad option"


def test_refuses_options_it_manages_itself(fake_tomocupy, scan):
    with pytest.raises(ValueError, match="'config' is set by tomocupy-gladier"):
        recon(fake_tomocupy, scan, config="/home/me/tomocupyon.conf")


def test_non_zero_exit_raises_with_the_command_and_the_end_of_the_log(fake_tomocupy, scan):
    fake_tomocupy.mode("fail")
    with pytest.raises(RuntimeError) as err:
        recon(fake_tomocupy, scan, **{"reconstruction-type": "full"})
    message = str(err.value)
    assert "exited with status 3" in message
    assert "--file-name" in message
    assert "ERROR: cannot read /exchange/data" in message  # colours stripped


@pytest.mark.parametrize("mode, problem", [("noop", "no output"), ("empty", "empty files")])
def test_exit_zero_without_usable_outputs_is_a_failure(fake_tomocupy, scan, mode, problem):
    fake_tomocupy.mode(mode)
    with pytest.raises(RuntimeError, match=problem):
        recon(fake_tomocupy, scan, **{"reconstruction-type": "full"})


def test_a_hanging_tomocupy_is_killed_at_the_timeout(fake_tomocupy, scan):
    fake_tomocupy.mode("hang")
    settings = {"file_name": str(scan), "executable": fake_tomocupy.executable, "timeout": 1}
    with pytest.raises(TimeoutError, match="did not finish within 1 s"):
        tomocupy_recon(recon={"reconstruction-type": "full"}, tomocupy=settings)


def test_a_missing_scan_fails_before_running_anything(fake_tomocupy, tmp_path):
    with pytest.raises(FileNotFoundError, match="scan file not found"):
        recon(fake_tomocupy, tmp_path / "nope.h5")
    assert fake_tomocupy.calls() == []


def test_the_function_is_self_contained():
    """Only the source reaches the endpoint: every import happens inside the body."""
    source = inspect.getsource(tomocupy_recon)
    namespace: dict = {}
    exec(compile(source, "<shipped>", "exec"), namespace)  # no module globals available
    assert callable(namespace["tomocupy_recon"])
    assert tomocupy_recon.__code__.co_names  # sanity
    body_globals = set(tomocupy_recon.__code__.co_names) - set(dir(__builtins__))
    module_level = {"COMPUTE_V3_URL", "DEFAULT_WAIT_TIME", "GladierBaseTool", "generate_flow_definition"}
    assert not body_globals & module_level


def test_known_option_table_matches_tomocupys_own():
    """The option names embedded in the function are exactly tomocupy 1.1.0's."""
    source = inspect.getsource(tomocupy_recon)
    namespace: dict = {}
    exec(compile(source, "<shipped>", "exec"), namespace)
    tables = [c for c in namespace["tomocupy_recon"].__code__.co_consts
              if isinstance(c, str) and c.startswith(("config logs-home", "retrieve-phase-method"))]
    common, steps_only = ({w.rstrip("*!") for w in t.split()} for t in tables)
    assert common == set(tomocupy_options_for("recon"))
    assert common | steps_only == set(tomocupy_options_for("recon_steps"))
    flags = {w.rstrip("*") for t in tables for w in t.split() if w.endswith("*")}
    assert flags == {o for o, e in tomocupy_options_for("recon_steps").items() if e["action"] == "store_true"}


def test_tomocupy_runs_on_the_gpu_its_worker_was_given(fake_tomocupy, scan, monkeypatch):
    """Globus Compute pins each worker to a GPU with CUDA_VISIBLE_DEVICES; tomocupy inherits it."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2")
    result = recon(fake_tomocupy, scan, **{"reconstruction-type": "full"})
    assert fake_tomocupy.environments() == [{"CUDA_VISIBLE_DEVICES": "2"}]
    assert result["gpu"] == "2"


def test_extra_environment_reaches_tomocupy(fake_tomocupy, scan):
    settings = {"file_name": str(scan), "executable": fake_tomocupy.executable, "timeout": 30,
                "env": {"CUDA_VISIBLE_DEVICES": "1"}}
    tomocupy_recon(recon={"reconstruction-type": "full"}, tomocupy=settings)
    assert fake_tomocupy.environments() == [{"CUDA_VISIBLE_DEVICES": "1"}]
