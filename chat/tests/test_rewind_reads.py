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
from chat.eventlog import projector, rewind
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


def test_an_undeclared_kind_keeps_every_guarded_table() -> None:
    """The default (no list) is every table others read: today's behaviour."""
    assert "no_such_kind" not in rewind.READS
    for kind, tables in rewind.READS.items():
        assert tables <= rewind.READ_ELSEWHERE | {"scenes"}, kind
