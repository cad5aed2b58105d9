"""`search` on Globus Search, at the HTTP level: the query document it sends, and the same
records out as the local index gives for the same entries."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from collections.abc import Iterator
from typing import Any

import globus_sdk
import pytest
import responses
from click.testing import CliRunner

from tomocupy_gladier.runs.catalog import SearchFilters, search_globus
from tomocupy_gladier.cli import main
from tomocupy_gladier.tools.registry import load_config
from tomocupy_gladier.local.providers.search import SearchIndex

from tests.conftest import INDEX, PUBLISH

SEARCH_URL = f"https://search.api.globus.org/v1/index/{INDEX}/search"


def content(scan: str, sample: str, energy: float, day: str, axis: float, kind: str = "full") -> dict:
    """A search entry shaped like the ones the flow publishes (Publishv2 + ScanMetadata)."""
    base = f"globus://{PUBLISH}/published/cells/{scan}_rec"
    return {
        "dc": {"titles": [{"title": f"{scan}_rec"}], "dates": [{"date": f"{day}T12:00:00Z", "dateType": "Created"}]},
        "files": [{"filename": "recon_00000.tiff", "url": f"{base}/recon_00000.tiff", "length": 4096},
                  {"filename": "xy.png", "url": f"{base}/previews/xy.png", "length": 512}],
        "tomography": {"scan": f"{scan}.h5", "experiment": "cells",
                       "acquisition": {"sample": sample, "energy_kev": energy, "start_time": f"{day}T11:00:00+00:00"},
                       "reconstruction": {"type": kind, "rotation_axis": axis},
                       "previews": {"suggested_center": None}},
    }


ENTRIES = [
    (f"globus://{PUBLISH}/published/cells/femur_001_rec", content("femur_001", "femur-3", 25.0, "2026-11-02", 1021.5)),
    (f"globus://{PUBLISH}/published/cells/femur_002_rec", content("femur_002", "femur-3", 30.0, "2026-11-03", 1020.0)),
    (f"globus://{PUBLISH}/published/cells/shale_001_rec", content("shale_001", "shale", 25.2, "2026-11-04", 998.25)),
    (f"globus://{PUBLISH}/published/cells/femur_004_rec", content("femur_004", "femur-3", 24.8, "2026-11-20", 1019.5)),
]


def _values(doc: Any, dotted: str) -> list[Any]:
    for part in dotted.split("."):
        doc = doc.get(part) if isinstance(doc, dict) else None
    return [] if doc is None else [doc]


def _matches(entry: dict, query: dict) -> bool:
    """What Globus Search does with a simple query and match_any / range filters."""
    text = json.dumps(entry).lower()
    if any(word not in text for word in query["q"].lower().split() if word != "*"):
        return False
    for f in query.get("filters", []):
        values = _values(entry, f["field_name"])
        if f["type"] == "match_any" and not set(values) & set(f["values"]):
            return False
        if f["type"] == "range" and not any(r["from"] <= v <= r["to"] for v in values for r in f["values"]):
            return False
    return True


@pytest.fixture
def globus_search() -> Iterator[list[dict]]:
    """A fake Globus Search over ENTRIES; yields the query documents it received."""
    queries: list[dict] = []

    def answer(request: Any) -> tuple[int, dict, str]:
        query = json.loads(request.body)
        queries.append({**query, "_authorization": request.headers.get("Authorization")})
        hits = [{"@datatype": "GMetaResult", "subject": subject,
                 "entries": [{"entry_id": "metadata", "content": doc, "matched_principal_sets": ["public"]}]}
                for subject, doc in ENTRIES if _matches(doc, query)][:query.get("limit", 10)]
        return 200, {}, json.dumps({"@datatype": "GSearchResult", "@version": "2017-09-01", "count": len(hits),
                                    "total": len(hits), "offset": 0, "has_next_page": False, "gmeta": hits})

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_callback(responses.POST, SEARCH_URL, callback=answer, content_type="application/json")
        # client-credentials logins get a Search token
        mock.add(responses.POST, "https://auth.globus.org/v2/oauth2/token", json={
            "access_token": "search-token", "token_type": "Bearer", "expires_in": 3600,
            "resource_server": "search.api.globus.org", "scope": str(globus_sdk.SearchClient.scopes.search),
            "other_tokens": []})
        yield queries


def _local_index(experiment: Path) -> Path:
    """Ingest ENTRIES (and one entry of another index) into the experiment's local index."""
    state = load_config(experiment).local_state_dir
    index = SearchIndex(state / "search.db")
    for subject, doc in ENTRIES:
        index.ingest(INDEX, subject, doc, ["public"], "metadata")
    index.ingest("another-index", "globus://x/elsewhere", content("femur_009", "femur-3", 25.0, "2026-11-05", 1.0),
                 ["public"], "metadata")
    index.close()
    return state


def _globus_experiment(experiment: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = experiment.with_name("globus.toml")
    path.write_text(experiment.read_text().replace('backend = "local"', 'backend = "globus"'))
    monkeypatch.setenv("GLADIER_CLIENT_ID", "c0ffee00-1111-4222-8333-444455556666")
    monkeypatch.setenv("GLADIER_CLIENT_SECRET", "not-for-logs")
    return path


def test_search_globus_sends_the_query_and_the_sample_and_energy_filters(globus_search):
    filters = SearchFilters(sample="femur-3", energy_kev=25.0, energy_tolerance=0.5)
    records = search_globus(globus_sdk.SearchClient(), INDEX, "femur", filters, limit=7)
    [query] = globus_search
    assert query["q"] == "femur" and query["limit"] == 7 and query["advanced"] is False
    assert query["filters"] == [
        {"type": "match_any", "field_name": "tomography.acquisition.sample", "values": ["femur-3"]},
        {"type": "range", "field_name": "tomography.acquisition.energy_kev", "values": [{"from": 24.5, "to": 25.5}]},
    ]
    assert sorted(r.scan for r in records) == ["femur_001.h5", "femur_004.h5"]
    femur = next(r for r in records if r.scan == "femur_001.h5")
    assert (femur.sample, femur.energy_kev, femur.rotation_axis, femur.kind) == ("femur-3", 25.0, 1021.5, "full")
    assert femur.previews == (f"globus://{PUBLISH}/published/cells/femur_001_rec/previews/xy.png",)
    assert (femur.files, femur.bytes, femur.date) == (2, 4608, "2026-11-02T11:00:00+00:00")


def test_without_filters_no_filters_are_sent_and_dates_are_applied_to_the_answer(globus_search):
    records = search_globus(globus_sdk.SearchClient(), INDEX, "",
                            SearchFilters(since=dt.date(2026, 11, 3), until=dt.date(2026, 11, 10)))
    [query] = globus_search
    assert query["q"] == "*" and "filters" not in query
    assert sorted(r.scan for r in records) == ["femur_002.h5", "shale_001.h5"]


@pytest.mark.parametrize("args", [
    ["femur", "--sample", "femur-3", "--energy", "25"],
    ["*", "--since", "2026-11-03", "--until", "2026-11-10"],
    ["shale"],
    ["*"],
])
def test_the_search_command_gives_the_same_records_on_both_backends(experiment, monkeypatch, globus_search, args):
    _local_index(experiment)
    runner = CliRunner()
    local = runner.invoke(main, ["search", *args, "--config", str(experiment), "--json"], catch_exceptions=False)
    assert local.exit_code == 0, local.output
    globus_toml = _globus_experiment(experiment, monkeypatch)
    remote = runner.invoke(main, ["search", *args, "--config", str(globus_toml), "--json"], catch_exceptions=False)
    assert remote.exit_code == 0, remote.output

    [query] = globus_search
    assert query["_authorization"] == "Bearer search-token"
    by_subject = lambda out: sorted(json.loads(out), key=lambda r: r["subject"])
    assert by_subject(local.output) == by_subject(remote.output)
    assert json.loads(local.output), "the query should find something"
    # the local index has an entry in another index, which neither search returns
    assert all("elsewhere" not in r["subject"] for r in json.loads(local.output))


def test_the_search_command_prints_the_same_text_on_both_backends(experiment, monkeypatch, globus_search):
    _local_index(experiment)
    runner = CliRunner()
    local = runner.invoke(main, ["search", "shale", "--config", str(experiment)], catch_exceptions=False)
    remote = runner.invoke(main, ["search", "shale", "--config", str(_globus_experiment(experiment, monkeypatch))],
                           catch_exceptions=False)
    assert local.exit_code == remote.exit_code == 0
    assert local.output == remote.output
    assert "shale_001.h5" in local.output and "998.25" in local.output
    assert "xy.png" in local.output
