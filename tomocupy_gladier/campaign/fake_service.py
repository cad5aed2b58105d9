"""A fake Globus Flows service on loopback, for tests, benchmarks and rehearsals.

It speaks the part of the Flows HTTP API a campaign uses (start a run, read a run,
list runs by flow and tag, cancel a run) so the real globus-sdk client can be pointed
at it, and it injects the failures a real service shows: 429 with Retry-After, 500s
(before or after the request took effect), slow answers and dropped connections.
It counts every request and every submission per job tag.
"""

from __future__ import annotations

import json
import random
import re
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlparse


@dataclass
class Faults:
    """Probabilities (0..1) of each injected failure, drawn per request."""

    rate_429: float = 0.0
    retry_after: str = "0"          # the Retry-After header sent with a 429
    rate_500_before: float = 0.0    # 500, request not applied
    rate_500_after: float = 0.0     # 500, request applied (the answer is lost)
    rate_drop_before: float = 0.0   # connection closed, request not applied
    rate_drop_after: float = 0.0    # connection closed after the request was applied
    rate_slow: float = 0.0
    slow_seconds: float = 0.05

    @classmethod
    def transient(cls, total: float, retry_after: str = "0") -> Faults:
        """``total`` of the requests fail transiently, spread over every kind of failure."""
        share = total / 5
        return cls(rate_429=share, retry_after=retry_after, rate_500_before=share, rate_500_after=share,
                   rate_drop_before=share, rate_drop_after=share)


def _now() -> str:
    return datetime.now(UTC).isoformat()


class FakeFlowsService:
    """Start with :meth:`start` (or as a context manager); ``url`` is its base URL.

    Runs end ``run_seconds`` after they start: FAILED when ``fails(body)`` says so,
    else SUCCEEDED.
    """

    def __init__(self, *, faults: Faults | None = None, run_seconds: float = 0.05, seed: int = 0,
                 fails: Callable[[dict[str, Any]], bool] | None = None) -> None:
        self.faults = faults or Faults()
        self.run_seconds = run_seconds
        self.fails = fails or (lambda body: "FAILME" in json.dumps(body))
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.runs: dict[str, dict[str, Any]] = {}
        self._started: dict[str, float] = {}
        self._bodies: dict[str, dict[str, Any]] = {}
        self.requests: Counter[str] = Counter()
        self.list_queries: list[list[str]] = []  # the query parameters of each run listing
        self.faults_injected: Counter[str] = Counter()
        self.submissions: Counter[str] = Counter()  # job tag -> runs started
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> Self:
        service = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                # one answer = headers + body in two writes: without this, Nagle's algorithm
                # and delayed ACKs add 40 ms to every request
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                service._handle(self, "GET")

            def do_POST(self) -> None:
                service._handle(self, "POST")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "not started"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/"

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())

    # -- the API -----------------------------------------------------------------------------
    def _record(self, run_id: str) -> dict[str, Any]:
        run = self.runs[run_id]
        if run["status"] == "ACTIVE" and time.monotonic() - self._started[run_id] >= self.run_seconds:
            if self.fails(self._bodies[run_id]):
                run.update(status="FAILED", completion_time=_now(),
                           details={"code": "ActionFailedException", "description": "tomocupy exited with 3"})
            else:
                run.update(status="SUCCEEDED", completion_time=_now(),
                           details={"code": "FlowSucceeded", "description": "done", "output": {}})
        return dict(run)

    def _run_flow(self, flow_id: str, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        run_id = str(uuid.uuid4())
        tags = [re.sub(r"\s+", " ", str(t).strip()) for t in payload.get("tags") or []]
        run = {"run_id": run_id, "action_id": run_id, "flow_id": flow_id, "status": "ACTIVE",
               "label": payload.get("label"), "tags": tags, "start_time": _now(), "completion_time": None,
               "details": {"code": "ActionStarted", "description": "running"}}
        self.runs[run_id] = run
        self._started[run_id] = time.monotonic()
        self._bodies[run_id] = payload.get("body") or {}
        for tag in tags:
            if tag.startswith("job:"):
                self.submissions[tag] += 1
        return 201, dict(run)

    def _list_runs(self, query: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        # the run list's documented filters that matter here (flow id, paging); the Flows API
        # documents no tag filter, so none is applied (the client filters by tag itself)
        self.list_queries.append(sorted(query))
        flows = set(",".join(query.get("filter_flow_id", [])).split(",")) - {""}
        per_page = int(query.get("per_page", ["20"])[0])
        start = int(query.get("marker", ["0"])[0])
        selected = [r for r in self.runs.values() if not flows or r["flow_id"] in flows]
        page = [self._record(r["run_id"]) for r in selected[start:start + per_page]]
        more = start + per_page < len(selected)
        return 200, {"runs": page, "has_next_page": more, "marker": str(start + per_page) if more else None}

    def _route(self, method: str, path: str, query: dict[str, list[str]], payload: Any) -> tuple[int, Any]:
        if method == "POST" and (m := re.fullmatch(r"/flows/([^/]+)/run", path)):
            return self._run_flow(m.group(1), payload or {})
        if method == "GET" and path == "/runs":
            return self._list_runs(query)
        if method == "GET" and (m := re.fullmatch(r"/runs/([^/]+)", path)):
            if m.group(1) not in self.runs:
                return 404, {"code": "NOT_FOUND", "error": {"code": "NOT_FOUND", "detail": "no such run"}}
            return 200, self._record(m.group(1))
        if method == "POST" and (m := re.fullmatch(r"/runs/([^/]+)/cancel", path)):
            if m.group(1) not in self.runs:
                return 404, {"code": "NOT_FOUND"}
            run = self.runs[m.group(1)]
            if self._record(run["run_id"])["status"] == "ACTIVE":
                run.update(status="ENDED", completion_time=_now())
            return 202, dict(run)
        return 404, {"code": "NOT_FOUND", "detail": f"no route {method} {path}"}

    def _draw(self) -> str | None:
        f = self.faults
        x = self._rng.random()
        for name, rate in (("429", f.rate_429), ("500_before", f.rate_500_before),
                           ("500_after", f.rate_500_after), ("drop_before", f.rate_drop_before),
                           ("drop_after", f.rate_drop_after), ("slow", f.rate_slow)):
            if x < rate:
                return name
            x -= rate
        return None

    def stats(self) -> dict[str, Any]:
        """Counters, as ``GET /_stats`` reports them to another process (not counted)."""
        with self._lock:
            return {"requests": dict(self.requests), "faults": dict(self.faults_injected),
                    "submissions": dict(self.submissions), "runs": len(self.runs)}

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        url = urlparse(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        payload = json.loads(raw) if raw else None
        if url.path == "/_stats":
            self._answer(handler, 200, self.stats(), {})
            return
        route = re.sub(r"/[0-9a-f-]{36}", "/{id}", url.path)
        with self._lock:
            self.requests[f"{method} {route}"] += 1
            fault = self._draw()
            if fault:
                self.faults_injected[fault] += 1
            if fault in ("429", "500_before", "drop_before"):
                status, body = None, None
            else:
                status, body = self._route(method, url.path, parse_qs(url.query), payload)
        if fault == "slow":
            time.sleep(self.faults.slow_seconds)
        if fault in ("drop_before", "drop_after"):
            handler.close_connection = True
            try:
                handler.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        headers = {}
        if fault == "429":
            status, body = 429, {"code": "TOO_MANY_REQUESTS", "detail": "slow down"}
            headers["Retry-After"] = self.faults.retry_after
        elif fault in ("500_before", "500_after"):
            status, body = 500, {"code": "INTERNAL_ERROR", "detail": "injected"}
        self._answer(handler, int(status or 500), body, headers)

    @staticmethod
    def _answer(handler: BaseHTTPRequestHandler, status: int, body: Any, headers: dict[str, str]) -> None:
        data = json.dumps(body).encode()
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(data)
        except OSError:
            pass  # the client went away (killed): the request was applied all the same


def serve(argv: list[str] | None = None) -> None:
    """``python -m tomocupy_gladier.campaign.fake_service [--transient RATE] [--run-seconds S]``:
    serve until killed; prints the base URL on the first line."""
    import argparse

    parser = argparse.ArgumentParser(description=serve.__doc__)
    parser.add_argument("--transient", type=float, default=0.0, help="share of requests failing transiently")
    parser.add_argument("--run-seconds", type=float, default=0.05)
    parser.add_argument("--retry-after", default="0", help="Retry-After sent with each 429 (seconds)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    service = FakeFlowsService(faults=Faults.transient(args.transient, args.retry_after),
                               run_seconds=args.run_seconds,
                               seed=args.seed).start()
    print(service.url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        service.stop()


if __name__ == "__main__":
    serve()
