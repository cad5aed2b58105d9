"""The local "Wait For User Selection" provider: the hosted provider's input and output, the
action ACTIVE until a choice is recorded in the run store, from another thread or process."""

from __future__ import annotations

import threading
import time

import pytest

from tomocupy_gladier.local.errors import ActionTimeout, InvalidRequest, SelectionError
from tomocupy_gladier.local.providers.weboption import WaitForOptionProvider, check_request
from tomocupy_gladier.local.actions import ActionRequest, ActionResult
from tomocupy_gladier.local.store import RunStore

BODY = {
    "landing_page": {"url_suffix": "r-choose", "header_text": "Choose", "page_title": "Axis",
                     "preamble_text": "Pick one"},
    "options": [{"name": "centre 34.50", "description": "suggested", "url_suffix": "r-option-0",
                 "completed_message": "going on at 34.50"},
                {"name": "centre 34.00", "url_suffix": "r-option-1"}],
}


@pytest.fixture
def store(tmp_path):
    opened = RunStore(tmp_path / "runs.db")
    opened.put_flow("f", "flow", {"StartAt": "A", "States": {}}, {})
    yield opened
    opened.close()


def _request(run_id: str, body=BODY, wait: float = 30) -> ActionRequest:
    return ActionRequest("action-1", "https://actions.globus.org/weboption/wait_for_option",
                         "WaitForChoice", body, wait, time.monotonic() + wait, run_id=run_id)


def _run_in_thread(provider, request) -> tuple[threading.Thread, list]:
    out: list = []

    def target():
        try:
            out.append(provider(request))
        except Exception as exc:  # noqa: BLE001 - handed to the test
            out.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, out


def _waiting(store, run_id):
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        selection = store.run_selection(run_id)
        if selection is not None:
            return selection
        time.sleep(0.02)
    raise AssertionError("the provider never recorded its options")


def test_the_action_stays_active_until_an_option_is_chosen_and_returns_its_name_and_suffix(store):
    run = store.create_run("f", {})
    provider = WaitForOptionProvider(store, "http://127.0.0.1:9999", poll=0.02)
    thread, out = _run_in_thread(provider, _request(run["run_id"]))

    selection = _waiting(store, run["run_id"])
    assert selection["status"] == "WAITING" and not out  # still ACTIVE
    urls = [o["url"] for o in selection["options"]]
    assert urls == [f"http://127.0.0.1:9999/runs/{run['run_id']}/choose?option=r-option-0",
                    f"http://127.0.0.1:9999/runs/{run['run_id']}/choose?option=r-option-1"]
    assert selection["landing_page_url"] == f"http://127.0.0.1:9999/runs/{run['run_id']}"

    # a second store object, as `choose` in another process opens it
    other = RunStore(store.path)
    chosen = other.select(run["run_id"], "r-option-1", chosen_by="test")
    other.close()
    thread.join(5)
    assert chosen["status"] == "SELECTED" and chosen["chosen_by"] == "test"
    [result] = out
    assert isinstance(result, ActionResult) and result.status == "SUCCEEDED"
    assert result.details == {"name": "centre 34.00", "url_suffix": "r-option-1"}

    with pytest.raises(SelectionError, match="not waiting"):
        store.select(run["run_id"], "r-option-0")  # only the first answer counts


def test_an_unknown_option_is_refused_and_the_run_keeps_waiting(store):
    run = store.create_run("f", {})
    provider = WaitForOptionProvider(store, poll=0.02)
    thread, out = _run_in_thread(provider, _request(run["run_id"]))
    _waiting(store, run["run_id"])
    with pytest.raises(SelectionError, match="no option 'nope'"):
        store.select(run["run_id"], "nope")
    assert store.run_selection(run["run_id"])["status"] == "WAITING"
    store.select(run["run_id"], "r-option-0")
    thread.join(5)
    assert out[0].details["name"] == "centre 34.50"


def test_nobody_choosing_within_the_wait_time_is_an_action_timeout(store):
    run = store.create_run("f", {})
    provider = WaitForOptionProvider(store, poll=0.02)
    with pytest.raises(ActionTimeout, match="nobody chose"):
        provider(_request(run["run_id"], wait=0.2))
    assert store.run_selection(run["run_id"])["status"] == "EXPIRED"


def test_a_finished_run_closes_its_selection(store):
    from tomocupy_gladier.local.interpreter import RunOutcome

    run = store.create_run("f", {})
    store.open_selection("a", run["run_id"], "WaitForChoice", BODY, BODY["options"])
    store.finish_run(run["run_id"], RunOutcome("FAILED", "X", "stopped", {}))
    assert store.run_selection(run["run_id"])["status"] == "CLOSED"
    with pytest.raises(SelectionError):
        store.select(run["run_id"], "r-option-0")


@pytest.mark.parametrize("body, message", [
    ({}, "non-empty list"),
    ({"options": []}, "non-empty list"),
    ({"options": [{"name": "a"}]}, "url_suffix must be"),
    ({"options": [{"name": "a", "url_suffix": "x"}, {"name": "b", "url_suffix": "x"}]}, "used twice"),
    ({"options": [{"name": "a", "url_suffix": "x", "centre": 1}]}, "unknown field"),
    ({"options": [{"name": "a", "url_suffix": "x"}], "landing_page": {"title": "t"}}, "url_suffix"),
    ({"options": [{"name": "a", "url_suffix": "x"}], "extra": 1}, "unknown field"),
])
def test_requests_the_hosted_provider_would_refuse_are_refused(body, message):
    with pytest.raises(InvalidRequest, match=message):
        check_request(body)


def test_the_backend_serves_the_providers_url(tmp_path):
    from tomocupy_gladier.local.backend import LocalBackend

    backend = LocalBackend(tmp_path / "state", {}, serve_url="http://127.0.0.1:8123")
    try:
        provider = backend.providers.get("https://actions.globus.org/weboption/wait_for_option/")
        assert isinstance(provider, WaitForOptionProvider) and provider.serve_url == "http://127.0.0.1:8123"
    finally:
        backend.close()
    reopened = LocalBackend.open(tmp_path / "state")
    reopened.close()
    assert reopened.serve_url == "http://127.0.0.1:8123"  # kept for workers and later processes


def test_selectable_by_is_enforced_as_the_hosted_provider_documents_it(store):
    """An option without its own list takes the landing page's; whoever chooses locally acts
    as the run's user (the provider's docs, tests/fixtures/action_providers/SOURCES.md)."""
    from tomocupy_gladier.local.providers.weboption import local_identity

    run = store.create_run("f", {}, username="alice")
    other = "urn:globus:auth:identity:0b5ad2c5-2c7e-4f4c-9d4b-1f9e2a3b4c5d"
    body = {"landing_page": {**BODY["landing_page"], "selectable_by": [other]},
            "options": [BODY["options"][0], {**BODY["options"][1],
                                             "selectable_by": [local_identity("alice")]}]}
    provider = WaitForOptionProvider(store, poll=0.02)
    thread, out = _run_in_thread(provider, _request(run["run_id"], body))
    _waiting(store, run["run_id"])
    with pytest.raises(SelectionError, match="not selectable by this run's user"):
        store.select(run["run_id"], "r-option-0")  # inherits the landing page's list
    assert store.run_selection(run["run_id"])["status"] == "WAITING"
    store.select(run["run_id"], "r-option-1")  # its own list names the run's user
    thread.join(5)
    assert out[0].details["name"] == "centre 34.00"


def test_selectable_by_must_be_a_list_of_identities():
    bad = {**BODY, "options": [{**BODY["options"][0], "selectable_by": "everyone"}]}
    with pytest.raises(InvalidRequest, match="selectable_by"):
        check_request(bad)
