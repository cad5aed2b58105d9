"""The requests a command would send to Globus, recorded instead of sent (``--dry-run``).

globus-sdk clients send every request through a transport. :class:`RecordingTransport` is
globus-sdk's own ``RequestsTransport`` with the sending left out: it encodes each request exactly
as the SDK would (URL, query, JSON body), keeps it, and answers with a stand-in response. So a
dry run goes down the same code path as the real command (Gladier's registration and deploy,
the SDK's payload classes) and what it prints is what the real command would send, byte for
byte, up to the ids that Globus has not assigned yet (shown as ``<...>`` placeholders).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests
from globus_sdk.transport import RequestCallerInfo, RequestsTransport

from tomocupy_gladier.redaction import redact

Answer = Callable[[str, str, Any], Mapping[str, Any]]
"""(method, URL path, body) -> the JSON document the stand-in response carries."""


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the SDK encoded it."""

    method: str
    url: str
    body: Any

    @property
    def path(self) -> str:
        return urlsplit(self.url).path

    def to_json(self) -> dict[str, Any]:
        """``{method, url, path, query?, body}``, secrets as ``<private>`` and a Compute
        function's serialized code as its size and digest."""
        parts = urlsplit(self.url)
        shown: dict[str, Any] = {"method": self.method, "url": self.url, "path": parts.path}
        if parts.query:
            shown["query"] = dict(parse_qsl(parts.query))
        shown["body"] = redact(abbreviate_function_code(self.body))
        return shown


class RecordingTransport(RequestsTransport):
    """A globus-sdk transport that records requests and never opens a connection."""

    def __init__(self, answer: Answer | None = None) -> None:
        super().__init__()
        self.recorded: list[RecordedRequest] = []
        self._answer = answer or (lambda method, path, body: {})

    def request(self, method: str, url: str, *, caller_info: RequestCallerInfo,
                query_params: dict[str, Any] | None = None,
                data: dict[str, Any] | list[Any] | str | bytes | None = None,
                headers: dict[str, str] | None = None, encoding: str | None = None,
                allow_redirects: bool = True, stream: bool = False) -> requests.Response:
        prepared = self._encode(method, url, query_params, data, headers, encoding).prepare()
        raw = prepared.body.decode() if isinstance(prepared.body, bytes) else prepared.body
        if raw is not None and not isinstance(raw, str):  # requests' type allows a stream
            raise TypeError("a streamed request body cannot be recorded")
        body = json.loads(raw) if raw else None
        recorded = RecordedRequest(method, str(prepared.url), body)
        self.recorded.append(recorded)
        response = requests.Response()
        response.status_code = 200
        response.url = recorded.url
        response.request = prepared
        response.headers["Content-Type"] = "application/json"
        response._content = json.dumps(dict(self._answer(method, recorded.path, body))).encode()
        return response


class Placeholders:
    """Stand-in ids for what Globus has not assigned yet, shown as ``<...>`` text when printed.

    The SDK and Gladier need ids that look like ids (scopes are built from a flow's id), so each
    placeholder is a fixed UUID while the dry run goes on, replaced by its text at the end.
    """

    def __init__(self) -> None:
        self._texts: dict[str, str] = {}

    def new(self, text: str) -> str:
        """A UUID that stands for ``text`` (the same one for the same text)."""
        import uuid

        sentinel = str(uuid.uuid5(uuid.NAMESPACE_URL, f"tomocupy-gladier-dry-run:{text}"))
        self._texts[sentinel] = text
        return sentinel

    def shown(self, data: Any) -> Any:
        """``data`` (JSON-like) with every stand-in UUID replaced by its ``<text>``."""
        if isinstance(data, str):
            for sentinel, text in self._texts.items():
                data = data.replace(sentinel.replace("-", "_"), f"<{text}>").replace(sentinel, f"<{text}>")
            return data
        if isinstance(data, dict):
            return {self.shown(k): self.shown(v) for k, v in data.items()}
        if isinstance(data, list):
            return [self.shown(v) for v in data]
        return data


def abbreviate_function_code(body: Any) -> Any:
    """A Compute function registration with its serialized code replaced by its size and
    digest (the code is the function's source, serialized: long, and reviewed in the repository)."""
    if isinstance(body, dict) and isinstance(body.get("function_code"), str):
        code = body["function_code"]
        digest = hashlib.sha256(code.encode()).hexdigest()
        return {**body, "function_code": f"<serialized source: {len(code)} characters, sha256 {digest}>"}
    return body
