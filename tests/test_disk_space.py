"""Disk space: a run refused up front when the facility lacks room, a disk that fills during a
step told as a full disk (naming the collection, the path, the bytes free and needed), the
previous result kept.

How a full disk is made here, and why: the free space a check reads goes through one seam,
:func:`tomocupy_gladier.compute.disk_space.free_bytes` (``os.statvfs``), so a test may make a
filesystem look small; a write that fails is made by raising what the OS raises (``ENOSPC``,
``EDQUOT``) or what numpy's ``tofile`` raises on a short write (no errno), where the write
happens. A small ``RLIMIT_FSIZE`` would not do: it raises ``EFBIG``/SIGXFSZ, not a full disk.
Where this machine lets us mount a small tmpfs (root), the same runs go through a real full
filesystem too; elsewhere those tests are skipped, saying why.
"""

from __future__ import annotations

import errno
import json
import os
import pickle
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from tomocupy_gladier.compute import disk_space
from tomocupy_gladier.compute.disk_space import (
    DISK_FULL,
    DiskFull,
    free_bytes,
    human,
    is_full,
    reconstruction_bytes,
)
from tomocupy_gladier.compute.multiscale import zarr_options
from tomocupy_gladier.compute.recon import expected_output
from tomocupy_gladier.runs.run_record import RunRecord

from tests.conftest import FACILITY, PUBLISH
from tests.tiny_experiment import ENGINE, tiny_experiment

SHORT_WRITE = "262144 requested and 227260 written"  # numpy's tofile on the 106 MB disk


# ------------------------------------------------------------------ reading and telling


def test_sizes_read_as_people_read_them():
    assert [human(n) for n in (0, 999, 227_260, 63_512_345, 8.6e9, 3.2e13)] == [
        "0 B", "999 B", "227 kB", "63.5 MB", "8.6 GB", "32.0 TB"]


def test_free_bytes_is_statvfs_of_the_nearest_existing_folder(tmp_path: Path):
    stats = os.statvfs(tmp_path)
    assert free_bytes(tmp_path) == stats.f_bavail * stats.f_frsize
    # a folder a run will create is read at its nearest existing parent
    assert abs(free_bytes(tmp_path / "not" / "yet" / "there") - shutil.disk_usage(tmp_path).free) < 1 << 24


def test_a_full_disk_is_recognised_by_errno_by_words_or_by_a_short_write_with_no_room(tmp_path, monkeypatch):
    assert is_full(OSError(errno.ENOSPC, "No space left on device"))
    assert is_full(OSError(errno.EDQUOT, "Disk quota exceeded"))
    assert is_full(None, text="OSError: [Errno 28] No space left on device")
    assert not is_full(OSError(errno.EACCES, "Permission denied"), tmp_path)
    # numpy's short write has no errno: a full disk only when the filesystem has no room left
    short = OSError(SHORT_WRITE)
    assert not is_full(short, tmp_path)
    monkeypatch.setattr(disk_space, "free_bytes", lambda path: 1000)
    assert is_full(short, tmp_path)
    assert is_full(RuntimeError("tomocupy exited 0 but 3 of 8 slices missing"), tmp_path, no_room=True)
    # the cause of a wrapped error counts
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as exc:
            raise RuntimeError("the writer died") from exc
    except RuntimeError as wrapped:
        assert is_full(wrapped)


def test_a_full_disk_is_told_in_one_sentence_and_crosses_processes():
    full = DiskFull("/eagle/TOMO/raw_rec", 227_260, 63_512_345, "writing the reconstruction of scan.h5 into")
    assert str(full) == (f"{DISK_FULL}: writing the reconstruction of scan.h5 into /eagle/TOMO/raw_rec: "
                         "63.5 MB needed, 227 kB free now")
    assert full.errno == errno.ENOSPC and isinstance(full, OSError)
    again = pickle.loads(pickle.dumps(full))
    assert str(again) == str(full) and again.needed == full.needed
    quota = DiskFull("/home/u", 10, None, quota=True)
    assert quota.errno == errno.EDQUOT and "(the quota there is used up)" in str(quota)


def test_the_client_names_the_collection_of_a_full_disk():
    flow_input = {"destination": {"id": FACILITY, "path": "/raw/scan1.h5"},
                  "publishv2": {"source_collection": FACILITY, "destination_collection": PUBLISH}}

    def failed(cause: str) -> RunRecord:
        return RunRecord({"status": "FAILED", "details": {
            "code": "ActionFailedException", "description": cause,
            "output": {"input": flow_input}}})

    compute = failed(f"{DISK_FULL}: writing the reconstruction of scan1.h5 into /f/raw_rec: 9 MB needed, 1 MB free now")
    assert compute.failure.endswith(f"(on collection {FACILITY}, the experiment's [facility])")
    publish = failed(f"NO_SPACE_LEFT: {DISK_FULL}: copying into collection {PUBLISH} at /p: 9 MB needed, 0 B free now")
    assert publish.failure.endswith("(the experiment's [publish] collection)")
    assert failed("IO_ERROR: something else").failure == "ActionFailedException: IO_ERROR: something else"


# ------------------------------------------------------------------ the estimate


def _recon_in(tmp_path: Path, scan: Path, kind: str, run_id: str, **params) -> dict:
    from tomocupy_gladier.tools.recon.tomocupy_recon import tomocupy_recon

    output = scan.parent.parent / "data_rec" / ("scan1_rec" if kind == "full" else "try_center/scan1")
    params = {"reconstruction-type": kind, "rotation-axis": 128.0, **params}
    return tomocupy_recon(recon=params, tomocupy={"file_name": str(scan), "output": str(output),
                                                  "logs": f"{output}.logs"}, run_id=run_id)


def _bytes_under(*folders: Path) -> int:
    return sum(p.stat().st_size for folder in folders for p in folder.rglob("*") if p.is_file())


@pytest.mark.parametrize("kind, params", [("full", {}), ("full", {"binning": 1}), ("try", {})])
def test_the_estimate_covers_what_a_reconstruction_writes_without_overstating_it(tmp_path, monkeypatch,
                                                                                 kind, params):
    from tomocupy_gladier.compute.previews import make_previews
    from tomocupy_gladier.demo.synthetic import write_scan

    monkeypatch.setenv("TOMOCUPY_GLADIER_PROGRAM", json.dumps(ENGINE))
    scan = tmp_path / "data" / "scan1.h5"
    write_scan(scan, nproj=180, nrows=16, ncols=256, seed=5)
    full_params = {"reconstruction-type": kind, "rotation-axis": 128.0, **params}
    estimate = reconstruction_bytes(expected_output(scan, full_params, kind), zarr_options(None), full_params)
    result = _recon_in(tmp_path, scan, kind, "r1", **params)
    make_previews(recon_result=result, recon=full_params, run_id="r1")
    output = Path(result["output"])
    written = _bytes_under(output, Path(f"{output}.logs"))
    assert written <= estimate.total <= 1.6 * written + (2 << 20), (human(written), estimate.describe())


# ------------------------------------------------------------------ refused before anything moves


def _too_small(monkeypatch, free: int = 12_345) -> None:
    """The facility's filesystem has ``free`` bytes, as statvfs would say (the check's seam)."""
    import tomocupy_gladier.planning.space as space

    monkeypatch.setattr(space, "free_bytes", lambda path: free)


def _run(config: Path, *args: str):
    from tomocupy_gladier.cli import main

    return CliRunner().invoke(main, ["run", "scan1.h5", "--config", str(config), *args])


def test_a_run_is_refused_up_front_when_the_facility_lacks_room(tmp_path, monkeypatch):
    config = tiny_experiment(tmp_path)
    _too_small(monkeypatch)
    result = _run(config, "--full")
    assert result.exit_code == 2, result.output
    [line] = result.output.strip().splitlines()
    assert line.startswith(f"error: not enough space for this run at the facility: collection {FACILITY} "
                           f"([facility], {tmp_path / 'facility'}) has 12.3 kB free, the run needs ")
    scan = (tmp_path / "beamline/scan1.h5").stat().st_size
    assert f"scan copy {human(scan)}; full reconstruction " in line and "(slices 69.6 kB, OME-Zarr " in line
    # nothing moved, nothing started
    assert not (tmp_path / "facility/raw/scan1.h5").exists()
    assert not (tmp_path / "facility/raw_rec").exists()


def test_a_scan_already_at_the_facility_needs_no_room_for_its_copy(tmp_path, monkeypatch):
    from tomocupy_gladier.tools.registry import load_config
    from tomocupy_gladier.planning.flow_input import locate_scan, recon_parameters
    from tomocupy_gladier.planning.space import facility_needs

    config = load_config(tiny_experiment(tmp_path))
    location = locate_scan(config, "scan1.h5", transfer=True)
    scan = tmp_path / "beamline/scan1.h5"
    runs = [recon_parameters(config, {}, "full")]
    [copy] = facility_needs(config, location, scan, runs)[tmp_path / "facility/raw"]
    assert copy[1].total == scan.stat().st_size
    shutil.copyfile(scan, tmp_path / "facility/raw/scan1.h5")  # a rerun: the transfer skips it
    [copy] = facility_needs(config, location, scan, runs)[tmp_path / "facility/raw"]
    assert copy[1].total == 0


def test_a_campaign_job_and_the_interactive_flow_are_checked_too(tmp_path, monkeypatch):
    from tomocupy_gladier.errors import UserError
    from tomocupy_gladier.tools.registry import load_config
    from tomocupy_gladier.planning.plan import Ask, Origin, RunRequest, plan

    config = load_config(tiny_experiment(tmp_path))
    _too_small(monkeypatch)
    with pytest.raises(UserError, match=r"try reconstruction .*; full reconstruction "):
        plan(config, RunRequest("scan1.h5", flow="interactive", ask=Ask.INTERACTIVE))
    with pytest.raises(UserError, match="not enough space for this run at the facility"):
        plan(config, RunRequest("scan1.h5", ask=Ask.FULL, origin=Origin.CAMPAIGN, param_set="p1",
                                overrides={"binning": 1}))
    _too_small(monkeypatch, free=10 << 30)
    assert plan(config, RunRequest("scan1.h5", ask=Ask.FULL)).body  # room enough: planned


def test_a_start_form_and_a_campaign_job_are_refused_alike(tmp_path, monkeypatch):
    import copy

    from tomocupy_gladier.campaign.ledger import PENDING, JobRow
    from tomocupy_gladier.campaign.wiring import job_request
    from tomocupy_gladier.errors import UserError
    from tomocupy_gladier.tools.registry import load_config
    from tomocupy_gladier.planning.plan import Ask, RunRequest, plan
    from tomocupy_gladier.web.start import Starter

    config = load_config(tiny_experiment(tmp_path))
    body = copy.deepcopy(plan(config, RunRequest("scan1.h5", ask=Ask.FULL)).body)  # room enough
    body["input"]["tomocupy"].pop("axis")  # what a form sends
    _too_small(monkeypatch)
    with pytest.raises(UserError, match=rf"collection {FACILITY} \(\[facility\], .*\) has 12.3 kB free"):
        plan(config, Starter(config).request("tomocupy", body))
    row = JobRow(key="k", dataset="scan1.h5", param_set="default", params={"reconstruction-type": "full"},
                 state=PENDING, run_id=None, attempts=0, error=None, submitted_at=None, finished_at=None)
    with pytest.raises(UserError, match="not enough space for this run at the facility"):
        plan(config, job_request(row, "tomocupy"))


def test_the_globus_backend_is_not_checked_here(tmp_path, monkeypatch):
    from tomocupy_gladier.backends import GLOBUS
    from tomocupy_gladier.tools.registry import load_config
    from tomocupy_gladier.planning.flow_input import locate_scan
    from tomocupy_gladier.planning.space import check_space

    config = load_config(tiny_experiment(tmp_path))
    _too_small(monkeypatch)
    check_space(config, locate_scan(config, "scan1.h5", transfer=True), GLOBUS,
                tmp_path / "beamline/scan1.h5", [{"reconstruction-type": "full"}])


# ------------------------------------------------------------------ a disk that fills during a step


def test_the_cpu_engine_says_the_disk_is_full_on_a_short_write(tmp_path, monkeypatch, capsys):
    """What the issue measured (``OSError: 262144 requested and 227260 written``), now one line
    saying the disk is full; nothing staged is left."""
    import tomocupy_gladier.engine.writer as writer
    from tomocupy_gladier.demo.synthetic import write_scan
    from tomocupy_gladier.engine.cli import main

    scan = tmp_path / "raw" / "scan.h5"
    write_scan(scan, nproj=90, nrows=4, ncols=64, seed=3)
    calls = {"n": 0}
    real = writer.tifffile.imwrite

    def imwrite(path, data, **kw):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(SHORT_WRITE)
        real(path, data, **kw)

    monkeypatch.setattr(writer.tifffile, "imwrite", imwrite)
    monkeypatch.setattr(disk_space, "free_bytes", lambda path: 4096)
    import tomocupy_gladier.engine.pipeline as pipeline

    monkeypatch.setattr(pipeline, "free_bytes", lambda path: 4096)
    code = main(["recon", "--file-name", str(scan), "--reconstruction-type", "full", "--rotation-axis", "32"])
    err = capsys.readouterr().err
    assert code == 1
    assert (f"tomocupy-cpu: error: {DISK_FULL}: writing the reconstruction into "
            f"{tmp_path / 'raw_rec' / 'scan_rec'}: 65.5 kB needed, 4.1 kB free now") in err
    assert not [p for p in (tmp_path / "raw_rec").rglob("*") if p.is_file()]


SILENT_TOMOCUPY = """
import pathlib, sys
args = sys.argv[1:]
out = pathlib.Path(args[args.index("--out-path-name") + 1])
out.mkdir(parents=True, exist_ok=True)
(out / "recon_00000.tiff").write_bytes(b"II*\\x00" + bytes(200))  # then its writer thread died
print("Reconstruction time 1.0e+00s", file=sys.stderr)
"""


def test_tomocupys_missing_slices_on_a_filesystem_without_room_are_a_full_disk(tmp_path, monkeypatch):
    """Real tomocupy swallows its writer threads' errors and exits 0: the output check finds the
    slices missing. With the filesystem left without room, the step says the disk is full, with
    the estimate and what is free once the staging is gone; the earlier result stays."""
    import tomocupy_gladier.compute.recon as recon_module
    from tomocupy_gladier.demo.synthetic import write_scan

    monkeypatch.setenv("TOMOCUPY_GLADIER_PROGRAM", json.dumps(ENGINE))
    scan = tmp_path / "data" / "scan1.h5"
    write_scan(scan, nproj=90, nrows=4, ncols=64, seed=3)
    good = _recon_in(tmp_path, scan, "full", "good", **{"rotation-axis": 32.0})
    before = (Path(good["output"]) / "manifest.json").read_bytes()
    program = tmp_path / "silent.py"
    program.write_text(SILENT_TOMOCUPY)
    monkeypatch.setenv("TOMOCUPY_GLADIER_PROGRAM", json.dumps([sys.executable, str(program)]))
    with pytest.raises(RuntimeError, match="3 of 4 slices missing"):  # room enough: not a full disk
        _recon_in(tmp_path, scan, "full", "bad", **{"rotation-axis": 32.0})
    monkeypatch.setattr(disk_space, "free_bytes", lambda path: 50_000)
    monkeypatch.setattr(recon_module, "free_bytes", lambda path: 50_000)
    with pytest.raises(DiskFull) as failed:
        _recon_in(tmp_path, scan, "full", "bad2", **{"rotation-axis": 32.0})
    assert str(failed.value) == (f"{DISK_FULL}: writing the reconstruction of scan1.h5 into "
                                 f"{tmp_path / 'data_rec'}: 1.2 MB needed, 50.0 kB free now")
    assert "3 of 4 slices missing" in str(failed.value.__cause__)
    assert (Path(good["output"]) / "manifest.json").read_bytes() == before
    assert not [p for p in (tmp_path / "data_rec").iterdir() if p.name.endswith(".staging")]


def test_the_local_transfer_says_which_collection_is_full(tmp_path):
    from tomocupy_gladier.local.actions import ActionRequest
    from tomocupy_gladier.local.providers import transfer as transfer_module
    from tomocupy_gladier.local.providers.transfer import TransferProvider

    source, destination = tmp_path / "src", tmp_path / "dst"
    (source / "scan_rec").mkdir(parents=True)
    for i in range(5):
        (source / "scan_rec" / f"recon_{i:05d}.tiff").write_bytes(os.urandom(100_000))
    provider = TransferProvider({"a" * 8: source, "b" * 8: destination}, parallel=1)
    calls = {"n": 0}

    def clone(fin, fout):  # the third copy finds the destination full
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return False

    body = {"source_endpoint": "a" * 8, "destination_endpoint": "b" * 8,
            "DATA": [{"source_path": "/scan_rec", "destination_path": "/pub/scan_rec", "recursive": True}]}
    original = transfer_module._clone
    transfer_module._clone = clone
    try:
        import time

        result = provider(ActionRequest("act", "u", "T", body, 60, time.monotonic() + 60))
    finally:
        transfer_module._clone = original
    assert result.status == "FAILED" and result.display_status == "NO_SPACE_LEFT"
    fatal = result.details["fatal_error"]
    assert fatal["code"] == "NO_SPACE_LEFT"
    # the bytes the task still had to copy (the files not copied yet), what is free now
    copied = sorted(p.name for p in (destination / "pub/scan_rec").iterdir())
    left = 500_000 - 100_000 * len(copied)
    assert fatal["description"].startswith(
        f"{DISK_FULL}: copying into collection {'b' * 8} at {destination / 'pub/scan_rec'}: "
        f"{human(left)} needed, ")
    # every file is whole or absent: no partial copy under any name
    assert "recon_00002.tiff" not in copied and len(copied) >= 2
    for name in copied:
        assert (destination / "pub/scan_rec" / name).read_bytes() == (source / "scan_rec" / name).read_bytes()


def test_previews_on_a_full_disk_say_so_and_leave_no_half_image(tmp_path, monkeypatch):
    from PIL import Image

    from tomocupy_gladier.compute.previews import make_previews
    from tomocupy_gladier.demo.synthetic import write_scan

    monkeypatch.setenv("TOMOCUPY_GLADIER_PROGRAM", json.dumps(ENGINE))
    scan = tmp_path / "data" / "scan1.h5"
    write_scan(scan, nproj=90, nrows=4, ncols=64, seed=3)
    result = _recon_in(tmp_path, scan, "full", "r1", **{"rotation-axis": 32.0})
    saves = {"n": 0}
    real = Image.Image.save

    def save(self, fp, *args, **kw):
        saves["n"] += 1
        if saves["n"] == 2:
            Path(fp).write_bytes(b"\x89PNG half")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, fp, *args, **kw)

    monkeypatch.setattr(Image.Image, "save", save)
    with pytest.raises(DiskFull, match=rf"{DISK_FULL}: writing the previews into .*previews: .* needed, "):
        make_previews(recon_result=result, recon={"reconstruction-type": "full"}, run_id="r1")
    folder = Path(result["output"]) / "previews"
    assert sorted(p.name for p in folder.iterdir()) == ["xy.png"]  # whole, or not there


# ------------------------------------------------------------------ a real small filesystem


@pytest.fixture
def small_filesystem(tmp_path):
    """Mount a tmpfs of a given size (MiB) at a folder; unmounted after the test. Needs root
    (mount(2)); elsewhere the test is skipped."""
    mounted: list[Path] = []

    def mount(folder: Path, mib: int) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() != 0 or shutil.which("mount") is None:
            pytest.skip("mounting a small tmpfs needs root (mount -t tmpfs); the seams above cover "
                        "the same paths without it")
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={mib}m", "tmpfs", str(folder)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"mount -t tmpfs is not allowed here: {done.stderr.strip()}")
        mounted.append(folder)
        return folder

    yield mount
    for folder in mounted:
        subprocess.run(["umount", str(folder)], check=False)
        if os.path.ismount(folder):
            subprocess.run(["umount", "-l", str(folder)], check=False)


def test_on_a_real_small_facility_a_rerun_is_refused_then_a_disk_filled_mid_step_fails_clearly(
        tmp_path, monkeypatch, small_filesystem):
    """The issue's case for real: the facility on a small filesystem, the demo's scan
    reconstructed once; the rerun is refused up front by statvfs itself; made to start anyway
    (the check's seam says there is room), it fills the disk in the reconstruction step, which
    fails saying so, naming the collection, and the first result stays as it was."""
    from tomocupy_gladier.demo.synthetic import write_scan

    small_filesystem(tmp_path / "facility", 12)
    config = tiny_experiment(tmp_path)
    truth = write_scan(tmp_path / "beamline/scan1.h5", nproj=180, nrows=16, ncols=256, seed=5)
    text = config.read_text()
    start = text.index("rotation-axis = ")
    end = text.index("\n", start)
    config.write_text(text[:start] + f"rotation-axis = {truth.rotation_axis}" + text[end:])

    first = _run(config, "--full")
    assert first.exit_code == 0, first.output
    output = tmp_path / "facility/raw_rec/scan1_rec"
    manifest = (output / "manifest.json").read_bytes()

    refused = _run(config, "--full")
    assert refused.exit_code == 2, refused.output
    assert "not enough space for this run at the facility" in refused.output
    assert f"collection {FACILITY} ([facility], {tmp_path / 'facility'})" in refused.output

    _too_small(monkeypatch, free=1 << 40)  # the check is told there is room: the run starts
    filled = _run(config, "--full")
    assert filled.exit_code == 1, filled.output
    failure = " ".join(filled.output.split())
    assert f"{DISK_FULL}: writing the reconstruction of scan1.h5 into {tmp_path / 'facility/raw_rec'}" in failure
    assert f"(on collection {FACILITY}, the experiment's [facility])" in failure
    assert (output / "manifest.json").read_bytes() == manifest
    assert not [p.name for p in (tmp_path / "facility/raw_rec").iterdir() if p.name.endswith(".staging")]


def test_a_transfer_into_a_real_full_collection_fails_naming_it_and_leaves_no_partial_copy(
        tmp_path, small_filesystem):
    import time

    from tomocupy_gladier.local.actions import ActionRequest
    from tomocupy_gladier.local.providers.transfer import TransferProvider

    source, destination = tmp_path / "beamline", small_filesystem(tmp_path / "facility", 2)
    source.mkdir()
    (source / "scan.h5").write_bytes(os.urandom(3_000_000))
    provider = TransferProvider({"a" * 8: source, "b" * 8: destination})
    body = {"source_endpoint": "a" * 8, "destination_endpoint": "b" * 8,
            "DATA": [{"source_path": "/scan.h5", "destination_path": "/raw/scan.h5"}]}
    result = provider(ActionRequest("act", "u", "Transfer", body, 60, time.monotonic() + 60))
    assert result.status == "FAILED", result.details
    description = result.details["fatal_error"]["description"]
    assert result.details["fatal_error"]["code"] == "NO_SPACE_LEFT"
    assert description.startswith(f"{DISK_FULL}: copying into collection {'b' * 8} at {destination / 'raw'}: "
                                  "3.0 MB needed, ")
    assert [p.name for p in (destination / "raw").iterdir()] == []
    assert free_bytes(destination) > 2_000_000  # the partial copy is gone
