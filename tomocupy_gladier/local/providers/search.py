"""The Globus Search ingest action provider, over a local SQLite index, and its queries.

An ingest action's ``details`` is a Globus Search task document (``state_description``,
``task_id``, ``state``, ``creation_date``, ``completion_date``, ``additional_details``,
``message``, ``index_id``), as the Search - Ingest action provider reflects the ingest task.

Entries are upserted by (index, subject, entry id), as Globus Search does; ``visible_to`` is
kept with each entry (the local index does not enforce it: everything here belongs to the
local user).
"""

from __future__ import annotations

import json
import os
import uuid
from typing import Any, Iterable, Mapping

from ..actions import ActionRequest, ActionResult
from tomocupy_gladier.action_urls import SEARCH_INGEST_URL

from ..errors import InvalidRequest, request_object
from ..sqlite import SQLiteFile
from ..timestamps import now_iso

_INGEST_KEYS = {"search_index", "subject", "id", "content", "visible_to", "restricted"}


def _flatten_text(value: Any) -> Iterable[str]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from _flatten_text(v)
    elif isinstance(value, list):
        for v in value:
            yield from _flatten_text(v)
    elif value is not None:
        yield str(value)


def _lookup(content: Any, dotted: str) -> list[Any]:
    """Values at a dotted path; lists along the way are searched element by element."""
    values = [content]
    for part in dotted.split("."):
        nxt: list[Any] = []
        for v in values:
            if isinstance(v, list):
                nxt.extend(x[part] for x in v if isinstance(x, dict) and part in x)
            elif isinstance(v, dict) and part in v:
                nxt.append(v[part])
        values = nxt
    flat = []
    for v in values:
        flat.extend(v if isinstance(v, list) else [v])
    return flat


def summarize(entry: Mapping[str, Any]) -> dict:
    """Key metadata of an entry: title, date, file count and size, formats, subject."""
    content = entry.get("content") or {}
    dc = content.get("dc") or {}
    files = content.get("files") or []
    titles = [t.get("title") for t in dc.get("titles", []) if isinstance(t, dict)]
    dates = [d.get("date") for d in dc.get("dates", []) if isinstance(d, dict)]
    return {
        "subject": entry.get("subject"),
        "index": entry.get("index"),
        "entry_id": entry.get("entry_id"),
        "title": titles[0] if titles else None,
        "date": dates[0] if dates else entry.get("updated_at"),
        "files": len(files),
        "bytes": sum(f.get("length", 0) for f in files if isinstance(f, dict)),
        "formats": dc.get("formats", []),
        "visible_to": entry.get("visible_to"),
    }


class SearchIndex(SQLiteFile):
    """Local search entries in SQLite; safe to open from several processes."""

    def __init__(self, path: str | os.PathLike) -> None:
        super().__init__(path, "CREATE TABLE IF NOT EXISTS entries (search_index TEXT, subject TEXT, "
                         "entry_id TEXT, content TEXT, visible_to TEXT, text TEXT, updated_at TEXT, "
                         "PRIMARY KEY (search_index, subject, entry_id))")

    def ingest(self, search_index: str, subject: str, content: dict,
               visible_to: list[str], entry_id: str | None = None) -> dict:
        """Create or replace the entry (index, subject, entry id); return it."""
        text = " ".join(_flatten_text(content)).lower() + " " + subject.lower()
        self._query(
            "INSERT OR REPLACE INTO entries VALUES (?,?,?,?,?,?,?)",
            (search_index, subject, entry_id or "", json.dumps(content), json.dumps(visible_to),
             text, now_iso()),
        )
        entry = self.get(search_index, subject, entry_id)
        assert entry is not None  # just written, and entries are never removed
        return entry

    def get(self, search_index: str, subject: str, entry_id: str | None = None) -> dict | None:
        """One entry, or None."""
        rows = self._query(
            "SELECT search_index, subject, entry_id, content, visible_to, updated_at FROM entries "
            "WHERE search_index=? AND subject=? AND entry_id=?",
            (search_index, subject, entry_id or ""),
        )
        return self._entry(rows[0]) if rows else None

    def search(self, query: str = "*", *, index: str | None = None,
               filters: Mapping[str, Any] | None = None, limit: int = 20) -> list[dict]:
        """Entries whose content holds every word of ``query`` (case-insensitive; ``*`` or an
        empty query matches all) and, for each ``filters`` item, a value equal to it at that
        dotted content path (e.g. ``{"dc.formats": "image/tiff"}``). Newest first."""
        sql = ("SELECT search_index, subject, entry_id, content, visible_to, updated_at "
               "FROM entries")
        where, args = [], []
        if index:
            where.append("search_index=?")
            args.append(index)
        for word in (query or "").lower().split():
            if word != "*":
                where.append("instr(text, ?) > 0")
                args.append(word)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY updated_at DESC"
        found = []
        for row in self._query(sql, tuple(args)):
            entry = self._entry(row)
            if all(value in _lookup(entry["content"], path)
                   for path, value in (filters or {}).items()):
                found.append(entry)
                if len(found) >= limit:
                    break
        return found

    @staticmethod
    def _entry(row: tuple) -> dict:
        return {"index": row[0], "subject": row[1], "entry_id": row[2] or None,
                "content": json.loads(row[3]), "visible_to": json.loads(row[4]),
                "updated_at": row[5]}


class SearchIngestProvider:
    """Serves ``https://actions.globus.org/search/ingest`` into a :class:`SearchIndex`."""

    def __init__(self, index: SearchIndex) -> None:
        self.index = index

    def __call__(self, request: ActionRequest) -> ActionResult:
        body = request_object(request.body, _INGEST_KEYS, "an ingest request")
        for key in ("search_index", "subject"):
            if not isinstance(body.get(key), str) or not body[key]:
                raise InvalidRequest(f"'{key}' is required")
        if not isinstance(body.get("content"), dict):
            raise InvalidRequest("'content' must be an object")
        visible_to = body.get("visible_to", ["public"])
        if isinstance(visible_to, str):
            visible_to = [visible_to]
        if not isinstance(visible_to, list) or not visible_to:
            raise InvalidRequest("'visible_to' must be a non-empty list")
        entry_id = body.get("id")
        created = now_iso()
        self.index.ingest(body["search_index"], body["subject"], body["content"], visible_to,
                          entry_id)
        # details = the Globus Search task document the action provider reflects
        return ActionResult("SUCCEEDED", {
            "state_description": "Task succeeded", "task_id": str(uuid.uuid4()),
            "state": "SUCCESS", "creation_date": created, "completion_date": now_iso(),
            "additional_details": None, "message": None, "index_id": body["search_index"],
        })
