"""The memories a reply prompt quotes, as references to the log (§8.4): a compact prompt
record names a quoted chapter or memory by the event that holds its text (its
``memory_added`` or ``chapter_written``, or the message a witnessed observation is of)
instead of copying the text, and ``chat.turns.prompt_record`` checks the rebuild
byte for byte.
"""

from __future__ import annotations

import sqlite3
from typing import Any

_OTHER = object()
"""A payload's ``id`` that is an object or an array: equal to no memory's id."""


def quote_refs(conn: sqlite3.Connection, quoted: list[dict[str, Any]]) -> list[tuple[Any, str]]:
    """(segment, text) of the memories whose text the log holds as the prompt quoted it: a
    ``memory_added`` or a chapter's ``chapter_written`` (its event id), or the message a
    witnessed observation is of
    (``{"e": event id, "p": "Name: "}``); none for a memory edited since. The events' ids
    and texts are read in one query (a prompt quotes ~30 memories: one read and parse of
    each whole payload cost 0.3 ms)."""
    quoting = [m for m in quoted if isinstance(m.get("text"), str) and len(m["text"]) >= 16]
    unknown = [m.get("id") for m in quoting if m.get("event_id") is None]
    stored = dict(_rows(conn, "SELECT id, event_id FROM memories WHERE id IN ({})", unknown))
    events = {
        int(m["event_id"] if m.get("event_id") is not None else stored[m.get("id")])
        for m in quoting
        if m.get("event_id") is not None or stored.get(m.get("id")) is not None
    }
    sources = {  # the payload's text when a string, and its id as json.loads gives it
        int(event_id): (text, _OTHER if id_type in ("object", "array") else source_id)
        for event_id, text, id_type, source_id in _rows(
            conn,
            "SELECT id, CASE json_type(payload, '$.text') WHEN 'text' THEN json_extract(payload, '$.text') END,"
            " json_type(payload, '$.id'), json_extract(payload, '$.id') FROM events WHERE id IN ({})",
            sorted(events),
        )
    }
    refs: list[tuple[Any, str]] = []
    for memory in quoting:
        text, event_id = memory["text"], memory.get("event_id")
        if event_id is None:
            event_id = stored.get(memory.get("id"))
        source = sources.get(int(event_id)) if event_id is not None else None
        if source is None or not isinstance(source[0], str):  # no event, or its text no string
            continue
        said, source_id = source
        if source_id in (memory.get("id"), memory.get("chapter_id")) and said == text:
            refs.append((int(event_id), text))
        elif source_id == memory.get("message_id") and said and text.endswith(said):
            refs.append(({"e": int(event_id), "p": text[: len(text) - len(said)]}, text))
    return refs


def _rows(conn: sqlite3.Connection, sql: str, keys: list[Any]) -> list[tuple]:
    """``sql`` (its ``IN ({})`` filled with marks) for ``keys``, 500 at a time."""
    rows: list[tuple] = []
    for at in range(0, len(keys), 500):
        chunk = keys[at : at + 500]
        rows += conn.execute(sql.format(",".join("?" * len(chunk))), chunk).fetchall()
    return rows


def segments(content: str, refs: list[tuple[Any, str]]) -> list[Any]:
    """``content`` as text and the references of the quoted memories it holds, in order."""
    parts: list[Any] = []
    at = 0
    for segment, text in refs:
        found = content.find(text, at)
        if found < 0:
            continue
        if found > at:
            parts.append(content[at:found])
        parts.append(segment)
        at = found + len(text)
    if at < len(content):
        parts.append(content[at:])
    return parts
