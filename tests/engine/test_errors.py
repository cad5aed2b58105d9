"""Bad input and unsupported options fail loudly, with one clear line and nothing published."""

import h5py
import numpy as np
import pytest

from tomocupy_gladier.engine import writer as writer_mod
from tomocupy_gladier.compute.tomocupy_options import option_table
from tomocupy_gladier.engine.options import implemented


def test_missing_file(run_cli, tmp_path):
    r = run_cli("recon", "--file-name", tmp_path / "nope.h5")
    assert r.code == 1
    assert "does not exist" in r.err and "nope.h5" in r.err and "Traceback" not in r.err


@pytest.mark.parametrize("dataset", ["data", "data_white", "data_dark"])
def test_missing_dataset_is_named(run_cli, tmp_path, dataset):
    path = tmp_path / "bad.h5"
    with h5py.File(path, "w") as f:
        for name in ("data", "data_white", "data_dark"):
            if name != dataset:
                f[f"exchange/{name}"] = np.ones((4, 2, 16), np.uint16)
    r = run_cli("recon", "--file-name", path)
    assert r.code == 1 and f"/exchange/{dataset}" in r.err and "Traceback" not in r.err


def test_not_an_hdf5_file(run_cli, tmp_path):
    path = tmp_path / "text.h5"
    path.write_text("hello")
    r = run_cli("recon", "--file-name", path)
    assert r.code == 1 and "not a readable HDF5 file" in r.err


def test_unknown_option_is_named(run_cli, scan):
    r = run_cli("recon", "--file-name", scan.path, "--rotation-axes", 3)
    assert r.code == 2 and "unknown option --rotation-axes" in r.err


def test_every_unimplemented_tomocupy_option_is_refused(run_cli, scan):
    names = {o["name"] for o in option_table() if "recon" in o["commands"]} - implemented("recon")
    assert "lamino-angle" in names and "beam-hardening-method" in names
    for name in sorted(names):
        r = run_cli("recon", "--file-name", scan.path, f"--{name}", "1")
        assert r.code == 2 and f"--{name}" in r.err and "does not implement" in r.err


@pytest.mark.parametrize("args, text", [
    (["--remove-stripe-method", "ti"], "--remove-stripe-method ti"),
    (["--rotation-axis-auto", "auto"], "sift"),
    (["--reconstruction-algorithm", "lprec"], "fourierrec"),
    (["--save-format", "zarr"], "--save-format zarr"),
    (["--file-type", "double_fov"], "double_fov"),
    (["--minus-log", "yes"], "--minus-log"),
    (["--fbp-filter", "butterworth"], "--fbp-filter"),
    (["--binning", "5"], "--binning"),
])
def test_unsupported_values_are_refused(run_cli, scan, args, text):
    r = run_cli("recon", "--file-name", scan.path, *args)
    assert r.code == 2 and text in r.err and "Traceback" not in r.err
    assert not (scan.path.parent.parent / "data_rec").exists()


def test_recon_steps_only_options_are_refused_for_recon(run_cli, scan):
    r = run_cli("recon", "--file-name", scan.path, "--retrieve-phase-method", "paganin")
    assert r.code == 2 and "unknown option --retrieve-phase-method" in r.err


def test_paganin_without_pixel_size_is_refused(run_cli, scan):
    r = run_cli("recon_steps", "--file-name", scan.path, "--retrieve-phase-method", "paganin",
                "--propagation-distance", 50, "--reconstruction-type", "full")
    assert r.code != 0 and "--pixel-size" in r.err


def test_failed_run_publishes_nothing(run_cli, scan, monkeypatch):
    """A writer failure half-way: no recon_*.tiff, no rec_line.txt, no staging directory."""
    calls = {"n": 0}
    real = writer_mod.AtomicWriter.write_rows

    def flaky(self, row0, rec):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk full (simulated)")
        real(self, row0, rec)

    monkeypatch.setattr(writer_mod.AtomicWriter, "write_rows", flaky)
    r = run_cli("recon", "--file-name", scan.path, "--reconstruction-type", "full",
                "--nsino-per-chunk", 2, "--rotation-axis", scan.rotation_axis)
    assert r.code == 1 and "disk full" in r.err
    out = scan.path.parent.parent / "data_rec" / "scan_rec"
    assert list(out.iterdir()) == []


def test_failed_run_keeps_an_earlier_good_result(run_cli, scan, monkeypatch):
    ok = run_cli("recon", "--file-name", scan.path, "--reconstruction-type", "full", "--end-row", 2,
                 "--rotation-axis", scan.rotation_axis)
    assert ok.code == 0
    monkeypatch.setattr(writer_mod.AtomicWriter, "write_rows", lambda *a: (_ for _ in ()).throw(OSError("boom")))
    bad = run_cli("recon", "--file-name", scan.path, "--reconstruction-type", "full", "--end-row", 2,
                  "--rotation-axis", scan.rotation_axis)
    assert bad.code == 1
    out = scan.path.parent.parent / "data_rec" / "scan_rec"
    assert sorted(p.name for p in out.iterdir()) == ["rec_line.txt", "recon_00000.tiff", "recon_00001.tiff"]


def test_config_file_absent_is_ignored_present_is_applied(run_cli, scan, tmp_path):
    r = run_cli("--config", tmp_path / "absent.conf", "recon", "--file-name", scan.path,
                "--reconstruction-type", "full", "--end-row", 1, "--rotation-axis", scan.rotation_axis)
    assert r.code == 0, r.err
    conf = tmp_path / "tomocupyon.conf"
    conf.write_text("[reconstruction]\nend_row = 2\nlamino_angle = 0\n[general]\nverbose = False\n")
    r = run_cli("recon", "--config", conf, "--file-name", scan.path, "--reconstruction-type", "full",
                "--rotation-axis", scan.rotation_axis)
    assert r.code == 0, r.err
    assert len(list((scan.path.parent.parent / "data_rec" / "scan_rec").glob("recon_*.tiff"))) == 2
    conf.write_text("[lamino]\nlamino_angle = 20\n")
    r = run_cli("recon", "--config", conf, "--file-name", scan.path)
    assert r.code == 2 and "lamino-angle" in r.err


def test_defaults_and_choices_are_tomocupys():
    """Every implemented option has tomocupy's default (string booleans stay strings)."""
    from tomocupy_gladier.engine.options import build_parser

    for command in ("recon", "recon_steps"):
        ns = build_parser(command).parse_args([])
        for o in option_table():
            if command not in o["commands"] or o["name"] not in implemented(command):
                continue
            value = getattr(ns, o["name"].replace("-", "_"))
            if o["default"] == "None":
                assert value is None
            else:
                assert str(value) == o["default"] or float(value) == float(o["default"]), o["name"]
    ns = build_parser("recon").parse_args([])
    assert (ns.fbp_filter, ns.minus_log, ns.reconstruction_type, ns.rotation_axis) == ("parzen", "True", "try", -1.0)


def test_help_exits_zero(run_cli):
    r = run_cli("recon", "--help")
    assert r.code == 0
