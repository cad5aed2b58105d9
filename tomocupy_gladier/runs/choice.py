"""The scientist's choice of the centre in an interactive run, on either backend.

A run of TomocupyInteractiveFlow waits in ``WaitForChoice`` ("Wait For User Selection") with
the options ``MakeChoiceOptions`` made. Here: whether a run waits and for which options
(:func:`waiting_choice`), and answering it (:func:`choose`): on the local backend through the
run store (what ``serve``'s page does too), on Globus by visiting the chosen option's URL with
a token for the action provider's scope, as its documentation describes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

from tomocupy_gladier.errors import UserError
from tomocupy_gladier.runs.run_record import FINAL_STATUSES, logged_result, run_log_entries
from tomocupy_gladier.action_urls import WEBOPTION_LANDING_URL, WEBOPTION_OPTION_URL
from tomocupy_gladier.tools.choice.tool import CHOICE_OPTIONS_STATE, WAIT_STATE, WEBOPTION_SCOPE

_CENTRE = re.compile(r"(-?\d+(?:\.\d+)?)")


class ChoiceError(UserError):
    """No choice can be made now: the run does not wait (yet, or any more)."""


@dataclass(frozen=True)
class Option:
    name: str
    url_suffix: str
    url: str
    center: float | None
    description: str = ""


@dataclass(frozen=True)
class WaitingChoice:
    """A run waiting for the scientist: its options (the suggested centre first)."""

    run_id: str
    options: list[Option]
    landing_page_url: str | None = None
    montage: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def suggested(self) -> Option:
        return self.options[0]

    def nearest(self, center: float) -> Option:
        offered = [(o.center, o) for o in self.options if o.center is not None]
        if not offered:
            raise ChoiceError(f"run {self.run_id} offers no centres to compare {center:g} with")
        return min(offered, key=lambda pair: (abs(pair[0] - center), pair[0]))[1]


def _local_store(client: Any) -> Any | None:
    backend = getattr(client.flows_manager, "backend", None)
    return getattr(backend, "store", None)


def option_centre(name: str, centers: dict[str, Any]) -> float | None:
    """The centre of the option called ``name`` (from MakeChoiceOptions' ``centers``)."""
    if name in centers:
        return float(centers[name])
    match = _CENTRE.search(name)
    return float(match.group(1)) if match else None


def _wait_entries(entries: list[dict]) -> tuple[dict | None, dict | None]:
    """The last ActionStarted of WaitForChoice and what ended it (None: it still waits)."""
    started = ended = None
    for entry in entries:
        details = entry.get("details") or {}
        if details.get("state_name") != WAIT_STATE:
            continue
        if entry.get("code") == "ActionStarted":
            started, ended = entry, None
        elif started is not None and entry.get("code") in ("ActionCompleted", "ActionFailed"):
            ended = entry
    return started, ended


def waiting_choice(client: Any, run_id: str, record: dict | None = None) -> WaitingChoice | None:
    """The choice ``run_id`` waits for, or None (not there yet, made already, or run over)."""
    record = record if record is not None else client.get_status(run_id)
    if record.get("status") in FINAL_STATUSES:
        return None
    store = _local_store(client)
    selection = store.run_selection(run_id) if store is not None else None
    if store is not None and (selection is None or selection["status"] != "WAITING"):
        return None  # the local store knows without reading the log
    entries = run_log_entries(client, run_id)
    made = logged_result(entries, CHOICE_OPTIONS_STATE)
    centers = dict(made.get("centers") or {})
    if selection is not None:
        options = [Option(o["name"], o["url_suffix"], o["url"], option_centre(o["name"], centers),
                          o.get("description", "")) for o in selection["options"]]
        return WaitingChoice(run_id, options, selection.get("landing_page_url"), made.get("montage"))
    started, ended = _wait_entries(entries)
    if started is None or ended is not None:
        return None
    details = started.get("details") or {}
    body = details.get("input") or details.get("parameters") or {}
    options = [Option(o["name"], o["url_suffix"], WEBOPTION_OPTION_URL.format(url_suffix=o["url_suffix"]),
                      option_centre(o["name"], centers), o.get("description", ""))
               for o in body.get("options") or []]
    landing = (body.get("landing_page") or {}).get("url_suffix")
    return WaitingChoice(run_id, options,
                         WEBOPTION_LANDING_URL.format(url_suffix=landing) if landing else None,
                         made.get("montage"))


def _not_waiting(client: Any, run_id: str, record: dict) -> ChoiceError:
    """Why ``run_id`` cannot take a choice now, in words."""
    status = record.get("status")
    if status in FINAL_STATUSES:
        return ChoiceError(f"run {run_id} is {status}: it no longer waits for a choice")
    store = _local_store(client)
    chosen = None
    if store is not None:
        selection = store.run_selection(run_id)
        if selection is not None and selection["status"] == "SELECTED":
            chosen = selection["chosen"]["name"]
    else:
        started, ended = _wait_entries(run_log_entries(client, run_id))
        if ended is not None:
            output = (ended.get("details") or {}).get("output") or {}
            chosen = (output.get("details") or {}).get("name") or "an option"
    if chosen:
        return ChoiceError(f"run {run_id} has moved on: {chosen} was chosen already")
    step = (record.get("details") or {}).get("state_name") or (record.get("details") or {}).get("code")
    return ChoiceError(f"run {run_id} does not wait for a choice yet (now at {step or status}); "
                       f"`tomocupy-gladier status {run_id}` shows when it does")


def pick(waiting: WaitingChoice, center: float | None, suggested: bool) -> tuple[Option, str | None]:
    """The option for ``--suggested`` or ``--center X``; the note says when X was not offered."""
    if suggested or center is None:
        return waiting.suggested, None
    option = waiting.nearest(center)
    if option.center is not None and abs(option.center - center) > 1e-6:
        offered = ", ".join(f"{o.center:.2f}" for o in waiting.options if o.center is not None)
        return option, (f"{center:g} is not one of the offered centres ({offered}): choosing the "
                        f"nearest, {option.center:.2f}")
    return option, None


def choose(client: Any, run_id: str, center: float | None = None, suggested: bool = False,
           chosen_by: str = "tomocupy-gladier choose",
           http_get: Callable[..., Any] | None = None) -> tuple[Option, str | None]:
    """Answer the choice ``run_id`` waits for with the suggested centre or the option nearest
    ``center``; returns the option and a note (when ``center`` was not offered).

    :raises ChoiceError: the run does not wait for a choice now (not yet, or any more)
    """
    record = client.get_status(run_id)
    waiting = waiting_choice(client, run_id, record)
    if waiting is None or not waiting.options:
        raise _not_waiting(client, run_id, record)
    option, note = pick(waiting, center, suggested)
    store = _local_store(client)
    if store is not None:
        from tomocupy_gladier.local.errors import SelectionError

        try:
            store.select(run_id, option.url_suffix, chosen_by=chosen_by)
        except SelectionError:
            raise _not_waiting(client, run_id, client.get_status(run_id)) from None
        return option, note
    _visit_option(client, option, http_get)
    return option, note


def _visit_option(client: Any, option: Option, http_get: Callable[..., Any] | None) -> None:
    """Select an option of the hosted provider: any access to its URL, with a bearer token for
    the provider's scope (without one the provider redirects to a Globus login)."""
    import requests

    manager = client.login_manager
    manager.add_requirements([WEBOPTION_SCOPE])  # a login for that scope when none is held yet
    authorizers = manager.get_manager_authorizers()
    authorizer = next((a for scope, a in authorizers.items() if str(scope) == WEBOPTION_SCOPE), None)
    headers = {}
    if authorizer is not None:
        headers["Authorization"] = authorizer.get_authorization_header()
    response = (http_get or requests.get)(option.url, headers=headers, timeout=30, allow_redirects=False)
    if response.status_code == 404:
        raise ChoiceError(f"{option.url} answers 404: the run no longer waits for a choice "
                          "(an option was chosen already, or the wait ended)")
    if response.status_code >= 300:
        raise ChoiceError(f"{option.url} answered HTTP {response.status_code}: the choice was not made")


def describe(waiting: WaitingChoice) -> list[str]:
    """Lines that list a waiting run's options (for ``status`` and ``run``)."""
    lines = [f"run {waiting.run_id} waits for a choice of the rotation axis:"]
    for k, option in enumerate(waiting.options):
        mark = " (suggested)" if k == 0 else ""
        lines.append(f"  {option.name}{mark}: {option.url}")
    if waiting.landing_page_url:
        lines.append(f"  page: {waiting.landing_page_url}")
    if waiting.montage:
        lines.append(f"  montage: {waiting.montage}")
    lines.append(f"choose with: tomocupy-gladier choose {waiting.run_id} --suggested | --center X")
    return lines
