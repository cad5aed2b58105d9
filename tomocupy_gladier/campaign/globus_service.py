"""A :class:`RunService` on the Globus Flows service (globus-sdk 4).

The SDK's own retries are switched off except the token refresh on a 401: a POST that
the SDK repeated on its own after a dropped connection could start the same run twice,
so every other retry is the campaign's, which reconciles before it submits again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import globus_sdk
from globus_sdk.transport import RetryCheckResult, RetryConfig, RetryContext

from tomocupy_gladier.campaign.service import (
    AmbiguousError,
    AuthError,
    NotFoundError,
    PermanentError,
    TransientError,
)

AMBIGUOUS_STATUSES = (500, 502, 503, 504)


def _only_token_refresh(ctx: RetryContext) -> RetryCheckResult:
    """Veto every SDK retry except the one after a 401 (the expired-token check decides it)."""
    if ctx.response is not None and ctx.response.status_code in (401,):
        return RetryCheckResult.no_decision
    return RetryCheckResult.do_not_retry


def campaign_retry_config() -> RetryConfig:
    """An SDK retry configuration that only refreshes an expired token (once)."""
    config = RetryConfig(max_retries=1)
    config.checks.register_check(_only_token_refresh)
    return config


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def translate(exc: Exception) -> Exception:
    """The campaign error for a globus-sdk error (the original is kept as ``__cause__``)."""
    if isinstance(exc, globus_sdk.GlobusAPIError):
        status = exc.http_status
        message = f"HTTP {status} {exc.code}: {exc.message}"
        if status == 429:
            return TransientError(message, retry_after=_retry_after(exc.headers))
        if status in AMBIGUOUS_STATUSES or status >= 500:
            return AmbiguousError(message, retry_after=_retry_after(exc.headers))
        if status in (401, 403):
            return AuthError(message)
        if status == 404:
            return NotFoundError(message)
        return PermanentError(message)
    if isinstance(exc, globus_sdk.NetworkError):
        return AmbiguousError(f"{type(exc).__name__}: {exc}")
    return exc


class GlobusRunService:
    """Runs of one flow on Globus Flows: ``SpecificFlowClient.run_flow`` to start,
    ``FlowsClient.get_run`` to read, ``FlowsClient.list_runs`` (filtered by flow, then by
    tag here) to reconcile."""

    def __init__(self, flow_id: str, flows_client: globus_sdk.FlowsClient,
                 run_client: globus_sdk.SpecificFlowClient, *, page_size: int = 50,
                 consent_check: Any = None) -> None:
        self.flow_id = str(flow_id)
        self.consent_check = consent_check
        self.flows_client = flows_client
        self.run_client = run_client
        self.page_size = page_size

    @classmethod
    def connect(cls, flow_id: str, *, flows_authorizer: Any = None, run_authorizer: Any = None,
                base_url: str | None = None, http_timeout: float | None = None) -> GlobusRunService:
        """Build both clients with the campaign's retry configuration. ``base_url``
        points them at another Flows service (a test server); by default globus-sdk's
        environment settings decide (``GLOBUS_SDK_SERVICE_URL_FLOWS``)."""
        flows = globus_sdk.FlowsClient(authorizer=flows_authorizer, base_url=base_url,
                                       retry_config=campaign_retry_config())
        runs = globus_sdk.SpecificFlowClient(flow_id, authorizer=run_authorizer or flows_authorizer,
                                             retry_config=campaign_retry_config())
        if base_url is not None:
            runs.base_url = base_url
        if http_timeout is not None:
            for client in (flows, runs):
                client.transport.http_timeout = http_timeout
        return cls(flow_id, flows, runs)

    @classmethod
    def from_gladier_client(cls, client: Any) -> GlobusRunService:
        """Use a logged-in Gladier client's flow (deployed or updated first) and its tokens."""
        flow_id = client.sync_flow()
        manager = client.flows_manager
        service = cls.connect(flow_id, flows_authorizer=manager.flows_client.authorizer,
                              run_authorizer=manager.specific_flow_client.authorizer)
        service.consent_check = getattr(client.login_manager, "holds", None)
        return service

    def _call(self, func: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (globus_sdk.GlobusAPIError, globus_sdk.NetworkError) as exc:
            raise translate(exc) from exc

    def submit(self, body: Mapping[str, Any], label: str, tags: list[str]) -> str:
        response = self._call(self.run_client.run_flow, dict(body), label=label, tags=list(tags))
        return str(response["run_id"])

    def status(self, run_id: str) -> dict[str, Any]:
        return dict(self._call(self.flows_client.get_run, run_id).data)

    def find_runs(self, tag: str) -> list[dict[str, Any]]:
        """Runs of this flow with ``tag``, oldest first. The run list is filtered by the flow
        (globus-sdk's ``list_runs``) and the tag is checked here: the Flows API documents no
        tag filter (its OpenAPI ``GET /runs``: roles, status, label, flow id and title, times)."""
        found: list[dict[str, Any]] = []
        marker: Any = globus_sdk.MISSING
        while True:
            page = self._call(self.flows_client.list_runs, filter_flow_id=self.flow_id, marker=marker,
                              query_params={"per_page": self.page_size})
            found.extend(dict(r) for r in page.get("runs", []) if tag in (r.get("tags") or []))
            if not page.get("has_next_page") or not page.get("marker"):
                break
            marker = page["marker"]
        return sorted(found, key=lambda r: str(r.get("start_time") or ""))

    def cancel(self, run_id: str) -> None:
        self._call(self.flows_client.cancel_run, run_id)

    def consent_given(self, consent: Any) -> bool:
        """Whether Globus Auth holds the consent an INACTIVE run waits for (``consent_check``,
        from the login manager: its stored login and the user's consents); False without one."""
        return bool(self.consent_check and self.consent_check(consent.required_scope))

    def resume(self, run_id: str) -> None:
        """Flows' ``POST /runs/{id}/resume``."""
        self._call(self.run_client.resume_run, run_id)
