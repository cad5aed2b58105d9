"""The reconstruction's manifest: each file's sha256 taken once, from the bytes the step wrote or
read (compute/checksums.py), and still the truth about the disk: whatever spoils a file after it
was written, before the manifest or after it, the verification finds. Real reconstructions with
the CPU engine through the compute function, as in test_tomocupy_recon.py."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tomocupy_gladier.cli import main
from tomocupy_gladier.compute import checksums
from tomocupy_gladier.compute import recon as recon_step
from tomocupy_gladier.compute.checksums import verify_manifest
from tomocupy_gladier.demo.synthetic import write_scan
from tomocupy_gladier.tools.recon.tomocupy_recon import tomocupy_recon

ENGINE = [sys.executable, "-m", "tomocupy_gladier.engine"]


@pytest.fixture
def scan(tmp_path: Path, monkeypatch) -> Path:
    """A 90 x 20 x 64 scan (two z-slabs of 16-slice chunks), the engine as the endpoint's program."""
    monkeypatch.setenv("TOMOCUPY_GLADIER_PROGRAM", json.dumps(ENGINE))
    path = tmp_path / "data" / "scan1.h5"
    write_scan(path, nproj=90, nrows=20, ncols=64, seed=3)
    return path


def reconstruct(scan: Path, run_id: str = "run-1", **tomocupy) -> Path:
    output = scan.parent.parent / "data_rec" / "scan1_rec"
    settings = {"file_name": str(scan), "output": str(output), "logs": f"{output}.logs", "timeout": 60,
                "zarr": {"chunks": [16, 32, 32]}, **tomocupy}
    result = tomocupy_recon(recon={"reconstruction-type": "full", "rotation-axis": 32.0},
                            tomocupy=settings, run_id=run_id)
    return Path(result["output"])


def listed(output: Path) -> dict[str, dict]:
    return {e["path"]: e for e in json.loads((output / "manifest.json").read_text())["files"]}


def spoil(path: Path, keep_time: bool = False) -> None:
    """Change one byte in the middle of ``path`` (its size stays); ``keep_time``: as a failing
    disk or a stray write that puts the modification time back would, nothing but the bytes."""
    before = path.stat()
    path.chmod(0o644)
    with open(path, "r+b") as fh:
        fh.seek(before.st_size // 2)
        byte = fh.read(1)
        fh.seek(before.st_size // 2)
        fh.write(bytes([byte[0] ^ 0xFF]))
    if keep_time:
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def test_the_slices_and_chunks_are_hashed_from_the_bytes_in_hand_and_their_digests_are_the_disks(scan, monkeypatch):
    read_back: list[Path] = []
    hash_file = checksums.sha256_of
    monkeypatch.setattr(checksums, "sha256_of", lambda path: read_back.append(Path(path)) or hash_file(path))
    output = reconstruct(scan)
    entries = listed(output)
    slices = [name for name in entries if name.startswith("recon_")]
    chunks = [name for name in entries if name.startswith("volume.ome.zarr/") and not name.rsplit("/", 1)[1].startswith(".")]
    assert len(slices) == 20 and len(chunks) == 2 * 2 * 2
    # what the manifest read from the disk: the files the Zarr step neither wrote nor read
    again = sorted(p.relative_to(output.parent / ".scan1_rec.run-1.staging" / "scan1_rec").as_posix()
                   for p in read_back)
    assert not set(again) & set(slices + chunks), "no slice or chunk was read a second time"
    assert {"tomocupy.log", "rec_line.txt", "volume.ome.zarr/.zattrs", "volume.ome.zarr/0/.zarray"} <= set(again)
    for name, entry in entries.items():
        data = (output / name).read_bytes()
        assert (len(data), hashlib.sha256(data).hexdigest()) == (entry["bytes"], entry["sha256"]), name
    assert verify_manifest(output) == []


def test_every_finished_file_is_read_only(scan):
    output = reconstruct(scan)
    for path in [p for p in output.rglob("*") if p.is_file()]:
        assert not path.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH), path
    assert reconstruct(scan, "run-2") == output, "a rerun still replaces a read-only result"
    assert json.loads((output / "manifest.json").read_text())["run_id"] == "run-2"


def test_a_file_corrupted_after_it_was_written_is_caught_by_the_verification(scan):
    output = reconstruct(scan)
    chunk = output / "volume.ome.zarr" / "0" / "1" / "0" / "1"
    spoil(chunk)
    spoil(output / "recon_00007.tiff", keep_time=True)
    assert verify_manifest(output) == [
        "recon_00007.tiff: its sha256 differs from the manifest's (the bytes changed)",
        "volume.ome.zarr/0/1/0/1: its sha256 differs from the manifest's (the bytes changed)"]


def test_a_file_spoiled_between_its_writing_and_the_manifest_is_caught_too(scan, monkeypatch):
    """Bytes that change on the disk behind the step's back (nothing else changes) before the
    manifest: its digest is still the one of the bytes written, so the verification finds them,
    where a digest read back from the disk would have vouched for the spoiled bytes."""
    make_zarr = recon_step.multiscale_copy

    def then_spoil(staged, *args, **kwargs):
        summary = make_zarr(staged, *args, **kwargs)
        spoil(staged / "volume.ome.zarr" / "0" / "0" / "1" / "1", keep_time=True)
        spoil(staged / "recon_00003.tiff", keep_time=True)
        return summary

    monkeypatch.setattr(recon_step, "multiscale_copy", then_spoil)
    output = reconstruct(scan)
    assert verify_manifest(output) == [
        "recon_00003.tiff: its sha256 differs from the manifest's (the bytes changed)",
        "volume.ome.zarr/0/0/1/1: its sha256 differs from the manifest's (the bytes changed)"]


def test_a_file_rewritten_after_it_was_hashed_fails_the_run_and_keeps_the_previous_result(scan, monkeypatch):
    first = reconstruct(scan, "good")
    make_zarr = recon_step.multiscale_copy

    def then_rewrite(staged, *args, **kwargs):
        summary = make_zarr(staged, *args, **kwargs)
        spoil(staged / "recon_00011.tiff")  # a write: its modification time moves
        return summary

    monkeypatch.setattr(recon_step, "multiscale_copy", then_rewrite)
    with pytest.raises(RuntimeError, match="recon_00011.tiff changed after its bytes were hashed"):
        reconstruct(scan, "spoiled")
    assert json.loads((first / "manifest.json").read_text())["run_id"] == "good"
    assert verify_manifest(first) == []


def test_the_verification_names_missing_unlisted_and_resized_files(scan):
    output = reconstruct(scan)
    (output / "recon_00002.tiff").unlink()
    (output / "notes.txt").write_text("added")
    (output / "rec_line.txt").chmod(0o644)
    with open(output / "rec_line.txt", "a") as fh:
        fh.write("more")
    problems = verify_manifest(output)
    assert problems[:2] == ["recon_00002.tiff: listed in the manifest, missing", "notes.txt: not in the manifest"]
    assert problems[2].startswith("rec_line.txt: ") and "the manifest says" in problems[2]


def test_verify_on_the_command_line(scan):
    output = reconstruct(scan)
    good = CliRunner().invoke(main, ["verify", str(output)])
    assert good.exit_code == 0, good.output
    assert f"{len(listed(output))} files" in good.output and "as its manifest.json lists them" in good.output
    spoil(output / "recon_00001.tiff")
    bad = CliRunner().invoke(main, ["verify", str(output)])
    assert bad.exit_code == 1
    assert "recon_00001.tiff: its sha256 differs" in bad.output
    missing = CliRunner().invoke(main, ["verify", str(output.parent)])
    assert missing.exit_code == 2 and "no manifest.json" in missing.output
