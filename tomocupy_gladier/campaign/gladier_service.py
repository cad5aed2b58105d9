"""A :class:`RunService` on a Gladier client: how campaigns drive the local backend.

The client's ``run_flow`` adds the function ids and checks the input exactly as for a
single run; ``get_status`` reads a run. Finding runs by tag needs a run listing from the
client's flows manager (the local backend's manager has one); an adapter without it
cannot reconcile and says so rather than guess.
"""

from __future__ import annotations

import inspect
import sqlite3
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import gladier.exc

from tomocupy_gladier.campaign.service import (
    NotFoundError,
    PermanentError,
    TransientError,
)

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (sqlite3.OperationalError, TimeoutError,
                                                     ConnectionError, BlockingIOError)


def _listing_arguments(lister: Callable[..., Any], tag: str) -> dict[str, Any]:
    """Ask a listing for the tag when it can filter, and for every run when it pages: a run
    missed here would be started a second time."""
    try:
        parameters = inspect.signature(lister).parameters
    except (TypeError, ValueError):
        return {}
    arguments: dict[str, Any] = {}
    if "tag" in parameters:
        arguments["tag"] = tag
    elif "tags" in parameters:
        arguments["tags"] = [tag]
    if "limit" in parameters:
        arguments["limit"] = None if parameters["limit"].default is None else 10**9
    return arguments


class GladierClientRunService:
    """Adapt a Gladier client (``run_flow``/``get_status``) and its flows manager's run
    listing to the :class:`RunService` protocol.

    ``list_runs``: a callable returning run records (dicts with ``run_id``, ``tags``...).
    By default the flows manager's ``list_runs()`` is used (or that of its ``backend``).
    """

    def __init__(self, client: Any, *, list_runs: Callable[[], Iterable[Mapping[str, Any]]] | None = None) -> None:
        self.client = client
        self._list_runs = list_runs

    def _listing(self, tag: str) -> Iterable[Mapping[str, Any]]:
        if self._list_runs is not None:
            return self._list_runs()
        manager = self.client.flows_manager
        lister = getattr(manager, "list_runs", None) or getattr(getattr(manager, "backend", None), "list_runs", None)
        if lister is None:
            raise PermanentError(f"{type(manager).__name__} cannot list runs, so an interrupted "
                                 "submission cannot be reconciled")
        return lister(**_listing_arguments(lister, tag))

    def _call(self, func: Callable[[], Any]) -> Any:
        try:
            return func()
        except gladier.exc.ConfigException as exc:
            raise PermanentError(str(exc)) from exc
        except TRANSIENT_ERRORS as exc:
            raise TransientError(f"{type(exc).__name__}: {exc}") from exc
        except KeyError as exc:
            raise NotFoundError(f"unknown run {exc}") from exc

    def submit(self, body: Mapping[str, Any], label: str, tags: list[str]) -> str:
        started = self._call(lambda: self.client.run_flow(flow_input=dict(body), label=label, tags=list(tags)))
        return str(started["run_id"])

    def status(self, run_id: str) -> dict[str, Any]:
        return dict(self._call(lambda: self.client.get_status(run_id)))

    def find_runs(self, tag: str) -> list[dict[str, Any]]:
        runs = self._call(lambda: [dict(r) for r in self._listing(tag)])
        mine = [r for r in runs if tag in (r.get("tags") or [])]
        return sorted(mine, key=lambda r: str(r.get("start_time") or ""))

    def consent_given(self, consent: Any) -> bool:
        """Whether the consent an INACTIVE run waits for has been given (local backend)."""
        manager = self.client.flows_manager
        has = getattr(manager, "has_consents", None)
        return bool(has and self._call(lambda: has(consent.collections)))

    def resume(self, run_id: str) -> None:
        """Resume an INACTIVE run, giving nothing (the consent is given already)."""
        manager = self.client.flows_manager
        self._call(lambda: manager.resume_run(run_id, grant=False))

    def cancel(self, run_id: str) -> None:
        manager = self.client.flows_manager
        for name in ("cancel_run", "cancel"):
            method = getattr(manager, name, None)
            if method is not None:
                self._call(lambda: method(run_id))  # noqa: B023 - called at once
                return
        raise PermanentError(f"{type(manager).__name__} cannot cancel runs")
