"""The local "Wait For User Selection" action provider (``actions.globus.org/weboption``).

It takes the hosted provider's input: ``options`` (each ``name``, ``url_suffix``, and optionally
``description``, ``completed_message``, ``selectable_by``) and an optional ``landing_page``
(``url_suffix``, ``page_title``, ``header_text``, ``preamble_text``, ...). The action stays
ACTIVE until an option is chosen, then SUCCEEDS with the hosted provider's ``details``: the
chosen option's ``name`` and ``url_suffix``.

Where Globus monitors ``https://actions.globus.org/weboption/option/<url_suffix>``, here each
option is recorded in the run store with a URL of ``tomocupy-gladier serve``
(``<serve>/runs/<run>/choose?option=<url_suffix>``; the landing page is ``<serve>/runs/<run>``),
so that ``tomocupy-gladier choose`` from another process or the run's page answers it.

``selectable_by`` (Globus Auth identity URNs) is enforced as the hosted provider documents it:
an option without its own list takes the landing page's, and an option with a list may be
chosen only by those identities. Whoever chooses locally (``choose``, the run's page in
``serve``) acts as the run's user, whose identity is :func:`local_identity` of the run's
username (also ``$._context.user_id`` of local runs).
"""

from __future__ import annotations

import time
import uuid
from typing import Any
from urllib.parse import quote

from ..errors import ActionTimeout, InvalidRequest, request_object
from ..actions import ActionRequest, ActionResult

DEFAULT_SERVE_URL = "http://127.0.0.1:8765"
OPTION_FIELDS = {"name", "url_suffix", "description", "completed_message", "selectable_by"}
LANDING_FIELDS = {"url_suffix", "page_title", "header_text", "header_background", "header_icon_url",
                  "header_icon_link", "preamble_text", "selectable_by", "include_text_input_form",
                  "text_input_form_prompt", "display_options_as"}


def local_identity(username: str) -> str:
    """The Globus Auth identity URN a local run's user stands for (stable per username)."""
    return f"urn:globus:auth:identity:{uuid.uuid5(uuid.NAMESPACE_URL, f'tomocupy-gladier:{username}')}"


def selectable_by(option: dict, landing_page: dict | None) -> list[str] | None:
    """Who may choose ``option``: its own ``selectable_by``, else the landing page's (the hosted
    provider's inheritance rule); None when anyone with the URL may."""
    own = option.get("selectable_by")
    if own is not None:
        return list(own)
    inherited = (landing_page or {}).get("selectable_by")
    return list(inherited) if inherited is not None else None


def option_url(serve_url: str, run_id: str, url_suffix: str) -> str:
    """Where ``serve`` answers one option of a waiting run."""
    return f"{serve_url.rstrip('/')}/runs/{quote(run_id)}/choose?option={quote(url_suffix, safe='')}"


def landing_page_url(serve_url: str, run_id: str) -> str:
    """The run's page, which lists the options while the run waits."""
    return f"{serve_url.rstrip('/')}/runs/{quote(run_id)}"


def check_request(body: Any) -> tuple[list[dict], dict | None]:
    """The request's options and landing page; :class:`InvalidRequest` for what the hosted
    provider would refuse (no options, an option without a name or URL suffix, a suffix used
    twice, unknown fields)."""
    request_object(body, {"options", "landing_page"}, "a Wait For User Selection request")
    options = body.get("options")
    if not isinstance(options, list) or not options:
        raise InvalidRequest("'options' must be a non-empty list")
    suffixes: set[str] = set()
    for k, option in enumerate(options):
        request_object(option, OPTION_FIELDS, f"options[{k}]")
        for key in ("name", "url_suffix"):
            if not isinstance(option.get(key), str) or not option[key]:
                raise InvalidRequest(f"options[{k}].{key} must be a non-empty string")
        _check_identities(option.get("selectable_by"), f"options[{k}].selectable_by")
        if option["url_suffix"] in suffixes:
            raise InvalidRequest(f"options[{k}].url_suffix {option['url_suffix']!r} is used twice")
        suffixes.add(option["url_suffix"])
    landing = body.get("landing_page")
    if landing is not None:
        request_object(landing, LANDING_FIELDS, "landing_page")
        if not isinstance(landing.get("url_suffix"), str):
            raise InvalidRequest("'landing_page' must be an object with a url_suffix")
        _check_identities(landing.get("selectable_by"), "landing_page.selectable_by")
        if landing["url_suffix"] in suffixes:
            raise InvalidRequest("the landing page's url_suffix is also an option's")
    return options, landing


def _check_identities(value: Any, where: str) -> None:
    if value is None:
        return
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise InvalidRequest(f"'{where}' must be a list of Globus identity URNs")


class WaitForOptionProvider:
    """Waits, polling the run store, until ``select`` answers the action or its WaitTime ends.

    :param store: the backend's :class:`~tomocupy_gladier.local.store.RunStore`
    :param serve_url: the address of ``tomocupy-gladier serve`` the option URLs point at
    :param poll: seconds between two looks at the store
    """

    def __init__(self, store: Any, serve_url: str = DEFAULT_SERVE_URL, poll: float = 0.2) -> None:
        self.store, self.serve_url, self.poll = store, serve_url, poll

    def __call__(self, request: ActionRequest) -> ActionResult:
        options, landing = check_request(request.body)
        run_id = request.run_id or request.action_id
        listed = [{**o, "url": option_url(self.serve_url, run_id, o["url_suffix"])} for o in options]
        # a run resumed after its worker died takes up the choice its interrupted action
        # offered (answered meanwhile or not); else it offers the options anew
        if not (request.resumes and self.store.adopt_selection(request.resumes, request.action_id)):
            self.store.open_selection(request.action_id, run_id, request.state_name, request.body, listed,
                                      landing_page_url(self.serve_url, run_id) if landing else None)
        while True:
            selection = self.store.get_selection(request.action_id)
            if selection["status"] == "SELECTED":
                chosen = selection["chosen"]
                return ActionResult("SUCCEEDED", {"name": chosen["name"],
                                                  "url_suffix": chosen["url_suffix"]})
            left = request.remaining()
            if left <= 0:
                self.store.close_selection(request.action_id, "EXPIRED")
                raise ActionTimeout(f"nobody chose an option within {request.wait_time:g} s",
                                    {"options": listed})
            time.sleep(max(0.01, min(self.poll, left)))
