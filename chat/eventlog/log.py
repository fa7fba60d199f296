"""Appending to and reading from the event log (§9.1–§9.2).

``append_event`` is the only way state changes: it validates the payload
against its kind's schema, writes one row and returns the new id. Inside a
caller's transaction it joins it; on its own it commits (durably, with
``synchronous=FULL``) before returning.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from chat.db.connection import transaction
from chat.errors import PayloadTooLarge, ValidationFailed
from chat.eventlog.columns import PUT_BACK, leave_out
from chat.eventlog.schemas import ID_RE, SCHEMA_VERSIONS, payload_json
from chat.eventlog.upcasting import upcast

Actor = str  # "user" | "model" | "system"
ACTORS = ("user", "model", "system")
# The largest payload one event may carry (a bot with a 3 MB avatar fits).
MAX_PAYLOAD_BYTES = 8 * 1024 * 1024
_ID = re.compile(ID_RE)


def utc_now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True, slots=True)
class Event:
    id: int
    kind: str
    payload: dict[str, Any]
    created_at: str
    chat_id: str | None
    turn_id: str | None
    actor: str
    version: int = 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "payload": self.payload,
            "created_at": self.created_at,
            "chat_id": self.chat_id,
            "turn_id": self.turn_id,
            "actor": self.actor,
        }


@dataclass(frozen=True, slots=True)
class NewEvent:
    kind: str
    payload: dict[str, Any]
    chat_id: str | None = None
    turn_id: str | None = None
    actor: Actor = "system"
    created_at: str | None = None
    """Only for events moved from another log (a world import): their original time."""


_INSERT = (
    "INSERT INTO events (kind, version, payload, created_at, chat_id, turn_id, actor) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)


def _row_for(event: NewEvent, created_at: str) -> tuple:
    """Validate one event and return its row; raises naming the field, writes nothing."""
    if event.actor not in ACTORS:
        raise ValidationFailed(f"actor must be one of {ACTORS}, got {event.actor!r}", field="actor")
    for name, value in (("chat_id", event.chat_id), ("turn_id", event.turn_id)):
        if value is not None and (not isinstance(value, str) or not _ID.match(value)):
            raise ValidationFailed(f"{name} must match {ID_RE}, got {value!r}", field=name)
    chat_id = event.chat_id
    if event.kind == "message_posted" and chat_id is None and isinstance(event.payload, dict):
        chat_id = event.payload.get("chat_id")  # a rewind finds a chat's messages by this column
    text = payload_json(event.kind, event.payload, leave_out(event.kind, event.payload, chat_id, event.turn_id))
    if event.kind == "message_posted" and chat_id != event.payload["chat_id"]:
        raise ValidationFailed(
            f"message_posted chat_id {chat_id!r} differs from its payload's "
            f"{event.payload['chat_id']!r}",
            field="chat_id",
        )
    if len(text) > MAX_PAYLOAD_BYTES // 4 and len(text.encode("utf-8")) > MAX_PAYLOAD_BYTES:
        raise PayloadTooLarge(
            f"{event.kind} payload is over {MAX_PAYLOAD_BYTES // (1024 * 1024)} MiB", field="payload"
        )
    return (
        event.kind,
        SCHEMA_VERSIONS[event.kind],
        text,
        event.created_at or created_at,
        chat_id,
        event.turn_id,
        event.actor,
    )


def append_event(
    conn: sqlite3.Connection,
    *,
    kind: str,
    payload: dict[str, Any],
    chat_id: str | None = None,
    turn_id: str | None = None,
    actor: Actor = "system",
    clock: Callable[[], str] = utc_now_iso,
) -> int:
    """Validate and append one event; return its id. Nothing is written when validation fails."""
    row = _row_for(NewEvent(kind, payload, chat_id, turn_id, actor), clock())
    with transaction(conn):
        cursor = conn.execute(_INSERT, row)
    return int(cursor.lastrowid)


def append_events(
    conn: sqlite3.Connection,
    events: Iterable[NewEvent],
    *,
    clock: Callable[[], str] = utc_now_iso,
) -> list[int]:
    """Validate every event first, then append them all in one transaction (all or nothing)."""
    now = clock()
    rows = [_row_for(event, now) for event in events]
    if not rows:
        return []
    with transaction(conn):
        first = last_event_id(conn) + 1
        conn.executemany(_INSERT, rows)
        last = last_event_id(conn)
    # One writer holds the lock (BEGIN IMMEDIATE), so the ids are consecutive.
    if last - first + 1 != len(rows):
        raise RuntimeError(f"expected {len(rows)} consecutive ids from {first}, log ends at {last}")
    return list(range(first, last + 1))


def last_event_id(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()
    return int(row[0])


def _to_event(row: tuple) -> Event:
    event_id, kind, version, payload, created_at, chat_id, turn_id, actor = row
    data = json.loads(payload)
    if version != SCHEMA_VERSIONS.get(kind, version):
        data = upcast(kind, version, data)
    put_back = PUT_BACK.get(kind)  # the ids a column holds, a reply's recalled ids whole
    if put_back is not None:
        data = put_back(data, chat_id, turn_id)
    return Event(event_id, kind, data, created_at, chat_id, turn_id, actor, version)


_SELECT = "SELECT id, kind, version, payload, created_at, chat_id, turn_id, actor FROM events"


def iter_events(
    conn: sqlite3.Connection,
    *,
    after: int = 0,
    until: int | None = None,
    batch_size: int = 5000,
) -> Iterator[Event]:
    """Yield events with ``after < id <= until`` in id order, reading in batches."""
    position = after
    while True:
        if until is None:
            rows = conn.execute(
                f"{_SELECT} WHERE id > ? ORDER BY id LIMIT ?", (position, batch_size)
            ).fetchall()
        else:
            rows = conn.execute(
                f"{_SELECT} WHERE id > ? AND id <= ? ORDER BY id LIMIT ?",
                (position, until, batch_size),
            ).fetchall()
        if not rows:
            return
        for row in rows:
            yield _to_event(row)
        position = rows[-1][0]
        if len(rows) < batch_size:
            return


def events_by_id(conn: sqlite3.Connection, ids: list[int], *, batch_size: int = 500) -> list[Event]:
    """The events with these ids, in id order (ids not in the log are skipped)."""
    ordered = sorted(set(ids))
    events: list[Event] = []
    for start in range(0, len(ordered), batch_size):
        chunk = ordered[start : start + batch_size]
        marks = ",".join("?" for _ in chunk)
        rows = conn.execute(f"{_SELECT} WHERE id IN ({marks}) ORDER BY id", chunk).fetchall()
        events += [_to_event(row) for row in rows]
    return events


def read_events(
    conn: sqlite3.Connection,
    *,
    after: int = 0,
    limit: int = 100,
    kind: str | None = None,
    chat_id: str | None = None,
    turn_id: str | None = None,
    newest: bool = False,
) -> list[Event]:
    """One page of the log, oldest first, optionally filtered: the first ``limit`` events
    after ``after``, or with ``newest`` the last ``limit`` of them (a tail)."""
    where, params = _filters(after, None, kind, chat_id, turn_id)
    order = "DESC" if newest else ""
    rows = conn.execute(f"{_SELECT} WHERE {where} ORDER BY id {order} LIMIT ?", [*params, limit]).fetchall()
    events = [_to_event(row) for row in rows]
    return events[::-1] if newest else events


def count_events(
    conn: sqlite3.Connection,
    *,
    after: int = 0,
    before: int | None = None,
    kind: str | None = None,
    chat_id: str | None = None,
) -> int:
    """How many events with ``after`` < id < ``before`` pass the filters (what a page left out)."""
    where, params = _filters(after, before, kind, chat_id, None)
    return int(conn.execute(f"SELECT COUNT(*) FROM events WHERE {where}", params).fetchone()[0])  # noqa: S608


def _filters(
    after: int, before: int | None, kind: str | None, chat_id: str | None, turn_id: str | None
) -> tuple[str, list[Any]]:
    clauses = ["id > ?"]
    params: list[Any] = [after]
    if before is not None:
        clauses.append("id < ?")
        params.append(before)
    for column, value in (("kind", kind), ("chat_id", chat_id), ("turn_id", turn_id)):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    return " AND ".join(clauses), params
