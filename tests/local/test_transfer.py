"""The local Transfer action provider."""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path

import pytest

from tomocupy_gladier.local.errors import ActionTimeout, InvalidRequest
from tomocupy_gladier.local.providers.transfer import TransferProvider
from tomocupy_gladier.local.actions import ActionRequest

SRC = "aaaaaaaa-0000-0000-0000-000000000001"
DST = "bbbbbbbb-0000-0000-0000-000000000002"
# the fields of a Transfer task document (GET /task/<task_id>), as globus-sdk's test data
# (globus_sdk/testing/data/transfer/task_list.py) shows one
TASK_DOCUMENT_FIELDS = set("""
bytes_checksummed bytes_transferred canceled_by_admin canceled_by_admin_message command
completion_time deadline delete_destination_extra destination_endpoint
destination_endpoint_display_name destination_endpoint_id directories
effective_bytes_per_second encrypt_data fail_on_quota_errors fatal_error faults files
files_skipped files_transferred filter_rules history_deleted is_ok is_paused label
nice_status nice_status_details nice_status_expires_in nice_status_short_description owner_id
preserve_timestamp recursive_symlinks request_time skip_source_errors source_endpoint
source_endpoint_display_name source_endpoint_id status subtasks_canceled subtasks_expired
subtasks_failed subtasks_pending subtasks_retrying subtasks_skipped_errors subtasks_succeeded
subtasks_total symlinks sync_level task_id type username verify_checksum
""".split())


@pytest.fixture
def roots(tmp_path: Path) -> tuple[Path, Path]:
    src, dst = tmp_path / "src", tmp_path / "dst"
    (src / "scan" / "sub").mkdir(parents=True)
    dst.mkdir()
    (src / "scan" / "a.h5").write_bytes(b"a" * 3000)
    (src / "scan" / "sub" / "b.txt").write_text("bee")
    return src, dst


@pytest.fixture
def provider(roots) -> TransferProvider:
    return TransferProvider({SRC: roots[0], DST: roots[1]}, chunk_size=1024)


def _request(body: dict, wait: float = 30) -> ActionRequest:
    return ActionRequest("act", "https://transfer.actions.globus.org/transfer/", "T", body,
                         wait, time.monotonic() + wait)


def _body(src_path: str, dst_path: str, recursive: bool, **extra) -> dict:
    return {"source_endpoint": SRC, "destination_endpoint": DST,
            "DATA": [{"source_path": src_path, "destination_path": dst_path,
                      "recursive": recursive}], **extra}


def test_recursive_copy_with_transfer_task_details(provider, roots):
    result = provider(_request(_body("/scan", "/~/copy", True)))
    dst = roots[1] / "copy"
    assert result.status == "SUCCEEDED"
    assert (dst / "a.h5").read_bytes() == b"a" * 3000
    assert (dst / "sub" / "b.txt").read_text() == "bee"
    d = result.details
    assert (d["status"], d["files"], d["files_transferred"], d["bytes_transferred"]) == (
        "SUCCEEDED", 2, 2, 3003)
    assert d["faults"] == 0 and d["fatal_error"] is None and d["type"] == "TRANSFER"
    # details: a Transfer task document, field for field
    assert set(d) == TASK_DOCUMENT_FIELDS
    assert d["bytes_checksummed"] == 3003  # verify_checksum defaults to true
    assert list(dst.rglob(".*part*")) == []


def test_single_file_copy(provider, roots):
    result = provider(_request(_body("/scan/sub/b.txt", "/one/b.txt", False)))
    assert result.status == "SUCCEEDED"
    assert (roots[1] / "one" / "b.txt").read_text() == "bee"


@pytest.mark.parametrize("level, expected", [(0, 0), (1, 1), (2, 1), (3, 2), (None, 2)])
def test_sync_levels(provider, roots, level, expected):
    provider(_request(_body("/scan", "/copy", True)))
    # a.h5 now differs in content only (same size, newer mtime): only "checksum" and no
    # sync level copy it again. b.txt differs in size: every level but "exists" copies it.
    target = roots[1] / "copy"
    (target / "a.h5").write_bytes(b"b" * 3000)
    os.utime(target / "a.h5", (time.time() + 100, time.time() + 100))
    (target / "sub" / "b.txt").write_text("bees!")
    extra = {} if level is None else {"sync_level": level}
    result = provider(_request(_body("/scan", "/copy", True, **extra)))
    assert result.details["files_transferred"] == expected
    assert result.details["files_skipped"] == 2 - expected


@pytest.mark.parametrize("body, code, words", [
    (_body("/../outside", "/x", True), "PERMISSION_DENIED", "escapes the root"),
    (_body("/scan", "/../../x", True), "PERMISSION_DENIED", "escapes the root"),
    (_body("/nothing-here", "/x", True), "FILE_NOT_FOUND", "does not exist"),
    (_body("/scan", "/x", False), "IS_A_DIRECTORY", "set recursive to true"),
    ({**_body("/scan", "/x", True), "source_endpoint": "cccccccc-0000-0000-0000-000000000003"},
     "ENDPOINT_NOT_FOUND", "is not configured"),
])
def test_failures_have_a_clear_reason(provider, roots, body, code, words):
    result = provider(_request(body))
    assert result.status == "FAILED"
    assert result.details["fatal_error"]["code"] == code
    assert words in result.details["fatal_error"]["description"]
    assert set(result.details) == TASK_DOCUMENT_FIELDS
    assert not (roots[1] / "x").exists()


def test_a_symlink_out_of_the_root_is_refused(provider, roots, tmp_path):
    (tmp_path / "secret").write_text("s")
    (roots[0] / "link").symlink_to(tmp_path / "secret")
    result = provider(_request(_body("/link", "/x", False)))
    assert result.details["fatal_error"]["code"] == "PERMISSION_DENIED"


@pytest.mark.parametrize("body", [
    {"destination_endpoint": DST, "DATA": []},
    {**_body("/scan", "/x", True), "sync_level": "sometimes"},
    # the Transfer API's integers only, not globus-sdk's names for them (SOURCES.md)
    {**_body("/scan", "/x", True), "sync_level": "checksum"},
    {**_body("/scan", "/x", True), "sync_level": 4},
    {**_body("/scan", "/x", True), "typo_field": 1},
    {"source_endpoint": SRC, "destination_endpoint": DST, "DATA": [{"source_path": "/a"}]},
])
def test_malformed_requests_are_rejected(provider, body):
    with pytest.raises(InvalidRequest):
        provider(_request(body))


def test_a_timed_out_copy_leaves_no_complete_looking_file(roots):
    (roots[0] / "big.bin").write_bytes(os.urandom(256 * 1024))
    provider = TransferProvider({SRC: roots[0], DST: roots[1]}, chunk_size=1024)
    with pytest.raises(ActionTimeout):
        provider(_request(_body("/big.bin", "/big.bin", False), wait=-1))
    assert list(roots[1].iterdir()) == []  # neither the file nor its temporary copy


def test_a_checksum_mismatch_fails_and_leaves_nothing(provider, roots, monkeypatch):
    from tomocupy_gladier.local.providers import transfer

    monkeypatch.setattr(transfer, "_crc32", lambda path: -1)  # the copy reads back wrong
    result = provider(_request(_body("/scan/a.h5", "/a.h5", False)))
    assert result.details["fatal_error"]["code"] == "CHECKSUM_MISMATCH"
    assert list(roots[1].iterdir()) == []


def test_durable_copies_with_fsync(roots):
    provider = TransferProvider({SRC: roots[0], DST: roots[1]}, fsync=True)
    result = provider(_request(_body("/scan", "/copy", True)))
    assert result.status == "SUCCEEDED"
    assert (roots[1] / "copy" / "a.h5").read_bytes() == b"a" * 3000


# ------------------------------------------------------------- copies by reflink, where they can be

def _reflinks(folder: Path) -> bool:
    """Whether ``folder``'s filesystem makes reflink (copy-on-write) copies (XFS, Btrfs; not ext4)."""
    from tomocupy_gladier.local.providers.transfer import _clone

    (folder / ".probe").write_bytes(b"x" * 4096)
    with open(folder / ".probe", "rb") as fin, open(folder / ".probe-copy", "wb") as fout:
        done = _clone(fin, fout)
    (folder / ".probe").unlink()
    (folder / ".probe-copy").unlink()
    return done


@pytest.mark.parametrize("recursive", [False, True])
def test_a_copy_is_independent_of_its_source_whatever_the_filesystem(provider, roots, recursive):
    """A reflink or a byte copy, never a hard link: changing either file afterwards leaves the
    other as it was."""
    original = os.urandom(300 * 1024)
    (roots[0] / "scan" / "big.bin").write_bytes(original)
    body = _body("/scan", "/copy", True) if recursive else _body("/scan/big.bin", "/copy/big.bin", False)
    assert provider(_request(body)).status == "SUCCEEDED"
    src, dst = roots[0] / "scan" / "big.bin", roots[1] / "copy" / "big.bin"
    assert dst.read_bytes() == original
    assert os.stat(src).st_ino != os.stat(dst).st_ino and os.stat(dst).st_nlink == 1
    with open(src, "r+b") as fh:  # in place, as a writer updating a file would
        fh.seek(1000)
        fh.write(b"\0" * 5000)
    assert dst.read_bytes() == original
    with open(dst, "r+b") as fh:
        fh.write(b"changed")
    assert src.read_bytes()[:7] == original[:7]


def test_where_the_filesystem_cannot_clone_the_bytes_are_copied_and_checked(provider, roots, monkeypatch):
    import errno
    import fcntl

    def no_reflinks(fd, request, arg=0):
        raise OSError(errno.EOPNOTSUPP, "Operation not supported")

    monkeypatch.setattr(fcntl, "ioctl", no_reflinks)
    result = provider(_request(_body("/scan", "/copy", True)))
    assert result.status == "SUCCEEDED"
    assert (roots[1] / "copy" / "a.h5").read_bytes() == b"a" * 3000
    assert result.details["bytes_checksummed"] == 3003


def test_on_a_filesystem_with_reflinks_the_copy_shares_the_sources_blocks(tmp_path):
    """64 MiB copied by reflink take no room of their own (the filesystem's free space does not
    drop by the file's size); they are still read back for the checksum."""
    if not _reflinks(tmp_path):
        pytest.skip(f"the filesystem of {tmp_path} has no reflinks (ext4 has none; XFS and Btrfs do)")
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    dst.mkdir()
    (src / "volume.bin").write_bytes(os.urandom(64 << 20))
    os.sync()
    free = os.statvfs(tmp_path)
    result = TransferProvider({SRC: src, DST: dst})(_request(_body("/volume.bin", "/volume.bin", False)))
    os.sync()
    after = os.statvfs(tmp_path)
    assert result.status == "SUCCEEDED" and result.details["bytes_checksummed"] == 64 << 20
    assert (free.f_bavail - after.f_bavail) * after.f_frsize < 8 << 20
    assert (dst / "volume.bin").read_bytes() == (src / "volume.bin").read_bytes()


def test_a_read_only_source_on_one_filesystem_is_linked_and_replaced_never_written_through(provider, roots):
    """A finished file (the reconstruction step takes its write permission off) lands as a hard
    link: no byte copied, no checksum to read. A later transfer of a new version replaces the
    link; the bytes behind the old link stay as they were."""
    first = roots[0] / "scan" / "a.h5"
    first.chmod(0o444)
    result = provider(_request(_body("/scan", "/pub", True, sync_level=3, verify_checksum=True)))
    published = roots[1] / "pub" / "a.h5"
    assert result.status == "SUCCEEDED"
    assert published.stat().st_ino == first.stat().st_ino and published.stat().st_nlink == 2
    assert result.details["bytes_checksummed"] == 3, "only the writable b.txt was copied and read back"
    assert result.details["files_transferred"] == 2 and result.details["bytes_transferred"] == 3003
    # again: the link is skipped as the same file (sync_level checksum), the copy by its checksum
    again = provider(_request(_body("/scan", "/pub", True, sync_level=3)))
    assert again.details["files_skipped"] == 2 and published.stat().st_ino == first.stat().st_ino
    # a rerun makes a new file in the source's place (as the reconstruction's swap does)
    first.rename(roots[0] / "old.h5")
    first.write_bytes(b"n" * 3000)
    first.chmod(0o444)
    assert published.read_bytes() == b"a" * 3000, "the published copy is the old run's until republished"
    provider(_request(_body("/scan", "/pub", True, sync_level=3)))
    assert published.read_bytes() == b"n" * 3000 and published.stat().st_ino == first.stat().st_ino
    assert (roots[0] / "old.h5").read_bytes() == b"a" * 3000, "republishing replaced the name, wrote nothing"


def test_a_writable_source_or_another_filesystem_is_copied(provider, roots, monkeypatch):
    """A file someone may still write is copied (a link would share their writes); where a link
    cannot be made (another filesystem: EXDEV) a read-only file is copied too."""
    provider(_request(_body("/scan", "/copy", True)))
    assert (roots[1] / "copy" / "a.h5").stat().st_ino != (roots[0] / "scan" / "a.h5").stat().st_ino
    (roots[0] / "scan" / "a.h5").chmod(0o444)

    def across_filesystems(src, dst):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", across_filesystems)
    result = provider(_request(_body("/scan", "/other", True)))
    copied = roots[1] / "other" / "a.h5"
    assert result.status == "SUCCEEDED" and copied.read_bytes() == b"a" * 3000
    assert copied.stat().st_ino != (roots[0] / "scan" / "a.h5").stat().st_ino
    assert result.details["bytes_checksummed"] == 3003
