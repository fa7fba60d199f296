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
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from chat.db.connection import derived_data_durability, transaction
from chat.errors import ProjectionFailed
from chat.eventlog import rewind, undo
from chat.eventlog.bulk import bulk_projection
from chat.eventlog.log import Event, iter_events, last_event_id
from chat.eventlog.projected import STATE_CHANGING_SQL, is_projected

# Bump when a projection table or handler changes meaning: stored state is then rebuilt (§10.6).
PROJECTION_VERSION = 5  # 4: observation lines name "you" by the persona of the chat's world
# 5: a memory whose newer memory is deleted or rewound away is no longer superseded

Handler = Callable[[sqlite3.Connection, Event], None]

_HANDLERS: dict[str, list[Handler]] = {}
_TABLES: list[str] = []

# Kinds that change no projection table (kept in the log for audit and inspection only).
LOG_ONLY_KINDS = frozenset({"prompt_recorded", "proposal_dropped", "proposal_queued", "proposal_reviewed"})

STATE_MODULES = (
    "chat.state.worlds",
    "chat.state.lore",
    "chat.state.entities",
    "chat.state.edges",
    "chat.state.memory",
    "chat.state.world",
    "chat.state.chats",
    "chat.state.observations",
    "chat.state.chapters",
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


_loaded = False


def load_state_modules() -> None:
    """Import the state modules (their handlers register as they load); once a process:
    every projection asks, and twenty ``import_module`` look-ups cost ~0.15 ms each time."""
    global _loaded
    if _loaded:
        return
    for module in STATE_MODULES:
        importlib.import_module(module)
    _loaded = True


def projection_tables() -> list[str]:
    load_state_modules()
    return list(_TABLES)


@dataclass(frozen=True)
class ProjectResult:
    applied: int
    last_event_id: int
    refolds: int = 0
    seconds: float = 0.0
    rows_restored: int = 0  # by rewinds undone from the notes of recent changes (undo.py)
    events_refolded: int = 0  # by rewinds: what their cost grows with (rewind.py)


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


_pass = threading.local()


def pass_memo(conn: sqlite3.Connection) -> dict[str, Any] | None:
    """A dict that lives for one fold (one pass of `project` or `rebuild`) over ``conn``, or
    None outside one. For what handlers would look up again for every event although no
    event of the pass can change it (the world of a chat: replay asked SQLite for it once per
    message). Per thread and per connection, and gone when the pass ends, rolled back or not."""
    current = getattr(_pass, "memo", None)
    return current[1] if current is not None and current[0] is conn else None


def _fold(
    conn: sqlite3.Connection,
    events: Iterable[Event],
    excluded: set[str],
    on_event: Callable[[int], None] | None = None,
    *,
    record: bool = False,
) -> tuple[int, int]:
    """Apply ``events`` except those of excluded turns; return (applied, last id seen).
    With ``record`` each event's row changes are noted for a later rewind (undo.py)."""
    applied = 0
    position = 0
    outer = getattr(_pass, "memo", None)
    _pass.memo = (conn, {})
    try:
        for event in events:
            position = event.id
            if not is_projected(event.kind, event.turn_id, excluded):
                continue
            if record:
                undo.recording(conn, event.id)
            _apply(conn, event)
            applied += 1
            if on_event is not None:
                on_event(event.id)
    finally:
        _pass.memo = outer
    if record and applied:
        undo.recording(conn, None)
    return applied, position


# A checkpoint source restores the projection tables to an earlier log position that
# ``usable`` accepts and returns that position, or returns None (see snapshot_checkpoints).
CheckpointSource = Callable[[sqlite3.Connection, Callable[[int], bool]], "int | None"]


def project(
    conn: sqlite3.Connection,
    *,
    on_event: Callable[[int], None] | None = None,
    checkpoints: CheckpointSource | None = None,
) -> ProjectResult:
    """Apply every event past the cursor, in one transaction; calling it again applies nothing.

    A ``turns_reverted`` event whose turns changed state refolds the projections without
    them. Usually from just before the reverted turns' first change, with the rows
    changed since put back from the notes of recent changes (``undo``): the cost is what
    those events touched. Past the notes' horizon, from the newest usable checkpoint (a
    snapshot older than the reverted turns, found through ``checkpoints``, which the
    caller hands in) or else from the start of the log. The event log knows nothing of
    snapshot files.
    """
    load_state_modules()
    started = time.perf_counter()
    applied = 0
    refolds = 0
    restored = 0
    refolded = 0
    tables = projection_tables()
    with transaction(conn):
        cursor = get_cursor(conn)
        notes = undo.prepare(conn, tables, cursor)
        excluded = reverted_turns(conn, upto=cursor)
        position = cursor
        recorded = False
        for event in iter_events(conn, after=cursor):
            if event.kind == "turns_reverted":
                newly = set(event.payload["turn_ids"]) - excluded
                if newly:
                    excluded |= newly
                    first = _first_event_of(conn, newly, before=event.id)
                    if first is not None:
                        if recorded:  # a rewind notes its own writes, or none
                            undo.recording(conn, None)
                            recorded = False
                        rows, events = _rewind(conn, excluded, newly, first, event.id - 1, checkpoints)
                        restored += rows
                        refolded += events
                        refolds += 1
            # undo_ctl names the event while its handlers write; reset once after the last
            # event (not after each), and a kind no handler projects writes nothing to note
            if event.kind in _HANDLERS and is_projected(event.kind, event.turn_id, excluded):
                undo.recording(conn, event.id)
                recorded = True
            applied += _fold(conn, (event,), excluded, on_event)[0]
            position = event.id
        if recorded:
            undo.recording(conn, None)
        if position != cursor or projection_status(conn) is None:
            set_cursor(conn, position)
        # a rewind may have restarted the notes (undo.restart): then read their state again
        undo.advance(conn, position, notes if not refolds else None)
    return ProjectResult(
        applied, position, refolds, time.perf_counter() - started, restored, refolded
    )


def _rewind(
    conn: sqlite3.Connection,
    excluded: set[str],
    newly: set[str],
    first: int,
    until: int,
    checkpoints: CheckpointSource | None,
) -> tuple[int, int]:
    """Make the projections the fold of 1..until without the excluded turns, of which
    ``newly`` were just reverted, their earliest state-changing event being ``first``;
    return (rows restored, events refolded).

    Within the notes' horizon: only the rows those turns touched and the events touching
    them (``rewind``), else every row and event since ``first`` (``undo.undo_to``).
    Beyond it: from the newest usable checkpoint, or the start of the log.
    """
    start = undo.horizon(conn)
    if start is not None and first - 1 >= start:
        tables = projection_tables()
        context = set(_HANDLERS) - rewind.KEYED_KINDS - LOG_ONLY_KINDS
        plan = rewind.plan(conn, tables, newly, context, first, until)
        if plan is not None:
            done = rewind.selective(
                conn, tables, plan, first, lambda events: _fold(conn, events, excluded, record=True)
            )
            if done is not None:
                return done
        restored = undo.undo_to(conn, tables, first - 1)
        _fold(conn, iter_events(conn, after=first - 1, until=until), excluded, record=True)
        return restored, until - first + 1
    base = _refold(conn, excluded, until, checkpoints)
    undo.restart(conn, until)
    return 0, until - base


def _refold(
    conn: sqlite3.Connection,
    excluded: set[str],
    until: int,
    checkpoints: CheckpointSource | None,
) -> int:
    """Make the projections the fold of events 1..until without the excluded turns;
    return the position it refolded from (a checkpoint's, or 0)."""
    def usable(position: int) -> bool:
        return position <= until and checkpoint_usable(conn, position, excluded)

    with bulk_projection(conn, projection_tables()):
        base = checkpoints(conn, usable) if checkpoints is not None else None
        if base is None:
            clear_projections(conn)
            base = 0
        _fold(conn, iter_events(conn, after=base, until=until), excluded)
    return base


def checkpoint_usable(conn: sqlite3.Connection, position: int, excluded: set[str]) -> bool:
    """True when the fold of 1..position is unchanged by excluding ``excluded`` now.

    A checkpoint taken at ``position`` already left out the turns reverted by then; it
    can serve only if no other excluded turn had a state-changing event by ``position``.
    """
    later = excluded - reverted_turns(conn, upto=position)
    return not later or _first_event_of(conn, later, before=position + 1) is None


SQL_BATCH = 500


def _first_event_of(conn: sqlite3.Connection, turn_ids: set[str], *, before: int) -> int | None:
    """The id of the turns' earliest state-changing (non-lifecycle) event before ``before``."""
    ids = sorted(turn_ids)
    first: int | None = None
    for start in range(0, len(ids), SQL_BATCH):  # SQLite caps bound variables per statement
        chunk = ids[start : start + SQL_BATCH]
        marks = ",".join("?" for _ in chunk)
        row = conn.execute(
            f"SELECT MIN(id) FROM events WHERE turn_id IN ({marks}) AND id < ?"  # noqa: S608
            f" AND {STATE_CHANGING_SQL}",
            (*chunk, before),
        ).fetchone()
        if row is not None and row[0] is not None and (first is None or row[0] < first):
            first = int(row[0])
    return first


def rebuild(
    conn: sqlite3.Connection, *, on_event: Callable[[int], None] | None = None
) -> ProjectResult:
    """Drop every projection row and replay the whole log in one pass (§9.4)."""
    load_state_modules()
    started = time.perf_counter()
    with derived_data_durability(conn), transaction(conn):
        with bulk_projection(conn, projection_tables()):
            clear_projections(conn)
            excluded = reverted_turns(conn)
            applied, _ = _fold(conn, iter_events(conn, after=0), excluded, on_event)
        set_cursor(conn, last_event_id(conn))
    return ProjectResult(applied, last_event_id(conn), 0, time.perf_counter() - started)


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
