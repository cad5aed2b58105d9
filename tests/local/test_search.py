"""The local Search ingest provider and its queries."""

from __future__ import annotations

import time

import pytest

from tomocupy_gladier.local.errors import InvalidRequest
from tomocupy_gladier.local.providers.search import SearchIndex, SearchIngestProvider, summarize
from tomocupy_gladier.local.actions import ActionRequest


def _ingest(provider, body):
    return provider(ActionRequest("a", "u", "Ingest", body, 30, time.monotonic() + 30))


@pytest.fixture
def index(tmp_path):
    return SearchIndex(tmp_path / "search.db")


def _doc(title, fmt="image/tiff", **extra):
    return {"dc": {"titles": [{"title": title}], "formats": [fmt],
                   "dates": [{"date": "2026-11-26T00:00:00Z"}]},
            "files": [{"filename": f"{title}.tiff", "length": 100}], **extra}


def test_ingest_upserts_by_index_subject_and_entry_id(index):
    provider = SearchIngestProvider(index)
    body = {"search_index": "idx", "subject": "globus://c/scan1", "id": "metadata",
            "content": _doc("scan1"), "visible_to": ["public"]}
    result = _ingest(provider, body)
    assert result.status == "SUCCEEDED"
    # details: the Globus Search task document
    assert set(result.details) == {"state_description", "task_id", "state", "creation_date",
                                   "completion_date", "additional_details", "message",
                                   "index_id"}
    assert (result.details["state"], result.details["index_id"]) == ("SUCCESS", "idx")
    _ingest(provider, {**body, "content": _doc("scan1", sample="shale")})
    _ingest(provider, {**body, "id": "other"})
    entries = index.search("scan1", index="idx")
    assert len(entries) == 2  # same subject, two entry ids
    replaced = index.get("idx", "globus://c/scan1", "metadata")
    assert replaced["content"]["sample"] == "shale"
    assert replaced["visible_to"] == ["public"]


def test_free_text_and_filters(index):
    index.ingest("idx", "globus://c/a", _doc("alpha", sample="shale rock"), ["public"])
    index.ingest("idx", "globus://c/b", _doc("beta", fmt="application/x-hdf5"), ["urn:g"])
    index.ingest("other", "globus://c/c", _doc("gamma"), ["public"])
    assert [e["subject"] for e in index.search("SHALE")] == ["globus://c/a"]
    assert [e["subject"] for e in index.search("alpha shale")] == ["globus://c/a"]
    assert index.search("alpha beta") == []  # every word must match
    assert len(index.search("*")) == 3
    assert [e["subject"] for e in index.search("", index="idx",
                                               filters={"dc.formats": "application/x-hdf5"})] \
        == ["globus://c/b"]
    assert [e["subject"] for e in index.search(filters={"dc.titles.title": "gamma"})] == \
        ["globus://c/c"]


def test_summary_of_key_metadata(index):
    entry = index.ingest("idx", "globus://c/a", _doc("alpha"), ["public"], "metadata")
    summary = summarize(entry)
    assert summary == {"subject": "globus://c/a", "index": "idx", "entry_id": "metadata",
                       "title": "alpha", "date": "2026-11-26T00:00:00Z", "files": 1,
                       "bytes": 100, "formats": ["image/tiff"], "visible_to": ["public"]}


@pytest.mark.parametrize("body", [
    {"subject": "s", "content": {}},
    {"search_index": "i", "subject": "s", "content": "text"},
    {"search_index": "i", "subject": "s", "content": {}, "extra": 1},
])
def test_malformed_ingests_are_rejected(index, body):
    with pytest.raises(InvalidRequest):
        _ingest(SearchIngestProvider(index), body)
