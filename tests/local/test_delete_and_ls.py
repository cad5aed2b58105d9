"""Transfer's Delete, List Directory Contents (ls) and Stat action providers on the local
backend, held to what Globus publishes: the Flows docs' own example flows run on local
collections, and the requests and answers match the Transfer docs' examples and globus-sdk.

Sources of the fixtures: tests/fixtures/flows/SOURCES.md and tests/fixtures/action_providers/SOURCES.md.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import globus_sdk
import pytest
from globus_sdk.testing import get_response_set

from tomocupy_gladier.action_urls import (
    RETIRED_DELETE_URL,
    RETIRED_LS_URL,
    TRANSFER_DELETE_URL,
    TRANSFER_LS_URL,
    TRANSFER_STAT_URL,
)
from tomocupy_gladier.local.actions import ActionRequest
from tomocupy_gladier.local.backend import LocalBackend
from tomocupy_gladier.local.providers.delete import DeleteProvider
from tomocupy_gladier.local.providers.listing import LsProvider, StatProvider
from tomocupy_gladier.local.providers.transfer import TransferProvider

ROOT = Path(__file__).resolve().parents[2]
FLOWS = ROOT / "tests/fixtures/flows"
PROVIDERS = ROOT / "tests/fixtures/action_providers"
A, B = "aaaaaaaa-0000-4000-8000-00000000000a", "bbbbbbbb-0000-4000-8000-00000000000b"


def request(url: str, body: dict, wait: float = 60) -> ActionRequest:
    return ActionRequest("act", url, "State", body, wait, time.monotonic() + wait)


def tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def make_tree(folder: Path) -> dict[str, bytes]:
    (folder / "sub").mkdir(parents=True)
    for i in range(3):
        (folder / f"f{i}.txt").write_text(f"file {i}\n")
    (folder / "sub" / "deep.bin").write_bytes(os.urandom(5000))
    return tree(folder)


# ------------------------------------------------------------------ the Flows docs' examples, end to end


@pytest.fixture
def docs_move(tmp_path):
    """The docs' move example with its own input: the Globus Tutorial Endpoints 1 and 2 are
    two local folders."""
    given = json.loads((FLOWS / "docs_move/input.json").read_text())
    folders = {given["source"]["id"]: tmp_path / "ep1", given["destination"]["id"]: tmp_path / "ep2"}
    for folder in folders.values():
        folder.mkdir()
    backend = LocalBackend(tmp_path / "state", folders)
    flow = backend.register_flow(json.loads((FLOWS / "automate_docs_move.json").read_text()),
                                 json.loads((FLOWS / "docs_move/input_schema.json").read_text()),
                                 title="Move (copy and delete) files")
    yield backend, flow, given, tmp_path / "ep1", tmp_path / "ep2"
    backend.close()


def test_the_flows_docs_move_example_moves_a_folder(docs_move):
    backend, flow, given, ep1, ep2 = docs_move
    before = make_tree(ep1 / "source-directory")
    run = backend.start_run(flow, given)
    assert run["status"] == "SUCCEEDED", run["details"]
    state = run["details"]["output"]
    # ls path_only: the source itself, a folder; the destination is not there yet
    [entry] = state["SourcePathInfo"]["details"]["DATA"]
    assert (entry["name"], entry["type"], entry["is_folder"]) == ("source-directory", "dir", True)
    assert state["SourcePathInfo"]["details"]["path"] == "/"
    assert state["SourceInfo"] == {"source_file": "source-directory", "is_recursive": True, "source_folder": "/"}
    assert state["DestinationInfo"] == {"exists": False, "is_folder": False, "destination_file": "/",
                                        "destination_folder": "/"}
    # so the folder lands inside the new destination folder, as the example's expression says
    assert tree(ep2 / "destination-directory/source-directory") == before
    assert state["TransferResult"]["details"]["label"] == given["transfer_label"]
    # then the source is deleted: the whole folder, recursively
    assert not (ep1 / "source-directory").exists()
    delete = state["DeleteResult"]["details"]
    assert (delete["type"], delete["status"], delete["label"]) == ("DELETE", "SUCCEEDED", given["delete_label"])
    assert (delete["files"], delete["directories"], delete["source_endpoint_id"]) == (4, 2, given["source"]["id"])
    assert delete["destination_endpoint"] is None
    # what the delete removed is recorded, each path before it went
    [journal] = (backend.state_dir / "deletes").iterdir()
    assert journal.name == f"{delete['task_id']}.jsonl"
    removed = [json.loads(line) for line in journal.read_text().splitlines()]
    assert sorted(Path(r["path"]).relative_to(ep1).as_posix() for r in removed if r["type"] == "file") == [
        f"source-directory/{name}" for name in sorted(before)]
    assert sum(r["bytes"] for r in removed) == sum(len(b) for b in before.values())


def test_the_flows_docs_move_example_moves_a_file_into_an_existing_folder(docs_move):
    backend, flow, given, ep1, ep2 = docs_move
    (ep1 / "scan.h5").write_bytes(b"scan" * 1000)
    (ep2 / "incoming").mkdir()
    given = {**given, "source": {**given["source"], "path": "/~/scan.h5"},
             "destination": {**given["destination"], "path": "/~/incoming"}}
    run = backend.start_run(flow, given)
    assert run["status"] == "SUCCEEDED", run["details"]
    state = run["details"]["output"]
    assert state["SourceInfo"]["is_recursive"] is False
    assert state["DestinationInfo"]["is_folder"] is True
    assert (ep2 / "incoming/scan.h5").read_bytes() == b"scan" * 1000
    assert not (ep1 / "scan.h5").exists()
    assert state["DeleteResult"]["details"]["files"] == 1


def test_the_flows_docs_move_example_fails_at_the_lookup_of_a_source_that_is_not_there(docs_move):
    backend, flow, given, ep1, ep2 = docs_move
    run = backend.start_run(flow, given)
    # the lookup finds nothing (path_only: an empty listing), so the ExpressionEval reading
    # DATA[0] fails the run: nothing is moved, nothing deleted
    assert run["status"] == "FAILED"
    assert run["details"]["state_name"] == "SetSourceInfo", run["details"]
    assert not list(ep2.iterdir())


def test_the_flows_docs_looping_batched_move_example_moves_every_file_in_batches(tmp_path):
    """The "Looping Batched Move" example (current Transfer action providers): ls 100 at a
    time, transfer them, delete them, until the listing is empty."""
    source, destination = tmp_path / "src", tmp_path / "dst"
    (source / "data").mkdir(parents=True)
    destination.mkdir()
    for i in range(230):
        (source / "data" / f"p{i:04d}.tif").write_bytes(f"{i}".encode() * 10)
    before = tree(source / "data")
    backend = LocalBackend(tmp_path / "state", {A: source, B: destination})
    try:
        flow = backend.register_flow(json.loads((FLOWS / "globus_looping_batched_move.json").read_text()))
        run = backend.start_run(flow, {"source": {"id": A, "path": "/data/"},
                                       "destination": {"id": B, "path": "/moved/"}})
        assert run["status"] == "SUCCEEDED", run["details"]
        state = run["details"]["output"]
        assert state["ls_results"]["details"]["total"] == 0 and state["ls_results"]["details"]["DATA"] == []
        assert tree(destination / "moved") == before
        assert list((source / "data").iterdir()) == []
        lists = [e for e in backend.store.get_log(run["run_id"])
                 if e["code"] == "ActionCompleted" and e["details"].get("state_name") == "List"]
        assert len(lists) == 4  # 100 + 100 + 30, then the empty listing
    finally:
        backend.close()


# ------------------------------------------------------------------ delete


@pytest.fixture
def collections(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    transfer = TransferProvider({A: a, B: b})
    return transfer, a, b


def delete(transfer, body: dict, journal: Path | None = None, retired: bool = False):
    provider = DeleteProvider(transfer.resolve, journal=journal, retired=retired)
    return provider(request(RETIRED_DELETE_URL if retired else TRANSFER_DELETE_URL, body))


def test_the_docs_delete_request_and_globus_sdks_delete_document_are_taken(collections):
    transfer, a, _ = collections
    (a / "dir/inner").mkdir(parents=True)
    (a / "dir/inner/x").write_text("x")
    (a / "file.txt").write_text("y")
    example = json.loads((PROVIDERS / "transfer_delete_ap_docs_example.json").read_text())
    result = delete(transfer, {**example, "endpoint": A})
    assert result.status == "SUCCEEDED", result.details
    assert list(a.iterdir()) == []
    assert (result.details["files"], result.details["directories"], result.details["subtasks_total"]) == (2, 2, 2)
    # what globus-sdk sends for a DeleteData (its own document, MISSING fields left out)
    (a / "old_rec").mkdir()
    (a / "old_rec/recon_00000.tiff").write_bytes(b"1")
    sdk = globus_sdk.DeleteData(A, label="prune tries", recursive=True, ignore_missing=True)
    sdk.add_item("/old_rec")
    sdk.add_item("/not-there")
    body = {k: v for k, v in dict(sdk).items() if v is not globus_sdk.MISSING and k != "submission_id"}
    body["DATA"] = [{k: v for k, v in item.items() if v is not globus_sdk.MISSING} for item in body["DATA"]]
    result = delete(transfer, body)
    assert result.status == "SUCCEEDED", result.details
    assert (result.details["label"], result.details["files_skipped"]) == ("prune tries", 1)
    assert not (a / "old_rec").exists()


def test_a_missing_path_fails_unless_ignore_missing(collections):
    transfer, a, _ = collections
    (a / "keep.txt").write_text("k")
    result = delete(transfer, {"endpoint": A, "DATA": [{"path": "/keep.txt"}, {"path": "/gone"}]})
    assert result.status == "FAILED" and result.details["fatal_error"]["code"] == "FILE_NOT_FOUND"
    assert (a / "keep.txt").exists(), "the paths are checked before anything is removed"
    result = delete(transfer, {"endpoint": A, "ignore_missing": True,
                               "DATA": [{"path": "/keep.txt"}, {"path": "/gone"}]})
    assert result.status == "SUCCEEDED" and not (a / "keep.txt").exists()


def test_a_folder_needs_recursive(collections):
    transfer, a, _ = collections
    (a / "rec").mkdir()
    (a / "rec/s.tiff").write_text("s")
    result = delete(transfer, {"endpoint": A, "DATA": [{"path": "/rec"}]})
    assert result.status == "FAILED" and result.details["fatal_error"]["code"] == "IS_A_DIRECTORY"
    assert (a / "rec/s.tiff").exists()


@pytest.mark.parametrize("path", ["/../b", "/~/../../etc", "/link_out/inside", "/", "/~/"])
def test_nothing_outside_the_collection_nor_its_root_is_deleted(collections, path):
    transfer, a, b = collections
    (b / "other.txt").write_text("o")
    (a / "link_out").symlink_to(b)
    (a / "mine.txt").write_text("m")
    result = delete(transfer, {"endpoint": A, "recursive": True, "DATA": [{"path": path}]})
    assert result.status == "FAILED" and result.details["fatal_error"]["code"] == "PERMISSION_DENIED"
    assert (b / "other.txt").exists() and (a / "mine.txt").exists()


def test_a_link_is_removed_never_followed(collections):
    transfer, a, b = collections
    (b / "target").mkdir()
    (b / "target/precious").write_text("p")
    (a / "link").symlink_to(b / "target")
    result = delete(transfer, {"endpoint": A, "recursive": True, "DATA": [{"path": "/link"}]})
    assert result.status == "SUCCEEDED", result.details
    assert not os.path.lexists(a / "link") and (b / "target/precious").exists()


def test_globs_in_the_last_part_of_a_path_when_asked(collections):
    transfer, a, _ = collections
    for name in ("recon_00001.tiff", "recon_00002.tiff", "rec_line.txt", "a*b"):
        (a / name).write_text(name)
    result = delete(transfer, {"endpoint": A, "interpret_globs": True,
                               "DATA": [{"path": "/recon_*.tiff"}, {"path": "/a\\*b"}]})
    assert result.status == "SUCCEEDED", result.details
    assert sorted(p.name for p in a.iterdir()) == ["rec_line.txt"]


def test_the_retired_provider_takes_endpoint_id_and_items(collections):
    transfer, a, _ = collections
    (a / "file1.txt").write_text("1")
    result = delete(transfer, {"endpoint_id": A, "recursive": False, "label": "Test via Flows",
                               "items": ["file1.txt"]}, retired=True)
    assert result.status == "SUCCEEDED" and not (a / "file1.txt").exists()
    # each provider refuses the other's shape (ActionUnableToRun on Flows)
    from tomocupy_gladier.local.errors import InvalidRequest

    with pytest.raises(InvalidRequest, match="unknown fields"):
        delete(transfer, {"endpoint_id": A, "items": ["x"]})
    with pytest.raises(InvalidRequest, match="unknown fields"):
        delete(transfer, {"endpoint": A, "DATA": [{"path": "x"}]}, retired=True)


KILLED = """
import sys, time
from pathlib import Path
from tomocupy_gladier.local.actions import ActionRequest
from tomocupy_gladier.local.providers import delete as module
from tomocupy_gladier.local.providers.transfer import TransferProvider

real = module.remove_paths
def slow_unlink(path, *a, **k):
    time.sleep(0.002)
    return real_unlink(path, *a, **k)
real_unlink = Path.unlink
Path.unlink = slow_unlink
root, journal = Path(sys.argv[1]), Path(sys.argv[2])
provider = module.DeleteProvider(TransferProvider({"c": root}).resolve, journal=journal)
print("started", flush=True)
provider(ActionRequest("a", "u", "S", {"endpoint": "c", "recursive": True, "DATA": [{"path": "/rec"}]},
                       600, time.monotonic() + 600))
"""


def test_a_killed_delete_leaves_each_file_whole_or_gone_and_every_gone_one_recorded(tmp_path):
    """Transfer's delete task is not atomic, and neither is this one: killed midway, it leaves
    some files. Each is whole (a delete never writes) or gone, and the journal lists every one
    that is gone, written before it went."""
    root, journal = tmp_path / "c", tmp_path / "journal"
    (root / "rec").mkdir(parents=True)
    contents = {}
    for i in range(400):
        data = os.urandom(2000)
        (root / "rec" / f"recon_{i:05d}.tiff").write_bytes(data)
        contents[f"recon_{i:05d}.tiff"] = data
    proc = subprocess.Popen([sys.executable, "-c", KILLED, str(root), str(journal)],
                            stdout=subprocess.PIPE, cwd=ROOT)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"started"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(list((root / "rec").iterdir())) > 250:
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    left = {p.name: p.read_bytes() for p in (root / "rec").iterdir()}
    assert 0 < len(left) < 400, "killed midway"
    assert all(left[name] == contents[name] for name in left)
    [log] = journal.iterdir()
    recorded = {Path(json.loads(line)["path"]).name for line in log.read_text().splitlines()}
    assert set(contents) - set(left) <= recorded
    assert len(recorded - (set(contents) - set(left))) <= 1  # at most the one it was removing


# ------------------------------------------------------------------ ls and stat


def ls(transfer, body: dict, retired: bool = False):
    return LsProvider(transfer.resolve, retired=retired)(request(RETIRED_LS_URL if retired else TRANSFER_LS_URL, body))


def test_a_listing_has_the_transfer_docs_shape(collections):
    transfer, a, _ = collections
    (a / "share/godata").mkdir(parents=True)
    (a / "share/godata/foo.txt").write_bytes(b"x" * 220)
    docs = json.loads((PROVIDERS / "transfer_ls_ap_docs_example.json").read_text())
    result = ls(transfer, {**docs["request"], "endpoint_id": A, "path": "/~/share/godata/"})
    assert result.status == "SUCCEEDED"
    expected = docs["response"]["details"]
    assert list(result.details) == list(expected)
    [entry] = result.details["DATA"]
    assert list(entry) == list(expected["DATA"][0])
    assert (entry["name"], entry["size"], entry["type"], entry["permissions"]) == ("foo.txt", 220, "file",
                                                                                   f"{(a / 'share/godata/foo.txt').stat().st_mode & 0o777:04o}")
    assert (result.details["path"], result.details["length"], result.details["total"]) == ("/share/godata/", 1, 1)
    assert entry["last_modified"].endswith("+00:00") and len(entry["last_modified"]) == 25


def test_listing_options_limit_offset_order_filter_hidden(collections):
    transfer, a, _ = collections
    for name, size in (("b.h5", 30), ("a.h5", 10), ("c.txt", 20), (".hidden", 1)):
        (a / name).write_bytes(b"x" * size)
    (a / "dir").mkdir()
    names = lambda r: [e["name"] for e in r.details["DATA"]]  # noqa: E731
    assert names(ls(transfer, {"endpoint_id": A, "path": "/"})) == [".hidden", "a.h5", "b.h5", "c.txt", "dir"]
    assert names(ls(transfer, {"endpoint_id": A, "path": "/", "show_hidden": False})) == ["a.h5", "b.h5", "c.txt", "dir"]
    page = ls(transfer, {"endpoint_id": A, "path": "/", "limit": 2, "offset": 1})
    assert names(page) == ["a.h5", "b.h5"] and (page.details["length"], page.details["total"]) == (2, 5)
    assert names(ls(transfer, {"endpoint_id": A, "path": "/", "orderby": "size DESC",
                               "filter": "type:file/name:~*.h5"})) == ["b.h5", "a.h5"]
    assert names(ls(transfer, {"endpoint_id": A, "path": "/", "filter": "type:dir"})) == ["dir"]
    from tomocupy_gladier.local.errors import InvalidRequest

    with pytest.raises(InvalidRequest, match="filters on"):
        ls(transfer, {"endpoint_id": A, "path": "/", "filter": "size:>10"})


@pytest.mark.parametrize("path, code", [("/nope", "ClientError.NotFound"),
                                        ("/file.txt", "ExternalError.DirListingFailed.NotDirectory"),
                                        ("/../b", "EndpointPermissionDenied")])
def test_a_listing_that_cannot_be_made_fails_with_transfers_error(collections, path, code):
    transfer, a, _ = collections
    (a / "file.txt").write_text("f")
    result = ls(transfer, {"endpoint_id": A, "path": path})
    assert result.status == "FAILED" and result.details["code"] == code and result.display_status == code


def test_the_retired_ls_lists_the_path_itself_with_path_only(collections):
    transfer, a, _ = collections
    (a / "scans/scan1.h5").parent.mkdir()
    (a / "scans/scan1.h5").write_text("s")
    found = ls(transfer, {"endpoint_id": A, "path": "/~/scans/scan1.h5", "path_only": True}, retired=True)
    assert found.details["path"] == "/scans/" and [e["name"] for e in found.details["DATA"]] == ["scan1.h5"]
    assert found.details["DATA"][0]["is_folder"] is False
    absent = ls(transfer, {"endpoint_id": A, "path": "/~/scans/none.h5", "path_only": True}, retired=True)
    assert absent.status == "SUCCEEDED" and absent.details["DATA"] == []
    listing = ls(transfer, {"endpoint_id": A, "path": "/"}, retired=True)
    assert listing.details["DATA"][0]["is_folder"] is True


def test_stat_has_the_shape_of_the_docs_and_of_globus_sdks_test_data(collections):
    transfer, a, _ = collections
    (a / "godata").mkdir()
    docs = json.loads((PROVIDERS / "transfer_stat_ap_docs_example.json").read_text())
    result = StatProvider(transfer.resolve)(request(TRANSFER_STAT_URL, {"endpoint_id": A, "path": "/~/godata/"}))
    assert result.status == "SUCCEEDED"
    assert list(result.details) == list(docs["response"]["details"])
    assert (result.details["name"], result.details["type"]) == ("godata", "dir")
    # globus-sdk's registered responses of GET /operation/endpoint/<id>/stat: same keys, and
    # its not_found case's code
    sdk = get_response_set(globus_sdk.TransferClient.operation_stat)
    assert list(result.details) == list(sdk.lookup("default").json)
    missing = StatProvider(transfer.resolve)(request(TRANSFER_STAT_URL, {"endpoint_id": A, "path": "/nope"}))
    assert missing.status == "FAILED" and missing.details["code"] == sdk.lookup("not_found").json["code"]


def test_the_backend_serves_each_at_its_documented_url(tmp_path):
    backend = LocalBackend(tmp_path / "state", {A: tmp_path})
    try:
        served = backend.providers.urls()
        for url in (TRANSFER_DELETE_URL, TRANSFER_LS_URL, TRANSFER_STAT_URL, RETIRED_DELETE_URL, RETIRED_LS_URL,
                    "https://actions.globus.org/transfer/transfer"):
            assert url in served
    finally:
        backend.close()
