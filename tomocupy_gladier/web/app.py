"""The routes of ``tomocupy-gladier serve`` (Flask; served by waitress).

Pages: ``/`` (runs, newest first, paginated, live), ``/runs/<id>`` (states, previews, log
tail; for an interactive run waiting for its centre, the try's montage with clickable crops and
a button per option), ``/campaigns`` and ``/campaigns/<name>``, ``/search``. JSON for the live
refresh: ``/api/runs`` and ``/api/runs/<id>``. Images: ``/runs/<id>/previews/<name>`` (from the
run's previews folder only), ``/runs/<id>/try-previews/<name>`` (an interactive run's try
previews) and ``/published/<collection>/<path>`` (from the publication collection's local
folder only). The volume viewer: ``/runs/<id>/viewer/<volume>`` (an OME-Zarr folder of the
run's reconstruction folder) redirects to the vendored neuroglancer with its state; the Zarr's
files come from ``/runs/<id>/zarr/<volume>/<key>`` (ETag, Last-Modified, 304s and Range
requests). The choice: ``GET /runs/<id>/choose?option=<url_suffix>`` (the option URLs the
local "Wait For User Selection" provider hands out) asks to confirm; ``POST /runs/<id>/choose``
makes it, with the page's CSRF token and from this server's own pages only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hashlib
import hmac
import secrets

from flask import Flask, abort, jsonify, redirect, render_template, request, send_file, url_for

from tomocupy_gladier.web import data
from tomocupy_gladier.web.viewer import viewer_fragment, viewer_state
from tomocupy_gladier.web.security import (
    TOKEN_COOKIE,
    TOKEN_HEADER,
    ZARR_METADATA,
    check_binding,
    contained_file,
    token_matches,
    zarr_file,
)

PER_PAGE = 50
MAX_PER_PAGE = 500
ZARR_MAX_AGE = 60  # seconds a chunk is reused before it is revalidated (a rerun rewrites the volume)


@dataclass
class Sources:
    """What the pages read: runs, campaign ledgers, the catalogue."""

    runs: data.RunsSource
    campaigns_dir: Path | None = None
    catalogue: data.Catalogue | None = None
    experiment: str = ""
    refresh_ms: int = 3000
    starter: Any = None  # web.start.Starter: the start page (absent without an experiment file)
    retention: Any = None  # web.space.Retention: the space page, a run's removals (with an experiment file)


def create_app(sources: Sources, *, token: str | None = None, host: str = "127.0.0.1") -> Flask:
    """The web application; ``token`` (required unless ``host`` is loopback) guards every request."""
    check_binding(host, token)
    app = Flask(__name__)
    if not token:
        # loopback only: refuse other Host names, so that a web page cannot reach this server
        # through a name that resolves to 127.0.0.1 (DNS rebinding)
        app.config["TRUSTED_HOSTS"] = ["localhost", "127.0.0.1", "::1", "[::1]", host]
    app.config["SOURCES"] = sources
    app.jinja_env.globals.update(colour=data.status_colour, experiment=sources.experiment,
                                 has_space=sources.retention is not None,
                                 backend=sources.runs.backend, refresh_ms=sources.refresh_ms)
    app.jinja_env.filters["duration"] = _duration
    csrf_token = _csrf_tokens()
    app.jinja_env.globals["csrf_token"] = csrf_token
    if sources.starter is not None:
        from tomocupy_gladier.web.start import add_start_page

        add_start_page(app, sources.starter)
    _add_token_guard(app, token)
    _add_run_pages(app, sources)
    _add_volume_viewer(app, sources)
    _add_choice(app, sources, csrf_token)
    _add_campaign_pages(app, sources)
    _add_search_page(app, sources)
    return app


def _csrf_tokens() -> Callable[[str], str]:
    """The choice form's CSRF token of a run, keyed per server: a page from an earlier server is refused."""
    csrf_secret = secrets.token_bytes(32)

    def csrf_token(run_id: str) -> str:
        return hmac.new(csrf_secret, f"choose:{run_id}".encode(), hashlib.sha256).hexdigest()

    return csrf_token


def _add_token_guard(app: Flask, token: str | None) -> None:
    """Every request shows ``token`` (query, header or cookie); the answers' security headers."""

    @app.before_request
    def _guard() -> Any:
        offered = (request.args.get("token"), request.headers.get(TOKEN_HEADER),
                   request.cookies.get(TOKEN_COOKIE))
        if not token_matches(token, *offered):
            abort(401)

    @app.errorhandler(401)
    def _unauthorised(_: Any) -> Any:
        return "a token is needed: open the address printed by `tomocupy-gladier serve`\n", 401

    @app.after_request
    def _remember(response: Any) -> Any:
        # a good ?token= becomes a cookie, so that links and the live refresh need no token in them
        if token and request.args.get("token") and token_matches(token, request.args.get("token")):
            response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="Strict")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        return response


def _add_run_pages(app: Flask, sources: Sources) -> None:
    """The runs list, a run's page, their JSON for the live refresh and a run's preview images."""

    @app.get("/")
    def runs_page() -> Any:
        page = _runs_page(sources)
        return render_template("runs.html", page=page, marker=request.args.get("marker"))

    @app.get("/runs/rows")
    def runs_rows() -> Any:
        """The runs table's body, for the live refresh."""
        return render_template("_run_rows.html", page=_runs_page(sources))

    @app.get("/api/runs")
    def runs_json() -> Any:
        page = _runs_page(sources)
        return jsonify(runs=[r.as_dict() for r in page.rows], page=page.page, per_page=page.per_page,
                       total=page.total, next_marker=page.next_marker)

    @app.get("/runs/<run_id>")
    def run_page(run_id: str) -> Any:
        view = _run_view(sources, run_id)
        removed = sources.retention.removed_of_run(run_id) if sources.retention is not None else []
        return render_template("run.html", view=view, removed=removed)

    @app.get("/space")
    def space_page() -> Any:
        if sources.retention is None:
            abort(404)
        return render_template("space.html", view=sources.retention.space(),
                               experiment_file=sources.retention.config.path)

    @app.get("/api/runs/<run_id>")
    def run_json(run_id: str) -> Any:
        try:
            return jsonify(sources.runs.run_status(run_id))
        except KeyError:
            abort(404)

    @app.get("/runs/<run_id>/previews/<path:name>")
    def preview_image(run_id: str, name: str) -> Any:
        return _image_of_run(sources.runs.previews_folder, run_id, name)

    @app.get("/runs/<run_id>/try-previews/<path:name>")
    def try_preview_image(run_id: str, name: str) -> Any:
        return _image_of_run(sources.runs.try_previews_folder, run_id, name)


def _add_volume_viewer(app: Flask, sources: Sources) -> None:
    """The viewer page of a run's OME-Zarr volume and the Zarr's files it reads on demand."""

    @app.get("/runs/<run_id>/viewer/<volume>")
    def viewer_page(run_id: str, volume: str) -> Any:
        """Neuroglancer (vendored) on the volume: a redirect to its page with the state in the fragment."""
        view = _run_view(sources, run_id)
        folder = sources.runs.volumes_folder(run_id)
        if volume not in view.volumes or folder is None:
            abort(404)
        # the Zarr's root address, absolute (neuroglancer's zarr:// sources are): a key's route less the key
        key_url = url_for("zarr_part", run_id=run_id, volume=volume, name="zarr.json", _external=True)
        state = viewer_state(folder / volume, key_url[:-len("zarr.json")])
        return redirect(url_for("static", filename="neuroglancer/index.html") + viewer_fragment(state))

    @app.get("/runs/<run_id>/zarr/<volume>/<path:name>")
    def zarr_part(run_id: str, volume: str, name: str) -> Any:
        try:
            folder = sources.runs.volumes_folder(run_id)
        except KeyError:
            abort(404)
        path = zarr_file(folder, volume, name) if folder else None
        if path is None:
            abort(404)  # a chunk never written reads as the array's fill value
        metadata = path.name in ZARR_METADATA
        # conditional: ETag and Last-Modified, 304 on revalidation, 206 for a Range
        return send_file(path, mimetype="application/json" if metadata else "application/octet-stream",
                         conditional=True, etag=True, max_age=ZARR_MAX_AGE)


def _add_choice(app: Flask, sources: Sources, csrf_token: Callable[[str], str]) -> None:
    """An interactive run's choice: confirm (GET), then make it (POST, CSRF token, same origin)."""

    @app.get("/runs/<run_id>/choose")
    def choose_page(run_id: str) -> Any:
        """An option's URL: opening it asks to confirm (a GET never changes anything)."""
        view = _run_view(sources, run_id)
        wanted = request.args.get("option", "")
        option = next((o for o in (view.choice.options if view.choice else []) if o.url_suffix == wanted), None)
        status = 200 if option is not None and view.choice is not None and view.choice.waiting else 409
        return render_template("choose.html", view=view, option=option), status

    @app.post("/runs/<run_id>/choose")
    def choose_post(run_id: str) -> Any:
        if not _same_origin() or not hmac.compare_digest(request.form.get("csrf_token", ""),
                                                         csrf_token(run_id)):
            abort(403)
        from tomocupy_gladier.errors import UserError

        try:
            sources.runs.choose(run_id, request.form.get("option", ""), chosen_by="tomocupy-gladier serve")
        except KeyError:
            abort(404)
        except UserError as exc:
            view = _run_view(sources, run_id)
            return render_template("choose.html", view=view, option=None, error=str(exc)), 409
        return redirect(url_for("run_page", run_id=run_id, chosen=1), code=303)

    @app.errorhandler(403)
    def _forbidden(_: Any) -> Any:
        return "refused: a choice is made from this server's own run page (stale or foreign form)\n", 403


def _add_campaign_pages(app: Flask, sources: Sources) -> None:
    """The campaigns of ``sources.campaigns_dir`` and each one's jobs."""

    @app.get("/campaigns")
    def campaigns_page() -> Any:
        summaries = [data.campaign_summary(sources.campaigns_dir, name)
                     for name in data.campaign_names(sources.campaigns_dir)] if sources.campaigns_dir else []
        return render_template("campaigns.html", campaigns=summaries, folder=sources.campaigns_dir)

    @app.get("/campaigns/<name>")
    def campaign_page(name: str) -> Any:
        if sources.campaigns_dir is None:
            abort(404)
        try:
            summary = data.campaign_summary(sources.campaigns_dir, name, with_jobs=True)
        except KeyError:
            abort(404)
        return render_template("campaign.html", campaign=summary)


def _add_search_page(app: Flask, sources: Sources) -> None:
    """The catalogue's search and its published images (from the collection's local folder only)."""

    @app.get("/search")
    def search_page() -> Any:
        query = request.args.get("q", "")
        filters = data.parse_filters(request.args)
        results = None
        if sources.catalogue is not None and request.args:
            results = sources.catalogue.search(
                query, filters, lambda c, p: url_for("published_image", collection=c, name=p))
        return render_template("search.html", results=results, query=query, args=request.args,
                               available=sources.catalogue is not None)

    @app.get("/published/<collection>/<path:name>")
    def published_image(collection: str, name: str) -> Any:
        root = sources.catalogue.image_folder(collection) if sources.catalogue else None
        path = contained_file(root, name, data.IMAGE_SUFFIXES) if root else None
        if path is None:
            abort(404)
        return send_file(path, max_age=300)


def _image_of_run(folder_of: Any, run_id: str, name: str) -> Any:
    """An image from the folder ``folder_of(run_id)`` names for the run, never outside it."""
    try:
        folder = folder_of(run_id)
    except KeyError:
        abort(404)
    path = contained_file(folder, name, data.IMAGE_SUFFIXES) if folder else None
    if path is None:
        abort(404)
    return send_file(path, max_age=60)


def _same_origin() -> bool:
    """A form sent from this server's own pages, by the browser's word when it gives one: its
    Fetch metadata, else its Origin. (These pages send no Referer, so a browser may give the
    Origin as ``null``: then the form's CSRF token alone decides.)"""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = request.headers.get("Origin")
    if origin in (None, "", "null"):
        return True
    from urllib.parse import urlsplit

    return urlsplit(origin).netloc == request.host


def _runs_page(sources: Sources) -> data.RunsPage:
    page = request.args.get("page", 1, type=int) or 1
    per_page = min(MAX_PER_PAGE, max(1, request.args.get("per_page", PER_PAGE, type=int) or PER_PAGE))
    return sources.runs.page(page, per_page, request.args.get("marker") or None)


def _run_view(sources: Sources, run_id: str) -> data.RunView:
    try:
        return sources.runs.run(run_id)
    except KeyError:
        abort(404)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
