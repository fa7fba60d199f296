"""Folding the event log into state: the one place an event becomes state (§9.3–§9.4).

State modules in ``chat.state`` register a handler per event kind and the
tables they own. ``project`` applies every event past the cursor, in order,
and moves the cursor in the same transaction, so state and cursor never
disagree. Reverted turns (§4.6) are excluded exactly: when a
``turns_reverted`` event arrives, state is refolded without those turns, so
the result is the same as replaying the log without them.
"""

from __future__ import annotations

import importlib
import json
import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from chat.db.connection import transaction
from chat.errors import ProjectionFailed
from chat.eventlog.log import Event, iter_events

# Bump when a projection table or handler changes meaning: stored state is then rebuilt (§10.6).
PROJECTION_VERSION = 1

Handler = Callable[[sqlite3.Connection, Event], None]

_HANDLERS: dict[str, list[Handler]] = {}
_TABLES: list[str] = []

# Turn lifecycle events are projected even for reverted turns, so the turn stays visible as reverted.
LIFECYCLE_KINDS = frozenset(
    {"turn_queued", "turn_started", "turn_completed", "turn_failed", "turns_reverted"}
)
# Kinds that change no projection table (kept in the log for audit and inspection only).
LOG_ONLY_KINDS = frozenset({"prompt_recorded", "proposal_dropped"})

STATE_MODULES = (
    "chat.state.entities",
    "chat.state.edges",
    "chat.state.memory",
    "chat.state.world",
    "chat.state.chats",
    "chat.state.manual_edit",
)


def handles(*kinds: str) -> Callable[[Handler], Handler]:
    """Register the decorated function as a handler for each kind."""

    def decorator(fn: Handler) -> Handler:
        for kind in kinds:
            bucket = _HANDLERS.setdefault(kind, [])
            if fn not in bucket:
                bucket.append(fn)
        return fn

    return decorator


def register_tables(*names: str) -> None:
    """Declare projection tables owned by a state module (snapshotted, cleared on rebuild)."""
    for name in names:
        if name not in _TABLES:
            _TABLES.append(name)


def load_state_modules() -> None:
    for module in STATE_MODULES:
        importlib.import_module(module)


def projection_tables() -> list[str]:
    load_state_modules()
    return list(_TABLES)


@dataclass(frozen=True)
class ProjectResult:
    applied: int
    last_event_id: int
    refolds: int = 0
    seconds: float = 0.0


def get_cursor(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT last_event_id FROM projection_state WHERE name = 'main'").fetchone()
    return int(row[0]) if row else 0


def projection_status(conn: sqlite3.Connection) -> tuple[int, int, bool] | None:
    """(cursor, schema version, needs rebuild), or None when no cursor was ever written."""
    row = conn.execute(
        "SELECT last_event_id, schema_version, needs_rebuild FROM projection_state WHERE name='main'"
    ).fetchone()
    return None if row is None else (int(row[0]), int(row[1]), bool(row[2]))


def set_cursor(conn: sqlite3.Connection, last_event_id: int) -> None:
    conn.execute(
        "INSERT INTO projection_state (name, last_event_id, schema_version, needs_rebuild)"
        " VALUES ('main', ?, ?, 0) ON CONFLICT(name) DO UPDATE SET"
        " last_event_id = excluded.last_event_id, schema_version = excluded.schema_version,"
        " needs_rebuild = 0",
        (last_event_id, PROJECTION_VERSION),
    )


def mark_needs_rebuild(conn: sqlite3.Connection) -> None:
    with transaction(conn):
        conn.execute(
            "INSERT INTO projection_state (name, last_event_id, schema_version, needs_rebuild)"
            " VALUES ('main', 0, ?, 1) ON CONFLICT(name) DO UPDATE SET needs_rebuild = 1",
            (PROJECTION_VERSION,),
        )


def reverted_turns(conn: sqlite3.Connection, upto: int | None = None) -> set[str]:
    """Every turn id reverted by ``turns_reverted`` events with id <= upto (all when None)."""
    query = "SELECT payload FROM events WHERE kind = 'turns_reverted'"
    params: tuple = ()
    if upto is not None:
        query += " AND id <= ?"
        params = (upto,)
    turns: set[str] = set()
    for (payload,) in conn.execute(query, params):
        turns.update(json.loads(payload)["turn_ids"])
    return turns


def clear_projections(conn: sqlite3.Connection) -> None:
    for table in reversed(projection_tables()):
        conn.execute(f"DELETE FROM {table}")  # noqa: S608 - names come from the registry


def _apply(conn: sqlite3.Connection, event: Event) -> None:
    handlers = _HANDLERS.get(event.kind)
    if handlers is None:
        if event.kind in LOG_ONLY_KINDS:
            return
        raise ProjectionFailed(
            f"no projection handler for event {event.id} of kind {event.kind!r}",
            event_id=event.id,
            kind=event.kind,
        )
    try:
        for handler in handlers:
            handler(conn, event)
    except ProjectionFailed:
        raise
    except Exception as exc:  # noqa: BLE001 - reported with the event that caused it
        raise ProjectionFailed(
            f"projection of event {event.id} ({event.kind}) failed: {exc}",
            event_id=event.id,
            kind=event.kind,
        ) from exc


def _skipped(event: Event, excluded: set[str]) -> bool:
    """Events of a reverted turn are left out, except the turn's own lifecycle."""
    return (
        event.turn_id is not None
        and event.turn_id in excluded
        and event.kind not in LIFECYCLE_KINDS
    )


def _fold(
    conn: sqlite3.Connection,
    events: Iterable[Event],
    excluded: set[str],
    on_event: Callable[[int], None] | None = None,
) -> int:
    applied = 0
    for event in events:
        if _skipped(event, excluded):
            continue
        _apply(conn, event)
        applied += 1
        if on_event is not None:
            on_event(event.id)
    return applied


def project(
    conn: sqlite3.Connection, *, on_event: Callable[[int], None] | None = None
) -> ProjectResult:
    """Apply every event past the cursor, in one transaction; calling it again applies nothing."""
    load_state_modules()
    started = time.perf_counter()
    applied = 0
    refolds = 0
    with transaction(conn):
        cursor = get_cursor(conn)
        excluded = reverted_turns(conn, upto=cursor)
        position = cursor
        for event in iter_events(conn, after=cursor):
            if event.kind == "turns_reverted":
                newly = set(event.payload["turn_ids"]) - excluded
                if newly:
                    excluded |= newly
                    if _has_events_of(conn, newly, before=event.id):
                        clear_projections(conn)
                        _fold(conn, iter_events(conn, after=0, until=event.id - 1), excluded)
                        refolds += 1
            applied += _fold(conn, (event,), excluded, on_event)
            position = event.id
        if position != cursor or projection_status(conn) is None:
            set_cursor(conn, position)
    return ProjectResult(applied, position, refolds, time.perf_counter() - started)


def _has_events_of(conn: sqlite3.Connection, turn_ids: set[str], *, before: int) -> bool:
    marks = ",".join("?" for _ in turn_ids)
    row = conn.execute(
        f"SELECT 1 FROM events WHERE turn_id IN ({marks}) AND id < ? LIMIT 1",  # noqa: S608
        (*turn_ids, before),
    ).fetchone()
    return row is not None


def rebuild(
    conn: sqlite3.Connection, *, on_event: Callable[[int], None] | None = None
) -> ProjectResult:
    """Drop every projection row and replay the whole log in one pass (§9.4)."""
    load_state_modules()
    started = time.perf_counter()
    with transaction(conn):
        clear_projections(conn)
        excluded = reverted_turns(conn)
        applied = 0
        position = 0
        for event in iter_events(conn, after=0):
            position = event.id
            if _skipped(event, excluded):
                continue
            _apply(conn, event)
            applied += 1
            if on_event is not None:
                on_event(event.id)
        set_cursor(conn, position)
    return ProjectResult(applied, position, 0, time.perf_counter() - started)


def canonical_dump(conn: sqlite3.Connection) -> dict[str, list[tuple]]:
    """Every projection table as sorted rows: equal dumps mean equal state."""
    dump: dict[str, list[tuple]] = {}
    for table in projection_tables():
        columns = [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]
        order = ", ".join(str(i + 1) for i in range(len(columns)))
        dump[table] = [
            tuple(row) for row in conn.execute(f"SELECT * FROM {table} ORDER BY {order}")  # noqa: S608
        ]
    return dump
