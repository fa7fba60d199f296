"""Each event kind's declared reads of the tables others read (``rewind.READS``).

The rewind keeps a row of those tables (scenes, bots, chats, ...) at its value of the
moment only for the tables a refolded event's kind declares. A kind that reads one it
does not declare would refold on a stale row: this test folds random logs one event at
a time with an authorizer on the connection that records every table each handler
reads or writes, and fails on a guarded table missing from the kind's list.
"""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings

from chat.db.connection import open_db
from chat.db.migrate import apply_migrations
from chat.eventlog import projector, rewind, row_reads, undo
from chat.eventlog.log import append_events, events_by_id
from chat.tests.event_strategies import event_sequences

_TOUCH = (sqlite3.SQLITE_READ, sqlite3.SQLITE_UPDATE, sqlite3.SQLITE_INSERT, sqlite3.SQLITE_DELETE)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=event_sequences())
def test_a_kind_reads_only_the_guarded_tables_it_declares(events: list) -> None:
    projector.load_state_modules()
    guarded = rewind.READ_ELSEWHERE | {"scenes"}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "reads.db"
        apply_migrations(path)
        with open_db(path) as conn:
            ids = append_events(conn, events)
            for event in events_by_id(conn, ids):
                seen: set[str] = set()

                def note(action: int, first: str | None, *_rest: object, seen: set[str] = seen) -> int:
                    if action in _TOUCH and first in guarded:
                        seen.add(first)
                    return sqlite3.SQLITE_OK

                conn.set_authorizer(note)
                try:
                    projector._apply(conn, event)  # noqa: SLF001 - one event, no pass memo
                finally:
                    conn.set_authorizer(None)
                declared = rewind.READS.get(event.kind, guarded)
                assert seen <= declared, (event.kind, sorted(seen - declared))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=event_sequences())
def test_a_kind_that_names_its_rows_reads_no_other_row_of_those_tables(events: list) -> None:
    """``row_reads.ROWS``: a kind that names the rows it reads of a table (its chat's
    scene and row) makes the same changes with every other row of that table gone (the
    rewind brings only the named rows to their moment). Checked: naming another chat's
    scene for a message fails it."""
    projector.load_state_modules()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "rows.db"
        apply_migrations(path)
        with open_db(path) as conn:
            ids = append_events(conn, events)
            for event in events_by_id(conn, ids):
                named = row_reads.ROWS.get(event.kind)
                values = None if named is None else named(conn, event)
                if values is not None:
                    assert _changes(conn, event, values) == _changes(conn, event, {}), event
                projector._apply(conn, event)  # noqa: SLF001 - one event, no pass memo


def _changes(conn: sqlite3.Connection, event: object, keep: dict[str, set]) -> dict:
    """What applying ``event`` changes, table by table, after deleting every row of each
    table in ``keep`` whose key is not named there; nothing of it stays."""
    conn.execute("SAVEPOINT probe")
    try:
        for table, wanted in keep.items():
            column = undo.key_columns(conn, table)[0]
            for (value,) in conn.execute(f"SELECT {column} FROM {table}").fetchall():  # noqa: S608
                if value not in wanted:
                    conn.execute(f"DELETE FROM {table} WHERE {column} = ?", (value,))  # noqa: S608
        before = projector.canonical_dump(conn)
        projector._apply(conn, event)  # noqa: SLF001
        after = projector.canonical_dump(conn)
    finally:
        conn.execute("ROLLBACK TO probe")
        conn.execute("RELEASE probe")
    return {
        table: (set(before[table]) - set(rows), set(rows) - set(before[table]))
        for table, rows in after.items()
        if rows != before[table]
    }


def test_an_undeclared_kind_keeps_every_guarded_table() -> None:
    """The default (no list) is every table others read: today's behaviour."""
    assert "no_such_kind" not in rewind.READS
    for kind, tables in rewind.READS.items():
        assert tables <= rewind.READ_ELSEWHERE | {"scenes"}, kind
